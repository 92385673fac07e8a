"""Choose the inversion's settings on tuning items of the real catalogue, apart from the
items ``gan_controls.py`` reports: the weight of its recolour term
(``controls.RECOLOURABLE_WEIGHT``) and where it starts (``INVERT_STARTS`` optimised at
once, the best of ``INVERT_CANDIDATES`` noise draws; candidates 0: random starts, as
before the candidates).

For each setting, every tuning item is redrawn through ``DesignSession.from_item`` (the
studio's code path) and recoloured into the catalogue's most common colours, as in
``gan_controls.py``: how often the redrawing is closer to the item than its nearest other
photo, how often the recolours keep the item's type (as a share of the judge's accuracy on
real photos of that type), and the median seconds per inversion. Weight 0 is the inversion
without the term.

Usage: python benchmarks/gan_inversion_tuning.py [--home DIR]
       [--settings 0.01:120:4:0,0.01:120:1:64]   (weight:steps:starts:candidates, ...)
(``--home``: a home prepared by ``gan_controls.py``, with its champion and separate judge;
without one, a champion is trained first, as there.)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gan_controls

from gan import controls
from gan.data import load
from pipeline.design import session

# Before the candidates (4 random starts), today's start, and what it is chosen over.
DEFAULT_SETTINGS = ("0.01:120:4:0,0.01:120:1:64,0.01:120:2:64,0.01:60:1:64,"
                    "0:120:1:64")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None,
                        help="A home prepared by gan_controls.py (else one is trained).")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="Training minutes, where no champion is in the home yet.")
    parser.add_argument("--settings", default=DEFAULT_SETTINGS,
                        help="weight:steps:starts:candidates, comma-separated")
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--out", type=Path,
                        default=gan_controls.BENCHMARKS / "results/gan_inversion_tuning.md")
    args = parser.parse_args()
    started = time.perf_counter()
    settings = gan_controls.prepare(args)
    train = load("items", "train", settings)
    test = load("items", "test", settings, vocabulary=train.vocabulary)
    studio = session.DesignSession(settings)
    judges = {"metric classifier": studio.judge,
              "separate judge": gan_controls.separate_judge(Path(settings.home), train, test)}
    banks = {name: gan_controls.feature_bank(judge, studio) for name, judge in judges.items()}
    # The same tuning items as gan_controls.py's kept-share table, never its reported ones.
    reported = set(gan_controls.held_out_items(settings, 60))
    items = [i for i in gan_controls.held_out_items(settings, 10 * args.items, seed=7)
             if i not in reported][:args.items]
    rows = {}
    for setting in args.settings.split(","):
        weight, steps, starts, candidates = setting.split(":")
        controls.RECOLOURABLE_WEIGHT = float(weight)
        controls.INVERT_STARTS, controls.INVERT_CANDIDATES = int(starts), int(candidates)
        key = (float(weight), int(steps), int(starts), int(candidates))
        rows[key] = gan_controls.measure_items(studio, judges, test, items, banks, key[1])
        print(key, {k: v for k, v in rows[key].items() if k != "shown"}, flush=True)
    names = list(judges)
    lines = [
        "# The inversion's settings, tuned on the real catalogue", "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, torch "
        f"{torch.__version__}, CPU only; date {time.strftime('%Y-%m-%d')}. Generator: "
        f"{studio.model.uri}; {len(items)} tuning items (not among those "
        "`gan_controls.md` reports); recolours keep "
        f"{controls.RECONDITION_KEEP:g} of the redrawing's departure. Candidates: noise "
        "draws scored before any step, the best `starts` optimised (0: random starts).", "",
        "| recolour weight | steps | starts | candidates | "
        + " | ".join(f"closer, {n}" for n in names) + " | "
        + " | ".join(f"type kept after recolour vs real, {n}" for n in names)
        + " | median s per item | time vs the first row |",
        "| ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in range(2 * len(names)))
        + " | ---: | ---: |"]
    first = next(iter(rows.values()))["seconds"]
    for (weight, steps, starts, candidates), r in rows.items():
        lines.append(f"| {weight:g} | {steps} | {starts} | {candidates} | "
                     + " | ".join(f"{r['closer'][n]:.3f}" for n in names)
                     + " | " + " | ".join(f"{r['kept'][n]:.3f}" for n in names)
                     + f" | {r['seconds']:.2f} | {r['seconds'] / first:.2f} |")
    lines += ["", f"_Run took {(time.perf_counter() - started) / 60:.1f} min._", ""]
    args.out.write_text("\n".join(lines))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
