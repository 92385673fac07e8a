"""Ingest throughput on the real 44k-image product catalogue, side by side in one run.

Contenders, each run as its own process tree (peak memory = sampled RSS of the tree):
  decode limit  Pillow open + convert("RGB") + load over the same files, one process per
                core: the practical ceiling for anything that must decode every image.
  resize        the same, plus the resize and pad to 64x64 (no encode): on small catalogue
                JPEGs the geometry alone costs about as much as the decode.
  normalise     the same, plus the PNG encode: all the per-image work ingest must do, without
                validation or storage: the ceiling for an ingest, and the yardstick we hold
                ours to.
  naive         a per-row Pillow loop (decode, pad to 64x64, PNG, sha256) into a list, then
                pandas ``to_parquet``: what one writes first.
  stylecast     ``stylecast ingest`` on the catalogue's manifest (validation, quarantine,
                dedup, atomic partitioned Parquet), on a quarter of it and on all of it.

Usage: python benchmarks/ingest.py [--catalog DIR] [--out benchmarks/results/ingest.md]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CATALOG = REPO.parent / "shared" / "data" / "fashion-product-images-small"


def _decode(path: str) -> int:
    from PIL import Image

    with Image.open(path) as image:
        image.convert("RGB").load()
    return 1


def _resize(path: str) -> int:
    from PIL import Image

    from pipeline.ingest.images import DEFAULT_SIZE, _fit_square

    with Image.open(path) as image:
        _fit_square(image.convert("RGB"), DEFAULT_SIZE)
    return 1


def _normalise(path: str) -> int:
    from pipeline.ingest.images import ImageLimits, normalise

    normalise(Path(path).read_bytes(), ImageLimits())
    return 1


def run_pool(paths: list[str], work) -> int:
    with mp.get_context("fork").Pool(os.cpu_count()) as pool:
        return sum(pool.imap_unordered(work, paths, chunksize=256))


def run_naive(paths: list[str], out: str) -> int:
    import pandas as pd
    from PIL import Image, ImageOps

    rows = []
    for path in paths:
        try:
            raw = Path(path).read_bytes()
            image = Image.open(io.BytesIO(raw)).convert("RGB")
            png = io.BytesIO()
            ImageOps.pad(image, (64, 64), color=(255, 255, 255)).save(png, format="PNG")
        except OSError:
            continue
        rows.append({"path": path, "sha256": hashlib.sha256(raw).hexdigest(),
                     "image_png": png.getvalue()})
    pd.DataFrame(rows).to_parquet(out)
    return len(rows)


def measure(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak memory (MiB) of the whole process tree, and stdout.

    Memory is PSS (proportional set size): pages a forked worker shares with its parent are
    split between them instead of being counted once per process.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_full_info().pss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        # Reading smaps is not free: sample often enough for a flat, streaming process
        # without taxing the 2 cores the contenders share.
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    stdout = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{command} failed with exit {proc.returncode}")
    return seconds, peak / 2**20, stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/ingest.md")
    parser.add_argument("--contender", choices=["decode", "resize", "normalise", "naive"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--paths-file", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.contender:  # child mode: one contender, prints the images it processed
        paths = Path(args.paths_file).read_text().splitlines()
        if args.contender == "decode":
            print(run_pool(paths, _decode))
        elif args.contender == "resize":
            print(run_pool(paths, _resize))
        elif args.contender == "normalise":
            print(run_pool(paths, _normalise))
        else:
            print(run_naive(paths, str(Path(args.paths_file).with_suffix(".parquet"))))
        return

    from pipeline.sources import product_catalog

    work = Path(tempfile.mkdtemp(prefix="stylecast-bench-"))
    manifest = product_catalog.to_manifest(args.catalog)
    manifest = manifest[[(args.catalog / p).is_file() for p in manifest["image"]]]
    manifest.to_csv(work / "full.csv", index=False)
    manifest.iloc[: len(manifest) // 4].to_csv(work / "quarter.csv", index=False)
    paths = [str(args.catalog / p) for p in manifest["image"]]
    (work / "paths.txt").write_text("\n".join(paths))
    for path in paths:  # warm the page cache so no contender pays the first read
        Path(path).read_bytes()

    me = [sys.executable, __file__, "--paths-file", str(work / "paths.txt")]
    results = []
    seconds, peak, out = measure([*me, "--contender", "decode"])
    results.append(("decode limit (Pillow open+convert+load, 1 proc/core)", len(paths),
                    int(out), seconds, peak))
    seconds, peak, out = measure([*me, "--contender", "resize"])
    results.append(("decode + resize limit (the same + resize and pad to 64x64, no encode)",
                    len(paths), int(out), seconds, peak))
    seconds, peak, out = measure([*me, "--contender", "normalise"])
    results.append(("decode + normalise limit (the same + pad to 64x64 + PNG, 1 proc/core)",
                    len(paths), int(out), seconds, peak))
    seconds, peak, out = measure([*me, "--contender", "naive"])
    results.append(("naive (per-row Pillow loop + pandas to_parquet)", len(paths), int(out),
                    seconds, peak))
    for name in ("quarter", "full"):
        home = work / f"home-{name}"
        env = {**os.environ, "STYLECAST_HOME": str(home)}
        seconds, peak, out = measure(
            [sys.executable, "-m", "pipeline.cli", "ingest", str(work / f"{name}.csv"),
             "--images-root", str(args.catalog)], env)
        summary = json.loads(out)
        results.append((f"stylecast ingest ({name} catalogue)", summary["total"],
                        summary["ingested"] + summary["duplicates"] + summary["quarantined"],
                        seconds, peak))

    rate = {name: images / seconds for name, images, _, seconds, _ in results}
    limit_rate, normalise_rate, naive_rate = (rate[results[i][0]] for i in (0, 2, 3))
    lines = [
        f"# Ingest benchmark: {len(paths)} real catalogue images ({args.catalog.name})",
        "",
        f"Machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}; page cache warm for every contender; "
        f"date {time.strftime('%Y-%m-%d')}.",
        "",
        "| contender | images | handled | seconds | images/s | vs decode limit "
        "| vs decode + normalise limit | vs naive | peak PSS (MiB, tree) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, images, handled, seconds, peak in results:
        lines.append(f"| {name} | {images} | {handled} | {seconds:.1f} | {rate[name]:.0f} | "
                     f"{rate[name] / limit_rate:.0%} | {rate[name] / normalise_rate:.0%} | "
                     f"{rate[name] / naive_rate:.2f}x | {peak:.0f} |")
    lines += ["", "The decode limit omits work an ingest cannot skip: resizing to the model's "
              "square and encoding the result. The decode + normalise limit does exactly that "
              "work and nothing else (no validation, dedup or storage), so it is the ceiling "
              "any ingest of normalised images can reach."]
    table = "\n".join(lines) + "\n"
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)


if __name__ == "__main__":
    main()
