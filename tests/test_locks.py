"""The store lock behind ingest's commit step: exclusive across processes, on a local disk
and an object store alike, and a lock left by a crashed holder is broken once."""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid

import pytest

from pipeline.core import storage
from pipeline.core.errors import ServiceUnavailable
from pipeline.core.locks import create_exclusive, store_lock


def _add_one(lock: str, counter: str, rounds: int) -> None:
    for _ in range(rounds):
        with store_lock(lock, "test"):
            value = int(storage.read_bytes(counter)) if storage.exists(counter) else 0
            time.sleep(0.002)  # widen the window a lost update would need
            storage.write_bytes_atomic(str(value + 1).encode(), counter)


def test_processes_never_hold_the_lock_together(tmp_path):
    lock, counter = str(tmp_path / "_locks" / "items.lock"), str(tmp_path / "counter")
    workers = [multiprocessing.get_context("fork").Process(target=_add_one,
                                                            args=(lock, counter, 25))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert int(storage.read_bytes(counter)) == 100, "no update lost"
    assert not storage.exists(lock), "released"


@pytest.mark.parametrize("root", ["local", "memory"])
def test_create_exclusive_creates_once(tmp_path, root):
    base = str(tmp_path) if root == "local" else f"memory://locks-{uuid.uuid4().hex}"
    target = f"{base}/a/lock"
    assert create_exclusive(target, b"first")
    assert not create_exclusive(target, b"second")
    assert storage.read_bytes(target) == b"first"


def test_a_lock_past_its_lease_is_broken_and_a_live_one_waited_for(tmp_path):
    lock = str(tmp_path / "items.lock")
    stale = {"token": "dead", "since": time.time() - 3600}
    storage.write_bytes_atomic(json.dumps(stale).encode(), lock)
    with store_lock(lock, "test", lease_s=60):
        held = json.loads(storage.read_bytes(lock))
        assert held["token"] != "dead" and held["purpose"] == "test"
    assert not storage.exists(lock) and not storage.exists(f"{lock}.broken-dead")

    live = {"token": "alive", "since": time.time()}
    storage.write_bytes_atomic(json.dumps(live).encode(), lock)
    with pytest.raises(ServiceUnavailable, match="has been held for over 1 s"), \
            store_lock(lock, "test", lease_s=60, wait_s=1):
        pass
    assert json.loads(storage.read_bytes(lock))["token"] == "alive", "another's lock is kept"
