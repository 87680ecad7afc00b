"""Figures of a comparison: effect charts, fan charts and flow matrices (PNG).

Money is in billion yuan per year ("bn yuan"), counts are firms, at real-world scale.  Titles and
units come from :mod:`model.metrics`, regions from :mod:`model.regions`; the drawing helpers are
shared with the per-run figures of :mod:`experiments.plots`.

Every figure has a fixed size and a constrained layout, and is saved once (no ``bbox_inches``
pass).  Scenarios are drawn against the baseline's outline (its median dashed, its 90% range
dotted) so the baseline never hides a scenario's band; panels of one outcome share their y
axis across scenarios, and the difference matrices share one symmetric colour scale.

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
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from experiments.effects import LEVEL, MATERIAL_PCT  # noqa: E402
from experiments.outcomes import KEY_METRICS, Outcome, describe_runs, run_count  # noqa: E402
from experiments.plots import (  # noqa: E402
    DPI, draw_od_matrix, finish, fmt_bn, log_norm_for, od_mean, plain_log_ticks, seed_quantiles, thousands,
)
from model.metrics import METRICS  # noqa: E402
from model.regions import FLOW_REGIONS, REGIONS  # noqa: E402
from model.years import CALIBRATION_LAST_YEAR, FIRST_YEAR  # noqa: E402

BASELINE_COLOUR = "#4d4d4d"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939")
NOISE_COLOUR = "#e6e6e6"  # flow cells whose change is not told apart from 0
OUTLINE_NOTE = (f"scenario: line = median across runs (seeds, and parameter draws where the run has them), dark band = middle 50%, light band = 90%; "
                f"baseline: dashed = median, dotted = 90% range; grey background = calibrated years "
                f"{FIRST_YEAR}-{CALIBRATION_LAST_YEAR}, after that trend continuation")


class Figure(NamedTuple):
    """A PNG figure written for the report and its alternative text."""

    path: Path
    alt: str



def _pct_of_base(row, column: str) -> float:
    """``row[column]`` (an effect in the outcome's unit) in percent of the baseline's mean; falls back
    to the mean effect's columns for tables written before the predictive columns existed."""
    if column not in row:
        column = {"lo90": "lo", "hi90": "hi", "median": "mean_diff"}[column]
    base = row["baseline_mean"]
    if not np.isfinite(row[column]) or not np.isfinite(base) or base == 0:
        return float("nan")
    return float(100 * row[column] / abs(base))

def scenario_colours(scenarios: list[str], baseline: str) -> dict[str, str]:
    """Colour of each scenario: the baseline grey, the others from :data:`PALETTE` in order."""
    alternatives = [s for s in scenarios if s != baseline]
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(alternatives)}
    return {baseline: BASELINE_COLOUR} | colours


def safe_name(name: str) -> str:
    """``name`` usable in a file name (letters, digits, - and _ kept; the rest becomes _)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def fixed_frame(fig: plt.Figure, left: float, right: float, top: float, bottom: float,
                hspace: float = 0.2, wspace: float = 0.25) -> None:
    """A fixed layout: margins in inches (cheaper than a constrained layout for many panels)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h,
                        hspace=hspace, wspace=wspace)


def fixed_head(fig: plt.Figure, title: str, note: str, handles=None, ncol: int = 4) -> None:
    """Title (top left), a legend row under it and a footnote, for a figure of fixed layout
    (the counterpart of :func:`experiments.plots.finish`)."""
    h = fig.get_size_inches()[1]
    fig.text(0.01, 1 - 0.08 / h, title, ha="left", va="top", fontsize=13)
    if handles:
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.005, 1 - 0.36 / h), ncol=ncol,
                   frameon=False, fontsize=9.5, borderaxespad=0.0)
    fig.text(0.01, 0.06 / h, note, ha="left", va="bottom", fontsize=8.5, color="#444444")


def two_lines(name: str, width: int = 20) -> str:
    """A long scenario name split at the hyphen nearest its middle (for a row label)."""
    if len(name) <= width or "-" not in name:
        return name
    cuts = [i for i, c in enumerate(name) if c == "-"]
    i = min(cuts, key=lambda k: abs(k - len(name) / 2))
    return name[:i + 1] + "\n" + name[i + 1:]


def wrapped(note: str, fig: plt.Figure) -> str:
    """``note`` wrapped to the width of ``fig`` (a footnote of 8.5 pt)."""
    return textwrap.fill(note, int(fig.get_size_inches()[0] * 15.5))


def per_year(unit: str) -> str:
    """The axis unit: "bn yuan per year" for money, the count itself otherwise."""
    return unit if unit in ("firms", "contracts") else f"{unit} per year"


def draw_comparison(values: pd.DataFrame, regions: pd.DataFrame, flows: pd.DataFrame, diffs: pd.DataFrame,
                    cells: pd.DataFrame, lists: dict[str, list[Outcome]], keys: dict[str, list[Outcome]],
                    baseline: str, scenarios: list[str], years: list[int], out: Path) -> dict[str, list[Figure]]:
    """Write every figure of the report into ``out``; return them by section.

    ``values``: :func:`~experiments.outcomes.outcome_values` over all years; ``lists``: the
    outcomes of each scenario's effect chart, in order; ``keys``: each scenario's key outcomes;
    ``cells``: :func:`~experiments.effects.flow_cell_differences`.  Sections: ``effects:<s>``
    (``effects_<s>.png``), ``keyfans:<s>`` (``keyfan_<s>.png``), ``fans`` (``fan_<metric>.png``
    per key metric present) and ``od`` (``od_baseline.png``, ``od_differences.png``).
    ``scenarios`` starts with the baseline.
    """
    colours = scenario_colours(scenarios, baseline)
    alternatives = [s for s in scenarios if s != baseline]
    figures: dict[str, list[Figure]] = {"fans": [], "od": []}
    q = seed_quantiles(values, ["scenario", "outcome", "year"]) if len(values) else values
    tops = q.groupby("outcome")["q95"].max().to_dict() if len(q) else {}
    for s in scenarios:
        name = safe_name(s)
        if s != baseline and lists.get(s):
            p = plot_scenario_effects(diffs, s, lists[s], {o.name for o in keys.get(s, [])}, colours[s],
                                      baseline, out / f"effects_{name}.png")
            figures[f"effects:{s}"] = [Figure(p, f"effects of {s} against {baseline}")]
        if keys.get(s) and len(q):
            p = plot_key_fans(q, s, keys[s], baseline, colours[s], tops, out / f"keyfan_{name}.png")
            figures[f"keyfans:{s}"] = [Figure(p, f"key outcomes of {s} over time")]
    present = set(regions["metric"])
    for metric in KEY_METRICS:
        if metric in present:
            p = plot_fans(regions, metric, baseline, alternatives, colours, out / f"fan_{metric}.png")
            figures["fans"].append(Figure(p, f"{METRICS[metric].title} ({per_year(METRICS[metric].unit)})"))
    if len(flows):
        p = plot_od_baseline(flows, baseline, years, out / "od_baseline.png")
        figures["od"].append(Figure(p, f"flow matrices of {baseline}"))
        if len(cells):
            p = plot_od_differences(cells, alternatives, years[-1], colours, baseline, out / "od_differences.png")
            figures["od"].append(Figure(p, f"change of the flow matrix against {baseline}, {years[-1]}"))
    return figures


# ----------------------------------------------------------------------------- time axes

def year_axis(ax: plt.Axes, first: int, last: int) -> None:
    """Ticks every five years from ``first`` with ``last`` (the horizon) always labelled, and the
    calibrated years shaded."""
    ticks = sorted({first, *range(first - first % 5 + 5, last, 5), last})
    ticks = [t for t in ticks if t == last or last - t >= 2 or t == first]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlim(first - 0.3, last + 0.3)
    if first <= CALIBRATION_LAST_YEAR:
        ax.axvspan(first - 0.3, min(CALIBRATION_LAST_YEAR, last), color="#f0f0f0", zorder=0, lw=0)


def draw_band(ax: plt.Axes, q: pd.DataFrame, colour: str) -> None:
    """A scenario: median line with its 50% and 90% bands (``q``: year, q05..q95)."""
    q = q.sort_values("year")
    x = q["year"].to_numpy(dtype=float)
    ax.fill_between(x, q["q05"].to_numpy(), q["q95"].to_numpy(), color=colour, alpha=0.15, linewidth=0, zorder=2)
    ax.fill_between(x, q["q25"].to_numpy(), q["q75"].to_numpy(), color=colour, alpha=0.35, linewidth=0, zorder=2)
    ax.plot(x, q["q50"].to_numpy(), color=colour, lw=2, zorder=3)


def draw_outline(ax: plt.Axes, q: pd.DataFrame) -> None:
    """The baseline as an outline over the scenario: dashed median, dotted 90% range."""
    q = q.sort_values("year")
    x = q["year"].to_numpy(dtype=float)
    ax.plot(x, q["q50"].to_numpy(), color=BASELINE_COLOUR, lw=1.5, ls="--", zorder=4)
    for c in ("q05", "q95"):
        ax.plot(x, q[c].to_numpy(), color=BASELINE_COLOUR, lw=0.9, ls=":", zorder=4)


def _legend(baseline: str, scenarios: list[str], colours: dict[str, str]) -> list:
    handles = [Line2D([], [], color=BASELINE_COLOUR, lw=1.5, ls="--", label=f"{baseline}: median"),
               Line2D([], [], color=BASELINE_COLOUR, lw=0.9, ls=":", label=f"{baseline}: 90% range")]
    return handles + [Patch(color=colours[s], alpha=0.5, label=s) for s in scenarios]


# ----------------------------------------------------------------------------- fan charts

def plot_key_fans(q: pd.DataFrame, scenario: str, outcomes: list[Outcome], baseline: str, colour: str,
                  tops: dict[str, float], path: Path) -> Path:
    """One panel per key outcome of ``scenario``: its fan against the baseline's outline.

    ``q``: seed quantiles of the outcome values by scenario, outcome and year; ``tops``: the
    upper y limit of each outcome, shared by every scenario's figure."""
    n = len(outcomes)
    with_legend = scenario != baseline
    top = 0.45 + (0.3 if with_legend else 0) + 0.5
    fig, axes = plt.subplots(1, n, figsize=(max(3.6 * n, 7.5), 3.0 + top), squeeze=False)
    fixed_frame(fig, left=0.8, right=0.25, top=top, bottom=0.85, wspace=0.38)
    first, last = int(q["year"].min()), int(q["year"].max())
    for ax, oc in zip(axes[0], outcomes):
        qb = q[(q["scenario"] == baseline) & (q["outcome"] == oc.name)]
        if scenario != baseline:
            draw_band(ax, q[(q["scenario"] == scenario) & (q["outcome"] == oc.name)], colour)
            draw_outline(ax, qb)
        else:
            draw_band(ax, qb, BASELINE_COLOUR)
        ax.set_title(textwrap.fill(oc.label, 34), fontsize=11)
        ax.set_ylabel(per_year(oc.unit), fontsize=10)
        ax.set_ylim(0, max(tops.get(oc.name, 1.0), 1e-9) * 1.05)
        year_axis(ax, first, last)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=9.5)
        thousands(ax)
        if not ax.lines:
            ax.text(0.5, 0.5, "not in the results", transform=ax.transAxes, ha="center", color="grey")
    handles = _legend(baseline, [scenario], {scenario: colour}) if with_legend else None
    fixed_head(fig, f"\u201c{scenario}\u201d: its key outcomes" + (f" against {baseline}" if handles else ""),
               wrapped("Same y axis for an outcome in every scenario's figure. " + OUTLINE_NOTE + ".", fig),
               handles, ncol=3)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_fans(regions: pd.DataFrame, metric: str, baseline: str, alternatives: list[str],
              colours: dict[str, str], path: Path) -> Path:
    """One row per alternative scenario, one column per region: its fan over the baseline's outline.

    The rows of a column share their y axis (one region and metric)."""
    title, unit = METRICS[metric].title, METRICS[metric].unit
    sub = regions[(regions["metric"] == metric) & regions["region"].isin(REGIONS)]
    q = seed_quantiles(sub, ["scenario", "region", "year"])
    rows = alternatives or [baseline]
    fig, axes = plt.subplots(len(rows), len(REGIONS), figsize=(13, 1.95 + 1.85 * len(rows)),
                             sharex=True, sharey="col", squeeze=False)
    fixed_frame(fig, left=0.95, right=0.6, top=1.1, bottom=0.85, hspace=0.22, wspace=0.22)
    first, last = int(q["year"].min()), int(q["year"].max())
    for i, s in enumerate(rows):
        for j, region in enumerate(REGIONS):
            ax = axes[i, j]
            qb = q[(q["scenario"] == baseline) & (q["region"] == region)]
            if s != baseline:
                draw_band(ax, q[(q["scenario"] == s) & (q["region"] == region)], colours[s])
                draw_outline(ax, qb)
            else:
                draw_band(ax, qb, BASELINE_COLOUR)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=9)
            thousands(ax)
            if i == 0:
                ax.set_title(region, fontsize=12, fontweight="bold")
            if j == 0:
                ax.set_ylabel(per_year(unit), fontsize=9)
            if j == len(REGIONS) - 1:
                ax.text(1.03, 0.5, two_lines(s), transform=ax.transAxes, rotation=270, va="center", ha="left",
                        fontsize=9.5, color=colours.get(s, BASELINE_COLOUR), fontweight="bold",
                        multialignment="center")
    year_axis(axes[0, 0], first, last)  # shared x: one call sets every panel's ticks
    for ax in axes.ravel()[1:]:
        if first <= CALIBRATION_LAST_YEAR:
            ax.axvspan(first - 0.3, min(CALIBRATION_LAST_YEAR, last), color="#f0f0f0", zorder=0, lw=0)
    for ax in axes[0]:
        ax.set_ylim(bottom=0)  # after every row is drawn, so the shared top covers them all
    fixed_head(fig, f"{title} ({per_year(unit)}): each scenario against {baseline}",
               wrapped(f"{runs_per_scenario(sub)}; {OUTLINE_NOTE}.", fig),
               _legend(baseline, [], colours), ncol=2)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- effect charts

def plot_scenario_effects(diffs: pd.DataFrame, scenario: str, outcomes: list[Outcome], key: set[str],
                          colour: str, baseline: str, path: Path) -> Path:
    """One scenario's effects, in percent of the baseline, one row per outcome in the order given
    (its key outcomes first): a dot per compared year, its 90% interval, and the effect in its unit."""
    d = diffs[diffs["scenario"] == scenario]
    years = sorted(int(y) for y in d["year"].unique())
    last = years[-1]
    markers = {y: "o" if y == last else "s" for y in years}
    n = len(outcomes)
    fig, ax = plt.subplots(figsize=(10.5, 1.5 + 0.48 * n), layout="constrained")
    offsets = dict(zip(years, np.linspace(0.17, -0.17, len(years)) if len(years) > 1 else [0.0]))
    lim = []
    for k, oc in enumerate(outcomes):
        ypos = n - 1 - k
        if oc.name in key:
            ax.axhspan(ypos - 0.5, ypos + 0.5, color="#fff4d6", zorder=0, lw=0)
        for y in years:
            r = d[(d["outcome"] == oc.name) & (d["year"] == y)]
            if r.empty or not np.isfinite(r["rel_diff_pct"].iloc[0]):
                continue
            r = r.iloc[0]
            yy = ypos + offsets[y]
            lo_pct, hi_pct, mid_pct = (_pct_of_base(r, "lo90"), _pct_of_base(r, "hi90"), _pct_of_base(r, "median"))
            if np.isfinite(lo_pct) and hi_pct > lo_pct:
                ax.plot([lo_pct, hi_pct], [yy, yy], color=colour, lw=2.2 if y == last else 1.2,
                        alpha=1 if y == last else 0.55)
                lim += [lo_pct, hi_pct]
            lim.append(mid_pct)
            ax.plot(mid_pct, yy, marker=markers[y], color=colour, ms=8 if y == last else 6,
                    mfc=colour if r["clear"] else "white", mew=1.6, alpha=1 if y == last else 0.55)
    v = np.array([x for x in lim if np.isfinite(x)] or [0.0])
    lo, hi = min(float(v.min()), -MATERIAL_PCT), max(float(v.max()), MATERIAL_PCT)
    pad = 0.10 * (hi - lo)
    ax.set_xlim(lo - pad, hi + pad)
    ax.axvspan(-MATERIAL_PCT, MATERIAL_PCT, color="#dddddd", zorder=0, lw=0)
    ax.axvline(0, color="black", lw=0.8)
    # the effect in its own unit, at the right edge
    for k, oc in enumerate(outcomes):
        r = d[(d["outcome"] == oc.name) & (d["year"] == last)]
        if r.empty:
            continue
        r = r.iloc[0]
        ax.text(1.01, (n - 1 - k + 0.5) / n, f"{effect_text(r['median'] if 'median' in r else r['mean_diff'], oc.unit)} {oc.unit}",
                transform=ax.transAxes, va="center", ha="left", fontsize=10,
                fontweight="bold" if r["clear"] else None, color="black" if r["clear"] else "#777777")
    labels = [("\u2605 " if oc.name in key else "") + textwrap.shorten(oc.label, 52, placeholder="\u2026")
              for oc in outcomes]
    ax.set_yticks(range(n), labels[::-1], fontsize=10.5)
    for t, oc in zip(ax.get_yticklabels()[::-1], outcomes):
        if oc.name in key:
            t.set_fontweight("bold")
    ax.set_ylim(-0.5, n - 0.5)
    ax.set_xlabel(f"effect in percent of {baseline}'s value (scenario \u2212 {baseline}, paired runs: same seed and draw)", fontsize=10.5)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: "0" if abs(x) < 1e-9 else f"{x:+,.0f}%"))
    ax.tick_params(axis="x", labelsize=10)
    ax.grid(axis="x", alpha=0.3)
    handles = [Line2D([], [], marker=markers[y], color=colour, ls="none", ms=8 if y == last else 6,
                      alpha=1 if y == last else 0.55, label=str(y)) for y in years]
    handles += [Line2D([], [], marker="o", color=colour, mfc="white", ls="none", ms=8,
                       label=f"hollow = not clear (not told apart from 0 at a 10% false-discovery rate, or under {MATERIAL_PCT:g}%)"),
                Patch(color="#fff4d6", label="\u2605 key outcome"),
                Patch(color="#dddddd", label=f"under {MATERIAL_PCT:g}% of {baseline}: not material")]
    finish(fig, f"\u201c{scenario}\u201d: effects against {baseline} (key outcomes first, then the largest)",
           f"Dot = median effect; bar = the range of {LEVEL:.0%} of paired runs (same seed"
           f"{' and parameter draw' if 'n_draws' in d and d['n_draws'].max() > 1 else ''}); right column: the {last} "
           f"median effect in its unit (bn yuan per year, or firms).", handles, ncol=3)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def effect_text(v: float, unit: str) -> str:
    """A signed effect for a chart or table: bn yuan to 3 significant figures, counts whole."""
    if not np.isfinite(v):
        return "n/a"
    if unit in ("firms", "contracts"):
        return "0" if round(v) == 0 else f"{v:+,.0f}"
    return fmt_bn(v, True)


# ----------------------------------------------------------------------------- flow matrices

def plot_od_baseline(flows: pd.DataFrame, baseline: str, years: list[int], path: Path) -> Path:
    """The baseline's flow matrices: 2024 (before any policy, the same in every scenario that keeps
    the calibrated history) and the compared ``years``, on one log colour scale."""
    f = flows[flows["scenario"] == baseline]
    present = set(int(y) for y in f["year"].unique())
    shown = [y for y in dict.fromkeys([min(2024, CALIBRATION_LAST_YEAR - 1), *years]) if y in present]
    mats = [od_mean(f, y) for y in shown]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown) + 1.3, 4.9), squeeze=False,
                             layout="constrained")
    norm = log_norm_for(*mats)
    im = None
    for k, (ax, y, m) in enumerate(zip(axes[0], shown, mats)):
        im = draw_od_matrix(ax, m, norm, ylabels=k == 0)
        ax.set_title(f"{y}" + (" (before any policy: every scenario)" if y < CALIBRATION_LAST_YEAR else ""),
                     fontsize=10.5)
    cb = fig.colorbar(im, ax=list(axes[0]), shrink=0.85, pad=0.02)
    cb.set_label("bn yuan per year (log colour scale)")
    plain_log_ticks(cb)
    fig.suptitle(f"\u201c{baseline}\u201d: technology contracts by seller (row) and buyer (column), bn yuan per "
                 f"year; mean of {run_count(f)}", x=0.01, ha="left", fontsize=12)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def draw_diff_matrix(ax: plt.Axes, cells: pd.DataFrame, norm: Normalize, ylabels: bool) -> plt.cm.ScalarMappable:
    """A difference matrix (bn yuan per year): blue more, red less; cells not told apart from 0 grey and
    hatched with their value in grey; pairs not modelled marked."""
    regions = list(FLOW_REGIONS)
    m = cells.set_index(["origin", "destination"])
    cmap = plt.get_cmap("RdBu")
    for i, o in enumerate(regions):
        for j, dst in enumerate(regions):
            if (o, dst) not in m.index:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color="#f7f7f7", lw=0))
                ax.text(j, i, "not\nmodelled", ha="center", va="center", fontsize=7.5, color="#888888")
                continue
            r = m.loc[(o, dst)]
            v = float(r["mean_diff"])
            if r["within_noise"]:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=NOISE_COLOUR, edgecolor="#bbbbbb",
                                       hatch="///", lw=0))
                ax.text(j, i, fmt_bn(v, True), ha="center", va="center", fontsize=9.5, color="#666666",
                        bbox=dict(boxstyle="round,pad=0.15", fc=NOISE_COLOUR, ec="none"))
                continue
            rgba = cmap(norm(v))
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color=rgba, lw=0))
            lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
            ax.text(j, i, fmt_bn(v, True), ha="center", va="center", fontsize=10, fontweight="bold",
                    color="white" if lum < 0.5 else "black")
    ax.set_xlim(-0.5, len(regions) - 0.5)
    ax.set_ylim(len(regions) - 0.5, -0.5)
    ax.set_xticks(range(len(regions)), [c.replace(" of ", "\nof ") for c in regions], fontsize=8.5)
    ax.set_yticks(range(len(regions)), regions if ylabels else [], fontsize=8.5)
    ax.set_xlabel("buyer", fontsize=9)
    if ylabels:
        ax.set_ylabel("seller", fontsize=9)
    ax.tick_params(length=0)
    ax.set_aspect("equal")
    return plt.cm.ScalarMappable(norm=norm, cmap=cmap)


def runs_per_scenario(rows: pd.DataFrame) -> str:
    """"N seeds per scenario", or "N runs per scenario (K parameter draws x S seeds)" with draws."""
    return run_count(rows) + " per scenario"


def plot_od_differences(cells: pd.DataFrame, alternatives: list[str], year: int, colours: dict[str, str],
                        baseline: str, path: Path) -> Path:
    """Every scenario's change of the flow matrix in ``year`` against the baseline, side by side on
    one symmetric colour scale (bn yuan per year); cells whose mean change is not told apart from 0
    grey and hatched."""
    c = cells[cells["year"] == year]
    scen = [s for s in alternatives if s in set(c["scenario"])]
    ncol = min(4, max(len(scen), 1))
    nrow = -(-len(scen) // ncol) if scen else 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol + 1.2, 1.0 + 3.3 * nrow), squeeze=False,
                             layout="constrained")
    v = c["mean_diff"].abs().to_numpy(dtype=float)
    vmax = float(np.nanmax(v)) if v.size and np.isfinite(v).any() and np.nanmax(v) > 0 else 1.0
    norm = Normalize(-vmax, vmax)
    sm = None
    for k, ax in enumerate(axes.ravel()):
        if k >= len(scen):
            ax.axis("off")
            continue
        s = scen[k]
        sm = draw_diff_matrix(ax, c[c["scenario"] == s], norm, ylabels=k % ncol == 0)
        ax.set_title(s, fontsize=10.5, color=colours.get(s, "black"), fontweight="bold")
    if sm is not None:
        cb = fig.colorbar(sm, ax=list(axes.ravel()), shrink=0.8, pad=0.02)
        cb.set_label(f"change against {baseline}, bn yuan per year (one scale for all)")
    n = int(c["n_seeds"].min()) if len(c) else 0
    k = int(c["n_draws"].min()) if len(c) and "n_draws" in c.columns and c["n_draws"].notna().all() else 0
    runs = describe_runs(n, k, "paired runs")
    handles = [Patch(facecolor="#2166ac", label="more than in the baseline"),
               Patch(facecolor="#b2182b", label="less"),
               Patch(facecolor=NOISE_COLOUR, edgecolor="#bbbbbb", hatch="///",
                     label=f"not told apart from 0 ({LEVEL:.0%} confidence interval of the mean includes 0)")]
    finish(fig, f"{year}: change of contract value by seller (row) and buyer (column) against {baseline}",
           f"Mean of the paired differences over {runs}, bn yuan per year; one symmetric colour scale "
           f"(\u00b1{vmax:,.0f}) for every scenario.", handles, ncol=3)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
