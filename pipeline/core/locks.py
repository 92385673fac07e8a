"""A lock held in the store itself, so that writers on different machines agree on it.

It rests on one primitive every StyleCast store has: create a file only if it does not
exist (``O_EXCL`` on a local disk; a conditional put, ``If-None-Match: *``, on an object
store: AWS S3, GCS, Azure, SeaweedFS and MinIO honour it; a store that ignored it would
make the lock a no-op, so use one that does). The holder writes a unique token; it
deletes the lock when done. A lock older than its lease, or held by a process of this
machine that no longer runs, is taken as left by a crashed holder and broken, but only by
the one waiter that wins an exclusive create of a "breaker"
file named after that token, so two waiters can never both break it (and delete a fresh
lock a third one just took).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator

from pipeline.core import storage
from pipeline.core.errors import ServiceUnavailable
from pipeline.core.settings import is_local, local_path

LEASE_S = 900.0        # far beyond any commit; a lock this old was left by a crashed holder
WAIT_S = 1800.0        # then the store is taken as stuck: an error Airflow retries
POLL_S = (0.05, 2.0)   # first and longest pause between tries


def create_exclusive(uri: str, data: bytes) -> bool:
    """Create the file with ``data`` if nothing is there; False when something already is."""
    if is_local(uri):
        path = local_path(uri)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return True
    fs, path = storage.filesystem(uri)
    try:
        fs.pipe_file(path, data, mode="create")
    except FileExistsError:
        return False
    except OSError as err:
        if _precondition_failed(err):
            return False
        raise
    return True


def _precondition_failed(err: OSError) -> bool:
    """An S3 store's 412 for ``If-None-Match: *``: s3fs makes it a FileExistsError only when
    the store names the condition (AWS does; SeaweedFS and others do not)."""
    response = getattr(err.__cause__, "response", None) or {}
    return response.get("Error", {}).get("Code") == "PreconditionFailed"


def _read(uri: str) -> dict | None:
    try:
        return json.loads(storage.read_bytes(uri))
    except FileNotFoundError:
        return None
    except ValueError:  # being written right now: judge it on the next try
        return {"token": "", "since": time.time()}


@contextlib.contextmanager
def store_lock(uri: str, purpose: str, lease_s: float = LEASE_S,
               wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the lock at ``uri`` for the block; waits for another holder to finish."""
    token = uuid.uuid4().hex
    record = json.dumps({"token": token, "purpose": purpose, "host": socket.gethostname(),
                         "pid": os.getpid(), "since": time.time()}).encode()
    deadline, pause = time.monotonic() + wait_s, POLL_S[0]
    while not create_exclusive(uri, record):
        held = _read(uri)
        if held is not None and (time.time() - held.get("since", 0) > lease_s
                                 or _holder_died(held)):
            _break(uri, held)
            continue
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"the store's {purpose} lock {uri} has been held for "
                                     f"over {wait_s:.0f} s by {held}")
        time.sleep(pause)
        pause = min(pause * 2, POLL_S[1])
    try:
        yield
    finally:
        if (_read(uri) or {}).get("token") == token:
            storage.remove(uri)


def _holder_died(held: dict) -> bool:
    """A holder on this very machine whose process is gone (killed, say): no need to wait
    out its lease."""
    if held.get("host") != socket.gethostname() or not held.get("pid"):
        return False
    try:
        os.kill(int(held["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False


def _break(uri: str, held: dict) -> None:
    """Remove a lock whose lease ran out, unless another waiter is already doing so."""
    breaker = f"{uri}.broken-{held.get('token', '')}"
    if create_exclusive(breaker, b""):
        current = _read(uri)
        if current is not None and current.get("token") == held.get("token"):
            storage.remove(uri)
        storage.remove(breaker)
