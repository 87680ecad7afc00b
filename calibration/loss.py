"""The calibration loss: normalised, weighted squared deviations from the targets.

For each compared target the *normalised deviation* z is

* point   ``z = (sim - value) / (tol * value)``            (|z| <= 1 passes)
* band    ``z = min(0, (sim - value) / (tol * value)) + max(0, (sim - upper) / (tol * upper))``
          (passes if value <= sim <= upper: "over N" in official reporting, read as [N, 1.1 N])
* lower   ``z = min(0, (sim - value) / (tol * value))``    (passes if sim > value)
* greater ``z = min(0, (left - right) / (tol * max(|left|, |right|)))``  (passes if left > right)

where ``sim`` is the ensemble mean of the output over the calibration seeds and ``tol`` the
target's relative tolerance.  The loss is ``L = sum_i weight_i * z_i**2``: zero at a perfect match,
growing quadratically away from it.  A bound or a band adds nothing while it holds with a margin
(``BOUND_MARGIN`` tolerances, or one Monte Carlo standard error if larger), an inequality while it
holds; the tolerance only scales how fast the penalty grows when they do not.

Simulation noise.  The ensemble mean is itself uncertain: at scale 0.05 a few heavy-tailed
contracts move a region's flows by tens of percent between seeds.  In the loss (not in the
verdict) the tolerance is therefore combined with the Monte Carlo standard error of the
ensemble mean, ``tol_eff = sqrt(tol**2 + mc**2)`` (``mc`` relative to the same scale as tol),
as the method of simulated moments weights each moment by the variance of data minus simulation.
``mc`` is estimated from a larger set of runs (:func:`mc_noise`, with a robust spread) and then
held fixed, so the optimiser cannot lower the loss by making the model noisier.  With ``mc = 0`` the
loss is exactly the tolerance-normalised one.  Reading ``tol_eff`` as one standard error, ``L``
is a -2 log-likelihood (used for the profile intervals, see :mod:`calibration.search`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from calibration.targets import Target

MISSING_Z = 100.0  # deviation charged for an output that is missing or not finite
# a bound or band is aimed at from inside by at least this many tolerances (z units): 0.2 of a 5%
# tolerance is 1% inside.  Without it the loss was flat at a band's edge and the calibration ended 0.4%
# outside two bands whose verdict is strict (Hebei SMEs 2025, Xiong'an park firms 2024, 2026-12-03).
BOUND_MARGIN = 0.2


def _scale(target: Target, sim: Mapping[str, float]) -> float:
    """The quantity a target's tolerance is relative to."""
    if target.kind == "greater":
        return max(abs(sim.get(target.left.key, 0.0)), abs(sim.get(target.right.key, 0.0)), 1e-12)
    return target.value


def deviation(target: Target, sim: Mapping[str, float], mc: float = 0.0) -> float:
    """Normalised deviation z of one compared target given ensemble means ``sim`` (by output key).

    ``mc`` is the relative Monte Carlo standard error of the ensemble mean (0: the tolerance alone)."""
    tol = float(np.hypot(target.tolerance, mc))
    if target.kind == "greater":
        left, right = sim.get(target.left.key, np.nan), sim.get(target.right.key, np.nan)
        if not (np.isfinite(left) and np.isfinite(right)):
            return -MISSING_Z
        return min(0.0, (left - right) / (tol * _scale(target, sim)) - mc / tol)
    s = sim.get(target.output.key, np.nan)
    if not np.isfinite(s):
        return MISSING_Z if target.kind == "point" else -MISSING_Z
    z = (s - target.value) / (tol * target.value)
    # a bound is aimed at with a margin of one Monte Carlo standard error, and at least BOUND_MARGIN
    # tolerances, so that it also holds on other seeds and the strict verdict (the bound itself) is
    # not lost to a loss that is flat at the edge
    margin = max(mc / tol, BOUND_MARGIN) if target.kind != "point" else 0.0
    if target.kind == "upper":
        return max(0.0, z + margin)
    if target.kind == "band":
        return min(0.0, z - margin) + max(0.0, (s - target.upper) / (tol * target.upper) + margin)
    return z if target.kind == "point" else min(0.0, z - margin)


def passes(target: Target, sim: Mapping[str, float]) -> bool:
    """The verdict (tolerance only): point within tolerance, bound exceeded, inequality holding."""
    if target.kind == "point":
        return abs(deviation(target, sim)) <= 1.0
    if target.kind == "lower":
        s = sim.get(target.output.key, np.nan)
        return bool(np.isfinite(s) and s > target.value)
    if target.kind == "band":
        s = sim.get(target.output.key, np.nan)
        return bool(np.isfinite(s) and target.value <= s <= target.upper)
    if target.kind == "upper":
        s = sim.get(target.output.key, np.nan)
        return bool(np.isfinite(s) and s < target.value)
    if target.kind == "greater":
        left, right = sim.get(target.left.key, np.nan), sim.get(target.right.key, np.nan)
        return bool(np.isfinite(left) and np.isfinite(right) and left > right)
    raise ValueError(f"target {target.name} of kind {target.kind} is not compared with the model")


def loss(targets: Sequence[Target], sim: Mapping[str, float], mc: Mapping[str, float] | None = None) -> float:
    """Weighted sum of squared normalised deviations over the compared targets."""
    mc = mc or {}
    return float(sum(t.weight * deviation(t, sim, mc.get(t.name, 0.0)) ** 2 for t in targets if t.compared))


def residuals(targets: Sequence[Target], sim: Mapping[str, float], mc: Mapping[str, float] | None = None) -> np.ndarray:
    """sqrt(weight) * z per compared target: the loss is their sum of squares."""
    mc = mc or {}
    return np.array([np.sqrt(t.weight) * deviation(t, sim, mc.get(t.name, 0.0)) for t in targets if t.compared])


def ensemble_mean(per_seed: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean over seeds of each output (the moments the calibration matches)."""
    keys = per_seed[0].keys()
    return {k: float(np.mean([run[k] for run in per_seed])) for k in keys}


def spread(x: np.ndarray) -> float:
    """A robust standard deviation: the interquartile range / 1.349, or the sample sd if that is 0.

    Contract values are heavy-tailed: one extreme run among a few dozen would otherwise inflate the
    noise estimate, and with it switch off the target in the loss, for the whole calibration."""
    if len(x) < 2:
        return 0.0
    q75, q25 = np.percentile(x, [75, 25])
    robust = float(q75 - q25) / 1.349
    return robust if robust > 0 else float(np.std(x, ddof=1))


def mc_noise(targets: Sequence[Target], runs: Sequence[Mapping[str, float]], n_seeds: int) -> dict[str, float]:
    """Relative Monte Carlo standard error of an ``n_seeds`` ensemble mean, per compared target.

    Estimated from the spread of ``runs`` (one output dict per seed; use more runs than n_seeds)."""
    mean = ensemble_mean(runs)
    out: dict[str, float] = {}
    for t in targets:
        if not t.compared:
            continue
        if t.kind == "greater":
            per_run = np.array([r[t.left.key] - r[t.right.key] for r in runs])
        else:
            per_run = np.array([r[t.output.key] for r in runs])
        out[t.name] = spread(per_run) / np.sqrt(max(n_seeds, 1)) / _scale(t, mean)
    return out
