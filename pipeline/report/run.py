"""``stylecast report --week W``: gather the week's outputs, render, publish, log to MLflow.

``reports/W/`` holds ``index.html`` (opens from disk: inline CSS, images as files in
``img/``), ``report.json`` and ``summary.md``. The folder is built in staging and swapped in
whole, so a reader never sees half a report; a re-run replaces it.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from pipeline.core import catalog, layout, png, storage
from pipeline.core.catalog import read_styles
from pipeline.core.errors import UnusableInputError
from pipeline.core.rights import RIGHTS_COLUMNS
from pipeline.core.settings import Settings
from pipeline.core.weeks import iso_week, parse_week
from pipeline.report import charts, content, render, why

EXPERIMENT = "stylecast-report"
WITHHELD_IMAGE = "img/withheld.png"


def gather(settings: Settings, week: str) -> content.ReportInputs:
    inputs = content.ReportInputs(week=week)
    inputs.history = catalog.SERIES.read_frame(settings, week)
    inputs.forecasts = catalog.FORECASTS.read_frame(settings, week)
    inputs.trends = catalog.TRENDS.read_frame(settings, week)
    inputs.backtest = catalog.BACKTEST.read_frame(settings, week)
    inputs.problems = catalog.FORECAST_PROBLEMS.read_frame(settings, week)
    for frame in (inputs.history, inputs.forecasts):
        if frame is not None:
            frame["ds"] = pd.to_datetime(frame["ds"])
    try:
        inputs.styles = read_styles(settings, week).to_pandas()
    except UnusableInputError:
        inputs.styles = None
    inputs.concepts = content.with_concept_defaults(catalog.CONCEPTS.read_frame(settings, week))
    if inputs.concepts is None:
        inputs.concepts_note = ("No generated concepts: there is no GAN champion yet (train "
                                "one with the stylecast_gan_training DAG or `stylecast gan "
                                "train`), or the concepts step has not run for this week.")
    counts = catalog.ITEMS.row_counts(settings)
    if counts:
        seen = sorted(w for w in counts if w <= week)  # may be none: a week before all data
        inputs.weekly_items = pd.Series([counts[w] for w in seen], dtype="int64", name="count",
                                        index=pd.Index(seen, dtype=object))
    duplicates = catalog.DUPLICATES.scan(settings, columns=["item_id"])
    inputs.duplicates = 0 if duplicates is None else duplicates.num_rows
    quarantine = catalog.QUARANTINE.scan(settings, columns=["reason"])
    if quarantine is not None:
        inputs.quarantined = dict(Counter(quarantine["reason"].to_pylist()))
    inputs.grades = catalog.CALL_GRADES.read_frame(settings, week)
    inputs.erasures = _erasures(settings, week)
    return inputs


def _erasures(settings: Settings, week: str) -> list[dict]:
    """The audit log's erasures that removed items of this week or earlier ones."""
    try:
        lines = storage.read_bytes(catalog.AUDIT_LOG.path(settings)).decode().splitlines()
    except FileNotFoundError:
        return []
    entries = [json.loads(line) for line in lines if line.strip()]
    return [e for e in entries if any(w <= week for w in e.get("weeks", []))]


def explain(settings: Settings, week: str, uids: list[str]) -> dict[str, dict]:
    """Each series' share change from the weeks a year earlier (or, without them, the weeks
    just before) to the latest weeks, decomposed by source, city and attribute value."""
    weeks = [w for w in catalog.ITEMS.weeks(settings) if w <= week]
    recent = weeks[-content.RECENT_WEEKS:]
    if not recent or not uids:
        return {}
    year_before = {_shift(w, -52) for w in recent} & set(weeks)
    earlier, earlier_label = (sorted(year_before), "the same weeks a year earlier")
    if not earlier or not _styled(settings, earlier[-1], earlier):
        earlier = weeks[-2 * content.RECENT_WEEKS:-content.RECENT_WEEKS]
        earlier_label = f"the {len(earlier)} weeks before"
    table = catalog.scan_items(settings, "analyse", weeks=earlier + recent,
                               columns=["item_id", "iso_week", "source", "attributes"])
    if table is None or not earlier:
        return {}
    items = table.to_pandas()
    attributes = pd.DataFrame([dict(a or []) for a in items.pop("attributes")],
                              index=items.index)
    items = items.join(attributes)
    styles = _memberships(settings, week, earlier[-1], uids)
    items["style"] = items["item_id"].map(styles)
    groupings = ["source", *(c for c in attributes.columns)]
    out = {}
    for uid in uids:
        in_series, labelled = _membership_of(uid, items)
        if in_series is None:
            continue
        frame = items[labelled].assign(in_series=in_series[labelled])
        change = why.share_change(frame[frame["iso_week"].isin(earlier)],
                                  frame[frame["iso_week"].isin(recent)],
                                  [g for g in groupings if g != uid.split("=", 1)[0]])
        out[uid] = {**change, "earlier_label": earlier_label,
                    "recent_label": f"the last {len(recent)} weeks"}
    return out


def _shift(week: str, weeks: int) -> str:
    return iso_week(parse_week(week) + pd.Timedelta(weeks=weeks))


def _styled(settings: Settings, last: str, period: list[str]) -> bool:
    """Whether a styles run holds the items of these weeks (its window covers them)."""
    runs = [w for w in catalog.MEMBERSHIPS.weeks(settings) if w >= last]
    return bool(runs) and runs[0] <= _shift(period[0], 26)


def _memberships(settings: Settings, week: str, earlier_last: str,
                 uids: list[str]) -> pd.Series:
    """item_id -> style_id from the runs whose windows hold the two periods."""
    if not any(u.startswith("style=") for u in uids):
        return pd.Series(dtype=object)
    runs = catalog.MEMBERSHIPS.weeks(settings)
    chosen = {max((w for w in runs if w <= week), default=None),
              min((w for w in runs if w >= earlier_last), default=None)} - {None}
    tables = [catalog.MEMBERSHIPS.read(settings, w, columns=["item_id", "style_id"])
              for w in sorted(chosen)]
    frames = [t.to_pandas() for t in tables if t is not None]
    members = pd.concat(frames).drop_duplicates("item_id", keep="last") if frames else None
    return pd.Series(dtype=object) if members is None else members.set_index("item_id")[
        "style_id"]


def _membership_of(uid: str, items: pd.DataFrame) -> tuple[pd.Series | None, pd.Series]:
    """Which items are in the series, and which items its share is taken among."""
    key, value = uid.split("=", 1)
    everyone = pd.Series(True, index=items.index)
    if key == "style":
        return items["style"] == value, everyone
    if "|" in uid or key not in items.columns:   # a city-crossed value: no decomposition
        return None, everyone
    return items[key] == value, items[key].notna()


def _image_name(key: str) -> str:
    return "img/" + layout.content_key(key.encode()) + ".png"


def _item_pngs(settings: Settings, item_ids: set[str]
               ) -> tuple[dict[str, bytes], dict[str, str]]:
    """The photos of these items that their rights let the report show, and why each other
    one is withheld (an item no longer stored is neither)."""
    if not item_ids:
        return {}, {}
    table = catalog.ITEMS.scan(settings, columns=["item_id", "image_png", *RIGHTS_COLUMNS],
                               filter=pc.field("item_id").isin(sorted(item_ids)))
    if table is None:
        return {}, {}
    policy = catalog.read_policy(settings)
    shown, withheld = {}, {}
    for row in table.to_pylist():
        if not row["image_png"]:
            continue
        why = policy.reason(row["source"], row["licence"], row["uses"], "display")
        if why:
            withheld[row["item_id"]] = why
        else:
            shown[row["item_id"]] = row["image_png"]
    return shown, withheld


def _placeholder() -> bytes:
    """The neutral tile shown where an item's photo may not be displayed."""
    import numpy as np

    return png.encode(np.full((64, 64, 3), 232, np.uint8))


def render_files(settings: Settings, inputs: content.ReportInputs, report: dict,
                 folder: Path) -> None:
    """Write charts, images, index.html, report.json and summary.md into ``folder``."""
    (folder / "img").mkdir(parents=True)
    files: dict[str, bytes] = {}
    for h in report["highlighted"]:
        if h["insufficient_history"]:
            continue
        uid = h["unique_id"]
        h["chart"] = _image_name("chart:" + uid)
        files[h["chart"]] = charts.fan_chart(
            inputs.history[inputs.history["unique_id"] == uid],
            inputs.forecasts[inputs.forecasts["unique_id"] == uid], h["name"],
            baseline=h.get("base_level"))
    for graded in report["track_record"]["best"] + report["track_record"]["worst"]:
        uid = graded["unique_id"]
        graded["chart"] = _image_name(f"call:{graded['week']}:{uid}")
        title = f"{graded['name']}: called {graded['label']}, came out {graded['outcome']}"
        files[graded["chart"]] = charts.call_chart(
            inputs.history[inputs.history["unique_id"] == uid], graded, title)
    attribute_charts = {}
    for attribute in report["attributes"]:
        ids = inputs.history["unique_id"]
        mine = inputs.history[ids.str.startswith(attribute + "=") & ~ids.str.contains("|",
                                                                                      regex=False)]
        attribute_charts[attribute] = _image_name("attribute:" + attribute)
        files[attribute_charts[attribute]] = charts.small_multiples(attribute, mine,
                                                                    inputs.forecasts)
    wanted = {i for h in report["highlighted"] for i in h["representatives"]}
    wanted |= {c["nearest_item_id"] for c in report["concepts"]["items"] if c["too_close"]}
    images = {}
    shown, withheld = _item_pngs(settings, wanted)
    for item, data in shown.items():
        images[item] = _image_name("item:" + item)
        files[images[item]] = data
    if withheld:
        files[WITHHELD_IMAGE] = _placeholder()
        images.update(dict.fromkeys(withheld, WITHHELD_IMAGE))
    if inputs.concepts is not None:  # a dropped concept is counted, not shown or kept
        shown = {c["concept_id"] for c in report["concepts"]["items"]}
        for cid, png in zip(inputs.concepts["concept_id"], inputs.concepts["image_png"],
                            strict=True):
            if cid in shown:
                images[cid] = _image_name("concept:" + cid)
                files[images[cid]] = png
    for h in report["highlighted"]:  # an item that vanished from the store is not shown
        h["representatives"] = [i for i in h["representatives"] if i in images]
    for name, data in files.items():
        (folder / name).write_bytes(data)
    report["withheld"] = withheld
    (folder / "index.html").write_text(render.html(report, images, attribute_charts))
    (folder / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (folder / "summary.md").write_text(render.markdown(report))


def build_report(settings: Settings, week: str, track: bool = True) -> dict[str, object]:
    parse_week(week)
    if track:  # an unreachable server fails now, not after the rendering
        from pipeline.core.tracking import check_reachable

        check_reachable(settings.mlflow_tracking_uri)
    inputs = gather(settings, week)
    inputs.share_changes = explain(settings, week, content.highlighted_ids(
        inputs, content.headline(inputs)))
    generated_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = content.build(inputs, generated_at)
    digest = layout.content_key(json.dumps({**report, "generated_at": None}, sort_keys=True,
                                           default=str).encode())
    with storage.staging_dir(settings.home, f"report-{week}") as staging:
        folder = staging / week
        render_files(settings, inputs, report, folder)
        run_id = _log(settings, week, folder, report, digest) if track else None
        dest = catalog.REPORTS.publish(settings, folder, week)
    return {"week": week, "html": storage.join(dest, "index.html"),
            "json": storage.join(dest, "report.json"), "mlflow_run_id": run_id,
            "rising": len(report["headline"]["rising"]),
            "declining": len(report["headline"]["declining"]),
            "highlighted": len(report["highlighted"]), "has_data": report["has_data"]}


def _log(settings: Settings, week: str, folder: Path, report: dict, digest: str) -> str:
    from pipeline.core.tracking import mlflow_run

    with mlflow_run(settings, EXPERIMENT, f"report-{week}", digest, {"week": week}) as run:
        import mlflow

        health = report["data_health"]
        mlflow.log_metrics({"report.rising": len(report["headline"]["rising"]),
                            "report.declining": len(report["headline"]["declining"]),
                            "report.emerging": len(report["headline"]["emerging"]),
                            "data.items_total": health["items_total"],
                            "data.items_this_week": health["items_this_week"],
                            "data.quarantined": health["quarantined"],
                            "concepts.count": len(report["concepts"]["items"])})
        _log_rights(settings, week)
        mlflow.log_artifacts(str(folder), artifact_path="report")
        return run.info.run_id


def _log_rights(settings: Settings, week: str) -> None:
    """The run's items (up to its week) by licence and by the uses the policy allows them."""
    import mlflow

    from pipeline.core.rights import counts_by_licence

    weeks = [w for w in catalog.ITEMS.weeks(settings) if w <= week]
    items = catalog.ITEMS.scan(settings, weeks, columns=RIGHTS_COLUMNS) if weeks else None
    if items is None:
        return
    policy = catalog.read_policy(settings)
    mlflow.log_metrics({k: float(v) for k, v in counts_by_licence(items, policy).items()})
    mlflow.set_tag("stylecast.rights_policy", f"revision {policy.revision} ({policy.digest})")


def summary_markdown(settings: Settings, week: str) -> str:
    return storage.read_bytes(storage.join(catalog.REPORTS.path(settings, week), "summary.md")
                              ).decode()

