"""The weekly report: rendered from a real weekly run, checked in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil

import duckdb
import pandas as pd
import pytest
from helpers import cli_json, copy_home, png_bytes, run_cli, run_weekly

from pipeline.core.settings import Settings
from pipeline.jobs import weekly
from pipeline.report import content, render

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def open_in_chromium(html_path, screenshot):
    """Load a page from disk; return (console errors, images not loaded, image count)."""
    from playwright.sync_api import sync_playwright

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("Debian chromium is missing: .ci/run installs it (apt-get install chromium)")
    errors: list[str] = []
    profile = screenshot.parent / "chromium-profile"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=browser, headless=True, args=CHROMIUM_ARGS[1:],
            viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            broken = page.evaluate("Array.from(document.images).filter("
                                   "i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
            count = page.evaluate("document.images.length")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return errors, broken, count


def test_report_opens_from_disk_in_headless_chromium(reported, tmp_path):
    page = reported["home"] / "reports" / reported["week"] / "index.html"
    shot = tmp_path / "report.png"
    errors, broken, count = open_in_chromium(page, shot)
    assert errors == [] and broken == []
    assert count >= 10, "charts, representative items and concepts are images"
    assert shot.stat().st_size > 50_000
    html = page.read_text()
    assert "http://" not in html and "https://" not in html, "nothing fetched from a network"
    kept = {f"img/{p.name}" for p in (page.parent / "img").iterdir()}
    assert kept == set(re.findall(r'src="(img/[0-9a-f]+\.png)"', html)), \
        "the folder keeps exactly the images the page shows (no dropped concept's design)"


def test_report_json_is_consistent_with_the_store(reported):
    report, home, week = reported["json"], reported["home"], reported["week"]
    rising = report["headline"]["rising"]
    assert rising and [e["score"] for e in rising] == sorted((e["score"] for e in rising),
                                                             reverse=True)
    assert all(e["label"] == "rising" and e["expected_change"] > 0 for e in rising)
    forecasts = duckdb.sql(
        f"select distinct unique_id from read_parquet('{home}/forecasts/week={week}/"
        "forecasts.parquet')").fetchall()
    forecast_ids = {row[0] for row in forecasts}
    assert report["highlighted"]
    for entry in report["highlighted"]:
        assert entry["unique_id"] in forecast_ids and entry["has_forecast"]
        if entry["insufficient_history"]:   # no fan chart and no chance without a backtest
            assert "chart" not in entry and entry["probability"] is None
        else:
            assert (home / "reports" / week / entry["chart"]).is_file()
    assert any(not e["insufficient_history"] for e in report["highlighted"]), \
        "110 simulated weeks are more than two seasons: some highlighted entry has a chart"
    counted = duckdb.sql(
        f"select count(*) filter (where iso_week <= '{week}'), "
        f"count(*) filter (where iso_week = '{week}') "
        f"from read_parquet('{home}/items/*/*.parquet')").fetchall()[0]
    health = report["data_health"]
    assert (health["items_total"], health["items_this_week"]) == counted
    concepts = report["concepts"]
    table = duckdb.sql(f"select target, condition, flagged, flag_reason from read_parquet("
                       f"'{home}/concepts/week={week}/concepts.parquet')").df()
    assert concepts["generated"] == len(table) > 0
    # A rising style's concepts ask for its dominant values together (a style mixed in
    # colour asks for its category alone).
    styled = table[table["target"].str.startswith("style=")]
    assert len(styled) and styled["condition"].str.contains("category=.*,colour=").any()
    # The store's champion is a baby GAN (8 steps): nothing it draws may pass as a design.
    assert table["flagged"].all() and (table["flag_reason"] != "").all()
    assert concepts["dropped"] == len(table) and not concepts["items"]
    assert "dropped as unrecognisable" in concepts["note"]
    assert {"category", "colour"} <= set(report["attributes"])
    assert report["accuracy"][0]["mase"] <= report["accuracy"][-1]["mase"]


def test_earlier_calls_are_graded_logged_and_shown_with_how_they_turned_out(reported):
    from mlflow.tracking import MlflowClient

    home, week, report = reported["home"], reported["week"], reported["json"]
    made = duckdb.sql(f"select count(*) from read_csv_auto('{home}/forecasts/week="
                      f"{reported['earlier']}/trends.csv') where label in "
                      "('rising', 'stable', 'declining')").fetchall()[0][0]
    grades = duckdb.sql(f"select * from read_parquet('{home}/call-grades/week={week}/"
                        "grades.parquet')").df()
    assert len(grades) == made > 0, "every call of 13 weeks before has passed its horizon"
    assert set(grades["outcome"]) <= {"rising", "stable", "declining"}
    assert (grades["hit"] == (grades["label"] == grades["outcome"])).all()
    record = report["track_record"]
    assert record["note"] is None
    ever = next(p for p in record["periods"] if p["period"] == "all")
    assert ever["calls"] == len(grades)
    assert ever["hit_rate"] == pytest.approx(grades["hit"].mean(), abs=1e-4)
    assert sum(b["n"] for b in record["bands"]) == grades["probability"].notna().sum()
    for entry in record["best"] + record["worst"]:
        assert (home / "reports" / week / entry["chart"]).is_file()
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    forecast_run = client.search_runs(
        [client.get_experiment_by_name("stylecast-forecast").experiment_id],
        filter_string=f"attributes.run_name = 'forecast-{week}'")[0]
    assert forecast_run.data.metrics["calls.all.calls"] == len(grades)
    assert forecast_run.data.metrics["calls.all.hit_rate"] == pytest.approx(
        grades["hit"].mean())
    html = (home / "reports" / week / "index.html").read_text()
    assert "How our calls turned out" in html and "Best calls" in html


def test_each_highlighted_call_says_why(reported):
    for entry in reported["json"]["highlighted"]:
        if entry["insufficient_history"]:
            continue
        assert entry["items_total"] > 0 and entry["items_total"] >= entry["items_recent"] >= 0
        assert entry["base_level"] is not None and "same weeks a year earlier" in entry["why"]
        change = entry.get("share_change")
        assert change is not None, "a highlighted style's share change is decomposed"
        for parts in change["groupings"].values():
            assert sum(p["contribution"] for p in parts) == pytest.approx(change["change"])
        assert f"{entry['items_recent']:,} items stand behind it" in entry["why"]
    emerging = {e["unique_id"] for e in reported["json"]["headline"]["emerging"]}
    rising = {e["unique_id"] for e in reported["json"]["headline"]["rising"]}
    assert not emerging & rising, "Emerging does not repeat what Rising shows"


def test_report_is_logged_to_mlflow_and_summarised_as_markdown(reported):
    from mlflow.tracking import MlflowClient

    home, week = reported["home"], reported["week"]
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    run = client.get_run(reported["summary"]["mlflow_run_id"])
    assert run.data.params["week"] == week
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"report/index.html", "report/report.json", "report/summary.md"} <= logged
    assert run.data.metrics["data.items_total"] == reported["json"]["data_health"]["items_total"]

    md = run_cli(["report", "--week", week, "--format", "md", "--no-track"], home)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith(f"**StyleCast weekly trends, {week}**")
    top = reported["json"]["headline"]["rising"][0]["name"]
    assert top in md.stdout and len(md.stdout) < 3000


def test_a_week_without_items_keeps_last_weeks_styles_without_reclustering(reported,
                                                                           tmp_path):
    from datetime import timedelta

    from pipeline.core import catalog
    from pipeline.core.weeks import iso_week, parse_week

    home = shutil.copytree(reported["home"], tmp_path / "home")
    settings = Settings(home=str(home))
    quiet = iso_week(parse_week(reported["week"]) + timedelta(weeks=1))
    summary = weekly.styles_step(settings, quiet)
    assert summary["reused"] == catalog.STYLES.path(settings, reported["week"])
    assert summary["copied_to"] == quiet
    kept = catalog.read_styles(settings, quiet)["style_id"].to_pylist()
    assert kept == catalog.read_styles(settings, reported["week"])["style_id"].to_pylist()


def test_week_without_data_and_without_champion_still_renders(weekly_store, tmp_path):
    home = tmp_path / "home"
    (home / "items").mkdir(parents=True)
    shutil.copytree(weekly_store["home"] / "items", home / "items", dirs_exist_ok=True)
    summary = cli_json(["report", "--week", "2020-W10", "--no-track"], home)
    assert summary["has_data"] is False
    report = json.loads((home / "reports" / "2020-W10" / "report.json").read_text())
    assert report["notes"][0].startswith("No data for 2020-W10")
    assert report["concepts"]["items"] == [] and "no GAN champion" in report["concepts"]["note"]
    errors, broken, _ = open_in_chromium(home / "reports" / "2020-W10" / "index.html",
                                         tmp_path / "empty.png")
    assert errors == [] and broken == []


def test_too_little_history_says_so_instead_of_drawing(weekly_store, tmp_path):
    home = copy_home(weekly_store, tmp_path / "home")
    early = weekly_store["weeks"][30]
    run_weekly(home, early, concepts=False)
    cli_json(["report", "--week", early, "--no-track"], home)
    report = json.loads((home / "reports" / early / "report.json").read_text())
    assert report["highlighted"] and all(h["insufficient_history"]
                                         for h in report["highlighted"])
    assert report["headline"]["rising"] == [], "no calls made on a guess"
    assert all(h.get("probability") is None for h in report["highlighted"]), \
        "a fallback's 0-or-1 chance is not shown as a certain call"
    html = (home / "reports" / early / "index.html").read_text()
    assert "Insufficient history" in html and 'class="chart"' in html  # attribute panels only
    assert not any("chart" in h for h in report["highlighted"])


def test_long_names_are_truncated_with_the_full_name_on_hover():
    name = "colour=" + "very " * 20 + "long blue"
    cut = str(render.short(name))
    assert cut.startswith('<span class="trunc" title="colour=very very') and "…" in cut
    visible = cut.split(">", 1)[1].removesuffix("</span>")
    assert len(visible) == render.SHORT_CHARS and f'title="{name}"' in cut
    assert str(render.short("colour=red")) == "colour=red"
    assert str(render.short('<b>"x"</b>' * 10)).count("<b>") == 0, "names are escaped"


def _concepts_frame(n_per_target: int = 6) -> pd.DataFrame:
    """Concepts for two targets: one flagged, one off-trend, one too close per target."""
    rows = []
    for t, (target, condition) in enumerate([
            ("style=S0003", "category=Ankle boot,colour=beige"),
            ("colour=pink", "colour=pink")]):
        for i in range(n_per_target):
            rows.append({"concept_id": f"c{t}{i}", "target": target, "condition": condition,
                         "image_png": b"", "flagged": i == 0,
                         "flag_reason": "unlike any real item (distance 3.10, real items up "
                                        "to 1.20)" if i == 0 else "",
                         "style_id": "S0005" if i == 1 else "S0003",
                         "style_description": "black / Ankle boot / winter",
                         "landed_trend": "declining" if i == 1 else "rising",
                         "off_trend": i == 1, "novelty": 0.4 + i / 10, "too_close": i == 2,
                         "nearest_item_ids": [f"item-{t}{i}"], "nearest_distance": 0.01})
    return pd.DataFrame(rows)


def _report_with(concepts: pd.DataFrame, highlighted: list[dict] | None = None) -> dict:
    inputs = content.ReportInputs(week="2025-W14", concepts=concepts)
    return {"week": "2025-W14", "generated_at": "now", "has_data": True, "notes": [],
            "headline": content.headline(inputs), "track_record": content.track_record(inputs),
            "highlighted": highlighted or [], "accuracy": [], "attributes": [],
            "data_health": {"items_total": 1, "items_this_week": 1, "duplicates": 0,
                            "quarantined": 0, "quarantined_by_reason": {},
                            "median_items_per_week": 1, "thin_weeks": []},
            "concepts": content.concepts_section(inputs)}


def test_flagged_concepts_stay_out_of_the_grid_and_the_report_says_why():
    frame = _concepts_frame()
    report = _report_with(frame)
    section = report["concepts"]
    assert section["generated"] == 12 and section["dropped"] == 2
    assert section["dropped_by_reason"] == {"unlike any real item": 2}
    shown = {c["concept_id"] for c in section["items"]}
    assert shown == set(frame.loc[~frame["flagged"], "concept_id"])
    images = {cid: f"img/{cid}.png" for cid in frame["concept_id"]}
    images.update({f"item-{t}{i}": f"img/item-{t}{i}.png" for t in (0, 1) for i in range(6)})
    html = render.html(report, images, {})
    assert 'alt="concept c00"' not in html and 'alt="concept c01"' in html
    assert "2 of 12 generated" in html and "unlike any real item" in html
    assert "off-trend (declining)" in html
    assert "too close to an existing item" in html
    assert 'src="img/item-02.png" alt="nearest existing item item-02"' in html
    assert html.count('<span class="generated"') == len(shown), "each design says so"
    withheld = render.html({**report, "withheld": {"item-02": "no rights stated"}}, images, {})
    assert 'alt="nearest existing item item-02 not shown: no rights stated"' in withheld
    md = render.markdown(report)
    assert "10 shown, 2 too close" in md and "2 off-trend" in md
    assert "2 dropped as unrecognisable (2 unlike any real item)" in md


def test_each_concept_links_to_its_design_in_the_studio(monkeypatch):
    frame = _concepts_frame()
    images = {cid: f"img/{cid}.png" for cid in frame["concept_id"]}
    images.update({f"item-{t}{i}": "img/x.png" for t in (0, 1) for i in range(6)})
    before = render.html(_report_with(frame), images, {})   # a file from before designs
    assert "?design=" not in before
    frame["design_id"] = [f"d-{i:016x}" for i in range(len(frame))]
    html = render.html(_report_with(frame), images, {})
    assert f'href="http://127.0.0.1:8765/?design={frame["design_id"][1]}"' in html
    assert f"?design={frame['design_id'][0]}" not in html   # flagged: not shown at all
    monkeypatch.setenv("STYLECAST_STUDIO_URL", "https://studio.example.com/")
    html = render.html(_report_with(frame), images, {})
    assert f'href="https://studio.example.com/?design={frame["design_id"][1]}"' in html


def test_a_rising_style_shows_the_concepts_drawn_for_it_beside_its_items():
    frame = _concepts_frame()
    inputs = content.ReportInputs(week="2025-W14", concepts=frame)
    entry = content.highlight("style=S0003", inputs)
    assert entry["concepts"] == ["c01", "c02", "c03", "c04", "c05"]   # c00 is flagged
    assert entry["concept_condition"] == "category=Ankle boot,colour=beige"


def test_concept_captions_do_not_overlap_in_chromium(tmp_path):
    """At 1280 px every caption stays inside its own figure, clear of its neighbours."""
    frame = _concepts_frame(n_per_target=9)
    frame["style_description"] = "a very long style description / Ankle boot / winter"
    report = _report_with(frame)
    pixel = tmp_path / "pixel.png"
    pixel.write_bytes(png_bytes((64, 64)))
    images = {cid: pixel.name for cid in frame["concept_id"]}
    images.update({f"item-{t}{i}": pixel.name for t in (0, 1) for i in range(9)})
    page = tmp_path / "index.html"
    page.write_text(render.html(report, images, {}))
    boxes = caption_boxes(page, tmp_path / "shot.png")
    assert len(boxes) == 16
    for i, a in enumerate(boxes):
        assert a["caption"]["right"] <= a["figure"]["right"] + 1, a
        for b in boxes[i + 1:]:
            apart = (a["caption"]["right"] <= b["caption"]["left"] or
                     b["caption"]["right"] <= a["caption"]["left"] or
                     a["caption"]["bottom"] <= b["caption"]["top"] or
                     b["caption"]["bottom"] <= a["caption"]["top"])
            assert apart, (a, b)


def caption_boxes(html_path, screenshot) -> list[dict]:
    from playwright.sync_api import sync_playwright

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("Debian chromium is missing: .ci/run installs it (apt-get install chromium)")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(screenshot.parent / "chromium-profile"), executable_path=browser,
            headless=True, args=CHROMIUM_ARGS[1:], viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            boxes = page.evaluate("""Array.from(document.querySelectorAll(
                '#concepts figure')).map(f => ({figure: f.getBoundingClientRect().toJSON(),
                caption: f.querySelector('figcaption').getBoundingClientRect().toJSON()}))""")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return boxes


def test_bad_week_is_a_clear_error(tmp_path):
    result = run_cli(["report", "--week", "2025-14"], tmp_path / "home")
    assert result.returncode == 2 and "not an ISO week" in result.stderr


def test_a_share_change_splits_exactly_into_each_groupings_contributions():
    """The "why" of a call: every grouping's contributions add up to the share change."""
    import numpy as np

    from pipeline.report import why

    rng = np.random.default_rng(3)

    def period(n: int, lean: float) -> pd.DataFrame:
        source = rng.choice(["shop-a", "shop-b", "runway"], n, p=[0.5, 0.3, 0.2])
        colour = rng.choice(["beige", "black", None], n)
        in_series = rng.random(n) < np.where(source == "runway", lean, 0.1)
        return pd.DataFrame({"source": source, "colour": colour, "in_series": in_series})

    earlier, recent = period(900, 0.1), period(700, 0.6)
    change = why.share_change(earlier, recent, ["source", "colour"])
    assert change["change"] == pytest.approx(recent["in_series"].mean()
                                             - earlier["in_series"].mean())
    for grouping in ("source", "colour"):
        parts = change["groupings"][grouping]
        assert sum(p["contribution"] for p in parts) == pytest.approx(change["change"])
    assert change["groupings"]["colour"][0]["group"] in {"beige", "black", "(none)"}
    top = why.top_drivers(change)
    assert top[0]["grouping"] == "source" and top[0]["group"] == "runway", \
        "the planted rise came from the runway source"
    entry = {"label": "rising", "probability": 0.72, "steps": 12, "base_level": 0.01,
             "forecast_level": 0.015, "expected_change": 0.5, "items_recent": 340,
             "items_total": 2100, "recent_weeks": 12,
             "share_change": {**change, "earlier_label": "the 12 weeks before",
                              "recent_label": "the last 12 weeks"}, "drivers": top}
    text = why.sentence(entry)
    assert text.startswith("Called rising, 72% sure: the forecast for the next 12 weeks "
                           "averages 1.50% of items, against 1.00% in the same weeks a year "
                           "earlier (+50%).")
    assert "340 items stand behind it" in text and "source runway" in text
    assert why.sentence({"reason": "14 periods of history and no backtest to learn from; "
                                   "no chance given", "label": "stable"}).startswith(
        "14 periods of history")


def test_a_fashion_mnist_generator_never_takes_the_items_champions_place(reported, tmp_path):
    """Two datasets, two champions: a Fashion-MNIST run (which knows no colour) does not
    replace the items generator, and the week's concepts are still drawn from the items
    champion with the styles' colours."""
    from mlflow.tracking import MlflowClient

    home = copy_home({"home": reported["home"]}, tmp_path / "home")
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    items_champion = client.get_model_version_by_alias("stylecast-gan", "champion-items")
    fmnist = cli_json(["gan", "train", "--dataset", "fashion-mnist", "--preset", "baby",
                       "--run-name", "fmnist"], home)
    assert fmnist["champion"] and "no fashion-mnist champion yet" in fmnist["champion_reason"]
    assert client.get_model_version_by_alias(
        "stylecast-gan", "champion-fashion-mnist").version == int(fmnist["model_version"])
    assert client.get_model_version_by_alias(
        "stylecast-gan", "champion-items").version == items_champion.version

    week = reported["week"]
    drawn = cli_json(["concepts", "--week", week, "--trends",
                      str(home / "forecasts" / f"week={week}" / "trends.csv")], home)
    table = duckdb.sql(f"select condition, model from read_parquet('{home}/concepts/week="
                       f"{week}/concepts.parquet')").df()
    assert drawn["concepts"] == len(table) > 0
    assert set(table["model"]) == {f"models:/stylecast-gan/{items_champion.version}"}
    assert table["condition"].str.contains("colour=").any()
