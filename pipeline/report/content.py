"""What the weekly report says, as plain data. Pure: frames in, a JSON-able dict out.

``report.json`` is this dict; the HTML and Markdown renderings only format it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting import calls
from pipeline.core.names import DEFAULT_STUDIO_URL, STUDIO_URL_ENV
from pipeline.report import why

HEADLINE_SIZE = 5
HIGHLIGHTS_PER_DIRECTION = 3
THIN_WEEK_FRACTION = 0.5     # a week with under half the median weekly items is thin
HEALTH_WINDOW_WEEKS = 26
INSUFFICIENT = {"short_series", "constant_series"}
RECENT_WEEKS = 12            # "items behind it": the items of the series in these weeks
BEST_AND_WORST = 2


@dataclass
class ReportInputs:
    """Everything the weekly steps left for one week; any part may be missing (None)."""
    week: str
    history: pd.DataFrame | None = None     # unique_id, ds, y, kind, count, n
    forecasts: pd.DataFrame | None = None   # unique_id, ds, model, yhat, yhat_lo_80, ...
    trends: pd.DataFrame | None = None
    backtest: pd.DataFrame | None = None
    problems: pd.DataFrame | None = None
    styles: pd.DataFrame | None = None      # active styles of the week
    concepts: pd.DataFrame | None = None
    concepts_note: str | None = None
    weekly_items: pd.Series = field(  # ISO week -> items observed
        default_factory=lambda: pd.Series(dtype=int, index=pd.Index([], dtype=object)))
    duplicates: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    grades: pd.DataFrame | None = None      # earlier weeks' calls graded this week
    share_changes: dict[str, dict] = field(default_factory=dict)   # uid -> why.share_change
    erasures: list[dict] = field(default_factory=list)   # audit entries touching weeks <= it


def _label(uid: str, styles: pd.DataFrame | None) -> str:
    if uid.startswith("style=") and styles is not None:
        found = styles.loc[styles["style_id"] == uid.split("=", 1)[1], "description"]
        if len(found):
            return f"{uid.split('=', 1)[1]} · {found.iloc[0]}"
    return uid


def insufficient_ids(inputs: ReportInputs) -> set[str]:
    if inputs.problems is None or inputs.problems.empty:
        return set()
    return set(inputs.problems.loc[inputs.problems["reason"].isin(INSUFFICIENT), "unique_id"])


def headline(inputs: ReportInputs) -> dict[str, list[dict]]:
    """Rising / declining sorted by score = probability x expected change; emerging by growth.

    Series forecast by the fallback (too little history) are left out: their direction
    would be a guess dressed as a call.
    """
    if inputs.trends is None or inputs.trends.empty:
        return {"rising": [], "declining": [], "emerging": [], "emerging_in_rising": 0}
    trends = inputs.trends[~inputs.trends["unique_id"].isin(insufficient_ids(inputs))].copy()
    trends = trends[trends["growth"].notna() & trends["probability"].notna()]
    trends["score"] = trends["probability"] * trends["growth"].abs()

    def entries(frame: pd.DataFrame) -> list[dict]:
        return [{"unique_id": r.unique_id, "name": _label(r.unique_id, inputs.styles),
                 "kind": "style" if r.unique_id.startswith("style=") else "attribute",
                 "label": r.label, "probability": round(float(r.probability), 3),
                 "expected_change": round(float(r.growth), 4), "score": round(float(r.score), 4)}
                for r in frame.head(HEADLINE_SIZE).itertuples()]

    by_score = trends.sort_values("score", ascending=False)
    rising = entries(by_score[by_score["label"] == "rising"])
    # Emerging: rising from a low base. Those already listed under "Rising" are not
    # repeated; the section says how many there were.
    shown = {e["unique_id"] for e in rising}
    emerging = trends[trends["emerging"].astype(bool) & ~trends["unique_id"].isin(shown)]
    return {"rising": rising,
            "declining": entries(by_score[by_score["label"] == "declining"]),
            "emerging": entries(emerging.sort_values("growth", ascending=False)),
            "emerging_in_rising": int((trends["emerging"].astype(bool)
                                       & trends["unique_id"].isin(shown)).sum())}


def highlighted_ids(inputs: ReportInputs, top: dict[str, list[dict]]) -> list[str]:
    """The top rising and declining styles (attribute values when there are no styles)."""
    chosen: list[str] = []
    for direction in ("rising", "declining"):
        entries = top[direction]
        styles = [e["unique_id"] for e in entries if e["kind"] == "style"]
        pool = styles or [e["unique_id"] for e in entries]
        chosen += pool[:HIGHLIGHTS_PER_DIRECTION]
    if not chosen and inputs.styles is not None and not inputs.styles.empty:
        # Nothing moves (or all history is short): still show the biggest styles.
        biggest = inputs.styles.sort_values("size", ascending=False)["style_id"]
        chosen = [f"style={s}" for s in biggest.head(HIGHLIGHTS_PER_DIRECTION)]
    return list(dict.fromkeys(chosen))


def highlight(uid: str, inputs: ReportInputs) -> dict:
    has_forecast = inputs.forecasts is not None and (inputs.forecasts["unique_id"] == uid).any()
    entry: dict = {"unique_id": uid, "name": _label(uid, inputs.styles),
                   "has_forecast": bool(has_forecast),
                   "insufficient_history": uid in insufficient_ids(inputs) or not has_forecast,
                   "representatives": [], "concepts": []}
    if inputs.trends is not None:
        row = inputs.trends[inputs.trends["unique_id"] == uid]
        if len(row):
            entry.update(_call(row.iloc[0]))
    entry.update(_evidence(uid, inputs))
    if uid in inputs.share_changes:
        entry["share_change"] = inputs.share_changes[uid]
        entry["drivers"] = why.top_drivers(inputs.share_changes[uid])
    entry["why"] = why.sentence(entry)
    if uid.startswith("style=") and inputs.styles is not None:
        style_id = uid.split("=", 1)[1]
        found = inputs.styles[inputs.styles["style_id"] == style_id]
        if len(found):
            entry["representatives"] = list(found["representatives"].iloc[0])
            entry["dominant"] = json.loads(found["dominant_json"].iloc[0])
    if inputs.concepts is not None:
        # The designs drawn *for* this trend (its dominant values), not those that happen
        # to land in it; unrecognisable ones are never shown.
        mine = _shown(inputs.concepts)
        mine = mine[mine["target"] == uid]
        entry["concepts"] = mine["concept_id"].tolist()
        entry["concept_condition"] = mine["condition"].iloc[0] if len(mine) else None
    return entry


def _call(row: pd.Series) -> dict:
    """The call as the trends file states it: a chance only where one was learned."""
    steps = _num(row.get("steps"))
    expected = row.get("expected_growth", row["growth"])
    return {"label": row["label"], "probability": _num(row["probability"]),
            "expected_change": _num(expected), "forecast_change": _num(row["growth"]),
            "evidence": row.get("evidence"), "reason": _text(row.get("reason")),
            "steps": int(steps) if steps else None,
            "base_level": _num(row["base_total"] / steps) if steps else None,
            "forecast_level": _num(row["forecast_total"] / steps) if steps else None}


def _text(value) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _evidence(uid: str, inputs: ReportInputs) -> dict:
    """How many items stand behind the series: recent weeks and all weeks."""
    if inputs.history is None or "count" not in inputs.history.columns:
        return {}
    mine = inputs.history[inputs.history["unique_id"] == uid].sort_values("ds")
    if mine.empty:
        return {}
    return {"items_recent": int(mine["count"].tail(RECENT_WEEKS).sum()),
            "items_total": int(mine["count"].sum()), "recent_weeks": RECENT_WEEKS}


def track_record(inputs: ReportInputs) -> dict:
    """How earlier calls turned out: skill over the last quarter and year, stated chance vs
    how often it held, and the best and worst calls."""
    grades = inputs.grades
    if grades is None or grades.empty:
        return {"note": "No call has been graded yet: a call is graded once its horizon has "
                        "passed, so the first grades come a horizon after the first calls.",
                "periods": [], "bands": [], "best": [], "worst": []}
    as_of = pd.to_datetime(inputs.history["ds"]).max() if inputs.history is not None else \
        pd.to_datetime(grades["horizon_end"]).max()
    record = calls.track_record(grades, as_of)
    periods = [{"period": name, **{k: _num(v) for k, v in figures.items()}}
               for name, figures in record.items()]
    bands = [{k: (_num(v) if k != "band" else v) for k, v in r.items()}
             for r in calls.reliability(grades).to_dict("records")]
    stated = grades.assign(probability=grades["probability"].fillna(0.0))
    best = stated[stated["hit"]].assign(size=stated["actual_growth"].abs()).sort_values(
        ["probability", "size"], ascending=False).head(BEST_AND_WORST)
    worst = stated[~stated["hit"]].sort_values("probability", ascending=False).head(
        BEST_AND_WORST)
    return {"note": None, "periods": periods, "bands": bands,
            "best": [_graded(r, inputs) for r in best.itertuples()],
            "worst": [_graded(r, inputs) for r in worst.itertuples()]}


def _graded(row, inputs: ReportInputs) -> dict:
    return {"unique_id": row.unique_id, "name": _label(row.unique_id, inputs.styles),
            "week": row.week, "label": row.label, "probability": _num(row.probability)
            if row.probability > 0 else None, "outcome": row.outcome,
            "actual_change": _num(row.actual_growth), "called_change": _num(row.called_growth),
            "horizon_start": str(row.horizon_start)[:10], "horizon_end": str(row.horizon_end)[:10]}


def with_concept_defaults(concepts: pd.DataFrame | None) -> pd.DataFrame | None:
    """A concepts file written before concepts were checked and drawn per trend: the
    columns it lacks, filled so that none of its unchecked designs is shown as one."""
    if concepts is None:
        return None
    defaults = {"target": concepts.get("condition"), "flagged": True,
                "flag_reason": "written before concepts were checked",
                "landed_trend": "unknown", "off_trend": False}
    return concepts.assign(**{k: v for k, v in defaults.items() if k not in concepts.columns})


def _shown(concepts: pd.DataFrame) -> pd.DataFrame:
    """Concepts fit for the design grid."""
    return concepts[~concepts["flagged"].astype(bool)]


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)


def concepts_section(inputs: ReportInputs) -> dict:
    if inputs.concepts is None or inputs.concepts.empty:
        return {"note": inputs.concepts_note or "no generated concepts this week", "items": [],
                "dropped": 0, "dropped_by_reason": {}}
    table = inputs.concepts
    shown = _shown(table)
    items = [{"concept_id": r.concept_id, "target": r.target,
              "condition": r.condition, "style_id": r.style_id,
              "style": r.style_description, "novelty": round(float(r.novelty), 3),
              "landed_trend": r.landed_trend, "off_trend": bool(r.off_trend),
              "too_close": bool(r.too_close), "nearest_item_id": next(iter(r.nearest_item_ids), ""),
              "nearest_distance": round(float(r.nearest_distance), 4),
              # concepts files written before designs were kept have no design id
              "design_id": str(getattr(r, "design_id", "") or ""),
              "model": str(getattr(r, "model", "") or "")}
             for r in shown.itertuples()]
    dropped = table.drop(shown.index)
    reasons = (dropped["flag_reason"].map(_reason_kind).value_counts().to_dict()
               if len(dropped) else {})
    note = None if items else (f"All {len(table)} generated concepts were dropped as "
                               "unrecognisable; none is shown as a design.")
    return {"note": note, "items": items, "dropped": len(dropped),
            "studio_url": os.environ.get(STUDIO_URL_ENV, DEFAULT_STUDIO_URL).rstrip("/"),
            "dropped_by_reason": {k: int(v) for k, v in reasons.items()},
            "generated": len(table)}


def _reason_kind(reason: str) -> str:
    """A flag reason without its figures, so that like reasons count together."""
    kinds = [part.split(" (")[0].split("=")[0].replace("not recognisable as ",
                                                       "not recognisable as the asked ")
             for part in str(reason).split("; ") if part]
    return " and ".join(dict.fromkeys(kinds)) or "unchecked"


def accuracy(inputs: ReportInputs) -> list[dict]:
    """The backtest table with skill against seasonal naive (1 - MASE / MASE_naive)."""
    if inputs.backtest is None or inputs.backtest.empty:
        return []
    table = inputs.backtest.copy()
    naive = table.loc[table["model"] == "seasonal_naive", "mase"]
    reference = float(naive.iloc[0]) if len(naive) else np.nan
    table["skill_vs_seasonal_naive"] = 1 - table["mase"] / reference
    keep = [c for c in ("model", "mase", "smape", "wape", "coverage_80", "coverage_95",
                        "skill_vs_seasonal_naive") if c in table.columns]
    rows = table[keep].sort_values("mase").to_dict("records")
    return [{k: (_num(v) if k != "model" else v) for k, v in r.items()} for r in rows]


def health(inputs: ReportInputs) -> dict:
    weekly = inputs.weekly_items.sort_index()
    recent = weekly[weekly.index <= inputs.week].tail(HEALTH_WINDOW_WEEKS)
    median = float(recent.median()) if len(recent) else 0.0
    thin = [w for w, n in recent.items() if n < THIN_WEEK_FRACTION * median]
    return {"items_total": int(weekly[weekly.index <= inputs.week].sum()),
            "items_this_week": int(weekly.get(inputs.week, 0)),
            "weeks_with_items": int((weekly[weekly.index <= inputs.week] > 0).sum()),
            "duplicates": int(inputs.duplicates),
            "quarantined": int(sum(inputs.quarantined.values())),
            "quarantined_by_reason": dict(sorted(inputs.quarantined.items())),
            "median_items_per_week": median, "thin_weeks": thin}


def build(inputs: ReportInputs, generated_at: str) -> dict:
    top = headline(inputs)
    has_data = inputs.history is not None and not inputs.history.empty
    notes = []
    if not has_data:
        notes.append(f"No data for {inputs.week}: nothing was ingested up to this week, so "
                     "there is nothing to forecast.")
    elif health(inputs)["items_this_week"] == 0:
        notes.append(f"No items were observed in {inputs.week}; the week counts as zero.")
    for erasure in inputs.erasures:
        notes.append(f"{erasure['items']} item(s) of weeks up to this one were erased on "
                     f"{erasure['when'][:10]} (stylecast forget); trend figures computed "
                     "before then counted them until the weekly job runs for this week again.")
    return {"week": inputs.week, "generated_at": generated_at, "has_data": has_data,
            "notes": notes, "headline": top,
            "highlighted": [highlight(uid, inputs) for uid in highlighted_ids(inputs, top)],
            "concepts": concepts_section(inputs), "accuracy": accuracy(inputs),
            "track_record": track_record(inputs),
            "data_health": health(inputs),
            "attributes": sorted({uid.split("=", 1)[0] for uid in (
                inputs.history["unique_id"].unique() if has_data else [])
                if not uid.startswith("style=") and "|" not in uid})}
