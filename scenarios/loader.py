"""Load a scenario TOML file into a :class:`Scenario` (validated, with model parameters built).

``load_scenario("scenarios/baseline.toml")`` or, for a shipped scenario, ``load_scenario("baseline")``.
Parameters start from the calibrated values (``calibration/calibrated.toml``) and the scenario's
``[levers]`` and ``[parameters]`` are applied on top::

    Params().replace(**calibrated_params()).replace(**levers, **parameters)

Two things are accepted with a :class:`ScenarioWarning` (one line, through :mod:`warnings`;
``bth run --strict`` makes them errors): a scenario outside ``scenarios/`` without a
``rationale`` (a quick what-if; shipped scenarios need one), and a lever that differs from its
default in a year up to ``CALIBRATION_LAST_YEAR`` (it changes the calibrated history).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from calibration.defaults import CALIBRATED_FILE, calibrated_params
from model.params import LEVERS, UNCERTAIN, Params, Schedule
from model.years import CALIBRATION_LAST_YEAR, FIRST_YEAR, MAX_HORIZON, MIN_HORIZON
from scenarios.schema import FieldProblem, KeyOutcome, ScenarioError, ScenarioSpec

SCENARIO_DIR = Path(__file__).resolve().parent  # where the shipped scenario files live
TOP_LEVEL_KEYS = tuple(ScenarioSpec.model_fields)
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")  # usable as a run-folder name


class ScenarioWarning(UserWarning):
    """A scenario that loads but deserves a look: no rationale, or a lever changed in the
    calibrated years.  The message is one line naming the file and the field."""


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, ready for ``model.simulate(s.params, seed, until=s.until)``.

    ``levers`` / ``parameters`` hold only what the scenario sets (floats or
    :class:`model.params.Schedule`); ``params`` is the full parameter set.  ``content_hash`` is
    the sha256 (hex) of the file bytes plus the calibrated values, so editing the file or
    recalibrating changes it.
    """

    name: str  # the file stem (or the name given to with_changes)
    description: str
    rationale: str
    seed_quote: str  # exact sentence from a seed report the scenario rests on ("" if none)
    until: int  # horizon: last simulated year
    params: Params
    content_hash: str  # sha256 hex
    path: Path | None  # the TOML file it was loaded from
    levers: dict[str, float | Schedule]
    parameters: dict[str, float | Schedule] = field(default_factory=dict)
    calibrated: dict[str, float] = field(default_factory=dict, repr=False)  # values used
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # parsed TOML
    key_outcomes: tuple[KeyOutcome, ...] = ()  # the outcomes its question is about (the report leads with them)
    warnings: tuple[str, ...] = field(default=(), compare=False)  # ScenarioWarning messages issued on loading

    def __hash__(self) -> int:
        return hash((self.name, self.content_hash))

    @property
    def changes(self) -> dict[str, float | Schedule]:
        """Everything the scenario sets: levers, then parameter overrides."""
        return {**self.levers, **self.parameters}

    def with_changes(self, name: str | None = None, **changes: Any) -> "Scenario":
        """A modified copy, validated like a file.

        ``changes`` maps lever or uncertain-parameter names to a number, a ``Schedule`` or a
        ``{"years": [...], "values": [...]}`` dict (each replaces the scenario's value
        outright); ``until``/``horizon``, ``description``, ``rationale``, ``seed_quote`` and
        ``key_outcomes`` (a list of ``{region, metric}`` / ``{origin, destination}`` tables) may
        be changed too.  ``name`` defaults to ``<name>-<8 hex digits of the new hash>``.
        Example: ``load_scenario("baseline").with_changes(joint_projects=400)``.
        """
        where = f"{self.path if self.path is not None else self.name} (with_changes)"
        data = copy.deepcopy(self.raw)
        data.pop("name", None)
        for key, value in changes.items():
            if isinstance(value, Schedule):
                value = {"years": list(value.years), "values": list(value.values)}
            if key in LEVERS:
                data.setdefault("levers", {})[key] = value
            elif key in UNCERTAIN:
                data.setdefault("parameters", {})[key] = value
            elif key in ("until", "horizon"):
                data["horizon"] = value
            elif key in ("description", "rationale", "seed_quote", "key_outcomes"):
                data[key] = value
            else:
                raise ScenarioError(
                    f"{where}: {key}: unknown change; expected a lever or uncertain parameter "
                    f"name (LEVERS, UNCERTAIN in model/params.py){_did_you_mean(key)}"
                )
        spec = validate(data, where)
        normalised = {k: _jsonable(v) for k, v in {**spec.changes("levers"),
                                                    **spec.changes("parameters")}.items()}
        extra = {"changes": normalised, "horizon": spec.horizon}
        digest = hashlib.sha256(
            (self.content_hash + "\0" + _canonical(extra)).encode()
        ).hexdigest()
        new_name = name if name is not None else f"{self.name}-{digest[:8]}"
        _check_name(new_name, where)
        return _build(spec, new_name, self.path, digest, self.calibrated, data, where)

    def manifest(self) -> dict[str, Any]:
        """A JSON-ready summary (for run manifests)."""
        return {
            "name": self.name,
            "description": self.description,
            "rationale": self.rationale,
            "until": self.until,
            "content_hash": self.content_hash,
            "path": str(self.path) if self.path is not None else None,
            "seed_quote": self.seed_quote,
            "key_outcomes": [k.as_dict() for k in self.key_outcomes],
            "levers": {k: _jsonable(v) for k, v in self.levers.items()},
            "parameters": {k: _jsonable(v) for k, v in self.parameters.items()},
            "calibrated": dict(self.calibrated),
        }


def shipped_scenarios() -> list[Path]:
    """Paths of the scenario files shipped in this folder, sorted by name."""
    return sorted(SCENARIO_DIR.glob("*.toml"))


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and build the scenario in ``path``.

    ``path`` is a TOML file, or the bare name of a shipped scenario (``"baseline"``).
    Raises :class:`ScenarioError` (one line naming the file and the field) on any problem.
    """
    file = _resolve(path)
    where = str(path)
    try:
        content = file.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{where}: file not found") from None
    except OSError as err:
        raise ScenarioError(f"{where}: cannot read file ({err.strerror})") from None
    try:
        data = tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ScenarioError(f"{where}: not UTF-8 text (byte {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"line (\d+)", str(err))
        line = f"line {match.group(1)}: " if match else ""
        raise ScenarioError(f"{where}: {line}invalid TOML: {err}") from None

    spec = validate(data, where)
    if spec.name is not None and spec.name != file.stem:
        raise ScenarioError(
            f"{where}: name: expected the file stem {file.stem!r} (or no name), got {spec.name!r}"
        )
    _check_name(file.stem, where)
    calibrated = calibrated_params()
    digest = hashlib.sha256(content + b"\0" + _canonical(calibrated).encode()).hexdigest()
    return _build(spec, file.stem, file, digest, calibrated, data, where, shipped=is_shipped(file))


def is_shipped(path: Path) -> bool:
    """True if ``path`` is a file of the shipped scenario folder (:data:`SCENARIO_DIR`)."""
    try:
        return Path(path).resolve().parent == SCENARIO_DIR
    except OSError:
        return False


def validate(data: dict[str, Any], where: str) -> ScenarioSpec:
    """Validate a parsed TOML table; ``where`` (the file) prefixes any error message."""
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(f"{where}: {_describe(err.errors()[0])}") from None


def _build(
    spec: ScenarioSpec,
    name: str,
    path: Path | None,
    digest: str,
    calibrated: dict[str, float],
    raw: dict[str, Any],
    where: str,
    shipped: bool = False,
) -> Scenario:
    levers, parameters = spec.changes("levers"), spec.changes("parameters")
    if spec.rationale is None and shipped:
        raise ScenarioError(f"{where}: rationale: missing; expected a non-empty string "
                            f"(every scenario shipped in scenarios/ says why it exists)")
    try:
        base = Params().replace(**calibrated)
    except (KeyError, TypeError) as err:
        raise ScenarioError(f"{CALIBRATED_FILE}: {err}") from None
    params = base.replace(**levers, **parameters)
    notes = []
    if spec.rationale is None:
        notes.append(f"{where}: rationale: missing; fine for a what-if, a shipped scenario needs one")
    notes += history_changes(levers, params, base, where)
    for note in notes:
        warnings.warn(note, ScenarioWarning, stacklevel=3)
    return Scenario(
        name=name,
        description=spec.description,
        rationale=(spec.rationale or "").strip(),
        seed_quote=spec.seed_quote,
        until=spec.horizon,
        params=params,
        content_hash=digest,
        path=path,
        levers=levers,
        parameters=parameters,
        calibrated=dict(calibrated),
        raw=raw,
        key_outcomes=spec.key_outcomes,
        warnings=tuple(notes),
    )


def history_changes(levers: dict[str, float | Schedule], params: Params, base: Params,
                    where: str) -> list[str]:
    """One message per lever whose value differs from ``base`` in a year up to
    :data:`~model.years.CALIBRATION_LAST_YEAR`, naming the first such year."""
    out = []
    for name in levers:
        year = next((y for y in range(FIRST_YEAR, CALIBRATION_LAST_YEAR + 1)
                     if abs(params.at(name, y) - base.at(name, y)) > 1e-12), None)
        if year is None:
            continue
        when = (f"before {CALIBRATION_LAST_YEAR}" if year < CALIBRATION_LAST_YEAR
                else "the last calibrated year")
        out.append(f"{where}: levers.{name} changes in {year}, {when}: it changes the calibrated history")
    return out


def _resolve(path: str | Path) -> Path:
    """``path`` itself, or the shipped file ``<name>.toml`` when given a bare existing name."""
    p = Path(path)
    if not p.exists() and p.suffix == "" and len(p.parts) == 1:
        shipped = SCENARIO_DIR / f"{p.name}.toml"
        if shipped.exists():
            return shipped
    return p


def _check_name(name: str, where: str) -> None:
    if not _NAME_OK.match(name):
        raise ScenarioError(
            f"{where}: name: expected letters, digits, '.', '_', '+' or '-' "
            f"(it names the run folder), got {name!r}"
        )


def _describe(error: dict[str, Any]) -> str:
    """One ``field: expected ..., got ...`` phrase for the first pydantic error."""
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    given = error.get("input")
    problem = error.get("ctx", {}).get("error")
    if isinstance(problem, FieldProblem):
        where = problem.path or ".".join(p for p in (loc, problem.subpath) if p)
        return f"{where or '(file)'}: {problem}"
    if kind == "extra_forbidden":
        return f"{loc}: {_unknown_key(tuple(error['loc']))}"
    if kind == "missing":
        return f"{loc}: missing; expected a non-empty string"
    if loc == "horizon":
        return f"horizon: expected a whole year between {MIN_HORIZON} and {MAX_HORIZON}, got {given!r}"
    if kind in ("string_type", "string_too_short"):
        return f"{loc}: expected a non-empty string, got {given!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{loc}: expected a table, got {given!r}"
    return f"{loc}: {error['msg'].lower()}, got {given!r}"


def _unknown_key(loc: tuple[Any, ...]) -> str:
    key = str(loc[-1])
    if len(loc) == 1:
        return f"unknown key; expected one of {', '.join(TOP_LEVEL_KEYS)}{_did_you_mean(key)}"
    table = loc[0]
    if table == "levers" and key in UNCERTAIN:
        return "an uncertain parameter, not a lever; put it under [parameters]"
    if table == "parameters" and key in LEVERS:
        return "a policy lever, not an uncertain parameter; put it under [levers]"
    if table == "levers":
        return f"unknown lever; expected one of {', '.join(LEVERS)}{_did_you_mean(key)}"
    return (
        "unknown parameter; expected a name from UNCERTAIN in model/params.py"
        f"{_did_you_mean(key)}"
    )


def _did_you_mean(key: str) -> str:
    names = [*TOP_LEVEL_KEYS, *LEVERS, *UNCERTAIN]
    close = difflib.get_close_matches(key, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _jsonable(v: float | Schedule) -> Any:
    if isinstance(v, Schedule):
        return {"years": list(v.years), "values": list(v.values)}
    return v


def _canonical(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces) used in content hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
