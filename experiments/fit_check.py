"""Check a finished ensemble against the calibration targets: ``bth fit RUN_DIR``.

After ``bth run scenarios/baseline.toml --seeds 8 --scale 0.05 --until 2025 --out results-fit``,
``bth fit results-fit/baseline`` compares the seed means of the run's tables with every target of
``calibration/targets.toml`` and gives the verdict target by target, with the same rules as the
calibration's fit report (point within its tolerance, "over N" exceeded, inequality holding).

Exit codes: 0 every compared target passes; 1 some target fails; 2 bad input (no such run
folder, bad targets file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from calibration.report import fit_table, format_number, target_cells
from calibration.targets import TARGETS_FILE, VALIDATION_FILE, TargetError, all_outputs, compared_targets, load_targets, read_outputs
from experiments.outcomes import draw_key
from experiments.store import is_run_folder, open_run


def per_seed_outputs(regions: pd.DataFrame, flows: pd.DataFrame, outputs) -> list[dict[str, float]]:
    """The targets' outputs of each run of one scenario's tables (``bth run`` folder format): each
    seed, or each (draw, seed) of a run over posterior draws."""
    keys = draw_key(regions) + ["seed"]  # a run: a seed, or a (draw, seed) of a run over posterior draws
    flows_by = dict(tuple(flows.groupby(draw_key(flows) + ["seed"], sort=True)))
    runs = []
    for key, reg in regions.groupby(keys, sort=True):
        tables = SimpleNamespace(regions=reg, flows=flows_by.get(key, flows.iloc[:0]))
        runs.append(read_outputs(tables, outputs))
    return runs


def check_run(run_dir: Path | str, targets_path: Path | str = TARGETS_FILE) -> pd.DataFrame:
    """Fit table (as in ``calibration/report/fit.md``) of a finished run folder's seed means.

    Targets whose year lies beyond the run's last year get the verdict 'not in run'.  Raises
    ``ValueError`` (a :class:`~experiments.store.RunFolderError` naming the path) if ``run_dir``
    is not one finished run folder of a single scenario."""
    return fit_of(open_scenario_run(run_dir), targets_path)


def open_scenario_run(run_dir: Path | str):
    """The one finished run folder of a single scenario at ``run_dir`` (``store.RunFolder``)."""
    run = open_run(_one_run_folder(Path(run_dir)))
    if run.regions["scenario"].nunique() != 1:
        raise ValueError(f"{run_dir}: holds several scenarios; give one run folder OUT/<scenario>")
    return run


def fit_of(run, targets_path: Path | str) -> pd.DataFrame:
    """:func:`check_run` on an opened run folder (``open_scenario_run``)."""
    targets = compared_targets(load_targets(targets_path))
    last = int(run.regions["year"].max())
    inside = [t for t in targets if all(o.year <= last for o in t.outputs)]
    runs = per_seed_outputs(run.regions, run.flows, all_outputs(inside))
    table = fit_table(inside, runs, runs, [])
    skipped = [dict(target=t.name, compared=t.description, verdict="not in run") for t in targets if t not in inside]
    if skipped:
        table = pd.concat([table, pd.DataFrame(skipped)], ignore_index=True)
    draws = int(run.regions["draw"].nunique()) if draw_key(run.regions) else 0
    table.attrs.update(scenario=str(run.regions["scenario"].iloc[0]), seeds=len(runs), last_year=last, draws=draws)
    return table


def _one_run_folder(path: Path) -> Path:
    """``path``, or its only run folder if it is an output folder ``OUT`` holding exactly one."""
    if path.is_dir() and not is_run_folder(path):
        inside = sorted(c for c in path.iterdir() if is_run_folder(c))
        if len(inside) == 1:
            return inside[0]
        if inside:
            raise ValueError(f"{path}: holds several run folders ({', '.join(c.name for c in inside)}); "
                             f"give one of them, e.g. {inside[0]}")
    return path


def markdown(table: pd.DataFrame, what: str = "targets") -> str:
    """The verdicts as a Markdown table (seed means; 90% interval over the seeds)."""
    runs, draws = table.attrs.get("seeds"), table.attrs.get("draws", 0)
    what_runs = (f"{runs} runs ({draws} posterior draws x {runs // max(draws, 1)} seeds: the posterior predictive mean)"
                 if draws else f"{runs} seeds")
    lines = [
        f"Scenario '{table.attrs.get('scenario')}', mean over {what_runs} "
        f"(90% interval: 5th-95th percentile of the runs).",
        "",
        "| target | compared | target value | tolerance | seed mean | 90% interval | z | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        if r["verdict"] == "not in run":
            lines.append(f"| {r['target']} | {r['compared']} | | | | | | not in run |")
            continue
        value, tol = target_cells(r)
        verdict = "**pass**" if r["verdict"] == "pass" else "**FAIL**"
        lines.append(f"| {r['target']} | {r['compared']} | {value} | {tol} | {format_number(r['sim_mean'])} | "
                     f"{format_number(r['sim_p05'])} – {format_number(r['sim_p95'])} | {r['z']:+.2f} | {verdict} |")
    compared = table[table["verdict"].isin(["pass", "FAIL"])]
    lines += ["", f"{int((compared['verdict'] == 'pass').sum())} of {len(compared)} {what} pass."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bth fit", description="Compare a finished run folder's seed means with the calibration targets.")
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder OUT/<scenario> written by 'bth run'")
    parser.add_argument("--targets", type=Path, default=TARGETS_FILE, help="targets file (default: the calibration's)")
    parser.add_argument("--validation", type=Path, default=VALIDATION_FILE,
                        help="sourced figures the calibration does not fit, shown after the targets "
                             "(default calibration/validation.toml; they do not change the exit code)")
    parser.add_argument("--no-validation", action="store_true", help="show the targets only")
    parser.add_argument("--csv", type=Path, default=None, help="also write the table as CSV here")
    args = parser.parse_args(argv)
    try:
        run = open_scenario_run(args.run_dir)  # read once for both tables
        table = fit_of(run, args.targets)
        validation = None if args.no_validation else fit_of(run, args.validation)
    except (FileNotFoundError, TargetError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(markdown(table))
    if validation is not None:
        print(f"\n## Not fitted: {args.validation.name} (figures the calibration never saw)\n")
        print(markdown(validation, what="validation figures"))
    if args.csv is not None:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False)
    compared = table[table["verdict"].isin(["pass", "FAIL"])]
    return 0 if bool(np.all(compared["verdict"] == "pass")) else 1


if __name__ == "__main__":
    sys.exit(main())
