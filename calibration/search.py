"""Global search (SciPy differential evolution) and the loss profile around the optimum.

Both are deterministic for a given :class:`Settings`: the optimiser is seeded and every
evaluation uses the same model seeds (common random numbers), so a resumed run retraces the same
path, reading finished evaluations from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from scipy.optimize import differential_evolution

from calibration.runner import Evaluation, Evaluator

# Profile intervals: reading each tolerance as one standard error, the loss is a -2 log-likelihood
# and {theta : profile(theta) <= min + 2.706} is a 90% profile-likelihood interval (chi2, 1 df).
PROFILE_DELTA = 2.706


@dataclass(frozen=True)
class Settings:
    """Everything that determines a calibration's result (and its cost)."""

    scale: float = 0.05  # fraction of real firms simulated
    seeds: tuple[int, ...] = (1, 2, 3, 4, 5, 6)  # model seeds of every evaluation (common random numbers)
    popsize: int = 3  # DE population = popsize x number of free parameters
    maxiter: int = 30  # DE generations after the initial population
    de_seed: int = 20251225  # seed of the optimiser
    tol: float = 0.0  # DE relative convergence tolerance (0: always run maxiter generations)
    profile_grid: int = 7  # evenly spaced profile points over each box ...
    profile_near: tuple[float, ...] = (0.02, 0.05, 0.1)  # ... plus these unit-cube offsets around the optimum
    refine_rounds: int = 2  # re-centre the profile on a better point found by it, at most this often
    report_seeds: int = 30  # runs in the fit report (the calibration seeds plus held-out ones)
    workers: int = 2  # processes

    def de_evaluations(self, dim: int) -> int:
        return (self.maxiter + 1) * self.popsize * dim

    def profile_evaluations(self, dim: int) -> int:
        return dim * (self.profile_grid + 2 * len(self.profile_near))


@dataclass
class Profile:
    name: str
    grid: np.ndarray  # unit coordinates, sorted
    loss: np.ndarray  # profile loss at each grid point (min of the slice and the sampled envelope)
    slice_loss: np.ndarray  # loss with the other free parameters at the optimum
    u_best: float
    lo_u: float  # interval in unit coordinates
    hi_u: float
    lo_open: bool  # the interval reaches the box's lower edge
    hi_open: bool


@dataclass
class SearchResult:
    best: Evaluation
    de_evaluations: int
    de_generations: int
    profiles: list[Profile] = field(default_factory=list)
    refinements: int = 0


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
        rng=settings.de_seed, polish=False, init="latinhypercube", updating="deferred",
        workers=evaluator.map, x0=x0, callback=count,
    )
    made = evaluator.history[start:]
    best = min(made, key=lambda e: e.loss)  # first of equals: deterministic
    return best, len(made), generations[0]


def profile(evaluator: Evaluator, best: Evaluation, settings: Settings,
            on_stage: Callable[[str], None] = lambda s: None) -> tuple[Evaluation, list[Profile], int]:
    """Profile the loss of each free parameter around ``best``; re-centre if a better point turns up.

    The profile of parameter i at value g is approximated by the smaller of (a) the loss with the
    other parameters at the optimum (a slice) and (b) the lowest loss among all evaluations made so
    far whose i-th coordinate lies within half a grid step of g (the DE's samples).  Both are upper
    bounds of the true profile (which re-optimises the others), so intervals may be somewhat narrow.
    """
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
            best = better  # keep the best point found; its profile is the last one computed
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
            lo = gj - half[j] / 2
            hi = gj + half[j + 1] / 2
            sel = (history_u[:, i] >= lo) & (history_u[:, i] <= hi)
            if sel.any():
                env[j] = history_l[sel].min()
        prof = np.minimum(slice_loss, env)
        profiles.append(_interval(evaluator.space.names[i], g, prof, slice_loss, best.u[i], best.loss))
    return best, profiles, refinements


def _grid(u0: float, settings: Settings) -> np.ndarray:
    near = [u0 + s * d for d in settings.profile_near for s in (-1, 1)]
    g = np.concatenate([np.linspace(0.0, 1.0, settings.profile_grid), np.clip(near, 0.0, 1.0)])
    g = np.unique(np.round(g, 12))
    return g[np.abs(g - u0) > 1e-9]  # the optimum itself is already evaluated


def _interval(name: str, grid: np.ndarray, prof: np.ndarray, slice_loss: np.ndarray, u0: float,
              best_loss: float) -> Profile:
    """The contiguous range around u0 where the profile stays within PROFILE_DELTA of the minimum."""
    g = np.concatenate([grid, [u0]])
    p = np.concatenate([prof, [best_loss]])
    s = np.concatenate([slice_loss, [best_loss]])
    order = np.argsort(g)
    g, p, s = g[order], p[order], s[order]
    i0 = int(np.flatnonzero(g == u0)[0])
    level = best_loss + PROFILE_DELTA

    def edge(step: int) -> tuple[float, bool]:
        j = i0
        while 0 <= j + step < len(g) and p[j + step] <= level:
            j += step
        if not 0 <= j + step < len(g):
            return float(g[j]), True  # inside up to the box edge
        a, b = p[j], p[j + step]  # a <= level < b: interpolate the crossing
        t = (level - a) / (b - a) if b > a else 0.0
        return float(g[j] + t * (g[j + step] - g[j])), False

    lo, lo_open = edge(-1)
    hi, hi_open = edge(+1)
    return Profile(name=name, grid=g, loss=p, slice_loss=s, u_best=u0, lo_u=lo, hi_u=hi,
                   lo_open=lo_open and lo <= 1e-9, hi_open=hi_open and hi >= 1 - 1e-9)


def identified(p: Profile) -> bool:
    """A parameter counts as identified if its 90% profile interval is closed on at least one side
    and covers less than half of the search box (in the search coordinates)."""
    return not (p.lo_open and p.hi_open) and (p.hi_u - p.lo_u) < 0.5


def best_of(evals: Sequence[Evaluation]) -> Evaluation:
    return min(evals, key=lambda e: e.loss)
