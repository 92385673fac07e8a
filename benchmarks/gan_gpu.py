"""GAN on a GPU, one prepared run: the catalogue recipe at 64x64 and 128x128.

For each side (64, 128), on the real product catalogue ingested at 128x128:
1. throughput of the training loop (``full`` preset networks at that side): plain eager
   fp32 vs bf16 autocast + channels_last vs bf16 + channels_last + ``torch.compile``;
2. quality after a fixed GPU budget (``--minutes`` per side, the optimised path): the
   judge (the metric classifier recipe, trained once at 64x64) scores samples brought to
   64x64: FD next to floor and ceiling, consistency per attribute against real accuracy,
   within-condition diversity and the conditioning effect; a sample grid per side.

Usage: python benchmarks/gan_gpu.py [--minutes 2.5] [--out DIR] [--device cuda]
Writes ``gan_gpu.md``, ``gan_gpu.json`` and ``gan_gpu-<side>.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

from gan import evaluate  # noqa: E402
from gan.config import build  # noqa: E402
from gan.data import load  # noqa: E402
from gan.encoder import train as train_encoder  # noqa: E402
from gan.images import grid  # noqa: E402
from gan.inference import load_trained, sample  # noqa: E402
from gan.train import throughput, training_loop  # noqa: E402
from pipeline.core.settings import Settings  # noqa: E402

CATALOG = REPO.parent / "shared" / "data" / "fashion-product-images-small"


def ingest_catalog(home: Path, side: int) -> None:
    env = {**os.environ, "STYLECAST_HOME": str(home)}
    cli = [sys.executable, "-m", "pipeline.cli"]
    manifest = home / "catalog.parquet"
    subprocess.run([*cli, "sources", "product-catalog", str(CATALOG), "--out", str(manifest),
                    "--uses", "analyse,display,train"],
                   check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    subprocess.run([*cli, "ingest", str(manifest), "--images-root", str(CATALOG),
                    "--size", str(side)], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL)


def quality(cfg, train_set, test_set, judge, n: int, device: str, out: Path
            ) -> tuple[dict[str, float], object]:
    """Train ``cfg`` for its budget; score at the judge's side; save a sample grid."""
    with tempfile.TemporaryDirectory() as tmp:
        result = training_loop(cfg, Path(tmp), train_set)
        ema = load_trained(cfg, train_set, Path(tmp)).ema.to(device)
    grid_z = torch.randn(64, cfg.z_dim, generator=torch.Generator().manual_seed(0))
    conditions = evaluate.probe_conditions(test_set, 8, 10)
    labels = conditions.repeat_interleave(8, dim=0)
    grid(sample(ema, grid_z, labels, device), columns=8).save(
        out / f"gan_gpu-{train_set.resolution}.png")
    ema.output_resolution = judge.model.arch["resolution"]   # judged at the judge's side
    small = test_set.at_resolution(ema.output_resolution)
    scores = evaluate.score_generator(ema, cfg.z_dim, judge,
                                      train_set.at_resolution(ema.output_resolution), small,
                                      n, device=device)
    return scores, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--sides", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="stylecast-gpu-"))
    os.environ["STYLECAST_HOME"] = str(home)
    settings = Settings.from_env()
    start = time.perf_counter()
    ingest_catalog(home, max(args.sides))
    ingest_minutes = (time.perf_counter() - start) / 60
    full_train = load("items", "train", settings)
    full_test = load("items", "test", settings, vocabulary=full_train.vocabulary)
    judge_train, judge_test = full_train.at_resolution(64), full_test.at_resolution(64)
    start = time.perf_counter()
    judge = train_encoder(judge_train, judge_test, "metric", seed=1)
    judge_minutes = (time.perf_counter() - start) / 60
    n = min(args.samples, len(full_test))
    floor = evaluate.score_real(judge, judge_train, judge_test, n)

    rates, rows = {}, {"floor (real photos)": floor}
    for side in args.sides:
        train_set, test_set = full_train.at_resolution(side), full_test.at_resolution(side)
        cfg = build("items", "full", device=args.device, resolution=side, max_kimg=10_000.0,
                    max_minutes=args.minutes)
        eager = dataclasses.replace(cfg, amp=False, channels_last=False, compile=False)
        optimised = dataclasses.replace(cfg, compile=True)
        warm = args.steps // 4
        rates[side] = {
            "eager fp32": throughput(eager, train_set, args.steps, warm),
            "bf16 + channels_last": throughput(cfg, train_set, args.steps, warm),
            "bf16 + channels_last + compile": throughput(optimised, train_set, args.steps, warm)}
        scores, result = quality(optimised, train_set, test_set, judge, n, args.device, args.out)
        rows[f"{side}x{side} ({result.step} steps, {result.images_per_second:.0f} img/s)"] = scores
        if side == args.sides[0]:
            rows["ceiling (untrained)"] = evaluate.score_untrained(
                dataclasses.replace(cfg, resolution=64), judge, judge_train, judge_test, n)
    device_name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    sides = " and ".join(map(str, args.sides))
    lines = [f"# GAN on {device_name}: the product catalogue at {sides} px",
             "", f"torch {torch.__version__}; {len(full_train)} train / {len(full_test)} held-out "
             f"items (ingest at {max(args.sides)} px took {ingest_minutes:.1f} min); conditions "
             f"{', '.join(full_train.vocabulary.names)}; judge trained in {judge_minutes:.1f} min, "
             "accuracy " + ", ".join(f"{k} {v:.3f}" for k, v in judge.test_accuracy.items()) + ".",
             "", "| side | path | images/s | vs eager fp32 |", "| ---: | --- | ---: | ---: |"]
    for side, by_path in rates.items():
        base = by_path["eager fp32"]
        lines += [f"| {side} | {k} | {v:.0f} | {v / base:.2f}x |" for k, v in by_path.items()]
    keys = ["fd", "precision", "recall", "diversity", "diversity_min",
            *sorted(k for k in floor if k.endswith("_vs_real") or k.startswith("conditioning"))]
    lines += ["", f"Quality after {args.minutes:g} GPU minutes per side (bf16 + channels_last + "
              f"compile), judged at 64x64 on {n} samples:", "",
              "| | " + " | ".join(keys) + " |", "| --- |" + " ---: |" * len(keys)]
    lines += [f"| {name} | " + " | ".join(f"{r.get(k, float('nan')):.3f}" for k in keys) + " |"
              for name, r in rows.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    (args.out / "gan_gpu.md").write_text(text)
    (args.out / "gan_gpu.json").write_text(json.dumps({"rates": rates, "quality": rows}))


if __name__ == "__main__":
    main()
