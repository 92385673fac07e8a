"""The design controls on the real product catalogue, judged by the product's metric
classifier and by a classifier trained separately from it (as in ``gan_catalog.py``).

In one run (``--home`` reuses a prepared home: its champion and the separate judge):
1. ingest ``../shared/data/fashion-product-images-small`` into a scratch home and train the
   ``small`` CPU recipe for ``--minutes`` with ``stylecast gan train``'s code path (it
   registers the generator, its metric classifier and ``champion-items``);
2. train the separate judge (the metric recipe, seed 1) on the training split;
3. open a ``DesignSession`` on the champion, as ``stylecast design`` and the studio do, and
   measure every control through it:
   - *recolour*: designs drawn for each of the most populated (articleType, baseColour)
     pairs, recoloured to every other colour the same type has among those pairs: how often
     the asked colour is seen and the type kept, as a share of the judge's accuracy on
     held-out real photos of the target pair;
   - *from a real item*: held-out items redrawn (the first ``--tune-items`` were used to
     choose the inversion's settings, the next ``--items`` are reported): how often the
     redrawing is closer to the item than the item's nearest *other* photo in the
     catalogue, in each judge's feature space; then each redrawing recoloured: how often
     the item's type is kept, as a share of the judge's accuracy on real photos of it;
   - *blend*: pairs of passing designs of different types: a pair succeeds when every step
     is seen as one of its two ends' types and no step is flagged unrecognisable or
     unlike any real item;
   - *studio*: ``stylecast studio`` started on the home; 50 requests per control over HTTP
     after start-up: median and 95th percentile answer time.
Writes the table to ``--out`` and sample sheets under ``benchmarks/results/gan_controls/``.

Usage: python benchmarks/gan_controls.py [--home DIR] [--minutes 10] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from _support.processes import free_port  # noqa: E402
from _support.services import Service, wait_http  # noqa: E402
from gan_catalog import ingest_catalogue  # noqa: E402

from gan import controls, evaluate  # noqa: E402
from gan.data import load  # noqa: E402
from gan.encoder import TrainedEncoder  # noqa: E402
from gan.encoder import train as train_classifier  # noqa: E402
from gan.images import grid  # noqa: E402
from pipeline.core import catalog, png  # noqa: E402
from pipeline.core.settings import Settings  # noqa: E402
from pipeline.design import session  # noqa: E402

TARGETS = {"recolour_colour": 0.85, "recolour_type": 0.90, "item_closer": 0.50,
           "item_recolour_type": 0.90, "blend": 0.80, "studio_s": 1.0}
DESIGNS_PER_PAIR = 8
BLEND_STEPS = 6
RECOLOURS = 3   # a redrawn item goes into the catalogue's most common colours but its own
KEEP_SHARES = (0.0, 0.25, 0.5, 1.0)
STUDIO_REQUESTS = 50


def prepare(args) -> Settings:
    """A home with a champion for the catalogue (trained here unless ``--home`` has one)."""
    from gan.run import train_gan
    from pipeline.core.names import GAN_MODEL

    home = args.home or Path(tempfile.mkdtemp(prefix="stylecast-bench-controls-"))
    settings = Settings(home=str(home), workers=os.cpu_count() or 1)
    if not (home / "items").exists():
        ingest_catalogue(home)
    try:
        session.resolve(settings)
    except Exception:   # no champion yet: train one as `stylecast gan train` does
        summary = train_gan(settings, "items", "small", None, None, "bench-controls",
                            max_minutes=args.minutes)
        print(f"trained {GAN_MODEL} v{summary['model_version']}: {summary['steps']} steps",
              flush=True)
    return settings


def separate_judge(home: Path, train, test) -> TrainedEncoder:
    path = home / "bench-judge.pt"
    if path.exists():
        return TrainedEncoder.load(path)
    judge = train_classifier(train, test, "metric", seed=1)
    judge.save(path)
    return judge


def real_accuracy(judge: TrainedEncoder, test, condition: torch.Tensor) -> torch.Tensor:
    """(A,) the judge's per-attribute accuracy on held-out real photos of ``condition``."""
    members = test.images[(test.labels == condition).all(dim=1)]
    return (judge.predict(members) == condition).float().mean(0)


def seen(judge: TrainedEncoder, images: torch.Tensor) -> torch.Tensor:
    return judge.predict(images)


def measure_recolour(studio: session.DesignSession, judges, test, pairs) -> dict:
    """Per judge: asked colour seen / type kept, as shares of real accuracy (ratio of means
    over recolour targets), and the sheet's rows."""
    colour = studio.attribute(None, "colour")
    kind = 1 - colour
    totals = {name: {"colour": [], "type": [], "colour_real": [], "type_real": []}
              for name in judges}
    sheet = []
    for target in pairs:
        sources = [p for p in pairs if p[kind] == target[kind] and p[colour] != target[colour]]
        if not sources:
            continue
        value = studio.vocabulary.values(studio.vocabulary.names[colour])[int(target[colour])]
        recoloured = []
        for source in sources:
            drawn = studio.draw(condition_text(studio, source), DESIGNS_PER_PAIR, seed=11)
            found = [studio.recondition(d.design_id, [value])[0] for d in drawn]
            recoloured += found
            if len(sheet) < 3:
                sheet.append((drawn[:6], found[:6]))
        images = images_of(studio, recoloured)
        for name, judge in judges.items():
            predicted = seen(judge, images)
            real = real_accuracy(judge, test, target)
            totals[name]["colour"].append(float((predicted[:, colour] == target[colour])
                                                .float().mean()))
            totals[name]["type"].append(float((predicted[:, kind] == target[kind])
                                              .float().mean()))
            totals[name]["colour_real"].append(float(real[colour]))
            totals[name]["type_real"].append(float(real[kind]))
    out = {name: {"colour": ratio(t["colour"], t["colour_real"]),
                  "type": ratio(t["type"], t["type_real"]),
                  "colour_raw": statistics.mean(t["colour"]),
                  "type_raw": statistics.mean(t["type"]), "targets": len(t["colour"])}
           for name, t in totals.items()}
    return {"scores": out, "sheet": sheet}


def ratio(hits: list[float], real: list[float]) -> float:
    return statistics.mean(hits) / statistics.mean(real)


def condition_text(studio: session.DesignSession, row: torch.Tensor) -> str:
    names = studio.vocabulary.names
    return ",".join(f"{n}={studio.vocabulary.values(n)[int(v)]}"
                    for n, v in zip(names, row, strict=True) if int(v))


def images_of(studio: session.DesignSession, found) -> torch.Tensor:
    from pipeline.design import records

    return torch.from_numpy(np.stack([png.decode(records.image(studio.settings, r.design_id))
                                      for r in found])).permute(0, 3, 1, 2).contiguous()


def held_out_items(settings: Settings, n: int, seed: int = 0) -> list[str]:
    table = catalog.ITEMS.scan(settings, columns=["item_id", "sha256", "image_png"])
    frame = table.to_pandas()
    frame = frame[frame["image_png"].notna() & (frame["sha256"].str[:2].apply(int, base=16)
                                                < 26)]   # gan.data's held-out rule
    return frame.sample(n=min(n, len(frame)), random_state=seed)["item_id"].tolist()


def measure_items(studio: session.DesignSession, judges, test, items: list[str],
                  banks: dict[str, tuple[list[str], torch.Tensor]], steps: int) -> dict:
    colour = studio.attribute(None, "colour")
    kind = 1 - colour
    closer = {name: [] for name in judges}
    kept = {name: [] for name in judges}
    kept_real = {name: [] for name in judges}
    shown, seconds = [], []
    common = common_colours(studio, test, colour)
    for item in items:
        start = time.perf_counter()
        record = studio.from_item(item, steps=steps, reuse=False)
        seconds.append(time.perf_counter() - start)
        photo = torch.from_numpy(png.decode(studio.bank.pngs[item])).permute(2, 0, 1)[None]
        redrawn = images_of(studio, [record])
        labels = studio.vocabulary.encode([record.condition])[0]
        others = [v for v in common
                  if v != record.condition[studio.vocabulary.names[colour]]][:RECOLOURS]
        recoloured = images_of(studio, studio.recondition(record.design_id, others))
        if len(shown) < 3:
            shown.append((photo, redrawn, recoloured))
        for name, judge in judges.items():
            ids, features = banks[name]
            own = judge.embed(photo)
            mine = ids.index(item)
            distances = torch.cdist(own, features)[0]
            distances[mine] = float("inf")
            nearest_other = float(distances.min())
            closer[name].append(float(torch.cdist(own, judge.embed(redrawn))[0, 0])
                                < nearest_other)
            predicted = seen(judge, recoloured)
            kept[name].append(float((predicted[:, kind] == labels[kind]).float().mean()))
            kept_real[name].append(float(real_type_accuracy(judge, test, labels[kind], kind)))
    return {"closer": {n: statistics.mean(v) for n, v in closer.items()},
            "kept": {n: ratio(kept[n], kept_real[n]) for n in judges},
            "kept_raw": {n: statistics.mean(kept[n]) for n in judges},
            "seconds": statistics.median(seconds), "n": len(items), "shown": shown}


def measure_keep(studio: session.DesignSession, judge: TrainedEncoder, test,
                 items: list[str]) -> dict[float, tuple[float, float]]:
    """How much of a redrawn item's departure from its condition a recolour should keep
    (``controls.RECONDITION_KEEP``), on tuning items apart from those reported: per share,
    the type kept as a share of real accuracy and the mean distance of the recolours to the
    photo (the separate judge's space; smaller: more like the item)."""
    colour = studio.attribute(None, "colour")
    kind = 1 - colour
    common = common_colours(studio, test, colour)
    kept = {k: [] for k in KEEP_SHARES}
    distance = {k: [] for k in KEEP_SHARES}
    real = []
    for item in items:
        # Inverted here: a redrawing stored by an earlier run (gan_inversion_tuning.py's
        # settings) is not today's inversion.
        latent = session.latent_of(studio.from_item(item, reuse=False), studio.vocabulary)
        own = judge.embed(torch.from_numpy(png.decode(studio.bank.pngs[item]))
                          .permute(2, 0, 1)[None])
        names = studio.vocabulary.values(studio.vocabulary.names[colour])
        others = [names.index(v) for v in common if names.index(v) != int(latent.labels[colour])]
        real.append(real_type_accuracy(judge, test, latent.labels[kind], kind))
        for share in KEEP_SHARES:
            images = controls.render(studio.generator, [
                controls.recondition(studio.generator, latent, colour, v, keep=share)
                for v in others[:RECOLOURS]])
            kept[share].append(float((judge.predict(images)[:, kind] == latent.labels[kind])
                                     .float().mean()))
            distance[share].append(float(torch.cdist(own, judge.embed(images)).mean()))
    return {k: (ratio(kept[k], real), statistics.mean(distance[k])) for k in KEEP_SHARES}


def common_colours(studio: session.DesignSession, test, colour: int) -> list[str]:
    """The catalogue's most common colours (one more than a redrawing is recoloured into,
    so that its own can be left out)."""
    values = studio.vocabulary.values(studio.vocabulary.names[colour])
    counts = torch.bincount(test.labels[:, colour], minlength=len(values))
    counts[0] = 0   # unknown
    return [values[int(i)] for i in counts.argsort(descending=True)[:RECOLOURS + 1]]


def real_type_accuracy(judge: TrainedEncoder, test, value: torch.Tensor, kind: int) -> float:
    members = test.images[test.labels[:, kind] == value]
    if not len(members):
        return float("nan")
    return float((judge.predict(members)[:, kind] == value).float().mean())


def feature_bank(judge: TrainedEncoder, studio: session.DesignSession
                 ) -> tuple[list[str], torch.Tensor]:
    ids = studio.bank.item_ids
    out = []
    for start in range(0, len(ids), 2048):
        pixels = np.stack([png.decode(studio.bank.pngs[i]) for i in ids[start:start + 2048]])
        out.append(judge.embed(torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()))
    return ids, torch.cat(out)


def measure_blend(studio: session.DesignSession, judges, pairs, n_pairs: int, seed: int,
                  sharpness: float | None = None) -> dict:
    kind = 1 - studio.attribute(None, "colour")
    ends = []
    for row in pairs:
        drawn = studio.draw(condition_text(studio, row), DESIGNS_PER_PAIR, seed=seed)
        passing = [d for d in drawn if d.checks["passed"]]
        if passing:
            ends.append((row, passing[0]))
    couples = [(a, b) for i, a in enumerate(ends) for b in ends[i + 1:]
               if a[0][kind] != b[0][kind]][:n_pairs]
    success = {name: [] for name in judges}
    strips = []
    for (row_a, a), (row_b, b) in couples:
        steps = studio.blend(a.design_id, b.design_id, BLEND_STEPS, sharpness)
        images = images_of(studio, steps)
        flagged = any(not s.checks["recognised"] or "unlike any real item" in s.checks["reason"]
                      for s in steps)
        if len(strips) < 4:
            strips.append(images)
        for name, judge in judges.items():
            types = seen(judge, images)[:, kind]
            ok = all(int(t) in (int(row_a[kind]), int(row_b[kind])) for t in types)
            success[name].append(ok and not flagged)
    return {"success": {n: statistics.mean(v) for n, v in success.items()},
            "pairs": len(couples), "strips": strips}


PREPARED = "from a real item, redrawn ahead of time"
FRESH = "from a real item, not redrawn before (an inversion)"
STUDIO_ITEMS = 20


def measure_studio(settings: Settings, items: list[str]) -> dict[str, tuple[float, float]]:
    """Answer times over HTTP, per control, after start-up; ``items`` stand for the items
    the studio shows beside a week's styles: `stylecast design prepare` redraws them first,
    as the studio's start does for the shown ones (timed: that is where an inversion's
    seconds go)."""
    env = {**os.environ, "STYLECAST_HOME": settings.home,
           "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}
    prepared = subprocess.run([sys.executable, "-m", "pipeline.cli", "design", "prepare",
                               *items], env=env, capture_output=True, text=True, check=True)
    done = json.loads(prepared.stdout.strip().splitlines()[-1])
    port = free_port()
    server = Service("studio", [sys.executable, "-m", "pipeline.cli", "studio", "--port",
                                str(port)], env, Path(settings.home).parent)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/state", server, timeout=600)
        draw = post(base, "/api/draw", {"condition": "", "n": 6})[1]["designs"]
        a, b = draw[0]["design_id"], draw[1]["design_id"]
        state = get(base, "/api/state")
        names = list(state["vocabulary"])
        colours, kinds = state["vocabulary"][names[1]][1:], state["vocabulary"][names[0]][1:]
        requests = {
            "draw (6 designs)": lambda i: ("/api/draw", {"condition": "", "n": 6, "seed": i}),
            "vary (6 designs)": lambda i: ("/api/vary", {"design": a, "n": 6, "seed": i}),
            "recolour": lambda i: ("/api/recolour", {"design": a,
                                                     "values": [colours[i % len(colours)]]}),
            "re-cut": lambda i: ("/api/recut", {"design": a, "values": [kinds[i % len(kinds)]]}),
            "blend (6 steps)": lambda i: ("/api/blend", {"first": a, "second": b, "steps": 6}),
            # What a click on a shown item asks (default steps and seed).
            PREPARED: lambda i: ("/api/from-item", {"item": items[i % len(items)]}),
            # Another seed per request: an inversion every time, as for an item no one
            # redrew ahead of time.
            FRESH: lambda i: ("/api/from-item", {"item": items[i % len(items)], "seed": i + 1}),
        }
        out = {}
        for name, make in requests.items():
            times = []
            for i in range(STUDIO_REQUESTS):
                path, body = make(i)
                times.append(post(base, path, body)[0])
            out[name] = (statistics.median(times), float(np.percentile(times, 95)))
        out["prepare"] = (done["seconds"] / max(1, done["redrawn"]), float(done["redrawn"]))
        return out
    finally:
        server.stop()


def get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=60) as response:
        return json.loads(response.read())


def post(base: str, path: str, body: dict) -> tuple[float, dict]:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        data = json.loads(response.read())
    return time.perf_counter() - start, data


def save_sheets(studio: session.DesignSession, folder: Path, recolour_sheet, item_rows,
                strips) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for drawn, recoloured in recolour_sheet:
        rows += [images_of(studio, drawn), images_of(studio, recoloured)]
    grid(torch.cat(rows), columns=6).save(folder / "recolour.png", optimize=True)
    grid(torch.cat(strips), columns=BLEND_STEPS).save(folder / "blend.png", optimize=True)
    redraw = [torch.cat([photo, redrawn, recoloured]) for photo, redrawn, recoloured
              in item_rows]
    grid(torch.cat(redraw), columns=len(redraw[0])).save(folder / "from_item.png",
                                                           optimize=True)
    return ["recolour.png", "blend.png", "from_item.png"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--tune-items", type=int, default=20)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--keep-items", type=int, default=40,
                        help="Tuning items for the recolour's kept share (apart from both).")
    parser.add_argument("--blend-pairs", type=int, default=20)
    parser.add_argument("--invert-steps", type=int, default=controls.INVERT_STEPS)
    parser.add_argument("--skip-studio", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCHMARKS / "results/gan_controls.md")
    args = parser.parse_args()
    started = time.perf_counter()
    settings = prepare(args)
    home = Path(settings.home)
    train = load("items", "train", settings)
    test = load("items", "test", settings, vocabulary=train.vocabulary)
    studio = session.DesignSession(settings)
    judges = {"metric classifier": studio.judge,
              "separate judge": separate_judge(home, train, test)}
    pairs = evaluate.probe_conditions(test, args.pairs, evaluate.PROBE_MIN_REAL * 2)
    recolour = measure_recolour(studio, judges, test, pairs)
    print("recolour", recolour["scores"], flush=True)
    banks = {name: feature_bank(judge, studio) for name, judge in judges.items()}
    items = held_out_items(settings, args.tune_items + args.items)
    keep_items = [i for i in held_out_items(settings, 10 * args.keep_items, seed=7)
                  if i not in items][:args.keep_items]
    keep = measure_keep(studio, judges["separate judge"], test, keep_items)
    print("keep", keep, flush=True)
    tuning = measure_items(studio, judges, test, items[:args.tune_items], banks,
                           args.invert_steps)
    reported = measure_items(studio, judges, test, items[args.tune_items:], banks,
                             args.invert_steps)
    print("items", {k: v for k, v in reported.items() if k != "shown"}, flush=True)
    blend_tuning = measure_blend(studio, judges, pairs, args.blend_pairs, seed=23)
    blend = measure_blend(studio, judges, pairs, args.blend_pairs, seed=29)
    blend_linear = measure_blend(studio, judges, pairs, args.blend_pairs, seed=29, sharpness=0)
    print("blend", {k: v for k, v in blend.items() if k != "strips"}, flush=True)
    sheets = save_sheets(studio, args.out.parent / "gan_controls", recolour["sheet"],
                         reported["shown"], blend["strips"])
    studio_items = [i for i in held_out_items(settings, 10 * STUDIO_ITEMS, seed=11)
                    if i not in items and i not in keep_items][:STUDIO_ITEMS]
    timings = {} if args.skip_studio else measure_studio(settings, studio_items)
    args.out.write_text(report(args, studio, train, test, judges, recolour, tuning, reported,
                               keep, blend, blend_tuning, blend_linear, timings, sheets,
                               time.perf_counter() - started))
    print(args.out.read_text())


def mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def report(args, studio, train, test, judges, recolour, tuning, reported, keep, blend,
           blend_tuning, blend_linear, timings, sheets, seconds) -> str:
    names = list(judges)
    lines = [
        "# Design controls on the real product catalogue", "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, torch "
        f"{torch.__version__}, CPU only; date {time.strftime('%Y-%m-%d')}. Generator: "
        f"{studio.model.uri} (the `small` CPU recipe, {args.minutes:g} minutes, "
        f"fashion-product-images-small: {len(train)} training and {len(test)} held-out "
        "photos). Every control runs through `pipeline.design.session.DesignSession`, the "
        "code path of `stylecast design` and the studio; every design it made is stored "
        "and redraws from its record.",
        "Judges: the product's metric classifier (it checks every design, and the inversion "
        "matches features in its space) and a separate judge (the same recipe, seed 1, "
        "trained here, never used by the product); held-out accuracy "
        + "; ".join(f"{n}: " + ", ".join(f"{k} {v:.3f}" for k, v in j.test_accuracy.items())
                    for n, j in judges.items()) + ".", "",
        "## Targets", "",
        "| target | " + " | ".join(names) + " | met (separate judge) |",
        "| --- | " + " | ".join("---:" for _ in names) + " | :---: |",
    ]
    rec = recolour["scores"]
    rows = [
        ("recolour: asked colour seen, vs real >= 0.85", {n: rec[n]["colour"] for n in names},
         TARGETS["recolour_colour"]),
        ("recolour: type kept, vs real >= 0.90", {n: rec[n]["type"] for n in names},
         TARGETS["recolour_type"]),
        (f"from a real item: redrawing closer than the item's nearest other photo >= 0.50 "
         f"({reported['n']} held-out items)", reported["closer"], TARGETS["item_closer"]),
        ("from a real item, recoloured: type kept, vs real >= 0.90", reported["kept"],
         TARGETS["item_recolour_type"]),
        (f"blend: pairs whose every step is one of its ends' types and none is flagged >= 0.80 "
         f"({blend['pairs']} pairs)", blend["success"], TARGETS["blend"]),
    ]
    for label, values, target in rows:
        lines.append(f"| {label} | " + " | ".join(f"{values[n]:.3f}" for n in names)
                     + f" | {mark(values[names[-1]] >= target)} |")
    lines += ["", f"Recolour targets: {rec[names[-1]]['targets']} (type, colour) pairs; raw "
              "rates (separate judge): colour seen "
              f"{rec[names[-1]]['colour_raw']:.3f}, type kept {rec[names[-1]]['type_raw']:.3f}."
              f" Inversion: {args.invert_steps} steps, {controls.INVERT_STARTS} start(s), the best "
              f"of {controls.INVERT_CANDIDATES} noise draws, median "
              f"{reported['seconds']:.2f} s per item in the session.", "",
              f"The same on the {tuning['n']} tuning items (the inversion's settings were chosen "
              "on these): closer " + ", ".join(f"{n} {tuning['closer'][n]:.3f}" for n in names)
              + "; type kept after recolour " + ", ".join(f"{n} {tuning['kept'][n]:.3f}"
                                                           for n in names) + "."
              " Blends (designs drawn with seed 29) use a condition that moves along a "
              f"logistic curve of sharpness {controls.BLEND_SHARPNESS:g} while the noise "
              "moves evenly; the sharpness was chosen on other blends (seed 23), where "
              "pairs succeeded " + ", ".join(f"{n} {blend_tuning['success'][n]:.3f}"
                                              for n in names)
              + ". The same reported pairs blended with a straight-line condition (the "
              "plain interpolation) succeed " + ", ".join(
                  f"{n} {blend_linear['success'][n]:.3f}" for n in names) + "."]
    lines += ["", f"## Recolouring a redrawn item: how much of it to keep ({args.keep_items} "
              "other tuning items, separate judge)", "",
              "A redrawn item departs from its condition (the inversion's offset and layer "
              "residuals); a recolour keeps a share of that departure "
              f"(`controls.RECONDITION_KEEP` = {controls.RECONDITION_KEEP:g}, chosen here).", "",
              "| share kept | type kept, vs real | mean distance of the recolours to the photo |",
              "| ---: | ---: | ---: |"]
    lines += [f"| {share:g} | {kept:.3f} | {distance:.2f} |"
              for share, (kept, distance) in keep.items()]
    if timings:
        lines += ["", "## Studio: answer time over HTTP after start-up "
                  f"({STUDIO_REQUESTS} requests per control)", "",
                  "| control | median s | 95th percentile s | vs the 1 s target (p95) | met |",
                  "| --- | ---: | ---: | ---: | :---: |"]
        prepare = timings.pop("prepare")
        for name, (median, p95) in timings.items():
            lines.append(f"| {name} | {median:.3f} | {p95:.3f} | "
                         f"{p95 / TARGETS['studio_s']:.2f} | "
                         f"{mark(p95 < TARGETS['studio_s'])} |")
        lines += ["", f"The {STUDIO_REQUESTS} requests of \"{PREPARED}\" cycle over "
                  f"{STUDIO_ITEMS} held-out items that `stylecast design prepare` redrew "
                  f"before the studio started ({prepare[1]:.0f} inversions, "
                  f"{prepare[0]:.2f} s each, as the studio's start does for the items it "
                  "shows beside the latest week's styles); \"" + FRESH + "\" asks for the "
                  "same items under another seed each time, an inversion per request."]
    lines += ["", "Sheets: " + ", ".join(f"[{s}](gan_controls/{s})" for s in sheets) + ". "
              "recolour.png: rows in pairs, designs as drawn then the same noise recoloured; "
              "blend.png: one blend per row, end to end; from_item.png: per row the held-out "
              "photo, its redrawing, then the redrawing recoloured.", "",
              f"_Run took {seconds / 60:.1f} min._", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
