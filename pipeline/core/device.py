"""Which device runs torch: ``auto`` (CUDA when torch sees a GPU), ``cpu`` or ``cuda``."""

from __future__ import annotations

import os

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str = "auto") -> str:
    """``cpu`` or ``cuda``; imports torch only for ``auto``."""
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"device {requested!r} is not one of {', '.join(DEVICE_CHOICES)}")
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_device(requested: str = "auto"):
    """The ``torch.device`` to use; under torchrun each rank takes its own GPU."""
    import torch

    resolved = resolve_device(requested)
    if resolved == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(resolved)
