"""Using a trained generator or encoder: build the networks, load them safely, draw images.

What the concepts step, ``stylecast gan sample`` and the metrics need, apart from the
training loop (``gan.train``) and the registry's bookkeeping (``gan.publish``). Weights are
only ever read with ``torch.load(weights_only=True)`` into networks built from the recorded
architecture (``gan.checkpoint``): a model file from someone else cannot run code.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gan import checkpoint
from gan.conditioning import Vocabulary
from gan.config import TrainConfig
from gan.data import ImageSet, to_uint8
from gan.encoder import TrainedEncoder
from gan.networks import Discriminator, Generator, architecture
from gan.publish import ENCODER_MODEL, GENERATOR_FILE, download, load_encoder, load_encoder_version
from pipeline.core.device import torch_device
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings

ITEMS_ENCODER = "items"  # registry alias of the encoder trained on ingested items


@dataclass
class Networks:
    generator: nn.Module
    discriminator: nn.Module
    ema: nn.Module
    arch: dict

    @classmethod
    def build(cls, cfg: TrainConfig, data: ImageSet) -> Networks:
        """Networks at the config's training side for ``data`` (at its native side)."""
        sizes = data.vocabulary.sizes
        side = cfg.resolution_for(data.resolution, torch_device(cfg.device).type)
        display = "learned" if cfg.upsampler_batch > 0 else "bilinear"
        generator = Generator(side, data.channels, sizes, cfg.z_dim, cfg.g_width,
                              output_resolution=data.resolution, display=display)
        discriminator = Discriminator(side, data.channels, sizes, cfg.d_width,
                                      cfg.minibatch_std, classifier=cfg.classifier_weight > 0)
        ema = copy.deepcopy(generator).eval().requires_grad_(False)
        arch = architecture(side, data.channels, sizes, cfg.z_dim, cfg.g_width,
                            output_resolution=data.resolution,
                            display="learned" if generator.upsampler is not None else "bilinear")
        return cls(generator, discriminator, ema,
                   {**arch, "d_width": cfg.d_width, "minibatch_std": cfg.minibatch_std,
                    "classifier": cfg.classifier_weight > 0})


def load_trained(cfg: TrainConfig, data: ImageSet, run_dir: Path) -> Networks:
    """The networks of a run's last checkpoint (EMA generator included), loaded safely."""
    nets = Networks.build(cfg, data)
    state = checkpoint.load(run_dir / checkpoint.STATE_FILE, nets.arch)
    for module, key in ((nets.generator, "generator"), (nets.discriminator, "discriminator"),
                        (nets.ema, "ema")):
        module.load_state_dict(state[key])
    return nets


@torch.no_grad()
def sample(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor,
           device: torch.device | str = "cpu", batch_size: int = 512) -> torch.Tensor:
    """uint8 images from (z, labels), in batches, in eval mode."""
    was_training = generator.training
    generator.eval()
    out = [to_uint8(generator.display(generator(z[i:i + batch_size].to(device),
                                                labels[i:i + batch_size].to(device))).float()
                    ).cpu()
           for i in range(0, len(z), batch_size)]
    generator.train(was_training)
    return torch.cat(out)


@dataclass(frozen=True)
class PublishedGenerator:
    generator: Generator
    vocabulary: Vocabulary
    metric_classifier_version: str   # the classifier that scored it ('' for older models)


def load_generator(model: str) -> PublishedGenerator:
    """From ``models:/...``, ``runs:/...`` or a local ``generator.pt``, without unpickling."""
    path = Path(model) if Path(model).exists() else download(model, GENERATOR_FILE)
    state = checkpoint.load(path)
    arch = state["architecture"]
    generator = Generator(arch["resolution"], arch["channels"], arch["condition_sizes"],
                          arch["z_dim"], arch["width"], arch.get("output_resolution"),
                          # models logged before the learned display upsampled bilinearly
                          display=arch.get("display", "bilinear"))
    generator.load_state_dict(state["state"])
    return PublishedGenerator(generator.eval(), Vocabulary.from_json(state["vocabulary"]),
                              str(state.get("metric_classifier_version", "")))


def load_items_encoder(settings: Settings, model_version: str | None = None
                       ) -> tuple[TrainedEncoder, str]:
    """The encoder that embeds items (the registered one, or ``model_version``) and its
    version; a clear error when there is none or it cannot read RGB items."""
    import mlflow

    from pipeline.core.tracking import check_reachable

    check_reachable(settings.mlflow_tracking_uri)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    found = (load_encoder_version(model_version) if model_version
             else load_encoder(ITEMS_ENCODER))
    if found is None:
        raise UnusableInputError(
            f"no registered {ENCODER_MODEL} for ingested items (alias "
            f"'{ITEMS_ENCODER}'): run `stylecast encoder train --dataset items` first")
    encoder, version = found
    arch = encoder.model.arch
    if arch["channels"] != 3:
        raise UnusableInputError(
            f"{ENCODER_MODEL} v{version} was trained on {encoder.dataset} "
            f"({arch['resolution']}px, {arch['channels']} channel) and cannot embed RGB items; "
            "train one with `stylecast encoder train --dataset items`")
    return encoder, version
