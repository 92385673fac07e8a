"""Erasure: take items, and what was derived from them, out of every dataset of the home.

The catalog says where items are named (``Dataset.item_refs``, ``hash_refs``); an erasure
reads only those columns of every file, and rewrites only the files that hold an erased
item. It runs in two phases, under the store lock ingests commit under:

1. **plan**: every file to replace is written, already scrubbed, into a journal in the store
   (``_erasure/<id>/``) together with the new tombstones and audit log; then ``plan.json``,
   and last a ``committed`` marker. A crash before the marker leaves the store as it was:
   the journal is discarded by the next erasure or ingest.
2. **apply**: each staged file replaces its target (one atomic put each), then the journal
   is marked ``applied``. Idempotent: after a crash, the next erasure or ingest applies
   what is left, so the store ends as if the erasure had run whole.

Follow-ups outside the store (rebuilding the affected reports, tagging models in MLflow)
belong to the job (``pipeline.jobs.forget``) and are redone until it removes the journal.
"""

from __future__ import annotations

import io
import json
import secrets
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core import catalog, storage
from pipeline.core.layout import content_key
from pipeline.core.settings import Settings
from pipeline.core.tombstones import Tombstones

JOURNAL = "_erasure"
ITEM_PARENT = "item:"   # how a design names the item it was redrawn from


@dataclass(frozen=True)
class Target:
    """The asked ids the home holds, their contents' hashes, and the ids it does not hold."""

    item_ids: frozenset[str]
    hashes: frozenset[str]
    missing: tuple[str, ...]


@dataclass
class Plan:
    erasure: str
    writes: list[tuple[str, str]] = field(default_factory=list)   # staged file -> target
    removes: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)           # dataset -> files changed
    scanned: dict[str, int] = field(default_factory=dict)         # dataset -> files read
    weeks: list[str] = field(default_factory=list)      # data weeks that held erased items
    runs: list[str] = field(default_factory=list)       # training runs that learned from them
    reports: list[str] = field(default_factory=list)    # report weeks to rebuild
    designs: list[str] = field(default_factory=list)    # designs drawn from erased items
    items: int = 0


def new_id() -> str:
    return time.strftime("e-%Y%m%dT%H%M%S-", time.gmtime()) + secrets.token_hex(3)


def journal(settings: Settings, erasure: str, *parts: str) -> str:
    return settings.path(JOURNAL, erasure, *parts)


# -- what the home holds -------------------------------------------------------------------

def locate(settings: Settings, asked: Iterable[str]) -> Target:
    """Which asked ids the home holds (as items, quarantined rows or duplicates), with any
    other item stored with the same content (a duplicate's original)."""
    ids = sorted({a.strip() for a in asked if a.strip()})
    wanted = pc.field("item_id").isin(ids)
    held: set[str] = set()
    hashes: set[str] = set()
    for dataset in (catalog.ITEMS, catalog.DUPLICATES):
        table = dataset.scan(settings, columns=["item_id", "sha256"], filter=wanted)
        if table is not None:
            held |= set(table["item_id"].to_pylist())
            hashes |= set(table["sha256"].to_pylist())
    table = catalog.QUARANTINE.scan(settings, columns=["item_id"], filter=wanted)
    if table is not None:
        held |= set(table["item_id"].to_pylist())
    asked_held = set(held)
    if hashes:   # an erased photo goes under every id it is stored under
        table = catalog.ITEMS.scan(settings, columns=["item_id"],
                                   filter=pc.field("sha256").isin(sorted(hashes)))
        held |= set(table["item_id"].to_pylist()) if table is not None else set()
    return Target(frozenset(held), frozenset(hashes),
                  tuple(i for i in ids if i not in asked_held))


# -- phase 1: plan -------------------------------------------------------------------------

def plan(settings: Settings, target: Target, erasure: str, audit: dict) -> Plan:
    """Stage every changed file of the home in the journal, then commit the journal."""
    result = Plan(erasure, items=len(target.item_ids))
    ids = pa.array(sorted(target.item_ids), pa.string())
    hashes = pa.array(sorted(target.hashes), pa.string())
    for dataset in catalog.DATASETS:
        if dataset.item_refs or dataset.hash_refs:
            _plan_table_dataset(settings, dataset, ids, hashes, result)
    _plan_designs(settings, target, result)
    result.reports = _reports_naming(settings, target.item_ids)
    tombstones = Tombstones.load(settings)
    _stage(settings, result, catalog.TOMBSTONES.path(settings), _parquet_bytes(
        tombstones.with_items(target.item_ids, target.hashes, erasure), tombstones.footer()))
    entry = {**audit, "erasure": erasure, "items": result.items, "files": result.files,
             "weeks": result.weeks, "models": result.runs, "reports": result.reports,
             "designs_removed": len(result.designs)}
    try:
        log = storage.read_bytes(catalog.AUDIT_LOG.path(settings))
    except FileNotFoundError:
        log = b""
    _stage(settings, result, catalog.AUDIT_LOG.path(settings),
           log + json.dumps(entry, sort_keys=True).encode() + b"\n")
    storage.write_bytes_atomic(json.dumps(asdict(result), indent=1).encode(),
                               journal(settings, erasure, "plan.json"))
    storage.write_bytes_atomic(b"", journal(settings, erasure, "committed"))
    return result


def _stage(settings: Settings, result: Plan, dest: str, data: bytes) -> None:
    staged = _staged_path(settings, result.erasure, dest)
    storage.write_bytes_atomic(data, staged)
    result.writes.append((staged, dest))


def _staged_path(settings: Settings, erasure: str, dest: str) -> str:
    return journal(settings, erasure, "staged", content_key(dest.encode()))


def _plan_table_dataset(settings: Settings, dataset: catalog.Dataset, ids: pa.Array,
                        hashes: pa.Array, result: Plan) -> None:
    """Scrub the dataset's files that name an erased item into the journal, a file per
    worker thread at a time (reading, encoding and writing Parquet release the GIL)."""
    paths = [p for p in dataset.files(settings) if p.endswith(".parquet")]
    result.scanned[dataset.name] = len(paths)

    def scrub(path: str) -> str | None:   # the staged file, "" to remove, None: untouched
        refs = [*dataset.item_refs, *dataset.hash_refs]
        head = storage.read_file(path, columns=[c for c in refs if c in _columns(path)])
        if not _holds(head, dataset, ids, hashes):
            return None
        scrubbed = _scrub(storage.read_file(path), dataset, ids, hashes)
        # An emptied item file or keyed file goes; a weekly output stays, empty, so that its
        # week still reads as computed.
        if scrubbed.num_rows == 0 and (dataset is catalog.ITEMS or dataset.partitioning == "key"):
            return ""
        staged = _staged_path(settings, result.erasure, path)
        storage.write_bytes_atomic(_parquet_bytes(scrubbed, storage.file_metadata(path) or {}),
                                   staged)
        return staged

    with ThreadPoolExecutor(max(1, settings.workers)) as pool:
        outcomes = list(pool.map(scrub, paths))
    for path, staged in zip(paths, outcomes, strict=True):
        if staged is None:
            continue
        result.files[dataset.name] = result.files.get(dataset.name, 0) + 1
        week = dataset.file_week(settings, path)
        if dataset is catalog.ITEMS and week and week not in result.weeks:
            result.weeks.append(week)
        if dataset is catalog.LINEAGE:
            result.runs.append(path.rsplit("/", 1)[-1].removesuffix(".parquet"))
        if staged:
            result.writes.append((staged, path))
        else:
            result.removes.append(path)
    result.weeks.sort()


def _columns(path: str) -> set[str]:
    fs, local = storage.filesystem(path)
    with fs.open(local, "rb") as handle:
        return set(pq.read_schema(handle).names)


def _holds(head: pa.Table, dataset: catalog.Dataset, ids: pa.Array, hashes: pa.Array) -> bool:
    for column in head.column_names:
        values = head[column]
        if pa.types.is_list(values.type) or pa.types.is_fixed_size_list(values.type):
            values = pc.list_flatten(values)
        wanted = hashes if column in dataset.hash_refs else ids
        if len(values) and pc.any(pc.is_in(values, wanted)).as_py():
            return True
    return False


def _scrub(table: pa.Table, dataset: catalog.Dataset, ids: pa.Array, hashes: pa.Array
           ) -> pa.Table:
    keep = pa.array([True] * table.num_rows)
    for column in [*dataset.item_refs, *dataset.hash_refs]:
        if column not in table.column_names:
            continue
        values = table[column]
        wanted = hashes if column in dataset.hash_refs else ids
        if pa.types.is_list(values.type):
            erased = set(wanted.to_pylist())
            cleaned = [None if v is None else [x for x in v if x not in erased]
                       for v in values.to_pylist()]
            table = table.set_column(table.schema.get_field_index(column), column,
                                     pa.array(cleaned, values.type))
        else:
            keep = pc.and_(keep, pc.invert(pc.fill_null(pc.is_in(values, wanted), False)))
    return table.filter(keep)


def _parquet_bytes(table: pa.Table, footer: dict[str, str]) -> bytes:
    metadata = {**(table.schema.metadata or {}),
                **{k.encode(): v.encode() for k, v in footer.items()}}
    out = io.BytesIO()
    compression = {f.name: "none" if pa.types.is_binary(f.type) else "zstd"
                   for f in table.schema}
    pq.write_table(table.replace_schema_metadata(metadata), out, compression=compression)
    return out.getvalue()


def _plan_designs(settings: Settings, target: Target, result: Plan) -> None:
    """Designs redrawn from an erased item (and designs made from those) go whole; other
    records lose the erased items from their nearest-item lists."""
    records = {}
    for path in catalog.DESIGNS.files(settings):
        records[path.rsplit("/", 1)[-1].removesuffix(".json")] = (
            path, json.loads(storage.read_bytes(path)))
    derived: set[str] = set()
    changed = True
    while changed:   # parents before children is not guaranteed: iterate to a fixed point
        changed = False
        for design, (_, record) in records.items():
            if design in derived:
                continue
            parents = record.get("parents", [])
            if any(p.removeprefix(ITEM_PARENT) in target.item_ids for p in parents
                   if p.startswith(ITEM_PARENT)) or any(p in derived for p in parents):
                derived.add(design)
                changed = True
    for design, (path, record) in sorted(records.items()):
        if design in derived:
            result.removes += [path, catalog.DESIGN_IMAGES.path(settings, key=design)]
            continue
        nearest = record.get("checks", {}).get("nearest", [])
        kept = [n for n in nearest if n.get("item_id") not in target.item_ids]
        if len(kept) != len(nearest):
            record["checks"]["nearest"] = kept
            _stage(settings, result, path, json.dumps(record, indent=1).encode())
            result.files["designs"] = result.files.get("designs", 0) + 1
    result.designs = sorted(derived)
    if derived:
        result.files["designs"] = result.files.get("designs", 0) + len(derived)
        board = catalog.DESIGN_BOARD.read_json(settings) or {}
        saved = board.get("designs", [])
        if any(d in derived for d in saved):
            _stage(settings, result, catalog.DESIGN_BOARD.path(settings), json.dumps(
                {"designs": [d for d in saved if d not in derived]}, indent=1).encode())


def _reports_naming(settings: Settings, item_ids: frozenset[str]) -> list[str]:
    """Report weeks whose report names an erased item (they are rebuilt without it)."""
    weeks = []
    for week in catalog.REPORTS.weeks(settings):
        try:
            text = storage.read_bytes(storage.join(catalog.REPORTS.path(settings, week),
                                                   "report.json")).decode()
        except FileNotFoundError:
            continue
        if any(f'"{i}"' in text for i in item_ids):
            weeks.append(week)
    return weeks


# -- phase 2: apply ------------------------------------------------------------------------

def pending(settings: Settings) -> list[str]:
    """Erasures whose journal is still in the store, oldest first."""
    root = settings.path(JOURNAL)
    found = {p.split("/")[-2] for p in storage.list_files(root, "*/plan.json")}
    found |= {p.split("/")[-2] for p in storage.list_files(root, "*/staged/*")}
    return sorted(found)


def load_plan(settings: Settings, erasure: str) -> Plan | None:
    """A committed erasure's plan; None (and the journal discarded) when it never committed."""
    if not storage.exists(journal(settings, erasure, "committed")):
        discard(settings, erasure)
        return None
    raw = json.loads(storage.read_bytes(journal(settings, erasure, "plan.json")))
    raw["writes"] = [tuple(w) for w in raw["writes"]]
    return Plan(**raw)


def apply(settings: Settings, done: Plan) -> None:
    """Replace every target by its staged file and remove what goes; safe to repeat."""
    for staged, dest in done.writes:
        if storage.exists(staged):   # else applied before a crash
            storage.move_atomic(staged, dest)
    for path in done.removes:
        if storage.exists(path):
            storage.remove(path)
    storage.write_bytes_atomic(b"", journal(settings, done.erasure, "applied"))


def recover(settings: Settings) -> list[Plan]:
    """Apply the store phase of any committed erasure a crash interrupted; discard the
    uncommitted ones. Returns the committed plans (their follow-ups may still be due).
    Call under the store lock."""
    plans = []
    for erasure in pending(settings):
        found = load_plan(settings, erasure)
        if found is not None:
            if not storage.exists(journal(settings, erasure, "applied")):
                apply(settings, found)
            plans.append(found)
    return plans


def discard(settings: Settings, erasure: str) -> None:
    storage.remove(settings.path(JOURNAL, erasure))
