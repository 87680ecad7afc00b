"""Effect statistics of a comparison: paired differences to the baseline and seed ranges.

Scenarios are compared seed by seed: the runner uses the same seeds for every scenario (common
random numbers), so the difference scenario - baseline within a seed isolates the effect of the
policy from the model's randomness.  Values keep the unit of their outcome (bn yuan per year, or
firms); every interval here has coverage :data:`LEVEL`.

Main entry points: :func:`paired_differences` (the table of scenario effects) and
:func:`outcome_table` (median and range across seeds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from experiments.outcomes import TABLE_OUTCOMES, YEARS, Outcome, outcome_values

LEVEL = 0.90  # coverage of every interval of the comparison

DIFF_COLUMNS = ["scenario", "outcome", "year", "mean_diff", "lo", "hi", "straddles_zero", "n_seeds",
                "baseline_mean", "rel_diff_pct", "seed_p05", "seed_p95", "unit"]


def check_baseline(scenarios, baseline: str) -> None:
    """Raise ``ValueError`` naming the scenarios found if ``baseline`` is not among ``scenarios``."""
    found = sorted(map(str, set(scenarios)))
    if baseline not in found:
        raise ValueError(
            f"baseline '{baseline}' is not among the results; scenarios found: {found}. "
            f"Include the baseline's run folder or pass baseline=<one of these>.")


def paired_differences(regions: pd.DataFrame, flows: pd.DataFrame, baseline: str,
                       years=YEARS, outcomes: tuple[Outcome, ...] = TABLE_OUTCOMES,
                       level: float = LEVEL) -> pd.DataFrame:
    """Effect of each scenario on each outcome: scenario minus baseline, seed by seed.

    For every scenario other than ``baseline``, outcome and year, the seed-level difference
    d_s = scenario(seed s) - baseline(seed s) is taken over the seeds both share (common random
    numbers).  Columns:

    * ``mean_diff``: mean of d_s (unit of the outcome: bn yuan per year, or firms);
    * ``lo``, ``hi``: ``level`` (default 90%) paired-t confidence interval of that mean,
      mean -/+ t(1 - (1-level)/2, n-1) * sd(d)/sqrt(n); NaN with a single seed;
    * ``straddles_zero``: True if the interval contains 0 (or is undefined), i.e. the effect
      is not distinguishable from seed noise;
    * ``n_seeds``, ``baseline_mean``, ``rel_diff_pct`` (= 100 * mean_diff / baseline_mean),
      ``seed_p05``, ``seed_p95`` (spread of the seed-level differences), ``unit``.

    Raises ``ValueError`` if ``baseline`` is not in the results or a scenario shares no seed
    with it.
    """
    check_baseline(regions["scenario"].unique(), baseline)
    vals = outcome_values(regions, flows, outcomes)
    vals = vals[vals["year"].isin(list(years))]
    keys = ["seed", "year", "outcome"]
    base = vals[vals["scenario"] == baseline].set_index(keys)["value"].rename("base")
    others = vals[vals["scenario"] != baseline]
    merged = others.join(base, on=keys, how="inner")
    for s in others["scenario"].unique():
        if s not in set(merged["scenario"]):
            raise ValueError(f"scenario '{s}' shares no seed with baseline '{baseline}'; paired "
                             f"differences need the same seeds (common random numbers)")
    if merged.empty:
        return pd.DataFrame(columns=DIFF_COLUMNS)
    merged["diff"] = merged["value"] - merged["base"]
    res = _paired_stats(merged, level)
    res["unit"] = res["outcome"].map({oc.name: oc.unit for oc in outcomes})
    order = {oc.name: i for i, oc in enumerate(outcomes)}
    scen_order = {s: i for i, s in enumerate(dict.fromkeys(others["scenario"]))}
    res = res.sort_values(["scenario", "outcome", "year"],
                          key=lambda c: c.map(scen_order) if c.name == "scenario"
                          else c.map(order) if c.name == "outcome" else c)
    return res[DIFF_COLUMNS].reset_index(drop=True)


def _paired_stats(merged: pd.DataFrame, level: float) -> pd.DataFrame:
    """Mean, paired-t interval and seed quantiles of ``diff`` by scenario, outcome and year."""
    g = merged.groupby(["scenario", "outcome", "year"], sort=False)
    res = g.agg(mean_diff=("diff", "mean"), sd=("diff", "std"), n_seeds=("diff", "size"),
                baseline_mean=("base", "mean"),
                seed_p05=("diff", lambda d: d.quantile((1 - level) / 2)),
                seed_p95=("diff", lambda d: d.quantile(1 - (1 - level) / 2))).reset_index()
    n = res["n_seeds"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tq = np.where(n > 1, stats.t.ppf(1 - (1 - level) / 2, np.maximum(n - 1, 1)), np.nan)
        half = tq * res["sd"].fillna(0).to_numpy() / np.sqrt(n)
        res["rel_diff_pct"] = 100 * res["mean_diff"] / res["baseline_mean"].where(res["baseline_mean"] != 0)
    res["lo"] = res["mean_diff"] - half
    res["hi"] = res["mean_diff"] + half
    res["straddles_zero"] = ~((res["lo"] > 0) | (res["hi"] < 0))
    return res


def outcome_table(vals: pd.DataFrame, years, outcomes: tuple[Outcome, ...] = TABLE_OUTCOMES,
                  level: float = LEVEL) -> pd.DataFrame:
    """Median and ``level`` range across seeds of each outcome in ``years``.

    ``vals`` is a table of :func:`experiments.outcomes.outcome_values`.  Columns: scenario,
    outcome, label, unit, year, median, lo, hi, n_seeds (values in the outcome's unit)."""
    sub = vals[vals["year"].isin(list(years))]
    a = (1 - level) / 2
    g = sub.groupby(["scenario", "outcome", "year"], sort=False)["value"]
    t = g.agg(median="median", lo=lambda v: v.quantile(a), hi=lambda v: v.quantile(1 - a),
              n_seeds="size").reset_index()
    info = {oc.name: oc for oc in outcomes}
    t["label"] = t["outcome"].map(lambda o: info[o].label)
    t["unit"] = t["outcome"].map(lambda o: info[o].unit)
    return t[["scenario", "outcome", "label", "unit", "year", "median", "lo", "hi", "n_seeds"]]
