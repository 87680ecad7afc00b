"""The baseline as shares of GDP: a plausibility check of the projection (docs/validation.md).

    .venv/bin/python scripts/gdp_shares.py [RUN_DIR]      # default results/baseline (the main job's)

Prints a Markdown table: for 2024, 2030 and 2035, by region, the baseline's seed means of contract
turnover (registered), R&D, high-tech enterprises, firms and branches (established, cumulative),
with turnover and R&D as shares of GDP.  GDP: 2024 from the public figures (Beijing 4,984.31 bn yuan,
Beijing statistical bulletin; Tianjin about 1,800 bn, State Information Center; Hebei the BTH total
of about 11,500 bn, NBS BTH monitoring office, less the two: about 4,716 bn); after 2024 it grows at
the model's own real GDP growth paths (model/data/inputs.toml gdp_real_growth, gdp_real_growth_after)
with no inflation: an assumption (China's GDP deflator has been near zero since 2023; no source
projects it).  A study script, not a test.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from experiments.store import RunFolderError, open_run
from model.economy import gdp_log_growth
from model.regions import REGIONS

GDP_2024_BN = {"Beijing": 4984.31, "Tianjin": 1800.0, "Hebei": 11500.0 - 4984.31 - 1800.0}
YEARS = (2024, 2030, 2035)
METRICS = (("contract_turnover_bn", "turnover (bn yuan)"), ("rd_spending_bn", "R&D (bn yuan)"),
           ("high_tech_enterprises", "HTEs"), ("firms", "firms"), ("beijing_branches_established", "Beijing firms' branches established"))


def gdp_bn(region: str, year: int) -> float:
    """GDP of ``region`` in ``year`` (bn yuan): the 2024 figure grown at the model's real GDP growth."""
    r = REGIONS.index(region)
    return GDP_2024_BN[region] * math.exp(sum(gdp_log_growth(y)[r] for y in range(2025, year + 1)))


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
