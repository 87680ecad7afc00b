"""How a sample of agents stands for the real firms' independent choices (variance reduction).

An agent stands for ``weight`` real firms (1/scale).  If each agent made a choice alone, the count
of agents choosing a rare option (the Xiong'an park takes about 3 of a year's ~25 Beijing movers at
scale 0.05) would vary 1/sqrt(scale) times more than the real count does: the real firms behind
the agents choose independently, so their count is a binomial (or multinomial) draw over
``sum(weight)`` real firms.  The functions here draw that real count and give the agents their
share of it, rounded up or down at random (systematic sampling in random order: Madow 1949), so
each agent keeps its probability of each choice, the count varies run to run as the real count
does, and the scale adds at most one agent of rounding a draw.  An assumption of sampling, not of
behaviour (docs/model.md, 3.3 "Branches" and "Stochasticity").

Both steppings call these with the model's numpy ``Generator``; the draws are listed in each
docstring, in order.
"""

from __future__ import annotations

import math

import numpy as np


def real_count_share(rng: np.random.Generator, n_agents: int, real_firms: float, real_chosen: int) -> int:
    """How many of ``n_agents`` agents (standing for ``real_firms`` real ones) stand for
    ``real_chosen`` real firms: real_chosen x n_agents / real_firms, rounded up with probability
    its fractional part.  Draws: one uniform."""
    expected = real_chosen * n_agents / real_firms if real_firms > 0 else 0.0
    return min(int(math.floor(expected + rng.random())), n_agents)


def bernoulli_rows(rng: np.random.Generator, rows: np.ndarray, weight: np.ndarray, prob: float) -> np.ndarray:
    """The rows (of ``rows``, all of one stratum) whose firms take a yes/no step of probability
    ``prob``: the real firms behind them (sum of ``weight``, rounded) take it as a binomial draw, and
    that count's share of the agents (:func:`real_count_share`) is chosen uniformly at random.
    Returned in row order.  Draws: the binomial, one uniform, the choice of rows."""
    n = len(rows)
    if not n or not prob > 0:
        return rows[:0]
    real = float(weight[rows].sum())
    k = real_count_share(rng, n, real, int(rng.binomial(max(int(round(real)), 1), min(prob, 1.0))))
    if not k:
        return rows[:0]
    return rows[np.sort(rng.choice(n, size=k, replace=False, shuffle=False))]


def categorical_rows(rng: np.random.Generator, n: int, real_firms: float, option_weights: np.ndarray) -> np.ndarray:
    """The option (an index into ``option_weights``, not all 0) each of ``n`` agents of one stratum
    takes, standing for ``real_firms`` real firms that choose independently with probabilities
    proportional to ``option_weights``: the real counts are a multinomial draw, and the agents, in
    random order, are shared among the options by systematic sampling over those counts, so each
    option gets its real count's share of the agents, rounded up or down, and each agent its
    choice probabilities.  Draws: the multinomial, one uniform, one permutation of n."""
    w = np.asarray(option_weights, float)
    real = rng.multinomial(max(int(round(real_firms)), 1), w / w.sum())
    cum = np.cumsum(real) / real.sum()
    u = (rng.random() + rng.permutation(n)) / n
    return np.minimum(np.searchsorted(cum, u, side="right"), len(w) - 1)
