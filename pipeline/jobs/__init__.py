"""Above the stages: the weekly job's steps (``weekly``) and the functions Airflow tasks
call (``tasks``). Only ``dags/`` and the CLI sit above this package."""
