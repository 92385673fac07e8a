"""``stylecast studio``: a small web app over one ``DesignSession`` (FastAPI, which Airflow 3
already brings, served by uvicorn; a plain HTML page and script, nothing from a CDN).

It reads the home's reports, concepts and items and writes only design records and the
board, through the catalog. Nothing a request names becomes a path: design ids must match
their pattern, items are looked up among the home's items, weeks among its reports, and the
page's own files come from a fixed table.

Torch work runs in ``async`` handlers, so on the event loop's thread (the server's main
thread, where the session was loaded), one request at a time; an inversion switches the
generator's gradients on and off, so two must never overlap. Run on the server's worker
threads instead, the same inversion took about 1.8 times as long on 2 cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from gan.controls import INVERT_STEPS
from pipeline.core.errors import UnusableInputError
from pipeline.core.names import CHAMPION_URI
from pipeline.core.settings import Settings
from pipeline.design import records, redrawings
from pipeline.design.session import MAX_DESIGNS, DesignSession, board_sheet
from pipeline.studio import content

PAGE = Path(__file__).parent / "page"
STATIC = {"studio.js": "text/javascript", "studio.css": "text/css"}


class Draw(BaseModel):
    condition: str = ""
    n: int = Field(6, ge=1)
    seed: int = 0
    truncation: float | None = Field(None, gt=0)


class Vary(BaseModel):
    design: str
    n: int = Field(6, ge=1)
    strength: float = Field(0.3, ge=0, le=1)
    seed: int = 0
    truncation: float | None = Field(None, gt=0)


class Recondition(BaseModel):
    design: str
    values: list[str] = Field(min_length=1)
    attribute: str | None = None


class Blend(BaseModel):
    first: str
    second: str
    steps: int = Field(6, ge=2)


class FromItem(BaseModel):
    item: str
    steps: int = Field(INVERT_STEPS, ge=1)
    seed: int = 0


class Pin(BaseModel):
    design: str


def create_app(settings: Settings, model: str = CHAMPION_URI, prepare: bool = True
               ) -> FastAPI:
    """The studio over ``model``; with ``prepare``, the items shown beside the latest week's
    styles are redrawn first (those not redrawn by this model yet), so that clicking one
    answers at once instead of after an inversion of seconds."""
    session = DesignSession(settings, model)
    session.estimate(1, INVERT_STEPS)   # timed once at start-up, not on a designer's first click
    if prepare:
        done = session.prepare(content.shown_items(settings), progress=_say)
        if done["redrawn"]:
            _say(f"{done['redrawn']} item(s) redrawn ahead of time in {done['seconds']} s")
    app = FastAPI(title="StyleCast studio", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(UnusableInputError)
    def unusable(request: Request, err: UnusableInputError) -> JSONResponse:
        missing = str(err).startswith("no design") or str(err).startswith("no item")
        return JSONResponse({"detail": str(err)}, status_code=404 if missing else 400)

    def summary(found) -> dict[str, object]:
        return {"designs": [design_json(r) for r in found]}

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(PAGE / "index.html", media_type="text/html")

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in STATIC:
            return JSONResponse({"detail": f"no file {name!r}"}, status_code=404)
        return FileResponse(PAGE / name, media_type=STATIC[name])

    @app.get("/api/state")
    def state(week: str | None = None) -> dict[str, object]:
        listed = content.styles(settings, week)
        ready = {item for item, steps, seed in redrawings.known(settings, session.model.version)
                 if (steps, seed) == (INVERT_STEPS, 0)}
        for style in listed["styles"]:   # the items a click redraws at once
            style["redrawn"] = [i for i in style["representatives"] if i in ready]
        return {"model": session.model.uri, "vocabulary": session.vocabulary.to_json(),
                "limits": {"designs": MAX_DESIGNS, "invert_steps": INVERT_STEPS,
                           "invert_seconds": round(session.estimate(1, INVERT_STEPS), 1)},
                "board": records.board(settings), **listed}

    @app.get("/api/designs/{design}")
    def design(design: str) -> dict[str, object]:
        return design_json(records.load(settings, design))

    @app.get("/designs/{design}.png")
    def design_png(design: str) -> Response:
        return Response(records.image(settings, design), media_type="image/png")

    @app.get("/items/{item}.png")
    def item_png(item: str) -> Response:
        return Response(session.item_png(item), media_type="image/png")

    @app.post("/api/draw")
    async def draw(body: Draw) -> dict[str, object]:
        return summary(session.draw(body.condition, body.n, body.seed, body.truncation))

    @app.post("/api/vary")
    async def vary(body: Vary) -> dict[str, object]:
        return summary(session.vary(body.design, body.n, body.strength, body.seed,
                                    body.truncation))

    @app.post("/api/recolour")
    async def recolour(body: Recondition) -> dict[str, object]:
        return summary(session.recondition(body.design, body.values, body.attribute,
                                           "colour"))

    @app.post("/api/recut")
    async def recut(body: Recondition) -> dict[str, object]:
        return summary(session.recondition(body.design, body.values, body.attribute,
                                           "category"))

    @app.post("/api/blend")
    async def blend(body: Blend) -> dict[str, object]:
        return summary(session.blend(body.first, body.second, body.steps))

    @app.post("/api/from-item")
    async def from_item(body: FromItem) -> dict[str, object]:
        return summary([session.from_item(body.item, body.steps, body.seed)])

    @app.get("/api/board")
    def board() -> dict[str, object]:
        return {"board": [design_json(records.load(settings, d))
                          for d in records.board(settings)]}

    @app.post("/api/board")
    def pin(body: Pin) -> dict[str, object]:
        return {"board": records.pin(settings, body.design)}

    @app.delete("/api/board/{design}")
    def unpin(design: str) -> dict[str, object]:
        return {"board": records.unpin(settings, design)}

    @app.get("/api/board/sheet.png")
    def sheet() -> Response:
        return Response(board_sheet(settings)[0], media_type="image/png",
                        headers={"Content-Disposition": 'attachment; filename="board.png"'})

    @app.get("/api/board/records.json")
    def listing() -> JSONResponse:
        return JSONResponse(board_sheet(settings)[1], headers={
            "Content-Disposition": 'attachment; filename="board.json"'})

    return app


def design_json(record: records.DesignRecord) -> dict[str, object]:
    """What the page shows of a record (its noise stays in the store)."""
    return {"design_id": record.design_id, "model": record.model,
            "condition": record.condition, "operation": record.operation,
            "parameters": record.parameters, "parents": record.parents,
            "checks": record.checks, "created": record.created,
            "image": f"/designs/{record.design_id}.png"}


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def serve(settings: Settings, host: str, port: int, model: str = CHAMPION_URI,
          prepare: bool = True) -> None:
    import uvicorn

    app = create_app(settings, model, prepare)
    print(f"StyleCast studio on http://{host}:{port}/ (Ctrl+C stops it)", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning")
