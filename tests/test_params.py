"""The parameter declaration: everything derived from model.params.DECLARED agrees with it, and a
lever added to the declaration alone reaches the scenario schema, the docs tables and validation."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calibration.space import FIXED, FREE
from model.params import (
    BY_NAME,
    DECLARED,
    FIELD_NAMES,
    LEVER_RANGES,
    LEVERS,
    REGIONAL,
    UNCERTAIN,
    Fixed,
    Free,
    Params,
    Schedule,
    check_declaration,
    lever,
    markdown_tables,
)
from model.regions import REGIONS
from scenarios import ScenarioError, load_scenario
from scenarios.schema import LeversSpec, ParametersSpec, ScenarioSpec, table_spec

ROOT = Path(__file__).resolve().parents[1]

# The calibration's unit cube: its axis order is what calibration/calibrated.toml was made with.
CUBE_ORDER = [
    "kpf_productivity", "kpf_elasticity", "value_median_m", "roc_demand", "intra_transfer_rate",
    "search_rate", "absorptive_stock_m", "boundary_cost", "boundary_cost_step",
    "participation_hebei", "bass_q", "sales_growth_beijing", "sales_growth_tianjin",
    "sales_growth_hebei", "entry_rate_tianjin", "entry_rate_hebei", "hte_criteria_share",
    "lab_budget_growth", "valuation_multiple", "branch_propensity", "park_weight",
    "sme_registration_tianjin", "firms_2020_hebei", "sme_registration_hebei",
]
# Uncertain parameters kept at their prior (not searched): the new mechanisms' fixed ones included.
FIXED_NAMES = {
    "bass_p", "distance_decay_km", "entry_rate_beijing", "exit_rate", "hte_apply_rate",
    "national_market_growth", "output_to_sales", "own_tech_share", "participation_beijing",
    "participation_tianjin", "roc_boundary_cost", "roc_supply", "sales_volatility",
    "transformation_yield", "value_sigma", "sme_registration_beijing",
    "firms_2020_beijing", "firms_2020_tianjin",
}


# ---------------------------------------------------------------- derived structures


def test_params_fields_are_the_declaration_in_order():
    fs = dataclasses.fields(Params)
    assert [f.name for f in fs] == [p.name for p in DECLARED]
    assert FIELD_NAMES == frozenset(BY_NAME) == frozenset(f.name for f in fs)
    p = Params()
    for f, d in zip(fs, DECLARED):
        value = getattr(p, d.name)
        assert value == d.default and type(value) is float, d.name
        assert f.metadata["param"] is d


def test_uncertain_levers_and_ranges_follow_the_declaration():
    assert list(UNCERTAIN) == [p.name for p in DECLARED if p.role == "uncertain"]
    assert LEVERS == tuple(p.name for p in DECLARED if p.role == "lever")
    assert all(UNCERTAIN[p.name] == p.range for p in DECLARED if p.role == "uncertain")
    assert LEVER_RANGES == {p.name: p.range for p in DECLARED if p.role == "lever"}
    assert set(UNCERTAIN).isdisjoint(LEVERS) and set(UNCERTAIN) | set(LEVERS) == FIELD_NAMES


def test_free_and_fixed_follow_the_declaration():
    assert [fp.name for fp in FREE] == CUBE_ORDER and len(CUBE_ORDER) == 24
    assert set(FIXED) == FIXED_NAMES
    # removed and renamed parameters are gone for good
    assert {"roc_demand_growth", "boundary_cost_fall"}.isdisjoint(FIELD_NAMES)
    # HTE applications: every eligible firm applies (fixed at 1); the criteria share is estimated
    assert BY_NAME["hte_apply_rate"].default == 1.0
    for fp in FREE:
        status = BY_NAME[fp.name].calibration
        assert isinstance(status, Free)
        assert (fp.scale, fp.identified_by, fp.box) == (status.scale, status.identified_by,
                                                        BY_NAME[fp.name].range)
        assert CUBE_ORDER.index(fp.name) == status.axis
    assert FIXED == {p.name: p.calibration.reason for p in DECLARED
                     if isinstance(p.calibration, Fixed)}
    assert set(FIXED) | {fp.name for fp in FREE} == set(UNCERTAIN)
    assert all(p.calibration is None for p in DECLARED if p.role == "lever")


def test_regional_groups_expand_to_one_field_per_region():
    assert set(REGIONAL) == {"participation", "sales_growth", "entry_rate", "firms_2020", "sme_registration",
                             "rd_subsidy", "capacity"}
    for group, names in REGIONAL.items():
        assert names == tuple(f"{group}_{r.lower()}" for r in REGIONS)
        assert all(BY_NAME[n].group == group for n in names)
    p = Params().replace(sales_growth_tianjin=Schedule((2020, 2030), (0.02, 0.12)))
    got = p.regional("sales_growth", 2025)
    assert got.dtype == np.float64
    assert got.tolist() == [0.0, pytest.approx(0.07), 0.0]
    # sales_growth_* is the excess over regional GDP growth: prior 0, box -0.1..0.1
    for name in REGIONAL["sales_growth"]:
        assert BY_NAME[name].default == 0.0 and BY_NAME[name].range == (-0.1, 0.1)
    assert Params().regional("capacity", 2030).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(KeyError, match="not a regional parameter"):
        Params().regional("boundary_cost", 2025)


def test_schema_tables_follow_the_declaration():
    assert tuple(LeversSpec.model_fields) == LEVERS
    assert tuple(ParametersSpec.model_fields) == tuple(UNCERTAIN)
    schema = ScenarioSpec.model_json_schema()["$defs"]["LeversSpec"]["properties"]
    assert BY_NAME["joint_projects"].meaning in schema["joint_projects"]["description"]


def test_params_api():
    p = Params()
    q = p.replace(joint_projects=400.0)
    assert q.joint_projects == 400.0 and p.joint_projects == 220.0
    assert q != p and hash(Params()) == hash(p) and Params() == p
    with pytest.raises(KeyError, match="unknown parameter"):
        p.replace(not_a_parameter=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.joint_projects = 1.0  # type: ignore[misc]
    assert list(p.to_dict()) == [d.name for d in DECLARED]
    s = p.replace(shared_labs=Schedule((2026, 2030), (0.0, 0.5)))
    assert s.to_dict()["shared_labs"] == {"years": [2026, 2030], "values": [0.0, 0.5]}
    assert s.at("shared_labs", 2028) == pytest.approx(0.25) and s.at("joint_projects", 2028) == 220.0
    assert pickle.loads(pickle.dumps(s)) == s


# ---------------------------------------------------------------- the declaration's own checks


@pytest.mark.parametrize(
    "bad, message",
    [
        (DECLARED + (lever("joint_projects", 1.0, (0.0, 2.0), "x", "twice"),), "declared twice"),
        (DECLARED + (lever("demo", 3.0, (0.0, 2.0), "x", "outside"),), "outside its range"),
        (DECLARED + (lever("demo", 1.0, (0.0, 2.0), "", "no unit"),), "a unit"),
        (tuple(dataclasses.replace(p, calibration=None) if p.name == "bass_p" else p
               for p in DECLARED), "must be free or fixed"),
        (tuple(dataclasses.replace(p, calibration=Free(3, "linear", "x")) if p.name == "bass_p"
               else p for p in DECLARED), "axes"),
        (tuple(dataclasses.replace(p, calibration=Free(20, "log", "x")) if p.name == "bass_p"
               else p for p in DECLARED), "log needs lo > 0"),
    ],
)
def test_an_inconsistent_declaration_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        check_declaration(bad)


# ---------------------------------------------------------------- one place for a new lever

DEMO = lever("demo_lever", 1.0, (0.0, 2.0), "multiplier", "a demonstration lever")


def test_a_new_declared_lever_reaches_schema_and_table():
    declared = DECLARED + (DEMO,)
    spec = table_spec("LeversSpec", "lever", declared)
    assert list(spec.model_fields)[-1] == "demo_lever"
    assert spec.model_validate({"demo_lever": 1.5}).demo_lever == 1.5
    with pytest.raises(ValueError, match="between 0.0 and 2.0"):
        spec.model_validate({"demo_lever": 3.0})
    assert "| `demo_lever` | 1.0 | 0.0 to 2.0 | multiplier | a demonstration lever |" in (
        markdown_tables(declared))


def test_out_of_range_lever_is_refused_in_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('description = "d"\nrationale = "r"\n[levers]\nshared_labs = 1.5\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (f"{path}: levers.shared_labs: expected a number between 0.0 and "
                               "1.0 or a schedule {years, values}, got 1.5")


def test_bth_run_refuses_an_out_of_range_lever_in_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('description = "d"\nrationale = "r"\n[levers]\njoint_projects = -5\n')
    done = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "run", str(path), "--out", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "levers.joint_projects: expected a number between 0.0 and 100000.0" in lines[0]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the docs tables


def test_docs_tables_are_current():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import param_table
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    text = param_table.DOC.read_text(encoding="utf-8")
    assert param_table.render(text, markdown_tables()) == text, (
        "docs/scenarios.md parameter tables are stale: run .venv/bin/python scripts/param_table.py")
    for p in DECLARED:
        assert f"| `{p.name}` |" in text

