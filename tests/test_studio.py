"""``stylecast design ...`` and ``stylecast studio`` on a home after a weekly report (the
baby champion of ``weekly_store``): every design is stored and redraws bit for bit, bad
input is one line (CLI) or a 4xx with the reason (HTTP), nothing outside the home is ever
read or written, and the page works in a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request

import duckdb
import pandas as pd
import pytest
from helpers import QUIET_MLFLOW, cli_json, copy_home, free_port, inherited_env, run_cli
from PIL import Image

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def home(reported, tmp_path_factory):
    return copy_home(reported, tmp_path_factory.mktemp("studio") / "home")


@pytest.fixture(scope="module")
def item_id(home) -> str:
    import pyarrow.dataset as ds

    table = ds.dataset(home / "items", partitioning="hive").to_table(
        columns=["item_id", "image_png"])
    return next(i for i, data in zip(table["item_id"].to_pylist(),
                                     table["image_png"].to_pylist(), strict=True) if data)


def designs(args: list[str], home) -> list[dict]:
    return cli_json(["design", *args], home)["designs"]


def test_the_weekly_concepts_are_kept_as_designs(home, reported):
    concepts = pd.read_parquet(home / "concepts" / f"week={reported['week']}"
                               / "concepts.parquet")
    assert len(concepts) and concepts["design_id"].str.match(r"^d-[0-9a-f]{16}$").all()
    record = json.loads((home / "designs" / f"{concepts['design_id'][0]}.json").read_text())
    assert record["operation"] == "concept" and record["parameters"]["target"] == \
        concepts["target"][0]
    assert record["checks"]["concept_id"] == concepts["concept_id"][0]
    shown = cli_json(["design", "show", concepts["design_id"][0]], home)
    assert shown["identical"] is True


def test_every_control_stores_designs_that_redraw_bit_for_bit(home, item_id, tmp_path):
    drawn = designs(["draw", "category=Dress,colour=navy", "--n", "3", "--seed", "4"], home)
    assert len(drawn) == 3 and len({d["design_id"] for d in drawn}) == 3
    assert all(d["condition"] == "category=Dress,colour=navy" for d in drawn)
    styles = pd.read_parquet(sorted((home / "styles").glob("week=*/styles.parquet"))[-1])
    active = styles.loc[styles["status"] == "active", "style_id"].iloc[0]
    by_style = designs(["draw", "--style", active, "--n", "1"], home)
    assert by_style[0]["condition"], "a style's dominant values are the condition"
    a = drawn[0]["design_id"]
    assert designs(["draw", "category=Dress,colour=navy", "--n", "1", "--seed", "4"],
                   home)[0]["design_id"] == a, "the same design has the same id"
    varied = designs(["vary", a, "--n", "2", "--strength", "0.5"], home)
    assert all(v["parents"] == [a] and v["operation"] == "vary" for v in varied)
    recoloured = designs(["recolour", a, "--value", "red", "--value", "beige"], home)
    assert [r["condition"] for r in recoloured] == ["category=Dress,colour=red",
                                                    "category=Dress,colour=beige"]
    recut = designs(["recut", a, "--value", "Coat"], home)
    assert recut[0]["condition"] == "category=Coat,colour=navy"
    blend = designs(["blend", a, recut[0]["design_id"], "--steps", "4"], home)
    assert len(blend) == 4 and blend[0]["design_id"] == a
    assert blend[-1]["design_id"] == recut[0]["design_id"]
    redrawn = designs(["from-item", item_id, "--steps", "5"], home)[0]
    assert redrawn["parents"] == [f"item:{item_id}"] and len(redrawn["nearest"]) == 3
    # Records are redrawn alike whatever made them; one plain and one inverted design.
    for made in (blend[1], redrawn):
        image = Image.open(made["image"])
        assert image.size == (64, 64)
        shown = cli_json(["design", "show", made["design_id"], "--out",
                          str(tmp_path / "again.png")], home)
        assert shown["identical"] is True and shown["checks"]["nearest"]
        assert (tmp_path / "again.png").read_bytes() == (home / "designs" / (
            made["design_id"] + ".png")).read_bytes()
    # The board: saved once each, exported as a sheet and the records.
    board = cli_json(["design", "save", a, redrawn["design_id"], a], home)["board"]
    assert board == [a, redrawn["design_id"]]
    out = cli_json(["design", "board", "--out", str(tmp_path / "board")], home)
    assert out["designs"] == 2
    sheet = Image.open(tmp_path / "board" / "board.png")
    assert sheet.size[0] >= 2 * 64
    listing = json.loads((tmp_path / "board" / "board.json").read_text())
    assert [d["design_id"] for d in listing["designs"]] == [a, redrawn["design_id"]]


def test_an_item_redrawn_before_is_the_stored_design_in_any_later_session(home, item_id,
                                                                           monkeypatch):
    from gan import controls
    from pipeline.core.settings import Settings
    from pipeline.design.session import DesignSession

    settings = Settings(home=str(home), workers=2)
    session = DesignSession(settings)
    later = DesignSession(settings)   # another command, a restarted studio
    for timed in (session, later):    # the budget's timing inverts a drawing of its own
        timed.estimate(1, 1)
    inversions = []
    invert = controls.invert
    monkeypatch.setattr(controls, "invert",
                        lambda *args, **kwargs: inversions.append(1) or invert(*args, **kwargs))
    # 6 steps: no other test redraws this item so (the redrawing is found by any session)
    first = session.from_item(item_id, steps=6)
    assert session.from_item(item_id, steps=6) == first and len(inversions) == 1
    assert later.from_item(item_id, steps=6) == first and len(inversions) == 1
    assert session.from_item(item_id, steps=6, reuse=False).design_id == first.design_id
    assert len(inversions) == 2, "reuse=False (benchmarks timing the inversion) inverts"
    assert session.from_item(item_id, steps=6, seed=1).design_id != first.design_id
    assert len(inversions) == 3
    (home / "designs" / f"{first.design_id}.json").unlink()   # gone (erased): redrawn
    assert later.from_item(item_id, steps=6).design_id == first.design_id
    assert len(inversions) == 4


def test_prepare_redraws_the_shown_items_once_ahead_of_time(home, reported):
    """`stylecast design prepare` redraws what it is given that no session redrew yet;
    the studio's start-up prepares the rest of the week's shown items (the Chromium test
    finds them all ready)."""
    shown = [i for h in reported["json"]["highlighted"] for i in h["representatives"]]
    first = cli_json(["design", "prepare", shown[0], shown[1], "no-such-item"], home)
    assert (first["redrawn"], first["already"], first["not_here"]) == (2, 0, ["no-such-item"])
    again = cli_json(["design", "prepare", shown[1], shown[0]], home)
    assert (again["redrawn"], again["already"]) == (0, 2), "nothing is inverted twice"
    redrawn = duckdb.sql(f"select item_id, steps, seed, design_id from "
                         f"'{home}/design-redrawings/redrawings.parquet'").fetchall()
    assert {(i, s, r) for i, s, r, _ in redrawn} >= {(shown[0], 120, 0), (shown[1], 120, 0)}
    record = json.loads((home / "designs" / f"{redrawn[0][3]}.json").read_text())
    assert record["operation"] == "from-item" and record["parents"] == [f"item:{redrawn[0][0]}"]


def test_a_request_over_budget_is_refused_only_if_timing_again_confirms_it(home, item_id,
                                                                            monkeypatch):
    from pipeline.core.errors import UnusableInputError
    from pipeline.core.settings import Settings
    from pipeline.design import session as design_session

    session = design_session.DesignSession(Settings(home=str(home), workers=2))
    measured = session.seconds_per_design
    session.seconds_per_design = 60.0   # as if timed while the machine was busy
    assert len(session.draw("category=Dress", n=2)) == 2
    assert session.seconds_per_design < 60.0, "timed again"
    monkeypatch.setattr(design_session, "BUDGET_S", 4 * measured)
    with pytest.raises(UnusableInputError, match=r"would take about .* over the .* budget"):
        session.draw("category=Dress", n=16)
    # An inversion's estimate: what it costs before its first step, plus each step's.
    before, per_step = session.invert_timing
    assert before > 0 and per_step > 0
    monkeypatch.setattr(design_session, "BUDGET_S", 1.5 * session.estimate(1, 40))
    with pytest.raises(UnusableInputError, match=r"would take about .* over the .* budget"):
        session.from_item(item_id, steps=400, seed=7)


@pytest.mark.parametrize("args, message", [
    (["show", "d-0000000000000000"], "no design d-0000000000000000"),
    (["vary", "../../etc/passwd"], "not a design id"),
    (["vary", "/etc/passwd"], "not a design id"),
    (["draw", "colour=chartreuse"], "unknown value 'chartreuse' for colour; valid:"),
    (["draw", "fabric=silk"], "unknown attribute 'fabric'"),
    (["draw", "", "--n", "100"], "100 designs in one request; at most 16"),
    (["from-item", "no-such-item"], "no item 'no-such-item'"),
    (["draw", "--style", "S9999"], "no active style 'S9999'"),
    (["vary", "d-0000000000000000", "--truncation", "-1"], "--truncation must be positive"),
    (["from-item", "../items", "--steps", "100000"], "inversion steps; at most"),
])
def test_bad_input_is_one_line(home, args, message):
    result = run_cli(["design", *args], home, **QUIET_MLFLOW)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def studio(home):
    from _support.services import Service, wait_http

    port = free_port()
    env = {**inherited_env(), "STYLECAST_HOME": str(home), **QUIET_MLFLOW}
    server = Service("studio", [sys.executable, "-m", "pipeline.cli", "studio", "--port",
                                str(port)], env, home.parent)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/state", server)
        yield base
    finally:
        server.stop()


def call(base: str, path: str, body: dict | None = None, method: str | None = None
         ) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


TRAVERSALS = ["../../../../etc/passwd", "/etc/passwd", "..", "%2e%2e%2fetc%2fpasswd",
              "..%2F..%2Fmlflow.db"]


def test_the_studio_never_reads_or_writes_outside_the_home(studio, home, tmp_path):
    before = sorted(p.name for p in home.parent.iterdir())
    for bad in TRAVERSALS:
        quoted = urllib.parse.quote(bad, safe="%")
        for path in (f"/designs/{quoted}.png", f"/api/designs/{quoted}",
                     f"/items/{quoted}.png", f"/static/{quoted}",
                     f"/api/state?week={quoted}"):
            status, body = call(studio, path)
            assert 400 <= status < 500 and b"root:" not in body and b"SQLite" not in body, \
                (path, status)
        status, _ = call(studio, f"/api/board/{quoted}", method="DELETE")
        assert 400 <= status < 500
        for route, body in (("/api/vary", {"design": bad}),
                            ("/api/recolour", {"design": bad, "values": ["red"]}),
                            ("/api/recolour", {"design": bad, "values": [bad],
                                               "attribute": bad}),
                            ("/api/blend", {"first": bad, "second": bad}),
                            ("/api/from-item", {"item": bad}),
                            ("/api/board", {"design": bad}),
                            ("/api/draw", {"condition": f"colour={bad}"})):
            status, answer = call(studio, route, body)
            assert 400 <= status < 500, (route, body, status)
            assert json.loads(answer)["detail"], "every refusal says why"
    assert sorted(p.name for p in home.parent.iterdir()) == before
    status, body = call(studio, "/api/draw", {"condition": "", "n": 500})
    assert status == 400 and b"at most 16" in body
    status, body = call(studio, "/api/vary", {"design": "d-0000000000000000"})
    assert status == 404 and b"no design d-0000000000000000" in body


def made_by(page) -> str:
    """The selected design's "made by" line."""
    return page.locator("#selected dl dd").nth(2).inner_text()


def test_pick_a_style_recolour_save_and_find_it_after_a_reload(studio, home, tmp_path):
    """The designer's path, by clicks in headless Chromium."""
    from playwright.sync_api import sync_playwright

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("Debian chromium is missing: .ci/run installs it (apt-get install chromium)")
    errors: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=browser, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(studio + "/", wait_until="networkidle")
            styles = page.locator("#style-list button")
            assert styles.count() >= 1
            concepts = page.locator("#concepts figure")
            for i in range(styles.count()):   # the first style with concepts drawn for it
                styles.nth(i).click()
                assert page.locator("#items figure").count() >= 1, "the style's real items"
                if concepts.count():
                    break
            assert concepts.count() >= 1, "the style's concepts (flagged ones marked)"
            concepts.nth(0).click()
            page.wait_for_selector("#selected img.big")
            first = page.url.split("design=")[1]
            assert page.locator("#selected .nearest img").count() == 3
            condition = page.locator("#selected dl").first.inner_text()
            colour = next(v for v in page.locator("#colour option").all_inner_texts()
                          if f"colour={v}" not in condition)
            page.select_option("#colour", colour)
            page.click("#recolour")
            page.wait_for_function(f"!location.search.includes('{first}')")
            recoloured = page.url.split("design=")[1]
            assert f"colour={colour}" in page.locator("#selected dl").first.inner_text()
            assert made_by(page).startswith("recolour: "), "parameters read as words"
            page.click("#save")
            page.wait_for_selector(f"#board figure[data-design='{recoloured}']")
            page.screenshot(path=str(tmp_path / "studio.png"), full_page=True)
            page.reload(wait_until="networkidle")
            page.wait_for_selector(f"#board figure[data-design='{recoloured}']")
            page.wait_for_selector("#selected img.big")   # the address keeps the design
            broken = page.evaluate("Array.from(document.images).filter("
                                   "i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
            assert broken == []
            # A real item of the style, clicked: redrawn as a design; clicked again, the
            # same design (the session keeps what it redrew). The studio's start redrew
            # every shown item ahead of time: each is marked ready.
            styles.nth(i).click()
            captions = page.locator("#items figcaption").all_inner_texts()
            assert captions and all(c.startswith("ready · ") for c in captions), captions
            assert page.locator("#items figure.ready").count() == len(captions)
            redrawn = []
            for _ in range(2):
                page.locator("#items figure").first.click()
                page.wait_for_function(
                    "document.querySelector('#selected dl dd:nth-of-type(3)')"
                    "?.textContent.startsWith('from-item: ')")
                page.wait_for_function("document.body.style.cursor !== 'progress'")
                redrawn.append(page.url.split("design=")[1])
            assert redrawn[0] == redrawn[1] and redrawn[0] != recoloured
            assert "steps 120" in made_by(page) and "{" not in made_by(page)
        finally:
            context.close()
    assert errors == []
    assert recoloured in json.loads((home / "design-board" / "board.json").read_text())[
        "designs"]
