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

Parameter uncertainty: ``run_ensemble(..., draws=K)`` runs every scenario at the same ``K``
draws of the calibration's posterior (``calibration/posterior.parquet``, chosen as
:mod:`experiments.draws` says) times the same seeds, one run per (draw, seed); the tables gain a
``draw`` column and differences are paired by (draw, seed).  ``draws=0`` (the default) runs at
the calibrated point estimate, with tables as before (no ``draw`` column).

In a script, call :func:`run_ensemble` under ``if __name__ == "__main__":`` (worker processes
import the script again; without the guard :class:`WorkerImportError` says so).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from experiments import draws as drawing
from experiments import store
from experiments.ensemble import STEPPINGS, RunOutcome, RunSpec, execute
from experiments.lock import RunFolderLock
from model.years import DEFAULT_HORIZON, MAX_HORIZON, MIN_HORIZON


class SettingsError(ValueError):
    """A run setting (seeds, scale, until, workers, stepping, scenario names) is invalid."""


class RunsFailed(RuntimeError):
    """Every run of a :func:`run_ensemble` call failed; the message names the first cause and
    where the tracebacks are; :attr:`results` holds what there is (failures included)."""

    def __init__(self, message: str, results: "Results"):
        super().__init__(message)
        self.results = results

    @property
    def failures(self) -> list["Failure"]:
        return self.results.failures


class WorkerImportError(RuntimeError):
    """``run_ensemble`` was called while a spawned worker process imported the caller's script."""


GUARD_MESSAGE = ("run_ensemble was called while a worker process imported your script: put the "
                 'call under `if __name__ == "__main__":` (worker processes are started with '
                 "spawn and import the script again)")


@dataclass
class Failure:
    """A run that raised: which one, its traceback, and where that was saved (if on disk)."""

    scenario: str
    seed: int
    error: str
    path: Path | None = None
    draw: int | None = None  # the posterior draw of a run at a draw (None: the calibrated point)

    @property
    def run(self) -> str:
        """``seed 3``, or ``draw 12 seed 3``."""
        return store.run_name(self.seed, self.draw)


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

    def effects(self, baseline: str | None = None, years=None, outcomes=None) -> pd.DataFrame:
        """The paired-differences table against ``baseline`` (default "baseline"): scenario,
        outcome, year, mean_diff, 90% interval lo/hi, size relative to the baseline ... (the
        statistics of ``bth compare``, :func:`experiments.effects.paired_differences`)."""
        from experiments.notebook import effects

        return effects(self, baseline=baseline, years=years, outcomes=outcomes)

    def fan(self, metric: str, region: str, baseline: str | None = None,
            scenarios: list[str] | None = None, years: tuple[int, int] | None = None):
        """A matplotlib Figure: fan chart of ``metric`` in ``region`` (median, 50% and 90% seed
        bands per scenario; the baseline as an outline)."""
        from experiments.notebook import fan

        return fan(self, metric, region, baseline=baseline, scenarios=scenarios, years=years)

    def _repr_html_(self) -> str:
        """A notebook summary (scenarios, seeds, years, metrics), not the whole tables."""
        from experiments.notebook import summary_html

        return summary_html(self)


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
    if until is not None and not MIN_HORIZON <= until <= MAX_HORIZON:
        raise SettingsError(f"until: expected a year between {MIN_HORIZON} and {MAX_HORIZON}, got {until}")
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
    fresh: bool = False,
    draws: int = 0,
    posterior: str | Path | None = None,
) -> Results:
    """Run every scenario with every seed (and every posterior draw) and collect the tables.

    scenarios: a ``Scenario``, a path or shipped name, or a list of these.
    seeds: number of seeds (``base_seed ..``) or an explicit list; the same for every scenario.
    scale: fraction of real-world firms simulated (0 < scale <= 1); outputs are at real scale.
    until: last simulated year; default each scenario's horizon.
    out: folder for ``out/<scenario>/`` run folders; ``None`` keeps everything in memory.
        Finished runs are stored as they complete (with their sha256) and skipped when the call
        is repeated; a stored run whose files are missing, truncated or altered is recomputed
        (said on stderr).  A folder made with another scenario hash, scale, until, stepping or
        model code raises ``store.RunFolderConflict`` before anything is written; a folder that
        another live process is writing raises ``store.RunFolderLocked``.
    workers: local processes (default ``os.cpu_count()``; 1 = in this process).
    scheduler: address of a running Dask scheduler; runs go there instead.
    stepping: "vectorised" or "reference" (the model's two implementations of a step).
    progress: show a progress bar (runs done / total, time left) on stderr.
    plots: draw the figures of each completed run folder (only with ``out``), unless they are
        current (drawn from the same tables by the same plotting code: ``plots.json``).
    simulate: replaces ``model.simulate`` (tests); must be importable by name for workers > 1.
    fresh: discard the stored runs of every scenario named (whatever made them) and recompute.
    draws: number of posterior draws (0: none, the calibrated point estimate, tables as before).
        With ``draws=K`` every scenario runs at the same K draws of ``posterior`` (chosen by
        :func:`experiments.draws.choose_draws`) times the same seeds: one run per (draw, seed),
        whose parameters are the scenario's with the draw's free parameters in place of the
        calibrated ones (levers and the scenario's ``[parameters]`` on top,
        :func:`experiments.draws.draw_params`); the tables gain a ``draw`` column.  A run folder
        records the posterior's sha256 and the draw ids, and refuses runs of another posterior
        or other draws (``fresh`` recomputes).  Raises :class:`experiments.draws.PosteriorError`
        if the posterior file is missing or malformed, before anything is written.
    posterior: the posterior file (default :data:`experiments.draws.POSTERIOR_FILE`).

    A run that raises does not stop the others: it is listed in ``Results.failures`` (traceback
    saved as ``runs/seed-NNNN.error.txt``) and its scenario's combined tables are not written
    (those of an earlier complete run stay in place).  If every run of the call failed,
    :class:`RunsFailed` is raised, naming the first cause.  I/O errors raise ``OSError`` (one
    line: :func:`experiments.store.describe_os_error`).  With ``workers > 1``, a script (not a
    notebook) must call this under ``if __name__ == "__main__":`` (worker processes are started
    with ``spawn`` and import the script again); :class:`WorkerImportError` says so otherwise.
    """
    if _importing_in_worker():
        raise WorkerImportError(GUARD_MESSAGE)
    chosen = [s if hasattr(s, "params") else load_scenario(s) for s in _as_list(scenarios)]
    names = [s.name for s in chosen]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SettingsError(f"scenarios: each name may appear once, got {', '.join(duplicated)} twice")
    seed_values = seed_list(seeds, base_seed)
    check_settings(scale, until, workers, stepping)
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 0:
        raise SettingsError(f"draws: expected a whole number >= 0, got {draws!r}")
    workers = workers or os.cpu_count() or 1
    grid = _Grid.make(chosen, seed_values, draws, posterior)
    settings = {
        s.name: {**_settings(s, scale, until if until is not None else (s.until or DEFAULT_HORIZON),
                             stepping), **grid.settings()}
        for s in chosen
    }
    if out is None:
        return _run_in_memory(chosen, grid, settings, workers, scheduler, simulate, progress)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise store.StoreError(f"{out}: --out is a file, not a folder")
    run_dirs = {s.name: out / s.name for s in chosen}
    for s in chosen:  # read-only first look: nothing is created when a folder conflicts
        _check(run_dirs[s.name], settings[s.name], fresh)
    with contextlib.ExitStack() as locks:
        for s in chosen:
            lock = locks.enter_context(RunFolderLock(run_dirs[s.name]))
            if lock.note:
                print(lock.note, file=sys.stderr)
        tables = _prepare_run_dirs(chosen, run_dirs, settings, grid, base_seed, fresh)
        specs = [
            grid.spec(s, draw, seed, scale, settings[s.name]["until"], stepping)
            for draw, seed in grid.keys  # seed-major: an interrupted ensemble stays balanced
            for s in chosen
            if not grid.is_done(run_dirs[s.name], draw, seed)
        ]
        failures = _run_with_progress(specs, len(grid.keys) * len(chosen), workers, scheduler,
                                      simulate, progress, run_dirs, {}, grid.sha256)
        failures.sort(key=lambda f: (names.index(f.scenario), _order(f.draw), f.seed))
        ran = {spec.scenario for spec in specs}
        regions, flows = _finish_run_dirs(chosen, run_dirs, settings, grid, base_seed,
                                          plots, tables, workers, ran)
    results = Results(regions, flows, [run_dirs[s.name] for s in chosen], failures)
    _raise_if_all_failed(specs, failures, results)
    return results


def load_results(run_dirs: str | Path | Iterable[str | Path]) -> Results:
    """Tables of finished run folders, read with :func:`experiments.store.open_run`.

    Each path is a run folder (``OUT/<scenario>/`` holding ``regions.parquet``) or an output
    folder ``OUT`` whose run folders are all loaded (sorted by name).  Raises
    ``store.RunFolderError`` naming a path that is neither, or a file that cannot be read.
    """
    folders: list[Path] = []
    for path in map(Path, _as_list(run_dirs)):
        if store.is_run_folder(path) or not path.is_dir():
            folders.append(path)  # open_run names what is wrong with it
            continue
        inside = sorted(p for p in path.iterdir() if store.is_run_folder(p))
        if not inside:
            raise store.RunFolderError(f"{path}: no {store.REGIONS} here or in its sub-folders")
        folders.extend(inside)
    opened = [store.open_run(p) for p in folders]
    return Results(*_concat([r.regions for r in opened], [r.flows for r in opened]), folders, [])


# ----------------------------------------------------------------- helpers


def _order(draw: int | None) -> int:
    """Sort key of a draw id (the calibrated point, None, first)."""
    return -1 if draw is None else draw


@dataclass(frozen=True)
class _Grid:
    """The runs of each scenario: ``keys`` = (draw, seed) pairs, seed-major; ``draw`` is None
    for every run at the calibrated point (``draws=0``).  ``params`` holds each scenario's
    parameters at each draw."""

    seeds: list[int]
    draws: list[int] | None  # draw ids, in selection order; None: the calibrated point
    posterior: drawing.Posterior | None
    params: dict[tuple[str, int], Any]  # (scenario, draw) -> model.Params

    @classmethod
    def make(cls, chosen: list[Any], seeds: list[int], draws: int,
             posterior: str | Path | None) -> "_Grid":
        if not draws:
            return cls(seeds, None, None, {})
        post = drawing.load_posterior(posterior)
        ids = drawing.choose_draws(post, draws)
        try:
            params = {(s.name, d): drawing.draw_params(s, post.values[d]) for s in chosen for d in ids}
        except (TypeError, KeyError, ValueError) as err:
            raise SettingsError(f"draws: {err}") from None
        return cls(seeds, ids, post, params)

    @property
    def keys(self) -> list[tuple[int | None, int]]:
        return [(d, seed) for seed in self.seeds for d in (self.draws or [None])]

    @property
    def sha256(self) -> str | None:
        return self.posterior.sha256 if self.posterior is not None else None

    def settings(self) -> dict[str, Any]:
        """Settings of runs at draws (the posterior's sha256 and the draw ids are compatibility
        keys, :data:`experiments.store.COMPATIBILITY_KEYS`); none at the calibrated point."""
        if self.posterior is None:
            return {}
        return {"posterior_sha256": self.posterior.sha256, "draws": list(self.draws),
                "posterior_file": drawing.shown(self.posterior.path),
                "draw_selection": drawing.SELECTION}

    def spec(self, s: Any, draw: int | None, seed: int, scale: float, until: int,
             stepping: str) -> RunSpec:
        if draw is None:
            return RunSpec(s.name, seed, s.params, scale, until, stepping)
        return RunSpec(s.name, seed, self.params[(s.name, draw)], scale, until, stepping, draw)

    def is_done(self, run_dir: Path, draw: int | None, seed: int) -> bool:
        return store.is_done(run_dir, seed, draw, self.sha256)

    def problem(self, run_dir: Path, draw: int | None, seed: int) -> str | None:
        return store.run_problem(run_dir, seed, draw, self.sha256)


def _as_list(items: Any) -> list[Any]:
    if isinstance(items, (str, Path)) or hasattr(items, "params"):
        return [items]
    return list(items)


def _settings(scenario: Any, scale: float, until: int, stepping: str) -> dict[str, Any]:
    """The settings that must match to resume in an existing run folder
    (:data:`experiments.store.COMPATIBILITY_KEYS`)."""
    return {"scenario_hash": scenario.content_hash, "scale": float(scale), "until": int(until),
            "stepping": stepping, "code_hash": store.code_hash()}


def _check(run_dir: Path, settings: dict[str, Any], fresh: bool) -> None:
    """Refuse a folder of other settings; with ``fresh``, refuse only one that is not a run
    folder (no manifest, not empty): it is not ours to discard."""
    if not fresh:
        store.check_compatible(run_dir, {**settings, "packages": store.package_versions()})
    elif not (run_dir / store.MANIFEST).exists():
        store.check_compatible(run_dir, settings)


def _manifest(scenario: Any, seeds: list[int], base_seed: int, settings: dict[str, Any],
              complete: bool, failed: list[tuple[int | None, int]], tables: dict[str, Any] | None
              ) -> dict[str, Any]:
    """Contents of ``manifest.json``; ``complete`` once every seed has finished and the combined
    tables are written; ``failed_seeds`` lists seeds whose run raised (``failed`` holds (draw,
    seed) pairs; with draws, ``failed_runs`` lists them as ``[draw, seed]``); ``tables``
    describes the combined tables in the folder (their seeds, draws and sha256), which may be an
    earlier complete run's while this one is incomplete.  Runs at posterior draws also record
    (in ``settings``) the posterior's sha256 and file, the draw ids and how they were chosen."""
    path = getattr(scenario, "path", None)
    drawn = {"failed_runs": [[d, seed] for d, seed in failed]} if "draws" in settings else {}
    return {
        "scenario": scenario.name,
        "scenario_file": Path(path).name if path is not None else None,
        **settings,
        "seeds": seeds,
        "base_seed": base_seed,
        "complete": complete,
        "failed_seeds": list(dict.fromkeys(seed for _, seed in failed)),
        **drawn,
        "tables": tables,
        "git_commit": store.git_commit(),
        "packages": store.package_versions(),
        "created_utc": store.utc_now(),
        "scenario_details": scenario.manifest() if hasattr(scenario, "manifest") else None,
    }


def _prepare_run_dirs(chosen: list[Any], run_dirs: dict[str, Path], settings: dict[str, dict],
                      grid: _Grid, base_seed: int, fresh: bool) -> dict[str, dict | None]:
    """Under the locks: check every folder again (or discard it if ``fresh``), remove temporary
    files of killed writers, say which stored runs are unusable (they are recomputed), and write
    an incomplete manifest.  Combined tables are left in place (replaced when a scenario is
    complete).  Returns each folder's current ``tables`` entry."""
    for s in chosen:
        run_dir = run_dirs[s.name]
        _check(run_dir, settings[s.name], fresh)
        if fresh:
            store.discard(run_dir)
    tables = {}
    for s in chosen:
        run_dir = run_dirs[s.name]
        store.remove_temporaries(run_dir)
        for draw, seed in grid.keys:
            problem = grid.problem(run_dir, draw, seed)
            if problem:
                print(f"{run_dir}/{problem}, recomputing {store.run_name(seed, draw)}", file=sys.stderr)
        old = store.read_json(run_dir / store.MANIFEST) if (run_dir / store.MANIFEST).exists() else {}
        tables[s.name] = old.get("tables") if store.is_run_folder(run_dir) else None
        store.write_json(_manifest(s, grid.seeds, base_seed, settings[s.name], False, [], tables[s.name]),
                         run_dir / store.MANIFEST)
    return tables


def _run_with_progress(specs: list[RunSpec], total: int, workers: int, scheduler: str | None,
                       simulate: Callable[..., Any] | None, progress: bool,
                       run_dirs: dict[str, Path], in_memory: dict[tuple, RunOutcome],
                       posterior: str | None = None) -> list[Failure]:
    """Execute ``specs``, storing each outcome as it arrives; progress bar and failures on stderr."""
    failures = []
    outcomes = execute(specs, workers=workers, scheduler=scheduler, simulate=simulate)
    with tqdm(total=total, initial=total - len(specs), unit="run", desc="runs", file=sys.stderr,
              disable=not progress, dynamic_ncols=True) as bar, contextlib.closing(outcomes):
        for outcome in outcomes:
            failure = _record(outcome, run_dirs, in_memory, posterior)
            if failure is not None:
                failures.append(failure)
                where = f"; traceback in {failure.path}" if failure.path else ""
                bar.write(f"run failed: scenario {failure.scenario}, {failure.run}: "
                          f"{_last_line(failure.error)}{where}", file=sys.stderr)
            bar.update(1)
    return failures


def _finish_run_dirs(chosen: list[Any], run_dirs: dict[str, Path], settings: dict[str, dict],
                     grid: _Grid, base_seed: int, plots: bool, tables: dict[str, dict | None],
                     workers: int, ran: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write combined tables (from verified per-seed files), final manifest and plots of each
    complete run folder; return the tables of all finished runs (complete or not).  ``ran``
    names the scenarios with runs in this call: the others' combined tables are kept as they
    are if they hold these seeds and match the manifest (a resumed no-op rewrites no table).

    Plots are drawn after every folder is finished, only where their tables or plotting code
    changed (:func:`experiments.ensemble.draw_plots`, on ``workers`` local processes when there
    are several).  Each scenario is finished on its own: an error reading or writing one leaves
    the others' folders as they are (and finished), then the first error is raised."""
    all_regions, all_flows, errors = [], [], []
    to_plot: list[Path] = []
    for s in chosen:
        try:
            regions, flows = _finish_one(s, run_dirs[s.name], settings[s.name], grid, base_seed,
                                         to_plot if plots else None, tables[s.name], s.name in ran)
        except (OSError, ValueError) as err:
            errors.append(err)
            continue
        if regions is not None:
            all_regions.append(regions)
            all_flows.append(flows)
    if to_plot:
        from experiments.ensemble import draw_plots

        for _, err in draw_plots(to_plot, workers):
            if not isinstance(err, (OSError, ValueError)):
                raise err
            errors.append(err)
    if errors:
        first = errors[0]
        text = store.describe_os_error(first) if isinstance(first, OSError) else str(first)
        more = f" (and {len(errors) - 1} more scenario(s))" if len(errors) > 1 else ""
        raise store.StoreError(f"{text}{more}; the other scenarios' folders are finished")
    return _concat(all_regions, all_flows)


def _finish_one(s: Any, run_dir: Path, settings: dict[str, Any], grid: _Grid, base_seed: int,
                to_plot: list[Path] | None, tables: dict | None, ran: bool
                ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Finish one run folder (see :func:`_finish_run_dirs`); returns its tables (None if no
    run is done).  Without runs in this call (``ran`` false), combined tables of exactly these
    seeds (and draws) that match the manifest are read as they are instead of combined and
    written again."""
    done = [(d, seed) for d, seed in grid.keys if grid.is_done(run_dir, d, seed)]
    failed = [key for key in grid.keys if key not in done]
    done_seeds = list(dict.fromkeys(seed for _, seed in done))
    kept = None
    if (not ran and not failed and tables and tables.get("seeds") == done_seeds
            and tables.get("draws") == grid.draws):
        kept = store.read_tables(run_dir, tables.get("sha256") or {})
    regions = flows = None
    if kept is not None:
        regions, flows = kept
    elif done:
        regions, flows = (store.combine_runs(run_dir, done_seeds) if grid.draws is None
                          else store.combine_runs(run_dir, done, grid.sha256))
        if not failed:
            drawn = {"draws": list(grid.draws)} if grid.draws is not None else {}
            tables = {"seeds": done_seeds, **drawn,
                      "sha256": store.write_tables(run_dir, regions, flows)}
    store.write_json(_manifest(s, grid.seeds, base_seed, settings, not failed, failed, tables),
                     run_dir / store.MANIFEST)
    if not failed and to_plot is not None:
        to_plot.append(run_dir)  # drawn once every folder is finished (_finish_run_dirs)
    return regions, flows


def _run_in_memory(chosen: list[Any], grid: _Grid, settings: dict[str, dict], workers: int,
                   scheduler: str | None, simulate: Callable[..., Any] | None, progress: bool
                   ) -> Results:
    specs = [grid.spec(s, draw, seed, settings[s.name]["scale"], settings[s.name]["until"],
                       settings[s.name]["stepping"]) for draw, seed in grid.keys for s in chosen]
    in_memory: dict[tuple, RunOutcome] = {}
    failures = _run_with_progress(specs, len(specs), workers, scheduler, simulate, progress, {},
                                  in_memory)
    names = [s.name for s in chosen]
    failures.sort(key=lambda f: (names.index(f.scenario), _order(f.draw), f.seed))
    results = Results(*_combine_in_memory(chosen, grid, in_memory), [], failures)
    _raise_if_all_failed(specs, failures, results)
    return results


def _raise_if_all_failed(specs: list[RunSpec], failures: list[Failure], results: Results) -> None:
    """Raise :class:`RunsFailed` if runs were made and none of them succeeded."""
    if not specs or len(failures) < len(specs):
        return
    first = failures[0]
    pattern = "seed-NNNN" if first.draw is None else "draw-DDDD-seed-NNNN"
    where = (f"tracebacks in {first.path.parent}/{pattern}.error.txt" if first.path
             else "tracebacks in RunsFailed.failures")
    hint = ""
    if "BrokenProcessPool" in first.error and getattr(sys.modules.get("__main__"), "__file__", None):
        hint = (f"; worker processes died while starting: {GUARD_MESSAGE.split(': ', 1)[1]}")
    raise RunsFailed(f"all {len(specs)} run(s) failed; the first (scenario {first.scenario}, "
                     f"{first.run}): {_last_line(first.error)}; {where}{hint}", results)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no message)"


def _importing_in_worker() -> bool:
    """Whether this is a spawned worker process still importing the caller's main module
    (``multiprocessing.spawn.prepare`` re-runs a script's top level in every worker before the
    worker starts; it is then on the call stack)."""
    if multiprocessing.current_process().name == "MainProcess":
        return False
    return any(frame.f_code.co_name == "prepare"
               and Path(frame.f_code.co_filename).name == "spawn.py"
               and "multiprocessing" in frame.f_code.co_filename
               for frame, _ in traceback.walk_stack(None))


def _record(outcome: RunOutcome, run_dirs: dict[str, Path], in_memory: dict[tuple, RunOutcome],
            posterior: str | None = None) -> Failure | None:
    """Store one outcome (on disk if there is a run folder); return a Failure if it failed.
    ``posterior``: the sha256 of the posterior file, recorded with a run at a draw."""
    spec = outcome.spec
    run_dir = run_dirs.get(spec.scenario)
    if not outcome.ok:
        path = store.save_error(run_dir, spec.seed, outcome.error, spec.draw) if run_dir else None
        return Failure(spec.scenario, spec.seed, outcome.error, path, spec.draw)
    if run_dir is not None:
        store.save_run(run_dir, spec.seed, outcome.regions, outcome.flows, spec.draw, posterior)
    else:
        in_memory[(spec.scenario, spec.draw, spec.seed)] = outcome
    return None


def _combine_in_memory(chosen: list[Any], grid: _Grid,
                       outcomes: dict[tuple, RunOutcome]) -> tuple[pd.DataFrame, pd.DataFrame]:
    regions, flows = [], []
    for s in chosen:
        mine = [outcomes[(s.name, d, seed)] for d, seed in grid.keys if (s.name, d, seed) in outcomes]
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
