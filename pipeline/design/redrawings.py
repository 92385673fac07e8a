"""Which design redraws which item: an inversion takes seconds, its answer is deterministic,
so it is done once per (model version, item, steps, seed) and looked up after that, by any
session: the studio, a later studio, ``stylecast design from-item``.

One small Parquet file in the home (``design-redrawings``), rewritten under the store's
lock so two sessions adding at once both land. It names items, so an erasure scrubs it with
the rest of the catalog (and removes the designs themselves).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core import catalog
from pipeline.core.locks import store_lock
from pipeline.core.settings import Settings

Key = tuple[str, int, int]   # (item, steps, seed)


def known(settings: Settings, model_version: str) -> dict[Key, str]:
    """Every item this model version has redrawn: (item, steps, seed) -> design id."""
    table = catalog.DESIGN_REDRAWINGS.read(settings)
    if table is None:
        return {}
    table = table.filter(pc.equal(table["model_version"], model_version))
    return {(item, steps, seed): design for item, steps, seed, design in zip(
        *(table[c].to_pylist() for c in ("item_id", "steps", "seed", "design_id")),
        strict=True)}


def remember(settings: Settings, model_version: str, redrawn: dict[Key, str]) -> None:
    """Add (or replace) what ``redrawn`` says this model version redraws."""
    if not redrawn:
        return
    with store_lock(catalog.lock_path(settings, "design-redrawings"), "design redrawings"):
        table = catalog.DESIGN_REDRAWINGS.read(settings)
        rows = [] if table is None else [
            r for r in table.to_pylist()
            if r["model_version"] != model_version
            or (r["item_id"], r["steps"], r["seed"]) not in redrawn]
        rows += [{"item_id": item, "model_version": model_version, "steps": steps,
                  "seed": seed, "design_id": design}
                 for (item, steps, seed), design in redrawn.items()]
        catalog.DESIGN_REDRAWINGS.write(
            settings, pa.Table.from_pylist(rows, schema=catalog.DESIGN_REDRAWINGS.schema))
