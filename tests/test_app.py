"""Tests of the workbench's logic (experiments.app_views, app_whatif, app) without a browser.

The browser test (tests/test_app_browser.py) drives the served app; here the figures, tables,
lever validation, the quick ensemble and the scenario file are checked directly, on a small
real results folder made with the model.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import app_views as views
from experiments import app_whatif as whatif
from experiments.api import load_results
from experiments.effects import paired_differences
from experiments.outcomes import region_outcome
from scenarios import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def test_fan_view_title_and_data_follow_the_choice(results):
    res = load_results(results)
    a = views.fan_view(res.regions, "rd_spending_bn", "Hebei", ["low-friction"])
    b = views.fan_view(res.regions, "contract_turnover_bn", "Tianjin", ["low-friction"])
    assert a.title == "Hebei: R&D spending (bn yuan per year)"
    assert b.title == "Tianjin: Technology contract turnover (registered) (bn yuan per year)"
    assert a.figure.axes[0].get_title(loc="left") == a.title
    # one row per scenario and year, the median is the seeds' median of the stored values
    assert len(a.data) == 2 * 11 and set(a.data["scenario"]) == {"baseline", "low-friction"}
    raw = res.regions[(res.regions["scenario"] == "low-friction") & (res.regions["region"] == "Hebei")
                      & (res.regions["metric"] == "rd_spending_bn") & (res.regions["year"] == 2030)]
    row = a.data[(a.data["scenario"] == "low-friction") & (a.data["year"] == 2030)].iloc[0]
    assert row["median"] == pytest.approx(raw["value"].median())
    assert row["p05"] <= row["median"] <= row["p95"] and row["n_seeds"] == 3
    assert not a.data.equals(b.data)
    assert a.png()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = a.csv().splitlines()
    assert lines[0].startswith("scenario,year,region,metric,unit,median") and len(lines) == 1 + len(a.data)


def test_fan_view_years_restrict_the_data(results):
    res = load_results(results)
    v = views.fan_view(res.regions, "firms", "Beijing", ["low-friction"], years=(2025, 2028))
    assert sorted(v.data["year"].unique()) == [2025, 2026, 2027, 2028]


def test_effects_view_is_the_paired_differences_of_effects_py(results):
    res = load_results(results)
    v = views.effects_view(res.regions, res.flows, "contract_absorbed_bn", "Hebei", ["low-friction"])
    expected = paired_differences(res.regions, res.flows, "baseline", years=list(range(2020, 2031)),
                                  outcomes=(region_outcome("Hebei", "contract_absorbed_bn"),))
    pd.testing.assert_frame_equal(v.data.reset_index(drop=True), expected.reset_index(drop=True))
    assert "effect vs baseline" in v.title and "bn yuan per year" in v.title


def test_flows_view_matrix_is_the_seed_mean(results):
    res = load_results(results)
    v = views.flows_view(res.flows, "low-friction", 2030)
    f = res.flows
    cell = f[(f["scenario"] == "low-friction") & (f["year"] == 2030) & (f["origin"] == "Beijing")
             & (f["destination"] == "Hebei")]["contract_value_bn"].mean()
    base = f[(f["scenario"] == "baseline") & (f["year"] == 2030) & (f["origin"] == "Beijing")
             & (f["destination"] == "Hebei")]["contract_value_bn"].mean()
    row = v.data[(v.data["origin"] == "Beijing") & (v.data["destination"] == "Hebei")].iloc[0]
    assert row["contract_value_bn"] == pytest.approx(cell)
    assert row["difference_bn"] == pytest.approx(cell - base)
    assert len(v.figure.axes) >= 2  # the matrix and the change vs the baseline (plus colourbars)


def test_lever_ranges_and_units_come_from_the_declaration():
    from model.params import BY_NAME, LEVER_RANGES, LEVERS

    infos = whatif.lever_infos()
    assert [i.name for i in infos] == list(LEVERS)
    for i in infos:
        assert (i.lo, i.hi) == LEVER_RANGES[i.name] and i.unit == BY_NAME[i.name].unit
        assert i.lo <= i.default <= i.slider_max <= i.hi


def test_out_of_range_lever_gives_the_scenario_file_message(tmp_path):
    start = load_scenario("baseline")
    with pytest.raises(ScenarioError) as app_err:
        whatif.build(start, {"transfer_friction": whatif.parse_value("transfer_friction", "7")})
    text = (ROOT / "scenarios" / "baseline.toml").read_text().replace(
        "transfer_friction = 1.0", "transfer_friction = 7.0")
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ScenarioError) as file_err:
        load_scenario(tmp_path / "bad.toml")
    # the same message after the file name
    assert str(app_err.value).split(": ", 1)[1] == str(file_err.value).split(": ", 1)[1]
    assert "\n" not in str(app_err.value)


def test_schedule_points_are_parsed_and_validated():
    assert whatif.parse_value("x", "2026: 1, 2030: 0.5") == {"years": [2026, 2030], "values": [1.0, 0.5]}
    assert whatif.parse_value("x", " 0.25 ") == 0.25
    with pytest.raises(ScenarioError, match="levers.x: expected a number or schedule points"):
        whatif.parse_value("x", "fast")
    start = load_scenario("baseline")
    with pytest.raises(ScenarioError, match="strictly increasing"):
        whatif.build(start, {"transfer_friction": whatif.parse_value("t", "2030: 1, 2026: 0.5")})
    s, notes = whatif.build(start, {"transfer_friction": whatif.parse_value("t", "2026: 1, 2030: 0.5")})
    assert s.levers["transfer_friction"].years == (2026, 2030) and s.name == "baseline-whatif"


def test_changed_levers_only_lists_what_differs():
    start = load_scenario("xiongan-hub")
    texts = {i.name: whatif.value_text(whatif.start_value(start, i.name)) for i in whatif.lever_infos()}
    assert whatif.changed_levers(start, texts) == {}
    texts["joint_projects"] = "400"
    assert whatif.changed_levers(start, texts) == {"joint_projects": 400.0}


def test_scenario_toml_round_trips_through_load_scenario(tmp_path):
    start = load_scenario("xiongan-hub")
    s, _ = whatif.build(start, {"transfer_friction": {"years": [2026, 2030], "values": [1.0, 0.5]},
                                "joint_projects": {"years": [2025, 2027], "values": [220.0, 400.0]}})
    text = whatif.scenario_toml(s)
    tomllib.loads(text)
    path = tmp_path / f"{s.name}.toml"
    path.write_text(text)
    back = load_scenario(path)
    assert back.levers == s.levers and back.params == s.params and back.until == s.until
    assert back.rationale == s.rationale and back.description == s.description


def test_scenario_toml_is_accepted_by_bth_run(tmp_path):
    s, _ = whatif.build(load_scenario("baseline"), {"shared_labs": 0.2})
    path = tmp_path / f"{s.name}.toml"
    path.write_text(whatif.scenario_toml(s))
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "run", str(path), "--seeds", "1",
                           "--scale", "0.01", "--until", "2022", "--workers", "1", "--no-progress",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / s.name / "regions.parquet").is_file()


def test_quick_ensemble_uses_the_same_seeds_and_reports_progress():
    base = load_scenario("baseline")
    s, _ = whatif.build(base, {"transfer_friction": 0.2})
    seen = []
    q = whatif.quick_ensemble(s, base, base, seeds=2, scale=0.01, until=2027,
                              progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 4) and seen[-1] == (4, 4) and len(seen) == 5
    assert set(q.regions["scenario"]) == {"baseline", s.name}
    assert q.regions.groupby("scenario")["seed"].apply(lambda x: sorted(set(x))).tolist() == [[0, 1], [0, 1]]
    mine = q.effects[q.effects["scenario"] == s.name]
    assert len(mine) and set(mine["year"]) == {2027}
    v = views.whatif_view(q.effects, s.name, "baseline", 2027)
    assert len(v.data) and "What if" in v.title
    assert np.isfinite(v.data["rel_diff_pct"].astype(float)).all()


def test_app_module_imports_and_finds_run_folders(results, monkeypatch):
    monkeypatch.setenv("BTH_RESULTS_DIR", str(results))
    from experiments import app

    loaded = app.load(str(results))
    assert sorted(loaded.scenarios) == ["baseline", "low-friction"] and not loaded.error
    assert app.load(str(results / "nothing")).error.endswith("first")
    assert callable(app.Page)


def test_bth_app_refuses_a_file_a_missing_folder_and_a_bad_port(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "app", str(f)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "app", str(tmp_path / "missing")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr == f"error: {tmp_path / 'missing'}: no such folder\n"
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "app", "--port", "99999"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "port between 1 and 65535" in done.stderr


def test_slider_changes_take_effect_after_the_calibrated_years():
    assert whatif.slide("1", 0.5) == "2025: 1, 2026: 0.5"
    assert whatif.slide("2025: 300, 2035: 2000", 3000) == "2025: 300, 2035: 3000"
    assert whatif.slide("1", 1.0) == "1"
    assert whatif.last_value("2025: 300, 2035: 2000") == 2000 and whatif.last_value("x") is None
    s, notes = whatif.build(load_scenario("baseline"), {
        "transfer_friction": whatif.parse_value("t", whatif.slide("1", 0.5))})
    assert not [n for n in notes if "calibrated history" in n]


def test_every_view_of_the_app_renders(results, monkeypatch):
    import solara

    from experiments import app

    app.results_dir.set(str(results))
    for index in range(3):
        app.view_index.set(index)
        box, rc = solara.render(app.Page(), handle_error=False)
        text = repr(box)
        assert "Traceback" not in text
        rc.close()
    app.view_index.set(0)


def test_quick_ensemble_from_another_scenario_also_compares_with_it():
    base, start = load_scenario("baseline"), load_scenario("xiongan-hub")
    s, _ = whatif.build(start, {"park_attraction": {"years": [2025, 2026], "values": [1.0, 5.0]}})
    q = whatif.quick_ensemble(s, start, base, seeds=2, scale=0.01, until=2027)
    assert set(q.regions["scenario"]) == {"baseline", "xiongan-hub", s.name}
    assert list(q.against) == ["baseline", "xiongan-hub"]
    vs_start = q.against["xiongan-hub"]
    assert set(vs_start["scenario"]) == {s.name}
    expected = paired_differences(q.regions[q.regions["scenario"] != "baseline"],
                                  q.flows[q.flows["scenario"] != "baseline"], "xiongan-hub", years=[2027],
                                  outcomes=whatif._outcomes(s)[0])
    assert "Xiong'an park_firms" in set(vs_start["outcome"]) and q.key[0] == "Xiong'an park_firms"
    pd.testing.assert_frame_equal(vs_start, expected)


def test_whatif_view_leads_with_the_key_outcomes():
    rows = [("s", "Hebei firms", 2035, 5.0, 1.0, 9.0, 100.0, 5.0, "firms"),
            ("s", "Xiong'an park_firms", 2035, 1.0, 0.5, 1.5, 100.0, 1.0, "firms"),
            ("s", "Beijing rd_spending_bn", 2035, -40.0, -50.0, -30.0, 100.0, -40.0, "bn yuan")]
    diffs = pd.DataFrame(rows, columns=["scenario", "outcome", "year", "mean_diff", "lo", "hi",
                                        "baseline_mean", "rel_diff_pct", "unit"])
    diffs["straddles_zero"] = False
    v = views.whatif_view(diffs, "s", "baseline", 2035, key=["Xiong'an park_firms"])
    assert list(v.data["outcome"]) == ["Xiong'an park_firms", "Beijing rd_spending_bn", "Hebei firms"]
    labels = [t.get_text() for t in v.figure.axes[0].get_yticklabels()]
    assert labels[0].startswith("\u2605 ") and "Science Park firms" in labels[0]
    assert not labels[1].startswith("\u2605")
    assert views.outcome_label("Hebei rd_spending_bn") == "Hebei: R&D spending"
