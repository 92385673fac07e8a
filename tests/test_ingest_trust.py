"""Ingest's trust boundaries: concurrent writers never store one id twice, reads are
bounded, remote images are fetched only where allowed and never from private addresses,
and a wrong images root is one clear error with a hint instead of a silent empty batch."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
from helpers import REPO, STYLECAST, inherited_env, png_bytes, run_cli, shared

from pipeline import ingest
from pipeline.core import storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings
from pipeline.ingest import fetch

SHARED_IDS = 150


def manifest_with_shared_ids(folder: Path, prefix: str, colour_base: int, rows: int = 400
                             ) -> Path:
    """``rows`` items; the first SHARED_IDS ids are the same in every manifest, with
    images that differ between manifests."""
    (folder / "img").mkdir(parents=True)
    records = []
    for i in range(rows):
        item_id = f"shared-{i}" if i < SHARED_IDS else f"{prefix}-{i}"
        name = f"img/{i}.png"
        (folder / name).write_bytes(png_bytes(colour=(colour_base + i // 256, i % 256, 50)))
        records.append({"item_id": item_id, "image": name,
                        "observed_at": "2025-04-02T10:00:00Z", "colour": "red"})
    pd.DataFrame(records).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def concurrent_ingests(manifests: list[Path], env: dict[str, str], cwd: Path) -> None:
    """``stylecast ingest`` of every manifest, all started at once; each must succeed."""
    running = [subprocess.Popen([*STYLECAST, "ingest", str(m)], cwd=cwd, text=True,
                                env={**env, "STYLECAST_WORKERS": "1"},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for m in manifests]
    outputs = [p.communicate(timeout=300) for p in running]
    assert all(p.returncode == 0 for p in running), [o[1][-2000:] for o in outputs]


def test_concurrent_ingests_store_each_id_with_one_content(tmp_path):
    """Two ingests started together, with 150 ids in common and other images under them, as
    the ingest DAG's mapped tasks run. Repeated, since a race shows only some of the time."""
    manifests = [manifest_with_shared_ids(tmp_path / name, name, base)
                 for name, base in (("a", 10), ("b", 200))]
    for attempt in range(3):
        home = tmp_path / f"home-{attempt}"
        concurrent_ingests(manifests, {**inherited_env(), "STYLECAST_HOME": str(home)}, REPO)
        settings = Settings(home=str(home))
        items = storage.read_table(settings.path("items"), columns=["item_id", "sha256"])
        ids = items["item_id"].to_pylist()
        assert len(ids) == len(set(ids)), f"attempt {attempt}: an id stored twice"
        assert len(ids) == 2 * 400 - SHARED_IDS
        conflicts = [q for q in storage.read_table(settings.path("quarantine")).to_pylist()
                     if q["reason"] == "item_id_conflict"]
        assert sorted(q["item_id"] for q in conflicts) == sorted(
            f"shared-{i}" for i in range(SHARED_IDS)), "each loser's row is quarantined"
        losers = {q["manifest"] for q in conflicts}
        assert len(losers) == 1, "one ingest committed first; the other lost every shared id"


def test_an_oversize_file_is_rejected_without_being_read(builder, tmp_path):
    big = builder.root / "img" / "big.jpg"
    big.parent.mkdir(parents=True)
    with big.open("wb") as handle:  # 6 GB, sparse: nothing but its size on disk
        handle.truncate(6_000_000_000)
    builder.add("big", "img/big.jpg")
    builder.add_good("small")
    # A fresh parent process, so the peak is this ingest's (its largest process), not that
    # of whatever else this test session ran before.
    measured = subprocess.run(
        [sys.executable, "-c", "import resource, subprocess, sys; "
         "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
         "print(done.stdout.strip()); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
         "sys.exit(done.returncode)", *STYLECAST, "ingest", str(builder.write())],
        env={**inherited_env(), "STYLECAST_HOME": str(tmp_path / "home")}, cwd=REPO,
        capture_output=True, text=True, timeout=300, check=True)
    summary_line, peak_kib = measured.stdout.strip().splitlines()[-2:]
    summary, peak_mib = json.loads(summary_line), int(peak_kib) / 1024
    assert summary["by_reason"] == {"file_too_large": 1} and summary["ingested"] == 1
    quarantine = pd.read_parquet(tmp_path / "home" / "quarantine")
    assert "is 6000000000 bytes; the limit is 50000000 bytes" in quarantine["message"][0]
    assert peak_mib < 1000, f"peak RSS {peak_mib:.0f} MiB: the file was read"


def test_max_bytes_is_an_option(builder, settings):
    builder.add_good("photo")
    summary = ingest.run(str(builder.write()), settings=settings, max_bytes=100)
    assert summary.by_reason == {"file_too_large": 1}


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers /img.png with a PNG and /hop with a redirect to ``redirect_to``."""

    requests: ClassVar[list[str]] = []
    redirect_to = ""
    unavailable = 0          # answer this many requests with 503 first

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        if type(self).unavailable > 0:
            type(self).unavailable -= 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", type(self).redirect_to)
            self.end_headers()
            return
        body = png_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def web_server():
    _Recorder.requests, _Recorder.unavailable = [], 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_remote_images_are_refused_unless_allowed_and_never_from_loopback(
        builder, tmp_path, web_server):
    builder.add("web", f"{web_server}/img.png")
    builder.add("bucket", "s3://someone-elses-bucket/x.png")
    builder.add_good("local")
    manifest = str(builder.write())
    refused = json.loads(run_cli(["ingest", manifest], tmp_path / "a", check=True).stdout)
    assert refused["by_reason"] == {"remote_not_allowed": 2} and refused["ingested"] == 1

    allowed = json.loads(run_cli(["ingest", manifest, "--allow-remote", f"{web_server}/"],
                                 tmp_path / "b", check=True).stdout)
    assert allowed["by_reason"] == {"remote_not_allowed": 1, "unreadable_path": 1}
    message = pd.read_parquet(tmp_path / "b" / "quarantine").set_index("item_id")["message"]
    assert "resolves to 127.0.0.1, a loopback" in message["web"]
    assert _Recorder.requests == [], "the server must never be asked"


@pytest.fixture
def loopback_is_public(monkeypatch):
    """The test server sits on loopback, which the real check refuses: here it counts as
    public. No request leaves this machine."""
    real_check = fetch.public_address
    monkeypatch.setattr(fetch, "public_address", lambda host, port: "127.0.0.1"
                        if host == "127.0.0.1" else real_check(host, port))


def test_redirects_are_judged_again(builder, settings, web_server, loopback_is_public):
    builder.add("direct", f"{web_server}/img.png")
    builder.add("to-private", f"{web_server}/hop")
    manifest = str(builder.write())
    allow = (f"{web_server}/", "http://10.1.2.3/")
    _Recorder.redirect_to = "http://10.1.2.3/img.png"
    summary = ingest.run(manifest, settings=settings, allow_remote=allow)
    assert summary.ingested == 1 and summary.by_reason == {"unreadable_path": 1}
    message = storage.read_table(settings.path("quarantine"))["message"].to_pylist()[0]
    assert "10.1.2.3 resolves to 10.1.2.3, a loopback, link-local, private" in message
    assert sorted(_Recorder.requests) == ["/hop", "/img.png"]

    _Recorder.redirect_to = "https://elsewhere.example/img.png"  # not under an allowed prefix
    again = ingest.run(manifest, settings=Settings(home=settings.home + "-2", workers=1),
                       allow_remote=allow)
    assert again.by_reason == {"remote_not_allowed": 1}


def test_a_server_that_answers_503_then_200_gives_the_image(builder, settings, web_server,
                                                            loopback_is_public):
    builder.add("web", f"{web_server}/img.png")
    manifest = str(builder.write())
    _Recorder.unavailable = 2
    summary = ingest.run(manifest, settings=settings, allow_remote=(f"{web_server}/",))
    assert summary.ingested == 1 and summary.quarantined == 0
    assert _Recorder.requests == ["/img.png"] * 3, "two 503s, then the image"


def test_a_fetch_that_keeps_failing_is_quarantined_as_retryable_and_the_next_ingest_gets_it(
        builder, settings, web_server, loopback_is_public):
    builder.add("web", f"{web_server}/img.png")
    builder.add_good("local")
    manifest = str(builder.write())
    allow = (f"{web_server}/",)
    _Recorder.unavailable = 100
    first = ingest.run(manifest, settings=settings, allow_remote=allow)
    assert first.ingested == 1 and first.by_reason == {"remote_unavailable": 1}
    assert len(_Recorder.requests) == fetch.FETCH_RETRIES + 1
    message = storage.read_table(settings.path("quarantine"))["message"].to_pylist()[0]
    assert "HTTP 503 after 4 tries; retried at the next ingest" in message
    assert "remote_unavailable" in ingest.RETRYABLE_REASONS

    _Recorder.unavailable = 0                  # the host is back: the same manifest again
    again = ingest.run(manifest, settings=settings, allow_remote=allow)
    assert again.ingested == 2 and again.quarantined == 0
    assert storage.read_table(settings.path("items")).num_rows == 2


def test_a_prefix_is_cut_at_a_path_boundary():
    settings = Settings(allow_remote=("https://cdn.example.com",))
    assert settings.allow_remote == ("https://cdn.example.com/",)
    with pytest.raises(UnusableInputError, match="not a URI prefix"):
        Settings(allow_remote=("cdn.example.com",))


def test_a_wrong_images_root_writes_nothing_and_says_where_it_looked(builder, tmp_path):
    for i in range(5):
        builder.add_good(f"item-{i}")
    manifest = builder.write()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    result = run_cli(["ingest", str(manifest), "--images-root", str(elsewhere)], home)
    assert result.returncode == 2, result.stderr
    assert f"5 of 5 image rows cannot be read under the images root {elsewhere}" in result.stderr
    assert "img/item-0.png" in result.stderr and "that holds img/?" in result.stderr
    assert not home.exists() or not any(home.glob("*/*")), "nothing written"


def test_a_product_catalog_manifest_ingests_with_no_option(tmp_path):
    """``stylecast sources product-catalog DIR --out FILE`` then ``stylecast ingest FILE``:
    the catalogue folder is recorded in the home, not in the manifest."""
    catalog, real = tmp_path / "catalog", shared("fashion-product-images-small")
    (catalog / "images").mkdir(parents=True)
    styles = pd.read_csv(real / "styles.csv", dtype=str, keep_default_na=False,
                         on_bad_lines="skip").head(40)
    styles.to_csv(catalog / "styles.csv", index=False)
    for item in styles["id"]:
        if (real / "images" / f"{item}.jpg").exists():
            shutil.copy(real / "images" / f"{item}.jpg", catalog / "images")
    home, out = tmp_path / "home", tmp_path / "elsewhere" / "cat.parquet"
    made = json.loads(run_cli(["sources", "product-catalog", str(catalog), "--out", str(out)],
                              home, check=True).stdout)
    assert made["images_root"] == str(catalog)
    summary = json.loads(run_cli(["ingest", str(out)], home, check=True).stdout)
    assert summary["ingested"] == len(list((catalog / "images").glob("*.jpg")))
    assert "unreadable_path" not in summary["by_reason"]
    # The record is the home's, not the manifest's: another home has none, so the paths
    # resolve next to the manifest, as for any manifest from elsewhere: the clear error.
    other = run_cli(["ingest", str(out)], tmp_path / "home-2")
    assert other.returncode == 2 and "Is --images-root the folder that holds images/?" in \
        other.stderr

