"""`bth fit RUN_DIR`: a finished ensemble's seed means against calibration targets.

A tiny real run (scale 0.01, 2 seeds, 2020-2023) and hand-made target files whose verdicts are known
from the run's own tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.fit_check import check_run, main
from experiments.api import load_scenario, run_ensemble

SETTINGS = dict(seeds=2, scale=0.01, until=2023, progress=False, plots=False, workers=1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fit")
    results = run_ensemble([load_scenario("baseline")], out=out, **SETTINGS)
    assert results.ok
    return out / "baseline"


def seed_mean(run_dir: Path, year: int, region: str, metric: str) -> float:
    from experiments.api import load_results

    r = load_results(run_dir).regions
    rows = r[(r.year == year) & (r.region == region) & (r.metric == metric)]
    assert rows["seed"].nunique() == 2
    return float(rows["value"].mean())


def target_file(tmp_path: Path, value: float, kind: str = "point", year: int = 2022) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text(f"""
[targets.turnover]
kind = "{kind}"
region = "Beijing"
metric = "contract_turnover_bn"
year = {year}
value = {value!r}
unit = "bn yuan"
tolerance = 0.05
weight = 1.0
seed = "a test figure"
""")
    return path


def test_default_targets_get_a_verdict_each(run_dir):
    table = check_run(run_dir)
    assert set(table["verdict"]) <= {"pass", "FAIL", "not in run"}
    # the run ends in 2023: targets for 2024-2025 cannot be judged, those up to 2023 are
    beyond = table[table["verdict"] == "not in run"]["target"]
    assert "hebei_turnover_2024" in set(beyond) and "beijing_turnover_2022" not in set(beyond)
    row = table.set_index("target").loc["beijing_turnover_2022"]
    assert row["sim_mean"] == pytest.approx(seed_mean(run_dir, 2022, "Beijing", "contract_turnover_bn"))


def test_point_target_verdict_follows_the_seed_mean(run_dir, tmp_path, capsys):
    mean = seed_mean(run_dir, 2022, "Beijing", "contract_turnover_bn")
    assert main([str(run_dir), "--targets", str(target_file(tmp_path, mean * 1.04))]) == 0  # within 5%
    assert "1 of 1 targets pass" in capsys.readouterr().out
    assert main([str(run_dir), "--targets", str(target_file(tmp_path, mean * 1.10))]) == 1  # 10% off
    assert "**FAIL**" in capsys.readouterr().out


def test_lower_bound_verdict(run_dir, tmp_path):
    mean = seed_mean(run_dir, 2022, "Beijing", "contract_turnover_bn")
    assert main([str(run_dir), "--targets", str(target_file(tmp_path, mean * 0.99, kind="lower"))]) == 0
    assert main([str(run_dir), "--targets", str(target_file(tmp_path, mean * 1.01, kind="lower"))]) == 1


def test_missing_run_folder_is_bad_input(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_a_flow_to_several_destinations_sums_their_flows(run_dir, tmp_path):
    from experiments.api import load_results

    f = load_results(run_dir).flows
    sel = f[(f.year == 2022) & (f.origin == "Beijing") & f.destination.isin(["Tianjin", "Hebei"])]
    mean = float(sel.groupby("seed")["contract_value_bn"].sum().mean())
    path = tmp_path / "flows.toml"
    path.write_text(f"""
[targets.to_two]
kind = "point"
origin = "Beijing"
destination = ["Tianjin", "Hebei"]
metric = "contract_value_bn"
year = 2022
value = {mean!r}
unit = "bn yuan"
tolerance = 0.05
weight = 1.0
seed = "a test figure"
""")
    row = check_run(run_dir, path).set_index("target").loc["to_two"]
    assert row["sim_mean"] == pytest.approx(mean) and row["compared"].startswith("Beijing->Tianjin+Hebei")


def test_validation_figures_are_shown_apart_and_do_not_change_the_exit_code(run_dir, tmp_path, capsys):
    mean = seed_mean(run_dir, 2022, "Beijing", "contract_turnover_bn")
    (tmp_path / "v").mkdir()
    good, bad = target_file(tmp_path, mean), target_file(tmp_path / "v", mean * 2)  # bad: 100% off
    assert main([str(run_dir), "--targets", str(good), "--validation", str(bad)]) == 0
    out = capsys.readouterr().out
    assert "Not fitted" in out and "0 of 1 validation figures pass" in out and "1 of 1 targets pass" in out


def test_the_shipped_validation_file_is_never_fitted():
    from calibration.targets import TARGETS_FILE, VALIDATION_FILE, load_targets

    fitted = {t.name for t in load_targets(TARGETS_FILE)}
    shown = {t.name for t in load_targets(VALIDATION_FILE)}
    assert shown and not fitted & shown


def test_a_run_over_posterior_draws_is_judged_on_every_draw_and_seed(tmp_path, capsys):
    """With --draws the tables hold several runs per seed (one per draw): the mean is over every
    (draw, seed), the posterior predictive mean, not over one draw per seed (the bug of 2026-12-04:
    the last draw of each seed was read)."""
    from experiments.api import load_results

    out = tmp_path / "drawn"
    results = run_ensemble([load_scenario("baseline")], out=out, draws=3, **SETTINGS)
    assert results.ok
    r = load_results(out / "baseline").regions
    rows = r[(r.year == 2022) & (r.region == "Beijing") & (r.metric == "contract_turnover_bn")]
    assert len(rows) == 6 and rows["draw"].nunique() == 3
    assert rows.groupby("seed")["value"].nunique().min() == 3  # the draws differ
    table = check_run(out / "baseline").set_index("target")
    assert table.loc["beijing_turnover_2022", "sim_mean"] == pytest.approx(float(rows["value"].mean()))
    assert main([str(out / "baseline"), "--targets", str(target_file(tmp_path, float(rows["value"].mean())))]) == 0
    assert "6 runs (3 posterior draws x 2 seeds" in capsys.readouterr().out
