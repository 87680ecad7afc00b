"""The agents' share of the real firms' independent choices (model/sampling.py).

Each agent keeps its probability of each choice (the mean over many fixed-seed draws is checked
within 4 standard errors), and the count of agents choosing varies as the real firms' count does
scaled to the agents, plus at most the rounding of one agent: far less than if each agent chose
alone (the variance ratio is checked against bounds that independent choice would break).
"""

from __future__ import annotations

import numpy as np
import pytest

from model.sampling import bernoulli_rows, categorical_rows, real_count_share

REPS = 4000


def test_real_count_share_rounds_at_random_to_its_expectation() -> None:
    rng = np.random.default_rng(1)
    got = np.array([real_count_share(rng, 10, 200.0, 57) for _ in range(REPS)])  # expected 2.85 agents
    assert set(got) == {2, 3}
    assert abs(got.mean() - 2.85) < 4 * np.sqrt(0.85 * 0.15 / REPS)
    assert real_count_share(rng, 10, 0.0, 0) == 0


def test_bernoulli_rows_keep_each_rows_probability_with_the_real_firms_noise() -> None:
    rng = np.random.default_rng(2)
    rows = np.arange(100, 150)  # 50 agents of 20 real firms each (scale 0.05)
    weight = np.full(200, 20.0)
    prob = 0.1
    hits = np.zeros(200)
    counts = []
    for _ in range(REPS):
        chosen = bernoulli_rows(rng, rows, weight, prob)
        assert np.all(np.diff(chosen) > 0) and set(chosen) <= set(rows)  # row order, no repeats
        hits[chosen] += 1
        counts.append(len(chosen))
    share = hits[rows] / REPS
    assert np.all(np.abs(share - prob) < 4 * np.sqrt(prob * (1 - prob) / REPS))
    assert not hits[:100].any() and not hits[150:].any()
    # real firms: Binomial(1000, 0.1), variance 90 real firms^2 = 0.225 agents^2, plus rounding <= 0.25;
    # agents choosing alone: Binomial(50, 0.1), variance 4.5 agents^2
    assert np.var(counts) < 0.6
    assert bernoulli_rows(rng, rows, weight, 0.0).size == 0


@pytest.mark.parametrize("weights", [(0.0, 3.0, 1.0, 0.2), (1.0, 0.0, 0.0, 0.0)])
def test_categorical_rows_keep_each_agents_probabilities(weights) -> None:
    rng = np.random.default_rng(3)
    w = np.array(weights)
    p = w / w.sum()
    n = 25
    picks = np.zeros((n, len(w)))
    counts = []
    for _ in range(REPS):
        c = categorical_rows(rng, n, 20.0 * n, w)
        picks[np.arange(n), c] += 1
        counts.append(np.bincount(c, minlength=len(w)))
    assert np.all(np.abs(picks / REPS - p) < 4 * np.sqrt(p * (1 - p) / REPS) + 1e-12)
    counts = np.array(counts)
    assert np.all(counts[:, w == 0] == 0)
    # the rare option (p = 0.048): real firms' multinomial over 500 scaled to 25 agents has variance
    # 0.06 agents^2, plus rounding <= 0.25; 25 agents choosing alone: 1.14
    if w[-1] > 0:
        assert np.var(counts[:, -1]) < 0.45
