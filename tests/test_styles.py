"""Embeddings, styles, style series and generated concepts on a simulated stream of real images.

One module fixture runs the real chain once: simulate -> ingest -> encoder train (items) ->
embed. Tests then check what a user relies on: planted shares come back, styles match the
planted designs and keep their IDs, nothing is recomputed needlessly, bad input is handled.
"""

from __future__ import annotations

import io
import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import run_cli, shared
from sklearn.metrics import adjusted_rand_score

from pipeline.concepts import transforms as concepts
from pipeline.core.catalog import read_embeddings
from pipeline.core.settings import Settings
from pipeline.core.weeks import iso_week
from pipeline.embed.neighbours import nearest, unit_rows
from pipeline.series.transforms import item_attribute_shares, style_shares

QUIET = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def last_json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("styles")
    home, drop = root / "home", root / "drop"
    env = {"FASHION_MNIST_DIR": str(shared("fashion-mnist")), **QUIET}
    last_json(run_cli(["simulate", "--out", str(drop), "--weeks", "52", "--items-per-week",
                       "300", "--seed", "5"], home, **env))
    last_json(run_cli(["ingest", str(drop / "manifest.csv")], home, **env))
    trained = last_json(run_cli(["encoder", "train", "--dataset", "items", "--preset", "quick"],
                                home, **env))
    embedded = last_json(run_cli(["embed", "--all"], home, **env))
    return {"home": home, "drop": drop, "env": env, "encoder": trained, "embedded": embedded}


@pytest.mark.integration  # the store fixture trains an encoder
def test_embed_writes_one_versioned_vector_per_item_and_only_recomputes_what_changed(store):
    home, env = store["home"], store["env"]
    manifest = pd.read_csv(store["drop"] / "manifest.csv", dtype=str)
    assert store["embedded"]["computed"] == len(manifest)
    assert store["embedded"]["model_version"] == store["encoder"]["model_version"]
    # Another client reads the dataset: one row per item, 128 float32s each.
    glob = f"{home}/embeddings/week=*/*.parquet"
    row = duckdb.sql(f"select count(*), count(distinct item_id), min(len(vector)), "
                     f"max(len(vector)), count(distinct model_version) "
                     f"from read_parquet('{glob}', hive_partitioning=true)").fetchall()[0]
    assert row == (len(manifest), len(manifest), 128, 128, 1)
    file = next((home / "embeddings").glob("week=*/part-0.parquet"))
    assert pq.read_schema(file).field("vector").type == pa.list_(pa.float32(), 128)

    again = last_json(run_cli(["embed", "--all"], home, **env))
    assert again["computed"] == 0 and again["reused"] == len(manifest)


@pytest.mark.integration  # the store fixture trains an encoder
def test_undecodable_item_is_quarantined_and_the_rest_embedded(store, tmp_path):
    # A copy of one week whose stored image bytes are damaged for one item.
    home = tmp_path / "home"
    week_dir = next((store["home"] / "items").glob("week=*"))
    week = week_dir.name.split("=", 1)[1]
    target = home / "items" / week_dir.name
    target.mkdir(parents=True)
    table = pq.read_table(next(week_dir.glob("*.parquet")))
    pngs = table["image_png"].to_pylist()
    pngs[0] = pngs[0][:40]
    damaged = table.set_column(table.schema.get_field_index("image_png"), "image_png",
                               pa.array(pngs, pa.binary()))
    pq.write_table(damaged, target / "part-x.parquet")
    (home / "mlflow.db").write_bytes((store["home"] / "mlflow.db").read_bytes())
    _copy_artifacts(store["home"], home)
    result = last_json(run_cli(["embed", "--week", week], home, **store["env"]))
    assert result["quarantined"] == 1 and result["computed"] == table.num_rows - 1
    quarantined = pq.read_table(home / "quarantine" / f"embed-{week}.parquet").to_pylist()
    assert quarantined[0]["item_id"] == table["item_id"][0].as_py()
    assert quarantined[0]["reason"] == "undecodable_at_embed"


def _copy_artifacts(src, dst):
    import shutil

    for name in ("mlartifacts",):
        if (src / name).exists():
            shutil.copytree(src / name, dst / name)


@pytest.mark.integration  # the store fixture trains an encoder
def test_attribute_series_reproduce_the_planted_shares(store):
    home, drop = store["home"], store["drop"]
    built = last_json(run_cli(["series"], home, **store["env"]))
    series = pd.read_parquet(built["out"])
    truth = pd.read_parquet(drop / "truth.parquet")
    truth["unique_id"] = truth["attribute"] + "=" + truth["value"]
    joined = series.merge(truth.assign(ds=pd.to_datetime(truth["ds"])), on=["unique_id", "ds"])
    joined["sampling_sd"] = np.sqrt(joined["share"] * (1 - joined["share"]) / joined["n_y"])
    checked = 0
    for uid, one in joined.groupby("unique_id"):
        # "Enough items": the planted share moves at least 3x the weekly sampling noise.
        # Below that even a perfect pipeline cannot reach r = 0.9 (r ~ 1/sqrt(1 + 1/snr^2)).
        if one["share"].std() < 3 * one["sampling_sd"].mean():
            continue
        checked += 1
        r = np.corrcoef(one["y"], one["share"])[0, 1]
        assert r >= 0.9, f"{uid}: r={r:.2f} against the planted share"
    assert checked >= 4


@pytest.fixture(scope="module")
def styled(store):
    """Styles for the last two embedded weeks, in order, so IDs carry from one to the next."""
    home, env = store["home"], store["env"]
    weeks = sorted(p.name.split("=")[1] for p in (home / "embeddings").glob("week=*"))
    first = last_json(run_cli(["styles", "--week", weeks[-2], "--window", "20"], home, **env))
    second = last_json(run_cli(["styles", "--week", weeks[-1], "--window", "20"], home, **env))
    return {"weeks": weeks, "first": first, "second": second}


@pytest.mark.integration  # the store fixture trains an encoder
def test_styles_recover_the_planted_designs_and_keep_their_ids(store, styled):
    home, env = store["home"], store["env"]
    weeks, first, second = styled["weeks"], styled["first"], styled["second"]
    assert first["styles"] >= 8 and second["model_version"] == first["model_version"]
    kept = set(first["descriptions"]) & set(second["descriptions"])
    assert len(kept) >= 0.8 * first["styles"], "most styles keep their ID a week later"
    assert not set(second["new"]) & set(first["descriptions"]), "new IDs are never reused"
    rerun = last_json(run_cli(["styles", "--week", weeks[-1], "--window", "20"], home, **env))
    assert rerun["descriptions"] == second["descriptions"], "re-running a week is idempotent"

    members = pd.read_parquet(home / "styles" / f"week={weeks[-1]}" / "members.parquet")
    manifest = pd.read_csv(store["drop"] / "manifest.csv", dtype=str).set_index("item_id")
    planted = manifest.loc[members["item_id"]]
    design = adjusted_rand_score(planted["category"] + "/" + planted["colour"],
                                 members["style_id"])
    category = adjusted_rand_score(planted["category"], members["style_id"])
    print(f"ARI vs planted category x colour {design:.3f}, vs category {category:.3f}")
    assert design >= 0.3 and category >= 0.1

    table = pq.read_table(home / "styles" / f"week={weeks[-1]}" / "styles.parquet").to_pandas()
    active = table[table["status"] == "active"]
    assert (active["description"] != "").all()
    for _, style in active.iterrows():
        mine = set(members.loc[members["style_id"] == style["style_id"], "item_id"])
        assert set(style["representatives"]) <= mine and len(style["representatives"]) >= 1
    colours = set(manifest["colour"])
    assert sum(any(c in d for c in colours) for d in active["description"]) >= len(active) // 2

    built = last_json(run_cli(["series"], home, **env))
    style_series = pd.read_parquet(built["style_out"])
    assert set(style_series["kind"]) == {"style"}
    sums = style_series.groupby("ds")["y"].sum()
    np.testing.assert_allclose(sums, 1.0)
    assert style_series["ds"].nunique() == len(weeks)


@pytest.mark.integration  # the store fixture trains an encoder
def test_incremental_series_equal_the_ones_from_all_history(store, tmp_path, monkeypatch):
    """Week after week, the styles stage counts each run's memberships and the series step
    adds the counts up; the result must be what the definition gives from all history: same
    style ids, same counts, same shares. The series step reads no embeddings at all."""
    import shutil

    from pipeline.core import catalog, storage
    from pipeline.series import run as series
    from pipeline.series.transforms import style_count_shares
    from pipeline.styles import run as styles

    home = tmp_path / "home"
    for name in ("items", "embeddings"):
        shutil.copytree(store["home"] / name, home / name)
    settings = Settings(home=str(home))
    weeks = sorted(p.name.split("=", 1)[1] for p in (home / "embeddings").glob("week=*"))
    # The first run meets 30 weeks of history; two weeks are skipped later; one is re-run.
    runs = [*weeks[30:34], *weeks[36:40], weeks[32], weeks[39]]
    reads: list[list[str]] = []
    embeddings = catalog.EMBEDDINGS.root(settings)
    for name in ("read_table", "read_file"):   # every way a dataset file is read
        real = getattr(storage, name)
        monkeypatch.setattr(storage, name, lambda uri, *a, real=real, **k: (
            reads.append(uri) if uri.startswith(embeddings) else None) or real(uri, *a, **k))

    for week in runs:
        summary = styles.run(settings, week, window=8)
        # The one week run after a gap is told that its IDs skip the weeks in between.
        gap = weeks[34:36] if week == weeks[36] else []
        assert summary["unstyled_weeks_before"] == gap, week
        reads.clear()
        built = series.build_week(settings, week)
        assert reads == [], f"{week}: the series step read embeddings ({reads})"
        incremental = series.style_counts(settings, week)
        reference = style_counts_from_history(settings, week)
        pd.testing.assert_frame_equal(incremental, reference)
        assert incremental["iso_week"].min() == weeks[0], "every embedded week is counted"
        assert incremental.groupby("iso_week")["count"].sum().to_dict() == {
            w: pq.read_metadata(home / "embeddings" / f"week={w}" / "part-0.parquet").num_rows
            for w in weeks if w <= week}
        written = pd.read_parquet(built["out"])
        styled = written[written["kind"] == "style"].drop(columns="kind")
        expected = style_count_shares(reference, pa.array(weeks[:weeks.index(week) + 1]))
        merged = styled.merge(expected, on=["unique_id", "ds"], suffixes=("", "_ref"))
        assert len(merged) == len(expected) == len(styled)
        np.testing.assert_allclose(merged["y"], merged["y_ref"])
        assert (merged["count"] == merged["count_ref"]).all()

    # Attribute series: per-week count partitions give the shares of all items, and a week
    # whose items change is counted again.
    items_file = next((home / "items" / f"week={weeks[5]}").glob("*.parquet"))
    kept = pq.read_table(items_file)
    pq.write_table(kept.slice(0, kept.num_rows // 2), items_file)
    built = series.build_week(settings, runs[-1])
    written = pd.read_parquet(built["out"])
    attributes = written[written["kind"] == "attribute"].reset_index(drop=True)
    from_items = item_attribute_shares(pq.read_table(
        home / "items", columns=["iso_week", "attributes"],
        filters=[("week", "<=", runs[-1])]))
    pd.testing.assert_frame_equal(
        attributes[from_items.columns].sort_values(["unique_id", "ds"], ignore_index=True),
        from_items.sort_values(["unique_id", "ds"], ignore_index=True), check_dtype=False)


def style_counts_from_history(settings: Settings, styles_week: str) -> pd.DataFrame:
    """The definition of a style's series (``pipeline.styles.membership``), computed from
    the styles runs and embeddings alone, reading all history: each data week takes the
    memberships of the latest run whose window held it, else that run's nearest centroids.
    The reference the incremental counts are checked against."""
    from pipeline.core import catalog
    from pipeline.styles import membership

    last = catalog.read_styles(settings, styles_week)["week"][0].as_py()
    runs = membership.runs(settings, up_to=last)
    frames = []
    for week in sorted(w for w in catalog.EMBEDDINGS.weeks(settings) if w <= runs[-1].week):
        holding = [r for r in runs if r.holds(week)]
        if holding:
            members = catalog.MEMBERSHIPS.read(settings, holding[-1].week,
                                               columns=["iso_week", "style_id"]).to_pandas()
            mine = members[members["iso_week"] == week]
            frames.append(mine.groupby(["iso_week", "style_id"]).size().rename("count")
                          .reset_index())
        else:
            parent = next(r for r in runs if r.orphans(week))
            frames.append(membership.nearest_style_counts(settings, parent, {week}.__contains__))
    counts = pd.concat(frames, ignore_index=True).astype({"count": "int64"})
    return counts.sort_values(["iso_week", "style_id"]).reset_index(drop=True)


@pytest.mark.integration  # the store fixture trains an encoder
def test_mixed_encoder_versions_are_refused(store, tmp_path):
    settings = Settings(home=str(tmp_path / "home"))
    week_dirs = sorted((store["home"] / "embeddings").glob("week=*"))[:2]
    for i, week_dir in enumerate(week_dirs):
        table = pq.read_table(week_dir / "part-0.parquet")
        table = table.set_column(table.schema.get_field_index("model_version"), "model_version",
                                 pa.array([str(i + 1)] * table.num_rows))
        dest = tmp_path / "home" / "embeddings" / week_dir.name
        dest.mkdir(parents=True)
        pq.write_table(table, dest / "part-0.parquet")
    from pipeline.core.errors import UnusableInputError

    with pytest.raises(UnusableInputError, match="encoder versions 1, 2 are mixed"):
        read_embeddings(settings)


@pytest.mark.integration  # the store fixture trains an encoder
def test_an_encoder_for_other_images_is_refused(store, tmp_path):
    home = tmp_path / "home"
    env = {**store["env"]}
    trained = last_json(run_cli(["encoder", "train", "--dataset", "fashion-mnist",
                                 "--preset", "baby"], home, **env))
    import shutil

    shutil.copytree(store["home"] / "items", home / "items")
    refused = run_cli(["embed", "--model-version", trained["model_version"]], home, **env)
    assert refused.returncode == 2
    assert "cannot embed RGB items" in refused.stderr and len(refused.stderr.splitlines()) == 1


def test_empty_store_and_missing_steps_are_clear_errors(tmp_path):
    home = tmp_path / "home"
    for command, message in ((["embed"], "no items under"), (["styles"], "no embeddings under"),
                             (["concepts", "--week", "2025-W14", "--condition", "category=Dress"],
                              "no stylecast-gan champion")):
        result = run_cli(command, home, **QUIET)
        if command[0] == "concepts":  # no champion: skipped with the reason, not a failure
            assert result.returncode == 0 and message in result.stdout
            continue
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_style_series_zero_weeks_and_single_item_weeks():
    weeks = pa.array(["2025-W01", "2025-W03", "2025-W04"])
    style_of = pd.DataFrame({"iso_week": ["2025-W01", "2025-W01", "2025-W03", "2025-W04"],
                             "style_id": ["S0001", "S0002", "S0002", "S0001"]})
    series = style_shares(style_of, weeks)
    gap = series[series["ds"] == pd.Timestamp("2025-01-06")]
    assert len(gap) == 2 and (gap["y"] == 0).all() and (gap["n"] == 0).all()
    single = series[series["ds"] == pd.Timestamp("2025-01-13")].set_index("unique_id")["y"]
    assert single.to_dict() == {"style=S0001": 0.0, "style=S0002": 1.0}


def test_label_only_observations_give_series_globally_and_per_city():
    observations = pd.read_csv(shared("streetstyle27k", "observations.csv"), dtype=str,
                               keep_default_na=False).head(3000)
    rows = observations.assign(week=pd.to_datetime(observations["created_time"], utc=True)
                               .map(iso_week))
    pairs = [[("city", f"city-{c}"), ("wearing_jacket", j)]
             for c, j in zip(rows["city_id"], rows["wearing_jacket"], strict=True)]
    items = pa.table({"iso_week": rows["week"].tolist(),
                      "attributes": pa.array(pairs, pa.map_(pa.string(), pa.string()))})
    series = item_attribute_shares(items)
    ids = set(series["unique_id"])
    assert "wearing_jacket=Yes" in ids
    per_city = {i for i in ids if i.startswith("city=") and "|wearing_jacket=" in i}
    assert len(per_city) >= 2 * rows["city_id"].nunique() - 5
    one_city = series[series["unique_id"].str.startswith("city=city-" + rows["city_id"].iloc[0]
                                                         + "|wearing_jacket=")]
    sums = one_city.groupby("ds")["y"].sum()
    # Shares within one city sum to one in weeks it was observed, zero (explicit) otherwise.
    assert (np.isclose(sums, 1.0) | np.isclose(sums, 0.0)).all() and np.isclose(sums, 1).any()


def test_placement_flags_copies_and_scores_novelty():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 4
    real = np.concatenate([c + rng.normal(size=(200, 16)) for c in centres])
    ids = [f"i{i}" for i in range(len(real))]
    unit = unit_rows(real)
    centroids = unit_rows(np.stack([unit[i * 200:(i + 1) * 200].mean(0) for i in range(3)]))
    spread = np.array([np.median(1 - unit[i * 200:(i + 1) * 200] @ centroids[i])
                       for i in range(3)])
    space = concepts.real_space(real, ids, centroids, ["A", "B", "C"], spread)
    copy = real[5] + 1e-4
    fresh = centres[1] + rng.normal(size=16)
    placed = concepts.place(np.stack([copy, fresh]), space)
    assert placed["too_close"].tolist() == [True, False]
    assert placed["nearest_item_ids"][0][0] == "i5"
    assert placed["style_id"].tolist() == ["A", "B"]
    assert placed["novelty"][0] < 0.05 < placed["novelty"][1]


def test_concepts_from_trends_prefer_rising_values_the_gan_knows():
    trends = pd.DataFrame({"unique_id": ["category=Dress", "category=Coat", "colour=red",
                                         "category=Bag"],
                           "label": ["rising", "rising", "rising", "declining"],
                           "growth": [0.1, 0.4, 0.9, -0.3]})
    vocabulary = {"category": ["unknown", "Dress", "Coat", "Bag"]}
    assert concepts.conditions_from_trends(trends, vocabulary) == ["category=Coat",
                                                                   "category=Dress"]
    falling = trends.assign(label="declining")
    assert concepts.conditions_from_trends(falling, vocabulary, top=1) == ["category=Coat"]


def test_rising_styles_get_concepts_conditioned_on_their_dominant_values_together():
    trends = pd.DataFrame({"unique_id": ["style=S0001", "style=S0002", "style=S0003",
                                         "colour=red", "colour=navy"],
                           "label": ["rising", "rising", "declining", "rising", "declining"],
                           "growth": [0.2, 0.5, -0.4, 0.3, -0.2]})
    vocabulary = {"category": ["unknown", "Sneaker", "Dress"],
                  "colour": ["unknown", "red", "navy"]}
    dominant = {"S0001": {"category": ["Dress", 0.8], "colour": ["navy", 0.6],
                          "season": ["Summer", 0.9]},
                "S0002": {"category": ["Sneaker", 0.45], "colour": ["red", 1.0]},
                "S0003": {"category": ["Dress", 0.9]}}
    found = concepts.targets_from_trends(trends, vocabulary, dominant)
    # S0002's most common category (45%) is asked for too: without it, "red" alone draws
    # whatever the catalogue makes in red.
    assert found == [concepts.Target("style=S0002", "category=Sneaker,colour=red"),
                     concepts.Target("style=S0001", "category=Dress,colour=navy"),
                     concepts.Target("colour=red", "colour=red")]
    too_mixed = {"S0002": {"category": ["Sneaker", 0.3], "colour": ["red", 1.0]}}
    assert concepts.targets_from_trends(trends, vocabulary, too_mixed)[0] == concepts.Target(
        "style=S0002", "colour=red")
    calls = concepts.trend_calls(trends)
    assert calls == {"S0001": "rising", "S0002": "rising", "S0003": "declining"}


@pytest.mark.integration  # the store fixture trains an encoder
def test_concepts_placed_among_styles_with_a_trained_generator(store, styled):
    home, env = store["home"], store["env"]
    last_json(run_cli(["gan", "train", "--dataset", "items", "--preset", "baby", "--run-name",
                       "c"], home, **env))
    weeks = styled["weeks"]
    done = last_json(run_cli(["concepts", "--week", weeks[-1], "--condition",
                              "category=Dress,colour=red", "--condition", "category=Bag",
                              "--per-condition", "4"], home, **env))
    assert done["concepts"] == 8
    assert done["conditions"] == ["category=Dress,colour=red", "category=Bag"]
    table = pd.read_parquet(done["out"])
    # A baby generator (8 steps) draws noise: every concept is checked and flagged, with why.
    assert table["flagged"].all() and done["shown"] == 0
    assert table["flag_reason"].str.contains("unlike any real item|not recognisable").all()
    known = set(pq.read_table(home / "styles" / f"week={weeks[-1]}" / "styles.parquet")
                ["style_id"].to_pylist())
    assert set(table["style_id"]) <= known and (table["novelty"] > 0).all()
    assert table["nearest_item_ids"].map(len).eq(concepts.NEAREST_REAL).all()
    from PIL import Image

    assert Image.open(io.BytesIO(table["image_png"][0])).size == (64, 64)


def test_exact_neighbours_match_brute_force_across_blocks(monkeypatch):
    import pipeline.embed.neighbours as neighbours

    monkeypatch.setattr(neighbours, "BLOCK_ELEMENTS", 7 * 9)  # 7 rows a block for 9 queries
    # (many blocks, a partial last one); the self-exclusion query set has 50 rows: 1 a block
    rng = np.random.default_rng(1)
    base, queries = rng.normal(size=(50, 8)), rng.normal(size=(9, 8))
    found = nearest(queries, base, 4)
    brute = 1 - unit_rows(queries) @ unit_rows(base).T
    np.testing.assert_array_equal(found.index, np.argsort(brute, axis=1)[:, :4])
    np.testing.assert_allclose(found.distance, np.sort(brute, axis=1)[:, :4], atol=1e-5)
    itself = nearest(base, base, 1, exclude_self=True)
    assert (itself.index[:, 0] != np.arange(50)).all()


def test_descriptions_name_the_most_specific_distinctive_values():
    from collections import Counter

    from pipeline.styles.transforms import coarser_attributes, describe

    rows = ([{"articleType": "Tshirts", "subCategory": "Topwear", "colour": "Red"}] * 30
            + [{"articleType": "Tshirts", "subCategory": "Topwear", "colour": "Blue"}] * 10
            + [{"articleType": "Shirts", "subCategory": "Topwear", "colour": "Blue"}] * 40
            + [{"articleType": "Jeans", "subCategory": "Bottomwear", "colour": "Blue"}] * 40)
    overall = {a: Counter(r[a] for r in rows) for a in rows[0]}
    implied = coarser_attributes(rows)
    assert implied == {"articleType": {"subCategory"}}
    text, dominant = describe(rows[:40], overall, implied)
    assert text == "Tshirts / Red" and dominant["subCategory"] == ("Topwear", 1.0)
