"""``python -m pipeline.cli``: the ``stylecast`` command."""

from pipeline.cli import app

app()
