"""Stream item rows into one Parquet file per ISO week, published only when all are done."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core import catalog, storage
from pipeline.core.schemas import ITEMS
from pipeline.core.settings import Settings

ROW_GROUP_ROWS = 512
MAX_BUFFERED_ROWS = 4096  # across all weeks: bounds memory when a drop spans many weeks
# PNG bytes are deflated already: zstd over them saved 1% of the file and doubled the write
# time, all of it on the one process that feeds the decoders.
COMPRESSION = {name: "none" if name == "image_png" else "zstd" for name in ITEMS.names}


class WeeklyItemWriter:
    """Buffers rows per week, flushes row groups to staging, commits on :meth:`commit`."""

    def __init__(self, settings: Settings, manifest_key: str, staging: Path) -> None:
        self.settings = settings
        self.manifest_key = manifest_key
        self.staging = staging
        self._buffers: dict[str, list[dict]] = defaultdict(list)
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.rows_added = 0
        self._buffered = 0

    def add(self, row: dict) -> None:
        self.rows_added += 1
        buffer = self._buffers[row["iso_week"]]
        buffer.append(row)
        self._buffered += 1
        if len(buffer) >= ROW_GROUP_ROWS:
            self._flush(row["iso_week"])
        elif self._buffered >= MAX_BUFFERED_ROWS:
            for week in list(self._buffers):
                self._flush(week)

    def _flush(self, week: str) -> None:
        rows = self._buffers.pop(week, [])
        if not rows:
            return
        self._buffered -= len(rows)
        if week not in self._writers:
            self._writers[week] = pq.ParquetWriter(
                self.staging / f"{week}.parquet", ITEMS, compression=COMPRESSION)
        self._writers[week].write_table(pa.Table.from_pylist(rows, schema=ITEMS))

    def commit(self, drop: set[str] = frozenset()) -> list[str]:
        """Publish every week's file, then drop this manifest's files for weeks it no longer has.

        Items in ``drop`` (found stored by a concurrent ingest in the commit step) are left
        out first. Each file is replaced in one step, so a reader sees either the old or the
        new file of a week, never a partial one. Returns the weeks written.
        """
        for week in list(self._buffers):
            self._flush(week)
        for writer in self._writers.values():
            writer.close()
        weeks = sorted(week for week in self._writers if self._keep(week, drop))
        for week in weeks:
            storage.commit_file(self.staging / f"{week}.parquet",
                                catalog.ITEMS.path(self.settings, week, self.manifest_key))
        for stale in catalog.ITEMS.files(self.settings, key=self.manifest_key):
            if catalog.ITEMS.file_week(self.settings, stale) not in weeks:
                storage.remove(stale)
        return weeks

    def _keep(self, week: str, drop: set[str]) -> bool:
        """Rewrite a staged week without the dropped items; False when none is left."""
        if not drop:
            return True
        path = self.staging / f"{week}.parquet"
        table = pq.read_table(path, schema=ITEMS)
        kept = table.filter(pc.invert(pc.is_in(table["item_id"], pa.array(sorted(drop)))))
        if kept.num_rows == table.num_rows:
            return True
        if kept.num_rows == 0:
            return False
        pq.write_table(kept, path, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS)
        return True

    def abort(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        self._buffers.clear()
