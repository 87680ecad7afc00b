"""Running the model for the calibration: a persistent evaluation cache, runs on any executor.

Every model run the calibration makes is appended to a JSON-lines cache as soon as it finishes,
keyed by the full parameter set (rounded), the seed, the scale, the last year and the model-code
hash (:func:`model.version.code_hash`: the model's sources and data and the versions of the
packages that change the numbers).  A rerun after an interruption reads the cache and only
simulates what is missing; since the optimiser is seeded, it retraces the same path.

Where the runs go is the caller's choice: :class:`Evaluator` takes any object with the
:class:`Executor` protocol (``imap_unordered(fn, items)`` yielding ``(index, result)`` as results
complete); ``bth calibrate`` gives it :func:`experiments.executor.make_executor` (local processes
or Dask), the executor ensembles use.  Without one, runs are made in this process, one by one.
The calibration's core imports nothing from ``experiments``: it can be tested, and reused, with
any executor.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

import numpy as np

from calibration.loss import ensemble_mean, loss, mc_noise, residuals
from calibration.space import Space, round_sig
from calibration.targets import Output, Target, all_outputs, compared_targets
from model.version import code_hash

DEFAULT_CACHE = Path(__file__).with_name(".cache") / "evaluations.jsonl"


class Executor(Protocol):
    """What the evaluator needs of an executor (:class:`experiments.executor.Executor` has it)."""

    def imap_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` as each finishes; an error of ``fn`` is raised."""
        ...


def current_code_hash() -> str:
    """The model-code hash of the files as they are now (not the value cached at import)."""
    return getattr(code_hash, "__wrapped__", code_hash)()


def run_key(params: Mapping[str, object], seed: int, scale: float, until: int, code: str) -> str:
    """Cache key of one model run."""
    canon = {k: (round_sig(v) if isinstance(v, float) else v) for k, v in sorted(params.items())}
    blob = json.dumps({"params": canon, "seed": int(seed), "scale": round_sig(scale), "until": int(until),
                       "code": code}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class Cache:
    """Append-only JSON-lines store of model runs: key -> {output key: value}."""

    def __init__(self, path: Path | None = DEFAULT_CACHE) -> None:
        self.path = Path(path) if path else None
        self.runs: dict[str, dict[str, float]] = {}
        if self.path and self.path.exists():
            with self.path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                        self.runs.setdefault(rec["key"], {}).update(rec["outputs"])
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by an interruption
        self._fh = None

    def get(self, key: str, needed: Iterable[str]) -> dict[str, float] | None:
        rec = self.runs.get(key)
        if rec is None or any(k not in rec for k in needed):
            return None
        return rec

    def put(self, key: str, outputs: dict[str, float], info: Mapping[str, object]) -> None:
        self.runs.setdefault(key, {}).update(outputs)
        if self.path is None:
            return
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            gitignore = self.path.parent / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("*\n", encoding="utf-8")
            self._fh = self.path.open("a", encoding="utf-8")
        self._fh.write(json.dumps({"key": key, **info, "outputs": outputs}, separators=(",", ":")) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class ModelChanged(RuntimeError):
    """The model's code changed while the calibration was running."""


def _simulate_outputs(task: tuple[Any, dict, int, float, int, Sequence[Output], str]) -> dict[str, float]:
    """One model run reduced to the outputs the targets need (runs wherever the executor puts it).

    ``task`` = (base ``Params``, free parameter values, seed, scale, last year, outputs, code hash):
    the run's parameters are the base with the free values replaced.  The code hash
    is the one the caller keys the result by; a worker whose imported model has another hash
    refuses to run, so that no result is cached under the wrong code.
    """
    from model import simulate
    from calibration.targets import read_outputs

    base, params, seed, scale, until, outputs, code = task
    worker_code = code_hash()  # the model this process imported (computed once per process)
    if worker_code != code:
        raise ModelChanged(f"the model's code changed during the calibration (code hash {code} -> {worker_code}); "
                           "rerun: completed runs of the old code are kept in the cache")
    tables = simulate(base.replace(**params), seed=seed, scale=scale, until=until)
    return read_outputs(tables, outputs)


@dataclass
class Evaluation:
    u: np.ndarray  # unit-cube vector
    values: dict[str, float]  # free parameter values
    runs: list[dict[str, float]]  # outputs per seed
    mean: dict[str, float]  # ensemble mean per output
    loss: float


class Evaluator:
    """Turns unit-cube vectors into losses: ensemble of ``seeds`` (common random numbers), cached.

    ``map(func, xs)`` has the signature SciPy's ``differential_evolution(workers=...)`` expects;
    it ignores ``func`` (which is this evaluator's own loss) and evaluates the whole batch on the
    executor, so a population uses every worker.

    ``executor`` (the :class:`Executor` protocol) runs the model; ``None`` runs it in this process.
    The evaluator does not own it: whoever made it closes it.
    """

    def __init__(self, targets: Sequence[Target], space: Space, seeds: Sequence[int], scale: float,
                 until: int, cache: Cache, executor: Executor | None = None,
                 on_run: Callable[[], None] | None = None) -> None:
        self.targets = compared_targets(targets)
        self.outputs = all_outputs(self.targets)
        self.output_keys = [o.key for o in self.outputs]
        self.space = space
        self.seeds = [int(s) for s in seeds]
        self.scale = float(scale)
        self.until = int(until)
        self.cache = cache
        self.code = code_hash()
        self.executor = executor
        self.on_run = on_run or (lambda: None)
        self.mc: dict[str, float] = {}  # relative Monte Carlo error per target (0 until set_noise)
        self.history: list[Evaluation] = []  # every distinct evaluation made, in order
        self._memo: dict[tuple, Evaluation] = {}
        self.new_runs = 0  # runs simulated (not read from the cache) by this evaluator
        self.cached_runs = 0  # runs read from the cache by this evaluator

    def close(self) -> None:
        """Close the cache file (the executor belongs to the caller)."""
        self.cache.close()

    def __enter__(self) -> "Evaluator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- runs
    def run_outputs(self, param_sets: Sequence[dict], seeds: Sequence[int] | None = None) -> list[list[dict[str, float]]]:
        """Outputs of every (parameter set, seed): cached runs are reused, the rest simulated on the executor."""
        seeds = self.seeds if seeds is None else [int(s) for s in seeds]
        full = [self.space.base.replace(**ps).to_dict() for ps in param_sets]
        results: list[list[dict | None]] = [[None] * len(seeds) for _ in param_sets]
        todo: list[tuple[int, int, str]] = []
        for i, fp in enumerate(full):
            for j, s in enumerate(seeds):
                key = run_key(fp, s, self.scale, self.until, self.code)
                rec = self.cache.get(key, self.output_keys)
                if rec is not None:
                    results[i][j] = {k: rec[k] for k in self.output_keys}
                    self.cached_runs += 1
                    self.on_run()
                else:
                    todo.append((i, j, key))
        if todo:
            tasks = [(self.space.base, dict(param_sets[i]), seeds[j], self.scale, self.until, self.outputs, self.code)
                     for i, j, _ in todo]
            done = (self.executor.imap_unordered(_simulate_outputs, tasks) if self.executor is not None
                    else enumerate(map(_simulate_outputs, tasks)))
            for t, out in done:  # each run is cached as soon as it arrives
                i, j, key = todo[t]
                self._store(key, out, param_sets[i], seeds[j])
                results[i][j] = out
        return results  # type: ignore[return-value]

    def _store(self, key: str, out: dict[str, float], params: Mapping[str, float], seed: int) -> None:
        self.cache.put(key, out, {"seed": seed, "scale": self.scale, "until": self.until, "code": self.code,
                                  "free": dict(params)})
        self.new_runs += 1
        self.on_run()

    # -------------------------------------------------------------- losses
    def evaluate(self, us: Sequence[Sequence[float]]) -> list[Evaluation]:
        """Evaluations of unit-cube vectors, in order (repeated vectors are evaluated once)."""
        us = [np.clip(np.asarray(u, float), 0.0, 1.0) for u in us]
        values = [self.space.values(u) for u in us]
        keys = [tuple(sorted(v.items())) for v in values]
        new: dict[tuple, int] = {}
        for i, k in enumerate(keys):
            if k not in self._memo and k not in new:
                new[k] = i
        if new:
            idx = list(new.values())
            runs = self.run_outputs([values[i] for i in idx])
            for i, r in zip(idx, runs):
                mean = ensemble_mean(r)
                e = Evaluation(u=us[i], values=values[i], runs=r, mean=mean, loss=loss(self.targets, mean, self.mc))
                self._memo[keys[i]] = e
                self.history.append(e)
        return [self._memo[k] for k in keys]

    def estimate_noise(self, values: dict[str, float], seeds: Sequence[int]) -> dict[str, float]:
        """Monte Carlo error of the ensemble mean at ``values``, from runs with ``seeds``; becomes
        the loss's noise term and every loss so far is recomputed with it."""
        runs = self.run_outputs([values], seeds=seeds)[0]
        self.set_noise(mc_noise(self.targets, runs, len(self.seeds)))
        return self.mc

    def set_noise(self, mc: dict[str, float]) -> None:
        self.mc = dict(mc)
        for e in self.history:
            e.loss = loss(self.targets, e.mean, self.mc)

    def residuals(self, e: Evaluation) -> np.ndarray:
        return residuals(self.targets, e.mean, self.mc)

    def losses(self, us: Sequence[Sequence[float]]) -> list[float]:
        return [e.loss for e in self.evaluate(us)]

    def __call__(self, u: Sequence[float]) -> float:
        return self.losses([u])[0]

    def map(self, func: Callable, iterable: Iterable) -> list[float]:  # noqa: ARG002 - DE's workers protocol
        return self.losses(list(iterable))


def default_workers() -> int:
    """Local processes ``bth calibrate`` uses by default: 2, or 1 on a one-core machine."""
    return min(2, os.cpu_count() or 1)
