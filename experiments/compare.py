"""Compare scenarios against a baseline: the orchestrator of the comparison report.

Input: run folders ``OUT/<scenario>/`` read with :func:`experiments.store.open_run`, all at
real-world scale (money in bn yuan per year, counts in firms).  Runs are compared only if they
were made alike (same scale, horizon and model code); the work itself is done by

* :mod:`experiments.outcomes`: what is compared (outcomes, years);
* :mod:`experiments.effects`: paired differences to the baseline (with their predictive
  intervals, parameter share and multiple-comparison-corrected verdicts), ranges across seeds,
  the ranking of the scenarios on the headline outcomes;
* :mod:`experiments.figures`: the PNG figures;
* :mod:`experiments.report`: the HTML pages, rendered from ``experiments/templates/``.

Main entry point: :func:`compare`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from experiments.effects import (
    baseline_crossings, check_baseline, flow_cell_differences, outcome_table, paired_differences,
    ranking_table,
)
from experiments.figures import draw_comparison
from experiments.outcomes import (
    CHART_OUTCOMES, KEY_METRICS, TABLE_OUTCOMES, YEARS, Outcome, key_outcomes_of, outcome_values, with_outcomes,
)
from experiments.report import (
    SCENARIO_DIR, TEMPLATES, ReportData, ScenarioRun, write_outcomes_page, write_report,
)
from experiments.store import MixedRunsError, RunFolder, is_run_folder, open_run
from model.years import CALIBRATION_LAST_YEAR

__all__ = ["compare", "find_run_dirs", "scan_run_dirs", "load_runs", "check_alike", "check_out",
           "run_settings", "paired_differences", "ComparisonExists"]

SETTINGS = ("scale", "horizon", "code", "posterior")  # what must match for runs to be compared
MARK = "comparison.json"  # what a comparison folder holds: the files written, the runs compared
EXTRA_EFFECTS = 6  # effects shown after a scenario's key outcomes: the largest by size
# files an older comparison (without comparison.json) may have left; replaced with --force
OLD_PATTERNS = ("report.html", "outcomes.html", "outcomes.csv", "paired_differences.csv", "overview.csv",
                "od_differences.csv", "fan_*.png", "od_*.png", "effects_*.png",
                "keyfan_*.png", "paired_differences.png")


class ComparisonExists(ValueError):
    """``out`` already holds a comparison (or other files): one line, nothing written."""


def compare(run_dirs: list[Path], out: Path, baseline: str = "baseline", allow_mixed: bool = False,
            templates: Path = TEMPLATES, force: bool = False) -> Path:
    """Compare the run folders ``run_dirs`` against ``baseline``; return ``out/report.html``.

    Each scenario's key outcomes (its file's ``key_outcomes``, kept in the run manifest) lead
    its headline, its effect chart (``effects_<scenario>.png``, then the largest other effects
    in percent of the baseline) and its fan chart (``keyfan_<scenario>.png``).  Also written:
    ``fan_<metric>.png`` per key metric, ``od_baseline.png`` and ``od_differences.png`` (flow
    matrices, bn yuan), ``overview.csv`` (scenario x key outcome), ``paired_differences.csv``
    (effects with 90% intervals and their size relative to the baseline),
    ``od_differences.csv``, ``ranking.csv`` (the scenarios ranked by their median effect on the
    headline outcomes, :data:`~experiments.effects.RANKING_OUTCOMES`, in each compared year, with
    the probability that each step of the ranking holds and of being the best),
    ``outcomes.csv``/``.html`` (median and 90% range across seeds),
    ``comparison.json`` (what was compared and written) and ``report.html`` embedding them.
    Years missing from the results are replaced by the last simulated year.

    Raises :class:`ComparisonExists` if ``out`` already holds a comparison (unless ``force``:
    then its files are replaced, stale ones removed) or other files;
    :class:`~experiments.store.MixedRunsError` if the runs differ in scale, horizon or model
    code, unless ``allow_mixed`` (then the report lists the differing settings);
    ``ValueError`` if ``baseline`` is missing.  ``templates``: a folder of templates to render
    (default: the package's own).
    """
    out = Path(out)
    check_out(out, force)
    runs = load_runs(run_dirs)
    regions = pd.concat([r.regions for r in folders_of(runs)], ignore_index=True)
    flows = pd.concat([r.flows for r in folders_of(runs)], ignore_index=True)
    check_baseline(runs, baseline)
    mixed = check_alike(runs, baseline, allow_mixed)
    scenarios = [baseline] + sorted(s for s in runs if s != baseline)
    years, notes = compared_years(regions), seed_notes(regions)
    if list(years) != list(YEARS):
        present = sorted(int(y) for y in regions["year"].unique())
        notes.append(f"results cover {present[0]}-{present[-1]}; compared year(s): {years}.")

    keys = {s: key_outcomes_of(runs[s].manifest, SCENARIO_DIR) for s in scenarios}
    outcomes = with_outcomes(TABLE_OUTCOMES, [oc for s in scenarios for oc in keys[s]])
    values = outcome_values(regions, flows, outcomes)
    table = outcome_table(values, years, outcomes)
    diffs = paired_differences(regions, flows, baseline, years=years, outcomes=outcomes)
    cells = flow_cell_differences(flows, baseline, years)
    ranking = ranking_table(regions, flows, baseline, years=years, outcomes=outcomes)
    lists = {s: effect_list(diffs, s, keys[s], outcomes) for s in scenarios if s != baseline}
    charted = charted_outcomes(diffs, keys, outcomes)
    seeds = regions.groupby("scenario")["seed"].nunique().to_dict()
    early = early_flow_differences(flows, baseline)
    if early:
        notes.append(f"the flow matrices of {', '.join(early)} differ from {baseline}'s already before "
                     f"{CALIBRATION_LAST_YEAR}: a lever changes the calibrated history.")

    # everything is written into a temporary sibling folder and moved into ``out`` only when
    # complete: a failure part-way leaves an earlier comparison as it was and no half report
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        table.to_csv(work / "outcomes.csv", index=False)
        diffs.to_csv(work / "paired_differences.csv", index=False)
        cells.to_csv(work / "od_differences.csv", index=False)
        ranking.to_csv(work / "ranking.csv", index=False)
        data = ReportData(
            baseline=baseline, runs=[ScenarioRun(s, runs[s].manifest, int(seeds.get(s, 0))) for s in scenarios],
            outcomes=table, effects=diffs, charted=charted, notes=notes, mixed=mixed,
            figures=draw_comparison(values, regions, flows, diffs, cells, lists, keys, baseline, scenarios,
                                    years, work),
            keys=keys, lists=lists, values=values,
            crossings=baseline_crossings(regions, baseline, KEY_METRICS), has_draws="draw" in regions.columns,
            ranking=ranking)
        data.overview().to_csv(work / "overview.csv", index=False)
        write_outcomes_page(data, work, templates)
        write_report(data, work, templates)
        written = sorted(p.name for p in work.iterdir() if p.is_file() and p.name != MARK)
        (work / MARK).write_text(json.dumps({
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"), "baseline": baseline,
            "runs": {s: str(runs[s].path) for s in scenarios}, "files": written}, indent=1) + "\n")
        install(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out / "report.html"


# ----------------------------------------------------------------------------- the output folder

def check_out(out: Path, force: bool = False) -> None:
    """Refuse to write into ``out`` if it holds a comparison (unless ``force``), a run folder or
    other files; a missing or empty folder is fine.  Raises :class:`ComparisonExists`."""
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise ComparisonExists(f"{out} is a file, not a folder; use another --out")
    if is_run_folder(out):
        raise ComparisonExists(f"{out} is a run folder; write the comparison elsewhere (--out)")
    contents = list(out.iterdir())
    if not contents:
        return
    if is_comparison(out):
        if not force:
            raise ComparisonExists(f"{out} already holds a comparison (report.html); pass --force to "
                                   f"replace it, or use another --out")
        return
    raise ComparisonExists(f"{out} holds other files and no comparison; use a new or empty --out")


def is_comparison(folder: Path) -> bool:
    """True if ``folder`` holds a comparison written by :func:`compare` (or an older one)."""
    return (Path(folder) / MARK).exists() or (Path(folder) / "report.html").exists()


def install(work: Path, out: Path) -> None:
    """Move a complete comparison from ``work`` into ``out``: the earlier comparison's files are
    removed first (others are kept), the new ones moved in, ``comparison.json`` last."""
    remove_stale(out)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(work.iterdir(), key=lambda p: p.name == MARK):
        os.replace(path, out / path.name)


def remove_stale(out: Path) -> None:
    """Remove the files of an earlier comparison in ``out`` (those its ``comparison.json`` lists,
    or those an older comparison writes), so none is left behind by the new one."""
    if not is_comparison(out):
        return
    names: set[str] = set()
    try:
        names |= set(json.loads((out / MARK).read_text()).get("files", []))
    except (OSError, ValueError, AttributeError):
        pass
    for pattern in OLD_PATTERNS:
        names |= {p.name for p in out.glob(pattern)}
    for name in names | {MARK}:
        p = out / Path(name).name
        if p.is_file():
            p.unlink()


# ----------------------------------------------------------------------------- what is shown

def effect_list(diffs: pd.DataFrame, scenario: str, keys: list[Outcome], outcomes: tuple[Outcome, ...],
                extra: int = EXTRA_EFFECTS) -> list[Outcome]:
    """The outcomes of a scenario's effect chart: its key outcomes, then the ``extra`` largest
    other effects by size (|effect| in percent of the baseline, in the last compared year)."""
    d = diffs[diffs["scenario"] == scenario]
    if d.empty:
        return list(keys)
    d = d[d["year"] == d["year"].max()]
    by_name = {oc.name: oc for oc in outcomes}
    key_names = {oc.name for oc in keys}
    rest = d[~d["outcome"].isin(key_names) & d["rel_diff_pct"].notna()]
    rest = rest.reindex(rest["rel_diff_pct"].abs().sort_values(ascending=False, kind="stable").index)
    return list(keys) + [by_name[o] for o in rest["outcome"].head(extra) if o in by_name]


def charted_outcomes(diffs: pd.DataFrame, keys: dict[str, list[Outcome]],
                     outcomes: tuple[Outcome, ...]) -> list[Outcome]:
    """The rows of the effect tables: every scenario's key outcomes, then :data:`CHART_OUTCOMES`."""
    present = set(diffs["outcome"])
    by_name = {oc.name: oc for oc in outcomes}
    names = [oc.name for ks in keys.values() for oc in ks] + list(CHART_OUTCOMES)
    return [by_name[n] for n in dict.fromkeys(names) if n in present and n in by_name]


def early_flow_differences(flows: pd.DataFrame, baseline: str, tol: float = 1e-9) -> list[str]:
    """Scenarios whose seed-mean flow matrix differs from the baseline's in a year before
    :data:`~model.years.CALIBRATION_LAST_YEAR` (their history is not the calibrated one)."""
    f = flows[flows["year"] < CALIBRATION_LAST_YEAR]
    if f.empty:
        return []
    m = f.groupby(["scenario", "year", "origin", "destination"])["contract_value_bn"].mean().unstack("scenario")
    if baseline not in m:
        return []
    return [s for s in m.columns if s != baseline
            and ((m[s] - m[baseline]).abs() > tol * (1 + m[baseline].abs())).any()]


# ----------------------------------------------------------------------------- loading

def scan_run_dirs(paths: list[Path], skip: Path | None = None) -> tuple[list[Path], list[str]]:
    """The run folders among ``paths``, and one note per path not compared.

    A run folder is compared; a folder holding run folders (e.g. ``results``) has them compared
    and its other sub-folders named in a note; anything else is named in a note and skipped.
    ``skip`` (the report folder, e.g. among ``results/*``) is left out without a note."""
    found: list[Path] = []
    notes: list[str] = []
    skip_resolved = Path(skip).resolve() if skip is not None else None
    for p in map(Path, paths):
        if skip_resolved is not None and p.resolve() == skip_resolved:
            continue
        if is_run_folder(p):
            found.append(p)
            continue
        children = sorted(c for c in p.iterdir() if c.is_dir()) if p.is_dir() else []
        runs = [c for c in children if is_run_folder(c)]
        if runs:
            found.extend(runs)
            others = [c.name for c in children if c not in runs]
            notes.append(f"{p}: comparing its run folders {', '.join(c.name for c in runs)}"
                         + (f"; skipped {', '.join(others)} (not finished run folders)" if others else ""))
        else:
            notes.append(f"skipping {p} (no regions.parquet: not a finished run folder)")
    return found, notes


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Run folders among ``paths`` or directly inside them (see :func:`scan_run_dirs`).

    Paths that are not compared are named in a warning (so ``bth compare results/*`` tolerates
    an old ``results/comparison`` folder)."""
    found, notes = scan_run_dirs(paths)
    for note in notes:
        if note.startswith("skipping") or "skipped" in note:
            warnings.warn(note, stacklevel=2)
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
    """The :data:`SETTINGS` of a run as text: scale, horizon (manifest ``until``), model code
    (``code_hash``, else the older ``code_version``) and posterior (the first 12 hex digits of
    the sha256 of the posterior file of runs at draws, "none" for runs at the calibrated point:
    runs are paired by (draw, seed), so draw ids of two posteriors must not meet); a missing key
    reads "unknown"."""
    def known(key: str) -> str:
        v = manifest.get(key)
        return "unknown" if v is None or v == "" else str(v)

    code = (manifest.get("code_hash") and str(manifest["code_hash"])
            or manifest.get("code_version") and f"version {manifest['code_version']}" or "unknown")
    posterior = manifest.get("posterior_sha256")
    return {"scale": known("scale"), "horizon": known("until"), "code": code,
            "posterior": str(posterior)[:12] if posterior else "none"}


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
