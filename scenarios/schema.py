"""Pydantic models of a scenario file, and the checks on each lever and parameter value.

A scenario file is TOML::

    name = "integrated-innovation-center"   # optional; must equal the file stem
    description = "one line"
    horizon = 2035                          # last simulated year, 2021..2050 (default 2035)
    rationale = \"\"\"paragraph\"\"\"
    seed_quote = "exact sentence from a seed report"
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

from model.params import DECLARED, LEVER_ROLE, UNCERTAIN_ROLE, Param, Schedule
from model.years import DEFAULT_HORIZON, FIRST_YEAR, MAX_HORIZON, MIN_HORIZON


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
    rationale: str = Field(min_length=1)
    seed_quote: str = ""
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
