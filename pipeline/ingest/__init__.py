"""Ingest: manifest rows -> validated, normalised items partitioned by ISO week."""

from pipeline.ingest.run import IngestSummary, run

__all__ = ["IngestSummary", "run"]
