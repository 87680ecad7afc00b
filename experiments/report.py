"""The comparison's HTML pages, rendered from the jinja2 templates in ``experiments/templates/``.

``report.html.j2`` is the self-contained report (figures embedded as base64 PNG, the stylesheet
``report.css`` inlined); ``outcomes.html.j2`` is the outcome table alone; both use the table
macros of ``tables.html.j2``.  The templates hold every fixed word of the report, so an analyst
can restyle or translate it by editing them (or a copy, passed as ``templates=``) without
touching Python.  Autoescape is on: every text from the results or manifests is escaped.

This module turns one :class:`ReportData` into the plain values the templates show: formatted
numbers (bn yuan per year, or firms), scenario descriptions read from the run manifests, the
overview (scenario x key outcome, ranked by size relative to the baseline), the headline of each
scenario (its key outcomes, then its largest effects by size), and the "reading the baseline" box
(computed from the tables: trend continuation after the calibration years, regions overtaking
each other, steep growth), and the ranking of the scenarios on the headline outcomes.  Effects are
shown by their median and 90% predictive interval over the runs (draws x seeds), with the
probability that the effect is positive and, for runs over parameter draws, the share of its
variance due to the parameters.  An effect is called clear only if it is told apart from 0 after
the Benjamini-Hochberg correction over every effect of the comparison (false discovery rate
:data:`~experiments.effects.FDR`) and it is at least :data:`~experiments.effects.MATERIAL_PCT`
percent of the baseline.
"""

from __future__ import annotations

import base64
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from experiments.effects import FDR, LEVEL, MATERIAL_PCT, baseline_growth, verdict
from experiments.figures import Figure, effect_text, per_year, scenario_colours
from experiments.outcomes import KEY_METRICS, TABLE_OUTCOMES, Outcome
from experiments.plots import fmt_bn
from model.metrics import METRICS
from model.years import CALIBRATION_LAST_YEAR, FIRST_YEAR

TEMPLATES = Path(__file__).resolve().parent / "templates"
SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"


@dataclass(frozen=True)
class ScenarioRun:
    """One compared scenario: its name, its run folder's manifest and its number of seeds."""

    name: str
    manifest: dict
    seeds: int


@dataclass
class ReportData:
    """Everything the report shows, computed by :func:`experiments.compare.compare`."""

    baseline: str
    runs: list[ScenarioRun]  # baseline first, in report order
    outcomes: pd.DataFrame  # experiments.effects.outcome_table
    effects: pd.DataFrame  # experiments.effects.paired_differences
    charted: list[Outcome]  # outcomes of the effect chart and table, in order
    figures: dict[str, list[Figure]]  # section ("effects", "fans", "od") -> figures
    notes: list[str] = field(default_factory=list)  # caveats shown at the top
    mixed: list[tuple[str, str]] = field(default_factory=list)  # (folder, its differing settings)
    keys: dict[str, list[Outcome]] = field(default_factory=dict)  # scenario -> its key outcomes
    lists: dict[str, list[Outcome]] = field(default_factory=dict)  # scenario -> its effect chart's outcomes
    values: pd.DataFrame | None = None  # experiments.outcomes.outcome_values, all years
    crossings: list[dict] = field(default_factory=list)  # experiments.effects.baseline_crossings
    has_draws: bool = False  # the results carry parameter draws: the share due to parameters is shown
    ranking: pd.DataFrame | None = None  # experiments.effects.ranking_table

    @property
    def scenarios(self) -> list[str]:
        return [r.name for r in self.runs]

    @property
    def last_year(self) -> int | None:
        return int(self.effects["year"].max()) if len(self.effects) else None

    def overview(self) -> pd.DataFrame:
        """Scenario x key outcome in the last compared year, ranked by |effect| relative to the
        baseline: scenario, outcome, label, unit, year, baseline_mean, mean_diff, lo, hi,
        rel_diff_pct, rel_lo_pct, rel_hi_pct, p_positive, median, lo90, hi90, param_share,
        q_value (those of :func:`~experiments.effects.paired_differences` that it has), verdict,
        and the first year's effect."""
        rows = []
        d = self.effects
        first = int(d["year"].min()) if len(d) else None
        for s in self.scenarios:
            if s == self.baseline:
                continue
            for oc in self.keys.get(s, []):
                r = d[(d["scenario"] == s) & (d["outcome"] == oc.name)].set_index("year")
                if self.last_year not in r.index:
                    continue
                z = r.loc[self.last_year]
                row = {"scenario": s, "outcome": oc.name, "label": oc.label, "unit": oc.unit,
                       "year": self.last_year, **{k: z[k] for k in (
                           "baseline_mean", "mean_diff", "lo", "hi", "rel_diff_pct", "rel_lo_pct", "rel_hi_pct",
                           "p_positive", "median", "lo90", "hi90", "param_share", "q_value") if k in z},
                       "verdict": verdict(z)}
                if first is not None and first != self.last_year and first in r.index:
                    row |= {"first_year": first, "first_mean_diff": r.at[first, "mean_diff"],
                            "first_rel_diff_pct": r.at[first, "rel_diff_pct"]}
                rows.append(row)
        t = pd.DataFrame(rows)
        if t.empty:
            return t
        order = t["rel_diff_pct"].abs().fillna(-1).sort_values(ascending=False, kind="stable").index
        return t.loc[order].reset_index(drop=True)


# ----------------------------------------------------------------------------- rendering

def environment(templates: Path = TEMPLATES) -> jinja2.Environment:
    """The jinja2 environment of the templates in ``templates`` (autoescape on, strict names)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def write_report(data: ReportData, out: Path, templates: Path = TEMPLATES) -> Path:
    """Write the self-contained ``out/report.html`` and return its path."""
    colours = scenario_colours(data.scenarios, data.baseline)
    page = environment(templates).get_template("report.html.j2").render(
        generated=f"{datetime.now():%Y-%m-%d %H:%M}", baseline=data.baseline, level=f"{LEVEL:.0%}",
        notes=data.notes, mixed=data.mixed, material=f"{MATERIAL_PCT:g}%",
        scenarios=[scenario_card(data, r, colours[r.name]) for r in data.runs],
        figures={k: [_embedded(f) for f in v] for k, v in data.figures.items()},
        overview=overview_rows(data), has_draws=data.has_draws, last_year=data.last_year,
        reading=reading_the_baseline(data), testing=multiple_testing(data.effects),
        ranking=ranking_tables(data), n_draws=n_draws(data.effects),
        effect_tables=effect_tables(data.effects, data.charted, data.has_draws),
        outcome_tables=outcome_tables(data.outcomes, data.scenarios))
    path = Path(out) / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_outcomes_page(data: ReportData, out: Path, templates: Path = TEMPLATES) -> Path:
    """Write ``out/outcomes.html`` (the outcome table alone) and return its path."""
    page = environment(templates).get_template("outcomes.html.j2").render(
        level=f"{LEVEL:.0%}", outcome_tables=outcome_tables(data.outcomes, data.scenarios))
    path = Path(out) / "outcomes.html"
    path.write_text(page, encoding="utf-8")
    return path


def _embedded(fig: Figure) -> dict[str, str]:
    return {"alt": fig.alt, "data": base64.b64encode(Path(fig.path).read_bytes()).decode("ascii")}


# ----------------------------------------------------------------------------- scenarios

def scenario_card(data: ReportData, run: ScenarioRun, colour: str) -> dict:
    """What the report says about one scenario: description, rationale, levers, headline, settings."""
    m = run.manifest
    is_baseline = run.name == data.baseline
    settings = [f"{run.seeds} seeds"] + [f"{k} {m[k]}" for k in ("scale", "until") if k in m]
    if m.get("complete") is False:
        settings.append("INCOMPLETE: some seeds failed")
    base_manifest = next((r.manifest for r in data.runs if r.name == data.baseline), {})
    return {
        "name": run.name, "is_baseline": is_baseline, "colour": colour,
        "description": text_field(m, "description"), "rationale": text_field(m, "rationale"),
        "levers": "" if is_baseline else lever_summary(m, base_manifest),
        "headline": (baseline_headline(data), "") if is_baseline
        else headline_parts(data.effects, run.name, data.lists.get(run.name, data.charted),
                            keys=data.keys.get(run.name, [])),
        "settings": ", ".join(settings), "anchor": anchor(run.name),
        "key_labels": [oc.label for oc in data.keys.get(run.name, [])],
    }


def anchor(name: str) -> str:
    """An HTML id for a scenario's section."""
    return "s-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def text_field(manifest: dict, key: str) -> str:
    """A text field of a run manifest: top level, else under ``scenario`` (if a dict) or
    ``scenario_details``; ``rationale`` is finally read from the scenario file named there."""
    v = manifest.get(key)
    for nested in ("scenario", "scenario_details"):
        if not v and isinstance(manifest.get(nested), dict):
            v = manifest[nested].get(key)
    if not v and key == "rationale":
        v = _from_scenario_file(manifest, key)
    return " ".join(str(v).split()) if v else ""


def _from_scenario_file(manifest: dict, key: str) -> str:
    """``key`` read from the scenario TOML the manifest points to ("" if it cannot be read)."""
    details = manifest.get("scenario_details") or {}
    candidates = [details.get("path") if isinstance(details, dict) else None]
    if manifest.get("scenario_file"):
        candidates.append(SCENARIO_DIR / manifest["scenario_file"])
    for c in candidates:
        try:
            with Path(c).open("rb") as fh:
                return str(tomllib.load(fh).get(key, "") or "")
        except (OSError, TypeError, ValueError):
            continue
    return ""


def _levers(manifest: dict) -> dict:
    details = manifest.get("scenario_details")
    return dict(details.get("levers") or {}) if isinstance(details, dict) else {}


def _fmt_lever(v) -> str:
    if isinstance(v, dict) and "years" in v and "values" in v:
        pts = ", ".join(f"{y}: {x:g}" for y, x in zip(v["years"], v["values"]))
        return f"schedule ({pts})"
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def lever_summary(manifest: dict, baseline_manifest: dict) -> str:
    """"name = value" for the levers the scenario sets to other values than the baseline does."""
    mine, base = _levers(manifest), _levers(baseline_manifest)
    changed = {k: v for k, v in mine.items() if base.get(k) != v}
    return "; ".join(f"{k} = {_fmt_lever(v)}" for k, v in changed.items())


def effect_phrase(r: pd.Series, oc: Outcome, interval: bool = True) -> str:
    """"Beijing output from transferred technology +113 bn yuan (+47.0%, 90% of runs +98 to +127;
    clear)": the mean effect, its size relative to the baseline, the range of 90% of the runs
    (``lo90``-``hi90``; the mean's seed-only interval ``lo``-``hi`` for a table without them)."""
    rel = f"{r['rel_diff_pct']:+.1f}%" if np.isfinite(r["rel_diff_pct"]) else "baseline 0"
    if "lo90" in r:
        lo, hi, what = r["lo90"], r["hi90"], "90% of runs"
    else:
        lo, hi, what = r["lo"], r["hi"], f"{LEVEL:.0%} CI"
    ci = (f", {what} {effect_text(lo, oc.unit)} to {effect_text(hi, oc.unit)}"
          if interval and np.isfinite(lo) else "")
    return f"{oc.label} {effect_text(r['mean_diff'], oc.unit)} {oc.unit} ({rel}{ci}; {verdict(r)})"


def headline(diffs: pd.DataFrame, scenario: str, outcomes: list[Outcome], k: int = 3,
             keys: list[Outcome] = ()) -> str:
    """The scenario's answer in its last year: its key outcomes with effect, interval and size
    relative to the baseline, then the ``k`` largest other effects by size (whether clear or not)."""
    return " ".join(p for p in headline_parts(diffs, scenario, outcomes, k, keys) if p)


def headline_parts(diffs: pd.DataFrame, scenario: str, outcomes: list[Outcome], k: int = 3,
                   keys: list[Outcome] = ()) -> tuple[str, str]:
    """The two sentences of :func:`headline`: the key outcomes, and the largest other effects."""
    info = {oc.name: oc for oc in [*keys, *outcomes]}
    d = diffs[(diffs["scenario"] == scenario) & diffs["outcome"].isin(info)]
    if d.empty:
        return "", ""
    year = int(d["year"].max())
    d = d[d["year"] == year].set_index("outcome")
    parts = []
    key_names = [oc.name for oc in keys if oc.name in d.index]
    parts.append("" if not key_names else f"In {year}, against the baseline: "
                 + "; ".join(effect_phrase(d.loc[n], info[n]) for n in key_names) + ".")
    rest = d[~d.index.isin(key_names) & np.isfinite(d["rel_diff_pct"])]
    top = rest.reindex(rest["rel_diff_pct"].abs().sort_values(ascending=False, kind="stable").index).head(k)
    lead = "Largest other effects by size" if key_names else f"Largest effects by size in {year}"
    parts.append(f"{lead}: " + "; ".join(effect_phrase(r, info[o], interval=False)
                                           for o, r in top.iterrows()) + "." if len(top) else "")
    return parts[0], parts[1]


def baseline_headline(data: ReportData) -> str:
    """The baseline's key outcomes in the last compared year: median and range across seeds."""
    t = data.outcomes
    if data.last_year is None and len(t):
        year = int(t["year"].max())
    else:
        year = data.last_year
    t = t[(t["scenario"] == data.baseline) & (t["year"] == year)].set_index("outcome")
    items = [f"{oc.label} {fmt_value(t.at[oc.name, 'median'], oc.unit)} {per_year(oc.unit)} "
             f"({LEVEL:.0%} of seeds {fmt_value(t.at[oc.name, 'lo'], oc.unit)}–{fmt_value(t.at[oc.name, 'hi'], oc.unit)})"
             for oc in data.keys.get(data.baseline, []) if oc.name in t.index]
    return f"In {year}: " + "; ".join(items) + "." if items else ""


# ----------------------------------------------------------------------------- overview

def _rel(v: float, base: float) -> float:
    """``v`` in percent of abs(``base``) (NaN for a zero or missing base)."""
    return 100 * v / abs(base) if np.isfinite(base) and base != 0 and np.isfinite(v) else np.nan


def _prob(p) -> str:
    """A probability as a percentage: "62%"; ">99%" and "<1%" near (not at) 1 and 0."""
    if p is None or not np.isfinite(p):
        return "n/a"
    if 0.995 <= p < 1:
        return ">99%"
    if 0 < p < 0.005:
        return "<1%"
    return f"{p:.0%}"


def _share(p) -> str:
    return f"{p:.0%}" if p is not None and np.isfinite(p) else "n/a"


def overview_rows(data: ReportData) -> list[dict]:
    """The overview table's rows, formatted: rank, scenario (and its anchor), outcome, baseline,
    typical effect (median) [90% predictive interval], relative size [interval], verdict,
    P(effect > 0), share due to the parameters, the first year's (mean) effect."""
    t = data.overview()
    rows = []
    for i, r in enumerate(t.to_dict("records"), start=1):
        u = r["unit"]
        b = r["baseline_mean"]
        med, lo, hi = r.get("median", r["mean_diff"]), r.get("lo90", r["lo"]), r.get("hi90", r["hi"])
        rel = (f"{_rel(med, b):+.1f}%" if np.isfinite(_rel(med, b)) else "n/a",
               f"[{_rel(lo, b):+.1f} – {_rel(hi, b):+.1f}]"
               if np.isfinite(_rel(med, b)) and np.isfinite(_rel(lo, b)) else "")
        first = ""
        if "first_year" in r and pd.notna(r.get("first_year")):
            fr = r["first_rel_diff_pct"]
            first = f"{effect_text(r['first_mean_diff'], u)}" + (f" ({fr:+.1f}%)" if np.isfinite(fr) else "")
        rows.append({
            "rank": i, "scenario": r["scenario"], "anchor": anchor(r["scenario"]), "outcome": r["label"],
            "unit": per_year(u), "baseline": fmt_value(r["baseline_mean"], u),
            "effect": (effect_text(med, u),
                       f"[{effect_text(lo, u)} – {effect_text(hi, u)}]" if np.isfinite(lo) else ""),
            "relative": rel, "verdict": r["verdict"], "first": first,
            "first_year": int(r["first_year"]) if pd.notna(r.get("first_year")) else None,
            "p_positive": _prob(r["p_positive"]), "param_share": _share(r.get("param_share"))})
    return rows


def multiple_testing(diffs: pd.DataFrame) -> dict:
    """How the effects were tested, for the report's sentence: ``n_tests`` (the effects with a
    p-value: every scenario x outcome x year of the comparison), ``n_clear`` (how many are clear),
    ``fdr`` ("10%")."""
    p = diffs["p_value"] if "p_value" in diffs else pd.Series(dtype=float)
    return {"n_tests": int(np.isfinite(p.to_numpy(dtype=float)).sum()),
            "n_clear": int(diffs["clear"].sum()) if "clear" in diffs else 0, "fdr": f"{FDR:.0%}"}


def n_draws(diffs: pd.DataFrame) -> int:
    """The number of parameter draws the effects are taken over (0: none)."""
    return int(diffs["n_draws"].max()) if "n_draws" in diffs and len(diffs) else 0


def ranking_tables(data: ReportData) -> list[dict]:
    """One table per headline outcome and year of :attr:`ReportData.ranking`: ``title`` (label,
    year), ``unit``, ``n_pairs``, ``rows`` of rank, scenario, anchor, median effect, 90% range,
    P(best), the next scenario and P(ranked above it)."""
    t = data.ranking
    if t is None or t.empty:
        return []
    info = {oc.name: oc for oc in [*TABLE_OUTCOMES, *data.charted]}
    tables = []
    for (name, year), g in t.groupby(["outcome", "year"], sort=False):
        oc = info.get(name)
        u = oc.unit if oc else str(g["unit"].iloc[0])
        rows = [{"rank": int(r["rank"]), "scenario": r["scenario"], "anchor": anchor(r["scenario"]),
                 "median": effect_text(r["median"], u),
                 "range": f"{effect_text(r['lo90'], u)} – {effect_text(r['hi90'], u)}",
                 "p_best": _prob(r["p_best"]),
                 "next": r["next_scenario"] if isinstance(r["next_scenario"], str) else "",
                 "p_above_next": _prob(r["p_above_next"])}
                for r in g.sort_values("rank").to_dict("records")]
        tables.append({"title": f"{oc.label if oc else name}, {int(year)}", "unit": per_year(u),
                       "n_pairs": int(g["n_pairs"].iloc[0]), "rows": rows})
    return tables


def reading_the_baseline(data: ReportData) -> dict:
    """What to keep in mind about the baseline's paths, computed from the tables: the calibrated
    years and the trend continuation after them, regions overtaking each other after
    :data:`~model.years.CALIBRATION_LAST_YEAR`, and outcomes that grow (or fall) steeply."""
    last = None
    if data.values is not None and len(data.values):
        last = int(data.values["year"].max())
    items = []
    for c in data.crossings:
        m = METRICS[c["metric"]]
        unit = per_year(m.unit)
        a, b = c["values"]
        items.append(
            f"{m.title}: {c['follower']} overtakes {c['leader']} around {c['year']} "
            f"(baseline medians {fmt_value(a, m.unit)} against {fmt_value(b, m.unit)} {unit}) and stays ahead "
            f"to {last}; {c['follower']} is ahead in {c['seeds_crossed']} of {c['seeds']} seeds in {last}. "
            f"This happens after {CALIBRATION_LAST_YEAR}: no target checks it.")
    growth = []
    if data.values is not None and last is not None and last > CALIBRATION_LAST_YEAR:
        shown = [oc for oc in data.keys.get(data.baseline, []) or ()] + [
            oc for oc in TABLE_OUTCOMES if oc.metric in KEY_METRICS or oc.metric is None]
        seen = dict.fromkeys(shown)
        for g in baseline_growth(data.values, data.baseline, CALIBRATION_LAST_YEAR, last, list(seen))[:6]:
            oc = g["outcome"]
            growth.append(f"{oc.label}: {fmt_value(g['start'], oc.unit)} → "
                          f"{fmt_value(g['end'], oc.unit)} {per_year(oc.unit)} "
                          f"(×{g['ratio']:.1f}, {CALIBRATION_LAST_YEAR}–{last})")
    return {"first": FIRST_YEAR, "calibrated": CALIBRATION_LAST_YEAR, "last": last,
            "crossings": items, "growth": growth}


# ----------------------------------------------------------------------------- tables

def fmt_value(v: float, unit: str) -> str:
    """A value for a table cell: firms and values of 100 or more whole, else 3 significant figures."""
    if not np.isfinite(v):
        return "n/a"
    if unit == "firms" or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.1f}" if abs(v) >= 10 else f"{v:,.2f}"


def _signed_int(v: float) -> str:
    return "n/a" if not np.isfinite(v) else ("0" if round(v) == 0 else f"{v:+,.0f}")


def outcome_tables(table: pd.DataFrame, scenarios: list[str]) -> list[dict]:
    """One table per year: ``year``, ``columns`` (scenarios), ``rows`` of ``label`` and ``cells``
    ("median [lo - hi]" across seeds, or "n/a")."""
    tables = []
    for y in sorted(table["year"].unique()):
        t = table[table["year"] == y]
        columns = [s for s in scenarios if s in set(t["scenario"])]
        cells = {(r.label, r.unit, r.scenario): f"{fmt_value(r.median, r.unit)} [{fmt_value(r.lo, r.unit)} "
                 f"\u2013 {fmt_value(r.hi, r.unit)}]" for r in t.itertuples()}
        labels = list(dict.fromkeys(zip(t["label"], t["unit"])))
        rows = [{"label": f"{label} ({unit})", "cells": [cells.get((label, unit, s), "n/a") for s in columns]}
                for label, unit in labels]
        tables.append({"year": int(y), "columns": columns, "rows": rows})
    return tables


def effect_tables(diffs: pd.DataFrame, outcomes: list[Outcome], has_draws: bool = False) -> list[dict]:
    """Paired differences of ``outcomes``, one table per year: ``year``, ``columns`` (scenarios),
    ``rows`` of ``label`` and ``cells``; a cell has ``text`` ("median [5% – 95%] (median in % of
    baseline)"), ``detail`` ("above 0 in 97% of runs" and, if ``has_draws``, "60% of spread from
    parameters": the share of the effect's variance due to the parameters), ``excludes_zero`` (True: the mean's seed-only
    interval excludes 0; False: it includes 0; None: no value) and ``verdict`` ("clear": told
    apart from 0 after the multiple-comparison correction and material; "small": told apart,
    under the materiality threshold; "within noise"; None: no value)."""
    info = {oc.name: oc for oc in outcomes}
    d = diffs[diffs["outcome"].isin(info)]
    scenarios = list(dict.fromkeys(d["scenario"]))
    tables = []
    for y in sorted(d["year"].unique()):
        dy = d[d["year"] == y].set_index(["outcome", "scenario"])
        rows = [{"label": f"{oc.label} ({oc.unit})",
                 "cells": [_effect_cell(dy.loc[(oc.name, s)], oc, has_draws) if (oc.name, s) in dy.index
                           else {"text": "n/a", "detail": "", "excludes_zero": None, "verdict": None}
                           for s in scenarios]}
                for oc in outcomes]
        tables.append({"year": int(y), "columns": scenarios, "rows": rows})
    return tables


def _signed(v: float, unit: str) -> str:
    return fmt_bn(v, True) if unit != "firms" else _signed_int(v)


def _effect_cell(r: pd.Series, oc: Outcome, has_draws: bool = False) -> dict:
    med, lo, hi = (r.get("median", r["mean_diff"]), r.get("lo90", r["seed_p05"]),
                   r.get("hi90", r["seed_p95"]))
    rel = _rel(med, r["baseline_mean"])
    pct = f" ({rel:+.1f}%)" if np.isfinite(rel) else ""
    text = f"{_signed(med, oc.unit)} [{_signed(lo, oc.unit)} \u2013 {_signed(hi, oc.unit)}]{pct}"
    detail = (f"above 0 in {_prob(r['p_positive'])} of runs" if not (lo == 0 and hi == 0)
              else "unchanged in at least 90% of runs")
    if has_draws and "param_share" in r:
        detail += f"; {_share(r['param_share'])} of spread from parameters"
    return {"text": text, "detail": detail, "excludes_zero": not bool(r["straddles_zero"]), "verdict": verdict(r)}
