"""Arrow schemas of the datasets StyleCast writes. Bump a version when a schema changes."""

from __future__ import annotations

import pyarrow as pa

from pipeline.core.names import EMBEDDING_DIM
from pipeline.core.storage import with_schema_version

ITEMS_SCHEMA_VERSION = 2  # 2: licence and uses (files of 1 read them as null)

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
    pa.field("licence", pa.string()),   # as the manifest gave it; null: none stated
    pa.field("uses", pa.string()),      # declared uses, e.g. "analyse,display"; null: none
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

STYLES = pa.schema([
    pa.field("style_id", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("size", pa.int64()),
    pa.field("share", pa.float64()),
    pa.field("description", pa.string()),
    pa.field("dominant_json", pa.string()),
    pa.field("spread", pa.float64()),
    pa.field("representatives", pa.list_(pa.string())),
    pa.field("centroid", pa.list_(pa.float32(), EMBEDDING_DIM)),
    pa.field("week", pa.string()),
    pa.field("window_first", pa.string()),
    pa.field("window_last", pa.string()),
    pa.field("model_version", pa.string()),
    pa.field("k", pa.int64()),
])

MEMBERS = pa.schema([
    pa.field("item_id", pa.string()),
    pa.field("iso_week", pa.string()),
    pa.field("style_id", pa.string()),
    pa.field("distance", pa.float32()),   # cosine distance to its style's centroid
])

STYLE_COUNTS = pa.schema([
    pa.field("iso_week", pa.string()), pa.field("style_id", pa.string()),
    pa.field("count", pa.int64()), pa.field("part", pa.string()),
])

ATTRIBUTE_COUNTS = pa.schema([
    pa.field("attribute", pa.string()), pa.field("value", pa.string()),
    pa.field("ds", pa.timestamp("ns")), pa.field("count", pa.int64()),
])

DESIGN_BANK = pa.schema([
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("vector", pa.list_(pa.float32()), nullable=False),  # realism space (gan.realism)
])

DESIGN_REDRAWINGS = pa.schema([
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("model_version", pa.string(), nullable=False),
    pa.field("steps", pa.int32(), nullable=False),
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("design_id", pa.string(), nullable=False),
])

TOMBSTONES = pa.schema([
    pa.field("key", pa.string(), nullable=False),     # salted hash of an item id or content
    pa.field("kind", pa.string(), nullable=False),    # item_id | sha256
    pa.field("erasure", pa.string(), nullable=False),  # the erasure that made it
])

LINEAGE = pa.schema([
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("sha256", pa.string(), nullable=False),
    pa.field("source", pa.string()),
    pa.field("licence", pa.string()),
])
