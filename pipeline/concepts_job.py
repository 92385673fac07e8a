"""``stylecast concepts``: sample the champion GAN for some conditions and place the designs.

Writes ``concepts/week=W/concepts.parquet`` (one row per design: condition, PNG, style,
novelty, nearest real items, too_close), replacing an earlier run of the same week.
Without a ``champion`` the step is skipped with a reason: a week's report must not fail
because no GAN has been trained yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import concepts, embed, storage, styles_job
from pipeline.errors import UnusableInputError
from pipeline.settings import Settings

CHAMPION = "models:/stylecast-gan@champion"


@dataclass(frozen=True)
class Skipped:
    reason: str


def champion_or_skip(settings: Settings, model: str):
    """(generator, vocabulary), or ``Skipped`` when the registry has no champion."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from gan import publish
    from pipeline.tracking import check_reachable

    check_reachable(settings.mlflow_tracking_uri)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    if model == CHAMPION:
        try:
            MlflowClient().get_model_version_by_alias(publish.GAN_MODEL, "champion")
        except MlflowException:
            return Skipped(f"no {publish.GAN_MODEL} champion in the registry yet: train one "
                           "with `stylecast gan train` (or the stylecast_gan_training DAG)")
    return publish.load_generator(model)


def concepts_file(settings: Settings, week: str) -> str:
    return settings.path("concepts", f"week={week}", "concepts.parquet")


def run(settings: Settings, week: str, conditions: list[str] | None = None,
        trends: str | None = None, per_condition: int = 8, model: str = CHAMPION,
        seed: int = 0) -> dict[str, object]:
    import torch

    from gan.train import sample

    loaded = champion_or_skip(settings, model)
    if isinstance(loaded, Skipped):
        storage.remove(concepts_file(settings, week))
        return {"week": week, "skipped": loaded.reason}
    generator, vocabulary = loaded
    if not conditions:
        if not trends:
            raise UnusableInputError("give --condition (e.g. category=Dress) or --trends")
        frame = storage.parse_frame(storage.read_input(trends, "trends file"))
        conditions = concepts.conditions_from_trends(
            frame, {n: vocabulary.values(n) for n in vocabulary.names})
        if not conditions:
            raise UnusableInputError(f"no series in {trends} matches a condition the GAN "
                                     f"knows ({', '.join(vocabulary.names)})")
    found = styles_job.read_styles(settings, week)
    space, encoder = _real_space(settings, found)
    rows, images = [], []
    rng = torch.Generator().manual_seed(seed)
    for condition in conditions:
        labels = vocabulary.parse(condition).repeat(per_condition, 1)
        z = torch.randn(per_condition, generator.z_dim, generator=rng)
        pngs = concepts.to_item_pngs(sample(generator, z, labels))
        arch = encoder.model.arch
        images += [embed.decode_png(p, arch["channels"], arch["resolution"]) for p in pngs]
        rows += [{"condition": condition, "image_png": p} for p in pngs]
    placed = concepts.place(embed.embed_images(encoder, np.stack(images)), space)
    descriptions = dict(zip(found["style_id"].to_pylist(), found["description"].to_pylist(),
                            strict=True))
    table = pd.concat([pd.DataFrame(rows), placed], axis=1)
    table.insert(0, "concept_id", [f"{week}-c{i:03d}" for i in range(len(table))])
    table["style_description"] = table["style_id"].map(descriptions)
    table["model"] = model
    storage.write_frame(table, concepts_file(settings, week))
    return {"week": week, "concepts": len(table), "conditions": conditions,
            "too_close": int(table["too_close"].sum()),
            "median_novelty": round(float(table["novelty"].median()), 3),
            "out": concepts_file(settings, week)}


def _real_space(settings: Settings, found):
    """Real items of the styles' window, embedded with the styles' encoder version."""
    version = found["model_version"][0].as_py()
    encoder, current = embed.load_encoder(settings)
    if current != version:
        raise UnusableInputError(
            f"styles of {found['week'][0].as_py()} use encoder v{version}, the registered "
            f"items encoder is v{current}: run stylecast embed --all and stylecast styles")
    first, last = found["window_first"][0].as_py(), found["window_last"][0].as_py()
    # Only the window's partitions are read: the store may hold years of embeddings.
    window = [w for w in styles_job.embedded_weeks(settings) if first <= w <= last]
    table = embed.read(settings, window)
    space = concepts.real_space(embed.vectors_of(table), table["item_id"].to_pylist(),
                                styles_job.centroids_of(found), found["style_id"].to_pylist(),
                                np.asarray(found["spread"].to_pylist()))
    return space, encoder
