"""Executing model runs (scenario, seed): serially, on local processes, or on a Dask cluster.

Where the runs go is :mod:`experiments.executor`'s job (the executor the calibration uses too):
in this process, on spawned local processes (no scheduler processes or ports), or on an existing
``dask.distributed`` cluster with ``scheduler=ADDRESS``.  This module says what one run is
(:class:`RunSpec`, :func:`run_one`) and turns each into a :class:`RunOutcome`.

Workers only compute and return tables; the calling process writes every file, so a remote
cluster needs no shared file system.  The one exception is :func:`draw_plots`: figures of run
folders on this machine, drawn on local processes (never on Dask) when there are several, each
worker writing only the PNG files of its folder.  Each run is independent and fully determined by
(params, seed, scale, until, stepping; and the draw id, which only labels the tables), so results do not depend on where or in which order
runs were executed.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments import store
from experiments.executor import make_executor
from experiments.store import tidy_flows, tidy_regions

if TYPE_CHECKING:
    import pandas as pd

STEPPINGS = ("vectorised", "reference")
# Run folders to draw before a pool of fresh worker processes pays for itself.  A spawned worker
# takes s ~ 2 s to start (Python, pandas, the model, matplotlib) and a folder's figures p ~ 0.8 s,
# so n folders on w workers gain when n * p * (1 - 1/w) > s: n >= 5 on two cores.
PLOT_POOL_MIN = 5


@dataclass(frozen=True)
class RunSpec:
    """One model run: ``simulate(params, seed=seed, scale=scale, until=until, stepping=stepping)``.

    ``scale`` is the fraction of real-world firms simulated (0 < scale <= 1); ``until`` the last
    simulated year.
    """

    scenario: str  # scenario name, written into the tables' ``scenario`` column
    seed: int
    params: Any  # model.Params (the scenario's at ``draw`` for a run at a posterior draw)
    scale: float
    until: int
    stepping: str
    draw: int | None = None  # posterior draw id, written into a ``draw`` column; None: the calibrated point

    @property
    def header(self) -> str:
        """The first line of the traceback text of a failed run."""
        at = "" if self.draw is None else f" draw={self.draw}"
        return f"run scenario={self.scenario}{at} seed={self.seed} scale={self.scale} until={self.until}\n"


@dataclass
class RunOutcome:
    """What one run produced: its tables (with scenario and seed columns), or an error text."""

    spec: RunSpec
    regions: pd.DataFrame | None = None
    flows: pd.DataFrame | None = None
    error: str | None = None  # formatted traceback if the run raised

    @property
    def ok(self) -> bool:
        return self.error is None


def run_one(spec: RunSpec, simulate: Callable[..., Any] | None = None) -> RunOutcome:
    """Execute one run (in whatever process calls it); exceptions are returned, not raised.

    ``simulate`` defaults to :func:`model.simulate`; another function with the same signature
    may be given (it must be importable by name to be sent to other processes).
    """
    try:
        if simulate is None:
            from model import simulate
        tables = simulate(spec.params, seed=spec.seed, scale=spec.scale, until=spec.until,
                          stepping=spec.stepping)
        regions = tables.regions.assign(scenario=spec.scenario, seed=spec.seed)
        flows = tables.flows.assign(scenario=spec.scenario, seed=spec.seed)
        if spec.draw is not None:
            regions, flows = regions.assign(draw=spec.draw), flows.assign(draw=spec.draw)
        return RunOutcome(spec, tidy_regions(regions), tidy_flows(flows))
    except Exception:  # noqa: BLE001 - any failure of one run is reported, the others go on
        return RunOutcome(spec, error=spec.header + traceback.format_exc())


def execute(
    specs: list[RunSpec],
    workers: int = 1,
    scheduler: str | None = None,
    simulate: Callable[..., Any] | None = None,
) -> Iterator[RunOutcome]:
    """Yield the outcome of every run in ``specs`` as it finishes (in completion order).

    ``scheduler`` (a Dask scheduler address such as ``tcp://10.0.0.5:8786``) takes precedence;
    otherwise ``workers == 1`` (or a single run) runs in this process and ``workers > 1`` on that
    many local processes (:func:`experiments.executor.make_executor`).  A run that raised, or
    whose worker was lost, yields an outcome with its error; the others go on.  An unreachable
    scheduler raises :class:`experiments.executor.ExecutorError` before any run starts.
    """
    if not specs:
        return
    task = partial(run_one, simulate=simulate)
    with make_executor(workers, scheduler, tasks=len(specs)) as executor:
        for i, result in executor.imap_unordered(task, specs, return_exceptions=True):
            if isinstance(result, BaseException):  # e.g. a killed worker process, KilledWorker
                spec = specs[i]
                yield RunOutcome(spec, error=spec.header + "".join(traceback.format_exception(result)))
            else:
                yield result


def draw_plots(run_dirs: Sequence[Path], workers: int = 1) -> list[tuple[Path, BaseException]]:
    """Draw the figures of each run folder whose figures are not current
    (:func:`experiments.store.plots_current`: drawn from other tables or plotting code, or
    missing); a folder whose figures are current is not touched (a resumed no-op draws nothing).

    Figures are drawn in this process, or on ``min(workers, folders)`` local processes when
    there are :data:`PLOT_POOL_MIN` folders or more (the folders must be on this machine; each
    worker writes only the PNG files of its folder, atomically).  This process then records
    what they were drawn from (``plots.json``).  Returns ``(run_dir, error)`` for each folder
    whose figures failed; the others are drawn and recorded."""
    stale = [Path(d) for d in run_dirs if not store.plots_current(Path(d))]
    if not stale:
        return []
    inputs = {}
    for run_dir in stale:
        (run_dir / store.PLOTS).unlink(missing_ok=True)  # the old record no longer describes them
        inputs[run_dir] = store.plot_inputs(run_dir)
    pool = workers if len(stale) >= PLOT_POOL_MIN else 1
    errors = []
    with make_executor(pool, tasks=len(stale)) as executor:
        for i, result in executor.imap_unordered(plot_task, [str(d) for d in stale],
                                                 return_exceptions=True):
            if isinstance(result, BaseException):
                errors.append((stale[i], result))
            else:
                store.record_plots(stale[i], inputs[stale[i]], result)
    return sorted(errors, key=lambda e: stale.index(e[0]))


def plot_task(run_dir: str) -> list[str]:
    """Draw the figures of one run folder (:func:`experiments.plots.plot_run`); returns their
    file names.  A task of :func:`draw_plots`, run in whichever process it is sent to."""
    from experiments.plots import plot_run

    return [path.name for path in plot_run(Path(run_dir))]
