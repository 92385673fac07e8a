"""The metric classifier judges generators and concepts on real catalogue photos: its
metrics see collapse, noise and copies, and real held-out items pass its checks.

One metric classifier (the product's ``metric`` preset, trained until it converges) on
6,000 real product photos serves the whole module.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from helpers import shared

from gan import evaluate, metrics, realism
from gan.conditioning import Vocabulary
from gan.data import ImageSet
from gan.encoder import train as train_classifier
from pipeline.concepts import transforms as concepts
from pipeline.core import png
from pipeline.ingest.images import ImageLimits, normalise
from pipeline.sources import product_catalog

pytestmark = pytest.mark.integration
ITEMS = 6000


@pytest.fixture(scope="module")
def catalogue() -> tuple[ImageSet, ImageSet]:
    """The first 6,000 photos of the real catalogue, as ingest normalises them (64x64 RGB),
    conditioned on articleType and baseColour; ~10% held out by a hash of the id."""
    root = shared("fashion-product-images-small")
    manifest = product_catalog.to_manifest(root)
    pixels, rows, held = [], [], []
    for record in manifest.to_dict("records"):
        path = root / record["image"]
        if not path.is_file():      # ~350 catalogue rows have no photo
            continue
        if len(pixels) == ITEMS:
            break
        data = path.read_bytes()
        pixels.append(png.decode(normalise(data, ImageLimits()).png, 3))
        rows.append({a: str(record.get(a) or "") for a in ("articleType", "baseColour")})
        held.append(hashlib.sha256(str(record["item_id"]).encode()).digest()[0] < 26)
    vocabulary = Vocabulary.from_values({a: [r[a] for r in rows if r[a]]
                                         for a in ("articleType", "baseColour")})
    images = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).contiguous()
    labels, held = vocabulary.encode(rows), torch.tensor(held)
    return (ImageSet(images[~held], labels[~held], vocabulary, "items"),
            ImageSet(images[held], labels[held], vocabulary, "items"))


@pytest.fixture(scope="module")
def judge(catalogue):
    train, test = catalogue
    trained = train_classifier(train, test, "metric")
    trained.reference = realism.reference(trained, train, test)
    return trained


def _noise(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def _blank(n: int) -> torch.Tensor:
    """Half white frames (the catalogue's background), half black."""
    return torch.cat([torch.full((n // 2, 3, 64, 64), 255, dtype=torch.uint8),
                      torch.zeros((n - n // 2, 3, 64, 64), dtype=torch.uint8)])


def _top_condition(test: ImageSet) -> torch.Tensor:
    return evaluate.probe_conditions(test, 1, 10)[0]


def test_the_classifier_converged_and_recognises_real_photos(judge):
    assert judge.history and judge.history[-1] <= max(judge.history) + 1e-9
    assert judge.test_accuracy["articleType"] > 0.5 and judge.test_accuracy["baseColour"] > 0.4


def test_diversity_is_zero_for_a_repeated_image_and_about_one_for_real_photos(judge, catalogue):
    train, test = catalogue
    conditions = evaluate.probe_conditions(test, 4, 10)
    assert len(conditions) == 4
    real = evaluate.real_draw(train, seed=0)

    def collapsed(condition, m):      # one real photo of the condition, m times
        return real(condition, 1).repeat(m, 1, 1, 1)

    def noise(condition, m):
        return _noise(m)

    def diversity(draw):
        probe = evaluate.build_probe(judge, test, draw, conditions)
        return metrics.diversity(metrics.Evaluation(judge, None, None, None, None, None, {},
                                                    probe))

    scores = {name: diversity(draw) for name, draw in (("collapsed", collapsed), ("real", real),
                                                       ("noise", noise))}
    assert scores["collapsed"]["diversity"] < 0.02
    assert 0.75 < scores["real"]["diversity"] < 1.3
    assert scores["noise"]["diversity"] < scores["real"]["diversity"]  # noise is not variety


def test_conditioning_effect_is_zero_when_the_condition_is_ignored(judge, catalogue):
    train, test = catalogue
    conditions = evaluate.probe_conditions(test, 6, 10)
    real = evaluate.real_draw(train, seed=0)
    fixed = conditions[0]

    def ignores(condition, m):        # whatever is asked: photos of the first condition
        return real(fixed, m)

    def follows(condition, m):
        return real(condition, m)

    def effect(draw):
        probe = evaluate.build_probe(judge, test, draw, conditions)
        return metrics.conditioning_effect(metrics.Evaluation(
            judge, None, None, None, None, None, {}, probe))

    ignored, followed = effect(ignores), effect(follows)
    for name in ("articleType", "baseColour"):
        assert ignored[f"conditioning_effect_{name}"] < 0.05
        assert followed[f"conditioning_effect_{name}"] > 0.25


def test_noise_sits_at_the_ceiling_and_real_photos_at_the_floor(judge, catalogue):
    train, test = catalogue
    n = min(400, len(test))
    floor = evaluate.score_real(judge, train, test, n)
    labels = evaluate.conditions_like(test, n, 0)
    noise = evaluate.score_images(judge, train, test, _noise(n), labels, n, 0,
                                  lambda condition, m: _noise(m))
    assert noise["fd"] > 20 * floor["fd"]
    assert noise["coverage"] < 0.05 < 0.5 < floor["coverage"]
    assert noise["density"] < 0.7 * floor["density"]
    assert noise["class_consistency_articleType_vs_real"] < 0.3
    assert floor["class_consistency_articleType_vs_real"] > 0.9
    assert floor["diversity"] > 0.75


def test_noise_and_blank_frames_are_all_flagged(judge, catalogue):
    _, test = catalogue
    condition = _top_condition(test)
    for images in (_noise(64), _blank(64)):
        verdict = realism.judge(judge, images, condition.repeat(len(images), 1))
        assert not verdict.passed.any()
        assert all(reason for reason in verdict.reasons)
    assert "unlike any real item" in realism.judge(judge, _noise(4), condition.repeat(4, 1)
                                                   ).reasons[0]


def test_most_held_out_real_items_of_a_condition_pass(judge, catalogue):
    _, test = catalogue
    unseen = test.subset(slice(1, None, 2))     # the half the thresholds were not fitted on
    for condition in evaluate.probe_conditions(unseen, 3, 10):
        members = (unseen.labels == condition).all(dim=1)
        verdict = realism.judge(judge, unseen.images[members], unseen.labels[members])
        assert verdict.passed.float().mean() >= 0.9, condition


def test_an_exact_copy_of_a_training_item_is_too_close(judge, catalogue):
    train, _ = catalogue
    vectors = judge.embed(train.images[:2000]).numpy()
    centroids = vectors[:3] / np.linalg.norm(vectors[:3], axis=1, keepdims=True)
    space = concepts.real_space(vectors, [f"item-{i}" for i in range(2000)], centroids,
                                ["A", "B", "C"], np.full(3, 0.1))
    copy, fresh = judge.embed(train.images[[7]]).numpy(), judge.embed(_noise(1)).numpy()
    placed = concepts.place(np.concatenate([copy, fresh]), space)
    assert placed["too_close"].tolist() == [True, False]
    assert placed["nearest_item_ids"][0][0] == "item-7"
