"""What every ``stylecast`` command shares: one-line errors and progress bars on stderr."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipeline.core.errors import StyleCastError, UnusableInputError

err_console = Console(stderr=True)


def fail(err: StyleCastError) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True,
                      highlight=False)
    raise typer.Exit(err.exit_code) from None


def worker_count(workers: int | None, old_name: int | None, default: int) -> int:
    """``--workers`` (every command's name for a worker count), or the old ``--jobs`` it
    replaced, else ``$STYLECAST_WORKERS``, else ``default``."""
    if workers is not None and old_name is not None and workers != old_name:
        raise UnusableInputError(f"--workers {workers} and --jobs {old_name} disagree: --jobs "
                                 "is the old name of --workers, give only --workers")
    count = workers if workers is not None else old_name
    if count is None:
        count = int(os.environ.get("STYLECAST_WORKERS") or default)
    if count < 1:
        raise UnusableInputError(f"--workers must be at least 1, got {count}")
    return count


def fails_cleanly(command: Callable) -> Callable:
    """Unusable input (exit 2), a failed job (exit 3) or a service outage that outlasted the
    retries (exit 4, worth running again): one line on stderr, no traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except StyleCastError as err:
            fail(err)
        except Exception as err:  # an outage met outside a tracked run: exit 4, retryable
            from pipeline.core import tracking

            if not tracking.is_transient(err):
                raise
            fail(tracking.outage(err, os.environ.get("MLFLOW_TRACKING_URI", "MLflow")))
    return wrapper


class ProgressBar:
    """A rich progress bar on stderr (stdout stays machine-readable); silent when not a TTY."""

    def __init__(self, bar: Progress, description: str) -> None:
        self._bar = bar
        self._task = bar.add_task(description, total=None, status="")

    def start(self, total: int) -> None:
        self._bar.update(self._task, total=total)

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._task, n)

    def update(self, completed: int, status: str = "") -> None:
        """Where a job stands (the ETA follows from it) and what it is doing: losses..."""
        self._bar.update(self._task, completed=completed, status=status)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[ProgressBar]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=err_console, transient=True,
                  disable=not err_console.is_terminal) as bar:
        progress = ProgressBar(bar, description)
        if total is not None:
            progress.start(total)
        yield progress
