"""`bth calibrate` end to end with a tiny budget: files written, resumable, reproducible, on Dask too."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from calibration.cli import main
from calibration.defaults import calibrated_params

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--scale", "0.01", "--seeds", "2", "--sobol", "8", "--cycles", "1", "--lsq-nfev", "2", "--report-seeds", "3",
        "--profile-grid", "2", "--free", "sales_growth_hebei,hte_criteria_share", "--no-progress"]


def _without_run_table(text: str) -> str:
    return text.split("[run]")[0]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """A tiny calibration in this process (--workers 1): (its --out folder, its cache, its stdout)."""
    import contextlib
    import io

    base = tmp_path_factory.mktemp("calibrate")
    out, cache = base / "trial", base / "cache.jsonl"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(TINY + ["--workers", "1", "--out", str(out), "--cache", str(cache)])
    assert code == 0
    return out, cache, stdout.getvalue()


def test_calibrate_writes_files_resumes_and_reproduces(local_run, tmp_path, capsys):
    out_dir, cache, stdout = local_run
    out, rep = out_dir / "calibrated.toml", out_dir / "report"
    for name in ("fit.csv", "fit.md", "fit.png", "profile.csv", "profiles.png"):
        assert (rep / name).stat().st_size > 0, name
    data = tomllib.loads(out.read_text())
    assert data["meta"]["seeds"] == [0, 1] and data["meta"]["scale"] == 0.01
    from model.version import code_hash
    assert data["meta"]["code_version"] == code_hash()  # the one model-code hash
    assert {"date", "git_commit"} <= set(data["run"])
    free = {k for k, v in data["parameters"].items() if v["free"]}
    assert free == set(data["parameters"]) == {"sales_growth_hebei", "hte_criteria_share"}
    # every other uncertain parameter is listed as kept at its prior, outside [parameters]
    from model import UNCERTAIN
    assert set(data["fixed"]) == set(UNCERTAIN) - free
    assert all(entry["reason"] for entry in data["fixed"].values())
    for name in free:
        p = data["parameters"][name]
        assert p["lo"] <= p["value"] <= p["hi"]
    assert set(calibrated_params(out)) >= free  # the scenario loader can read it
    fit = pd.read_csv(rep / "fit.csv")
    compared = fit[fit.kind.isin(["point", "band", "lower", "upper", "greater"])]
    assert set(compared.verdict) <= {"pass", "FAIL"} and compared.sim_mean.notna().all()
    # "over N" targets are bands [value, upper]: the report shows the band and judges by it
    from calibration.targets import load_targets
    uppers = {t.name: t.upper for t in load_targets() if t.kind == "band"}
    bands = fit[fit.kind == "band"]
    assert set(bands.target) == set(uppers)
    for r in bands.itertuples():
        assert (r.band_lo, r.band_hi) == (pytest.approx(r.value), pytest.approx(uppers[r.target])), r.target
        assert (r.verdict == "pass") == (r.band_lo <= r.sim_mean <= r.band_hi), r.target
    first = out.read_text()
    n_lines = len(cache.read_text().splitlines())

    # a rerun reads every run from the cache and reproduces the file (except [run])
    again = tmp_path / "again"
    assert main(TINY + ["--workers", "1", "--out", str(again), "--cache", str(cache)]) == 0
    assert len(cache.read_text().splitlines()) == n_lines
    assert _without_run_table((again / "calibrated.toml").read_text()) == _without_run_table(first)
    assert tomllib.loads((again / "calibrated.toml").read_text())["run"]["runs_simulated"] == 0
    assert (again / "report" / "fit.md").read_text() == (rep / "fit.md").read_text()

    # an interrupted run (here: a cache with its second half lost) resumes to the same result
    lines = cache.read_text().splitlines(keepends=True)
    resumed_cache = tmp_path / "resumed.jsonl"
    resumed_cache.write_text("".join(lines[: len(lines) // 2]) + '{"key": "trunc')
    resumed = tmp_path / "resumed"
    assert main(TINY + ["--workers", "1", "--out", str(resumed), "--cache", str(resumed_cache)]) == 0
    assert _without_run_table((resumed / "calibrated.toml").read_text()) == _without_run_table(first)


def test_calibrate_says_what_it_will_take_and_rewrite(local_run):
    out_dir, _, stdout = local_run
    first = stdout.splitlines()[0]
    assert first.startswith("calibration: ~") and " model runs, about " in first and " on 1 worker; " in first
    assert first.endswith(f"; it writes {out_dir / 'calibrated.toml'} and {out_dir / 'report'}/")  # a trial
    planned = int(first.split("~")[1].split(" ")[0].replace(",", ""))
    runs = tomllib.loads((out_dir / "calibrated.toml").read_text())["run"]
    made = runs["runs_simulated"] + runs["runs_from_cache"]
    assert 0.5 * made <= planned <= 2 * made, (planned, made)  # the plan is close to what was made


def test_run_table_records_the_checkout_it_started_on(local_run):
    recorded = tomllib.loads((local_run[0] / "calibrated.toml").read_text())["run"]["git_commit"]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert recorded.removesuffix("-dirty") == head.stdout.strip()


def test_git_commit_is_the_short_head_plus_dirty(tmp_path):
    from calibration.calibrate import git_commit

    assert git_commit(tmp_path) == "unknown"  # not a checkout
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run(git + ["init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "a.txt").write_text("1")
    subprocess.run(git + ["add", "a.txt"], cwd=tmp_path, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "one"], cwd=tmp_path, check=True)
    short = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True,
                           text=True, check=True).stdout.strip()
    (tmp_path / "untracked.txt").write_text("ignored, as by git describe --dirty")
    assert git_commit(tmp_path) == short
    (tmp_path / "a.txt").write_text("2")
    assert git_commit(tmp_path) == short + "-dirty"


def test_calibrate_on_a_dask_cluster_equals_the_local_run(local_run, tmp_path, capsys):
    from dask.distributed import LocalCluster

    out_dir = local_run[0]
    with LocalCluster(host="127.0.0.1", dashboard_address=None, n_workers=1, threads_per_worker=1,
                      processes=False, protocol="tcp://") as cluster:  # in-process workers, real TCP
        dask_out = tmp_path / "dask"
        code = main(TINY + ["--scheduler", cluster.scheduler_address, "--no-cache", "--out", str(dask_out)])
    assert code == 0
    run = tomllib.loads((dask_out / "calibrated.toml").read_text())["run"]
    local = tomllib.loads((out_dir / "calibrated.toml").read_text())["run"]
    assert run["runs_simulated"] == local["runs_simulated"] > 0  # every run made on Dask, none from a file
    assert "a Dask cluster, 1 worker;" in capsys.readouterr().out
    assert _without_run_table((dask_out / "calibrated.toml").read_text()) == \
        _without_run_table((out_dir / "calibrated.toml").read_text())
    assert (dask_out / "report" / "fit.csv").read_text() == (out_dir / "report" / "fit.csv").read_text()


def test_unreachable_scheduler_is_one_line_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "calibrate", "--scheduler", "tcp://127.0.0.1:1",
                           "--out", str(tmp_path / "never")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:1: ")
    assert not (tmp_path / "never").exists()  # nothing started, nothing written


def test_bad_free_parameter_is_bad_input(tmp_path, capsys):
    assert main(["--free", "warp_speed", "--out", str(tmp_path / "x")]) == 2
    assert "warp_speed" in capsys.readouterr().err


def test_out_is_a_folder(tmp_path, capsys):
    assert main(TINY + ["--out", str(tmp_path / "c.toml")]) == 2
    assert "expected a folder" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(TINY + ["--out", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert "expected a folder" in err and len(err.strip().splitlines()) == 1


def test_start_calibrated_begins_the_search_at_the_point_estimate(local_run, tmp_path, capsys):
    """--start calibrated evaluates calibrated.toml's point first and records it; a calibration that
    starts where a previous one ended cannot end with a higher loss than that point's."""
    import contextlib
    import io

    out, cache, _ = local_run
    from calibration.cli import _settings, build_parser
    settings = _settings(build_parser().parse_args(TINY + ["--start", "calibrated"]))
    assert dict(settings.start) == calibrated_params()
    assert _settings(build_parser().parse_args(TINY)).start == settings.start  # auto: the point if there is one
    assert _settings(build_parser().parse_args(TINY + ["--start", "prior"])).start == ()
    trial = tmp_path / "warm"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(TINY + ["--workers", "1", "--out", str(trial), "--cache", str(cache), "--start", "calibrated"]) == 0
    meta = tomllib.loads((trial / "calibrated.toml").read_text())["meta"]
    assert meta["start"] and meta["start"] != "prior"
    trace = meta["trace"]
    assert trace[0].startswith("start: loss ")  # the calibrated point is evaluated first
    first = float(trace[0].split("loss ")[1].split(" ")[0])  # "start: loss X after N evaluations"
    # the global stage's best, under the same noise weights as the start point, includes it: it cannot
    # be worse (later stages re-weight the loss by the Monte Carlo noise, so their losses are on
    # another scale and are not compared with the start's)
    sobol = next(t for t in trace if t.startswith("Sobol sample: loss "))
    assert float(sobol.split("loss ")[1].split(" ")[0]) <= first
