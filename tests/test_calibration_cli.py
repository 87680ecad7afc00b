"""`bth calibrate` end to end with a tiny budget: files written, resumable, reproducible."""

from __future__ import annotations

import tomllib

import pandas as pd

from calibration.cli import main
from calibration.defaults import calibrated_params

TINY = ["--scale", "0.01", "--seeds", "2", "--sobol", "8", "--cycles", "1", "--lsq-nfev", "2", "--report-seeds", "3",
        "--profile-grid", "2", "--free", "sales_growth_hebei,hte_apply_rate", "--workers", "1", "--no-progress"]


def _without_run_table(text: str) -> str:
    return text.split("[run]")[0]


def test_calibrate_writes_files_resumes_and_reproduces(tmp_path, capsys):
    out, rep, cache = tmp_path / "calibrated.toml", tmp_path / "report", tmp_path / "cache.jsonl"
    args = TINY + ["--out", str(out), "--report-dir", str(rep), "--cache", str(cache)]
    assert main(args) == 0
    for name in ("fit.csv", "fit.md", "fit.png", "profile.csv", "profiles.png"):
        assert (rep / name).stat().st_size > 0, name
    data = tomllib.loads(out.read_text())
    assert data["meta"]["seeds"] == [0, 1] and data["meta"]["scale"] == 0.01
    assert {"date", "git_commit"} <= set(data["run"])
    free = {k for k, v in data["parameters"].items() if v["free"]}
    assert free == set(data["parameters"]) == {"sales_growth_hebei", "hte_apply_rate"}
    # every other uncertain parameter is listed as kept at its prior, outside [parameters]
    from model import UNCERTAIN
    assert set(data["fixed"]) == set(UNCERTAIN) - free
    assert all(entry["reason"] for entry in data["fixed"].values())
    for name in free:
        p = data["parameters"][name]
        assert p["lo"] <= p["value"] <= p["hi"]
    assert set(calibrated_params(out)) >= free  # the scenario loader can read it
    fit = pd.read_csv(rep / "fit.csv")
    compared = fit[fit.kind.isin(["point", "lower", "greater"])]
    assert set(compared.verdict) <= {"pass", "FAIL"} and compared.sim_mean.notna().all()
    first = out.read_text()
    n_lines = len(cache.read_text().splitlines())

    # a rerun reads every run from the cache and reproduces the file (except [run])
    out2 = tmp_path / "again.toml"
    args2 = TINY + ["--out", str(out2), "--report-dir", str(tmp_path / "r2"), "--cache", str(cache)]
    assert main(args2) == 0
    assert len(cache.read_text().splitlines()) == n_lines
    assert _without_run_table(out2.read_text()) == _without_run_table(first)
    assert tomllib.loads(out2.read_text())["run"]["runs_simulated"] == 0
    assert (tmp_path / "r2" / "fit.md").read_text() == (rep / "fit.md").read_text()

    # an interrupted run (here: a cache with its second half lost) resumes to the same result
    lines = cache.read_text().splitlines(keepends=True)
    cache.write_text("".join(lines[: len(lines) // 2]) + '{"key": "trunc')
    out3 = tmp_path / "resumed.toml"
    assert main(TINY + ["--out", str(out3), "--report-dir", str(tmp_path / "r3"), "--cache", str(cache)]) == 0
    assert _without_run_table(out3.read_text()) == _without_run_table(first)


def test_bad_free_parameter_is_bad_input(tmp_path, capsys):
    assert main(["--free", "warp_speed", "--out", str(tmp_path / "x.toml")]) == 2
    assert "warp_speed" in capsys.readouterr().err
