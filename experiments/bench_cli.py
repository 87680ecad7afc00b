"""Wall times of the ``bth`` command around the model: what a user waits for.

:func:`cli_wall_times` runs, each in a fresh subprocess (so every import is paid, as on the command
line) with a temporary ``--out`` folder:

* ``bth --help``;
* ``bth run scenarios/baseline.toml --seeds 1 --scale 0.05`` (one run, in this process, and its
  figures);
* the same command again: a resumed no-op (nothing to run, figures current, nothing drawn).

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
REPEATS = 3  # best of this many for --help and the no-op (the one-seed run is timed once)
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
    """``[(command, wall seconds)]`` for ``bth --help`` (best of ``repeats``), a one-seed
    ``bth run`` into a new temporary folder, and the same command again, a resumed no-op (best
    of ``repeats``).  Each in a fresh subprocess with ``repo`` as the working directory."""
    repo = Path(repo).resolve()
    bth = bth_command(repo)
    help_s = min(_wall(bth + ["--help"], repo) for _ in range(repeats))
    out = Path(tempfile.mkdtemp(prefix="bth-bench-cli-"))
    try:
        run = bth + list(RUN_ARGS) + ["--out", str(out)]
        run_s = _wall(run, repo)
        noop_s = min(_wall(run, repo) for _ in range(repeats))
    finally:
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
