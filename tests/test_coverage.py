"""The coverage study (calibration/coverage.py): its pieces, and one tiny replication end to end.

The study itself (20 replications) is a script with a committed report, calibration/coverage/."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyabc")

from calibration import coverage as cov  # noqa: E402
from calibration.space import FREE  # noqa: E402
from calibration.targets import compared_targets, load_targets  # noqa: E402


def test_weighted_quantile_matches_the_unweighted_one_and_follows_the_weights():
    x = np.arange(1.0, 101.0)
    assert cov.weighted_quantile(x, np.ones(100), 0.5) == pytest.approx(50.5)
    assert cov.weighted_quantile(x, np.ones(100), 0.05) == pytest.approx(np.quantile(x, 0.05), abs=0.6)
    w = np.where(x > 50, 1.0, 1e-9)  # all the weight on the upper half
    assert cov.weighted_quantile(x, w, 0.5) == pytest.approx(75.5, abs=0.6)


def test_synthetic_targets_are_points_at_the_perturbed_values():
    targets = compared_targets(load_targets())
    values = {o.key: 100.0 for t in targets for o in t.outputs}
    synth = cov.synthetic_targets(targets, values, np.random.default_rng(0))
    kept = [t for t in targets if t.kind in ("point", "band")]
    assert [t.name for t in synth] == [t.name for t in kept]
    assert all(t.kind == "point" for t in synth)
    z = np.array([(t.value / 100.0 - 1) / t.tolerance for t in synth])
    assert np.all(np.abs(z) < 4) and z.std() > 0.3  # measurement errors in units of the tolerance


def test_binomial_range_of_twenty_replications():
    assert cov.binomial_range(20) == (15, 20)


def test_one_tiny_replication_gives_an_interval_inside_the_box():
    study = cov.Study(free=("value_median_m",), replications=1, scale=0.01, seeds=1, walkers=6, steps=12,
                      burn=4, thin=2, noise_seeds=3)
    (row,) = cov.replicate(study, 0)
    lo, hi = dict((fp.name, fp.box) for fp in FREE)["value_median_m"]
    assert lo <= row["lo90"] <= row["hi90"] <= hi
    assert lo <= row["truth"] <= hi and isinstance(row["covered"], bool)
    assert row["covered"] == (row["lo90"] <= row["truth"] <= row["hi90"])
    assert 0.0 <= row["rank"] <= 1.0 and 0.0 <= row["acceptance"] <= 1.0
