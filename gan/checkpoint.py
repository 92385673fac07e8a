"""Training-state snapshots that can be trusted: written atomically, loaded without pickle.

A snapshot holds only tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: a checkpoint from elsewhere cannot run code. It is
written beside its target and renamed over it, so a crash while saving leaves the previous
good snapshot intact. The architecture is stored with it and checked before loading.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from pipeline.core.errors import UnusableInputError

STATE_FILE = "training-state.pt"


def save(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(state, tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path, architecture: dict | None = None) -> dict:
    """Load a snapshot; with ``architecture``, refuse one made for other networks."""
    if not path.exists():
        raise UnusableInputError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling refused, truncated file, not a torch file...
        raise UnusableInputError(f"checkpoint {path} cannot be loaded safely: "
                                 f"{type(err).__name__}: {str(err).splitlines()[0]}") from None
    if architecture is not None and state.get("architecture") != architecture:
        raise UnusableInputError(f"checkpoint {path} was made for other networks: "
                                 f"{state.get('architecture')} vs {architecture}")
    return state
