"""Tests of the notebook face of ``Results``: effects(), fan(metric, region) and _repr_html_()."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from experiments.api import Results, load_results, run_ensemble
from experiments.effects import paired_differences
from scenarios import load_scenario


@pytest.fixture(scope="module")
def res():
    base = load_scenario("baseline")
    alt = base.with_changes(name="shared", shared_labs={"years": [2025, 2026], "values": [0.0, 0.5]})
    return run_ensemble([base, alt], seeds=3, scale=0.01, until=2030, workers=1, progress=False)


def test_effects_is_the_paired_differences_table(res):
    eff = res.effects()
    expected = paired_differences(res.regions, res.flows, "baseline", years=[2030])
    pd.testing.assert_frame_equal(eff, expected)
    assert set(eff["scenario"]) == {"shared"} and {"mean_diff", "lo", "hi", "rel_diff_pct"} <= set(eff.columns)
    two = res.effects(years=[2028, 2030])
    assert sorted(two["year"].unique()) == [2028, 2030]
    with pytest.raises(ValueError, match="baseline 'nope' is not among the results"):
        res.effects(baseline="nope")


def test_fan_returns_a_figure_titled_by_metric_and_region(res):
    fig = res.fan("transformed_output_bn", "Hebei")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Hebei: Output from transferred technology (bn yuan per year)"
    assert ax.get_ylabel() == "bn yuan per year"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("baseline") for t in labels) and any(t.startswith("shared") for t in labels)
    with pytest.raises(KeyError, match="unknown metric"):
        res.fan("gdp", "Hebei")
    with pytest.raises(KeyError, match="not in the results"):
        res.fan("firms", "Shanghai")


def test_repr_html_is_a_summary_not_the_tables(res, tmp_path):
    html = res._repr_html_()
    assert "baseline" in html and "shared" in html and "2020\u20132030" in html
    assert "0\u20132" in html  # the seeds
    assert "rd_spending_bn" in html and f"{len(res.regions):,} rows" in html
    assert "<td>" in html and html.count("<tr>") == 1 + 2  # one row per scenario, no data rows
    assert len(html) < 5000


def test_repr_html_of_loaded_and_empty_results(res, tmp_path):
    base = load_scenario("baseline")
    run_ensemble(base, seeds=1, scale=0.01, until=2021, out=tmp_path, workers=1, progress=False, plots=False)
    html = load_results(tmp_path)._repr_html_()
    assert str(tmp_path / "baseline") in html
    empty = Results(res.regions.iloc[:0], res.flows.iloc[:0])
    assert "empty" in empty._repr_html_()
