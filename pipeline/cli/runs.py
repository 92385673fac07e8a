"""``stylecast runs compare``: the latest MLflow runs of an experiment side by side."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.core.choices import choice
from pipeline.core.cli_support import fails_cleanly
from pipeline.core.errors import UnusableInputError
from pipeline.core.runs import RUN_STATUSES

RunStatus = choice("RunStatus", RUN_STATUSES)


@fails_cleanly
def runs_compare(
    experiment: Annotated[str, typer.Option(help="MLflow experiment, e.g. stylecast-forecast.")],
    last: Annotated[int, typer.Option(help="How many of the latest runs.")] = 5,
    metric: Annotated[str | None, typer.Option(help="Only metrics whose name contains this.")]
    = None,
    where: Annotated[str | None, typer.Option(
        help="Only runs matching this MLflow filter, e.g. \"params.dataset = 'items'\" or "
             "\"metrics.mase < 1\".")] = None,
    status: Annotated[RunStatus, typer.Option(help="Only runs in this state.")]
    = RunStatus("any"),
    since: Annotated[str | None, typer.Option(help="Only runs started on or after this date "
                                                   "(YYYY-MM-DD, UTC).")] = None,
) -> None:
    """Print the latest runs of an experiment side by side: params and metrics per run."""
    from rich.console import Console
    from rich.table import Table

    from pipeline.core.runs import comparison, last_runs, run_filter
    from pipeline.core.settings import Settings

    if last < 1:
        raise UnusableInputError("--last must be at least 1")
    runs = last_runs(Settings.from_env(), experiment, last,
                     run_filter(where, status.value, since))
    headers, rows = comparison(runs, metric)
    table = Table(title=f"{experiment}: last {len(headers) - 1} runs")
    table.add_column(headers[0], justify="left", no_wrap=True)
    for header in headers[1:]:
        table.add_column(header, justify="right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    label_width = max(len(row[0]) for row in rows)
    Console(width=max(100, label_width + 28 * (len(headers) - 1))).print(table)
