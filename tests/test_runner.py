"""Ensemble runner and storage: resumable, identical tables however runs are executed, failures kept
apart, run folders never mixed.  Tiny runs of the real model (scale 0.01, 2020-2023)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import model
from experiments import store
from experiments.api import load_results, load_scenario, run_ensemble, scenario_with
from experiments.cli import main
from experiments.store import RunFolderConflict
from model.version import code_hash, numeric_versions

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = dict(seeds=3, scale=0.01, until=2023, progress=False, plots=False)
TABLES = (store.REGIONS, store.FLOWS)
REAL_SIMULATE = model.simulate  # kept before any test monkeypatches model.simulate


@pytest.fixture(scope="module")
def scenarios():
    base = load_scenario("baseline")
    return [base, scenario_with(base, name="more-projects", joint_projects=2000)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, scenarios):
    """An uninterrupted serial run of both scenarios, 3 seeds, written to disk."""
    out = tmp_path_factory.mktemp("reference")
    results = run_ensemble(scenarios, out=out, workers=1, **SETTINGS)
    assert results.ok
    return out, results


def file_bytes(out: Path, scenario: str) -> dict[str, bytes]:
    return {name: (out / scenario / name).read_bytes() for name in TABLES}


def assert_same_tables(out: Path, ref: Path, names=("baseline", "more-projects")) -> None:
    for name in names:
        assert file_bytes(out, name) == file_bytes(ref, name), f"{name}: tables differ"


# ------------------------------------------------------------------ tables and manifest


def test_tables_follow_the_contract(reference, scenarios):
    out, results = reference
    assert list(results.regions.columns) == store.REGION_COLUMNS
    assert list(results.flows.columns) == store.FLOW_COLUMNS
    for s in scenarios:  # common random numbers: every scenario has the same seeds and years
        mine = results.regions[results.regions.scenario == s.name]
        assert sorted(mine.seed.unique()) == [0, 1, 2]
        assert sorted(mine.year.unique()) == [2020, 2021, 2022, 2023]
    regions = pd.read_parquet(out / "baseline" / store.REGIONS)
    assert regions.duplicated(["seed", "year", "region", "metric"]).sum() == 0
    assert regions.equals(regions.sort_values(["seed", "year", "region", "metric"]).reset_index(drop=True))
    # each seed is a different run, and the lever change reached the model
    by_seed = regions[regions.metric == "contract_turnover_bn"].groupby("seed").value.sum()
    assert by_seed.nunique() == 3
    assert not results.regions[results.regions.scenario == "baseline"].value.reset_index(drop=True).equals(
        results.regions[results.regions.scenario == "more-projects"].value.reset_index(drop=True))


def test_manifest_records_settings_and_versions(reference, scenarios):
    out, _ = reference
    manifest = json.loads((out / "baseline" / store.MANIFEST).read_text())
    assert manifest["scenario_hash"] == scenarios[0].content_hash
    assert manifest["scenario_file"] == "baseline.toml"
    assert (manifest["seeds"], manifest["scale"], manifest["until"]) == ([0, 1, 2], 0.01, 2023)
    assert manifest["stepping"] == "vectorised" and manifest["complete"] is True
    assert set(manifest["packages"]) == {"mesa", "numpy", "scipy", "pandas", "pyarrow", "dask", "python"}
    assert manifest["git_commit"] and manifest["created_utc"].endswith("+00:00")
    assert "code_version" not in manifest
    assert manifest["code_hash"] == code_hash()
    assert {k: manifest["packages"][k] for k in numeric_versions()} == numeric_versions()
    assert manifest["tables"]["seeds"] == [0, 1, 2]
    for name in TABLES:  # the manifest records the combined tables' sha256
        digest = hashlib.sha256((out / "baseline" / name).read_bytes()).hexdigest()
        assert manifest["tables"]["sha256"][name] == digest
    other = json.loads((out / "more-projects" / store.MANIFEST).read_text())
    assert other["scenario_hash"] == scenarios[1].content_hash != manifest["scenario_hash"]


def test_load_results_and_in_memory_match_disk(reference, scenarios):
    out, results = reference
    loaded = load_results(out)  # an output folder: all its run folders
    pd.testing.assert_frame_equal(loaded.regions, results.regions)
    pd.testing.assert_frame_equal(loaded.flows, results.flows)
    assert [p.name for p in loaded.run_dirs] == ["baseline", "more-projects"]
    in_memory = run_ensemble(scenarios, out=None, workers=1, **SETTINGS)
    assert in_memory.run_dirs == []
    pd.testing.assert_frame_equal(in_memory.regions, results.regions)
    pd.testing.assert_frame_equal(in_memory.flows, results.flows)


def test_scenario_with_changes_hash_and_name(scenarios):
    base, more = scenarios
    assert more.content_hash != base.content_hash and more.name == "more-projects"
    auto = scenario_with(base, joint_projects=2000)
    assert auto.name == f"baseline-{auto.content_hash[:8]}"
    assert auto.params.joint_projects == 2000


# ------------------------------------------------------------------ where runs execute


def test_serial_local_parallel_and_dask_give_identical_files(tmp_path, reference, scenarios):
    from dask.distributed import LocalCluster

    ref, _ = reference
    run_ensemble(scenarios, out=tmp_path / "local", workers=2, **SETTINGS)
    assert_same_tables(tmp_path / "local", ref)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        results = run_ensemble(scenarios, out=tmp_path / "dask", scheduler=cluster.scheduler_address,
                               **SETTINGS)
        assert results.ok
        assert "run_one" in cluster.scheduler.task_prefixes  # the runs really went there
    assert_same_tables(tmp_path / "dask", ref)


# ------------------------------------------------------------------ resuming


KILLED_RUN = """
import os, signal, sys
from model import simulate
from experiments.api import load_scenario, run_ensemble, scenario_with

calls = 0
def simulate_then_die(params, seed, **settings):
    global calls
    calls += 1
    if calls == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # as hard as it gets: no cleanup, no finally
    return simulate(params, seed=seed, **settings)

base = load_scenario("baseline")
scenarios = [base, scenario_with(base, name="more-projects", joint_projects=2000)]
run_ensemble(scenarios, seeds=3, scale=0.01, until=2023, out=sys.argv[1], workers=1,
             progress=False, plots=False, simulate=simulate_then_die)
"""


def test_resume_after_killed_process(tmp_path, reference, scenarios):
    ref, _ = reference
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", KILLED_RUN, str(out), "4"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    # three runs (seed 0 of both scenarios, seed 1 of baseline) finished before the kill
    assert store.is_done(out / "baseline", 0) and store.is_done(out / "more-projects", 0)
    assert store.is_done(out / "baseline", 1) and not store.is_done(out / "more-projects", 1)
    assert not (out / "baseline" / store.REGIONS).exists()
    assert json.loads((out / "baseline" / store.MANIFEST).read_text())["complete"] is False

    executed = []

    def counting_simulate(params, seed, **settings):
        executed.append(seed)
        return model.simulate(params, seed=seed, **settings)

    results = run_ensemble(scenarios, out=out, workers=1, simulate=counting_simulate, **SETTINGS)
    assert results.ok
    assert sorted(executed) == [1, 2, 2]  # only the missing runs
    assert_same_tables(out, ref)
    assert json.loads((out / "baseline" / store.MANIFEST).read_text())["complete"] is True

    executed.clear()  # a third call finds everything done
    again = run_ensemble(scenarios, out=out, workers=1, simulate=counting_simulate, **SETTINGS)
    assert executed == [] and again.ok
    assert_same_tables(out, ref)
    pd.testing.assert_frame_equal(again.regions, results.regions)


def test_cli_interrupted_then_resumed(tmp_path, monkeypatch, capsys, reference):
    """Ctrl-C during `bth run` (exit 130), then the same command finishes the job."""
    ref, _ = reference
    out = tmp_path / "out"
    argv = ["run", "baseline", "--seeds", "3", "--scale", "0.01", "--until", "2023",
            "--out", str(out), "--workers", "1"]
    calls = []

    def interrupted(params, seed, **settings):
        calls.append(seed)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return REAL_SIMULATE(params, seed=seed, **settings)

    monkeypatch.setattr(model, "simulate", interrupted)
    assert main(argv) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "baseline" / "runs").glob("*.regions.parquet")) == [
        "seed-0000.regions.parquet", "seed-0001.regions.parquet"]

    monkeypatch.undo()
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out / "baseline")
    assert "3/3" in captured.err  # the progress bar, on stderr
    assert file_bytes(out, "baseline") == file_bytes(ref, "baseline")
    assert list((out / "baseline").glob("*.png")), "plots were not drawn"


# ------------------------------------------------------------------ failures and conflicts


def fail_on_seed_1(params, seed, **settings):
    """Top-level (so worker processes can import it): seed 1 raises, the others run normally."""
    if seed == 1:
        raise RuntimeError("deliberate failure for seed 1")
    return REAL_SIMULATE(params, seed=seed, **settings)


def test_failed_run_is_reported_and_the_others_kept(tmp_path, reference, scenarios, capsys):
    ref, _ = reference
    out = tmp_path / "out"
    settings = {**SETTINGS, "progress": True}
    results = run_ensemble(scenarios, out=out, workers=2, simulate=fail_on_seed_1, **settings)
    assert not results.ok
    assert [(f.scenario, f.seed) for f in results.failures] == [("baseline", 1), ("more-projects", 1)]
    assert "run failed: scenario baseline, seed 1" in capsys.readouterr().err
    error_file = out / "baseline" / "runs" / "seed-0001.error.txt"
    assert "RuntimeError: deliberate failure for seed 1" in error_file.read_text()
    assert store.is_done(out / "baseline", 0) and store.is_done(out / "baseline", 2)
    assert sorted(results.regions.seed.unique()) == [0, 2]  # the successful runs are returned
    assert not (out / "baseline" / store.REGIONS).exists()  # incomplete: no combined tables
    manifest = json.loads((out / "baseline" / store.MANIFEST).read_text())
    assert manifest["complete"] is False and manifest["failed_seeds"] == [1]

    retried = run_ensemble(scenarios, out=out, workers=1, **SETTINGS)  # the bug is fixed
    assert retried.ok and not error_file.exists()
    assert_same_tables(out, ref)


def test_cli_exit_code_is_1_when_a_run_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(model, "simulate", fail_on_seed_1)  # what run_one calls by default
    out = tmp_path / "out"
    code = main(["run", "baseline", "--seeds", "2", "--scale", "0.01", "--until", "2021",
                 "--out", str(out), "--workers", "1", "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "baseline seed 1" in err and err.strip().splitlines()[-1].startswith("error: 1 run(s) failed")
    assert store.is_done(out / "baseline", 0)


@pytest.mark.parametrize("change", ["scale", "until", "stepping", "scenario"])
def test_run_folder_from_other_settings_is_refused(tmp_path, reference, scenarios, change, capsys):
    ref, _ = reference
    out = tmp_path / "out"
    run_ensemble(scenarios[:1], out=out, workers=1, **SETTINGS)
    before = {p: p.read_bytes() for p in sorted((out / "baseline").rglob("*")) if p.is_file()}
    settings = dict(SETTINGS)
    chosen = scenarios[0]
    if change == "scale":
        settings["scale"] = 0.02
    elif change == "until":
        settings["until"] = 2022
    elif change == "stepping":
        settings["stepping"] = "reference"
    else:  # same name, edited levers: a new content hash
        chosen = scenario_with(scenarios[0], name="baseline", joint_projects=300)
    with pytest.raises(RunFolderConflict) as info:
        run_ensemble([chosen], out=out, workers=1, **settings)
    key = "scenario_hash" if change == "scenario" else change
    assert key in str(info.value) and "--out" in str(info.value) and "--fresh" in str(info.value)
    after = {p: p.read_bytes() for p in sorted((out / "baseline").rglob("*")) if p.is_file()}
    assert after == before  # nothing touched


def test_cli_refuses_to_mix_and_creates_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    fresh = tmp_path / "fresh.toml"
    fresh.write_text((ROOT / "scenarios" / "baseline.toml").read_text())
    (out / "baseline").mkdir(parents=True)
    (out / "baseline" / store.MANIFEST).write_text(json.dumps(
        {"scenario_hash": "0" * 64, "scale": 0.01, "until": 2021, "stepping": "vectorised"}))
    code = main(["run", str(fresh), "baseline", "--seeds", "1", "--until", "2021", "--scale", "0.01",
                 "--workers", "1", "--no-progress", "--out", str(out)])  # fresh is valid and new...
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "scenario_hash" in err and len(err.splitlines()) == 1
    assert not (out / "fresh").exists()  # ...but nothing is written when one folder conflicts
    assert sorted(p.name for p in (out / "baseline").iterdir()) == [store.MANIFEST]


# ------------------------------------------------------------------ the README's snippet as a script

README_SNIPPET = """\
from experiments.api import load_scenario, run_ensemble
{guard}base = load_scenario("scenarios/baseline.toml")
{indent}faster = base.with_changes(name="low-friction", transfer_friction=0.5)
{indent}res = run_ensemble([base, faster], seeds=2, scale=0.01, until=2021, workers=2)
{indent}print("tables", len(res.regions), len(res.flows), sorted(res.regions.scenario.unique()))
"""


@pytest.mark.parametrize("guarded", [True, False], ids=["with-guard", "without-guard"])
def test_readme_snippet_as_a_script(tmp_path, guarded):
    """Worker processes are spawned and import the script again: with the ``__main__`` guard it
    works; without it, the workers refuse and the parent raises, naming the guard (no empty
    tables, no exit 0)."""
    guard, indent = ('if __name__ == "__main__":\n    ', "    ") if guarded else ("", "")
    script = tmp_path / "snippet.py"
    script.write_text(README_SNIPPET.format(guard=guard, indent=indent))
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    if guarded:
        assert done.returncode == 0, done.stderr
        # 2 scenarios x 2 seeds x 2 years x 46 region rows (12 metrics x 3 regions, Beijing's reported
        # outflow value and count, Tianjin's and Hebei's reported absorption and Beijing firms' branches,
        # the park, 3 Rest-of-China rows) and 15 flows
        assert done.stdout.strip() == "tables 368 120 ['baseline', 'low-friction']"
    else:
        assert done.returncode == 1 and "tables" not in done.stdout
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("experiments.api.RunsFailed: all 4 run(s) failed"), last
        assert 'put the call under `if __name__ == "__main__":`' in last
        assert "run_ensemble was called while a worker process imported your script" in done.stderr


# ------------------------------------------------------------------ what the CLI pays for


def test_a_single_run_runs_in_this_process_whatever_workers_says(tmp_path, scenarios):
    """One seed x one scenario is one task: no pool, so a function that cannot be pickled (a
    closure) still runs, and it runs in this very process."""
    import os

    pids = []

    def simulate(*args, **kwargs):  # a closure: sending it to a worker process would fail
        pids.append(os.getpid())
        return REAL_SIMULATE(*args, **kwargs)

    results = run_ensemble(scenarios[0], seeds=1, scale=0.01, until=2021, workers=4,
                           progress=False, plots=False, simulate=simulate)
    assert results.ok and pids == [os.getpid()]


def test_plots_are_drawn_once_and_redrawn_only_when_their_inputs_change(tmp_path, scenarios,
                                                                         monkeypatch):
    from experiments import ensemble

    settings = dict(seeds=1, scale=0.01, until=2021, progress=False, workers=1)
    out = tmp_path / "out"
    run_ensemble(scenarios[0], out=out, **settings)
    run_dir = out / "baseline"
    record = json.loads((run_dir / store.PLOTS).read_text())
    assert record["files"] == ["od_matrix_2021.png", "timeseries.png"]
    assert record["inputs"] == store.plot_inputs(run_dir) and store.plots_current(run_dir)
    pngs = {name: (run_dir / name).stat().st_mtime_ns for name in record["files"]}

    drawn = []
    real_task = ensemble.plot_task
    monkeypatch.setattr(ensemble, "plot_task", lambda d: drawn.append(d) or real_task(d))
    run_ensemble(scenarios[0], out=out, **settings)  # a resumed no-op draws nothing
    assert drawn == []
    assert {name: (run_dir / name).stat().st_mtime_ns for name in pngs} == pngs

    (run_dir / "timeseries.png").unlink()  # a figure missing: redrawn
    run_ensemble(scenarios[0], out=out, **settings)
    assert drawn == [str(run_dir)] and (run_dir / "timeseries.png").is_file()

    # other plotting code: redrawn (and only then); the record follows
    monkeypatch.setattr(store, "PLOT_SOURCES", store.PLOT_SOURCES + ("README.md",))
    assert not store.plots_current(run_dir)
    run_ensemble(scenarios[0], out=out, **settings)
    assert drawn == [str(run_dir)] * 2 and store.plots_current(run_dir)
    run_ensemble(scenarios[0], out=out, plots=False, fresh=True, **{**settings, "seeds": 2})
    assert not store.plots_current(run_dir)  # other tables (and --fresh removes the record)
    assert not (run_dir / store.PLOTS).exists()


def test_plots_of_many_folders_go_to_a_pool_of_local_processes(tmp_path, monkeypatch):
    """PLOT_POOL_MIN folders or more with figures to draw: drawn on min(workers, folders) local
    processes (never Dask); fewer: in this process.  The figures are recorded by this process."""
    import pickle

    from experiments import ensemble
    from experiments.executor import InProcess

    assert ensemble.PLOT_POOL_MIN > 1
    monkeypatch.setattr(ensemble, "PLOT_POOL_MIN", 3)
    folders = []
    for name in ("a", "b", "c"):
        folders.append(tmp_path / name)
        folders[-1].mkdir()
    asked = []

    def make_executor(workers=1, scheduler=None, tasks=None):
        asked.append((workers, scheduler, tasks))
        return InProcess()

    monkeypatch.setattr(ensemble, "make_executor", make_executor)
    monkeypatch.setattr(ensemble, "plot_task", lambda d: [f"{Path(d).name}.png"])
    assert ensemble.draw_plots(folders[:2], workers=2) == []
    assert asked == [(1, None, 2)]
    for d in folders[:2]:
        (d / f"{d.name}.png").write_bytes(b"png")
    assert ensemble.draw_plots(folders, workers=2) == []  # a and b are current
    assert asked[-1] == (1, None, 1)
    for d in folders[:2]:
        (d / store.PLOTS).unlink()
    assert ensemble.draw_plots(folders, workers=2) == []
    assert asked[-1] == (2, None, 3)
    assert json.loads((folders[2] / store.PLOTS).read_text())["files"] == ["c.png"]
    monkeypatch.undo()
    assert pickle.loads(pickle.dumps(ensemble.plot_task)) is ensemble.plot_task  # importable by name


def test_a_resumed_no_op_leaves_the_combined_tables_untouched(tmp_path, scenarios):
    """Running the same ensemble again reads the combined tables it finds (their sha256 checked)
    and writes neither table: bytes and modification times stay, and the results are equal."""
    first = run_ensemble(scenarios[:1], out=tmp_path, workers=1, **SETTINGS)
    folder = tmp_path / scenarios[0].name
    before = {t: ((folder / t).read_bytes(), (folder / t).stat().st_mtime_ns) for t in TABLES}
    again = run_ensemble(scenarios[:1], out=tmp_path, workers=1, **SETTINGS)
    assert {t: ((folder / t).read_bytes(), (folder / t).stat().st_mtime_ns) for t in TABLES} == before
    pd.testing.assert_frame_equal(again.regions, first.regions)
    pd.testing.assert_frame_equal(again.flows, first.flows)
