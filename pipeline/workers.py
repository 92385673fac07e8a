"""What a forked worker process must undo of its parent's state."""

from __future__ import annotations

import signal


def reset_inherited_signals() -> None:
    """SIGTERM ends the worker again; Ctrl-C is the parent's to handle.

    A forked worker inherits its parent's signal handlers. An Airflow task's SIGTERM handler
    returns without exiting in a child, so ``Pool.terminate()`` (which a ``with Pool()``
    block calls on exit) could never stop the workers, and the task hung in ``join()``.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
