"""The whole calibration: global search, profile, fit report and calibrated.toml.

``bth calibrate`` (calibration/cli.py) is a thin layer over :func:`calibrate` and :func:`write_outputs`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from calibration.report import REPORT_DIR, calibrated_toml, fit_table, profile_plot, write_fit
from calibration.runner import Cache, Evaluation, Evaluator, Executor, ModelChanged, current_code_hash
from calibration.search import PROFILE_DELTA, Profile, Settings, identified, intervals, profile, search
from calibration.space import FREE, FreeParam, Space
from calibration.targets import COMPARED_KINDS, TARGETS_FILE, Target, compared_targets, load_targets
from calibration.defaults import CALIBRATED_FILE
from model.years import FIRST_YEAR

HELDOUT_SEED_BASE = 1000  # held-out report seeds are 1000, 1001, ...
NOISE_SEED_BASE = 2000  # seeds of the runs that estimate the simulation noise


@dataclass
class CalibrationResult:
    settings: Settings
    space: Space
    targets: list[Target]
    best: Evaluation
    profiles: list[Profile]
    search_evaluations: int
    search_iterations: int  # DE generations or least-squares iterations
    refinements: int
    evaluations: int  # all loss evaluations (DE + profile)
    until: int
    mc: dict[str, float] = field(default_factory=dict)  # Monte Carlo error of the ensemble mean, per target
    trace: list[tuple] = field(default_factory=list)  # (stage, evaluations so far, best loss)
    jacobian: np.ndarray | None = None  # residuals x free parameters at the optimum (unit coordinates)
    report_runs: list[dict[str, float]] = field(default_factory=list)  # calibration seeds first
    heldout_seeds: list[int] = field(default_factory=list)
    new_runs: int = 0
    cached_runs: int = 0
    elapsed_s: float = 0.0
    code: str = ""  # model-code hash (model.version.code_hash) of the model the runs were made with
    commit: str = ""  # the checkout the calibration started on (git_commit())

    @property
    def fit(self) -> pd.DataFrame:
        n = len(self.settings.seeds)
        return fit_table(self.targets, self.report_runs[:n], self.report_runs, self.report_runs[n:], self.mc)

    def meta(self, targets_file: Path | None = TARGETS_FILE) -> dict[str, object]:
        fit = self.fit
        cmp_ = fit[fit.kind.isin(COMPARED_KINDS)]
        meta: dict[str, object] = {
            "loss": self.best.loss,
            "targets_passed": f"{int((cmp_.verdict == 'pass').sum())}/{len(cmp_)}",
            "targets_failed": [str(n) for n in cmp_.target[cmp_.verdict != "pass"]],
            "heldout_targets_passed": f"{int((cmp_.heldout_verdict == 'pass').sum())}/{len(cmp_)}",
            "code_version": self.code,
            "targets_sha256": _file_hash(targets_file) if targets_file else "",
            "scale": self.settings.scale,
            "seeds": list(self.settings.seeds),
            "until": self.until,
            "method": self.settings.method,
            "search_seed": self.settings.search_seed,
            "start": [f"{k} = {v!r}" for k, v in self.settings.start] if self.settings.start else "prior",
            **({"popsize": self.settings.popsize, "maxiter": self.settings.maxiter} if self.settings.method == "de"
               else {"n_sobol": self.settings.n_sobol, "cycles": self.settings.cycles,
                     "lsq_nfev": self.settings.lsq_nfev, "fd_step": self.settings.fd_step}),
            "noise_seeds": self.settings.noise_seeds,
            "trace": [f"{stage}: loss {loss:.6g} after {n} evaluations" for stage, n, loss in self.trace],
            "search_evaluations": self.search_evaluations,
            "search_iterations": self.search_iterations,
            "profile_refinements": self.refinements,
            "evaluations": self.evaluations,
            "report_runs": len(self.report_runs),
            "heldout_seeds": self.heldout_seeds,
            "free": self.space.names,
        }
        return meta


def start_unit(space: Space, start: tuple[tuple[str, float], ...]) -> np.ndarray:
    """Where the search starts, in unit coordinates: the priors, with the free parameters named in
    ``start`` at their given values (clipped into the search box)."""
    x = space.prior_unit()
    given = dict(start)
    for i, name in enumerate(space.names):
        if name in given:
            x[i] = min(max(float(space.free[i].unit(given[name])), 0.0), 1.0)
    return x


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def planned_runs(settings: Settings, dim: int) -> tuple[int, int, int]:
    """Model runs a calibration of ``dim`` free parameters plans, as (search, profile, the rest:
    noise estimates, interval Jacobian, fit report).  The search may stop early and a profile that
    re-centres the optimum adds a round, so the count made differs by some per cent (the defaults:
    15,702 planned, 13,902 made in the calibration of 2026-11-23)."""
    n_seeds = len(settings.seeds)
    search_runs = settings.search_evaluations(dim) * n_seeds
    prof_runs = settings.profile_evaluations(dim) * n_seeds
    extra = (2 + settings.cycles) * settings.noise_seeds + 2 * dim * n_seeds + settings.report_seeds
    return search_runs, prof_runs, extra


def calibrate(settings: Settings = Settings(), targets: Sequence[Target] | None = None,
              free: Sequence[FreeParam] = FREE, cache: Cache | None = None,
              progress: bool = True, base_params=None, executor: Executor | None = None) -> CalibrationResult:
    """Run the calibration and return its result (nothing is written except the evaluation cache).

    ``executor`` runs the model (e.g. ``experiments.executor.make_executor(2)``: two local
    processes, or Dask); ``None`` runs it in this process.  The caller closes it."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    commit = git_commit()  # the checkout the runs are made with, before anything is written
    targets = list(load_targets() if targets is None else targets)
    compared = compared_targets(targets)
    until = max(t.year for t in compared)
    space = Space(free, base=base_params)
    cache = cache if cache is not None else Cache(None)
    n_seeds = len(settings.seeds)
    search_runs, prof_runs, extra = planned_runs(settings, space.dim)
    noise_seeds = list(range(NOISE_SEED_BASE, NOISE_SEED_BASE + settings.noise_seeds))
    bar = tqdm(total=search_runs + prof_runs + extra, unit="run", disable=not progress,
               desc="calibrate", dynamic_ncols=True, smoothing=0.05)

    def stage(name: str) -> None:
        bar.set_description(f"calibrate: {name}")

    with Evaluator(targets, space, settings.seeds, settings.scale, until, cache, executor,
                   on_run=lambda: bar.update(1)) as ev:
        try:
            x0 = start_unit(space, settings.start)
            stage("simulation noise at the start")
            ev.estimate_noise(space.values(x0), noise_seeds)
            best, n_search, iters, trace = search(ev, settings, x0, noise_seeds, on_stage=stage)
            # the search may stop early: fix the bar's total to what is left
            tail = settings.noise_seeds + 2 * space.dim * n_seeds + settings.report_seeds
            bar.total = bar.n + prof_runs + tail
            bar.refresh()
            if settings.method == "de":  # (the sobol-lsq cycles re-weight as they go)
                stage("simulation noise at the optimum")
                ev.estimate_noise(best.values, noise_seeds)
                best = min(ev.history, key=lambda e: e.loss)
            best, profiles, refinements = profile(
                ev, best, settings, on_stage=lambda s: (stage(s), _grow(bar, prof_runs, tail)))
            trace.append(("profile", len(ev.history), best.loss))
            stage("profile intervals")
            J = intervals(ev, best, profiles, settings)
            stage("fit report")
            heldout = list(range(HELDOUT_SEED_BASE, HELDOUT_SEED_BASE + max(0, settings.report_seeds - n_seeds)))
            report_runs = ev.run_outputs([best.values], seeds=list(settings.seeds) + heldout)[0]
            bar.total = bar.n  # the plan was an upper bound: show the finished bar full
            bar.refresh()
        finally:
            bar.close()
        result = CalibrationResult(
            settings=settings, space=space, targets=targets, best=best, profiles=profiles,
            search_evaluations=n_search, search_iterations=iters, refinements=refinements,
            evaluations=len(ev.history), until=until, report_runs=report_runs, heldout_seeds=heldout,
            mc=dict(ev.mc), jacobian=J, trace=trace, code=ev.code, commit=commit,
            new_runs=ev.new_runs, cached_runs=ev.cached_runs, elapsed_s=time.perf_counter() - t0)
    now = current_code_hash()
    if now != result.code:
        raise ModelChanged(f"the model's code changed during the calibration (code hash {result.code} -> {now}); "
                           "its runs are cached under the old code; rerun to calibrate the current model")
    return result


def _grow(bar, runs: int, tail: int) -> None:
    """Each profile round after the first adds its runs to the bar's total (``tail``: runs after the profile)."""
    if bar.n + runs + tail > bar.total:
        bar.total = bar.n + runs + tail
        bar.refresh()


def write_outputs(result: CalibrationResult, calibrated: Path = CALIBRATED_FILE,
                  report_dir: Path = REPORT_DIR, targets_file: Path | None = TARGETS_FILE) -> None:
    """calibrated.toml, report/fit.csv, fit.md, fit.png, profile.csv and profiles.png."""
    meta = result.meta(targets_file)
    run = {"date": _dt.date.today().isoformat(), "git_commit": result.commit or git_commit(),
           "elapsed_seconds": round(result.elapsed_s, 1), "runs_simulated": result.new_runs,
           "runs_from_cache": result.cached_runs}
    calibrated = Path(calibrated)
    calibrated.parent.mkdir(parents=True, exist_ok=True)
    calibrated.write_text(calibrated_toml(result.space, result.best.values, result.profiles, meta, run),
                          encoding="utf-8")
    report_dir = Path(report_dir)
    params = profile_table(result)
    write_fit(result.fit, result.targets, report_dir, meta, params)
    params.to_csv(report_dir / "profile.csv", index=False, float_format="%.6g")
    if result.jacobian is not None:
        jac = pd.DataFrame(result.jacobian, columns=result.space.names,
                           index=[t.name for t in compared_targets(result.targets)])
        jac.to_csv(report_dir / "jacobian.csv", float_format="%.6g", index_label="target")
    profile_plot(result.profiles, result.space, result.best.loss, report_dir / "profiles.png")


def profile_table(result: CalibrationResult) -> pd.DataFrame:
    rows = []
    by = {p.name: p for p in result.profiles}
    for fp in result.space.free:
        p = by[fp.name]
        rows.append(dict(
            parameter=fp.name, value=result.best.values[fp.name], lo=fp.value(p.lo_u), hi=fp.value(p.hi_u),
            lo_at_box_edge=p.lo_open, hi_at_box_edge=p.hi_open, box_lo=fp.box[0], box_hi=fp.box[1],
            search_scale=fp.scale, sd_unit=p.sd_u, conditional_sd_unit=p.cond_sd_u, at_box_edge=p.at_edge,
            interval_share_of_box=p.hi_u - p.lo_u,
            identified=identified(p), sampled_lo=fp.value(p.sampled_lo_u), sampled_hi=fp.value(p.sampled_hi_u),
            alone_lo=fp.value(max(0.0, p.u_best - np.sqrt(PROFILE_DELTA) * p.cond_sd_u)),
            alone_hi=fp.value(min(1.0, p.u_best + np.sqrt(PROFILE_DELTA) * p.cond_sd_u)),
            prior=result.space.base.at(fp.name, FIRST_YEAR), identified_by=fp.identified_by))
    return pd.DataFrame(rows)


def git_commit(root: Path = Path(__file__).resolve().parent.parent) -> str:
    """``git rev-parse --short HEAD`` of the checkout, plus ``-dirty`` if a tracked file has changes
    (as ``git describe --dirty``); "unknown" outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0 or not head.stdout.strip():
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.returncode != 0 or dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def loss_at(values: dict[str, float], settings: Settings = Settings(), targets: Sequence[Target] | None = None,
            cache: Cache | None = None, executor: Executor | None = None) -> Evaluation:
    """Evaluate the loss at given free-parameter values (for checks and notebooks)."""
    targets = list(load_targets() if targets is None else targets)
    until = max(t.year for t in compared_targets(targets))
    free = [fp for fp in FREE if fp.name in values]
    space = Space(free)
    with Evaluator(targets, space, settings.seeds, settings.scale, until, cache or Cache(None), executor) as ev:
        return ev.evaluate([space.unit(values)])[0]


__all__ = ["CalibrationResult", "calibrate", "planned_runs", "estimate", "seconds_per_run", "format_duration",
           "git_commit", "write_outputs", "loss_at", "np"]


# Wall time per planned run inside a calibration over the time of one run alone: the calibration
# of 2026-11-23 (defaults, 2 workers, 2 idle cores) planned 15,702 runs and took 711.5 s, 0.091 s
# per planned run and worker, where one run at scale 0.05 to 2025 took about 0.07 s alone
# (pickling, the optimiser's own work, small batches that leave a worker idle, two runs sharing
# two cores).  An assumption to revisit with each full calibration ([run] elapsed_seconds).
RUN_OVERHEAD = 1.3
STARTUP_S = 3.0  # seconds for spawned workers to start and import the model (measured: ~2.5 s)


def seconds_per_run(scale: float, until: int, seed: int = 0, base_params=None) -> float:
    """Seconds one model run takes in this process (the faster of two, so imports do not count)."""
    from model import Params, simulate

    params = base_params or Params()
    times = []
    for s in (seed, seed + 1):
        t0 = time.perf_counter()
        simulate(params, seed=s, scale=scale, until=until)
        times.append(time.perf_counter() - t0)
    return min(times)


def estimate(settings: Settings, dim: int, workers: int, per_run_s: float) -> tuple[int, float]:
    """(planned model runs, estimated seconds) of a calibration of ``dim`` free parameters on
    ``workers`` workers, from the time of one run alone ``per_run_s`` (seconds), RUN_OVERHEAD and
    STARTUP_S.  Runs found in the evaluation cache are not repeated, so a resumed calibration is
    quicker than this says."""
    runs = sum(planned_runs(settings, dim))
    startup = STARTUP_S if workers > 1 else 0.0
    return runs, startup + runs * per_run_s * RUN_OVERHEAD / max(1, workers)


def format_duration(seconds: float) -> str:
    """'about 40 seconds', 'about 12 minutes', 'about 2.5 hours'."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"
