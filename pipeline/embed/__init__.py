"""The embed stage: item vectors from the registered catalogue encoder, one partition a week.

``transforms`` turns images into vectors, ``neighbours`` searches them, ``run`` reads the
items and writes the week's ``embeddings`` (``pipeline.core.catalog``).
"""

DEFAULT_BATCH = 256  # images per forward pass of the encoder
