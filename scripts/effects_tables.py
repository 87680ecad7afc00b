"""Print the scenario-effect tables of docs/scenarios.md from a comparison's paired_differences.csv.

    .venv/bin/python scripts/effects_tables.py [results/comparison] [--year 2030]

Each cell: the median effect (scenario minus baseline, paired by draw and seed), the range of 90% of
the paired runs, and the share of runs in which the effect is positive.  One line, exit 2, for a
missing or unreadable file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

COLUMNS = (("Beijing reported_outflow_tianjin_hebei_bn", "Beijing's outflow to Tianjin+Hebei (bn yuan)"),
           ("Hebei reported_absorbed_from_beijing_bn", "Hebei absorbed from Beijing (bn yuan)"),
           ("Tianjin reported_absorbed_from_beijing_bn", "Tianjin absorbed from Beijing (bn yuan)"),
           ("Hebei branches_in", "branches in Hebei"),
           ("Tianjin branches_in", "branches in Tianjin"))


def cell(row) -> str:
    big = max(abs(row["lo90"]), abs(row["hi90"])) >= 100
    f = (lambda v: f"{v:+,.0f}") if big else (lambda v: f"{v:+.1f}")
    rel = 100 * row["median"] / abs(row["baseline_mean"]) if row["baseline_mean"] else float("nan")
    return f"{f(row['median'])} ({f(row['lo90'])} to {f(row['hi90'])}), {rel:+.0f}%, P(>0) {row['p_positive']:.0%}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/effects_tables.py")
    p.add_argument("comparison", nargs="?", type=Path, default=Path("results/comparison"))
    p.add_argument("--year", type=int, default=2030)
    args = p.parse_args(argv)
    import pandas as pd

    path = args.comparison / "paired_differences.csv"
    try:
        d = pd.read_csv(path)
    except (OSError, ValueError) as err:
        print(f"error: {path}: {getattr(err, 'strerror', None) or err}", file=sys.stderr)
        return 2
    missing = [c for c in ("median", "lo90", "hi90", "p_positive", "baseline_mean") if c not in d.columns]
    if missing:
        print(f"error: {path}: no column {missing[0]} (written by an older bth compare)", file=sys.stderr)
        return 2
    d = d[d["year"] == args.year]
    print("| scenario | " + " | ".join(label for _, label in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for scen, g in d.groupby("scenario", sort=True):
        by = {r["outcome"]: r for _, r in g.iterrows()}
        print(f"| {scen} | " + " | ".join(cell(by[o]) if o in by else "n/a" for o, _ in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
