"""Effect statistics of a comparison: paired differences to the baseline, how sure we are of
them, seed ranges, and the ranking of the scenarios.

**Pairing.**  The runner uses the same seeds for every scenario (common random numbers) and, in
an ensemble over posterior parameter draws (``bth run --draws K --seeds S``), the same draws: a
run is identified by (draw, seed), by the seed alone when the tables have no ``draw`` column.
The paired difference d = scenario(draw, seed) - baseline(draw, seed) isolates the effect of the
policy from the model's randomness and from the parameters' uncertainty.  Values keep the unit of
their outcome (bn yuan per year, or firms).

**Columns** of :func:`paired_differences`, one row per scenario x outcome x year (n pairs d):

* ``mean_diff``: the mean effect, mean of d; ``n_seeds``: the number of pairs n (draws x seeds);
  ``n_draws``: the number of parameter draws (0: the results carry none);
* ``lo``, ``hi``: the :data:`LEVEL` confidence interval of the mean effect, mean -/+ t * ``mc_se``
  with the degrees of freedom of ``p_value`` (without draws the paired t-interval over the seeds,
  mean -/+ t * sd(d)/sqrt(n); with draws the crossed design below, so it widens with the
  parameters' uncertainty); ``straddles_zero``: that interval contains 0 (or is undefined), i.e.
  ``p_value`` >= 1 - LEVEL before the multiple-comparison correction;
* ``median``, ``lo90``, ``hi90``: median and 5% / 95% quantiles of d (linear interpolation): the
  90% *predictive* interval of the effect: in 90% of the simulated futures (draws x seeds) the
  effect lies in it.  Unlike ``lo``/``hi`` it does not shrink with more runs;
* ``p_positive``: the share of the pairs with d > 0 (a predictive probability that the policy
  raises the outcome; over seeds only without draws);
* ``param_share``: the share of the variance of d due to the parameters rather than the seeds,
  see *Variance components*; NaN without draws, with one draw, or with one seed per draw;
* ``mc_se``: the Monte Carlo standard error of ``mean_diff`` (how far more runs could move it);
* ``p_value``: two-sided t-test of "mean effect = 0", t = mean_diff / mc_se (without draws: the
  paired t-test over the seeds, n - 1 degrees of freedom; with draws see below);
* ``q_value``: ``p_value`` adjusted by Benjamini-Hochberg over all rows of the table;
* ``material``: |rel_diff_pct| >= :data:`MATERIAL_PCT`; ``clear``: material **and**
  ``q_value`` <= :data:`FDR`;
* ``baseline_mean``, ``rel_diff_pct`` (= 100 * mean_diff / |baseline_mean|), ``rel_lo_pct``,
  ``rel_hi_pct`` (``lo``/``hi`` in percent of the baseline), ``seed_p05``/``seed_p95`` (the
  ``level`` quantiles of d; equal to ``lo90``/``hi90`` at the default level), ``unit``.

An effect is *clear* only if it is told apart from 0 after the multiple-comparison correction
**and** it is material: at least :data:`MATERIAL_PCT` percent of the baseline's value.  A
difference told apart from 0 but smaller than that is reported as "small", not as clear
(:func:`verdict`).

**Multiple comparisons.**  A comparison holds hundreds of effects (every scenario x outcome x
year); tested one by one at 10%, dozens of null effects would be called clear by chance.  The
p-values of every row of the table are adjusted together by Benjamini-Hochberg
(:func:`scipy.stats.false_discovery_control`; rows without a p-value, n = 1, are left out of the
family): calling the effects with q <= :data:`FDR` = 10% clear keeps the expected share of false
discoveries among them at most 10% (exact for independent or positively dependent tests; the
effects of one comparison share their runs and are mostly positively dependent).  The family is
the table asked for: fewer outcomes (e.g. the workbench's one metric) give other q-values.

**Variance components** (with draws).  With a complete grid (every draw with the same S >= 2
seeds, K >= 2 draws; the runner's design) the n = K*S differences are a crossed two-way layout
d[k, s] = mu + a_k (draw) + b_s (seed) + e_ks: the same seed is used at every draw, so a seed
may shift the effect at every draw alike.  From the mean squares of the two-way analysis of
variance without replication, MSD (draws, K-1 df), MSS (seeds, S-1 df) and MSE (residual,
(K-1)(S-1) df), the moment estimates are var_draw = max(0, (MSD - MSE)/S), var_seed = max(0,
(MSS - MSE)/K), var_resid = MSE, and

* ``param_share`` = var_draw / (var_draw + var_seed + var_resid): the law of total variance
  Var(d) = Var(E[d | draw]) + E[Var(d | draw)], its first term (the variance of the per-draw mean
  effect) estimated without the seed noise the per-draw means of S seeds still carry (the plain
  variance of the per-draw means overstates it by about Var(d | draw)/S);
* ``mc_se`` = sqrt(var_draw/K + var_seed/S + var_resid/(K*S)).  Without a seed effect this is the
  nested sqrt(var_between/K + var_within/(K*S)); unclipped it equals sqrt((MSD + MSS - MSE)/(K*S)),
  the unbiased estimate of the variance of the mean of a crossed design.  Treating the n pairs as
  independent (sd/sqrt(n)) would understate it whenever the parameters matter.  ``p_value`` uses
  Satterthwaite's degrees of freedom for this combination of mean squares (K-1 when MSD dominates).

With an incomplete grid (some runs missing), the one-way (draw-nested) moment estimates for
unbalanced groups are used: var_between = max(0, (MSB - MSW)/n0), n0 = (n - sum n_k^2/n)/(K-1),
var_within = MSW, Var(mean) = var_between * sum n_k^2/n^2 + var_within/n.  With a single draw, or
one seed per draw, the pairs are treated as independent (sd/sqrt(n), n - 1 df).

**Ranking** (:func:`scenario_ranking`, :func:`ranking_table`): the scenarios other than the
baseline ranked by their median effect on a headline outcome (:data:`RANKING_OUTCOMES`), largest
first, with the probability that each adjacent pair is in that order (the share of (draw, seed)
pairs in which the higher-ranked scenario's effect exceeds the next one's: the pairs match across
scenarios by common random numbers) and each scenario's probability of being the best.

Main entry points: :func:`paired_differences` (the table of scenario effects),
:func:`scenario_ranking`, :func:`outcome_table` (median and range across seeds),
:func:`flow_cell_differences` (the paired difference of every origin-destination cell) and
:func:`baseline_crossings` (where one region's baseline path overtakes another's after the
calibration years).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from experiments.outcomes import TABLE_OUTCOMES, YEARS, Outcome, draw_key, outcome_values
from model.regions import REGIONS
from model.years import CALIBRATION_LAST_YEAR

LEVEL = 0.90  # coverage of every confidence interval of the comparison
PREDICTIVE = (0.05, 0.95)  # quantiles of the predictive interval lo90-hi90
MATERIAL_PCT = 1.0  # an effect is material if |effect| >= this percentage of the baseline's value
FDR = 0.10  # false discovery rate of the clear effects (Benjamini-Hochberg over the whole table)

# The headline outcomes the scenarios are ranked on (names of experiments.outcomes.TABLE_OUTCOMES).
RANKING_OUTCOMES: tuple[str, ...] = (
    "flow Beijing->Hebei", "Beijing reported_outflow_tianjin_hebei_bn", "Hebei contract_turnover_bn",
)

DIFF_COLUMNS = ["scenario", "outcome", "year", "mean_diff", "lo", "hi", "straddles_zero", "n_seeds",
                "baseline_mean", "rel_diff_pct", "rel_lo_pct", "rel_hi_pct", "material", "clear",
                "p_positive", "seed_p05", "seed_p95", "unit",
                "median", "lo90", "hi90", "param_share", "mc_se", "p_value", "q_value", "n_draws"]
CELL_COLUMNS = ["scenario", "year", "origin", "destination", "mean_diff", "lo", "hi", "within_noise",
                "baseline_mean", "rel_diff_pct", "n_seeds", "n_draws"]
RANKING_COLUMNS = ["outcome", "year", "rank", "scenario", "median", "lo90", "hi90", "p_best",
                   "next_scenario", "p_above_next", "n_pairs", "unit"]


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
    """Effect of each scenario on each outcome: scenario minus baseline, run by run.

    For every scenario other than ``baseline``, outcome and year, the paired difference
    d = scenario(draw, seed) - baseline(draw, seed) is taken over the runs both share (common
    random numbers; by seed alone without a ``draw`` column).  Columns :data:`DIFF_COLUMNS`,
    explained in the module docstring: the mean effect with its ``level`` confidence interval
    (``mean_diff``, ``lo``, ``hi``, ``straddles_zero``), the predictive distribution of the
    effect (``median``, ``lo90``, ``hi90``, ``p_positive``), the share of its variance due to
    the parameters (``param_share``), the Monte Carlo error of the mean (``mc_se``), the test of
    "no effect" (``p_value``, ``q_value``: Benjamini-Hochberg over all rows) and the verdict
    (``material``, ``clear``: material and ``q_value`` <= :data:`FDR`).

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
    by = ["scenario", "outcome", "year"]
    res = _paired_stats(merged, level, by=by)
    res["q_value"] = bh_adjust(res["p_value"].to_numpy(dtype=float))
    res["clear"] = res["material"] & (res["q_value"] <= FDR)
    res["unit"] = res["outcome"].map({oc.name: oc.unit for oc in outcomes})
    order = {oc.name: i for i, oc in enumerate(outcomes)}
    scen_order = {s: i for i, s in enumerate(dict.fromkeys(others["scenario"]))}
    res = res.sort_values(["scenario", "outcome", "year"],
                          key=lambda c: c.map(scen_order) if c.name == "scenario"
                          else c.map(order) if c.name == "outcome" else c)
    return res[DIFF_COLUMNS].reset_index(drop=True)


def _paired_stats(merged: pd.DataFrame, level: float, by=("scenario", "outcome", "year")) -> pd.DataFrame:
    """Mean, seed quantiles, P(diff > 0) and the uncertainty of the mean (:func:`_uncertainty`) of
    ``diff`` by ``by``, with the ``level`` confidence interval of the mean (:func:`_mean_interval`)."""
    g = merged.groupby(list(by), sort=False)
    res = g.agg(mean_diff=("diff", "mean"), n_seeds=("diff", "size"), baseline_mean=("base", "mean"))
    a = (1 - level) / 2
    q = g["diff"].quantile([a, 1 - a]).unstack(-1)
    res["seed_p05"], res["seed_p95"] = q.iloc[:, 0], q.iloc[:, 1]
    res["p_positive"] = (merged["diff"] > 0).groupby([merged[k] for k in by], sort=False).mean()
    res = _mean_interval(res.reset_index().merge(_uncertainty(merged, by), on=list(by), how="left",
                                                 validate="one_to_one"), level)
    base = res["baseline_mean"].where(res["baseline_mean"] != 0).abs()
    for col, of in (("rel_diff_pct", "mean_diff"), ("rel_lo_pct", "lo"), ("rel_hi_pct", "hi")):
        res[col] = 100 * res[of] / base
    res["material"] = res["rel_diff_pct"].abs() >= MATERIAL_PCT
    return res


def _mean_interval(res: pd.DataFrame, level: float) -> pd.DataFrame:
    """``lo``, ``hi``: the ``level`` confidence interval of the mean effect, mean_diff -/+ t(df) *
    mc_se, with the standard error and degrees of freedom of the design (:func:`variance_components`:
    the crossed draws x seeds layout with draws, the paired t-test over the seeds without), so that it
    excludes 0 exactly when ``p_value`` < 1 - ``level``; and ``straddles_zero``."""
    df = res["df"].to_numpy(dtype=float)
    ok = np.isfinite(df) & (df > 0)
    with np.errstate(invalid="ignore"):
        tq = np.where(ok, stats.t.ppf(1 - (1 - level) / 2, np.where(ok, df, 1.0)), np.nan)
    half = tq * res["mc_se"].to_numpy(dtype=float)
    half = np.where(res["mc_se"].to_numpy(dtype=float) == 0, 0.0, half)  # no spread: the interval is the mean
    res["lo"] = res["mean_diff"] - half
    res["hi"] = res["mean_diff"] + half
    res["straddles_zero"] = ~((res["lo"] > 0) | (res["hi"] < 0))
    return res


def _uncertainty(merged: pd.DataFrame, by) -> pd.DataFrame:
    """Per group of ``by``: median, lo90, hi90, param_share, mc_se, p_value, n_draws of ``diff``
    (see the module docstring), and the degrees of freedom ``df`` of mc_se."""
    with_draws = "draw" in merged.columns
    rows = []
    for key, grp in merged.groupby(list(by), sort=False):
        d = grp["diff"].to_numpy(dtype=float)
        draw = grp["draw"].to_numpy() if with_draws else None
        var_mean, df, share = variance_components(d, draw, grp["seed"].to_numpy())
        lo, med, hi = np.quantile(d, [PREDICTIVE[0], 0.5, PREDICTIVE[1]])
        rows.append((*key, med, lo, hi, share, np.sqrt(var_mean), _t_p_value(d.mean(), var_mean, df),
                     int(pd.unique(draw).size) if with_draws else 0, df))
    return pd.DataFrame(rows, columns=[*by, "median", "lo90", "hi90", "param_share", "mc_se", "p_value",
                                       "n_draws", "df"])


def _t_p_value(mean: float, var_mean: float, df: float) -> float:
    """Two-sided p-value of "mean = 0" from a t statistic mean / sqrt(var_mean) with ``df`` degrees
    of freedom; 1 for a mean of exactly 0 without variance, 0 for a non-zero one; NaN if undefined."""
    if not np.isfinite(var_mean):
        return np.nan
    if var_mean <= 0:
        return 1.0 if mean == 0 else 0.0
    if not np.isfinite(df) or df <= 0:
        return np.nan
    return float(2 * stats.t.sf(abs(mean) / np.sqrt(var_mean), df))


def _satterthwaite(terms) -> float:
    """Degrees of freedom of sum(c * ms) over ``terms`` of (c, ms, df) (Satterthwaite 1946)."""
    num = sum(c * ms for c, ms, _ in terms) ** 2
    den = sum((c * ms) ** 2 / df for c, ms, df in terms if c != 0)
    return float(num / den) if den > 0 else np.nan


def variance_components(diff: np.ndarray, draw: np.ndarray | None, seed: np.ndarray) -> tuple[float, float, float]:
    """``(var_mean, df, param_share)`` of one set of paired differences: the estimated variance of
    their mean (``mc_se`` squared), its degrees of freedom, and the share of their variance due
    to the draws (NaN if it cannot be told).  ``draw``: the draw of each difference (None: no
    draws); ``seed``: its seed.  The estimators are those of the module docstring."""
    diff = np.asarray(diff, dtype=float)
    n = len(diff)
    iid = ((float(np.var(diff, ddof=1)) / n, n - 1.0) if n > 1 else (np.nan, np.nan)) + (np.nan,)
    if draw is None:
        return iid
    di, draws = pd.factorize(np.asarray(draw))
    si, seeds = pd.factorize(np.asarray(seed))
    k, s = len(draws), len(seeds)
    if k < 2 or n == k:
        return iid  # one draw (conditional on it), or one seed per draw (pairs independent)
    if s >= 2 and n == k * s and len(np.unique(di * s + si)) == n:  # complete crossed grid
        x = np.empty((k, s))
        x[di, si] = diff
        m, r, c = x.mean(), x.mean(axis=1), x.mean(axis=0)
        msd = s * ((r - m) ** 2).sum() / (k - 1)
        mss = k * ((c - m) ** 2).sum() / (s - 1)
        mse = ((x - r[:, None] - c[None, :] + m) ** 2).sum() / ((k - 1) * (s - 1))
        v_draw, v_seed = max(0.0, (msd - mse) / s), max(0.0, (mss - mse) / k)
        total = v_draw + v_seed + mse
        var_mean = v_draw / k + v_seed / s + mse / (k * s)
        cd, cs = float(msd > mse), float(mss > mse)  # a clipped component drops out of the sum
        df = _satterthwaite([(cd, msd, k - 1), (cs, mss, s - 1), (1 - cd - cs, mse, (k - 1) * (s - 1))])
        return var_mean, df, (float(np.clip(v_draw / total, 0, 1)) if total > 0 else np.nan)
    # incomplete grid: draws as groups (one-way, unbalanced)
    counts = np.bincount(di, minlength=k).astype(float)
    means = np.bincount(di, weights=diff, minlength=k) / counts
    m = diff.mean()
    msb = (counts * (means - m) ** 2).sum() / (k - 1)
    msw = ((diff - means[di]) ** 2).sum() / (n - k)
    n0 = (n - (counts ** 2).sum() / n) / (k - 1)
    w = (counts ** 2).sum() / n ** 2
    v_between = max(0.0, (msb - msw) / n0)
    cb = w / n0 if msb > msw else 0.0
    cw = 1 / n - cb
    var_mean = cb * msb + cw * msw
    df = _satterthwaite([(cb, msb, k - 1), (cw, msw, n - k)])
    total = v_between + msw
    return var_mean, df, (float(np.clip(v_between / total, 0, 1)) if total > 0 else np.nan)


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of ``p``; NaN entries stay NaN and are not
    counted in the family."""
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = stats.false_discovery_control(np.clip(p[ok], 0.0, 1.0), method="bh")
    return q


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
    """How the report words an effect: "clear" (told apart from 0: ``q_value`` <= :data:`FDR`,
    and material), "small" (told apart from 0 but under :data:`MATERIAL_PCT` of the baseline)
    or "within noise".  A row without ``q_value`` (a table of an older version) is judged by
    its interval: "within noise" if it includes 0."""
    if "q_value" in row:
        q = row["q_value"]
        told_apart = q is not None and np.isfinite(float(q)) and float(q) <= FDR
    else:
        told_apart = not row["straddles_zero"]
    if not told_apart:
        return "within noise"
    return "clear" if row["material"] else "small"


def flow_cell_differences(flows: pd.DataFrame, baseline: str, years, level: float = LEVEL) -> pd.DataFrame:
    """The paired difference (scenario - baseline, run by run) of every origin-destination
    cell's contract value in ``years``, bn yuan per year.

    Columns :data:`CELL_COLUMNS`: ``mean_diff``, ``lo``/``hi`` (``level`` confidence interval of
    the mean, as :func:`paired_differences`' by (draw, seed)), ``within_noise`` (the interval
    includes 0, or is undefined), ``baseline_mean``, ``rel_diff_pct``, ``n_seeds`` (the pairs:
    draws x seeds), ``n_draws`` (0: no parameter draws).  A cell absent from a run counts as zero
    contract value."""
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


# ----------------------------------------------------------------------------- ranking

def _outcome_named(name, outcomes) -> Outcome:
    if isinstance(name, Outcome):
        return name
    for oc in outcomes:
        if oc.name == name:
            return oc
    raise ValueError(f"unknown outcome '{name}'; known: {[oc.name for oc in outcomes]}")


def scenario_ranking(regions: pd.DataFrame, flows: pd.DataFrame, baseline: str, outcome, year: int,
                     outcomes: tuple[Outcome, ...] = TABLE_OUTCOMES) -> pd.DataFrame:
    """The scenarios other than ``baseline`` ranked by their median effect on ``outcome`` (an
    :class:`~experiments.outcomes.Outcome` or the name of one of ``outcomes``) in ``year``,
    largest first, and how sure the ranking is.

    The effect of each scenario is taken run by run (scenario - baseline at the same draw and
    seed), over the (draw, seed) pairs every scenario and the baseline share.  Columns
    :data:`RANKING_COLUMNS`: ``rank`` (1 = largest median effect; ties keep the scenarios'
    order), ``median``, ``lo90``, ``hi90`` (the effect's median and 90% predictive interval),
    ``p_best`` (the share of pairs in which the scenario has the largest effect; a tie of k
    scenarios counts 1/k to each, so the column sums to 1), ``next_scenario`` and
    ``p_above_next`` (the share of pairs in which the scenario's effect exceeds the next-ranked
    one's, a tie counting one half: the probability that this step of the ranking holds; NaN
    for the last), ``n_pairs``, ``unit``.  Empty if no pair is shared or the outcome is absent.
    Raises ``ValueError`` if ``baseline`` is not in the results or ``outcome`` is unknown."""
    check_baseline(regions["scenario"].unique(), baseline)
    oc = _outcome_named(outcome, outcomes)
    vals = outcome_values(regions, flows, (oc,))
    vals = vals[vals["year"] == year]
    keys = ["seed"] + draw_key(regions)
    others = [s for s in dict.fromkeys(vals["scenario"]) if s != baseline]
    if vals.empty or not others or baseline not in set(vals["scenario"]):
        return pd.DataFrame(columns=RANKING_COLUMNS)
    wide = vals.pivot_table(index=keys, columns="scenario", values="value", aggfunc="mean").dropna()
    if wide.empty:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    eff = wide[others].sub(wide[baseline], axis=0)
    med = eff.median()
    order = sorted(others, key=lambda s: -med[s])  # stable: ties keep the scenarios' order
    e = eff[order].to_numpy(dtype=float)
    top = e == e.max(axis=1, keepdims=True)
    p_best = (top / top.sum(axis=1, keepdims=True)).mean(axis=0)
    lo, hi = eff[order].quantile(PREDICTIVE[0]), eff[order].quantile(PREDICTIVE[1])
    rows = []
    for i, s in enumerate(order):
        nxt = order[i + 1] if i + 1 < len(order) else None
        above = (float(np.mean((e[:, i] > e[:, i + 1]) + 0.5 * (e[:, i] == e[:, i + 1])))
                 if nxt is not None else np.nan)
        rows.append((oc.name, int(year), i + 1, s, float(med[s]), float(lo[s]), float(hi[s]),
                     float(p_best[i]), nxt, above, len(e), oc.unit))
    return pd.DataFrame(rows, columns=RANKING_COLUMNS)


def ranking_table(regions: pd.DataFrame, flows: pd.DataFrame, baseline: str, years=YEARS,
                  names=RANKING_OUTCOMES, outcomes: tuple[Outcome, ...] = TABLE_OUTCOMES) -> pd.DataFrame:
    """:func:`scenario_ranking` of every outcome of ``names`` present in the results, in each of
    ``years``, one table (columns :data:`RANKING_COLUMNS`; outcomes in the order of ``names``)."""
    parts = [scenario_ranking(regions, flows, baseline, _outcome_named(n, outcomes), y, outcomes)
             for n in names for y in years]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    return pd.concat(parts, ignore_index=True)
