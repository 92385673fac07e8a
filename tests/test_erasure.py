"""Rights and erasure on a home after a weekly report (``reported``, copied): what a model
learned from is recorded and respects the policy, the report withholds what may not be
shown, and ``stylecast forget`` reaches everything derived from an item: embeddings, styles,
concepts' and designs' nearest items, designs redrawn from it, the report, and the models
(tagged in MLflow, listed for retraining)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import duckdb
import pytest
from helpers import ManifestBuilder, cli_json, copy_home, run_cli
from test_report import open_in_chromium
from test_rights import _files_holding


@pytest.fixture(scope="module")
def home(reported, tmp_path_factory):
    return copy_home(reported, tmp_path_factory.mktemp("erasure") / "home")


def _mlflow(home: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{home / 'mlflow.db'}")


def _lineage_items(client, run_id: str) -> set[str]:
    local = client.download_artifacts(run_id, "lineage/training_items.csv")
    return {row["item_id"] for row in csv.DictReader(Path(local).open())}


def test_each_training_run_records_what_it_learned_from(home):
    client = _mlflow(home)
    gan = client.search_runs([client.get_experiment_by_name("stylecast-gan").experiment_id])[0]
    learned = _lineage_items(client, gan.info.run_id)
    stored = {i for (i,) in duckdb.sql(f"select item_id from '{home}/items/*/*.parquet' "
                                       "where image_png is not null").fetchall()}
    assert learned and learned < stored, "the training split, never the held-out items"
    [dataset_input] = [d for d in gan.inputs.dataset_inputs
                       if any(t.key == "mlflow.data.context" and t.value == "training"
                              for t in d.tags)]
    tags = {t.key: t.value for t in dataset_input.tags}
    assert int(tags["items"]) == len(learned) and json.loads(tags["by_licence"]) == {
        "MIT": len(learned)}
    assert dataset_input.dataset.digest and dataset_input.dataset.source_type == "local"
    kept = duckdb.sql(f"select count(*) from '{home}/lineage/{gan.info.run_id}.parquet'"
                      ).fetchall()[0][0]
    assert kept == len(learned)


def test_every_registered_model_carries_a_card(home):
    client = _mlflow(home)
    for name in ("stylecast-gan", "stylecast-encoder", "stylecast-metric-classifier"):
        version = client.search_model_versions(f"name = '{name}'")[0]
        card = version.description
        assert card.startswith(f"# {name} version {version.version}"), name
        assert "| MIT |" in card and "## Intended use" in card and "## Known limits" in card
        assert "| metric | this model | floor | ceiling |" in card
        artifacts = [a.path for a in client.list_artifacts(version.run_id, "cards")]
        assert f"cards/model_card_{name}.md" in artifacts
    generator = client.search_model_versions("name = 'stylecast-gan'")[0].description
    assert "## Memorisation" in generator and re.search(r"draws at \d+x\d+ px", generator)
    memorised = re.search(r"\n(\S+) of its samples lie closer", generator).group(1)
    assert 0.0 <= float(memorised) <= 1.0


def test_a_training_set_leaves_out_items_it_may_not_train_on(home, tmp_path):
    builder = ManifestBuilder(tmp_path / "drop")
    for n in range(40):
        builder.add_good(f"nc-{n}", colour=(n * 5, 90, 40), category="Dress", colour_name="x",
                         licence="CC-BY-NC-4.0")
    cli_json(["ingest", str(builder.write())], home)
    summary = cli_json(["encoder", "train", "--dataset", "items", "--preset", "baby"], home)
    learned = _lineage_items(_mlflow(home), summary["mlflow_run_id"])
    assert learned and not any(i.startswith("nc-") for i in learned)


def _png_metadata(data: bytes) -> dict:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.getxmp()["xmpmeta"]["RDF"]["Description"]


def test_every_generated_png_says_it_is_generated(home, reported):
    concepts = duckdb.sql(f"select concept_id, model, image_png from "
                          f"'{home}/concepts/*/*.parquet'").fetchall()
    assert concepts
    for concept_id, model, data in concepts:
        mark = _png_metadata(bytes(data))
        assert mark["DigitalSourceType"].endswith("trainedAlgorithmicMedia")
        assert (mark["Model"], mark["Id"]) == (model, concept_id)
    design = next((home / "designs").glob("d-*.png"))
    assert _png_metadata(design.read_bytes())["Id"] == design.stem


def test_forget_reaches_everything_made_from_an_item(home, reported):
    week = reported["week"]
    report = json.loads((home / "reports" / week / "report.json").read_text())
    shown = [i for h in report["highlighted"] for i in h["representatives"]][:2]
    concepts = duckdb.sql(f"select nearest_item_ids from '{home}/concepts/week={week}/"
                          "concepts.parquet'").fetchall()
    nearest = concepts[0][0][0]
    redrawn = cli_json(["design", "from-item", shown[0], "--steps", "20"], home)["designs"][0]
    child = cli_json(["design", "vary", redrawn["design_id"], "--n", "1"], home)["designs"][0]
    run_cli(["design", "save", child["design_id"]], home, check=True)
    gan_runs = _mlflow(home).search_runs(
        [_mlflow(home).get_experiment_by_name("stylecast-gan").experiment_id])
    learned = duckdb.sql(f"select item_id from '{home}/lineage/{gan_runs[0].info.run_id}"
                         ".parquet' limit 1").fetchall()[0][0]
    doomed = sorted({*shown, nearest, learned})
    hashes = [h for (h,) in duckdb.sql(
        f"select sha256 from '{home}/items/*/*.parquet' where item_id in "
        f"({', '.join(repr(i) for i in doomed)})").fetchall()]
    report_runs_before = _mlflow(home).search_runs(
        [_mlflow(home).get_experiment_by_name("stylecast-report").experiment_id])

    running = _design_session(home)   # a studio started before the erasure
    assert running.item_png(shown[0])

    summary = cli_json(["forget", *doomed, "--who", "test"], home)
    assert summary["erased"] == len(doomed) and summary["reports_rebuilt"] == [week]
    _assert_gone_from_running_session(running, doomed, shown[1])
    assert summary["designs_removed"] == 2
    for dataset in ("items", "embeddings", "memberships", "styles", "concepts", "designs",
                    "design-redrawings"):
        assert summary["files"].get(dataset), dataset

    # Only the lineage artifacts of the runs that learned from them still name them (ids,
    # never content): the record of what those models saw.
    left = {f.split(": ")[0] for f in _files_holding(home, [*doomed, *hashes])}
    assert left and all(f.startswith("mlartifacts/") and f.endswith(
        "/lineage/training_items.csv") for f in left), left
    assert not _files_holding(home, hashes)
    board = json.loads((home / "design-board" / "board.json").read_text())["designs"]
    assert child["design_id"] not in board
    assert not (home / "designs" / f"{redrawn['design_id']}.json").exists()
    rebuilt = (home / "reports" / week / "report.json").read_text()
    assert not any(i in rebuilt for i in doomed)
    assert f"{len(doomed)} item(s) of weeks up to this one were erased on" in rebuilt

    client = _mlflow(home)
    for run in report_runs_before:   # the earlier logged reports showed the erased photos
        assert not [a for a in client.list_artifacts(run.info.run_id) if a.path == "report"]
        assert client.get_run(run.info.run_id).data.tags["stylecast.trained_on_erased"]
    tagged = {m.split("/")[0] for m in summary["models_tagged"]}
    assert {"stylecast-gan", "stylecast-encoder", "stylecast-metric-classifier"} <= tagged
    listed = [json.loads(line) for line in
              run_cli(["rights", "models"], home, check=True).stdout.splitlines()]
    assert {(m["model"], m["version"]) for m in listed} == {
        tuple(m.split("/")) for m in summary["models_tagged"]}
    assert any("champion-items" in m["aliases"] for m in listed)
    audit = (home / "rights" / "audit.jsonl").read_text()
    assert '"who": "test"' in audit and not re.search("|".join(doomed), audit)


def _design_session(home: Path):
    from pipeline.core.settings import Settings
    from pipeline.design.session import DesignSession

    return DesignSession(Settings(home=str(home), workers=2))


def _assert_gone_from_running_session(session, doomed: list[str], item: str) -> None:
    """A running session (the studio) neither shows, redraws nor names erased items as
    nearest, without a restart."""
    from pipeline.core.errors import UnusableInputError

    for refused in (session.item_png, session.from_item):
        with pytest.raises(UnusableInputError, match=f"no item '{item}'"):
            refused(item)
    assert not set(doomed) & set(session.current_bank().item_ids)
    assert len(session.bank.vectors) == len(session.bank.item_ids) == len(session.bank.pngs)
    drawn = session.draw("", n=4, seed=5)
    named = {n["item_id"] for d in drawn for n in d.checks["nearest"]}
    assert named and not named & set(doomed)


def test_a_generator_that_learned_from_erased_items_gives_way_to_a_clean_one(home):
    import mlflow

    from gan import publish

    client = _mlflow(home)
    champion = client.get_model_version_by_alias("stylecast-gan", "champion-items")
    assert "stylecast.trained_on_erased" in champion.tags, "tagged by the erasure above"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    try:
        tainted, why = publish.promote_if_better(champion.version, "items", {"fd": 1e9}, None)
        assert not tainted and "clean" not in why, "a tainted candidate has no right of way"
        clean = client.create_model_version("stylecast-gan", champion.source,
                                            run_id=None)   # the same weights, no lineage
        promoted, why = publish.promote_if_better(clean.version, "items", {"fd": 1e9}, None)
    finally:
        mlflow.set_tracking_uri(previous)
    assert promoted and "the clean generator takes over" in why
    assert client.get_model_version_by_alias("stylecast-gan", "champion-items").version == \
        clean.version


def test_the_report_withholds_photos_it_may_not_show(home, reported, tmp_path):
    week = reported["week"]
    run_cli(["rights", "set", "--licence", "MIT", "--uses", "analyse,train"], home, check=True)
    cli_json(["report", "--week", week], home)   # the module's last test: no need to undo
    folder = home / "reports" / week
    report = json.loads((folder / "report.json").read_text())
    representatives = {i for h in report["highlighted"] for i in h["representatives"]}
    assert representatives and set(report["withheld"]) >= representatives
    photos = {bytes(p) for (p,) in duckdb.sql(
        f"select image_png from '{home}/items/*/*.parquet' where image_png is not null"
    ).fetchall()}
    shown = {p.read_bytes() for p in (folder / "img").iterdir()}
    assert not shown & photos, "no stored photo is in the report's folder"
    html = (folder / "index.html").read_text()
    assert "not shown: the policy does not allow display under MIT." in html
    errors, broken, _ = open_in_chromium(folder / "index.html", tmp_path / "report.png")
    assert errors == [] and broken == []
    client = _mlflow(home)
    [run] = client.search_runs(
        [client.get_experiment_by_name("stylecast-report").experiment_id],
        f"params.week = '{week}'", order_by=["attributes.start_time DESC"], max_results=1)
    assert run.data.metrics["rights.use.display"] == 0
    assert run.data.metrics["rights.use.train"] == run.data.metrics["rights.licence.MIT"]
