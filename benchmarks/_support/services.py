"""Real services on 127.0.0.1 for integration tests: PostgreSQL and long-running processes.

PostgreSQL comes from the Debian package (``.ci/run`` / ``make setup`` installs it). Its
server refuses to run as root, so under root the cluster belongs to the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from _support.processes import ServiceFailed


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found or not found[-1]:
        raise ServiceFailed(f"PostgreSQL's {name} is missing: install the Debian package "
                            "postgresql (make setup does when run as root)")
    return found[-1]


def _as_owner(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class Postgres:
    folder: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        subprocess.run(_as_owner([_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port),
                                  "-U", "postgres", "-c", f"CREATE DATABASE {name}"]),
                       check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(_as_owner([_pg_bin("pg_ctl"), "-D", str(self.folder / "data"), "stop",
                                  "-m", "fast"]), capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(port: int) -> Postgres:
    """A throwaway cluster. Its folder sits directly under the temp dir: pytest's own folders
    are private to root, and the ``postgres`` user must be able to reach the cluster."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="stylecast-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    made = subprocess.run(_as_owner([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U",
                                     "postgres"]), capture_output=True, text=True)
    if made.returncode != 0:
        raise ServiceFailed(f"initdb failed: {made.stderr}")
    started = subprocess.run(_as_owner([
        _pg_bin("pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
        "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"]),
        capture_output=True, text=True)
    if started.returncode != 0:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
        raise ServiceFailed(f"PostgreSQL did not start: {started.stderr}\n{log}")
    return Postgres(folder, port)


class Service:
    """A background process with its output in a log file; stopped by its own pid."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.log_path = folder / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(args, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, cwd=folder,
                                        start_new_session=True)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
        self._log.close()


def wait_http(url: str, service: Service, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3):
                return
        except OSError:
            if service.process.poll() is not None or time.monotonic() > deadline:
                raise ServiceFailed(f"{service.name} did not come up at {url}:\n"
                                    f"{service.log_tail()}") from None
            time.sleep(1)


def start_airflow(env: dict[str, str], api_port: int, folder: Path) -> dict[str, Service]:
    """Migrate the metadata database, create the ``gpu`` pool, then start the api-server,
    scheduler and dag-processor; returns them by name (workers are the caller's)."""
    import sys

    airflow = [sys.executable, "-m", "airflow"]
    for args in (["db", "migrate"], ["pools", "set", "gpu", "1", "GPU training slots"]):
        done = subprocess.run([*airflow, *args], env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"airflow {' '.join(args)}: {done.stderr[-3000:]}"
    started = {}
    for name in ("api-server", "scheduler", "dag-processor"):
        extra = ["--port", str(api_port)] if name == "api-server" else []
        started[name] = Service(name, [*airflow, name, *extra], env, folder)
    return started
