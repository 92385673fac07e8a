"""The ingest DAG's poll: flat in the drop's history, refused manifests reported once,
manifests with retryable rows listed again (a bounded number of times)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline import ingest
from pipeline.core import storage
from pipeline.core.settings import Settings
from pipeline.ingest import fetch
from pipeline.jobs import drop as drops
from pipeline.jobs import tasks

OLD_MANIFESTS = 120


def label_only_manifest(path, item: str) -> str:
    pd.DataFrame([{"item_id": item, "observed_at": "2025-04-02T10:00:00Z",
                   "source": "street", "colour": "red"}]).to_csv(path, index=False)
    return str(path)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLECAST_HOME", str(tmp_path / "home"))
    return Settings(home=str(tmp_path / "home"), workers=1)


@pytest.fixture
def reads(monkeypatch):
    """Every file a poll opens (the listing itself opens none)."""
    opened: list[str] = []
    real = storage.read_bytes

    def counted(uri: str) -> bytes:
        opened.append(uri)
        return real(uri)

    monkeypatch.setattr(storage, "read_bytes", counted)
    return opened


def test_a_poll_over_many_old_manifests_reads_none_of_them(home, tmp_path, reads):
    drop = tmp_path / "drop"
    drop.mkdir()
    for i in range(OLD_MANIFESTS):
        ingest.run(label_only_manifest(drop / f"old-{i:04d}.csv", f"old-{i}"), settings=home)
    assert len(drops.new_manifests(home, str(drop))) == 0, "all ingested already"
    reads.clear()
    new = label_only_manifest(drop / "new.csv", "new")
    assert drops.new_manifests(home, str(drop)) == [new]
    manifests_read = [r for r in reads if r.startswith(str(drop))]
    assert manifests_read == [new], "only the new file is opened"
    ingest.run(new, settings=home)
    reads.clear()
    assert drops.new_manifests(home, str(drop)) == []
    assert [r for r in reads if r.startswith(str(drop))] == []
    # A changed file (new size and time) is read again and, with new content, listed.
    label_only_manifest(drop / "old-0003.csv", "old-3-corrected-with-a-longer-id")
    assert drops.new_manifests(home, str(drop)) == [str(drop / "old-0003.csv")]


def test_an_unusable_manifest_is_reported_once_until_it_changes(home, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    broken = drop / "broken.csv"
    broken.write_text("name,price\nshirt,3\n")          # no item_id, no observed_at
    assert drops.new_manifests(home, str(drop)) == [str(broken)]
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="item_id"):
        tasks.ingest_manifest(str(broken))
    assert drops.new_manifests(home, str(drop)) == [], "reported once, not every poll"
    assert drops.read_ledger(home, str(drop))[str(broken)]["state"] == "refused"
    label_only_manifest(broken, "fixed")
    assert drops.new_manifests(home, str(drop)) == [str(broken)], "fixed: tried again"


def test_a_manifest_with_retryable_rows_is_listed_again_a_bounded_number_of_times(
        home, tmp_path, monkeypatch):
    drop = tmp_path / "drop"
    drop.mkdir()
    monkeypatch.setattr(fetch, "public_address", lambda host, port: "127.0.0.1")
    manifest = drop / "remote.csv"
    pd.DataFrame([{"item_id": "web", "image": "http://127.0.0.1:9/img.png",
                   "observed_at": "2025-04-02T10:00:00Z"}]).to_csv(manifest, index=False)
    summary = ingest.run(str(manifest), settings=home, allow_remote=("http://127.0.0.1:9/",))
    assert summary.by_reason == {"remote_unavailable": 1}
    listed = [drops.new_manifests(home, str(drop)) for _ in range(drops.MAX_RETRIES + 2)]
    assert listed == [[str(manifest)]] * drops.MAX_RETRIES + [[], []]
    assert drops.read_ledger(home, str(drop))[str(manifest)]["state"] == "ingested"
