"""Rights and erasure at the store: the policy file and its command, rights stored with each
item and read through the policy, ``stylecast forget`` (tombstones, audit log, ids the home
does not hold), kill -9 in the middle of an erasure, an ingest racing an erasure, and the
mark every generated PNG carries. (What an erasure does to a home's derived data, models
and report: ``test_erasure.py``.)"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
from helpers import REPO, STYLECAST, ManifestBuilder, cli_json, inherited_env, run_cli
from PIL import Image

from pipeline.core import png
from pipeline.core.rights import Policy


def _files_holding(home: Path, needles: list[str]) -> list[str]:
    """Every file of the home whose bytes hold one of ``needles``."""
    found = []
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(home)}: {n}" for n in needles if n.encode() in data]
    return found


@pytest.fixture
def rights_manifest(tmp_path) -> Path:
    builder = ManifestBuilder(tmp_path / "drop")
    for n in range(6):
        builder.add_good(f"open-{n}", colour=(10 * n, 120, 200), licence="CC-BY-4.0")
    for n in range(3):
        builder.add_good(f"nc-{n}", colour=(200, 10 * n, 30), licence="CC-BY-NC-4.0")
    builder.add_good("consent-0", colour=(5, 5, 5), uses="analyse; display")
    builder.add_good("silent-0", colour=(9, 9, 9))
    builder.add_good("odd-licence", colour=(1, 2, 3), licence="Our deal with Studio X")
    builder.add_good("odd-use", colour=(3, 2, 1), uses="analyse,sell")
    return builder.write()


def test_rights_are_stored_with_each_item_and_unknown_ones_are_quarantined(home, rights_manifest):
    summary = cli_json(["ingest", str(rights_manifest)], home)
    assert summary["ingested"] == 11 and summary["by_reason"] == {"unknown_licence": 1,
                                                                  "unknown_use": 1}
    rows = dict(duckdb.sql(f"select item_id, coalesce(licence, '-') || '|' || "
                           f"coalesce(uses, '-') from '{home}/items/*/*.parquet'").fetchall())
    assert rows["open-0"] == "CC-BY-4.0|-" and rows["consent-0"] == "-|analyse,display"
    assert rows["silent-0"] == "-|-"
    attributes = duckdb.sql(f"select map_keys(attributes) from '{home}/items/*/*.parquet'"
                            ).fetchall()
    assert all("licence" not in keys and "uses" not in keys for (keys,) in attributes)
    reasons = dict(duckdb.sql(f"select item_id, message from '{home}/quarantine/*.parquet'"
                              ).fetchall())
    assert "stylecast rights set" in reasons["odd-licence"]
    assert "'sell' is not a use" in reasons["odd-use"]


def test_the_policy_decides_at_read_time_and_a_broken_file_changes_nothing(home, settings,
                                                                         rights_manifest):
    from pipeline.core import catalog

    cli_json(["ingest", str(rights_manifest)], home)
    shown = json.loads(run_cli(["rights", "show"], home, check=True).stdout)
    assert shown["default"] is True and shown["unstated"] == ["analyse"]

    def allowed(use: str) -> set[str]:
        return set(catalog.scan_items(settings, use, ["item_id"])["item_id"].to_pylist())

    assert allowed("train") == {f"open-{n}" for n in range(6)}
    assert allowed("display") == {f"open-{n}" for n in range(6)} | {"consent-0"}
    assert len(allowed("analyse")) == 11
    # A brand that may show non-commercial photos says so once; no re-ingest is needed.
    run_cli(["rights", "set", "--licence", "CC-BY-NC-4.0", "--uses", "analyse,display"], home,
            check=True)
    assert {"nc-0", "nc-1", "nc-2"} <= allowed("display")
    assert json.loads(run_cli(["rights", "show"], home, check=True).stdout)["revision"] == 1

    policy_file = home / "rights" / "policy.json"
    policy_file.write_text("{not json")
    failed = run_cli(["rights", "set", "--source", "catalog", "--uses", "analyse"], home)
    assert failed.returncode == 2 and "does not parse" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
    assert policy_file.read_text() == "{not json"
    refused = run_cli(["ingest", str(rights_manifest)], home)
    assert refused.returncode == 2 and "rights policy" in refused.stderr
    bad_use = run_cli(["rights", "set", "--uses", "sell"], home)
    assert bad_use.returncode == 2 and "'sell' is not a use" in bad_use.stderr


def test_forget_erases_tombstones_and_logs_without_keeping_what_it_erased(home, rights_manifest,
                                                                        tmp_path):
    cli_json(["ingest", str(rights_manifest)], home)
    sha = duckdb.sql(f"select sha256 from '{home}/items/*/*.parquet' where item_id = 'open-1'"
                     ).fetchall()[0][0]
    # The same photo under a new id, and an odd row of the erased id, are erased with it.
    again = ManifestBuilder(tmp_path / "again")
    again.add("copy-of-open-1", again.image("img/c.png", (rights_manifest.parent / "img" /
                                                          "open-1.png").read_bytes()))
    cli_json(["ingest", str(again.write())], home)

    result = run_cli(["forget", "open-1", "nc-0", "no-such-item", "--who", "dpo@brand",
                      "--no-tracking"], home)
    assert result.returncode == 2, result.stderr
    assert "1 id(s) not held by this home: no-such-item" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["erased"] == 2 and summary["files"]["items"] >= 1
    assert not _files_holding(home, ["open-1", "nc-0", sha])
    ids = {i for (i,) in duckdb.sql(f"select item_id from '{home}/items/*/*.parquet'"
                                    ).fetchall()}
    assert len(ids) == 9 and "open-2" in ids

    audit = [json.loads(line) for line in
             (home / "rights" / "audit.jsonl").read_text().splitlines()]
    assert len(audit) == 1 and audit[0]["who"] == "dpo@brand"
    assert audit[0]["items"] == 2 and audit[0]["asked"] == 3 and audit[0]["not_held"] == 1

    # Re-ingesting the manifests brings neither the ids nor the photo back.
    back = cli_json(["ingest", str(rights_manifest)], home)
    copy = cli_json(["ingest", str(again.write())], home)
    assert back["erased"] == 2 and copy["erased"] == 1
    assert not _files_holding(home, ["open-1", "nc-0", sha])
    repeat = run_cli(["forget", "open-1", "--no-tracking"], home)
    assert repeat.returncode == 0 and json.loads(repeat.stdout)["already_erased"] == 1


def test_forget_needs_ids_and_says_so(home):
    result = run_cli(["forget"], home)
    assert result.returncode == 2 and "name the item ids" in result.stderr
    missing = run_cli(["forget", "--file", str(home / "nope.txt"), "--no-tracking"], home)
    assert missing.returncode == 2 and "not a file" in missing.stderr


def _item_ids(home: Path) -> set[str]:
    return {i for (i,) in duckdb.sql(f"select item_id from '{home}/items/*/*.parquet'"
                                     ).fetchall()}


def _simulated_home(tmp_path: Path, weeks: int, per_week: int, seed: int, every: int
                    ) -> tuple[Path, Path, set[str], list[str], Path]:
    """(home, drop, its item ids, every ``every``-th of them to erase, their ids file)."""
    drop, home = tmp_path / "drop", tmp_path / "home"
    run_cli(["simulate", "--out", str(drop), "--weeks", str(weeks), "--items-per-week",
             str(per_week), "--seed", str(seed)], home, check=True)
    cli_json(["ingest", str(drop / "manifest.csv")], home)
    everything = _item_ids(home)
    doomed = sorted(everything)[::every]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(doomed))
    return home, drop, everything, doomed, ids_file


def test_kill_minus_9_during_an_erasure_leaves_before_or_after_and_a_rerun_completes(
        tmp_path, fmnist_dir):
    home, drop, everything, doomed, ids_file = _simulated_home(tmp_path, 30, 40, 5, 7)
    env = {**inherited_env(), "STYLECAST_HOME": str(home)}
    caught = []
    for marker in ("staged", "committed", "applied"):
        proc = subprocess.Popen([*STYLECAST, "forget", "--file", str(ids_file), "--no-tracking"],
                                env=env, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 120
        while proc.poll() is None and not list((home / "_erasure").glob(f"*/{marker}")):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        with contextlib.suppress(ProcessLookupError):   # it may have finished
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        left = _item_ids(home)
        journals = list((home / "_erasure").glob("*/committed"))
        caught.append(bool(journals) or left == everything)
        if not list((home / "_erasure").glob("*/applied")) and left != everything:
            # Cut while replacing files: committed, so any writer completes it first.
            assert journals, "a partial erasure without a committed journal"
        if left == everything - set(doomed):
            break
    assert any(caught)
    rerun = run_cli(["forget", "--file", str(ids_file), "--no-tracking"], home)
    assert rerun.returncode == 0, rerun.stderr
    assert _item_ids(home) == everything - set(doomed)
    assert not list((home / "_erasure").glob("*/plan.json"))
    audit = (home / "rights" / "audit.jsonl").read_text().splitlines()
    assert len(audit) == 1, "an erasure is logged once, however often it was cut"
    cli_json(["ingest", str(drop / "manifest.csv")], home)
    assert _item_ids(home) == everything - set(doomed)


def test_an_ingest_racing_an_erasure_never_resurrects_an_item(tmp_path, fmnist_dir):
    home, drop, everything, doomed, ids_file = _simulated_home(tmp_path, 20, 60, 9, 5)
    env = {**inherited_env(), "STYLECAST_HOME": str(home), "STYLECAST_WORKERS": "2"}
    procs = [subprocess.Popen([*STYLECAST, *args], env=env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for args in (["ingest", str(drop / "manifest.csv")],
                          ["forget", "--file", str(ids_file), "--no-tracking"])]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert _item_ids(home) == everything - set(doomed)


def test_generated_pngs_say_so_in_xmp_and_keep_their_pixels():
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 255, (16, 12, 3), dtype=np.uint8)
    marked = png.label_generated(png.encode(pixels), "models:/stylecast-gan/7", "d-0123")
    again = png.label_generated(marked, "models:/stylecast-gan/8", "d-4567")
    with Image.open(io.BytesIO(again)) as image:
        xmp = image.getxmp()
        assert (np.asarray(image) == pixels).all()
    description = xmp["xmpmeta"]["RDF"]["Description"]
    assert description["DigitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert description["Model"] == "models:/stylecast-gan/8" and description["Id"] == "d-4567"
    assert again.count(png.XMP_KEYWORD) == 1, "a re-mark replaces, never stacks"


def test_a_policy_narrows_declared_uses_and_consent_alone_is_honoured():
    policy = Policy().with_rule(source="runway", uses=("analyse", "display"))
    assert policy.allowed("runway", None, None) == ("analyse", "display")
    assert policy.allowed("runway", None, "train") == ()
    assert policy.allowed("social", None, "analyse,train") == ("analyse", "train")
    assert policy.allowed("social", None, None) == ("analyse",)
    assert policy.allowed("social", "CC-BY-4.0", "display") == ("display",)
    assert "did not allow train" in policy.reason("social", None, "display", "train")
