"""What tests share besides fixtures: the real data under ../shared/data, running the
``stylecast`` command, small generated manifests, free ports. Tests import it by name
(``from helpers import ...``); ``conftest.py`` holds the fixtures only."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from _support.processes import free_port, inherited_env  # noqa: F401 (tests import both here)
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
STYLECAST = [sys.executable, "-m", "pipeline.cli"]


def shared(*parts: str) -> Path:
    """A path under ../shared/data; fails (never skips) when the real data is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"real test data missing: {path} (tests need ../shared/data beside the repo)")
    return path


def png_bytes(size=(32, 40), colour=(200, 30, 30), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, format="PNG")
    return out.getvalue()


class ManifestBuilder:
    """Writes images into ``root`` and rows into ``root/manifest.csv``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: list[dict] = []
        root.mkdir(parents=True, exist_ok=True)

    def image(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return name

    def add(self, item_id: str, image: str = "", observed_at: str = "2025-04-02T10:00:00Z",
            **attributes: str) -> None:
        self.rows.append({"item_id": item_id, "image": image, "observed_at": observed_at,
                          "source": "catalog", "colour": "red", **attributes})

    def add_good(self, item_id: str, colour=(10, 120, 200), **kw) -> None:
        self.add(item_id, self.image(f"img/{item_id}.png", png_bytes(colour=colour)), **kw)

    def write(self, name: str = "manifest.csv") -> Path:
        path = self.root / name
        pd.DataFrame(self.rows).fillna("").to_csv(path, index=False)
        return path


def run_cli(args: list[str], home: Path, check: bool = False, **env: str,
            ) -> subprocess.CompletedProcess:
    environment = {**inherited_env(), "STYLECAST_HOME": str(home), "STYLECAST_WORKERS": "2",
                   **env}
    return subprocess.run([*STYLECAST, *args], capture_output=True, text=True, env=environment,
                          check=check, cwd=REPO, timeout=600)


QUIET_MLFLOW = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def cli_json(args: list[str], home: Path, **env: str) -> dict:
    """Run a command that prints one JSON summary line; fail with its stderr otherwise."""
    import json

    result = run_cli(args, home, **{**QUIET_MLFLOW, **env})
    assert result.returncode == 0, f"stylecast {' '.join(args)} failed:\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def copy_home(store: dict, dest: Path) -> Path:
    """A private copy of a prepared home (data, MLflow database and artifacts). The MLflow
    database names its artifacts by absolute path: the copy's point into the copy, so that
    a test that changes artifacts never touches the prepared home."""
    import shutil
    import sqlite3

    shutil.copytree(store["home"], dest, ignore=shutil.ignore_patterns("_staging"))
    database = dest / "mlflow.db"
    if database.exists():
        old, new = str(Path(store["home"]).resolve()), str(dest.resolve())
        with sqlite3.connect(database) as db:
            tables = [t for (t,) in db.execute("select name from sqlite_master where type = "
                                               "'table'")]
            for table in tables:
                for _, column, kind, *_ in db.execute(f'pragma table_info("{table}")'):
                    if kind.upper().startswith(("VARCHAR", "TEXT")):
                        db.execute(f'update "{table}" set "{column}" = replace("{column}", ?, ?)'
                                   f' where "{column}" like ?', (old, new, f"%{old}%"))
    return dest


def run_weekly(home: Path, week: str, concepts: bool = True) -> None:
    """The weekly job's steps for one week, in process (``concepts=False``: up to the
    forecast)."""
    from pipeline.core.settings import Settings
    from pipeline.jobs import weekly

    settings = Settings(home=str(home), workers=2)
    steps = [weekly.embed_step, weekly.styles_step, weekly.series_step, weekly.forecast_step]
    for step in steps + ([weekly.concepts_step] if concepts else []):
        step(settings, week)
