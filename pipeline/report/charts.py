"""Report charts with matplotlib: static PNGs that open from disk, no JavaScript, no network.

Okabe-Ito colours (distinguishable with the common colour-vision deficiencies); every axis
labelled with its unit; sized for a laptop screen at 100 dpi.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: files only (and thread-safe in a worker)

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import PercentFormatter

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000"]
HISTORY_COLOUR, FORECAST_COLOUR = OKABE_ITO[0], OKABE_ITO[3]
BASELINE_COLOUR, OUTCOME_COLOUR = "#555555", OKABE_ITO[2]
HISTORY_WEEKS = 78
TITLE_CHARS = 48
DPI = 100


def shorten(text: str, limit: int = TITLE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _png(figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return out.getvalue()


def _share_ticks(axes) -> None:
    # Decimals follow the axis range: a share under 1% reads 0.2%, 0.4%..., not 0% on
    # every tick.
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))


def _style_axes(axes, ylabel: str = "share of items") -> None:
    _share_ticks(axes)
    axes.set_ylabel(ylabel)
    axes.set_xlabel("week")
    axes.grid(alpha=0.3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def fan_chart(history: pd.DataFrame, forecast: pd.DataFrame, title: str,
              baseline: float | None = None) -> bytes:
    """History (line), forecast (dashed), 80% and 95% intervals (darker, lighter bands).

    ``baseline``: the average of the same weeks a year earlier, what the call's growth
    compares with, drawn across the horizon beside the forecast's own average.
    """
    figure, axes = plt.subplots(figsize=(7.2, 3.2))
    recent = history.sort_values("ds").tail(HISTORY_WEEKS)
    axes.plot(recent["ds"], recent["y"], color=HISTORY_COLOUR, lw=1.6, label="observed")
    fc = forecast.sort_values("ds")
    for level, alpha in ((95, 0.18), (80, 0.35)):
        lo, hi = f"yhat_lo_{level}", f"yhat_hi_{level}"
        if lo in fc and fc[lo].notna().any():
            axes.fill_between(fc["ds"], fc[lo], fc[hi], color=FORECAST_COLOUR, alpha=alpha,
                              lw=0, label=f"{level}% interval")
    axes.plot(fc["ds"], fc["yhat"], color=FORECAST_COLOUR, lw=1.8, ls="--", label="forecast")
    if baseline is not None and len(fc):
        span = [fc["ds"].min(), fc["ds"].max()]
        axes.plot(span, [baseline] * 2, color=BASELINE_COLOUR, lw=2.2, ls=":",
                  label="same weeks a year earlier (average)")
        axes.plot(span, [fc["yhat"].mean()] * 2, color=FORECAST_COLOUR, lw=1.0,
                  label="forecast (average)")
    axes.set_title(shorten(title), loc="left", fontsize=11)
    _style_axes(axes)
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize=8, frameon=False, ncols=3)
    figure.autofmt_xdate()
    return _png(figure)


def call_chart(history: pd.DataFrame, graded: dict, title: str) -> bytes:
    """A past call beside what happened: the series, its horizon shaded, and over the
    horizon the average a year earlier, the average the call expected and the actual one."""
    figure, axes = plt.subplots(figsize=(7.2, 2.8))
    start, end = pd.Timestamp(graded["horizon_start"]), pd.Timestamp(graded["horizon_end"])
    shown = history.sort_values("ds")
    shown = shown[shown["ds"] >= start - pd.Timedelta(weeks=HISTORY_WEEKS - 26)]
    axes.plot(shown["ds"], shown["y"], color=HISTORY_COLOUR, lw=1.4, label="observed")
    axes.axvspan(start, end, color=OUTCOME_COLOUR, alpha=0.12, lw=0,
                 label=f"horizon called in {graded['week']}")
    inside = shown[(shown["ds"] >= start) & (shown["ds"] <= end)]["y"]
    if len(inside) and graded.get("actual_change") is not None:
        base = inside.mean() / (1 + graded["actual_change"])
        axes.plot([start, end], [base] * 2, color=BASELINE_COLOUR, lw=2.2, ls=":",
                  label="a year earlier (average)")
        if graded.get("called_change") is not None:
            axes.plot([start, end], [base * (1 + graded["called_change"])] * 2,
                      color=FORECAST_COLOUR, lw=1.6, ls="--", label="forecast (average)")
        axes.plot([start, end], [inside.mean()] * 2, color=OUTCOME_COLOUR, lw=1.6,
                  label="actual (average)")
    axes.set_title(shorten(title, 64), loc="left", fontsize=10)
    _style_axes(axes)
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize=7, frameon=False, ncols=3)
    figure.autofmt_xdate()
    return _png(figure)


def small_multiples(attribute: str, history: pd.DataFrame, forecast: pd.DataFrame | None,
                    max_panels: int = 12) -> bytes:
    """One small panel per value of an attribute (largest current share first), shared y."""
    latest = history.sort_values("ds").groupby("unique_id")["y"].last()
    values = latest.sort_values(ascending=False).index[:max_panels]
    columns = 4
    rows = max(1, -(-len(values) // columns))
    figure, grid = plt.subplots(rows, columns, figsize=(10, 2.0 * rows), sharey=True,
                                squeeze=False)
    for axes, uid in zip(grid.flat, values, strict=False):
        one = history[history["unique_id"] == uid].sort_values("ds").tail(HISTORY_WEEKS)
        axes.plot(one["ds"], one["y"], color=HISTORY_COLOUR, lw=1.2)
        if forecast is not None:
            fc = forecast[forecast["unique_id"] == uid].sort_values("ds")
            if "yhat_lo_80" in fc and fc["yhat_lo_80"].notna().any():
                axes.fill_between(fc["ds"], fc["yhat_lo_80"], fc["yhat_hi_80"],
                                  color=FORECAST_COLOUR, alpha=0.3, lw=0)
            axes.plot(fc["ds"], fc["yhat"], color=FORECAST_COLOUR, lw=1.2, ls="--")
        axes.set_title(shorten(uid.split("=", 1)[1], 28), fontsize=9)
        _share_ticks(axes)
        axes.tick_params(labelsize=7)
        axes.tick_params(axis="x", labelrotation=30)
        axes.grid(alpha=0.3)
    for axes in list(grid.flat)[len(values):]:
        axes.set_visible(False)
    for axes in grid[:, 0]:
        axes.set_ylabel("share of items", fontsize=8)
    figure.suptitle(f"{shorten(attribute)}: weekly share by value (observed, forecast dashed)",
                    x=0.01, ha="left", fontsize=11)
    figure.tight_layout()
    return _png(figure)
