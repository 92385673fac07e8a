"""The design controls (``gan.controls``) and design records, on small untrained generators:
what each control keeps and changes, and that a record redraws the same pixels."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from gan import controls
from gan.networks import Generator
from pipeline.core.errors import UnusableInputError
from pipeline.design import records

SIZES = [4, 3]   # two attributes: 3 categories and 2 colours, index 0 = unknown


@pytest.fixture(scope="module")
def generator() -> Generator:
    torch.manual_seed(0)
    net = Generator(32, 3, SIZES, z_dim=16, width=8, output_resolution=64)
    # An untrained network's batch norms have unit running statistics; a few training-mode
    # passes give them real ones, as after training.
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(32, 16), torch.randint(0, 3, (32, 2)) % torch.tensor(SIZES))
    return net.eval()


def test_draw_is_seeded_and_truncation_bounds_the_noise(generator):
    labels = torch.tensor([1, 2])
    a = controls.draw(generator, labels, 4, seed=3)
    b = controls.draw(generator, labels, 4, seed=3)
    assert all(torch.equal(x.z, y.z) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0].z, a[1].z)
    truncated = controls.noise(200, 16, seed=1, truncation=0.7)
    assert truncated.abs().max() <= 0.7 and truncated.std() > 0.2
    assert torch.equal(a[0].condition, controls.embedding(generator, labels[None])[0])


def test_vary_keeps_the_condition_and_moves_as_far_as_asked(generator):
    base = controls.draw(generator, torch.tensor([1, 1]), 1, seed=0)[0]
    same = controls.vary(base, 3, 0.0, seed=5)
    assert all(torch.allclose(v.z, base.z) for v in same)
    near, far = controls.vary(base, 50, 0.2, seed=5), controls.vary(base, 50, 1.0, seed=5)
    distance = [float(torch.stack([v.z - base.z for v in group]).norm(dim=1).mean())
                for group in (near, far)]
    assert distance[0] < distance[1] / 2
    assert all(torch.equal(v.condition, base.condition) for v in near)
    # Every neighbour is still a draw from N(0, I): its length stays that of such a draw.
    lengths = torch.stack([v.z for v in far]).norm(dim=1)
    assert abs(float(lengths.mean()) - 16 ** 0.5) < 1.0
    with pytest.raises(ValueError):
        controls.vary(base, 1, 1.5, seed=0)


def test_recondition_swaps_one_attribute_and_keeps_the_noise(generator):
    base = controls.draw(generator, torch.tensor([1, 1]), 1, seed=0)[0]
    red = controls.recondition(generator, base, 1, 2)
    assert torch.equal(red.z, base.z) and red.labels.tolist() == [1, 2]
    # For a plain draw the result is exactly the draw under the new labels...
    assert torch.allclose(red.condition, controls.embedding(generator, torch.tensor([[1, 2]]))[0],
                          atol=1e-6)
    # ...and the images differ (the condition reaches the pixels).
    images = controls.render(generator, [base, red])
    assert not torch.equal(images[0], images[1])
    # What a design has beyond its values (an inversion's offset and layer residuals) is
    # carried over at the kept share: all of it with keep=1, half by default.
    layers = torch.ones(generator.input_layers, 32)
    shifted = controls.Latent(base.z, base.condition + 0.5, base.labels, layers)
    kept = controls.recondition(generator, shifted, 1, 2, keep=1.0)
    assert torch.allclose(kept.condition - red.condition, torch.full((16,), 0.5), atol=1e-6)
    assert torch.equal(kept.layers, layers)
    moved = controls.recondition(generator, shifted, 1, 2)
    share = controls.RECONDITION_KEEP
    assert torch.allclose(moved.condition - red.condition, torch.full((16,), 0.5 * share),
                          atol=1e-6)
    assert torch.allclose(moved.layers, share * layers)
    with pytest.raises(ValueError):
        controls.recondition(generator, base, 1, 7)


def test_blend_runs_from_one_design_to_the_other(generator):
    a = controls.draw(generator, torch.tensor([1, 1]), 1, seed=0)[0]
    b = controls.draw(generator, torch.tensor([2, 2]), 1, seed=1)[0]
    steps = controls.blend(a, b, 5)
    assert len(steps) == 5
    assert torch.allclose(steps[0].z, a.z, atol=1e-5) and torch.allclose(steps[-1].z, b.z,
                                                                            atol=1e-5)
    assert torch.allclose(steps[2].condition, (a.condition + b.condition) / 2, atol=1e-6)
    assert steps[1].labels.tolist() == [1, 1] and steps[3].labels.tolist() == [2, 2]
    images = controls.render(generator, steps)
    assert torch.equal(images[0], controls.render(generator, [a])[0])
    assert torch.equal(images[-1], controls.render(generator, [b])[0])
    with pytest.raises(ValueError):
        controls.blend(a, b, 1)


def test_render_draws_each_design_alone_so_pixels_never_depend_on_company(generator):
    latents = controls.draw(generator, torch.tensor([1, 2]), 6, seed=4)
    together = controls.render(generator, latents)
    assert together.dtype == torch.uint8 and together.shape == (6, 3, 64, 64)
    alone = torch.cat([controls.render(generator, [latent]) for latent in latents[::-1]])
    assert torch.equal(together, alone.flip(0))


def test_invert_finds_the_input_that_redraws_an_image(generator):
    labels = torch.tensor([2, 1])
    goal_latent = controls.draw(generator, labels, 1, seed=9)[0]
    goal = controls.render(generator, [goal_latent])[0]
    features = torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten())
    start = controls.render(generator, controls.draw(generator, labels, 1, seed=0))[0]
    found, loss = controls.invert(generator, goal, labels, features, steps=40, starts=3)
    redrawn = controls.render(generator, [found])[0]
    before = float(controls.pixel_distance(start[None], goal[None]))
    after = float(controls.pixel_distance(redrawn[None], goal[None]))
    assert after < before / 2, (before, after)
    assert found.labels.tolist() == [2, 1] and np.isfinite(loss)
    # Each generator layer got its own residual; vary and blend carry them along.
    assert found.layers.shape == (generator.input_layers, 2 * generator.z_dim)
    assert found.layers.abs().sum() > 0
    assert torch.equal(controls.vary(found, 1, 0.3, seed=1)[0].layers, found.layers)
    plain = controls.draw(generator, labels, 1, seed=3)[0]
    middle = controls.blend(found, plain, 3, sharpness=0)[1]
    assert torch.allclose(middle.layers, found.layers / 2)
    # The generator is left as found: eval mode, its weights still trainable.
    assert not generator.training and all(p.requires_grad for p in generator.parameters())


def test_an_inversion_starts_from_the_draw_already_nearest_the_image(generator):
    labels = torch.tensor([2, 1])
    goal = controls.render(generator, controls.draw(generator, labels, 1, seed=9))[0]
    features = torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten())

    def start_loss(**kwargs) -> float:   # no step: the loss where the inversion starts
        return controls.invert(generator, goal, labels, features, steps=0, **kwargs)[1]

    chosen = start_loss(starts=1, candidates=64, seed=3)
    random = [start_loss(starts=1, candidates=1, seed=s) for s in range(10, 18)]
    assert chosen < min(random), (chosen, random)
    assert start_loss(starts=1, candidates=64, seed=3) == chosen, "the choice is seeded"


def test_a_recolourable_inversion_keeps_its_type_readable_under_every_colour(generator):
    torch.manual_seed(1)
    heads = torch.nn.ModuleList(torch.nn.Sequential(
        torch.nn.AvgPool2d(16), torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, n))
        for n in SIZES).requires_grad_(False)
    for head in heads:   # sharp enough to tell this small generator's drawings apart
        head[2].weight.mul_(50)

    def classify(images):
        return [head(images) for head in heads]

    labels = torch.tensor([1, 1])
    goal = controls.render(generator, controls.draw(generator, torch.tensor([2, 1]), 1, 4))[0]
    features = torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten())
    recolourable = controls.Recolourable(classify, changed=1, kept=0, values=(1, 2),
                                         weight=1.0)

    def type_loss_when_recoloured(found):
        drawn = controls.render(generator, [controls.recondition(generator, found, 1, 2)])
        logits = classify(controls.to_float(drawn))[0]
        return float(torch.nn.functional.cross_entropy(logits, labels[:1]))

    plain, _ = controls.invert(generator, goal, labels, features, steps=40, starts=2)
    steady, loss = controls.invert(generator, goal, labels, features, steps=40, starts=2,
                                   recolourable=recolourable)
    assert type_loss_when_recoloured(steady) < 0.5 * type_loss_when_recoloured(plain)
    assert np.isfinite(loss) and steady.labels.tolist() == [1, 1]


def test_a_record_round_trips_exactly_and_its_id_is_its_content():
    z = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    e = np.random.default_rng(1).standard_normal(16).astype(np.float32)
    key = records.design_id("3", z, e)
    assert records.design_id("3", z, e, np.ones(8, np.float32)) != key
    record = records.DesignRecord(key, "models:/stylecast-gan/3", "3",
                                  {"category": "Dress", "colour": "unknown"},
                                  records.as_floats(z), records.as_floats(e), "draw",
                                  {"seed": 1}, [], {"passed": True})
    back = records.DesignRecord.from_json(record.to_json())
    assert back == record
    assert np.array_equal(np.asarray(back.z, np.float32), z)   # bit for bit
    assert records.design_id("3", np.asarray(back.z), np.asarray(back.embedding)) == key
    assert records.design_id("4", z, e) != key and record.condition_text == "category=Dress"
    json.loads(record.to_json())   # plain JSON any reader takes
    layers = np.random.default_rng(2).standard_normal(32).astype(np.float32)
    inverted = dataclasses.replace(record, layers=records.as_floats(layers))
    again = records.DesignRecord.from_json(inverted.to_json())
    assert np.array_equal(np.asarray(again.layers, np.float32), layers)


@pytest.mark.parametrize("value", ["../designs/x", "/etc/passwd", "d-12", "D-0123456789abcdef",
                                   "d-0123456789abcdef/../../x", ""])
def test_anything_but_a_design_id_is_refused_before_it_names_a_file(value):
    with pytest.raises(UnusableInputError, match="not a design id"):
        records.check_id(value)


def test_the_board_keeps_designs_once_in_the_order_saved(tmp_path):
    from pipeline.core.settings import Settings

    settings = Settings(home=str(tmp_path / "home"))
    ids = []
    for seed in range(3):
        z = np.full(4, seed, np.float32)
        key = records.design_id("1", z, z)
        records.save(settings, records.DesignRecord(
            key, "models:/stylecast-gan/1", "1", {}, records.as_floats(z),
            records.as_floats(z), "draw", {}, [], {}), b"png")
        ids.append(key)
    for key in (ids[2], ids[0], ids[2]):
        records.pin(settings, key)
    assert records.board(settings) == [ids[2], ids[0]]
    assert records.unpin(settings, ids[2]) == [ids[0]]
    with pytest.raises(UnusableInputError, match="no design"):
        records.pin(settings, ids[1], "d-" + "0" * 16)
    assert records.board(settings) == [ids[0]], "one unknown id saves none of them"
    assert records.pin(settings, ids[1], ids[2], ids[1]) == [ids[0], ids[1], ids[2]]
