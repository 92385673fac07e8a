"""One settings object for every StyleCast component, read from the environment.

Paths are strings on purpose: any of them may be an fsspec URI (``memory://``, ``s3://``)
so a laptop and a cluster run the same code against different stores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.device import DEVICE_CHOICES, resolve_device

DEFAULT_HOME = "./stylecast-home"


def is_local(uri: str) -> bool:
    """True for plain paths and ``file://`` URIs, which support atomic rename."""
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> str:
    return uri.removeprefix("file://")


def remote_prefix(prefix: str) -> str:
    """An allowed remote prefix, ending at a path boundary: ``https://cdn.example.com``
    becomes ``https://cdn.example.com/``, so it cannot also allow
    ``https://cdn.example.com.attacker.net/``."""
    from pipeline.core.errors import UnusableInputError

    scheme, sep, rest = prefix.partition("://")
    if not sep or not scheme or not rest.strip("/"):
        raise UnusableInputError(f"remote prefix {prefix!r} is not a URI prefix such as "
                                 "https://cdn.example.com/images/ or s3://bucket/")
    return prefix if "/" in rest else prefix + "/"


def cache_dir() -> Path:
    """StyleCast's folder in the user's cache (``$XDG_CACHE_HOME/stylecast``): downloads,
    and what cannot live on an object-store home (a SQLite file, checkpoints)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stylecast"


@dataclass(frozen=True)
class Settings:
    home: str = DEFAULT_HOME
    mlflow_tracking_uri: str = ""
    device: str = "auto"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    allow_remote: tuple[str, ...] = ()   # URI prefixes manifests may fetch images from

    def __post_init__(self) -> None:
        if self.device not in DEVICE_CHOICES:
            raise ValueError(
                f"STYLECAST_DEVICE={self.device!r} is not one of {', '.join(DEVICE_CHOICES)}"
            )
        if self.workers < 1:
            raise ValueError(f"STYLECAST_WORKERS must be >= 1, got {self.workers}")
        if is_local(self.home):
            # Absolute so that subprocesses (Airflow tasks, pool workers) agree on it.
            object.__setattr__(self, "home", str(Path(local_path(self.home)).resolve()))
        else:
            object.__setattr__(self, "home", self.home.rstrip("/"))
        object.__setattr__(self, "allow_remote",
                           tuple(remote_prefix(p) for p in self.allow_remote))
        if not self.mlflow_tracking_uri:
            object.__setattr__(self, "mlflow_tracking_uri", self._default_tracking_uri())

    def _default_tracking_uri(self) -> str:
        if is_local(self.home):
            return f"sqlite:///{Path(self.home) / 'mlflow.db'}"
        # A SQLite file cannot live on an object store; keep it in the user's cache instead.
        return f"sqlite:///{cache_dir() / 'mlflow.db'}"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {
            "home": env.get("STYLECAST_HOME", DEFAULT_HOME),
            "mlflow_tracking_uri": env.get("MLFLOW_TRACKING_URI", ""),
            "device": env.get("STYLECAST_DEVICE", "auto"),
        }
        if env.get("STYLECAST_WORKERS"):
            values["workers"] = int(env["STYLECAST_WORKERS"])
        if env.get("STYLECAST_ALLOW_REMOTE"):
            values["allow_remote"] = tuple(env["STYLECAST_ALLOW_REMOTE"].replace(",", " ")
                                           .split())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def path(self, *parts: str) -> str:
        """A location under the home, as a path or URI of the same kind as the home."""
        return "/".join([self.home, *parts])

    def resolve_device(self) -> str:
        return resolve_device(self.device)
