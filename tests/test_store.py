"""A store that loses nothing: code changes refused (or recomputed with ``fresh``), per-seed files
verified by their sha256 and recomputed when damaged, other scenarios' tables never touched by a
failure, and one writer per run folder (a lock).  Tiny runs of the real model (scale 0.01, to
2021), in this process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import model
from experiments import api, store
from experiments.api import load_results, load_scenario, run_ensemble, scenario_with
from experiments.cli import main

SETTINGS = dict(seeds=2, scale=0.01, until=2021, progress=False, plots=False, workers=1)
TABLES = (store.REGIONS, store.FLOWS)
REAL_SIMULATE = model.simulate


@pytest.fixture(scope="module")
def scenarios():
    base = load_scenario("baseline")
    return [base, scenario_with(base, name="more-projects", joint_projects=2000)]


@pytest.fixture()
def done(tmp_path, scenarios):
    """An output folder with both scenarios complete (seeds 0, 1)."""
    out = tmp_path / "out"
    assert run_ensemble(scenarios, out=out, **SETTINGS).ok
    return out


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (but the manifest, whose time stamp changes) by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != store.MANIFEST}


def tables(out: Path, name: str) -> dict[str, bytes]:
    return {t: (out / name / t).read_bytes() for t in TABLES}


class Counting:
    """A simulate that records the seeds it ran."""

    def __init__(self):
        self.seeds: list[int] = []

    def __call__(self, params, seed, **settings):
        self.seeds.append(seed)
        return REAL_SIMULATE(params, seed=seed, **settings)


# ------------------------------------------------------------------ model code


def test_a_code_change_is_refused_and_nothing_is_touched(done, scenarios, monkeypatch):
    before = folder_bytes(done)
    manifest = json.loads((done / "baseline" / store.MANIFEST).read_text())
    monkeypatch.setattr(store, "code_hash", lambda: "4d5e6f0000000000")
    with pytest.raises(store.RunFolderConflict) as info:
        run_ensemble(scenarios, out=done, **SETTINGS)
    message = str(info.value)
    assert f"holds runs of model code {manifest['code_hash']}" in message
    assert "this is code 4d5e6f0000000000" in message and "--fresh" in message
    assert "\n" not in message
    assert folder_bytes(done) == before


def test_fresh_recomputes_every_seed_under_the_new_code(done, scenarios, monkeypatch):
    old = tables(done, "baseline")
    monkeypatch.setattr(store, "code_hash", lambda: "4d5e6f0000000000")
    counting = Counting()
    results = run_ensemble(scenarios[:1], out=done, fresh=True, simulate=counting, **SETTINGS)
    assert results.ok and sorted(counting.seeds) == [0, 1]
    manifest = json.loads((done / "baseline" / store.MANIFEST).read_text())
    assert manifest["code_hash"] == "4d5e6f0000000000" and manifest["complete"] is True
    for seed in (0, 1):  # every stored seed is of the new code
        record = json.loads(store.record_path(done / "baseline", seed).read_text())
        assert record["code_hash"] == "4d5e6f0000000000"
    assert tables(done, "baseline") == old  # same model really, so the same numbers
    # the scenario not named is left alone, under its old code
    assert json.loads((done / "more-projects" / store.MANIFEST).read_text())["code_hash"] != "4d5e6f0000000000"


def test_a_seed_of_another_code_is_never_combined(done, scenarios, capsys):
    """Even with a matching manifest, a per-seed record of another code is recomputed."""
    record = store.record_path(done / "baseline", 1)
    info = json.loads(record.read_text())
    record.write_text(json.dumps({**info, "code_hash": "0ther"}))
    counting = Counting()
    assert run_ensemble(scenarios[:1], out=done, simulate=counting, **SETTINGS).ok
    assert counting.seeds == [1]
    assert "runs/seed-0001.json: made by model code 0ther" in capsys.readouterr().err


def test_cli_code_change_exits_2_with_one_line(done, monkeypatch, capsys):
    monkeypatch.setattr(store, "code_hash", lambda: "4d5e6f0000000000")
    argv = ["run", "baseline", "--seeds", "2", "--scale", "0.01", "--until", "2021", "--out",
            str(done), "--workers", "1", "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "refusing to mix them" in err
    assert main(argv + ["--fresh"]) == 0


# ------------------------------------------------------------------ damaged per-seed files


@pytest.mark.parametrize("damage", ["truncated", "flipped-bit", "missing", "no-record"])
def test_a_damaged_seed_file_is_recomputed(done, scenarios, capsys, damage):
    reference = tables(done, "baseline")
    regions_path, flows_path = store.run_paths(done / "baseline", 1)
    if damage == "truncated":
        regions_path.write_bytes(regions_path.read_bytes()[:100])
    elif damage == "flipped-bit":
        data = bytearray(flows_path.read_bytes())
        data[len(data) // 2] ^= 0x01
        flows_path.write_bytes(bytes(data))
    elif damage == "missing":
        flows_path.unlink()
    else:
        store.record_path(done / "baseline", 1).unlink()
    (done / "baseline" / store.REGIONS).unlink()  # the combined tables must be rebuilt from good files
    counting = Counting()
    assert run_ensemble(scenarios, out=done, simulate=counting, **SETTINGS).ok
    assert counting.seeds == [1]  # only the damaged seed of the damaged scenario
    err = capsys.readouterr().err
    expected = {"truncated": "runs/seed-0001.regions.parquet: checksum mismatch",
                "flipped-bit": "runs/seed-0001.flows.parquet: checksum mismatch",
                "missing": "runs/seed-0001.flows.parquet: missing",
                "no-record": "runs/seed-0001.regions.parquet: no checksum record"}[damage]
    assert f"{expected}, recomputing seed 1" in err
    assert tables(done, "baseline") == reference


def test_combined_tables_are_checked_against_the_manifest(done):
    path = done / "baseline" / store.FLOWS
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(store.RunFolderError, match="flows.parquet: checksum mismatch"):
        store.open_run(done / "baseline")
    with pytest.raises(store.RunFolderError, match="checksum mismatch"):
        load_results(done)


# ------------------------------------------------------------------ one scenario's failure


def test_a_crash_keeps_every_scenarios_earlier_tables(done, scenarios):
    """More seeds are asked for, and the process is interrupted at the first new run: the
    combined tables of the complete two-seed run stay in place, readable and verified."""
    before = {s.name: tables(done, s.name) for s in scenarios}

    def interrupted(params, seed, **settings):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ensemble(scenarios, out=done, simulate=interrupted, **{**SETTINGS, "seeds": 3})
    for s in scenarios:
        assert tables(done, s.name) == before[s.name]
        folder = store.open_run(done / s.name)  # still matches the manifest's record of them
        assert sorted(folder.regions.seed.unique()) == [0, 1]
        assert folder.manifest["complete"] is False and folder.manifest["tables"]["seeds"] == [0, 1]
        assert not (done / s.name / store.LOCK).exists()  # locks released on KeyboardInterrupt


def test_an_error_combining_one_scenario_leaves_the_other_finished(done, scenarios, monkeypatch):
    before = tables(done, "baseline")
    real_combine = store.combine_runs

    def combine(run_dir, seeds):
        if run_dir.name == "baseline":
            raise OSError(5, "Input/output error", str(run_dir / "runs" / "seed-0000.regions.parquet"))
        return real_combine(run_dir, seeds)

    monkeypatch.setattr(store, "combine_runs", combine)
    with pytest.raises(store.StoreError) as info:
        run_ensemble(scenarios, out=done, **{**SETTINGS, "seeds": 3})
    assert "seed-0000.regions.parquet: input/output error" in str(info.value)
    assert tables(done, "baseline") == before  # untouched
    other = store.open_run(done / "more-projects")  # finished with its third seed
    assert sorted(other.regions.seed.unique()) == [0, 1, 2] and other.manifest["complete"] is True


# ------------------------------------------------------------------ the lock


@pytest.fixture()
def live_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def write_lock(run_dir: Path, pid: int, host: str | None = None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / store.LOCK).write_text(json.dumps(
        {"pid": pid, "host": host or socket.gethostname(), "started": "2025-01-01T21:30:00+00:00",
         "command": "bth run baseline --seeds 2", "token": "theirs"}))


def test_a_second_writer_is_refused_naming_the_holder(done, scenarios, live_process, capsys):
    write_lock(done / "more-projects", live_process.pid)
    before = folder_bytes(done)
    with pytest.raises(store.RunFolderLocked) as info:
        run_ensemble(scenarios, out=done, **SETTINGS)
    assert str(info.value) == (
        f"{done / 'more-projects'} is being written by pid {live_process.pid} on host "
        f"{socket.gethostname()} since 2025-01-01 21:30 (bth run baseline --seeds 2); "
        "wait for it or stop it")
    assert folder_bytes(done) == before  # baseline's lock was given back, nothing else written
    assert not (done / "baseline" / store.LOCK).exists()


def test_a_lock_from_another_host_is_never_taken_over(tmp_path, scenarios):
    write_lock(tmp_path / "out" / "baseline", 1, host="elsewhere.example")
    with pytest.raises(store.RunFolderLocked, match=r"on host elsewhere.example .*delete .*\.lock"):
        run_ensemble(scenarios[:1], out=tmp_path / "out", **SETTINGS)


def test_a_stale_lock_is_taken_over(tmp_path, scenarios, capsys):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(gone.stdout)
    write_lock(tmp_path / "out" / "baseline", pid)
    assert run_ensemble(scenarios[:1], out=tmp_path / "out", **SETTINGS).ok
    assert f"took over the stale lock of {tmp_path / 'out' / 'baseline'} (pid {pid}" in capsys.readouterr().err
    assert not (tmp_path / "out" / "baseline" / store.LOCK).exists()


def test_lock_refusal_creates_no_folder(tmp_path, scenarios, live_process):
    """The first scenario's folder is new; the second is locked: the new one is removed again."""
    write_lock(tmp_path / "out" / "more-projects", live_process.pid)
    with pytest.raises(store.RunFolderLocked):
        run_ensemble(scenarios, out=tmp_path / "out", **SETTINGS)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["more-projects"]


def test_two_processes_at_once_one_is_refused(tmp_path):
    """Two real `bth run` processes into one folder: one writes, the other is refused (exit 2)."""
    script = (
        "import sys, time, model\n"
        "from experiments.cli import main\n"
        "real = model.simulate\n"
        "def slow(params, seed, **kw):\n"
        "    time.sleep(1.5)\n"
        "    return real(params, seed=seed, **kw)\n"
        "model.simulate = slow\n"
        "sys.exit(main(sys.argv[1:]))\n")
    argv = ["run", "baseline", "--seeds", "2", "--scale", "0.01", "--until", "2021", "--out",
            str(tmp_path / "out"), "--workers", "1", "--no-progress"]
    root = Path(__file__).resolve().parent.parent
    first = subprocess.Popen([sys.executable, "-c", script, *argv], cwd=root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "out" / "baseline" / store.LOCK
    for _ in range(600):  # wait until the first one holds the lock (it exits only after 3 s)
        if lock.exists() or first.poll() is not None:
            break
        subprocess.run(["sleep", "0.05"])
    second = subprocess.run([sys.executable, "-c", script, *argv], cwd=root,
                            capture_output=True, text=True, timeout=120)
    _, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert second.returncode == 2, second.stderr
    line = second.stderr.strip()
    assert len(line.splitlines()) == 1 and f"is being written by pid {first.pid}" in line
    assert "Traceback" not in second.stderr
    assert sorted(store.open_run(tmp_path / "out" / "baseline").regions.seed.unique()) == [0, 1]


# ------------------------------------------------------------------ every run failed


def always_fails(params, seed, **settings):
    raise RuntimeError(f"deliberate failure of seed {seed}")


def test_run_ensemble_raises_when_every_run_failed(tmp_path, scenarios):
    with pytest.raises(api.RunsFailed) as info:
        run_ensemble(scenarios[:1], out=tmp_path / "out", simulate=always_fails, **SETTINGS)
    message = str(info.value)
    assert "all 2 run(s) failed" in message and "RuntimeError: deliberate failure of seed 0" in message
    assert f"tracebacks in {tmp_path / 'out' / 'baseline' / 'runs'}/seed-NNNN.error.txt" in message
    assert len(info.value.failures) == 2
    with pytest.raises(api.RunsFailed, match="tracebacks in RunsFailed.failures"):
        run_ensemble(scenarios[:1], out=None, simulate=always_fails, **SETTINGS)


def test_write_helpers_leave_no_temporary_file(tmp_path, monkeypatch):
    def full(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    df = pd.DataFrame({c: [] for c in store.REGION_COLUMNS})
    with pytest.raises(OSError):
        store.save_run(tmp_path, 0, df, pd.DataFrame({c: [] for c in store.FLOW_COLUMNS}))
    monkeypatch.undo()
    leftovers = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == [] and not store.is_done(tmp_path, 0)
    assert os.listdir(tmp_path / "runs") == []
