"""What a training run learned from, recorded where an auditor and an erasure look for it.

Three places, one list: the run's MLflow dataset input (digest, source, counts by source and
licence), the run's ``lineage/training_items.csv`` artifact (the item ids), and the home's
``lineage`` dataset keyed by the run id, which ``stylecast forget`` reads to find the models
an erased item went into.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pyarrow as pa

from gan.data import ImageSet
from pipeline.core import catalog, layout
from pipeline.core.settings import Settings

ARTIFACT = "lineage"
ITEMS_FILE = "training_items.csv"


def counts(data: ImageSet) -> dict[str, dict[str, int]]:
    """Training items per source and per licence ('unstated' where none was given)."""
    frame = data.provenance
    if frame is None:
        return {"source": {data.name: len(data)}, "licence": {}}
    return {"source": frame["source"].value_counts().sort_index().to_dict(),
            "licence": frame["licence"].fillna("unstated").value_counts().sort_index()
            .to_dict()}


def log_training_set(settings: Settings, data: ImageSet, run_id: str) -> dict:
    """Record ``data`` as the active run's training set; returns the counts logged."""
    import mlflow
    import mlflow.data

    summary = counts(data)
    frame = data.provenance
    if frame is None:   # a public benchmark set (Fashion-MNIST): named, not itemised
        mlflow.set_tag("stylecast.training_set", json.dumps(summary, sort_keys=True))
        return summary
    digest = layout.content_key("\n".join(frame["sha256"]).encode())
    dataset = mlflow.data.from_pandas(frame, source=catalog.ITEMS.root(settings),
                                      name=f"{data.name}-train", digest=digest)
    mlflow.log_input(dataset, context="training",
                     tags={"items": str(len(frame)),
                           "by_source": json.dumps(summary["source"], sort_keys=True),
                           "by_licence": json.dumps(summary["licence"], sort_keys=True)})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ITEMS_FILE
        frame.drop(columns=["sha256"]).to_csv(path, index=False)   # ids, never content
        mlflow.log_artifact(str(path), artifact_path=ARTIFACT)
    catalog.LINEAGE.write(settings, pa.Table.from_pandas(frame, preserve_index=False),
                          key=run_id, metadata={"stylecast.run_id": run_id,
                                                "stylecast.digest": digest})
    return summary
