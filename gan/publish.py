"""Generators and encoders into MLflow: logged models, registry versions and aliases.

Each model is logged with ``mlflow.pytorch`` (a signature and an exported graph, for
serving) *and* carries a plain weights file (state dict + architecture + vocabulary) among
its files. StyleCast itself only ever loads that weights file, with
``torch.load(weights_only=True)``, into networks built from the recorded architecture.

Aliases: every new generator becomes ``candidate``; its dataset's champion
(``champion-<dataset>``) moves to it only when its FD (lower is better), measured with the
same metric classifier version, beats that champion's *and* neither its within-condition
diversity nor its class consistency is worse. A generator never competes with another
dataset's champion.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from gan import checkpoint
from gan.conditioning import Vocabulary
from gan.encoder import TrainedEncoder
from gan.metrics import CHAMPION_GUARDS, CHAMPION_METRIC, REVISION
from gan.networks import Generator
from pipeline.core.errors import UnusableInputError
from pipeline.core.names import (
    CANDIDATE_ALIAS,
    ENCODER_MODEL,
    ERASED_TAG,
    GAN_MODEL,
    LEGACY_CHAMPION_ALIAS,
    champion_alias,
)

GENERATOR_FILE = "generator.pt"
ENCODER_FILE = "encoder.pt"
# The version of the model that scored a generator (the metric classifier; the tag keeps
# its first name so that registries written before it existed still read).
ENCODER_VERSION_TAG = "stylecast.encoder_version"
METRICS_REVISION_TAG = "stylecast.metrics_revision"  # absent: revision 1
DATASET_TAG = "stylecast.dataset"


class SamplingModule(nn.Module):
    """Serving wrapper: input ``[z | condition indices as floats]``, output images in [-1, 1]."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        z_dim = self.generator.z_dim
        return self.generator.display(self.generator(inputs[:, :z_dim],
                                                     inputs[:, z_dim:].round().long()))


class EmbeddingModule(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder.embed(images)


def _log_pytorch(module: nn.Module, name: str, example: torch.Tensor, files: list[Path],
                 registered: str, metadata: dict) -> str:
    """Log and register; returns the new registry version."""
    import mlflow
    from mlflow.models import infer_signature

    module.eval()
    with torch.no_grad():
        output = module(example).numpy()
    inputs = example.numpy()
    signature = infer_signature(inputs, output)
    # MLflow 3 saves PyTorch models as a torch.export graph ("pt2"), traced from the example.
    # A NumPy example (a tensor would not) also gives it the python_function flavor that
    # pyfunc and `mlflow models serve` load. Requirements are declared, not inferred:
    # inference re-imports the model in a subprocess (~10 s a model on 2 cores) and picks up
    # whatever else is imported (redis, cryptography on an Airflow worker).
    info = mlflow.pytorch.log_model(module, name=name, signature=signature,
                                    input_example=inputs,
                                    extra_files=[str(f) for f in files],
                                    pip_requirements=mlflow.pytorch.get_default_pip_requirements(),
                                    registered_model_name=registered, metadata=metadata)
    return str(info.registered_model_version)


def log_generator(ema: Generator, vocabulary: Vocabulary, arch: dict, run_dir: Path,
                  judge_version: str | None, dataset: str) -> str:
    """Register the EMA generator; ``judge_version``: the metric classifier that scored it."""
    weights = run_dir / GENERATOR_FILE
    checkpoint.save({"state": ema.state_dict(), "architecture": arch,
                     "vocabulary": vocabulary.to_json(),
                     "metric_classifier_version": judge_version or ""}, weights)
    ema = ema.cpu().eval()
    example = torch.cat([torch.randn(2, ema.z_dim),
                         torch.zeros(2, len(vocabulary.names))], dim=1)
    version = _log_pytorch(SamplingModule(ema), "generator", example, [weights], GAN_MODEL,
                           {"vocabulary": vocabulary.to_json(), "z_dim": ema.z_dim,
                            "metric_classifier_version": judge_version or ""})
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    client.set_registered_model_alias(GAN_MODEL, CANDIDATE_ALIAS, version)
    client.set_model_version_tag(GAN_MODEL, version, METRICS_REVISION_TAG, REVISION)
    client.set_model_version_tag(GAN_MODEL, version, DATASET_TAG, dataset)
    if judge_version:
        client.set_model_version_tag(GAN_MODEL, version, ENCODER_VERSION_TAG, judge_version)
    return version


def _guard_value(metrics: dict[str, float], guard: str) -> float | None:
    """A guard's value from a run's ``final.*`` metrics: ``diversity`` itself, or for
    ``class_consistency`` the mean of its per-attribute ratios to real accuracy."""
    if guard in CHAMPION_GUARDS and f"final.{guard}" in metrics:
        return metrics[f"final.{guard}"]
    ratios = [v for k, v in metrics.items()
              if k.startswith(f"final.{guard}_") and k.endswith("_vs_real")]
    return sum(ratios) / len(ratios) if ratios else None


def _dataset_of(client, version) -> str | None:
    """A registered generator's training dataset: its tag, or its run's parameter for
    versions registered before the tag existed."""
    if DATASET_TAG in version.tags:
        return version.tags[DATASET_TAG]
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(version.run_id).data.params.get("dataset")
    except MlflowException:
        return None


def champion_version(dataset: str):
    """``dataset``'s champion model version, or None. An older registry's single
    ``champion`` alias counts only when it points at a generator of this dataset."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for alias in (champion_alias(dataset), LEGACY_CHAMPION_ALIAS):
        try:
            version = client.get_model_version_by_alias(GAN_MODEL, alias)
        except MlflowException:
            continue
        if alias != LEGACY_CHAMPION_ALIAS or _dataset_of(client, version) == dataset:
            return version
    return None


def promote_if_better(version: str, dataset: str, scores: dict[str, float],
                      judge_version: str | None,
                      rescore: Callable[[str], dict[str, float] | None]
                      | None = None) -> tuple[bool, str]:
    """Move ``dataset``'s champion alias to ``version`` when its ``CHAMPION_METRIC`` (lower
    is better) beats the champion's and none of ``CHAMPION_GUARDS`` is worse; says why
    either way.

    A champion scored by another metric classifier version or metrics revision is re-scored
    with this one (``rescore``, given the champion's model URI; None when it cannot be, e.g.
    it conditions on other attributes: then it cannot serve these conditions and the new
    generator takes over)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    alias = champion_alias(dataset)
    champion = champion_version(dataset)
    if champion is None:
        client.set_registered_model_alias(GAN_MODEL, alias, version)
        return True, f"no {dataset} champion yet"
    clean = ERASED_TAG not in client.get_model_version(GAN_MODEL, version).tags
    if ERASED_TAG in champion.tags and clean:   # one that learned from erased items gives way
        client.set_registered_model_alias(GAN_MODEL, alias, version)
        return True, (f"champion v{champion.version} learned from items erased since "
                      f"({champion.tags[ERASED_TAG]}); the clean generator takes over")
    if (champion.tags.get(ENCODER_VERSION_TAG) == (judge_version or None)
            and champion.tags.get(METRICS_REVISION_TAG, "1") == REVISION):
        held = client.get_run(champion.run_id).data.metrics
    elif rescore is None:
        return False, (f"champion v{champion.version} was scored with another metric "
                       "classifier version or metrics revision; not comparable, champion kept")
    else:
        rescored = rescore(f"models:/{GAN_MODEL}/{champion.version}")
        if rescored is None:
            client.set_registered_model_alias(GAN_MODEL, alias, version)
            return True, (f"champion v{champion.version} conditions on other attributes and "
                          "cannot be judged on this data; the new generator takes over")
        held = {f"final.{k}": v for k, v in rescored.items()}
    metric, score = CHAMPION_METRIC.upper(), scores[CHAMPION_METRIC]
    best = held.get(f"final.{CHAMPION_METRIC}", float("inf"))
    if score >= best:
        return False, (f"{metric} {score:.4g} does not beat champion v{champion.version} "
                       f"({best:.4g})")
    ours = {f"final.{k}": v for k, v in scores.items()}
    for guard in CHAMPION_GUARDS:
        mine, theirs = _guard_value(ours, guard), _guard_value(held, guard)
        if mine is not None and theirs is not None and mine < theirs:
            return False, (f"{metric} {score:.4g} beats champion v{champion.version} "
                           f"({best:.4g}) but its {guard} {mine:.3g} is worse than "
                           f"{theirs:.3g}; champion kept")
    client.set_registered_model_alias(GAN_MODEL, alias, version)
    return True, (f"{metric} {score:.4g} beats champion v{champion.version} ({best:.4g}), "
                  f"diversity and consistency no worse")


def log_encoder(trained: TrainedEncoder, run_dir: Path, registered: str = ENCODER_MODEL
                ) -> str:
    """Register the encoder (or the metric classifier, ``registered=METRIC_MODEL``);
    alias = its dataset, so each dataset has its current one."""
    from mlflow.tracking import MlflowClient

    weights = run_dir / ENCODER_FILE
    trained.save(weights)
    arch = trained.model.arch
    example = torch.zeros(2, arch["channels"], arch["resolution"], arch["resolution"])
    version = _log_pytorch(EmbeddingModule(trained.model), "encoder", example, [weights],
                           registered, {"dataset": trained.dataset,
                                        "vocabulary": trained.vocabulary.to_json()})
    MlflowClient().set_registered_model_alias(registered, alias_for(trained.dataset), version)
    return version


def alias_for(dataset: str) -> str:
    return dataset.replace("_", "-")


def download(model_uri: str, filename: str) -> Path:
    import mlflow

    # MLflow's download progress bars would break our one-line stderr contract.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    local = Path(tempfile.mkdtemp(prefix="stylecast-model-"))
    try:
        root = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri,
                                                        dst_path=str(local)))
    except Exception as err:
        raise UnusableInputError(f"model {model_uri} cannot be fetched: "
                                 f"{type(err).__name__}: {str(err).splitlines()[0]}") from None
    found = sorted(root.rglob(filename))
    if not found:
        raise UnusableInputError(f"model {model_uri} has no {filename}: not a StyleCast model")
    return found[0]


def load_encoder(dataset: str, registered: str = ENCODER_MODEL
                 ) -> tuple[TrainedEncoder, str] | None:
    """The registered encoder (or metric classifier) for ``dataset`` and its version, or
    None when there is none."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        version = MlflowClient().get_model_version_by_alias(registered, alias_for(dataset))
    except MlflowException:
        return None
    return load_encoder_version(str(version.version), registered)


def load_encoder_version(version: str, registered: str = ENCODER_MODEL
                         ) -> tuple[TrainedEncoder, str]:
    """A given registry version (an error naming it when it does not exist)."""
    path = download(f"models:/{registered}/{version}", ENCODER_FILE)
    return TrainedEncoder.load(path), version
