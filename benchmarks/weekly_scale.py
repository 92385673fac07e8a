"""How the weekly job's cost grows with the store: 100k, 300k and 1M items over 104 weeks.

``build`` makes the stores with the store scaler (``benchmarks/store_scaler.py``; nested, so
the largest store's first full embedding, timed and reported on its own, gives the smaller
ones their vectors), an encoder home, and trains the items encoder once into a tracking
store the homes share.

``measure`` then runs the weekly job for the last two weeks of each store, one process per
step through ``pipeline.jobs.tasks.weekly_step`` (what each Airflow task calls), timing each
step and sampling the peak memory of its whole process tree. The second-last week is the
first run on a grown store (it may set up what later weeks append to); the last week is
the regular Monday run the targets are about. With ``--baseline REV`` the same runs use the
code at git revision REV (a temporary worktree) in the same session, each store restored
to its built state first.

Usage:
  python benchmarks/weekly_scale.py build [--root DIR] [--largest 1000000]
  python benchmarks/weekly_scale.py measure [--root DIR] [--baseline REV] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import store_scaler  # noqa: E402
from ingest import baseline_tree, measure  # noqa: E402  (benchmarks/ingest.py)

DEFAULT_ROOT = REPO.parent / "weekly-scale"
LARGEST = 1_000_000
WEEKS = 104
SHARES = {"100k": 0.1, "300k": 0.3, "1M": 1.0}
ENCODER_ITEMS = 20_000   # the encoder trains on a small store of the same plan
STEPS = ("embed", "styles", "series", "forecast", "concepts", "report")
# The datasets the weekly job writes; ``measure`` removes them to restore a built store.
OUTPUTS = ("styles", "series", "series-counts", "forecasts", "concepts", "reports",
           "backtests")
TARGET_SECONDS, TARGET_MIB, TARGET_GROWTH = 300, 4096, 2.0


def env_for(home: Path, root: Path, code: Path = REPO) -> dict[str, str]:
    return {**os.environ, "STYLECAST_HOME": str(home),
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "PYTHONPATH": str(code), "PYTHONWARNINGS": "ignore"}


def stylecast(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "stylecast"), *args]


def build(root: Path, largest: int) -> dict:
    from pipeline.core.settings import Settings

    root.mkdir(parents=True, exist_ok=True)
    plan = store_scaler.plan(largest, WEEKS)
    record: dict = {"plan_items": plan.items, "weeks": WEEKS}
    encoder_home = root / "encoder-home"
    record["encoder_home"] = store_scaler.build(encoder_home, plan,
                                                  min(1.0, ENCODER_ITEMS / plan.items))
    seconds, _, _ = measure(stylecast("encoder", "train", "--dataset", "items", "--preset",
                                      "quick"), env=env_for(encoder_home, root))
    record["encoder_train_seconds"] = round(seconds, 1)
    homes = {name: root / f"store-{name}" for name in SHARES}
    largest_name = max(SHARES, key=SHARES.get)
    for name, share in sorted(SHARES.items(), key=lambda kv: -kv[1]):
        record[name] = store_scaler.build(homes[name], plan, share)
        if name == largest_name:
            seconds, peak, out = measure(stylecast("embed", "--all"),
                                         env=env_for(homes[name], root))
            summary = json.loads(out.strip().splitlines()[-1])
            record["first_embedding"] = {"store": name, "items": summary["computed"],
                                         "seconds": round(seconds, 1),
                                         "items_per_second": round(summary["computed"]
                                                                   / seconds, 1),
                                         "peak_mib": round(peak)}
        else:
            record[name]["copied_vectors"] = store_scaler.copy_embeddings(
                Settings(home=str(homes[largest_name])), Settings(home=str(homes[name])))
        snapshot(homes[name])
    (root / "build.json").write_text(json.dumps(record, indent=1))
    return record


def snapshot(home: Path) -> None:
    """Remember which files the built store has, so ``restore`` can drop everything else."""
    files = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    (home.parent / f"{home.name}.files.json").write_text(json.dumps(files))


def restore(home: Path) -> None:
    """Back to the built store, with the history embedded and the last week not yet: the
    weekly job's outputs removed."""
    for name in OUTPUTS:
        shutil.rmtree(home / name, ignore_errors=True)
    built = set(json.loads((home.parent / f"{home.name}.files.json").read_text()))
    for path in home.rglob("*"):
        if path.is_file() and str(path.relative_to(home)) not in built:
            path.unlink()
    shutil.rmtree(home / "embeddings" / f"week={last_weeks(home, 1)[0]}", ignore_errors=True)


def last_weeks(home: Path, n: int = 2) -> list[str]:
    return sorted(p.name.removeprefix("week=") for p in (home / "items").glob("week=*"))[-n:]


STEP_SCRIPT = ("import json, sys\n"
               "from pipeline.jobs.tasks import weekly_step\n"
               "print(json.dumps(weekly_step(sys.argv[1], sys.argv[2]), default=str))\n")


def run_week(home: Path, root: Path, week: str, code: Path, python: str) -> list[dict]:
    rows = []
    for step in STEPS:
        command = [python, "-c", STEP_SCRIPT, step, week]
        try:
            seconds, peak, out = measure(command, env=env_for(home, root, code), cwd=code)
        except SystemExit as failed:  # as Airflow would: one retry, and the table says so
            print(f"{failed}; retrying once", file=sys.stderr)
            seconds, peak, out = measure(command, env=env_for(home, root, code), cwd=code)
            step = f"{step} (retried)"
        result = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        rows.append({"step": step, "seconds": seconds, "peak_mib": peak,
                     "skipped": result.get("skipped")})
    return rows


def measure_all(root: Path, baseline: str | None) -> dict:
    codes = {"StyleCast": REPO}
    if baseline:
        codes[f"baseline {baseline}"] = baseline_tree(baseline, root / "baseline-tree")
    saved = root / "results.json"  # a run that stops half-way resumes where it stopped
    results: dict = json.loads(saved.read_text()) if saved.exists() else {}
    for label, code in codes.items():
        for name in SHARES:
            if name in results.get(label, {}):
                continue
            home = root / f"store-{name}"
            restore(home)
            first, last = last_weeks(home)
            results.setdefault(label, {})[name] = {
                "first run": run_week(home, root, first, code, sys.executable),
                "weekly run": run_week(home, root, last, code, sys.executable)}
            saved.write_text(json.dumps(results))
            print(label, name, json.dumps(results[label][name]), flush=True)
    return results


def table(results: dict) -> list[str]:
    sizes = list(SHARES)
    lines = ["| code | run | step | " + " | ".join(f"{s} s" for s in sizes)
             + " | " + " | ".join(f"{s} peak MiB" for s in sizes)
             + f" | growth {sizes[0]} -> {sizes[-1]} |",
             "| --- | --- | --- | " + " | ".join(["---:"] * (2 * len(sizes) + 1)) + " |"]
    for label, by_size in results.items():
        for run in ("weekly run", "first run"):
            steps = {s: [r for r in by_size[s][run]] for s in sizes}
            for i, step in enumerate(STEPS):
                cells = [steps[s][i] for s in sizes]
                note = " (skipped)" if cells[-1]["skipped"] else ""
                note += "".join(" (retried at " + s + ")" for s, c in zip(sizes, cells,
                                                                           strict=True)
                                if c["step"] != step)
                lines.append(
                    f"| {label} | {run} | {step}{note} | "
                    + " | ".join(f"{c['seconds']:.1f}" for c in cells) + " | "
                    + " | ".join(f"{c['peak_mib']:.0f}" for c in cells)
                    + f" | {cells[-1]['seconds'] / cells[0]['seconds']:.2f}x |")
            totals = [sum(r["seconds"] for r in steps[s]) for s in sizes]
            peaks = [max(r["peak_mib"] for r in steps[s]) for s in sizes]
            lines.append(f"| {label} | {run} | **all steps** | "
                         + " | ".join(f"**{t:.1f}**" for t in totals) + " | "
                         + " | ".join(f"**{p:.0f}**" for p in peaks)
                         + f" | **{totals[-1] / totals[0]:.2f}x** |")
    return lines


def targets(results: dict) -> list[str]:
    ours = results["StyleCast"]
    last = list(SHARES)[-1]
    weekly = ours[last]["weekly run"]
    total = sum(r["seconds"] for r in weekly)
    peak = max(r["peak_mib"] for r in weekly)
    first = next(iter(SHARES))
    growth = {r["step"]: r["seconds"] / f["seconds"]
              for r, f in zip(weekly, ours[first]["weekly run"], strict=True)}
    worst = max(growth, key=growth.get)
    rows = [("weekly run of the last week, largest store, end to end",
             f"{total:.0f} s", f"< {TARGET_SECONDS} s", total < TARGET_SECONDS),
            ("peak memory of that run (whole process tree)", f"{peak:.0f} MiB",
             f"< {TARGET_MIB} MiB", peak < TARGET_MIB),
            (f"worst step growth {first} -> {last} ({worst})", f"{growth[worst]:.2f}x",
             f"<= {TARGET_GROWTH}x", growth[worst] <= TARGET_GROWTH)]
    return ["| target | measured | goal | met |", "| --- | ---: | ---: | :---: |",
            *[f"| {a} | {b} | {c} | {'yes' if d else 'no'} |" for a, b, c, d in rows]]


def report(root: Path, results: dict, out: Path) -> None:
    record = json.loads((root / "build.json").read_text())
    embedding = record["first_embedding"]
    lines = [
        "# Weekly job at scale (`benchmarks/weekly_scale.py`)", "",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores. Stores built by "
        "`benchmarks/store_scaler.py` from the real product catalogue over "
        f"{record['weeks']} weeks: " + ", ".join(
            f"{n} = {record[n]['items']:,} items" for n in SHARES) + ".", "",
        f"First full embedding ({embedding['store']} store): {embedding['items']:,} items in "
        f"{embedding['seconds']:.0f} s, {embedding['items_per_second']:.0f} items/s, peak "
        f"{embedding['peak_mib']} MiB.", "",
        "Each step is one process (as an Airflow task is); time in seconds, peak memory of "
        "the process tree (PSS). *weekly run*: the last week, after the week before it ran. "
        "*first run*: the week before, the first time the job meets the grown store.", "",
        *table(results), "", "## Targets", "", *targets(results), ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    (out.with_suffix(".json")).write_text(json.dumps({"build": record, "results": results},
                                                     indent=1))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "measure"])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--largest", type=int, default=LARGEST)
    parser.add_argument("--baseline", help="git revision measured beside this tree")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results"
                        / "weekly_scale.md")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.command == "build":
        print(json.dumps(build(args.root, args.largest), indent=1))
    else:
        report(args.root, measure_all(args.root, args.baseline), args.out)
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
