"""Conditional generator and projection discriminator, 28 to 128 px, grey or RGB.

Recipe (chosen for stability and speed on small data and small compute, after BigGAN /
SNGAN / AC-GAN; the measurements are in ``benchmarks/results/gan.md``,
``gan_catalog.md`` and ``gan_catalog_recipe.md``):
- Generator: DCGAN-style upsampling convolutions whose batch norms are *conditional*
  (gain and bias predicted from the sum of per-attribute embeddings and the noise), so the
  condition shapes every layer, not just the input.
- Training side per device: on CPU the networks train at 32x32 (a quarter of the pixels of
  the 64x64 items), where the same widths take more than twice the steps of a plain
  reference cGAN in the same minutes; trained at 64 they took fewer steps than it and were
  far behind after the same minutes. On CUDA they train at the items' own side (64 or
  128), with thin layers above 32 px (``stage_widths``).
- Display: a 32-px drawing loses what tells some types apart (real sports shoes brought
  down to 32 px and back up bilinearly are mostly taken for casual shoes), so
  ``Generator.display`` upsamples with a small learned network (``DetailUpsampler``)
  trained on real photos alongside the GAN, for a few percent of the step time.
- Discriminator: spectral-normalised convolutions and a *projection* head: the score is
  ``linear(h) + sum_a <embed_a(c_a), h>``, the condition entering as an inner product, which
  is what makes conditional GANs train stably (Miyato & Koyama, 2018).
- Auxiliary classifier heads (``classifier``; AC-GAN, Odena et al., 2017): one linear head
  per attribute on the pooled features, learning the attributes from real images only,
  while the generator is also trained to make its samples classified as asked. Projection
  alone let colours drift on the catalogue (a "Blue" T-shirt drawn white); the heads give
  the generator a direct signal for every attribute, at a cost in variety that the next
  two terms pay back.
- A minibatch-standard-deviation channel (``minibatch_std``) so the discriminator can see
  a batch that lacks variety (Karras et al., 2018), and a mode-seeking term (Mao et al.,
  2019) against the conditional GAN's usual failure: one image per condition whatever the
  noise. Either alone bought less variety than both together; a 1x1 layer reading the
  spread channel cost nothing but lost most of the gain, so it is read by a 3x3 layer.
- Hinge loss, an EMA copy of the generator for sampling (warmed up, with batch-norm
  statistics re-estimated from its own outputs). See ``gan.train``.
- DiffAugment on both real and fake images (Zhao et al., 2020), applied *adaptively*: each
  image with a probability that rises only while the discriminator is overconfident on
  real images (ADA, Karras et al., 2020; ``gan.augment.AdaptiveAugment``). Always-on
  augmentation is for data a discriminator can memorise; on tens of thousands of images
  it only slowed learning, and the adaptive probability stays near 0 there: it is a guard
  for long runs on small catalogues. Real images are also mirrored left-right
  (``flip``): garments are symmetric, so it doubles the data for free.
Each attribute has its own embedding with index 0 = unknown, so partial conditions work.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# resolution -> (start side, number of 2x upsamplings)
LAYOUTS = {28: (7, 2), 32: (4, 3), 64: (4, 4), 128: (4, 5)}
ANCHOR_STAGE = 3      # ``width`` channels at the stage of side 32 (of 28 for Fashion-MNIST)
MIN_CHANNELS = 8


def stage_widths(width: int, stages: int) -> list[int]:
    """Channels per stage from the smallest side up: doubling below the anchor stage (32 px),
    halving above it, so the layers at 64 and 128 px stay thin (FastGAN's schedule) and cost
    about what one 32-px stage costs instead of four times more each."""
    top = min(stages, ANCHOR_STAGE)
    return [max(MIN_CHANNELS, int(width * 2.0 ** (top - i))) for i in range(stages + 1)]


class ConditionEmbedding(nn.Module):
    """Sum of one embedding per attribute (index 0 of each = unknown)."""

    def __init__(self, sizes: list[int], dim: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(n, dim) for n in sizes)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return sum(table(labels[:, i]) for i, table in enumerate(self.tables))


class ConditionalBatchNorm(nn.Module):
    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)
        nn.init.ones_(self.gain.bias)
        nn.init.zeros_(self.bias.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return (self.norm(x) * self.gain(cond)[:, :, None, None]
                + self.bias(cond)[:, :, None, None])


# Row i of the 4-tap kernel sums the 3x3 kernel's taps that reach output phase i.
_UPSAMPLE_TAPS = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0],
                               [1.0, 0.0, 0.0]])


def upsample_conv(x: torch.Tensor, conv: nn.Conv2d,
                  taps: torch.Tensor = _UPSAMPLE_TAPS) -> torch.Tensor:
    """``conv`` (3x3, padding 1) applied to ``x`` upsampled 2x by nearest neighbour.

    Computed as the stride-2 4x4 transposed convolution it equals exactly: each output
    pixel of the upsampled convolution sees only 2x2 distinct input pixels, so summing the
    3x3 taps that land on the same one gives the 4x4 kernel. 2.25x fewer multiply-adds,
    no upsampled tensor; on 2 AVX2 cores the generator's two blocks ran forward + backward
    in 32 + 29 ms instead of 48 + 63 ms (64 images). The parameter stays the 3x3 kernel,
    so the network and its checkpoints are unchanged. ``taps`` already on the weight's
    device and dtype (a module buffer) spares a host-to-device copy per call.
    """
    taps = taps.to(conv.weight)
    kernel = torch.einsum("pk,oikl,ql->iopq", taps, conv.weight, taps)
    return nn.functional.conv_transpose2d(x, kernel, conv.bias, stride=2, padding=1)


class UpBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = ConditionalBatchNorm(c_in, cond_dim)
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        # Moves with the module; not saved, so checkpoints hold only learned state.
        self.register_buffer("taps", _UPSAMPLE_TAPS.clone(), persistent=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return upsample_conv(torch.relu(self.norm(x, cond)), self.conv, self.taps)


class DetailUpsampler(nn.Module):
    """Learned ``factor``x upsampling for display: bilinear plus a residual of sub-pixel
    convolutions computed at the small side (ESPCN, Shi et al., 2016).

    Trained on real photos only (their area-downsampled copies to the photos themselves,
    L1), so it restores the texture a 32-px drawing cannot carry (a sports shoe's mesh and
    stripes) without seeing any generated image. The last layer starts at zero: untrained,
    it is plain bilinear upsampling.
    """

    def __init__(self, channels: int, factor: int, width: int = 32) -> None:
        super().__init__()
        self.factor = factor
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, channels * factor * factor, 3, padding=1), nn.PixelShuffle(factor))
        nn.init.zeros_(self.body[-2].weight)
        nn.init.zeros_(self.body[-2].bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        smooth = nn.functional.interpolate(images, scale_factor=self.factor, mode="bilinear",
                                           align_corners=False)
        return (smooth + self.body(images)).clamp(-1, 1)


class Generator(nn.Module):
    """``forward`` draws at the training ``resolution``; ``display`` brings a drawing to
    ``output_resolution`` (the item size), with the learned ``upsampler`` when ``display``
    is "learned" (else bilinear), so a generator trained at 32 px on CPU still delivers
    64 px items."""

    def __init__(self, resolution: int, channels: int, condition_sizes: list[int],
                 z_dim: int = 64, width: int = 64, output_resolution: int | None = None,
                 display: str = "learned") -> None:
        super().__init__()
        if resolution not in LAYOUTS:
            raise ValueError(f"resolution {resolution} not supported; one of {list(LAYOUTS)}")
        start, ups = LAYOUTS[resolution]
        self.z_dim, self.start, self.resolution, self.channels = z_dim, start, resolution, channels
        self.output_resolution = output_resolution or resolution
        cond_dim = z_dim
        self.embed = ConditionEmbedding(condition_sizes, cond_dim)
        widths = stage_widths(width, ups)   # e.g. 128,64,32 for 28 px; 256,...,32,16 for 64
        self.project = nn.Linear(z_dim + cond_dim, widths[0] * start * start)
        self.blocks = nn.ModuleList(UpBlock(widths[i], widths[i + 1], z_dim + cond_dim)
                                    for i in range(ups))
        self.out_norm = ConditionalBatchNorm(widths[-1], z_dim + cond_dim)
        self.to_image = nn.Conv2d(widths[-1], channels, 3, padding=1)
        factor = self.output_resolution // resolution
        self.upsampler = (DetailUpsampler(channels, factor)
                          if display == "learned" and factor > 1
                          and factor * resolution == self.output_resolution else None)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.synthesise(z, self.embed(labels))

    @property
    def input_layers(self) -> int:
        """How many layers read the input ``[z, condition]``: the projection, each block
        and the output normalisation."""
        return len(self.blocks) + 2

    def synthesise(self, z: torch.Tensor, condition: torch.Tensor,
                   layers: torch.Tensor | None = None) -> torch.Tensor:
        """Draw from noise and a condition *embedding* (``embed(labels)``, or a point
        between or beside the embeddings: the design controls' blends and inversions).
        ``layers``: optional (N, input_layers, 2 * z_dim) residuals added to the input each
        layer reads (an inversion's "W+" freedom; None: every layer reads the same)."""
        cond = torch.cat([z, condition], dim=1)
        inputs = ([cond] * self.input_layers if layers is None
                  else [cond + layers[:, i] for i in range(self.input_layers)])
        # z.shape[0], not len(z): len() is a plain int to torch.export, which would freeze the
        # logged model's batch size to the example's.
        x = self.project(inputs[0]).view(z.shape[0], -1, self.start, self.start)
        # The projection comes out NCHW; match the convolutions' layout (channels_last
        # after ``.to(memory_format=...)``), or every layer converts back and forth.
        if self.to_image.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        for block, block_input in zip(self.blocks, inputs[1:-1], strict=True):
            x = block(x, block_input)
        return torch.tanh(self.to_image(torch.relu(self.out_norm(x, inputs[-1]))))

    def display(self, images: torch.Tensor) -> torch.Tensor:
        if self.output_resolution == self.resolution:
            return images
        if self.output_resolution < self.resolution:   # judged below the training side
            return nn.functional.interpolate(images, size=self.output_resolution, mode="area")
        if self.upsampler is not None:
            return self.upsampler(images)
        return nn.functional.interpolate(images, size=self.output_resolution, mode="bilinear",
                                         align_corners=False).clamp(-1, 1)


def minibatch_stddev(x: torch.Tensor, sets: int = 1, group: int = 4) -> torch.Tensor:
    """Append one channel: the feature spread within small groups of the batch.

    A generator that drops variety makes its batches too alike; this channel lets the
    discriminator see that (Karras et al., 2018). ``sets`` contiguous parts of the batch
    (real and fake in one forward) are grouped separately, never mixed.
    """
    n, c, h, w = x.shape
    per_set = n // sets
    size = min(group, per_set)
    while per_set % size:
        size -= 1
    y = x.reshape(sets, size, per_set // size, c, h, w)
    spread = (y - y.mean(dim=1, keepdim=True)).pow(2).mean(dim=1).add(1e-8).sqrt()
    spread = spread.mean(dim=(2, 3, 4))                       # (sets, groups)
    channel = spread[:, None, :].expand(sets, size, per_set // size).reshape(n, 1, 1, 1)
    return torch.cat([x, channel.expand(n, 1, h, w).to(x.dtype)], dim=1)


class Discriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, condition_sizes: list[int],
                 width: int = 64, minibatch_std: bool = False, classifier: bool = False
                 ) -> None:
        super().__init__()
        if resolution not in LAYOUTS:
            raise ValueError(f"resolution {resolution} not supported; one of {list(LAYOUTS)}")
        _, downs = LAYOUTS[resolution]
        widths = stage_widths(width, downs)[::-1]
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(channels, widths[0], 3, padding=1)),
                                   nn.LeakyReLU(0.2)]
        for i in range(downs):
            layers += [spectral_norm(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2,
                                               padding=1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.minibatch_std = minibatch_std
        # The spread channel needs a layer to be read by; without it, no extra layer.
        self.final = (spectral_norm(nn.Conv2d(widths[-1] + 1, widths[-1], 3, padding=1))
                      if minibatch_std else None)
        self.score = spectral_norm(nn.Linear(widths[-1], 1))
        self.embeds = nn.ModuleList(spectral_norm(nn.Embedding(n, widths[-1]))
                                    for n in condition_sizes)
        # Auxiliary heads (AC-GAN): one classifier per attribute on the pooled features.
        self.classes = (nn.ModuleList(nn.Linear(widths[-1], n) for n in condition_sizes)
                        if classifier else None)

    def forward(self, images: torch.Tensor, labels: torch.Tensor, sets: int = 1
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """The realism score; with auxiliary heads, also one logit tensor per attribute."""
        x = self.features(images)
        if self.final is not None:
            x = nn.functional.leaky_relu(self.final(minibatch_stddev(x, sets)), 0.2)
        h = x.sum(dim=(2, 3))  # global sum pooling
        projection = sum((embed(labels[:, i]) * h).sum(dim=1)
                         for i, embed in enumerate(self.embeds))
        score = self.score(h).squeeze(1) + projection
        if self.classes is None:
            return score
        pooled = h / (x.shape[2] * x.shape[3])
        return score, [head(pooled) for head in self.classes]


def architecture(resolution: int, channels: int, condition_sizes: list[int], z_dim: int,
                 width: int, output_resolution: int | None = None, display: str = "learned"
                 ) -> dict[str, object]:
    """What a checkpoint must match to be loaded into these networks. ``display`` is
    recorded only when the generator has a learned upsampler, so checkpoints from before
    it (all bilinear or at their own side) still resume."""
    return {"resolution": resolution, "channels": channels,
            "condition_sizes": list(condition_sizes), "z_dim": z_dim, "width": width,
            "output_resolution": output_resolution or resolution,
            **({"display": display} if display == "learned" else {})}
