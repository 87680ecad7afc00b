"""``bth sensitivity``: global (Sobol) sensitivity of headline outcomes and scenario effects to the free parameters.

    bth sensitivity [--n 16] [--seeds 2] [--base-seed 0] [--scale 0.02] [--years 2030,2035]
                    [--free a,b,...] [--scenario baseline] [--effect-of no-coordination]
                    [--sample-seed 20251225] [--workers 2 | --scheduler ADDRESS]
                    [--out results/sensitivity]

**Box (where each free parameter varies).**  Chosen by file existence, and recorded in the output
(``box_source``):

* if ``calibration/posterior.parquet`` exists (``bth posterior``): each parameter's weighted 5th to
  95th percentile over the posterior's particles;
* otherwise - PROVISIONAL - each parameter's 90% profile-loss interval from
  ``calibration/calibrated.toml`` (``[parameters.NAME] lo, hi``).  Issue 12 asks for the
  posterior's 90% box; the profile intervals are a stand-in until a posterior exists, and they are
  conditional intervals (one parameter moved at a time), so they understate joint uncertainty.

Either box is clipped to the parameter's search box (``model.params.UNCERTAIN``).

**Sampling scale.**  Each parameter is sampled uniformly in its search scale
(``calibration.space``): ``log`` parameters uniformly in log(value) between log(lo) and log(hi);
every other parameter (``linear`` and ``cube``) uniformly in value between lo and hi.

**Method.**  Sobol indices (first order S1 and total ST, with bootstrap 95% confidence
half-widths) from a Saltelli design: ``SALib.sample.sobol.sample`` with ``N`` base samples (a power
of 2) and ``calc_second_order=False``, so ``N * (D + 2)`` parameter vectors for D free
parameters; ``SALib.analyze.sobol.analyze``.

**Outcomes** (each the mean over ``--seeds`` seeds at ``--scale``, per year of ``--years``):

* headline outcomes of ``--scenario`` (baseline): Hebei reported_absorbed_from_beijing_bn, Beijing
  reported_outflow_tianjin_hebei_bn, Hebei contract_turnover_bn, Hebei transformed_output_bn;
* scenario effects, ``--effect-of`` (no-coordination) minus ``--scenario``: Beijing
  reported_outflow_tianjin_hebei_bn and Hebei reported_absorbed_from_beijing_bn.  Both scenarios
  run at the same parameter vector and the same seeds (common random numbers).

A scenario's parameters at a sample are the scenario's parameters with the free parameters
replaced by the sample; its levers stay as the scenario sets them.  Runs go through
:func:`experiments.executor.make_executor`.

Writes ``OUT/sensitivity.csv`` (outcome, year, parameter, S1, S1_conf, ST, ST_conf, box_source),
``OUT/sensitivity.png`` (one panel per outcome and year: the 8 largest ST with S1 overlaid) and
``OUT/sensitivity.md`` (the 3 parameters with the largest ST per outcome and year, and the box).

Exit codes: 0 done; 2 bad input (``--n`` not a power of 2, an unknown scenario or free parameter,
an unwritable ``--out``, an unreachable scheduler), one line on stderr.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from calibration.posterior import weighted_quantile

ROOT = Path(__file__).resolve().parents[1]
POSTERIOR_FILE = ROOT / "calibration" / "posterior.parquet"
CALIBRATED_FILE = ROOT / "calibration" / "calibrated.toml"
EXIT_OK, EXIT_BAD_INPUT = 0, 2
TOP_PLOT, TOP_MD = 8, 3
START_OVERHEAD_S = 3.0  # spawning local worker processes and importing the model there (estimate)

# (region, metric) of the headline outcomes and of the scenario effects
HEADLINE = (("Hebei", "reported_absorbed_from_beijing_bn"), ("Beijing", "reported_outflow_tianjin_hebei_bn"),
            ("Hebei", "contract_turnover_bn"), ("Hebei", "transformed_output_bn"))
EFFECTS = (("Beijing", "reported_outflow_tianjin_hebei_bn"), ("Hebei", "reported_absorbed_from_beijing_bn"))

PROFILE_SOURCE = "calibrated.toml 90% profile interval (provisional)"
POSTERIOR_SOURCE = "posterior.parquet weighted 5-95th percentile"


class SensitivityError(ValueError):
    """Bad input for the sensitivity analysis (one line)."""


@dataclass(frozen=True)
class Box:
    """Where one free parameter varies: ``lo``..``hi`` in value units, sampled uniformly in ``scale``."""

    name: str
    lo: float
    hi: float
    scale: str  # "log" (uniform in log(value)) or "linear" (uniform in value)

    @property
    def bounds(self) -> tuple[float, float]:
        """The sampling interval: (log lo, log hi) for a log parameter, (lo, hi) otherwise."""
        if self.scale == "log":
            return math.log(self.lo), math.log(self.hi)
        return self.lo, self.hi

    def value(self, x: float) -> float:
        """The parameter value of a sampled coordinate ``x`` (in :attr:`bounds` units)."""
        from calibration.space import round_sig

        v = math.exp(x) if self.scale == "log" else x
        return round_sig(min(max(v, self.lo), self.hi))


def _clip(name: str, scale: str, lo: float, hi: float, search: tuple[float, float]) -> Box:
    s_lo, s_hi = search
    lo, hi = max(float(lo), s_lo), min(float(hi), s_hi)
    if not hi > lo:
        raise SensitivityError(f"{name}: empty box [{lo:.6g}, {hi:.6g}] after clipping to the search box "
                               f"[{s_lo:.6g}, {s_hi:.6g}]")
    return Box(name, lo, hi, "log" if scale == "log" else "linear")


def profile_boxes(free: Sequence, path: Path = CALIBRATED_FILE) -> list[Box]:
    """Each free parameter's 90% profile interval from ``calibrated.toml`` clipped to its search box
    (a parameter without ``lo``/``hi`` there varies over its whole search box)."""
    try:
        with Path(path).open("rb") as fh:
            entries = tomllib.load(fh).get("parameters", {})
    except FileNotFoundError:
        entries = {}
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SensitivityError(f"{path}: cannot read the calibrated intervals: {err}") from None
    out = []
    for fp in free:
        entry = entries.get(fp.name, {})
        lo, hi = entry.get("lo", fp.box[0]), entry.get("hi", fp.box[1])
        out.append(_clip(fp.name, fp.scale, lo, hi, fp.box))
    return out


def posterior_boxes(free: Sequence, path: Path = POSTERIOR_FILE) -> list[Box]:
    """Each free parameter's weighted 5th-95th percentile over the posterior's particles, clipped to
    its search box."""
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise SensitivityError(f"{path}: cannot read the posterior: {err}") from None
    missing = [c for c in ["weight", *(fp.name for fp in free)] if c not in df.columns]
    if missing:
        raise SensitivityError(f"{path}: the posterior lacks the column(s) {', '.join(missing)}")
    w = df["weight"].to_numpy(float)
    if not (np.all(w >= 0) and w.sum() > 0):
        raise SensitivityError(f"{path}: the posterior's weights are not positive")
    return [_clip(fp.name, fp.scale, weighted_quantile(df[fp.name].to_numpy(float), w, 0.05),
                  weighted_quantile(df[fp.name].to_numpy(float), w, 0.95), fp.box) for fp in free]


def choose_boxes(free: Sequence, posterior: Path = POSTERIOR_FILE,
                 calibrated: Path = CALIBRATED_FILE) -> tuple[list[Box], str]:
    """(boxes, box source): the posterior's if ``posterior`` exists, else the provisional profile intervals."""
    if Path(posterior).exists():
        return posterior_boxes(free, posterior), POSTERIOR_SOURCE
    return profile_boxes(free, calibrated), PROFILE_SOURCE


def outcome_names(scenario: str, effect_of: str) -> list[str]:
    return ([f"{region} {metric}" for region, metric in HEADLINE]
            + [f"effect {effect_of} - {scenario}: {region} {metric}" for region, metric in EFFECTS])


def evaluate(task: tuple) -> np.ndarray:
    """The outcomes of one parameter sample: (base Params, alternative Params, seeds, scale, years) ->
    array [outcome, year] (headline outcomes of the base, then effects alternative - base; seed means)."""
    from model.run import simulate

    base, alt, seeds, scale, years = task
    until = max(years)

    def means(params) -> dict[tuple[str, str, int], float]:
        acc: dict[tuple[str, str, int], float] = {}
        for seed in seeds:
            regions = simulate(params, seed=seed, scale=scale, until=until).regions
            sub = regions[regions["year"].isin(years)]
            for (year, region, metric), value in zip(zip(sub["year"], sub["region"], sub["metric"]), sub["value"]):
                key = (region, metric, int(year))
                acc[key] = acc.get(key, 0.0) + float(value) / len(seeds)
        return acc

    b, a = means(base), means(alt)
    rows = [[b.get((r, m, y), np.nan) for y in years] for r, m in HEADLINE]
    rows += [[a.get((r, m, y), np.nan) - b.get((r, m, y), np.nan) for y in years] for r, m in EFFECTS]
    return np.array(rows, float)


def design(boxes: Sequence[Box], n: int, seed: int):
    """(SALib problem, sample in sampling units [rows, D]) of a Saltelli design with ``n`` base samples."""
    from SALib.sample import sobol as sobol_sample

    problem = {"num_vars": len(boxes), "names": [b.name for b in boxes], "bounds": [list(b.bounds) for b in boxes]}
    x = sobol_sample.sample(problem, n, calc_second_order=False, scramble=True, seed=seed)
    return problem, x


def analyse(problem: dict, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """S1, S1_conf, ST, ST_conf of outcome values ``y`` (NaN where the outcome does not vary)."""
    from SALib.analyze import sobol as sobol_analyze

    d = problem["num_vars"]
    if not np.all(np.isfinite(y)) or np.var(y) == 0:
        return {k: np.full(d, np.nan) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = sobol_analyze.analyze(problem, y, calc_second_order=False, print_to_console=False, seed=seed)
    return {k: np.asarray(res[k], float) for k in ("S1", "S1_conf", "ST", "ST_conf")}


def sensitivity_table(problem: dict, y: np.ndarray, outcomes: Sequence[str], years: Sequence[int],
                      box_source: str, seed: int):
    """The tidy table (outcome, year, parameter, S1, S1_conf, ST, ST_conf, box_source) of ``y`` [sample, outcome, year]."""
    import pandas as pd

    rows = []
    for i, outcome in enumerate(outcomes):
        for j, year in enumerate(years):
            res = analyse(problem, y[:, i, j], seed)
            for k, name in enumerate(problem["names"]):
                rows.append({"outcome": outcome, "year": int(year), "parameter": name,
                             "S1": res["S1"][k], "S1_conf": res["S1_conf"][k],
                             "ST": res["ST"][k], "ST_conf": res["ST_conf"][k], "box_source": box_source})
    return pd.DataFrame(rows, columns=["outcome", "year", "parameter", "S1", "S1_conf", "ST", "ST_conf", "box_source"])


def plot(table, path: Path, title: str) -> None:
    """One horizontal bar panel per outcome and year: the largest TOP_PLOT total indices, S1 overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outcomes = list(dict.fromkeys(table["outcome"]))
    years = sorted(set(table["year"]))
    k = min(TOP_PLOT, table["parameter"].nunique())
    fig, axes = plt.subplots(len(outcomes), len(years), figsize=(6.5 * len(years), (0.32 * k + 1.2) * len(outcomes)),
                             squeeze=False, constrained_layout=True)
    for i, outcome in enumerate(outcomes):
        for j, year in enumerate(years):
            ax = axes[i][j]
            sub = table[(table["outcome"] == outcome) & (table["year"] == year)]
            sub = sub.assign(_st=sub["ST"].fillna(-np.inf)).sort_values("_st", ascending=False).head(k)[::-1]
            pos = np.arange(len(sub))
            ax.barh(pos, sub["ST"].fillna(0), height=0.75, color="#9ecae1", label="ST (total)",
                    xerr=sub["ST_conf"].fillna(0), error_kw={"ecolor": "#6b8fb0", "lw": 0.8, "capsize": 2})
            ax.barh(pos, sub["S1"].fillna(0), height=0.35, color="#08519c", label="S1 (first order)")
            ax.set_yticks(pos, sub["parameter"], fontsize=8)
            ax.axvline(0, color="black", lw=0.6)
            shown = np.concatenate([sub["ST"].dropna(), sub["S1"].dropna(), [0.0, 1.0]])
            pad = 0.05 * (shown.max() - shown.min())
            ax.set_xlim(shown.min() - pad, shown.max() + pad)  # the indices, not their (clipped) error bars
            wrapped = outcome.replace(": ", ":\n") if len(outcome) > 45 else outcome
            ax.set_title(f"{wrapped}, {year}" + ("" if sub["ST"].notna().any() else " (no variance)"), fontsize=9)
            ax.set_xlabel("Sobol index (share of the outcome's variance)", fontsize=8)
            ax.tick_params(axis="x", labelsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    labels = [f"{labels[0]}, 95% bootstrap interval (clipped to the panel)", *labels[1:]]
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_md(table, boxes: Sequence[Box], box_source: str, settings: str) -> str:
    lines = ["# Sobol sensitivity of headline outcomes and scenario effects", "", settings, "",
             f"Box: {box_source}."]
    if box_source == PROFILE_SOURCE:
        lines.append("PROVISIONAL: until calibration/posterior.parquet exists each parameter varies over its "
                     "90% profile interval from calibration/calibrated.toml (issue 12 asks for the posterior's "
                     "90% box; this command switches to it when that file exists).")
    lines += ["Sampling: uniform in log(value) for log-scale parameters, uniform in value otherwise.", "",
              "## The 3 parameters with the largest total index (ST)", ""]
    for (outcome, year), sub in table.groupby(["outcome", "year"], sort=False):
        top = sub.dropna(subset=["ST"]).sort_values("ST", ascending=False).head(TOP_MD)
        shown = ", ".join(f"{r.parameter} (ST {r.ST:.2f}, S1 {r.S1:.2f})" for r in top.itertuples()) or "no variance"
        lines.append(f"- {outcome}, {year}: {shown}")
    lines += ["", "## Box", "", "| parameter | lo | hi | sampled |", "| --- | --- | --- | --- |"]
    lines += [f"| {b.name} | {b.lo:.6g} | {b.hi:.6g} | {'log' if b.scale == 'log' else 'linear'} |" for b in boxes]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    from calibration.cli import add_ensemble_arguments, add_executor_arguments

    p = argparse.ArgumentParser(
        prog="bth sensitivity",
        description="Global Sobol sensitivity (SALib, Saltelli design, no second order) of the baseline's headline "
                    "outcomes and of the no-coordination effect to the free parameters. Box: the posterior's "
                    "weighted 5-95th percentiles if calibration/posterior.parquet exists, else (provisional) the "
                    "90% profile intervals of calibration/calibrated.toml, clipped to the search boxes; log-scale "
                    "parameters sampled uniformly in log(value). Writes sensitivity.csv, sensitivity.png and "
                    "sensitivity.md into --out.")
    p.add_argument("--n", type=int, default=16, help="base samples N, a power of 2 (N*(D+2) parameter vectors; default 16)")
    add_ensemble_arguments(p, 0.02, (0, 1))  # --scale, --seeds (per parameter vector and scenario), --base-seed
    p.add_argument("--years", default="2030,2035", metavar="Y,Y", help="outcome years (default 2030,2035)")
    p.add_argument("--free", default=None, metavar="NAME,NAME", help="vary only these free parameters (default all)")
    p.add_argument("--scenario", default="baseline", help="scenario of the headline outcomes (default baseline)")
    p.add_argument("--effect-of", default="no-coordination",
                   help="scenario whose effect (it minus --scenario) is analysed (default no-coordination)")
    p.add_argument("--sample-seed", type=int, default=20251225, help="seed of the scrambled Sobol design and bootstrap")
    add_executor_arguments(p)
    p.add_argument("--out", type=Path, default=Path("results/sensitivity"), help="output folder (default results/sensitivity)")
    return p


def _years(text: str) -> list[int]:
    from model.years import MAX_HORIZON, MIN_HORIZON

    try:
        years = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise SensitivityError(f"--years {text}: expected years separated by commas") from None
    if not years or years[0] < MIN_HORIZON or years[-1] > MAX_HORIZON:
        raise SensitivityError(f"--years {text}: expected years from {MIN_HORIZON} to {MAX_HORIZON}")
    return years


def _check(args) -> None:
    if args.n < 2 or args.n & (args.n - 1):
        raise SensitivityError(f"--n {args.n}: expected a power of 2 (2, 4, 8, 16, ...)")
    # (--seeds, --scale, --workers are checked by their argparse types: calibration.cli)


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise SensitivityError(f"--out {out}: cannot write there: {err.strerror or err}") from None


def _bad_input(message: str) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        import SALib  # noqa: F401
    except ImportError:
        return _bad_input("SALib is not installed (pip install SALib==1.6.0, pinned in constraints.txt)")
    from calibration.cli import _free
    from experiments.executor import ExecutorError, make_executor
    from scenarios import ScenarioError, load_scenario

    try:
        _check(args)
        years = _years(args.years)
        free = _free(args.free)
        scns = []
        for option, name in (("--scenario", args.scenario), ("--effect-of", args.effect_of)):
            try:
                scns.append(load_scenario(name))
            except ScenarioError as err:
                raise SensitivityError(f"{option} {err}") from None
        base_scn, alt_scn = scns
        boxes, box_source = choose_boxes(free)
        _prepare_out(args.out)
    except (SensitivityError, ScenarioError, ValueError) as err:
        return _bad_input(str(err))
    seeds = tuple(range(args.base_seed, args.base_seed + args.seeds))
    problem, x = design(boxes, args.n, args.sample_seed)
    tasks = []
    for row in x:
        values = {b.name: b.value(xi) for b, xi in zip(boxes, row)}
        tasks.append((base_scn.params.replace(**values), alt_scn.params.replace(**values), seeds, args.scale, years))

    try:
        executor = make_executor(args.workers, args.scheduler)
    except ExecutorError as err:
        return _bad_input(str(err))
    with executor:
        from model.run import simulate

        t0 = time.perf_counter()
        simulate(base_scn.params, seed=seeds[0], scale=args.scale, until=max(years))
        per_run = time.perf_counter() - t0
        runs = len(tasks) * 2 * len(seeds)
        overhead = START_OVERHEAD_S if executor.workers > 1 and not args.scheduler else 0.0
        estimate = runs * per_run / executor.workers + overhead
        print(f"box: {box_source}" + ("; PROVISIONAL until calibration/posterior.parquet exists (issue 12)"
                                      if box_source == PROFILE_SOURCE else ""))
        print(f"{len(boxes)} free parameters, N = {args.n}: {len(tasks)} parameter vectors x 2 scenarios "
              f"({args.scenario}, {args.effect_of}) x {len(seeds)} seeds = {runs} runs at scale {args.scale} to "
              f"{max(years)}; one run took {per_run:.2f} s, so about {estimate:.0f} s on {executor.workers} "
              f"worker(s)", flush=True)
        started = time.perf_counter()
        y = np.full((len(tasks), len(HEADLINE) + len(EFFECTS), len(years)), np.nan)
        done, step = 0, max(1, len(tasks) // 10)
        try:
            for i, result in executor.imap_unordered(evaluate, tasks):
                y[i] = result
                done += 1
                if done % step == 0 or done == len(tasks):
                    print(f"  {done}/{len(tasks)} parameter vectors ({time.perf_counter() - started:.0f} s)",
                          flush=True)
        except KeyboardInterrupt:
            print("interrupted; nothing written", file=sys.stderr)
            return 130
    elapsed = time.perf_counter() - started

    outcomes = outcome_names(base_scn.name, alt_scn.name)
    table = sensitivity_table(problem, y, outcomes, years, box_source, args.sample_seed)
    settings = (f"N = {args.n} base samples, {len(boxes)} free parameters, {len(tasks)} parameter vectors, "
                f"{len(seeds)} seed(s) from {seeds[0]}, scale {args.scale}, years {', '.join(map(str, years))}; "
                f"{runs} runs in {elapsed:.0f} s.")
    title = (f"Sobol sensitivity: largest {min(TOP_PLOT, len(boxes))} total indices (ST) with first-order S1; "
             f"N = {args.n}, {len(seeds)} seed(s), scale {args.scale}\nbox: {box_source}")
    out = args.out
    try:
        table.to_csv(out / "sensitivity.csv", index=False)
        plot(table, out / "sensitivity.png", title)
        (out / "sensitivity.md").write_text(summary_md(table, boxes, box_source, settings), encoding="utf-8")
    except OSError as err:
        return _bad_input(f"--out {out}: cannot write the results: {err.strerror or err}")
    print(f"{runs} runs in {elapsed:.0f} s")
    for name in ("sensitivity.csv", "sensitivity.png", "sensitivity.md"):
        print(out / name)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
