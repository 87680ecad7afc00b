"""The "What if" of the workbench: lever settings, the quick ensemble, the scenario file.

No Solara here (the app in :mod:`experiments.app` draws it).  A what-if starts from a shipped
scenario; each lever is set to a number or to schedule points written ``2025: 1.0, 2030: 0.5``
(year: value).  Every setting is validated by the scenario schema through
``Scenario.with_changes``, so a value out of range gets the same one-line
:class:`scenarios.ScenarioError` as in a scenario file.  The quick ensemble runs the what-if,
the baseline (and the scenario it started from) with the same seeds, in this process, and the
effects are :func:`experiments.effects.paired_differences`.  :func:`scenario_toml` writes the
settings as a scenario file that ``bth run`` accepts.
"""

from __future__ import annotations

import json
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from model.params import BY_NAME, LEVER_RANGES, LEVERS, Schedule
from model.years import CALIBRATION_LAST_YEAR

BASELINE = "baseline"
QUICK_SEEDS = 4  # seeds of the quick ensemble (the same for every scenario)
QUICK_SCALE = 0.02  # fraction of real firms simulated (outputs are at real scale)
SCALES = (0.01, 0.02)
POLICY_YEAR = CALIBRATION_LAST_YEAR + 1  # a slider's change takes effect from this year

_POINT = re.compile(r"^\s*(\d{4})\s*[:=]\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class LeverInfo:
    """A lever as declared in :data:`model.params.DECLARED`: range, unit, meaning."""

    name: str
    default: float
    lo: float
    hi: float
    unit: str
    meaning: str

    @property
    def slider_max(self) -> float:
        """Upper end of the slider: the declared maximum, or for counts declared up to 100,000
        (projects, firms, suppliers) ten times the default, so the slider is usable; the text
        field takes any value in the declared range."""
        if self.hi > 100 and self.default > 0:
            return min(self.hi, 10 * self.default)
        return self.hi

    @property
    def step(self) -> float:
        span = self.slider_max - self.lo
        return 1.0 if span > 100 else 0.01 if span <= 2 else 0.05


def lever_infos() -> list[LeverInfo]:
    """Every lever of :data:`model.params.LEVERS`, in declaration order."""
    return [LeverInfo(n, float(BY_NAME[n].default), float(LEVER_RANGES[n][0]), float(LEVER_RANGES[n][1]),
                      BY_NAME[n].unit, BY_NAME[n].meaning) for n in LEVERS]


def value_text(v: float | Schedule) -> str:
    """A lever value as the app's text field shows it: ``0.5`` or ``2025: 1, 2030: 0.5``."""
    if isinstance(v, Schedule):
        return ", ".join(f"{y}: {_num(x)}" for y, x in zip(v.years, v.values))
    return _num(float(v))


def _num(x: float) -> str:
    return f"{x:g}" if abs(x) < 1e6 else f"{x:.0f}"


def parse_value(name: str, text: str) -> float | dict[str, list]:
    """A lever value from the text field: a number, or schedule points ``year: value, ...``.

    Raises :class:`scenarios.ScenarioError` (one line) if the text is neither; the range is
    checked afterwards by the schema (:func:`build`)."""
    from scenarios import ScenarioError

    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    points = [p for p in re.split(r"[,;]", t) if p.strip()]
    matched = [_POINT.match(p) for p in points]
    if not points or not all(matched):
        raise ScenarioError(f"levers.{name}: expected a number or schedule points "
                            f"'year: value, year: value', got {t!r}")
    try:
        return {"years": [int(m.group(1)) for m in matched], "values": [float(m.group(2)) for m in matched]}
    except ValueError:
        raise ScenarioError(f"levers.{name}: expected numbers in 'year: value', got {t!r}") from None


def last_value(text: str) -> float | None:
    """The value a lever ends at: the number, or a schedule's last value (None if unreadable)."""
    try:
        v = parse_value("lever", text)
    except ValueError:
        return None
    return float(v["values"][-1]) if isinstance(v, dict) else float(v)


def slide(text: str, value: float) -> str:
    """The text after moving a lever's slider to ``value``: a schedule's last value becomes
    ``value``; a constant ``c`` becomes ``c`` up to :data:`POLICY_YEAR` - 1 and ``value`` from
    :data:`POLICY_YEAR` on, so a slider never rewrites the calibrated history (a number typed in
    the text field is a constant from 2020, with the loader's warning)."""
    value = round(float(value), 6)
    try:
        v = parse_value("lever", text)
    except ValueError:
        return value_text(value)
    if isinstance(v, dict):
        return value_text(Schedule(tuple(v["years"]), tuple(v["values"][:-1]) + (value,)))
    if float(v) == value:
        return text
    return value_text(Schedule((POLICY_YEAR - 1, POLICY_YEAR), (float(v), value)))


def start_value(scenario: Any, name: str) -> float | Schedule:
    """The value of lever ``name`` in ``scenario``: what it sets, else the declared default."""
    return scenario.levers.get(name, float(BY_NAME[name].default))


def changed_levers(scenario: Any, texts: dict[str, str]) -> dict[str, Any]:
    """The levers whose text differs from ``scenario``'s value, parsed (see :func:`parse_value`)."""
    out = {}
    for name, text in texts.items():
        if text.strip() != value_text(start_value(scenario, name)):
            out[name] = parse_value(name, text)
    return out


def whatif_name(start: str) -> str:
    return f"{start}-whatif"


def build(start: Any, changes: dict[str, Any], name: str | None = None) -> tuple[Any, list[str]]:
    """The what-if scenario: ``start`` with ``changes`` (validated by the scenario schema), and
    the one-line warnings the loader gave (e.g. a lever changed in the calibrated years).

    Raises :class:`scenarios.ScenarioError` with the scenario file's one-line message."""
    rationale = (f"What-if made in the workbench (bth app) from the shipped scenario "
                 f"'{start.name}'; levers changed: {', '.join(changes) or 'none'}.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scenario = start.with_changes(name=name or whatif_name(start.name), rationale=rationale,
                                      description=f"What-if from {start.name}: " + (
                                          ", ".join(f"{k} = {_short(v)}" for k, v in changes.items())
                                          or "no lever changed"),
                                      **changes)
    notes = [str(w.message) for w in caught]
    return scenario, list(dict.fromkeys(notes + list(getattr(scenario, "warnings", ()) or ())))


def _short(v: Any) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{y}: {_num(x)}" for y, x in zip(v["years"], v["values"]))
    return _num(float(v))


# ----------------------------------------------------------------------------- the quick ensemble

_CACHE: dict[tuple, Any] = {}  # (scenario name, content hash, seed, scale, until) -> Results
_CACHE_LOCK = threading.Lock()


@dataclass
class QuickResult:
    """The quick ensemble: tables of every scenario run; ``effects``: the paired differences of
    the what-if (and of the scenario it started from, if not the baseline) to the baseline;
    ``against``: the what-if's effects against each reference (the baseline, and the scenario it
    started from: what the change adds)."""

    regions: pd.DataFrame
    flows: pd.DataFrame
    effects: pd.DataFrame
    scenario: str
    baseline: str
    seeds: list[int]
    scale: float
    seconds: float
    against: dict[str, pd.DataFrame] = None  # reference scenario -> effects of the what-if against it
    key: list[str] = None  # names of the scenario's key outcomes (shown first)


def quick_ensemble(whatif: Any, start: Any, baseline: Any, seeds: int = QUICK_SEEDS,
                   scale: float = QUICK_SCALE, until: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> QuickResult:
    """Run ``whatif``, ``baseline`` and (if different) ``start`` with the same seeds
    ``0 .. seeds-1`` at ``scale``, in this process, one run at a time so ``progress(done,
    total)`` can report; runs of unchanged scenarios are kept and reused.  Returns the tables
    and :func:`experiments.effects.paired_differences` to the baseline."""
    import time

    from experiments.api import run_ensemble
    from experiments.effects import paired_differences

    t0 = time.perf_counter()
    scenarios = [baseline] + ([start] if start.name != baseline.name else []) + [whatif]
    until = until or whatif.until
    total = len(scenarios) * seeds
    done = 0
    parts = []
    if progress:
        progress(0, total)
    for seed in range(seeds):
        for s in scenarios:
            key = (s.name, s.content_hash, seed, scale, until)
            with _CACHE_LOCK:
                res = _CACHE.get(key)
            if res is None:
                res = run_ensemble(s, seeds=[seed], scale=scale, until=until, out=None, workers=1,
                                   progress=False)
                with _CACHE_LOCK:
                    if len(_CACHE) > 400:
                        _CACHE.clear()
                    _CACHE[key] = res
            parts.append(res)
            done += 1
            if progress:
                progress(done, total)
    regions = pd.concat([p.regions for p in parts], ignore_index=True)
    flows = pd.concat([p.flows for p in parts], ignore_index=True)
    years = sorted({y for y in (2030, until) if y in set(regions["year"])})
    outcomes, key = _outcomes(whatif)
    effects = paired_differences(regions, flows, baseline.name, years=years, outcomes=outcomes)
    against = {baseline.name: effects}
    if start.name != baseline.name:  # what the change adds to the scenario it started from
        mine = regions["scenario"].isin([start.name, whatif.name])
        f_mine = flows["scenario"].isin([start.name, whatif.name])
        against[start.name] = paired_differences(regions[mine], flows[f_mine], start.name, years=years,
                                                 outcomes=outcomes)
    return QuickResult(regions, flows, effects, whatif.name, baseline.name, list(range(seeds)), scale,
                       time.perf_counter() - t0, against, key)


def _outcomes(scenario: Any) -> tuple[tuple, list[str]]:
    """The comparison's outcomes plus the scenario's key outcomes, and the key outcomes' names."""
    from experiments.outcomes import TABLE_OUTCOMES, outcome_of, with_outcomes

    key = [outcome_of(k) for k in getattr(scenario, "key_outcomes", ()) or ()]
    return with_outcomes(TABLE_OUTCOMES, key), [oc.name for oc in key]


# ----------------------------------------------------------------------------- scenario file

TOP_ORDER = ("name", "description", "horizon", "rationale", "seed_quote", "key_outcomes")


def scenario_toml(scenario: Any) -> str:
    """The scenario's settings as a TOML scenario file (``bth run FILE`` accepts it; its name is
    the file stem, so no ``name`` key is written)."""
    data = dict(scenario.raw)
    data.pop("name", None)
    data["description"] = scenario.description
    data["rationale"] = scenario.rationale
    data["horizon"] = scenario.until
    lines = [f"# scenario written by the workbench (bth app); run it with: bth run {scenario.name}.toml"]
    keys = [k for k in TOP_ORDER if k in data] + [k for k in data if k not in TOP_ORDER]
    tables = []
    for key in keys:
        value = data[key]
        if isinstance(value, dict):
            tables.append(key)
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    for key in tables:
        lines += ["", f"[{key}]"]
        for k, v in data[key].items():
            lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, Schedule):
        v = {"years": list(v.years), "values": list(v.values)}
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)
