"""Options with a fixed set of values, as enums: the CLI shows the choices in ``--help`` and
refuses any other value before a command does any work."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


def choice(name: str, values: Iterable[str]) -> type[Enum]:
    """A str enum whose members are ``values`` (``choice("Gaps", ("reject", "zero"))``)."""
    return Enum(name, {v.replace("-", "_"): v for v in values}, type=str)  # type: ignore[return-value]


def value(option: Enum | str | None) -> str | None:
    """The plain string of a chosen option (library calls take strings, not enums)."""
    return option.value if isinstance(option, Enum) else option
