"""``bth calibrate``: calibrate the model's uncertain parameters to calibration/targets.toml.

    bth calibrate [--scale 0.05] [--seeds 8] [--base-seed 0] [--method sobol-lsq|de]
                  [--search-seed 20251225] [--sobol 128] [--cycles 4] [--lsq-nfev 8]
                  [--popsize 3] [--maxiter 30] [--report-seeds 30] [--free a,b,...]
                  [--workers 2 | --scheduler ADDRESS] [--out calibration]
                  [--cache calibration/.cache/evaluations.jsonl | --no-cache] [--no-progress]

Writes OUT/calibrated.toml and the fit report OUT/report/ (fit.csv, fit.md, fit.png, profile.csv,
profiles.png, jacobian.csv); OUT is the calibration folder unless ``--out DIR`` names a trial folder.
Before it starts it prints the planned number of model runs, the time they will take (one run is
timed first) and what it will rewrite.  The runs go to ``--workers`` local processes or, with
``--scheduler ADDRESS``, to a Dask cluster (experiments.executor, the executor ensembles use).
Every model run is cached as it finishes: interrupt (Ctrl-C) and rerun the same command to resume;
the optimiser is seeded, so the rerun retraces the same path and reproduces the same files (except
the [run] table of calibrated.toml: date, checkout, time taken).

Exit codes: 0 calibration finished (failing targets are reported, not errors); 1 the model's
code changed during the run; 2 bad input, an unwritable --out or an unreachable scheduler;
130 interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


CALIBRATED_NAME = "calibrated.toml"  # the files written into --out DIR
REPORT_NAME = "report"


def build_parser() -> argparse.ArgumentParser:
    from calibration.defaults import CALIBRATED_FILE
    from calibration.runner import DEFAULT_CACHE
    from calibration.search import Settings
    from calibration.targets import TARGETS_FILE

    d = Settings()
    p = argparse.ArgumentParser(prog="bth calibrate", description=(
        "Calibrate the free uncertain parameters (calibration/space.py) to calibration/targets.toml by the "
        "method of simulated moments over an ensemble of seeds with common random numbers: a Sobol sample, "
        "cycles of least squares and line searches (or differential evolution), then a loss profile per "
        "parameter. Writes calibrated.toml and the fit report (into the calibration folder, or --out DIR). "
        "Resumable: rerun the same command after an interruption. See docs/calibration.md."))
    p.add_argument("--method", choices=("sobol-lsq", "de"), default=d.method,
                   help=f"search: Sobol sample + least squares, or differential evolution (default {d.method})")
    p.add_argument("--start", choices=("auto", "prior", "calibrated"), default="auto",
                   help="where the search starts: the point estimate of calibration/calibrated.toml "
                        "('calibrated'), the priors ('prior'), or the point estimate if there is one "
                        "(default 'auto'); the priors are evaluated in every case")
    p.add_argument("--popsize", type=_positive_int, default=d.popsize,
                   help=f"DE population per free parameter (default {d.popsize})")
    p.add_argument("--maxiter", type=_non_negative_int, default=d.maxiter, help=f"DE generations (default {d.maxiter})")
    add_search_arguments(p)
    p.add_argument("--targets", type=Path, default=TARGETS_FILE, help="targets file (default calibration/targets.toml)")
    p.add_argument("--out", type=Path, default=CALIBRATED_FILE.parent, metavar="DIR",
                   help=f"folder for {CALIBRATED_NAME} and {REPORT_NAME}/ (default: the calibration folder, "
                        "which scenarios read; name another for a trial)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help="evaluation cache (JSON lines), shared by trials and the real run (keys hold every setting)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the evaluation cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def open_executor(args: argparse.Namespace, out: Path):
    """(the executor of ``--workers``/``--scheduler``, None) with the ``out`` folder created, or
    (None, exit code) after a one-line error.  The one executor of ensembles and calibration is built
    here in the application layer: the calibration's core takes any executor and does not depend on
    experiments."""
    from experiments.executor import ExecutorError, make_executor

    try:
        executor = make_executor(args.workers, args.scheduler)
    except ExecutorError as err:
        return None, _bad_input(str(err))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        executor.close()
        return None, _bad_input(f"--out {out}: cannot create the folder: {err.strerror or err}")
    return executor, None


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    """The options ``bth calibrate`` and ``bth backtest`` share: the ensemble (scale, seeds), the
    search's budget and seed, the free parameters and where the runs go (defaults from Settings)."""
    from calibration.search import Settings

    d = Settings()
    add_ensemble_arguments(p, d.scale, d.seeds)
    p.add_argument("--search-seed", type=_non_negative_int, default=d.search_seed,
                   help=f"seed of the Sobol sampler / DE (default {d.search_seed})")
    p.add_argument("--sobol", type=_positive_int, default=d.n_sobol, help=f"Sobol points (default {d.n_sobol})")
    p.add_argument("--cycles", type=_non_negative_int, default=d.cycles,
                   help=f"local cycles of least squares + re-weighting + line search (default {d.cycles})")
    p.add_argument("--lsq-nfev", type=_positive_int, default=d.lsq_nfev,
                   help=f"least-squares residual evaluations per cycle (default {d.lsq_nfev})")
    p.add_argument("--report-seeds", type=_positive_int, default=d.report_seeds,
                   help=f"runs in the fit report, calibration seeds included (default {d.report_seeds})")
    p.add_argument("--profile-grid", type=_positive_int, default=d.profile_grid,
                   help=f"evenly spaced profile points per parameter (default {d.profile_grid})")
    add_executor_arguments(p)
    p.add_argument("--free", default=None, metavar="NAME,NAME",
                   help="calibrate only these of the default free parameters (the rest stay at their priors)")


def add_ensemble_arguments(p: argparse.ArgumentParser, scale: float, seeds: tuple[int, ...]) -> None:
    """The ensemble every evaluation runs: --scale (fraction of real firms), --seeds, --base-seed."""
    p.add_argument("--scale", type=_fraction, default=scale, help=f"fraction of real firms simulated (default {scale})")
    p.add_argument("--seeds", type=_positive_int, default=len(seeds), help=f"model seeds per evaluation (default {len(seeds)})")
    p.add_argument("--base-seed", type=_non_negative_int, default=seeds[0], help=f"first model seed (default {seeds[0]})")


def add_executor_arguments(p: argparse.ArgumentParser) -> None:
    """Where the model runs go: --workers local processes or a Dask --scheduler."""
    from calibration.runner import default_workers

    p.add_argument("--workers", type=_positive_int, default=default_workers(),
                   help=f"local processes (default {default_workers()}; 1 = in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on the Dask cluster at this scheduler address (e.g. tcp://127.0.0.1:8786) "
                        "instead of local processes")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from calibration.calibrate import calibrate, write_outputs
    from calibration.runner import Cache, ModelChanged
    from calibration.targets import TargetError, load_targets

    try:
        targets = load_targets(args.targets)
        free = _free(args.free)
    except (TargetError, OSError, ValueError) as err:
        return _bad_input(str(err))
    out = args.out
    if out.suffix == ".toml" or out.is_file():
        return _bad_input(f"--out {out}: expected a folder (it receives {CALIBRATED_NAME} and {REPORT_NAME}/)")
    calibrated, report_dir = out / CALIBRATED_NAME, out / REPORT_NAME
    try:
        settings = _settings(args)
    except ValueError as err:
        return _bad_input(str(err))
    executor, code = open_executor(args, out)
    if executor is None:
        return code
    cache = Cache(None if args.no_cache else args.cache)
    try:
        print(_announcement(settings, targets, free, executor.workers, bool(args.scheduler), out), flush=True)
        result = calibrate(settings, targets, free=free, cache=cache, progress=not args.no_progress,
                           executor=executor)
    except KeyboardInterrupt:
        cache.close()
        where = "nothing was cached (--no-cache)" if args.no_cache else f"finished runs are kept in {args.cache}"
        print(f"interrupted; {where}; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModelChanged as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        executor.close()
    try:
        write_outputs(result, calibrated, report_dir, targets_file=args.targets)
    except OSError as err:
        return _bad_input(f"cannot write the calibration's files into {out}: {err.strerror or err}")
    _summary(result)
    print(calibrated)
    print(report_dir / "fit.md")
    return EXIT_OK


def _free(names_text: str | None):
    """The free parameters to calibrate: all of calibration.space.FREE, or those named."""
    from calibration.space import FREE

    if not names_text:
        return FREE
    names = [n.strip() for n in names_text.split(",") if n.strip()]
    known = {fp.name: fp for fp in FREE}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--free: not a free parameter: {', '.join(unknown)}; choose from {', '.join(known)}")
    return tuple(known[n] for n in names)


def _settings(args: argparse.Namespace):
    from calibration.defaults import calibrated_params
    from calibration.search import Settings

    point = calibrated_params()
    if args.start == "calibrated" and not point:
        raise ValueError("--start calibrated: calibration/calibrated.toml has no point estimate")
    start = tuple(sorted(point.items())) if args.start != "prior" else ()
    return Settings(start=start, scale=args.scale, seeds=tuple(range(args.base_seed, args.base_seed + args.seeds)),
                    method=args.method, search_seed=args.search_seed, n_sobol=args.sobol,
                    cycles=args.cycles, lsq_nfev=args.lsq_nfev, popsize=args.popsize, maxiter=args.maxiter,
                    report_seeds=max(args.report_seeds, args.seeds), profile_grid=max(2, args.profile_grid))


def _announcement(settings, targets, free, workers: int, on_dask: bool, out: Path) -> str:
    """The line printed before the calibration starts: its runs, its time (one run is timed now) and
    what it writes, e.g. "calibration: ~15,702 model runs, about 12 minutes on 2 workers; it rewrites
    calibration/calibrated.toml and calibration/report/ (use --out DIR for a trial)"."""
    from calibration.calibrate import estimate, format_duration, seconds_per_run
    from calibration.defaults import CALIBRATED_FILE
    from calibration.targets import compared_targets

    until = max(t.year for t in compared_targets(targets))
    runs, seconds = estimate(settings, len(free), workers, seconds_per_run(settings.scale, until))
    where = f"{'a Dask cluster, ' if on_dask else ''}{workers} worker{'s' if workers != 1 else ''}"
    files = f"{_shown(out / CALIBRATED_NAME)} and {_shown(out / REPORT_NAME)}/"
    if out.resolve() == CALIBRATED_FILE.parent.resolve():
        writes = f"it rewrites {files} (use --out DIR for a trial)"
    else:
        writes = f"it writes {files}"
    return f"calibration: ~{runs:,} model runs, {format_duration(seconds)} on {where}; {writes}"


def _summary(result) -> None:
    from calibration.targets import COMPARED_KINDS

    fit = result.fit
    cmp_ = fit[fit.kind.isin(COMPARED_KINDS)]
    failed = cmp_[cmp_.verdict != "pass"]
    print(f"loss {result.best.loss:.4g}; {len(cmp_) - len(failed)}/{len(cmp_)} targets pass; "
          f"{result.evaluations} evaluations ({result.new_runs} new runs) in {result.elapsed_s:.0f} s")
    for _, r in failed.iterrows():
        print(f"  FAIL {r.target}: {r.compared}: simulated {r.sim_mean:.4g} (z {r.z:+.2f})")


def _shown(path: Path) -> str:
    """``path`` relative to the working folder if it lies inside it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _bad_input(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _positive_int(text: str) -> int:
    v = _int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return v


def _non_negative_int(text: str) -> int:
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text}")
    return v


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return v


if __name__ == "__main__":
    sys.exit(main())
