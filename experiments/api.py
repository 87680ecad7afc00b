"""Python API for seed ensembles of scenarios (the ``bth`` command is a thin layer over it).

From a notebook::

    from experiments.api import load_scenario, scenario_with, run_ensemble, load_results
    base = load_scenario("baseline")                          # or "scenarios/baseline.toml"
    more = scenario_with(base, joint_projects=400, name="more-projects")
    res = run_ensemble([base, more], seeds=10, scale=0.1)     # in memory; out="results" writes
    res.regions   # scenario, seed, year, region, metric, value        (real-world scale)
    res.flows     # scenario, seed, year, origin, destination, contract_value_bn, contracts

Common random numbers: every scenario is run with the same seeds ``base_seed ..
base_seed + seeds - 1``, so differences between scenarios are paired by seed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from experiments import store
from experiments.ensemble import STEPPINGS, RunOutcome, RunSpec, execute

DEFAULT_UNTIL = 2035  # horizon when a scenario names none
FIRST_UNTIL, LAST_UNTIL = 2021, 2050  # allowed range of ``until`` (last simulated year)


class SettingsError(ValueError):
    """A run setting (seeds, scale, until, workers, stepping, scenario names) is invalid."""


@dataclass
class Failure:
    """A run that raised: which one, its traceback, and where that was saved (if on disk)."""

    scenario: str
    seed: int
    error: str
    path: Path | None = None


@dataclass
class Results:
    """Tables of an ensemble, all scenarios concatenated (real-world scale, bn yuan / firms)."""

    regions: pd.DataFrame  # scenario, seed, year, region, metric, value
    flows: pd.DataFrame  # scenario, seed, year, origin, destination, contract_value_bn, contracts
    run_dirs: list[Path] = field(default_factory=list)  # one per scenario; empty if in memory
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if no run failed."""
        return not self.failures


def load_scenario(path: str | Path) -> Any:
    """Load and validate a scenario file (or a shipped scenario by bare name, e.g. "baseline").

    Raises ``scenarios.ScenarioError`` naming the file and field on bad input.
    """
    from scenarios import load_scenario as _load

    return _load(path)


def scenario_with(scenario: Any, name: str | None = None, **lever_changes: Any) -> Any:
    """A validated copy of ``scenario`` with levers (or uncertain parameters) changed.

    Values are numbers or ``model.Schedule``; the copy gets a new content hash and is named
    ``name`` or ``<scenario name>-<8 hex digits of the hash>``.
    """
    return scenario.with_changes(name=name, **lever_changes)


def seed_list(seeds: int | Sequence[int], base_seed: int = 0) -> list[int]:
    """The seeds of an ensemble: ``base_seed .. base_seed + seeds - 1``, or the list given."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise SettingsError(f"seeds: expected a whole number >= 1, got {seeds}")
        if base_seed < 0:
            raise SettingsError(f"base_seed: expected a whole number >= 0, got {base_seed}")
        return list(range(base_seed, base_seed + seeds))
    chosen = [int(s) for s in seeds]
    if not chosen or len(set(chosen)) != len(chosen) or min(chosen) < 0:
        raise SettingsError(f"seeds: expected distinct whole numbers >= 0, got {list(seeds)}")
    return sorted(chosen)


def check_settings(scale: float, until: int | None, workers: int | None, stepping: str) -> None:
    """Raise :class:`SettingsError` with a clear message if a run setting is out of range."""
    if not 0 < scale <= 1:
        raise SettingsError(f"scale: expected a fraction of real-world firms in (0, 1], got {scale}")
    if until is not None and not FIRST_UNTIL <= until <= LAST_UNTIL:
        raise SettingsError(f"until: expected a year between {FIRST_UNTIL} and {LAST_UNTIL}, got {until}")
    if workers is not None and workers < 1:
        raise SettingsError(f"workers: expected a whole number >= 1, got {workers}")
    if stepping not in STEPPINGS:
        raise SettingsError(f"stepping: expected one of {', '.join(STEPPINGS)}, got {stepping!r}")


def run_ensemble(
    scenarios: Any,
    seeds: int | Sequence[int] = 10,
    scale: float = 0.1,
    until: int | None = None,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    stepping: str = "vectorised",
    progress: bool = True,
    base_seed: int = 0,
    plots: bool = True,
    simulate: Callable[..., Any] | None = None,
) -> Results:
    """Run every scenario with every seed and collect the tables.

    scenarios: a ``Scenario``, a path or shipped name, or a list of these.
    seeds: number of seeds (``base_seed ..``) or an explicit list; the same for every scenario.
    scale: fraction of real-world firms simulated (0 < scale <= 1); outputs are at real scale.
    until: last simulated year; default each scenario's horizon.
    out: folder for ``out/<scenario>/`` run folders; ``None`` keeps everything in memory.
        Finished runs are stored as they complete and skipped when the call is repeated; a
        folder made with another scenario hash, scale, until or stepping raises
        ``store.RunFolderConflict`` before anything is written.
    workers: local processes (default ``os.cpu_count()``; 1 = in this process).
    scheduler: address of a running Dask scheduler; runs go there instead.
    stepping: "vectorised" or "reference" (the model's two implementations of a step).
    progress: show a progress bar (runs done / total, time left) on stderr.
    plots: call ``experiments.plots.plot_run`` on each completed run folder (only with ``out``).
    simulate: replaces ``model.simulate`` (tests); must be importable by name for workers > 1.

    A run that raises does not stop the others: it is listed in ``Results.failures`` (traceback
    saved as ``runs/seed-NNNN.error.txt``) and its scenario's combined tables are not written.
    With ``workers > 1``, a script (not a notebook) must call this under
    ``if __name__ == "__main__":`` (worker processes are started with ``spawn``).
    """
    chosen = [s if hasattr(s, "params") else load_scenario(s) for s in _as_list(scenarios)]
    names = [s.name for s in chosen]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SettingsError(f"scenarios: each name may appear once, got {', '.join(duplicated)} twice")
    seed_values = seed_list(seeds, base_seed)
    check_settings(scale, until, workers, stepping)
    workers = workers or os.cpu_count() or 1
    settings = {
        s.name: _settings(s, scale, until if until is not None else (s.until or DEFAULT_UNTIL), stepping)
        for s in chosen
    }
    run_dirs = {s.name: Path(out) / s.name for s in chosen} if out is not None else {}
    if out is not None:
        _prepare_run_dirs(chosen, run_dirs, settings, seed_values, base_seed)

    specs = [
        RunSpec(s.name, seed, s.params, scale, settings[s.name]["until"], stepping)
        for seed in seed_values  # seed-major: an interrupted ensemble stays balanced
        for s in chosen
        if out is None or not store.is_done(run_dirs[s.name], seed)
    ]
    in_memory: dict[tuple[str, int], RunOutcome] = {}
    failures = _run_with_progress(specs, len(seed_values) * len(chosen), workers, scheduler,
                                  simulate, progress, run_dirs, in_memory)
    failures.sort(key=lambda f: (names.index(f.scenario), f.seed))
    if out is None:
        return Results(*_combine_in_memory(chosen, seed_values, in_memory), [], failures)
    regions, flows = _finish_run_dirs(chosen, run_dirs, settings, seed_values, base_seed, plots)
    return Results(regions, flows, [run_dirs[s.name] for s in chosen], failures)


def load_results(run_dirs: str | Path | Iterable[str | Path]) -> Results:
    """Tables of finished run folders.

    Each path is a run folder (``OUT/<scenario>/`` holding ``regions.parquet``) or an output
    folder ``OUT`` whose run folders are all loaded (sorted by name).
    """
    folders: list[Path] = []
    for path in map(Path, _as_list(run_dirs)):
        if (path / store.REGIONS).exists():
            folders.append(path)
            continue
        inside = sorted(p.parent for p in path.glob(f"*/{store.REGIONS}"))
        if not inside:
            raise FileNotFoundError(f"{path}: no {store.REGIONS} here or in its sub-folders")
        folders.extend(inside)
    regions = [pd.read_parquet(p / store.REGIONS) for p in folders]
    flows = [pd.read_parquet(p / store.FLOWS) for p in folders]
    return Results(*_concat(regions, flows), folders, [])


# ----------------------------------------------------------------- helpers


def _as_list(items: Any) -> list[Any]:
    if isinstance(items, (str, Path)) or hasattr(items, "params"):
        return [items]
    return list(items)


def _settings(scenario: Any, scale: float, until: int, stepping: str) -> dict[str, Any]:
    """The settings that must match to resume in an existing run folder."""
    return {"scenario_hash": scenario.content_hash, "scale": float(scale), "until": int(until),
            "stepping": stepping}


def _manifest(scenario: Any, seeds: list[int], base_seed: int, settings: dict[str, Any],
              complete: bool, failed: list[int]) -> dict[str, Any]:
    """Contents of ``manifest.json``; ``complete`` once every seed has finished and the combined
    tables are written; ``failed_seeds`` lists seeds whose run raised."""
    path = getattr(scenario, "path", None)
    return {
        "scenario": scenario.name,
        "scenario_file": Path(path).name if path is not None else None,
        **settings,
        "seeds": seeds,
        "base_seed": base_seed,
        "complete": complete,
        "failed_seeds": failed,
        "code_version": store.code_version(),
        "packages": store.package_versions(),
        "created_utc": store.utc_now(),
        "scenario_details": scenario.manifest() if hasattr(scenario, "manifest") else None,
    }


def _prepare_run_dirs(chosen: list[Any], run_dirs: dict[str, Path], settings: dict[str, dict],
                      seeds: list[int], base_seed: int) -> None:
    """Check every run folder first (nothing is written if one conflicts), then create them with
    an incomplete manifest; stale combined tables are removed (rebuilt when all seeds are done)."""
    for s in chosen:
        store.check_compatible(run_dirs[s.name], settings[s.name])
    for s in chosen:
        run_dir = run_dirs[s.name]
        run_dir.mkdir(parents=True, exist_ok=True)
        store.remove_tables(run_dir)
        store.write_json(_manifest(s, seeds, base_seed, settings[s.name], False, []),
                         run_dir / store.MANIFEST)


def _run_with_progress(specs: list[RunSpec], total: int, workers: int, scheduler: str | None,
                       simulate: Callable[..., Any] | None, progress: bool,
                       run_dirs: dict[str, Path], in_memory: dict[tuple[str, int], RunOutcome]
                       ) -> list[Failure]:
    """Execute ``specs``, storing each outcome as it arrives; progress bar and failures on stderr."""
    failures = []
    with tqdm(total=total, initial=total - len(specs), unit="run", desc="runs", file=sys.stderr,
              disable=not progress, dynamic_ncols=True) as bar:
        for outcome in execute(specs, workers=workers, scheduler=scheduler, simulate=simulate):
            failure = _record(outcome, run_dirs, in_memory)
            if failure is not None:
                failures.append(failure)
                where = f"; traceback in {failure.path}" if failure.path else ""
                last_line = failure.error.strip().splitlines()[-1]
                bar.write(f"run failed: scenario {failure.scenario}, seed {failure.seed}: "
                          f"{last_line}{where}", file=sys.stderr)
            bar.update(1)
    return failures


def _finish_run_dirs(chosen: list[Any], run_dirs: dict[str, Path], settings: dict[str, dict],
                     seeds: list[int], base_seed: int, plots: bool
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write combined tables, final manifest and plots of each complete run folder; return the
    tables of all finished runs (complete or not)."""
    all_regions, all_flows = [], []
    for s in chosen:
        run_dir = run_dirs[s.name]
        done = [seed for seed in seeds if store.is_done(run_dir, seed)]
        failed = [seed for seed in seeds if seed not in done]
        if done:
            regions, flows = store.combine_runs(run_dir, done)
            all_regions.append(regions)
            all_flows.append(flows)
        if not failed:
            store.write_tables(run_dir, regions, flows)
        store.write_json(_manifest(s, seeds, base_seed, settings[s.name], not failed, failed),
                         run_dir / store.MANIFEST)
        if not failed and plots:
            from experiments.plots import plot_run

            plot_run(run_dir)
    return _concat(all_regions, all_flows)


def _record(outcome: RunOutcome, run_dirs: dict[str, Path],
            in_memory: dict[tuple[str, int], RunOutcome]) -> Failure | None:
    """Store one outcome (on disk if there is a run folder); return a Failure if it failed."""
    spec = outcome.spec
    run_dir = run_dirs.get(spec.scenario)
    if not outcome.ok:
        path = store.save_error(run_dir, spec.seed, outcome.error) if run_dir else None
        return Failure(spec.scenario, spec.seed, outcome.error, path)
    if run_dir is not None:
        store.save_run(run_dir, spec.seed, outcome.regions, outcome.flows)
    else:
        in_memory[(spec.scenario, spec.seed)] = outcome
    return None


def _combine_in_memory(chosen: list[Any], seeds: list[int],
                       outcomes: dict[tuple[str, int], RunOutcome]) -> tuple[pd.DataFrame, pd.DataFrame]:
    regions, flows = [], []
    for s in chosen:
        mine = [outcomes[(s.name, seed)] for seed in seeds if (s.name, seed) in outcomes]
        if mine:
            regions.append(store.tidy_regions(pd.concat([o.regions for o in mine], ignore_index=True)))
            flows.append(store.tidy_flows(pd.concat([o.flows for o in mine], ignore_index=True)))
    return _concat(regions, flows)


def _concat(regions: list[pd.DataFrame], flows: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate per-scenario tables (in the given order); empty tables if there are none."""
    if not regions:
        return (store.tidy_regions(pd.DataFrame(columns=store.REGION_COLUMNS)),
                store.tidy_flows(pd.DataFrame(columns=store.FLOW_COLUMNS)))
    return (pd.concat(regions, ignore_index=True), pd.concat(flows, ignore_index=True))
