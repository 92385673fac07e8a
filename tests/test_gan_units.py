"""GAN building blocks: conditions, networks, augmentation, safe checkpoints, metrics."""

from __future__ import annotations

import os

import pytest
import torch

from gan import checkpoint, metrics
from gan.augment import AdaptiveAugment
from gan.conditioning import Vocabulary, drop_conditions
from gan.networks import Discriminator, Generator
from pipeline.core.errors import UnusableInputError

VOCAB = Vocabulary.from_values({"articleType": ["Dresses", "Shirts"],
                                "baseColour": ["Red", "Blue", "Black"]})


def test_vocabulary_has_unknown_first_and_parses_partial_conditions():
    assert VOCAB.values("articleType") == ("unknown", "Dresses", "Shirts")
    assert VOCAB.parse("articleType=Dresses,baseColour=Red").tolist() == [[1, 3]]
    assert VOCAB.parse("baseColour=Blue").tolist() == [[0, 2]], "left out = unknown"
    assert VOCAB.encode([{"articleType": "Hats"}]).tolist() == [[0, 0]]
    assert Vocabulary.from_json(VOCAB.to_json()) == VOCAB


@pytest.mark.parametrize("condition, message", [
    ("season=Summer", "unknown attribute 'season'; valid: articleType, baseColour"),
    ("articleType=Hats", "unknown value 'Hats' for articleType; valid: unknown, Dresses, Shirts"),
    ("Dresses", "is not attribute=value"),
])
def test_bad_conditions_name_the_valid_choices(condition, message):
    with pytest.raises(UnusableInputError, match=message):
        VOCAB.parse(condition)


def test_condition_dropout_hides_values_as_unknown():
    labels = torch.ones(10_000, 2, dtype=torch.long)
    dropped = drop_conditions(labels, 0.25, torch.Generator().manual_seed(0))
    assert 0.23 < (dropped == 0).float().mean() < 0.27
    assert drop_conditions(labels, 0.0) is labels


@pytest.mark.parametrize("resolution, channels", [(28, 1), (64, 3)])
def test_networks_shapes_and_the_condition_matters(resolution, channels):
    g = Generator(resolution, channels, VOCAB.sizes, z_dim=16, width=8).eval()
    d = Discriminator(resolution, channels, VOCAB.sizes, width=8)
    z = torch.randn(4, 16)
    red, blue = VOCAB.parse("baseColour=Red").repeat(4, 1), VOCAB.parse("baseColour=Blue")
    images = g(z, red)
    assert images.shape == (4, channels, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    assert d(images, red).shape == (4,)
    torch.nn.init.normal_(g.embed.tables[1].weight)
    assert not torch.allclose(g(z, red), g(z, blue.repeat(4, 1)))


def test_augmentation_is_differentiable_and_keeps_shape():
    x = torch.randn(4, 3, 64, 64, requires_grad=True)
    y = AdaptiveAugment("translation,cutout,colour", target=None)(x)
    y.sum().backward()
    assert y.shape == x.shape and x.grad is not None and x.grad.abs().sum() > 0


def test_adaptive_augmentation_follows_discriminator_overfitting():
    ada = AdaptiveAugment("translation,cutout", target=0.6, speed_kimg=0.064, interval=4)
    x = torch.randn(8, 1, 28, 28)
    assert ada(x) is x, "p starts at 0: nothing is augmented"
    sure = torch.ones(16)            # D calls every real image real: it is memorising
    for _ in range(4):
        ada.observe(sure)
    assert ada.p == pytest.approx(1.0), "64 images at 0.064 kimg per unit: p climbs to 1"
    assert not torch.equal(ada(x), x)
    half = AdaptiveAugment("translation", target=0.6, speed_kimg=0.128, interval=4)
    half.load_state_dict({"p": 0.5, "signs": 0.0, "count": 0, "steps": 0})
    mixed = torch.tensor([1.0, -1.0] * 8)   # r = 0: no overfitting, p falls
    for _ in range(3):
        half.observe(mixed)
    resumed = AdaptiveAugment("translation", target=0.6, speed_kimg=0.128, interval=4)
    resumed.load_state_dict(half.state_dict())
    for ada_ in (half, resumed):
        ada_.observe(mixed)
        assert ada_.p == pytest.approx(0.0), "64 images at 0.128 kimg per unit: 0.5 -> 0"
    cutout = AdaptiveAugment("cutout", target=0.6)
    cutout.p = 0.5
    images = torch.ones(4000, 1, 8, 8)
    changed = (cutout(images) != images).flatten(1).any(dim=1).float().mean()
    assert 0.45 < changed < 0.55, "each image is augmented with probability p"
    with pytest.raises(UnusableInputError, match=r"unknown augmentation.*blur; valid: trans"):
        AdaptiveAugment("translation,blur")


def test_checkpoints_are_atomic_and_never_unpickle_code(tmp_path, monkeypatch):
    path = tmp_path / "state.pt"
    checkpoint.save({"step": 1, "w": torch.ones(2)}, path)

    def crash(obj, f, *args, **kwargs):
        open(f, "wb").write(b"half a checkpoint")  # noqa: SIM115 - a crash mid-write
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save({"step": 2}, path)
    monkeypatch.undo()
    assert checkpoint.load(path)["step"] == 1, "the good checkpoint survived"
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"], "no temp file left"

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"step": Payload()}, evil)
    with pytest.raises(UnusableInputError, match="cannot be loaded safely"):
        checkpoint.load(evil)
    with pytest.raises(UnusableInputError, match="made for other networks"):
        checkpoint.save({"architecture": {"resolution": 28}}, path)
        checkpoint.load(path, {"resolution": 64})


def test_metrics_on_known_distributions():
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(600, 8, generator=generator)
    same = torch.randn(600, 8, generator=generator)
    train = torch.randn(600, 8, generator=generator)
    shifted = torch.randn(600, 8, generator=generator) + 3
    collapsed = real[:5].repeat(120, 1) + 0.01 * torch.randn(600, 8, generator=generator)

    def evaluation(fake):
        return metrics.Evaluation(encoder=None, real=real, train=train, fake=fake,
                                  fake_images=None, fake_labels=None, real_accuracy={})

    close, far, mode = (evaluation(f) for f in (same, shifted, collapsed))
    assert metrics.fd(close)["fd"] < 0.5 < 50 < metrics.fd(far)["fd"]
    assert abs(metrics.kid(close)["kid"]) < 0.01 < metrics.kid(far)["kid"]
    pr_close, pr_mode = metrics.precision_recall(close), metrics.precision_recall(mode)
    assert pr_close["precision"] > 0.8 and pr_close["recall"] > 0.8
    assert pr_mode["precision"] > 0.9 and pr_mode["recall"] < 0.1, "mode collapse: recall drops"
    assert metrics.precision_recall(far)["precision"] < 0.05
    assert metrics.memorisation(evaluation(train[:100] + 1e-4))["memorisation"] > 0.9
    assert metrics.memorisation(close)["memorisation"] < 0.15


def test_minibatch_stddev_keeps_real_and_fake_sets_apart():
    from gan.networks import minibatch_stddev

    alike = torch.ones(8, 2, 3, 3)               # a collapsed "fake" half: no spread at all
    varied = torch.randn(8, 2, 3, 3) * 5         # a varied "real" half
    out = minibatch_stddev(torch.cat([varied, alike]), sets=2)
    assert out.shape == (16, 3, 3, 3)
    assert (out[8:, 2] < 1e-3).all(), "the collapsed half is seen as collapsed"
    assert (out[:8, 2] > 1).all()
    d = Discriminator(28, 1, VOCAB.sizes, width=8, minibatch_std=True)
    scores = d(torch.randn(6, 1, 28, 28), torch.zeros(6, 2, dtype=torch.long), sets=2)
    assert scores.shape == (6,)


def test_ema_warms_up_then_holds_its_target_decay():
    from gan.train import ema_decay

    assert ema_decay(0.999, 0) == pytest.approx(0.1)  # step 0: the EMA follows the generator
    assert ema_decay(0.999, 100) < 0.95
    assert ema_decay(0.999, 100_000) == 0.999


def test_mode_seeking_penalises_a_condition_whose_noises_give_one_image():
    from gan.train import mode_seeking_penalty, paired

    labels = torch.arange(6)[:, None]
    assert paired(labels)[:, 0].tolist() == [0, 1, 2, 0, 1, 2]
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    same = torch.ones(3, 1, 4, 4).repeat(2, 1, 1, 1)
    varied = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    assert mode_seeking_penalty(same, z) > 100 * mode_seeking_penalty(varied, z)


def test_batch_norm_recalibration_matches_the_generators_own_outputs_and_spares_the_rng():
    from gan.train import recalibrate_batch_norm

    torch.manual_seed(0)
    generator = Generator(28, 1, [3], z_dim=8, width=4).eval()
    norm = generator.blocks[0].norm.norm
    labels = torch.randint(3, (50, 1))
    norm.running_mean.fill_(5.0)  # stale statistics, as copied from another generator
    state = torch.get_rng_state()
    recalibrate_batch_norm(generator, 8, labels, torch.device("cpu"), seed=1, samples=512)
    assert torch.equal(torch.get_rng_state(), state), "training RNG untouched"
    assert not generator.training and norm.momentum == 0.1
    recalibrated = norm.running_mean.clone()
    captured = {}
    hook = norm.register_forward_hook(lambda m, args, out: captured.update(x=args[0]))
    generator.train()(torch.randn(2048, 8), labels[torch.randint(50, (2048,))])
    hook.remove()
    batch_mean = captured["x"].mean(dim=(0, 2, 3))
    assert torch.allclose(recalibrated, batch_mean, atol=0.02)


def test_frozen_discriminator_passes_input_gradients_but_keeps_no_weight_gradients():
    from gan.train import frozen

    d = Discriminator(28, 1, VOCAB.sizes, width=8, minibatch_std=True)
    fake = torch.randn(4, 1, 28, 28, requires_grad=True)
    with frozen(d):
        score = d(fake, torch.zeros(4, 2, dtype=torch.long)).sum()
    score.backward()  # after the block, as the training loop does
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in d.parameters()), "the generator step spares D's weights"
    assert all(p.requires_grad for p in d.parameters()), "trainable again after the block"


def test_channels_last_generator_keeps_that_layout_from_its_first_layer():
    """Otherwise every layer converts layouts back and forth (slower than plain NCHW)."""
    g = Generator(28, 1, VOCAB.sizes, z_dim=8, width=8).to(memory_format=torch.channels_last)
    layouts = []
    for module in (*[m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)],
                   g.to_image):
        module.register_forward_pre_hook(lambda _module, args: layouts.append(
            args[0].is_contiguous(memory_format=torch.channels_last)))
    g(torch.randn(4, 8), torch.zeros(4, 2, dtype=torch.long))
    assert layouts == [True] * 4, "each block's norm, the output norm and the last conv"


def test_upsample_conv_equals_nearest_upsampling_then_the_3x3_convolution():
    from gan.networks import upsample_conv

    conv = torch.nn.Conv2d(5, 3, 3, padding=1).double()
    x = torch.randn(2, 5, 7, 6, dtype=torch.float64, requires_grad=True)
    fast = upsample_conv(x, conv)
    plain = conv(torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
    assert fast.shape == plain.shape == (2, 3, 14, 12)
    assert torch.allclose(fast, plain, atol=1e-12)
    grad = torch.randn_like(plain)
    fast_grads = torch.autograd.grad(fast, (x, conv.weight, conv.bias), grad)
    plain_grads = torch.autograd.grad(plain, (x, conv.weight, conv.bias), grad)
    for a, b in zip(fast_grads, plain_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-12)


def test_a_32px_generator_delivers_item_sized_images():
    g = Generator(32, 3, VOCAB.sizes, z_dim=16, width=8, output_resolution=64).eval()
    labels = VOCAB.parse("articleType=Dresses,baseColour=Red").repeat(4, 1)
    drawn = g(torch.randn(4, 16), labels)
    assert drawn.shape == (4, 3, 32, 32) and g.display(drawn).shape == (4, 3, 64, 64)


def test_the_auxiliary_heads_learn_to_classify_what_the_loss_teaches():
    """The discriminator's heads, trained by ``class_loss`` alone, tell apart images whose
    only difference is the attribute value they are labelled with (here: the colour), on
    images they were not trained on; untrained, they are at chance."""
    from gan.train import class_loss

    torch.manual_seed(0)
    d = Discriminator(32, 3, VOCAB.sizes, width=8, classifier=True)
    tints = {1: (1.0, -1.0, -1.0), 2: (-1.0, -1.0, 1.0), 3: (1.0, 1.0, -1.0)}  # colour ids

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        colours = torch.randint(1, 4, (n,))
        images = torch.stack([torch.tensor(tints[int(c)]).view(3, 1, 1).expand(3, 32, 32)
                              for c in colours]) * 0.6 + 0.3 * torch.randn(n, 3, 32, 32)
        return images, torch.stack([torch.zeros(n, dtype=torch.long), colours], 1)

    def accuracy() -> float:
        images, labels = batch(96)
        with torch.no_grad():
            _, logits = d(images, labels)
        return (logits[1].argmax(1) == labels[:, 1]).float().mean().item()

    before = accuracy()
    optimiser = torch.optim.Adam(d.parameters(), lr=2e-3)
    for _ in range(40):
        images, labels = batch(32)
        _, logits = d(images, labels)
        loss = class_loss(logits, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert before < 0.6 and accuracy() > 0.95


def test_class_loss_ignores_unknown_values_and_rewards_the_asked_one():
    from gan.train import class_loss

    labels = torch.tensor([[1, 0], [2, 0]])       # the colour is unknown for both
    right = [torch.tensor([[0.0, 9.0, 0.0], [0.0, 0.0, 9.0]]), torch.randn(2, 4) * 50]
    wrong = [torch.tensor([[0.0, 0.0, 9.0], [0.0, 9.0, 0.0]]), right[1]]
    assert class_loss(right, labels) < 0.01 < 5 < class_loss(wrong, labels)
    assert class_loss(right, torch.zeros(2, 2, dtype=torch.long)) == 0


def test_default_conditions_are_the_category_and_colour_attributes():
    from gan.data import MIN_LABELLED_ITEMS, _vocabulary

    rows = [{"articleType": f"t{i % 5}", "baseColour": f"c{i % 7}", "gender": "Men",
             "season": f"s{i % 4}"} for i in range(MIN_LABELLED_ITEMS * 2)]
    vocabulary, left_out = _vocabulary(rows, None)
    assert vocabulary.names == ["articleType", "baseColour"] and left_out == {}
    rows[0]["rare"] = "x"
    vocabulary, left_out = _vocabulary(rows, ["articleType", "rare"])
    assert vocabulary.names == ["articleType"]
    assert "only 1 labelled items" in left_out["rare"]
    with pytest.raises(UnusableInputError, match="no attribute usable"):
        _vocabulary(rows, ["rare"])


def test_a_catalogue_too_small_for_the_preset_says_so_before_training():
    from gan.config import check_size

    with pytest.raises(UnusableInputError, match=r"1500 training images are too few for "
                                                 r"preset small .*use --preset baby"):
        check_size("small", 1500)
    check_size("small", 2000)


def _probe(fake: torch.Tensor, predicted: torch.Tensor, conditions: torch.Tensor
           ) -> metrics.ConditionProbe:
    real = [torch.randn(20, fake.shape[-1]) for _ in conditions]
    return metrics.ConditionProbe(["articleType", "baseColour"], conditions, fake, predicted,
                                  real, [torch.zeros(20, 2, dtype=torch.long)] * len(real))


def test_diversity_and_conditioning_effect_see_a_collapsed_generator():
    conditions = torch.tensor([[1, 1], [2, 2], [1, 3]])
    varied = torch.randn(3, 16, 8)
    collapsed = varied[:, :1].expand(3, 16, 8)
    follows = conditions[:, None, :].expand(3, 16, 2)
    ignores = conditions[:1, None, :].expand(3, 16, 2)   # every condition drawn as the first
    good = metrics.Evaluation(None, None, None, None, None, None, {},
                              _probe(varied, follows, conditions))
    bad = metrics.Evaluation(None, None, None, None, None, None, {},
                             _probe(collapsed, ignores, conditions))
    assert 0.8 < metrics.diversity(good)["diversity"] < 1.2
    assert metrics.diversity(bad)["diversity"] == 0
    assert metrics.conditioning_effect(good) == {"conditioning_effect_articleType": 1.0,
                                                 "conditioning_effect_baseColour": 1.0}
    assert metrics.conditioning_effect(bad) == {"conditioning_effect_articleType": 0.0,
                                                "conditioning_effect_baseColour": 0.0}


def test_champion_guards_read_diversity_and_mean_consistency():
    from gan.publish import _guard_value

    held = {"final.fd": 3.0, "final.diversity": 0.9, "final.class_consistency_a_vs_real": 0.8,
            "final.class_consistency_b_vs_real": 1.0, "final.class_consistency_a": 0.7}
    assert _guard_value(held, "diversity") == 0.9
    assert _guard_value(held, "class_consistency") == pytest.approx(0.9)
    assert _guard_value({}, "diversity") is None
