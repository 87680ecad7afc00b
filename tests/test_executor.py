"""The one executor (experiments/executor.py): in process, local processes and Dask map alike."""

from __future__ import annotations

import math
import operator

import pytest

from experiments.executor import (
    DaskExecutor, ExecutorError, InProcess, LocalProcesses, local_cluster, make_executor,
)

ITEMS = [4.0, 9.0, 16.0, 25.0, 36.0]


def test_make_executor_picks_in_process_for_one_worker_or_one_task():
    assert isinstance(make_executor(1), InProcess)
    assert isinstance(make_executor(4, tasks=1), InProcess)
    pool = make_executor(4, tasks=3)
    assert isinstance(pool, LocalProcesses) and pool.workers == 3  # no idle processes
    assert make_executor(2).workers == 2


def _check_executor(executor) -> None:
    """map is ordered; imap_unordered yields every index once; errors raise or are returned."""
    assert executor.map(math.sqrt, ITEMS) == [2.0, 3.0, 4.0, 5.0, 6.0]
    pairs = list(executor.imap_unordered(math.sqrt, ITEMS))
    assert sorted(pairs) == [(i, math.sqrt(x)) for i, x in enumerate(ITEMS)]
    with pytest.raises(ValueError, match="math domain error"):
        executor.map(math.sqrt, [4.0, -1.0])
    got = dict(executor.imap_unordered(math.sqrt, [4.0, -1.0, 9.0], return_exceptions=True))
    assert got[0] == 2.0 and got[2] == 3.0 and isinstance(got[1], ValueError)
    assert executor.map(operator.neg, []) == []


def test_in_process():
    with InProcess() as ex:
        _check_executor(ex)
        assert list(ex.imap_unordered(operator.neg, [1, 2, 3])) == [(0, -1), (1, -2), (2, -3)]  # in order


def test_local_processes_keep_one_pool_across_calls():
    with LocalProcesses(2) as ex:
        _check_executor(ex)  # an error in one task leaves the pool usable
        pool = ex._pool
        assert pool is not None and ex.map(abs, [-1, -2]) == [1, 2] and ex._pool is pool
    assert ex._pool is None  # closed


def test_a_lost_worker_is_reported_and_the_next_call_gets_a_new_pool():
    import os
    from concurrent.futures.process import BrokenProcessPool

    with LocalProcesses(2) as ex:
        got = dict(ex.imap_unordered(os._exit, [3, 3], return_exceptions=True))  # the workers die
        assert set(got) == {0, 1} and all(isinstance(e, BrokenProcessPool) for e in got.values())
        assert ex.map(abs, [-1, -2]) == [1, 2]


def _http_hosts(node) -> set[str]:
    """Hosts the HTTP server of a Dask scheduler or worker listens on (its health and metrics routes)."""
    server = node.http_server
    return {sock.getsockname()[0] for sock in server._sockets.values()} if server is not None else set()


def test_dask_on_a_local_cluster_bound_to_localhost():
    with local_cluster(processes=False) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        nodes = [cluster.scheduler, *cluster.workers.values()]
        assert all(node.address.startswith("tcp://127.0.0.1:") for node in nodes)
        assert set().union(*map(_http_hosts, nodes)) <= {"127.0.0.1"}  # nothing on 0.0.0.0
        with make_executor(8, scheduler=cluster.scheduler_address) as ex:
            assert isinstance(ex, DaskExecutor) and ex.workers == 1
            _check_executor(ex)


def test_unreachable_scheduler_raises_executor_error_in_one_line():
    with pytest.raises(ExecutorError) as info:
        make_executor(scheduler="tcp://127.0.0.1:1")
    assert isinstance(info.value, OSError)
    message = str(info.value)
    assert message.startswith("cannot reach the Dask scheduler at tcp://127.0.0.1:1: ") and "\n" not in message
    assert "refused" in message.lower() or "timed out" in message.lower()


def test_malformed_scheduler_address_is_an_executor_error():
    with pytest.raises(ExecutorError, match="cannot reach the Dask scheduler at nonsense::"):
        make_executor(scheduler="nonsense::")
