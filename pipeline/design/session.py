"""A design session: one registered generator, the metric classifier that scored it and the
home's items, and the controls of ``gan.controls`` made into checked, stored records.

``stylecast design ...`` opens one per command; the studio opens one at start-up and
answers every request from it. Each operation returns the records it stored (image and
record written before it returns), so every design a designer sees can be redrawn later
from its id (``show``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from gan import controls
from gan.controls import Latent
from pipeline.core import png
from pipeline.core.errors import UnusableInputError
from pipeline.core.names import CHAMPION_URI, GAN_MODEL, ITEMS_DATASET, METRIC_MODEL
from pipeline.core.settings import Settings
from pipeline.design import checks, records, redrawings
from pipeline.design.records import DesignRecord

MAX_DESIGNS = 16       # per request: a vary or blend strip, a recolour sheet
MAX_INVERT_STEPS = 400
# A page asks for a dozen item photos at once; on an object store each look at the items'
# listing is a LIST request, so a session looks again at most this often.
ITEMS_RECHECK_S = 2.0
BUDGET_S = 10.0        # a request whose estimated time is over this is refused


@dataclass(frozen=True)
class Model:
    uri: str          # models:/stylecast-gan/<version>
    version: str


def resolve(settings: Settings, model: str = CHAMPION_URI) -> Model:
    """The registry version ``model`` names (the items' champion by default)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from gan.publish import champion_version
    from pipeline.core.tracking import check_reachable

    check_reachable(settings.mlflow_tracking_uri)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    prefix = f"models:/{GAN_MODEL}"
    if model == CHAMPION_URI:
        found = champion_version(ITEMS_DATASET)
        if found is None:
            raise UnusableInputError(f"no {GAN_MODEL} champion for the items yet: train one "
                                     "with `stylecast gan train --dataset items`")
        return Model(f"{prefix}/{found.version}", str(found.version))
    try:
        if model.startswith(f"{prefix}@"):
            version = MlflowClient().get_model_version_by_alias(GAN_MODEL, model.split("@")[1])
            return Model(f"{prefix}/{version.version}", str(version.version))
        if model.startswith(f"{prefix}/") and model.rsplit("/", 1)[1].isdigit():
            version = MlflowClient().get_model_version(GAN_MODEL, model.rsplit("/", 1)[1])
            return Model(model, str(version.version))
    except MlflowException:
        raise UnusableInputError(f"no registered model {model}") from None
    raise UnusableInputError(f"designs come from registered generators: give {prefix}/<version> "
                             f"or {prefix}@<alias>, not {model!r}")


def check_request(designs: int, invert_steps: int = 0,
                  truncation: float | None = None) -> None:
    """The limits any request is held to, before a model is loaded (the CLI checks them
    first, so a request that is too big fails at once)."""
    if truncation is not None and truncation <= 0:
        raise UnusableInputError("--truncation must be positive (e.g. 1.5; leave it out "
                                 "for none)")
    if designs < 1:
        raise UnusableInputError("ask for at least one design")
    if designs > MAX_DESIGNS:
        raise UnusableInputError(f"{designs} designs in one request; at most {MAX_DESIGNS}")
    if invert_steps > MAX_INVERT_STEPS:
        raise UnusableInputError(f"{invert_steps} inversion steps; at most "
                                 f"{MAX_INVERT_STEPS}")


class DesignSession:
    def __init__(self, settings: Settings, model: str = CHAMPION_URI) -> None:
        from gan import publish
        from gan.inference import load_generator

        self.settings = settings
        self.model = resolve(settings, model)
        loaded = load_generator(self.model.uri)
        self.generator = loaded.generator.eval()
        self.vocabulary = loaded.vocabulary
        if not loaded.metric_classifier_version:
            raise UnusableInputError(f"{self.model.uri} has no metric classifier recorded to "
                                     "check designs with; retrain it")
        self.judge, _ = publish.load_encoder_version(loaded.metric_classifier_version,
                                                     METRIC_MODEL)
        if self.judge.vocabulary != self.vocabulary or not self.judge.reference:
            raise UnusableInputError(f"metric classifier v{loaded.metric_classifier_version} "
                                     "does not match the generator's conditions; retrain it")
        # Only ever read here: frozen, an inversion's backward pass skips its weights.
        self.judge.model.requires_grad_(False)
        self._items_stamp = checks.items_stamp(settings)   # before loading: a change since shows
        self._items_checked = time.monotonic()
        self.bank = checks.load_bank(settings, self.judge, loaded.metric_classifier_version)
        # Timed on first need, each apart: a command that never inverts (most of them)
        # skips the inversion's timing and the optimiser's first start-up with it.
        self._seconds_per_design: float | None = None
        self._invert_timing: tuple[float, float] | None = None

    @property
    def seconds_per_design(self) -> float:
        """Seconds per drawn design on this machine (measured after a warm-up: the budget
        refuses what would run too long here, not on some other box)."""
        if self._seconds_per_design is None:
            latents = controls.draw(self.generator, self._labels(""), 3, 0)
            controls.render(self.generator, latents[:1])
            start = time.perf_counter()
            controls.render(self.generator, latents[1:])
            self._seconds_per_design = (time.perf_counter() - start) / 2
        return self._seconds_per_design

    @seconds_per_design.setter
    def seconds_per_design(self, seconds: float) -> None:
        self._seconds_per_design = seconds

    @property
    def invert_timing(self) -> tuple[float, float]:
        """Seconds an inversion costs on this machine before its first step (choosing where
        it starts, the final pass) and per step, measured like ``seconds_per_design``."""
        if self._invert_timing is None:
            latent = controls.draw(self.generator, self._labels(""), 1, 0)[0]
            image = controls.render(self.generator, [latent])[0]
            timed = {}
            for steps in (1, 0, 4):   # the first is a warm-up
                start = time.perf_counter()
                controls.invert(self.generator, image, latent.labels, self.judge.model.likeness,
                                steps=steps, recolourable=self._recolourable())
                timed[steps] = time.perf_counter() - start
            self._invert_timing = (timed[0], max(timed[4] - timed[0], 0.0) / 4)
        return self._invert_timing

    def _time_again(self, invert_steps: int) -> None:
        self._seconds_per_design = None
        if invert_steps:
            self._invert_timing = None

    def _recolourable(self) -> controls.Recolourable | None:
        """What an inversion keeps under recolours: the category, through every colour
        (None where the generator lacks either attribute)."""
        names = self.vocabulary.names
        try:
            colour, kind = self.attribute(None, "colour"), self.attribute(None, "category")
        except UnusableInputError:
            return None
        values = tuple(range(1, len(self.vocabulary.values(names[colour]))))
        return controls.Recolourable(self.judge.model, colour, kind, values,
                                     controls.RECOLOURABLE_WEIGHT)

    # -- items ---------------------------------------------------------------------------

    def current_bank(self) -> checks.ItemBank:
        """The bank without the items erased or withdrawn from display since it was loaded:
        a session that runs for days (the studio) must stop showing, redrawing and naming
        them as nearest items at once, not at its next start. Items added since wait for a
        new session (embedding them is not a request's work)."""
        now = time.monotonic()
        if now - self._items_checked < ITEMS_RECHECK_S:
            return self.bank
        stamp = checks.items_stamp(self.settings)
        if stamp != self._items_stamp:
            self.bank = self.bank.keeping(checks.displayable(self.settings))
            self._items_stamp = stamp
        self._items_checked = now
        return self.bank

    def item_png(self, item_id: str) -> bytes:
        found = self.current_bank().pngs.get(item_id)
        if found is None:
            raise UnusableInputError(f"no item {item_id!r} with an image in this home")
        return found

    # -- conditions ----------------------------------------------------------------------

    def _labels(self, condition: str) -> torch.Tensor:
        return self.vocabulary.parse(condition)[0]

    def attribute(self, name: str | None, role: str) -> int:
        """The index of attribute ``name``; without one, the first attribute whose name
        says ``role`` (colour / category), else a one-line error listing them."""
        names = self.vocabulary.names
        if name is None:
            from gan.data import CATEGORY_ATTRIBUTES, COLOUR_ATTRIBUTES

            wanted = COLOUR_ATTRIBUTES if role == "colour" else CATEGORY_ATTRIBUTES
            name = next((n for n in names if n in wanted), None)
            if name is None:
                raise UnusableInputError(f"this generator has no {role} attribute; give "
                                         f"--attribute (one of {', '.join(names)})")
        if name not in names:
            raise UnusableInputError(f"unknown attribute {name!r}; valid: {', '.join(names)}")
        return names.index(name)

    def _value(self, attribute: int, value: str) -> int:
        name = self.vocabulary.names[attribute]
        values = self.vocabulary.values(name)
        if value not in values[1:]:
            raise UnusableInputError(f"unknown value {value!r} for {name}; valid: "
                                     f"{', '.join(values[1:])}")
        return values.index(value)

    # -- budget --------------------------------------------------------------------------

    def estimate(self, designs: int, invert_steps: int = 0) -> float:
        """Seconds a request for ``designs`` designs and ``invert_steps`` inversion steps
        takes on this machine, from the session's timings."""
        if not invert_steps:
            return self.seconds_per_design * designs
        before, per_step = self.invert_timing
        return self.seconds_per_design * designs + before + per_step * invert_steps

    def _within_budget(self, designs: int, invert_steps: int = 0,
                       truncation: float | None = None) -> None:
        check_request(designs, invert_steps, truncation)
        estimate = self.estimate(designs, invert_steps)
        if estimate > BUDGET_S:
            # Timed again before refusing: timings taken while the machine was busy (the
            # weekly job running beside the studio's start) must not refuse requests for
            # the server's whole life.
            self._time_again(invert_steps)
            estimate = self.estimate(designs, invert_steps)
        if estimate > BUDGET_S:
            raise UnusableInputError(f"this request would take about {estimate:.0f} s on this "
                                     f"machine, over the {BUDGET_S:.0f} s budget; ask for less")

    # -- operations ----------------------------------------------------------------------

    def draw(self, condition: str, n: int = 6, seed: int = 0,
             truncation: float | None = None) -> list[DesignRecord]:
        self._within_budget(n, truncation=truncation)
        latents = controls.draw(self.generator, self._labels(condition), n, seed, truncation)
        return self._store(latents, "draw", [], [{"seed": seed, "index": i,
                                                 "truncation": truncation} for i in range(n)])

    def vary(self, design: str, n: int = 6, strength: float = 0.3, seed: int = 0,
             truncation: float | None = None) -> list[DesignRecord]:
        self._within_budget(n, truncation=truncation)
        if not 0 <= strength <= 1:
            raise UnusableInputError("--strength is between 0 (the same) and 1 (unrelated)")
        parent = self.latent(design)
        latents = controls.vary(parent, n, strength, seed, truncation)
        return self._store(latents, "vary", [design],
                           [{"strength": strength, "seed": seed, "index": i,
                             "truncation": truncation} for i in range(n)])

    def recondition(self, design: str, values: list[str], attribute: str | None = None,
                    role: str = "colour") -> list[DesignRecord]:
        """The design under each of ``values`` of one attribute (recolour / re-cut)."""
        if not values:
            raise UnusableInputError("give at least one value")
        self._within_budget(len(values))
        index = self.attribute(attribute, role)
        parent = self.latent(design)
        latents = [controls.recondition(self.generator, parent, index, self._value(index, v))
                   for v in values]
        name = self.vocabulary.names[index]
        return self._store(latents, "recolour" if role == "colour" else "re-cut", [design],
                           [{"attribute": name, "value": v} for v in values])

    def blend(self, first: str, second: str, steps: int = 6,
              sharpness: float | None = None) -> list[DesignRecord]:
        if steps < 2:
            raise UnusableInputError("a blend needs at least 2 steps")
        self._within_budget(steps)
        sharpness = controls.BLEND_SHARPNESS if sharpness is None else sharpness
        latents = controls.blend(self.latent(first), self.latent(second), steps, sharpness)
        return self._store(latents, "blend", [first, second],
                           [{"t": round(i / (steps - 1), 4), "sharpness": sharpness}
                            for i in range(steps)])

    def from_item(self, item_id: str, steps: int | None = None, seed: int = 0,
                  reuse: bool = True) -> DesignRecord:
        """The design that redraws a stored item; its known attributes are the condition,
        the classifier's reading of the photo fills the ones it lacks (``steps``: default
        ``controls.INVERT_STEPS``; ``reuse=False``: invert even if the item was redrawn
        before, as benchmarks that time or retune the inversion must)."""
        steps = controls.INVERT_STEPS if steps is None else steps
        self._within_budget(1, steps)
        self.item_png(item_id)   # a one-line error for an unknown, erased or withdrawn item
        # An inversion is deterministic: an item redrawn before (a designer clicking it
        # twice, an earlier session, ``prepare``) is the design already stored, not seconds
        # of optimisation; a redrawing deleted since is redrawn.
        stored = self._redrawn(item_id, steps, seed) if reuse else None
        if stored is not None:
            return records.load(self.settings, stored)
        return self._redraw(item_id, steps, seed)

    def _redraw(self, item_id: str, steps: int, seed: int) -> DesignRecord:
        arch = self.judge.model.arch
        photo = checks.as_tensor(png.decode(self.item_png(item_id), arch["channels"])[None],
                                 self.generator.output_resolution)[0]
        known = self.vocabulary.encode([self.bank.attributes.get(item_id, {})])[0]
        predicted = self.judge.predict(photo[None])[0]
        labels = torch.where(known > 0, known, predicted)
        latent, loss = controls.invert(self.generator, photo, labels,
                                       self.judge.model.likeness, steps=steps, seed=seed,
                                       recolourable=self._recolourable())
        record = self._store([latent], "from-item", [f"item:{item_id}"],
                             [{"steps": steps, "seed": seed, "loss": round(loss, 5),
                               "filled_by_classifier": [
                                   n for n, k in zip(self.vocabulary.names, known, strict=True)
                                   if int(k) == 0]}])[0]
        redrawings.remember(self.settings, self.model.version,
                            {(item_id, steps, seed): record.design_id})
        return record

    def prepare(self, items: list[str], progress: Callable[[str], None] | None = None
                ) -> dict[str, object]:
        """Redraw ahead of time (default steps and seed, as the studio asks) each of ``items``
        not redrawn yet by this model, so that asking for it later answers at once; items
        without a displayable image here are left out and named. Not a request: no budget
        (a slow machine takes longer, it does not refuse)."""
        wanted = list(dict.fromkeys(items))
        bank = self.current_bank()
        missing = [i for i in wanted if i not in bank.pngs]
        known = redrawings.known(self.settings, self.model.version)   # read once, not per item
        todo = [i for i in wanted if i in bank.pngs
                and self._redrawn(i, controls.INVERT_STEPS, 0, known) is None]
        start = time.perf_counter()
        for n, item in enumerate(todo, 1):
            if progress is not None:
                progress(f"redrawing item {n}/{len(todo)} ({item}) ahead of time")
            self._redraw(item, controls.INVERT_STEPS, 0)
        return {"items": len(wanted), "redrawn": len(todo),
                "already": len(wanted) - len(todo) - len(missing), "not_here": missing,
                "seconds": round(time.perf_counter() - start, 1), "model": self.model.uri}

    def _redrawn(self, item_id: str, steps: int, seed: int,
                 known: dict[redrawings.Key, str] | None = None) -> str | None:
        """The stored design this model redrew ``item_id`` as, if it still exists (``known``:
        the index already read)."""
        if known is None:
            known = redrawings.known(self.settings, self.model.version)
        design = known.get((item_id, steps, seed))
        return design if design is not None and records.exists(self.settings, design) else None

    # -- records -------------------------------------------------------------------------

    def latent(self, design: str) -> Latent:
        record = records.load(self.settings, design)
        if record.model_version != self.model.version:
            raise UnusableInputError(f"design {design} comes from {record.model}; this "
                                     f"session uses {self.model.uri}")
        return latent_of(record, self.vocabulary)

    def show(self, design: str) -> tuple[DesignRecord, bool]:
        """The record and whether redrawing it now gives the stored image bit for bit."""
        record = records.load(self.settings, design)
        if record.model_version != self.model.version:
            raise UnusableInputError(f"design {design} comes from {record.model}; open it "
                                     f"with --model {record.model}")
        image = controls.render(self.generator, [latent_of(record, self.vocabulary)])
        return record, labelled(image[0], record) == records.image(self.settings, design)

    def _store(self, latents: list[Latent], operation: str, parents: list[str],
               parameters: list[dict[str, object]]) -> list[DesignRecord]:
        images = controls.render(self.generator, latents)
        found = checks.check(self.judge, self.current_bank(), images,
                             torch.stack([latent.labels for latent in latents]))
        return [store(self.settings, self.model, self.vocabulary, latent, image, operation,
                      params, parents, verdict)
                for latent, image, verdict, params in zip(latents, images, found, parameters,
                                                          strict=True)]


def store(settings: Settings, model: Model, vocabulary, latent: Latent, image: torch.Tensor,
          operation: str, parameters: dict[str, object], parents: list[str],
          verdict: dict[str, object]) -> DesignRecord:
    """Write one design (``image``: its ``render``) and return its record; the same pixels
    drawn again keep their first record."""
    z, embedding = latent.z.numpy(), latent.condition.numpy()
    layers = None if latent.layers is None else latent.layers.numpy()
    key = records.design_id(model.version, z, embedding, layers)
    if records.exists(settings, key):
        return records.load(settings, key)
    record = DesignRecord(
        key, model.uri, model.version,
        {name: vocabulary.values(name)[int(v)]
         for name, v in zip(vocabulary.names, latent.labels, strict=True)},
        records.as_floats(z), records.as_floats(embedding), operation, parameters, parents,
        verdict, layers=None if layers is None else records.as_floats(layers))
    records.save(settings, record, labelled(image, record))
    return record


def labelled(image: torch.Tensor, record: DesignRecord) -> bytes:
    """The design's PNG as stored: its pixels, marked as generated by its model."""
    return png.label_generated(encode(image), record.model, record.design_id)


def latent_of(record: DesignRecord, vocabulary) -> Latent:
    z = torch.tensor(record.z, dtype=torch.float32)
    layers = (None if record.layers is None else
              torch.tensor(record.layers, dtype=torch.float32).view(-1, 2 * len(z)))
    return Latent(z, torch.tensor(record.embedding, dtype=torch.float32),
                  vocabulary.encode([record.condition])[0], layers)


def encode(image: torch.Tensor) -> bytes:
    """A uint8 (C, H, W) design as PNG bytes (the same pixels always give the same bytes)."""
    pixels = image.permute(1, 2, 0).numpy()
    return png.encode(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def board_sheet(settings: Settings) -> tuple[bytes, dict[str, object]]:
    """The board as one PNG sheet (saved designs in order) and its JSON (the records)."""
    from gan.images import grid

    saved = records.board(settings)
    if not saved:
        raise UnusableInputError("the board is empty: save designs first (`stylecast design "
                                 "save ID` or the studio's Save button)")
    images = [png.decode(records.image(settings, d)) for d in saved]
    sheet = grid(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2), columns=min(
        8, len(images)))
    listing = {"designs": [json.loads(records.load(settings, d).to_json()) for d in saved]}
    models = sorted({d["model"] for d in listing["designs"]})
    return png.label_generated(png.encode(sheet), ", ".join(models),
                               "board:" + ",".join(saved)), listing
