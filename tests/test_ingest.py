"""Ingest end to end: what lands, what a second client reads back, re-runs and crashes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from datetime import date, timedelta

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import png_bytes, run_cli, shared
from PIL import Image

from pipeline import ingest
from pipeline.core import storage
from pipeline.core.settings import Settings


def _snapshot(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def test_summary_line_matches_what_duckdb_reads(builder, home):
    for i in range(6):
        builder.add_good(f"item-{i}", colour=(i * 30, 90, 200),
                         observed_at=f"2025-04-{2 * i + 1:02d}")
    original = (builder.root / "img/item-0.png").read_bytes()
    builder.add("copy-of-0", builder.image("copy.png", original))
    builder.add("broken", builder.image("broken.png", b"\x89PNG\r\n\x1a\n garbage"))
    result = run_cli(["ingest", str(builder.write())], home, check=True)

    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, "stdout is exactly one JSON summary line"
    summary = json.loads(lines[0])
    assert {k: summary[k] for k in ("total", "ingested", "duplicates", "quarantined")} == {
        "total": 8, "ingested": 6, "duplicates": 1, "quarantined": 1}
    assert summary["by_reason"] == {"truncated_image": 1}

    items = f"{home}/items/*/*.parquet"
    count, weeks = duckdb.sql(
        f"select count(*), count(distinct week) from read_parquet('{items}', hive_partitioning=1)"
    ).fetchall()[0]
    assert count == summary["ingested"]
    assert weeks == summary["weeks"] == 2  # 1-11 April 2025 spans ISO weeks 14 and 15
    [(quarantined,)] = duckdb.sql(f"select count(*) from '{home}/quarantine/*.parquet'").fetchall()
    assert quarantined == summary["quarantined"]
    dup = duckdb.sql(f"select item_id, duplicate_of from '{home}/duplicates/*.parquet'").fetchall()
    assert dup == [("copy-of-0", "item-0")]


def test_images_are_normalised_to_padded_rgb_squares(builder, settings):
    rgba = io.BytesIO()
    Image.new("RGBA", (40, 20), (255, 0, 0, 128)).save(rgba, format="PNG")
    builder.add("wide-rgba", builder.image("wide.png", rgba.getvalue()))
    grey = io.BytesIO()
    Image.new("L", (30, 90), 40).save(grey, format="JPEG")
    builder.add("tall-grey", builder.image("tall.jpg", grey.getvalue()))
    ingest.run(str(builder.write()), settings=settings)

    rows = {r["item_id"]: r for r in storage.read_table(settings.path("items")).to_pylist()}
    for item_id, (w, h) in {"wide-rgba": (40, 20), "tall-grey": (30, 90)}.items():
        image = Image.open(io.BytesIO(rows[item_id]["image_png"]))
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (64, 64))
        assert (rows[item_id]["width"], rows[item_id]["height"]) == (w, h)
    # Semi-transparent red over white, padded with its own border colour: no black bars.
    wide = Image.open(io.BytesIO(rows["wide-rgba"]["image_png"]))
    assert wide.getpixel((32, 0)) == wide.getpixel((32, 32))
    assert wide.getpixel((32, 32))[0] > 250 and wide.getpixel((32, 32))[1] > 100


def test_rerun_of_the_same_manifest_changes_nothing(builder, settings, home):
    for i in range(5):
        builder.add_good(f"item-{i}", colour=(i * 40, 0, 0), observed_at=f"2025-0{i + 1}-10")
    builder.add("bad", builder.image("bad.png", b""))
    manifest = str(builder.write())
    first = ingest.run(manifest, settings=settings)
    before = _snapshot(home)
    second = ingest.run(manifest, settings=settings)

    assert second == first
    assert _snapshot(home) == before
    assert storage.read_table(settings.path("items")).num_rows == 5
    assert storage.read_table(settings.path("quarantine")).num_rows == 1


def test_chunked_processing_and_small_buffers_give_the_same_store(builder, tmp_path,
                                                                   monkeypatch):
    import importlib

    run_module = importlib.import_module("pipeline.ingest.run")  # the module, not run()
    writer_module = importlib.import_module("pipeline.ingest.writer")

    for i in range(9):
        builder.add_good(f"item-{i}", colour=(i * 20, 5, 5), observed_at=f"2025-0{i % 3 + 1}-10")
    builder.add("dup", builder.image("dup.png", (builder.root / "img/item-4.png").read_bytes()))
    builder.add("bad", builder.image("bad.png", b""))
    manifest = str(builder.write())
    whole = Settings(home=str(tmp_path / "whole"), workers=2)
    chunked = Settings(home=str(tmp_path / "chunked"), workers=2)
    expected = ingest.run(manifest, settings=whole)
    monkeypatch.setattr(run_module, "CHUNK_ROWS", 2)
    monkeypatch.setattr(writer_module, "MAX_BUFFERED_ROWS", 2)
    got = ingest.run(manifest, settings=chunked)

    assert got == expected
    columns = ["item_id", "sha256", "iso_week", "image_png"]
    a = storage.read_table(whole.path("items"), columns=columns).sort_by("item_id")
    b = storage.read_table(chunked.path("items"), columns=columns).sort_by("item_id")
    assert a.equals(b)
    assert storage.read_table(chunked.path("quarantine"))["row"].to_pylist() == [10]


def test_a_second_manifest_only_adds_what_is_new(builder, settings):
    builder.add_good("a", colour=(1, 1, 1))
    builder.add_good("b", colour=(2, 2, 2))
    ingest.run(str(builder.write("week1.csv")), settings=settings)
    builder.add_good("c", colour=(3, 3, 3))
    summary = ingest.run(str(builder.write("week1-and-2.csv")), settings=settings)

    assert (summary.ingested, summary.duplicates) == (1, 2)
    items = storage.read_table(settings.path("items"), columns=["item_id"])
    assert sorted(items["item_id"].to_pylist()) == ["a", "b", "c"]


def test_a_crash_while_publishing_leaves_only_whole_partitions(builder, settings, home,
                                                               monkeypatch):
    for i in range(8):  # eight rows over eight ISO weeks: eight partition files
        builder.add_good(f"item-{i}", colour=(i * 30, 0, 0),
                         observed_at=(date(2025, 1, 6) + timedelta(weeks=i)).isoformat())
    manifest = str(builder.write())
    real_commit, calls = storage.commit_file, []

    def crash_after_three(tmp, dest):
        if len(calls) == 3:
            raise OSError("disk went away")
        calls.append(dest)
        real_commit(tmp, dest)

    monkeypatch.setattr(storage, "commit_file", crash_after_three)
    with pytest.raises(OSError, match="disk went away"):
        ingest.run(manifest, settings=settings)
    visible = storage.list_files(settings.path("items"))
    assert len(visible) == 3
    assert all(pq.read_metadata(f).num_rows == 1 for f in visible)

    monkeypatch.setattr(storage, "commit_file", real_commit)
    assert ingest.run(manifest, settings=settings).ingested == 8
    assert storage.read_table(settings.path("items")).num_rows == 8
    assert not list((home / "_staging").glob("*/*")), "no staging files left behind"


def test_label_only_streetstyle_ingests_as_image_less_observations(home, tmp_path):
    manifest = tmp_path / "streetstyle.csv"
    run_cli(["sources", "streetstyle", str(shared("streetstyle27k", "observations.csv")),
             "--out", str(manifest)], home, check=True)
    assert "image" not in pd.read_csv(manifest, nrows=1).columns
    summary = json.loads(run_cli(["ingest", str(manifest)], home, check=True).stdout)

    assert summary["total"] == 5416
    assert summary["ingested"] + summary["duplicates"] + summary["quarantined"] == 5416
    assert summary["ingested"] > 5300
    items = duckdb.sql(f"select * from read_parquet('{home}/items/*/*.parquet')").df()
    assert items["image_png"].isna().all()
    assert (items["source"] == "social").all()
    sample = dict(items["attributes"].iloc[0])
    assert sample["city"].startswith("city-")
    assert items["observed_at"].min().year == 2013 and items["observed_at"].max().year == 2015


def test_product_catalogue_adapter_dates_by_year_and_season(home, tmp_path):
    catalog = shared("fashion-product-images-small")
    manifest = tmp_path / "catalog.csv"
    run_cli(["sources", "product-catalog", str(catalog), "--out", str(manifest)], home, check=True)
    full = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    assert len(full) > 44_000
    subset = pd.concat([full.head(300), full[full["image"] == "images/39403.jpg"]])
    subset.to_csv(tmp_path / "subset.csv", index=False)
    summary = json.loads(run_cli(["ingest", str(tmp_path / "subset.csv"), "--images-root",
                                  str(catalog)], home, check=True).stdout)

    assert summary["total"] == len(subset)
    assert summary["ingested"] + summary["duplicates"] + summary["quarantined"] == len(subset)
    # Catalogue rows without a photo are kept in quarantine, not dropped.
    assert set(summary["by_reason"]) <= {"unreadable_path", "missing_date"}
    row = duckdb.sql(
        f"select observed_at, attributes['articleType'] as article "
        f"from read_parquet('{home}/items/*/*.parquet') where item_id = 'fpi-15970'").fetchall()
    assert len(row) == 1
    row = row[0]
    assert row[0].year == 2011 and row[0].month == 10  # Fall 2011
    assert row[1] == "Shirts"


def test_memory_home_round_trips_through_fsspec(builder):
    settings = Settings(home="memory://stylecast-test-home", workers=1)
    builder.add_good("m1")
    builder.add_good("m2", colour=(5, 5, 5))
    summary = ingest.run(str(builder.write()), settings=settings)
    table = storage.read_table(settings.path("items"), columns=["item_id", "image_png"])
    assert summary.ingested == table.num_rows == 2
    assert all(Image.open(io.BytesIO(b)).size == (64, 64) for b in table["image_png"].to_pylist())
    storage.remove(settings.home)


@pytest.mark.parametrize(("setup", "message"), [
    (lambda d: None, "cannot read"),
    (lambda d: (d / "manifest.csv").write_text("id,when\n1,2025-01-01\n"),
     "missing required column(s) item_id, observed_at"),
    (lambda d: (d / "manifest.csv").write_bytes(bytes(range(256)) * 8), "unreadable format"),
    (lambda d: (d / "manifest.csv").write_text(""), "file is empty"),
], ids=["missing-file", "missing-columns", "binary-garbage", "empty"])
def test_unusable_manifest_exits_2_with_one_line_and_writes_nothing(tmp_path, home, setup, message):
    setup(tmp_path)
    result = run_cli(["ingest", str(tmp_path / "manifest.csv")], home)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not home.exists()


def test_missing_images_root_is_unusable_input(builder, home, tmp_path):
    builder.add_good("x")
    result = run_cli(["ingest", str(builder.write()), "--images-root", str(tmp_path / "nope")],
                     home)
    assert result.returncode == 2 and "images root" in result.stderr
    assert not home.exists()


def test_png_bytes_fixture_is_a_real_png():
    assert Image.open(io.BytesIO(png_bytes())).format == "PNG"


def test_progress_hook_sees_every_row(builder, settings):
    class Recorder:
        total, done = None, 0

        def start(self, total):
            self.total = total

        def advance(self, n):
            self.done += n

    builder.add_good("p1")
    builder.add("p2", "missing.png")
    recorder = Recorder()
    ingest.run(str(builder.write()), settings=settings, progress=recorder)
    assert recorder.total == recorder.done == 2


DECODER_UNDER_A_TASK_HANDLER = """
import os, signal, sys
from pipeline.ingest.images import ImageLimits
from pipeline.ingest.decode import Decoder
from pipeline.ingest.fetch import ReadPolicy

root, parent = sys.argv[1], os.getpid()
# Airflow's task runner installs this kind of SIGTERM handler: in a forked child it returns.
signal.signal(signal.SIGTERM, lambda *_: None if os.getpid() != parent else sys.exit(1))
for fail in (False, True) * 5:
    try:
        with Decoder(ReadPolicy(root), ImageLimits(), workers=2, batch_size=1) as decoder:
            assert len(list(decoder.map([(i, f"{i}.png") for i in range(8)]))) == 8
            if fail:
                raise RuntimeError("a failure while the pool is open")
    except RuntimeError:
        pass
print("pool stopped every time")
"""


def test_decoder_pool_stops_under_a_task_sigterm_handler(tmp_path):
    # Forked workers inherited the handler, ignored Pool.terminate()'s SIGTERM, and the
    # ingest task hung in join() (seen under `airflow dags test`).
    for i in range(8):
        (tmp_path / f"{i}.png").write_bytes(png_bytes(colour=(i * 30, 0, 0)))
    script = subprocess.Popen([sys.executable, "-c", DECODER_UNDER_A_TASK_HANDLER,
                               str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        out, err = script.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(script.pid, signal.SIGKILL)   # the stuck workers too
        script.communicate()
        pytest.fail("the decoder pool hung on exit")
    assert script.returncode == 0, err
    assert "pool stopped every time" in out
