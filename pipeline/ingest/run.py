"""``stylecast ingest``: one manifest in; items, quarantine and duplicates datasets out.

Everything this run writes is named by the manifest's content key, so a re-run of the same
manifest recomputes the same files and replaces them (never duplicates), and a run killed
half-way is completed by simply running it again.

Ingests may run at the same time, from any number of processes or machines, into one home.
Rows are checked against the store as it was at the start, and again in the commit step,
which one ingest at a time runs under a lock held in the store (``core.locks``): a row whose
``item_id`` another ingest stored meanwhile with other content is quarantined as
``item_id_conflict``, one with the same content is a duplicate. The stored result is the
one the ingests would give run one after the other, in the order they committed.

An erased item (``core.tombstones``: its id, or its content under any id) is left out and
only counted (``erased``): keeping its row in quarantine would bring back what was erased.
An erasure commits under the same lock, so an ingest running meanwhile cannot resurrect it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core import catalog, erasure, storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.locks import store_lock
from pipeline.core.names import STORE_COMMIT_LOCK
from pipeline.core.settings import Settings, is_local, local_path
from pipeline.core.tombstones import Tombstones
from pipeline.ingest.decode import Decoder
from pipeline.ingest.fetch import DEFAULT_MAX_BYTES, ReadPolicy
from pipeline.ingest.images import ImageLimits, ImageRejected
from pipeline.ingest.rows import label_identity, prepare
from pipeline.ingest.writer import WeeklyItemWriter
from pipeline.sources.manifest import read_manifest, recorded_images_root

CHUNK_ROWS = 20_000
PROGRESS_EVERY = 256  # rows; a redraw per row cost more than the row checks
# When this share of the image paths (or more) cannot be read, the images root is wrong, not
# the rows: nothing is written and the error says where the paths were looked for. (Remote
# URIs that fail are quarantined whatever their share: a host being down is not a typo.)
UNREADABLE_SHARE = 0.9


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, n: int) -> None: ...


@dataclass
class IngestSummary:
    total: int = 0
    ingested: int = 0
    duplicates: int = 0
    quarantined: int = 0
    erased: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    weeks: list[str] = field(default_factory=list)
    manifest_key: str = ""

    def to_json(self) -> str:
        """The one summary line: counts, plus the span of weeks written."""
        record = asdict(self)
        weeks = record.pop("weeks")
        record.update(weeks=len(weeks), first_week=weeks[0] if weeks else None,
                      last_week=weeks[-1] if weeks else None)
        return json.dumps(record)


def _default_images_root(manifest_uri: str) -> str:
    if is_local(manifest_uri):
        return str(Path(local_path(manifest_uri)).resolve().parent)
    return manifest_uri.rsplit("/", 1)[0]


def _check_images_root(images_root: str) -> None:
    if not storage.exists(images_root):
        raise UnusableInputError(f"images root {images_root} does not exist")


def _existing_index(settings: Settings, manifest_key: str
                    ) -> tuple[dict[str, str], dict[str, str]]:
    """(item_id -> sha256, image sha256 -> item_id) of items other manifests already wrote."""
    table = catalog.ITEMS.scan(settings, columns=["item_id", "sha256", "width", "manifest"])
    if table is None:
        return {}, {}
    table = table.filter(pc.not_equal(table["manifest"], manifest_key))
    ids = dict(zip(table["item_id"].to_pylist(), table["sha256"].to_pylist(), strict=True))
    images = table.filter(pc.is_valid(table["width"]))
    content = dict(zip(images["sha256"].to_pylist(), images["item_id"].to_pylist(), strict=True))
    return ids, content


def run(manifest: str, images_root: str | None = None, settings: Settings | None = None,
        limits: ImageLimits | None = None, default_source: str = "unknown",
        progress: Progress | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
        allow_remote: Sequence[str] | None = None) -> IngestSummary:
    """Ingest one manifest. Image paths resolve under ``images_root``: by default the root
    a ``stylecast sources`` command recorded for this manifest, else the manifest's folder.
    Remote image URIs are read only under ``allow_remote`` (default: the settings')."""
    settings = settings or Settings.from_env()
    limits = limits or ImageLimits()
    raw, manifest_key = read_manifest(manifest)
    rights = catalog.read_policy(settings)
    images_root = (images_root or recorded_images_root(settings, manifest_key)
                   or _default_images_root(manifest))
    if "image" in raw.columns and (raw["image"].astype(str).str.strip() != "").any():
        _check_images_root(images_root)
    allowed = tuple(settings.allow_remote if allow_remote is None else allow_remote)
    policy = ReadPolicy(images_root, max_bytes, allowed)

    summary = IngestSummary(total=len(raw), manifest_key=manifest_key)
    if progress:
        progress.start(len(raw))
    quarantine: list[dict] = []
    duplicates: list[dict] = []
    reasons: Counter[str] = Counter()
    unreadable: list[tuple[str, str]] = []   # local image paths not read, and why

    def reject(rec, reason: str, message: str) -> None:
        reasons[reason] += 1
        if reason == "unreadable_path" and "://" not in rec.image:
            unreadable.append((rec.image, message))
        quarantine.append({"manifest": manifest_key, "row": rec.row, "item_id": rec.item_id,
                           "image_ref": rec.image or None, "reason": reason,
                           "message": message, "record_json": rec.record_json})

    index = _ContentIndex(*_existing_index(settings, manifest_key), manifest_key,
                          Tombstones.load(settings))
    image_rows = 0
    with (storage.staging_dir(settings.home, f"ingest-{manifest_key}") as staging,
          Decoder(policy, limits, settings.workers) as decoder):
        writer = WeeklyItemWriter(settings, manifest_key, staging)
        try:
            # Row checks run a chunk at a time so per-row state never covers the whole manifest.
            for first in range(0, len(raw), CHUNK_ROWS):
                rows = prepare(raw.iloc[first:first + CHUNK_ROWS], default_source, first,
                               rights)
                decodable = rows[(rows["reason"] == "") & (rows["image"] != "")]
                image_rows += int((~decodable["image"].str.contains("://", regex=False)).sum())
                decoded = decoder.map(zip(decodable["row"], decodable["image"], strict=True))
                for n, rec in enumerate(rows.itertuples(index=False), 1):
                    if progress and n % PROGRESS_EVERY == 0:
                        progress.advance(PROGRESS_EVERY)
                    if rec.reason:
                        reject(rec, rec.reason, rec.message)
                        continue
                    outcome = next(decoded) if rec.image else None
                    _place(rec, outcome, index, writer, reject, duplicates.append)
                if progress:
                    progress.advance(len(rows) % PROGRESS_EVERY)
            if image_rows and len(unreadable) >= UNREADABLE_SHARE * image_rows:
                raise UnusableInputError(_unreadable_hint(unreadable, image_rows, images_root))
            with store_lock(catalog.lock_path(settings, STORE_COMMIT_LOCK), "ingest commit"):
                erasure.recover(settings)   # an erasure a crash interrupted completes first
                stored = _ContentIndex(*_existing_index(settings, manifest_key), manifest_key,
                                       Tombstones.load(settings))

                def row_of(number: int):
                    checked = prepare(raw.iloc[number:number + 1], default_source, number,
                                      rights)
                    return next(checked.itertuples(index=False))

                lost = _settle(index, stored, row_of, reject, duplicates.append)
                summary.weeks = writer.commit(drop=lost)
        except BaseException:
            writer.abort()
            raise
        summary.ingested = writer.rows_added - len(lost)

    _replace(settings, catalog.QUARANTINE, manifest_key, quarantine)
    _replace(settings, catalog.DUPLICATES, manifest_key, duplicates)
    summary.erased = index.erased
    summary.duplicates = len(duplicates)
    summary.quarantined = len(quarantine)
    summary.by_reason = dict(sorted(reasons.items()))
    catalog.INGEST_LOG.write_bytes(settings, summary.to_json().encode(), key=manifest_key)
    return summary


def _unreadable_hint(unreadable: list[tuple[str, str]], image_rows: int,
                     images_root: str) -> str:
    path, why = unreadable[0]
    folder = f" that holds {path.split('/', 1)[0]}/" if "/" in path else ""
    return (f"{len(unreadable)} of {image_rows} image rows cannot be read under the images "
            f"root {images_root} (e.g. {why}); nothing was written. Is --images-root the "
            f"folder{folder}?")


def _settle(index: _ContentIndex, stored: _ContentIndex, row_of: Callable, reject: Callable,
            add_duplicate: Callable) -> set[str]:
    """The commit step's second look, under the lock: which of this run's new items another
    ingest stored meanwhile. Returns their ids, now quarantined or recorded as duplicates."""
    lost = set()
    for item_id, (identity, has_image, row) in index.new.items():
        if stored.tombstones.erased(item_id, identity):   # erased while this run staged it
            index.erased += 1
            lost.add(item_id)
            continue
        if item_id not in stored.ids and not (has_image and identity in stored.images):
            continue
        rec = row_of(row)
        if item_id in stored.ids:
            if stored.ids[item_id] != identity:
                reject(rec, "item_id_conflict", f"item_id {item_id!r} was stored with "
                                                "different content by a concurrent ingest")
            else:
                add_duplicate(_duplicate(index.manifest_key, rec, item_id, identity))
        else:
            add_duplicate(_duplicate(index.manifest_key, rec, stored.images[identity], identity))
        lost.add(item_id)
    return lost


@dataclass
class _ContentIndex:
    """What the store already holds: item_id -> content hash, image hash -> item_id."""

    ids: dict[str, str]
    images: dict[str, str]
    manifest_key: str
    tombstones: Tombstones
    erased: int = 0
    # This run's new items: item_id -> (content hash, has an image, manifest row).
    new: dict[str, tuple[str, bool, int]] = field(default_factory=dict)


def _place(rec, outcome: tuple[int, object] | None, index: _ContentIndex,
           writer: WeeklyItemWriter, reject: Callable, add_duplicate: Callable) -> None:
    """Decide one checked row: quarantine, duplicate, or a new item for the writer."""
    image = None
    if outcome is not None:
        row, decoded = outcome
        assert row == rec.row, "decoder out of order"
        if isinstance(decoded, ImageRejected):
            reject(rec, decoded.reason, decoded.message)
            return
        image, identity = decoded, decoded.sha256
    else:
        identity = label_identity(rec.observed_ts, rec.source, rec.attributes)

    key = index.manifest_key
    if index.tombstones.erased(rec.item_id, identity):
        index.erased += 1
        return
    if rec.item_id in index.ids:
        if index.ids[rec.item_id] != identity:
            reject(rec, "item_id_conflict",
                   f"item_id {rec.item_id!r} already holds different content")
        else:
            add_duplicate(_duplicate(key, rec, rec.item_id, identity))
        return
    if image is not None and identity in index.images:
        add_duplicate(_duplicate(key, rec, index.images[identity], identity))
        return
    index.ids[rec.item_id] = identity
    if image is not None:
        index.images[identity] = rec.item_id
    index.new[rec.item_id] = (identity, image is not None, rec.row)
    writer.add(_item_row(rec, identity, image, key))


def _item_row(rec, identity: str, image, manifest_key: str) -> dict:
    return {
        "item_id": rec.item_id, "sha256": identity, "observed_at": rec.observed_ts,
        "iso_week": rec.iso_week, "source": rec.source,
        "attributes": list(rec.attributes.items()),
        "image_png": image.png if image else None, "image_ref": rec.image or None,
        "width": image.width if image else None, "height": image.height if image else None,
        "manifest": manifest_key, "licence": rec.licence, "uses": rec.uses,
    }


def _duplicate(manifest_key: str, rec, duplicate_of: str, identity: str) -> dict:
    return {"manifest": manifest_key, "row": rec.row, "item_id": rec.item_id,
            "duplicate_of": duplicate_of, "sha256": identity, "record_json": rec.record_json}


def _replace(settings: Settings, dataset: catalog.Dataset, manifest_key: str,
             records: list[dict]) -> None:
    """This manifest's file in a side dataset: replaced, or removed when it has no rows."""
    if records:
        dataset.write(settings, pa.Table.from_pylist(records, schema=dataset.schema),
                      key=manifest_key)
    else:
        dataset.remove(settings, key=manifest_key)

