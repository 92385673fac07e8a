"""Train the conditional GAN on a GPU worker, register it, promote it when it beats the champion.

Manual trigger only, with validated parameters (an invalid trigger is refused before any
task runs). The training task goes to the ``gpu`` queue and the ``gpu`` pool (one slot by
default), so a Celery worker on a GPU node picks it up; with a local executor it runs on
whatever device the machine has. A retried task resumes its checkpoint. A generator that
beats its dataset's champion is promoted (``champion-<dataset>``) and published as the
``stylecast_gan_champion`` asset; a failed task is notified (``pipeline.jobs.notify``).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from pipeline.jobs.assets import CHAMPION
from pipeline.jobs.notify import StyleCastNotifier

DEFAULT_ARGS = {"owner": "stylecast", "retries": 1, "retry_delay": timedelta(minutes=1),
                "retry_exponential_backoff": True,
                "on_failure_callback": StyleCastNotifier("failure")}


@dag(
    dag_id="stylecast_gan_training",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["stylecast", "gan", "gpu"],
    params={
        "dataset": Param("items", type="string", enum=["items", "fashion-mnist"],
                         description="Training images"),
        "preset": Param("small", type="string", enum=["baby", "small", "full"],
                        description="baby: seconds on CPU; small: CPU; full: GPU"),
        "max_kimg": Param(None, type=["null", "number"], exclusiveMinimum=0,
                          description="Stop after this many thousand images"),
        "max_minutes": Param(None, type=["null", "number"], exclusiveMinimum=0,
                             description="Training budget in minutes (wall clock)"),
        "conditions": Param(None, type=["null", "string"],
                            description="items: comma-separated condition attributes "
                                        "(default: the category and colour attributes)"),
        "seed": Param(0, type="integer", minimum=0),
    },
    doc_md=__doc__,
)
def stylecast_gan_training():
    @task(queue="gpu", pool="gpu", execution_timeout=timedelta(hours=12), multiple_outputs=False)
    def train(params=None) -> dict:
        from pipeline.jobs.tasks import train_gan

        return train_gan(params["dataset"], params["preset"], params["max_kimg"],
                         params["conditions"], params["seed"], params["max_minutes"])

    @task.short_circuit(execution_timeout=timedelta(minutes=1))
    def promoted(summary: dict) -> bool:
        return bool(summary.get("champion"))

    @task(outlets=[CHAMPION], execution_timeout=timedelta(minutes=1), multiple_outputs=False)
    def publish_champion(summary: dict, params=None, outlet_events=None) -> dict:
        from pipeline.jobs.tasks import new_champion

        champion = new_champion(params["dataset"], summary)
        outlet_events[CHAMPION].extra = champion
        return champion

    summary = train()
    promoted(summary) >> publish_champion(summary)


stylecast_gan_training()
