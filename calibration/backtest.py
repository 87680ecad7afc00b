"""``bth backtest``: a forecast test. Calibrate on the targets up to a cutoff year, project the
years after it and score the projection against every sourced figure of those years, beside two
naive forecasts.

    bth backtest --cutoff YEAR [--scale 0.05] [--seeds 8] [--base-seed 0] [--start prior|calibrated]
                 [--sobol 128] [--cycles 4] [--lsq-nfev 8] [--report-seeds 30] [--profile-grid 7]
                 [--search-seed 20251225] [--free a,b,...] [--workers 2 | --scheduler ADDRESS]
                 [--out calibration/backtest/cutoff-YEAR] [--no-progress]

What it does:

1. *Fit set*: the compared targets of ``calibration/targets.toml`` (point, band, lower, upper,
   greater: whatever :func:`calibration.targets.compared_targets` counts) with ``year <= cutoff``.
2. *Calibration*: :func:`calibration.calibrate.calibrate` on the fit set alone (its horizon is the
   latest fit year), starting from the priors by default: ``calibration/calibrated.toml`` was fitted
   to the later years too, so ``--start calibrated`` leaks them into the test.
3. *Projection*: the calibrated point is run over the same seeds (common random numbers) and
   scale to the last test year, through the calibration's own evaluator
   (:meth:`calibration.runner.Evaluator.run_outputs`, :func:`calibration.targets.read_outputs`);
   the model value of a figure is the ensemble mean over those seeds.
4. *Test set*: every compared target of ``targets.toml`` and ``validation.toml`` with
   ``year > cutoff`` and a numeric value.  "point" figures are forecasts proper; a band ("over N",
   read as [N, 1.1 N]) is scored against its midpoint, a bound against its N, each labelled with
   its kind.
5. *Naive forecasts* of each test figure from its *series* - the figures of either file (any kind
   with a numeric value, bounds included) of the same output (region(s) and metric, or origin,
   destination(s) and metric) with ``year <= cutoff``: the last value (the figure of the latest such
   year) and the log-linear trend (least squares of log(value) on year, extrapolated; needs two
   distinct years).  A figure without such a series has neither ("n/a").

Scores are relative errors, (forecast - figure) / figure (dimensionless; 0.05 = 5% too high).

Writes, into OUT (default ``calibration/backtest/cutoff-YEAR/``; never ``calibration/``):
``backtest.md`` (summary and table), ``backtest.csv`` (one row per test figure), ``calibrated.toml``
and ``report/`` (the cutoff calibration, as ``bth calibrate --out`` writes them) and
``.cache/evaluations.jsonl`` (this backtest's own evaluation cache: rerun the same command to resume).
The Markdown is printed at the end.

Exit codes (as ``bth calibrate``): 0 done; 1 the model's code changed during the run, or
``calibrated.toml`` and ``report/`` could not be written (backtest.md and backtest.csv are); 2 bad input
(a ``--cutoff`` outside 2020-2025, with no fit target at or before it or no test figure after it),
an unwritable ``--out`` or an unreachable scheduler; 130 interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from calibration.cli import (CALIBRATED_NAME, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK,
                             REPORT_NAME, _announcement, _bad_input, _free, _shown, add_search_arguments,
                             open_executor)
from calibration.targets import (TARGETS_FILE, VALIDATION_FILE, Output, Target, compared_targets,
                                 load_targets)
from model.years import CALIBRATION_LAST_YEAR, FIRST_YEAR

BACKTEST_DIR = Path(__file__).with_name("backtest")  # default OUT is BACKTEST_DIR / f"cutoff-{YEAR}"
CACHE_NAME = Path(".cache") / "evaluations.jsonl"  # inside OUT: the backtest's own evaluation cache
MARKDOWN_NAME, CSV_NAME = "backtest.md", "backtest.csv"
NA = "n/a"


# ----------------------------------------------------------------------------- figures and series


def series_key(target: Target) -> str:
    """The output(s) a figure measures, without the year: e.g. ``Hebei|contract_turnover_bn`` or
    ``Beijing->Tianjin+Hebei|contract_value_bn``; an inequality joins its two sides with `` > ``.
    Figures of one series measure the same quantity in different years."""
    return " > ".join(_without_year(o) for o in target.outputs)


def _without_year(o: Output) -> str:
    return o.key.split("|", 1)[1]


def is_figure(target: Target) -> bool:
    """True for a figure with a year, an output and a finite numeric value (in its unit)."""
    return target.year is not None and bool(target.outputs) and math.isfinite(target.value)


def split(targets: Sequence[Target], validation: Sequence[Target], cutoff: int) -> tuple[list[Target], list[Target]]:
    """(fit set, test set) for ``cutoff`` (a year).

    The fit set: the compared targets of ``targets`` (targets.toml) with year <= cutoff.  The test
    set: the compared targets of ``targets`` and of ``validation`` (validation.toml), and any other
    figure of ``validation`` with a year, an output and a numeric value, with year > cutoff; an
    inequality without a value is not a figure and is left out.  No target is in both."""
    fit = [t for t in compared_targets(targets) if t.year <= cutoff]
    candidates = compared_targets(targets) + [t for t in validation if t.compared or is_figure(t)]
    test = [t for t in candidates if is_figure(t) and t.year > cutoff]
    return fit, test


def figure_value(target: Target) -> float:
    """The number a figure is scored against, in its unit: its value, or for a band ("over N", read
    as [N, upper]) the band's midpoint."""
    if target.kind == "band" and math.isfinite(getattr(target, "upper", math.nan)):
        return (target.value + target.upper) / 2
    return target.value


def series(figure: Target, pool: Iterable[Target], cutoff: int) -> list[tuple[int, float]]:
    """The earlier figures of ``figure``'s series: (year, value) for every figure of ``pool`` (any
    kind with a numeric value) of the same :func:`series_key` with year <= ``cutoff``, by year."""
    key = series_key(figure)
    return sorted((t.year, figure_value(t)) for t in pool
                  if is_figure(t) and t.year <= cutoff and t is not figure and series_key(t) == key)


def last_value(points: Sequence[tuple[int, float]]) -> float:
    """Naive forecast 1: the value at the latest year of ``points`` ((year, value) pairs; the mean if
    that year has several figures), in the figure's unit; NaN if there is none."""
    if not points:
        return math.nan
    latest = max(y for y, _ in points)
    return float(np.mean([v for y, v in points if y == latest]))


def log_linear_trend(points: Sequence[tuple[int, float]], year: int) -> float:
    """Naive forecast 2: least squares of log(value) on year over ``points`` ((year, value) pairs),
    extrapolated to ``year``: exp(a + b*year), in the values' unit (b is the growth rate in log
    points a year).  NaN with fewer than two distinct years or a value that is not positive."""
    years = np.array([y for y, _ in points], float)
    values = np.array([v for _, v in points], float)
    if len(np.unique(years)) < 2 or not np.all(values > 0):
        return math.nan
    b, a = np.polyfit(years - years.mean(), np.log(values), 1)
    return float(np.exp(a + b * (year - years.mean())))


def relative_error(forecast: float, figure: float) -> float:
    """(forecast - figure) / figure, dimensionless (0.05: 5% too high); NaN if either is missing or
    the figure is 0."""
    if not (math.isfinite(forecast) and math.isfinite(figure)) or figure == 0:
        return math.nan
    return (forecast - figure) / figure


def model_value(target: Target, mean: Mapping[str, float]) -> float:
    """The model's value of a figure from the ensemble means by output key: its output, or for an
    inequality with a value, left - right (as the fit report shows it); NaN if an output is missing."""
    if target.output is not None:
        return float(mean.get(target.output.key, math.nan))
    return float(mean.get(target.left.key, math.nan) - mean.get(target.right.key, math.nan))


# ----------------------------------------------------------------------------- scoring


@dataclass
class Row:
    """One test figure, its model projection and its naive forecasts (values in the figure's unit;
    errors relative, dimensionless)."""

    name: str
    source: str  # "targets" or "validation"
    kind: str
    year: int
    value: float
    unit: str
    series: str
    upper: float  # a band's upper end (NaN for other kinds); ``value`` is then the band's midpoint
    model_mean: float
    last_value: float
    last_value_year: float  # the year the last value is from (NaN if none)
    trend: float
    trend_points: int  # figures the trend is fitted to (0 if none)

    @property
    def model_error(self) -> float:
        return relative_error(self.model_mean, self.value)

    @property
    def last_value_error(self) -> float:
        return relative_error(self.last_value, self.value)

    @property
    def trend_error(self) -> float:
        return relative_error(self.trend, self.value)

    @property
    def best(self) -> str:
        """The forecast closest to the figure: "model", "last value" or "trend" (the model on a tie)."""
        errs = [("model", self.model_error), ("last value", self.last_value_error), ("trend", self.trend_error)]
        errs = [(n, abs(e)) for n, e in errs if math.isfinite(e)]
        return min(errs, key=lambda ne: ne[1])[0] if errs else NA


def score(test: Sequence[Target], pool: Sequence[Target], mean: Mapping[str, float], cutoff: int,
          validation_names: Iterable[str] = ()) -> list[Row]:
    """One :class:`Row` per test figure, given the model's ensemble means by output key; ``pool`` is
    every figure of both files (the naive series come from it)."""
    in_validation = set(validation_names)
    rows = []
    for t in test:
        pts = series(t, pool, cutoff)
        last_year = max((y for y, _ in pts), default=math.nan)
        trend = log_linear_trend(pts, t.year)
        rows.append(Row(name=t.name, source="validation" if t.name in in_validation else "targets", kind=t.kind,
                        year=t.year, value=figure_value(t), unit=t.unit, series=series_key(t),
                        upper=float(getattr(t, "upper", math.nan)),
                        model_mean=model_value(t, mean), last_value=last_value(pts), last_value_year=last_year,
                        trend=trend, trend_points=len(pts) if math.isfinite(trend) else 0))
    return rows


def summary(rows: Sequence[Row]) -> list[str]:
    """Summary lines: per naive forecast, on how many figures (of those where it exists) the model
    is closer, and the mean absolute relative error of both on those figures; the model's own over
    every figure with a model value."""
    lines = []
    model = [abs(r.model_error) for r in rows if math.isfinite(r.model_error)]
    lines.append(f"model: mean absolute relative error {_abs_pct(np.mean(model)) if model else NA} "
                 f"over {len(model)} of {len(rows)} figures")
    for label, attr in (("last value", "last_value_error"), ("trend", "trend_error")):
        both = [(abs(r.model_error), abs(getattr(r, attr))) for r in rows
                if math.isfinite(r.model_error) and math.isfinite(getattr(r, attr))]
        if not both:
            lines.append(f"{label}: no figure has a {label} forecast")
            continue
        wins = sum(m < n for m, n in both)
        lines.append(f"model beats {label} on {wins} of {len(both)} figures with a {label} forecast; "
                     f"mean absolute relative error on those: model {_abs_pct(np.mean([m for m, _ in both]))}, "
                     f"{label} {_abs_pct(np.mean([n for _, n in both]))}")
    return lines


# ----------------------------------------------------------------------------- files


COLUMNS = ("figure", "source", "kind", "year", "value", "upper", "unit", "series", "model_mean", "model_error",
           "last_value", "last_value_year", "last_value_error", "trend", "trend_points", "trend_error", "best")


def to_frame(rows: Sequence[Row]):
    """The rows as a pandas DataFrame with :data:`COLUMNS` (errors relative, dimensionless)."""
    import pandas as pd

    return pd.DataFrame([dict(figure=r.name, source=r.source, kind=r.kind, year=r.year, value=r.value,
                              upper=r.upper, unit=r.unit, series=r.series, model_mean=r.model_mean,
                              model_error=r.model_error,
                              last_value=r.last_value, last_value_year=r.last_value_year,
                              last_value_error=r.last_value_error, trend=r.trend, trend_points=r.trend_points,
                              trend_error=r.trend_error, best=r.best) for r in rows], columns=list(COLUMNS))


def markdown(rows: Sequence[Row], cutoff: int, until: int, fit: Sequence[Target], meta: Mapping[str, object]) -> str:
    """``backtest.md``: what was fitted and projected, the summary lines and one table row per figure."""
    from calibration.report import format_number as num

    head = [f"# Backtest: calibrated on figures up to {cutoff}, projected to {until}", "",
            f"Calibrated on {len(fit)} compared targets of calibration/targets.toml with year <= {cutoff} "
            f"({meta.get('free_count', '?')} free parameters; loss {meta.get('loss', float('nan')):.4g}); "
            f"the model value is the mean of seeds {meta.get('seeds')} at scale {meta.get('scale')}, "
            f"start: {meta.get('start')}. Tested on {len(rows)} figures after {cutoff} "
            "(targets.toml and validation.toml). Errors are (forecast - figure) / figure; the naive "
            f"forecasts use the figures of the same output up to {cutoff} (any kind, bounds included); "
            "a figure of another kind than point (a bound, a band) is scored against its stated value "
            "(the N of \"over N\"; a band's upper end is in the CSV).", ""]
    head += [f"* {line}" for line in summary(rows)]
    points = [r for r in rows if r.kind == "point"]
    if points and len(points) < len(rows):
        head += ["", f"Point figures only ({len(points)}):", ""] + [f"* {line}" for line in summary(points)]
    head.append("")
    table = ["| figure | kind | year | figure value | unit | model mean | model error | last value | error "
             "| trend | error | best |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        last = f"{num(r.last_value)} ({int(r.last_value_year)})" if math.isfinite(r.last_value) else NA
        trend = f"{num(r.trend)} ({r.trend_points} pts)" if math.isfinite(r.trend) else NA
        table.append(f"| {r.name} | {r.kind} | {r.year} | {num(r.value)} | {r.unit} | {num(r.model_mean) or NA} "
                     f"| {_pct(r.model_error)} | {last} | {_pct(r.last_value_error)} | {trend} "
                     f"| {_pct(r.trend_error)} | {r.best} |")
    return "\n".join(head + table) + "\n"


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%" if math.isfinite(x) else NA


def _abs_pct(x: float) -> str:
    return f"{100 * x:.1f}%" if math.isfinite(x) else NA


# ----------------------------------------------------------------------------- command


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bth backtest", description=(
        "Forecast test: calibrate on the targets of calibration/targets.toml up to --cutoff, project the "
        "calibrated model to the last later figure, and report the relative error on every sourced figure "
        "after the cutoff (targets.toml and validation.toml) beside two naive forecasts (last value, "
        "log-linear trend). Writes OUT/backtest.md, backtest.csv, calibrated.toml and report/; never "
        "calibration/calibrated.toml. Resumable: rerun the same command."))
    p.add_argument("--cutoff", required=True, metavar="YEAR",
                   help=f"last year the calibration sees, in {FIRST_YEAR}-{CALIBRATION_LAST_YEAR}; the figures "
                        "after it are the test (so it needs one after it)")
    p.add_argument("--start", choices=("prior", "calibrated"), default="prior",
                   help="where the search starts: the priors (default) or calibration/calibrated.toml's point "
                        "(fitted to the years after the cutoff too: it leaks them into the test)")
    add_search_arguments(p)
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"output folder (default {_shown(BACKTEST_DIR)}/cutoff-YEAR)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bth backtest``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from calibration.targets import TargetError

    try:
        cutoff = _cutoff(args.cutoff)
        targets, validation = load_targets(TARGETS_FILE), load_targets(VALIDATION_FILE)
        fit, test = split(targets, validation, cutoff)
        if not fit:
            raise ValueError(f"--cutoff {cutoff}: no calibration target in {FIRST_YEAR}-{cutoff} to calibrate on")
        if not test:
            raise ValueError(f"--cutoff {cutoff}: no sourced figure after {cutoff} to test the projection on")
        free = _free(args.free)
        settings = _settings(args)
    except (TargetError, OSError, ValueError) as err:
        return _bad_input(str(err))
    out = args.out if args.out is not None else BACKTEST_DIR / f"cutoff-{cutoff}"
    from calibration.defaults import CALIBRATED_FILE

    if out.suffix == ".toml" or out.is_file():
        return _bad_input(f"--out {out}: expected a folder (it receives {MARKDOWN_NAME}, {CSV_NAME}, "
                          f"{CALIBRATED_NAME} and {REPORT_NAME}/)")
    if (out / CALIBRATED_NAME).resolve() == CALIBRATED_FILE.resolve():
        return _bad_input(f"--out {out}: that is the calibration folder, whose {CALIBRATED_NAME} every scenario "
                          "reads; name another folder")
    executor, code = open_executor(args, out)
    if executor is None:
        return code
    try:
        return _run(args, cutoff, targets, validation, fit, test, free, settings, executor, out)
    finally:
        executor.close()


def _run(args, cutoff, targets, validation, fit, test, free, settings, executor, out: Path) -> int:
    from calibration.calibrate import calibrate, write_outputs
    from calibration.runner import Cache, Evaluator, ModelChanged, current_code_hash
    from calibration.targets import all_outputs
    from calibration.loss import ensemble_mean

    until = max(t.year for t in test)
    cache = Cache(out / CACHE_NAME)
    try:
        print(_announcement(settings, fit, free, executor.workers, bool(args.scheduler), out), flush=True)
        print(f"backtest: {len(fit)} targets up to {cutoff} fitted; the calibrated point is then run on "
              f"{len(settings.seeds)} seed{'s' if len(settings.seeds) != 1 else ''} to {until} and scored on {len(test)} figures after {cutoff}", flush=True)
        result = calibrate(settings, fit, free=free, cache=cache, progress=not args.no_progress, executor=executor)
        ev = Evaluator(test, result.space, settings.seeds, settings.scale, until, cache, executor)
        # every test figure's outputs, whatever its kind (the evaluator keeps those of compared ones)
        ev.outputs = all_outputs(test)
        ev.output_keys = [o.key for o in ev.outputs]
        runs = ev.run_outputs([result.best.values])[0]
        if current_code_hash() != result.code:
            raise ModelChanged(f"the model's code changed during the backtest (code hash {result.code} -> "
                               f"{current_code_hash()}); rerun to test the current model")
    except KeyboardInterrupt:
        cache.close()
        print(f"interrupted; finished runs are kept in {out / CACHE_NAME}; rerun the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModelChanged as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as err:  # e.g. the cache under OUT cannot be written
        return _bad_input(f"{err.filename or out}: {err.strerror or err}")
    finally:
        cache.close()
    rows = score(test, list(targets) + list(validation), ensemble_mean(runs), cutoff, (t.name for t in validation))
    meta = dict(loss=result.best.loss, seeds=list(settings.seeds), scale=settings.scale,
                start="calibrated.toml's point" if settings.start else "the priors", free_count=len(result.space.free))
    text = markdown(rows, cutoff, until, fit, meta)
    try:  # the test's own files first: a failure writing the calibration's files does not lose them
        to_frame(rows).to_csv(out / CSV_NAME, index=False, float_format="%.6g")
        (out / MARKDOWN_NAME).write_text(text, encoding="utf-8")
    except OSError as err:
        return _bad_input(f"cannot write the backtest's files into {out}: {err.strerror or err}")
    print(text, end="")
    print(out / MARKDOWN_NAME)
    try:
        write_outputs(result, out / CALIBRATED_NAME, out / REPORT_NAME, targets_file=TARGETS_FILE)
    except OSError as err:
        return _bad_input(f"cannot write the calibration's files into {out}: {err.strerror or err}")
    except TypeError as err:
        # calibration.report's TOML writer refuses a numpy bool: calibration.search.identified() gives
        # one for a parameter the fit set does not constrain (infinite standard error), as happens
        # when the cutoff leaves fewer fit targets than free parameters
        print(f"error: {MARKDOWN_NAME} and {CSV_NAME} are written, but not {CALIBRATED_NAME} and "
              f"{REPORT_NAME}/: {err}", file=sys.stderr)
        return EXIT_FAILED
    print(out / CALIBRATED_NAME)
    return EXIT_OK


def _cutoff(text: str) -> int:
    """The --cutoff year: a whole number in FIRST_YEAR..CALIBRATION_LAST_YEAR (2020-2025)."""
    try:
        year = int(text)
    except ValueError:
        raise ValueError(f"--cutoff: expected a year in {FIRST_YEAR}-{CALIBRATION_LAST_YEAR}, got {text!r}") from None
    if not FIRST_YEAR <= year <= CALIBRATION_LAST_YEAR:
        raise ValueError(f"--cutoff {year}: expected a year in {FIRST_YEAR}-{CALIBRATION_LAST_YEAR}")
    return year


def _settings(args: argparse.Namespace):
    """The cutoff calibration's :class:`calibration.search.Settings` (sobol-lsq)."""
    from calibration.defaults import calibrated_params
    from calibration.search import Settings

    start = ()
    if args.start == "calibrated":
        point = calibrated_params()
        if not point:
            raise ValueError("--start calibrated: calibration/calibrated.toml has no point estimate")
        start = tuple(sorted(point.items()))
    return Settings(start=start, scale=args.scale, seeds=tuple(range(args.base_seed, args.base_seed + args.seeds)),
                    search_seed=args.search_seed, n_sobol=args.sobol, cycles=args.cycles, lsq_nfev=args.lsq_nfev,
                    report_seeds=max(args.report_seeds, args.seeds), profile_grid=max(2, args.profile_grid))


if __name__ == "__main__":
    sys.exit(main())
