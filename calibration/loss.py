"""The calibration loss: normalised, weighted squared deviations from the targets.

For each compared target the *normalised deviation* z is

* point   ``z = (sim - value) / (tolerance * value)``            (|z| <= 1 passes)
* lower   ``z = min(0, (sim - value) / (tolerance * value))``    (passes if sim > value)
* greater ``z = min(0, (left - right) / (tolerance * max(|left|, |right|)))``  (passes if left > right)

where ``sim`` is the ensemble mean of the output over the calibration seeds.  The loss is
``L = sum_i weight_i * z_i**2``: zero at a perfect match, growing quadratically away from it, and
(reading each tolerance as one standard error) a -2 log-likelihood, which is how the profile
intervals are cut (see :mod:`calibration.profile`).  A bound or an inequality adds nothing while it
holds; the tolerance only scales how fast its penalty grows when it does not.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from calibration.targets import Target

MISSING_Z = 100.0  # deviation charged for an output that is missing or not finite


def deviation(target: Target, sim: Mapping[str, float]) -> float:
    """Normalised deviation z of one compared target given ensemble means ``sim`` (by output key)."""
    if target.kind == "greater":
        left, right = sim.get(target.left.key, np.nan), sim.get(target.right.key, np.nan)
        if not (np.isfinite(left) and np.isfinite(right)):
            return -MISSING_Z
        scale = max(abs(left), abs(right), 1e-12)
        return min(0.0, (left - right) / (target.tolerance * scale))
    s = sim.get(target.output.key, np.nan)
    if not np.isfinite(s):
        return MISSING_Z if target.kind == "point" else -MISSING_Z
    z = (s - target.value) / (target.tolerance * target.value)
    return z if target.kind == "point" else min(0.0, z)


def passes(target: Target, sim: Mapping[str, float]) -> bool:
    """The verdict: point within tolerance, bound exceeded, inequality holding."""
    if target.kind == "point":
        return abs(deviation(target, sim)) <= 1.0
    if target.kind == "lower":
        s = sim.get(target.output.key, np.nan)
        return bool(np.isfinite(s) and s > target.value)
    if target.kind == "greater":
        left, right = sim.get(target.left.key, np.nan), sim.get(target.right.key, np.nan)
        return bool(np.isfinite(left) and np.isfinite(right) and left > right)
    raise ValueError(f"target {target.name} of kind {target.kind} is not compared with the model")


def loss(targets: Sequence[Target], sim: Mapping[str, float]) -> float:
    """Weighted sum of squared normalised deviations over the compared targets."""
    return float(sum(t.weight * deviation(t, sim) ** 2 for t in targets if t.compared))


def ensemble_mean(per_seed: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean over seeds of each output (the moments the calibration matches)."""
    keys = per_seed[0].keys()
    return {k: float(np.mean([run[k] for run in per_seed])) for k in keys}
