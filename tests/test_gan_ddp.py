"""Two training processes under torchrun (DDP on CPU with gloo): rank 0 alone logs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO, inherited_env, shared

from gan.train import read_ticks

pytestmark = pytest.mark.integration  # two training processes under torchrun


def test_torchrun_two_processes_train_one_run(home):
    env = {**inherited_env(), "STYLECAST_HOME": str(home),
           "FASHION_MNIST_DIR": str(shared("fashion-mnist")), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "pipeline.cli", "gan", "train", "--preset", "baby", "--run-name", "ddp"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    published = [s for s in summaries if "mlflow_run_id" in s]
    assert len(published) == 1, "exactly one rank logs and publishes"
    assert published[0]["steps"] == 8
    ticks = read_ticks(home / "gan" / "runs" / "ddp")
    assert [t["step"] for t in ticks] == [2, 4, 6, 8], "one log, not one per rank"
    assert ticks[-1]["kimg"] == 8 * 16 * 2 / 1000, "both ranks' images count"
