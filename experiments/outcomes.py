"""What the comparison compares: its outcomes and years, built from the model's declarations.

An outcome is one scalar per (scenario, seed, year): a regional metric (title and unit from
:mod:`model.metrics`, region from :mod:`model.regions`) or the contract value flowing from one
region to a set of others (bn yuan per year).  Which metrics and outcomes the figures and tables
show is a choice of the report, so it is a tuple of names here; their titles and units are not
declared again.

Each scenario file names its key outcomes (``key_outcomes``, see :mod:`scenarios.schema`);
:func:`key_outcomes_of` reads them from a run manifest and :func:`outcome_of` turns one into an
:class:`Outcome`.  The comparison adds them to :data:`TABLE_OUTCOMES`.

Main entry point: :func:`outcome_values` (the tidy table of outcome values).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

import tomllib
from pathlib import Path

from model.metrics import METRICS, metric
from model.regions import REGIONS
from scenarios.schema import FieldProblem, KeyOutcome, check_key_outcomes
from model.years import DEFAULT_HORIZON

YEARS: tuple[int, ...] = (2030, DEFAULT_HORIZON)  # years compared: the end of the 15th Five-Year Plan, the horizon

# Metrics shown in the fan charts, the per-run time series and the outcome table.
KEY_METRICS: tuple[str, ...] = (
    "rd_spending_bn", "contract_turnover_bn", "contract_absorbed_bn", "transformed_output_bn",
    "high_tech_enterprises", "sci_tech_smes",
)
FLOW_UNIT = METRICS["contract_value_bn"].unit  # unit of flow outcomes ("bn yuan", per year)


@dataclass(frozen=True)
class Outcome:
    """One scalar outcome per (scenario, seed, year).

    Either a regional metric (``region`` + ``metric``) or the contract value flowing from
    ``origin`` to the sum of ``destinations`` (bn yuan per year).
    """

    name: str  # identifier used in tables, e.g. "Hebei transformed_output_bn"
    label: str  # human-readable, for charts
    unit: str  # the metric's unit: "bn yuan" (per year) or "firms"
    region: str | None = None
    metric: str | None = None
    origin: str | None = None
    destinations: tuple[str, ...] = ()


def region_outcome(region: str, name: str) -> Outcome:
    """The regional metric ``name`` of ``region`` (title and unit from :mod:`model.metrics`)."""
    m = metric(name)
    label = m.title if m.title.startswith(region) else f"{region}: {m.title}"
    return Outcome(f"{region} {name}", label, m.unit, region=region, metric=name)


def flow_outcome(origin: str, destinations: tuple[str, ...]) -> Outcome:
    """Contract value from ``origin``'s sellers to the buyers of ``destinations`` (bn yuan per year)."""
    dest = "+".join(destinations)
    return Outcome(f"flow {origin}->{dest}", f"Contracts {origin} \u2192 {dest.replace('+', ' + ')}",
                   FLOW_UNIT, origin=origin, destinations=destinations)


FLOW_OUTCOMES = (
    flow_outcome("Beijing", ("Hebei",)),
    flow_outcome("Beijing", ("Tianjin",)),
    flow_outcome("Beijing", ("Tianjin", "Hebei")),
)
# The registries' statistics (the measurement layer, docs/model.md 3.3) and the branch stock.
REPORTED_OUTCOMES = (
    region_outcome("Beijing", "reported_outflow_tianjin_hebei_bn"),
    region_outcome("Hebei", "reported_absorbed_from_beijing_bn"),
    region_outcome("Tianjin", "reported_absorbed_from_beijing_bn"),
    region_outcome("Tianjin", "branches_in"),
    region_outcome("Hebei", "branches_in"),
)
# Every outcome in the tables: the key metrics of the three regions, Beijing's outflows (the model's
# origin-destination matrix) and the registries' statistics.
TABLE_OUTCOMES: tuple[Outcome, ...] = tuple(
    region_outcome(r, m) for m in KEY_METRICS for r in REGIONS) + FLOW_OUTCOMES + REPORTED_OUTCOMES
# The subset drawn in the paired-difference chart and its table, in this order.
CHART_OUTCOMES: tuple[str, ...] = (
    "flow Beijing->Hebei", "flow Beijing->Tianjin+Hebei", "Beijing contract_turnover_bn",
    "Tianjin contract_absorbed_bn", "Hebei contract_absorbed_bn", "Hebei rd_spending_bn",
    "Tianjin transformed_output_bn", "Hebei transformed_output_bn", "Tianjin high_tech_enterprises",
    "Hebei high_tech_enterprises", "Tianjin sci_tech_smes", "Hebei sci_tech_smes",
    "Beijing reported_outflow_tianjin_hebei_bn", "Hebei reported_absorbed_from_beijing_bn", "Hebei branches_in",
)


def outcome_of(key: KeyOutcome) -> Outcome:
    """The :class:`Outcome` of a scenario's key outcome (the same name as in :data:`TABLE_OUTCOMES`)."""
    if key.metric is not None:
        return region_outcome(key.region, key.metric)
    return flow_outcome(key.origin, key.destinations)


def key_outcomes_of(manifest: dict, scenario_dir: Path | None = None) -> list[Outcome]:
    """The key outcomes of the scenario of a run manifest, in the order its file names them.

    Read from ``scenario_details.key_outcomes`` (written by ``bth run``); for a run made before
    key outcomes existed, from the scenario file the manifest names (its ``path``, else
    ``scenario_dir/<scenario_file>``).  [] if there are none or they cannot be read."""
    details = manifest.get("scenario_details")
    raw = details.get("key_outcomes") if isinstance(details, dict) else None
    if raw is None:
        candidates = [details.get("path") if isinstance(details, dict) else None]
        if manifest.get("scenario_file") and scenario_dir is not None:
            candidates.append(Path(scenario_dir) / manifest["scenario_file"])
        for c in candidates:
            try:
                with Path(c).open("rb") as fh:
                    raw = tomllib.load(fh).get("key_outcomes")
                break
            except (OSError, TypeError, ValueError):
                continue
    try:
        return [outcome_of(k) for k in check_key_outcomes(raw or [])]
    except FieldProblem:
        return []


def with_outcomes(base: tuple[Outcome, ...], extra) -> tuple[Outcome, ...]:
    """``base`` followed by the outcomes of ``extra`` it lacks (by name), in order."""
    names = {oc.name for oc in base}
    added = []
    for oc in extra:
        if oc.name not in names:
            names.add(oc.name)
            added.append(oc)
    return tuple(base) + tuple(added)


def outcome_values(regions: pd.DataFrame, flows: pd.DataFrame,
                   outcomes: tuple[Outcome, ...] = TABLE_OUTCOMES) -> pd.DataFrame:
    """Tidy table ``scenario, seed, year, outcome, value`` of the given outcomes (all years).

    Outcomes whose metric is absent from the results are left out.  A flow pair missing from a
    (scenario, seed, year) that has flows counts as zero contract value.
    """
    parts = []
    keys = ["scenario", "seed"] + draw_key(regions) + ["year"]
    for oc in outcomes:
        if oc.metric is not None:
            sub = regions[(regions["region"] == oc.region) & (regions["metric"] == oc.metric)]
            if len(sub):
                parts.append(sub[keys + ["value"]].assign(outcome=oc.name))
        elif len(flows) and ("draw" in flows) == ("draw" in regions):
            sub = flows[(flows["origin"] == oc.origin) & flows["destination"].isin(oc.destinations)]
            total = sub.groupby(keys)["contract_value_bn"].sum()
            index = pd.MultiIndex.from_frame(flows[keys].drop_duplicates())
            total = total.reindex(index, fill_value=0.0).rename("value").reset_index()
            parts.append(total.assign(outcome=oc.name))
    if not parts:
        return pd.DataFrame(columns=keys + ["outcome", "value"])
    out = pd.concat(parts, ignore_index=True)
    out["value"] = out["value"].astype(float)
    return out[keys + ["outcome", "value"]]


def draw_key(table: pd.DataFrame) -> list[str]:
    """``["draw"]`` if the results carry parameter draws (a ``draw`` column), else ``[]``: a run
    is then identified by seed and draw."""
    return ["draw"] if "draw" in table.columns else []


def describe_runs(runs: int, draws: int, what: str = "runs") -> str:
    """"N seeds", or "N <what> (K parameter draws x S seeds)" when the runs span K > 0 draws."""
    if draws > 0:
        seeds = runs // draws
        return f"{runs} {what} ({draws} parameter draws x {seeds} seed{'s' if seeds != 1 else ''})"
    return f"{runs} seed{'s' if runs != 1 else ''}"


def run_count(rows: pd.DataFrame, what: str = "runs") -> str:
    """:func:`describe_runs` of a table's rows: its seeds, times its posterior draws if it has them."""
    s = rows["seed"].nunique()
    k = int(rows["draw"].nunique()) if draw_key(rows) else 0
    return describe_runs(k * s if k else s, k, what)
