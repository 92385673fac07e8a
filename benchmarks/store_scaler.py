"""Store scaler (a benchmark helper, not a product feature): a home of N items over W weeks.

Built from the real product catalogue (``../shared/data/fashion-product-images-small``):
the replay simulator's draws (``benchmarks/scenarios/product-catalog.yaml``) decide how many
items each week holds and of which article type; each item is a real photo of that type with
its own real attributes (colour, gender, usage...), a distinct id, and a few pixels' lowest
bit flipped so that no two items share a content hash. The items go in through the function
``stylecast ingest`` runs, a manifest per ``WEEKS_PER_MANIFEST`` weeks, so the store is what
production would hold.

Stores are nested: the plan is drawn once for the largest size, and a store of share ``s``
keeps the items whose id hashes below ``s``. A 100k store is thus a subset of the 1M one, item
for item and byte for byte, which lets the benchmark embed history once (see
``copy_embeddings``).

Usage: python benchmarks/store_scaler.py HOME --items 100000 [--weeks 104] [--share 1.0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the project's packages
    sys.path.insert(0, str(REPO))

from pipeline.core import png  # noqa: E402
from pipeline.core.settings import Settings  # noqa: E402
from pipeline.core.weeks import iso_week, parse_week  # noqa: E402

CATALOG = REPO.parent / "shared" / "data" / "fashion-product-images-small"
SCENARIO = REPO / "benchmarks" / "scenarios" / "product-catalog.yaml"
START = date(2025, 1, 6)
WEEKS_PER_MANIFEST = 8
FLIPPED_PIXELS = 12
# Real attributes carried over from the photo's row; the display name (one value per product)
# and the season (the scaler re-dates items) are left out.
ATTRIBUTES = ("gender", "masterCategory", "subCategory", "articleType", "baseColour", "usage")


@dataclass(frozen=True)
class StorePlan:
    """Per week: the article type of every item the largest store holds that week."""

    weeks: list[str]
    labels: list[np.ndarray]

    @property
    def items(self) -> int:
        return sum(len(w) for w in self.labels)


def plan(n_items: int, weeks: int, seed: int = 0) -> StorePlan:
    """The scenario's draws for ``n_items`` over ``weeks`` (volume: n_items / weeks a week)."""
    from pipeline.simulate import scenario as scenarios
    from pipeline.simulate.run import draw

    scenario = scenarios.load(SCENARIO)
    drawn = draw(scenario, weeks, START, seed, items_per_week=n_items / weeks)
    return StorePlan([iso_week(m) for m in drawn.mondays],
                     [week[scenario.label_attribute] for week in drawn.labels])


def item_id(week: str, number: int) -> str:
    return f"scale-{week}-{number:06d}"


def kept(item: str, share: float) -> bool:
    """Whether a store of ``share`` of the plan holds the item (a hash, so stores nest)."""
    digest = hashlib.blake2b(item.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def catalogue_rows(catalog: Path = CATALOG) -> pd.DataFrame:
    """The catalogue's rows that have a photo, with the attributes the scaler carries."""
    styles = pd.read_csv(catalog / "styles.csv", dtype=str, keep_default_na=False,
                         on_bad_lines="skip")
    styles = styles[[(catalog / "images" / f"{i}.jpg").is_file() for i in styles["id"]]]
    return styles[["id", *ATTRIBUTES]].reset_index(drop=True)


_PHOTOS: dict[str, np.ndarray] = {}  # per pool worker: each catalogue photo decoded once


def _photo(path: str) -> np.ndarray:
    from PIL import Image

    if path not in _PHOTOS:
        with Image.open(path) as image:
            _PHOTOS[path] = np.asarray(image.convert("RGB"))
    return _PHOTOS[path]


def perturbed(pixels: np.ndarray, item: str) -> np.ndarray:
    """The photo with the lowest bit of a few item-chosen pixel values flipped."""
    seed = int.from_bytes(hashlib.blake2b(item.encode(), digest_size=8).digest(), "big")
    flat = pixels.reshape(-1).copy()
    where = np.random.default_rng(seed).choice(flat.size, FLIPPED_PIXELS, replace=False)
    flat[where] ^= 1
    return flat.reshape(pixels.shape)


def _write_image(job: tuple[str, str, str]) -> None:
    source, item, dest = job
    Path(dest).write_bytes(png.encode(perturbed(_photo(source), item)))


def _week_manifest(week: str, labels: np.ndarray, rows: pd.DataFrame,
                   by_type: dict[str, np.ndarray], rng: np.random.Generator,
                   share: float) -> pd.DataFrame:
    """One week's manifest rows (plus the source photo's id, ``photo``)."""
    photos = np.zeros(len(labels), dtype=np.int64)
    for label, pool in by_type.items():  # every planned item draws, kept or not: stores nest
        chosen = labels == label
        photos[chosen] = pool[rng.integers(len(pool), size=int(chosen.sum()))]
    items = [item_id(week, n) for n in range(len(labels))]
    keep = np.array([kept(i, share) for i in items], dtype=bool)
    frame = rows.iloc[photos[keep]].reset_index(drop=True)
    frame.insert(0, "item_id", np.asarray(items, dtype=object)[keep])
    frame.insert(1, "image", "images/" + frame["item_id"] + ".png")
    wednesday = parse_week(week) + timedelta(days=2)
    frame.insert(2, "observed_at", f"{wednesday.isoformat()}T12:00:00+00:00")
    frame.insert(3, "source", "catalog-scaled")
    # The catalogue states no licence; a measurement store may be used for everything.
    frame.insert(4, "uses", "analyse,display,train")
    return frame.rename(columns={"id": "photo"})


def build(home: Path, store_plan: StorePlan, share: float = 1.0, seed: int = 0,
          catalog: Path = CATALOG, workers: int | None = None) -> dict[str, object]:
    """Ingest ``share`` of the plan into ``home``; returns counts and timings."""
    from pipeline import ingest

    settings = Settings(home=str(home), workers=workers or os.cpu_count() or 1)
    rows = catalogue_rows(catalog)
    by_type = {t: g.index.to_numpy() for t, g in rows.groupby("articleType")}
    rng = np.random.default_rng(seed + 7)
    drop = home.parent / f".{home.name}-drop"
    stored, prepared_s, ingest_s = 0, 0.0, 0.0
    with mp.get_context("fork").Pool(settings.workers) as pool:
        for first in range(0, len(store_plan.weeks), WEEKS_PER_MANIFEST):
            started = time.perf_counter()
            shutil.rmtree(drop, ignore_errors=True)
            (drop / "images").mkdir(parents=True)
            frames = []
            for week, labels in list(zip(store_plan.weeks, store_plan.labels,
                                         strict=True))[first:first + WEEKS_PER_MANIFEST]:
                frames.append(_week_manifest(week, labels, rows, by_type, rng, share))
            manifest = pd.concat(frames, ignore_index=True)
            jobs = [(str(catalog / "images" / f"{photo}.jpg"), item, str(drop / image))
                    for photo, item, image in zip(manifest.pop("photo"), manifest["item_id"],
                                                  manifest["image"], strict=True)]
            pool.map(_write_image, jobs, chunksize=256)
            manifest.to_csv(drop / "manifest.csv", index=False)
            prepared_s += time.perf_counter() - started
            started = time.perf_counter()
            summary = ingest.run(str(drop / "manifest.csv"), settings=settings)
            ingest_s += time.perf_counter() - started
            if summary.quarantined or summary.duplicates:
                raise RuntimeError(f"scaled manifest was not stored whole: {summary.to_json()}")
            stored += summary.ingested
    shutil.rmtree(drop, ignore_errors=True)
    return {"home": str(home), "items": stored, "weeks": len(store_plan.weeks),
            "prepare_seconds": round(prepared_s, 1), "ingest_seconds": round(ingest_s, 1),
            "ingest_items_per_second": round(stored / ingest_s, 1) if ingest_s else None}


def copy_embeddings(source: Settings, target: Settings) -> int:
    """Give ``target`` (a nested store) the vectors ``source`` computed for the same items.

    The items are the same bytes, so these are the vectors embedding would compute; each
    week is written by the embed stage's own writer, as if embedded there."""
    import pyarrow.compute as pc

    from pipeline.core import catalog
    from pipeline.embed import run as embed

    copied = 0
    for week in catalog.ITEMS.required_weeks(target, "stylecast ingest"):
        wanted = embed.week_items(target, week, ["item_id", "sha256"])
        table = catalog.EMBEDDINGS.read(source, week)
        table = table.filter(pc.is_in(table["item_id"], wanted["item_id"]))
        if table.num_rows != wanted.num_rows:
            raise RuntimeError(f"{source.home} has no vectors for some items of {week}")
        embed.write_partition(target, week, table, catalog.items_fingerprint(target, week))
        copied += table.num_rows
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--items", type=int, default=100_000,
                        help="items of the plan (the largest store's size)")
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--share", type=float, default=1.0, help="share of the plan to store")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    summary = build(args.home, plan(args.items, args.weeks, args.seed), args.share, args.seed)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
