"""``stylecast concepts``: sample the champion GAN for some conditions and place the designs.

Writes the week's ``concepts`` dataset (one row per design: the trend it was drawn
for, condition, PNG, whether it is flagged and why, the style it lands in and that style's
trend call, novelty, nearest real items, too_close), replacing an earlier run of the week.
Every concept is checked by the metric classifier that scored the generator
(``gan.realism``); flagged ones stay in the file, with the reason, but not in the design grid.
Without a champion for the home's items (``champion-items``) the step is skipped with a
reason: a week's report must not fail because no GAN has been trained yet, and a generator
of another dataset (Fashion-MNIST) never draws the week's concepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.concepts import DEFAULT_PER_CONDITION
from pipeline.concepts import transforms as concepts
from pipeline.core import catalog, png, storage
from pipeline.core.catalog import read_embeddings, read_styles
from pipeline.core.errors import UnusableInputError
from pipeline.core.names import CHAMPION_URI, GAN_MODEL, ITEMS_DATASET, champion_alias
from pipeline.core.settings import Settings
from pipeline.embed.transforms import decode_png, embed_images, vectors_of
from pipeline.styles.transforms import centroids_of


@dataclass(frozen=True)
class Skipped:
    reason: str


def champion_or_skip(settings: Settings, model: str):
    """(the generator, the model it was loaded from), or ``Skipped`` when the registry has
    no champion for the items."""
    import mlflow

    from gan.inference import load_generator
    from gan.publish import champion_version
    from pipeline.core.tracking import check_reachable

    check_reachable(settings.mlflow_tracking_uri)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    if model == CHAMPION_URI:
        champion = champion_version(ITEMS_DATASET)
        if champion is None:
            return Skipped(f"no {GAN_MODEL} champion for the items in the registry yet "
                           f"({champion_alias(ITEMS_DATASET)}): train one with `stylecast gan "
                           "train --dataset items` (or the stylecast_gan_training DAG)")
        model = f"models:/{GAN_MODEL}/{champion.version}"   # also an older home's alias
    return load_generator(model), model


def run(settings: Settings, week: str, conditions: list[str] | None = None,
        trends: str | None = None, per_condition: int = DEFAULT_PER_CONDITION,
        model: str = CHAMPION_URI, seed: int = 0) -> dict[str, object]:
    import torch

    from gan.inference import sample

    found_model = champion_or_skip(settings, model)
    if isinstance(found_model, Skipped):
        catalog.CONCEPTS.remove(settings, week)
        return {"week": week, "skipped": found_model.reason}
    loaded, model = found_model
    vocabulary = loaded.vocabulary
    found = read_styles(settings, week)
    trend_frame = (storage.parse_frame(storage.read_input(trends, "trends file"))
                   if trends else None)
    targets = _targets(conditions, trend_frame, found, vocabulary, trends)
    space, encoder = _real_space(settings, found)
    judge, missing = _metric_classifier(loaded)
    rows, images, latents = [], [], []
    rng = torch.Generator().manual_seed(seed)
    for target in targets:
        labels = vocabulary.parse(target.condition).repeat(per_condition, 1)
        z = torch.randn(per_condition, loaded.generator.z_dim, generator=rng)
        latents += [(z[i], labels[i]) for i in range(per_condition)]
        pngs = concepts.to_item_pngs(sample(loaded.generator, z, labels))
        arch = encoder.model.arch
        images += [decode_png(p, arch["channels"], arch["resolution"]) for p in pngs]
        verdicts = _check(judge, missing, pngs, labels)
        rows += [{"target": target.unique_id, "condition": target.condition, "image_png": p,
                  "flagged": bool(why), "flag_reason": why, "realism": realism}
                 for p, (why, realism) in zip(pngs, verdicts, strict=True)]
    placed = concepts.place(embed_images(encoder, np.stack(images)), space)
    descriptions = dict(zip(found["style_id"].to_pylist(), found["description"].to_pylist(),
                            strict=True))
    calls = concepts.trend_calls(trend_frame)
    table = pd.concat([pd.DataFrame(rows), placed], axis=1)
    table.insert(0, "concept_id", [f"{week}-c{i:03d}" for i in range(len(table))])
    table["style_description"] = table["style_id"].map(descriptions)
    table["landed_trend"] = table["style_id"].map(lambda s: calls.get(s, "unknown"))
    table["off_trend"] = table["landed_trend"] == "declining"
    table["model"] = model
    table["image_png"] = [png.label_generated(p, model, cid) for p, cid in
                          zip(table["image_png"], table["concept_id"], strict=True)]
    table["design_id"] = _design_records(settings, model, loaded, latents, table)
    out = catalog.CONCEPTS.write(settings, table, week)
    shown = table[~table["flagged"]]
    return {"week": week, "concepts": len(table), "shown": len(shown),
            "flagged": int(table["flagged"].sum()),
            "targets": [t.unique_id for t in targets],
            "conditions": [t.condition for t in targets],
            "too_close": int(table["too_close"].sum()),
            "off_trend": int(table["off_trend"].sum()),
            "median_novelty": round(float(table["novelty"].median()), 3),
            "out": out}


def _design_records(settings: Settings, model: str, loaded, latents, table: pd.DataFrame
                    ) -> list[str]:
    """Each concept kept as a design record (``pipeline.design``), so a designer can open it
    in the studio and steer it; '' for a generator that is not a registry version (a local
    file cannot be redrawn later)."""
    from gan import controls
    from pipeline.design import session

    prefix = f"models:/{GAN_MODEL}/"
    version = model.removeprefix(prefix)
    if not model.startswith(prefix) or not version.isdigit():
        return [""] * len(table)
    ids = []
    for (z, labels), row in zip(latents, table.itertuples(), strict=True):
        latent = controls.Latent(z, controls.embedding(loaded.generator, labels[None])[0],
                                 labels)
        verdict = {"passed": not row.flag_reason and not row.too_close,
                   "reason": row.flag_reason,
                   "realism": None if pd.isna(row.realism) else round(float(row.realism), 4),
                   "nearest": [{"item_id": i} for i in row.nearest_item_ids],
                   "too_close": bool(row.too_close), "style_id": row.style_id,
                   "novelty": round(float(row.novelty), 4), "concept_id": row.concept_id}
        ids.append(session.store(settings, session.Model(model, version), loaded.vocabulary,
                                 latent, controls.render(loaded.generator, [latent])[0],
                                 "concept", {"target": row.target}, [], verdict).design_id)
    return ids


def _targets(conditions: list[str] | None, trend_frame: pd.DataFrame | None, found,
             vocabulary, trends: str | None) -> list[concepts.Target]:
    """What to draw: the given conditions, else the week's rising styles and values."""
    if conditions:
        for condition in conditions:
            vocabulary.parse(condition)   # an unknown value: one line listing the valid ones
        return [concepts.Target(c, c) for c in conditions]
    if trend_frame is None:
        raise UnusableInputError("give --condition (e.g. category=Dress) or --trends")
    dominant = {sid: json.loads(text) for sid, text in zip(
        found["style_id"].to_pylist(), found["dominant_json"].to_pylist(), strict=True)}
    known = {n: vocabulary.values(n) for n in vocabulary.names}
    targets = concepts.targets_from_trends(trend_frame, known, dominant)
    if not targets:
        raise UnusableInputError(f"no series in {trends} matches a condition the GAN knows "
                                 f"({', '.join(vocabulary.names)})")
    return targets


def _metric_classifier(loaded):
    """(the classifier that scored the generator, which judges its concepts, or None;
    why there is none)."""
    from gan import publish
    from pipeline.core.names import METRIC_MODEL

    version = loaded.metric_classifier_version
    if not version:
        return None, "no metric classifier is recorded with this generator to check it"
    judge, _ = publish.load_encoder_version(version, METRIC_MODEL)
    if judge.vocabulary != loaded.vocabulary or not judge.reference:
        return None, (f"metric classifier v{version} does not match this generator's "
                      "conditions; retrain the generator")
    return judge, ""


def _check(judge, missing: str, pngs: list[bytes], labels) -> list[tuple[str, float]]:
    """(why it is flagged, '' when it passes; realism distance) per concept."""
    import torch

    from gan import realism

    if judge is None:
        return [(missing, float("nan"))] * len(pngs)
    arch = judge.model.arch
    try:
        pixels = np.stack([decode_png(p, arch["channels"], arch["resolution"]) for p in pngs])
    except ValueError as err:   # e.g. a Fashion-MNIST classifier (28 px grey) and items
        return [(f"the metric classifier cannot read item images: {err}", float("nan"))
                ] * len(pngs)
    verdict = realism.judge(judge, torch.from_numpy(pixels), labels)
    return [(why, float(d)) for why, d in zip(verdict.reasons, verdict.realism, strict=True)]


def _real_space(settings: Settings, found):
    """Real items of the styles' window, embedded with the styles' encoder version."""
    version = found["model_version"][0].as_py()
    from gan.inference import load_items_encoder

    encoder, current = load_items_encoder(settings)
    if current != version:
        raise UnusableInputError(
            f"styles of {found['week'][0].as_py()} use encoder v{version}, the registered "
            f"items encoder is v{current}: run stylecast embed --all and stylecast styles")
    first, last = found["window_first"][0].as_py(), found["window_last"][0].as_py()
    # Only the window's partitions are read: the store may hold years of embeddings.
    window = [w for w in catalog.EMBEDDINGS.required_weeks(settings, "stylecast embed")
              if first <= w <= last]
    table = read_embeddings(settings, window)
    space = concepts.real_space(vectors_of(table), table["item_id"].to_pylist(),
                                centroids_of(found), found["style_id"].to_pylist(),
                                np.asarray(found["spread"].to_pylist()))
    return space, encoder
