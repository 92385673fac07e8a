"""Model cards: what a registered model learned from, how well it does against its floor
and ceiling, what it is for and where it falls short. Each card is a Markdown artifact of
the run (``model_card.md``) and the registered version's description, so the registry UI
shows it beside the version.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch

from gan.data import ImageSet

GENERATOR_USE = ("Drawing design concepts for the conditions the trend forecasts are about "
                 "(the weekly concepts, `stylecast design`, the studio), for designers to "
                 "look at and steer. Not for presenting a generated image as a photograph, "
                 "nor for reproducing a catalogue item: every PNG it draws is marked "
                 "`trainedAlgorithmicMedia` in its XMP.")
ENCODER_USE = ("Embedding catalogue photos to group them into styles and to place "
               "generated concepts among real items. Not for identifying people.")
METRIC_USE = ("Judging generated images: which condition values it sees in them and whether "
              "they look like real items. Trained separately from the generators it judges; "
              "not a quality score for photographs of people.")


def _data_section(data: ImageSet, counts: dict[str, dict[str, int]]) -> list[str]:
    lines = ["## Data", "", f"{len(data)} training images ({data.name}, "
             f"{data.resolution}x{data.resolution} px, {data.channels} channel(s)).", "",
             "| by source | images |", "| --- | ---: |"]
    lines += [f"| {k} | {v} |" for k, v in counts["source"].items()]
    if counts["licence"]:
        lines += ["", "| by licence | images |", "| --- | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in counts["licence"].items()]
    lines += ["", "Only items whose rights allow training were used (the home's rights "
              "policy); the item ids are the run's `lineage/training_items.csv`."]
    return lines


def _conditions(data: ImageSet) -> list[str]:
    lines = ["## Conditions", ""]
    for name in data.vocabulary.names:
        values = data.vocabulary.values(name)[1:]
        shown = ", ".join(values[:12]) + (f" and {len(values) - 12} more" if len(values) > 12
                                          else "")
        lines.append(f"- {name}: {shown}")
    lines += [f"- left out: {a} ({why})" for a, why in data.left_out]
    return lines


def _number(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _metrics_table(rows: list[tuple[str, float | None, float | None, float | None, str]]
                   ) -> list[str]:
    lines = ["| metric | this model | floor | ceiling | better |", "| --- | ---: | ---: | ---: |"
             " --- |"]
    lines += [f"| {name} | {_number(v)} | {_number(lo)} | {_number(hi)} | {better} |"
              for name, v, lo, hi, better in rows]
    return lines


GENERATOR_METRICS = (("fd", "lower"), ("kid", "lower"), ("precision", "higher"),
                     ("recall", "higher"), ("diversity", "closer to 1"),
                     ("memorisation", "lower"))


def generator_card(version: str, data: ImageSet, counts: dict, scores: dict[str, float],
                   real: dict[str, float], untrained: dict[str, float], resolution: int,
                   judge_version: str | None) -> str:
    """The card of a registered generator. Floor: real held-out photos scored as samples
    (what a perfect generator would get); ceiling: the same networks untrained."""
    names = [*GENERATOR_METRICS,
             *((k, "higher") for k in sorted(scores) if k.startswith("class_consistency_")
               and k.endswith("_vs_real"))]
    rows = [(name, scores.get(name), real.get(name), untrained.get(name), better)
            for name, better in names]
    memorised = scores.get("memorisation")
    lines = [f"# stylecast-gan version {version}", "", *_data_section(data, counts), "",
             *_conditions(data), "", "## Metrics", "",
             f"Scored by metric classifier version {judge_version or 'n/a'}. Floor: real "
             "held-out photos scored as if generated; ceiling: the same networks untrained.",
             "", *_metrics_table(rows), "",
             "## Memorisation", "",
             f"{_number(memorised)} of its samples lie closer to a training image than 95% "
             "of real held-out photos lie to their nearest training image (real photos: "
             f"{_number(real.get('memorisation'))}).", "",
             "## Intended use", "", GENERATOR_USE, "",
             "## Known limits", "",
             f"- draws at {resolution}x{resolution} px; larger images are upsampled, not "
             "drawn in more detail;",
             "- knows only the conditions above, as the training items spelled them;",
             "- learned from the items listed in its lineage: retrain it when any of them is "
             "erased (`stylecast rights models`)."]
    return "\n".join(lines) + "\n"


def majority_share(data: ImageSet) -> dict[str, float]:
    """Per attribute, the share of labelled items with its most common value: the accuracy
    of always guessing it (a classifier's floor)."""
    out = {}
    for i, name in enumerate(data.vocabulary.names):
        labels = data.labels[:, i]
        labelled = labels[labels > 0]
        out[name] = (float(torch.bincount(labelled).max()) / len(labelled) if len(labelled)
                     else float("nan"))
    return out


def encoder_card(registered: str, version: str, data: ImageSet, test: ImageSet,
                 counts: dict, test_accuracy: dict[str, float], use: str) -> str:
    floor = majority_share(test)
    rows = [(f"accuracy {name} (held out)", test_accuracy.get(name), floor.get(name), 1.0,
             "higher") for name in data.vocabulary.names]
    lines = [f"# {registered} version {version}", "", *_data_section(data, counts), "",
             *_conditions(data), "", "## Metrics", "",
             "Floor: always answering the most common value; ceiling: every held-out item "
             "right.", "", *_metrics_table(rows), "", "## Intended use", "", use, "",
             "## Known limits", "",
             f"- sees images at {data.resolution}x{data.resolution} px;",
             "- knows only the attributes above; retrain it when items it learned from are "
             "erased (`stylecast rights models`)."]
    return "\n".join(lines) + "\n"


def publish(registered: str, version: str, text: str) -> None:
    """Log the card in the active run and make it the registered version's description."""
    import mlflow
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"model_card_{registered}.md"
        path.write_text(text)
        mlflow.log_artifact(str(path), artifact_path="cards")
    MlflowClient().update_model_version(registered, version, description=text)
