"""Executing model runs (scenario, seed): serially, on local processes, or on a Dask cluster.

Local parallelism uses :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn``
start method: it needs no extra scheduler processes or ports (a Dask ``LocalCluster`` would
start a scheduler, a nanny per worker and a dashboard just to map a function over a list), and
``spawn`` gives each worker a fresh interpreter, so no thread or BLAS state is inherited through
``fork``; it behaves the same on Linux, macOS and Windows.  ``scheduler=ADDRESS`` sends the same
function to an existing ``dask.distributed`` cluster instead.

Workers only compute and return tables; the calling process writes every file, so a remote
cluster needs no shared file system.  Each run is independent and fully determined by
(params, seed, scale, until, stepping), so results do not depend on where or in which order
runs were executed.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import pandas as pd

from experiments.store import tidy_flows, tidy_regions

STEPPINGS = ("vectorised", "reference")


@dataclass(frozen=True)
class RunSpec:
    """One model run: ``simulate(params, seed=seed, scale=scale, until=until, stepping=stepping)``.

    ``scale`` is the fraction of real-world firms simulated (0 < scale <= 1); ``until`` the last
    simulated year.
    """

    scenario: str  # scenario name, written into the tables' ``scenario`` column
    seed: int
    params: Any  # model.Params
    scale: float
    until: int
    stepping: str


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
        return RunOutcome(spec, tidy_regions(regions), tidy_flows(flows))
    except Exception:  # noqa: BLE001 - any failure of one run is reported, the others go on
        header = f"run scenario={spec.scenario} seed={spec.seed} scale={spec.scale} until={spec.until}\n"
        return RunOutcome(spec, error=header + traceback.format_exc())


def execute(
    specs: list[RunSpec],
    workers: int = 1,
    scheduler: str | None = None,
    simulate: Callable[..., Any] | None = None,
) -> Iterator[RunOutcome]:
    """Yield the outcome of every run in ``specs`` as it finishes (in completion order).

    ``scheduler`` (a Dask scheduler address such as ``tcp://10.0.0.5:8786``) takes precedence;
    otherwise ``workers == 1`` runs in this process and ``workers > 1`` on that many local
    processes.
    """
    if not specs:
        return
    if scheduler is not None:
        yield from _execute_dask(specs, scheduler, simulate)
    elif workers <= 1:
        for spec in specs:
            yield run_one(spec, simulate)
    else:
        yield from _execute_local(specs, workers, simulate)


def _execute_local(specs: list[RunSpec], workers: int, simulate: Callable[..., Any] | None
                   ) -> Iterator[RunOutcome]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(specs)), mp_context=context) as pool:
        spec_of = {pool.submit(run_one, spec, simulate): spec for spec in specs}
        pending = set(spec_of)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        yield future.result()
                    except Exception:  # noqa: BLE001 - e.g. a worker process was killed
                        yield RunOutcome(spec_of[future], error=traceback.format_exc())
        finally:  # interrupted (Ctrl-C, or the caller stopped): do not start queued runs
            for future in pending:
                future.cancel()


def _execute_dask(specs: list[RunSpec], address: str, simulate: Callable[..., Any] | None
                  ) -> Iterator[RunOutcome]:
    from dask.distributed import Client, as_completed

    with Client(address) as client:
        spec_of = {client.submit(run_one, spec, simulate, pure=False): spec for spec in specs}
        try:
            for future in as_completed(list(spec_of)):
                try:
                    yield future.result()
                except Exception:  # noqa: BLE001 - e.g. KilledWorker
                    yield RunOutcome(spec_of[future], error=traceback.format_exc())
        finally:
            client.cancel(list(spec_of))
