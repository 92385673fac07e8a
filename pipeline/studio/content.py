"""What the studio lists: the rising styles of a week's report, each with its concepts
(as design ids, flagged ones marked) and its real representative items."""

from __future__ import annotations

import json
import re

from pipeline.core import catalog, storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings

WEEK = re.compile(r"^\d{4}-W\d{2}$")


def report_weeks(settings: Settings) -> list[str]:
    return catalog.REPORTS.weeks(settings)


def styles(settings: Settings, week: str | None) -> dict[str, object]:
    """The week's rising highlights (all highlights when none rises) for the page."""
    weeks = report_weeks(settings)
    if week is not None and not WEEK.match(week):
        raise UnusableInputError(f"{week!r} is not an ISO week such as 2025-W14")
    if not weeks:
        return {"week": None, "weeks": [], "styles": [],
                "note": "no weekly report in this home yet: run `make demo` or the weekly job; "
                        "you can still draw designs for any condition"}
    week = week or weeks[-1]
    if week not in weeks:
        raise UnusableInputError(f"no report for {week}; reports: {', '.join(weeks)}")
    report = json.loads(storage.read_bytes(
        storage.join(catalog.REPORTS.path(settings, week), "report.json")))
    designs = _concept_designs(settings, week)
    highlighted = report.get("highlighted", [])
    rising = [h for h in highlighted if h.get("label") == "rising"] or highlighted
    out = [{"unique_id": h["unique_id"], "name": h.get("name", h["unique_id"]),
            "label": h.get("label"), "probability": h.get("probability"),
            "why": h.get("why"), "condition": h.get("concept_condition"),
            "representatives": list(h.get("representatives", [])),
            "concepts": designs.get(h["unique_id"], [])} for h in rising]
    note = None if any(h.get("label") == "rising" for h in highlighted) else \
        "nothing is called rising this week: the week's highlights are listed instead"
    return {"week": week, "weeks": weeks, "styles": out, "note": note}


def shown_items(settings: Settings, week: str | None = None) -> list[str]:
    """The real items the page shows beside the week's styles (the latest week by default),
    each once: the ones a designer is likely to redraw."""
    listed = styles(settings, week)["styles"]
    return list(dict.fromkeys(item for style in listed for item in style["representatives"]))


def _concept_designs(settings: Settings, week: str) -> dict[str, list[dict[str, object]]]:
    """Target -> its concepts' design ids and whether each was flagged (and why)."""
    frame = catalog.CONCEPTS.read_frame(settings, week)
    if frame is None or "design_id" not in frame.columns:
        return {}
    out: dict[str, list[dict[str, object]]] = {}
    for row in frame.itertuples():
        if row.design_id:
            out.setdefault(row.target, []).append({"design_id": row.design_id,
                                                   "flagged": bool(row.flagged),
                                                   "reason": row.flag_reason or ""})
    return out
