"""What a design is checked against: the home's items as points of the metric classifier's
realism space (``gan.realism.points``), and the checks each design records.

The bank is built once per classifier version and state of the items (its key hashes both)
and kept in the home (``design-bank``), so a ``stylecast design`` command or a studio
start-up after the first reads one Parquet file instead of decoding and embedding every
item. It keeps the items' PNGs in memory too, for the studio's side-by-side view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from gan import realism
from gan.encoder import TrainedEncoder
from pipeline.core import catalog, png, storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.layout import content_key
from pipeline.core.settings import Settings

NEAREST = 3
# A design nearer an item than this quantile of real items' distance to their nearest other
# item is flagged as a near-copy (as the concepts step flags its ``too_close``).
COPY_QUANTILE = 0.05
COPY_SAMPLE = 2000
BATCH = 1024


@dataclass(frozen=True)
class ItemBank:
    item_ids: list[str]
    vectors: torch.Tensor            # (N, D) realism-space points
    pngs: dict[str, bytes]           # item id -> its stored PNG
    attributes: dict[str, dict[str, str]]
    copy_below: float

    def nearest(self, points: torch.Tensor, k: int = NEAREST,
                exclude: list[str | None] | None = None) -> list[list[tuple[str, float]]]:
        """Per point, its ``k`` nearest items (id, distance), ``exclude[i]`` left out."""
        if not self.item_ids:
            return [[] for _ in range(len(points))]
        distances = torch.cdist(points.float(), self.vectors)
        if exclude:
            lookup = {item: i for i, item in enumerate(self.item_ids)}
            for row, item in enumerate(exclude):
                if item in lookup:
                    distances[row, lookup[item]] = float("inf")
        found = distances.topk(min(k, len(self.item_ids)), largest=False)
        return [[(self.item_ids[int(i)], float(d)) for d, i in zip(ds, index, strict=True)]
                for ds, index in zip(found.values, found.indices, strict=True)]

    def keeping(self, visible: set[str]) -> ItemBank:
        """The bank without the items not in ``visible`` (erased, or no longer displayable)."""
        rows = [i for i, item in enumerate(self.item_ids) if item in visible]
        if len(rows) == len(self.item_ids):
            return self
        ids = [self.item_ids[i] for i in rows]
        return ItemBank(ids, self.vectors[rows], {i: self.pngs[i] for i in ids},
                        {i: self.attributes[i] for i in ids if i in self.attributes},
                        self.copy_below)


def items_stamp(settings: Settings) -> str:
    """Changes whenever the item files or the rights policy do (an erasure rewrites the
    files; a rights change touches either); from a listing, no item file is opened."""
    stamps = storage.file_stamps(catalog.ITEMS.root(settings), ("**/*.parquet",))
    return content_key(repr(sorted(stamps.items())).encode(),
                       catalog.read_policy(settings).digest.encode())


def displayable(settings: Settings) -> set[str]:
    """The ids of the items a designer may see now (the rights policy's "display")."""
    table = catalog.scan_items(settings, "display", ["item_id"])
    return set() if table is None else set(table["item_id"].to_pylist())


def _items(settings: Settings) -> pa.Table:
    """The items a designer may see (and redraw): those whose rights allow display."""
    table = catalog.scan_items(settings, "display", ["item_id", "image_png", "attributes"])
    if table is None:
        raise UnusableInputError(f"no items under {catalog.ITEMS.root(settings)}: run "
                                 "stylecast ingest first")
    return table.filter(table["image_png"].is_valid())


def load_bank(settings: Settings, judge: TrainedEncoder, judge_version: str) -> ItemBank:
    key = content_key(judge_version.encode(), items_stamp(settings).encode())
    table = _items(settings)
    ids = table["item_id"].to_pylist()
    pngs = dict(zip(ids, table["image_png"].to_pylist(), strict=True))
    attributes = {i: dict(pairs) for i, pairs in zip(ids, table["attributes"].to_pylist(),
                                                        strict=True)}
    cached = catalog.DESIGN_BANK.read(settings, key=key)
    if cached is not None and cached["item_id"].to_pylist() == ids:
        vectors = torch.from_numpy(np.stack(cached["vector"].to_numpy(zero_copy_only=False))
                                   if cached.num_rows else np.zeros((0, 1), np.float32))
        copy_below = float((catalog.DESIGN_BANK.footer(settings, key=key) or {})
                           .get("copy_below", 0.0))
        return ItemBank(ids, vectors.float(), pngs, attributes, copy_below)
    vectors = embed_pngs(judge, [pngs[i] for i in ids])
    copy_below = _copy_threshold(vectors)
    catalog.DESIGN_BANK.write(settings, pa.table({"item_id": ids,
                                                  "vector": list(vectors.numpy())}),
                              key=key, metadata={"copy_below": repr(copy_below)})
    return ItemBank(ids, vectors, pngs, attributes, copy_below)


def embed_pngs(judge: TrainedEncoder, pngs: list[bytes]) -> torch.Tensor:
    arch = judge.model.arch
    out = []
    for start in range(0, len(pngs), BATCH):
        pixels = np.stack([png.decode(data, arch["channels"]) for data in
                           pngs[start:start + BATCH]])
        out.append(realism.points(judge, as_tensor(pixels, arch["resolution"])))
    return torch.cat(out) if out else torch.zeros(0, 1)


def as_tensor(pixels: np.ndarray, side: int) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, C, side, side) uint8, area-resized when the sides differ."""
    images = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2)
    if images.shape[-1] == side:
        return images.contiguous()
    from gan.data import to_float, to_uint8

    return to_uint8(torch.nn.functional.interpolate(to_float(images), size=side, mode="area"))


def _copy_threshold(vectors: torch.Tensor, seed: int = 0) -> float:
    if len(vectors) < 3:
        return 0.0
    rng = torch.Generator().manual_seed(seed)
    sample = torch.randperm(len(vectors), generator=rng)[:COPY_SAMPLE]
    second = torch.cdist(vectors[sample], vectors).topk(2, largest=False).values[:, 1]
    return float(torch.quantile(second, COPY_QUANTILE))


def check(judge: TrainedEncoder, bank: ItemBank, images: torch.Tensor,
          labels: torch.Tensor) -> list[dict[str, object]]:
    """Per uint8 image (at the judge's side) drawn for ``labels``: whether a designer would
    recognise it (``gan.realism``), what the classifier sees, its nearest items."""
    verdict = realism.judge(judge, images, labels)
    _, probabilities = judge.outputs(images)
    vocabulary = judge.vocabulary
    near = bank.nearest(realism.points(judge, images))
    out = []
    for n in range(len(images)):
        seen = {}
        for a, name in enumerate(vocabulary.names):
            p = probabilities[a][n]
            seen[name] = {"value": vocabulary.values(name)[int(p.argmax()) + 1],
                          "p": round(float(p.max()), 3)}
        nearest = [{"item_id": item, "distance": round(d, 4)} for item, d in near[n]]
        too_close = bool(nearest) and nearest[0]["distance"] < bank.copy_below
        reason = verdict.reasons[n]
        if too_close:
            reason = "; ".join(filter(None, [reason, f"a near-copy of item "
                                                     f"{nearest[0]['item_id']}"]))
        out.append({"passed": bool(verdict.passed[n]) and not too_close, "reason": reason,
                    "recognised": bool(verdict.recognised[n]),
                    "realism": round(float(verdict.realism[n]), 4),
                    "realism_limit": round(float(judge.reference["realism_threshold"]), 4),
                    "seen": seen, "nearest": nearest, "too_close": too_close})
    return out
