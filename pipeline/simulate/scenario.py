"""Scenario files: popularity patterns per attribute value, turned into weekly shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from pipeline.core.errors import UnusableInputError

WEEKS_PER_YEAR = 52.1775

# Each pattern maps (t = weeks since start, woy = ISO week of year) to a positive weight.
PATTERNS = {
    "constant": lambda p, t, woy: np.full_like(t, p["base"], dtype=float),
    "seasonal": lambda p, t, woy: p["base"] * (
        1 + p["amplitude"] * np.cos(2 * np.pi * (woy - p["peak_week"]) / WEEKS_PER_YEAR)),
    "growth": lambda p, t, woy: p["base"] * (1 + p["rate"]) ** t,
    "decline": lambda p, t, woy: p["base"] * (1 - p["rate"]) ** t,
    "logistic": lambda p, t, woy: p["base"] + p["top"] / (
        1 + np.exp(-(t - p["midpoint"]) / p["scale"])),
    "spike": lambda p, t, woy: p["base"] + p["height"] * np.exp(
        -0.5 * ((t - p["at"]) / p["width"]) ** 2),
}
REQUIRED_PARAMS = {
    "constant": ("base",), "seasonal": ("base", "amplitude", "peak_week"),
    "growth": ("base", "rate"), "decline": ("base", "rate"),
    "logistic": ("base", "top", "midpoint", "scale"), "spike": ("base", "height", "at", "width"),
}


@dataclass(frozen=True)
class Attribute:
    name: str
    values: dict[str, dict]
    noise: float = 0.0
    colourise: bool = False

    def rgb(self, value: str) -> tuple[int, int, int]:
        return tuple(self.values[value]["rgb"])  # type: ignore[return-value]


@dataclass(frozen=True)
class Scenario:
    name: str
    items_per_week: float
    label_attribute: str
    attributes: dict[str, Attribute] = field(default_factory=dict)

    def planted_shares(self, mondays: list[date], rng: np.random.Generator,
                       ) -> dict[str, np.ndarray]:
        """Per attribute, an array (weeks x values) of shares that sum to 1 each week."""
        t = np.arange(len(mondays), dtype=float)
        woy = np.array([d.isocalendar()[1] for d in mondays], dtype=float)
        shares = {}
        for attr in self.attributes.values():
            weights = np.stack(
                [PATTERNS[spec["pattern"]](spec, t, woy) for spec in attr.values.values()], axis=1
            )
            weights = np.clip(weights, 1e-6, None)
            if attr.noise:
                weights = weights * rng.lognormal(0.0, attr.noise, size=weights.shape)
            shares[attr.name] = weights / weights.sum(axis=1, keepdims=True)
        return shares


def default_path() -> Path:
    return Path(str(resources.files("pipeline.simulate") / "scenarios" / "fashion-mnist.yaml"))


def load(path: Path | None = None) -> Scenario:
    path = path or default_path()
    try:
        spec = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise UnusableInputError(f"scenario {path}: {err}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("attributes"), dict):
        raise UnusableInputError(f"scenario {path}: needs an 'attributes' mapping")
    attributes = {}
    for name, attr in spec["attributes"].items():
        values = attr.get("values") or {}
        if len(values) < 2:
            raise UnusableInputError(f"scenario {path}: attribute {name!r} needs >= 2 values")
        for value, params in values.items():
            pattern = params.get("pattern")
            if pattern not in PATTERNS:
                raise UnusableInputError(
                    f"scenario {path}: {name}={value}: pattern {pattern!r} is not one of "
                    f"{', '.join(PATTERNS)}")
            missing = [p for p in REQUIRED_PARAMS[pattern] if p not in params]
            if attr.get("colourise") and "rgb" not in params:
                missing.append("rgb")
            if missing:
                raise UnusableInputError(
                    f"scenario {path}: {name}={value} ({pattern}) lacks {', '.join(missing)}")
        attributes[name] = Attribute(name, {str(k): v for k, v in values.items()},
                                     float(attr.get("noise", 0.0)), bool(attr.get("colourise")))
    label = spec.get("label_attribute")
    if label not in attributes:
        raise UnusableInputError(f"scenario {path}: label_attribute {label!r} is not an attribute")
    if sum(a.colourise for a in attributes.values()) > 1:
        raise UnusableInputError(f"scenario {path}: at most one attribute can colourise")
    return Scenario(str(spec.get("name", Path(path).stem)), float(spec.get("items_per_week", 200)),
                    label, attributes)


def random_scenario(n_attributes: int, values_per_attribute: int, weeks: int,
                    rng: np.random.Generator, items_per_week: float = 1000.0,
                    noise: float = 0.05) -> Scenario:
    """Many attributes with randomly drawn patterns: a large labelled test bed for forecasts.

    Parameters are drawn so every pattern stays visible within ``weeks`` (growth doubles at
    most, logistic and spike events happen inside the span).
    """
    def spec(pattern: str) -> dict:
        base = float(rng.uniform(0.5, 1.5))
        return {"pattern": pattern, "base": base, **{
            "constant": {},
            "seasonal": {"amplitude": rng.uniform(0.2, 0.8), "peak_week": rng.integers(1, 53)},
            "growth": {"rate": rng.uniform(0.002, 0.01)},
            "decline": {"rate": rng.uniform(0.002, 0.01)},
            "logistic": {"top": base * rng.uniform(0.5, 2.0),
                         "midpoint": rng.uniform(0.3, 0.9) * weeks, "scale": rng.uniform(3, 12)},
            "spike": {"height": base * rng.uniform(1, 3), "at": rng.uniform(0.2, 0.95) * weeks,
                      "width": rng.uniform(1, 4)},
        }[pattern]}

    patterns = list(PATTERNS)
    attributes = {}
    for a in range(n_attributes):
        values = {f"v{v:02d}": spec(str(rng.choice(patterns)))
                  for v in range(values_per_attribute)}
        attributes[f"a{a:03d}"] = Attribute(f"a{a:03d}", values, noise)
    return Scenario("random", items_per_week, "a000", attributes)
