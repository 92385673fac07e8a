"""kill -9 of a running ingest, several times over: readers only ever see whole partitions,
and the next run completes the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import duckdb
import pyarrow.parquet as pq
from helpers import REPO, STYLECAST, inherited_env, run_cli


def _simulate(tmp_path, home):
    drop = tmp_path / "drop"
    run_cli(["simulate", "--out", str(drop), "--weeks", "12", "--items-per-week", "250",
             "--seed", "3"], home, check=True)
    return drop / "manifest.csv"


def _week_counts(home) -> dict[str, int]:
    files = sorted((home / "items").glob("week=*/*.parquet"))
    return {f.parent.name: pq.read_metadata(f).num_rows for f in files}


def test_kill_minus_9_then_rerun_completes(tmp_path, fmnist_dir):
    reference_home = tmp_path / "reference"
    manifest = _simulate(tmp_path, reference_home)
    reference = json.loads(run_cli(["ingest", str(manifest)], reference_home, check=True).stdout)
    expected = _week_counts(reference_home)

    home = tmp_path / "home"
    env = {**inherited_env(), "STYLECAST_HOME": str(home), "STYLECAST_WORKERS": "2"}
    for delay in (0.2, 1.0, 2.5):
        proc = subprocess.Popen([*STYLECAST, "ingest", str(manifest)], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        deadline = time.monotonic() + 60
        while not (home / "_staging").exists() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)  # the ingest and its decoding workers
        proc.wait()
        # Whatever is visible is a complete partition identical in size to a clean run's.
        for week, rows in _week_counts(home).items():
            assert rows == expected[week], f"partial partition {week} after kill"

    summary = json.loads(run_cli(["ingest", str(manifest)], home, check=True).stdout)
    assert summary == reference
    assert _week_counts(home) == expected
    [(count,)] = duckdb.sql(f"select count(*) from '{home}/items/*/*.parquet'").fetchall()
    assert count == reference["ingested"]
    assert not any((home / "_staging").iterdir())
