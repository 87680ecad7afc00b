"""How sure the comparison is (experiments.effects): predictive intervals of the effects over
draws x seeds, the share of their variance due to the parameters, the Monte Carlo error of the
mean effect, Benjamini-Hochberg q-values and the ranking of the scenarios.

Synthetic tables of one outcome (Hebei R&D spending, bn yuan per year) with a known structure:
scenario(draw, seed) = baseline(draw, seed) + effect[draw, seed].  Fixed seeds, no timing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments.effects import (
    DIFF_COLUMNS, FDR, RANKING_COLUMNS, RANKING_OUTCOMES, paired_differences, ranking_table,
    scenario_ranking, verdict,
)
from experiments.outcomes import TABLE_OUTCOMES

OUTCOME = "Hebei rd_spending_bn"
BASE = 1000.0  # bn yuan per year
FLOWS = pd.DataFrame(columns=["scenario", "seed", "year", "origin", "destination", "contract_value_bn",
                              "contracts"])


def tables(effects: dict[str, np.ndarray], draws: bool = True, year: int = 2035, rng_seed: int = 0) -> pd.DataFrame:
    """Regions rows of a baseline and one scenario per ``effects`` item: an array [draw, seed]
    (or [seed] without draws) of its effect.  The baseline varies by draw and seed (that part
    cancels in the paired differences)."""
    shape = next(iter(effects.values())).shape
    rng = np.random.default_rng(rng_seed)
    base = BASE + 50 * rng.normal(size=shape)
    rows = []
    for scenario, eff in {"baseline": np.zeros(shape), **effects}.items():
        for idx in np.ndindex(*shape):
            row = {"scenario": scenario, "seed": idx[-1], "year": year, "region": "Hebei",
                   "metric": "rd_spending_bn", "value": float(base[idx] + eff[idx])}
            if draws:
                row["draw"] = 100 + idx[0]
            rows.append(row)
    return pd.DataFrame(rows)


def one_row(regions: pd.DataFrame, scenario: str = "alt") -> pd.Series:
    d = paired_differences(regions, FLOWS, "baseline", years=(2035,))
    assert list(d.columns) == DIFF_COLUMNS
    return d[(d["scenario"] == scenario) & (d["outcome"] == OUTCOME)].iloc[0]


def two_way(x: np.ndarray) -> tuple[float, float, float]:
    """Mean squares (draws, seeds, residual) of a K x S table, by hand."""
    k, s = x.shape
    m, r, c = x.mean(), x.mean(axis=1), x.mean(axis=0)
    msd = s * np.sum((r - m) ** 2) / (k - 1)
    mss = k * np.sum((c - m) ** 2) / (s - 1)
    mse = np.sum((x - r[:, None] - c[None, :] + m) ** 2) / ((k - 1) * (s - 1))
    return msd, mss, mse


# ----------------------------------------------------------------------------- seeds only


def test_seed_only_quantiles_p_positive_mc_se_and_p_value():
    diffs = np.array([-4.0, -1.0, 2.0, 3.0, 5.0, 8.0, 9.0, 12.0, 15.0, 20.0])
    r = one_row(tables({"alt": diffs}, draws=False))
    assert r["n_seeds"] == 10 and r["n_draws"] == 0
    assert r["median"] == pytest.approx(6.5)
    assert (r["lo90"], r["hi90"]) == pytest.approx(tuple(np.quantile(diffs, [0.05, 0.95])))
    assert r["lo90"] == pytest.approx(-4 + 0.45 * 3)  # linear interpolation between -4 and -1
    assert r["p_positive"] == pytest.approx(0.8)  # 8 of 10 seeds above 0, computed without draws too
    assert np.isnan(r["param_share"])  # no draws: nothing to attribute to the parameters
    assert r["mc_se"] == pytest.approx(diffs.std(ddof=1) / np.sqrt(10), rel=1e-12)
    assert r["p_value"] == pytest.approx(stats.ttest_1samp(diffs, 0).pvalue, rel=1e-9)
    assert r["q_value"] == pytest.approx(r["p_value"])  # a family of one
    assert r["mean_diff"] == pytest.approx(diffs.mean())  # the existing columns are unchanged


def test_identical_runs_have_no_effect_and_p_value_one():
    r = one_row(tables({"alt": np.zeros(6)}, draws=False))
    assert (r["median"], r["lo90"], r["hi90"], r["p_positive"], r["mc_se"]) == (0, 0, 0, 0, 0)
    assert r["p_value"] == 1.0 and not r["clear"] and verdict(r) == "within noise"


# ----------------------------------------------------------------------------- draws x seeds


def test_param_share_and_mc_se_recover_a_known_split():
    """effect = draw_effect[d] + seed noise, draw effects of sample variance exactly 4, noise of
    variance 1: the parameters hold 4 / (4 + 1) = 0.8 of the variance (tolerance 0.03: the noise
    of 40 x 30 runs moves the estimate by about 0.01)."""
    k, s = 40, 30
    rng = np.random.default_rng(12)
    z = rng.normal(size=k)
    draw_effect = 20 + 2 * (z - z.mean()) / z.std(ddof=1)
    eff = draw_effect[:, None] + rng.normal(size=(k, s))
    r = one_row(tables({"alt": eff}))
    assert r["n_seeds"] == k * s and r["n_draws"] == k
    assert r["param_share"] == pytest.approx(0.8, abs=0.03)
    # the predictive interval spans draws and seeds: about 20 -/+ 1.645 * sqrt(5)
    assert (r["median"], r["lo90"], r["hi90"]) == pytest.approx(tuple(np.quantile(eff, [0.5, 0.05, 0.95])))
    assert r["lo90"] == pytest.approx(20 - 1.645 * np.sqrt(5), abs=0.5)
    assert r["hi90"] == pytest.approx(20 + 1.645 * np.sqrt(5), abs=0.5)
    assert r["p_positive"] == 1.0
    # mc_se: the crossed-design estimate, sqrt((MSD + MSS - MSE) / (K S)) computed by hand ...
    msd, mss, mse = two_way(eff)
    assert mss > mse and msd > mse  # no component clipped here
    assert r["mc_se"] == pytest.approx(np.sqrt((msd + mss - mse) / (k * s)), rel=1e-9)
    # ... close to the nested sqrt(var_draw/K + var_seed/(K S)) of the true variances (10%) ...
    assert r["mc_se"] == pytest.approx(np.sqrt(4 / k + 1 / (k * s)), rel=0.10)
    # ... and far larger than the naive sd/sqrt(n) that treats the 1,200 runs as independent
    assert r["mc_se"] > 3 * eff.std(ddof=1) / np.sqrt(k * s)


def test_confidence_interval_of_the_mean_follows_the_design():
    """lo/hi: mean -/+ t * mc_se with the test's degrees of freedom, so it excludes 0 exactly when
    p_value < 10%; with draws it is as wide as the crossed design says, not the independent-runs one.
    Draw effects of sd 3 around 1, 8 draws x 5 seeds: the mean's interval must span about
    +-1.9 * 3 / sqrt(8) ~ +-2 and so contain 0, while the independent-runs interval would not."""
    k, s = 8, 5
    rng = np.random.default_rng(21)
    z = rng.normal(size=k)
    eff = 1 + 3 * ((z - z.mean()) / z.std(ddof=1))[:, None] + 0.05 * rng.normal(size=(k, s))
    eff[:, :] += 1 - eff.mean()  # mean effect exactly 1
    r = one_row(tables({"alt": eff}))
    half = (r["hi"] - r["lo"]) / 2
    assert r["mean_diff"] == pytest.approx(1.0) and (r["lo"] + r["hi"]) / 2 == pytest.approx(1.0)
    assert half == pytest.approx(stats.t.ppf(0.95, k - 1) * r["mc_se"], rel=0.05)  # Satterthwaite df ~ K - 1
    assert r["straddles_zero"] and r["p_value"] >= 0.10
    naive = stats.t.ppf(0.95, k * s - 1) * eff.std(ddof=1) / np.sqrt(k * s)
    assert naive < 1 < half  # treating the 40 runs as independent would have excluded 0
    # seeds only: the paired t-interval, the same as scipy's
    diffs = np.array([0.5, 1.5, 2.0, 2.5, 4.0, 0.1])
    r = one_row(tables({"alt": diffs}, draws=False))
    ci = stats.ttest_1samp(diffs, 0).confidence_interval(0.90)
    assert (r["lo"], r["hi"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert r["straddles_zero"] == (r["p_value"] >= 0.10)


def test_param_share_is_near_zero_without_a_parameter_effect():
    """Pure run noise (sd 1) around an effect of 5: the parameters explain nothing (tolerance 0.05)."""
    rng = np.random.default_rng(3)
    eff = 5 + rng.normal(size=(10, 20))
    r = one_row(tables({"alt": eff}))
    assert 0 <= r["param_share"] <= 0.05
    assert r["mc_se"] == pytest.approx(1 / np.sqrt(200), rel=0.15)


def test_a_seed_effect_shared_by_all_draws_counts_in_mc_se_not_in_param_share():
    """Common random numbers reuse a seed at every draw: an effect that depends on the seed alone
    (sd 2, the same at every draw) averages out over the S seeds only, so mc_se ~ 2/sqrt(S)."""
    k, s = 8, 25
    rng = np.random.default_rng(5)
    z = rng.normal(size=s)
    seed_effect = 2 * (z - z.mean()) / z.std(ddof=1)
    eff = 10 + seed_effect[None, :] + 0.1 * rng.normal(size=(k, s))
    r = one_row(tables({"alt": eff}))
    assert r["param_share"] <= 0.01
    assert r["mc_se"] == pytest.approx(2 / np.sqrt(s), rel=0.05)


def test_one_draw_and_an_incomplete_grid():
    rng = np.random.default_rng(9)
    eff = 3 + rng.normal(size=(1, 12))
    r = one_row(tables({"alt": eff}))  # one draw: conditional on it, the seeds are independent
    assert np.isnan(r["param_share"]) and r["n_draws"] == 1
    assert r["mc_se"] == pytest.approx(eff.std(ddof=1) / np.sqrt(12), rel=1e-12)
    # a grid with a run missing (draw 100, seed 0 failed in the scenario): the nested estimate
    eff = 3 + np.array([[0.0, 1.0, 2.0], [4.0, 5.0, 9.0], [1.0, 1.0, 4.0]])
    regions = tables({"alt": eff})
    regions = regions[~((regions["scenario"] == "alt") & (regions["draw"] == 100) & (regions["seed"] == 0))]
    r = one_row(regions)
    x = [eff[0, 1:], eff[1], eff[2]]
    n_k, n = np.array([2.0, 3.0, 3.0]), 8
    means, m = np.array([v.mean() for v in x]), np.concatenate(x).mean()
    msb = np.sum(n_k * (means - m) ** 2) / 2
    msw = sum(np.sum((v - v.mean()) ** 2) for v in x) / (n - 3)
    n0 = (n - np.sum(n_k ** 2) / n) / 2
    v_between = (msb - msw) / n0
    assert v_between > 0
    assert r["n_seeds"] == 8
    assert r["param_share"] == pytest.approx(v_between / (v_between + msw), rel=1e-9)
    assert r["mc_se"] == pytest.approx(np.sqrt(v_between * np.sum(n_k ** 2) / n ** 2 + msw / n), rel=1e-9)


# ----------------------------------------------------------------------------- multiple comparisons


def test_q_values_are_benjamini_hochberg_over_every_row():
    """Four scenarios' effects (seed-only, 5 seeds, baseline 1,000): p-values from the paired t-test,
    q-values by hand: q_(i) = min over j >= i of m p_(j) / j, m = 4."""
    effects = {"strong": np.array([11.0, 9, 12, 10, 13]), "weak": np.array([30.0, 10, 55, 6, 14]),
               "none_a": np.array([12.0, -30, 25, -8, 10]), "none_b": np.array([20.0, -30, 25, -8, 10])}
    d = paired_differences(tables(effects, draws=False), FLOWS, "baseline", years=(2035,)).set_index("scenario")
    p = {s: stats.ttest_1samp(v, 0).pvalue for s, v in effects.items()}
    for s in effects:
        assert d.at[s, "p_value"] == pytest.approx(p[s], rel=1e-9)
    assert p["strong"] < 1e-3 and 0.05 < p["weak"] < 0.1  # preconditions of the hand computation
    order = sorted(p, key=p.get)  # strong, weak, none_b, none_a
    assert order == ["strong", "weak", "none_b", "none_a"]
    ps = [p[s] for s in order]
    hand = [min(4 * ps[j] / (j + 1) for j in range(i, 4)) for i in range(4)]
    for s, q in zip(order, hand):
        assert d.at[s, "q_value"] == pytest.approx(q, rel=1e-9)
    assert d.at["weak", "q_value"] == pytest.approx(4 * p["weak"] / 2)  # 0.125 > FDR
    # "weak" excludes 0 at 90% on its own and is material, but is not clear after the correction
    assert not d.at["weak", "straddles_zero"] and d.at["weak", "material"]
    assert not d.at["weak", "clear"] and verdict(d.loc["weak"]) == "within noise"
    assert d.at["strong", "clear"] and verdict(d.loc["strong"]) == "clear"
    assert FDR == 0.10


def test_verdict_of_an_older_table_uses_its_interval():
    old = pd.Series({"straddles_zero": False, "material": True})
    assert verdict(old) == "clear"
    assert verdict(pd.Series({"straddles_zero": True, "material": True})) == "within noise"
    assert verdict(pd.Series({"q_value": 0.05, "straddles_zero": True, "material": False})) == "small"


# ----------------------------------------------------------------------------- ranking


def ranking_case() -> pd.DataFrame:
    """10 (draw, seed) pairs, 2 draws x 5 seeds.  A beats B in 8 pairs, B beats C in 6; A is the
    best in 8 pairs, C in 2.  Rows shuffled: pairs are matched by (draw, seed), not by position."""
    effects = {"C": np.array([2.0, 2, 2, 2, 2, 2, 4, 4, 4, 4]).reshape(2, 5),
               "A": np.array([5.0, 5, 5, 5, 5, 5, 5, 5, 1, 1]).reshape(2, 5),
               "B": np.full((2, 5), 3.0)}
    return tables(effects).sample(frac=1.0, random_state=4).reset_index(drop=True)


def test_ranking_probabilities_on_a_constructed_case():
    t = scenario_ranking(ranking_case(), FLOWS, "baseline", OUTCOME, 2035)
    assert list(t.columns) == RANKING_COLUMNS
    assert list(t["scenario"]) == ["A", "B", "C"] and list(t["rank"]) == [1, 2, 3]
    assert t["median"].tolist() == pytest.approx([5.0, 3.0, 2.0])
    assert list(t["next_scenario"].iloc[:2]) == ["B", "C"] and pd.isna(t["next_scenario"].iloc[2])
    assert t["p_above_next"].iloc[:2].tolist() == pytest.approx([0.8, 0.6])
    assert np.isnan(t["p_above_next"].iloc[2])
    assert t["p_best"].tolist() == pytest.approx([0.8, 0.0, 0.2])
    assert (t["n_pairs"] == 10).all() and (t["unit"] == "bn yuan").all()
    assert t["lo90"].iloc[0] == pytest.approx(1.0) and t["hi90"].iloc[0] == pytest.approx(5.0)


def test_ranking_ties_count_one_half():
    """Two scenarios with the same effect in every pair: a coin flip, and they share "best"."""
    same = np.arange(6, dtype=float).reshape(2, 3)
    t = scenario_ranking(tables({"X": same, "Y": same.copy(), "Z": same - 1}), FLOWS, "baseline", OUTCOME, 2035)
    assert list(t["scenario"]) == ["X", "Y", "Z"]  # a tie keeps the scenarios' order
    assert t["p_above_next"].iloc[:2].tolist() == pytest.approx([0.5, 1.0])
    assert t["p_best"].tolist() == pytest.approx([0.5, 0.5, 0.0])


def test_ranking_table_names_existing_outcomes_and_skips_absent_ones():
    names = {oc.name for oc in TABLE_OUTCOMES}
    assert set(RANKING_OUTCOMES) <= names
    t = ranking_table(ranking_case(), FLOWS, "baseline", years=(2030, 2035), names=(OUTCOME, *RANKING_OUTCOMES))
    assert set(t["outcome"]) == {OUTCOME} and set(t["year"]) == {2035}  # only what the results hold
    with pytest.raises(ValueError, match="unknown outcome"):
        scenario_ranking(ranking_case(), FLOWS, "baseline", "Atlantis rd_spending_bn", 2035)
    with pytest.raises(ValueError, match="baseline 'status_quo'"):
        scenario_ranking(ranking_case(), FLOWS, "status_quo", OUTCOME, 2035)


# ----------------------------------------------------------------------------- the report


def test_compare_with_draws_shows_predictive_intervals_parameter_share_and_ranking(tmp_path, monkeypatch):
    """Run folders over 4 draws x 3 seeds: the report shows the draws note (not the seed-only
    one), the share due to parameters, the multiple-comparison sentence and the ranking."""
    from experiments.compare import compare

    monkeypatch.setattr("experiments.compare.draw_comparison", lambda *args: {})  # no figures
    rng = np.random.default_rng(21)
    k, s = 4, 3
    base = 50 + rng.normal(size=(k, s))
    lift = {"baseline": np.zeros((k, s)), "push": 10 + np.arange(k)[:, None] + 0.2 * rng.normal(size=(k, s)),
            "nudge": 2 + 0.2 * rng.normal(size=(k, s))}
    dirs = []
    for scenario, eff in lift.items():
        regions, flows = [], []
        for d, seed in np.ndindex(k, s):
            for year in (2030, 2035):
                v = base[d, seed] + eff[d, seed]
                key = {"scenario": scenario, "seed": seed, "draw": 100 + d, "year": year}
                regions.append({**key, "region": "Hebei", "metric": "contract_turnover_bn", "value": 3 * v})
                flows.append({**key, "origin": "Beijing", "destination": "Hebei", "contract_value_bn": v,
                              "contracts": 10 * v})
        folder = tmp_path / "results" / scenario
        folder.mkdir(parents=True)
        pd.DataFrame(regions).to_parquet(folder / "regions.parquet")
        pd.DataFrame(flows).to_parquet(folder / "flows.parquet")
        dirs.append(folder)
    out = tmp_path / "cmp"
    html = compare(dirs, out).read_text()
    assert "Seed noise only" not in html and "same 4 draws of the" in html
    assert "of spread from parameters" in html and "Benjamini" in html
    d = pd.read_csv(out / "paired_differences.csv")
    assert (d["n_draws"] == 4).all() and (d["n_seeds"] == 12).all()
    assert d.loc[d["outcome"] == "flow Beijing->Hebei", "param_share"].notna().all()
    none = d[d["outcome"] == "flow Beijing->Tianjin"]  # no such flow: 0 in every run, no variance to share
    assert (none["mean_diff"] == 0).all() and none["param_share"].isna().all() and (none["p_value"] == 1).all()
    push = d[(d["scenario"] == "push") & (d["outcome"] == "flow Beijing->Hebei") & (d["year"] == 2035)].iloc[0]
    assert push["param_share"] > 0.9  # the effect varies by draw (10, 11, 12, 13), little by seed
    ranking = pd.read_csv(out / "ranking.csv")
    assert set(ranking["outcome"]) == {"flow Beijing->Hebei", "Hebei contract_turnover_bn"}  # what exists
    r = ranking[(ranking["outcome"] == "flow Beijing->Hebei") & (ranking["year"] == 2035)]
    assert list(r["scenario"]) == ["push", "nudge"] and r["p_best"].tolist() == [1.0, 0.0]
    assert r["p_above_next"].iloc[0] == 1.0 and (r["n_pairs"] == 12).all()
    assert 'id="ranking"' in html and "Contracts Beijing → Hebei, 2035" in html
