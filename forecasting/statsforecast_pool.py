"""statsforecast whose worker processes can be stopped inside an Airflow task.

A module of its own because it imports statsforecast at once; ``forecasting.models`` imports
it only when a model is fitted.
"""

from __future__ import annotations

from statsforecast import StatsForecast

from pipeline.core.workers import StoppablePool, reset_inherited_signals


class StoppableStatsForecast(StatsForecast):
    """StatsForecast with ``n_jobs > 1`` that does not hang when run by an Airflow task.

    statsforecast's ``fit`` and ``predict`` (all that ``StatsModel`` calls) run in a
    ``with Pool()`` block whose exit sends SIGTERM to the workers. Forked, they inherit
    Airflow's handler, which ignores SIGTERM outside the task's own process: the task then
    waits for them forever. ``_get_pool`` is statsforecast's one hook for the pool's
    arguments (2.x); a test runs the pool under that handler, so a release that drops the
    hook fails it instead of hanging a DAG. The pool is a ``StoppablePool``: statsforecast
    closes its pool as soon as a small fit is done, often before every worker has started.
    """

    def _get_pool(self):
        _, kwargs = super()._get_pool()
        return StoppablePool, {**kwargs, "initializer": reset_inherited_signals}
