"""Friction sweep: how Beijing->Hebei contracts and Hebei's transformed output respond to the
lever ``transfer_friction`` (multiplier on the boundary cost between Beijing, Tianjin and Hebei;
1 = the 2020-2025 level, 0 = no administrative boundary, 2 = twice the 2020-2025 cost).

    python -m experiments.study_friction_sweep --out DIR [--values 0 0.25 ... 2.5] [--seeds 5]
                                               [--scale 0.05] [--year 2030] [--start 2026]

The default grid has 8 values from 0 to 2.5, denser below 1 where the boundary cost
exp(-cost * friction) changes fastest, and includes 1 (the 2020-2025 level).

Each friction value is a copy of the baseline whose friction moves from 1.0 in ``start - 1`` to
the value in ``start`` (so the calibrated 2020-2025 period is untouched) and stays there.  Every
value is run with the same seeds (common random numbers), so slopes are computed seed by seed.
Writes into DIR: ``friction_sweep.png``, ``sweep_values.csv`` (friction, seed, outcome, value),
``sweep_stats.csv`` (quantiles across seeds), ``sweep_slopes.csv`` (change per unit of friction,
with 90% confidence intervals) and ``summary.md``.  Money in bn yuan per year, real-world scale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from scipy import stats  # noqa: E402

from experiments.api import load_scenario, run_ensemble, scenario_with  # noqa: E402
from experiments.effects import LEVEL  # noqa: E402
from experiments.outcomes import flow_outcome, outcome_values, region_outcome  # noqa: E402
from experiments.plots import DPI, QUANTILES, Q_COLS, finish  # noqa: E402
from model import Schedule  # noqa: E402
from model.years import CALIBRATION_LAST_YEAR, FIRST_YEAR  # noqa: E402

DEFAULT_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5)
OUTCOMES = (flow_outcome("Beijing", ("Hebei",)), region_outcome("Hebei", "transformed_output_bn"))
COLOURS = ("#c0392b", "#1e8449")


def friction_scenarios(base, values, start: int) -> dict[str, float]:
    """Copies of ``base`` with friction 1.0 up to ``start - 1`` and ``v`` from ``start``; name -> v."""
    out = {}
    for v in values:
        lever = Schedule((start - 1, start), (1.0, float(v))) if start > FIRST_YEAR else float(v)
        out[f"friction-{v:.3f}"] = scenario_with(base, name=f"friction-{v:.3f}", transfer_friction=lever)
    return out


def sweep_values(regions: pd.DataFrame, flows: pd.DataFrame, friction: dict[str, float], year: int) -> pd.DataFrame:
    """friction, seed, outcome, value (bn yuan per year) in ``year``."""
    vals = outcome_values(regions, flows, OUTCOMES)
    vals = vals[vals["year"] == year].copy()
    vals["friction"] = vals["scenario"].map(friction)
    return vals[["friction", "seed", "outcome", "value"]].sort_values(["outcome", "friction", "seed"])


def sweep_stats(vals: pd.DataFrame) -> pd.DataFrame:
    """outcome, friction, mean, q05..q95, n: the distribution across seeds at each friction value."""
    g = vals.groupby(["outcome", "friction"])["value"]
    q = g.quantile(list(QUANTILES)).unstack(-1)
    q.columns = list(Q_COLS)
    q["mean"], q["n"] = g.mean(), g.size()
    return q.reset_index()


def sweep_slopes(vals: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Slope between consecutive friction values, per seed, then mean and paired-t interval.

    Columns: outcome, f_lo, f_hi, f_mid, slope (bn yuan per year per unit of friction, mean over
    seeds), lo, hi (``level`` confidence interval), n.
    """
    rows = []
    for outcome, d in vals.groupby("outcome"):
        wide = d.pivot(index="seed", columns="friction", values="value").dropna()
        f = wide.columns.to_numpy(dtype=float)
        s = np.diff(wide.to_numpy(), axis=1) / np.diff(f)
        n = s.shape[0]
        mean = s.mean(axis=0)
        half = (stats.t.ppf(1 - (1 - level) / 2, n - 1) * s.std(axis=0, ddof=1) / np.sqrt(n)
                if n > 1 else np.full_like(mean, np.nan))
        for k in range(len(mean)):
            rows.append((outcome, f[k], f[k + 1], (f[k] + f[k + 1]) / 2, mean[k], mean[k] - half[k],
                         mean[k] + half[k], n))
    return pd.DataFrame(rows, columns=["outcome", "f_lo", "f_hi", "f_mid", "slope", "lo", "hi", "n"])


def overall_slopes(vals: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Least-squares slope of value on friction over the whole sweep, fitted per seed, then the
    mean over seeds with a paired-t interval: outcome, slope, lo, hi, n (bn yuan per unit)."""
    rows = []
    for outcome, d in vals.groupby("outcome"):
        per_seed = [np.polyfit(g["friction"], g["value"], 1)[0] for _, g in d.groupby("seed") if len(g) > 1]
        b = np.asarray(per_seed)
        n = len(b)
        half = stats.t.ppf(1 - (1 - level) / 2, n - 1) * b.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        rows.append((outcome, b.mean(), b.mean() - half, b.mean() + half, n))
    return pd.DataFrame(rows, columns=["outcome", "slope", "lo", "hi", "n"])


def plot_sweep(st: pd.DataFrame, sl: pd.DataFrame, ov: pd.DataFrame, year: int, n_seeds: int, start: int,
               path: Path) -> Path:
    """Top: each outcome against friction with seed bands; bottom: its slope with 90% intervals
    between neighbouring values, and the overall least-squares slope as a dashed line."""
    fig, axes = plt.subplots(2, len(OUTCOMES), figsize=(13, 8.5), sharex=True, layout="constrained",
                             squeeze=False)
    for j, (oc, colour) in enumerate(zip(OUTCOMES, COLOURS)):
        q = st[st["outcome"] == oc.name].sort_values("friction")
        ax = axes[0, j]
        ax.fill_between(q["friction"], q["q05"], q["q95"], color=colour, alpha=0.13, lw=0)
        ax.fill_between(q["friction"], q["q25"], q["q75"], color=colour, alpha=0.30, lw=0)
        ax.plot(q["friction"], q["q50"], "o-", color=colour, lw=2, ms=5)
        ax.set_title(f"{oc.label}, {year}", fontsize=11)
        ax.set_ylabel(f"{oc.unit} per year")
        ax.set_ylim(bottom=0)
        s = sl[sl["outcome"] == oc.name]
        ax = axes[1, j]
        ax.errorbar(s["f_mid"], s["slope"], yerr=[s["slope"] - s["lo"], s["hi"] - s["slope"]], fmt="s",
                    color=colour, ms=6, capsize=4, lw=1.6)
        ax.axhline(0, color="black", lw=0.8)
        o = ov[ov["outcome"] == oc.name]
        if len(o):
            ax.axhline(o["slope"].iloc[0], color=colour, ls=":", lw=1.5)
        overall = f"; overall {ov.loc[ov['outcome'] == oc.name, 'slope'].iloc[0]:+.1f}" if (
            ov["outcome"] == oc.name).any() else ""
        ax.set_title(f"Slope between neighbouring friction values{overall}\n"
                     "(below 0 = falls as friction rises)", fontsize=10.5)
        ax.set_ylabel(f"{oc.unit} per year per unit of friction")
        ax.set_xlabel("transfer_friction (1 = 2020-2025 boundary cost, 0 = none)")
        for a in axes[:, j]:
            a.axvline(1.0, color="grey", ls="--", lw=1)
            a.grid(alpha=0.3)
        axes[0, j].text(1.0, 0.02, " 2020-25 level", transform=axes[0, j].get_xaxis_transform(),
                        fontsize=8.5, color="grey")
    handles = [Line2D([], [], color="#555555", marker="o", lw=2, ms=5, label="median across seeds"),
               Patch(color="#555555", alpha=0.45, label="middle 50% of seeds"),
               Patch(color="#555555", alpha=0.15, label="90% of seeds"),
               Line2D([], [], color="#555555", marker="s", lw=1.6, ls="none", label="slope (mean over seeds)"),
               Line2D([], [], color="#555555", lw=1.6, label=f"{LEVEL:.0%} confidence interval"),
               Line2D([], [], color="#555555", lw=1.5, ls=":", label="overall least-squares slope")]
    finish(fig, f"Friction sweep on the baseline: response in {year} (friction applies from {start})",
           f"{n_seeds} seeds per friction value, the same seeds for every value. Top: median and bands "
           f"across seeds. Bottom: mean slope over seeds with its {LEVEL:.0%} paired-t confidence interval.",
           handles, ncol=6)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def summary_text(st: pd.DataFrame, sl: pd.DataFrame, ov: pd.DataFrame, year: int, settings: dict) -> str:
    """Markdown: level across the sweep, the overall slope, and where each outcome responds most."""
    grid = ", ".join(f"{v:g}" for v in settings["values"])
    md = ["# Friction sweep: Beijing -> Hebei transfer and Hebei's transformed output", "",
          f"Settings: transfer_friction in {{{grid}}}, applied from {settings['start']} (1.0 before); "
          f"{settings['seeds']} seeds per value (the same seeds for every value), scale {settings['scale']}; "
          f"outcomes in {year}, bn yuan per year at real-world scale. Friction 1 is the 2020-2025 "
          "boundary cost; slopes are per unit of friction with 90% paired-t confidence intervals.", "",
          "![friction sweep](friction_sweep.png)", ""]
    for oc in OUTCOMES:
        q = st[st["outcome"] == oc.name].sort_values("friction")
        s = sl[sl["outcome"] == oc.name]
        o = ov[ov["outcome"] == oc.name]
        if q.empty or s.empty:
            continue
        at = dict(zip(q["friction"], q["mean"]))
        ref = min(at, key=lambda f: abs(f - 1.0))
        first, last = q.iloc[0], q.iloc[-1]
        clear = s[(s["lo"] > 0) | (s["hi"] < 0)]
        pool = clear if len(clear) else s
        steep = pool.loc[pool["slope"].abs().idxmax()]
        pct = (f"; a +0.1 step there moves it by about {steep['slope'] / 10:+.1f} bn yuan, "
               f"{10 * steep['slope'] / at[ref]:+.0f}% of its level at friction {ref:g}" if at[ref] else "")
        md += [f"## {oc.label}", ""]
        change = (f" ({100 * (last['mean'] - first['mean']) / first['mean']:+.0f}% across the sweep)"
                  if first["mean"] else "")
        md.append(f"* Mean over seeds: {first['mean']:.1f} bn yuan at friction {first['friction']:g}, "
                  f"{at[ref]:.1f} at {ref:g}, {last['mean']:.1f} at {last['friction']:g}{change}.")
        if len(o):
            r = o.iloc[0]
            md.append(f"* Overall least-squares slope: {r['slope']:+.1f} bn yuan per unit of friction "
                      f"(90% CI {r['lo']:+.1f} to {r['hi']:+.1f}).")
        if len(clear):
            md.append(f"* Responds most between friction {steep['f_lo']:g} and {steep['f_hi']:g}: "
                      f"{steep['slope']:+.1f} bn yuan per unit of friction "
                      f"(90% CI {steep['lo']:+.1f} to {steep['hi']:+.1f}){pct}.")
            md.append(f"* Slope distinguishable from zero in {len(clear)} of {len(s)} intervals: "
                      + ", ".join(f"{a:g}-{b:g}" for a, b in zip(clear["f_lo"], clear["f_hi"])) + ".")
        else:
            md.append(f"* No interval has a slope distinguishable from zero with {settings['seeds']} seeds; "
                      f"the steepest mean slope is {steep['slope']:+.1f} between {steep['f_lo']:g} and "
                      f"{steep['f_hi']:g} (90% CI {steep['lo']:+.1f} to {steep['hi']:+.1f}). More seeds "
                      "would be needed to locate the response.")
        md.append("")
    md += ["Tables: `sweep_values.csv` (every seed), `sweep_stats.csv` (quantiles), `sweep_slopes.csv` "
           "(between neighbouring values), `sweep_overall.csv` (least-squares slope)."]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.study_friction_sweep",
                                description="Sweep transfer_friction on the baseline.")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--values", type=float, nargs="+", default=list(DEFAULT_VALUES),
                   help=f"friction values (default {' '.join(f'{v:g}' for v in DEFAULT_VALUES)})")
    p.add_argument("--seeds", type=int, default=5, help="seeds per value (default 5)")
    p.add_argument("--scale", type=float, default=0.05, help="fraction of real firms simulated (default 0.05)")
    p.add_argument("--year", type=int, default=2030, help="year of the outcomes (default 2030)")
    p.add_argument("--start", type=int, default=CALIBRATION_LAST_YEAR + 1,
                   help=f"first year at the new friction (default {CALIBRATION_LAST_YEAR + 1})")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs)")
    args = p.parse_args(argv)
    values = sorted(set(args.values))
    if len(values) < 2 or values[0] < 0:
        p.error("need at least two distinct friction values >= 0")
    args.out.mkdir(parents=True, exist_ok=True)

    scenarios = friction_scenarios(load_scenario("baseline"), values, args.start)
    friction = dict(zip(scenarios, map(float, values)))
    res = run_ensemble(list(scenarios.values()), seeds=args.seeds, scale=args.scale, until=args.year,
                       workers=args.workers)
    vals = sweep_values(res.regions, res.flows, friction, args.year)
    st, sl, ov = sweep_stats(vals), sweep_slopes(vals), overall_slopes(vals)
    vals.to_csv(args.out / "sweep_values.csv", index=False)
    st.to_csv(args.out / "sweep_stats.csv", index=False)
    sl.to_csv(args.out / "sweep_slopes.csv", index=False)
    ov.to_csv(args.out / "sweep_overall.csv", index=False)
    plot_sweep(st, sl, ov, args.year, args.seeds, args.start, args.out / "friction_sweep.png")
    settings = {"values": values, "seeds": args.seeds, "scale": args.scale, "start": args.start}
    (args.out / "summary.md").write_text(summary_text(st, sl, ov, args.year, settings), encoding="utf-8")
    print(args.out / "summary.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
