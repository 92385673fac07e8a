"""The command line a newcomer meets: choices shown and checked before any work, ``-h`` is
help, one name for worker counts, progress on a terminal, filtered run comparisons."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from helpers import REPO, STYLECAST, inherited_env, run_cli


@pytest.mark.parametrize("args, choices", [
    (["gan", "train", "--preset", "huge"], "'baby', 'small', 'full'"),
    (["gan", "train", "--dataset", "imagenet"], "'fashion-mnist', 'items'"),
    (["gan", "train", "--device", "tpu"], "'auto', 'cpu', 'cuda'"),
    (["gan", "sample", "--out", "x", "--dataset", "mnist"], "'fashion-mnist', 'items'"),
    (["encoder", "train", "--preset", "metric"], "'baby', 'quick', 'small', 'full'"),
    (["report", "--week", "2026-W05", "--format", "pdf"], "'html', 'md'"),
    (["forecast", "s.csv", "--out", "f.csv", "--horizon", "3", "--season-length", "12",
      "--models", "some"], "'default', 'all'"),
    (["backtest", "s.csv", "--horizon", "3", "--season-length", "12", "--gaps", "guess"],
     "'reject', 'zero', 'interpolate'"),
    (["runs", "compare", "--experiment", "x", "--status", "done"], "'any', 'finished'"),
])
def test_a_value_outside_the_choices_is_refused_before_any_work(tmp_path, args, choices):
    home = tmp_path / "home"
    started = time.monotonic()
    done = run_cli(args, home, COLUMNS="200")
    assert done.returncode == 2 and choices in done.stderr, done.stderr
    assert not home.exists(), "refused before touching the home"
    assert time.monotonic() - started < 30, "refused before loading data or models"
    shown = run_cli([*args[:2 if args[0] in ("gan", "encoder", "runs") else 1], "--help"],
                    home, COLUMNS="200")
    assert choices.replace("'", "").replace(", ", "|") in shown.stdout, "choices in --help"


def test_minus_h_is_help_everywhere_and_horizon_is_spelled_out(tmp_path):
    for command in ([], ["forecast"], ["backtest"], ["gan", "train"]):
        done = run_cli([*command, "-h"], tmp_path)
        assert done.returncode == 0 and "Usage:" in done.stdout, command
    assert "--horizon" in run_cli(["forecast", "-h"], tmp_path).stdout


def test_levels_repeat_and_a_list_after_one_option_gets_a_hint(tmp_path):
    done = run_cli(["forecast", "--level", "80", "95", "series.csv", "--out", "f.csv",
                    "--horizon", "3", "--season-length", "12"], tmp_path)
    assert done.returncode == 2
    assert "unexpected argument(s) 95 series.csv" in done.stderr
    assert "--level 80 --level 95" in done.stderr


def test_workers_is_the_one_name_and_jobs_a_hidden_alias(tmp_path):
    shown = run_cli(["forecast", "--help"], tmp_path, COLUMNS="200").stdout
    assert "--workers" in shown and "--jobs" not in shown
    assert "--workers" in run_cli(["ingest", "--help"], tmp_path, COLUMNS="200").stdout
    done = run_cli(["forecast", "s.csv", "--out", "f.csv", "--horizon", "3",
                    "--season-length", "12", "--workers", "2", "--jobs", "3"], tmp_path)
    assert done.returncode == 2 and "--jobs is the old name of --workers" in done.stderr


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[str, str, int]:
    """Run with stderr on a pseudo-terminal (where progress shows) and stdout on a pipe."""
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen([*STYLECAST, *args], stdout=subprocess.PIPE, stderr=slave,
                               env=env, cwd=REPO)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:   # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    stdout = process.stdout.read().decode()
    process.wait(timeout=600)
    os.close(master)
    return stdout, b"".join(chunks).decode(errors="replace"), process.returncode


@pytest.mark.integration
def test_encoder_training_shows_progress_on_a_terminal_and_runs_in_its_own_experiment(
        tmp_path, fmnist_dir):
    home = tmp_path / "home"
    env = {**inherited_env(), "STYLECAST_HOME": str(home), "FASHION_MNIST_DIR": str(fmnist_dir),
           "COLUMNS": "160", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    stdout, terminal, code = _on_a_terminal(["encoder", "train", "--preset", "baby"], env)
    assert code == 0, terminal[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert len(stdout.strip().splitlines()) == 1, "stdout stays one JSON line"
    assert "encoder train" in terminal and "loss " in terminal, terminal[-2000:]
    assert "8/8" in terminal, "steps done of the total, with the time left beside them"

    compare = run_cli(["runs", "compare", "--experiment", "stylecast-encoder",
                       "--where", "params.preset = 'baby'", "--status", "finished",
                       "--since", "2020-01-01"], home, COLUMNS="200")
    assert compare.returncode == 0, compare.stderr
    assert summary["mlflow_run_id"][:12] in compare.stdout
    for where, message in (("params.preset = 'full'", "matches"),
                           ("preset is baby", "bad run filter")):
        refused = run_cli(["runs", "compare", "--experiment", "stylecast-encoder",
                           "--where", where], home)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    gan_runs = run_cli(["runs", "compare", "--experiment", "stylecast-gan"], home)
    assert gan_runs.returncode == 2 and "no MLflow experiment 'stylecast-gan'" in \
        gan_runs.stderr, "encoder runs are not GAN runs"
