"""StyleCast's core: what every stage, ``gan`` and ``forecasting`` share.

Errors, settings, ISO weeks, storage and the home's layout, dataset schemas, MLflow
tracking, worker-process hygiene, the PNG codec, device resolution, CLI helpers and the
names several layers must spell alike. Nothing here imports any other part of StyleCast
(the import-linter contract in ``pyproject.toml`` checks it).
"""
