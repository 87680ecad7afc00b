"""The ``bth`` command: a thin layer over :mod:`experiments.api`.

    bth run SCENARIO.toml [more.toml ...] [--seeds 10] [--scale 0.1] [--until YEAR]
            [--out results] [--workers N] [--scheduler ADDRESS] [--stepping vectorised]
            [--base-seed 0] [--fresh] [--strict] [--draws 0] [--posterior FILE]
    bth compare RESULT_DIR ... [--out results/comparison] [--baseline NAME] [--allow-mixed] [--force]
    bth calibrate ...    (calibration.cli)
    bth fit RUN_DIR      (experiments.fit_check: a run's seed means against the calibration targets)
    bth bench ...        (experiments.bench)
    bth app [RESULTS_DIR] [--host 127.0.0.1] [--port 8765]   (experiments.app: the workbench)
    bth export RESULTS_DIR --format csv|xlsx --out FILE [--force]   (experiments.export)

Exit codes of ``bth run`` and ``bth compare``:

* 0 - done: every run succeeded (``run``), the report is written (``compare``).
* 1 - some run failed (``run``): the finished runs are kept, tracebacks are saved as
  ``runs/seed-NNNN.error.txt``; rerun the same command to retry the failed ones.
* 2 - refused, one ``error:`` line on stderr and no traceback: bad option value; bad or missing
  scenario file; ``--draws`` without a posterior file (``bth posterior`` makes it) or with a
  malformed one; a run folder made with other settings, another model code, another posterior
  or other draws (``--fresh`` recomputes); a run folder another live process is writing (its lock names the holder); an
  I/O error (``--out`` is a file, disk full, read-only folder, unreadable manifest); an
  unreachable ``--scheduler``; run folders that are not finished, or of different settings
  (``compare`` without ``--allow-mixed``); an ``--out`` that already holds a comparison
  (``compare`` without ``--force``); a scenario warning under ``run --strict``.  Bad input is found before anything is written;
  an I/O error mid-run keeps every finished run and every scenario's earlier tables.
* 130 - interrupted (Ctrl-C): finished runs are kept; rerun the same command to resume.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from experiments import store
from experiments.ensemble import STEPPINGS


def _lazy_module(name: str):
    """The module ``name``, executed on first attribute use (``importlib.util.LazyLoader``):
    ``bth --help`` and the light paths do not pay for pandas, Mesa and the model."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)
    return module


api = _lazy_module("experiments.api")  # imports pandas and the model when first used

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bth``; returns the exit code.  A stale or missing build of the model's
    compiled kernels is bad input: one line naming the fix, exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except ImportError as err:
        from model.version import KernelBuildError

        if not isinstance(err, KernelBuildError):
            raise
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "calibrate":
        from calibration.cli import main as calibrate_main

        return calibrate_main(argv[1:])
    if argv and argv[0] == "posterior":
        from calibration.posterior import main as posterior_main

        return posterior_main(argv[1:])
    if argv and argv[0] == "backtest":
        from calibration.backtest import main as backtest_main

        return backtest_main(argv[1:])
    if argv and argv[0] == "fit":
        from experiments.fit_check import main as fit_main

        return fit_main(argv[1:])
    if argv and argv[0] == "sensitivity":
        from experiments.sensitivity import main as sensitivity_main

        return sensitivity_main(argv[1:])
    if argv and argv[0] == "bench":
        from experiments.bench import main as bench_main

        return bench_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    return args.func(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bth", description="Technology transfer in Beijing-Tianjin-Hebei: run and compare scenarios.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run scenarios as seed ensembles",
                              description="Run each scenario with the same seeds; writes OUT/<scenario>/.")
    run.add_argument("scenarios", nargs="+", metavar="SCENARIO.toml",
                     help="scenario files (or names of shipped scenarios, e.g. baseline)")
    run.add_argument("--seeds", type=_positive_int, default=10, help="seeds per scenario (default 10)")
    run.add_argument("--scale", type=_fraction, default=0.1,
                     help="fraction of real-world firms simulated, in (0, 1] (default 0.1)")
    run.add_argument("--until", type=_year, default=None,
                     help="last simulated year (default: each scenario's horizon, else 2035)")
    run.add_argument("--out", type=Path, default=Path("results"), help="output folder (default results)")
    run.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                     help="local worker processes (default: number of CPUs; 1 = no subprocesses)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    run.add_argument("--stepping", choices=STEPPINGS, default="vectorised",
                     help="model step implementation (default vectorised)")
    run.add_argument("--base-seed", type=_non_negative_int, default=0,
                     help="first seed; seeds are BASE .. BASE+N-1 (default 0)")
    run.add_argument("--draws", type=_non_negative_int, default=0,
                     help="posterior draws per scenario, each run with every seed (the same draws "
                          "for every scenario; tables gain a draw column); 0 = the calibrated "
                          "point estimate (default 0)")
    run.add_argument("--posterior", type=Path, default=None, metavar="FILE",
                     help="posterior file of --draws (default calibration/posterior.parquet, "
                          "written by 'bth posterior')")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--fresh", action="store_true",
                     help="discard the stored runs of the scenarios named (e.g. made by other "
                          "model code) and recompute them")
    run.add_argument("--strict", action="store_true",
                     help="treat scenario warnings (a lever changed by 2025, which alters the "
                          "calibrated history; a what-if without a rationale) as errors")
    run.set_defaults(func=cmd_run)

    compare = commands.add_parser("compare", help="compare run folders against the baseline",
                                  description="Write an HTML report comparing run folders.")
    compare.add_argument("result_dirs", nargs="+", type=Path, metavar="RESULT_DIR",
                         help="run folders OUT/<scenario> written by 'bth run'")
    compare.add_argument("--out", type=Path, default=Path("results/comparison"),
                         help="report folder (default results/comparison)")
    compare.add_argument("--baseline", default="baseline", help="scenario to compare against")
    compare.add_argument("--allow-mixed", action="store_true",
                         help="compare run folders of different scale, horizon or model code "
                              "(the report says so)")
    compare.add_argument("--force", action="store_true",
                         help="replace the comparison already in --out (without it, bth compare "
                              "refuses to overwrite one)")
    compare.set_defaults(func=cmd_compare)

    commands.add_parser("calibrate", help="calibrate the model (see 'bth calibrate --help')")
    commands.add_parser("posterior", help="ABC-SMC posterior of the free parameters (see 'bth posterior --help')")
    commands.add_parser("sensitivity", help="Sobol sensitivity of headline outcomes and scenario effects (see 'bth sensitivity --help')")
    commands.add_parser("backtest", help="forecast test: calibrate up to a cutoff year (see 'bth backtest --help')")
    commands.add_parser("fit", help="check a run folder against the calibration targets (see 'bth fit --help')")
    commands.add_parser("bench", help="benchmark the model (see 'bth bench --help')")

    app = commands.add_parser("app", help="open the workbench (Explore, What if, Export) in a browser",
                              description="Serve the workbench, a Solara app, for the run folders "
                                          "under RESULTS_DIR (default results).")
    app.add_argument("results_dir", nargs="?", type=Path, default=Path("results"), metavar="RESULTS_DIR",
                     help="folder of run folders written by 'bth run --out' (default results)")
    app.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only; the app runs "
                          "simulations for whoever can reach it)")
    app.add_argument("--port", type=_port, default=8765, help="port (default 8765)")
    app.set_defaults(func=cmd_app)

    export = commands.add_parser("export", help="write a results folder's tables as CSV or xlsx",
                                 description="Write the tidy tables (regions, flows) and the manifest "
                                             "of the run folders in RESULTS_DIR for spreadsheet users.")
    export.add_argument("results_dir", type=Path, metavar="RESULTS_DIR",
                        help="a run folder OUT/<scenario>, or OUT holding several")
    export.add_argument("--format", choices=("csv", "xlsx"), required=True,
                        help="xlsx: one workbook, a sheet per table; csv: a .zip of CSV files if "
                             "--out ends in .zip, else a folder of CSV files")
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="file (or folder) to write")
    export.add_argument("--force", action="store_true", help="replace --out if it exists")
    export.set_defaults(func=cmd_export)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """``bth run``: validate every scenario file first, then run the ensembles."""
    import warnings

    from experiments.draws import PosteriorError
    from scenarios import ScenarioError, ScenarioWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ScenarioWarning)
            scenarios = [api.load_scenario(path) for path in args.scenarios]
    except ScenarioError as err:
        return _bad_input(str(err))
    for w in caught:
        if not issubclass(w.category, ScenarioWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        elif args.strict:
            return _bad_input(f"{w.message} (--strict)")
        else:
            print(f"warning: {_one_line(str(w.message))}", file=sys.stderr)
    try:
        results = api.run_ensemble(
            scenarios, seeds=args.seeds, scale=args.scale, until=args.until, out=args.out,
            workers=args.workers, scheduler=args.scheduler, stepping=args.stepping,
            progress=not args.no_progress, base_seed=args.base_seed, fresh=args.fresh,
            draws=args.draws, posterior=args.posterior,
        )
    except (store.RunFolderConflict, api.SettingsError, PosteriorError) as err:
        return _bad_input(str(err))
    except api.RunsFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except OSError as err:  # I/O, or the Dask scheduler cannot be reached
        return _bad_input(_os_error(err, args))
    except KeyboardInterrupt:
        print(f"interrupted; finished runs are kept in {args.out}, rerun the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    for run_dir in results.run_dirs:
        print(run_dir)
    if results.failures:
        print(f"error: {len(results.failures)} run(s) failed: "
              + ", ".join(f"{f.scenario} {f.run}" for f in results.failures)
              + f"; tracebacks in runs/{'seed-NNNN' if args.draws == 0 else 'draw-DDDD-seed-NNNN'}"
              + ".error.txt, rerun the same command to retry them",
              file=sys.stderr)
        return EXIT_RUN_FAILED
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """``bth compare``: report on the run folders given (a parent folder: the run folders in it,
    naming the sub-folders skipped); refuses an --out holding a comparison unless --force."""
    missing = [d for d in args.result_dirs if not d.is_dir()]
    if missing:
        return _bad_input(f"{missing[0]}: no such folder")
    from experiments.compare import ComparisonExists, check_out, compare, scan_run_dirs

    try:
        check_out(args.out, force=args.force)
    except ComparisonExists as err:
        return _bad_input(str(err))
    run_dirs, notes = scan_run_dirs(args.result_dirs, skip=args.out)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not run_dirs:
        return _bad_input("no finished run folders given (each needs a regions.parquet)")

    try:
        report = compare(run_dirs, args.out, baseline=args.baseline, allow_mixed=args.allow_mixed,
                         force=args.force)
    except (store.MixedRunsError, store.RunFolderError) as err:
        return _bad_input(_one_line(str(err)))
    except ValueError as err:  # e.g. the baseline is not among the folders
        return _bad_input(_one_line(str(err)))
    except OSError as err:
        return _bad_input(store.describe_os_error(err))
    print(report)
    return EXIT_OK


def cmd_app(args: argparse.Namespace) -> int:
    """``bth app``: serve the workbench (solara is imported here, not for ``bth --help``)."""
    if args.results_dir.exists() and not args.results_dir.is_dir():
        return _bad_input(f"{args.results_dir}: a file, not a results folder")
    if not args.results_dir.exists() and args.results_dir != Path("results"):
        # the default may not exist yet (the What-if view needs no results); a named one must
        return _bad_input(f"{args.results_dir}: no such folder")
    try:
        from experiments.app_server import serve
    except ImportError as err:
        return _bad_input(f"bth app needs solara ({err}); run bash scripts/setup.sh")
    try:
        serve(args.results_dir, host=args.host, port=args.port)
    except KeyboardInterrupt:
        return EXIT_OK
    except OSError as err:  # e.g. the port is taken
        return _bad_input(f"{args.host}:{args.port}: {store.describe_os_error(err)}")
    except SystemExit as err:  # uvicorn exits with 1 when it cannot bind
        if err.code not in (None, 0):
            return _bad_input(f"{args.host}:{args.port}: cannot serve there (port taken or address "
                              "not on this machine)")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """``bth export``: the tidy tables of RESULTS_DIR as xlsx, a zip of CSV, or a CSV folder."""
    from experiments.export import ExportError, export

    try:
        written = export(args.results_dir, args.format, args.out, force=args.force)
    except (ExportError, store.RunFolderError) as err:
        return _bad_input(str(err))
    except OSError as err:
        return _bad_input(store.describe_os_error(err))
    print(written)
    return EXIT_OK


def _bad_input(message: str) -> int:
    print(f"error: {_one_line(message)}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "(no message)"


def _os_error(err: OSError, args: argparse.Namespace) -> str:
    """One line for an I/O or connection error of ``bth run``."""
    text = store.describe_os_error(err)
    if (args.scheduler and err.errno is None and not isinstance(err, store.StoreError)
            and args.scheduler not in text):
        return f"Dask scheduler {args.scheduler}: {text}"
    return text


# ----------------------------------------------------------------- option types


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return value


def _year(text: str) -> int:
    from model.years import MAX_HORIZON, MIN_HORIZON

    value = _int(text)
    if not MIN_HORIZON <= value <= MAX_HORIZON:
        raise argparse.ArgumentTypeError(
            f"expected a year between {MIN_HORIZON} and {MAX_HORIZON}, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _port(text: str) -> int:
    value = _int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port between 1 and 65535, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
