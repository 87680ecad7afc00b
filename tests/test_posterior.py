"""``bth posterior`` (calibration/posterior.py): the ABC-SMC machinery on a toy problem with a known
posterior, a tiny real run (files, weights, boxes, code hash, resuming) and the CLI's errors."""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyabc")

from calibration import posterior as post  # noqa: E402
from calibration.runner import current_code_hash  # noqa: E402
from calibration.space import FREE  # noqa: E402

FREE_2 = ["sales_growth_hebei", "entry_rate_tianjin"]
TINY = ["--population", "8", "--scale", "0.01", "--seeds", "1", "--noise-seeds", "4", "--workers", "1",
        "--free", ",".join(FREE_2), "--no-cache", "--no-progress"]


def test_toy_posterior_is_the_prior_cut_at_the_last_epsilon(tmp_path):
    """A deterministic 1-D distance L(u) = ((u - 0.3) / 0.05)**2 under a Uniform(0, 1) prior: the ABC
    posterior at threshold eps is uniform on |u - 0.3| <= 0.05 sqrt(eps) (mean 0.3, sd half-width / sqrt 3)."""
    def loss(u):
        return float(((u[0] - 0.3) / 0.05) ** 2)

    abc = post.make_abc(["u"], loss, population=300, alpha=0.5)
    history, done = post.open_run(abc, tmp_path / "toy.db", {"toy": 1})
    assert done == 0
    post.run_generations(abc, history, done, 6, sampler_seed=1)
    pops = post.population_table(history)
    assert list(pops.t) == list(range(6))
    assert math.isinf(pops.epsilon.iloc[0]) and pops.acceptance_rate.iloc[0] == 1.0
    assert np.all(np.diff(pops.epsilon.to_numpy()[1:]) < 0)  # median thresholds shrink
    eps = float(pops.epsilon.iloc[-1])
    pars, w = history.get_distribution(m=0, t=history.max_t)
    u = pars["u"].to_numpy()
    assert w.sum() == pytest.approx(1.0)
    assert np.all([loss([x]) <= eps + 1e-9 for x in u])
    half = 0.05 * math.sqrt(eps)
    mean = float(np.sum(w * u))
    sd = float(np.sqrt(np.sum(w * (u - mean) ** 2)))
    assert abs(mean - 0.3) < 0.25 * half
    assert sd == pytest.approx(half / math.sqrt(3), rel=0.25)


def _run(tmp_path, *extra):
    return post.main([*TINY, "--db", str(tmp_path / "p.db"), "--out", str(tmp_path / "out"), *extra])


def test_tiny_real_run_writes_the_posterior_and_resumes(tmp_path, capsys):
    assert _run(tmp_path, "--generations", "2") == 0
    out = tmp_path / "out"
    df = pd.read_parquet(out / post.PARQUET_NAME)
    assert list(df.columns) == ["draw", "weight", *FREE_2]
    assert list(df.draw) == list(range(8))
    assert df.weight.sum() == pytest.approx(1.0) and (df.weight > 0).all()
    boxes = {fp.name: fp.box for fp in FREE}
    for name in FREE_2:
        lo, hi = boxes[name]
        assert df[name].between(lo, hi).all(), name
    rec = tomllib.loads((out / post.RECORD_NAME).read_text(encoding="utf-8"))
    assert rec["run"]["code_version"] == current_code_hash()
    assert rec["settings"]["free"] == FREE_2 and rec["settings"]["population"] == 8
    gens = rec["generations"]
    assert gens["population_size"] == [8, 8] and len(gens["epsilon"]) == 2 and math.isinf(gens["epsilon"][0])
    assert gens["acceptance_rate"][0] == 1.0 and 0 < gens["acceptance_rate"][1] <= 1
    assert 1 <= rec["summary"]["effective_sample_size"] <= 8
    assert rec["summary"]["generations"] == 2

    # a rerun with one more generation continues the stored run and equals an uninterrupted run
    assert _run(tmp_path, "--generations", "3") == 0
    resumed = tomllib.loads((out / post.RECORD_NAME).read_text(encoding="utf-8"))
    assert resumed["run"]["generations_resumed_from"] == 2
    assert resumed["generations"]["epsilon"][:2] == gens["epsilon"]
    whole = tmp_path / "whole"
    whole.mkdir()
    assert _run(whole, "--generations", "3") == 0
    uninterrupted = tomllib.loads((whole / "out" / post.RECORD_NAME).read_text(encoding="utf-8"))
    assert uninterrupted["generations"]["epsilon"] == resumed["generations"]["epsilon"]
    assert uninterrupted["generations"]["samples"] == resumed["generations"]["samples"]
    pd.testing.assert_frame_equal(pd.read_parquet(whole / "out" / post.PARQUET_NAME),
                                  pd.read_parquet(out / post.PARQUET_NAME))

    # other settings against the same database: one line naming --fresh, exit 2
    capsys.readouterr()
    assert _run(tmp_path, "--generations", "3", "--population", "9") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fresh" in err[0] and "population" in err[0]
    assert _run(tmp_path, "--generations", "2", "--population", "9", "--fresh") == 0


@pytest.mark.parametrize("args", [["--population", "0"], ["--scale", "2"], ["--free", "no_such_parameter"]])
def test_cli_bad_input_exits_2_without_traceback(tmp_path, args):
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "posterior", *args, "--no-progress",
                           "--db", str(tmp_path / "p.db"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].count("error") == 1
    assert not (tmp_path / post.PARQUET_NAME).exists()
