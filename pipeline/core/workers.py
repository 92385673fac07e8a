"""What a forked process must undo of its parent's state to run worker pools."""

from __future__ import annotations

import multiprocessing
import signal


def reset_inherited_signals() -> None:
    """SIGTERM ends the worker again; Ctrl-C is the parent's to handle.

    A forked worker inherits its parent's signal handlers. An Airflow task's SIGTERM handler
    returns without exiting in a child, so ``Pool.terminate()`` (which a ``with Pool()``
    block calls on exit) could never stop the workers, and the task hung in ``join()``.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
