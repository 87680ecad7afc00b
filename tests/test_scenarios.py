"""Scenario files: shipped ones load; every kind of bad input gives one clear ScenarioError."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from model.params import LEVER_RANGES, LEVERS, Params, Schedule
from scenarios import Scenario, ScenarioError, load_scenario, shipped_scenarios
from scenarios import loader

# GOOD sets a lever from 2020 on, which warns (tested below); the warning is noise elsewhere
pytestmark = pytest.mark.filterwarnings("ignore::scenarios.ScenarioWarning")

SHIPPED = shipped_scenarios()
EXPECTED = {
    "baseline",
    "no-coordination",
    "integrated-innovation-center",
    "xiongan-hub",
    "hebei-rd-push",
    "tianjin-manufacturing",
}

GOOD = """\
description = "test scenario"
rationale = "because"
seed_quote = "A sentence."
[levers]
transfer_friction = { years = [2026, 2030], values = [1.0, 0.6] }
joint_projects = 400
"""


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message.strip()
    return message


# ---------------------------------------------------------------- shipped scenarios


def test_expected_scenarios_are_shipped():
    assert EXPECTED <= {p.stem for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenario_loads(path: Path):
    s = load_scenario(path)
    assert isinstance(s, Scenario)
    assert s.name == path.stem
    assert s.description and s.rationale and s.seed_quote
    assert len(s.rationale.split()) >= 40  # a paragraph, not a phrase
    assert 2021 <= s.until <= 2050
    assert isinstance(s.params, Params)
    assert len(s.content_hash) == 64
    for name, value in s.levers.items():
        lo, hi = LEVER_RANGES[name]
        for year in range(2020, s.until + 1):
            assert lo <= s.params.at(name, year) <= hi
        assert getattr(s.params, name) == value


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_keep_the_calibrated_history(path: Path):
    """Up to 2025 every lever equals its default, so 2020-2025 reproduces the calibration."""
    s = load_scenario(path)
    for name in LEVERS:
        for year in range(2020, 2026):
            assert s.params.at(name, year) == pytest.approx(Params().at(name, year)), (name, year)


def test_shipped_scenario_by_bare_name():
    assert load_scenario("baseline").path == loader.SCENARIO_DIR / "baseline.toml"


def test_baseline_uses_seed_counts():
    s = load_scenario(loader.SCENARIO_DIR / "baseline.toml")
    assert s.params.joint_projects == 220 and s.params.supplier_network == 300


def test_calibrated_values_are_applied(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "calibrated_params", lambda: {"boundary_cost": 2.25})
    s = load_scenario(write(tmp_path, GOOD, "ok.toml"))
    assert s.params.boundary_cost == 2.25
    assert s.calibrated == {"boundary_cost": 2.25}


def test_parameters_override_calibration(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "calibrated_params", lambda: {"boundary_cost": 2.25})
    s = load_scenario(write(tmp_path, GOOD + "[parameters]\nboundary_cost = 1.0\n", "ok.toml"))
    assert s.params.boundary_cost == 1.0
    assert s.parameters == {"boundary_cost": 1.0}


# ---------------------------------------------------------------- schedules and hashes


def test_schedules_interpolate(tmp_path):
    s = load_scenario(write(tmp_path, GOOD, "ok.toml"))
    friction = s.params.transfer_friction
    assert isinstance(friction, Schedule)
    assert friction.years == (2026, 2030) and friction.values == (1.0, 0.6)
    assert s.params.at("transfer_friction", 2020) == 1.0  # constant before the first year
    assert s.params.at("transfer_friction", 2028) == pytest.approx(0.8)  # linear in between
    assert s.params.at("transfer_friction", 2035) == pytest.approx(0.6)  # constant after
    assert s.params.joint_projects == 400.0
    assert s.until == 2035  # default horizon
    assert set(s.levers) == {"transfer_friction", "joint_projects"}


def test_content_hash_changes_with_file(tmp_path):
    path = write(tmp_path, GOOD, "ok.toml")
    first = load_scenario(path).content_hash
    assert load_scenario(path).content_hash == first
    path.write_text(GOOD.replace("400", "401"), encoding="utf-8")
    assert load_scenario(path).content_hash != first


def test_content_hash_changes_with_calibration(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD, "ok.toml")
    monkeypatch.setattr(loader, "calibrated_params", lambda: {"boundary_cost": 1.5})
    first = load_scenario(path).content_hash
    monkeypatch.setattr(loader, "calibrated_params", lambda: {"boundary_cost": 1.6})
    assert load_scenario(path).content_hash != first


# ---------------------------------------------------------------- with_changes


def test_with_changes(tmp_path):
    s = load_scenario(write(tmp_path, GOOD, "ok.toml"))
    t = s.with_changes(joint_projects=100, shared_labs=Schedule((2026, 2030), (0.0, 0.5)))
    assert t.params.joint_projects == 100.0
    assert t.params.at("shared_labs", 2028) == pytest.approx(0.25)
    assert t.params.transfer_friction == s.params.transfer_friction  # kept
    assert t.content_hash != s.content_hash
    assert t.name.startswith("ok-") and t.name != s.name
    assert s.params.joint_projects == 400.0  # original untouched
    named = s.with_changes(name="variant", until=2040, boundary_cost=1.0)
    assert named.name == "variant" and named.until == 2040
    assert named.params.boundary_cost == 1.0
    again = s.with_changes(joint_projects=100, shared_labs=Schedule((2026, 2030), (0.0, 0.5)))
    assert (again.name, again.content_hash) == (t.name, t.content_hash)  # deterministic


def test_with_changes_is_validated(tmp_path):
    s = load_scenario(write(tmp_path, GOOD, "ok.toml"))
    with pytest.raises(ScenarioError, match=r"ok\.toml.*levers\.shared_labs: expected"):
        s.with_changes(shared_labs=2.0)
    with pytest.raises(ScenarioError, match=r"ok\.toml.*joint_project"):
        s.with_changes(joint_project=2.0)
    with pytest.raises(ScenarioError, match=r"levers\.transfer_friction\.years"):
        s.with_changes(until=2028)  # the friction schedule runs to 2030


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text, field, expected",
    [
        # unknown keys
        ("colour = 3\n" + GOOD, "colour", "unknown key"),
        (GOOD.replace("joint_projects", "joint_project"), "levers.joint_project", "unknown lever"),
        (GOOD + "[parameters]\nnot_a_param = 1\n", "parameters.not_a_param", "unknown parameter"),
        (GOOD + "[parameters]\njoint_projects = 1\n", "parameters.joint_projects", "[levers]"),
        (GOOD + "[unknown_table]\n", "unknown_table", "unknown key"),
        # wrong types
        (GOOD.replace("400", '"many"'), "levers.joint_projects", "expected a number"),
        (GOOD.replace("400", "true"), "levers.joint_projects", "expected a number"),
        (GOOD.replace('"because"', "5"), "rationale", "expected a non-empty string"),
        ("horizon = '2035'\n" + GOOD, "horizon", "expected a whole year"),
        (GOOD.replace("[2026, 2030]", "[2026.5, 2030]"), "levers.transfer_friction.years", "whole years"),
        (GOOD.replace("[1.0, 0.6]", '["a", 0.6]'), "levers.transfer_friction.values", "numbers"),
        # out of range
        (GOOD.replace("400", "-1"), "levers.joint_projects", "between 0.0 and 100000.0"),
        (GOOD.replace("[1.0, 0.6]", "[1.0, 6.0]"), "levers.transfer_friction.values", "between 0.0 and 5.0"),
        (GOOD + "[parameters]\nbass_q = 2.0\n", "parameters.bass_q", "between 0.0 and 1.0"),
        ("horizon = 2060\n" + GOOD, "horizon", "between 2021 and 2050"),
        ("horizon = 2028\n" + GOOD, "levers.transfer_friction.years", "up to the horizon 2028"),
        (GOOD.replace("[2026, 2030]", "[2010, 2030]"), "levers.transfer_friction.years", "from 2020"),
        # schedules
        (GOOD.replace("[2026, 2030]", "[2030, 2026]"), "levers.transfer_friction.years", "strictly increasing"),
        (GOOD.replace("[2026, 2030]", "[2026, 2026]"), "levers.transfer_friction.years", "strictly increasing"),
        (GOOD.replace("[1.0, 0.6]", "[1.0]"), "levers.transfer_friction.values", "as many values as years"),
        (GOOD.replace("values =", "vals ="), "levers.transfer_friction.vals", "unknown key"),
        (GOOD.replace(", values = [1.0, 0.6]", ""), "levers.transfer_friction", "'values' is missing"),
        # missing required and name
        (GOOD.replace('description = "test scenario"\n', ""), "description", "missing"),
        ('name = "other"\n' + GOOD, "name", "expected the file stem 'bad'"),
    ],
)
def test_bad_input_names_file_and_field(tmp_path, text, field, expected):
    message = error_of(write(tmp_path, text))
    assert "bad.toml" in message
    assert f": {field}:" in message or f": {field} " in message, message
    assert expected in message, message


def test_example_message_format(tmp_path):
    text = GOOD.replace("{ years = [2026, 2030], values = [1.0, 0.6] }", "-1")
    message = error_of(write(tmp_path, text))
    assert message == (
        f"{tmp_path / 'bad.toml'}: levers.transfer_friction: expected a number between 0.0 and "
        "5.0 or a schedule {years, values}, got -1"
    )


def test_scenario_pickles(tmp_path):
    """Ensembles ship scenarios to worker processes."""
    import pickle

    s = load_scenario(write(tmp_path, GOOD, "ok.toml"))
    copy = pickle.loads(pickle.dumps(s))
    assert copy == s and hash(copy) == hash(s)


def test_missing_file(tmp_path):
    message = error_of(tmp_path / "nowhere.toml")
    assert "nowhere.toml" in message and "not found" in message


def test_toml_syntax_error_names_line(tmp_path):
    message = error_of(write(tmp_path, GOOD + "joint_projects = = 3\n"))
    assert "bad.toml" in message and "line 7" in message and "invalid TOML" in message


def test_duplicate_key_is_a_syntax_error(tmp_path):
    message = error_of(write(tmp_path, GOOD + "joint_projects = 3\n"))
    assert "bad.toml" in message and "line 7" in message


def test_year_bounds_come_from_model_years(tmp_path):
    from model import years
    from scenarios.schema import ScenarioSpec

    horizon = ScenarioSpec.model_fields["horizon"]
    assert horizon.default == years.DEFAULT_HORIZON
    bounds = {type(m).__name__: m for m in horizon.metadata}
    assert (bounds["Ge"].ge, bounds["Le"].le) == (years.MIN_HORIZON, years.MAX_HORIZON)
    message = error_of(write(tmp_path, f"horizon = {years.MAX_HORIZON + 1}\n" + GOOD))
    assert f"between {years.MIN_HORIZON} and {years.MAX_HORIZON}" in message
    early = GOOD.replace("[2026, 2030]", f"[{years.FIRST_YEAR - 1}, 2030]")
    assert f"from {years.FIRST_YEAR}" in error_of(write(tmp_path, early))


def test_name_equal_to_stem_is_accepted(tmp_path):
    assert load_scenario(write(tmp_path, 'name = "ok"\n' + GOOD, "ok.toml")).name == "ok"


# ---------------------------------------------------------------- key outcomes

KEYED = """\
description = "test scenario"
rationale = "because"
key_outcomes = [
  { region = "Hebei", metric = "contract_turnover_bn" },
  { origin = "Beijing", destination = ["Tianjin", "Hebei"] },
]
[levers]
transfer_friction = { years = [2025, 2030], values = [1.0, 0.6] }
"""


def test_key_outcomes_are_read_and_kept_in_the_manifest(tmp_path):
    s = load_scenario(write(tmp_path, KEYED, "ok.toml"))
    assert [k.name for k in s.key_outcomes] == ["Hebei contract_turnover_bn", "flow Beijing->Tianjin+Hebei"]
    assert s.manifest()["key_outcomes"] == [{"region": "Hebei", "metric": "contract_turnover_bn"},
                                            {"origin": "Beijing", "destination": ["Tianjin", "Hebei"]}]
    again = s.with_changes(key_outcomes=[{"region": "Xiong'an", "metric": "park_firms"}])
    assert [k.name for k in again.key_outcomes] == ["Xiong'an park_firms"]


@pytest.mark.parametrize("entry, field, expected", [
    ('{ region = "Hebei", metric = "turnover" }', "key_outcomes.0.metric", "a metric of model/metrics.py"),
    ('{ region = "Shanghai", metric = "rd_spending_bn" }', "key_outcomes.0.region", "a region of model/regions.py"),
    ('{ region = "Hebei", metric = "park_firms" }', "key_outcomes.0.region", "region \"Xiong'an\""),
    ('{ region = "Xiong\'an", metric = "rd_spending_bn" }', "key_outcomes.0.metric", "metric 'park_firms'"),
    ('{ origin = "Beijing", destination = "Mars" }', "key_outcomes.0.destination", "a flow region"),
    ('{ origin = "Beijing", destination = [] }', "key_outcomes.0.destination", "a region or a list"),
    ('{ region = "Hebei" }', "key_outcomes.0", "both region and metric"),
    ('{ region = "Hebei", metric = "rd_spending_bn", colour = 1 }', "key_outcomes.0.colour", "unknown key"),
    ('"Hebei rd_spending_bn"', "key_outcomes.0", "expected a table"),
    ('{ region = "Hebei", metric = "rd_spending_bn" }, { region = "Hebei", metric = "rd_spending_bn" }',
     "key_outcomes.1", "twice"),
])
def test_bad_key_outcome_names_file_and_field(tmp_path, entry, field, expected):
    text = KEYED.split("key_outcomes")[0] + f"key_outcomes = [{entry}]\n[levers]\n"
    message = error_of(write(tmp_path, text))
    assert f"bad.toml: {field}: " in message, message
    assert expected in message, message


def test_shipped_scenarios_name_known_key_outcomes():
    from model.metrics import REGION_METRIC_NAMES
    from model.regions import FLOW_REGIONS, OUTPUT_REGIONS

    for path in SHIPPED:
        s = load_scenario(path)
        assert s.key_outcomes, path.stem
        for k in s.key_outcomes:
            assert (k.metric in REGION_METRIC_NAMES and k.region in OUTPUT_REGIONS) or (
                k.origin in FLOW_REGIONS and set(k.destinations) <= set(FLOW_REGIONS)), (path.stem, k)
    named = {p.stem: {k.name for k in load_scenario(p).key_outcomes} for p in SHIPPED}
    assert "Beijing transformed_output_bn" in named["beijing-capacity"]
    assert {"Tianjin rd_spending_bn", "Tianjin transformed_output_bn"} <= named["tianjin-manufacturing"]
    assert "Hebei contract_turnover_bn" in named["hebei-rd-push"]
    assert "Hebei contract_turnover_bn" in named["integrated-innovation-center"]
    assert "Xiong'an park_firms" in named["xiongan-hub"]
    assert "flow Beijing->Hebei" in named["no-coordination"]


# ---------------------------------------------------------------- what-ifs: warnings, not errors


def test_a_what_if_may_omit_the_rationale(tmp_path):
    from scenarios import ScenarioWarning

    text = KEYED.replace('rationale = "because"\n', "")
    with pytest.warns(ScenarioWarning) as caught:
        s = load_scenario(write(tmp_path, text, "quick.toml"))
    assert s.rationale == ""
    (message,) = [str(w.message) for w in caught]
    assert message.startswith(f"{tmp_path / 'quick.toml'}: rationale: missing") and "\n" not in message
    assert s.warnings == (message,)


def test_a_shipped_scenario_needs_a_rationale(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "SCENARIO_DIR", tmp_path.resolve())
    message = error_of(write(tmp_path, KEYED.replace('rationale = "because"\n', ""), "shipped.toml"))
    assert ": rationale: missing; expected a non-empty string" in message


@pytest.mark.parametrize("lever, year, when", [
    ("transfer_friction = { years = [2022, 2030], values = [1.0, 0.6] }", 2023, "before 2025"),
    ("joint_projects = 400", 2020, "before 2025"),
    ("transfer_friction = { years = [2024, 2025], values = [1.0, 0.6] }", 2025, "the last calibrated year"),
])
def test_a_lever_changed_in_the_calibrated_years_warns(tmp_path, lever, year, when):
    from scenarios import ScenarioWarning

    name = lever.split(" =")[0]
    text = KEYED.split("[levers]")[0] + "[levers]\n" + lever + "\n"
    with pytest.warns(ScenarioWarning) as caught:
        load_scenario(write(tmp_path, text, "early.toml"))
    messages = [str(w.message) for w in caught]
    expected = (f"{tmp_path / 'early.toml'}: levers.{name} changes in {year}, {when}: "
                "it changes the calibrated history")
    assert messages == [expected]


def test_shipped_scenarios_load_without_warnings(recwarn):
    from scenarios import ScenarioWarning

    for path in SHIPPED:
        assert load_scenario(path).warnings == ()
    assert not [w for w in recwarn if issubclass(w.category, ScenarioWarning)]


def test_bth_run_strict_refuses_an_early_lever(tmp_path, capsys):
    from experiments.cli import main

    path = write(tmp_path, KEYED.split("[levers]")[0] + "[levers]\njoint_projects = 400\n", "early.toml")
    out = tmp_path / "results"
    assert main(["run", str(path), "--strict", "--out", str(out), "--seeds", "1", "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {path}: levers.joint_projects changes in 2020, before 2025: it changes the "
                   "calibrated history (--strict)")
    assert not out.exists()
