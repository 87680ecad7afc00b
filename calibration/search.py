"""Global search and the loss profile around the optimum.

Two search methods, both SciPy and both evaluating batches of parameter vectors on the evaluator's
executor (two local processes by default, or a Dask cluster):

* ``sobol-lsq`` (default): a scrambled Sobol sample of the unit cube (``scipy.stats.qmc``) plus
  the prior; from the best point, ``cycles`` rounds of local refinement, each (1)
  ``scipy.optimize.least_squares`` (trust-region reflective, within the box) on the vector of
  weighted normalised deviations ``sqrt(weight) * z`` - the loss is their sum of squares, so a
  Gauss-Newton method fits it; the Jacobian is a forward difference whose points are evaluated
  as one parallel batch - then (2) re-estimating the simulation noise at the new point (two-step
  weighting, see :mod:`calibration.loss`) and (3) a line search along every parameter over its
  whole box (the sampled profile below), which crosses flat or rugged stretches where the
  gradient method stalls.
* ``de``: ``scipy.optimize.differential_evolution`` with ``workers`` = the evaluator's map.  Sturdier
  for rugged losses but needs many more evaluations for the ~18 free parameters.

After the search, each free parameter's loss is profiled: (1) a sampled profile - the loss along a
grid over the whole box with the other parameters at the optimum, and the lowest loss the search
met at each grid value - which re-centres the optimum if it finds a lower point (a coordinate line
search that also crosses flat, saturated stretches a gradient cannot) and is plotted; and (2) the
90% profile-likelihood interval in the Gauss-Newton approximation: with J the Jacobian of the
residuals at the optimum (central differences, a wide step to average over simulation noise), the
profile of parameter i - the loss minimised over all the others - is quadratic with curvature
2 / [(J'J)^-1]_ii, so {theta_i : profile <= min + 2.706} is theta_i +- sqrt(2.706 [(J'J)^-1]_ii).
The sampled 1-D losses are too rugged (simulation noise of a few loss units between neighbouring
points) to be cut at 2.706 directly; their crossings are reported alongside as a check.

Both are deterministic for a given :class:`Settings`: the sampler/optimiser is seeded and every
evaluation uses the same model seeds (common random numbers), so a resumed run retraces the same
path, reading finished evaluations from the cache.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.optimize import differential_evolution, least_squares
from scipy.stats import qmc

from calibration.runner import Evaluation, Evaluator

# Reading each (effective) tolerance as one standard error, the loss is a -2 log-likelihood and
# {theta : profile(theta) <= min + 2.706} is a 90% profile-likelihood interval (chi2, 1 df).
PROFILE_DELTA = 2.706


@dataclass(frozen=True)
class Settings:
    """Everything that determines a calibration's result (and its cost).  Where the runs are made
    (the executor) does not change the result and is not a setting."""

    scale: float = 0.05  # fraction of real firms simulated
    # model seeds of every evaluation (common random numbers); 0-7 are also the seeds of
    # `bth run --seeds 8`, so that run at the calibration's scale and horizon repeats the fit ensemble
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
    method: str = "sobol-lsq"  # or "de"
    search_seed: int = 20251225  # seed of the Sobol sampler / the DE
    n_sobol: int = 128  # Sobol points (a power of 2), plus the prior
    cycles: int = 4  # local cycles: least squares, re-weighting, line search along every parameter
    lsq_nfev: int = 8  # least-squares residual evaluations per cycle
    fd_step: float = 0.05  # forward-difference step of the search Jacobian, unit-cube coordinates
    popsize: int = 3  # DE population = popsize x number of free parameters
    maxiter: int = 30  # DE generations after the initial population
    tol: float = 0.0  # DE relative convergence tolerance (0: always run maxiter generations)
    noise_seeds: int = 24  # runs used to estimate the Monte Carlo error of the ensemble mean
    profile_grid: int = 7  # evenly spaced sampled-profile points over each box ...
    profile_near: tuple[float, ...] = (0.02, 0.06)  # ... plus these unit-cube offsets around the optimum
    refine_rounds: int = 1  # re-centre on a better point found by the final sampled profile, at most this often
    interval_step: float = 0.1  # central-difference step of the interval Jacobian, unit-cube coordinates
    report_seeds: int = 30  # runs in the fit report (the calibration seeds plus held-out ones)
    # where the search starts (evaluated with the Sobol sample): () = the priors (model/params.py);
    # else ((name, value), ...), e.g. the last calibration's point (`bth calibrate --start calibrated`)
    start: tuple[tuple[str, float], ...] = ()

    def search_evaluations(self, dim: int) -> int:
        """Planned evaluations of the global search and local refinement (an upper bound for lsq)."""
        if self.method == "de":
            return (self.maxiter + 1) * self.popsize * dim
        return self.n_sobol + 1 + self.cycles * (self.lsq_nfev * (dim + 1) + self.profile_evaluations(dim))

    def profile_evaluations(self, dim: int) -> int:
        return dim * (self.profile_grid + 2 * len(self.profile_near))


@dataclass
class Profile:
    name: str
    grid: np.ndarray  # unit coordinates, sorted (the optimum included)
    loss: np.ndarray  # sampled profile: min of the slice and the search's lowest loss near each grid value
    slice_loss: np.ndarray  # loss with the other free parameters at the optimum
    u_best: float
    sampled_lo_u: float  # where the sampled profile first exceeds min + 2.706 (unit coordinates)
    sampled_hi_u: float
    lo_u: float = np.nan  # 90% profile interval, Gauss-Newton approximation (unit coordinates)
    hi_u: float = np.nan
    sd_u: float = np.nan  # its standard error (unit coordinates); inf if not identified
    cond_sd_u: float = np.nan  # standard error with the other parameters fixed (unit coordinates)
    at_edge: bool = False  # the optimum lies on the box edge (an active bound)

    @property
    def lo_open(self) -> bool:
        return bool(self.lo_u <= 1e-9)

    @property
    def hi_open(self) -> bool:
        return bool(self.hi_u >= 1 - 1e-9)


def search(evaluator: Evaluator, settings: Settings, x0: np.ndarray, noise_seeds: Sequence[int] = (),
           on_stage: Callable[[str], None] = lambda s: None) -> tuple[Evaluation, int, int, list[tuple]]:
    """The global search plus local refinement.

    Returns (best, evaluations, iterations, trace) with trace = [(stage, evaluations so far, best loss)]."""
    start = len(evaluator.history)
    if settings.method == "de":
        on_stage("differential evolution")
        best, n, gens = run_de(evaluator, settings, x0)
        return best, n, gens, [("differential evolution", len(evaluator.history), best.loss)]
    if settings.method != "sobol-lsq":
        raise ValueError(f"unknown search method {settings.method!r}; expected 'sobol-lsq' or 'de'")
    trace: list[tuple] = []
    on_stage("Sobol sample")
    dim = evaluator.space.dim
    sobol = qmc.Sobol(d=dim, scramble=True, rng=settings.search_seed).random(settings.n_sobol)
    prior = [] if not settings.start else [evaluator.space.prior_unit()]  # a start elsewhere: the priors too
    sample = evaluator.evaluate([np.asarray(x0, float)] + prior + list(sobol))
    trace.append(("prior" if not settings.start else "start", len(evaluator.history), sample[0].loss))
    if prior:
        trace.append(("prior", len(evaluator.history), sample[1].loss))
    best = min(sample, key=lambda e: e.loss)
    trace.append(("Sobol sample", len(evaluator.history), best.loss))
    iterations = 0
    line = dataclasses.replace(settings, refine_rounds=0)
    for c in range(settings.cycles):
        on_stage(f"cycle {c + 1}/{settings.cycles}: least squares")
        iterations += least_squares_from(evaluator, best, settings)
        best = min(evaluator.history, key=lambda e: e.loss)
        trace.append((f"cycle {c + 1} least squares", len(evaluator.history), best.loss))
        if noise_seeds:
            on_stage(f"cycle {c + 1}/{settings.cycles}: simulation noise")
            evaluator.estimate_noise(best.values, noise_seeds)  # two-step weighting at the current estimate
            best = min(evaluator.history, key=lambda e: e.loss)
            trace.append((f"cycle {c + 1} re-weighted", len(evaluator.history), best.loss))
        best, _, _ = profile(evaluator, best, line, on_stage=lambda s, c=c: on_stage(f"cycle {c + 1}/{settings.cycles}: line search"))
        trace.append((f"cycle {c + 1} line search", len(evaluator.history), best.loss))
    return best, len(evaluator.history) - start, iterations, trace


def least_squares_from(evaluator: Evaluator, start: Evaluation, settings: Settings) -> int:
    """scipy.optimize.least_squares (trust-region reflective, in the unit box) from ``start``; returns nfev."""

    def fun(u: np.ndarray) -> np.ndarray:
        return evaluator.residuals(evaluator.evaluate([u])[0])

    def jac(u: np.ndarray) -> np.ndarray:
        return jacobian(evaluator, evaluator.evaluate([u])[0], settings.fd_step)

    res = least_squares(fun, np.clip(start.u, 1e-9, 1 - 1e-9), jac=jac, bounds=(0.0, 1.0), method="trf",
                        max_nfev=settings.lsq_nfev, x_scale=1.0, ftol=1e-3, xtol=1e-3, gtol=1e-8)
    return int(res.nfev)


def run_de(evaluator: Evaluator, settings: Settings, x0: np.ndarray | None = None) -> tuple[Evaluation, int, int]:
    """Differential evolution over the unit cube; returns the best evaluation, evaluations and generations."""
    dim = evaluator.space.dim
    start = len(evaluator.history)
    generations = [0]

    def count(*_args: object, **_kw: object) -> None:
        generations[0] += 1

    differential_evolution(
        evaluator, bounds=[(0.0, 1.0)] * dim, strategy="best1bin", maxiter=settings.maxiter,
        popsize=settings.popsize, tol=settings.tol, mutation=(0.5, 1.0), recombination=0.7,
        rng=settings.search_seed, polish=False, init="latinhypercube", updating="deferred",
        workers=evaluator.map, x0=x0, callback=count,
    )
    made = evaluator.history[start:]
    best = min(made, key=lambda e: e.loss)  # first of equals: deterministic
    return best, len(made), generations[0]


def jacobian(evaluator: Evaluator, base: Evaluation, step: float, central: bool = False) -> np.ndarray:
    """Finite-difference Jacobian of the residuals at ``base`` (unit coordinates), points evaluated as one batch.

    Forward differences step away from the nearer box edge; central ones fall back to one side at an edge."""
    u0 = np.asarray(base.u, float)
    dim = len(u0)
    plus, minus = [], []
    for j in range(dim):
        up = min(u0[j] + step, 1.0)
        dn = max(u0[j] - step, 0.0) if central else u0[j]
        if not central and up - u0[j] < step / 2:
            up, dn = u0[j], max(u0[j] - step, 0.0)
        p, m = u0.copy(), u0.copy()
        p[j], m[j] = up, dn
        plus.append(p)
        minus.append(m)
    evals = evaluator.evaluate(plus + minus)
    r = {id(e): evaluator.residuals(e) for e in evals}
    cols = []
    for j in range(dim):
        ep, em = evals[j], evals[dim + j]
        du = ep.u[j] - em.u[j]
        cols.append((r[id(ep)] - r[id(em)]) / du if du != 0 else np.zeros(len(evaluator.targets)))
    return np.column_stack(cols)


def profile(evaluator: Evaluator, best: Evaluation, settings: Settings,
            on_stage: Callable[[str], None] = lambda s: None) -> tuple[Evaluation, list[Profile], int]:
    """Sampled profile of each free parameter around ``best``; re-centre if it finds a better point.

    The sampled profile of parameter i at value g is the smaller of (a) the loss with the other
    parameters at the optimum (a slice) and (b) the lowest loss among all evaluations so far whose
    i-th coordinate lies within half a grid step of g.  Both bound the true profile from above."""
    refinements = 0
    while True:
        on_stage(f"profile {refinements + 1}")
        grids = [_grid(best.u[i], settings) for i in range(evaluator.space.dim)]
        points = []
        for i, g in enumerate(grids):
            for gi in g:
                u = best.u.copy()
                u[i] = gi
                points.append(u)
        evals = evaluator.evaluate(points)
        better = min(evals, key=lambda e: e.loss)
        if better.loss < best.loss - 1e-12 and refinements < settings.refine_rounds:
            best = better
            refinements += 1
            continue
        if better.loss < best.loss - 1e-12:
            best = better  # keep the best point found; the last profile was computed around its predecessor
        break
    profiles = []
    k = 0
    history_u = np.array([e.u for e in evaluator.history])
    history_l = np.array([e.loss for e in evaluator.history])
    for i, g in enumerate(grids):
        slice_loss = np.array([e.loss for e in evals[k:k + len(g)]])
        k += len(g)
        env = np.full(len(g), np.inf)
        half = np.diff(np.concatenate([[g[0]], g, [g[-1]]]))
        for j, gj in enumerate(g):
            sel = (history_u[:, i] >= gj - half[j] / 2) & (history_u[:, i] <= gj + half[j + 1] / 2)
            if sel.any():
                env[j] = history_l[sel].min()
        profiles.append(_sampled(evaluator.space.names[i], g, np.minimum(slice_loss, env), slice_loss,
                                 best.u[i], best.loss))
    return best, profiles, refinements


def intervals(evaluator: Evaluator, best: Evaluation, profiles: list[Profile], settings: Settings) -> np.ndarray:
    """Fill in the Gauss-Newton 90% profile intervals; returns the Jacobian used.

    Parameters at a box edge (an active bound) are held there when the others are profiled; their
    own interval is the conditional one (the others fixed), which reaches into the box from the edge.
    Directions the targets do not constrain (zero curvature) give an infinite standard error."""
    J = jacobian(evaluator, best, settings.interval_step, central=True)
    u = np.asarray(best.u, float)
    edge = (u <= 0.005) | (u >= 0.995)
    inner = np.flatnonzero(~edge)
    JtJ = J.T @ J
    var = np.full(len(u), np.inf)
    if len(inner):
        w, V = np.linalg.eigh(JtJ[np.ix_(inner, inner)])
        tiny = max(w.max(), 1e-300) * 1e-8
        ok = w > tiny
        for k, i in enumerate(inner):
            if np.all(V[k, ~ok] ** 2 < 1e-6):  # no weight on an unconstrained direction
                var[i] = float(np.sum(V[k, ok] ** 2 / w[ok]))
    diag = np.diag(JtJ)
    cond_var = np.where(diag > 0, 1.0 / np.where(diag > 0, diag, 1.0), np.inf)
    for i, p in enumerate(profiles):
        p.cond_sd_u = float(np.sqrt(cond_var[i]))
        v = cond_var[i] if edge[i] else var[i]
        sd = float(np.sqrt(v)) if np.isfinite(v) else np.inf
        half = np.sqrt(PROFILE_DELTA) * sd
        p.sd_u = sd
        p.at_edge = bool(edge[i])
        p.lo_u = float(max(0.0, u[i] - half))
        p.hi_u = float(min(1.0, u[i] + half))
    return J


def _grid(u0: float, settings: Settings) -> np.ndarray:
    near = [u0 + s * d for d in settings.profile_near for s in (-1, 1)]
    g = np.concatenate([np.linspace(0.0, 1.0, settings.profile_grid), np.clip(near, 0.0, 1.0)])
    g = np.unique(np.round(g, 12))
    return g[np.abs(g - u0) > 1e-9]  # the optimum itself is already evaluated


def _sampled(name: str, grid: np.ndarray, prof: np.ndarray, slice_loss: np.ndarray, u0: float,
             best_loss: float) -> Profile:
    """The contiguous range around u0 where the sampled profile stays within PROFILE_DELTA of the minimum."""
    g = np.concatenate([grid, [u0]])
    p = np.concatenate([prof, [best_loss]])
    s = np.concatenate([slice_loss, [best_loss]])
    order = np.argsort(g)
    g, p, s = g[order], p[order], s[order]
    i0 = int(np.flatnonzero(g == u0)[0])
    level = best_loss + PROFILE_DELTA

    def edge(step: int) -> float:
        j = i0
        while 0 <= j + step < len(g) and p[j + step] <= level:
            j += step
        if not 0 <= j + step < len(g):
            return float(g[j])
        a, b = p[j], p[j + step]
        t = (level - a) / (b - a) if b > a else 0.0
        return float(g[j] + t * (g[j + step] - g[j]))

    return Profile(name=name, grid=g, loss=p, slice_loss=s, u_best=u0, sampled_lo_u=edge(-1), sampled_hi_u=edge(+1))


def identified(p: Profile) -> bool:
    """Identified: the 90% interval is closed on at least one side and covers under half the search box."""
    return bool(np.isfinite(p.sd_u) and not (p.lo_open and p.hi_open) and (p.hi_u - p.lo_u) < 0.5)
