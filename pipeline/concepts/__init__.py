"""The concepts stage: designs from the champion GAN placed among the real styles.

``transforms`` places vectors (pure); ``run`` samples, embeds and writes
``concepts/week=W/concepts.parquet``.
"""

DEFAULT_PER_CONDITION = 6  # designs per condition, for the weekly job and the CLI alike
