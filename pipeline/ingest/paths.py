"""Resolve a manifest's image reference without ever leaving the images root."""

from __future__ import annotations

import functools
import os
from pathlib import PurePosixPath

from pipeline.core.settings import is_local, local_path
from pipeline.ingest.images import ImageRejected

REMOTE_PROTOCOLS = ("s3://", "gs://", "gcs://", "abfs://", "az://", "memory://", "http://",
                    "https://")


def resolve(ref: str, images_root: str) -> str:
    """Return a readable path or URI for ``ref``, or raise ``path_escapes_root``."""
    if ref.startswith(REMOTE_PROTOCOLS):
        return ref
    if "://" in ref:
        raise ImageRejected("path_escapes_root", f"{ref!r}: only remote URIs may name a scheme")
    posix = PurePosixPath(ref.replace("\\", "/"))
    if posix.is_absolute() or ref.startswith("~") or (len(ref) > 1 and ref[1] == ":"):
        raise ImageRejected("path_escapes_root", f"{ref!r} is absolute; paths are relative to "
                                                 "the images root")
    if ".." in posix.parts:
        raise ImageRejected("path_escapes_root", f"{ref!r} climbs out of the images root")
    if not is_local(images_root):
        return f"{images_root.rstrip('/')}/{posix}"
    root = _real(local_path(images_root))
    # A symlink inside the root may still point outside it: judge by the real target.
    # Folders are resolved once (cached); the file itself only when it is a link.
    folder = _real(os.path.join(root, str(posix.parent)))
    real = os.path.join(folder, posix.name)
    if os.path.islink(real):
        real = os.path.realpath(real)
    if real != root and not real.startswith(root + os.sep):
        raise ImageRejected("path_escapes_root", f"{ref!r} resolves outside the images root "
                                                 f"(to {real})")
    return real


@functools.lru_cache(maxsize=4096)
def _real(path: str) -> str:
    return os.path.realpath(path)
