"""What ``Results`` shows in a notebook: its effects table, fan charts and an HTML summary.

``Results.effects()``, ``Results.fan(metric, region)`` and ``Results._repr_html_()`` (in
:mod:`experiments.api`) call the functions here, so the API module stays light.  The effects are
:func:`experiments.effects.paired_differences` (the statistics of ``bth compare``); the fan chart
is the workbench's (:func:`experiments.app_views.fan_view`).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

BASELINE = "baseline"


def _baseline(results: Any, baseline: str | None) -> str:
    if baseline is not None:
        return baseline
    names = list(dict.fromkeys(map(str, results.regions["scenario"])))
    return BASELINE if BASELINE in names or not names else names[0]


def effects(results: Any, baseline: str | None = None, years=None, outcomes=None) -> pd.DataFrame:
    """The paired-differences table of ``results`` against ``baseline`` (default ``"baseline"``,
    else the first scenario): one row per scenario, outcome and year, with the mean difference,
    its 90% interval and the size relative to the baseline (see
    :func:`experiments.effects.paired_differences`).  ``years`` default: 2030 and the horizon
    where simulated, else the last simulated year; ``outcomes`` default: the comparison's."""
    from experiments.effects import paired_differences
    from experiments.outcomes import TABLE_OUTCOMES, YEARS

    base = _baseline(results, baseline)
    if years is None:
        present = sorted(int(y) for y in results.regions["year"].unique())
        years = [y for y in YEARS if y in present] or present[-1:]
    return paired_differences(results.regions, results.flows, base, years=years,
                              outcomes=tuple(outcomes) if outcomes is not None else TABLE_OUTCOMES)


def fan(results: Any, metric: str, region: str, baseline: str | None = None,
        scenarios: list[str] | None = None, years: tuple[int, int] | None = None):
    """A matplotlib Figure: the fan chart of ``metric`` in ``region``, each scenario's median
    with its 50% and 90% seed bands, the baseline as an outline.  Raises ``KeyError`` naming
    the known metrics or regions if either is not in the results."""
    from model.metrics import METRICS

    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    present = sorted(map(str, results.regions["region"].unique()))
    if region not in present:
        raise KeyError(f"region {region!r} is not in the results; present: {', '.join(present)}")
    from experiments.app_views import fan_view

    base = _baseline(results, baseline)
    names = list(dict.fromkeys(map(str, results.regions["scenario"])))
    chosen = scenarios if scenarios is not None else [s for s in names if s != base]
    return fan_view(results.regions, metric, region, chosen, base, years).figure


def summary_html(results: Any) -> str:
    """A short HTML summary: scenarios (seeds, folder), years, regions, metrics, table sizes and
    failures; no whole tables."""
    r, f = results.regions, results.flows
    esc = html.escape
    rows = []
    if len(r):
        g = r.groupby("scenario", sort=False)["seed"]
        seeds = g.unique()
        for s in dict.fromkeys(map(str, r["scenario"])):
            ss = sorted(int(x) for x in seeds[s])
            rng = f"{ss[0]}\u2013{ss[-1]}" if ss == list(range(ss[0], ss[-1] + 1)) and len(ss) > 1 \
                else ", ".join(map(str, ss))
            folder = next((str(p) for p in results.run_dirs if p.name == s), "in memory")
            rows.append(f"<tr><td>{esc(s)}</td><td>{len(ss)}</td><td>{esc(rng)}</td><td>{esc(folder)}</td></tr>")
    years = sorted(int(y) for y in r["year"].unique()) if len(r) else []
    metrics = sorted(map(str, r["metric"].unique())) if len(r) else []
    regions = list(dict.fromkeys(map(str, r["region"]))) if len(r) else []
    failures = (f"<p style='color:#b2182b'>{len(results.failures)} run(s) failed: "
                + esc(", ".join(f"{x.scenario} seed {x.seed}" for x in results.failures[:10]))
                + ("\u2026" if len(results.failures) > 10 else "") + "</p>") if results.failures else ""
    head = (f"{r['scenario'].nunique()} scenario(s), years {years[0]}\u2013{years[-1]}" if years
            else "empty")
    table = ("<table><thead><tr><th>scenario</th><th>seeds</th><th>seed ids</th><th>run folder</th>"
             f"</tr></thead><tbody>{''.join(rows)}</tbody></table>") if rows else ""
    return (f"<div class='bth-results'><b>Results</b>: {head}{table}"
            f"<p>regions: {esc(', '.join(regions))}<br>metrics ({len(metrics)}): {esc(', '.join(metrics))}<br>"
            f"tables: <code>regions</code> {len(r):,} rows, <code>flows</code> {len(f):,} rows "
            "(values at real-world scale; bn yuan per year, counts in firms)<br>"
            "<code>.effects()</code>: paired differences to the baseline; "
            "<code>.fan(metric, region)</code>: a fan chart</p>"
            f"{failures}</div>")
