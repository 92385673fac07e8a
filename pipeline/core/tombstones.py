"""Tombstones of erased items: enough to refuse them at the next ingest, nothing more.

An erased item's id and content hash are kept only as salted hashes (the salt, random per
home, lives in the tombstone file's footer), so the tombstones neither hold the ids nor let
anyone test a guessed id against them without the store itself.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from pipeline.core import catalog, storage
from pipeline.core.settings import Settings

SALT_KEY = "stylecast.tombstone_salt"


@dataclass(frozen=True)
class Tombstones:
    salt: str
    keys: frozenset[str]
    table: pa.Table

    @classmethod
    def load(cls, settings: Settings) -> Tombstones:
        path = catalog.TOMBSTONES.path(settings)
        footer = storage.file_metadata(path)
        if footer is None:
            empty = catalog.TOMBSTONES.schema.empty_table()
            return cls(secrets.token_hex(16), frozenset(), empty)
        table = catalog.TOMBSTONES.read(settings)
        return cls(footer[SALT_KEY], frozenset(table["key"].to_pylist()), table)

    def key(self, kind: str, value: str) -> str:
        return hashlib.sha256(f"{self.salt}:{kind}:{value}".encode()).hexdigest()

    def erased(self, item_id: str, sha256: str | None = None) -> bool:
        """Whether this id, or this content under any id, was erased."""
        if not self.keys:
            return False
        return self.key("item_id", item_id) in self.keys or (
            sha256 is not None and self.key("sha256", sha256) in self.keys)

    def with_items(self, item_ids: Iterable[str], hashes: Iterable[str], erasure: str
                   ) -> pa.Table:
        """The tombstone table with these items added (what an erasure commits)."""
        rows = {self.key("item_id", i): "item_id" for i in item_ids}
        rows |= {self.key("sha256", h): "sha256" for h in hashes}
        added = pa.Table.from_pylist(
            [{"key": k, "kind": kind, "erasure": erasure}
             for k, kind in rows.items() if k not in self.keys],
            schema=catalog.TOMBSTONES.schema)
        return pa.concat_tables([self.table.cast(catalog.TOMBSTONES.schema), added])

    def footer(self) -> dict[str, str]:
        return {SALT_KEY: self.salt}
