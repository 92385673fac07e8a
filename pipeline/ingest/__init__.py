"""Ingest: manifest rows -> validated, normalised items partitioned by ISO week."""

from pipeline.ingest.fetch import RETRYABLE_REASONS
from pipeline.ingest.run import IngestSummary, run

__all__ = ["RETRYABLE_REASONS", "IngestSummary", "run"]
