"""``bth run`` on bad input: one ``error:`` line naming file and field, exit code 2, nothing written.

The validation itself is tested in tests/test_scenarios.py; here we check what the command does
with it.  Nothing is simulated: every case fails before any run starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.cli import main

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
description = "test scenario"
rationale = "because"
seed_quote = "A sentence."
[levers]
transfer_friction = { years = [2026, 2030], values = [1.0, 0.6] }
joint_projects = 400
"""


def write(folder: Path, text: str, name: str = "bad.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``bth`` with ``argv``; argparse's SystemExit is caught."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "text, field, expected",
    [
        ("colour = 3\n" + GOOD, "colour", "unknown key"),
        (GOOD.replace("joint_projects", "joint_project"), "levers.joint_project", "unknown lever"),
        (GOOD.replace("400", '"many"'), "levers.joint_projects", "expected a number"),
        (GOOD.replace("400", "-1"), "levers.joint_projects", "between 0.0 and 100000.0"),
        ("horizon = 2060\n" + GOOD, "horizon", "between 2021 and 2050"),
        (GOOD.replace("[2026, 2030]", "[2030, 2026]"), "levers.transfer_friction.years",
         "strictly increasing"),
    ],
    ids=["unknown-key", "unknown-lever", "wrong-type", "out-of-range", "bad-horizon",
         "schedule-years-out-of-order"],
)
def test_bad_scenario_file(tmp_path, capsys, text, field, expected):
    bad = write(tmp_path, text)
    out = tmp_path / "results"
    code, stdout, stderr = run_cli(["run", str(bad), "--out", str(out)], capsys)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "bad.toml" in lines[0] and field in lines[0] and expected in lines[0], lines[0]
    assert "Traceback" not in stderr and stdout == ""
    assert not out.exists()


def test_missing_file(tmp_path, capsys):
    out = tmp_path / "results"
    code, _, stderr = run_cli(["run", str(tmp_path / "nowhere.toml"), "--out", str(out)], capsys)
    assert code == 2
    assert stderr.strip() == f"error: {tmp_path / 'nowhere.toml'}: file not found"
    assert not out.exists()


def test_all_files_are_validated_before_anything_is_written(tmp_path, capsys):
    """A good scenario followed by a bad one: the good one must not be run or written either."""
    good = write(tmp_path, GOOD, "good.toml")
    bad = write(tmp_path, GOOD.replace("400", "-1"), "bad.toml")
    out = tmp_path / "results"
    code, _, stderr = run_cli(["run", str(good), str(bad), "--out", str(out), "--workers", "1"],
                              capsys)
    assert code == 2
    assert "bad.toml" in stderr and "levers.joint_projects" in stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("--seeds", "0", "expected a whole number >= 1"),
        ("--seeds", "ten", "expected a whole number"),
        ("--scale", "0", "expected a number in (0, 1]"),
        ("--scale", "1.5", "expected a number in (0, 1]"),
        ("--scale", "nan", "expected a number in (0, 1]"),
        ("--until", "2019", "expected a year between 2021 and 2050"),
        ("--workers", "0", "expected a whole number >= 1"),
        ("--base-seed", "-1", "expected a whole number >= 0"),
        ("--stepping", "fast", "invalid choice"),
    ],
)
def test_bad_option_value(tmp_path, capsys, option, value, expected):
    good = write(tmp_path, GOOD, "good.toml")
    out = tmp_path / "results"
    code, _, stderr = run_cli(["run", str(good), "--out", str(out), option, value], capsys)
    assert code == 2
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("bth run: error: ") and option in last and expected in last, last
    assert not out.exists()


def test_command_line_process_prints_no_traceback(tmp_path):
    """Through a real process, as a user would type it (``python -m experiments.cli`` = ``bth``)."""
    bad = write(tmp_path, "colour = 3\n" + GOOD)
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "run", str(bad), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "bad.toml" in done.stderr and "colour" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_no_command_prints_help_and_exits_2(capsys):
    code, _, stderr = run_cli([], capsys)
    assert code == 2
    assert "run" in stderr and "compare" in stderr


# ------------------------------------------------------------------ I/O and connection errors

RUN = ["run", "baseline", "--seeds", "2", "--scale", "0.01", "--until", "2021", "--workers", "1",
       "--no-progress"]


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.rglob("*.tmp")] and not list(folder.rglob(".lock"))


def test_out_is_a_file(tmp_path, capsys):
    out = tmp_path / "results"
    out.write_text("not a folder")
    code, _, stderr = run_cli([*RUN, "--out", str(out)], capsys)
    assert code == 2
    assert one_error_line(stderr) == f"error: {out}: --out is a file, not a folder"
    assert out.read_text() == "not a folder"


def test_disk_full_mid_run(tmp_path, capsys, monkeypatch):
    """The second stored file hits a full disk: one line naming it, no temporary file left, the
    lock released; the next run (disk freed) finishes the job."""
    real_write = Path.write_bytes
    calls = []

    def full_after_one(self, data):
        calls.append(self)
        if len(calls) == 2:
            with open(self, "wb") as f:
                f.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_after_one)
    out = tmp_path / "results"
    code, _, stderr = run_cli([*RUN, "--out", str(out)], capsys)
    assert code == 2
    line = one_error_line(stderr)
    assert line.endswith(": no space left on device") and "seed-0000.flows.parquet" in line, line
    assert no_temporaries(out)
    monkeypatch.undo()
    code, stdout, _ = run_cli([*RUN, "--out", str(out)], capsys)
    assert code == 0 and stdout.strip() == str(out / "baseline")


def test_read_only_folder(tmp_path, capsys, monkeypatch):
    """As root no folder is read-only, so the refusal of the file system is simulated."""
    import experiments.store as store

    real_open = os.open

    def refuse(path, flags, *args):
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(store.os, "open", refuse)
    out = tmp_path / "results"
    code, _, stderr = run_cli([*RUN, "--out", str(out)], capsys)
    assert code == 2
    assert one_error_line(stderr) == f"error: {out / 'baseline' / '.lock'}: permission denied"
    assert not out.exists()  # the folders made for the lock are removed again


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_unreadable_manifest(tmp_path, capsys, content):
    run_dir = tmp_path / "results" / "baseline"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(content)
    code, _, stderr = run_cli([*RUN, "--out", str(tmp_path / "results")], capsys)
    assert code == 2
    line = one_error_line(stderr)
    assert f"{run_dir / 'manifest.json'}: unreadable" in line and "--fresh" in line
    assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json"]


def test_unreachable_scheduler(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "experiments.cli", *RUN, "--out", str(out), "--scheduler",
         "tcp://127.0.0.1:1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    line = one_error_line(done.stderr)
    assert "127.0.0.1:1" in line
    assert no_temporaries(out)


# ------------------------------------------------------------------ bth compare


def test_compare_passes_allow_mixed_and_refuses_mixed_runs_in_one_line(tmp_path, capsys, monkeypatch):
    import experiments.compare
    from experiments.store import MixedRunsError

    for name in ("baseline", "other"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "regions.parquet").write_bytes(b"")
    seen = {}

    def fake_compare(run_dirs, out, baseline="baseline", allow_mixed=False, force=False):
        seen["allow_mixed"] = allow_mixed
        if not allow_mixed:
            raise MixedRunsError("baseline is scale 0.1, other is scale 0.02:\nrefusing to compare")
        return out / "report.html"

    monkeypatch.setattr(experiments.compare, "compare", fake_compare)
    argv = ["compare", str(tmp_path / "baseline"), str(tmp_path / "other"), "--out",
            str(tmp_path / "cmp")]
    code, _, stderr = run_cli(argv, capsys)
    assert code == 2 and seen["allow_mixed"] is False
    assert one_error_line(stderr) == "error: baseline is scale 0.1, other is scale 0.02: refusing to compare"
    code, stdout, _ = run_cli([*argv, "--allow-mixed"], capsys)
    assert code == 0 and seen["allow_mixed"] is True and stdout.strip().endswith("report.html")


def test_compare_unreadable_run_folder_is_one_line(tmp_path, capsys, monkeypatch):
    import experiments.compare
    from experiments.store import RunFolderError

    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "regions.parquet").write_bytes(b"garbage")

    def fake_compare(run_dirs, out, baseline="baseline", allow_mixed=False, force=False):
        raise RunFolderError(f"{run_dirs[0]}: unreadable (ArrowInvalid: not a parquet file)")

    monkeypatch.setattr(experiments.compare, "compare", fake_compare)
    monkeypatch.chdir(tmp_path)  # the default --out (results/comparison) must not be the checkout's
    code, _, stderr = run_cli(["compare", str(tmp_path / "baseline")], capsys)
    assert code == 2 and "unreadable" in one_error_line(stderr)


# ------------------------------------------------------------------ what bth --help pays for


def test_help_imports_neither_pandas_nor_the_model():
    """``bth --help`` (and building the parser) imports none of the heavy packages; ``bth run``
    imports them when it needs them."""
    code = ("import sys\nfrom experiments import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = ('pandas', 'numpy', 'mesa', 'model', 'scenarios', 'matplotlib', 'dask', "
            "'scipy', 'pydantic', 'pyarrow')\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n"
            "cli.api.run_ensemble\n"
            "print(sorted(m for m in ('pandas', 'model') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["[]", "['model', 'pandas']"]


def test_a_stale_kernel_build_is_one_line_and_exit_2(monkeypatch, capsys):
    """model/compiled.py raises KernelBuildError for a missing or stale build: bth prints it in one
    line (no traceback) and exits 2, whatever the command."""
    import experiments.cli as cli
    from model.version import KernelBuildError

    def stale(argv):
        raise KernelBuildError("model/kernels.pyx changed since its kernels were compiled: run `bash scripts/setup.sh`")
    monkeypatch.setattr(cli, "_dispatch", stale)
    assert cli.main(["calibrate"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "scripts/setup.sh" in err and "Traceback" not in err
