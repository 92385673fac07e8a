"""The concepts stage: designs from the champion GAN placed among the real styles.

``transforms`` places vectors (pure); ``run`` samples, embeds and writes the week's
``concepts`` dataset (``pipeline.core.catalog``).
"""

DEFAULT_PER_CONDITION = 6  # designs per condition, for the weekly job and the CLI alike
