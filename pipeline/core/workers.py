"""What a forked process must undo of its parent's state to run worker pools."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.pool
import signal
from collections.abc import Iterator


def reset_inherited_signals() -> None:
    """SIGTERM ends the worker again; Ctrl-C is the parent's to handle. A pool's initializer.

    A forked worker inherits its parent's signal handlers. An Airflow task's SIGTERM handler
    returns without exiting in a child, so ``Pool.terminate()`` (which a ``with Pool()``
    block calls on exit) could never stop the workers, and the task hung in ``join()``.
    A :class:`StoppablePool` forks its workers with SIGTERM blocked; it is unblocked here,
    after the default action is back, so a SIGTERM sent before this ran still ends them.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


@contextlib.contextmanager
def _sigterm_blocked() -> Iterator[None]:
    """SIGTERM waits (it is not lost) in this thread, and in what it forks or starts."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class StoppablePool(multiprocessing.pool.Pool):
    """A process pool whose ``terminate()`` stops its workers even inside an Airflow task.

    Give it :func:`reset_inherited_signals` as (or inside) the initializer. A pool closed
    right after it opened (a ``with`` block over a small job) used to send SIGTERM to a
    worker still between fork and initializer, whose inherited Airflow handler swallowed
    it; the worker then waited for work forever and ``join()`` with it. Forked with SIGTERM
    blocked, a worker receives that signal only once the default action is back.
    """

    def __init__(self, *args, **kwargs) -> None:
        with _sigterm_blocked():
            super().__init__(*args, **kwargs)


def allow_child_processes() -> None:
    """Let this process start worker pools although it was forked from a daemonic one.

    Celery's default (prefork) pool runs each Airflow task in a fork of a daemonic pool
    process. The task process inherits the daemon flag, and multiprocessing then refuses it
    any children ("daemonic processes are not allowed to have children"): the forecast's
    statsforecast workers failed on Celery workers, and ingest's decoders would have. The flag
    is meant for a process that multiprocessing started and will terminate; Airflow's
    supervisor forked this one and waits for it, and every pool it starts is closed before
    the task returns.
    """
    process = multiprocessing.current_process()
    if process.daemon:
        process.daemon = False
