"""A design's record: everything needed to redraw it bit for bit and to say where it comes
from, stored in the home through the catalog (``designs/<id>.json`` beside
``designs/<id>.png``), and the board of saved designs.

The id is a content key of what makes the pixels (model version, noise, condition
embedding), so drawing the same design twice gives the same id and one record. Noise and
embedding (and an inversion's per-layer residuals) are stored as float32 values written in
full (a float32 survives a JSON float exactly), not as a seed: an inversion's or a blend's
point has no seed.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from pipeline.core import catalog, storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.layout import content_key
from pipeline.core.locks import store_lock
from pipeline.core.settings import Settings

ID_PATTERN = re.compile(r"^d-[0-9a-f]{16}$")
OPERATIONS = ("draw", "vary", "recolour", "blend", "from-item", "concept")


@dataclass(frozen=True)
class DesignRecord:
    design_id: str
    model: str                      # models:/stylecast-gan/<version>
    model_version: str
    condition: dict[str, str]       # attribute -> value it stands for ('unknown' = not asked)
    z: list[float]
    embedding: list[float]          # the condition embedding it was drawn with
    operation: str
    parameters: dict[str, object]   # the operation's settings (strength, seed, value, t...)
    parents: list[str]              # design ids (or ``item:<id>`` for a redrawn item)
    checks: dict[str, object]       # recognised, realism, predicted values, nearest items
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                               time.gmtime()))
    # An inversion's residual of each generator layer's input, flattened (None: none)
    layers: list[float] | None = None

    @property
    def condition_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.condition.items() if v != "unknown")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> DesignRecord:
        return cls(**json.loads(text))


def design_id(model_version: str, z: np.ndarray, embedding: np.ndarray,
              layers: np.ndarray | None = None) -> str:
    parts = [model_version.encode(), np.asarray(z, np.float32).tobytes(),
             np.asarray(embedding, np.float32).tobytes()]
    if layers is not None:   # absent from a design without them: their ids stay as they were
        parts.append(np.asarray(layers, np.float32).tobytes())
    return "d-" + content_key(*parts)


def as_floats(values) -> list[float]:
    """float32 values as Python floats (exact: every float32 is a double)."""
    return [float(v) for v in np.asarray(values, dtype=np.float32).ravel()]


def check_id(value: str) -> str:
    """A design id, or a one-line error (ids also name files: nothing else gets through)."""
    if not ID_PATTERN.match(value or ""):
        raise UnusableInputError(f"{value!r} is not a design id (d- and 16 hex digits, as "
                                 "`stylecast design` prints them)")
    return value


def save(settings: Settings, record: DesignRecord, png: bytes) -> None:
    """The image first, then the record: a record is only visible with its image."""
    catalog.DESIGN_IMAGES.write_bytes(settings, png, key=record.design_id)
    catalog.DESIGNS.write_bytes(settings, record.to_json().encode(), key=record.design_id)


def exists(settings: Settings, value: str) -> bool:
    return catalog.DESIGNS.exists(settings, key=check_id(value))


def load(settings: Settings, value: str) -> DesignRecord:
    found = catalog.DESIGNS.read_json(settings, key=check_id(value))
    if found is None:
        raise UnusableInputError(f"no design {value} in {catalog.DESIGNS.root(settings)}")
    return DesignRecord(**found)


def image(settings: Settings, value: str) -> bytes:
    try:
        return storage.read_bytes(catalog.DESIGN_IMAGES.path(settings, key=check_id(value)))
    except FileNotFoundError:
        raise UnusableInputError(f"no design {value} in {catalog.DESIGNS.root(settings)}"
                                 ) from None


# -- the board -----------------------------------------------------------------------------

def board(settings: Settings) -> list[str]:
    return list((catalog.DESIGN_BOARD.read_json(settings) or {}).get("designs", []))


def pin(settings: Settings, *values: str) -> list[str]:
    """Add stored designs to the board (each once, in the order given); every id is checked
    before the board changes. Under the store's board lock, so two designers saving at once
    both land."""
    for value in values:
        load(settings, value)
    with store_lock(catalog.lock_path(settings, "design-board"), "design board"):
        saved = board(settings)
        added = [v for v in dict.fromkeys(values) if v not in saved]
        if added:
            saved += added
            catalog.DESIGN_BOARD.write_bytes(
                settings, json.dumps({"designs": saved}, indent=1).encode())
    return saved


def unpin(settings: Settings, *values: str) -> list[str]:
    for value in values:
        check_id(value)
    with store_lock(catalog.lock_path(settings, "design-board"), "design board"):
        saved = [d for d in board(settings) if d not in values]
        catalog.DESIGN_BOARD.write_bytes(settings,
                                         json.dumps({"designs": saved}, indent=1).encode())
    return saved
