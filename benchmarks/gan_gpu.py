"""GAN on a GPU, one prepared run: throughput of the optimised path and 64x64 quality.

1. Throughput at 64x64 RGB (``full`` preset networks, batch 128): plain eager fp32 vs
   bf16 autocast + channels_last + ``torch.compile``, same steps (target >= 2x).
2. Quality after a fixed GPU budget on the real product catalogue: ingest it, train the
   encoder and the GAN (``full`` preset) for ``--minutes``, report FD/KID/precision/recall/
   class-consistency/memorisation next to floor and ceiling.

Usage: python benchmarks/gan_gpu.py [--minutes 5] [--out DIR] [--device cuda]
Writes ``gan_gpu.md`` into ``--out`` (default benchmarks/results).
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
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]

from gan import evaluate  # noqa: E402
from gan.config import build  # noqa: E402
from gan.data import load  # noqa: E402
from gan.encoder import train as train_encoder  # noqa: E402
from gan.train import load_trained, throughput, training_loop  # noqa: E402
from pipeline.core.settings import Settings  # noqa: E402

CATALOG = REPO.parent / "shared" / "data" / "fashion-product-images-small"


def ingest_catalog(home: Path) -> None:
    env = {**os.environ, "STYLECAST_HOME": str(home)}
    cli = [sys.executable, "-m", "pipeline.cli"]
    manifest = home / "catalog.parquet"
    subprocess.run([*cli, "sources", "product-catalog", str(CATALOG), "--out", str(manifest)],
                   check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    subprocess.run([*cli, "ingest", str(manifest), "--images-root", str(CATALOG)],
                   check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stylecast-gpu-"))
    os.environ["STYLECAST_HOME"] = str(home)
    settings = Settings.from_env()
    start = time.perf_counter()
    ingest_catalog(home)
    ingest_minutes = (time.perf_counter() - start) / 60
    train_set = load("items", "train", settings)
    test_set = load("items", "test", settings, vocabulary=train_set.vocabulary)

    cfg = build("items", "full", device=args.device, max_kimg=10_000.0,
                max_minutes=args.minutes)
    eager = dataclasses.replace(cfg, amp=False, channels_last=False, compile=False)
    optimised = dataclasses.replace(cfg, compile=True)
    warm = args.steps // 4
    rates = {"eager fp32": throughput(eager, train_set, args.steps, warm),
             "bf16 + channels_last": throughput(cfg, train_set, args.steps, warm),
             "bf16 + channels_last + compile": throughput(optimised, train_set, args.steps,
                                                          warm)}

    encoder = train_encoder(train_set, test_set, "small")
    with tempfile.TemporaryDirectory() as tmp:
        result = training_loop(cfg, Path(tmp), train_set)
        nets = load_trained(cfg, train_set, Path(tmp))
    n = min(args.samples, len(test_set))
    rows = {"trained": evaluate.score_generator(nets.ema, cfg.z_dim, encoder, train_set,
                                                test_set, n, device=args.device),
            "floor (real train)": evaluate.score_real(encoder, train_set, test_set, n),
            "ceiling (untrained)": evaluate.score_untrained(cfg, encoder, train_set, test_set,
                                                            n)}
    device_name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    lines = [f"# GAN on {device_name}: 64x64 product catalogue", "",
             f"torch {torch.__version__}; {len(train_set)} train / {len(test_set)} held-out "
             f"items (ingest took {ingest_minutes:.1f} min); conditions "
             f"{', '.join(train_set.vocabulary.names)}.", "",
             "| path | images/s | vs eager fp32 |", "| --- | ---: | ---: |"]
    base = rates["eager fp32"]
    lines += [f"| {k} | {v:.0f} | {v / base:.2f}x |" for k, v in rates.items()]
    keys = sorted({k for r in rows.values() for k in r})
    lines += ["", f"Quality after {args.minutes:g} GPU minutes ({result.step} steps, "
              f"{result.images_per_second:.0f} images/s), {n} samples:", "",
              "| | " + " | ".join(keys) + " |", "| --- |" + " ---: |" * len(keys)]
    lines += [f"| {name} | " + " | ".join(f"{r.get(k, float('nan')):.3f}" for k in keys) + " |"
              for name, r in rows.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gan_gpu.md").write_text(text)
    (args.out / "gan_gpu.json").write_text(json.dumps({"rates": rates, "quality": rows}))


if __name__ == "__main__":
    main()
