"""``bth posterior`` (calibration/posterior.py): the ABC-SMC machinery on a toy problem with a known
posterior, a tiny real run (files, weights, boxes, code hash, resuming) and the CLI's errors."""

from __future__ import annotations

import hashlib
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
from calibration.space import FREE, Space  # noqa: E402
from model import Params  # noqa: E402

FREE_2 = ["sales_growth_hebei", "entry_rate_tianjin"]
TINY = ["--method", "abc-smc", "--population", "8", "--scale", "0.01", "--seeds", "1", "--noise-seeds", "4", "--workers", "1",
        "--free", ",".join(FREE_2), "--no-cache", "--no-progress"]


def test_toy_posterior_is_the_tempered_likelihood(tmp_path):
    """A deterministic 2-D loss L(u) = sum(((u - c) / 0.05)**2) under Uniform(0, 1) priors: the
    posterior prior x exp(-L/2) is normal with means c and sd 0.05 (the box cuts nothing).  Fixed
    seeds; tolerances: means within 0.4 sd, sds within 25% (the effective sample size is ~150-250)."""
    c = np.array([0.3, 0.6])

    def loss(u):
        return float(np.sum(((np.asarray(u) - c) / 0.05) ** 2))

    abc = post.make_abc(["u0", "u1"], loss, population=300, generations=6, loss_ref=0.0)
    history, done = post.open_run(abc, tmp_path / "toy.db", {"toy": 1})
    assert done == 0
    post.run_generations(abc, history, done, 6, sampler_seed=1)
    pops = post.population_table(history)
    assert list(pops.t) == list(range(6))
    temps = pops.epsilon.to_numpy()
    assert temps[0] > 2 and np.all(np.diff(temps) <= 0) and temps[-1] == 1.0  # tempered down to exactly 1
    pars, w = history.get_distribution(m=0, t=history.max_t)
    assert w.sum() == pytest.approx(1.0)
    for name, centre in zip(("u0", "u1"), c):
        u = pars[name].to_numpy()
        mean = float(np.sum(w * u))
        sd = float(np.sqrt(np.sum(w * (u - mean) ** 2)))
        assert abs(mean - centre) < 0.4 * 0.05
        assert sd == pytest.approx(0.05, rel=0.25)


def _run(tmp_path, *extra):
    return post.main([*TINY, "--db", str(tmp_path / "p.db"), "--out", str(tmp_path / "out"), *extra])


def test_tiny_real_run_writes_the_posterior_and_resumes(tmp_path, capsys, monkeypatch):
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
    assert gens["population_size"] == [8, 8] and len(gens["temperature"]) == 2
    assert gens["temperature"][0] >= 1.0 and gens["temperature"][-1] == 1.0  # the last generation is exact
    assert all(0 < a <= 1 for a in gens["acceptance_rate"])
    assert 1 <= rec["summary"]["effective_sample_size"] <= 8
    assert rec["summary"]["generations"] == 2

    # interrupted after 1 of 2 generations, the same command resumes and equals the uninterrupted run above
    cut = tmp_path / "cut"
    cut.mkdir()
    real = post.run_generations

    def stop_after_one(abc, history, done, generations, *args, **kwargs):
        real(abc, history, done, min(generations, 1), *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(post, "run_generations", stop_after_one)
    assert _run(cut, "--generations", "2") == post.EXIT_INTERRUPTED
    monkeypatch.setattr(post, "run_generations", real)
    assert _run(cut, "--generations", "2") == 0
    resumed = tomllib.loads((cut / "out" / post.RECORD_NAME).read_text(encoding="utf-8"))
    assert resumed["run"]["generations_resumed_from"] == 1
    assert gens["temperature"] == resumed["generations"]["temperature"]
    assert gens["samples"] == resumed["generations"]["samples"]
    pd.testing.assert_frame_equal(df, pd.read_parquet(cut / "out" / post.PARQUET_NAME))

    # other settings against the same database: one line naming --fresh, exit 2
    capsys.readouterr()
    assert _run(tmp_path, "--generations", "2", "--population", "9") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fresh" in err[0] and "population" in err[0]
    assert _run(tmp_path, "--generations", "1", "--population", "9", "--fresh") == 0


@pytest.mark.parametrize("args", [["--population", "0"], ["--scale", "2"], ["--free", "no_such_parameter"]])
def test_cli_bad_input_exits_2_without_traceback(tmp_path, args):
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "posterior", *args, "--no-progress",
                           "--db", str(tmp_path / "p.db"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].count("error") == 1
    assert not (tmp_path / post.PARQUET_NAME).exists()


MCMC_TINY = ["--walkers", "8", "--steps", "12", "--burn", "4", "--thin", "2", "--scale", "0.01", "--seeds", "1",
             "--noise-seeds", "4", "--workers", "1", "--free", ",".join(FREE_2), "--no-progress"]


def test_mcmc_writes_draws_record_check_and_plot_and_reruns_identically(tmp_path, monkeypatch, capsys):
    """emcee on a tiny problem: the files, the draws inside the boxes, the record's chain statistics,
    the predictive check of every compared target; a rerun (from the evaluation cache) gives the same draws."""
    cache = tmp_path / "cache.jsonl"
    args = [*MCMC_TINY, "--cache", str(cache)]
    assert post.main([*args, "--out", str(tmp_path / "a")]) == 0
    df = pd.read_parquet(tmp_path / "a" / post.PARQUET_NAME)
    assert list(df.columns) == ["draw", "weight", *FREE_2] and len(df) == 8 * (12 - 4) // 2
    assert df.weight.sum() == pytest.approx(1.0)
    boxes = {fp.name: fp.box for fp in FREE}
    for name in FREE_2:
        assert df[name].between(*boxes[name]).all(), name
    rec = tomllib.loads((tmp_path / "a" / post.RECORD_NAME).read_text(encoding="utf-8"))
    assert rec["settings"]["method"] == "mcmc" and rec["summary"]["evaluations"] == 96
    assert 0 < rec["summary"]["acceptance_fraction_mean"] <= 1
    check = pd.read_csv(tmp_path / "a" / post.CHECK_NAME)
    assert len(check) == rec["predictive_check"]["targets"] and check["covered"].dtype == bool
    assert (check["lo90"] <= check["hi90"]).all()
    assert (tmp_path / "a" / post.PLOT_NAME).stat().st_size > 10_000
    assert post.main([*args, "--out", str(tmp_path / "b")]) == 0
    again = tomllib.loads((tmp_path / "b" / post.RECORD_NAME).read_text(encoding="utf-8"))
    assert again["run"]["runs_simulated"] == 0  # every run came from the cache
    pd.testing.assert_frame_equal(df, pd.read_parquet(tmp_path / "b" / post.PARQUET_NAME))

    # a failure while writing (here: the plot) leaves no file, whole or half, and says one line
    def broken_plot(result, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(post, "plot_marginals", broken_plot)
    capsys.readouterr()
    assert post.main([*args, "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left" in err[0]
    assert list((tmp_path / "c").iterdir()) == []


def test_mcmc_starts_from_an_earlier_posterior(tmp_path, capsys):
    """--start posterior: the walkers' first positions are distinct draws of the earlier posterior, the
    record names the file and its sha256; a missing file or column is one line, exit 2, nothing written."""
    cache = tmp_path / "cache.jsonl"
    args = [*MCMC_TINY, "--cache", str(cache)]
    assert post.main([*args, "--out", str(tmp_path / "a")]) == 0
    earlier = tmp_path / "a" / post.PARQUET_NAME
    draws = pd.read_parquet(earlier)
    assert post.main([*args, "--start", "posterior", "--start-from", str(earlier), "--out", str(tmp_path / "b")]) == 0
    rec = tomllib.loads((tmp_path / "b" / post.RECORD_NAME).read_text(encoding="utf-8"))
    sha = hashlib.sha256(earlier.read_bytes()).hexdigest()
    assert rec["settings"]["start"].startswith("8 distinct draws") and sha[:16] in rec["settings"]["start"]
    # the start itself: 8 rows of the earlier draws, in unit coordinates, none twice
    space = Space([fp for name in FREE_2 for fp in FREE if fp.name == name], base=Params())
    u0 = post.start_from_posterior(earlier, FREE_2, space, 8, 1)
    assert len(np.unique(u0, axis=0)) == 8
    back = pd.DataFrame([space.values(u) for u in u0])[FREE_2]
    merged = back.round(9).merge(draws[FREE_2].round(9), how="inner").drop_duplicates()
    assert len(merged) == 8  # every start is one of the earlier draws
    capsys.readouterr()
    assert post.main([*args, "--start", "posterior", "--start-from", str(tmp_path / "none.parquet"),
                      "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.parquet" in err[0]
    draws.drop(columns=[FREE_2[0]]).to_parquet(tmp_path / "other.parquet")
    assert post.main([*args, "--start", "posterior", "--start-from", str(tmp_path / "other.parquet"),
                      "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and FREE_2[0] in err[0]
    assert not (tmp_path / "c").exists() or list((tmp_path / "c").iterdir()) == []
    assert not (tmp_path / "d").exists() or not (tmp_path / "d" / post.PARQUET_NAME).exists()
    # --fill-missing: a parameter the earlier posterior lacks (freed since) starts around the calibrated
    # point, one distinct value per walker; the others are still earlier draws
    u1 = post.start_from_posterior(tmp_path / "other.parquet", FREE_2, space, 8, 1, fill_missing=True)
    point = space.prior_unit()
    assert len(np.unique(u1[:, 0])) == 8 and np.all(np.abs(u1[:, 0] - point[0]) <= post.FILL_HALF_WIDTH)
    assert np.array_equal(u1[:, 1:], u0[:, 1:])  # the same draws picked for the columns it has
    with pytest.raises(post.PosteriorError, match=FREE_2[0]):
        post.start_from_posterior(tmp_path / "other.parquet", FREE_2, space, 8, 1)
    draws[["draw", "weight"]].to_parquet(tmp_path / "none_of_them.parquet")  # no column of ours: refused anyway
    with pytest.raises(post.PosteriorError):
        post.start_from_posterior(tmp_path / "none_of_them.parquet", FREE_2, space, 8, 1, fill_missing=True)
    # --fill-missing means nothing without --start posterior: one line, exit 2, nothing written
    capsys.readouterr()
    assert post.main([*args, "--fill-missing", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fill-missing" in err[0]
    assert not (tmp_path / "e").exists() or not (tmp_path / "e" / post.PARQUET_NAME).exists()


def test_mcmc_samples_a_known_gaussian():
    """calibration.mcmc.sample on L(u) = sum(((u - c) / 0.05)**2) in 2-D: means c and sds 0.05 within
    0.4 sd and 30% (fixed seed; 24 walkers x 600 steps, effective sample size several hundred)."""
    from calibration.mcmc import sample

    c = np.array([0.3, 0.6])
    res = sample(lambda us: -0.5 * np.sum(((us - c) / 0.05) ** 2, axis=1), c + 0.02, walkers=24, steps=600,
                 burn=200, thin=5, seed=3)
    assert res.draws.shape == (24 * 80, 2)
    assert np.all(np.abs(res.draws.mean(axis=0) - c) < 0.4 * 0.05)
    assert np.allclose(res.draws.std(axis=0), 0.05, rtol=0.3)
    assert np.all(res.ess > 100)


def test_a_chain_continued_is_the_chain_run_at_once():
    """calibration.mcmc.sample(resume=state): 120 steps, then on to 200, give the draws, acceptance,
    autocorrelation and end of one 200-step run, bit for bit (toy 2-D Gaussian, fixed seed)."""
    from calibration.mcmc import sample

    c = np.array([0.3, 0.6])

    def lp(us):
        return -0.5 * np.sum(((us - c) / 0.05) ** 2, axis=1)

    whole = sample(lp, c + 0.02, walkers=12, steps=200, burn=50, thin=5, seed=7)
    first = sample(lp, c + 0.02, walkers=12, steps=120, burn=50, thin=5, seed=7)
    rest = sample(lp, None, walkers=12, steps=200, burn=50, thin=5, seed=7, resume=first.state)
    assert first.draws.shape[0] < whole.draws.shape[0]
    np.testing.assert_array_equal(rest.draws, whole.draws)
    np.testing.assert_array_equal(rest.acceptance, whole.acceptance)
    np.testing.assert_array_equal(rest.tau, whole.tau)
    np.testing.assert_array_equal(rest.state.coords, whole.state.coords)
    np.testing.assert_array_equal(rest.mean_log_prob, whole.mean_log_prob)
    with pytest.raises(ValueError, match="steps already"):
        sample(lp, None, walkers=12, steps=120, burn=50, thin=5, seed=7, resume=first.state)


def test_cli_continue_extends_the_chain_to_the_longer_run(tmp_path, capsys):
    """bth posterior --continue --steps 12 on a chain of 8 steps writes the draws of one 12-step run;
    --continue with nothing to continue, with a setting of its own, or with no more steps is one
    line, exit 2, and leaves the files as they were."""
    cache = tmp_path / "cache.jsonl"
    base = [a for a in MCMC_TINY]
    assert post.main([*base, "--cache", str(cache), "--out", str(tmp_path / "whole")]) == 0
    short = [*base[:2], "--steps", "8", *base[4:]]
    assert post.main([*short, "--cache", str(cache), "--out", str(tmp_path / "parts")]) == 0
    assert (tmp_path / "parts" / post.CHAIN_NAME).exists()
    assert post.main(["--continue", "--steps", "12", "--workers", "1", "--no-progress", "--cache", str(cache),
                      "--out", str(tmp_path / "parts")]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "whole" / post.PARQUET_NAME),
                                  pd.read_parquet(tmp_path / "parts" / post.PARQUET_NAME))
    rec = tomllib.loads((tmp_path / "parts" / post.RECORD_NAME).read_text(encoding="utf-8"))
    assert rec["run"]["continued_from_step"] == 8 and rec["settings"]["steps"] == 12
    whole = tomllib.loads((tmp_path / "whole" / post.RECORD_NAME).read_text(encoding="utf-8"))
    def same(d):  # NaN (no autocorrelation estimate from so short a chain) compares as a value
        return {k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}

    assert same(rec["summary"]) == same(whole["summary"]) and rec["settings"] == whole["settings"]
    before = (tmp_path / "parts" / post.PARQUET_NAME).read_bytes()
    for args in (["--continue", "--steps", "20", "--out", str(tmp_path / "none")],
                 ["--continue", "--steps", "20", "--walkers", "8", "--out", str(tmp_path / "parts")],
                 ["--continue", "--steps", "12", "--out", str(tmp_path / "parts")]):
        capsys.readouterr()
        assert post.main([*args, "--workers", "1", "--no-progress", "--cache", str(cache)]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and "--" in err[0], err
    assert (tmp_path / "parts" / post.PARQUET_NAME).read_bytes() == before
    # a damaged chain file (here: cut short) is one line too, not a traceback
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / post.CHAIN_NAME).write_bytes((tmp_path / "parts" / post.CHAIN_NAME).read_bytes()[:5000])
    capsys.readouterr()
    assert post.main(["--continue", "--steps", "20", "--workers", "1", "--no-progress", "--cache", str(cache),
                      "--out", str(tmp_path / "cut")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and post.CHAIN_NAME in err[0], err
