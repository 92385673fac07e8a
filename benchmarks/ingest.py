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
                dedup, atomic partitioned Parquet), on a quarter of it and on all of it;
                with ``--baseline REV`` also the full catalogue by the code at git
                revision REV (a temporary worktree), in the same run.
Then ``stylecast ingest`` as a user runs it: ``stylecast sources product-catalog`` into a
fresh home, then ``stylecast ingest FILE`` with no option (every row of the catalogue,
photos missing included), split into interpreter start-up, warm and cold page cache.

Usage: python benchmarks/ingest.py [--catalog DIR] [--baseline REV] [--out FILE]
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


def measure(command: list[str], env: dict | None = None, cwd: Path | None = None
            ) -> tuple[float, float, str]:
    """Wall seconds, peak memory (MiB) of the whole process tree, and stdout.

    Memory is PSS (proportional set size): pages a forked worker shares with its parent are
    split between them instead of being counted once per process.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
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


def baseline_tree(revision: str, work: Path) -> Path:
    """The code at ``revision`` in a temporary git worktree (removed at exit)."""
    import atexit

    tree = work / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), revision], cwd=REPO,
                   check=True)
    atexit.register(subprocess.run, ["git", "worktree", "remove", "--force", str(tree)],
                    cwd=REPO, check=False)
    return tree


def drop_page_cache() -> bool:
    """Empty the kernel's page cache (root on Linux), so the next read comes from disk."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def as_a_user(catalog: Path, work: Path) -> list[str]:
    """``stylecast sources product-catalog`` then ``stylecast ingest FILE``, no option, in a
    fresh home: the whole command as a person waits for it, and where its time goes."""
    cli = [sys.executable, "-m", "pipeline.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    startup, _, _ = measure([*cli, "ingest", "--help"], env, cwd=REPO)
    rows = []
    for label, cold in (("page cache warm", False), ("page cache cold", True)):
        home = work / f"user-{'cold' if cold else 'warm'}"
        manifest = home.parent / f"{home.name}.parquet"
        user_env = {**env, "STYLECAST_HOME": str(home)}
        measure([*cli, "sources", "product-catalog", str(catalog), "--out", str(manifest)],
                user_env, cwd=REPO)
        if cold and not drop_page_cache():
            rows.append(f"| {label} | (not measured: the page cache cannot be dropped here) "
                        "| | |")
            continue
        seconds, peak, out = measure([*cli, "ingest", str(manifest)], user_env, cwd=REPO)
        summary = json.loads(out)
        rows.append(f"| {label} | {summary['total']} | {seconds:.1f} | {peak:.0f} |")
    return ["## `stylecast ingest` as a user runs it", "",
            "`stylecast sources product-catalog CATALOG --out cat.parquet` into a fresh home, "
            "then `stylecast ingest cat.parquet` with no option: every row of the catalogue, "
            "those whose photo is missing included (quarantined as `unreadable_path`).", "",
            "| run | rows | seconds | peak PSS (MiB, tree) |", "| --- | ---: | ---: | ---: |",
            *rows, "",
            f"Interpreter start-up and imports (`stylecast ingest --help`): {startup:.1f} s."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/ingest.md")
    parser.add_argument("--contender", choices=["decode", "resize", "normalise", "naive"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--paths-file", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", help="git revision whose ingest runs beside this one")
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
    trees = [("quarter", REPO, ""), ("full", REPO, "")]
    if args.baseline:
        trees.append(("full", baseline_tree(args.baseline, work), f", {args.baseline}"))
    for name, tree, label in trees:
        home = work / f"home-{name}{label.strip(', ')}"
        env = {**os.environ, "STYLECAST_HOME": str(home), "PYTHONPATH": str(tree)}
        seconds, peak, out = measure(
            [sys.executable, "-m", "pipeline.cli", "ingest", str(work / f"{name}.csv"),
             "--images-root", str(args.catalog)], env, cwd=tree)
        summary = json.loads(out)
        results.append((f"stylecast ingest ({name} catalogue{label})", summary["total"],
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
    if args.baseline:
        ours, theirs = rate["stylecast ingest (full catalogue)"], \
            rate[f"stylecast ingest (full catalogue, {args.baseline})"]
        lines += ["", f"This code against {args.baseline} on the full catalogue, same run: "
                  f"{ours / theirs:.2f}x the images/s."]
    lines += ["", *as_a_user(args.catalog, work)]
    table = "\n".join(lines) + "\n"
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)


if __name__ == "__main__":
    main()
