"""All reads and writes of StyleCast datasets go through here.

A dataset is a folder of Parquet files under the home, hive-partitioned
(``items/week=2025-W14/part-<key>.parquet``). Writers never expose a half-written file:
on a local disk a file is written beside its target and renamed over it (atomic on POSIX);
on an object store (s3://, memory://) a single-object put is already all-or-nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem
from pyarrow.fs import FSSpecHandler, PyFileSystem

from pipeline.core.layout import PARTITION_KEY, partition_week, week_partition
from pipeline.core.settings import is_local, local_path

SCHEMA_VERSION_KEY = b"stylecast.schema_version"
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"


def filesystem(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, path = fsspec.core.url_to_fs(uri)
    return fs, path


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    return fs.exists(path)


def check_store(uri: str) -> None:
    """Fail at the start, in one line, when an object-store home cannot be used.

    A missing bucket or refused credentials will not fix themselves (``UnusableInputError``);
    a store that does not answer might (``ServiceUnavailable``, which Airflow retries).
    """
    from pipeline.core.errors import ServiceUnavailable, UnusableInputError

    if is_local(uri):
        return
    fs, path = filesystem(uri)
    bucket = path.split("/", 1)[0]
    try:
        fs.ls(bucket, refresh=True)
    except FileNotFoundError:
        raise UnusableInputError(f"bucket {bucket!r} of {uri} does not exist: create it "
                                 "(docker compose runs create-bucket) or fix the URI") from None
    except PermissionError as err:
        raise UnusableInputError(f"the object store refused the credentials for {uri} "
                                 f"({str(err).splitlines()[0][:200]}): check "
                                 "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY") from None
    except OSError as err:
        raise ServiceUnavailable(f"the object store behind {uri} does not answer "
                                 f"({type(err).__name__}: {str(err)[:200]})") from None


def read_bytes(uri: str) -> bytes:
    fs, path = filesystem(uri)
    return fs.cat_file(path)


def write_bytes_atomic(data: bytes, dest: str) -> None:
    with staged_file(dest) as tmp:
        Path(tmp).write_bytes(data)


@contextlib.contextmanager
def staging_dir(home: str, name: str) -> Iterator[Path]:
    """A private scratch folder, on the same disk as a local home so renames stay atomic.

    The name is deterministic, so a re-run after a crash starts by clearing what the crashed
    run left behind; the folder lives under ``_staging`` which no dataset reader looks at.
    """
    root = Path(local_path(home)) / "_staging" if is_local(home) else Path(tempfile.gettempdir())
    folder = root / f"stylecast-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def commit_file(tmp: Path, dest: str) -> None:
    """Publish a finished local file at ``dest`` in one step."""
    if is_local(dest):
        target = Path(local_path(dest))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
    else:
        fs, path = filesystem(dest)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(tmp), path)
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_file(dest: str) -> Iterator[Path]:
    """Yield a temporary local path; if the block succeeds it is committed to ``dest``."""
    if is_local(dest):
        target = Path(local_path(dest))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    else:
        tmp = Path(tempfile.gettempdir()) / f"stylecast-{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        commit_file(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def publish_dir(folder: Path, dest: str) -> None:
    """Replace the folder at ``dest`` with ``folder`` as a whole.

    Locally: the old folder is renamed aside and the new one renamed in (two renames, so a
    reader sees the old or the new folder, never a mix). On an object store each file is one
    put; the old files are removed first and ``index.html`` is written last.
    """
    if is_local(dest):
        target = Path(local_path(dest))
        target.parent.mkdir(parents=True, exist_ok=True)
        aside = target.parent / f".{target.name}.{uuid.uuid4().hex}.old"
        if target.exists():
            os.replace(target, aside)
        os.replace(folder, target)
        shutil.rmtree(aside, ignore_errors=True)
        return
    remove(dest)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in sorted(files, key=lambda p: p.name == "index.html"):
        commit_file(path, join(dest, path.relative_to(folder).as_posix()))


def with_schema_version(schema: pa.Schema, version: int) -> pa.Schema:
    return schema.with_metadata({**(schema.metadata or {}), SCHEMA_VERSION_KEY: str(version)})


def write_table(table: pa.Table, dest: str) -> None:
    """Write one Parquet file atomically."""
    with staged_file(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_table_with_metadata(table: pa.Table, dest: str, metadata: dict[str, str]) -> None:
    """Write one Parquet file atomically, with key-value metadata a reader can check from the
    footer alone (see :func:`file_metadata`)."""
    merged = {**(table.schema.metadata or {}), **{k.encode(): v.encode()
                                                  for k, v in metadata.items()}}
    write_table(table.replace_schema_metadata(merged), dest)


def file_metadata(uri: str) -> dict[str, str] | None:
    """A Parquet file's key-value metadata (``num_rows`` included), read from its footer
    only; None when there is no such file."""
    fs, path = filesystem(uri)
    try:
        with fs.open(path, "rb") as handle:
            footer = pq.ParquetFile(handle).metadata
    except FileNotFoundError:
        return None
    pairs = {k.decode(): v.decode() for k, v in (footer.metadata or {}).items()
             if not k.startswith(b"ARROW")}
    return {**pairs, "num_rows": str(footer.num_rows)}


def week_row_counts(root: str) -> dict[str, int]:
    """Rows per week of a weekly dataset, from the files' footers (no data is read)."""
    counts: dict[str, int] = {}
    for path in list_files(root, f"{week_partition('*')}/*.parquet"):
        week = partition_week(path.removeprefix(root))
        counts[week] = counts.get(week, 0) + int(file_metadata(path)["num_rows"])
    return counts


def folder_fingerprint(root: str) -> str:
    """A digest of the visible files directly under ``root`` (name, size, modification stamp):
    it changes whenever a file there is added, removed or replaced, and costs one listing."""
    import hashlib

    fs, path = filesystem(root)
    try:
        entries = fs.ls(path, detail=True)
    except FileNotFoundError:
        entries = []
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e["name"]):
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry.get("type") != "file" or name.startswith(("_", ".")):
            continue
        stamp = next((entry[k] for k in ("mtime", "LastModified", "ETag", "created")
                      if entry.get(k) is not None), "")
        digest.update(f"{name}\0{entry.get('size')}\0{stamp}\n".encode())
    return digest.hexdigest()[:16]


def move_atomic(source: str, dest: str) -> None:
    """Replace ``dest`` by ``source`` in one step (a rename on a local disk: both live under
    the same home; a single put, then the delete, on an object store)."""
    if is_local(source) and is_local(dest):
        target = Path(local_path(dest))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(local_path(source), target)
        return
    write_bytes_atomic(read_bytes(source), dest)
    remove(source)


def remove(uri: str) -> None:
    fs, path = filesystem(uri)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def list_files(root: str, pattern: str = "**/*.parquet") -> list[str]:
    """Visible dataset files under ``root`` (staging and hidden files excluded), sorted."""
    fs, path = filesystem(root)
    if not fs.exists(path):
        return []
    found = fs.glob(f"{path.rstrip('/')}/{pattern}")
    visible = [
        f for f in found
        if not any(part.startswith(("_", ".")) for part in f[len(path):].split("/"))
    ]
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    prefix = "" if isinstance(fs, LocalFileSystem) else f"{protocol}://"
    return sorted(prefix + f if not f.startswith(prefix) else f for f in visible)


def file_stamps(root: str, patterns: tuple[str, ...]) -> dict[str, str]:
    """The visible files directly under ``root`` matching any of ``patterns``, each with a
    stamp (size and modification time, or ETag) that changes when the file does; from the
    listing alone, no file is opened."""
    fs, path = filesystem(root)
    if not fs.exists(path):
        return {}
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    prefix = "" if isinstance(fs, LocalFileSystem) else f"{protocol}://"
    stamps = {}
    for pattern in patterns:
        for name, info in fs.glob(f"{path.rstrip('/')}/{pattern}", detail=True).items():
            if name.rsplit("/", 1)[-1].startswith(("_", ".")) or info.get("type") != "file":
                continue
            changed = (info.get("ETag") or info.get("etag") or info.get("mtime")
                       or info.get("LastModified") or info.get("created"))
            stamps[prefix + name if not name.startswith(prefix) else name] = \
                f"{info.get('size')}:{changed}"
    return dict(sorted(stamps.items()))


# Week-partitioned datasets live under ``week=<ISO week>/`` folders. Filtering on this
# partition key skips whole files; a filter on a column inside the files opens every one.
def in_weeks(weeks: list[str]) -> ds.Expression:
    return ds.field(PARTITION_KEY).isin(weeks)


def up_to_week(week: str) -> ds.Expression:
    return ds.field(PARTITION_KEY) <= week


def partition_weeks(root: str, name: str = "*.parquet") -> list[str]:
    """The ISO weeks that have a visible file called ``name`` (a glob) under ``root``, sorted."""
    return sorted({partition_week(f.removeprefix(root)) for f in
                   list_files(root, f"{week_partition('*')}/{name}")} - {None})


def required_weeks(root: str, what: str, remedy: str) -> list[str]:
    """The weeks of a weekly dataset (a folder listing, not a read), or a one-line error
    naming the command that makes them."""
    from pipeline.core.errors import UnusableInputError

    weeks = partition_weeks(root)
    if not weeks:
        raise UnusableInputError(f"no {what} under {root}: run {remedy} first")
    return weeks


def _arrow_filesystem(uri: str) -> tuple[object, str]:
    fs, path = filesystem(uri)
    if isinstance(fs, LocalFileSystem):
        return None, path
    return PyFileSystem(FSSpecHandler(fs)), path


def dataset(root: str, schema: pa.Schema | None = None) -> ds.Dataset | None:
    """A hive-partitioned Parquet dataset under ``root``, or None when nothing is there."""
    if not list_files(root):
        return None
    arrow_fs, path = _arrow_filesystem(root)
    return ds.dataset(
        path, format="parquet", partitioning="hive", filesystem=arrow_fs, schema=schema,
        exclude_invalid_files=False,
    )


def read_table(root: str, columns: list[str] | None = None, filter=None,
               schema: pa.Schema | None = None) -> pa.Table | None:
    data = dataset(root, schema)
    if data is None:
        return None
    return data.to_table(columns=columns, filter=filter)


def read_file(uri: str, columns: list[str] | None = None) -> pa.Table:
    """One Parquet file (not a dataset folder), only the given columns."""
    fs, path = filesystem(uri)
    with fs.open(path, "rb") as handle:
        return pq.read_table(handle, columns=columns)


def read_input(uri: str, what: str) -> bytes:
    """An input file's bytes, or a one-line ``UnusableInputError`` naming ``what`` it is."""
    from pipeline.core.errors import UnusableInputError

    try:
        raw = read_bytes(uri)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        raise UnusableInputError(f"{what} {uri}: cannot read ({type(err).__name__})") from None
    if not raw.strip():
        raise UnusableInputError(f"{what} {uri}: file is empty")
    return raw


def parse_frame(raw: bytes, as_strings: bool = False) -> pd.DataFrame:
    """A CSV or Parquet file's bytes as a DataFrame (Parquet recognised by its magic bytes).

    ``as_strings`` keeps every cell as text (blank for missing) so nothing is guessed.
    Either may be gzipped (``series.csv.gz``, as large exports often are), recognised by its
    magic bytes too; a CSV whose header has semicolons and no comma is read as semicolon-
    separated with decimal commas. Raises ``UnicodeDecodeError`` for neither-nor, and the
    parsers' own errors (or ``gzip``'s) otherwise.
    """
    if raw[:2] == GZIP_MAGIC:
        raw = gzip.decompress(raw)
    if raw[:4] == PARQUET_MAGIC:
        frame = pd.read_parquet(io.BytesIO(raw))
        return frame.astype("string").fillna("").astype(object) if as_strings else frame
    text = raw.decode("utf-8-sig")
    header = text.split("\n", 1)[0]
    # Spreadsheets in many European locales export semicolons with decimal commas (1,5).
    european = ";" in header and "," not in header
    sep = ";" if european else ","
    if as_strings:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep)
    return pd.read_csv(io.StringIO(text), sep=sep, decimal="," if european else ".")


def frame_bytes(frame: pd.DataFrame, csv: bool) -> bytes:
    """A DataFrame as the bytes of a CSV or a Parquet file."""
    if csv:
        return frame.to_csv(index=False).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def write_frame(frame: pd.DataFrame, dest: str) -> None:
    """Write CSV (``.csv``) or Parquet (anything else) atomically."""
    write_bytes_atomic(frame_bytes(frame, csv=dest.endswith(".csv")), dest)
