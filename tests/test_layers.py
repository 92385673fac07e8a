"""The layout's rules: the import-linter contract holds, no two files import each other (even
through others or inside functions), and DAG files reach the packages through one module."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import grimp
from helpers import REPO

PACKAGES = ("pipeline", "gan", "forecasting")


def import_cycle(*packages: str) -> list[str] | None:
    """One cycle of file imports among ``packages`` (every import statement counts, lazy
    ones inside functions too), or None."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as err:
        return list(err.args[1])
    return None


def test_no_file_imports_itself_through_others():
    assert import_cycle(*PACKAGES) is None


def test_a_cycle_between_two_files_is_found(tmp_path, monkeypatch):
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "weekly.py").write_text("from cyclic import report\n")
    (package / "report.py").write_text("def build():\n    from cyclic import weekly\n")
    (package / "other.py").write_text("import cyclic.report\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cycle = import_cycle("cyclic")
    assert cycle is not None and set(cycle) == {"cyclic.weekly", "cyclic.report"}


def test_the_import_contract_holds():
    """``lint-imports`` (also run by ``make test``): the layers, gan and forecasting
    independent, nothing below the jobs layer imports it, the CLI or Airflow."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "4 kept, 0 broken" in result.stdout


def test_dag_files_call_only_the_airflow_task_functions():
    for dag in sorted((REPO / "dags").glob("*.py")):
        imported = {node.module for node in ast.walk(ast.parse(dag.read_text()))
                    if isinstance(node, ast.ImportFrom) and node.module
                    and node.module.split(".")[0] in PACKAGES}
        imported |= {alias.name for node in ast.walk(ast.parse(dag.read_text()))
                     if isinstance(node, ast.Import) for alias in node.names
                     if alias.name.split(".")[0] in PACKAGES}
        # the task functions, and the Airflow wiring beside them: assets and the notifier
        assert "pipeline.jobs.tasks" in imported, dag.name
        assert imported <= {"pipeline.jobs.tasks", "pipeline.jobs.assets",
                            "pipeline.jobs.notify"}, (dag.name, imported)
