"""``bth backtest``: the naive forecasts, the fit/test split, the command's refusals and its files.

Nothing here depends on the model's numbers (the model may change under these tests): the naive
forecasts are checked on hand-made series, the split on the real target files by year only, the
plumbing end to end with a stand-in for one model run (so every output is a known function of the
parameters), and one tiny real run only for the shape of what it writes.
"""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from calibration import backtest as bt
from calibration.targets import TARGETS_FILE, VALIDATION_FILE, Output, Target, compared_targets, load_targets
from experiments.cli import main as bth

ROOT = Path(__file__).resolve().parent.parent


def figure(name: str, year: int, value: float, kind: str = "point", region: str = "Hebei",
           metric: str = "contract_turnover_bn") -> Target:
    """A hand-made figure of ``region``'s ``metric``."""
    return Target(name=name, kind=kind, value=value, unit="bn yuan", tolerance=0.05, weight=1.0,
                  provenance_kind="public", provenance="a hand-made figure for a test",
                  output=Output(year=year, metric=metric, regions=(region,)), year=year)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = bth(argv)
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ----------------------------------------------------------------------------- naive forecasts


def test_last_value_is_the_latest_year_of_the_series():
    assert bt.last_value([(2020, 10.0), (2022, 30.0), (2021, 20.0)]) == 30.0
    assert bt.last_value([(2020, 10.0), (2022, 30.0), (2022, 40.0)]) == 35.0  # two figures of one year: their mean
    assert math.isnan(bt.last_value([]))


def test_log_linear_trend_is_exact_on_an_exponential_series():
    pts = [(y, 50.0 * 1.1 ** (y - 2020)) for y in (2020, 2021, 2023)]
    for year in (2024, 2025, 2030):
        assert bt.log_linear_trend(pts, year) == pytest.approx(50.0 * 1.1 ** (year - 2020), rel=1e-10)
    # two points: the line through them; a flat series stays flat
    assert bt.log_linear_trend([(2020, 10.0), (2022, 40.0)], 2024) == pytest.approx(160.0, rel=1e-10)
    assert bt.log_linear_trend([(2020, 7.0), (2021, 7.0)], 2025) == pytest.approx(7.0, rel=1e-12)


def test_trend_is_na_without_two_years_or_with_a_value_that_is_not_positive():
    assert math.isnan(bt.log_linear_trend([], 2025))
    assert math.isnan(bt.log_linear_trend([(2020, 10.0)], 2025))
    assert math.isnan(bt.log_linear_trend([(2022, 10.0), (2022, 12.0)], 2025))  # one year twice
    assert math.isnan(bt.log_linear_trend([(2020, 0.0), (2021, 3.0)], 2025))


def test_series_takes_the_same_output_up_to_the_cutoff_of_any_kind():
    pool = [figure("a20", 2020, 10.0), figure("a21", 2021, 20.0, kind="lower"), figure("a24", 2024, 99.0),
            figure("b21", 2021, 5.0, region="Beijing"), figure("c21", 2021, 6.0, metric="rd_spending_bn")]
    test = figure("a23", 2023, 40.0)
    assert bt.series(test, pool + [test], cutoff=2022) == [(2020, 10.0), (2021, 20.0)]
    rows = bt.score([test], pool + [test], {test.output.key: 44.0}, cutoff=2022)
    (r,) = rows
    assert r.last_value == 20.0 and r.last_value_year == 2021
    assert r.trend == pytest.approx(80.0) and r.trend_points == 2
    assert r.model_error == pytest.approx(0.1) and r.last_value_error == pytest.approx(-0.5)
    assert r.trend_error == pytest.approx(1.0) and r.best == "model"
    # a figure with no earlier one of its output: both naive forecasts n/a
    lone = figure("z23", 2023, 8.0, region="Tianjin")
    (r,) = bt.score([lone], pool + [lone], {lone.output.key: 8.0}, cutoff=2022)
    assert math.isnan(r.last_value) and math.isnan(r.trend) and r.best == "model"
    assert "n/a" in bt.markdown([r], 2022, 2023, [], {})


def test_summary_counts_wins_where_the_naive_forecast_exists():
    pool = [figure("a20", 2020, 10.0), figure("a21", 2021, 20.0)]
    near, far, lone = figure("a23", 2023, 22.0), figure("a24", 2024, 100.0), figure("t23", 2023, 5.0, region="Tianjin")
    mean = {near.output.key: 21.0, far.output.key: 10.0, lone.output.key: 6.0}
    rows = bt.score([near, far, lone], pool + [near, far, lone], mean, cutoff=2022)
    lines = bt.summary(rows)
    assert "over 3 of 3 figures" in lines[0]
    assert lines[1].startswith("model beats last value on 1 of 2 figures")  # near: the model; far: last value 20
    assert lines[2].startswith("model beats trend on 1 of 2 figures")


# ----------------------------------------------------------------------------- the split


def test_split_at_2022_on_the_real_files():
    targets, validation = load_targets(TARGETS_FILE), load_targets(VALIDATION_FILE)
    fit, test = bt.split(targets, validation, 2022)
    assert fit and test
    assert all(t.year <= 2022 for t in fit)
    assert all(t.year > 2022 for t in test)
    assert not {t.name for t in fit} & {t.name for t in test}
    assert {t.name for t in fit} == {t.name for t in compared_targets(targets) if t.year <= 2022}
    assert all(math.isfinite(t.value) for t in test)
    # every later point figure of either file is tested
    later_points = {t.name for t in targets + validation if t.kind == "point" and t.year is not None and t.year > 2022}
    assert later_points <= {t.name for t in test}


# ----------------------------------------------------------------------------- the command's refusals


@pytest.mark.parametrize("cutoff, says", [("2019", "2020-2025"), ("2026", "2020-2025"), ("abc", "2020-2025"),
                                          ("2025", "no sourced figure after 2025")])
def test_bad_cutoff_is_one_line_and_exit_2(cutoff, says, capsys, tmp_path):
    code, out, err = run_cli(["backtest", "--cutoff", cutoff, "--out", str(tmp_path / "bt")], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: --cutoff") and says in err
    assert "Traceback" not in err and not (tmp_path / "bt").exists()


def test_cutoff_before_every_target_is_refused(monkeypatch, capsys, tmp_path):
    real = load_targets

    def later_only(path):
        return [t for t in real(path) if t.year is None or t.year >= 2023]

    monkeypatch.setattr(bt, "load_targets", later_only)
    code, _, err = run_cli(["backtest", "--cutoff", "2021", "--out", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("error: --cutoff 2021: no calibration target")


def test_refuses_the_calibration_folder(capsys):
    code, _, err = run_cli(["backtest", "--cutoff", "2022", "--out", str(ROOT / "calibration")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "calibration folder" in err


def test_bad_cutoff_from_the_shell_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "backtest", "--cutoff", "1999"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --cutoff 1999: expected a year in 2020-2025"]


# ----------------------------------------------------------------------------- end to end


def _stand_in(task):
    """One 'model run' as a known smooth function of the free parameters, the seed and the year."""
    _base, params, seed, _scale, until, outputs, _code = task
    values = [float(v) for _, v in sorted(params.items())]

    def level(key: str) -> float:  # each output leans on the parameters differently (a full-rank Jacobian)
        return 1.0 + 0.1 * sum(v * ((len(key) + j) % 3 + 1) for j, v in enumerate(values)) + 0.001 * seed

    return {o.key: 100.0 * level(o.key) * 1.05 ** (o.year - 2020) for o in outputs if o.year <= until}


TINY = ["--scale", "0.01", "--seeds", "1", "--sobol", "2", "--cycles", "0", "--report-seeds", "1",
        "--profile-grid", "2", "--workers", "1", "--no-progress"]


def _free_two() -> list[str]:
    from calibration.space import FREE

    return ["--free", ",".join(fp.name for fp in FREE[:2])]


def test_end_to_end_with_a_stand_in_model_writes_every_file_and_resumes(monkeypatch, tmp_path):
    import calibration.calibrate
    import calibration.runner

    monkeypatch.setattr(calibration.runner, "_simulate_outputs", _stand_in)
    monkeypatch.setattr(calibration.calibrate, "seconds_per_run", lambda *a, **k: 0.01)
    shipped = (ROOT / "calibration" / "calibrated.toml").read_bytes()
    out = tmp_path / "bt"
    argv = ["backtest", "--cutoff", "2022", "--out", str(out)] + TINY + _free_two()
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert bth(argv) == 0
    for name in ("backtest.md", "backtest.csv", "calibrated.toml", "report/fit.md", ".cache/evaluations.jsonl"):
        assert (out / name).stat().st_size > 0, name
    _, test = bt.split(load_targets(TARGETS_FILE), load_targets(VALIDATION_FILE), 2022)
    table = pd.read_csv(out / "backtest.csv")
    assert list(table.figure) == [t.name for t in test]
    assert table.model_mean.notna().all() and table.model_error.notna().all()
    md = (out / "backtest.md").read_text()
    assert sum(line.startswith(f"| {t.name} |") for t in test for line in md.splitlines()) == len(test)
    assert "| figure | kind | year |" in stdout.getvalue()
    assert (ROOT / "calibration" / "calibrated.toml").read_bytes() == shipped
    # a rerun reads every run from its cache and writes the same table
    lines = (out / ".cache/evaluations.jsonl").read_text().count("\n")
    with contextlib.redirect_stdout(io.StringIO()):
        assert bth(argv) == 0
    assert (out / ".cache/evaluations.jsonl").read_text().count("\n") == lines
    assert (out / "backtest.md").read_text() == md


def test_end_to_end_tiny_real_run(tmp_path):
    """The real model, a tiny budget: one row per test figure, a model value for each (any numbers)."""
    out = tmp_path / "bt"
    with contextlib.redirect_stdout(io.StringIO()):
        assert bth(["backtest", "--cutoff", "2023", "--out", str(out)] + TINY + _free_two()) == 0
    _, test = bt.split(load_targets(TARGETS_FILE), load_targets(VALIDATION_FILE), 2023)
    table = pd.read_csv(out / "backtest.csv")
    assert list(table.figure) == [t.name for t in test]
    assert table.model_mean.notna().all()
    md = (out / "backtest.md").read_text().splitlines()
    assert sum(line.startswith(f"| {t.name} |") for t in test for line in md) == len(test)
