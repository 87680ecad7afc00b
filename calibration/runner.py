"""Running the model for the calibration: a persistent evaluation cache and a two-process pool.

Every model run the calibration makes is appended to a JSON-lines cache as soon as it finishes,
keyed by the full parameter set (rounded), the seed, the scale, the last year and the code
version (a hash of the model's sources and data, and of the numpy and Mesa versions, which
define the random streams).  A rerun after an interruption reads the cache and only simulates
what is missing; since the optimiser is seeded, it retraces the same path.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from calibration.loss import ensemble_mean, loss, mc_noise, residuals
from calibration.space import Space, round_sig
from calibration.targets import Output, Target, all_outputs, compared_targets

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path(__file__).with_name(".cache") / "evaluations.jsonl"


def code_version() -> str:
    """sha256 (first 16 hex digits) of the model's sources and data plus numpy and Mesa versions."""
    h = hashlib.sha256()
    model_dir = ROOT / "model"
    files = sorted(list(model_dir.glob("*.py")) + list((model_dir / "data").glob("*")))
    for f in files:
        if f.is_file():
            h.update(f.relative_to(ROOT).as_posix().encode())
            h.update(f.read_bytes())
    for pkg in ("numpy", "mesa"):
        try:
            h.update(f"{pkg}=={metadata.version(pkg)}".encode())
        except metadata.PackageNotFoundError:  # pragma: no cover
            h.update(f"{pkg}==?".encode())
    return h.hexdigest()[:16]


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


_WORKER_CODE: str | None = None


def _simulate_outputs(params: dict, seed: int, scale: float, until: int, outputs: Sequence[Output],
                      code: str) -> dict[str, float]:
    """One model run reduced to the outputs the targets need (runs in a worker process).

    ``code`` is the code version the caller keys the result by; a worker whose imported model has
    another version refuses to run, so that no result is cached under the wrong version.
    """
    global _WORKER_CODE
    from model import Params, simulate
    from calibration.targets import read_outputs

    if _WORKER_CODE is None:
        _WORKER_CODE = code_version()  # the model this process imported (computed once)
    if _WORKER_CODE != code:
        raise ModelChanged(f"the model's code changed during the calibration (version {code} -> {_WORKER_CODE}); "
                           "rerun: completed runs of the old version are kept in the cache")
    tables = simulate(Params().replace(**params), seed=seed, scale=scale, until=until)
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
    it ignores ``func`` (which is this evaluator's own loss) and evaluates the whole batch with the
    process pool, so a population uses both processes.
    """

    def __init__(self, targets: Sequence[Target], space: Space, seeds: Sequence[int], scale: float,
                 until: int, cache: Cache, workers: int = 2,
                 on_run: Callable[[], None] | None = None) -> None:
        self.targets = compared_targets(targets)
        self.outputs = all_outputs(self.targets)
        self.output_keys = [o.key for o in self.outputs]
        self.space = space
        self.seeds = [int(s) for s in seeds]
        self.scale = float(scale)
        self.until = int(until)
        self.cache = cache
        self.code = code_version()
        self.workers = max(1, int(workers))
        self.on_run = on_run or (lambda: None)
        self.mc: dict[str, float] = {}  # relative Monte Carlo error per target (0 until set_noise)
        self.history: list[Evaluation] = []  # every distinct evaluation made, in order
        self._memo: dict[tuple, Evaluation] = {}
        self.new_runs = 0  # runs simulated (not read from the cache) by this evaluator
        self.cached_runs = 0  # runs read from the cache by this evaluator
        self._pool: ProcessPoolExecutor | None = None

    # -------------------------------------------------------------- pool
    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.cache.close()

    def __enter__(self) -> "Evaluator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- runs
    def run_outputs(self, param_sets: Sequence[dict], seeds: Sequence[int] | None = None) -> list[list[dict[str, float]]]:
        """Outputs of every (parameter set, seed): cached runs are reused, the rest simulated in parallel."""
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
            if self.workers == 1:
                for i, j, key in todo:
                    out = _simulate_outputs(param_sets[i], seeds[j], self.scale, self.until, self.outputs, self.code)
                    self._store(key, out, param_sets[i], seeds[j])
                    results[i][j] = out
            else:
                ex = self._executor()
                pending: dict[Future, tuple[int, int, str]] = {
                    ex.submit(_simulate_outputs, dict(param_sets[i]), seeds[j], self.scale, self.until, self.outputs,
                              self.code): (i, j, key)
                    for i, j, key in todo
                }
                try:
                    while pending:
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            i, j, key = pending.pop(fut)
                            out = fut.result()
                            self._store(key, out, param_sets[i], seeds[j])
                            results[i][j] = out
                except BaseException:
                    for fut in pending:
                        fut.cancel()
                    raise
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
    return min(2, os.cpu_count() or 1)
