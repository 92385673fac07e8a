"""The styles stage: clusters of item embeddings with IDs stable across weeks.

``transforms`` clusters and matches (pure); ``run`` reads a window of embeddings and writes
the week's ``styles`` and ``memberships``; ``membership`` turns memberships into the
``style-counts`` the series add up (datasets of ``pipeline.core.catalog``).
"""

DEFAULT_WINDOW_WEEKS = 26  # weeks of items clustered into one week's styles
