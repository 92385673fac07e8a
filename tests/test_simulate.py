"""The replay simulator: the emitted stream follows the planted shares, reproducibly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from pipeline.core.errors import UnusableInputError
from pipeline.simulate import scenario as scenarios


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from helpers import shared

    out = tmp_path_factory.mktemp("sim")
    env = {"FASHION_MNIST_DIR": str(shared("fashion-mnist"))}
    result = run_cli(["simulate", "--out", str(out), "--weeks", "104", "--items-per-week", "150",
                      "--seed", "11"], out / "home", check=True, **env)
    return out, json.loads(result.stdout)


def _emitted_counts(out) -> pd.DataFrame:
    manifest = pd.read_csv(out / "manifest.csv", dtype=str)
    manifest["week"] = manifest["item_id"].str.slice(4, 12)
    frames = []
    for attribute in ("category", "colour"):
        counts = manifest.groupby(["week", attribute]).size().rename("emitted").reset_index()
        frames.append(counts.rename(columns={attribute: "value"}).assign(attribute=attribute))
    return pd.concat(frames)


def test_emitted_weekly_shares_match_truth_within_sampling_noise(simulated):
    out, info = simulated
    truth = pd.read_parquet(out / "truth.parquet")
    assert info["weeks"] == 104 and info["note"] == "simulated timeline over real images"
    merged = truth.merge(_emitted_counts(out), on=["week", "attribute", "value"], how="left")
    merged["emitted"] = merged["emitted"].fillna(0)
    assert (merged["emitted"] == merged["count"]).all(), "truth counts are what was emitted"
    assert merged.groupby(["week", "attribute"])["share"].sum().round(9).eq(1).all()

    realised = merged["emitted"] / merged["n"]
    sigma = np.sqrt(merged["share"] * (1 - merged["share"]) / merged["n"])
    z = (realised - merged["share"]).abs() / sigma
    assert z.max() < 5.5, "a realised share is further from the planted one than noise allows"
    checked = 0
    for (attribute, value), series in merged.assign(realised=realised, sigma=sigma).groupby(
            ["attribute", "value"]):
        if series["share"].std() < 2 * series["sigma"].mean():
            continue  # a near-flat planted share: nothing for a correlation to follow
        checked += 1
        r = np.corrcoef(series["share"], series["realised"])[0, 1]
        assert r > 0.8, f"{attribute}={value}: realised share ignores the pattern (r={r:.2f})"
    assert checked >= 8


def test_planted_patterns_show_in_the_stream(simulated):
    out, _ = simulated
    truth = pd.read_parquet(out / "truth.parquet")
    realised = truth.assign(realised=truth["count"] / truth["n"]).pivot_table(
        index="week", columns="value", values="realised")
    first, last = realised.iloc[:20].mean(), realised.iloc[-20:].mean()
    assert last["Bag"] > 3 * first["Bag"]  # logistic emergence
    assert last["Shirt"] < 0.5 * first["Shirt"]  # decline
    assert last["pink"] > 3 * first["pink"]
    summer, winter = realised.filter(like="-W28", axis=0), realised.filter(like="-W02", axis=0)
    assert (summer["Dress"].to_numpy() > winter["Dress"].to_numpy()).all()  # seasonal


def test_images_are_real_and_colourised(simulated):
    from PIL import Image

    out, _ = simulated
    manifest = pd.read_csv(out / "manifest.csv", dtype=str)
    red = manifest[manifest["colour"] == "red"].iloc[0]
    pixels = np.asarray(Image.open(out / red["image"]))
    assert pixels.shape == (28, 28, 3)
    garment = pixels[pixels.sum(axis=2) < 600]
    assert garment[:, 0].mean() > garment[:, 1].mean() + 40  # red dominates where the garment is
    assert (pixels[0, 0] == 255).all()  # white backdrop
    assert manifest["item_id"].is_unique


def test_same_seed_same_stream(tmp_path, fmnist_dir):
    args = ["simulate", "--weeks", "3", "--items-per-week", "40", "--seed", "5"]
    run_cli([*args, "--out", str(tmp_path / "a")], tmp_path, check=True)
    run_cli([*args, "--out", str(tmp_path / "b")], tmp_path, check=True)
    assert (tmp_path / "a/manifest.csv").read_bytes() == (tmp_path / "b/manifest.csv").read_bytes()


def test_scenario_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("label_attribute: category\nattributes:\n  category:\n    values:\n"
                   "      A: {pattern: wiggle, base: 1}\n      B: {pattern: constant, base: 1}\n")
    with pytest.raises(UnusableInputError, match="pattern 'wiggle' is not one of"):
        scenarios.load(bad)
    result = run_cli(["simulate", "--out", str(tmp_path / "o"), "--scenario", str(bad)], tmp_path)
    assert result.returncode == 2 and "wiggle" in result.stderr


def test_default_scenario_loads():
    plan = scenarios.load()
    assert plan.label_attribute == "category" and len(plan.attributes["category"].values) == 10


def test_simulate_ingest_series_forecast_end_to_end(simulated, tmp_path):
    """The demo's chain: the attribute series of the ingested items are the emitted shares."""
    out, _ = simulated
    home = tmp_path / "home"
    run_cli(["ingest", str(out / "manifest.csv")], home, check=True)
    built = json.loads(run_cli(["series"], home, check=True).stdout)
    assert built["series"] == 17 and built["weeks"] == 104
    series = pd.read_parquet(built["out"])
    truth = pd.read_parquet(out / "truth.parquet")
    truth["unique_id"] = truth["attribute"] + "=" + truth["value"]
    joined = series.merge(truth.assign(ds=pd.to_datetime(truth["ds"])), on=["unique_id", "ds"])
    assert len(joined) == len(series) == 17 * 104
    np.testing.assert_allclose(joined["y"], joined["count_y"] / joined["n_y"])
    assert (joined["kind"] == "attribute").all()

    forecasts = tmp_path / "forecasts.parquet"
    done = run_cli(["forecast", built["out"], "--horizon", "8", "--season-length", "52",
                    "--shares", "--windows", "2", "--out", str(forecasts), "--no-track"], home)
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(forecasts)
    assert frame["unique_id"].nunique() == 17 and frame["ds"].nunique() == 8
    assert frame[["yhat_lo_95", "yhat_hi_95"]].stack().between(0, 1).all(), "shares stay shares"
