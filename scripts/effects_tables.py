"""Print the scenario-effect tables of docs/scenarios.md from a comparison's paired_differences.csv.

    .venv/bin/python scripts/effects_tables.py [results/comparison] [--year 2030]
    .venv/bin/python scripts/effects_tables.py POSTERIOR_COMPARISON --seed-only SEED_COMPARISON
    .venv/bin/python scripts/effects_tables.py [results/comparison] --other

Each cell: the median effect (scenario minus baseline, paired by draw and seed), the range of 90% of
the paired runs, and the share of runs in which the effect is positive.  With ``--seed-only``: the
headline effects (experiments.effects.RANKING_OUTCOMES) of a comparison over seeds alone beside
those of one over posterior draws x seeds, with the posterior's share of the variance due to the
parameters.  With ``--other``: the "other effects" table of docs/scenarios.md (each scenario's own
levers' outcomes, ``OTHER``), 2030 and 2035.  One line, exit 2, for a missing or unreadable file.
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


OTHER = (("no-coordination", "Tianjin transformed_output_bn"), ("no-coordination", "Hebei transformed_output_bn"),
         ("integrated-innovation-center", "Hebei contract_absorbed_bn"),
         ("integrated-innovation-center", "Hebei contract_turnover_bn"),
         ("xiongan-hub", "Xiong'an park_firms"), ("xiongan-hub", "Hebei transformed_output_bn"),
         ("hebei-rd-push", "Hebei contract_turnover_bn"), ("hebei-rd-push", "Hebei contract_absorbed_bn"),
         ("hebei-rd-push", "Hebei transformed_output_bn"), ("tianjin-manufacturing", "Tianjin transformed_output_bn"),
         ("beijing-capacity", "Beijing transformed_output_bn"), ("supplier-network", "Tianjin transformed_output_bn"),
         ("supplier-network", "Hebei transformed_output_bn"))


def cell(row) -> str:
    big = max(abs(row["lo90"]), abs(row["hi90"])) >= 100
    f = (lambda v: f"{v:+,.0f}") if big else (lambda v: f"{v:+.1f}")
    rel = 100 * row["median"] / abs(row["baseline_mean"]) if row["baseline_mean"] else float("nan")
    return f"{f(row['median'])} ({f(row['lo90'])} to {f(row['hi90'])}), {rel:+.0f}%, P(>0) {row['p_positive']:.0%}"


def read(comparison: Path):
    """paired_differences.csv of ``comparison``; raises ValueError with a one-line message."""
    import pandas as pd

    path = comparison / "paired_differences.csv"
    try:
        d = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: {getattr(err, 'strerror', None) or err}") from None
    missing = [c for c in ("median", "lo90", "hi90", "p_positive", "baseline_mean") if c not in d.columns]
    if missing:
        raise ValueError(f"{path}: no column {missing[0]} (written by an older bth compare)")
    return d


def side_by_side(posterior, seed_only, year: int) -> None:
    """The headline effects over seeds only and over posterior draws x seeds, one row each."""
    from experiments.effects import RANKING_OUTCOMES

    def interval(r) -> str:
        return f"{r['median']:+.1f} ({r['lo90']:+.1f} to {r['hi90']:+.1f})"

    print("| scenario | outcome | seeds only: median (90% of runs) | P(>0) | posterior: median (90% of runs) "
          "| P(>0) | share of variance from the parameters |")
    print("|---|---|---|---|---|---|---|")
    key = ["scenario", "outcome"]
    a = seed_only[seed_only["year"] == year].set_index(key)
    b = posterior[posterior["year"] == year].set_index(key)
    for scen in sorted(set(b.index.get_level_values(0))):
        for outcome in RANKING_OUTCOMES:
            if (scen, outcome) not in b.index:
                continue
            rb = b.loc[(scen, outcome)]
            ra = a.loc[(scen, outcome)] if (scen, outcome) in a.index else None
            seeds = f"{interval(ra)} | {ra['p_positive']:.0%}" if ra is not None else "n/a | n/a"
            share = rb.get("param_share", float("nan"))
            print(f"| {scen} | {outcome} | {seeds} | {interval(rb)} | {rb['p_positive']:.0%} | {share:.2f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/effects_tables.py")
    p.add_argument("comparison", nargs="?", type=Path, default=Path("results/comparison"))
    p.add_argument("--year", type=int, default=2030)
    p.add_argument("--seed-only", type=Path, default=None, metavar="COMPARISON",
                   help="a comparison over seeds alone: print the headline effects of both side by side")
    p.add_argument("--other", action="store_true", help="the 'other effects' table (OTHER), 2030 and 2035")
    args = p.parse_args(argv)
    try:
        d = read(args.comparison)
        seed_only = read(args.seed_only) if args.seed_only else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if seed_only is not None:
        side_by_side(d, seed_only, args.year)
        return 0
    if args.other:
        by = d.set_index(["scenario", "outcome", "year"])
        print("| scenario | outcome | 2030 | 2035 |\n|---|---|---|---|")
        for scen, outcome in OTHER:
            cells = [cell(by.loc[(scen, outcome, y)]) if (scen, outcome, y) in by.index else "n/a" for y in (2030, 2035)]
            print(f"| {scen} | {outcome} | " + " | ".join(cells) + " |")
        return 0
    d = d[d["year"] == args.year]
    print("| scenario | " + " | ".join(label for _, label in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for scen, g in d.groupby("scenario", sort=True):
        by = {r["outcome"]: r for _, r in g.iterrows()}
        print(f"| {scen} | " + " | ".join(cell(by[o]) if o in by else "n/a" for o, _ in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
