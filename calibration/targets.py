"""Calibration targets (``calibration/targets.toml``): parsing, validation and reading model outputs.

A target compares one simulated *output* - a metric of a region (or a sum of regions) in a year,
or a contract flow from an origin to a destination in a year - with a sourced figure.  See the
header of ``targets.toml`` for the file format and ``docs/calibration.md`` for how they are used.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from model.metrics import FLOW_METRIC_NAMES, REGION_METRIC_NAMES
from model.regions import FLOW_REGIONS, OUTPUT_REGIONS
from model.years import FIRST_YEAR, MAX_HORIZON

TARGETS_FILE = Path(__file__).with_name("targets.toml")
VALIDATION_FILE = TARGETS_FILE.with_name("validation.toml")  # sourced figures never fitted (bth fit shows them)

KINDS = ("point", "band", "lower", "upper", "greater", "input", "unused")
COMPARED_KINDS = ("point", "band", "lower", "upper", "greater")  # kinds that enter the loss
PROVENANCE_KEYS = ("seed", "public", "derived")
DEFAULT_TOLERANCE = 0.05  # figures the sources state exactly
# Metrics, regions and years are the model's own (model/metrics.py, model/regions.py, model/years.py).


class TargetError(ValueError):
    """A malformed targets file; the message names the target and the field."""


@dataclass(frozen=True)
class Output:
    """One simulated quantity: a regional metric (summed over ``regions``) or an origin->destination flow."""

    year: int
    metric: str
    regions: tuple[str, ...] = ()
    origin: str = ""
    destination: str = ""  # one region, or several joined by "+" (their flows summed)

    @property
    def is_flow(self) -> bool:
        return bool(self.origin)

    @property
    def key(self) -> str:
        """A stable text key, used in caches and reports."""
        if self.is_flow:
            return f"{self.year}|{self.origin}->{self.destination}|{self.metric}"
        return f"{self.year}|{'+'.join(self.regions)}|{self.metric}"

    @property
    def label(self) -> str:
        """Human-readable name, e.g. 'Hebei rd_spending_bn 2024' or 'Beijing->Hebei contract_value_bn 2024'."""
        where = f"{self.origin}->{self.destination}" if self.is_flow else " + ".join(self.regions)
        return f"{where} {self.metric} {self.year}"


@dataclass(frozen=True)
class Target:
    name: str
    kind: str
    value: float
    unit: str
    tolerance: float
    weight: float
    provenance_kind: str  # "seed" | "public" | "derived"
    provenance: str
    output: Output | None = None  # point and lower targets
    left: Output | None = None  # greater: left > right
    right: Output | None = None
    year: int | None = None
    tolerance_reason: str = ""
    note: str = ""  # satisfied_by (input) or reason (unused)
    upper: float = float("nan")  # band: the band is [value, upper]

    @property
    def compared(self) -> bool:
        """True if the target enters the loss (point, lower, upper and greater targets)."""
        return self.kind in COMPARED_KINDS

    @property
    def outputs(self) -> tuple[Output, ...]:
        return tuple(o for o in (self.output, self.left, self.right) if o is not None)

    @property
    def description(self) -> str:
        if self.kind == "point":
            return f"{self.output.label} = {self.value:g} {self.unit}"
        if self.kind == "band":
            return f"{self.output.label} in [{self.value:g}, {self.upper:g}] {self.unit}"
        if self.kind == "lower":
            return f"{self.output.label} > {self.value:g} {self.unit}"
        if self.kind == "upper":
            return f"{self.output.label} < {self.value:g} {self.unit}"
        if self.kind == "greater":
            return f"{self.left.label} > {self.right.label}"
        return f"{self.value:g} {self.unit} ({self.kind})"


def load_targets(path: Path | str = TARGETS_FILE) -> list[Target]:
    """Parse and validate the targets file; raises :class:`TargetError` naming the bad field."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise TargetError(f"{path}: not valid TOML: {err}") from None
    table = data.get("targets")
    if not isinstance(table, dict) or not table:
        raise TargetError(f"{path}: no [targets.NAME] tables")
    return [_parse(path, name, entry) for name, entry in table.items()]


def compared_targets(targets: Iterable[Target]) -> list[Target]:
    return [t for t in targets if t.compared]


def all_outputs(targets: Iterable[Target]) -> list[Output]:
    """Distinct outputs the targets need, in a stable order."""
    seen: dict[str, Output] = {}
    for t in targets:
        for o in t.outputs:
            seen.setdefault(o.key, o)
    return list(seen.values())


def read_outputs(tables: Any, outputs: Iterable[Output]) -> dict[str, float]:
    """Values of ``outputs`` in one run's tables (``model.RunTables``); a missing output is NaN."""
    regions: pd.DataFrame = tables.regions
    flows: pd.DataFrame = tables.flows
    reg = dict(zip(zip(regions["year"], regions["region"], regions["metric"]), regions["value"]))
    flow_value = dict(zip(zip(flows["year"], flows["origin"], flows["destination"]), flows["contract_value_bn"]))
    flow_count = dict(zip(zip(flows["year"], flows["origin"], flows["destination"]), flows["contracts"]))
    out: dict[str, float] = {}
    for o in outputs:
        if o.is_flow:
            src = flow_value if o.metric == "contract_value_bn" else flow_count
            v = float(np.sum([src.get((o.year, o.origin, d), np.nan) for d in o.destination.split("+")]))
        else:
            parts = [reg.get((o.year, r, o.metric), np.nan) for r in o.regions]
            v = float(np.sum(parts))
        out[o.key] = float(v)
    return out


# ----------------------------------------------------------------------------- parsing


def _parse(path: Path, name: str, e: Any) -> Target:
    where = f"{path.name}: targets.{name}"
    if not isinstance(e, dict):
        raise TargetError(f"{where}: expected a table")
    kind = e.get("kind")
    if kind not in KINDS:
        raise TargetError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    prov = [k for k in PROVENANCE_KEYS if k in e]
    if len(prov) != 1:
        raise TargetError(f"{where}: expected exactly one provenance field ({', '.join(PROVENANCE_KEYS)}), got {prov or 'none'}")
    text = e[prov[0]]
    if not isinstance(text, str) or len(text.strip()) < 10:
        raise TargetError(f"{where}.{prov[0]}: expected the quoted sentence or derivation, got {text!r}")
    value = float("nan") if kind == "greater" and "value" not in e else _number(where, e, "value")
    unit = e.get("unit")
    if not isinstance(unit, str) or not unit:
        raise TargetError(f"{where}.unit: expected a unit, got {unit!r}")
    common = dict(name=name, kind=kind, value=value, unit=unit, provenance_kind=prov[0], provenance=text.strip())
    if kind in ("input", "unused"):
        note_key = "satisfied_by" if kind == "input" else "reason"
        note = e.get(note_key)
        if not isinstance(note, str) or not note.strip():
            raise TargetError(f"{where}.{note_key}: a{'n' if kind == 'input' else ''} {kind} target must say {'how it is satisfied' if kind == 'input' else 'why it is not used'}")
        return Target(**common, tolerance=0.0, weight=0.0, note=note.strip())

    year = e.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not FIRST_YEAR <= year <= MAX_HORIZON:
        raise TargetError(f"{where}.year: expected a year in {FIRST_YEAR}-{MAX_HORIZON}, got {year!r}")
    tol = _number(where, e, "tolerance")
    if not 0 < tol <= 1:
        raise TargetError(f"{where}.tolerance: expected a relative tolerance in (0, 1], got {tol}")
    reason = e.get("tolerance_reason", "")
    if abs(tol - DEFAULT_TOLERANCE) > 1e-12 and not (isinstance(reason, str) and reason.strip()):
        raise TargetError(f"{where}.tolerance_reason: a tolerance other than {DEFAULT_TOLERANCE} needs a stated reason")
    weight = _number(where, e, "weight")
    if weight <= 0:
        raise TargetError(f"{where}.weight: expected a positive weight, got {weight}")
    common.update(tolerance=tol, weight=weight, year=year, tolerance_reason=str(reason).strip())
    if kind == "greater":
        for side in ("left", "right"):
            if not isinstance(e.get(side), dict):
                raise TargetError(f"{where}.{side}: an inequality needs [targets.{name}.{side}] with the output compared")
        left = _output(f"{where}.left", {"year": year, **e["left"]})
        right = _output(f"{where}.right", {"year": year, **e["right"]})
        return Target(**common, left=left, right=right)
    if value <= 0:
        raise TargetError(f"{where}.value: expected a positive value, got {value}")
    if kind == "band":
        upper = _number(where, e, "upper")
        if not upper > value:
            raise TargetError(f"{where}.upper: a band's upper end must exceed its value {value:g}, got {upper:g}")
        return Target(**common, output=_output(where, e), upper=upper)
    return Target(**common, output=_output(where, e))


def _number(where: str, e: dict, key: str) -> float:
    v = e.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TargetError(f"{where}.{key}: expected a number, got {v!r}")
    return float(v)


def _output(where: str, e: dict) -> Output:
    metric = e.get("metric")
    year = int(e["year"])
    if "origin" in e or "destination" in e:
        o, d = e.get("origin"), e.get("destination")
        dests = [d] if isinstance(d, str) else d  # a list of destinations: their flows summed
        if not isinstance(dests, list) or not dests:
            raise TargetError(f"{where}.destination: expected a region or a list of regions, got {d!r}")
        for key, r in [("origin", o)] + [("destination", x) for x in dests]:
            if r not in FLOW_REGIONS:
                raise TargetError(f"{where}.{key}: expected one of {', '.join(FLOW_REGIONS)}, got {r!r}")
        d = "+".join(dests)
        if metric not in FLOW_METRIC_NAMES:
            raise TargetError(f"{where}.metric: a flow metric is one of {', '.join(FLOW_METRIC_NAMES)}, got {metric!r}")
        return Output(year=year, metric=metric, origin=o, destination=d)
    regions = e.get("region")
    regions = (regions,) if isinstance(regions, str) else regions
    if not isinstance(regions, (list, tuple)) or not regions or any(r not in OUTPUT_REGIONS for r in regions):
        raise TargetError(f"{where}.region: expected a region or list of regions from {', '.join(OUTPUT_REGIONS)}, got {e.get('region')!r}")
    if metric not in REGION_METRIC_NAMES:
        raise TargetError(f"{where}.metric: expected one of {', '.join(REGION_METRIC_NAMES)}, got {metric!r}")
    return Output(year=year, metric=metric, regions=tuple(regions))
