"""Two training processes under torchrun (DDP on CPU with gloo): rank 0 alone logs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO, inherited_env, shared

from gan import checkpoint
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


def test_torchrun_trains_the_display_upsampler_beside_the_generator(tmp_path):
    """The upsampler is outside the drawing's graph: the generator's DDP wrapper must not wait
    for its gradients, and its own wrapper must reduce them."""
    env = {**inherited_env(), "FASHION_MNIST_DIR": str(shared("fashion-mnist")),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(REPO / "tests" / "ddp_train_shown_larger.py"), str(tmp_path / "run")],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    state = checkpoint.load(tmp_path / "run" / checkpoint.STATE_FILE)
    assert state["architecture"]["resolution"] == 32 and "opt_up" in state
    assert state["ema"]["upsampler.body.4.weight"].abs().sum() > 0
    assert [t["step"] for t in read_ticks(tmp_path / "run")] == [2, 4, 6, 8]
