"""The GAN training loop on real Fashion-MNIST: baby runs on CPU, resume, faults, MLflow."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch
import torch.nn.functional as F
from helpers import run_cli, shared

from gan import checkpoint, evaluate, publish
from gan.config import build
from gan.data import load
from gan.encoder import train as train_encoder
from gan.inference import Networks, load_generator, load_trained
from gan.networks import DetailUpsampler
from gan.train import TrainingDiverged, read_ticks, training_loop
from pipeline.core.errors import UnusableInputError


@pytest.fixture(scope="module")
def fmnist():
    """Real Fashion-MNIST: the shared copy (the loader would also find the Debian one)."""
    os.environ.setdefault("FASHION_MNIST_DIR", str(shared("fashion-mnist")))
    return load("fashion-mnist", "train", limit=2048), load("fashion-mnist", "test", limit=1000)


def baby(**overrides):
    return build("fashion-mnist", "baby", **overrides)


class Killed(Exception):
    pass


def test_baby_preset_trains_in_seconds_and_logs_every_tick(fmnist, tmp_path):
    cfg = baby()
    result = training_loop(cfg, tmp_path, fmnist[0])
    assert result.step == cfg.max_steps == 8
    ticks = read_ticks(tmp_path)
    assert [t["step"] for t in ticks] == [2, 4, 6, 8]
    assert all(set(t) >= {"loss_d", "loss_g", "kimg", "images_per_second"} for t in ticks)
    state = checkpoint.load(tmp_path / checkpoint.STATE_FILE, Networks.build(cfg, fmnist[0]).arch)
    assert state["step"] == 8 and json.loads(state["config"])["preset"] == "baby"


@pytest.mark.parametrize("side", [28, 64], ids=["native side", "trained at 32, shown at 64"])
def test_resume_after_a_kill_repeats_the_uninterrupted_run(fmnist, tmp_path, side):
    cfg = baby(max_kimg=0.192)  # 12 steps, 6 ticks
    data = fmnist[0].at_resolution(side)
    straight = tmp_path / "straight"
    training_loop(cfg, straight, data)

    crashed = tmp_path / "crashed"

    def kill_after_tick_3(step):
        if step == 6:
            raise Killed

    with pytest.raises(Killed):
        training_loop(cfg, crashed, data, on_tick=kill_after_tick_3)
    assert checkpoint.load(crashed / checkpoint.STATE_FILE)["step"] == 6
    result = training_loop(cfg, crashed, data, resume=True)
    assert result.step == 12
    a, b = read_ticks(straight), read_ticks(crashed)
    assert [t["step"] for t in a] == [t["step"] for t in b]
    for x, y in zip(a, b, strict=True):
        assert x["loss_d"] == pytest.approx(y["loss_d"], abs=1e-6)
        assert x["loss_g"] == pytest.approx(y["loss_g"], abs=1e-6)
    final_a = torch.load(straight / checkpoint.STATE_FILE, weights_only=True)["ema"]
    final_b = torch.load(crashed / checkpoint.STATE_FILE, weights_only=True)["ema"]
    assert all(torch.allclose(final_a[k].float(), final_b[k].float()) for k in final_a)
    upsampler = [k for k in final_a if k.startswith("upsampler.")]
    if side == 28:
        assert not upsampler, "nothing to upsample at the photos' own side"
    else:  # the learned display trained (its last layer starts at zero) and resumed exactly
        assert upsampler and final_a["upsampler.body.4.weight"].abs().sum() > 0


def test_the_display_upsampler_starts_bilinear_and_learns_detail_from_real_photos(fmnist):
    train, test = (part.images.float().div(127.5).sub(1) for part in fmnist)
    torch.manual_seed(0)
    upsampler = DetailUpsampler(1, 2)

    def error(images: torch.Tensor) -> float:
        with torch.no_grad():
            return (upsampler(F.avg_pool2d(images, 2)) - images).abs().mean().item()

    bilinear = F.interpolate(F.avg_pool2d(test, 2), scale_factor=2, mode="bilinear")
    assert error(test) == pytest.approx((bilinear.clamp(-1, 1) - test).abs().mean().item())
    before = error(test)
    optimiser = torch.optim.Adam(upsampler.parameters(), 1e-3)
    for _ in range(150):
        real = train[torch.randint(len(train), (32,))]
        loss = (upsampler(F.avg_pool2d(real, 2)) - real).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert error(test) < 0.8 * before, "held-out photos come back sharper than bilinear"


def test_divergence_stops_and_keeps_the_last_good_checkpoint(fmnist, tmp_path):
    cfg = baby(max_kimg=0.064)  # 4 steps
    training_loop(cfg, tmp_path, fmnist[0])
    exploding = dataclasses.replace(cfg, max_kimg=0.128, divergence_loss=1e-9)
    with pytest.raises(TrainingDiverged, match="last good checkpoint \\(step 4\\) is kept"):
        training_loop(exploding, tmp_path, fmnist[0], resume=True)
    assert checkpoint.load(tmp_path / checkpoint.STATE_FILE)["step"] == 4


def test_checkpoint_of_other_networks_is_refused(fmnist, tmp_path):
    training_loop(baby(), tmp_path, fmnist[0])
    wider = baby(g_width=16)
    with pytest.raises(UnusableInputError, match="made for other networks"):
        training_loop(wider, tmp_path, fmnist[0], resume=True)


def test_metrics_floor_model_ceiling_on_a_trained_vs_untrained_pair(fmnist, tmp_path):
    train, test = fmnist
    cfg = baby(max_kimg=4.8, tick_kimg=4.8, limit_images=None, g_width=16, d_width=16)
    training_loop(cfg, tmp_path, train)
    nets = load_trained(cfg, train, tmp_path)
    encoder = train_encoder(train, test, "baby")
    n = 500
    model = evaluate.score_generator(nets.ema, cfg.z_dim, encoder, train, test, n)
    floor = evaluate.score_real(encoder, train, test, n)
    ceiling = evaluate.score_untrained(cfg, encoder, train, test, n)
    assert floor["fd"] < model["fd"] < ceiling["fd"]
    assert floor["kid"] < model["kid"] < ceiling["kid"]
    assert floor["precision"] > ceiling["precision"]


def test_empty_item_store_is_a_clear_error(tmp_path):
    from pipeline.core.settings import Settings

    with pytest.raises(UnusableInputError, match="no items under"):
        load("items", "train", Settings(home=str(tmp_path)))


@pytest.mark.integration
def test_cli_train_registers_aliases_then_samples(home, tmp_path, fmnist):
    first = run_cli(["gan", "train", "--preset", "baby", "--run-name", "first"], home)
    assert first.returncode == 0, first.stderr
    one = json.loads(first.stdout.strip().splitlines()[-1])
    assert one["steps"] == 8 and one["champion"] and one["model_version"] == "1"
    assert {"fd", "kid", "precision", "recall", "memorisation"} <= set(one)

    out = tmp_path / "designs"
    sampled = run_cli(["gan", "sample", "--condition", "category=Dress", "--n", "6",
                       "--out", str(out)], home)
    assert sampled.returncode == 0, sampled.stderr
    assert len(list(out.glob("sample-*.png"))) == 6 and (out / "grid.png").exists()

    bad = run_cli(["gan", "sample", "--condition", "category=Cape", "--out", str(out)], home)
    assert bad.returncode == 2
    assert "unknown value 'Cape' for category; valid: unknown, Ankle boot" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    client = MlflowClient()
    run = client.get_run(one["mlflow_run_id"])
    assert run.data.params["preset"] == "baby"
    history = client.get_metric_history(run.info.run_id, "loss_d")
    assert [m.step for m in history] == [2, 4, 6, 8]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "samples"} <= artifacts
    grids = client.list_artifacts(run.info.run_id, "samples")
    assert len(grids) == 4, "one sample grid per tick"
    # MLflow 3 keeps the logged model as its own entity, linked to the run and the registry.
    assert client.get_model_version("stylecast-gan", "1").run_id == run.info.run_id
    assert client.get_model_version_by_alias("stylecast-metric-classifier", "fashion-mnist")
    z_dim = check_served_through_pyfunc()
    check_served_over_rest(home, tmp_path, z_dim)

    # A second, worse-or-better model: candidate always moves; champion only if FD improves
    # and neither diversity nor consistency gets worse.
    second = run_cli(["gan", "train", "--preset", "baby", "--run-name", "second",
                      "--seed", "1"], home)
    two = json.loads(second.stdout.strip().splitlines()[-1])
    candidate = str(client.get_model_version_by_alias("stylecast-gan", "candidate").version)
    champion = str(client.get_model_version_by_alias("stylecast-gan",
                                                     "champion-fashion-mnist").version)
    assert candidate == "2"
    assert two["champion"] == (champion == "2")
    if two["fd"] >= one["fd"]:     # a better FD is needed (and no worse diversity/consistency)
        assert champion == "1" and "does not beat" in two["champion_reason"]


def check_served_through_pyfunc() -> int:
    """What serving (``mlflow models serve``) loads: MLflow's generic python_function flavor,
    for any batch size, not only the logged example's."""
    import mlflow.pyfunc
    import numpy as np

    generator = mlflow.pyfunc.load_model("models:/stylecast-gan@champion-fashion-mnist")
    vocabulary = generator.metadata.metadata["vocabulary"]
    dress = vocabulary["category"].index("Dress")
    z = np.random.default_rng(0).normal(size=(5, generator.metadata.metadata["z_dim"]))
    designs = generator.predict(np.hstack([z, np.full((5, 1), dress)]).astype(np.float32))
    assert designs.shape == (5, 1, 28, 28)
    assert -1 <= designs.min() < designs.max() <= 1
    encoder = mlflow.pyfunc.load_model("models:/stylecast-metric-classifier@fashion-mnist")
    vectors = encoder.predict(designs[:1])
    assert vectors.ndim == 2 and len(vectors) == 1 and np.isfinite(vectors).all()
    return generator.metadata.metadata["z_dim"]


def check_served_over_rest(home, tmp_path, z_dim: int) -> None:
    """``mlflow models serve`` of the champion answers a batch of conditions with images."""
    import sys
    import urllib.request

    from _support.services import Service, wait_http
    from helpers import free_port, inherited_env

    port = free_port()
    bin_dir = os.path.dirname(sys.executable)   # uvicorn lives beside this interpreter
    server = Service("serve", [
        sys.executable, "-m", "mlflow", "models", "serve", "-m",
        "models:/stylecast-gan@champion-fashion-mnist", "--env-manager", "local", "-h", "127.0.0.1",
        "-p", str(port)], {**inherited_env(), "PATH": f"{bin_dir}:{os.environ['PATH']}",
                           "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"},
        tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", server, timeout=120)
        rows = [[0.1] * z_dim + [4.0], [-0.3] * z_dim + [0.0], [0.0] * z_dim + [10.0]]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", json.dumps({"inputs": rows}).encode(),
            {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            images = json.load(response)["predictions"]
        assert len(images) == 3 and len(images[0]) == 1 and len(images[0][0]) == 28
    finally:
        server.stop()


def test_promotion_rule(tmp_path, monkeypatch):
    """Champion moves only on a better FD scored with the same metric classifier, and never
    to a generator whose diversity or consistency is worse; another classifier's champion
    is re-scored, and one that cannot be (other conditions) gives way."""
    import mlflow

    from gan.conditioning import Vocabulary
    from gan.networks import Generator, architecture

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    vocabulary = Vocabulary.from_values({"category": ["a", "b"]})
    g = Generator(28, 1, vocabulary.sizes, 8, 4)
    arch = architecture(28, 1, vocabulary.sizes, 8, 4)

    def register(fd, judge_version, diversity=0.9, consistency=0.9, rescore=None,
                 dataset="fashion-mnist"):
        scores = {"fd": fd, "diversity": diversity,
                  "class_consistency_category_vs_real": consistency}
        with mlflow.start_run():
            mlflow.log_metrics({f"final.{k}": v for k, v in scores.items()})
            version = publish.log_generator(g, vocabulary, arch, tmp_path, judge_version,
                                            dataset)
            return publish.promote_if_better(version, dataset, scores, judge_version, rescore)

    assert register(10.0, "1")[0] is True
    assert register(12.0, "1")[0] is False
    assert register(8.0, "1")[0] is True
    promoted, why = register(6.0, "1", diversity=0.5)           # a collapsed generator
    assert promoted is False and "diversity 0.5 is worse than 0.9" in why
    promoted, why = register(6.0, "1", consistency=0.7)
    assert promoted is False and "class_consistency" in why
    promoted, why = register(1.0, "2")
    assert promoted is False and "another metric classifier" in why
    seen = []

    def rescore(champion_uri):   # the champion, loaded as the rescoring job would
        seen.append(load_generator(champion_uri).metric_classifier_version)
        return {"fd": 0.5, "diversity": 0.9, "class_consistency_category_vs_real": 0.9}

    promoted, why = register(1.0, "2", rescore=rescore)
    assert promoted is False and seen == ["1"] and "does not beat" in why
    promoted, why = register(1.0, "2", rescore=lambda champion_uri: None)
    assert promoted is True and "other attributes" in why
    # Another dataset's generator, however good, has its own champion and takes nothing.
    assert register(1e-6, "9", dataset="items") == (True, "no items champion yet")
    assert str(publish.champion_version("fashion-mnist").version) == "8"
    assert str(publish.champion_version("items").version) == "9"


def test_an_older_registrys_single_champion_serves_only_its_own_dataset(tmp_path):
    """Registries from before per-dataset champions: the one ``champion`` alias still
    serves the dataset its generator was trained on, judged by its run's parameters."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from gan.conditioning import Vocabulary
    from gan.networks import Generator, architecture

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    vocabulary = Vocabulary.from_values({"category": ["a", "b"]})
    g = Generator(28, 1, vocabulary.sizes, 8, 4)
    with mlflow.start_run():
        mlflow.log_params({"dataset": "items"})
        version = publish.log_generator(g, vocabulary, architecture(28, 1, vocabulary.sizes,
                                                                    8, 4), tmp_path, "1",
                                        "items")
    client = MlflowClient()
    client.delete_model_version_tag("stylecast-gan", version, publish.DATASET_TAG)
    client.delete_registered_model_alias("stylecast-gan", "candidate")
    client.set_registered_model_alias("stylecast-gan", "champion", version)
    assert str(publish.champion_version("items").version) == version
    assert publish.champion_version("fashion-mnist") is None


def test_metrics_rate_an_untrained_generator_near_the_ceiling_on_the_baby_preset(fmnist,
                                                                                  tmp_path):
    """The baby metric classifier's raw features are tiny; scored there an 8-step generator
    had FD 0.0002. Every metric must tell it from real images by a wide margin."""
    train, test = fmnist
    cfg = baby()                                   # 8 steps: what the tests' presets train
    training_loop(cfg, tmp_path, train)
    nets = load_trained(cfg, train, tmp_path)
    judge = train_encoder(train, test, "baby")
    n = 256
    eight_steps = evaluate.score_generator(nets.ema, cfg.z_dim, judge, train, test, n)
    untrained = evaluate.score_untrained(cfg, judge, train, test, n)
    floor = evaluate.score_real(judge, train, test, n)
    for scores in (eight_steps, untrained):
        assert scores["fd"] > 50 * floor["fd"] and scores["fd"] > 0.5 * untrained["fd"]
        assert scores["kid"] > 10 + floor["kid"] and scores["kid"] > 0.5 * untrained["kid"]
        assert scores["recall"] < 0.1 < 0.8 < floor["recall"]
        assert scores["coverage"] < 0.1 < 0.8 < floor["coverage"]
        assert scores["diversity"] < 0.6 < floor["diversity"]


def test_mlflow_unreachable_fails_before_training(home):
    done = run_cli(["gan", "train", "--preset", "baby"], home,
                   MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    assert done.returncode == 4 and "unreachable" in done.stderr
    assert not (home / "gan").exists(), "nothing was started"
