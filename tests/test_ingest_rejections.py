"""One test per rejection reason: the bad row is quarantined with its reason, the rest lands."""

from __future__ import annotations

import io
import json
import os

import pytest
from helpers import png_bytes
from PIL import Image

from pipeline import ingest
from pipeline.core import storage


def _jpeg(size=(48, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (90, 160, 40)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _bomb() -> bytes:
    # 12000 x 12000 = 144 M pixels in a ~20 kB PNG: decoding it would take ~430 MB of RGB.
    out = io.BytesIO()
    Image.new("1", (12000, 12000)).save(out, format="PNG")
    return out.getvalue()


def empty_file(b):
    b.add("bad", b.image("bad.png", b""))


def not_an_image(b):
    b.add("bad", b.image("bad.png", b"this is a text file, not a picture\n" * 20))


def truncated_image(b):
    b.add("bad", b.image("bad.jpg", _jpeg()[:300]))


def decompression_bomb(b):
    b.add("bad", b.image("bad.png", _bomb()))


def image_too_small(b):
    b.add("bad", b.image("bad.png", png_bytes(size=(8, 40))))


def unreadable_path_missing(b):
    b.add("bad", "img/does-not-exist.png")


def unreadable_path_directory(b):
    (b.root / "a-folder").mkdir()
    b.add("bad", "a-folder")


def escape_dotdot(b):
    (b.root.parent / "outside.png").write_bytes(png_bytes())
    b.add("bad", "../outside.png")


def escape_absolute(b):
    (b.root.parent / "outside.png").write_bytes(png_bytes())
    b.add("bad", str(b.root.parent / "outside.png"))


def escape_symlink(b):
    (b.root.parent / "outside.png").write_bytes(png_bytes())
    os.symlink(b.root.parent / "outside.png", b.root / "link.png")
    b.add("bad", "link.png")


def missing_date(b):
    b.add("bad", b.image("bad.png", png_bytes(colour=(1, 2, 3))), observed_at="")


def bad_date(b):
    b.add("bad", b.image("bad.png", png_bytes(colour=(1, 2, 3))), observed_at="next tuesday")


def ambiguous_date(b):
    b.add("bad", b.image("bad.png", png_bytes(colour=(1, 2, 3))), observed_at="01/02/2025")


def missing_item_id(b):
    b.add("", b.image("bad.png", png_bytes(colour=(1, 2, 3))))


def item_id_conflict(b):
    # "good" is added by the test first; the same id with other content must not overwrite it.
    b.add("good", b.image("other.png", png_bytes(colour=(250, 250, 0))))


CASES = [
    (empty_file, "empty_file"),
    (not_an_image, "not_an_image"),
    (truncated_image, "truncated_image"),
    (decompression_bomb, "decompression_bomb"),
    (image_too_small, "image_too_small"),
    (unreadable_path_missing, "unreadable_path"),
    (unreadable_path_directory, "unreadable_path"),
    (escape_dotdot, "path_escapes_root"),
    (escape_absolute, "path_escapes_root"),
    (escape_symlink, "path_escapes_root"),
    (missing_date, "missing_date"),
    (bad_date, "bad_date"),
    (ambiguous_date, "ambiguous_date"),
    (missing_item_id, "missing_item_id"),
    (item_id_conflict, "item_id_conflict"),
]


@pytest.mark.parametrize(("make_bad_row", "reason"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_row_is_quarantined_with_its_reason(builder, settings, make_bad_row, reason):
    builder.add_good("good")
    make_bad_row(builder)
    builder.add_good("after", colour=(0, 0, 0))
    summary = ingest.run(str(builder.write()), settings=settings)

    assert (summary.total, summary.ingested, summary.quarantined) == (3, 2, 1)
    assert summary.by_reason == {reason: 1}
    quarantine = storage.read_table(settings.path("quarantine")).to_pylist()
    assert [q["reason"] for q in quarantine] == [reason]
    assert quarantine[0]["message"]
    # Nothing is lost: the whole original row is kept beside the reason.
    original = json.loads(quarantine[0]["record_json"])
    assert original["item_id"] == quarantine[0]["item_id"]
    items = storage.read_table(settings.path("items"), columns=["item_id", "sha256"])
    assert sorted(items["item_id"].to_pylist()) == ["after", "good"]


def test_item_id_conflict_against_an_earlier_manifest_keeps_the_first(builder, settings, tmp_path):
    builder.add_good("shirt-1", colour=(10, 10, 10))
    first = ingest.run(str(builder.write("first.csv")), settings=settings)
    builder.rows.clear()
    builder.add("shirt-1", builder.image("shirt-1-v2.png", png_bytes(colour=(99, 0, 0))))
    second = ingest.run(str(builder.write("second.csv")), settings=settings)

    assert first.ingested == 1
    assert (second.ingested, second.quarantined) == (0, 1)
    assert second.by_reason == {"item_id_conflict": 1}
    items = storage.read_table(settings.path("items"), columns=["image_ref"]).to_pylist()
    assert items == [{"image_ref": "img/shirt-1.png"}]
