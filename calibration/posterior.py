"""``bth posterior``: the posterior of the free parameters, ``prior x exp(-L/2)`` with L the calibration loss.

    bth posterior [--method mcmc|abc-smc] [--walkers 46] [--steps 400] [--burn 150] [--thin 10]
                  [--population 300] [--generations 8] [--scale 0.05] [--seeds 8] [--base-seed 0]
                  [--target-rate 0.3] [--sampler-seed 20251225] [--free a,b,...]
                  [--workers 2 | --scheduler ADDRESS] [--db calibration/.cache/posterior.db] [--fresh]
                  [--out calibration] [--cache calibration/.cache/evaluations.jsonl | --no-cache]
                  [--no-progress]

The default method is ensemble MCMC (emcee; :mod:`calibration.mcmc` says how and why).  The rest of
this docstring is about the alternative, ``--method abc-smc``: approximate Bayesian computation by
sequential Monte Carlo (pyabc.ABCSMC), whose importance weights degenerated in the 23 dimensions of
the shipped calibration (docs/calibration.md):

* **prior**: each free parameter's unit-cube coordinate ``u_i ~ Uniform(0, 1)``, mapped onto its
  search box by :class:`calibration.space.Space` (linear, log or cube): the search boxes in the
  scale each parameter is searched on.  Parameters not free stay at the point estimate of
  ``calibrated.toml``.
* **simulator and distance**: a particle is simulated exactly as the calibration evaluates a
  parameter vector (:class:`calibration.runner.Evaluator`: the ensemble mean over the calibration
  seeds, common random numbers, the evaluation cache), and its distance to the data is the loss
  the calibration minimises, ``calibration.loss.loss(targets, mean, mc)``, with the Monte Carlo
  noise ``mc`` estimated once at the calibrated point (``Settings.noise_seeds`` extra runs) and
  held fixed for the whole run.  pyabc sees a model returning ``{"loss": L}``, the distance
  ``x["loss"]`` and the observation ``{"loss": 0}``.
* **likelihood and temperatures** (pyabc's "exact inference" mode, Wilkinson 2013; the pyabc
  documentation's StochasticAcceptor): the loss is a sum of squared residuals in units of each
  target's tolerance (Monte Carlo noise included), so ``exp(-L/2)`` is a Gaussian likelihood with
  the tolerances as the standard errors.  pyabc's ``StochasticAcceptor`` accepts a particle of
  generation t with probability ``min(1, exp(-(L - L_ref) / 2 T_t))`` (``L_ref`` the loss at the
  calibrated point) and weights it by the excess; the temperatures ``T_t`` (``pyabc.Temperature``)
  are the lower of the acceptance-rate scheme's (``--target-rate``) and an exponential decay that
  reaches 1 in the last generation, which is forced to 1.  So the last generation is a weighted
  sample of the posterior ``prior x exp(-L/2)`` itself, not of a prior cut at a threshold.
* **sampler**: ``pyabc.sampler.SingleCoreSampler`` in this process, with each particle's seeds run
  on the project's executor (``--workers`` local processes or the Dask cluster of ``--scheduler``,
  :mod:`experiments.executor`).  So pyabc's control flow, its random numbers and its database
  stay in one process, the evaluation cache has one writer, and local processes and Dask work as
  for ``bth calibrate``; pyabc's own parallel samplers would fork or ship the whole evaluator per
  particle and could not share the cache.  The cost: at most ``--seeds`` runs are in flight at a
  time (8 by default), enough for two cores, not for a large cluster.
* **resumable**: pyabc stores each finished generation in its sqlite database (``--db``); a rerun
  with the same settings, targets and model code continues that run (a run is not extended by a
  larger ``--generations``: the temperatures depend on it).  Each generation's random numbers are
  seeded by ``--sampler-seed`` + its index, so a generation interrupted half-way retraces the same particles and reads them from the cache.
  Other settings or model code: a one-line refusal naming ``--fresh``.

Writes ``OUT/posterior.parquet`` (one row per particle of the final generation: ``draw`` 0..,
``weight`` normalised to sum 1, one column per free parameter in value units) and
``OUT/posterior.toml`` (the run record: settings, model code hash, wall time, generations,
population sizes, acceptance rates, effective sample size, epsilons).  ``calibrated.toml`` (the
point estimate) is not touched.

Note on the method: with common random numbers the loss is a deterministic function of the
parameters, so the posterior is conditional on the calibration's seeds; their Monte Carlo noise
enters through the tolerances (``mc``).  The first version of this command (a threshold on the loss,
median epsilons) stalled at a threshold of 1,302 loss units after 8 generations with an effective
sample size of 1.3 (docs/calibration.md); the tempered likelihood replaced it.

Exit codes: 0 done; 1 the model's code changed during the run; 2 bad input, I/O, a database of
another run (use --fresh), an unreachable scheduler; 130 interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import hashlib
import json
import logging
import math
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

CALIBRATION_DIR = Path(__file__).resolve().parent
DEFAULT_DB = CALIBRATION_DIR / ".cache" / "posterior.db"  # calibration/.cache/ is ignored by git
PARQUET_NAME = "posterior.parquet"
RECORD_NAME = "posterior.toml"
CHAIN_NAME = "posterior_chain.npz"  # mcmc: the chain's end and kept steps, for --continue
# the settings --continue takes from the chain (options that may not be given with it)
CHAIN_OPTIONS = ("--walkers", "--burn", "--thin", "--start", "--start-from", "--fill-missing", "--scale", "--seeds", "--base-seed",
                 "--noise-seeds", "--sampler-seed", "--free", "--method", "--targets")
FILL_HALF_WIDTH = 0.05  # --fill-missing: a freed parameter starts uniform within this (unit cube) of the point
META_KEY = "bth_posterior"  # key of the settings in pyabc's meta_info (ABCSMC.json_parameters)
# abc-smc: acceptance rate assumed for the announcement's estimate (an assumption: the temperature
# scheme aims at --target-rate 0.3; a 100-particle pilot of 2026-12-03 accepted 0.33 and 0.21 in its
# first two generations).
ASSUMED_ACCEPTANCE = 0.35
# Wall time per evaluation over (its seeds x the time of one run alone / workers): abc-smc measured
# 0.18-0.22 s per particle (8 seeds, scale 0.05, 2 workers, 2026-12-02) against 8 x 0.023 s / 2 =
# 0.092 s (small batches of runs, pickling, pyabc's proposals and weights).  The mcmc run of
# 2026-12-03 took 2,368 s for 18,400 evaluations of 8 runs at ~0.026 s: a factor of 1.3.
PARTICLE_OVERHEAD = 2.0


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` weighted by ``weights`` (linear in the cumulative weight at
    each value's mid-point).  The one definition: ``bth sensitivity``'s posterior box and the
    coverage study use it too."""
    order = np.argsort(values)
    v, w = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    cum = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cum, v))


class PosteriorError(ValueError):
    """Bad input or a database that belongs to another run; a one-line message."""


@dataclass(frozen=True)
class PosteriorSettings:
    """Everything that determines the posterior (where the runs are made does not)."""

    method: str = "mcmc"  # "mcmc" (emcee, calibration/mcmc.py) or "abc-smc" (pyabc, tempered likelihood)
    walkers: int = 48  # mcmc: walkers (2 per free parameter)
    steps: int = 400  # mcmc: steps of every walker
    burn: int = 150  # mcmc: steps discarded at the start
    thin: int = 10  # mcmc: every thin-th later step is a draw
    start: str = "point"  # mcmc: walkers start around the calibrated point ("point"), spread over the prior
    # ("prior"), or at draws of an earlier posterior ("posterior": start_from, picked with the sampler seed)
    start_from: str = ""  # mcmc, start "posterior": the earlier posterior.parquet
    start_sha256: str = ""  # ... and its sha256 (recorded, so that the start can be traced to the file)
    fill_missing: bool = False  # mcmc, start "posterior": free parameters the earlier posterior lacks start
    # uniform within FILL_HALF_WIDTH of the calibrated point (a parameter freed since that posterior was made)
    population: int = 300  # abc-smc: particles per generation
    generations: int = 8  # abc-smc: generations
    scale: float = 0.05
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)  # calibration seeds (common random numbers)
    noise_seeds: int = 24  # runs at the calibrated point that estimate the Monte Carlo noise
    target_rate: float = 0.3  # acceptance rate the temperature scheme aims at (pyabc.AcceptanceRateScheme)
    sampler_seed: int = 20251225  # numpy seed of generation t is sampler_seed + t
    free: tuple[str, ...] = ()  # free parameters (names); () = all of calibration.space.FREE

    def identity(self) -> dict[str, object]:
        """The settings a resumed run must share: all of them (the temperature schedule depends on
        the number of generations, so a run is not extended by a larger one)."""
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        d["free"] = list(self.free)
        return d


@dataclass
class PosteriorResult:
    settings: PosteriorSettings
    names: list[str]
    particles: "object"  # pandas DataFrame: draw, weight, one column per free parameter (values)
    populations: "object"  # pandas DataFrame: t, particles, samples, epsilon, wall_time
    ess: float
    code: str
    abc_id: int
    db: Path
    mc: dict[str, float] = field(default_factory=dict)
    loss_at_calibrated: float = float("nan")
    elapsed_s: float = 0.0  # this invocation
    new_runs: int = 0
    cached_runs: int = 0
    resumed_from: int = 0  # generations found in the database at the start (mcmc: steps of the chain continued)
    chain: "object" = None  # mcmc: calibration.mcmc.ChainResult
    identity: "object" = None  # mcmc: what a continued chain must share (load_chain, check_chain_identity)
    check: "object" = None  # the posterior predictive check (calibration.mcmc.predictive_check)
    loss_of_draws: "object" = None  # loss of each draw, in the particles' order


# ----------------------------------------------------------------------------- machinery


def loss_kernel(loss_ref: float):
    """The likelihood pyabc's StochasticAcceptor weighs particles by: log density ``-L/2`` of a
    particle whose model output ``{"loss": L}`` is the calibration loss (a sum of squared residuals in
    units of each target's tolerance, Monte Carlo noise included: a Gaussian log-likelihood up to a
    constant).  ``pdf_max = -loss_ref/2``: the density at the calibrated point, the best found."""
    from pyabc.distance import StochasticKernel
    from pyabc.distance.kernel import SCALE_LOG

    class LossKernel(StochasticKernel):
        def __init__(self) -> None:
            super().__init__(ret_scale=SCALE_LOG, keys=["loss"], pdf_max=-0.5 * float(loss_ref))

        def __call__(self, x, x_0, t=None, par=None) -> float:  # noqa: ARG002 - x_0 is {"loss": 0}
            loss = float(x["loss"])
            return -0.5 * loss if math.isfinite(loss) else -math.inf  # a failed loss: never accepted

    return LossKernel()


def resumable_temperature(generations: int, target_rate: float, stored: Callable[[], dict[int, float]]):
    """pyabc's ``Temperature``, told the run's total number of generations: each generation's
    temperature is the lower of the acceptance-rate scheme's (``target_rate``) and an exponential
    decay that reaches 1 in generation ``generations - 1``, which is forced to 1 (exact inference).

    Generations are run one ``abc.run`` at a time (so a run resumed from the database takes the path
    an uninterrupted one takes): ``stored()`` gives the temperatures already in the database, and the
    absolute generation count replaces the ``max_nr_populations`` of one ``abc.run``."""
    import pyabc

    class ResumableTemperature(pyabc.Temperature):
        def initialize(self, t, get_weighted_distances, get_all_records, max_nr_populations, acceptor_config):
            self.temperatures.update({k: v for k, v in stored().items() if k < t})
            super().initialize(t, get_weighted_distances, get_all_records, generations, acceptor_config)

    return ResumableTemperature(schemes=[pyabc.AcceptanceRateScheme(target_rate=target_rate),
                                         pyabc.ExpDecayFixedIterScheme()],
                                enforce_exact_final_temperature=True)


def make_abc(names: Sequence[str], loss_of_unit: Callable[[np.ndarray], float], population: int,
             generations: int, loss_ref: float, target_rate: float = 0.3):
    """The pyabc.ABCSMC object: uniform priors on the unit coordinates ``names``, a model returning
    ``{"loss": loss_of_unit(u)}``, the likelihood ``exp(-L/2)`` (:func:`loss_kernel`) through
    pyabc's StochasticAcceptor, temperatures falling to 1 in the last of ``generations``
    (:func:`resumable_temperature`), and the single-core sampler.  At temperature T a particle is
    accepted with probability ``min(1, exp(-(L - loss_ref) / 2T))`` and weighted by the excess, so
    the last generation (T = 1) is a weighted sample of ``prior x exp(-L/2)``."""
    import pyabc
    from pyabc.sampler import SingleCoreSampler

    logging.getLogger("ABC").setLevel(logging.WARNING)  # its per-generation INFO lines: see run_generations
    names = list(names)

    def model(par) -> dict[str, float]:
        return {"loss": float(loss_of_unit(np.array([par[n] for n in names], float)))}

    holder: dict[str, object] = {}

    def stored() -> dict[int, float]:
        history = holder["abc"].history
        if history is None or history.max_t < 0:
            return {}
        pops = history.get_all_populations()
        return {int(t): float(e) for t, e in zip(pops.t, pops.epsilon) if t >= 0}

    prior = pyabc.Distribution(**{n: pyabc.RV("uniform", 0.0, 1.0) for n in names})
    abc = pyabc.ABCSMC(model, prior, loss_kernel(loss_ref), population_size=population,
                       eps=resumable_temperature(generations, target_rate, stored),
                       acceptor=pyabc.StochasticAcceptor(pdf_norm_method=pyabc.pdf_norm_from_kernel),
                       sampler=SingleCoreSampler())
    holder["abc"] = abc
    return abc


def open_run(abc, db: Path, meta: dict[str, object], fresh: bool = False) -> tuple[object, int]:
    """Attach ``abc`` to the database: continue the run whose settings are ``meta``, or start one.

    Returns (history, generations already stored).  A database holding a run with other settings
    or model code raises :class:`PosteriorError` unless ``fresh`` (then the file is replaced)."""
    from pyabc.storage import History

    db = Path(db)
    url = f"sqlite:///{db.resolve()}"
    if fresh and db.exists():
        db.unlink()
    if db.exists():
        try:
            runs = History(url, create=False).all_runs()
        except Exception as err:  # not a pyabc database, or one of another pyabc version
            raise PosteriorError(f"--db {db}: not a readable pyabc database ({_one_line(str(err))}); "
                                 "use --fresh to replace it") from None
        stored = [(r.id, _stored_meta(r.json_parameters)) for r in runs]
        stored = [(i, m) for i, m in stored if m is not None]
        if stored:
            abc_id, old = max(stored, key=lambda im: im[0])
            diff = [k for k in sorted(set(old) | set(meta)) if old.get(k) != meta.get(k)]
            if diff:
                raise PosteriorError(f"--db {db} holds a posterior run with other {', '.join(diff)}; "
                                     "use --fresh to discard it and start anew")
            history = abc.load(url, abc_id)
            return history, int(history.max_t) + 1
    db.parent.mkdir(parents=True, exist_ok=True)
    history = abc.new(url, {"loss": 0.0}, meta_info={META_KEY: json.dumps(meta, sort_keys=True)})
    return history, 0


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, default=repr).encode()).hexdigest()[:16]


def _stored_meta(json_parameters: str | None) -> dict | None:
    try:
        options = ast.literal_eval(json_parameters or "")
        return json.loads(options[META_KEY])
    except (ValueError, SyntaxError, TypeError, KeyError):
        return None


def run_generations(abc, history, done: int, generations: int, sampler_seed: int,
                    on_generation: Callable[[int], None] = lambda t: None,
                    on_done: Callable[[dict], None] = lambda row: None) -> None:
    """Run generations ``done`` .. ``generations - 1``, one ``abc.run`` each, numpy seeded per generation;
    ``on_done`` gets each finished generation's row of :func:`population_table`."""
    for t in range(done, generations):
        on_generation(t)
        np.random.seed((sampler_seed + t) % 2**32)
        abc._initial_population = None  # pyabc caches the population it initialises from: use generation t-1
        abc.run(max_nr_populations=1, minimum_epsilon=1.0)
        on_done(population_table(history).iloc[-1].to_dict())


def population_table(history):
    """t, particles, samples, acceptance_rate, epsilon, wall_time of each stored generation."""
    pops = history.get_all_populations()
    pops = pops[pops.t >= 0].sort_values("t").reset_index(drop=True)
    pops["particles"] = pops["particles"].astype(int)
    pops["samples"] = pops["samples"].astype(int)
    pops["acceptance_rate"] = pops["particles"] / pops["samples"].where(pops["samples"] > 0)
    pops["ess"] = [_ess(history.get_distribution(m=0, t=int(t))[1]) for t in pops["t"]]
    return pops[["t", "particles", "samples", "acceptance_rate", "ess", "epsilon", "wall_time"]]


def _ess(w) -> float:
    from pyabc.weighted_statistics import effective_sample_size

    w = np.asarray(w, float)
    return float(effective_sample_size(w / w.sum())) if w.size else math.nan


def final_particles(history, space) -> tuple[object, float]:
    """(DataFrame draw, weight, value columns in the space's order; effective sample size) of the last generation."""
    import pandas as pd
    from pyabc.weighted_statistics import effective_sample_size

    pars, w = history.get_distribution(m=0, t=history.max_t)
    w = np.asarray(w, float)
    w = w / w.sum()
    units = pars[space.names].to_numpy(float)
    rows = [space.values(u) for u in units]
    df = pd.DataFrame({"draw": np.arange(len(rows), dtype=np.int64), "weight": w})
    for n in space.names:
        df[n] = np.array([r[n] for r in rows], float)
    return df, float(effective_sample_size(w))


def posterior(settings: PosteriorSettings, targets=None, cache=None, executor=None, db: Path = DEFAULT_DB,
              fresh: bool = False, progress: bool = True, resume=None) -> PosteriorResult:
    """Run (or continue) the posterior; writes only the database and the evaluation cache.  ``resume``
    (mcmc): ``(identity, ChainState)`` of :func:`load_chain`, a chain to carry on to ``settings.steps``;
    it must have been made with the same settings, model code, targets and calibrated point
    (:class:`PosteriorError` if not)."""
    from tqdm import tqdm

    from calibration.defaults import calibrated_params
    from calibration.calibrate import NOISE_SEED_BASE
    from calibration.runner import Cache, Evaluator, ModelChanged, current_code_hash
    from calibration.space import FREE, Space
    from calibration.targets import compared_targets, load_targets
    from model import Params

    t0 = time.perf_counter()
    targets = list(load_targets() if targets is None else targets)
    until = max(t.year for t in compared_targets(targets))
    by_name = {fp.name: fp for fp in FREE}
    names = list(settings.free) or list(by_name)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise PosteriorError(f"not a free parameter: {', '.join(unknown)}")
    settings = PosteriorSettings(**{**asdict(settings), "free": tuple(names), "seeds": tuple(settings.seeds)})
    base = Params().replace(**calibrated_params())  # parameters not free: the point estimate
    space = Space([by_name[n] for n in names], base=base)
    cache = cache if cache is not None else Cache(None)
    code = current_code_hash()
    meta = {**settings.identity(), "code_version": code, "until": until,
            "targets_sha256": _digest([(t.name, t.kind, getattr(t, "value", None), getattr(t, "upper", None),
                                        t.tolerance, t.weight) for t in compared_targets(targets)]),
            # the point the parameters not free are held at, and the noise is estimated at
            "point_sha256": _digest(sorted(calibrated_params().items()))}
    if resume is not None:
        check_chain_identity(resume[0], meta)
    bar = tqdm(unit="run", disable=not progress, desc="posterior", dynamic_ncols=True, smoothing=0.05)
    with Evaluator(targets, space, settings.seeds, settings.scale, until, cache, executor,
                   on_run=lambda: bar.update(1)) as ev:
        if ev.code != code:
            raise ModelChanged(f"the model's code changed since it was imported (code hash {ev.code} -> {code})")
        try:
            bar.set_description("posterior: simulation noise at the calibrated point")
            point = space.values(space.prior_unit())
            noise_seeds = list(range(NOISE_SEED_BASE, NOISE_SEED_BASE + settings.noise_seeds))
            ev.estimate_noise(point, noise_seeds)
            loss_point = ev.evaluate([space.prior_unit()])[0].loss
            mc = {k: float(v) for k, v in sorted(ev.mc.items())}  # the noise the likelihood holds fixed
            if resume is not None and resume[0].get("mc") != mc:
                raise PosteriorError(f"--continue: the Monte Carlo noise at the calibrated point is not the one "
                                     f"the chain was sampled with ({CHAIN_NAME}); start a new chain")
            if settings.method == "mcmc":
                result = _posterior_mcmc(settings, names, space, ev, bar, code, db, loss_point, progress,
                                         None if resume is None else resume[1])
                result.identity = {**meta, "mc": mc}
                result.elapsed_s = time.perf_counter() - t0
                bar.close()
                now = current_code_hash()
                if now != code:
                    raise ModelChanged(f"the model's code changed during the run (code hash {code} -> {now})")
                return result
            abc = make_abc(names, lambda u: ev.evaluate([u])[0].loss, settings.population, settings.generations,
                           loss_point, settings.target_rate)
            history, done = open_run(abc, db, meta, fresh=fresh)
            run_generations(abc, history, done, settings.generations, settings.sampler_seed,
                            on_generation=lambda t: bar.set_description(
                                f"posterior: generation {t + 1}/{settings.generations}"),
                            on_done=lambda r: progress and bar.write(
                                f"generation {int(r['t'])}: temperature {r['epsilon']:.4g}, accepted "
                                f"{int(r['particles'])}/{int(r['samples'])} ({r['acceptance_rate']:.3f}), "
                                f"effective sample size {r['ess']:.1f}, "
                                f"{r['wall_time']:.0f} s", file=sys.stderr))
        finally:
            bar.close()
        particles, ess = final_particles(history, space)
        from calibration.mcmc import predictive_check

        draw_evals = ev.evaluate([space.unit(row) for row in particles[names].to_dict("records")])
        result = PosteriorResult(
            settings=settings, names=names, particles=particles, populations=population_table(history), ess=ess,
            code=code, abc_id=int(history.id), db=Path(db), mc=dict(ev.mc), loss_at_calibrated=loss_point,
            elapsed_s=time.perf_counter() - t0, new_runs=ev.new_runs, cached_runs=ev.cached_runs,
            resumed_from=done, check=predictive_check(ev.targets, draw_evals, ev.mc),
            loss_of_draws=np.array([e.loss for e in draw_evals]))
    now = current_code_hash()
    if now != code:
        raise ModelChanged(f"the model's code changed during the run (code hash {code} -> {now}); "
                           "rerun with --fresh to sample the current model")
    return result


def save_chain(path: Path, identity: dict, state) -> None:
    """Write a chain's end (:class:`calibration.mcmc.ChainState`) and what it must share to be
    continued (``identity``: the settings but ``steps``, code, targets, point, free parameters, Monte
    Carlo noise) to ``path`` (numpy .npz)."""
    name, keys, pos, has_gauss, cached = state.random_state
    ident = {k: v for k, v in identity.items() if k != "steps"}
    with open(path, "wb") as f:
        np.savez_compressed(f, identity=np.array(json.dumps(ident, sort_keys=True)), steps=np.int64(state.steps),
                            coords=state.coords, log_prob=state.log_prob, rs_name=np.array(name),
                            rs_keys=np.asarray(keys, np.uint32), rs_pos=np.int64(pos), rs_has_gauss=np.int64(has_gauss),
                            rs_cached=np.float64(cached), accepted=state.accepted, kept=state.kept,
                            kept_log_prob=state.kept_log_prob, mean_log_prob=state.mean_log_prob)


def load_chain(path: Path):
    """``(identity, ChainState)`` from a file of :func:`save_chain`; :class:`PosteriorError` (one line)
    if it is missing or not such a file."""
    from calibration.mcmc import ChainState

    try:
        with np.load(path, allow_pickle=False) as z:
            ident = json.loads(str(z["identity"]))
            state = ChainState(steps=int(z["steps"]), coords=z["coords"], log_prob=z["log_prob"],
                               random_state=(str(z["rs_name"]), z["rs_keys"], int(z["rs_pos"]),
                                             int(z["rs_has_gauss"]), float(z["rs_cached"])),
                               accepted=z["accepted"], kept=z["kept"], kept_log_prob=z["kept_log_prob"],
                               mean_log_prob=z["mean_log_prob"])
    except FileNotFoundError:
        raise PosteriorError(f"--continue: {path}: no chain to continue (bth posterior writes it with the draws)") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # a truncated .npz: BadZipFile
        raise PosteriorError(f"--continue: {path}: not a chain file of bth posterior ({_one_line(str(err))})") from None
    return ident, state


def check_chain_identity(saved: dict, now: dict) -> None:
    """:class:`PosteriorError` naming the first setting in which the chain (``saved``) and this run
    (``now``, the run's identity) differ; ``steps`` and the noise (checked once estimated) aside."""
    for key in sorted(set(saved) | set(now)):
        if key in ("steps", "mc"):
            continue
        if saved.get(key) != now.get(key):
            raise PosteriorError(f"--continue: {CHAIN_NAME} was sampled with {key} = {saved.get(key)!r}, this run has "
                                 f"{now.get(key)!r}; a chain continues only on the same model, targets and settings")


def start_draws(path: Path, names: Sequence[str], walkers: int, fill_missing: bool = False):
    """The distinct points (value columns ``names``) of the earlier posterior at ``path``; raises
    :class:`PosteriorError` (one line) if it cannot be read, lacks a column (unless ``fill_missing``:
    then only the columns it has, at least one) or has fewer than ``walkers`` distinct points.
    ``bth posterior`` calls it before any model run, to fail early."""
    import pandas as pd

    try:
        draws = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise PosteriorError(f"--start-from {path}: cannot read it as a posterior ({_one_line(str(err))})") from None
    missing = [n for n in names if n not in draws.columns]
    if missing and (not fill_missing or len(missing) == len(names)):
        raise PosteriorError(f"--start-from {path}: no column {missing[0]} (a posterior of other free parameters; "
                             "--fill-missing starts a parameter freed since around the calibrated point)")
    draws = draws[[n for n in names if n not in missing]].drop_duplicates()  # a chain repeats a point where a proposal was rejected
    if len(draws) < walkers:
        raise PosteriorError(f"--start-from {path}: {len(draws)} distinct draws, fewer than the {walkers} walkers")
    return draws


def start_from_posterior(path: Path, names: Sequence[str], space, walkers: int, seed: int,
                         fill_missing: bool = False) -> np.ndarray:
    """``walkers`` starting points (unit coordinates): distinct points among the draws of the earlier
    posterior at ``path`` (:func:`start_draws`), picked at random with ``seed``.  An earlier chain's
    draws are a better start than a ball around the point: the walkers need not first spread out to
    the posterior's width.  With ``fill_missing``, a parameter the earlier posterior lacks starts
    uniformly within ``FILL_HALF_WIDTH`` (unit cube) of the calibrated point (``space.prior_unit()``):
    one value per walker, spread enough for the ensemble's moves (which scale with the walkers'
    differences) to explore it, drawn after the pick with the same generator."""
    from calibration.mcmc import inside_cube

    draws = start_draws(path, names, walkers, fill_missing)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(draws), size=walkers, replace=False))
    point = space.prior_unit()
    u0 = np.empty((walkers, space.dim))
    for j, fp in enumerate(space.free):
        if fp.name in draws.columns:
            u0[:, j] = [fp.unit(float(v)) for v in draws[fp.name].to_numpy()[rows]]
        else:  # (fill_missing) around the calibrated point
            u0[:, j] = point[j] + FILL_HALF_WIDTH * (2 * rng.random(walkers) - 1)
    return inside_cube(u0)


def _posterior_mcmc(settings: PosteriorSettings, names, space, ev, bar, code: str, db: Path, loss_point: float,
                    progress: bool, resume=None) -> PosteriorResult:
    """The emcee posterior (calibration/mcmc.py) on the evaluator ``ev``; ``resume``: a
    :class:`calibration.mcmc.ChainState` to carry on."""
    import pandas as pd

    from calibration.mcmc import predictive_check, sample

    def log_prob(us: np.ndarray) -> np.ndarray:
        return np.array([-0.5 * e.loss if math.isfinite(e.loss) else -math.inf for e in ev.evaluate(list(us))])

    def on_step(i: int) -> None:
        bar.set_description(f"posterior: step {i + 1}/{settings.steps}")

    if resume is not None:
        u0 = None
    elif settings.start == "prior":
        u0 = np.random.default_rng(settings.sampler_seed).random((settings.walkers, len(names)))
    elif settings.start == "posterior":
        u0 = start_from_posterior(Path(settings.start_from), names, space, settings.walkers, settings.sampler_seed,
                                  settings.fill_missing)
    else:
        u0 = space.prior_unit()
    chain = sample(log_prob, u0, settings.walkers, settings.steps, settings.burn, settings.thin,
                   settings.sampler_seed, on_step=on_step, resume=resume)
    draw_evals = ev.evaluate(list(chain.draws))
    n = len(chain.draws)
    particles = pd.DataFrame({"draw": np.arange(n, dtype=np.int64), "weight": np.full(n, 1.0 / n)})
    for k, name in enumerate(names):
        particles[name] = np.array([e.values[name] for e in draw_evals], float)
    return PosteriorResult(settings=settings, names=list(names), particles=particles, populations=None,
                           ess=float(np.nanmin(chain.ess)), code=code, abc_id=-1, db=Path(db), mc=dict(ev.mc),
                           loss_at_calibrated=loss_point, new_runs=ev.new_runs, cached_runs=ev.cached_runs,
                           chain=chain, check=predictive_check(ev.targets, draw_evals, ev.mc),
                           resumed_from=0 if resume is None else resume.steps,
                           loss_of_draws=np.array([e.loss for e in draw_evals]))


CHECK_NAME = "posterior_check.csv"
PLOT_NAME = "posterior.png"


def write_outputs(result: PosteriorResult, out: Path) -> tuple[Path, Path]:
    """OUT/posterior.parquet, OUT/posterior.toml, OUT/posterior_check.csv (the predictive check),
    OUT/posterior.png (marginal posteriors against the priors) and, for mcmc, OUT/posterior_chain.npz
    (the chain's end, for ``--continue``).  Every file is written whole under a
    temporary name first, and only when all are written are they renamed into place: a failure
    leaves the previous files as they were (and no temporary file behind)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parquet, record = out / PARQUET_NAME, out / RECORD_NAME
    text = record_mcmc_toml(result) if result.settings.method == "mcmc" else record_toml(result)
    writers = {parquet: lambda tmp: result.particles.to_parquet(tmp, index=False)}
    if result.check is not None:
        covered = int(result.check["covered"].sum())
        text += (f"\n[predictive_check]  # {CHECK_NAME}: 90% posterior predictive interval of each compared target\n"
                 f"covered = {covered}\ntargets = {len(result.check)}\n"
                 f"share = {_toml(round(covered / max(1, len(result.check)), 4))}\n"
                 f"not_covered = {_toml(list(result.check.loc[~result.check['covered'], 'target']))}\n")
        writers[out / CHECK_NAME] = lambda tmp: result.check.to_csv(tmp, index=False)
    writers[record] = lambda tmp: tmp.write_text(text, encoding="utf-8")
    writers[out / PLOT_NAME] = lambda tmp: plot_marginals(result, tmp)
    if result.chain is not None and result.identity is not None:
        writers[out / CHAIN_NAME] = lambda tmp: save_chain(tmp, result.identity, result.chain.state)
    temps = {path: path.with_name(f".{path.stem}.tmp{path.suffix}") for path in writers}
    try:
        for path, write in writers.items():
            write(temps[path])
        for path, tmp in temps.items():
            tmp.replace(path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    return parquet, record


def marginal_table(result: PosteriorResult):
    """Per free parameter: prior box, calibrated point, posterior 5/50/95% (weighted) and how much the
    data taught: the posterior's 90% width as a share of the prior's, in the search scale."""
    import pandas as pd

    from calibration.defaults import calibrated_params
    from calibration.space import FREE

    by = {fp.name: fp for fp in FREE}
    point = calibrated_params()
    w = result.particles["weight"].to_numpy()
    rows = []
    for n in result.names:
        fp = by[n]
        x = result.particles[n].to_numpy()
        u = np.array([fp.unit(v) for v in x])
        q = [weighted_quantile(x, w, a) for a in (0.05, 0.5, 0.95)]
        uq = [weighted_quantile(u, w, a) for a in (0.05, 0.95)]
        rows.append(dict(parameter=n, box_lo=fp.box[0], box_hi=fp.box[1], scale=fp.scale, calibrated=point.get(n, math.nan),
                         p05=q[0], median=q[1], p95=q[2], width_share_of_prior=(uq[1] - uq[0]) / 0.9))
    return pd.DataFrame(rows)


def plot_marginals(result: PosteriorResult, path: Path) -> Path:
    """Histograms of each free parameter's posterior against its uniform prior, on the search box in
    the parameter's search scale (linear, log or cube), with the calibrated point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from calibration.defaults import calibrated_params
    from calibration.space import FREE

    by = {fp.name: fp for fp in FREE}
    point = calibrated_params()
    names = result.names
    cols = 4
    rows = int(math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.3 * rows + 0.9), squeeze=False)
    w = result.particles["weight"].to_numpy()
    for ax, n in zip(axes.flat, names):
        fp = by[n]
        u = np.array([fp.unit(v) for v in result.particles[n].to_numpy()])
        ax.hist(u, bins=20, range=(0, 1), weights=w, density=True, color="#4c72b0", alpha=0.8, label="posterior")
        ax.axhline(1.0, color="black", lw=1.2, ls="--", label="prior (uniform on the box)")
        if n in point:
            ax.axvline(fp.unit(point[n]), color="#c44e52", lw=1.6, label="calibrated point")
        ax.set_xlim(0, 1)
        ticks = [0, 0.5, 1]
        ax.set_xticks(ticks, [f"{fp.value(t):.3g}" for t in ticks], fontsize=8)
        ax.set_yticks([])
        ax.set_title(n + ("" if fp.scale == "linear" else f" ({fp.scale})"), fontsize=9)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    what = ("emcee, " + f"{len(result.particles)} draws" if result.settings.method == "mcmc"
            else f"ABC-SMC, {len(result.particles)} particles")
    fig.suptitle(f"Posterior of the {len(names)} free parameters against their priors ({what}; "
                 f"effective sample size {result.ess:.0f})", fontsize=11)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def start_description(s: PosteriorSettings) -> str:
    """Where the walkers started, in words (the record)."""
    if s.start == "prior":
        return "uniform over the prior (unit cube), sampler seed"
    if s.start == "posterior":
        filled = (f"; the parameters it lacks uniform within {FILL_HALF_WIDTH} (unit cube) of the calibrated point"
                  if s.fill_missing else "")
        return (f"{s.walkers} distinct draws, picked with the sampler seed, of the earlier posterior "
                f"{Path(s.start_from).name} (sha256 {s.start_sha256[:16]}){filled}")
    from calibration.mcmc import START_SD

    return f"ball of sd {START_SD} (unit cube) around the calibrated point"


def record_mcmc_toml(result: PosteriorResult) -> str:
    import emcee

    s, c = result.settings, result.chain
    lines = [
        "# The posterior of `bth posterior` by ensemble MCMC (calibration/mcmc.py, docs/calibration.md).",
        f"# Draws: {PARQUET_NAME} (draw, weight = 1/draws, one column per free parameter in value units).",
        "# The point estimate stays in calibrated.toml.",
        "",
        "[run]",
        f"date = {_toml(_dt.date.today().isoformat())}",
        f"code_version = {_toml(result.code)}",
        f"emcee_version = {_toml(emcee.__version__)}",
        f"wall_seconds_this_invocation = {_toml(round(result.elapsed_s, 1))}",
        f"runs_simulated = {result.new_runs}",
        f"runs_from_cache = {result.cached_runs}",
        f"continued_from_step = {result.resumed_from}  # 0: sampled from the start in this invocation",
        "",
        "[settings]",
        "method = \"mcmc\"",
        f"walkers = {s.walkers}",
        f"steps = {s.steps}",
        f"burn = {s.burn}",
        f"thin = {s.thin}",
        f"scale = {_toml(s.scale)}",
        f"seeds = {_toml(list(s.seeds))}",
        f"noise_seeds = {s.noise_seeds}",
        f"sampler_seed = {s.sampler_seed}",
        f"prior = {_toml('u_i ~ Uniform(0, 1) per free parameter, mapped onto its search box (calibration/space.py)')}",
        f"likelihood = {_toml('exp(-L/2), L = calibration.loss.loss(targets, ensemble mean, mc at the calibrated point)')}",
        f"moves = {_toml('emcee DEMove 0.8, DESnookerMove 0.2')}",
        f"start = {_toml(start_description(s))}",
        f"free = {_toml(list(result.names))}",
        "",
        "[summary]",
        f"evaluations = {s.walkers * s.steps}",
        f"draws = {len(result.particles)}",
        f"acceptance_fraction_mean = {_toml(round(float(np.mean(c.acceptance)), 4))}",
        f"acceptance_fraction_min = {_toml(round(float(np.min(c.acceptance)), 4))}",
        f"acceptance_fraction_max = {_toml(round(float(np.max(c.acceptance)), 4))}",
        f"effective_sample_size_min = {_toml(round(float(np.nanmin(c.ess)), 1))}",
        f"effective_sample_size_median = {_toml(round(float(np.nanmedian(c.ess)), 1))}",
        f"autocorrelation_steps_max = {_toml(round(float(np.nanmax(c.tau)), 1))}",
        f"chain_over_tau_min = {_toml(round(float((s.steps - s.burn) / np.nanmax(c.tau)), 2))}  # emcee advises > 50 for a reliable tau",
        f"loss_at_calibrated_point = {_toml(round(result.loss_at_calibrated, 6))}",
        f"loss_of_draws_median = {_toml(round(float(np.median(result.loss_of_draws)), 4))}",
        f"loss_of_draws_min = {_toml(round(float(np.min(result.loss_of_draws)), 4))}",
        "",
        "[autocorrelation_steps]  # emcee's integrated autocorrelation time per parameter, after burn-in "
        "(on the kept steps, times thin)",
    ]
    lines += [f"{n} = {_toml(round(float(t), 2))}" for n, t in zip(result.names, c.tau)]
    lines += ["", "[mean_log_prob_by_step]  # the ensemble's mean log density every 25 steps (burn-in check)",
              f"steps = {_toml(list(range(0, s.steps, 25)))}",
              f"mean_log_prob = {_toml([round(float(c.mean_log_prob[i]), 3) for i in range(0, s.steps, 25)])}",
              "", "[mc]  # relative Monte Carlo error of the ensemble mean per target, held fixed (calibration/loss.py)"]
    lines += [f"{_toml(k)} = {_toml(round(float(v), 6))}" for k, v in sorted(result.mc.items())]
    return "\n".join(lines) + "\n"


def record_toml(result: PosteriorResult) -> str:
    import pyabc

    s = result.settings
    pops = result.populations
    w = result.particles["weight"].to_numpy()
    lines = [
        "# The ABC-SMC posterior of `bth posterior` (calibration/posterior.py, docs/calibration.md).",
        f"# Particles: {PARQUET_NAME} (draw, weight, one column per free parameter in value units).",
        "# The point estimate stays in calibrated.toml.",
        "",
        "[run]",
        f"date = {_toml(_dt.date.today().isoformat())}",
        f"code_version = {_toml(result.code)}",
        f"pyabc_version = {_toml(pyabc.__version__)}",
        f"database = {_toml(_shown(result.db))}",
        f"abc_id = {result.abc_id}",
        f"wall_seconds_total = {_toml(round(float(pops['wall_time'].fillna(0).sum()), 1))}  # pyabc's generation times",
        f"wall_seconds_this_invocation = {_toml(round(result.elapsed_s, 1))}",
        f"generations_resumed_from = {result.resumed_from}",
        f"runs_simulated = {result.new_runs}",
        f"runs_from_cache = {result.cached_runs}",
        "",
        "[settings]",
        f"population = {s.population}",
        f"generations = {s.generations}",
        f"scale = {_toml(s.scale)}",
        f"seeds = {_toml(list(s.seeds))}",
        f"noise_seeds = {s.noise_seeds}",
        f"target_rate = {_toml(s.target_rate)}",
        f"sampler_seed = {s.sampler_seed}",
        f"prior = {_toml('u_i ~ Uniform(0, 1) per free parameter, mapped onto its search box (calibration/space.py)')}",
        f"likelihood = {_toml('exp(-L/2), L = calibration.loss.loss(targets, ensemble mean, mc at the calibrated point)')}",
        f"acceptor = {_toml('pyabc StochasticAcceptor, pdf_norm = -L(calibrated point)/2')}",
        f"temperature = {_toml(f'min(acceptance-rate scheme at {s.target_rate:g}, exponential decay to 1 in the last generation); last forced to 1')}",
        f"sampler = {_toml('pyabc SingleCoreSampler; each particle seeds on the executor')}",
        f"free = {_toml(list(result.names))}",
        "",
        "[summary]",
        f"generations = {len(pops)}",
        f"particles = {len(result.particles)}",
        f"effective_sample_size = {_toml(round(result.ess, 3))}",
        f"weight_sum = {_toml(round(float(w.sum()), 12))}",
        f"final_temperature = {_toml(float(pops['epsilon'].iloc[-1]) if len(pops) else math.nan)}",
        f"loss_at_calibrated_point = {_toml(round(result.loss_at_calibrated, 6))}",
        "",
        "[generations]  # one entry per generation, t = 0 first",
        f"population_size = {_toml([int(v) for v in pops['particles']])}",
        f"samples = {_toml([int(v) for v in pops['samples']])}",
        f"acceptance_rate = {_toml([round(float(v), 6) for v in pops['acceptance_rate']])}",
        f"effective_sample_size = {_toml([round(float(v), 3) for v in pops['ess']])}",
        f"temperature = {_toml([float(v) for v in pops['epsilon']])}",
        f"wall_seconds = {_toml([round(float(v), 1) if v == v else math.nan for v in pops['wall_time']])}",
        "",
        "[mc]  # relative Monte Carlo error of the ensemble mean per target, held fixed (calibration/loss.py)",
    ]
    lines += [f"{_toml(k)} = {_toml(round(float(v), 6))}" for k, v in sorted(result.mc.items())]
    return "\n".join(lines) + "\n"


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "(no message)"


# ----------------------------------------------------------------------------- cost


def planned(settings: PosteriorSettings, acceptance: float = ASSUMED_ACCEPTANCE) -> tuple[int, int]:
    """(particles simulated, model runs) the run plans: the prior generation, then ``population /
    acceptance`` per later generation, plus the noise runs (cached runs are not repeated)."""
    if settings.method == "mcmc":
        particles = settings.walkers * settings.steps
        return particles, particles * len(settings.seeds) + settings.noise_seeds
    particles = settings.population * (1 + max(0, settings.generations - 1) / acceptance)
    particles = int(math.ceil(particles))
    return particles, particles * len(settings.seeds) + settings.noise_seeds


def announcement(settings: PosteriorSettings, workers: int, on_dask: bool, out: Path, db: Path,
                 per_run_s: float, done: int = 0) -> str:
    from calibration.calibrate import STARTUP_S, format_duration

    particles, runs = planned(settings)
    if settings.method == "mcmc" and done:  # a continued chain: only the new steps
        particles, runs = (int(round(x * (settings.steps - done) / settings.steps)) for x in (particles, runs))
    seconds = (STARTUP_S if workers > 1 else 0.0) + runs * per_run_s * PARTICLE_OVERHEAD / max(1, min(workers, len(settings.seeds)))
    where = f"{'a Dask cluster, ' if on_dask else ''}{workers} worker{'s' if workers != 1 else ''}"
    if settings.method == "mcmc":
        steps = f"{settings.steps} steps" if not done else f"{settings.steps - done} more steps (to {settings.steps})"
        return (f"posterior (emcee{', continued' if done else ''}): {settings.walkers} walkers x {steps} = {particles:,} evaluations "
                f"(~{runs:,} model runs at {per_run_s:.3f} s), {format_duration(seconds)} on {where}; "
                f"it writes {_shown(Path(out) / PARQUET_NAME)}, {_shown(Path(out) / RECORD_NAME)}, "
                f"{CHECK_NAME} and {PLOT_NAME}")
    return (f"posterior: {settings.generations} generations of {settings.population} particles, "
            f"~{particles:,} particles (~{runs:,} model runs at {per_run_s:.3f} s, assuming an acceptance "
            f"rate of {ASSUMED_ACCEPTANCE:g} after the prior generation), {format_duration(seconds)} on {where}; "
            f"database {_shown(db)}; it writes {_shown(Path(out) / PARQUET_NAME)} and {_shown(Path(out) / RECORD_NAME)}")


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    from calibration.cli import (_fraction, _non_negative_int, _positive_int, add_ensemble_arguments,
                                 add_executor_arguments)
    from calibration.runner import DEFAULT_CACHE
    from calibration.targets import TARGETS_FILE

    d = PosteriorSettings()
    p = argparse.ArgumentParser(prog="bth posterior", description=(
        "Posterior of the free parameters (calibration/space.py): uniform priors on the search boxes in their "
        "search scale, the likelihood exp(-L/2) of the calibration loss L (Monte Carlo noise fixed at the "
        "calibrated point). Default: ensemble MCMC (emcee), resumable through the evaluation cache; "
        "--method abc-smc: pyabc's tempered likelihood (StochasticAcceptor), resumable through its database "
        "(--db). Writes posterior.parquet, posterior.toml, posterior_check.csv and posterior.png into --out; "
        "calibrated.toml is not touched. See docs/calibration.md."))
    p.add_argument("--method", choices=("mcmc", "abc-smc"), default=d.method,
                   help="ensemble MCMC on the likelihood exp(-L/2) (emcee, default) or ABC-SMC with pyabc's "
                        "tempered likelihood")
    p.add_argument("--walkers", type=_positive_int, default=d.walkers, help=f"mcmc: walkers (default {d.walkers})")
    p.add_argument("--steps", type=_positive_int, default=d.steps, help=f"mcmc: steps (default {d.steps})")
    p.add_argument("--burn", type=_non_negative_int, default=d.burn,
                   help=f"mcmc: steps discarded at the start (default {d.burn})")
    p.add_argument("--thin", type=_positive_int, default=d.thin, help=f"mcmc: keep every n-th step (default {d.thin})")
    p.add_argument("--start", choices=("point", "prior", "posterior"), default=d.start,
                   help="mcmc: walkers start around calibrated.toml's point (default), spread over the prior, or "
                        "at draws of an earlier posterior (--start-from)")
    p.add_argument("--continue", dest="continue_chain", action="store_true",
                   help=f"mcmc: carry on the chain in --out ({CHAIN_NAME}) to --steps steps in all, with its "
                        "settings (the same model, targets and calibrated point); the result is the one a single "
                        "run of that many steps gives")
    p.add_argument("--start-from", type=Path, default=None, metavar="PARQUET",
                   help=f"mcmc, --start posterior: the earlier posterior (default: {PARQUET_NAME} in --out)")
    p.add_argument("--fill-missing", action="store_true",
                   help="mcmc, --start posterior: free parameters the earlier posterior lacks (freed since) start "
                        f"uniform within {FILL_HALF_WIDTH} (unit cube) of calibrated.toml's point")
    p.add_argument("--population", type=_positive_int, default=d.population,
                   help=f"abc-smc: particles per generation (default {d.population})")
    p.add_argument("--generations", type=_positive_int, default=d.generations,
                   help=f"generations; the temperature reaches 1 in the last (default {d.generations})")
    add_ensemble_arguments(p, d.scale, d.seeds)
    p.add_argument("--noise-seeds", type=_positive_int, default=d.noise_seeds,
                   help=f"runs at the calibrated point that estimate the Monte Carlo noise (default {d.noise_seeds})")
    p.add_argument("--target-rate", type=_fraction, default=d.target_rate,
                   help=f"acceptance rate the temperature scheme aims at (default {d.target_rate})")
    p.add_argument("--sampler-seed", type=_non_negative_int, default=d.sampler_seed,
                   help=f"numpy seed of generation 0 (generation t: + t) (default {d.sampler_seed})")
    p.add_argument("--free", default=None, metavar="NAME,NAME",
                   help="sample only these free parameters (the rest stay at calibrated.toml's point estimate)")
    add_executor_arguments(p)
    p.add_argument("--db", type=Path, default=DEFAULT_DB,
                   help="pyabc's sqlite database, for resuming (default calibration/.cache/posterior.db)")
    p.add_argument("--fresh", action="store_true", help="discard the run in --db and start anew")
    p.add_argument("--out", type=Path, default=CALIBRATION_DIR, metavar="DIR",
                   help=f"folder for {PARQUET_NAME} and {RECORD_NAME} (default: the calibration folder)")
    p.add_argument("--targets", type=Path, default=TARGETS_FILE, help="targets file (default calibration/targets.toml)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="evaluation cache shared with bth calibrate")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the evaluation cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from calibration.calibrate import seconds_per_run
    from calibration.cli import _free, open_executor
    from calibration.runner import Cache, ModelChanged
    from calibration.targets import TargetError, compared_targets, load_targets

    try:
        targets = load_targets(args.targets)
        free = _free(args.free)
    except (TargetError, OSError, ValueError) as err:
        return _bad_input(str(err))
    out = args.out
    if out.suffix in (".toml", ".parquet") or out.is_file():
        return _bad_input(f"--out {out}: expected a folder (it receives {PARQUET_NAME} and {RECORD_NAME})")
    if args.db.is_dir():
        return _bad_input(f"--db {args.db}: a folder, expected a database file")
    resume = None
    if args.continue_chain:
        given = [o for o in CHAIN_OPTIONS if any(a == o or a.startswith(o + "=") for a in argv)]
        if given:
            return _bad_input(f"{given[0]}: --continue takes the chain's own settings; give only --steps and "
                              "where to run")
        try:
            resume = load_chain(out / CHAIN_NAME)
        except PosteriorError as err:
            return _bad_input(str(err))
        ident, state = resume
        if args.steps <= state.steps:
            return _bad_input(f"--steps {args.steps}: the chain in {out / CHAIN_NAME} has {state.steps} steps "
                              "already; --continue needs more")
        try:
            settings = PosteriorSettings(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in ident.items()
                                            if k in PosteriorSettings.__dataclass_fields__}, steps=args.steps)
        except TypeError as err:
            return _bad_input(f"--continue: {out / CHAIN_NAME}: settings not understood ({err})")
    burn, walkers = (args.burn, args.walkers) if resume is None else (settings.burn, settings.walkers)
    if burn >= args.steps:
        return _bad_input(f"--burn {burn}: must be below --steps {args.steps}")
    if walkers < 4 or walkers % 2:
        return _bad_input(f"--walkers {walkers}: an even number of at least 4")
    start_from, start_sha = "", ""
    if resume is None and args.start == "posterior":
        path = args.start_from or out / PARQUET_NAME
        try:
            start_sha = hashlib.sha256(path.read_bytes()).hexdigest()
            start_draws(path, [fp.name for fp in free], args.walkers, args.fill_missing)  # before any model run
        except OSError as err:
            return _bad_input(f"--start-from {path}: {err.strerror or err}")
        except PosteriorError as err:
            return _bad_input(str(err))
        start_from = str(path)
    elif resume is None and (args.start_from is not None or args.fill_missing):
        return _bad_input(f"{'--start-from' if args.start_from is not None else '--fill-missing'}: only with --start posterior")
    if resume is None:
        settings = PosteriorSettings(
            method=args.method, walkers=args.walkers, steps=args.steps, burn=args.burn, thin=args.thin,
            start=args.start, start_from=start_from, start_sha256=start_sha,
            fill_missing=args.fill_missing and args.start == "posterior",
            population=args.population, generations=args.generations, scale=args.scale,
            seeds=tuple(range(args.base_seed, args.base_seed + args.seeds)), noise_seeds=args.noise_seeds,
            target_rate=args.target_rate, sampler_seed=args.sampler_seed, free=tuple(fp.name for fp in free))
    executor, code = open_executor(args, out)
    if executor is None:
        return code
    cache = Cache(None if args.no_cache else args.cache)
    try:
        until = max(t.year for t in compared_targets(targets))
        per_run = seconds_per_run(settings.scale, until)
        print(announcement(settings, executor.workers, bool(args.scheduler), out, args.db, per_run,
                           done=0 if resume is None else resume[1].steps), flush=True)
        result = posterior(settings, targets, cache=cache, executor=executor, db=args.db, fresh=args.fresh,
                           progress=not args.no_progress, resume=resume)
    except KeyboardInterrupt:
        cache.close()
        print(f"interrupted; finished generations are kept in {args.db} and finished runs in "
              f"{'no cache (--no-cache)' if args.no_cache else args.cache}; rerun the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except PosteriorError as err:
        return _bad_input(str(err))
    except ModelChanged as err:
        print(f"error: {_one_line(str(err))}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as err:
        return _bad_input(f"{err.filename or ''}{': ' if err.filename else ''}{err.strerror or err}")
    finally:
        executor.close()
        cache.close()
    try:
        parquet, record = write_outputs(result, out)
    except OSError as err:
        return _bad_input(f"cannot write the posterior's files into {out}: {err.strerror or err}")
    pops = result.populations
    if pops is None:
        c = result.chain
        print(f"{args.walkers} walkers x {args.steps} steps; acceptance fraction {float(np.mean(c.acceptance)):.3f}; "
              f"{len(result.particles)} draws, effective sample size {result.ess:.1f} (smallest over parameters); "
              f"{result.new_runs} new runs in {result.elapsed_s:.0f} s")
        print(parquet)
        print(record)
        return EXIT_OK
    print(f"{len(pops)} generations; final temperature {float(pops['epsilon'].iloc[-1]):.4g}; "
          f"{len(result.particles)} particles, effective sample size {result.ess:.1f}; "
          f"{result.new_runs} new runs in {result.elapsed_s:.0f} s")
    print(parquet)
    print(record)
    return EXIT_OK


def _bad_input(message: str) -> int:
    print(f"error: {_one_line(message)}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
