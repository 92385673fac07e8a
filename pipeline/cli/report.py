"""``stylecast report``: the weekly trend report, as HTML, JSON and Markdown."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline.core.choices import choice
from pipeline.core.cli_support import fails_cleanly
from pipeline.core.errors import UnusableInputError

ReportFormat = choice("ReportFormat", ("html", "md"))


@fails_cleanly
def report(
    week: Annotated[str, typer.Option(help="ISO week, e.g. 2025-W14.")],
    output_format: Annotated[ReportFormat, typer.Option(
        "--format", help="html (writes reports/W/ and prints a JSON summary) or md (also "
                         "prints the Markdown summary).")] = ReportFormat("html"),
    track: Annotated[bool, typer.Option(help="Log the report to MLflow (stylecast-report).")]
    = True,
) -> None:
    """Render the weekly trend report: index.html, report.json and summary.md."""
    from pipeline.core.settings import Settings
    from pipeline.core.weeks import parse_week
    from pipeline.report.run import build_report, summary_markdown

    try:
        parse_week(week)
    except ValueError as err:
        raise UnusableInputError(str(err)) from None
    settings = Settings.from_env()
    summary = build_report(settings, week, track)
    if output_format.value == "md":
        typer.echo(summary_markdown(settings, week), nl=False)
    else:
        typer.echo(json.dumps(summary))
