"""The analyst's workbench: ``bth app [RESULTS_DIR]``, a Solara app with three views.

* **Explore**: the scenario run folders under a results folder (``bth run --out``): choose
  scenarios, a region, a metric and years; fan charts (scenario against baseline, with the 50%
  and 90% seed bands the runs carry), effects with their 90% intervals (from
  :mod:`experiments.effects`, as ``bth compare``), origin-destination matrices.
* **What if**: start from a shipped scenario, change levers with sliders or schedule points
  (``2025: 1.0, 2030: 0.5``), validated by the scenario schema; run a quick ensemble (4 seeds at
  scale 0.02 by default) against the baseline with the same seeds, with progress; the effect.
* **Export**: the data behind the current figure (CSV), the figure (PNG), and the lever
  settings as a scenario TOML that ``bth run`` accepts.

Figures and tables are built by :mod:`experiments.app_views`, the what-if by
:mod:`experiments.app_whatif`; this module only lays them out.  ``bth app`` serves it with
:func:`experiments.app_server.serve` (loopback by default, offline); the results folder it opens
first is ``$BTH_RESULTS_DIR`` (default ``results``).  State is per browser session.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import solara
import solara.lab

from experiments import app_views as views
from experiments import app_whatif as whatif
from experiments import store
from experiments.app_server import RESULTS_ENV
from model.metrics import METRICS

KINDS = ["Fan chart", "Effects", "Flow matrix"]
VIEWS = ["Explore", "What if", "Export"]
TABLE_ROWS = 200  # rows of the data table shown under a figure (the CSV has them all)

CSS = """
.bth-figure-title { font-size: 1.15rem; font-weight: 600; margin: 4px 0 6px 0; }
.bth-table { max-height: 260px; overflow: auto; border: 1px solid #ddd; }
.bth-table table { border-collapse: collapse; font-size: 0.8rem; width: 100%; }
.bth-table th { position: sticky; top: 0; background: #f3f3f3; text-align: right; padding: 2px 6px; }
.bth-table td { text-align: right; padding: 1px 6px; border-top: 1px solid #eee; }
.bth-table td:first-child, .bth-table th:first-child { text-align: left; }
.bth-lever { border-bottom: 1px solid #eee; padding: 2px 0 0 0; }
.bth-lever-name { font-weight: 600; font-size: 0.9rem; }
.bth-lever-meaning { font-size: 0.75rem; color: #555; }
.bth-levers { max-height: calc(100vh - 150px); overflow-y: auto; padding-right: 8px; }
.bth-img img { width: 100%; height: auto; }
.bth-toml { font-size: 0.75rem; background: #f7f7f7; padding: 6px; white-space: pre-wrap; max-height: 260px; overflow: auto; }
.bth-note { font-size: 0.85rem; color: #444; }
"""


# ----------------------------------------------------------------------------- reading results

@dataclass(frozen=True)
class Loaded:
    """Every run folder found in a results folder, concatenated (via ``store.open_run``)."""

    folder: str
    regions: pd.DataFrame
    flows: pd.DataFrame
    runs: tuple[tuple[str, str, int], ...]  # (scenario, folder, seeds)
    error: str = ""

    @property
    def scenarios(self) -> list[str]:
        return [r[0] for r in self.runs]


def run_folders(folder: Path) -> list[Path]:
    """``folder`` itself if it is a run folder, else the run folders directly inside it."""
    if store.is_run_folder(folder):
        return [folder]
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if store.is_run_folder(p))


def load(folder: str) -> Loaded:
    """The run folders under ``folder`` (read again when one of their tables changes)."""
    paths = run_folders(Path(folder))
    stamp = tuple((str(p), (p / store.REGIONS).stat().st_mtime_ns) for p in paths)
    return _load(folder, stamp)


@functools.lru_cache(maxsize=8)
def _load(folder: str, stamp: tuple) -> Loaded:
    paths = [Path(p) for p, _ in stamp]
    if not paths:
        return Loaded(folder, pd.DataFrame(columns=store.REGION_COLUMNS),
                      pd.DataFrame(columns=store.FLOW_COLUMNS), (),
                      f"{folder}: no run folders (with {store.REGIONS}) here; run 'bth run --out {folder}' first")
    regions, flows, runs, errors = [], [], [], []
    for p in paths:
        try:
            run = store.open_run(p)
        except store.RunFolderError as err:
            errors.append(str(err))
            continue
        regions.append(run.regions)
        flows.append(run.flows)
        for s in map(str, run.regions["scenario"].unique()):
            runs.append((s, str(p), int(run.regions.loc[run.regions["scenario"] == s, "seed"].nunique())))
    if not regions:
        return Loaded(folder, pd.DataFrame(columns=store.REGION_COLUMNS),
                      pd.DataFrame(columns=store.FLOW_COLUMNS), (), "; ".join(errors))
    return Loaded(folder, pd.concat(regions, ignore_index=True), pd.concat(flows, ignore_index=True),
                  tuple(runs), "; ".join(errors))


# ----------------------------------------------------------------------------- state (per browser session)

results_dir = solara.reactive(os.environ.get(RESULTS_ENV, "results"))
view_index = solara.reactive(0)
kind = solara.reactive(KINDS[0])
chosen = solara.reactive([])  # scenarios compared with the baseline
baseline_name = solara.reactive("baseline")
region = solara.reactive("Beijing")
metric = solara.reactive("contract_turnover_bn")
year_span = solara.reactive((2020, 2035))
flow_scenario = solara.reactive("")
flow_year = solara.reactive(2035)
export_of = solara.reactive("Explore")

start_name = solara.reactive("baseline")
lever_texts = solara.reactive({})  # lever -> text of its value (number or schedule points)
quick_seeds = solara.reactive(whatif.QUICK_SEEDS)
quick_scale = solara.reactive(whatif.QUICK_SCALE)
quick_result = solara.reactive(None)  # whatif.QuickResult of the last run
whatif_year = solara.reactive(2035)
whatif_against = solara.reactive(whatif.BASELINE)  # the what-if's effect against the baseline or its start
run_progress = solara.reactive((0, 0))
run_error = solara.reactive("")


# ----------------------------------------------------------------------------- views (cached)

@functools.lru_cache(maxsize=32)
def explore_view(folder: str, stamp: tuple, kind_: str, scenarios: tuple[str, ...], baseline: str,
                 region_: str, metric_: str, years: tuple[int, int], flow_scen: str, flow_yr: int):
    """The Explore figure for a choice, with its PNG (cached: switching back is instant)."""
    data = _load(folder, stamp)
    if kind_ == "Effects":
        v = views.effects_view(data.regions, data.flows, metric_, region_, list(scenarios), baseline, years)
    elif kind_ == "Flow matrix":
        v = views.flows_view(data.flows, flow_scen or baseline, flow_yr, baseline)
    else:
        v = views.fan_view(data.regions, metric_, region_, list(scenarios), baseline, years)
    return v, v.png()


@functools.lru_cache(maxsize=16)
def _whatif_view(result_id: int, scenario: str, reference: str, year: int):
    res = _RESULTS[result_id]
    v = views.whatif_view(res.against[reference], scenario, reference, year, key=res.key or ())
    return v, v.png()


_RESULTS: dict[int, whatif.QuickResult] = {}


def current_explore():
    """The Explore view of the current choice (None without results)."""
    data = load(results_dir.value)
    if not data.runs:
        return None, None
    stamp = tuple((str(p), (p / store.REGIONS).stat().st_mtime_ns) for p in run_folders(Path(data.folder)))
    scen = tuple(s for s in chosen.value if s in data.scenarios)
    return explore_view(data.folder, stamp, kind.value, scen, baseline_name.value, region.value,
                        metric.value, tuple(year_span.value), flow_scenario.value, int(flow_year.value))


def current_whatif():
    res = quick_result.value
    if res is None:
        return None, None
    _RESULTS[id(res)] = res
    year = whatif_year.value if whatif_year.value in set(res.effects["year"]) else int(res.effects["year"].max())
    reference = whatif_against.value if whatif_against.value in res.against else res.baseline
    return _whatif_view(id(res), res.scenario, reference, int(year))


# ----------------------------------------------------------------------------- small parts

def _table(df: pd.DataFrame, cls: str = "bth-data"):
    shown = df.head(TABLE_ROWS)
    html = shown.to_html(index=False, classes=cls, border=0, na_rep="",
                         float_format=lambda x: f"{x:,.2f}")
    more = f"<p class='bth-note'>{len(df)} rows; the first {TABLE_ROWS} shown, all in the CSV</p>" \
        if len(df) > TABLE_ROWS else f"<p class='bth-note'>{len(df)} rows</p>"
    solara.HTML(tag="div", unsafe_innerHTML=html, classes=["bth-table"])
    solara.HTML(tag="div", unsafe_innerHTML=more)


def _figure(view_png):
    v, png = view_png
    solara.HTML(tag="div", unsafe_innerHTML=_escape(v.title), classes=["bth-figure-title"])
    with solara.Div(classes=["bth-img"]):
        solara.Image(png, width="100%")


def _escape(text: str) -> str:
    import html

    return html.escape(text)


# ----------------------------------------------------------------------------- Explore

@solara.component
def Explore():
    data = load(results_dir.value)
    with solara.Row(style={"align-items": "flex-start", "flex-wrap": "nowrap"}):
        with solara.Column(style={"width": "340px", "min-width": "340px"}):
            solara.InputText("Results folder", value=results_dir, continuous_update=False,
                             classes=["bth-results-dir"])
            if data.error:
                solara.Warning(data.error, dense=True)
            if not data.runs:
                return
            scen_all = data.scenarios
            base = baseline_name.value if baseline_name.value in scen_all else scen_all[0]
            if base != baseline_name.value:
                baseline_name.set(base)
            solara.Select("Baseline", values=scen_all, value=baseline_name, dense=True)
            others = [s for s in scen_all if s != base]
            _ScenarioPicker(others)
            solara.ToggleButtonsSingle(value=kind, values=KINDS, dense=True, classes=["bth-kind"])
            regions_present = [r for r in data.regions["region"].unique().tolist()]
            order = ["Beijing", "Tianjin", "Hebei", "Xiong'an", "Rest of China"]
            regions_present = sorted(regions_present, key=lambda r: order.index(r) if r in order else 99)
            if kind.value != "Flow matrix":
                if region.value not in regions_present:
                    region.set(regions_present[0])
                solara.Text("Region", style={"font-size": "0.8rem", "color": "#555"})
                solara.ToggleButtonsSingle(value=region, values=regions_present, dense=True,
                                           classes=["bth-region"], style={"flex-wrap": "wrap"})
                in_region = data.regions.loc[data.regions["region"] == region.value, "metric"].unique()
                metrics = [m for m in METRICS if m in set(in_region)]
                if metrics and metric.value not in metrics:
                    metric.set(metrics[0])
                labels = {views.metric_label(m): m for m in metrics}
                solara.Select("Metric", values=list(labels), value=views.metric_label(metric.value)
                              if metric.value in metrics else None,
                              on_value=lambda label: metric.set(labels[label]), dense=True,
                              classes=["bth-metric"])
                years = sorted(int(y) for y in data.regions["year"].unique())
                lo, hi = years[0], years[-1]
                span = tuple(year_span.value)
                if not (lo <= span[0] <= hi and lo <= span[1] <= hi):
                    year_span.set((lo, hi))
                solara.SliderRangeInt(f"Years {year_span.value[0]}\u2013{year_span.value[1]}", value=year_span,
                                      min=lo, max=hi, step=1)
            else:
                years = sorted(int(y) for y in data.flows["year"].unique())
                if flow_scenario.value not in scen_all:
                    flow_scenario.set(others[0] if others else base)
                solara.Select("Scenario", values=scen_all, value=flow_scenario, dense=True,
                              classes=["bth-flow-scenario"])
                if years and flow_year.value not in years:
                    flow_year.set(years[-1])
                if years:
                    solara.SliderInt(f"Year {flow_year.value}", value=flow_year, min=years[0], max=years[-1], step=1,
                                     tick_labels=False)
            runs_md = "\n".join(f"- **{s}**: {n} seed{'s' if n != 1 else ''}" for s, _, n in data.runs)
            solara.Markdown(f"Run folders in `{data.folder}`:\n\n{runs_md}")
        with solara.Column(style={"flex": "1", "min-width": "0"}):
            v = current_explore()
            if v[0] is None:
                return
            _figure(v)
            solara.HTML(tag="div", unsafe_innerHTML="Data behind the figure "
                        "(bands: quantiles across seeds; effects: mean paired difference and 90% interval)",
                        classes=["bth-note"])
            _table(_display_columns(v[0]))


def _display_columns(v: views.View) -> pd.DataFrame:
    d = v.data
    keep = [c for c in ("scenario", "outcome", "year", "origin", "destination", "median", "p05", "p25",
                        "p75", "p95", "mean_diff", "lo", "hi", "rel_diff_pct", "n_seeds",
                        "contract_value_bn", "baseline_bn", "difference_bn", "unit") if c in d.columns]
    return d[keep]


@solara.component
def _ScenarioPicker(others: list[str]):
    current = [s for s in chosen.value if s in others]
    if not current and others and not chosen.value:
        current = others[:1]
        chosen.set(current)
    solara.SelectMultiple("Scenarios (against the baseline)", values=current, all_values=others,
                          on_value=chosen.set, dense=True, classes=["bth-scenarios"])


# ----------------------------------------------------------------------------- What if

def _shipped() -> list[str]:
    from scenarios import shipped_scenarios

    return [p.stem for p in shipped_scenarios()]


@functools.lru_cache(maxsize=16)
def _scenario(name: str):
    from scenarios import load_scenario

    return load_scenario(name)


def _texts_for(start) -> dict[str, str]:
    return {info.name: whatif.value_text(whatif.start_value(start, info.name)) for info in whatif.lever_infos()}


def current_whatif_scenario():
    """(scenario or None, one-line error or "", warnings) of the current lever settings."""
    from scenarios import ScenarioError

    start = _scenario(start_name.value)
    texts = lever_texts.value or _texts_for(start)
    try:
        changes = whatif.changed_levers(start, texts)
        scenario, notes = whatif.build(start, changes)
    except ScenarioError as err:
        return None, str(err), []
    return scenario, "", notes


@solara.lab.task(prefer_threaded=True)
def run_quick():
    scenario, error, _ = current_whatif_scenario()
    if scenario is None:
        run_error.set(error)
        return None
    run_error.set("")
    start = _scenario(start_name.value)
    base = _scenario(whatif.BASELINE)

    def progress(done: int, total: int) -> None:
        run_progress.set((done, total))
        run_quick.progress = 100.0 * done / total if total else 0.0

    try:
        res = whatif.quick_ensemble(scenario, start, base, seeds=int(quick_seeds.value),
                                    scale=float(quick_scale.value), progress=progress)
    except Exception as err:  # shown in the app, one line
        run_error.set(f"{type(err).__name__}: {' '.join(str(err).split())}")
        return None
    quick_result.set(res)
    export_of.set("What if")
    return res


@solara.component
def LeverRow(info: whatif.LeverInfo):
    texts = lever_texts.value
    text = texts.get(info.name, "")

    def set_text(t: str | None) -> None:
        lever_texts.set({**lever_texts.value, info.name: (t or "").strip()})

    number = whatif.last_value(text)
    with solara.Column(classes=["bth-lever"], gap="0px"):
        solara.HTML(tag="div", unsafe_innerHTML=f"{_escape(info.name)} <span class='bth-lever-meaning'>"
                    f"[{_escape(info.unit)}, {info.lo:g} to {info.hi:g}]</span>", classes=["bth-lever-name"])
        solara.HTML(tag="div", unsafe_innerHTML=_escape(info.meaning), classes=["bth-lever-meaning"])
        with solara.Row(style={"align-items": "center", "flex-wrap": "nowrap"}, gap="8px"):
            with solara.Div(style={"flex": "1"}):
                solara.SliderFloat("", value=min(max(number, info.lo), info.slider_max) if number is not None
                                   else info.lo, min=info.lo, max=info.slider_max, step=info.step,
                                   on_value=lambda x: set_text(whatif.slide(text, float(x))),
                                   disabled=number is None, thumb_label=False)
            with solara.Div(style={"width": "150px"}):
                solara.InputText("", value=text, on_value=set_text, continuous_update=False, dense=True,
                                 placeholder="2026: 1, 2030: 0.5", classes=[f"bth-lever-{info.name}"])


@solara.component
def WhatIf():
    names = _shipped()
    start = _scenario(start_name.value)
    if not lever_texts.value:
        lever_texts.set(_texts_for(start))

    def choose(name: str) -> None:
        start_name.set(name)
        lever_texts.set(_texts_for(_scenario(name)))
        quick_result.set(None)

    scenario, error, notes = current_whatif_scenario()
    with solara.Row(style={"align-items": "flex-start", "flex-wrap": "nowrap"}):
        with solara.Column(style={"width": "440px", "min-width": "440px"}):
            solara.Select("Start from (a shipped scenario)", values=names, value=start_name.value,
                          on_value=choose, dense=True, classes=["bth-start"])
            solara.HTML(tag="div", classes=["bth-note"], unsafe_innerHTML=(
                f"Levers, with their declared units and ranges. A slider sets the value from "
                f"{whatif.POLICY_YEAR} on (the calibrated years stay as they were); the text field "
                "takes a number (constant from 2020) or schedule points <code>year: value, ...</code> "
                "(linear in between). Press Enter to apply."))
            with solara.Div(classes=["bth-levers"]):
                for info in whatif.lever_infos():
                    LeverRow(info)
        with solara.Column(style={"flex": "1", "min-width": "0"}):
            with solara.Row(style={"align-items": "center"}):
                solara.ToggleButtonsSingle(value=quick_seeds, values=[2, 4, 8], classes=["bth-seeds"])
                solara.Text("seeds", style={"margin-right": "12px"})
                solara.ToggleButtonsSingle(value=quick_scale, values=list(whatif.SCALES), classes=["bth-scale"])
                solara.Text("scale (share of real firms)")
                solara.Button("Run quick ensemble", color="primary", on_click=run_quick,
                              disabled=scenario is None or run_quick.pending, classes=["bth-run"])
            if error:
                solara.Error(error, classes=["bth-lever-error"])
            for note in notes:
                solara.Warning(note, dense=True, classes=["bth-lever-warning"])
            if scenario is not None:
                changed = whatif.changed_levers(start, lever_texts.value or _texts_for(start))
                solara.HTML(tag="div", classes=["bth-note"], unsafe_innerHTML=_escape(
                    f"{scenario.name}: {start.name} with "
                    + (", ".join(f"{k} = {lever_texts.value[k]}" for k in changed) or "no lever changed")
                    + f". The quick ensemble runs it, {whatif.BASELINE}"
                    + (f" and {start.name}" if start.name != whatif.BASELINE else "")
                    + f" with the same seeds 0..{int(quick_seeds.value) - 1} at scale {quick_scale.value}"
                      f" to {scenario.until}."))
            if run_quick.pending:
                done, total = run_progress.value
                solara.ProgressLinear(value=100.0 * done / total if total else True, color="primary")
                solara.HTML(tag="div", unsafe_innerHTML=f"running: {done} of {total} runs done",
                            classes=["bth-progress"])
            if run_error.value:
                solara.Error(run_error.value)
            res = quick_result.value
            if res is not None:
                years = sorted(int(y) for y in res.effects["year"].unique())
                if years and whatif_year.value not in years:
                    whatif_year.set(years[-1])
                with solara.Row(style={"align-items": "center"}):
                    solara.HTML(tag="div", classes=["bth-effect-done"], unsafe_innerHTML=_escape(
                        f"{len(res.seeds)} seeds x {res.effects['scenario'].nunique() + 1} scenarios at scale "
                        f"{res.scale}: done in {res.seconds:.1f} s. Year:"))
                    solara.ToggleButtonsSingle(value=whatif_year, values=years, dense=True)
                    if len(res.against) > 1:
                        if whatif_against.value not in res.against:
                            whatif_against.set(res.baseline)
                        solara.Text("against:")
                        solara.ToggleButtonsSingle(value=whatif_against, values=list(res.against), dense=True,
                                                   classes=["bth-against"])
                v = current_whatif()
                with solara.Div(classes=["bth-effect"]):
                    _figure(v)
                    d = v[0].data
                    _table(d[[c for c in ("scenario", "outcome", "year", "mean_diff", "lo", "hi", "unit",
                                          "rel_diff_pct", "baseline_mean", "n_seeds") if c in d.columns]])


# ----------------------------------------------------------------------------- Export

@solara.component
def Export():
    has_whatif = quick_result.value is not None
    options = ["Explore"] + (["What if"] if has_whatif else [])
    if export_of.value not in options:
        export_of.set("Explore")
    v = current_explore() if export_of.value == "Explore" else current_whatif()
    scenario, error, _ = current_whatif_scenario()
    with solara.Row(style={"align-items": "flex-start", "flex-wrap": "nowrap"}):
        with solara.Column(style={"width": "420px", "min-width": "420px"}):
            solara.Markdown("**The current figure** (of the view chosen here)")
            solara.ToggleButtonsSingle(value=export_of, values=options, classes=["bth-export-of"])
            if v[0] is not None:
                view, png = v
                csv = view.csv()
                solara.FileDownload(csv, filename=f"{view.stem}.csv", label=f"Data as CSV ({len(view.data)} rows)",
                                    mime_type="text/csv", icon_name=None)
                solara.FileDownload(png, filename=f"{view.stem}.png", label="Figure as PNG",
                                    mime_type="image/png", icon_name=None)
                solara.HTML(tag="div", classes=["bth-note"], unsafe_innerHTML=_escape(
                    f"files: {view.stem}.csv, {view.stem}.png"))
            else:
                solara.Info("no figure yet: open a results folder in Explore")
            solara.Markdown("**The lever settings** (What if) as a scenario file")
            if scenario is not None:
                text = whatif.scenario_toml(scenario)
                solara.FileDownload(text, filename=f"{scenario.name}.toml", label="Scenario as TOML",
                                    mime_type="application/toml", icon_name=None)
                solara.HTML(tag="div", classes=["bth-note"], unsafe_innerHTML=_escape(
                    f"run it with: bth run {scenario.name}.toml --seeds 10 --scale 0.1"))
            else:
                solara.Error(error)
        with solara.Column(style={"flex": "1", "min-width": "0"}):
            if v[0] is not None:
                _figure(v)
            if scenario is not None:
                solara.HTML(tag="pre", unsafe_innerHTML=_escape(whatif.scenario_toml(scenario)),
                            classes=["bth-toml"])


# ----------------------------------------------------------------------------- page

@solara.component
def Page():
    solara.Title("BTH technology transfer: workbench")
    solara.Style(CSS)
    with solara.Column(style={"padding": "6px 14px"}, gap="4px"):
        with solara.Row(style={"align-items": "baseline"}):
            solara.HTML(tag="h2", unsafe_innerHTML="Technology transfer in Beijing-Tianjin-Hebei: workbench",
                        style="margin: 0; font-size: 1.3rem;")
            solara.HTML(tag="span", classes=["bth-note"], unsafe_innerHTML=(
                "money in bn yuan per year, counts in firms, at real-world scale"))
        with solara.lab.Tabs(value=view_index):
            solara.lab.Tab("Explore")
            solara.lab.Tab("What if")
            solara.lab.Tab("Export")
        if view_index.value == 0:
            Explore()
        elif view_index.value == 1:
            WhatIf()
        else:
            Export()

