"""The baseline as shares of GDP: a plausibility check of the projection (docs/validation.md).

    .venv/bin/python scripts/gdp_shares.py [RUN_DIR]      # default results/baseline (the main job's)

Prints a Markdown table: for 2024, 2030 and 2035, by region, the baseline's seed means of contract
turnover (registered), R&D, high-tech enterprises, firms and branches (established, cumulative),
with turnover and R&D as shares of GDP (``experiments.gdp``: the 2024 figures grown at the model's
real GDP growth, an assumption).  A study script, not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from experiments.gdp import gdp_bn
from experiments.store import RunFolderError, open_run
from model.regions import REGIONS

YEARS = (2024, 2030, 2035)
METRICS = (("contract_turnover_bn", "turnover (bn yuan)"), ("rd_spending_bn", "R&D (bn yuan)"),
           ("high_tech_enterprises", "HTEs"), ("firms", "firms"), ("beijing_branches_established", "Beijing firms' branches established"))


def main(argv: list[str]) -> int:
    try:
        run = open_run(Path(argv[0]) if argv else Path("results/baseline"))
    except RunFolderError as err:  # one line naming the folder, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    reg = run.regions
    mean = reg[reg["year"].isin(YEARS)].groupby(["region", "metric", "year"])["value"].mean()
    head = ["region", "year", "GDP (bn yuan)"] + [label for _, label in METRICS] + ["turnover / GDP", "R&D / GDP"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for region in REGIONS:
        for year in YEARS:
            g = gdp_bn(region, year)
            vals = [mean.get((region, m, year), np.nan) for m, _ in METRICS]
            cells = [region, str(year), f"{g:,.0f}"] + ["-" if np.isnan(v) else f"{v:,.0f}" for v in vals]
            cells += [f"{100 * vals[0] / g:.1f}%", f"{100 * vals[1] / g:.2f}%"]
            print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
