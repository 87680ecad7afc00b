"""Figures of a comparison: fan charts, the paired-difference chart and flow matrices (PNG).

Money is in billion yuan per year ("bn yuan"), counts are firms, at real-world scale.  Titles and
units come from :mod:`model.metrics`, regions from :mod:`model.regions`; the drawing helpers are
shared with the per-run figures of :mod:`experiments.plots`.

Main entry point: :func:`draw_comparison` (every figure of the report, by report section).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from experiments.effects import LEVEL  # noqa: E402
from experiments.outcomes import KEY_METRICS, Outcome  # noqa: E402
from experiments.plots import (  # noqa: E402
    BAND_NOTE, DPI, draw_fan, draw_od_matrix, finish, log_norm_for, od_mean, plain_log_ticks,
    seed_quantiles, thousands,
)
from model.metrics import METRICS  # noqa: E402
from model.regions import REGIONS  # noqa: E402

BASELINE_COLOUR = "#4d4d4d"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939")


class Figure(NamedTuple):
    """A PNG figure written for the report and its alternative text."""

    path: Path
    alt: str


def scenario_colours(scenarios: list[str], baseline: str) -> dict[str, str]:
    """Colour of each scenario: the baseline grey, the others from :data:`PALETTE` in order."""
    alternatives = [s for s in scenarios if s != baseline]
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(alternatives)}
    return {baseline: BASELINE_COLOUR} | colours


def safe_name(name: str) -> str:
    """``name`` usable in a file name (letters, digits, - and _ kept; the rest becomes _)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def draw_comparison(regions: pd.DataFrame, flows: pd.DataFrame, diffs: pd.DataFrame,
                    outcomes: list[Outcome], baseline: str, scenarios: list[str], years: list[int],
                    out: Path) -> dict[str, list[Figure]]:
    """Write every figure of the report into ``out``; return them by section.

    Sections: ``effects`` (``paired_differences.png``: ``outcomes`` of ``diffs``), ``fans``
    (``fan_<metric>.png`` per key metric present) and ``od`` (``od_<scenario>.png``: flow
    matrices of ``years`` on one colour scale, bn yuan).  ``scenarios`` starts with the baseline.
    """
    colours = scenario_colours(scenarios, baseline)
    alternatives = [s for s in scenarios if s != baseline]
    figures: dict[str, list[Figure]] = {"effects": [], "fans": [], "od": []}
    if alternatives and outcomes:
        p = plot_paired_differences(diffs, outcomes, colours, baseline, out / "paired_differences.png")
        figures["effects"].append(Figure(p, "effects against the baseline"))
    for metric in KEY_METRICS:
        if metric in set(regions["metric"]):
            p = plot_fans(regions, metric, baseline, alternatives, colours, out / f"fan_{metric}.png")
            figures["fans"].append(Figure(p, f"fan chart {metric}"))
    if len(flows):
        norm = log_norm_for(*[od_mean(flows[flows["scenario"] == s], y) for s in scenarios for y in years])
        for s in scenarios:
            p = plot_od_scenario(flows, s, baseline, years, norm, out / f"od_{safe_name(s)}.png")
            figures["od"].append(Figure(p, f"flow matrices {s}"))
    return figures


def plot_fans(regions: pd.DataFrame, metric: str, baseline: str, alternatives: list[str],
              colours: dict[str, str], path: Path) -> Path:
    """One row per alternative scenario, one column per region: its fan over the baseline's fan."""
    title, unit = METRICS[metric].title, METRICS[metric].unit
    sub = regions[(regions["metric"] == metric) & regions["region"].isin(REGIONS)]
    q = seed_quantiles(sub, ["scenario", "region", "year"])
    rows = alternatives or [baseline]
    fig, axes = plt.subplots(len(rows), len(REGIONS), figsize=(14, 1.3 + 2.6 * len(rows)),
                             sharex=True, sharey="col", squeeze=False, layout="constrained")
    for i, s in enumerate(rows):
        for j, region in enumerate(REGIONS):
            ax = axes[i, j]
            qb = q[(q["scenario"] == baseline) & (q["region"] == region)]
            draw_fan(ax, qb, BASELINE_COLOUR, line_kw={"lw": 1.6, "ls": "--"})
            if s != baseline:
                draw_fan(ax, q[(q["scenario"] == s) & (q["region"] == region)], colours[s])
            ax.grid(alpha=0.3)
            thousands(ax)
            if i == 0:
                ax.set_title(region, fontsize=12, fontweight="bold")
            if j == 0:
                ax.set_ylabel(f"{unit}" if unit == "firms" else f"{unit} per year")
            if i == len(rows) - 1:
                ax.set_xlabel("year")
            if j == len(REGIONS) - 1:
                ax.text(1.03, 0.5, s, transform=ax.transAxes, rotation=270, va="center", ha="left",
                        fontsize=10, color=colours.get(s, BASELINE_COLOUR), fontweight="bold")
    # the rows of a column share a y-axis: fix its floor only once every row is drawn, so that the
    # autoscaled top covers the highest scenario (fixing it row by row clipped later rows)
    for ax in axes[0]:
        ax.set_ylim(bottom=0)
    n = sub["seed"].nunique()
    base_label = baseline if baseline == "baseline" else f"{baseline} (baseline)"
    handles = [Line2D([], [], color=BASELINE_COLOUR, lw=1.6, ls="--", label=base_label)]
    handles += [Line2D([], [], color=colours[s], lw=2, label=s) for s in alternatives]
    head = (f"{title} ({unit}): each scenario (colour) against {baseline} (grey, dashed)" if alternatives
            else f"{title} ({unit}): {baseline}")
    finish(fig, head, f"{n} seed{'s' if n != 1 else ''} per scenario; {BAND_NOTE}.", handles,
           ncol=min(len(handles), 5))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _diff_axis(ax: plt.Axes, values: np.ndarray) -> None:
    """x limits that include 0 and ticks labelled as signed changes (+20, 0, -1.5)."""
    v = values[np.isfinite(values)]
    m = float(np.abs(v).max()) if v.size else 0.0
    if m < 1e-9:
        ax.set_xlim(-1, 1)
        ax.set_xticks([0], ["0"])
        ax.text(0.98, 0.03, "no change", transform=ax.transAxes, ha="right", va="bottom",
                fontsize=9, color="#666666")
        return
    lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    pad = 0.08 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    ticks = [t for t in MaxNLocator(nbins=5, steps=[1, 2, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else m
    dec = max(0, int(-np.floor(np.log10(step)))) if step > 0 else 0
    ax.set_xticks(ticks, ["0" if abs(t) < step / 1e6 else f"{t:+,.{dec}f}" for t in ticks])
    ax.set_xlim(lo, hi)


def plot_paired_differences(diffs: pd.DataFrame, outcomes: list[Outcome], colours: dict[str, str],
                            baseline: str, path: Path) -> Path:
    """Dot-and-whisker chart: one panel per outcome, one row per scenario, a marker per year."""
    years = sorted(diffs["year"].unique())
    markers = dict(zip(years, ["o", "s", "D", "^", "v"]))
    scenarios = list(dict.fromkeys(diffs["scenario"]))
    ncol = 3 if len(outcomes) > 4 else max(len(outcomes), 1)
    nrow = -(-len(outcomes) // ncol)
    h_panel = 0.9 + 0.42 * len(scenarios) * max(len(years), 1) / 2
    fig, axes = plt.subplots(nrow, ncol, figsize=(15, 1.3 + h_panel * nrow), squeeze=False,
                             layout="constrained")
    offsets = np.linspace(-0.18, 0.18, len(years)) if len(years) > 1 else [0.0]
    for k_ax, (ax, oc) in enumerate(zip(axes.ravel(), outcomes)):
        d = diffs[diffs["outcome"] == oc.name]
        for k, s in enumerate(scenarios):
            for off, y in zip(offsets, years):
                r = d[(d["scenario"] == s) & (d["year"] == y)]
                if r.empty:
                    continue
                r = r.iloc[0]
                ypos = len(scenarios) - 1 - k + off
                if np.isfinite(r["lo"]):
                    ax.plot([r["lo"], r["hi"]], [ypos, ypos], color=colours[s], lw=2)
                ax.plot(r["mean_diff"], ypos, marker=markers[y], color=colours[s], ms=7,
                        mfc="white" if r["straddles_zero"] else colours[s], mew=1.6)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(scenarios)), scenarios[::-1] if k_ax % ncol == 0 else [], fontsize=9)
        ax.set_ylim(-0.6, len(scenarios) - 0.4)
        ax.set_title(textwrap.fill(oc.label, 38), fontsize=10.5)
        ax.set_xlabel(f"difference to {baseline}, {oc.unit}" + ("" if oc.unit == "firms" else " per year"),
                      fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        _diff_axis(ax, d[["mean_diff", "lo", "hi"]].to_numpy(dtype=float))
    for ax in axes.ravel()[len(outcomes):]:
        ax.axis("off")
    handles = [Line2D([], [], marker=markers[y], color="black", ls="none", ms=7, label=str(y)) for y in years]
    handles += [Line2D([], [], marker="o", color="black", mfc="white", ls="none", ms=7,
                       label="hollow = interval includes 0"),
                Line2D([], [], color="black", lw=2, label=f"bar = {LEVEL:.0%} confidence interval")]
    n = int(diffs["n_seeds"].min()) if len(diffs) else 0
    finish(fig, f"Effect of each scenario: difference to {baseline}, same seeds",
           f"Dot = mean of (scenario - {baseline}) over paired seeds (n \u2265 {n}); bar = {LEVEL:.0%} paired-t "
           f"confidence interval of that mean. Right of 0 = more than in {baseline}.", handles, ncol=len(handles))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_od_scenario(flows: pd.DataFrame, scenario: str, baseline: str, years: list[int], norm,
                     path: Path) -> Path:
    """Flow matrices of one scenario for ``years`` side by side, plus its change vs the baseline."""
    f = flows[flows["scenario"] == scenario]
    mats = [od_mean(f, y) for y in years]
    show_diff = scenario != baseline
    ncol = len(years) + int(show_diff)
    fig, axes = plt.subplots(1, ncol, figsize=(5.6 * ncol + 1.4, 6.0), squeeze=False, layout="constrained")
    axes = axes[0]
    im = None
    for k, (ax, y, m) in enumerate(zip(axes, years, mats)):
        im = draw_od_matrix(ax, m, norm, ylabels=k == 0)
        ax.set_title(f"{y}: contract value, bn yuan", fontsize=11)
    cb = fig.colorbar(im, ax=list(axes[:len(years)]), shrink=0.8, pad=0.02)
    cb.set_label("bn yuan per year (log colour scale)")
    plain_log_ticks(cb)
    if show_diff:
        y = years[-1]
        base = od_mean(flows[flows["scenario"] == baseline], y)
        diff = mats[-1] - base
        vmax = float(np.nanmax(np.abs(diff.to_numpy()))) if np.isfinite(diff.to_numpy()).any() else 1.0
        ax = axes[-1]
        dim = draw_od_matrix(ax, diff, Normalize(-max(vmax, 1e-9), max(vmax, 1e-9)), cmap="RdBu",
                             signed=True, ylabels=False)
        ax.set_title(f"{y}: change vs {baseline}, bn yuan\n(red = less, blue = more)", fontsize=11)
        cb2 = fig.colorbar(dim, ax=ax, shrink=0.8, pad=0.02)
        cb2.set_label("difference in bn yuan per year")
    n = f["seed"].nunique()
    fig.suptitle(f"Scenario \u201c{scenario}\u201d: technology contracts by seller (row) and buyer (column); "
                 f"mean of {n} seed{'s' if n != 1 else ''}", x=0.01, ha="left", fontsize=13)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
