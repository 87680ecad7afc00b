"""The comparison's HTML pages, rendered from the jinja2 templates in ``experiments/templates/``.

``report.html.j2`` is the self-contained report (figures embedded as base64 PNG, the stylesheet
``report.css`` inlined); ``outcomes.html.j2`` is the outcome table alone; both use the table
macros of ``tables.html.j2``.  The templates hold every fixed word of the report, so an analyst
can restyle or translate it by editing them (or a copy, passed as ``templates=``) without
touching Python.  Autoescape is on: every text from the results or manifests is escaped.

This module turns one :class:`ReportData` into the plain values the templates show: formatted
numbers (bn yuan per year, or firms), scenario descriptions read from the run manifests, and the
one-sentence headline of each scenario.
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

from experiments.effects import LEVEL
from experiments.figures import Figure, scenario_colours
from experiments.outcomes import Outcome
from experiments.plots import fmt_bn

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

    @property
    def scenarios(self) -> list[str]:
        return [r.name for r in self.runs]


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
        notes=data.notes, mixed=data.mixed,
        scenarios=[scenario_card(data, r, colours[r.name]) for r in data.runs],
        figures={k: [_embedded(f) for f in v] for k, v in data.figures.items()},
        effect_tables=effect_tables(data.effects, data.charted),
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
        "headline": "" if is_baseline else headline(data.effects, run.name, data.charted),
        "settings": ", ".join(settings),
    }


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


def headline(diffs: pd.DataFrame, scenario: str, outcomes: list[Outcome], k: int = 3) -> str:
    """One sentence: the ``k`` largest clear relative effects of a scenario in its last year."""
    info = {oc.name: oc for oc in outcomes}
    d = diffs[(diffs["scenario"] == scenario) & diffs["outcome"].isin(info)]
    if d.empty:
        return ""
    d = d[d["year"] == d["year"].max()]
    clear = d[~d["straddles_zero"] & np.isfinite(d["rel_diff_pct"])]
    year = int(d["year"].max())
    if clear.empty:
        return f"In {year} no charted outcome differs clearly from the baseline."
    top = clear.reindex(clear["rel_diff_pct"].abs().sort_values(ascending=False).index).head(k)
    items = [f"{info[o].label.replace(': ', ' ')} {r:+.1f}%" for o, r in zip(top["outcome"], top["rel_diff_pct"])]
    return f"Largest clear effects in {year} against the baseline: " + "; ".join(items) + "."


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


def effect_tables(diffs: pd.DataFrame, outcomes: list[Outcome]) -> list[dict]:
    """Paired differences of ``outcomes``, one table per year: ``year``, ``columns`` (scenarios),
    ``rows`` of ``label`` and ``cells``; a cell has ``text`` ("effect [CI] (% of baseline)") and
    ``excludes_zero`` (True: the interval excludes 0, a clear effect; False: it includes 0;
    None: no value)."""
    info = {oc.name: oc for oc in outcomes}
    d = diffs[diffs["outcome"].isin(info)]
    scenarios = list(dict.fromkeys(d["scenario"]))
    tables = []
    for y in sorted(d["year"].unique()):
        dy = d[d["year"] == y].set_index(["outcome", "scenario"])
        rows = [{"label": f"{oc.label} ({oc.unit})",
                 "cells": [_effect_cell(dy.loc[(oc.name, s)], oc) if (oc.name, s) in dy.index
                           else {"text": "n/a", "excludes_zero": None} for s in scenarios]}
                for oc in outcomes]
        tables.append({"year": int(y), "columns": scenarios, "rows": rows})
    return tables


def _effect_cell(r: pd.Series, oc: Outcome) -> dict:
    pct = f" ({r['rel_diff_pct']:+.1f}%)" if np.isfinite(r["rel_diff_pct"]) else ""
    mean = fmt_bn(r["mean_diff"], True) if oc.unit != "firms" else _signed_int(r["mean_diff"])
    text = f"{mean} [{fmt_value(r['lo'], oc.unit)} \u2013 {fmt_value(r['hi'], oc.unit)}]{pct}"
    return {"text": text, "excludes_zero": not bool(r["straddles_zero"])}
