"""The one executor: map a picklable function over items, in this process, on local processes or on Dask.

Ensembles (:mod:`experiments.ensemble`) and the calibration (``bth calibrate``, through
:mod:`calibration.cli`) both run their model runs through :func:`make_executor`:

* :class:`InProcess` - ``workers == 1`` or a single task: no pool, no pickling;
* :class:`LocalProcesses` - a :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn``
  start method: no scheduler processes or ports, and each worker a fresh interpreter (no thread or
  BLAS state inherited through ``fork``), the same on Linux, macOS and Windows.  The pool is
  started on first use and kept until :meth:`close`, so a calibration's many small batches pay
  the start-up (about a second per worker) once;
* :class:`DaskExecutor` - an existing ``dask.distributed`` cluster at a scheduler address.  The
  connection is made when the executor is built, with a short timeout
  (:data:`CONNECT_TIMEOUT_S`); an unreachable scheduler raises :class:`ExecutorError`.

Every executor has ``imap_unordered(fn, items)``, yielding ``(index, result)`` as results
complete, and ``map(fn, items)``, the results in order.  Functions and items must be picklable
(the function importable by name) for the process and Dask executors.  Workers only compute:
results come back to the caller, so a remote cluster needs no shared file system.

A ``LocalCluster`` the project starts for itself binds 127.0.0.1 with no dashboard
(:func:`local_cluster`): Dask runs pickled code, so it must not listen on other interfaces unless
told to.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

CONNECT_TIMEOUT_S = 5  # seconds to wait for a Dask scheduler before giving up


class ExecutorError(OSError):
    """The executor cannot run anything (e.g. the Dask scheduler cannot be reached); a one-line message."""


class Executor:
    """Base class: ``imap_unordered`` is the one primitive; ``map`` and the context manager follow."""

    workers: int = 1  # tasks that run at the same time (for estimates of the time taken)

    def imap_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
                       return_exceptions: bool = False) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` in completion order.

        An exception raised by ``fn`` (or a lost worker) is raised here, and the tasks not yet
        started are cancelled; with ``return_exceptions=True`` it is yielded in place of the
        result instead and the other tasks go on.  Stopping the iteration early (``break``,
        Ctrl-C) cancels the tasks not yet started.
        """
        raise NotImplementedError

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(x) for x in items]``, computed by this executor (the first error is raised)."""
        items = list(items)
        out: list[Any] = [None] * len(items)
        for i, result in self.imap_unordered(fn, items):
            out[i] = result
        return out

    def close(self) -> None:
        """Release the workers (a no-op in process)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcess(Executor):
    """Runs each task in the calling process, one after the other, in order."""

    def imap_unordered(self, fn, items, *, return_exceptions=False):
        for i, item in enumerate(items):
            try:
                result = fn(item)
            except Exception as err:  # noqa: BLE001 - reported as the caller asked
                if not return_exceptions:
                    raise
                result = err
            yield i, result

    def __repr__(self) -> str:
        return "InProcess()"


class LocalProcesses(Executor):
    """``workers`` spawned local processes, started on first use and kept until :meth:`close`."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def imap_unordered(self, fn, items, *, return_exceptions=False):
        pool = self._executor()
        index_of = {pool.submit(fn, item): i for i, item in enumerate(items)}
        pending = set(index_of)
        broken = False
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        result = future.result()
                    except Exception as err:  # noqa: BLE001 - e.g. a worker process was killed
                        broken = broken or isinstance(err, BrokenProcessPool)
                        if not return_exceptions:
                            raise
                        result = err
                    yield index_of[future], result
        finally:  # interrupted, stopped early or failed: do not start queued tasks
            for future in pending:
                future.cancel()
            if broken:  # a broken pool runs nothing more: start a new one next time
                self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __repr__(self) -> str:
        return f"LocalProcesses({self.workers})"


class DaskExecutor(Executor):
    """Tasks sent to the ``dask.distributed`` scheduler at ``address`` (connected at once)."""

    def __init__(self, address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
        from dask.distributed import Client

        self.address = address
        try:
            self._client = Client(address, timeout=timeout)
        except (OSError, ValueError) as err:  # TimeoutError (refused, no route), a malformed address
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {_reason(err, timeout)}") from None
        self.workers = max(1, sum(self._client.nthreads().values()))

    def imap_unordered(self, fn, items, *, return_exceptions=False):
        from dask.distributed import as_completed

        index_of = {self._client.submit(fn, item, pure=False): i for i, item in enumerate(items)}
        try:
            for future in as_completed(list(index_of)):
                try:
                    result = future.result()
                except Exception as err:  # noqa: BLE001 - the task's own error, or e.g. KilledWorker
                    if not return_exceptions:
                        raise
                    result = err
                yield index_of[future], result
        finally:
            self._client.cancel(list(index_of))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        return f"DaskExecutor({self.address!r})"


def make_executor(workers: int = 1, scheduler: str | None = None, tasks: int | None = None) -> Executor:
    """The executor for a job: Dask at ``scheduler`` if given (it takes precedence), else in this
    process for ``workers <= 1`` or a single task, else ``min(workers, tasks)`` local processes.

    Raises :class:`ExecutorError` if the scheduler cannot be reached."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    if workers <= 1 or (tasks is not None and tasks <= 1):
        return InProcess()
    return LocalProcesses(min(workers, tasks) if tasks is not None else workers)


def local_cluster(n_workers: int = 1, threads_per_worker: int = 1, **kwargs: Any):
    """A ``dask.distributed.LocalCluster`` on TCP bound to 127.0.0.1 with no dashboard (each can be
    overridden by keyword; ``processes=False`` gives in-process workers, still reached over TCP)."""
    from dask.distributed import LocalCluster

    kwargs.setdefault("host", "127.0.0.1")
    kwargs.setdefault("protocol", "tcp://")
    kwargs.setdefault("dashboard_address", None)
    return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, **kwargs)


def _reason(err: BaseException, timeout: float) -> str:
    """One line saying why a connection failed: the underlying error if Dask wrapped one (its own
    message is then "Timed out trying to connect to ADDRESS after N s")."""
    text = str(err).strip() or type(err).__name__
    cause = err.__cause__ or err.__context__
    if cause is not None and str(cause).strip():
        inner = re.sub(r"^in <[^>]*>: ", "", str(cause).strip())
        text = f"{inner}; no connection within {timeout:g} s"
    return " ".join(text.split())
