"""The catalogue classifier: one network, two jobs.

1. Its penultimate layer is the feature space of the GAN's quality metrics (Frechet
   distance, KID, precision/recall), because Inception weights cannot be downloaded here
   and a classifier trained on the catalogue itself measures what matters for it.
2. The same penultimate layer embeds real and generated items for style discovery.

One head per condition attribute (unknown labels are ignored by the loss), so the features
know about every attribute a design is conditioned on. Saved as a plain state dict plus
its architecture and vocabulary: loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import nn

from gan import checkpoint
from gan.conditioning import Vocabulary
from gan.data import ImageSet, to_float
from pipeline.core.errors import UnusableInputError
from pipeline.core.names import EMBEDDING_DIM


@dataclass(frozen=True)
class EncoderPreset:
    width: int             # channels of the first convolution (doubling twice)
    epochs: int            # with ``converge``: the most epochs
    limit: int | None      # training images used (None: all)
    converge: bool = False  # train until held-out accuracy stops improving (see train)


PRESETS = MappingProxyType({
    "baby": EncoderPreset(width=8, epochs=1, limit=1024),       # seconds: tests
    "quick": EncoderPreset(width=16, epochs=3, limit=8192),     # a minute on CPU: the demo
    "small": EncoderPreset(width=32, epochs=2, limit=None),     # CPU
    "full": EncoderPreset(width=64, epochs=10, limit=None),     # GPU
    # The GAN's metric classifier: trained until it converges, once per dataset.
    "metric": EncoderPreset(width=32, epochs=16, limit=None, converge=True),
})
# Convergence: the learning rate drops by PLATEAU_FACTOR whenever an epoch does not improve
# the validation accuracy by PLATEAU_GAIN; training stops after PLATEAU_DROPS drops.
PLATEAU_GAIN, PLATEAU_FACTOR, PLATEAU_DROPS = 0.005, 0.3, 2
LIKENESS_STAGES = 2   # of the three convolution stages (see Encoder.likeness)
VALIDATION_SHARE = 0.05


def preset(name: str) -> EncoderPreset:
    """The named preset, or a one-line error listing them (before any data is loaded)."""
    if name not in PRESETS:
        raise UnusableInputError(f"unknown encoder preset {name!r}; one of {', '.join(PRESETS)}")
    return PRESETS[name]


def stem_pool_for(resolution: int) -> int:
    """Average-pool inputs above 32 px down to about 32 px before the convolutions.

    Styles and the GAN metrics need shape and colour, not fine texture; pooling 64 px items
    to 32 px makes training and embedding four times cheaper on CPU (benchmarks/embed.py).
    """
    return max(1, resolution // 32)


class Encoder(nn.Module):
    def __init__(self, channels: int, resolution: int, head_sizes: list[int],
                 width: int = 32, stem_pool: int | None = None) -> None:
        super().__init__()
        stem_pool = stem_pool_for(resolution) if stem_pool is None else stem_pool
        self.arch = {"channels": channels, "resolution": resolution,
                     "head_sizes": list(head_sizes), "width": width, "stem_pool": stem_pool}
        layers: list[nn.Module] = [nn.AvgPool2d(stem_pool)] if stem_pool > 1 else []
        c_in = channels
        for c_out in (width, width * 2, width * 4):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                       nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(c_in, EMBEDDING_DIM), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(EMBEDDING_DIM, n) for n in head_sizes)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Float images in [-1, 1] -> (N, 128) embeddings (the penultimate layer)."""
        return self.features(images)

    def likeness(self, images: torch.Tensor) -> torch.Tensor:
        """Float images -> (N, D) features for matching one image to another (the design
        controls' inversion): the first two stages' activations, unit-normalised at each
        position and scaled by their size (as LPIPS does), then the embedding. The early
        stages hold shape and colour that any classifier sees, so a match found here holds
        in other classifiers' spaces too, not only in this one's embedding."""
        stages, out, x = 0, [], images
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d) and stages < LIKENESS_STAGES:
                stages += 1
                unit = x / x.pow(2).sum(1, keepdim=True).sqrt().clamp(min=1e-6)
                out.append(unit.flatten(1) / math.sqrt(x.shape[2] * x.shape[3]))
        return torch.cat([*out, x], dim=1)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        h = self.embed(images)
        return [head(h) for head in self.heads]


@dataclass
class TrainedEncoder:
    model: Encoder
    vocabulary: Vocabulary
    dataset: str
    test_accuracy: dict[str, float]
    history: list[float] = field(default_factory=list)   # validation accuracy per epoch
    # A metric classifier's realism reference (``gan.realism``); empty for item encoders.
    reference: dict[str, torch.Tensor] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        checkpoint.save({"state": self.model.state_dict(), "architecture": self.model.arch,
                         "vocabulary": self.vocabulary.to_json(), "dataset": self.dataset,
                         "test_accuracy": self.test_accuracy, "history": self.history,
                         "reference": self.reference}, path)

    @classmethod
    def load(cls, path: Path) -> TrainedEncoder:
        state = checkpoint.load(path)
        arch = state["architecture"]
        # Encoders saved before the stem existed had none.
        model = Encoder(arch["channels"], arch["resolution"], arch["head_sizes"], arch["width"],
                        arch.get("stem_pool", 1))
        model.load_state_dict(state["state"])
        return cls(model.eval(), Vocabulary.from_json(state["vocabulary"]), state["dataset"],
                   dict(state["test_accuracy"]), list(state.get("history", [])),
                   dict(state.get("reference", {})))

    @torch.no_grad()
    def embed(self, images_uint8: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        self.model.eval()
        return torch.cat([self.model.embed(to_float(images_uint8[i:i + batch_size]))
                          for i in range(0, len(images_uint8), batch_size)])

    @torch.no_grad()
    def outputs(self, images_uint8: torch.Tensor, batch_size: int = 512
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One forward for both: the (N, 128) features and, per attribute, (N, n_values - 1)
        softmax over the known values (column j is value index j + 1)."""
        self.model.eval()
        features, probabilities = [], []
        for i in range(0, len(images_uint8), batch_size):
            h = self.model.embed(to_float(images_uint8[i:i + batch_size]))
            features.append(h)
            probabilities.append([head(h)[:, 1:].softmax(dim=1) for head in self.model.heads])
        if not features:
            return (torch.zeros(0, EMBEDDING_DIM),
                    [torch.zeros(0, head.out_features - 1) for head in self.model.heads])
        return torch.cat(features), [torch.cat([part[a] for part in probabilities])
                                     for a in range(len(self.model.heads))]

    def probabilities(self, images_uint8: torch.Tensor) -> list[torch.Tensor]:
        return self.outputs(images_uint8)[1]

    def predict(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """(N, n_attributes) predicted value indices (never ``unknown``)."""
        return predictions(self.probabilities(images_uint8))


def predictions(probabilities: list[torch.Tensor]) -> torch.Tensor:
    """Per-attribute probabilities (``TrainedEncoder.outputs``) -> (N, A) value indices."""
    return torch.stack([p.argmax(dim=1) + 1 for p in probabilities], dim=1)


def accuracy(encoder: TrainedEncoder, data: ImageSet) -> dict[str, float]:
    """Per attribute, accuracy on the images whose value is known."""
    predicted = encoder.predict(data.images)
    result = {}
    for i, name in enumerate(data.vocabulary.names):
        known = data.labels[:, i] > 0
        result[name] = float((predicted[known, i] == data.labels[known, i]).float().mean())
    return result


def train(train_set: ImageSet, test_set: ImageSet, preset_name: str = "small", seed: int = 0,
          batch_size: int = 128, progress=None) -> TrainedEncoder:
    chosen = preset(preset_name)
    torch.manual_seed(seed)
    if chosen.limit:
        train_set = train_set.subset(slice(0, chosen.limit))
    model = Encoder(train_set.channels, train_set.resolution, train_set.vocabulary.sizes,
                    chosen.width)
    rng = torch.Generator().manual_seed(seed)
    if chosen.converge:
        history = _train_until_converged(model, train_set, chosen.epochs, batch_size, rng)
    else:
        history = []
        optimiser = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
        steps = chosen.epochs * max(1, len(train_set) // batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, 2e-3, total_steps=steps)
        if progress:
            progress.start(steps)
        for step in range(1, steps + 1):
            loss = _train_step(model, optimiser, train_set, batch_size, rng)
            scheduler.step()
            if progress:
                progress.update(step, f"loss {loss:.3f}")
    trained = TrainedEncoder(model.eval(), train_set.vocabulary, train_set.name, {})
    trained.test_accuracy = accuracy(trained, test_set)
    trained.history = history
    return trained


def _train_step(model: Encoder, optimiser: torch.optim.Optimizer, data: ImageSet,
                batch_size: int, rng: torch.Generator) -> float:
    model.train()
    index = torch.randint(len(data), (batch_size,), generator=rng)
    images, labels = to_float(data.images[index]), data.labels[index]
    flips = torch.rand(len(images), generator=rng) < 0.5   # garments are left-right symmetric
    images = torch.where(flips[:, None, None, None], images.flip(3), images)
    loss = sum(F.cross_entropy(logits, labels[:, i], ignore_index=0)
               for i, logits in enumerate(model(images)) if (labels[:, i] > 0).any())
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return float(loss)


def _train_until_converged(model: Encoder, data: ImageSet, max_epochs: int, batch_size: int,
                           rng: torch.Generator) -> list[float]:
    """Epochs until the validation accuracy (mean over attributes, on a slice of the
    training set: the test split stays unseen) plateaus at the lowest learning rate; the
    best epoch's weights are kept. Returns the validation accuracy of every epoch."""
    order = torch.randperm(len(data), generator=rng)
    cut = max(1, int(len(data) * VALIDATION_SHARE))
    validation, fit = data.subset(order[:cut]), data.subset(order[cut:])
    optimiser = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
    best, best_state, drops, history = -1.0, None, 0, []
    for _ in range(max_epochs):
        for _ in range(max(1, len(fit) // batch_size)):
            _train_step(model, optimiser, fit, batch_size, rng)
        score = sum(accuracy(TrainedEncoder(model.eval(), data.vocabulary, data.name, {}),
                             validation).values()) / len(data.vocabulary.names)
        history.append(score)
        if score > best + PLATEAU_GAIN or best_state is None:
            best = max(best, score)
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
            continue
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
        drops += 1
        if drops > PLATEAU_DROPS:
            break
        for group in optimiser.param_groups:
            group["lr"] *= PLATEAU_FACTOR
    model.load_state_dict(best_state)
    return history
