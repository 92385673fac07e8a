"""``stylecast design ...`` (steer the champion generator, keep and redraw designs) and
``stylecast studio`` (the same in a web page). Each design command prints one JSON line:
the designs it stored, with their ids, checks and image files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pipeline.core.cli_support import fails_cleanly
from pipeline.core.errors import UnusableInputError
from pipeline.core.names import CHAMPION_URI

Model = Annotated[str, typer.Option(help="models:/stylecast-gan/<version> or "
                                         "models:/stylecast-gan@<alias>.")]
Count = Annotated[int, typer.Option("--n", help="How many designs.")]
Seed = Annotated[int, typer.Option(help="Random seed of the noise.")]
Truncation = Annotated[float | None, typer.Option(
    help="Redraw noise beyond +-t (smaller: safer, plainer designs); default none.")]


def _session(model: str, designs: tuple[str, ...] = (), count: int = 1,
             invert_steps: int = 0, truncation: float | None = None):
    """A session on ``model``, once the request's ids and limits have passed (they need no
    model, so a mistake is reported before one is loaded)."""
    from pipeline.core.settings import Settings
    from pipeline.design.records import check_id
    from pipeline.design.session import DesignSession, check_request

    for design in designs:
        check_id(design)
    check_request(count, invert_steps, truncation)
    return DesignSession(Settings.from_env(), model)


def _summary(found) -> list[dict[str, object]]:
    from pipeline.core import catalog
    from pipeline.core.settings import Settings

    settings = Settings.from_env()
    return [{"design_id": r.design_id, "condition": r.condition_text, "operation": r.operation,
             "parents": r.parents, "passed": r.checks["passed"], "reason": r.checks["reason"],
             "nearest": [n["item_id"] for n in r.checks["nearest"]],
             "image": catalog.DESIGN_IMAGES.path(settings, key=r.design_id)} for r in found]


def _echo(found) -> None:
    typer.echo(json.dumps({"designs": _summary(found)}))


@fails_cleanly
def design_draw(condition: Annotated[str, typer.Argument(
                    help="e.g. 'articleType=Tshirts,baseColour=Blue' (none: any).")] = "",
                style: Annotated[str | None, typer.Option(
                    help="A style id (S0018) of the latest styles run: its dominant values "
                         "are the condition.")] = None,
                n: Count = 6, seed: Seed = 0, truncation: Truncation = None,
                model: Model = CHAMPION_URI) -> None:
    """New designs for a condition or a style."""
    session = _session(model, count=n, truncation=truncation)
    if style is not None:
        if condition:
            raise UnusableInputError("give a condition or --style, not both")
        condition = _style_condition(session, style)
    _echo(session.draw(condition, n, seed, truncation))


def _style_condition(session, style: str) -> str:
    """A style's dominant values the generator knows, as the weekly concepts use them."""
    from pipeline.concepts.transforms import style_condition
    from pipeline.core.catalog import read_styles

    found = read_styles(session.settings).to_pandas()
    row = found[found["style_id"] == style]
    if row.empty:
        known = ", ".join(found["style_id"].head(12))
        raise UnusableInputError(f"no active style {style!r} in the styles of "
                                 f"{found['week'].iloc[0]}; e.g. {known}")
    vocabulary = {n: session.vocabulary.values(n) for n in session.vocabulary.names}
    condition = style_condition(json.loads(row["dominant_json"].iloc[0]), vocabulary)
    if condition is None:
        raise UnusableInputError(f"style {style} has no dominant value this generator knows")
    return condition


@fails_cleanly
def design_vary(design: Annotated[str, typer.Argument(help="A design id.")],
                n: Count = 6,
                strength: Annotated[float, typer.Option(
                    help="0: the same design, 1: unrelated ones.")] = 0.3,
                seed: Seed = 0, truncation: Truncation = None,
                model: Model = CHAMPION_URI) -> None:
    """Neighbours of a design: the same condition, nearby noise."""
    session = _session(model, (design,), n, truncation=truncation)
    _echo(session.vary(design, n, strength, seed, truncation))


@fails_cleanly
def design_recolour(design: Annotated[str, typer.Argument(help="A design id.")],
                    value: Annotated[list[str], typer.Option(
                        help="A colour (repeatable).")],
                    attribute: Annotated[str | None, typer.Option(
                        help="The attribute to change (default: the colour one).")] = None,
                    model: Model = CHAMPION_URI) -> None:
    """The same design (same noise) in other colours."""
    session = _session(model, (design,), max(1, len(value)))
    _echo(session.recondition(design, value, attribute, "colour"))


@fails_cleanly
def design_recut(design: Annotated[str, typer.Argument(help="A design id.")],
                 value: Annotated[list[str], typer.Option(
                     help="A category (repeatable).")],
                 attribute: Annotated[str | None, typer.Option(
                     help="The attribute to change (default: the category one).")] = None,
                 model: Model = CHAMPION_URI) -> None:
    """The same design (same noise) as other categories."""
    session = _session(model, (design,), max(1, len(value)))
    _echo(session.recondition(design, value, attribute, "category"))


@fails_cleanly
def design_blend(first: Annotated[str, typer.Argument(help="A design id.")],
                 second: Annotated[str, typer.Argument(help="Another design id.")],
                 steps: Annotated[int, typer.Option(help="Designs from one to the other, "
                                                         "both included.")] = 6,
                 model: Model = CHAMPION_URI) -> None:
    """Designs between two designs (or two styles' concepts)."""
    _echo(_session(model, (first, second), max(2, steps)).blend(first, second, steps))


@fails_cleanly
def design_from_item(item: Annotated[str, typer.Argument(help="A stored item's id.")],
                     steps: Annotated[int | None, typer.Option(
                         help="Optimisation steps (default: the tuned number, as the "
                              "studio uses).")] = None,
                     seed: Seed = 0, model: Model = CHAMPION_URI) -> None:
    """The design that redraws a stored item, to vary or recolour next."""
    _echo([_session(model, invert_steps=steps or 0).from_item(item, steps, seed)])


@fails_cleanly
def design_prepare(items: Annotated[list[str] | None, typer.Argument(
                       help="Items to redraw (default: those the studio shows beside the "
                            "week's styles).")] = None,
                   week: Annotated[str | None, typer.Option(
                       help="The report week whose shown items to redraw (default: the "
                            "latest).")] = None,
                   model: Model = CHAMPION_URI) -> None:
    """Redraw items ahead of time (those not redrawn by this model yet), so the studio
    answers a click on them at once: run it after the weekly report, where inversions are
    fast (a GPU worker), or let `stylecast studio` do it when it starts."""
    from pipeline.core.settings import Settings
    from pipeline.studio.content import shown_items

    settings = Settings.from_env()
    wanted = list(items) if items else shown_items(settings, week)
    if not wanted:
        raise UnusableInputError("nothing to redraw: give item ids, or build a weekly report "
                                 "first (its styles' items are what the studio shows)")
    done = _session(model).prepare(wanted, progress=lambda line: typer.echo(line, err=True))
    typer.echo(json.dumps(done))
    if done["not_here"]:
        typer.echo(f"not redrawn (no displayable image in this home): "
                   f"{', '.join(done['not_here'])}", err=True)


@fails_cleanly
def design_show(design: Annotated[str, typer.Argument(help="A design id.")],
                out: Annotated[Path | None, typer.Option(
                    help="Write the redrawn image here (PNG).")] = None,
                model: Annotated[str | None, typer.Option(
                    help="Default: the model the design records.")] = None) -> None:
    """A design's record, redrawn from its registered model; says whether the redrawing
    matches the stored image bit for bit (exit 3 when it does not)."""
    from pipeline.core.errors import JobFailed
    from pipeline.core.settings import Settings
    from pipeline.design import records

    record = records.load(Settings.from_env(), design)
    session = _session(model or record.model)
    record, identical = session.show(design)
    if out is not None:
        out.write_bytes(records.image(session.settings, design))
    typer.echo(json.dumps({**json.loads(record.to_json()), "identical": identical}))
    if not identical:
        raise JobFailed(f"design {design} no longer redraws bit for bit from "
                             f"{record.model}")


@fails_cleanly
def design_save(designs: Annotated[list[str], typer.Argument(help="Design ids.")]) -> None:
    """Put designs on the board."""
    from pipeline.core.settings import Settings
    from pipeline.design import records

    typer.echo(json.dumps({"board": records.pin(Settings.from_env(), *designs)}))


@fails_cleanly
def design_unsave(designs: Annotated[list[str], typer.Argument(help="Design ids.")]
                  ) -> None:
    """Take designs off the board."""
    from pipeline.core.settings import Settings
    from pipeline.design import records

    typer.echo(json.dumps({"board": records.unpin(Settings.from_env(), *designs)}))


@fails_cleanly
def design_board(out: Annotated[Path, typer.Option(
        help="Folder for board.png (the sheet) and board.json (the records).")]) -> None:
    """Export the board: one PNG sheet and the records as JSON."""
    from pipeline.core.settings import Settings
    from pipeline.design.session import board_sheet

    if out.exists() and not out.is_dir():
        raise UnusableInputError(f"--out {out} is a file; give a folder")
    sheet, listing = board_sheet(Settings.from_env())
    out.mkdir(parents=True, exist_ok=True)
    (out / "board.png").write_bytes(sheet)
    (out / "board.json").write_text(json.dumps(listing, indent=1))
    typer.echo(json.dumps({"designs": len(listing["designs"]), "sheet": str(out / "board.png"),
                           "records": str(out / "board.json")}))


@fails_cleanly
def studio(host: Annotated[str, typer.Option(help="Address to bind (default: this machine "
                                                  "only).")] = "127.0.0.1",
           port: Annotated[int, typer.Option(help="Port.")] = 8765,
           model: Model = CHAMPION_URI,
           prepare: Annotated[bool, typer.Option(
               help="Before serving, redraw the items shown beside the latest week's styles "
                    "that this model has not redrawn yet (seconds each, once), so a click "
                    "on one answers at once.")] = True) -> None:
    """The design studio: a web page over this week's rising styles and the champion."""
    from pipeline.core.settings import Settings
    from pipeline.studio.app import serve

    serve(Settings.from_env(), host, port, model, prepare)
