"""Tests of experiments.plots and experiments.compare on synthetic run folders.

The synthetic results follow docs/CONTRACT.md (real-world scale, bn yuan) and have a known,
built-in scenario effect, so the sign and size of paired differences can be checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments.compare import compare, paired_differences
from experiments.plots import plot_run

YEARS = range(2020, 2036)
FLOW_REGIONS = ("Beijing", "Tianjin", "Hebei", "Rest of China")
# 2020 contract value by origin (rows) and destination (columns), bn yuan; RoC->RoC absent.
BASE_FLOWS = np.array([
    [200.0, 15.0, 25.0, 400.0],
    [10.0, 60.0, 8.0, 40.0],
    [3.0, 2.0, 20.0, 13.0],
    [150.0, 40.0, 30.0, np.nan],
])
# 2020 level and yearly growth of the non-flow metrics.
BASE_METRICS = {
    "rd_spending_bn": ({"Beijing": 233.0, "Tianjin": 48.5, "Hebei": 63.4}, 0.07),
    "transformed_output_bn": ({"Beijing": 500.0, "Tianjin": 180.0, "Hebei": 120.0}, 0.06),
    "high_tech_enterprises": ({"Beijing": 29000.0, "Tianjin": 9200.0, "Hebei": 9400.0}, 0.05),
    "sci_tech_smes": ({"Beijing": 10000.0, "Tianjin": 9000.0, "Hebei": 12000.0}, 0.06),
}
# Built-in effects: scenario -> {(origin, destination) or (region, metric): relative change by 2030}.
EFFECTS = {
    "baseline": {},
    "lower_friction": {("Beijing", "Hebei"): 0.40, ("Beijing", "Tianjin"): 0.20,
                       ("Hebei", "transformed_output_bn"): 0.15, ("Hebei", "high_tech_enterprises"): 0.05},
    "hebei_rd_push": {("Hebei", "rd_spending_bn"): 0.30, ("Hebei", "sci_tech_smes"): 0.10},
    "no_effect": {},
}


# Key outcomes named in the synthetic manifests (as `bth run` writes them from the scenario file).
KEYS = {
    "lower_friction": [{"origin": "Beijing", "destination": "Hebei"}],
    "hebei_rd_push": [{"region": "Hebei", "metric": "sci_tech_smes"}, {"region": "Xiong'an", "metric": "park_firms"}],
}


def _ramp(year: int) -> float:
    """Share of a scenario effect in force: 0 up to 2025, rising linearly to 1 in 2030."""
    return float(np.clip((year - 2025) / 5, 0, 1))


def make_run(root: Path, scenario: str, seeds=range(5), years=YEARS, manifest: bool = True) -> Path:
    """Write a synthetic run folder ``root/scenario`` and return it.

    Seed noise is a log random walk drawn from the seed alone (common random numbers), so the
    paired difference of a scenario to the baseline is exactly its built-in effect.
    """
    eff = EFFECTS[scenario]
    years = list(years)
    reg_rows, flow_rows = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        shocks = np.exp(np.cumsum(rng.normal(0, 0.03, size=(len(years), 4, 4)), axis=0))
        mshocks = np.exp(np.cumsum(rng.normal(0, 0.03, size=(len(years), len(BASE_METRICS), 3)), axis=0))
        for t, year in enumerate(years):
            growth = 1.08 ** (year - 2020)
            flows = BASE_FLOWS * growth * shocks[t]
            for i, o in enumerate(FLOW_REGIONS):
                for j, d in enumerate(FLOW_REGIONS):
                    flows[i, j] *= 1 + eff.get((o, d), 0.0) * _ramp(year)
                    if np.isfinite(flows[i, j]):
                        flow_rows.append((scenario, seed, year, o, d, flows[i, j], flows[i, j] * 1e3 / 1.5))
            for i, r in enumerate(FLOW_REGIONS):
                reg_rows.append((scenario, seed, year, r, "contract_turnover_bn", np.nansum(flows[i, :])))
                reg_rows.append((scenario, seed, year, r, "contract_absorbed_bn", np.nansum(flows[:, i])))
            # the registries' statistics (docs/model.md 7.5), as the model writes them: Beijing's
            # outflow to Tianjin and Hebei (Beijing only), the buyer side (Tianjin and Hebei only);
            # the synthetic flows have no intra-firm part
            reg_rows.append((scenario, seed, year, "Beijing", "reported_outflow_tianjin_hebei_bn", flows[0, 1] + flows[0, 2]))
            for i, r in ((1, "Tianjin"), (2, "Hebei")):
                reg_rows.append((scenario, seed, year, r, "reported_absorbed_from_beijing_bn", flows[0, i]))
            for r in ("Beijing", "Tianjin", "Hebei"):
                reg_rows.append((scenario, seed, year, r, "intra_firm_bn", 0.0))
            for k, (metric, (base, g)) in enumerate(BASE_METRICS.items()):
                for j, r in enumerate(("Beijing", "Tianjin", "Hebei")):
                    v = base[r] * (1 + g) ** (year - 2020) * mshocks[t, k, j]
                    v *= 1 + eff.get((r, metric), 0.0) * _ramp(year)
                    if metric in ("high_tech_enterprises", "sci_tech_smes"):
                        v = round(v)
                    reg_rows.append((scenario, seed, year, r, metric, float(v)))
            reg_rows.append((scenario, seed, year, "Xiong'an", "park_firms", 10.0 * (year - 2019)))
    run_dir = Path(root) / scenario
    run_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(reg_rows, columns=["scenario", "seed", "year", "region", "metric", "value"]).to_parquet(
        run_dir / "regions.parquet")
    pd.DataFrame(flow_rows, columns=["scenario", "seed", "year", "origin", "destination",
                                     "contract_value_bn", "contracts"]).to_parquet(run_dir / "flows.parquet")
    if manifest and scenario != "no_effect":
        (run_dir / "manifest.json").write_text(json.dumps({
            "scenario": scenario, "seeds": list(seeds),
            "description": f"Synthetic test scenario {scenario}.",
            "rationale": "Built-in effects for testing the comparison code.",
            "scenario_details": {"key_outcomes": KEYS.get(scenario, [])}}))
    return run_dir


@pytest.fixture(scope="module")
def result_set(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("results")
    return [make_run(root, s) for s in EFFECTS]


def _load(dirs):
    regions = pd.concat(pd.read_parquet(d / "regions.parquet") for d in dirs)
    flows = pd.concat(pd.read_parquet(d / "flows.parquet") for d in dirs)
    return regions, flows


def test_paired_differences_sign_and_size(result_set):
    regions, flows = _load(result_set)
    d = paired_differences(regions, flows, baseline="baseline")
    assert set(d.columns) >= {"scenario", "outcome", "year", "mean_diff", "lo", "hi", "straddles_zero"}
    assert set(d["scenario"]) == {"lower_friction", "hebei_rd_push", "no_effect"}
    assert set(d["year"]) == {2030, 2035}

    def row(scenario, outcome, year):
        r = d[(d["scenario"] == scenario) & (d["outcome"] == outcome) & (d["year"] == year)]
        assert len(r) == 1, (scenario, outcome, year)
        return r.iloc[0]

    base = flows[(flows["scenario"] == "baseline") & (flows["origin"] == "Beijing")
                 & (flows["destination"] == "Hebei") & (flows["year"] == 2035)]
    r = row("lower_friction", "flow Beijing->Hebei", 2035)
    assert r["mean_diff"] == pytest.approx(0.40 * base["contract_value_bn"].mean(), rel=1e-9)
    assert 0 < r["lo"] < r["mean_diff"] < r["hi"] and not r["straddles_zero"]
    r = row("lower_friction", "flow Beijing->Tianjin+Hebei", 2030)
    assert r["mean_diff"] > 0 and not r["straddles_zero"]
    assert row("lower_friction", "Hebei transformed_output_bn", 2030)["lo"] > 0
    # Unaffected outcomes and the no-effect scenario: exactly zero under common random numbers.
    for scenario, outcome in [("no_effect", "flow Beijing->Hebei"), ("hebei_rd_push", "Beijing rd_spending_bn"),
                              ("lower_friction", "Hebei rd_spending_bn")]:
        r = row(scenario, outcome, 2035)
        assert r["mean_diff"] == pytest.approx(0, abs=1e-9) and r["straddles_zero"]
    assert row("hebei_rd_push", "Hebei rd_spending_bn", 2035)["lo"] > 0


def test_paired_interval_is_paired_t():
    """Seed-level differences 1, 2, 3 give mean 2 and a 90% paired-t interval 2 -/+ t(0.95, 2)/sqrt(3)."""
    rows = []
    for scenario, add in [("baseline", 0.0), ("alt", 1.0)]:
        for seed, v in enumerate([10.0, 20.0, 30.0]):
            rows.append((scenario, seed, 2030, "Hebei", "rd_spending_bn", v + add * (seed + 1)))
    regions = pd.DataFrame(rows, columns=["scenario", "seed", "year", "region", "metric", "value"])
    flows = pd.DataFrame(columns=["scenario", "seed", "year", "origin", "destination", "contract_value_bn", "contracts"])
    d = paired_differences(regions, flows, baseline="baseline", years=(2030,))
    r = d[d["outcome"] == "Hebei rd_spending_bn"].iloc[0]
    half = stats.t.ppf(0.95, 2) / np.sqrt(3)
    assert (r["mean_diff"], r["lo"], r["hi"]) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert not r["straddles_zero"]


def test_missing_baseline_is_a_clear_error(result_set, tmp_path):
    regions, flows = _load(result_set)
    with pytest.raises(ValueError, match="baseline 'status_quo'.*lower_friction"):
        paired_differences(regions, flows, baseline="status_quo")
    with pytest.raises(ValueError, match="status_quo"):
        compare(result_set, tmp_path / "cmp", baseline="status_quo")


def test_compare_writes_report(result_set, tmp_path):
    out = tmp_path / "cmp"
    dirs = [d for d in result_set if d.name != "hebei_rd_push"]  # three scenarios keep the test fast
    report = compare(dirs, out)
    assert report == out / "report.html"
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 5
    for d in dirs:
        assert f"<h3>{d.name}" in html
    assert "Synthetic test scenario lower_friction." in html
    for name in ("paired_differences.csv", "outcomes.csv", "outcomes.html"):
        assert (out / name).exists(), name
    table = pd.read_csv(out / "paired_differences.csv")
    assert {"scenario", "outcome", "year", "mean_diff", "lo", "hi", "straddles_zero"} <= set(table.columns)
    assert list(out.glob("*.png"))


def test_plot_run_writes_pngs(result_set):
    paths = plot_run(result_set[0])
    names = {p.name for p in paths}
    assert {"timeseries.png", "od_matrix_2035.png", "od_matrix_2024.png"} <= names
    for p in paths:
        assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_friction_sweep_slopes_recover_a_known_line():
    """value = 100 - 40 * friction + seed noise that is the same at every friction (CRN): slope -40."""
    from experiments.study_friction_sweep import overall_slopes, sweep_slopes

    rows = [(f, seed, "flow Beijing->Hebei", 100 - 40 * f + 3 * seed)
            for f in (0.0, 0.5, 1.0, 2.0) for seed in range(4)]
    vals = pd.DataFrame(rows, columns=["friction", "seed", "outcome", "value"])
    sl = sweep_slopes(vals)
    assert list(sl["f_mid"]) == [0.25, 0.75, 1.5]
    assert sl["slope"].tolist() == pytest.approx([-40.0] * 3)
    assert overall_slopes(vals)["slope"].iloc[0] == pytest.approx(-40.0)


# ----------------------------------------------------------------------------- run settings


def _with_manifest(run_dir: Path, **keys) -> Path:
    """Update the manifest of a synthetic run folder with ``keys`` (None removes a key)."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text()) if path.exists() else {}
    manifest.update(keys)
    manifest = {k: v for k, v in manifest.items() if v is not None}
    path.write_text(json.dumps(manifest))
    return run_dir


@pytest.fixture()
def no_figures(monkeypatch):
    """Skip drawing the figures (test_compare_writes_report covers them): keeps these tests fast."""
    monkeypatch.setattr("experiments.compare.draw_comparison", lambda *args: {})


@pytest.fixture()
def pair(tmp_path) -> list[Path]:
    """A small baseline and lower_friction run made alike (scale 0.1, horizon 2035, one code)."""
    alike = dict(scale=0.1, until=2035, code_hash="0123456789abcdef")
    return [_with_manifest(make_run(tmp_path / "results", s, seeds=range(3), years=range(2028, 2036)), **alike)
            for s in ("baseline", "lower_friction")]


def test_compare_refuses_runs_of_different_scale(pair, tmp_path):
    from experiments.store import MixedRunsError

    base, alt = pair
    _with_manifest(alt, scale=0.05)
    out = tmp_path / "cmp"
    with pytest.raises(MixedRunsError) as err:
        compare(pair, out)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{alt} was run with scale 0.05, {base} with scale 0.1: refusing to compare")
    assert "--allow-mixed" in message and "horizon" not in message and "code" not in message
    assert not out.exists()  # nothing written


@pytest.mark.parametrize("change, named", [
    (dict(until=2030), "horizon 2030"),
    (dict(code_hash="fedcba9876543210"), "code fedcba9876543210"),
    (dict(code_hash=None, code_version="b8d6049"), "code version b8d6049"),  # an older manifest
    (dict(code_hash=None), "code unknown"),  # unknown differs from known
    (dict(scale=None), "scale unknown"),
])
def test_compare_refuses_runs_of_different_horizon_or_code(pair, tmp_path, change, named):
    from experiments.store import MixedRunsError

    _with_manifest(pair[1], **change)
    with pytest.raises(MixedRunsError, match=f"lower_friction was run with {named}, "):
        compare(pair, tmp_path / "cmp")


def test_allow_mixed_compares_with_a_visible_note(pair, tmp_path, no_figures):
    base, alt = pair
    _with_manifest(alt, scale=0.05, code_hash=None, code_version="b8d6049")
    html = compare(pair, tmp_path / "cmp", allow_mixed=True).read_text()
    assert "these runs were made with different settings" in html
    assert f"<li><code>{base}</code>: scale 0.1, code 0123456789abcdef</li>" in html
    assert f"<li><code>{alt}</code>: scale 0.05, code version b8d6049</li>" in html
    # runs made alike get no such note
    _with_manifest(alt, scale=0.1, code_hash="0123456789abcdef", code_version=None)
    assert "different settings" not in compare(pair, tmp_path / "cmp2").read_text()


def test_report_is_rendered_from_the_template(pair, tmp_path, no_figures):
    """A changed template shows up in the report; texts from the manifests are escaped."""
    import shutil

    from experiments.report import TEMPLATES

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    page = templates / "report.html.j2"
    assert "How to read this report." in page.read_text()
    page.write_text(page.read_text().replace("How to read this report.", "So liest man diesen Bericht."))
    (templates / "report.css").write_text("body{color:#123456}\n")
    _with_manifest(pair[1], description="Friction <b>halved</b> & more.")
    out = tmp_path / "cmp"
    html = compare(pair, out, templates=templates).read_text()
    assert "So liest man diesen Bericht." in html and "How to read this report." not in html
    assert "body{color:#123456}" in html
    assert "Friction &lt;b&gt;halved&lt;/b&gt; &amp; more." in html
    # the effect table carries the numbers of paired_differences.csv: median [90% predictive interval]
    d = pd.read_csv(out / "paired_differences.csv")
    r = d[(d["outcome"] == "flow Beijing->Hebei") & (d["year"] == 2035)].iloc[0]
    assert f"<td class=\"clear\">+{r['median']:.1f} [+{r['lo90']:.1f} \u2013 +{r['hi90']:.1f}]" in html
    assert "Seed noise only: intervals carry simulation uncertainty only." in html  # no parameter draws


# ----------------------------------------------------------------------------- key outcomes, verdicts, the report


def test_compare_leads_with_key_outcomes(result_set, tmp_path, no_figures):
    """The overview and each headline name the scenario's key outcomes with effect and size
    relative to the baseline; a key outcome outside the default tables is compared too."""
    out = tmp_path / "cmp"
    html = compare(result_set, out).read_text()
    overview = pd.read_csv(out / "overview.csv")
    assert set(zip(overview["scenario"], overview["outcome"])) == {
        ("lower_friction", "flow Beijing->Hebei"), ("hebei_rd_push", "Hebei sci_tech_smes"),
        ("hebei_rd_push", "Xiong'an park_firms")}
    # P(effect > 0) is computed over the seeds too; the share due to parameters only with draws
    assert "p_positive" in overview.columns and overview["p_positive"].notna().all()
    assert "share of runs with effect &gt; 0" in html
    assert overview["param_share"].isna().all() and "share of spread from parameters" not in html
    assert "Seed noise only" in html and "Benjamini" in html
    # the ranking of the headline outcomes, as a table and in the report
    ranking = pd.read_csv(out / "ranking.csv")
    assert set(ranking["outcome"]) == {"flow Beijing->Hebei", "Beijing reported_outflow_tianjin_hebei_bn",
                                       "Hebei contract_turnover_bn"}
    assert set(ranking["year"]) == {2030, 2035}
    top = ranking[(ranking["outcome"] == "flow Beijing->Hebei") & (ranking["year"] == 2035)].set_index("rank")
    assert top.at[1, "scenario"] == "lower_friction" and top.at[1, "p_best"] == 1.0
    assert top.at[1, "p_above_next"] == 1.0  # +40% in every seed against exactly 0
    assert 'id="ranking"' in html and "chance it beats the next one" in html
    # ranked by size relative to the baseline
    rel = overview["rel_diff_pct"].abs().fillna(-1).tolist()
    assert rel == sorted(rel, reverse=True)
    r = overview[overview["outcome"] == "flow Beijing->Hebei"].iloc[0]
    assert r["rel_diff_pct"] == pytest.approx(40.0, rel=1e-6) and r["verdict"] == "clear"
    # the headline of lower_friction starts with its key outcome, effect and relative size
    card = html.split('id="s-lower_friction"')[1].split("</div>")[0]
    lead = card.split('<p class="headline"><b>')[1].split("</b>")[0]
    assert lead.startswith("In 2035, against the baseline: Contracts Beijing \u2192 Hebei +")
    assert "(+40.0%, 90% of runs +" in lead and "clear)" in lead
    # Xiong'an park firms is not among the default outcomes but is compared as a key outcome
    d = pd.read_csv(out / "paired_differences.csv")
    assert "Xiong'an park_firms" in set(d["outcome"])
    assert 'href="#s-hebei_rd_push"' in html and "Overview" in html and "Contents" in html
    assert f"at least {1:g}% of the baseline" in html  # the materiality threshold is stated


def _two_scenarios(effect: float, seeds=range(4), draws: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hebei R&D of 1,000 bn yuan with seed noise, and an alternative with ``effect`` added
    (varying a little by seed so that the interval is narrow but not empty)."""
    rows = []
    for scenario in ("baseline", "alt"):
        for seed in seeds:
            for draw in (range(2) if draws else [None]):
                noise = 10.0 * seed + (draw or 0)
                v = 1000.0 + noise + (effect * (1 + 0.01 * seed) if scenario == "alt" else 0.0)
                row = {"scenario": scenario, "seed": seed, "year": 2035, "region": "Hebei",
                       "metric": "rd_spending_bn", "value": v}
                if draws:
                    row["draw"] = draw
                rows.append(row)
    flows = pd.DataFrame(columns=["scenario", "seed", "year", "origin", "destination", "contract_value_bn", "contracts"])
    return pd.DataFrame(rows), flows


def test_clear_needs_a_material_size():
    """An effect of 0.5% of the baseline, told apart from noise, is "small", not clear; 5% is clear."""
    from experiments.effects import MATERIAL_PCT, verdict

    assert MATERIAL_PCT == 1.0
    for effect, expected in ((5.0, "small"), (50.0, "clear")):
        regions, flows = _two_scenarios(effect)
        d = paired_differences(regions, flows, "baseline", years=(2035,))
        r = d[d["outcome"] == "Hebei rd_spending_bn"].iloc[0]
        assert not r["straddles_zero"]
        assert r["rel_diff_pct"] == pytest.approx(100 * r["mean_diff"] / r["baseline_mean"])
        assert r["rel_lo_pct"] < r["rel_diff_pct"] < r["rel_hi_pct"]
        assert bool(r["clear"]) == (expected == "clear") and verdict(r) == expected
        assert r["p_positive"] == 1.0 and np.isnan(r["param_share"])  # no draws: seeds only
        assert r["q_value"] <= r["p_value"] * len(d) and r["q_value"] < 0.10


def test_p_positive_with_parameter_draws():
    regions, flows = _two_scenarios(50.0, draws=True)
    d = paired_differences(regions, flows, "baseline", years=(2035,))
    r = d[d["outcome"] == "Hebei rd_spending_bn"].iloc[0]
    assert r["n_seeds"] == 8  # 4 seeds x 2 draws, paired by seed and draw
    assert r["p_positive"] == 1.0


def test_effect_list_keys_first_then_largest_by_size(result_set):
    from experiments.compare import effect_list
    from experiments.outcomes import TABLE_OUTCOMES, region_outcome

    regions, flows = _load(result_set)
    d = paired_differences(regions, flows, baseline="baseline")
    key = [region_outcome("Hebei", "high_tech_enterprises")]
    names = [oc.name for oc in effect_list(d, "lower_friction", key, TABLE_OUTCOMES, extra=3)]
    assert names[0] == "Hebei high_tech_enterprises"
    # built-in effects: Beijing->Hebei +40% (and Hebei's reported absorption from Beijing, which the
    # synthetic runs set to that flow), Beijing->Tianjin+Hebei ~ +31%, Beijing->Tianjin +20%
    assert names[1:] == ["flow Beijing->Hebei", "Hebei reported_absorbed_from_beijing_bn", "flow Beijing->Tianjin+Hebei"]


def test_flow_cells_within_noise(result_set):
    from experiments.effects import flow_cell_differences

    _, flows = _load(result_set)
    c = flow_cell_differences(flows, "baseline", [2035]).set_index(["scenario", "origin", "destination"])
    hit = c.loc[("lower_friction", "Beijing", "Hebei")]
    assert not hit["within_noise"] and hit["rel_diff_pct"] == pytest.approx(40.0)
    assert c.loc[("lower_friction", "Tianjin", "Hebei"), "within_noise"]  # unchanged cell
    assert c.loc[("no_effect", "Beijing", "Hebei"), "mean_diff"] == pytest.approx(0.0, abs=1e-9)


def test_baseline_crossing_is_found_after_calibration():
    """Hebei's count passes Beijing's in 2028 and stays ahead; before 2025 nothing is flagged."""
    from experiments.effects import baseline_crossings

    rows = []
    for seed in range(3):
        for year in range(2020, 2036):
            rows.append(("baseline", seed, year, "Beijing", "high_tech_enterprises", 30000 + 500 * (year - 2020)))
            rows.append(("baseline", seed, year, "Hebei", "high_tech_enterprises",
                         20000 + 2000 * (year - 2020) + seed))
            rows.append(("baseline", seed, year, "Tianjin", "high_tech_enterprises", 10000.0))
    regions = pd.DataFrame(rows, columns=["scenario", "seed", "year", "region", "metric", "value"])
    found = baseline_crossings(regions, "baseline", ["high_tech_enterprises"])
    assert len(found) == 1
    c = found[0]
    assert (c["leader"], c["follower"], c["year"], c["seeds_crossed"], c["seeds"]) == ("Beijing", "Hebei", 2027, 3, 3)


def test_reading_the_baseline_box_is_generated(result_set, tmp_path, no_figures):
    html = compare(result_set, tmp_path / "cmp").read_text()
    box = html.split('id="reading"')[1].split("</div>")[0]
    assert "After\n2025" in box or "After 2025" in box
    assert "trend continuation of the calibrated rules" in box


def test_fan_axis_labels_the_horizon():
    import matplotlib.pyplot as plt

    from experiments.figures import year_axis

    fig, ax = plt.subplots()
    year_axis(ax, 2020, 2035)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2020", "2025", "2030", "2035"]
    year_axis(ax, 2020, 2033)
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "2033"
    plt.close(fig)


# ----------------------------------------------------------------------------- never overwrite silently


def test_compare_refuses_an_existing_comparison_unless_forced(pair, tmp_path, no_figures):
    from experiments.compare import ComparisonExists

    out = tmp_path / "cmp"
    compare(pair, out)
    (out / "fan_old_metric.png").write_bytes(b"stale")  # left by an older comparison
    (out / "notes.txt").write_text("mine")  # not the comparison's
    listed = set(json.loads((out / "comparison.json").read_text())["files"])
    assert {"report.html", "paired_differences.csv", "overview.csv"} <= listed
    with pytest.raises(ComparisonExists, match="already holds a comparison.*--force") as err:
        compare(pair, out)
    assert "\n" not in str(err.value)
    compare(pair, out, force=True)
    assert not (out / "fan_old_metric.png").exists() and (out / "notes.txt").read_text() == "mine"
    # a folder of other files is no place for a comparison, forced or not
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.csv").write_text("x")
    with pytest.raises(ComparisonExists, match="holds other files"):
        compare(pair, other, force=True)
    with pytest.raises(ComparisonExists, match="is a run folder"):
        compare(pair, pair[0], force=True)


def test_cli_compare_refuses_and_names_skipped_folders(pair, tmp_path, capsys, no_figures):
    from experiments.cli import main

    results = pair[0].parent
    (results / "scratch").mkdir()
    out = results / "comparison"
    assert main(["compare", str(results), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "comparing its run folders baseline, lower_friction; skipped scratch" in err
    assert main(["compare", *map(str, sorted(results.iterdir())), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "already holds a comparison" in err and "\n" not in err
    assert main(["compare", *map(str, pair), "--out", str(out), "--force"]) == 0


def test_a_failure_part_way_leaves_the_earlier_comparison_and_no_half_report(pair, tmp_path, no_figures,
                                                                              monkeypatch):
    import experiments.compare as cmp

    out = tmp_path / "cmp"
    compare(pair, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cmp, "write_report", disk_full)
    with pytest.raises(OSError):
        compare(pair, out, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not any(p.name.startswith(".cmp.") for p in tmp_path.iterdir())  # no temporary folder left
