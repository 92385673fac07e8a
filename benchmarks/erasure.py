"""Erasing 1,000 items from a large store: wall time, and which partitions it rewrites.

``build`` makes a store with the store scaler (``benchmarks/store_scaler.py``, default 300k
items over 104 weeks, as ``benchmarks/weekly_scale.py`` does), trains the items encoder on a
small store of the same plan, embeds every week and runs the styles step for the last week,
so the store holds what an erasure must reach: items, embeddings, memberships, styles.

``measure`` erases two requests of 1,000 items with ``stylecast forget``'s own function:
one contributor's photos (stored in a few weeks) and photos scattered over the store
(seeded), and compares, in the same run:

- the files it rewrote, per dataset, against the files that hold an erased item (counted
  independently with DuckDB before the erasure) and against every file of the dataset;
- which files changed on disk (content hashes before and after): only those that hold one;
- a naive erasure of another 1,000 scattered items that reads, filters and rewrites every
  file of the items and embeddings datasets (a store without the catalog's references).

Usage:
  python benchmarks/erasure.py build [--root DIR] [--items 300000]
  python benchmarks/erasure.py measure [--root DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import store_scaler  # noqa: E402
from ingest import measure  # noqa: E402  (benchmarks/ingest.py)
from weekly_scale import ENCODER_ITEMS, WEEKS, env_for, stylecast  # noqa: E402

DEFAULT_ROOT = REPO.parent / "erasure-scale"
ERASED = 1_000
SEED = 11
DATASETS = ("items", "embeddings", "memberships", "styles")


def build(root: Path, items: int) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    plan = store_scaler.plan(items, WEEKS)
    record: dict = {"plan_items": plan.items, "weeks": WEEKS}
    encoder_home = root / "encoder-home"
    record["encoder_home"] = store_scaler.build(encoder_home, plan,
                                                  min(1.0, ENCODER_ITEMS / plan.items))
    measure(stylecast("encoder", "train", "--dataset", "items", "--preset", "quick"),
            env=env_for(encoder_home, root))
    home = root / "store"
    record["store"] = store_scaler.build(home, plan, 1.0)
    seconds, _, _ = measure(stylecast("embed", "--all"), env=env_for(home, root))
    record["embed_seconds"] = round(seconds, 1)
    last = sorted(p.name.removeprefix("week=") for p in (home / "items").glob("week=*"))[-1]
    measure([sys.executable, "-c", "import sys; from pipeline.jobs.tasks import weekly_step; "
             "weekly_step('styles', sys.argv[1])", last], env=env_for(home, root), cwd=REPO)
    (root / "build.json").write_text(json.dumps(record, indent=1))
    return record


def _digests(home: Path) -> dict[str, str]:
    return {str(p.relative_to(home)): hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest()
            for p in home.rglob("*.parquet") if "_erasure" not in p.parts}


def _holding(home: Path, ids: list[str]) -> dict[str, set[str]]:
    """Per dataset, the files that name an erased item (DuckDB, not the code measured)."""
    import duckdb

    duckdb.sql("create or replace temp table erased as select unnest($ids) as id",
               params={"ids": ids})
    globs = {"items": "items/*/*.parquet", "embeddings": "embeddings/*/*.parquet",
             "memberships": "styles/*/members.parquet"}
    out = {}
    for name, pattern in globs.items():
        rows = duckdb.sql(f"select distinct filename from read_parquet('{home}/{pattern}', "
                          "filename=true) where item_id in (select id from erased)").fetchall()
        out[name] = {str(Path(f).relative_to(home)) for (f,) in rows}
    rows = duckdb.sql(f"select distinct filename from read_parquet('{home}/styles/*/styles"
                      ".parquet', filename=true) where len(list_intersect(representatives, "
                      "(select list(id) from erased))) > 0").fetchall()
    out["styles"] = {str(Path(f).relative_to(home)) for (f,) in rows}
    return out


def _naive(home: Path, ids: list[str]) -> tuple[float, int]:
    """Read, filter and rewrite every items and embeddings file (atomically, as ours)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from pipeline.core import storage

    wanted = pa.array(ids)
    started, files = time.perf_counter(), 0
    for pattern in ("items/*/*.parquet", "embeddings/*/*.parquet"):
        for path in sorted(home.glob(pattern)):
            table = pq.read_table(path)
            kept = table.filter(pc.invert(pc.is_in(table["item_id"], wanted)))
            with storage.staged_file(str(path)) as tmp:
                pq.write_table(kept, tmp, compression="zstd")
            files += 1
    return time.perf_counter() - started, files


def _erase(home: Path, ids: list[str]) -> dict:
    """One ``stylecast forget`` of ``ids``: time, files rewritten, files changed on disk."""
    from pipeline.core.settings import Settings
    from pipeline.jobs.forget import forget

    holding = _holding(home, ids)
    before = _digests(home)
    started = time.perf_counter()
    summary = forget(Settings(home=str(home)), ids, who="benchmark", track=False)
    seconds = time.perf_counter() - started
    after = _digests(home)
    changed = {p for p in after if before.get(p) != after[p]} | (set(before) - set(after))
    changed -= {"rights/tombstones.parquet"}
    every = {name: sum(1 for p in before if p.startswith(prefix) and p.endswith(suffix))
             for name, (prefix, suffix) in {"items": ("items/", ".parquet"),
                                            "embeddings": ("embeddings/", ".parquet"),
                                            "memberships": ("styles/", "members.parquet"),
                                            "styles": ("styles/", "styles.parquet")}.items()}
    return {"erased": summary.erased, "seconds": seconds, "rewritten": summary.files,
            "holding": {k: len(v) for k, v in holding.items()}, "every": every,
            "changed_not_holding": sorted(changed - set().union(*holding.values()))}


def measure_erasure(root: Path) -> dict:
    """Two requests a brand meets: one contributor's 1,000 photos, stored in the same few
    weeks, and 1,000 photos scattered over the whole store; then the naive erasure."""
    import duckdb

    home = root / "store"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    all_ids = [i for (i,) in duckdb.sql(f"select item_id from '{home}/items/*/*.parquet' "
                                        "order by item_id").fetchall()]
    middle = len(all_ids) // 2
    contributor = all_ids[middle:middle + ERASED]   # ids run by week: a few weeks' files
    rest = sorted(set(all_ids) - set(contributor))
    scattered = random.Random(SEED).sample(rest, 2 * ERASED)
    result = {"store_items": len(all_ids),
              "scenarios": {"one contributor (1,000 photos of a few weeks)":
                            _erase(home, contributor),
                            "scattered (1,000 photos drawn across the store)":
                            _erase(home, scattered[:ERASED])}}
    result["naive_seconds"], result["naive_files"] = _naive(home, scattered[ERASED:])
    return result


def table(result: dict, machine: str) -> str:
    lines = [f"# Erasing {ERASED:,} items (`benchmarks/erasure.py`)", "",
             f"Machine: {machine}. Store: {result['store_items']:,} items over {WEEKS} weeks "
             "built by `benchmarks/store_scaler.py` from the real product catalogue, embedded, "
             "styles run for its last week. Each request is erased by `stylecast forget`'s "
             "own function (every dataset, tombstones, audit log; no MLflow), one after the "
             f"other on the same store (scattered ids drawn with seed {SEED}).", "",
             "| request | dataset | files in the store | files holding an erased item | "
             "files rewritten |", "| --- | --- | ---: | ---: | ---: |"]
    for name, run in result["scenarios"].items():
        for dataset in DATASETS:
            lines.append(f"| {name} | {dataset} | {run['every'][dataset]} | "
                         f"{run['holding'][dataset]} | {run['rewritten'].get(dataset, 0)} |")
    lines += ["", "| erasure | wall s | items + embeddings files rewritten | time vs naive |",
              "| --- | ---: | ---: | ---: |"]
    for name, run in result["scenarios"].items():
        files = run["rewritten"].get("items", 0) + run["rewritten"].get("embeddings", 0)
        lines.append(f"| StyleCast, {name} | {run['seconds']:.1f} | {files} | "
                     f"{run['seconds'] / result['naive_seconds']:.2f}x |")
    lines += [f"| naive: read, filter and rewrite every items and embeddings file (another "
              f"1,000 scattered ids) | {result['naive_seconds']:.1f} | "
              f"{result['naive_files']} | 1.00x |", ""]
    for name, run in result["scenarios"].items():
        lines.append(f"Files changed on disk that hold no erased item, {name}: "
                     f"{len(run['changed_not_holding'])} "
                     f"({', '.join(run['changed_not_holding']) or 'none'}; the tombstones "
                     "aside).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "measure"))
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "erasure.md")
    args = parser.parse_args()
    if args.command == "build":
        print(json.dumps(build(args.root, args.items), indent=1))
        return
    result = measure_erasure(args.root)
    (args.root / "erasure.json").write_text(json.dumps(result, indent=1, default=str))
    machine = f"{platform.platform()}, {os.cpu_count()} cores"
    text = table(result, machine)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
