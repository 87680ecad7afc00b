"""Outputs of a calibration: calibrated.toml, the fit report (fit.csv, fit.md, fit.png) and profiles.png."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from calibration.loss import deviation, passes
from calibration.search import PROFILE_DELTA, Profile
from calibration.space import FIXED, Space, round_sig
from calibration.targets import COMPARED_KINDS, Target
from model.metrics import METRICS
from model.years import FIRST_YEAR

REPORT_DIR = Path(__file__).with_name("report")


# ------------------------------------------------------------------ fit table


def fit_table(targets: Sequence[Target], calib_runs: Sequence[Mapping[str, float]],
              all_runs: Sequence[Mapping[str, float]], heldout_runs: Sequence[Mapping[str, float]],
              mc: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per target: target, tolerance band, simulated mean (calibration seeds), 90% interval
    over all report runs, held-out mean, normalised deviation z (tolerance only) and verdict, and
    the loss's view: Monte Carlo error ``mc``, z with the effective tolerance and weight x z^2.

    For an inequality the simulated columns hold left - right (it holds if > 0)."""
    mc = mc or {}
    calib_mean = _mean(calib_runs)
    held_mean = _mean(heldout_runs) if heldout_runs else {}
    rows = []
    for t in targets:
        row = dict(target=t.name, kind=t.kind, compared=t.description, year=t.year, unit=t.unit,
                   value=t.value, tolerance=t.tolerance if t.compared else np.nan, weight=t.weight,
                   band_lo=np.nan, band_hi=np.nan, sim_mean=np.nan, sim_p05=np.nan, sim_p95=np.nan,
                   heldout_mean=np.nan, z=np.nan, verdict="", heldout_verdict="", mc=np.nan, z_loss=np.nan,
                   loss_term=np.nan, ref_mean=np.nan, source=t.provenance_kind)
        if t.kind == "point":
            row.update(band_lo=t.value * (1 - t.tolerance), band_hi=t.value * (1 + t.tolerance))
        elif t.kind == "band":
            row.update(band_lo=t.value, band_hi=t.upper)
        elif t.kind == "lower":
            row.update(band_lo=t.value, band_hi=np.inf)
        elif t.kind == "upper":
            row.update(band_lo=-np.inf, band_hi=t.value)
        elif t.kind == "greater":
            row.update(value=0.0, band_lo=0.0, band_hi=np.inf, ref_mean=calib_mean[t.right.key])
        if t.compared:
            per_run = np.array([_sim(t, r) for r in all_runs])
            row.update(sim_mean=_sim(t, calib_mean), sim_p05=float(np.percentile(per_run, 5)),
                       sim_p95=float(np.percentile(per_run, 95)), z=deviation(t, calib_mean),
                       verdict="pass" if passes(t, calib_mean) else "FAIL", mc=mc.get(t.name, 0.0))
            z_loss = deviation(t, calib_mean, mc.get(t.name, 0.0))
            row.update(z_loss=z_loss, loss_term=t.weight * z_loss**2)
            if held_mean:
                row.update(heldout_mean=_sim(t, held_mean),
                           heldout_verdict="pass" if passes(t, held_mean) else "FAIL")
        else:
            row["verdict"] = "by construction" if t.kind == "input" else "not compared"
        rows.append(row)
    return pd.DataFrame(rows)


def _mean(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def _sim(t: Target, values: Mapping[str, float]) -> float:
    if t.kind == "greater":
        return values[t.left.key] - values[t.right.key]
    return values[t.output.key]


def write_fit(table: pd.DataFrame, targets: Sequence[Target], out_dir: Path, meta: Mapping[str, object],
              params: pd.DataFrame | None = None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "fit.csv", index=False, float_format="%.6g")
    (out_dir / "fit.md").write_text(fit_markdown(table, targets, meta, params), encoding="utf-8")
    fit_plot(table, out_dir / "fit.png", meta, targets)


def format_number(v: float) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    return f"{v:.3g}" if a < 10 else f"{v:.2f}"


def fit_markdown(table: pd.DataFrame, targets: Sequence[Target], meta: Mapping[str, object],
                 params: pd.DataFrame | None = None) -> str:
    by_name = {t.name: t for t in targets}
    cmp_ = table[table.kind.isin(COMPARED_KINDS)]
    n_pass = int((cmp_.verdict == "pass").sum())
    lines = [
        "# Calibration fit",
        "",
        f"Loss {meta['loss']:.4g} at the optimum; {n_pass} of {len(cmp_)} compared targets pass "
        f"({meta.get('heldout_targets_passed', '?')} on the held-out seeds) "
        f"(ensemble mean over the {len(meta['seeds'])} calibration seeds {list(meta['seeds'])}, scale {meta['scale']}). "
        f"The 90% interval is the 5th-95th percentile over {meta['report_runs']} runs (the calibration seeds and "
        f"{meta['report_runs'] - len(meta['seeds'])} held-out seeds); 'held-out' is the mean over the held-out seeds alone.",
        "",
        "Point targets pass within the tolerance; 'over N' targets pass if the mean exceeds N; for an inequality the "
        "simulated columns show left - right, which must be positive. z is the normalised deviation "
        "(relative error / tolerance; |z| <= 1 passes). 'MC error' is the Monte Carlo standard error of the "
        "calibration-seed mean relative to the target, estimated from extra runs; the loss divides by "
        "sqrt(tolerance^2 + MC error^2) and sums weight x z^2 ('loss term'), so that simulation noise does not "
        "dominate the fit. A target whose MC error exceeds its tolerance cannot be pinned down at this scale and "
        "number of seeds: its held-out verdict is then as much chance as fit.",
        "",
        "| target | compared | target value | tolerance | simulated mean | 90% interval | held-out mean | z | verdict | held-out | MC error | loss term |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in cmp_.iterrows():
        value, tol = target_cells(r)
        lines.append(
            f"| {r.target} | {r.compared} | {value} | {tol} | {format_number(r.sim_mean)} | {format_number(r.sim_p05)} – {format_number(r.sim_p95)} "
            f"| {format_number(r.heldout_mean)} | {r.z:+.2f} | **{r.verdict}** | {r.heldout_verdict} | ±{r.mc:.0%} | {r.loss_term:.2f} |")
    if params is not None:
        lines += ["", "## Free parameters", "",
                  "90% interval: profile-likelihood interval in the Gauss-Newton approximation (loss within 2.71 of "
                  "its minimum, the other parameters re-optimised in the linearised model); 'box edge' marks an "
                  "interval cut by the search box. 'Alone' is the interval with the other parameters held at the "
                  "optimum: a parameter with a narrow 'alone' but a wide 90% interval is pinned down only in "
                  "combination with others. A parameter calibrated onto a box edge keeps its 'alone' interval. "
                  "Identified = 90% interval closed on at least one side and under half of the box (in search "
                  "coordinates).", "",
                  "| parameter | prior | calibrated | 90% interval | alone (others fixed) | search box | identified | identified by |",
                  "|---|---|---|---|---|---|---|---|"]
        for _, r in params.iterrows():
            lo = format_number(r.lo) + (" (box edge)" if r.lo_at_box_edge else "")
            hi = format_number(r.hi) + (" (box edge)" if r.hi_at_box_edge else "")
            lines.append(f"| {r.parameter} | {format_number(r.prior)} | {format_number(r.value)} | {lo} – {hi} | "
                         f"{format_number(r.alone_lo)} – {format_number(r.alone_hi)} | "
                         f"{format_number(r.box_lo)} – {format_number(r.box_hi)} ({r.search_scale}) | {'yes' if r.identified else 'no'} "
                         f"| {r.identified_by} |")
    if meta.get("trace"):
        lines += ["", "## Search trace", ""] + [f"* {t}" for t in meta["trace"]]
    lines += ["", "## Figures satisfied by construction or not compared", ""]
    for _, r in table[~table.kind.isin(COMPARED_KINDS)].iterrows():
        t = by_name[r.target]
        lines.append(f"* **{r.target}** ({format_number(r.value)} {r.unit}): {r.verdict}. {t.note}")
    lines.append("")
    return "\n".join(lines)


METRIC_LABELS = {name: m.label for name, m in METRICS.items()}  # the catalogue's short labels (model/metrics.py)


BOUND_LABELS = {"lower": "> value", "upper": "< value", "greater": "left > right"}  # point targets: ±tolerance


def target_cells(row) -> tuple[str, str]:
    """The 'target value' and 'tolerance' cells of a compared target's row of a fit table."""
    if row["kind"] == "band":
        return f"{format_number(row['band_lo'])} to {format_number(row['band_hi'])} {row['unit']}", "in band"
    value = "> 0" if row["kind"] == "greater" else f"{format_number(row['value'])} {row['unit']}"
    return value, BOUND_LABELS.get(row["kind"]) or f"±{row['tolerance']:.0%}"


def pretty(t: Target) -> str:
    """A short readable label of a compared target for plots."""
    def out(o) -> str:
        where = f"{o.origin}→{o.destination}" if o.is_flow else " + ".join(o.regions)
        return f"{where} {METRIC_LABELS.get(o.metric, o.metric)} {o.year}"
    if t.kind == "greater":
        return f"{out(t.left)} > {out(t.right)}"
    value = f"{t.value:,.2f}".rstrip("0").rstrip(".")
    if t.kind == "band":
        hi = f"{t.upper:,.2f}".rstrip("0").rstrip(".")
        return f"{out(t.output)} in [{value}, {hi}] {t.unit}"
    sign = {"lower": ">", "upper": "<"}.get(t.kind, "=")
    tol = f" ±{t.tolerance:.0%}" if t.kind == "point" else ""
    return f"{out(t.output)} {sign} {value} {t.unit}{tol}"


def fit_plot(table: pd.DataFrame, path: Path, meta: Mapping[str, object],
             targets: Sequence[Target] | None = None) -> None:
    """Each compared target as a row: simulated / target - 1 (%) against the tolerance band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    cmp_ = table[table.kind.isin(COMPARED_KINDS)].reset_index(drop=True)
    by_name = {t.name: t for t in targets or []}
    n = len(cmp_)
    fig, ax = plt.subplots(figsize=(11, 0.36 * n + 2.6))
    lim_lo, lim_hi = -100.0, 150.0
    labels = []
    for i, r in cmp_.iterrows():
        y = n - 1 - i
        if r.kind == "greater":  # (left - right) / right = left / right - 1
            v = r.ref_mean
            rel = lambda x: 100.0 * x / v  # noqa: E731
            lbl = pretty(by_name[r.target]) + " (left/right)" if r.target in by_name else f"{r.compared} (left/right)"
        else:
            v = r.value
            rel = lambda x: 100.0 * (x / v - 1.0)  # noqa: E731
            lbl = pretty(by_name[r.target]) if r.target in by_name else str(r.compared)
        labels.append(lbl)
        if r.kind in ("point", "band"):
            ax.axhspan(y - 0.4, y + 0.4, xmin=(rel(r.band_lo) - lim_lo) / (lim_hi - lim_lo),
                       xmax=(rel(r.band_hi) - lim_lo) / (lim_hi - lim_lo), color="#cfe8cf", zorder=0)
        elif r.kind == "upper":
            ax.axhspan(y - 0.4, y + 0.4, xmin=0, xmax=(0 - lim_lo) / (lim_hi - lim_lo), color="#cfe8cf", zorder=0)
        else:
            ax.axhspan(y - 0.4, y + 0.4, xmin=(0 - lim_lo) / (lim_hi - lim_lo), xmax=1, color="#cfe8cf", zorder=0)
        color = "tab:green" if r.verdict == "pass" else "tab:red"
        m, lo, hi = rel(r.sim_mean), rel(r.sim_p05), rel(r.sim_p95)
        ax.plot([np.clip(lo, lim_lo, lim_hi), np.clip(hi, lim_lo, lim_hi)], [y, y], color=color, lw=2, alpha=0.6, zorder=2)
        mc = float(np.clip(m, lim_lo, lim_hi))
        ax.plot([mc], [y], "o", color=color, ms=7, zorder=3)
        if np.isfinite(r.heldout_mean):
            ax.plot([np.clip(rel(r.heldout_mean), lim_lo, lim_hi)], [y], "x", color="black", ms=6, zorder=4)
        if m > lim_hi or m < lim_lo:
            ax.annotate(f"{m:+.0f}%", (mc, y), xytext=(-28 if m > lim_hi else 6, 6), textcoords="offset points", fontsize=8, color=color)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(n - 1, -1, -1))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlim(lim_lo, lim_hi)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("simulated / target − 1  (%)")
    n_pass = int((cmp_.verdict == "pass").sum())
    ax.set_title(f"Calibration fit {FIRST_YEAR}–{meta['until']}: {n_pass} of {n} targets pass (loss {meta['loss']:.3g})\n"
                 f"mean of {len(meta['seeds'])} calibration seeds at scale {meta['scale']};\n"
                 f"line: 90% interval of {meta['report_runs']} runs; bn yuan = billion yuan", fontsize=10)
    handles = [Patch(color="#cfe8cf", label="tolerance band / bound"),
               Line2D([], [], marker="o", color="tab:green", lw=2, alpha=0.8, label="pass: mean of calibration seeds (line: 90% interval of runs)"),
               Line2D([], [], marker="o", color="tab:red", lw=2, alpha=0.8, label="fail: mean of calibration seeds"),
               Line2D([], [], marker="x", color="black", lw=0, label="mean of held-out seeds")]
    height = 0.36 * n + 2.6
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout(rect=(0, 0.75 / height, 1, 1))
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def profile_plot(profiles: Sequence[Profile], space: Space, best_loss: float, path: Path) -> None:
    """One panel per free parameter: the sampled loss profile, the slice, and the 90% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(profiles)
    cols = 4
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows + 0.6), squeeze=False)
    by_name = {p.name: p for p in space.free}
    for ax, pr in zip(axes.ravel(), profiles):
        fp = by_name[pr.name]
        x = np.array([fp.value(u) for u in pr.grid])
        ax.plot(x, pr.loss - best_loss, "o-", ms=3, lw=1, label="sampled profile")
        ax.plot(x, pr.slice_loss - best_loss, ":", color="grey", lw=1, label="slice (others at optimum)")
        ax.axhline(PROFILE_DELTA, color="tab:red", lw=0.8, label="+2.71 (90% level)")
        if np.isfinite(pr.lo_u):
            ax.axvspan(fp.value(pr.lo_u), fp.value(pr.hi_u), color="tab:orange", alpha=0.25,
                       label="90% interval (Gauss-Newton profile)")
        ax.axvline(fp.value(pr.u_best), color="black", lw=0.8)
        if fp.scale == "log":
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        elif fp.scale == "cube":  # searched as lo + (hi - lo) u^3: show the search coordinate's spacing
            ax.set_xscale("function", functions=(np.cbrt, lambda v: np.power(v, 3)))
        ax.set_yscale("symlog", linthresh=3.0)
        ax.set_ylim(-1, None)
        axis_note = {"log": " (log axis)", "cube": " (cube-root axis)"}.get(fp.scale, "")
        ax.set_title(f"{pr.name} = {fp.value(pr.u_best):.3g}{axis_note}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[k:]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("loss − minimum", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"Loss profiles of the free parameters around the optimum (loss {best_loss:.3g}); "
                 "x: parameter value over its search box", fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


# ------------------------------------------------------------------ calibrated.toml


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(round_sig(float(v), 10))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")


def calibrated_toml(space: Space, best_values: Mapping[str, float], profiles: Sequence[Profile],
                    meta: Mapping[str, object], run: Mapping[str, object]) -> str:
    from calibration.search import identified

    prof = {p.name: p for p in profiles}
    lines = [
        "# Calibrated parameters, written by `bth calibrate` (calibration/cli.py) - do not edit by hand.",
        "# [parameters.NAME]: value = point estimate; lo, hi = 90% profile-loss interval (free parameters);",
        "# [fixed.NAME]: uncertain parameters kept at their priors (model/params.py), with the reason; not read",
        "# by calibration.defaults.calibrated_params(), so the model's prior applies.",
        "# Running `bth calibrate` again with the same settings reproduces this file except the [run] table.",
        "",
        "[meta]",
    ]
    for k, v in meta.items():
        lines.append(f"{k} = {_toml_value(v)}")
    for fp in space.free:
        p = prof.get(fp.name)
        lines += ["", f"[parameters.{fp.name}]", f"value = {_toml_value(best_values[fp.name])}"]
        if p is not None:
            lines += [f"lo = {_toml_value(fp.value(p.lo_u))}", f"hi = {_toml_value(fp.value(p.hi_u))}"]
        lines += ["free = true", f"box = {_toml_value(list(fp.box))}", f"search_scale = {_toml_value(fp.scale)}"]
        if p is not None:
            lines.append(f"identified = {_toml_value(identified(p))}")
    # Parameters kept at their priors go to [fixed], which calibrated_params() does not read: a later
    # change of a prior in model/params.py then takes effect instead of being overridden from here.
    from model import UNCERTAIN

    free_names = {fp.name for fp in space.free}
    for name in UNCERTAIN:
        if name in free_names:
            continue
        reason = FIXED.get(name, "a default free parameter left out of this run (--free)")
        lines += ["", f"[fixed.{name}]", f"prior = {_toml_value(space.base.at(name, FIRST_YEAR))}",
                  f"reason = {_toml_value(reason)}"]
    lines += ["", "# Not reproducible by design: when and from which checkout this file was written.", "[run]"]
    for k, v in run.items():
        lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"
