"""The ingest DAG's poll over a drop folder with a long history: 10,000 manifests ingested
earlier plus one new one, before (every manifest read and hashed at every poll, the poll of
the previous release, kept here as the baseline) and after (``pipeline.jobs.drop``: the
ledger; only new or changed files are read). Both in the same run, on the same folder.

The old manifests' ingest-log records are written as an ingest writes them (the poll only
asks whether a manifest's record exists); running 10,000 real ingests would time the ingest,
not the poll.

Usage: python benchmarks/drop_poll.py [--manifests N] [--rows R] [--out FILE]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from pipeline.core import catalog, layout, storage
from pipeline.core.settings import Settings
from pipeline.ingest import IngestSummary
from pipeline.jobs import drop as drops


def poll_before(settings: Settings, drop: str) -> list[str]:
    """The previous release's poll: list, then read and hash every manifest."""
    found = [f for pattern in drops.MANIFEST_PATTERNS for f in storage.list_files(drop, pattern)]
    done = {f for f in found if catalog.INGEST_LOG.exists(
        settings, key=layout.content_key(storage.read_bytes(f)))}
    return [f for f in found if f not in done]


def make_history(settings: Settings, drop: Path, manifests: int, rows: int) -> None:
    drop.mkdir(parents=True)
    for i in range(manifests):
        frame = pd.DataFrame({"item_id": [f"m{i}-r{r}" for r in range(rows)],
                              "observed_at": "2025-04-02T10:00:00Z", "source": "street",
                              "colour": "red", "image": [f"img/m{i}/{r}.jpg"
                                                         for r in range(rows)]})
        data = frame.to_csv(index=False).encode()
        (drop / f"batch-{i:05d}.csv").write_bytes(data)
        summary = IngestSummary(total=rows, ingested=rows, manifest_key=layout.content_key(data))
        catalog.INGEST_LOG.write_bytes(settings, summary.to_json().encode(),
                                       key=summary.manifest_key)


def timed(poll, settings: Settings, drop: str, repeats: int) -> tuple[float, list[str]]:
    times, found = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        found = poll(settings, drop)
        times.append(time.perf_counter() - started)
    return statistics.median(times), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=f"{tmp}/home")
        drop = Path(tmp) / "drop"
        make_history(settings, drop, args.manifests, args.rows)
        size = sum(f.stat().st_size for f in drop.iterdir())
        # The ledger is built by the first poll after the upgrade (it reads every file once).
        started = time.perf_counter()
        drops.new_manifests(settings, str(drop))
        first = time.perf_counter() - started
        new = drop / "batch-new.csv"
        new.write_text("item_id,observed_at\nnew-1,2025-04-09T10:00:00Z\n")
        before, found_before = timed(poll_before, settings, str(drop), 3)
        after, found_after = timed(drops.new_manifests, settings, str(drop), 3)
    assert found_before == found_after == [str(new)], (found_before, found_after)
    lines = [
        f"# Drop poll: {args.manifests:,} old manifests ({size / 1e6:.0f} MB, {args.rows} "
        "rows each) plus one new",
        "",
        f"{platform.processor() or platform.machine()}, {platform.python_version()}; "
        "median of 3 polls, page cache warm; same folder, same run.",
        "",
        "| poll | seconds | files read | vs before |",
        "| --- | ---: | ---: | ---: |",
        f"| before: read and hash every manifest | {before:.3f} | {args.manifests + 1:,} "
        "| 1.00 |",
        f"| after: ledger by name, size and time | {after:.3f} | 1 | {after / before:.3f} |",
        f"| after, first poll (builds the ledger) | {first:.3f} | {args.manifests:,} "
        f"| {first / before:.2f} |",
        "",
        "Both polls list the one new manifest and nothing else.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
