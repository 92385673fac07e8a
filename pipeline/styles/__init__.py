"""The styles stage: clusters of item embeddings with IDs stable across weeks.

``transforms`` clusters and matches (pure); ``run`` reads a window of embeddings and writes
``styles/week=W/styles.parquet`` and ``members.parquet``.
"""

DEFAULT_WINDOW_WEEKS = 26  # weeks of items clustered into one week's styles
