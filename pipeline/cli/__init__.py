"""The ``stylecast`` command line: one typer app. Each command is a thin shell over one
library call and lives in the module named after the stage it drives (``gan`` and
``forecasting`` bring their own, ``gan/cli.py`` and ``forecasting/cli.py``)."""

from __future__ import annotations

import typer

from forecasting import cli as forecasting_cli
from gan import cli as gan_cli
from pipeline.cli import (
    concepts,
    design,
    embed,
    home,
    ingest,
    report,
    rights,
    runs,
    series,
    simulate,
    sources,
    styles,
)

HELP = {"help_option_names": ["-h", "--help"]}  # -h is help, everywhere, and only help
app = typer.Typer(
    help="StyleCast: fashion trend forecasting from runway, catalogue and street-style data.",
    no_args_is_help=True, rich_markup_mode="rich", pretty_exceptions_enable=False,
    context_settings=HELP,
)


def _group(name: str, help_text: str) -> typer.Typer:
    group = typer.Typer(help=help_text, no_args_is_help=True, context_settings=HELP)
    app.add_typer(group, name=name)
    return group


app.command()(ingest.ingest)
app.command()(simulate.simulate)
sources_app = _group("sources", "Real data sources: locate them or turn them into manifests.")
sources_app.command("fashion-mnist")(sources.fashion_mnist_source)
sources_app.command("product-catalog")(sources.product_catalog_source)
sources_app.command("streetstyle")(sources.streetstyle_source)
app.command("series")(series.series_command)
gan_app = _group("gan", "Conditional GAN: train designs per attribute, sample them.")
gan_app.command("train")(gan_cli.gan_train)
gan_app.command("sample")(gan_cli.gan_sample)
encoder_app = _group("encoder", "The catalogue classifier: GAN metrics' features and item "
                                "embeddings.")
encoder_app.command("train")(gan_cli.encoder_train)
app.command()(embed.embed)
app.command()(styles.styles)
app.command()(concepts.concepts)
app.command()(report.report)
design_app = _group("design", "Steer the champion generator: draw, vary, recolour, re-cut, "
                              "blend, redraw an item; every design is kept and redraws.")
for _name, _command in (("draw", design.design_draw), ("vary", design.design_vary),
                        ("recolour", design.design_recolour), ("recut", design.design_recut),
                        ("blend", design.design_blend), ("from-item", design.design_from_item),
                        ("prepare", design.design_prepare),
                        ("show", design.design_show), ("save", design.design_save),
                        ("unsave", design.design_unsave), ("board", design.design_board)):
    design_app.command(_name)(_command)
app.command()(design.studio)
rights_app = _group("rights", "What items may be used for (analyse, display, train), and "
                              "erasure's records.")
for _name, _command in (("show", rights.rights_show), ("set", rights.rights_set),
                        ("models", rights.rights_models), ("audit", rights.rights_audit)):
    rights_app.command(_name)(_command)
app.command()(rights.forget)
runs_app = _group("runs", "MLflow runs: compare the latest runs of an experiment.")
runs_app.command("compare")(runs.runs_compare)
app.command(context_settings={**HELP, **forecasting_cli.EXTRA_LEVELS})(forecasting_cli.forecast)
app.command(context_settings={**HELP, **forecasting_cli.EXTRA_LEVELS})(forecasting_cli.backtest)
app.command()(home.check)
app.command()(home.info)

__all__ = ["app"]
