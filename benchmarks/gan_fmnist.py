"""GAN quality after a fixed CPU budget on Fashion-MNIST, and training throughput.

In one run: train the catalogue classifier (the metric feature space), train the GAN
(``small`` preset) for a wall-clock budget, then report FD, KID, precision, recall,
class-consistency and memorisation next to their floor (real train vs real test) and
ceiling (an untrained generator); FD also as the fraction of the way from floor to ceiling.
Throughput: the optimised path (channels_last; with CUDA also bf16 + compile) vs a plain
eager fp32 run of the same networks, same steps.

Usage: python benchmarks/gan_fmnist.py [--minutes 10] [--samples 2000] [--ablation [NAME ...]]
       [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

from gan import evaluate  # noqa: E402
from gan.config import build  # noqa: E402
from gan.data import load  # noqa: E402
from gan.encoder import train as train_encoder  # noqa: E402
from gan.inference import load_trained  # noqa: E402
from gan.train import read_ticks, throughput, training_loop  # noqa: E402

# Two remove one of the terms that buy variety within a condition; one replaces adaptive
# augmentation with the fixed, always-on DiffAugment; the last adds the catalogue's
# auxiliary classifier heads, which Fashion-MNIST trains without.
ABLATIONS = {"no minibatch-std": {"minibatch_std": False},
             "no mode-seeking term": {"mode_seeking": 0.0},
             "always-on DiffAugment": {"augment_target": None},
             "auxiliary heads at the catalogue's weight": {"classifier_weight": 0.25}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--encoder-preset", default="small")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/gan.md")
    parser.add_argument("--ablation", nargs="*", choices=list(ABLATIONS), default=None,
                        help="also train the same budget with each (or each named) change")
    args = parser.parse_args()
    train_set, test_set = load("fashion-mnist", "train"), load("fashion-mnist", "test")

    start = time.perf_counter()
    encoder = train_encoder(train_set, test_set, args.encoder_preset)
    encoder_seconds = time.perf_counter() - start

    cfg = build("fashion-mnist", "small", max_kimg=10_000.0, max_minutes=args.minutes)
    n = args.samples
    augment_p: list[float] = []   # each run's adaptive augmentation probability at the end

    def train_and_score(run_cfg):
        with tempfile.TemporaryDirectory() as tmp:
            result = training_loop(run_cfg, Path(tmp), train_set)
            nets = load_trained(run_cfg, train_set, Path(tmp))
            augment_p.append(read_ticks(Path(tmp))[-1]["augment_p"])
        return result, evaluate.score_generator(nets.ema, run_cfg.z_dim, encoder, train_set,
                                                test_set, n)

    result, trained = train_and_score(cfg)
    rows = {"trained (EMA generator)": trained}
    ablation_steps = []
    chosen = ABLATIONS if args.ablation == [] else args.ablation or ()
    for label in chosen:
        change = ABLATIONS[label]
        ablation_result, rows[f"same budget, {label}"] = train_and_score(
            dataclasses.replace(cfg, **change))
        ablation_steps.append(f"{label}: {ablation_result.step}")
    rows["floor: real train images"] = evaluate.score_real(encoder, train_set, test_set, n)
    rows["ceiling: untrained generator"] = evaluate.score_untrained(cfg, encoder, train_set,
                                                                    test_set, n)
    eager = dataclasses.replace(cfg, amp=False, channels_last=False, compile=False)
    optimised_rate, eager_rate = throughput(cfg, train_set, 60), throughput(eager, train_set, 60)

    keys = ["fd", "kid", "precision", "recall", "class_consistency_category",
            "class_consistency_category_vs_real", "memorisation", "density", "coverage",
            "diversity"]
    previous, earlier = previous_run(args.out)
    lines = [f"# GAN benchmark: Fashion-MNIST, {args.minutes:g} minutes on "
             f"{os.cpu_count()} CPU cores", "",
             f"Python {platform.python_version()}, torch {torch.__version__}; date "
             f"{time.strftime('%Y-%m-%d')}. Preset `small` (G/D width {cfg.g_width}, batch "
             f"{cfg.batch_size}); trained {result.step} steps = {result.step * cfg.batch_size:,}"
             f" images in {result.seconds / 60:.1f} min. Metric features: the catalogue "
             f"classifier (trained in {encoder_seconds / 60:.1f} min, real-test accuracy "
             f"{encoder.test_accuracy['category']:.3f}); {n} samples vs {n} held-out images. "
             f"Mode-seeking weight {cfg.mode_seeking:g}, minibatch-std "
             f"{'on' if cfg.minibatch_std else 'off'}, adaptive augmentation probability at "
             f"the end {augment_p[0]:.3f}"
             + (f"; ablation steps: {', '.join(ablation_steps)}." if ablation_steps else "."),
             "", "| | " + " | ".join(keys) + " |", "| --- |" + " ---: |" * len(keys)]
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{values.get(k, float('nan')):.3f}"
                                                 for k in keys) + " |")
    if previous:
        lines.append("| previous run of this benchmark (trained) | " + " | ".join(
            previous.get(k, "") for k in keys) + " |")
    floor, ceiling, model = (rows[k]["fd"] for k in ("floor: real train images",
                                                     "ceiling: untrained generator",
                                                     "trained (EMA generator)"))
    lines += ["", f"FD position between floor (0) and ceiling (1): "
              f"{(model - floor) / (ceiling - floor):.4f} (target <= 0.01).", "",
              "| training path | images/s | vs eager fp32 |", "| --- | ---: | ---: |",
              f"| optimised (channels_last; on CUDA also bf16 + compile) | "
              f"{optimised_rate:.0f} | {optimised_rate / eager_rate:.2f}x |",
              f"| plain eager fp32 | {eager_rate:.0f} | 1.00x |", ""]
    text = "\n".join(lines) + earlier
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


def previous_run(path: Path) -> tuple[dict[str, str], str]:
    """The trained row of the last results file (to compare with) and its hand-written
    section of earlier measurements (kept)."""
    if not path.exists():
        return {}, ""
    text = path.read_text()
    lines = text.splitlines()
    header = next((line for line in lines if line.startswith("| | fd")), None)
    row = next((line for line in lines if line.startswith("| trained")), None)
    previous = {}
    if header and row:
        names = [c.strip() for c in header.strip("|").split("|")][1:]
        values = [c.strip() for c in row.strip("|").split("|")][1:]
        previous = dict(zip(names, values, strict=False))
    marker = "\n## Earlier measurements"
    return previous, text[text.index(marker):] if marker in text else ""


if __name__ == "__main__":
    main()
