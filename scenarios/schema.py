"""Pydantic models of a scenario file, and the checks on each lever and parameter value.

A scenario file is TOML::

    name = "integrated-innovation-center"   # optional; must equal the file stem
    description = "one line"
    horizon = 2035                          # last simulated year, 2021..2050 (default 2035)
    rationale = \"\"\"paragraph\"\"\"              # optional outside scenarios/ (the loader warns)
    seed_quote = "exact sentence from a seed report"
    key_outcomes = [                        # what the scenario's question is about (the report leads with them)
      { region = "Hebei", metric = "contract_turnover_bn" },   # a metric of model/metrics.py
      { origin = "Beijing", destination = "Hebei" },           # contract value of a flow (bn yuan)
    ]
    [levers]
    transfer_friction = { years = [2025, 2030], values = [1.0, 0.5] }   # schedule
    joint_projects = 400                                                  # constant
    [parameters]                            # optional overrides of uncertain parameters

A value is either a number or a schedule ``{years = [...], values = [...]}`` (piecewise linear,
constant outside its years; see :class:`model.params.Schedule`).  Numbers must lie in the
range declared for each parameter in ``model.params.DECLARED`` (``LEVER_RANGES`` for levers,
``UNCERTAIN`` for parameters); schedule years must be whole, strictly increasing and within
``FIRST_YEAR..horizon`` (``model.years``).  The ``[levers]`` and ``[parameters]`` tables are
generated from the declaration, so a lever added there is accepted (and checked) here.

Every problem raises :class:`FieldProblem` (a ``ValueError``) carrying the dotted field path;
the loader turns it into one :class:`ScenarioError` line.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, create_model, model_validator

from dataclasses import dataclass

from model.metrics import REGION_METRIC_NAMES
from model.params import DECLARED, LEVER_ROLE, UNCERTAIN_ROLE, Param, Schedule
from model.regions import FLOW_REGIONS, OUTPUT_REGIONS, XIONGAN
from model.years import DEFAULT_HORIZON, FIRST_YEAR, MAX_HORIZON, MIN_HORIZON

PARK_METRIC = "park_firms"  # the one metric of the Xiong'an zone (model/outputs.py), and only there


class ScenarioError(ValueError):
    """A scenario file (or a change to a scenario) is missing, unreadable or invalid.

    The message is one line: ``<file>: <dotted.field>: <what was expected>, got <value>``.
    """


class FieldProblem(ValueError):
    """A value failed a check.  ``subpath`` is appended to the field's location (e.g. "years");
    ``path`` (if given) replaces the location entirely (used by whole-file checks)."""

    def __init__(self, message: str, subpath: str = "", path: str = "") -> None:
        super().__init__(message)
        self.subpath = subpath
        self.path = path


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v: Any) -> str:
    """A short rendering of an offending value for messages."""
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= 80 else text[:77] + "..."


def check_value(v: Any, lo: float, hi: float) -> float | Schedule:
    """Validate one lever/parameter value: a number in [lo, hi] or a schedule dict.

    Returns a float or a :class:`model.params.Schedule` (years as int, values as float).
    A ``Schedule`` instance is accepted too (the Python API passes them).
    """
    expected = f"expected a number between {lo} and {hi} or a schedule {{years, values}}"
    if isinstance(v, Schedule):
        v = {"years": list(v.years), "values": list(v.values)}
    if _is_number(v):
        if not lo <= v <= hi:
            raise FieldProblem(f"{expected}, got {_fmt(v)}")
        return float(v)
    if not isinstance(v, dict):
        raise FieldProblem(f"{expected}, got {_fmt(v)}")

    extra = sorted(set(v) - {"years", "values"})
    if extra:
        raise FieldProblem(
            "unknown key in a schedule; expected only 'years' and 'values'", subpath=extra[0]
        )
    for key in ("years", "values"):
        if key not in v:
            raise FieldProblem(f"a schedule needs both 'years' and 'values'; '{key}' is missing")
    years, values = v["years"], v["values"]
    if not isinstance(years, list) or not years or not all(
        isinstance(y, int) and not isinstance(y, bool) for y in years
    ):
        raise FieldProblem(
            f"expected a non-empty list of whole years, got {_fmt(years)}", subpath="years"
        )
    if any(b <= a for a, b in zip(years, years[1:])):
        raise FieldProblem(f"expected strictly increasing years, got {_fmt(years)}", subpath="years")
    if years[0] < FIRST_YEAR:
        raise FieldProblem(
            f"expected years from {FIRST_YEAR} on, got {_fmt(years)}", subpath="years"
        )
    if not isinstance(values, list) or not all(_is_number(x) for x in values):
        raise FieldProblem(f"expected a list of numbers, got {_fmt(values)}", subpath="values")
    if len(values) != len(years):
        raise FieldProblem(
            f"expected as many values as years ({len(years)}), got {len(values)}",
            subpath="values",
        )
    bad = [x for x in values if not lo <= x <= hi]
    if bad:
        raise FieldProblem(
            f"expected values between {lo} and {hi}, got {_fmt(bad[0])}", subpath="values"
        )
    return Schedule(years=tuple(years), values=tuple(float(x) for x in values))


def _value_field(param: Param) -> Any:
    """A pydantic field (optional, default None) validated by :func:`check_value` against the
    declared range; its description (in the JSON schema) is the declared meaning and unit."""
    lo, hi = param.range
    checker = PlainValidator(lambda v: check_value(v, lo, hi))
    description = (f"{param.meaning} [{param.unit}]; default {param.default}; "
                   f"a number between {lo} and {hi} or a schedule {{years, values}}")
    return (Annotated[Optional[Any], checker], Field(None, description=description))


# ----------------------------------------------------------------------------- key outcomes


@dataclass(frozen=True)
class KeyOutcome:
    """An outcome a scenario's question is about: a regional metric, or a contract flow.

    Either ``region`` + ``metric`` (a metric of :mod:`model.metrics` in a region of
    :data:`model.regions.OUTPUT_REGIONS`) or ``origin`` + ``destinations`` (the contract value
    from the origin's sellers to the buyers of the destinations, bn yuan per year).  ``name``
    is the outcome's name in the comparison's tables ("Hebei contract_turnover_bn",
    "flow Beijing->Tianjin+Hebei").
    """

    region: str | None = None
    metric: str | None = None
    origin: str | None = None
    destinations: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        if self.metric is not None:
            return f"{self.region} {self.metric}"
        return f"flow {self.origin}->{'+'.join(self.destinations)}"

    def as_dict(self) -> dict[str, Any]:
        """The TOML/JSON form: ``{region, metric}`` or ``{origin, destination}``."""
        if self.metric is not None:
            return {"region": self.region, "metric": self.metric}
        dest = self.destinations[0] if len(self.destinations) == 1 else list(self.destinations)
        return {"origin": self.origin, "destination": dest}


def _one_of(value: Any, allowed: tuple[str, ...], what: str, subpath: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise FieldProblem(f"expected {what} ({', '.join(allowed)}), got {_fmt(value)}", subpath=subpath)
    return value


def check_key_outcome(v: Any, index: int) -> KeyOutcome:
    """One entry of ``key_outcomes``: ``{region, metric}`` or ``{origin, destination}``."""
    at = str(index)
    if isinstance(v, KeyOutcome):
        v = v.as_dict()
    if not isinstance(v, dict):
        raise FieldProblem("expected a table {region, metric} or {origin, destination}, "
                           f"got {_fmt(v)}", subpath=at)
    keys = set(v)
    if keys == {"region", "metric"}:
        metric = _one_of(v["metric"], REGION_METRIC_NAMES, "a metric of model/metrics.py", f"{at}.metric")
        region = _one_of(v["region"], OUTPUT_REGIONS, "a region of model/regions.py", f"{at}.region")
        if (metric == PARK_METRIC) != (region == XIONGAN):
            expected = (f"region {XIONGAN!r} (the only region with {PARK_METRIC})" if metric == PARK_METRIC
                        else f"metric {PARK_METRIC!r} (the only metric of {XIONGAN})")
            bad = region if metric == PARK_METRIC else metric
            raise FieldProblem(f"expected {expected}, got {_fmt(bad)}",
                               subpath=f"{at}.{'region' if metric == PARK_METRIC else 'metric'}")
        return KeyOutcome(region=region, metric=metric)
    if keys == {"origin", "destination"}:
        origin = _one_of(v["origin"], FLOW_REGIONS, "a flow region of model/regions.py", f"{at}.origin")
        dest = v["destination"]
        dests = [dest] if isinstance(dest, str) else dest
        if not isinstance(dests, list) or not dests:
            raise FieldProblem(f"expected a region or a list of regions, got {_fmt(dest)}",
                               subpath=f"{at}.destination")
        for d in dests:
            _one_of(d, FLOW_REGIONS, "a flow region of model/regions.py", f"{at}.destination")
        if len(set(dests)) != len(dests):
            raise FieldProblem(f"expected distinct regions, got {_fmt(dest)}", subpath=f"{at}.destination")
        return KeyOutcome(origin=origin, destinations=tuple(dests))
    unknown = sorted(keys - {"region", "metric", "origin", "destination"})
    if unknown:
        raise FieldProblem("unknown key; expected region and metric, or origin and destination",
                           subpath=f"{at}.{unknown[0]}")
    raise FieldProblem(f"expected both region and metric, or both origin and destination, "
                       f"got {_fmt(sorted(keys))}", subpath=at)


def check_key_outcomes(v: Any) -> tuple[KeyOutcome, ...]:
    """The ``key_outcomes`` list: entries checked by :func:`check_key_outcome`, no duplicates."""
    if isinstance(v, tuple):
        v = list(v)
    if not isinstance(v, list):
        raise FieldProblem(f"expected a list of tables {{region, metric}} or {{origin, destination}}, "
                           f"got {_fmt(v)}")
    out = tuple(check_key_outcome(x, i) for i, x in enumerate(v))
    names = [k.name for k in out]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise FieldProblem(f"expected each outcome once, got {n!r} twice", subpath=str(i))
    return out


_FORBID = ConfigDict(extra="forbid", frozen=True)


def table_spec(title: str, role: str, declared: tuple[Param, ...] = DECLARED) -> type[BaseModel]:
    """The pydantic model of one table: an optional field per declared parameter of ``role``,
    in declaration order."""
    return create_model(
        title,
        __config__=_FORBID,
        **{p.name: _value_field(p) for p in declared if p.role == role},
    )


#: ``[levers]`` table: one optional field per lever in ``model.params.LEVERS``.
LeversSpec = table_spec("LeversSpec", LEVER_ROLE)

#: ``[parameters]`` table: one optional field per uncertain parameter in ``UNCERTAIN``.
ParametersSpec = table_spec("ParametersSpec", UNCERTAIN_ROLE)


class ScenarioSpec(BaseModel):
    """The whole scenario file.  ``strict`` so that e.g. ``horizon = "2035"`` is rejected."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Optional[str] = None
    description: str = Field(min_length=1)
    horizon: int = Field(DEFAULT_HORIZON, ge=MIN_HORIZON, le=MAX_HORIZON)
    rationale: Optional[str] = Field(None, min_length=1)  # required of shipped scenarios (the loader)
    seed_quote: str = ""
    key_outcomes: Annotated[tuple[KeyOutcome, ...], PlainValidator(check_key_outcomes)] = ()
    levers: LeversSpec = Field(default_factory=LeversSpec)  # type: ignore[valid-type]
    parameters: ParametersSpec = Field(default_factory=ParametersSpec)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _schedules_within_horizon(self) -> "ScenarioSpec":
        for table in ("levers", "parameters"):
            for name, value in self.changes(table).items():
                if isinstance(value, Schedule) and value.years[-1] > self.horizon:
                    raise FieldProblem(
                        f"expected years up to the horizon {self.horizon}, "
                        f"got {list(value.years)}",
                        path=f"{table}.{name}.years",
                    )
        return self

    def changes(self, table: str) -> dict[str, float | Schedule]:
        """The values set in ``table`` ("levers" or "parameters"), in the order of
        ``LEVERS`` / ``UNCERTAIN``; unset ones omitted."""
        spec = getattr(self, table)
        values = {name: getattr(spec, name) for name in type(spec).model_fields}
        return {name: v for name, v in values.items() if v is not None}
