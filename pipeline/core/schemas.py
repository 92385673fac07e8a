"""Arrow schemas of the datasets StyleCast writes. Bump a version when a schema changes."""

from __future__ import annotations

import pyarrow as pa

from pipeline.core.names import EMBEDDING_DIM
from pipeline.core.storage import with_schema_version

ITEMS_SCHEMA_VERSION = 1

ITEMS = with_schema_version(pa.schema([
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("sha256", pa.string(), nullable=False),
    pa.field("observed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("iso_week", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("attributes", pa.map_(pa.string(), pa.string())),
    pa.field("image_png", pa.binary()),  # null for label-only observations
    pa.field("image_ref", pa.string()),
    pa.field("width", pa.int32()),
    pa.field("height", pa.int32()),
    pa.field("manifest", pa.string(), nullable=False),
]), ITEMS_SCHEMA_VERSION)

QUARANTINE = pa.schema([
    pa.field("manifest", pa.string()),
    pa.field("row", pa.int64()),
    pa.field("item_id", pa.string()),
    pa.field("image_ref", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("message", pa.string()),
    pa.field("record_json", pa.string()),  # the whole manifest row: nothing is lost
])

DUPLICATES = pa.schema([
    pa.field("manifest", pa.string()),
    pa.field("row", pa.int64()),
    pa.field("item_id", pa.string()),
    pa.field("duplicate_of", pa.string()),
    pa.field("sha256", pa.string()),
    pa.field("record_json", pa.string()),
])

EMBEDDINGS_SCHEMA_VERSION = 1

EMBEDDINGS = with_schema_version(pa.schema([
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("sha256", pa.string(), nullable=False),  # of the item it was computed from
    pa.field("iso_week", pa.string(), nullable=False),
    pa.field("model_version", pa.string(), nullable=False),
    pa.field("vector", pa.list_(pa.float32(), EMBEDDING_DIM), nullable=False),
]), EMBEDDINGS_SCHEMA_VERSION)
