"""Compare scenarios against a baseline: the orchestrator of the comparison report.

Input: run folders ``OUT/<scenario>/`` read with :func:`experiments.store.open_run`, all at
real-world scale (money in bn yuan per year, counts in firms).  Runs are compared only if they
were made alike (same scale, horizon and model code); the work itself is done by

* :mod:`experiments.outcomes`: what is compared (outcomes, years);
* :mod:`experiments.effects`: paired differences to the baseline, ranges across seeds;
* :mod:`experiments.figures`: the PNG figures;
* :mod:`experiments.report`: the HTML pages, rendered from ``experiments/templates/``.

Main entry point: :func:`compare`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from experiments.effects import check_baseline, outcome_table, paired_differences
from experiments.figures import draw_comparison
from experiments.outcomes import YEARS, chart_outcomes, outcome_values
from experiments.report import TEMPLATES, ReportData, ScenarioRun, write_outcomes_page, write_report
from experiments.store import MixedRunsError, RunFolder, is_run_folder, open_run

__all__ = ["compare", "find_run_dirs", "load_runs", "check_alike", "run_settings", "paired_differences"]

SETTINGS = ("scale", "horizon", "code")  # what must match for runs to be compared


def compare(run_dirs: list[Path], out: Path, baseline: str = "baseline", allow_mixed: bool = False,
            templates: Path = TEMPLATES) -> Path:
    """Compare the run folders ``run_dirs`` against ``baseline``; return ``out/report.html``.

    Writes into ``out``: ``fan_<metric>.png`` (per key metric), ``paired_differences.png`` and
    ``.csv`` (effects in 2030 and 2035 with 90% intervals), ``od_<scenario>.png`` (flow matrices
    for 2030 and 2035, bn yuan), ``outcomes.csv``/``.html`` (median and 90% range across seeds),
    and ``report.html`` embedding all of them.  Years missing from the results are replaced by
    the last simulated year.

    Raises :class:`~experiments.store.MixedRunsError` if the runs differ in scale, horizon or
    model code, unless ``allow_mixed`` (then the report lists the differing settings);
    ``ValueError`` if ``baseline`` is missing.  ``templates``: a folder of templates to render
    (default: the package's own).
    """
    out = Path(out)
    runs = load_runs(run_dirs)
    regions = pd.concat([r.regions for r in folders_of(runs)], ignore_index=True)
    flows = pd.concat([r.flows for r in folders_of(runs)], ignore_index=True)
    check_baseline(runs, baseline)
    mixed = check_alike(runs, baseline, allow_mixed)
    out.mkdir(parents=True, exist_ok=True)
    scenarios = [baseline] + sorted(s for s in runs if s != baseline)
    years, notes = compared_years(regions), seed_notes(regions)
    if list(years) != list(YEARS):
        present = sorted(int(y) for y in regions["year"].unique())
        notes.append(f"results cover {present[0]}-{present[-1]}; compared year(s): {years}.")

    table = outcome_table(outcome_values(regions, flows), years)
    table.to_csv(out / "outcomes.csv", index=False)
    diffs = paired_differences(regions, flows, baseline, years=years)
    diffs.to_csv(out / "paired_differences.csv", index=False)
    charted = chart_outcomes(diffs["outcome"])
    seeds = regions.groupby("scenario")["seed"].nunique().to_dict()
    data = ReportData(
        baseline=baseline, runs=[ScenarioRun(s, runs[s].manifest, int(seeds.get(s, 0))) for s in scenarios],
        outcomes=table, effects=diffs, charted=charted, notes=notes, mixed=mixed,
        figures=draw_comparison(regions, flows, diffs, charted, baseline, scenarios, years, out))
    write_outcomes_page(data, out, templates)
    return write_report(data, out, templates)


# ----------------------------------------------------------------------------- loading

def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Run folders among ``paths`` or directly inside them.

    Other paths are skipped with a warning (so ``bth compare results/*`` tolerates an old
    ``results/comparison`` folder).
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if is_run_folder(p):
            found.append(p)
        elif p.is_dir() and any(is_run_folder(c) for c in p.iterdir()):
            found.extend(sorted(c for c in p.iterdir() if is_run_folder(c)))
        else:
            warnings.warn(f"{p}: no regions.parquet here, skipped", stacklevel=2)
    return found


def load_runs(paths: list[Path]) -> dict[str, RunFolder]:
    """The run folder of each scenario found among ``paths`` (see :func:`find_run_dirs`).

    Raises ``ValueError`` if there is none or a scenario appears in two folders, and
    :class:`~experiments.store.RunFolderError` if a folder cannot be read."""
    dirs = find_run_dirs(paths)
    if not dirs:
        raise ValueError(f"no run folders (with regions.parquet) among {[str(p) for p in paths]}")
    runs: dict[str, RunFolder] = {}
    for d in dirs:
        run = open_run(d)
        for s in map(str, run.regions["scenario"].unique()):
            if s in runs:
                raise ValueError(f"scenario '{s}' appears in both {runs[s].path} and {d}; compare one run of each")
            runs[s] = run
    return runs


def folders_of(runs: dict[str, RunFolder]) -> list[RunFolder]:
    """The distinct run folders of ``runs``, in order (a folder may hold several scenarios)."""
    return list({id(r): r for r in runs.values()}.values())


# ----------------------------------------------------------------------------- settings

def run_settings(manifest: dict) -> dict[str, str]:
    """The :data:`SETTINGS` of a run as text: scale, horizon (manifest ``until``) and model code
    (``code_hash``, else the older ``code_version``); a missing key reads "unknown"."""
    def known(key: str) -> str:
        v = manifest.get(key)
        return "unknown" if v is None or v == "" else str(v)

    code = (manifest.get("code_hash") and str(manifest["code_hash"])
            or manifest.get("code_version") and f"version {manifest['code_version']}" or "unknown")
    return {"scale": known("scale"), "horizon": known("until"), "code": code}


def check_alike(runs: dict[str, RunFolder], baseline: str, allow_mixed: bool = False) -> list[tuple[str, str]]:
    """Refuse runs made with different :data:`SETTINGS` (unknown differs from known).

    Raises :class:`~experiments.store.MixedRunsError`, one line naming the folders and what
    differs, unless ``allow_mixed``; then returns ``(folder, "scale 0.05, horizon 2035")`` for
    every folder, listing the settings that differ ([] if all runs are alike)."""
    folders = folders_of(runs)
    ref = runs[baseline]
    settings = {id(r): run_settings(r.manifest) for r in folders}
    differing = [r for r in folders if settings[id(r)] != settings[id(ref)]]
    if not differing:
        return []
    keys = [k for k in SETTINGS if len({settings[id(r)][k] for r in folders}) > 1]

    def described(r: RunFolder) -> str:
        return ", ".join(f"{k} {settings[id(r)][k]}" for k in keys)

    if not allow_mixed:
        others = ", ".join(f"{r.path} with {described(r)}" for r in differing[1:])
        raise MixedRunsError(
            f"{differing[0].path} was run with {described(differing[0])}, {others + ', ' if others else ''}"
            f"{ref.path} with {described(ref)}: refusing to compare runs of different settings; "
            f"rerun them alike or pass --allow-mixed")
    return [(str(r.path), described(r)) for r in folders]


# ----------------------------------------------------------------------------- years and caveats

def compared_years(regions: pd.DataFrame) -> list[int]:
    """The :data:`~experiments.outcomes.YEARS` present in the results, else the last year simulated."""
    present = sorted(int(y) for y in regions["year"].unique())
    return [y for y in YEARS if y in present] or present[-1:]


def seed_notes(regions: pd.DataFrame) -> list[str]:
    """Caveats about the seeds: scenarios run with different seeds, or with a single seed."""
    notes = []
    seed_sets = regions.groupby("scenario")["seed"].apply(lambda s: frozenset(s.unique()))
    if len(set(seed_sets)) > 1:
        notes.append("scenarios were run with different seeds; effects use only the seeds each shares "
                     "with the baseline.")
    if regions.groupby("scenario")["seed"].nunique().min() < 2:
        notes.append("some scenarios have a single seed: no uncertainty bands or confidence intervals "
                     "can be computed; run more seeds.")
    return notes
