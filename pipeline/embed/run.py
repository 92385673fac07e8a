"""``stylecast embed``: item vectors from the registered catalogue encoder, one partition a week.

A week's ``embeddings`` partition holds one vector per item of that week that has an image,
with the encoder's registry version and the content hash it was computed from.
Only missing or stale vectors are computed (another encoder version, or the item's image
changed); a week's partition is rewritten whole with the current version, so a partition
never mixes versions. An image that no longer decodes is quarantined (the ``quarantine``
dataset, key ``embed-<week>``), never fatal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core import catalog
from pipeline.core.errors import UnusableInputError
from pipeline.core.names import EMBEDDING_DIM
from pipeline.core.rights import Policy
from pipeline.core.schemas import EMBEDDINGS, QUARANTINE
from pipeline.core.settings import Settings
from pipeline.embed import DEFAULT_BATCH
from pipeline.embed.transforms import decode_png, embed_images, vectors_of

UNDECODABLE = "undecodable_at_embed"
# Footer metadata of a week's partition: what it was computed from, so that a week whose
# items did not change is recognised from one listing and one footer, not by reading it.
ITEMS_FINGERPRINT = "stylecast.items_fingerprint"
MODEL_VERSION = "stylecast.model_version"


@dataclass
class EmbedSummary:
    model_version: str
    weeks: list[str] = field(default_factory=list)
    computed: int = 0
    reused: int = 0
    quarantined: int = 0
    seconds: float = 0.0

    def to_json(self) -> str:
        rate = self.computed / self.seconds if self.seconds else 0.0
        fields = {k: v for k, v in self.__dict__.items() if k != "weeks"}
        return json.dumps({**fields, "weeks": len(self.weeks),
                           "first_week": min(self.weeks, default=None),
                           "last_week": max(self.weeks, default=None),
                           "seconds": round(self.seconds, 2), "items_per_second": round(rate, 1)})


def week_items(settings: Settings, week: str, columns: list[str],
               items: list[str] | None = None, policy: Policy | None = None) -> pa.Table:
    """One week's items that have an image (``width`` is null for label-only rows) and may be
    analysed under the rights policy, read from the week's own partition: on an object
    store, scanning every partition with a filter would cost a listing per week."""
    table = catalog.scan_items_week(settings, week, "analyse", [*columns, "width"],
                                    filter=pc.field("item_id").isin(items) if items else None,
                                    policy=policy)
    if table is None:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return table.filter(pc.is_valid(table["width"])).select(columns)


def _existing(settings: Settings, week: str) -> dict[str, tuple[str, str, np.ndarray]]:
    table = catalog.EMBEDDINGS.read(settings, week)
    if table is None:
        return {}
    vectors = vectors_of(table)
    return {item: (sha, version, vectors[i]) for i, (item, sha, version) in enumerate(zip(
        table["item_id"].to_pylist(), table["sha256"].to_pylist(),
        table["model_version"].to_pylist(), strict=True))}


def embed_week(settings: Settings, week: str, encoder, version: str,
               batch_size: int = DEFAULT_BATCH, policy: Policy | None = None
               ) -> tuple[int, int, int]:
    """(computed, reused, quarantined) for one week.

    A week whose items folder and encoder version match what its partition records is
    skipped from the footer alone. Otherwise image bytes are read only for missing or stale
    items; when nothing changed the partition is left as it is (its record refreshed),
    else it is replaced whole (atomically).
    """
    policy = policy or catalog.read_policy(settings)
    fingerprint = catalog.items_fingerprint(settings, week, policy)
    recorded = catalog.EMBEDDINGS.footer(settings, week)
    if recorded and (recorded.get(ITEMS_FINGERPRINT), recorded.get(MODEL_VERSION)) == (
            fingerprint, version):
        return 0, int(recorded["num_rows"]), 0
    listed = week_items(settings, week, ["item_id", "sha256"], policy=policy)
    existing = _existing(settings, week)
    current = dict(zip(listed["item_id"].to_pylist(), listed["sha256"].to_pylist(),
                       strict=True))
    keep_rows = [(item, sha, existing[item][2]) for item, sha in current.items()
                 if item in existing and existing[item][:2] == (sha, version)]
    stale = sorted(set(current) - {row[0] for row in keep_rows})
    if not stale and len(existing) == len(keep_rows):
        if keep_rows:  # a partition written before the record, or after a quarantine
            _write_rows(settings, week, version, keep_rows, fingerprint)
        return 0, len(keep_rows), 0
    arch = encoder.model.arch
    new_rows, images, rejected = [], [], []
    todo = week_items(settings, week, ["item_id", "sha256", "image_png", "manifest"], stale,
                      policy)
    for item, sha, png, manifest in zip(*(todo[c].to_pylist() for c in (
            "item_id", "sha256", "image_png", "manifest")), strict=True):
        try:
            images.append(decode_png(png, arch["channels"], arch["resolution"]))
            new_rows.append((item, sha))
        except ValueError as err:
            rejected.append({"manifest": manifest, "row": None, "item_id": item,
                             "image_ref": None, "reason": UNDECODABLE, "message": str(err),
                             "record_json": json.dumps({"item_id": item, "sha256": sha,
                                                        "iso_week": week})})
    vectors = embed_images(encoder, np.stack(images) if images else np.zeros((0,)), batch_size)
    rows = keep_rows + [(item, sha, vectors[i]) for i, (item, sha) in enumerate(new_rows)]
    _write_rows(settings, week, version, rows, fingerprint)
    quarantine = catalog.embed_quarantine_key(week)
    if rejected:
        catalog.QUARANTINE.write(settings, pa.Table.from_pylist(rejected, schema=QUARANTINE),
                                 key=quarantine)
    else:
        catalog.QUARANTINE.remove(settings, key=quarantine)
    return len(new_rows), len(keep_rows), len(rejected)


def _write_rows(settings: Settings, week: str, version: str,
               rows: list[tuple[str, str, np.ndarray]], fingerprint: str) -> None:
    if not rows:
        catalog.EMBEDDINGS.remove(settings, week)
        return
    flat = np.concatenate([r[2] for r in rows]).astype(np.float32)
    table = pa.Table.from_arrays([
        pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows]),
        pa.array([week] * len(rows)), pa.array([version] * len(rows)),
        pa.FixedSizeListArray.from_arrays(pa.array(flat), EMBEDDING_DIM),
    ], schema=EMBEDDINGS)
    write_partition(settings, week, table, fingerprint)


def write_partition(settings: Settings, week: str, table: pa.Table, fingerprint: str) -> None:
    """Replace a week's vectors (one encoder version), recording what they were made from."""
    versions = pc.unique(table["model_version"]).to_pylist()
    if len(versions) != 1:
        raise ValueError(f"a partition holds one encoder version, got {versions}")
    catalog.EMBEDDINGS.write(settings, table, week, metadata={ITEMS_FINGERPRINT: fingerprint,
                                                             MODEL_VERSION: versions[0]})


def run(settings: Settings, weeks: Iterable[str] | None = None, model_version: str | None = None,
        batch_size: int = DEFAULT_BATCH,
        on_week: Callable[[str], None] | None = None) -> EmbedSummary:
    """Embed the given weeks (default: every week in the store)."""
    # The ingest writer creates a week's file only for rows, so a listing is enough.
    available = catalog.ITEMS.required_weeks(settings, "stylecast ingest")
    chosen = list(weeks) if weeks else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise UnusableInputError(f"no items in week(s) {', '.join(unknown)}; the store holds "
                                 f"{available[0]} .. {available[-1]}")
    from gan.inference import load_items_encoder

    encoder, version = load_items_encoder(settings, model_version)
    summary = EmbedSummary(model_version=version, weeks=chosen)
    started = time.perf_counter()
    policy = catalog.read_policy(settings)   # one policy for the whole run
    for week in chosen:
        computed, reused, quarantined = embed_week(settings, week, encoder, version, batch_size,
                                                   policy)
        summary.computed += computed
        summary.reused += reused
        summary.quarantined += quarantined
        if on_week:
            on_week(week)
    summary.seconds = time.perf_counter() - started
    return summary
