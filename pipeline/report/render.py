"""The report's two renderings: a self-contained HTML page (Jinja2) and a Markdown summary."""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup, escape

TEMPLATES = Path(__file__).parent / "templates"
SHORT_CHARS = 40


def short(text: object, limit: int = SHORT_CHARS) -> Markup:
    """Long names are cut with an ellipsis; the full name shows on hover."""
    text = str(text)
    if len(text) <= limit:
        return escape(text)
    return Markup('<span class="trunc" title="{}">{}…</span>').format(text, text[:limit - 1])


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def signed_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.0%}"


def fixed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def html(report: dict, images: dict[str, str], attribute_charts: dict[str, str]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(short=short, pct=pct, signed_pct=signed_pct, fixed=fixed)
    concepts_by_id = {c["concept_id"]: c for c in report["concepts"]["items"]}
    withheld = report.get("withheld", {})
    highlighted = [{"label": None, "probability": None, "why": None, "drivers": [],
                    "withheld_note": _withheld_note(h.get("representatives", []), withheld),
                    **h} for h in report["highlighted"]]
    return env.get_template("report.html.j2").render(
        r={"withheld": {}, **report, "highlighted": highlighted}, images=images,
        attribute_charts=attribute_charts, concepts_by_id=concepts_by_id)


def _withheld_note(items: list[str], withheld: dict[str, str]) -> str:
    """'2 of 6 not shown: <reason>.' for the representatives whose photos are withheld."""
    hidden = [i for i in items if i in withheld]
    if not hidden:
        return ""
    reasons = "; ".join(dict.fromkeys(withheld[i] for i in hidden))
    return f"{len(hidden)} of {len(items)} not shown: {reasons}."


def _line(entry: dict) -> str:
    return (f"- {entry['name']}: {signed_pct(entry['expected_change'])} expected, "
            f"{pct(entry['probability'])} sure")


def markdown(report: dict) -> str:
    """A summary fit for an email or a chat message."""
    lines = [f"**StyleCast weekly trends, {report['week']}**", ""]
    lines += [f"_{note}_" for note in report["notes"]]
    for direction in ("rising", "declining", "emerging"):
        entries = report["headline"][direction][:3]
        lines.append(f"**{direction.capitalize()}**")
        lines += [_line(e) for e in entries] or [f"- nothing {direction}"]
        lines.append("")  # a list ends at a blank line in Markdown
    concepts = report["concepts"]
    if concepts["note"]:
        lines.append(f"**Concepts**: {concepts['note']}")
    else:
        flagged = sum(c["too_close"] for c in concepts["items"])
        off = sum(c["off_trend"] for c in concepts["items"])
        line = (f"**Concepts**: {len(concepts['items'])} shown, {flagged} too close to an "
                f"existing item, {off} off-trend")
        if concepts.get("dropped"):
            why = ", ".join(f"{n} {k}" for k, n in concepts["dropped_by_reason"].items())
            line += f"; {concepts['dropped']} dropped as unrecognisable ({why})"
        lines.append(line)
    record = report["track_record"]
    if record["note"]:
        lines.append(f"**Track record**: {record['note']}")
    else:
        year = next(p for p in record["periods"] if p["period"] == "year")
        lines.append(f"**Track record**: of {int(year['calls'])} calls whose horizon ended in "
                     f"the last year, {pct(year['hit_rate'])} held (balanced accuracy "
                     f"{pct(year['balanced_accuracy'])})")
    best = report["accuracy"][0] if report["accuracy"] else None
    if best:
        lines.append(f"**Accuracy**: best backtest model {best['model']}, MASE "
                     f"{fixed(best['mase'])}, skill vs seasonal naive "
                     f"{signed_pct(best.get('skill_vs_seasonal_naive'))}")
    health = report["data_health"]
    lines.append(f"**Data**: {health['items_this_week']} items this week, "
                 f"{health['items_total']} in all, {health['quarantined']} quarantined, "
                 f"thin weeks: {', '.join(health['thin_weeks']) or 'none'}")
    return "\n".join(lines) + "\n"
