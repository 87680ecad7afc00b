"""The posterior by ensemble MCMC (emcee): ``bth posterior``'s default method.

The target density, on the unit cube of the free parameters (calibration/space.py):

    log p(u) = -L(u) / 2     for u in [0, 1]^d (the uniform priors on the search boxes, in the
                             scale each parameter is searched on), -inf outside

where ``L`` is the calibration loss (calibration/loss.py): a sum of squared residuals in units of
each target's tolerance combined with the Monte Carlo error of the ensemble mean, i.e. a Gaussian
-2 log-likelihood.  With common random numbers (the calibration's seeds) ``L`` is a deterministic
function of the parameters, so the likelihood can be evaluated and an MCMC sampler targets the
posterior itself; ABC-SMC's importance weights degenerated in these 23 dimensions (effective
sample size 4.8 of 100 in the first weighted generation, 2026-12-03; docs/calibration.md).

The sampler: ``emcee.EnsembleSampler`` (Foreman-Mackey et al. 2013), a mixture of
differential-evolution moves (``DEMove`` 80%, ``DESnookerMove`` 20%: the moves emcee's
documentation suggests beyond a few dimensions), ``walkers`` walkers started in a small ball
(sd ``START_SD`` in unit coordinates) around the calibrated point, ``steps`` steps.  The first
``burn`` steps are discarded; every ``thin``-th later step of every walker is a draw.  Each step's
proposals are evaluated as one batch (``vectorize=True``), so the executor runs walkers x seeds
model runs at a time.

Resumable and reproducible: the sampler's random numbers come from ``sampler_seed``; every model run
goes to the evaluation cache, so a rerun after an interruption retraces the same path and simulates
only what is missing, and the same settings give the same draws on any executor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

START_SD = 0.01  # sd of the walkers' start around the calibrated point (unit-cube coordinates)


@dataclass
class ChainResult:
    chain: np.ndarray  # steps x walkers x d (unit coordinates)
    log_prob: np.ndarray  # steps x walkers
    acceptance: np.ndarray  # per walker
    draws: np.ndarray  # n x d (unit coordinates): after burn-in, thinned
    tau: np.ndarray  # integrated autocorrelation time per parameter (steps), after burn-in
    ess: np.ndarray  # effective sample size per parameter: walkers x kept steps / tau


def inside_cube(u: np.ndarray) -> np.ndarray:
    """``u`` clipped strictly inside the unit cube (a walker on a face has log density -inf outside it)."""
    return np.clip(u, 1e-6, 1 - 1e-6)


def start_ball(u0: np.ndarray, walkers: int, rng: np.random.Generator, sd: float = START_SD) -> np.ndarray:
    """``walkers`` starting points around ``u0`` (clipped inside the cube)."""
    return inside_cube(u0 + sd * rng.standard_normal((walkers, len(u0))))


def sample(log_prob_batch: Callable[[np.ndarray], np.ndarray], u0: np.ndarray, walkers: int, steps: int,
           burn: int, thin: int, seed: int, on_step: Callable[[int], None] = lambda i: None) -> ChainResult:
    """Run the ensemble sampler; ``log_prob_batch(us)`` gives the log density of each row of ``us``.
    ``u0``: a point (the walkers start in a ball around it) or a walkers x d array of starting points."""
    import emcee

    u0 = np.asarray(u0, float)
    rng = np.random.default_rng(seed)
    if u0.ndim == 2:  # the walkers' starting points themselves
        p0, d = u0, u0.shape[1]
    else:
        d = len(u0)
        p0 = start_ball(u0, walkers, rng)

    def log_prob(us: np.ndarray) -> np.ndarray:
        us = np.atleast_2d(us)
        out = np.full(len(us), -np.inf)
        inside = np.all((us >= 0.0) & (us <= 1.0), axis=1)
        if inside.any():
            out[inside] = log_prob_batch(us[inside])
        return out

    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    sampler = emcee.EnsembleSampler(walkers, d, log_prob, moves=moves, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()  # emcee draws from a RandomState
    for i, _ in enumerate(sampler.sample(p0, iterations=steps)):
        on_step(i)
    chain = sampler.get_chain()
    lp = sampler.get_log_prob()
    kept = chain[burn:]
    draws = kept[::thin].reshape(-1, d)
    tau = np.array([_tau(kept[:, :, k]) for k in range(d)])
    ess = kept.shape[0] * walkers / tau
    return ChainResult(chain=chain, log_prob=lp, acceptance=np.asarray(sampler.acceptance_fraction), draws=draws,
                       tau=tau, ess=ess)


def _tau(x: np.ndarray) -> float:
    """Integrated autocorrelation time of one parameter's chains (steps x walkers), emcee's estimator
    (``quiet``: a chain shorter than 50 tau gives a lower bound, which the record says)."""
    import emcee

    if x.shape[0] < 2 or not np.isfinite(x).all() or np.ptp(x) == 0:
        return math.nan
    return float(emcee.autocorr.integrated_time(x[:, :, None], quiet=True)[0])


def predictive_check(targets: Sequence, evaluations: Sequence, mc: dict[str, float], seed: int = 0):
    """For each compared target, the 5-50-95% posterior predictive quantiles of its statistic and
    whether the data fall inside: per draw, the ensemble mean times (1 + tol_eff x N(0, 1)) (the
    likelihood's measurement error; tol_eff combines the tolerance and the Monte Carlo error).

    Covered: a point's value inside the 90% interval; a band overlapping it; a lower bound (value)
    below its upper end; an upper bound above its lower end; an inequality holding in at least 5% of
    the predictive draws."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for t in targets:
        tol = float(np.hypot(t.tolerance, mc.get(t.name, 0.0)))
        z = rng.standard_normal(len(evaluations))
        if t.kind == "greater":
            diff = np.array([e.mean[t.left.key] - e.mean[t.right.key] for e in evaluations])
            y = diff + tol * np.maximum(np.abs([e.mean[t.left.key] for e in evaluations]), 1e-12) * z
            lo, med, hi = np.quantile(y, [0.05, 0.5, 0.95])
            covered = bool(np.mean(y > 0) >= 0.05)
            value, upper = 0.0, math.nan
        else:
            mean = np.array([e.mean[t.output.key] for e in evaluations])
            y = mean * (1 + tol * z)
            lo, med, hi = np.quantile(y, [0.05, 0.5, 0.95])
            value, upper = float(t.value), float(getattr(t, "upper", math.nan))
            covered = {"point": lo <= value <= hi, "band": hi >= value and lo <= upper,
                       "lower": hi > value, "upper": lo < value}[t.kind]
        rows.append(dict(target=t.name, kind=t.kind, value=value, upper=upper, lo90=float(lo), median=float(med),
                         hi90=float(hi), covered=bool(covered)))
    return pd.DataFrame(rows)
