"""Compare scenarios against a baseline: fan charts, paired differences, flow matrices, report.

Input: run folders ``OUT/<scenario>/`` holding ``regions.parquet`` and ``flows.parquet`` (see
docs/CONTRACT.md), all at real-world scale.  Money is in billion yuan per year ("bn yuan"),
counts are firms.  Scenarios are compared seed by seed: the runner uses the same seeds for every
scenario (common random numbers), so the difference scenario - baseline within a seed isolates
the effect of the policy from the model's randomness.

Main entry points: :func:`compare` (writes figures, tables and ``report.html``) and
:func:`paired_differences` (the table of scenario effects).
"""

from __future__ import annotations

import base64
import html
import json
import textwrap
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from scipy import stats  # noqa: E402

from experiments.plots import (  # noqa: E402
    BAND_NOTE, DPI, KEY_METRICS, METRICS, REGIONS, draw_fan, draw_od_matrix, log_norm_for, od_mean,
    fmt_bn, finish, plain_log_ticks, read_run, seed_quantiles, thousands,
)

YEARS = (2030, 2035)
LEVEL = 0.90  # coverage of every interval in this module
BASELINE_COLOUR = "#4d4d4d"
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939"]


# ----------------------------------------------------------------------------- outcomes

@dataclass(frozen=True)
class Outcome:
    """One scalar outcome per (scenario, seed, year).

    Either a regional metric (``region`` + ``metric``) or the contract value flowing from
    ``origin`` to the sum of ``destinations`` (bn yuan per year).
    """

    name: str  # identifier used in tables, e.g. "Hebei transformed_output_bn"
    label: str  # human-readable, for charts
    unit: str  # "bn yuan" or "firms"
    region: str | None = None
    metric: str | None = None
    origin: str | None = None
    destinations: tuple[str, ...] = ()


def region_outcome(region: str, metric: str) -> Outcome:
    title, unit = METRICS.get(metric, (metric, "bn yuan" if metric.endswith("_bn") else "firms"))
    return Outcome(f"{region} {metric}", f"{region}: {title}", unit, region=region, metric=metric)


def flow_outcome(origin: str, destinations: tuple[str, ...]) -> Outcome:
    dest = "+".join(destinations)
    return Outcome(f"flow {origin}->{dest}", f"Contracts {origin} \u2192 {dest.replace('+', ' + ')}",
                   "bn yuan", origin=origin, destinations=destinations)


FLOW_OUTCOMES = (
    flow_outcome("Beijing", ("Hebei",)),
    flow_outcome("Beijing", ("Tianjin",)),
    flow_outcome("Beijing", ("Tianjin", "Hebei")),
)
# Every outcome in the tables: the key metrics of the three regions plus Beijing's outflows.
TABLE_OUTCOMES: tuple[Outcome, ...] = tuple(
    region_outcome(r, m) for m in KEY_METRICS for r in REGIONS) + FLOW_OUTCOMES
# The subset drawn in the paired-difference chart.
CHART_OUTCOMES: tuple[str, ...] = (
    "flow Beijing->Hebei", "flow Beijing->Tianjin+Hebei", "Beijing contract_turnover_bn",
    "Tianjin contract_absorbed_bn", "Hebei contract_absorbed_bn", "Hebei rd_spending_bn",
    "Tianjin transformed_output_bn", "Hebei transformed_output_bn", "Tianjin high_tech_enterprises",
    "Hebei high_tech_enterprises", "Tianjin sci_tech_smes", "Hebei sci_tech_smes",
)


def outcome_values(regions: pd.DataFrame, flows: pd.DataFrame,
                   outcomes: tuple[Outcome, ...] = TABLE_OUTCOMES) -> pd.DataFrame:
    """Tidy table ``scenario, seed, year, outcome, value`` of the given outcomes (all years).

    Outcomes whose metric is absent from the results are left out.  A flow pair missing from a
    (scenario, seed, year) that has flows counts as zero contract value.
    """
    parts = []
    keys = ["scenario", "seed", "year"]
    for oc in outcomes:
        if oc.metric is not None:
            sub = regions[(regions["region"] == oc.region) & (regions["metric"] == oc.metric)]
            if len(sub):
                parts.append(sub[keys + ["value"]].assign(outcome=oc.name))
        elif len(flows):
            sub = flows[(flows["origin"] == oc.origin) & flows["destination"].isin(oc.destinations)]
            total = sub.groupby(keys)["contract_value_bn"].sum()
            index = pd.MultiIndex.from_frame(flows[keys].drop_duplicates())
            total = total.reindex(index, fill_value=0.0).rename("value").reset_index()
            parts.append(total.assign(outcome=oc.name))
    if not parts:
        return pd.DataFrame(columns=keys + ["outcome", "value"])
    out = pd.concat(parts, ignore_index=True)
    out["value"] = out["value"].astype(float)
    return out[keys + ["outcome", "value"]]


def _check_baseline(scenarios, baseline: str) -> None:
    found = sorted(map(str, set(scenarios)))
    if baseline not in found:
        raise ValueError(
            f"baseline '{baseline}' is not among the results; scenarios found: {found}. "
            f"Include the baseline's run folder or pass baseline=<one of these>.")


# ----------------------------------------------------------------------------- statistics

def paired_differences(regions: pd.DataFrame, flows: pd.DataFrame, baseline: str,
                       years=YEARS, outcomes: tuple[Outcome, ...] = TABLE_OUTCOMES,
                       level: float = LEVEL) -> pd.DataFrame:
    """Effect of each scenario on each outcome: scenario minus baseline, seed by seed.

    For every scenario other than ``baseline``, outcome and year, the seed-level difference
    d_s = scenario(seed s) - baseline(seed s) is taken over the seeds both share (common random
    numbers).  Columns:

    * ``mean_diff``: mean of d_s (unit of the outcome: bn yuan per year, or firms);
    * ``lo``, ``hi``: ``level`` (default 90%) paired-t confidence interval of that mean,
      mean -/+ t(1 - (1-level)/2, n-1) * sd(d)/sqrt(n); NaN with a single seed;
    * ``straddles_zero``: True if the interval contains 0 (or is undefined), i.e. the effect
      is not distinguishable from seed noise;
    * ``n_seeds``, ``baseline_mean``, ``rel_diff_pct`` (= 100 * mean_diff / baseline_mean),
      ``seed_p05``, ``seed_p95`` (spread of the seed-level differences), ``unit``.

    Raises ``ValueError`` if ``baseline`` is not in the results or a scenario shares no seed
    with it.
    """
    columns = ["scenario", "outcome", "year", "mean_diff", "lo", "hi", "straddles_zero", "n_seeds",
               "baseline_mean", "rel_diff_pct", "seed_p05", "seed_p95", "unit"]
    _check_baseline(regions["scenario"].unique(), baseline)
    vals = outcome_values(regions, flows, outcomes)
    vals = vals[vals["year"].isin(list(years))]
    keys = ["seed", "year", "outcome"]
    base = vals[vals["scenario"] == baseline].set_index(keys)["value"].rename("base")
    others = vals[vals["scenario"] != baseline]
    merged = others.join(base, on=keys, how="inner")
    for s in others["scenario"].unique():
        if s not in set(merged["scenario"]):
            raise ValueError(f"scenario '{s}' shares no seed with baseline '{baseline}'; paired "
                             f"differences need the same seeds (common random numbers)")
    if merged.empty:
        return pd.DataFrame(columns=columns)
    merged["diff"] = merged["value"] - merged["base"]
    g = merged.groupby(["scenario", "outcome", "year"], sort=False)
    res = g.agg(mean_diff=("diff", "mean"), sd=("diff", "std"), n_seeds=("diff", "size"),
                baseline_mean=("base", "mean"),
                seed_p05=("diff", lambda d: d.quantile((1 - level) / 2)),
                seed_p95=("diff", lambda d: d.quantile(1 - (1 - level) / 2))).reset_index()
    n = res["n_seeds"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tq = np.where(n > 1, stats.t.ppf(1 - (1 - level) / 2, np.maximum(n - 1, 1)), np.nan)
        half = tq * res["sd"].fillna(0).to_numpy() / np.sqrt(n)
        res["rel_diff_pct"] = 100 * res["mean_diff"] / res["baseline_mean"].where(res["baseline_mean"] != 0)
    res["lo"] = res["mean_diff"] - half
    res["hi"] = res["mean_diff"] + half
    res["straddles_zero"] = ~((res["lo"] > 0) | (res["hi"] < 0))
    units = {oc.name: oc.unit for oc in outcomes}
    res["unit"] = res["outcome"].map(units)
    order = {oc.name: i for i, oc in enumerate(outcomes)}
    scen_order = {s: i for i, s in enumerate(dict.fromkeys(others["scenario"]))}
    res = res.sort_values(["scenario", "outcome", "year"],
                          key=lambda c: c.map(scen_order) if c.name == "scenario"
                          else c.map(order) if c.name == "outcome" else c)
    return res[columns].reset_index(drop=True)


def outcome_table(vals: pd.DataFrame, years, outcomes: tuple[Outcome, ...] = TABLE_OUTCOMES,
                  level: float = LEVEL) -> pd.DataFrame:
    """Median and ``level`` interval across seeds: scenario, outcome, label, unit, year, median, lo, hi, n_seeds."""
    sub = vals[vals["year"].isin(list(years))]
    a = (1 - level) / 2
    g = sub.groupby(["scenario", "outcome", "year"], sort=False)["value"]
    t = g.agg(median="median", lo=lambda v: v.quantile(a), hi=lambda v: v.quantile(1 - a),
              n_seeds="size").reset_index()
    info = {oc.name: oc for oc in outcomes}
    t["label"] = t["outcome"].map(lambda o: info[o].label)
    t["unit"] = t["outcome"].map(lambda o: info[o].unit)
    return t[["scenario", "outcome", "label", "unit", "year", "median", "lo", "hi", "n_seeds"]]


# ----------------------------------------------------------------------------- loading

def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Run folders (holding ``regions.parquet``) among ``paths`` or directly inside them.

    Other paths are skipped with a warning (so ``bth compare results/*`` tolerates an old
    ``results/comparison`` folder).
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if (p / "regions.parquet").exists():
            found.append(p)
        elif p.is_dir() and any((c / "regions.parquet").exists() for c in p.iterdir() if c.is_dir()):
            found.extend(sorted(c for c in p.iterdir() if (c / "regions.parquet").exists()))
        else:
            warnings.warn(f"{p}: no regions.parquet here, skipped", stacklevel=2)
    return found


def read_manifest(run_dir: Path) -> dict:
    """``manifest.json`` of a run folder ({} if absent or unreadable)."""
    path = Path(run_dir) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _text_field(manifest: dict, key: str) -> str:
    """A text field of a run manifest: top level, else under ``scenario`` (if a dict) or
    ``scenario_details``; ``rationale`` is finally read from the scenario file named there."""
    v = manifest.get(key)
    for nested in ("scenario", "scenario_details"):
        if not v and isinstance(manifest.get(nested), dict):
            v = manifest[nested].get(key)
    if not v and key == "rationale":
        v = _from_scenario_file(manifest, key)
    return " ".join(str(v).split()) if v else ""


def _from_scenario_file(manifest: dict, key: str) -> str:
    """``key`` read from the scenario TOML the manifest points to ("" if it cannot be read)."""
    import tomllib

    details = manifest.get("scenario_details") or {}
    candidates = [details.get("path") if isinstance(details, dict) else None]
    if manifest.get("scenario_file"):
        candidates.append(Path(__file__).resolve().parents[1] / "scenarios" / manifest["scenario_file"])
    for c in candidates:
        try:
            with Path(c).open("rb") as fh:
                return str(tomllib.load(fh).get(key, "") or "")
        except (OSError, TypeError, ValueError):
            continue
    return ""


def _levers(manifest: dict) -> dict:
    details = manifest.get("scenario_details")
    return dict(details.get("levers") or {}) if isinstance(details, dict) else {}


def _fmt_lever(v) -> str:
    if isinstance(v, dict) and "years" in v and "values" in v:
        pts = ", ".join(f"{y}: {x:g}" for y, x in zip(v["years"], v["values"]))
        return f"schedule ({pts})"
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def lever_summary(manifest: dict, baseline_manifest: dict) -> str:
    """"name = value" for the levers the scenario sets to other values than the baseline does."""
    mine, base = _levers(manifest), _levers(baseline_manifest)
    changed = {k: v for k, v in mine.items() if base.get(k) != v}
    return "; ".join(f"{k} = {_fmt_lever(v)}" for k, v in changed.items())


def load_results(result_dirs: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict]]:
    """``(regions, flows, manifests)`` of all run folders; manifests keyed by scenario name."""
    dirs = find_run_dirs(result_dirs)
    if not dirs:
        raise ValueError(f"no run folders (with regions.parquet) among {[str(p) for p in result_dirs]}")
    regs, flws, manifests, origin = [], [], {}, {}
    for d in dirs:
        r, f = read_run(d)
        for s in map(str, r["scenario"].unique()):
            if s in origin:
                raise ValueError(f"scenario '{s}' appears in both {origin[s]} and {d}; compare one run of each")
            origin[s] = d
            manifests[s] = read_manifest(d)
        regs.append(r)
        flws.append(f)
    return pd.concat(regs, ignore_index=True), pd.concat(flws, ignore_index=True), manifests


# ----------------------------------------------------------------------------- figures

def _colours(alternatives: list[str]) -> dict[str, str]:
    return {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(alternatives)}


def plot_fans(regions: pd.DataFrame, metric: str, baseline: str, alternatives: list[str],
              colours: dict[str, str], path: Path) -> Path:
    """One row per alternative scenario, one column per region: its fan over the baseline's fan."""
    title, unit = METRICS[metric]
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


# ----------------------------------------------------------------------------- report

HOW_TO_READ = f"""
<p><b>How to read this report.</b> Each scenario was simulated several times with different random
seeds; every scenario uses the <i>same</i> seeds, so differences between scenarios come from the
policy, not from luck (common random numbers). Money is in billion yuan per year (bn yuan), firm
counts are numbers of firms, at real-world scale.</p>
<ul>
<li><b>Fan charts</b>: the line is the median across seeds, the dark band holds the middle 50% of
seeds and the light band 90% (5th&ndash;95th percentile). The baseline is grey and dashed.</li>
<li><b>Effect chart and table</b>: for each seed we subtract the baseline from the scenario; the dot
is the mean of these paired differences and the bar its {LEVEL:.0%} confidence interval. A hollow dot
(or <code>straddles_zero = True</code>) means the effect cannot be told apart from seed noise with
this many seeds. The columns <code>seed_p05</code>/<code>seed_p95</code> show how much the effect
itself varies from seed to seed.</li>
<li><b>Flow matrices</b>: rows are the region where the seller (lab or firm) is, columns where the
buyer is; cells are the value of registered technology contracts (mean across seeds). The last
panel shows the change against the baseline.</li>
<li>These are model projections under stated assumptions, not forecasts: read the direction and
rough size of effects, and their uncertainty, rather than single numbers.</li>
</ul>
"""

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;max-width:1250px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right} th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.scen{border-left:5px solid #999;padding:.2em 1em;margin:.8em 0;background:#fafafa}
.note{color:#555;font-size:.9em}
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _fmt(v: float, unit: str) -> str:
    if not np.isfinite(v):
        return "n/a"
    if unit == "firms" or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.1f}" if abs(v) >= 10 else f"{v:,.2f}"


def outcome_table_html(table: pd.DataFrame, scenarios: list[str]) -> str:
    """One HTML table per year: rows outcomes, columns scenarios, cells 'median [lo - hi]'."""
    parts = []
    for y in sorted(table["year"].unique()):
        t = table[table["year"] == y]
        cell = t.assign(cell=[f"{_fmt(m, u)} [{_fmt(lo, u)} \u2013 {_fmt(hi, u)}]"
                              for m, lo, hi, u in zip(t["median"], t["lo"], t["hi"], t["unit"])],
                        row=t["label"] + " (" + t["unit"] + ")")
        wide = cell.pivot(index="row", columns="scenario", values="cell")
        wide = wide.reindex(index=list(dict.fromkeys(cell["row"])),
                            columns=[s for s in scenarios if s in wide.columns])
        wide.index.name = f"{y}: median [{LEVEL:.0%} range across seeds]"
        wide.columns.name = None
        parts.append(wide.to_html(escape=True, na_rep="n/a"))
    return "\n".join(parts)


def diff_table_html(diffs: pd.DataFrame, outcomes: list[Outcome]) -> str:
    """Paired differences of ``outcomes``, one HTML table per year: rows outcomes, columns scenarios.

    Cells read "effect [90% CI] (% of baseline)"; effects whose interval includes 0 are grey.
    """
    info = {oc.name: oc for oc in outcomes}
    d = diffs[diffs["outcome"].isin(info)]
    if d.empty:
        return "<p>No paired differences (no scenario besides the baseline).</p>"
    scenarios = list(dict.fromkeys(d["scenario"]))
    parts = []
    for y in sorted(d["year"].unique()):
        dy = d[d["year"] == y].set_index(["outcome", "scenario"])
        head = "".join(f"<th>{html.escape(s)}</th>" for s in scenarios)
        rows = []
        for oc in outcomes:
            cells = []
            for s in scenarios:
                if (oc.name, s) not in dy.index:
                    cells.append("<td>n/a</td>")
                    continue
                r = dy.loc[(oc.name, s)]
                pct = f" ({r['rel_diff_pct']:+.1f}%)" if np.isfinite(r["rel_diff_pct"]) else ""
                text = (f"{fmt_bn(r['mean_diff'], True) if oc.unit != 'firms' else _signed_int(r['mean_diff'])} "
                        f"[{_fmt(r['lo'], oc.unit)} \u2013 {_fmt(r['hi'], oc.unit)}]{pct}")
                style = " style='color:#999'" if r["straddles_zero"] else " style='font-weight:600'"
                cells.append(f"<td{style}>{html.escape(text)}</td>")
            rows.append(f"<tr><td>{html.escape(oc.label)} ({oc.unit})</td>{''.join(cells)}</tr>")
        parts.append(f"<table><thead><tr><th>{y}: effect vs baseline [{LEVEL:.0%} CI] (% of baseline)</th>"
                     f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    parts.append("<p class='note'>Bold: the interval excludes 0 (a clear effect); grey: it includes 0.</p>")
    return "\n".join(parts)


def _signed_int(v: float) -> str:
    return "n/a" if not np.isfinite(v) else ("0" if round(v) == 0 else f"{v:+,.0f}")


def headline(diffs: pd.DataFrame, scenario: str, outcomes: list[Outcome], k: int = 3) -> str:
    """One sentence: the ``k`` largest clear relative effects of a scenario in its last year."""
    info = {oc.name: oc for oc in outcomes}
    d = diffs[(diffs["scenario"] == scenario) & diffs["outcome"].isin(info)]
    if d.empty:
        return ""
    d = d[d["year"] == d["year"].max()]
    clear = d[~d["straddles_zero"] & np.isfinite(d["rel_diff_pct"])]
    year = int(d["year"].max())
    if clear.empty:
        return f"In {year} no charted outcome differs clearly from the baseline."
    top = clear.reindex(clear["rel_diff_pct"].abs().sort_values(ascending=False).index).head(k)
    items = [f"{info[o].label.replace(': ', ' ')} {r:+.1f}%" for o, r in zip(top["outcome"], top["rel_diff_pct"])]
    return f"Largest clear effects in {year} against the baseline: " + "; ".join(items) + "."


def write_report(out: Path, baseline: str, scenarios: list[str], manifests: dict[str, dict],
                 colours: dict[str, str], seeds: dict[str, int], figures: dict[str, list[tuple[Path, str]]],
                 outcome_html: str, diff_html: str, diffs: pd.DataFrame, outcomes: list[Outcome],
                 notes: list[str]) -> Path:
    """Write the self-contained ``report.html`` (figures embedded as base64 PNG)."""
    h = ["<!doctype html><html><head><meta charset='utf-8'>",
         "<title>Scenario comparison: technology transfer in Beijing-Tianjin-Hebei</title>",
         f"<style>{CSS}</style></head><body>",
         "<h1>Scenario comparison: technology transfer in Beijing&ndash;Tianjin&ndash;Hebei</h1>",
         f"<p class='note'>Generated {datetime.now():%Y-%m-%d %H:%M}. Baseline: <b>{html.escape(baseline)}</b>. "
         f"Scenarios: {len(scenarios)}.</p>", HOW_TO_READ]
    h += [f"<p class='note'>Note: {html.escape(n)}</p>" for n in notes]
    h.append("<h2>Scenarios</h2>")
    for s in scenarios:
        m = manifests.get(s, {})
        desc = _text_field(m, "description") or f"Scenario \u201c{s}\u201d (no description in its manifest)."
        why = _text_field(m, "rationale")
        colour = BASELINE_COLOUR if s == baseline else colours[s]
        h.append(f"<div class='scen' style='border-left-color:{colour}'><h3>{html.escape(s)}"
                 f"{' (baseline)' if s == baseline else ''}</h3><p>{html.escape(desc)}</p>")
        if why:
            h.append(f"<p><i>Rationale:</i> {html.escape(why)}</p>")
        if s != baseline:
            levers = lever_summary(m, manifests.get(baseline, {}))
            if levers:
                h.append(f"<p><i>Levers changed from the baseline:</i> <code>{html.escape(levers)}</code></p>")
            h.append(f"<p><b>{html.escape(headline(diffs, s, outcomes))}</b></p>")
        settings = [f"{seeds.get(s, 0)} seeds"]
        settings += [f"{k} {m[k]}" for k in ("scale", "until") if k in m]
        if m.get("complete") is False:
            settings.append("INCOMPLETE: some seeds failed")
        h.append(f"<p class='note'>{', '.join(settings)}.</p></div>")
    sections = [("effects", "Effects against the baseline"), ("fans", "Regional indicators over time"),
                ("od", "Who sells technology to whom")]
    for key, title in sections:
        h.append(f"<h2>{title}</h2>")
        if key == "effects":
            h += [_img(p, a) for p, a in figures.get(key, [])]
            h.append(diff_html)
            h.append("<p class='note'>All outcomes: <code>paired_differences.csv</code>.</p>")
            h.append("<h2>Outcomes by scenario</h2>" + outcome_html)
            continue
        h += [_img(p, a) for p, a in figures.get(key, [])]
    h.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(h), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- entry point

def compare(result_dirs: list[Path], out: Path, baseline: str = "baseline") -> Path:
    """Compare the run folders ``result_dirs`` against ``baseline``; return ``out/report.html``.

    Writes into ``out``: ``fan_<metric>.png`` (per key metric), ``paired_differences.png`` and
    ``.csv`` (effects in 2030 and 2035 with 90% intervals), ``od_<scenario>.png`` (flow matrices
    for 2030 and 2035, bn yuan), ``outcomes.csv``/``.html`` (median and 90% range across seeds),
    and ``report.html`` embedding all of them.  Years missing from the results are replaced by
    the last simulated year.
    """
    out = Path(out)
    regions, flows, manifests = load_results(result_dirs)
    _check_baseline(regions["scenario"].unique(), baseline)
    out.mkdir(parents=True, exist_ok=True)
    scenarios = [baseline] + sorted(s for s in map(str, regions["scenario"].unique()) if s != baseline)
    alternatives = scenarios[1:]
    colours = _colours(alternatives)
    seeds = regions.groupby("scenario")["seed"].nunique().to_dict()
    notes = []
    seed_sets = regions.groupby("scenario")["seed"].apply(lambda s: frozenset(s.unique()))
    if len(set(seed_sets)) > 1:
        notes.append("scenarios were run with different seeds; effects use only the seeds each shares "
                     "with the baseline.")

    if min(seeds.values()) < 2:
        notes.append("some scenarios have a single seed: no uncertainty bands or confidence intervals "
                     "can be computed; run more seeds.")
    present = sorted(int(y) for y in regions["year"].unique())
    years = [y for y in YEARS if y in present] or present[-1:]
    if list(years) != list(YEARS):
        notes.append(f"results cover {present[0]}-{present[-1]}; compared year(s): {years}.")

    vals = outcome_values(regions, flows, TABLE_OUTCOMES)
    table = outcome_table(vals, years)
    table.to_csv(out / "outcomes.csv", index=False)
    outcome_html = outcome_table_html(table, scenarios)
    (out / "outcomes.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style></head><body>"
        f"<h1>Outcomes by scenario</h1>{outcome_html}</body></html>", encoding="utf-8")

    diffs = paired_differences(regions, flows, baseline, years=years)
    diffs.to_csv(out / "paired_differences.csv", index=False)
    chart_oc = [oc for oc in TABLE_OUTCOMES if oc.name in CHART_OUTCOMES and oc.name in set(diffs["outcome"])]
    chart_oc.sort(key=lambda oc: CHART_OUTCOMES.index(oc.name))

    figures: dict[str, list[tuple[Path, str]]] = {"effects": [], "fans": [], "od": []}
    if alternatives and chart_oc:
        p = plot_paired_differences(diffs, chart_oc, colours, baseline, out / "paired_differences.png")
        figures["effects"].append((p, "effects against the baseline"))
    for metric in KEY_METRICS:
        if metric in set(regions["metric"]):
            p = plot_fans(regions, metric, baseline, alternatives, colours, out / f"fan_{metric}.png")
            figures["fans"].append((p, f"fan chart {metric}"))
    if len(flows):
        norm = log_norm_for(*[od_mean(flows[flows["scenario"] == s], y) for s in scenarios for y in years])
        for s in scenarios:
            p = plot_od_scenario(flows, s, baseline, years, norm, out / f"od_{_safe(s)}.png")
            figures["od"].append((p, f"flow matrices {s}"))
    return write_report(out, baseline, scenarios, manifests, colours, seeds, figures, outcome_html,
                        diff_table_html(diffs, chart_oc), diffs, chart_oc, notes)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
