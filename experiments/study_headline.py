"""Headline study: every shipped scenario against the baseline, with a short written summary.

    python -m experiments.study_headline --out DIR [--seeds 10] [--scale 0.05] [--workers N]

Runs ``scenarios/*.toml`` as seed ensembles (same seeds for all: common random numbers) into
``DIR/runs/<scenario>/``, writes the comparison report to ``DIR/comparison/`` (see
:mod:`experiments.compare`) and ``DIR/summary.md``: settings, a table of effects on the headline
outcomes in 2030 and 2035 (bn yuan per year; 90% paired-t confidence intervals), one line per
scenario and the key figures.  Results are at real-world scale whatever ``--scale`` is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.api import load_scenario, run_ensemble
from experiments.compare import compare
from experiments.effects import paired_differences
from experiments.outcomes import TABLE_OUTCOMES
from experiments.report import headline

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
# Outcomes in the summary table (names as in experiments.outcomes) and their short column heads.
HEADLINE_OUTCOMES = {
    "flow Beijing->Hebei": "Contracts Beijing→Hebei",
    "flow Beijing->Tianjin+Hebei": "Contracts Beijing→Tianjin+Hebei",
    "Hebei contract_absorbed_bn": "Hebei contracts bought",
    "Hebei transformed_output_bn": "Hebei transformed output",
    "Tianjin transformed_output_bn": "Tianjin transformed output",
    "Beijing contract_turnover_bn": "Beijing contracts sold",
}


def effects_markdown(diffs: pd.DataFrame, year: int) -> str:
    """Markdown table: rows scenarios, columns headline outcomes (bn yuan per year), cells
    'effect [90% CI] (% of baseline)'; bold if the interval excludes 0, marked "~" if it includes 0.
    """
    cols = [o for o in HEADLINE_OUTCOMES if o in set(diffs["outcome"])]
    d = diffs[diffs["year"] == year].set_index(["scenario", "outcome"])
    head = "| scenario | " + " | ".join(HEADLINE_OUTCOMES[o] for o in cols) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 1)]
    for s in dict.fromkeys(diffs["scenario"]):
        cells = []
        for o in cols:
            if (s, o) not in d.index:
                cells.append("n/a")
                continue
            r = d.loc[(s, o)]
            pct = f" ({r['rel_diff_pct']:+.0f}%)" if np.isfinite(r["rel_diff_pct"]) else ""
            text = f"{r['mean_diff']:+.1f} [{r['lo']:.1f}, {r['hi']:.1f}]{pct}"
            cells.append(f"~{text}" if r["straddles_zero"] else f"**{text}**")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_summary(out: Path, diffs: pd.DataFrame, settings: dict, scenarios: list, baseline: str,
                  report: Path) -> Path:
    """``out/summary.md`` with settings, effect tables, one line per scenario and figure links."""
    years = sorted(diffs["year"].unique())
    rel = lambda p: Path(p).relative_to(out).as_posix()  # noqa: E731
    md = ["# Headline study: scenarios against the baseline", "",
          f"Settings: {settings['seeds']} seeds per scenario (the same seeds for every scenario), "
          f"scale {settings['scale']} (outputs at real-world scale), baseline `{baseline}`. "
          f"Full report: [{rel(report)}]({rel(report)}).", "",
          "Effects are the mean over seeds of (scenario - baseline) in bn yuan per year, with the 90% "
          "paired-t confidence interval and the change in % of the baseline. **Bold**: the interval "
          "excludes 0; ~: it includes 0 (not distinguishable from seed noise at this number of seeds).", ""]
    for y in years:
        md += [f"## Effects in {y}", "", effects_markdown(diffs, y), ""]
    md += ["Columns: value of technology contracts sold by Beijing to Hebei, and to Tianjin and Hebei "
           "together; contracts bought by Hebei firms from anywhere; output generated from transferred "
           "technology in Hebei and Tianjin; all contracts sold by Beijing.", "", "## Scenarios", ""]
    for s in scenarios:
        if s.name == baseline:
            continue
        md.append(f"* **{s.name}**: {' '.join(str(s.description).split())} {headline(diffs, s.name, list(TABLE_OUTCOMES))}")
    md += ["", "## Figures", "",
           "Effects on the key outcomes (dot = mean paired difference, bar = 90% confidence interval; "
           "hollow = includes 0):", "", f"![effects]({rel(report.parent / 'paired_differences.png')})", "",
           "Contracts bought by each region over time, every scenario against the baseline (median, "
           "50% and 90% bands across seeds):", "",
           f"![absorbed]({rel(report.parent / 'fan_contract_absorbed_bn.png')})", "",
           "Output from transferred technology:", "",
           f"![output]({rel(report.parent / 'fan_transformed_output_bn.png')})", ""]
    path = out / "summary.md"
    path.write_text("\n".join(md), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.study_headline", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--seeds", type=int, default=10, help="seeds per scenario (default 10)")
    p.add_argument("--scale", type=float, default=0.05, help="fraction of real firms simulated (default 0.05)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs)")
    p.add_argument("--baseline", default="baseline", help="scenario to compare against")
    p.add_argument("--scenarios", nargs="*", type=Path, default=None,
                   help="scenario files (default: scenarios/*.toml)")
    args = p.parse_args(argv)
    files = args.scenarios or sorted(SCENARIO_DIR.glob("*.toml"))
    scenarios = [load_scenario(f) for f in files]
    if args.baseline not in {s.name for s in scenarios}:
        p.error(f"baseline '{args.baseline}' is not among the scenarios {[s.name for s in scenarios]}")
    res = run_ensemble(scenarios, seeds=args.seeds, scale=args.scale, out=args.out / "runs",
                       workers=args.workers)
    if res.failures:
        print(f"warning: {len(res.failures)} run(s) failed; their scenarios are left out", file=sys.stderr)
    report = compare(res.run_dirs, args.out / "comparison", baseline=args.baseline, force=True)  # the study owns its comparison folder
    diffs = paired_differences(res.regions, res.flows, args.baseline)
    summary = write_summary(args.out, diffs, {"seeds": args.seeds, "scale": args.scale}, scenarios,
                            args.baseline, report)
    print(summary)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
