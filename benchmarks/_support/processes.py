"""Subprocesses and ports for tests and benchmarks."""

from __future__ import annotations

import os
import socket


class ServiceFailed(RuntimeError):
    """A service a test or benchmark needs did not start or answer."""


def inherited_env() -> dict[str, str]:
    """This process's environment minus MLFLOW_TRACKING_URI: ``mlflow.set_tracking_uri()``
    also writes that variable, so an in-process run of one test would otherwise send a later
    subprocess's runs to that test's store. A test that wants a store passes it explicitly."""
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free port never handed out before in this run.

    The kernel may offer a just-released port again, and services asked for several ports at
    once (SeaweedFS takes eight) bind them only later: two equal ones fail with "address
    already in use".
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
