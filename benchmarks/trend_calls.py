"""Trend calls (rising / stable / declining, with a chance): StyleCast vs statsforecast's peers.

At rolling origins of each set, every contender forecasts the same training part and its
call is the HERMES label (the horizon's total against the same periods a season earlier,
+-5%); StyleCast's call and chances come from ``forecasting.engine.forecast``, the code
path of the weekly job. Scored against what happened (on the simulated panel: against the
planted shares, not the noisy draws):

  accuracy            share of calls that held
  balanced accuracy   mean recall over the outcomes that happened (most retail outcomes
                      are "stable", so accuracy alone rewards never calling a move)
  Brier               3-class Brier score of the stated chances (uniform guess: 0.667).
                      Peers' chances come from their own prediction intervals: the
                      horizon total as a normal whose spread is the steps' spreads added
                      up (perfectly correlated steps) or added in quadrature
                      (independent); each peer is scored on the better of the two.
                      Momentum states no chance: one-hot.

Sets: ../shared/data/trend-series (monthly, season 12, horizon 12, origins 12 months
apart), StreetStyle-27K monthly attribute shares (horizon 6, from 18 months of history),
and the replay simulator's weekly shares (season 52, horizon 12, planted truth). The older
origins of the long sets and one simulated origin were used to choose how the calls are
made ("tuning"); the tables report the others.

Usage: python benchmarks/trend_calls.py [--sets aus,us,street,simulated] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from forecast import apparel, peer, simulated_series, streetstyle_series
from scipy import stats

from forecasting import calls
from forecasting.backtest import split
from forecasting.calls import LABELS
from forecasting.engine import ForecastConfig, forecast

REPO = Path(__file__).resolve().parents[1]
PEERS = ("seasonal_naive", "auto_ets", "auto_theta")
STYLECAST = "stylecast"
CONTENDERS = (STYLECAST, *PEERS, "momentum")
UNIFORM_BRIER = 2 / 3
Z80 = stats.norm.ppf(0.9)


@dataclass(frozen=True)
class CallSet:
    name: str
    title: str
    horizon: int
    season_length: int
    freq: str
    shares: bool
    report_offsets: tuple[int, ...]
    tuning_offsets: tuple[int, ...]

    def panels(self) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The observed series and, for the simulated set, the planted truth."""
        if self.name == "simulated":
            return simulated_series()
        if self.name == "street":
            return streetstyle_series()[["unique_id", "ds", "y"]], None
        return apparel(self.name), None


SETS = {
    "aus_retail_apparel": CallSet("aus_retail_apparel", "Australian apparel retail, 24 series",
                                  12, 12, "MS", False, tuple(range(0, 72, 12)),
                                  tuple(range(72, 144, 12))),
    "us_clothing_store_sales": CallSet("us_clothing_store_sales", "US clothing stores, 1 series",
                                       12, 12, "MS", False, tuple(range(0, 72, 12)),
                                       tuple(range(72, 144, 12))),
    "street": CallSet("street", "StreetStyle attribute shares, monthly, 33 series", 6, 12,
                      "MS", True, (6, 3, 0), ()),
    "simulated": CallSet("simulated", "simulated weekly shares, 520 series, planted truth",
                         12, 52, "W-MON", True, (0, 12), (24,)),
}


def onehot(labels: np.ndarray) -> np.ndarray:
    return np.stack([labels == k for k in LABELS], axis=1).astype(float)


def called(growth: pd.Series, p: np.ndarray | None = None) -> pd.DataFrame:
    labels = calls.label(growth)
    p = onehot(labels) if p is None else p
    return pd.DataFrame({"call": labels, **{f"p_{k}": p[:, i] for i, k in enumerate(LABELS)}},
                        index=growth.index)


def peer_calls(predicted: pd.DataFrame, train: pd.DataFrame, cs: CallSet,
               truth: pd.Series) -> pd.DataFrame:
    """A peer's call from its point forecast; its chances from its 80% intervals."""
    sigma = (predicted["yhat_hi_80"] - predicted["yhat_lo_80"]) / (2 * Z80)
    steps = predicted.assign(sigma=sigma, var=sigma ** 2)
    with_base = calls.season_totals(train, steps, cs.season_length, cs.freq)
    sums = steps.groupby("unique_id").agg(sigma=("sigma", "sum"), var=("var", "sum"))
    growth = calls.growth(with_base["forecast_total"], with_base["base_total"])
    best, best_brier = None, np.inf
    for total_sigma in (sums["sigma"], np.sqrt(sums["var"])):
        g_sigma = (total_sigma.reindex(growth.index) / with_base["base_total"]).to_numpy()
        g = growth.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            p_rising = 1 - stats.norm.cdf((0.05 - g) / g_sigma)
            p_declining = stats.norm.cdf((-0.05 - g) / g_sigma)
        p = np.column_stack([p_declining, 1 - p_rising - p_declining, p_rising])
        p = np.where(np.isfinite(p).all(axis=1, keepdims=True), p, onehot(calls.label(g)))
        frame = called(growth, p)
        brier = metrics(frame.join(truth.rename("truth"), how="inner"))["brier"]
        if brier < best_brier:
            best, best_brier = frame, brier
    return best


def origin(cs: CallSet, observed: pd.DataFrame, planted: pd.DataFrame | None,
           offset: int) -> pd.DataFrame:
    """Every contender's calls at one origin, with the outcome that happened."""
    h, m = cs.horizon, cs.season_length
    train, test = split(observed.sort_values(["unique_id", "ds"], ignore_index=True), h, offset)
    if planted is not None:   # the truth is the planted share, not the noisy draw
        p_train, test = split(planted.sort_values(["unique_id", "ds"], ignore_index=True), h,
                              offset)
        base_history = p_train
    else:
        base_history = train
    actual = calls.season_totals(base_history, test.rename(columns={"y": "yhat"}), m, cs.freq)
    truth = pd.Series(calls.label(calls.growth(actual["forecast_total"], actual["base_total"])),
                      index=actual.index).where(actual["base_total"] > 0)
    frames = {}
    config = ForecastConfig(horizon=h, season_length=m, freq=cs.freq, shares=cs.shares)
    ours = forecast(train, config).trends.set_index("unique_id")
    ours = ours[ours["label"].isin(LABELS)]
    frames[STYLECAST] = ours.rename(columns={"label": "call"})[
        ["call", "p_declining", "p_stable", "p_rising"]]
    for kind in PEERS:
        predicted = peer(kind, m, cs.freq).fit(train).predict(h, level=(80,))
        frames[kind] = peer_calls(predicted, train, cs, truth)
    last = train.groupby("unique_id").tail(h).rename(columns={"y": "yhat"})
    momentum = calls.season_totals(train, last, m, cs.freq)
    frames["momentum"] = called(calls.growth(momentum["forecast_total"],
                                             momentum["base_total"]))
    rows = []
    for name, frame in frames.items():
        joined = frame.join(truth.rename("truth"), how="inner").dropna(subset=["truth"])
        rows.append(joined.assign(contender=name, offset=offset).reset_index())
    return pd.concat(rows, ignore_index=True)


def metrics(rows: pd.DataFrame) -> dict[str, float]:
    rows = rows.dropna(subset=["truth"])
    p = rows[[f"p_{k}" for k in LABELS]].to_numpy(float)
    stated = np.isfinite(p).all(axis=1)
    recalls = [(rows.loc[rows["truth"] == k, "call"] == k).mean() for k in LABELS
               if (rows["truth"] == k).any()]
    moves = rows[rows["truth"].isin(["rising", "declining"])]
    return {"calls": len(rows), "accuracy": float((rows["call"] == rows["truth"]).mean()),
            "balanced accuracy": float(np.mean(recalls)),
            "brier": float(((p[stated] - onehot(rows["truth"].to_numpy()[stated])) ** 2)
                           .sum(axis=1).mean()) if stated.any() else float("nan"),
            "chance stated": float(stated.mean()),
            "moves called right": float((moves["call"] == moves["truth"]).mean())
            if len(moves) else float("nan")}


def table(rows: pd.DataFrame, title: str, extra: tuple[str, ...] = ()) -> list[str]:
    per = {c: metrics(rows[rows["contender"] == c]) for c in CONTENDERS}
    frame = pd.DataFrame(per).T
    peers = frame.loc[list(PEERS)]
    best = {"accuracy": peers["accuracy"].idxmax(),
            "balanced accuracy": peers["balanced accuracy"].idxmax(),
            "brier": peers["brier"].idxmin()}
    columns = ["calls", "accuracy", "balanced accuracy", "brier", "chance stated", *extra]
    lines = [f"### {title}", "", "| contender | " + " | ".join(columns) + " |",
             "| --- |" + " ---: |" * len(columns)]
    for name, row in frame.iterrows():
        cells = [f"{int(row['calls'])}"] + [f"{row[c]:.3f}" for c in columns[1:]]
        lines.append(f"| {'**' + name + '**' if name == STYLECAST else name} | "
                     + " | ".join(cells) + " |")
    ours = frame.loc[STYLECAST]
    lines += ["", "| StyleCast vs best peer | best peer | StyleCast | peer | ratio |",
              "| --- | --- | ---: | ---: | ---: |"]
    for metric, who in best.items():
        theirs = frame.loc[who, metric]
        ratio = f"{ours[metric] / theirs:.3f}" if theirs > 1e-9 else "-"
        lines.append(f"| {metric} | {who} | {ours[metric]:.3f} | {theirs:.3f} | {ratio} |")
    lines.append(f"| brier vs uniform | uniform guess | {ours['brier']:.3f} | "
                 f"{UNIFORM_BRIER:.3f} | {ours['brier'] / UNIFORM_BRIER:.3f} |")
    return [*lines, ""]


def reliability(rows: pd.DataFrame) -> list[str]:
    ours = rows[rows["contender"] == STYLECAST].dropna(subset=["p_rising"])
    graded = pd.DataFrame({"probability": ours[[f"p_{k}" for k in LABELS]].max(axis=1),
                           "hit": ours["call"] == ours["truth"]})
    table = calls.reliability(graded)
    lines = ["| stated chance | calls | stated (mean) | held | held - stated |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for r in table.itertuples():
        flag = "" if r.n < 20 or abs(r.held - r.stated) <= 0.10 else " (off by > 0.10)"
        lines.append(f"| {r.band} | {r.n} | {r.stated:.3f} | {r.held:.3f} | "
                     f"{r.held - r.stated:+.3f}{flag} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/trend_calls.md")
    args = parser.parse_args()
    lines = ["# Trend-call benchmark", "",
             f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; date "
             f"{time.strftime('%Y-%m-%d')}. " + " ".join(__doc__.split("\n\n")[1].split()), ""]
    reported, tuned = [], []
    for name in args.sets.split(","):
        cs = SETS[name]
        started = time.perf_counter()
        observed, planted = cs.panels()
        report = pd.concat([origin(cs, observed, planted, o) for o in cs.report_offsets])
        report["set"] = name
        reported.append(report)
        extra = ("moves called right",) if name == "simulated" else ()
        section = table(report, f"{cs.title}, h={cs.horizon}: {len(cs.report_offsets)} "
                        "reported origins", extra)
        if cs.tuning_offsets:
            tuning = pd.concat([origin(cs, observed, planted, o) for o in cs.tuning_offsets])
            tuned.append(tuning.assign(set=name))
            section += table(tuning, f"{cs.title}: the {len(cs.tuning_offsets)} tuning "
                             "origins (how the calls are made was chosen here)", extra)
        section.append(f"_set took {time.perf_counter() - started:.0f} s_")
        print("\n".join(section), flush=True)
        lines += [*section, ""]
    pooled = pd.concat(reported)
    lines += ["## Reliability of StyleCast's stated chances, pooled over the reported origins "
              "of every set", "", "Target: every band with n >= 20 holds within 0.10 of its "
              "stated chance.", "", *reliability(pooled)]
    if tuned:
        lines += ["### The same on the tuning origins", "", *reliability(pd.concat(tuned))]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
