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

Continuable: :class:`ChainState` is the chain's end (the walkers' positions and log densities, the
sampler's random state, the accepted proposals) with its kept (thinned) steps; ``sample(...,
resume=state)`` carries the same chain on to more steps, and gives exactly what one longer run from
the start would have given (``bth posterior --continue``, which keeps the state in
``posterior_chain.npz``: a chain can grow across machines that share no evaluation cache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

START_SD = 0.01  # sd of the walkers' start around the calibrated point (unit-cube coordinates)


@dataclass
class ChainState:
    """Where a chain stands after ``steps`` steps, and what it kept (enough to carry it on exactly)."""

    steps: int  # steps taken from the start
    coords: np.ndarray  # walkers x d: the walkers' last positions (unit coordinates)
    log_prob: np.ndarray  # walkers: their log densities
    random_state: tuple  # the sampler's numpy RandomState (``get_state()``) after the last step
    accepted: np.ndarray  # walkers: proposals accepted so far
    kept: np.ndarray  # k x walkers x d: the kept steps (burn, burn + thin, ...), unit coordinates
    kept_log_prob: np.ndarray  # k x walkers
    mean_log_prob: np.ndarray  # steps: the ensemble's mean log density after each step


@dataclass
class ChainResult:
    state: ChainState  # the chain's end and its kept steps
    acceptance: np.ndarray  # per walker, over all steps
    draws: np.ndarray  # n x d (unit coordinates): after burn-in, thinned
    tau: np.ndarray  # integrated autocorrelation time per parameter (steps), after burn-in
    ess: np.ndarray  # effective sample size per parameter: walkers x steps after burn-in / tau

    @property
    def mean_log_prob(self) -> np.ndarray:
        return self.state.mean_log_prob


def inside_cube(u: np.ndarray) -> np.ndarray:
    """``u`` clipped strictly inside the unit cube (a walker on a face has log density -inf outside it)."""
    return np.clip(u, 1e-6, 1 - 1e-6)


def start_ball(u0: np.ndarray, walkers: int, rng: np.random.Generator, sd: float = START_SD) -> np.ndarray:
    """``walkers`` starting points around ``u0`` (clipped inside the cube)."""
    return inside_cube(u0 + sd * rng.standard_normal((walkers, len(u0))))


def sample(log_prob_batch: Callable[[np.ndarray], np.ndarray], u0: np.ndarray | None, walkers: int, steps: int,
           burn: int, thin: int, seed: int, on_step: Callable[[int], None] = lambda i: None,
           resume: ChainState | None = None) -> ChainResult:
    """Run the ensemble sampler to ``steps`` steps; ``log_prob_batch(us)`` gives the log density of
    each row of ``us``.  ``u0``: a point (the walkers start in a ball around it) or a walkers x d array
    of starting points; ignored with ``resume``, a chain's state after fewer steps (the same
    ``walkers``, ``burn``, ``thin`` and ``seed``), which is carried on from where it stood."""
    import emcee

    def log_prob(us: np.ndarray) -> np.ndarray:
        us = np.atleast_2d(us)
        out = np.full(len(us), -np.inf)
        inside = np.all((us >= 0.0) & (us <= 1.0), axis=1)
        if inside.any():
            out[inside] = log_prob_batch(us[inside])
        return out

    if resume is not None:
        if resume.steps >= steps:
            raise ValueError(f"the chain has {resume.steps} steps already; asked for {steps}")
        if resume.coords.shape[0] != walkers:
            raise ValueError(f"the chain has {resume.coords.shape[0]} walkers, not {walkers}")
        d, done = resume.coords.shape[1], resume.steps
        p0 = emcee.State(np.array(resume.coords, float), log_prob=np.array(resume.log_prob, float),
                         random_state=resume.random_state)
    else:
        u0 = np.asarray(u0, float)
        if u0.ndim == 2:  # the walkers' starting points themselves
            p0, d = u0, u0.shape[1]
        else:
            d = len(u0)
            p0 = start_ball(u0, walkers, np.random.default_rng(seed))
        done = 0
    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    sampler = emcee.EnsembleSampler(walkers, d, log_prob, moves=moves, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()  # emcee draws from a RandomState
    for i, _ in enumerate(sampler.sample(p0, iterations=steps - done)):
        on_step(done + i)
    chain, lp = sampler.get_chain(), sampler.get_log_prob()
    step = done + np.arange(len(chain))  # each new step's index from the start
    keep = (step >= burn) & ((step - burn) % thin == 0)
    accepted = np.asarray(sampler.backend.accepted, np.int64)
    mean_lp = lp.mean(axis=1)
    if resume is not None:
        kept = np.concatenate([resume.kept, chain[keep]])
        kept_lp = np.concatenate([resume.kept_log_prob, lp[keep]])
        accepted = accepted + resume.accepted
        mean_lp = np.concatenate([resume.mean_log_prob, mean_lp])
    else:
        kept, kept_lp = chain[keep], lp[keep]
    state = ChainState(steps=steps, coords=chain[-1].copy(), log_prob=lp[-1].copy(),
                       random_state=sampler.random_state, accepted=accepted, kept=kept, kept_log_prob=kept_lp,
                       mean_log_prob=mean_lp)
    # tau from the kept steps (every thin-th), in steps: the whole chain is not kept (it may have been
    # run in parts); for tau well above thin the thinned estimate is the same
    tau = np.array([_tau(kept[:, :, k]) * thin for k in range(d)])
    ess = (steps - burn) * walkers / tau
    return ChainResult(state=state, acceptance=accepted / steps, draws=kept.reshape(-1, d), tau=tau, ess=ess)


def _tau(x: np.ndarray) -> float:
    """Integrated autocorrelation time of one parameter's chains (steps x walkers), emcee's estimator
    (``quiet``: a chain shorter than 50 tau gives a lower bound, which the record says: its
    ``chain_over_tau_min``; emcee's own warning, one per parameter, is not repeated on the terminal)."""
    import logging

    import emcee

    if x.shape[0] < 2 or not np.isfinite(x).all() or np.ptp(x) == 0:
        return math.nan
    logger = logging.getLogger("emcee")  # emcee.autocorr logs the short-chain warning here
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return float(emcee.autocorr.integrated_time(x[:, :, None], quiet=True)[0])
    finally:
        logger.setLevel(level)


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
