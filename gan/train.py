"""``training_loop(cfg)``: the conditional GAN's resumable training loop.

One step = one discriminator update and one generator update on ``batch_size`` images at
the training side (``TrainConfig.resolution_for``), hinge loss plus, with
``classifier_weight``, the auxiliary heads' cross-entropy (real images teach the heads, the
generator is pushed to be classified as asked), mirrored real images, adaptive
DiffAugment on both sides, an EMA copy of the generator for sampling. When the networks
train below the photos' side, the generator's display upsampler also takes one L1 step on
``upsampler_batch`` real photos per step (``gan.networks.DetailUpsampler``).
In the generator's update the discriminator is frozen (no weight gradients: about 40% of
its forward + backward time on CPU), and the generator keeps channels_last from its first layer on.
Every tick the full training state (networks, optimisers, EMA, every RNG, adaptive
augmentation, step) is saved atomically, losses are appended to ``ticks.jsonl`` and sent
to the tracker with the step, and a sample grid of the EMA generator is logged. A killed
run resumed from its folder continues from the last tick and, on CPU, repeats the
uninterrupted run's losses exactly.

Device: CUDA when present (bf16 autocast, channels_last, optional ``torch.compile``), else
CPU fp32 (channels_last too: oneDNN's convolutions ran 1.2x faster in it on 2 AVX2 cores).
Under ``torchrun`` each rank trains on its own batches with DDP; only rank 0 saves, logs
and samples.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from gan import checkpoint
from gan.augment import AdaptiveAugment
from gan.conditioning import drop_conditions
from gan.config import TrainConfig
from gan.data import ImageSet, to_float
from gan.images import grid
from gan.inference import Networks, sample
from pipeline.core.device import torch_device
from pipeline.core.errors import JobFailed

GRID_SAMPLES = 64


class Tracker(Protocol):
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def log_image(self, image, name: str) -> None: ...


class NullTracker:
    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_image(self, image, name: str) -> None:
        pass


class TrainingDiverged(JobFailed):
    """A loss became NaN/inf or exploded; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    images_seen: int
    seconds: float
    images_per_second: float
    stopped_by: str  # "max_kimg" | "max_minutes"


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return int(os.environ.get("RANK", "0")), world


def _rng_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state(), "data": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict[str, torch.Tensor], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def fixed_grid_inputs(cfg: TrainConfig, labels: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The same noise and conditions every tick, so grids show progress, not luck."""
    generator = torch.Generator().manual_seed(cfg.seed + 12345)
    z = torch.randn(GRID_SAMPLES, cfg.z_dim, generator=generator)
    pick = torch.randint(len(labels), (GRID_SAMPLES,), generator=generator)
    return z, labels[pick]


@dataclass
class Session:
    """Everything one training run holds: networks (and their DDP / compiled wrappers),
    optimisers, adaptive augmentation and the data RNG, plus the batches they draw."""

    cfg: TrainConfig
    data: ImageSet
    nets: Networks
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ada: AdaptiveAugment
    data_rng: torch.Generator
    device: torch.device
    world: int
    native: ImageSet | None = None       # the photos at their own side, when they differ
    opt_up: torch.optim.Optimizer | None = None   # the generator's display upsampler
    generator: nn.Module | None = None   # what the steps call: nets.* wrapped for DDP / compile
    discriminator: nn.Module | None = None
    critic: nn.Module | None = None      # the discriminator as the generator's step sees it
    upsampler: nn.Module | None = None

    @classmethod
    def build(cls, cfg: TrainConfig, data: ImageSet, rank: int, world: int) -> Session:
        """``data`` at its native side; the session keeps it at the training side."""
        torch.manual_seed(cfg.seed + rank)
        nets = Networks.build(cfg, data)
        data_rng = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
        betas = (cfg.beta1, cfg.beta2)
        upsampler = nets.generator.upsampler
        drawing = [p for name, p in nets.generator.named_parameters()
                   if not name.startswith("upsampler.")]
        return cls(cfg, data.at_resolution(int(nets.arch["resolution"])), nets,
                   torch.optim.Adam(drawing, cfg.lr_g, betas),
                   torch.optim.Adam(nets.discriminator.parameters(), cfg.lr_d, betas),
                   AdaptiveAugment(cfg.augment, cfg.augment_target, cfg.augment_speed_kimg),
                   data_rng, torch_device(cfg.device), world,
                   native=data if upsampler is not None else None,
                   opt_up=(torch.optim.Adam(upsampler.parameters(), cfg.lr_upsampler)
                           if upsampler is not None else None))

    def restore(self, state_path: Path) -> int:
        """Continue from a checkpoint; returns its step."""
        state = checkpoint.load(state_path, self.nets.arch)
        self.nets.generator.load_state_dict(state["generator"])
        self.nets.discriminator.load_state_dict(state["discriminator"])
        self.nets.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.opt_up is not None:
            self.opt_up.load_state_dict(state["opt_up"])
        _set_rng_state(state["rng"], self.data_rng)
        self.ada.load_state_dict(state.get("augment", self.ada.state_dict()))  # older runs
        return int(state["step"])

    def place(self) -> None:
        """Move the networks to the device and wrap them for DDP and ``torch.compile``."""
        cfg, nets, cuda = self.cfg, self.nets, self.device.type == "cuda"
        for module in (nets.generator, nets.discriminator, nets.ema):
            module.to(self.device)
            if cfg.channels_last:
                module.to(memory_format=torch.channels_last)
        generator, discriminator = nets.generator, nets.discriminator
        upsampler = nets.generator.upsampler
        if self.world > 1:
            ids = [self.device.index] if cuda else None
            # The upsampler is not in the drawing's graph; its own wrapper reduces its
            # gradients, and the generator's must not wait for them.
            with frozen(upsampler) if upsampler is not None else contextlib.nullcontext():
                generator = nn.parallel.DistributedDataParallel(generator, device_ids=ids)
            discriminator = nn.parallel.DistributedDataParallel(discriminator, device_ids=ids)
            if upsampler is not None:
                upsampler = nn.parallel.DistributedDataParallel(upsampler, device_ids=ids)
        # The generator's update needs the discriminator's gradient with respect to its
        # input, not its weights: it runs frozen there, and outside DDP, whose reducer would
        # otherwise wait for weight gradients that never come.
        critic = nets.discriminator
        if cfg.compile and cuda:
            generator, discriminator = torch.compile(generator), torch.compile(discriminator)
            critic = discriminator if self.world == 1 else torch.compile(critic)
        self.generator, self.discriminator, self.critic = generator, discriminator, critic
        self.upsampler = upsampler

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16,
                              enabled=self.device.type == "cuda" and self.cfg.amp)

    def _images(self, data: ImageSet, index: torch.Tensor, mirror: torch.Tensor | None
                ) -> torch.Tensor:
        images = data.images[index]
        if mirror is not None:
            images = torch.where(mirror[:, None, None, None], images.flip(3), images)
        images = to_float(images).to(self.device, non_blocking=True)
        if self.cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def _mirror(self, n: int) -> torch.Tensor | None:
        return torch.rand(n, generator=self.data_rng) < 0.5 if self.cfg.flip else None

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real images (some mirrored), their conditions with some hidden as unknown
        (condition dropout), and their full labels (what the auxiliary heads learn)."""
        cfg, data = self.cfg, self.data
        index = torch.randint(len(data), (cfg.batch_size,), generator=self.data_rng)
        images = self._images(data, index, self._mirror(len(index)))
        labels = data.labels[index]
        shown = drop_conditions(labels, cfg.condition_dropout, self.data_rng)
        return images, shown.to(self.device), labels.to(self.device)

    def noise(self) -> torch.Tensor:
        return torch.randn(self.cfg.batch_size, self.cfg.z_dim,
                           generator=self.data_rng).to(self.device)

    def step(self, step: int) -> tuple[float, float]:
        """One discriminator and one generator update; returns (loss_d, loss_g)."""
        cfg, ada = self.cfg, self.ada
        real, labels, truth = self.batch()
        with self.autocast():
            with torch.no_grad():  # no graph: under DDP a forward without backward must not sync
                fake = self.generator(self.noise(), labels)
            # Real and fake in one forward: one DDP reduction, one pass over the weights.
            scores, logits = _split(self.discriminator(
                ada(torch.cat([real, fake.to(real.dtype)])), torch.cat([labels, labels]), sets=2))
            d_real, d_fake = scores.float().chunk(2)
            ada.observe(d_real)
            loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            if logits is not None:  # the heads learn from real images only
                loss_d = loss_d + cfg.classifier_weight * class_loss(
                    [part[:len(real)] for part in logits], truth)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        _, g_labels, _ = self.batch()
        with self.autocast(), frozen(self.nets.discriminator):
            if cfg.mode_seeking:
                g_labels = paired(g_labels)
            z = self.noise()
            fake = self.generator(z, g_labels)
            score, logits = _split(self.critic(ada(fake), g_labels))
            loss_g = -score.float().mean()
            if logits is not None:  # the fakes must show the asked values
                loss_g = loss_g + cfg.classifier_weight * class_loss(logits, g_labels)
            if cfg.mode_seeking:
                loss_g = loss_g + cfg.mode_seeking * mode_seeking_penalty(fake.float(), z)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if self.upsampler is not None:
            self.train_upsampler()
        _update_ema(self.nets.ema, self.nets.generator, ema_decay(cfg.ema_decay, step))
        return loss_d.item(), loss_g.item()

    def train_upsampler(self) -> None:
        """One L1 step of the display upsampler: real photos at the training side in, the
        same photos at their own side out."""
        assert self.native is not None and self.opt_up is not None
        n = self.cfg.upsampler_batch
        index = torch.randint(len(self.data), (n,), generator=self.data_rng)
        mirror = self._mirror(n)
        small = self._images(self.data, index, mirror)
        target = self._images(self.native, index, mirror)
        with self.autocast():
            loss = (self.upsampler(small).float() - target).abs().mean()
        self.opt_up.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_up.step()

    def state(self, step: int) -> dict:
        """The resumable training state, as the checkpoint stores it."""
        nets = self.nets
        return {"generator": nets.generator.state_dict(),
                "discriminator": nets.discriminator.state_dict(),
                "ema": nets.ema.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "rng": _rng_state(self.data_rng),
                **({"opt_up": self.opt_up.state_dict()} if self.opt_up is not None else {}),
                "augment": self.ada.state_dict(), "step": step, "architecture": nets.arch,
                "vocabulary": self.data.vocabulary.to_json(), "config": self.cfg.to_json()}


@dataclass
class Tick:
    """Loss totals since the last tick, and when it began."""

    loss_d: float = 0.0
    loss_g: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def add(self, losses: tuple[float, float]) -> None:
        self.loss_d += losses[0]
        self.loss_g += losses[1]

    def metrics(self, cfg: TrainConfig, step: int, world: int, augment_p: float
                ) -> dict[str, float]:
        steps = (step - 1) % cfg.tick_steps + 1
        seconds = time.perf_counter() - self.started
        return {"loss_d": self.loss_d / steps, "loss_g": self.loss_g / steps,
                "kimg": step * cfg.batch_size * world / 1000,
                "images_per_second": steps * cfg.batch_size * world / seconds,
                "augment_p": augment_p}


def training_loop(cfg: TrainConfig, run_dir: Path, data: ImageSet,
                  tracker: Tracker | None = None, resume: bool = False,
                  on_tick: Callable[[int], None] | None = None) -> TrainResult:
    rank, world = _distributed()
    tracker = tracker if tracker is not None and rank == 0 else NullTracker()
    session = Session.build(cfg, data, rank, world)
    state_path = run_dir / checkpoint.STATE_FILE
    step = 0
    if resume:
        step = session.restore(state_path)
        _truncate_ticks(run_dir, step)
    session.place()
    grid_z, grid_labels = fixed_grid_inputs(cfg, data.labels)
    start, started_at_step, stopped_by = time.perf_counter(), step, "max_kimg"
    tick = Tick()
    while step < cfg.max_steps:
        losses = session.step(step)
        _stop_if_diverged(losses, cfg, step, state_path, run_dir)
        tick.add(losses)
        step += 1
        over_budget = (cfg.max_minutes is not None
                       and time.perf_counter() - start > cfg.max_minutes * 60)
        if step % cfg.tick_steps == 0 or step == cfg.max_steps or over_budget:
            metrics = tick.metrics(cfg, step, world, session.ada.p)
            if rank == 0:
                _end_tick(session, step, metrics, state_path, run_dir, tracker,
                          (grid_z, grid_labels))
            if on_tick:
                on_tick(step)
            tick = Tick()
            if over_budget:
                stopped_by = "max_minutes"
                break
    seconds = time.perf_counter() - start
    seen = (step - started_at_step) * cfg.batch_size * world
    return TrainResult(run_dir, step, seen, seconds, seen / max(seconds, 1e-9), stopped_by)


def _stop_if_diverged(losses: tuple[float, float], cfg: TrainConfig, step: int,
                      state_path: Path, run_dir: Path) -> None:
    if not all(math.isfinite(v) and abs(v) < cfg.divergence_loss for v in losses):
        raise TrainingDiverged(
            f"step {step + 1}: loss_d={losses[0]:.4g} loss_g={losses[1]:.4g}; training "
            f"stopped, the last good checkpoint (step {_saved_step(state_path)}) is kept "
            f"in {run_dir}")


def _end_tick(session: Session, step: int, metrics: dict[str, float], state_path: Path,
              run_dir: Path, tracker: Tracker, grid_inputs: tuple[torch.Tensor, torch.Tensor]
              ) -> None:
    """Rank 0, every tick: standing statistics, checkpoint, tick log, metrics, sample grid."""
    cfg, nets = session.cfg, session.nets
    recalibrate_batch_norm(nets.ema, cfg.z_dim, session.data.labels, session.device,
                           seed=cfg.seed + step)
    checkpoint.save(session.state(step), state_path)
    _append_tick(run_dir, step, metrics)
    tracker.log_metrics(metrics, step)
    tracker.log_image(grid(sample(nets.ema, *grid_inputs, session.device)),
                      f"samples/step-{step:07d}.png")


def throughput(cfg: TrainConfig, data: ImageSet, steps: int, warmup_steps: int = 0) -> float:
    """Images/s of the training loop over ``steps`` steps (after an untimed warm-up run,
    which on CUDA absorbs compilation and cuDNN autotuning)."""
    import tempfile

    for n, timed in ((warmup_steps, False), (steps, True)):
        if n == 0:
            continue
        kimg = n * cfg.batch_size / 1000
        run = replace(cfg, max_kimg=kimg, tick_kimg=kimg, max_minutes=None)
        with tempfile.TemporaryDirectory() as tmp:
            rate = training_loop(run, Path(tmp), data).images_per_second
        if timed:
            return rate
    raise ValueError("steps must be >= 1")


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """No weight gradients for ``module`` inside the block (input gradients still flow);
    afterwards each parameter is as trainable as it was before."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)


def _split(output: torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]
           ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """(score, per-attribute logits or None) from a discriminator with or without heads."""
    return output if isinstance(output, tuple) else (output, None)


def class_loss(logits: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each attribute's head on the known values (unknown = 0 is ignored)."""
    total = logits[0].new_zeros((), dtype=torch.float32)
    for i, head in enumerate(logits):
        known = (labels[:, i] > 0).sum().clamp(min=1)   # no host sync, unlike masking
        total = total + F.cross_entropy(head.float(), labels[:, i], ignore_index=0,
                                        reduction="sum") / known
    return total


def ema_decay(target: float, step: int) -> float:
    """Warm-up: average over at most ``step`` updates, so the EMA generator is not still
    mostly its random initialisation after a short run (0.999 ** 2600 steps = 7%)."""
    return min(target, (1 + step) / (10 + step))


def paired(labels: torch.Tensor) -> torch.Tensor:
    """The first half of the conditions twice: sample i and i + n/2 share a condition.

    Partners half a batch apart land in one group of the discriminator's minibatch-std
    channel, so it sees when a condition's two noises gave alike images; interleaved
    partners (never in one group) gave lower recall (benchmarks/results/gan.md)."""
    half = len(labels) // 2
    return torch.cat([labels[:half], labels[:half], labels[2 * half:]])


def mode_seeking_penalty(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mode-seeking regulariser (Mao et al., 2019, MSGAN): two noises under one condition
    should give images as far apart as the noises are; penalise the inverse ratio. It
    targets the conditional GAN's typical failure, dropping the variety within a condition.
    Expects ``paired`` conditions."""
    half = len(fake) // 2
    image_gap = (fake[:half] - fake[half:2 * half]).abs().mean(dim=(1, 2, 3))
    noise_gap = (z[:half] - z[half:2 * half]).abs().mean(dim=1)
    return 1 / ((image_gap / noise_gap).mean() + 1e-5)


@torch.no_grad()
def recalibrate_batch_norm(generator: nn.Module, z_dim: int, labels: torch.Tensor,
                           device: torch.device, seed: int, samples: int = 2048,
                           batch_size: int = 256) -> None:
    """Re-estimate the batch-norm statistics of the EMA generator from its own outputs
    (BigGAN's "standing statistics"). Its running averages are copied from the training
    generator, whose weights differ from the averaged ones, and sampling with those stale
    statistics tripled FD (benchmarks/results/gan.md). Own RNG: training is not perturbed."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over all the batches below
    rng = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.train()
    for _ in range(0, samples, batch_size):
        pick = torch.randint(len(labels), (batch_size,), generator=rng)
        generator(torch.randn(batch_size, z_dim, generator=rng).to(device),
                  labels[pick].to(device))
    generator.train(was_training)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum


@torch.no_grad()
def _update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for target, source in zip(ema.parameters(), model.parameters(), strict=True):
        target.lerp_(source.detach(), 1 - decay)
    for target, source in zip(ema.buffers(), model.buffers(), strict=True):
        target.copy_(source)


def _append_tick(run_dir: Path, step: int, metrics: dict[str, float]) -> None:
    with (run_dir / "ticks.jsonl").open("a") as handle:
        handle.write(json.dumps({"step": step, **metrics}) + "\n")


def _truncate_ticks(run_dir: Path, step: int) -> None:
    """Forget ticks logged after the checkpoint we resume from (the crash lost them)."""
    path = run_dir / "ticks.jsonl"
    if path.exists():
        kept = [line for line in path.read_text().splitlines()
                if line and json.loads(line)["step"] <= step]
        path.write_text("".join(f"{line}\n" for line in kept))


def _saved_step(path: Path) -> str:
    try:
        return str(checkpoint.load(path)["step"])
    except Exception:
        return "none"


def read_ticks(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "ticks.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]
