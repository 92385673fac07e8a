"""Real services on 127.0.0.1 that the integration tests and the benchmarks both start:
PostgreSQL, an isolated Airflow (``dags test``, or a scheduler and API server driven over
REST), free ports and a clean environment for subprocesses. Not part of the product."""
