"""Conditions: several attributes at once, each with an "unknown" value for partial requests.

Every attribute has a vocabulary whose index 0 is ``unknown``; training randomly hides known
values as unknown (condition dropout) so "articleType=Dresses" alone, without a colour or a
season, is a condition the generator has learned to honour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from pipeline.core.errors import UnusableInputError

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Vocabulary:
    """Attribute name -> its values; index 0 of each is ``unknown``."""

    attributes: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def from_values(cls, values: Mapping[str, Sequence[str]]) -> Vocabulary:
        return cls(tuple((name, (UNKNOWN, *sorted(set(map(str, vals)) - {UNKNOWN})))
                         for name, vals in values.items()))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.attributes]

    @property
    def sizes(self) -> list[int]:
        return [len(values) for _, values in self.attributes]

    def values(self, name: str) -> tuple[str, ...]:
        return dict(self.attributes)[name]

    def encode(self, rows: Sequence[Mapping[str, str]]) -> torch.Tensor:
        """(n, n_attributes) long tensor; values never seen become ``unknown`` (index 0)."""
        lookups = [{v: i for i, v in enumerate(values)} for _, values in self.attributes]
        return torch.tensor([[lookup.get(str(row.get(name, "")), 0)
                              for (name, _), lookup in zip(self.attributes, lookups,
                                                           strict=True)]
                             for row in rows], dtype=torch.long).reshape(len(rows), -1)

    def parse(self, condition: str) -> torch.Tensor:
        """``"articleType=Dresses,baseColour=Red"`` -> a (1, n_attributes) index tensor.

        An unknown attribute or value is an ``UnusableInputError`` listing the valid ones.
        """
        wanted: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in condition.split(","))):
            name, sep, value = part.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not name:
                raise UnusableInputError(f"condition {part!r} is not attribute=value")
            if name not in self.names:
                raise UnusableInputError(f"unknown attribute {name!r}; valid: "
                                         f"{', '.join(self.names)}")
            if value not in self.values(name):
                raise UnusableInputError(f"unknown value {value!r} for {name}; valid: "
                                         f"{', '.join(self.values(name))}")
            wanted[name] = value
        return self.encode([wanted])

    def to_json(self) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self.attributes}

    @classmethod
    def from_json(cls, data: Mapping[str, Sequence[str]]) -> Vocabulary:
        return cls(tuple((name, tuple(values)) for name, values in data.items()))


def drop_conditions(labels: torch.Tensor, probability: float,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Hide each known attribute value as unknown with ``probability`` (condition dropout)."""
    if probability <= 0:
        return labels
    hide = torch.rand(labels.shape, generator=generator, device=labels.device) < probability
    return labels.masked_fill(hide, 0)
