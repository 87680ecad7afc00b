"""Ensembles over posterior draws (``bth run --draws K``): K draws x S seeds per scenario, the same
for every scenario, a ``draw`` column, the draw's parameters in place of the calibrated point,
resumable, and never mixed with runs of another posterior or other draws.  A synthetic posterior
in a temporary folder; tiny runs of the real model (scale 0.01, 2020-2021)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import model
from calibration.space import FREE
from experiments import draws as drawing
from experiments import store
from experiments.api import load_scenario, run_ensemble
from experiments.cli import main
from experiments.effects import paired_differences
from experiments.store import RunFolderConflict

SETTINGS = dict(seeds=2, scale=0.01, until=2021, progress=False, plots=False)
K = 3
TABLES = (store.REGIONS, store.FLOWS)
REAL_SIMULATE = model.simulate
WEIGHTS = [0.05, 0.25, 0.0, 0.2, 0.3, 0.2]  # draw 2 has no weight: never chosen


def write_posterior(path: Path, shift: float = 0.0, ids=range(100, 106)) -> Path:
    """A posterior of six draws (ids 100..105) around the calibrated point: each free parameter
    moved by a draw-specific few percent (plus ``shift``), inside its box."""
    base = load_scenario("baseline").params
    rows = []
    for i, (d, w) in enumerate(zip(ids, WEIGHTS)):
        row = {"draw": d, "weight": w}
        for p in FREE:
            lo, hi = p.box
            v = base.at(p.name, 2020) * (1 + 0.04 * (i - 2) + shift)
            row[p.name] = float(np.clip(v, lo, hi))
        rows.append(row)
    pd.DataFrame(rows).astype({"draw": "int64"}).to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def posterior(tmp_path_factory) -> Path:
    return write_posterior(tmp_path_factory.mktemp("posterior") / "posterior.parquet")


@pytest.fixture(scope="module")
def scenarios():
    base = load_scenario("baseline")
    # baseline-equivalent: the same parameters under another name
    return [base, base.with_changes(name="baseline-copy", description="the baseline again")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, scenarios, posterior):
    """Both scenarios, K draws x 2 seeds, serial, written to disk."""
    out = tmp_path_factory.mktemp("reference")
    results = run_ensemble(scenarios, out=out, workers=1, draws=K, posterior=posterior, **SETTINGS)
    assert results.ok
    return out, results


def file_bytes(out: Path, name: str) -> dict[str, bytes]:
    return {t: (out / name / t).read_bytes() for t in TABLES}


class Recording:
    """A simulate that records the parameters and seed of each run (in this process)."""

    def __init__(self):
        self.calls: list[tuple[object, int]] = []

    def __call__(self, params, seed, **settings):
        self.calls.append((params, seed))
        return REAL_SIMULATE(params, seed=seed, **settings)


# ------------------------------------------------------------------ which draws


def test_draw_selection_is_deterministic_weighted_and_nested(posterior):
    post = drawing.load_posterior(posterior)
    assert post.sha256 == hashlib.sha256(posterior.read_bytes()).hexdigest()
    chosen = drawing.choose_draws(post, K)
    assert chosen == drawing.choose_draws(drawing.load_posterior(posterior), K)  # same file, same draws
    assert len(set(chosen)) == K and 102 not in chosen  # no repeats, never a draw of weight 0
    assert drawing.choose_draws(post, 5)[:K] == chosen  # more draws add draws, keep these
    with pytest.raises(drawing.PosteriorError, match="5 of positive weight"):
        drawing.choose_draws(post, 6)


def test_heavier_draws_are_chosen_more_often():
    """Over many posteriors (rows shuffled), the first draw chosen follows the weights."""
    ids = np.arange(6)
    counts = np.zeros(6)
    weights = np.array(WEIGHTS)
    for trial in range(400):
        perm = np.random.default_rng(trial).permutation(6)
        post = drawing.Posterior(Path("p"), "x", {int(i): {} for i in ids},
                                 {int(i): float(weights[i]) for i in ids}, tuple(int(i) for i in perm))
        # the selection's generator is fixed; shuffled rows give it different exponentials per id
        counts[drawing.choose_draws(post, 1)[0]] += 1
    assert counts[2] == 0
    assert np.corrcoef(counts, weights)[0, 1] > 0.9


# ------------------------------------------------------------------ runs and tables


def test_draws_times_seeds_runs_and_a_draw_column(reference, scenarios, posterior):
    out, results = reference
    chosen = drawing.choose_draws(drawing.load_posterior(posterior), K)
    assert list(results.regions.columns) == store.with_draw(store.REGION_COLUMNS)
    assert list(results.flows.columns) == store.with_draw(store.FLOW_COLUMNS)
    assert results.regions["draw"].dtype == "int64"
    for s in scenarios:
        runs = sorted(p.name for p in (out / s.name / store.RUNS).glob("*.json"))
        assert runs == sorted(f"draw-{d:04d}-seed-{seed:04d}.json" for d in chosen for seed in (0, 1))
        mine = results.regions[results.regions.scenario == s.name]
        pairs = set(map(tuple, mine[["draw", "seed"]].drop_duplicates().to_numpy().tolist()))
        assert pairs == {(d, seed) for d in chosen for seed in (0, 1)}  # K x S runs
        on_disk = pd.read_parquet(out / s.name / store.REGIONS)
        assert on_disk.duplicated(["draw", "seed", "year", "region", "metric"]).sum() == 0
        manifest = json.loads((out / s.name / store.MANIFEST).read_text())
        assert manifest["posterior_sha256"] == drawing.load_posterior(posterior).sha256
        assert manifest["draws"] == chosen and manifest["tables"]["draws"] == chosen
        assert manifest["seeds"] == [0, 1] and manifest["complete"] is True
    # draws differ (the parameters reached the model); seeds differ within a draw
    turnover = results.regions[(results.regions.scenario == "baseline")
                               & (results.regions.metric == "contract_turnover_bn")]
    assert turnover.groupby(["draw", "seed"]).value.sum().nunique() == K * 2


def test_same_draw_and_seed_give_identical_tables_across_scenarios(reference):
    """Common random numbers over draws and seeds: two scenarios with the same parameters give
    bit-identical tables, run for run (only the scenario column differs)."""
    out, _ = reference
    a, b = (pd.read_parquet(out / n / store.REGIONS) for n in ("baseline", "baseline-copy"))
    assert a.drop(columns="scenario").equals(b.drop(columns="scenario"))
    a, b = (pd.read_parquet(out / n / store.FLOWS) for n in ("baseline", "baseline-copy"))
    assert a.drop(columns="scenario").equals(b.drop(columns="scenario"))


def test_serial_and_two_workers_give_identical_files(tmp_path, reference, scenarios, posterior):
    ref, _ = reference
    out = tmp_path / "parallel"
    assert run_ensemble(scenarios, out=out, workers=2, draws=K, posterior=posterior, **SETTINGS).ok
    for s in scenarios:
        assert file_bytes(out, s.name) == file_bytes(ref, s.name)


def test_in_memory_matches_disk(reference, scenarios, posterior):
    out, results = reference
    memory = run_ensemble(scenarios, workers=1, draws=K, posterior=posterior, **SETTINGS)
    assert memory.regions.equals(results.regions) and memory.flows.equals(results.flows)


def test_a_draws_parameters_are_the_posterior_rows(tmp_path, posterior):
    """Each run's free parameters are its draw's row; the scenario's levers and [parameters]
    overrides still apply on top; every other parameter is the scenario's own."""
    base = load_scenario("baseline")
    pinned = FREE[0].name  # overridden by the scenario: the draw's value must not win
    lo, hi = FREE[0].box
    scenario = base.with_changes(name="lever-and-override",
                                 joint_projects={"years": [2025, 2026], "values": [220.0, 1500.0]},
                                 **{pinned: (lo + hi) / 2})
    rows = pd.read_parquet(posterior).set_index("draw")
    record = Recording()
    results = run_ensemble(scenario, workers=1, draws=K, posterior=posterior, simulate=record,
                           **SETTINGS)
    assert results.ok and len(record.calls) == K * 2
    chosen = drawing.choose_draws(drawing.load_posterior(posterior), K)
    seen = []
    for params, _seed in record.calls:
        matches = [d for d in chosen
                   if all(params.at(p.name, 2020) == rows.at[d, p.name] for p in FREE[1:])]
        assert len(matches) == 1, "a run's free parameters are not one draw's row"
        seen.append(matches[0])
        assert params.at(pinned, 2020) == (lo + hi) / 2  # the scenario's override on top
        assert params.joint_projects == scenario.params.joint_projects != base.params.joint_projects
        for f in dataclasses.fields(params):  # every other parameter is the scenario's own
            if f.name not in {p.name for p in FREE[1:]}:
                assert getattr(params, f.name) == getattr(scenario.params, f.name), f.name
    assert sorted(seen) == sorted(chosen * 2)
    # draw_params gives the same thing as loading a scenario with the draw as its calibrated point
    d = chosen[0]
    values = {p.name: float(rows.at[d, p.name]) for p in FREE}
    expected = model.Params().replace(**{**scenario.calibrated, **values}).replace(
        **scenario.levers, **scenario.parameters)
    assert drawing.draw_params(scenario, values) == expected


def test_no_draws_is_as_before(tmp_path, scenarios):
    """--draws 0 (the default): no draw column, seed-NNNN files, no posterior in the manifest."""
    out = tmp_path / "point"
    results = run_ensemble(scenarios[0], out=out, workers=1, draws=0, **SETTINGS)
    assert list(results.regions.columns) == store.REGION_COLUMNS
    assert sorted(p.name for p in (out / "baseline" / store.RUNS).glob("*.json")) == [
        "seed-0000.json", "seed-0001.json"]
    manifest = json.loads((out / "baseline" / store.MANIFEST).read_text())
    assert "posterior_sha256" not in manifest and "draws" not in manifest
    assert "draws" not in manifest["tables"]
    default = run_ensemble(scenarios[0], workers=1, **SETTINGS)  # no draws argument at all
    assert default.regions.equals(results.regions) and default.flows.equals(results.flows)


# ------------------------------------------------------------------ the store


def test_rerun_resumes_with_nothing_to_do(tmp_path, reference, scenarios, posterior):
    ref, _ = reference
    out = tmp_path / "out"
    record = Recording()
    assert run_ensemble(scenarios, out=out, workers=1, draws=K, posterior=posterior,
                        simulate=record, **SETTINGS).ok
    assert len(record.calls) == 2 * K * 2
    before = {s.name: file_bytes(out, s.name) for s in scenarios}
    again = Recording()
    results = run_ensemble(scenarios, out=out, workers=1, draws=K, posterior=posterior,
                           simulate=again, **SETTINGS)
    assert results.ok and again.calls == []
    assert {s.name: file_bytes(out, s.name) for s in scenarios} == before
    assert before["baseline"] == file_bytes(ref, "baseline")
    # a damaged run file is recomputed, alone
    victim = out / "baseline" / store.RUNS / f"draw-{drawing.choose_draws(drawing.load_posterior(posterior), K)[1]:04d}-seed-0001.regions.parquet"
    victim.write_bytes(victim.read_bytes()[:-10])
    third = Recording()
    assert run_ensemble(scenarios, out=out, workers=1, draws=K, posterior=posterior,
                        simulate=third, **SETTINGS).ok
    assert [seed for _, seed in third.calls] == [1]
    assert file_bytes(out, "baseline") == before["baseline"]


def test_another_posterior_or_other_draws_are_refused(tmp_path, scenarios, posterior, capsys):
    out = tmp_path / "out"
    assert run_ensemble(scenarios[0], out=out, workers=1, draws=2, posterior=posterior, **SETTINGS).ok
    before = file_bytes(out, "baseline")
    changed = write_posterior(tmp_path / "changed.parquet", shift=0.01)
    with pytest.raises(RunFolderConflict, match="posterior_sha256"):
        run_ensemble(scenarios[0], out=out, workers=1, draws=2, posterior=changed, **SETTINGS)
    with pytest.raises(RunFolderConflict, match="draws"):
        run_ensemble(scenarios[0], out=out, workers=1, draws=3, posterior=posterior, **SETTINGS)
    with pytest.raises(RunFolderConflict, match="posterior_sha256"):  # the calibrated point
        run_ensemble(scenarios[0], out=out, workers=1, **SETTINGS)
    assert file_bytes(out, "baseline") == before  # nothing touched
    code = main(["run", "baseline", "--draws", "2", "--posterior", str(changed), "--seeds", "2",
                 "--scale", "0.01", "--until", "2021", "--out", str(out), "--workers", "1",
                 "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "refusing to mix" in err[0] and "--fresh" in err[0]
    # --fresh recomputes with the new posterior
    results = run_ensemble(scenarios[0], out=out, workers=1, draws=2, posterior=changed,
                           fresh=True, **SETTINGS)
    assert results.ok and file_bytes(out, "baseline") != before
    manifest = json.loads((out / "baseline" / store.MANIFEST).read_text())
    assert manifest["posterior_sha256"] == drawing.load_posterior(changed).sha256


def test_a_run_record_of_another_posterior_is_not_used(tmp_path, posterior):
    """Belt and braces below the manifest: a run whose record names another posterior is not done."""
    out = tmp_path / "out"
    assert run_ensemble("baseline", out=out, workers=1, draws=1, posterior=posterior, **SETTINGS).ok
    (d,) = json.loads((out / "baseline" / store.MANIFEST).read_text())["draws"]
    sha = drawing.load_posterior(posterior).sha256
    assert store.is_done(out / "baseline", 0, d, sha)
    assert "made from posterior" in store.run_problem(out / "baseline", 0, d, "0" * 64)


# ------------------------------------------------------------------ the command line


def test_draws_without_a_posterior_exit_2_with_one_line(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "calibration" / "posterior.parquet"
    monkeypatch.setattr(drawing, "POSTERIOR_FILE", missing)
    out = tmp_path / "out"
    code = main(["run", "baseline", "--draws", "2", "--seeds", "1", "--scale", "0.01",
                 "--until", "2021", "--out", str(out), "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert str(missing) in err[0] and "bth posterior" in err[0]
    assert not out.exists()  # nothing written
    # a malformed posterior: one line too
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"draw": [0], "weight": [1.0]}).to_parquet(bad)
    code = main(["run", "baseline", "--draws", "1", "--posterior", str(bad), "--out", str(out),
                 "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "missing column" in err[0] and not out.exists()


def test_cli_run_with_draws_then_compare_pairs_by_draw_and_seed(tmp_path, posterior, monkeypatch,
                                                                 capsys):
    monkeypatch.setattr("experiments.compare.draw_comparison", lambda *args: {})  # no figures
    out = tmp_path / "results"
    scenario = tmp_path / "more-projects.toml"
    scenario.write_text('description = "more joint projects"\nrationale = "a test"\n'
                        '[levers]\njoint_projects = 2000\n')
    code = main(["run", "baseline", str(scenario), "--draws", "2", "--posterior", str(posterior),
                 "--seeds", "2", "--scale", "0.01", "--until", "2021", "--out", str(out),
                 "--workers", "1", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    regions = pd.concat([pd.read_parquet(out / n / store.REGIONS) for n in ("baseline", "more-projects")])
    flows = pd.concat([pd.read_parquet(out / n / store.FLOWS) for n in ("baseline", "more-projects")])
    diffs = paired_differences(regions, flows, "baseline", years=[2021])
    assert not diffs.empty and (diffs["n_seeds"] == 2 * 2).all()  # 2 draws x 2 seeds, paired
    assert diffs["p_positive"].notna().all()
    code = main(["compare", str(out), "--out", str(tmp_path / "comparison")])
    assert code == 0, capsys.readouterr().err
    written = pd.read_csv(tmp_path / "comparison" / "paired_differences.csv")
    assert (written["n_seeds"] == 4).all()
