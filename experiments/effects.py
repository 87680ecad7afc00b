"""Effect statistics of a comparison: paired differences to the baseline and seed ranges.

Scenarios are compared seed by seed: the runner uses the same seeds for every scenario (common
random numbers), so the difference scenario - baseline within a seed isolates the effect of the
policy from the model's randomness.  Values keep the unit of their outcome (bn yuan per year, or
firms); every interval here has coverage :data:`LEVEL`.

An effect is *clear* only if its interval excludes 0 **and** it is material: at least
:data:`MATERIAL_PCT` percent of the baseline's value.  A difference told apart from seed noise
but smaller than that is reported as "small", not as clear.

Main entry points: :func:`paired_differences` (the table of scenario effects),
:func:`outcome_table` (median and range across seeds), :func:`flow_cell_differences` (the paired
difference of every origin-destination cell) and :func:`baseline_crossings` (where one region's
baseline path overtakes another's after the calibration years).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from experiments.outcomes import TABLE_OUTCOMES, YEARS, Outcome, draw_key, outcome_values
from model.regions import REGIONS
from model.years import CALIBRATION_LAST_YEAR

LEVEL = 0.90  # coverage of every interval of the comparison
MATERIAL_PCT = 1.0  # an effect is material if |effect| >= this percentage of the baseline's value

DIFF_COLUMNS = ["scenario", "outcome", "year", "mean_diff", "lo", "hi", "straddles_zero", "n_seeds",
                "baseline_mean", "rel_diff_pct", "rel_lo_pct", "rel_hi_pct", "material", "clear",
                "p_positive", "seed_p05", "seed_p95", "unit"]
CELL_COLUMNS = ["scenario", "year", "origin", "destination", "mean_diff", "lo", "hi", "within_noise",
                "baseline_mean", "rel_diff_pct", "n_seeds"]


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
    * ``n_seeds``, ``baseline_mean``, ``rel_diff_pct`` (= 100 * mean_diff / baseline_mean) and
      ``rel_lo_pct``, ``rel_hi_pct`` (the interval, in percent of the baseline mean);
    * ``material``: |rel_diff_pct| >= :data:`MATERIAL_PCT`; ``clear``: material and the
      interval excludes 0;
    * ``p_positive``: the share of paired (seed, draw) differences above 0 when the results
      carry parameter draws (a ``draw`` column), else NaN;
    * ``seed_p05``, ``seed_p95`` (spread of the seed-level differences), ``unit``.

    Raises ``ValueError`` if ``baseline`` is not in the results or a scenario shares no seed
    with it.
    """
    check_baseline(regions["scenario"].unique(), baseline)
    vals = outcome_values(regions, flows, outcomes)
    vals = vals[vals["year"].isin(list(years))]
    keys = ["seed"] + draw_key(regions) + ["year", "outcome"]
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
    res = _paired_stats(merged, level, with_draws=bool(draw_key(regions)))
    res["unit"] = res["outcome"].map({oc.name: oc.unit for oc in outcomes})
    order = {oc.name: i for i, oc in enumerate(outcomes)}
    scen_order = {s: i for i, s in enumerate(dict.fromkeys(others["scenario"]))}
    res = res.sort_values(["scenario", "outcome", "year"],
                          key=lambda c: c.map(scen_order) if c.name == "scenario"
                          else c.map(order) if c.name == "outcome" else c)
    return res[DIFF_COLUMNS].reset_index(drop=True)


def _paired_stats(merged: pd.DataFrame, level: float, by=("scenario", "outcome", "year"),
                  with_draws: bool = False) -> pd.DataFrame:
    """Mean, paired-t interval and seed quantiles of ``diff`` by ``by``."""
    g = merged.groupby(list(by), sort=False)
    res = g.agg(mean_diff=("diff", "mean"), sd=("diff", "std"), n_seeds=("diff", "size"),
                baseline_mean=("base", "mean"))
    a = (1 - level) / 2
    q = g["diff"].quantile([a, 1 - a]).unstack(-1)
    res["seed_p05"], res["seed_p95"] = q.iloc[:, 0], q.iloc[:, 1]
    res = res.reset_index()
    n = res["n_seeds"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tq = np.where(n > 1, stats.t.ppf(1 - (1 - level) / 2, np.maximum(n - 1, 1)), np.nan)
        half = tq * res["sd"].fillna(0).to_numpy() / np.sqrt(n)
    res["lo"] = res["mean_diff"] - half
    res["hi"] = res["mean_diff"] + half
    res["straddles_zero"] = ~((res["lo"] > 0) | (res["hi"] < 0))
    base = res["baseline_mean"].where(res["baseline_mean"] != 0)
    res["rel_lo_pct"] = 100 * res["lo"] / base.abs()
    res["rel_hi_pct"] = 100 * res["hi"] / base.abs()
    res["rel_diff_pct"] = 100 * res["mean_diff"] / base.abs()
    res["material"] = res["rel_diff_pct"].abs() >= MATERIAL_PCT
    res["clear"] = res["material"] & ~res["straddles_zero"]
    res["p_positive"] = ((merged["diff"] > 0).groupby([merged[k] for k in by], sort=False).mean().to_numpy()
                         if with_draws else np.nan)
    return res


def outcome_table(vals: pd.DataFrame, years, outcomes: tuple[Outcome, ...] = TABLE_OUTCOMES,
                  level: float = LEVEL) -> pd.DataFrame:
    """Median and ``level`` range across seeds of each outcome in ``years``.

    ``vals`` is a table of :func:`experiments.outcomes.outcome_values`.  Columns: scenario,
    outcome, label, unit, year, median, lo, hi, n_seeds (values in the outcome's unit)."""
    sub = vals[vals["year"].isin(list(years))]
    a = (1 - level) / 2
    g = sub.groupby(["scenario", "outcome", "year"], sort=False)["value"]
    t = g.agg(median="median", n_seeds="size")
    q = g.quantile([a, 1 - a]).unstack(-1)
    t["lo"], t["hi"] = q.iloc[:, 0], q.iloc[:, 1]
    t = t.reset_index()
    info = {oc.name: oc for oc in outcomes}
    t["label"] = t["outcome"].map(lambda o: info[o].label)
    t["unit"] = t["outcome"].map(lambda o: info[o].unit)
    return t[["scenario", "outcome", "label", "unit", "year", "median", "lo", "hi", "n_seeds"]]


def verdict(row) -> str:
    """How the report words an effect: "clear", "small" (told apart from noise but under
    :data:`MATERIAL_PCT` of the baseline) or "within noise" (the interval includes 0)."""
    if row["straddles_zero"]:
        return "within noise"
    return "clear" if row["material"] else "small"


def flow_cell_differences(flows: pd.DataFrame, baseline: str, years, level: float = LEVEL) -> pd.DataFrame:
    """The paired difference (scenario - baseline, seed by seed) of every origin-destination
    cell's contract value in ``years``, bn yuan per year.

    Columns :data:`CELL_COLUMNS`: ``mean_diff``, ``lo``/``hi`` (``level`` paired-t interval),
    ``within_noise`` (the interval includes 0, or is undefined), ``baseline_mean``,
    ``rel_diff_pct``, ``n_seeds``.  A cell absent from a run counts as zero contract value."""
    keys = ["seed"] + draw_key(flows)
    f = flows[flows["year"].isin(list(years))]
    if f.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    cells = ["origin", "destination"]
    runs = f[["scenario"] + keys + ["year"]].drop_duplicates()
    pairs = f[cells].drop_duplicates()
    full = runs.merge(pairs, how="cross")
    v = full.merge(f[["scenario"] + keys + ["year"] + cells + ["contract_value_bn"]], how="left",
                   on=["scenario"] + keys + ["year"] + cells)
    v["contract_value_bn"] = v["contract_value_bn"].fillna(0.0)
    base = v[v["scenario"] == baseline].set_index(keys + ["year"] + cells)["contract_value_bn"].rename("base")
    merged = v[v["scenario"] != baseline].join(base, on=keys + ["year"] + cells, how="inner")
    if merged.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    merged["diff"] = merged["contract_value_bn"] - merged["base"]
    res = _paired_stats(merged, level, by=("scenario", "year", "origin", "destination"))
    res["within_noise"] = res["straddles_zero"]
    return res[CELL_COLUMNS].reset_index(drop=True)


def baseline_crossings(regions: pd.DataFrame, baseline: str, metrics, regions_compared=REGIONS,
                       after: int = CALIBRATION_LAST_YEAR) -> list[dict]:
    """Where one region's baseline median overtakes another's after ``after`` and stays ahead.

    For each metric and pair of regions whose order by seed median in ``after`` is reversed in
    every later year from some year Y on: ``metric``, ``leader`` (ahead in ``after``),
    ``follower`` (ahead from Y), ``year`` (Y), ``values`` (the two medians in Y: follower,
    leader), ``seeds_crossed`` and ``seeds`` (in how many seeds the follower is ahead at the
    last year)."""
    b = regions[(regions["scenario"] == baseline) & regions["region"].isin(regions_compared)
                & regions["metric"].isin(list(metrics))]
    if b.empty:
        return []
    med = b.groupby(["metric", "region", "year"])["value"].median()
    last_year = int(b["year"].max())
    found = []
    for m in metrics:
        if m not in med.index.get_level_values(0):
            continue
        t = med.loc[m].unstack("region")
        if after not in t.index:
            continue
        for i, r1 in enumerate(regions_compared):
            for r2 in regions_compared[i + 1:]:
                if r1 not in t or r2 not in t:
                    continue
                gap = (t[r1] - t[r2]).loc[after:]
                start = np.sign(gap.loc[after])
                if start == 0:
                    continue
                flipped = np.sign(gap) == -start
                later = flipped.loc[after + 1:]
                if later.empty or not later.iloc[-1]:
                    continue
                # the first year from which the order stays reversed to the end
                year = int(later.index[-1])
                for y in reversed(later.index.tolist()):
                    if not later.loc[y]:
                        break
                    year = int(y)
                leader, follower = (r1, r2) if start > 0 else (r2, r1)
                last = b[(b["metric"] == m) & (b["year"] == last_year)].pivot_table(
                    index=["seed"] + draw_key(b), columns="region", values="value")
                crossed = int((last[follower] > last[leader]).sum())
                found.append({"metric": m, "leader": leader, "follower": follower, "year": year,
                              "values": (float(t.at[year, follower]), float(t.at[year, leader])),
                              "seeds_crossed": crossed, "seeds": int(len(last))})
    return found


def baseline_growth(values: pd.DataFrame, baseline: str, start: int, end: int, outcomes,
                    factor: float = 2.0) -> list[dict]:
    """Outcomes whose baseline median grows by ``factor`` or more (or shrinks to 1/``factor`` or
    less) from ``start`` to ``end``: ``outcome``, ``start``, ``end`` (medians), ``ratio``; the
    steepest first.  ``values``: :func:`~experiments.outcomes.outcome_values`."""
    b = values[(values["scenario"] == baseline) & values["year"].isin([start, end])]
    med = b.groupby(["outcome", "year"])["value"].median().unstack("year")
    if start not in med or end not in med:
        return []
    out = []
    for oc in outcomes:
        if oc.name not in med.index:
            continue
        a, z = float(med.at[oc.name, start]), float(med.at[oc.name, end])
        if a > 0 and np.isfinite(z) and (z / a >= factor or z / a <= 1 / factor):
            out.append({"outcome": oc, "start": a, "end": z, "ratio": z / a})
    return sorted(out, key=lambda r: -abs(np.log(r["ratio"])))
