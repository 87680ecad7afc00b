"""``bth calibrate``: calibrate the model's uncertain parameters to calibration/targets.toml.

    bth calibrate [--scale 0.05] [--seeds 8] [--base-seed 0] [--method sobol-lsq|de]
                  [--search-seed 20251225] [--sobol 128] [--cycles 3] [--lsq-nfev 8]
                  [--popsize 3] [--maxiter 30] [--report-seeds 30] [--workers 2] [--free a,b,...]
                  [--out calibration/calibrated.toml] [--report-dir calibration/report]
                  [--cache calibration/.cache/evaluations.jsonl | --no-cache] [--no-progress]

Writes calibrated.toml and the fit report (fit.csv, fit.md, fit.png, profile.csv, profiles.png).
Every model run is cached as it finishes: interrupt (Ctrl-C) and rerun the same command to resume;
the optimiser is seeded, so the rerun retraces the same path and reproduces the same files (except
the [run] table of calibrated.toml: date, checkout, time taken).

Exit codes: 0 calibration finished (failing targets are reported, not errors); 1 the model's
code changed during the run; 2 bad input; 130 interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    from calibration.defaults import CALIBRATED_FILE
    from calibration.report import REPORT_DIR
    from calibration.runner import DEFAULT_CACHE, default_workers
    from calibration.search import Settings
    from calibration.targets import TARGETS_FILE

    d = Settings()
    p = argparse.ArgumentParser(prog="bth calibrate", description=(
        "Calibrate the free uncertain parameters (calibration/space.py) to calibration/targets.toml by the "
        "method of simulated moments over an ensemble of seeds with common random numbers: a Sobol sample, "
        "cycles of least squares and line searches (or differential evolution), then a loss profile per "
        "parameter. Writes calibrated.toml and the fit report. Resumable: rerun the same command after an "
        "interruption. See docs/calibration.md."))
    p.add_argument("--scale", type=_fraction, default=d.scale, help=f"fraction of real firms simulated (default {d.scale})")
    p.add_argument("--seeds", type=_positive_int, default=len(d.seeds), help=f"model seeds per evaluation (default {len(d.seeds)})")
    p.add_argument("--base-seed", type=_non_negative_int, default=d.seeds[0], help=f"first model seed (default {d.seeds[0]})")
    p.add_argument("--method", choices=("sobol-lsq", "de"), default=d.method,
                   help=f"search: Sobol sample + least squares, or differential evolution (default {d.method})")
    p.add_argument("--search-seed", type=_non_negative_int, default=d.search_seed,
                   help=f"seed of the Sobol sampler / DE (default {d.search_seed})")
    p.add_argument("--sobol", type=_positive_int, default=d.n_sobol, help=f"Sobol points (default {d.n_sobol})")
    p.add_argument("--cycles", type=_non_negative_int, default=d.cycles,
                   help=f"local cycles of least squares + re-weighting + line search (default {d.cycles})")
    p.add_argument("--lsq-nfev", type=_positive_int, default=d.lsq_nfev,
                   help=f"least-squares residual evaluations per cycle (default {d.lsq_nfev})")
    p.add_argument("--popsize", type=_positive_int, default=d.popsize,
                   help=f"DE population per free parameter (default {d.popsize})")
    p.add_argument("--maxiter", type=_non_negative_int, default=d.maxiter, help=f"DE generations (default {d.maxiter})")
    p.add_argument("--report-seeds", type=_positive_int, default=d.report_seeds,
                   help=f"runs in the fit report, calibration seeds included (default {d.report_seeds})")
    p.add_argument("--profile-grid", type=_positive_int, default=d.profile_grid,
                   help=f"evenly spaced profile points per parameter (default {d.profile_grid})")
    p.add_argument("--workers", type=_positive_int, default=default_workers(), help="processes (default 2)")
    p.add_argument("--free", default=None, metavar="NAME,NAME",
                   help="calibrate only these of the default free parameters (the rest stay at their priors)")
    p.add_argument("--targets", type=Path, default=TARGETS_FILE, help="targets file (default calibration/targets.toml)")
    p.add_argument("--out", type=Path, default=CALIBRATED_FILE, help="calibrated parameters file")
    p.add_argument("--report-dir", type=Path, default=REPORT_DIR, help="fit report folder")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="evaluation cache (JSON lines)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the evaluation cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from calibration.calibrate import calibrate, write_outputs
    from calibration.runner import Cache, ModelChanged
    from calibration.search import Settings
    from calibration.space import FREE
    from calibration.targets import COMPARED_KINDS, TargetError, load_targets

    try:
        targets = load_targets(args.targets)
    except (TargetError, OSError) as err:
        return _bad_input(str(err))
    free = FREE
    if args.free:
        names = [n.strip() for n in args.free.split(",") if n.strip()]
        known = {fp.name: fp for fp in FREE}
        unknown = [n for n in names if n not in known]
        if unknown:
            return _bad_input(f"--free: not a free parameter: {', '.join(unknown)}; choose from {', '.join(known)}")
        free = tuple(known[n] for n in names)
    settings = Settings(scale=args.scale, seeds=tuple(range(args.base_seed, args.base_seed + args.seeds)),
                        method=args.method, search_seed=args.search_seed, n_sobol=args.sobol,
                        cycles=args.cycles, lsq_nfev=args.lsq_nfev,
                        popsize=args.popsize, maxiter=args.maxiter,
                        report_seeds=max(args.report_seeds, args.seeds), profile_grid=max(2, args.profile_grid),
                        workers=args.workers)
    cache = Cache(None if args.no_cache else args.cache)
    try:
        result = calibrate(settings, targets, free=free, cache=cache, progress=not args.no_progress)
    except KeyboardInterrupt:
        cache.close()
        where = "nothing was cached (--no-cache)" if args.no_cache else f"finished runs are kept in {args.cache}"
        print(f"interrupted; {where}; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModelChanged as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    write_outputs(result, args.out, args.report_dir, targets_file=args.targets)
    fit = result.fit
    cmp_ = fit[fit.kind.isin(COMPARED_KINDS)]
    failed = cmp_[cmp_.verdict != "pass"]
    print(f"loss {result.best.loss:.4g}; {len(cmp_) - len(failed)}/{len(cmp_)} targets pass; "
          f"{result.evaluations} evaluations ({result.new_runs} new runs) in {result.elapsed_s:.0f} s")
    for _, r in failed.iterrows():
        print(f"  FAIL {r.target}: {r.compared}: simulated {r.sim_mean:.4g} (z {r.z:+.2f})")
    print(args.out)
    print(args.report_dir / "fit.md")
    return EXIT_OK


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
