"""``bth run`` on bad input: one ``error:`` line naming file and field, exit code 2, nothing written.

The validation itself is tested in tests/test_scenarios.py; here we check what the command does
with it.  Nothing is simulated: every case fails before any run starts.
"""

from __future__ import annotations

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
