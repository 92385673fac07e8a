"""What ``stylecast gan train|sample`` and ``stylecast encoder train`` do around the loop.

Run folders live under ``$STYLECAST_HOME/gan/runs/<name>`` (a local cache when the home is
an object store: checkpoints need atomic renames): ``config.json``, ``training-state.pt``,
``ticks.jsonl``, ``mlflow_run_id``. MLflow is checked before any training starts.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

import torch

from gan import cards, evaluate, lineage, publish, realism
from gan.config import TrainConfig, build, check_size
from gan.data import DATASETS, ImageSet, load
from gan.encoder import TrainedEncoder
from gan.encoder import preset as encoder_preset
from gan.encoder import train as train_encoder
from gan.images import grid, write_pngs
from gan.inference import load_generator, load_trained, sample
from gan.train import training_loop
from pipeline.core import layout, png
from pipeline.core.errors import UnusableInputError
from pipeline.core.names import ENCODER_MODEL, GAN_MODEL, METRIC_MODEL, champion_uri
from pipeline.core.settings import Settings, cache_dir, is_local, local_path
from pipeline.core.tracking import check_reachable, mlflow_run

GAN_EXPERIMENT = "stylecast-gan"
ENCODER_EXPERIMENT = "stylecast-encoder"   # its runs compare with each other, not with GANs


class MlflowTracker:
    """Each tick's metrics to MLflow, and to a progress bar when a terminal shows one."""

    def __init__(self, progress=None) -> None:
        self.progress = progress

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import mlflow

        mlflow.log_metrics(metrics, step=step)
        if self.progress is not None:
            self.progress.update(step, f"loss D {metrics['loss_d']:.3f} G "
                                       f"{metrics['loss_g']:.3f}, "
                                       f"{metrics['images_per_second']:.0f} img/s")

    def log_image(self, image, name: str) -> None:
        """A sample grid as a PNG artifact that says it was generated (by this run)."""
        import mlflow

        run = mlflow.active_run()
        data = png.label_generated(png.encode(image), f"runs:/{run.info.run_id}", name)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / Path(name).name
            path.write_bytes(data)
            mlflow.log_artifact(str(path), artifact_path=str(Path(name).parent))


def runs_root(settings: Settings) -> Path:
    if is_local(settings.home):
        return Path(local_path(settings.home)) / "gan" / "runs"
    return cache_dir() / "gan-runs"


def _run_dir(settings: Settings, resume: str) -> Path:
    for candidate in (Path(resume), runs_root(settings) / resume):
        if (candidate / "config.json").exists():
            return candidate
    raise UnusableInputError(f"no GAN run {resume!r} (looked for a folder with config.json "
                             f"there and under {runs_root(settings)})")


def data_hash(data: ImageSet) -> str:
    return layout.content_key(data.images.numpy().tobytes(), data.labels.numpy().tobytes())


def ensure_metric_classifier(dataset: str, train: ImageSet, test: ImageSet, preset: str,
                             run_dir: Path) -> tuple[TrainedEncoder, str]:
    """The dataset's registered metric classifier for these conditions, reused when it
    exists (every generator of a dataset is then judged by the same one); otherwise
    trained until it converges and registered first."""
    found = publish.load_encoder(dataset, METRIC_MODEL)
    if found is not None and found[0].vocabulary == train.vocabulary:
        return found
    trained = train_encoder(train, test, preset)
    trained.reference = realism.reference(trained, train, test)
    import mlflow

    mlflow.log_metrics({f"metric_classifier.test_accuracy.{k}": v
                        for k, v in trained.test_accuracy.items()})
    version = publish.log_encoder(trained, run_dir, METRIC_MODEL)
    cards.publish(METRIC_MODEL, version, cards.encoder_card(
        METRIC_MODEL, version, train, test, lineage.counts(train), trained.test_accuracy,
        cards.METRIC_USE))
    return trained, version


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _new_run(settings: Settings, cfg: TrainConfig, run_name: str | None) -> Path:
    default = os.environ.get("TORCHELASTIC_RUN_ID") or time.strftime("%Y%m%d-%H%M%S")
    run_dir = runs_root(settings) / (run_name or f"{cfg.dataset}-{cfg.preset}-{default}")
    if _rank() == 0:  # under torchrun every rank computes the same folder; rank 0 makes it
        if (run_dir / "config.json").exists():
            raise UnusableInputError(f"run {run_dir.name} exists; use --resume "
                                     f"{run_dir.name} or another --run-name")
        run_dir.mkdir(parents=True)
        (run_dir / "config.json").write_text(cfg.to_json())
    return run_dir


def train_gan(settings: Settings, dataset: str, preset: str, config_file: Path | None,
              resume: str | None, run_name: str | None, progress=None,
              **overrides: object) -> dict:
    """Train, score, register and maybe promote one generator. ``progress``: a
    ``cli_support.ProgressBar`` shown on a terminal (steps, ETA, current losses)."""
    if _rank() == 0:
        check_reachable(settings.mlflow_tracking_uri)
    run_dir = _run_dir(settings, resume) if resume else None
    cfg = (TrainConfig.from_json((run_dir / "config.json").read_text()) if run_dir
           else build(dataset, preset, config_file, **overrides))
    train = load(cfg.dataset, "train", settings, list(cfg.attributes) or None, cfg.limit_images)
    check_size(cfg.preset, len(train))   # before a run folder exists
    run_dir = run_dir or _new_run(settings, cfg, run_name)
    if _rank() != 0:  # other DDP ranks only train; rank 0 logs, scores and publishes
        result = training_loop(cfg, run_dir, train, resume=bool(resume))
        return {"run": run_dir.name, "rank": _rank(), "steps": result.step}
    test = load(cfg.dataset, "test", settings, vocabulary=train.vocabulary)
    run_id_file = run_dir / "mlflow_run_id"
    run_id = run_id_file.read_text().strip() if resume and run_id_file.exists() else None
    params = dataclasses.asdict(cfg)
    with mlflow_run(settings, GAN_EXPERIMENT, run_dir.name, data_hash(train), params,
                    run_id=run_id) as run:
        import mlflow

        run_id_file.write_text(run.info.run_id)
        if run_id is None:
            mlflow.log_artifact(str(run_dir / "config.json"))
            lineage.log_training_set(settings, train, run.info.run_id)
        if train.left_out:
            mlflow.set_tag("stylecast.conditions_left_out",
                           "; ".join(f"{a}: {why}" for a, why in train.left_out))
        if progress is not None:
            progress.start(cfg.max_steps)
        result = training_loop(cfg, run_dir, train, MlflowTracker(progress),
                               resume=bool(resume))
        if progress is not None:
            progress.update(result.step, "trained; scoring the generator")
        nets = load_trained(cfg, train, run_dir)
        judge, judge_version = ensure_metric_classifier(
            cfg.dataset, train, test, "baby" if cfg.preset == "baby" else "metric", run_dir)
        scores = evaluate.score_generator(nets.ema, cfg.z_dim, judge, train, test,
                                          min(cfg.metric_samples, len(test)), cfg.seed)
        mlflow.log_metrics({f"final.{k}": v for k, v in scores.items()}, step=result.step)
        version = publish.log_generator(nets.ema, train.vocabulary, nets.arch, run_dir,
                                        judge_version, cfg.dataset)
        _publish_generator_card(cfg, version, train, test, judge, judge_version, scores,
                                nets.arch["resolution"])

        def rescore(champion_uri: str) -> dict[str, float] | None:
            champion = load_generator(champion_uri)
            if champion.vocabulary != train.vocabulary:
                return None
            return evaluate.score_generator(champion.generator, champion.generator.z_dim,
                                            judge, train, test,
                                            min(cfg.metric_samples, len(test)), cfg.seed)

        promoted, why = publish.promote_if_better(version, cfg.dataset, scores, judge_version,
                                                  rescore)
        mlflow.set_tags({"stylecast.champion": str(promoted), "stylecast.champion_why": why})
    return {"run": run_dir.name, "run_dir": str(run_dir), "mlflow_run_id": run.info.run_id,
            "conditions": train.vocabulary.names, "conditions_left_out": dict(train.left_out),
            "resolution": nets.arch["resolution"], "steps": result.step,
            "images_per_second": round(result.images_per_second, 1),
            "stopped_by": result.stopped_by, "model_version": version, "champion": promoted,
            "champion_reason": why, "metric_classifier_version": judge_version,
            **{k: round(v, 4) for k, v in scores.items()}}


def _publish_generator_card(cfg: TrainConfig, version: str, train: ImageSet, test: ImageSet,
                            judge: TrainedEncoder, judge_version: str | None,
                            scores: dict[str, float], resolution: int) -> None:
    """Score the floor (real photos) and ceiling (untrained networks) the card compares
    with, and publish the card."""
    n = min(cfg.metric_samples, len(test))
    real = evaluate.score_real(judge, train, test, n, cfg.seed)
    untrained = evaluate.score_untrained(cfg, judge, train, test, n, cfg.seed)
    cards.publish(GAN_MODEL, version, cards.generator_card(
        version, train, lineage.counts(train), scores, real, untrained, resolution,
        judge_version))


def train_encoder_command(settings: Settings, dataset: str, preset: str,
                          progress=None) -> dict:
    encoder_preset(preset)  # an unknown name fails before minutes of loading
    check_reachable(settings.mlflow_tracking_uri)
    train = load(dataset, "train", settings)
    test = load(dataset, "test", settings, vocabulary=train.vocabulary)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = runs_root(settings).parent / "encoders" / f"{dataset}-{preset}-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    with mlflow_run(settings, ENCODER_EXPERIMENT, run_dir.name, data_hash(train),
                    {"dataset": dataset, "preset": preset, "job": "encoder"}) as run:
        import mlflow

        lineage.log_training_set(settings, train, run.info.run_id)
        trained = train_encoder(train, test, preset, progress=progress)
        mlflow.log_metrics({f"test_accuracy.{k}": v for k, v in trained.test_accuracy.items()})
        version = publish.log_encoder(trained, run_dir)
        cards.publish(ENCODER_MODEL, version, cards.encoder_card(
            ENCODER_MODEL, version, train, test, lineage.counts(train), trained.test_accuracy,
            cards.ENCODER_USE))
    return {"dataset": dataset, "model_version": version, "alias": publish.alias_for(dataset),
            "mlflow_run_id": run.info.run_id, "test_accuracy": trained.test_accuracy}


def _older_champion(model: str) -> str:
    """A dataset's champion URI, read through an older registry's single ``champion`` alias
    when the dataset has no alias of its own yet."""
    for dataset in DATASETS:
        if model == champion_uri(dataset):
            version = publish.champion_version(dataset)
            if version is None:
                raise UnusableInputError(f"no {GAN_MODEL} champion for {dataset} in the "
                                         f"registry yet; train one with `stylecast gan train "
                                         f"--dataset {dataset}` or give --model")
            return f"models:/{GAN_MODEL}/{version.version}"
    return model


def sample_command(settings: Settings, model: str, condition: str, n: int, out: Path,
                   seed: int = 0) -> dict:
    if n < 1:
        raise UnusableInputError("--n must be at least 1")
    if not Path(model).exists():
        import mlflow

        check_reachable(settings.mlflow_tracking_uri)
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        model = _older_champion(model)
    published = load_generator(model)
    generator, vocabulary = published.generator, published.vocabulary
    labels = vocabulary.parse(condition).repeat(n, 1)
    z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    images = sample(generator, z, labels)
    paths = write_pngs(images, out, made_by=model)
    (out / "grid.png").write_bytes(png.label_generated(png.encode(grid(images)), model,
                                                       f"grid:{condition}"))
    return {"model": model, "condition": condition, "n": len(paths), "out": str(out),
            "grid": str(out / "grid.png")}
