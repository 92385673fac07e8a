"""The data catalog: every dataset of the home, declared once.

Each :class:`Dataset` names its folder under the home, how it is partitioned, the file a
partition holds, its schema (or the columns its contract requires), the stage that writes
it and the stages that read it. Stages find each other's data only here, never by importing
another stage's runner; every read and write goes through a dataset's methods, which work
on a local home and an object-store home alike and never expose a half-written file
(``core.storage``).

Partitionings:

- ``week``: ``<folder>/week=2025-W14/<file>``, hive style, so pyarrow, DuckDB and Spark
  read a folder as one table with a ``week`` column;
- ``week-folder``: ``<folder>/2025-W14/`` (the reports: a page a person opens, whose
  address predates the catalog and is kept so existing links and homes keep working);
- ``key``: ``<folder>/<file>`` with ``{key}`` a content key (a manifest's, an input's);
- ``single``: one file, ``<folder>/<file>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core import schemas, storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.layout import PARTITION_KEY, partition_week, week_partition
from pipeline.core.rights import RIGHTS_COLUMNS, Policy, allowed_mask
from pipeline.core.settings import Settings

Partitioning = Literal["week", "week-folder", "key", "single"]


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: str                      # under the home
    file: str                        # inside a partition; ``{key}`` is filled by ``key``
    partitioning: Partitioning
    writer: str                      # the stage (or package) that writes it
    readers: tuple[str, ...]         # the stages that read it
    description: str
    schema: pa.Schema | None = None  # Arrow datasets: what every file holds
    columns: tuple[str, ...] = ()    # frame datasets: the columns the contract requires
    # Columns that name items (strings or lists of them) and hold items' content hashes: where
    # an erasure looks (``core.erasure``); a row naming an erased item goes, a list loses it.
    item_refs: tuple[str, ...] = ()
    hash_refs: tuple[str, ...] = ()

    # -- where ------------------------------------------------------------------------------

    def root(self, settings: Settings) -> str:
        return settings.path(self.folder)

    def path(self, settings: Settings, week: str | None = None, key: str | None = None) -> str:
        """The file of one partition (for ``week-folder``: the week's folder)."""
        file = self.file.format(key=self._need(key, "key")) if "{key}" in self.file else self.file
        if self.partitioning == "week":
            return settings.path(self.folder, week_partition(self._need(week, "week")), file)
        if self.partitioning == "week-folder":
            return settings.path(self.folder, self._need(week, "week"))
        return settings.path(self.folder, file)

    def _need(self, value: str | None, what: str) -> str:
        if not value:
            raise ValueError(f"dataset {self.name!r} is partitioned by {what}: give {what}=")
        return value

    def weeks(self, settings: Settings) -> list[str]:
        """The weeks that hold this dataset's file (a folder listing, nothing is read)."""
        root = self.root(settings)
        if self.partitioning == "week-folder":   # a folder being swapped in is hidden
            return sorted(f.rsplit("/", 2)[-2] for f in storage.list_files(root, f"*/{self.file}"))
        if self.partitioning != "week":
            raise ValueError(f"dataset {self.name!r} is not partitioned by week")
        return storage.partition_weeks(root, self.file.format(key="*"))

    def required_weeks(self, settings: Settings, remedy: str) -> list[str]:
        """:meth:`weeks`, or a one-line error naming the command that makes them."""
        weeks = self.weeks(settings)
        if not weeks:
            raise UnusableInputError(f"no {self.name} under {self.root(settings)}: run "
                                     f"{remedy} first")
        return weeks

    def exists(self, settings: Settings, week: str | None = None, key: str | None = None
               ) -> bool:
        return storage.exists(self.path(settings, week, key))

    # -- read -------------------------------------------------------------------------------

    def read(self, settings: Settings, week: str | None = None, key: str | None = None,
             columns: list[str] | None = None) -> pa.Table | None:
        """One partition's Parquet file, or None when there is none."""
        try:
            return storage.read_file(self.path(settings, week, key), columns=columns)
        except FileNotFoundError:
            return None

    def read_json(self, settings: Settings, week: str | None = None, key: str | None = None
                  ) -> dict | None:
        """One partition's JSON record, or None when there is none."""
        try:
            return json.loads(storage.read_bytes(self.path(settings, week, key)))
        except FileNotFoundError:
            return None

    def read_frame(self, settings: Settings, week: str | None = None, key: str | None = None
                   ) -> pd.DataFrame | None:
        """One partition's file (CSV or Parquet) as a DataFrame, or None when there is none."""
        try:
            return storage.parse_frame(storage.read_bytes(self.path(settings, week, key)))
        except FileNotFoundError:
            return None

    def scan(self, settings: Settings, weeks: Iterable[str] | None = None,
             columns: list[str] | None = None, filter=None) -> pa.Table | None:
        """Every file of the dataset as one table, with the partition key as a column (only
        ``weeks``' partitions when given), or None when it has none."""
        if weeks is not None:
            chosen = storage.in_weeks(list(weeks))
            filter = chosen if filter is None else chosen & filter
        return storage.read_table(self.root(settings), columns=columns, filter=filter,
                                  schema=self._scan_schema())

    def scan_week(self, settings: Settings, week: str, columns: list[str] | None = None,
                  filter=None) -> pa.Table | None:
        """The files of one week's partition as one table, read from that folder alone: on
        an object store, a filter on the partition key would still list every week."""
        return storage.read_table(storage.join(self.root(settings), week_partition(week)),
                                  columns=columns, filter=filter,
                                  schema=self.schema if self.partitioning == "week" else None)

    def _scan_schema(self) -> pa.Schema | None:
        """The schema files are read as, so that files written before a column was added read
        it as null (None: each file's own)."""
        if self.schema is None or self.partitioning != "week":
            return None
        return self.schema.append(pa.field(PARTITION_KEY, pa.string()))

    def footer(self, settings: Settings, week: str | None = None, key: str | None = None
               ) -> dict[str, str] | None:
        """A Parquet partition's key-value metadata from its footer alone (None: no file)."""
        return storage.file_metadata(self.path(settings, week, key))

    def row_counts(self, settings: Settings) -> dict[str, int]:
        """Rows per week, from the files' footers (no data is read)."""
        return storage.week_row_counts(self.root(settings))

    def fingerprint(self, settings: Settings, week: str) -> str:
        """Changes whenever a file of the week's partition is added, removed or replaced."""
        return storage.folder_fingerprint(storage.join(self.root(settings), week_partition(week)))

    # -- write ------------------------------------------------------------------------------

    def write(self, settings: Settings, data: pa.Table | pd.DataFrame, week: str | None = None,
              key: str | None = None, metadata: dict[str, str] | None = None) -> str:
        """Replace one partition's file atomically; returns where it went.

        An Arrow table is cast to the dataset's schema (a writer cannot drift from it); a
        DataFrame must hold the contract's columns and is written as CSV or Parquet by the
        file's suffix. ``metadata`` goes into a Parquet footer."""
        dest = self.path(settings, week, key)
        if isinstance(data, pd.DataFrame) and self.schema is None:
            missing = [c for c in self.columns if c not in data.columns]
            if missing:
                raise ValueError(f"{self.name}: missing column(s) {', '.join(missing)}")
            if metadata:
                raise ValueError(f"{self.name}: footer metadata needs a Parquet schema")
            storage.write_frame(data, dest)
            return dest
        if isinstance(data, pd.DataFrame):
            data = pa.Table.from_pandas(data, schema=self.schema, preserve_index=False)
        elif self.schema is not None:
            data = data.select(self.schema.names).cast(self.schema)
        if metadata:
            storage.write_table_with_metadata(data, dest, metadata)
        else:
            storage.write_table(data, dest)
        return dest

    def write_bytes(self, settings: Settings, data: bytes, week: str | None = None,
                    key: str | None = None) -> str:
        dest = self.path(settings, week, key)
        storage.write_bytes_atomic(data, dest)
        return dest

    def copy(self, settings: Settings, week: str, to_week: str) -> str:
        """Replace ``to_week``'s file with a byte-for-byte copy of ``week``'s."""
        dest = self.path(settings, to_week)
        storage.write_bytes_atomic(storage.read_bytes(self.path(settings, week)), dest)
        return dest

    def publish(self, settings: Settings, folder: Path, week: str) -> str:
        """Swap a finished folder in as the week's partition, whole (``week-folder``)."""
        dest = self.path(settings, week)
        storage.publish_dir(folder, dest)
        return dest

    def remove(self, settings: Settings, week: str | None = None, key: str | None = None
               ) -> None:
        storage.remove(self.path(settings, week, key))

    def files(self, settings: Settings, key: str = "*") -> list[str]:
        """The visible files of every partition whose key matches ``key`` (a glob)."""
        file = self.file.format(key=key)
        pattern = f"{week_partition('*')}/{file}" if self.partitioning == "week" else file
        return storage.list_files(self.root(settings), pattern)

    def file_week(self, settings: Settings, path: str) -> str | None:
        """The week of a file of this dataset (None outside a week partition)."""
        return partition_week(path.removeprefix(self.root(settings)))


# -- the datasets, in the order a week flows ---------------------------------------------------

MANIFEST_ROOTS = Dataset(
    "manifest-roots", "manifest-roots", "{key}.json", "key", writer="sources",
    readers=("ingest",),
    description="the images root a `stylecast sources` command recorded for the manifest it "
                "wrote, keyed by the manifest's content (never read from the manifest itself)")
ITEMS = Dataset(
    "items", "items", "part-{key}.parquet", "week", writer="ingest",
    readers=("embed", "styles", "series", "report", "gan"), schema=schemas.ITEMS,
    item_refs=("item_id",), hash_refs=("sha256",),
    description="one row per stored observation; one file per week and manifest")
QUARANTINE = Dataset(
    "quarantine", "quarantine", "{key}.parquet", "key", writer="ingest, embed",
    readers=("report",), schema=schemas.QUARANTINE, item_refs=("item_id",),
    description="rejected rows with a reason and the whole original row; one file per "
                "manifest (and `embed-<week>` for images that stopped decoding)")
DUPLICATES = Dataset(
    "duplicates", "duplicates", "{key}.parquet", "key", writer="ingest", readers=("report",),
    schema=schemas.DUPLICATES, item_refs=("item_id", "duplicate_of"), hash_refs=("sha256",),
    description="repeats of content already stored, per manifest")
INGEST_LOG = Dataset(
    "ingest-log", "ingest-log", "{key}.json", "key", writer="ingest", readers=("jobs",),
    description="the summary of the last ingest of each manifest")
INGEST_REFUSALS = Dataset(
    "ingest-refusals", "ingest-refusals", "{key}.json", "key", writer="jobs",
    readers=("jobs",),
    description="why a dropped manifest could not be ingested at all, so that the ingest DAG "
                "reports it once instead of at every poll (until the file changes)")
DROP_LEDGER = Dataset(
    "drop-ledger", "drop-ledger", "{key}.json", "key", writer="jobs", readers=("jobs",),
    description="what the ingest DAG has seen in a drop folder (key: the folder's hash): each "
                "file's size and modification stamp, content key and state, so a poll reads "
                "only new or changed files")
EMBEDDINGS = Dataset(
    "embeddings", "embeddings", "part-0.parquet", "week", writer="embed",
    readers=("styles", "concepts"), schema=schemas.EMBEDDINGS, item_refs=("item_id",),
    hash_refs=("sha256",),
    description="one vector per item with an image, from one encoder version per week")
STYLES = Dataset(
    "styles", "styles", "styles.parquet", "week", writer="styles",
    readers=("series", "concepts", "report"), schema=schemas.STYLES,
    item_refs=("representatives",),
    description="the styles active (and retired) in a week: centroid, size, description, "
                "dominant attributes, representatives")
MEMBERSHIPS = Dataset(
    "memberships", "styles", "members.parquet", "week", writer="styles", readers=("styles",),
    schema=schemas.MEMBERS, item_refs=("item_id",),
    description="the style of every item in the styles run's window")
STYLE_COUNTS = Dataset(
    "style-counts", "series-counts/styles", "counts.parquet", "week", writer="styles",
    readers=("series",), schema=schemas.STYLE_COUNTS,
    description="per styles run: items per data week and style, for the weeks of its window "
                "(part=window) and the older ones no earlier run held (part=orphan)")
ATTRIBUTE_COUNTS = Dataset(
    "attribute-counts", "series-counts/attributes", "counts.parquet", "week", writer="series",
    readers=("series",), schema=schemas.ATTRIBUTE_COUNTS,
    description="items per attribute value in one data week, refreshed when its items change")
SERIES = Dataset(
    "series", "series", "series.parquet", "week", writer="series",
    readers=("jobs", "report"), columns=("unique_id", "ds", "y", "kind"),
    description="the weekly job's long-format shares observed up to the week, attribute "
                "and style kinds in one file")
ATTRIBUTE_SHARES = Dataset(
    "attribute-shares", "series", "attribute_shares.parquet", "single", writer="series",
    readers=(), columns=("unique_id", "ds", "y", "kind"),
    description="`stylecast series`: attribute shares of every week of the store")
STYLE_SHARES = Dataset(
    "style-shares", "series", "style_shares.parquet", "single", writer="series", readers=(),
    columns=("unique_id", "ds", "y", "kind"),
    description="`stylecast series`: style shares of every week of the store")
FORECASTS = Dataset(
    "forecasts", "forecasts", "forecasts.parquet", "week", writer="forecasting",
    readers=("report",), columns=("unique_id", "ds", "model", "yhat"),
    description="the weekly forecasts, with intervals, from the chosen model")
TRENDS = Dataset(
    "trends", "forecasts", "trends.csv", "week", writer="forecasting",
    readers=("concepts", "report", "forecasting"), columns=("unique_id", "label"),
    description="the week's trend calls, kept: per series rising / stable / declining, its "
                "chance (or the reason for none), growth and the horizon it covers")
CALL_GRADES = Dataset(
    "call-grades", "call-grades", "grades.parquet", "week", writer="forecasting",
    readers=("report",), columns=("week", "unique_id", "label", "outcome", "hit"),
    description="every earlier week's calls whose horizon this week's series has passed, "
                "graded against what happened (the track record)")
BACKTEST = Dataset(
    "backtest", "forecasts", "backtest.csv", "week", writer="forecasting", readers=("report",),
    description="the weekly forecast's backtest metrics per model (absent without history)")
FORECAST_PROBLEMS = Dataset(
    "forecast-problems", "forecasts", "problems.csv", "week", writer="forecasting",
    readers=("report",), description="series the weekly forecast could not treat, and why")
BACKTESTS = Dataset(
    "backtests", "backtests", "{key}/metrics.csv", "key", writer="forecasting", readers=(),
    description="`stylecast backtest`: the metrics table, keyed by the input's content")
CONCEPTS = Dataset(
    "concepts", "concepts", "concepts.parquet", "week", writer="concepts", readers=("report",),
    columns=("concept_id", "target", "condition", "image_png", "flagged", "style_id"),
    item_refs=("nearest_item_ids",),
    description="designs drawn for the week's rising conditions, checked and placed")
DESIGNS = Dataset(
    "designs", "designs", "{key}.json", "key", writer="design", readers=("design", "report"),
    description="one record per design (key: its id): model version, condition, noise and "
                "condition embedding, the operation and its parents, the checks")
DESIGN_IMAGES = Dataset(
    "design-images", "designs", "{key}.png", "key", writer="design", readers=("design",),
    description="each design's drawing, as its record redraws it")
DESIGN_BOARD = Dataset(
    "design-board", "design-board", "board.json", "single", writer="design",
    readers=("design",), description="the designs a designer saved, in the order saved")
DESIGN_BANK = Dataset(
    "design-bank", "design-bank", "{key}.parquet", "key", writer="design",
    readers=("design",), schema=schemas.DESIGN_BANK, item_refs=("item_id",),
    description="the items a design is compared with, as points of the metric classifier's "
                "realism space (key: classifier version and the items' files)")
DESIGN_REDRAWINGS = Dataset(
    "design-redrawings", "design-redrawings", "redrawings.parquet", "single",
    writer="design", readers=("design", "studio"), schema=schemas.DESIGN_REDRAWINGS,
    item_refs=("item_id",),
    description="which design redraws which item, per model version and inversion settings "
                "(the studio answers an item redrawn before, or prepared, at once)")
RIGHTS_POLICY = Dataset(
    "rights-policy", "rights", "policy.json", "single", writer="cli", readers=("all",),
    description="which uses (analyse, display, train) each licence and source allows, and "
                "what items with no rights stated get (`stylecast rights`)")
TOMBSTONES = Dataset(
    "tombstones", "rights", "tombstones.parquet", "single", writer="jobs",
    readers=("ingest",), schema=schemas.TOMBSTONES,
    description="salted hashes of erased item ids and contents, so that no ingest brings "
                "them back (the salt is in the file's footer; the ids are not kept)")
AUDIT_LOG = Dataset(
    "audit-log", "rights", "audit.jsonl", "single", writer="jobs", readers=("cli",),
    description="one line per erasure: who, when, how many items, which datasets and models "
                "it touched; never what was erased")
LINEAGE = Dataset(
    "lineage", "lineage", "{key}.parquet", "key", writer="gan", readers=("jobs",),
    schema=schemas.LINEAGE, item_refs=("item_id",), hash_refs=("sha256",),
    description="the items each training run learned from (key: its MLflow run id; the "
                "footer names the run and the registered model)")
REPORTS = Dataset(
    "reports", "reports", "index.html", "week-folder", writer="report", readers=("cli",),
    description="the weekly report: index.html (opens from disk), report.json, summary.md, "
                "img/")

DATASETS: tuple[Dataset, ...] = (
    MANIFEST_ROOTS, ITEMS, QUARANTINE, DUPLICATES, INGEST_LOG, INGEST_REFUSALS, DROP_LEDGER,
    EMBEDDINGS, STYLES, MEMBERSHIPS,
    STYLE_COUNTS, ATTRIBUTE_COUNTS, SERIES, ATTRIBUTE_SHARES, STYLE_SHARES, FORECASTS, TRENDS,
    CALL_GRADES, BACKTEST, FORECAST_PROBLEMS, BACKTESTS, CONCEPTS, DESIGNS, DESIGN_IMAGES,
    DESIGN_BOARD, DESIGN_BANK, DESIGN_REDRAWINGS, RIGHTS_POLICY, TOMBSTONES, AUDIT_LOG,
    LINEAGE, REPORTS)
BY_NAME = {d.name: d for d in DATASETS}


def lock_path(settings: Settings, name: str) -> str:
    """Where a store-wide lock lives (``core.locks``); no dataset reader looks there."""
    return settings.path("_locks", name)


def embed_quarantine_key(week: str) -> str:
    """The quarantine file of items whose stored image no longer decodes at embedding."""
    return f"embed-{week}"


# -- readers with a dataset's own rules ---------------------------------------------------------

def read_embeddings(settings: Settings, weeks: Iterable[str] | None = None) -> pa.Table:
    """Embeddings of the given weeks (default all) from ONE encoder version, or a clear refusal.

    Vectors of two encoder versions live in different spaces; comparing them would be
    silently wrong, so mixing is refused with the command that fixes it.
    """
    chosen = list(weeks) if weeks is not None else None
    table = EMBEDDINGS.scan(settings, chosen,
                            columns=["item_id", "iso_week", "model_version", "vector"])
    if table is None or table.num_rows == 0:
        raise UnusableInputError(f"no embeddings under {EMBEDDINGS.root(settings)}"
                                 f"{' for those weeks' if chosen else ''}: run stylecast embed")
    versions = sorted(pc.unique(table["model_version"]).to_pylist())
    if len(versions) > 1:
        raise UnusableInputError(
            f"embeddings from encoder versions {', '.join(versions)} are mixed; vectors of "
            "different versions are not comparable: run `stylecast embed --all` to re-embed "
            "with the current encoder")
    return table


def read_styles(settings: Settings, week: str | None = None, active_only: bool = True
                ) -> pa.Table:
    """The styles of ``week``, or of the latest week at or before it; a clear error if none."""
    known = [w for w in STYLES.weeks(settings) if week is None or w <= week]
    if not known:
        raise UnusableInputError(f"no styles under {STYLES.root(settings)}"
                                 f"{' up to ' + week if week else ''}: run stylecast styles")
    table = STYLES.read(settings, known[-1])
    return table.filter(pc.equal(table["status"], "active")) if active_only else table


def read_policy(settings: Settings) -> Policy:
    """The home's rights policy (the default until one is set); a one-line error when its
    file does not parse."""
    try:
        raw = storage.read_bytes(RIGHTS_POLICY.path(settings))
    except FileNotFoundError:
        return Policy()
    return Policy.from_json(raw, RIGHTS_POLICY.path(settings))


def write_policy(settings: Settings, policy: Policy) -> str:
    return RIGHTS_POLICY.write_bytes(settings, policy.to_json().encode())


def scan_items(settings: Settings, use: str, columns: list[str],
               weeks: Iterable[str] | None = None, filter=None,
               policy: Policy | None = None) -> pa.Table | None:
    """Items that the rights policy lets be put to ``use`` (analyse, display, train), with
    ``columns`` plus the rights columns; None when the store has no items."""
    table = ITEMS.scan(settings, weeks, columns=_with_rights(columns), filter=filter)
    return _allowed(settings, table, use, policy)


def scan_items_week(settings: Settings, week: str, use: str, columns: list[str], filter=None,
                    policy: Policy | None = None) -> pa.Table | None:
    """:func:`scan_items` for one week, read from that week's folder alone."""
    table = ITEMS.scan_week(settings, week, columns=_with_rights(columns), filter=filter)
    return _allowed(settings, table, use, policy)


def _with_rights(columns: list[str]) -> list[str]:
    return list(dict.fromkeys([*columns, *RIGHTS_COLUMNS]))


def _allowed(settings: Settings, table: pa.Table | None, use: str, policy: Policy | None
             ) -> pa.Table | None:
    if table is None:
        return None
    return table.filter(allowed_mask(table, policy or read_policy(settings), use))


def items_fingerprint(settings: Settings, week: str, policy: Policy | None = None) -> str:
    """Changes when a week's item files change or the rights policy does (what a step
    derived from the week's items must be recomputed on)."""
    policy = policy or read_policy(settings)
    return f"{ITEMS.fingerprint(settings, week)}/{policy.digest}"
