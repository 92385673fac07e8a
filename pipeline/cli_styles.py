"""``stylecast embed | styles | concepts``: from items to vectors, styles and placed designs."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline.cli_support import fails_cleanly, progress_bar
from pipeline.errors import UnusableInputError

Week = Annotated[str | None, typer.Option(help="ISO week, e.g. 2025-W14 (default: the latest).")]


@fails_cleanly
def embed(
    week: Annotated[list[str] | None, typer.Option(help="ISO week(s) to embed, e.g. 2025-W14 "
                                                        "(repeatable).")] = None,
    all_weeks: Annotated[bool, typer.Option("--all", help="Every week in the store "
                                                          "(the default when no --week).")]
    = False,
    model_version: Annotated[str | None, typer.Option(
        help="Encoder registry version (default: the one aliased 'items').")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 256,
) -> None:
    """Embed items with the registered stylecast-encoder; only missing or stale vectors are
    computed. Undecodable images are quarantined. Prints one JSON summary line."""
    from pipeline import embed as embed_mod
    from pipeline.settings import Settings

    if week and all_weeks:
        raise UnusableInputError("give --week or --all, not both")
    settings = Settings.from_env()
    with progress_bar("embed weeks", len(week) if week else None) as progress:
        summary = embed_mod.run(settings, week or None, model_version, batch_size,
                                lambda _: progress.advance())
    typer.echo(summary.to_json())


@fails_cleanly
def styles(
    week: Week = None,
    window: Annotated[int, typer.Option(help="Weeks of items clustered (rolling window).")]
    = 26,
    k: Annotated[int | None, typer.Option(help="Number of styles (default: chosen by "
                                               "silhouette).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Cluster the window's embeddings into styles whose IDs stay stable week to week."""
    from pipeline import styles_job
    from pipeline.settings import Settings

    if k is not None and k < 1:
        raise UnusableInputError("--k must be at least 1")
    typer.echo(json.dumps(styles_job.run(Settings.from_env(), week, window, k, seed=seed)))


@fails_cleanly
def concepts(
    week: Annotated[str, typer.Option(help="ISO week whose styles the designs join.")],
    condition: Annotated[list[str] | None, typer.Option(
        help="A condition such as category=Dress (repeatable).")] = None,
    trends: Annotated[str | None, typer.Option(
        help="Trend scores (stylecast forecast --trends): use its rising values.")] = None,
    per_condition: Annotated[int, typer.Option(help="Designs per condition.")] = 8,
    model: Annotated[str, typer.Option(help="Generator URI or generator.pt.")]
    = "models:/stylecast-gan@champion",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate designs, place each in its nearest style with a novelty score and its
    nearest real items. Skipped (exit 0, with the reason) when there is no GAN champion."""
    from pipeline import concepts_job
    from pipeline.settings import Settings

    if per_condition < 1:
        raise UnusableInputError("--per-condition must be at least 1")
    typer.echo(json.dumps(concepts_job.run(Settings.from_env(), week, condition, trends,
                                           per_condition, model, seed)))


@fails_cleanly
def report(
    week: Annotated[str, typer.Option(help="ISO week, e.g. 2025-W14.")],
    output_format: Annotated[str, typer.Option("--format", help="html (writes reports/W/ and "
                                                               "prints a JSON summary) or md "
                                                               "(also prints the Markdown "
                                                               "summary).")] = "html",
    track: Annotated[bool, typer.Option(help="Log the report to MLflow (stylecast-report).")]
    = True,
) -> None:
    """Render the weekly trend report: index.html, report.json and summary.md."""
    from pipeline.report.run import build_report, summary_markdown
    from pipeline.settings import Settings
    from pipeline.weeks import parse_week

    if output_format not in ("html", "md"):
        raise UnusableInputError(f"--format must be html or md, not {output_format!r}")
    try:
        parse_week(week)
    except ValueError as err:
        raise UnusableInputError(str(err)) from None
    settings = Settings.from_env()
    summary = build_report(settings, week, track)
    if output_format == "md":
        typer.echo(summary_markdown(settings, week), nl=False)
    else:
        typer.echo(json.dumps(summary))


@fails_cleanly
def runs_compare(
    experiment: Annotated[str, typer.Option(help="MLflow experiment, e.g. stylecast-forecast.")],
    last: Annotated[int, typer.Option(help="How many of the latest runs.")] = 5,
    metric: Annotated[str | None, typer.Option(help="Only metrics whose name contains this.")]
    = None,
) -> None:
    """Print the latest runs of an experiment side by side: params and metrics per run."""
    from rich.console import Console
    from rich.table import Table

    from pipeline.runs import comparison, last_runs
    from pipeline.settings import Settings

    if last < 1:
        raise UnusableInputError("--last must be at least 1")
    headers, rows = comparison(last_runs(Settings.from_env(), experiment, last), metric)
    table = Table(title=f"{experiment}: last {len(headers) - 1} runs")
    table.add_column(headers[0], justify="left", no_wrap=True)
    for header in headers[1:]:
        table.add_column(header, justify="right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    label_width = max(len(row[0]) for row in rows)
    Console(width=max(100, label_width + 28 * (len(headers) - 1))).print(table)
