"""Wall times of the ``bth`` command around the model: what a user waits for.

:func:`cli_wall_times` runs, each in a fresh subprocess (so every import is paid, as on the command
line) with a temporary ``--out`` folder:

* ``bth --help``;
* ``bth run scenarios/baseline.toml --seeds 1 --scale 0.05`` (one run, in this process, and its
  figures), into a new folder each time;
* the same command again into the first folder: a resumed no-op (nothing to run, figures current,
  nothing drawn).

Each is the best of ``REPEATS`` (the machines these run on vary by ±30% from one run to the next; the
model figures of ``bth bench`` are best-of-N too).

``bth bench`` prints them (:mod:`experiments.bench`); ``python -m experiments.bench_cli`` prints
them alone.  The targets (issue 10) are 0.5 s, 3 s and 1.5 s on the 2-core machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN_ARGS = ("run", "scenarios/baseline.toml", "--seeds", "1", "--scale", "0.05", "--no-progress")
REPEATS = 3  # best of this many for each command
TARGETS_S = {"bth --help": 0.5, "bth run (1 seed, scale 0.05)": 3.0, "resumed no-op": 1.5}


def bth_command(repo: Path) -> list[str]:
    """How to start ``bth``: the repository's ``.venv/bin/bth``, else the one next to this
    Python, else ``python -m experiments.cli``."""
    for candidate in (Path(repo) / ".venv" / "bin" / "bth", Path(sys.executable).parent / "bth"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    return [sys.executable, "-m", "experiments.cli"]


def _wall(command: list[str], repo: Path) -> float:
    """Wall seconds of one run of ``command`` in ``repo``; raises RuntimeError if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {last}")
    return elapsed


def cli_wall_times(repo: Path, repeats: int = REPEATS) -> list[tuple[str, float]]:
    """``[(command, wall seconds)]`` for ``bth --help``, a one-seed ``bth run`` into a new temporary
    folder, and the same command again, a resumed no-op: each the best of ``repeats``, in a fresh
    subprocess with ``repo`` as the working directory."""
    repo = Path(repo).resolve()
    bth = bth_command(repo)
    help_s = min(_wall(bth + ["--help"], repo) for _ in range(repeats))
    outs = [Path(tempfile.mkdtemp(prefix="bth-bench-cli-")) for _ in range(repeats)]
    try:
        runs = [bth + list(RUN_ARGS) + ["--out", str(out)] for out in outs]
        run_s = min(_wall(run, repo) for run in runs)  # each into a new folder: a full run every time
        noop_s = min(_wall(runs[0], repo) for _ in range(repeats))
    finally:
        for out in outs:
            shutil.rmtree(out, ignore_errors=True)
    return [("bth --help", help_s), ("bth run (1 seed, scale 0.05)", run_s),
            ("resumed no-op", noop_s)]


def main() -> int:
    repo = Path(__file__).resolve().parent.parent
    print(f"{'command':32s} {'wall s':>7s} {'target s':>8s}")
    for name, seconds in cli_wall_times(repo):
        print(f"{name:32s} {seconds:7.2f} {TARGETS_S[name]:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
