"""The figures and tables of the workbench (``bth app``) and of ``Results.fan``: no Solara here.

Each builder returns a :class:`View`: a matplotlib figure, its title, and the tidy table of the
numbers drawn (what the app shows under the figure and exports as CSV).  The numbers come from
the results' own tables (``scenario, seed, year, region, metric, value`` and the flows): seed
bands are quantiles across the seeds a run holds (:func:`experiments.plots.seed_quantiles`),
effects are :func:`experiments.effects.paired_differences`, flow matrices are seed means
(:func:`experiments.plots.od_mean`).  Money is in billion yuan per year (bn yuan), counts in firms.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from experiments.effects import LEVEL, paired_differences  # noqa: E402
from experiments.figures import BASELINE_COLOUR, scenario_colours  # noqa: E402
from experiments.outcomes import TABLE_OUTCOMES, Outcome, region_outcome  # noqa: E402
from experiments.plots import (  # noqa: E402
    DPI, draw_od_matrix, log_norm_for, od_mean, plain_log_ticks, seed_quantiles, thousands,
)
from model.metrics import METRICS  # noqa: E402

FIG_SIZE = (10.0, 4.4)  # inches: about 1000 x 480 px at the app's width


@dataclass
class View:
    """One figure of the workbench: ``title`` (also drawn on the figure), the figure, the tidy
    table of the numbers drawn, and a file-name stem for downloads."""

    title: str
    figure: Figure
    data: pd.DataFrame
    stem: str

    def png(self) -> bytes:
        """The figure as PNG bytes."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=DPI)
        return buf.getvalue()

    def csv(self) -> str:
        """The data behind the figure as CSV text."""
        return self.data.to_csv(index=False)


def unit_label(unit: str) -> str:
    """A metric's unit as an axis label: money per year, counts as they are."""
    return f"{unit} per year" if unit == "bn yuan" else unit


def metric_label(metric: str) -> str:
    """``"R&D spending (bn yuan per year)"``: the title and unit of a regional metric."""
    m = METRICS[metric]
    return f"{m.title} ({unit_label(m.unit)})"


def _stem(*parts: str) -> str:
    return "_".join("".join(c if c.isalnum() or c in "-_" else "-" for c in str(p)) for p in parts)


def _order(scenarios: list[str], baseline: str) -> list[str]:
    """The baseline first, then the others in the order given (each once)."""
    rest = [s for s in dict.fromkeys(scenarios) if s != baseline]
    return [baseline] + rest


def _empty_note(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="grey", fontsize=12)


# ----------------------------------------------------------------------------- fan chart

def fan_view(regions: pd.DataFrame, metric: str, region: str, scenarios: list[str],
             baseline: str = "baseline", years: tuple[int, int] | None = None) -> View:
    """Fan chart of one metric in one region: each scenario's median with its 50% and 90% seed
    bands, the baseline drawn as an outline (median line, dashed 90% band edges) on top.

    Data: ``scenario, year, region, metric, unit, median, p05, p25, p75, p95, n_seeds``.
    """
    m = METRICS[metric]
    title = f"{region}: {m.title} ({unit_label(m.unit)})"
    sub = regions[(regions["metric"] == metric) & (regions["region"] == region)]
    if years is not None:
        sub = sub[sub["year"].between(*years)]
    shown = _order(scenarios, baseline)
    sub = sub[sub["scenario"].isin(shown)]
    colours = scenario_colours(shown, baseline)
    fig = Figure(figsize=FIG_SIZE, layout="constrained")
    ax = fig.subplots()
    data = pd.DataFrame(columns=["scenario", "year", "region", "metric", "unit", "median", "p05",
                                 "p25", "p75", "p95", "n_seeds"])
    if len(sub):
        q = seed_quantiles(sub, ["scenario", "year"])
        for s in shown[1:]:  # scenarios as bands
            qs = q[q["scenario"] == s].sort_values("year")
            if qs.empty:
                continue
            ax.fill_between(qs["year"], qs["q05"], qs["q95"], color=colours[s], alpha=0.15, lw=0)
            ax.fill_between(qs["year"], qs["q25"], qs["q75"], color=colours[s], alpha=0.32, lw=0)
            ax.plot(qs["year"], qs["q50"], color=colours[s], lw=2.2)
        qb = q[q["scenario"] == baseline].sort_values("year")
        if len(qb):  # the baseline as an outline, drawn last so it never hides a band
            ax.plot(qb["year"], qb["q50"], color=BASELINE_COLOUR, lw=2, zorder=5)
            for col in ("q05", "q95"):
                ax.plot(qb["year"], qb[col], color=BASELINE_COLOUR, lw=1.1, ls="--", zorder=5)
        data = q.rename(columns={"q50": "median", "q05": "p05", "q25": "p25", "q75": "p75",
                                 "q95": "p95", "n": "n_seeds"})
        data = data.assign(region=region, metric=metric, unit=m.unit)[
            ["scenario", "year", "region", "metric", "unit", "median", "p05", "p25", "p75", "p95",
             "n_seeds"]]
        data["scenario"] = pd.Categorical(data["scenario"], shown)
        data = data.sort_values(["scenario", "year"]).reset_index(drop=True)
        data["scenario"] = data["scenario"].astype(str)
        yr = sorted(int(y) for y in data["year"].unique())
        ax.set_xlim(yr[0], yr[-1])
        ax.set_xticks(yr if len(yr) <= 16 else yr[::2])
        ax.set_ylim(bottom=min(0.0, float(data["p05"].min())))
    else:
        _empty_note(ax, f"{m.title} is not in these results for {region}")
    ax.set_title(title, fontsize=13, loc="left")
    ax.set_xlabel("year")
    ax.set_ylabel(unit_label(m.unit))
    ax.grid(alpha=0.3)
    thousands(ax)
    handles = [Line2D([], [], color=BASELINE_COLOUR, lw=2, label=f"{baseline}: median"),
               Line2D([], [], color=BASELINE_COLOUR, lw=1.1, ls="--", label=f"{baseline}: 90% of seeds")]
    for s in shown[1:]:
        handles.append(Patch(facecolor=colours[s], alpha=0.45, label=f"{s}: median, 50% and 90% of seeds"))
    ax.legend(handles=handles, loc="upper left", fontsize=9, frameon=True, framealpha=0.85)
    return View(title, fig, data, _stem("fan", region, metric))


# ----------------------------------------------------------------------------- effects over time

def effect_outcomes(metric: str, regions_: list[str]) -> tuple[Outcome, ...]:
    """The outcomes of ``metric`` in each of ``regions_`` (for :func:`paired_differences`)."""
    return tuple(region_outcome(r, metric) for r in regions_)


def effects_view(regions: pd.DataFrame, flows: pd.DataFrame, metric: str, region: str,
                 scenarios: list[str], baseline: str = "baseline",
                 years: tuple[int, int] | None = None) -> View:
    """Effect of each scenario on one metric in one region, year by year: the mean paired
    difference to the baseline (same seeds) with its 90% confidence interval, from
    :func:`experiments.effects.paired_differences`.

    Data: the paired-differences table (``scenario, outcome, year, mean_diff, lo, hi, ...``).
    """
    m = METRICS[metric]
    title = f"{region}: {m.title}, effect vs {baseline} ({unit_label(m.unit)})"
    present = sorted(int(y) for y in regions["year"].unique())
    chosen = [y for y in present if years is None or years[0] <= y <= years[1]]
    shown = [s for s in _order(scenarios, baseline)[1:]]
    sub_r = regions[regions["scenario"].isin([baseline] + shown)]
    sub_f = flows[flows["scenario"].isin([baseline] + shown)]
    fig = Figure(figsize=FIG_SIZE, layout="constrained")
    ax = fig.subplots()
    diffs = pd.DataFrame()
    if shown and chosen and baseline in set(sub_r["scenario"]):
        diffs = paired_differences(sub_r, sub_f, baseline, years=chosen,
                                   outcomes=effect_outcomes(metric, [region]))
    colours = scenario_colours(_order(scenarios, baseline), baseline)
    if len(diffs):
        for s in shown:
            d = diffs[diffs["scenario"] == s].sort_values("year")
            if d.empty:
                continue
            ax.fill_between(d["year"], d["lo"], d["hi"], color=colours[s], alpha=0.2, lw=0)
            ax.plot(d["year"], d["mean_diff"], color=colours[s], lw=2.2, marker="o", ms=4,
                    label=f"{s} \u2212 {baseline}")
        ax.axhline(0, color="black", lw=0.9)
        yr = sorted(int(y) for y in diffs["year"].unique())
        ax.set_xlim(yr[0], yr[-1])
        ax.set_xticks(yr if len(yr) <= 16 else yr[::2])
        handles, _ = ax.get_legend_handles_labels()
        handles.append(Patch(facecolor="grey", alpha=0.3, label=f"{LEVEL:.0%} confidence interval (paired seeds)"))
        ax.legend(handles=handles, loc="upper left", fontsize=9, framealpha=0.85)
    else:
        _empty_note(ax, "choose a scenario other than the baseline" if not shown
                    else f"no paired seeds of {baseline} for this choice")
    ax.set_title(title, fontsize=13, loc="left")
    ax.set_xlabel("year")
    ax.set_ylabel(f"difference, {unit_label(m.unit)}")
    ax.grid(alpha=0.3)
    if not len(diffs):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    data = diffs.reset_index(drop=True) if len(diffs) else pd.DataFrame(
        columns=["scenario", "outcome", "year", "mean_diff", "lo", "hi"])
    return View(title, fig, data, _stem("effects", region, metric))


# ----------------------------------------------------------------------------- flow matrices

def flows_view(flows: pd.DataFrame, scenario: str, year: int, baseline: str = "baseline") -> View:
    """Origin-destination matrix of contract value (seed mean, bn yuan per year) of ``scenario``
    in ``year`` and, for a scenario other than the baseline, its difference to the baseline.

    Data: ``scenario, year, origin, destination, contract_value_bn, baseline_bn, difference_bn``.
    """
    title = f"Technology contracts by seller and buyer, {year}: {scenario} (bn yuan per year)"
    mat = od_mean(flows[flows["scenario"] == scenario], year)
    base = od_mean(flows[flows["scenario"] == baseline], year)
    show_diff = scenario != baseline and np.isfinite(base.to_numpy()).any()
    fig = Figure(figsize=(10.0, 4.9), layout="constrained")
    axes = fig.subplots(1, 2 if show_diff else 1, squeeze=False)[0]
    im = draw_od_matrix(axes[0], mat, log_norm_for(mat, base))
    axes[0].set_title(f"{scenario}, seed mean", fontsize=11)
    cb = fig.colorbar(im, ax=axes[0], shrink=0.85)
    cb.set_label("bn yuan per year (log scale)")
    plain_log_ticks(cb)
    diff = mat - base
    if show_diff:
        vmax = float(np.nanmax(np.abs(diff.to_numpy()))) if np.isfinite(diff.to_numpy()).any() else 1.0
        vmax = max(vmax, 1e-9)
        dim = draw_od_matrix(axes[1], diff, Normalize(-vmax, vmax), cmap="RdBu", signed=True, ylabels=False)
        axes[1].set_title(f"change vs {baseline} (blue = more, red = less)", fontsize=11)
        cb2 = fig.colorbar(dim, ax=axes[1], shrink=0.85)
        cb2.set_label("difference, bn yuan per year")
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)
    long = mat.stack(future_stack=True).rename("contract_value_bn").to_frame()
    long["baseline_bn"] = base.stack(future_stack=True)
    long["difference_bn"] = long["contract_value_bn"] - long["baseline_bn"]
    long.index.names = ["origin", "destination"]
    data = long.reset_index().dropna(subset=["contract_value_bn"]).assign(scenario=scenario, year=year)
    data = data[["scenario", "year", "origin", "destination", "contract_value_bn", "baseline_bn",
                 "difference_bn"]].reset_index(drop=True)
    return View(title, fig, data, _stem("flows", scenario, year))


# ----------------------------------------------------------------------------- what-if effects

def whatif_view(diffs: pd.DataFrame, scenario: str, baseline: str, year: int,
                key: list[str] | tuple[str, ...] = (), rows: int = 14) -> View:
    """Effects of ``scenario`` in ``year`` relative to the baseline (% of the baseline's mean;
    the interval is the 90% paired-t interval scaled the same way): the ``key`` outcomes first
    (the scenario's question), then the others by size, ``rows`` in all.  Data: the rows drawn."""
    d = diffs[(diffs["scenario"] == scenario) & (diffs["year"] == year)].copy()
    d = d[np.isfinite(d["rel_diff_pct"].astype(float))]
    first = d[d["outcome"].isin(list(key))]
    first = first.set_index("outcome").reindex([k for k in key if k in set(first["outcome"])]).reset_index()
    rest = d[~d["outcome"].isin(list(key))]
    rest = rest.reindex(rest["rel_diff_pct"].abs().sort_values(ascending=False).index)
    d = pd.concat([first[d.columns], rest], ignore_index=True).head(max(rows, len(first)))
    title = f"What if: effect of {scenario} vs {baseline} in {year} (% of {baseline})"
    fig = Figure(figsize=(10.0, 5.2), layout="constrained")
    ax = fig.subplots()
    symlog = False
    if len(d):
        ypos = np.arange(len(d))[::-1]
        base = d["baseline_mean"].astype(float).to_numpy()
        rel = d["rel_diff_pct"].astype(float).to_numpy()
        if {"rel_lo_pct", "rel_hi_pct"} <= set(d.columns):  # effects.py gives the relative interval
            lo, hi = d["rel_lo_pct"].astype(float).to_numpy(), d["rel_hi_pct"].astype(float).to_numpy()
        else:
            lo = 100 * d["lo"].astype(float).to_numpy() / base
            hi = 100 * d["hi"].astype(float).to_numpy() / base
        clear = ~d["straddles_zero"].astype(bool).to_numpy()
        colour = np.where(rel >= 0, "#2166ac", "#b2182b")
        for y, a, b, c in zip(ypos, lo, hi, colour):
            if np.isfinite(a) and np.isfinite(b):
                ax.plot([a, b], [y, y], color=c, lw=2.4, alpha=0.8)
        ax.scatter(rel, ypos, c=[c if k else "white" for c, k in zip(colour, clear)],
                   edgecolors=colour, s=46, zorder=3, linewidths=1.6)
        labels = [("\u2605 " if o in key else "") + f"{outcome_label(o)}  ({fmt_signed(v)} {u})"
                  for o, v, u in zip(d["outcome"], d["mean_diff"].astype(float), d["unit"])]
        ax.set_yticks(ypos, labels, fontsize=9)
        ax.axvline(0, color="black", lw=0.9)
        reach = np.nanmax(np.abs(np.concatenate([rel, lo, hi]))) if len(rel) else 0.0
        if reach > 100:  # one outcome far out (e.g. a park that grows sixfold): keep the rest readable
            ax.set_xscale("symlog", linthresh=10, linscale=1.5)
            ax.set_xlim(-1.4 * reach if np.nanmin(np.concatenate([rel, lo, hi])) < -10 else -10, 1.4 * reach)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
            symlog = True
        fig.legend(handles=[
            Line2D([], [], marker="o", color="#2166ac", ls="-", label=f"effect and {LEVEL:.0%} interval"),
            Line2D([], [], marker="o", color="#2166ac", mfc="white", ls="none",
                   label="hollow = interval includes 0")]
            + ([Line2D([], [], ls="none", label="\u2605 = the scenario's key outcome")] if len(key) else []),
            loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    else:
        _empty_note(ax, "no effects to show")
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)  # over the labels too: never cut off
    ax.set_xlabel(f"difference to {baseline}, % of its mean (same seeds)"
                  + ("; log scale beyond \u00b110%" if symlog else ""))
    ax.grid(axis="x", alpha=0.3)
    return View(title, fig, d.reset_index(drop=True), _stem("whatif", scenario, year))


def outcome_label(name: str) -> str:
    """The chart label of an outcome name (``"Hebei rd_spending_bn"`` -> ``"Hebei: R&D spending"``)."""
    for oc in TABLE_OUTCOMES:
        if oc.name == name:
            return oc.label
    region, _, metric = name.rpartition(" ")
    return region_outcome(region, metric).label if metric in METRICS and region else name


def fmt_signed(v: float) -> str:
    """A signed number with 3 significant figures-ish (``+12.3``, ``-0.45``, ``+1,234``)."""
    if not np.isfinite(v):
        return "n/a"
    if abs(v) >= 100:
        return f"{v:+,.0f}"
    if abs(v) >= 10:
        return f"{v:+.1f}"
    return f"{v:+.2f}"


def close(view: View | None) -> None:
    """Release a view's figure (figures made with ``Figure()`` need no pyplot bookkeeping)."""
    if view is not None:
        plt.close(view.figure)
