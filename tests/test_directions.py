"""Shipped scenarios move outcomes in the direction their rationale expects (docs/scenarios.md).

Common random numbers: every scenario runs the same 6 seeds at scale 0.03 to 2030; the paired
90% interval of the difference to the baseline must not straddle zero."""

from __future__ import annotations

import pytest

from experiments.api import load_scenario, run_ensemble
from experiments.compare import paired_differences


@pytest.fixture(scope="module")
def effects():
    names = ["baseline", "no-coordination", "integrated-innovation-center"]
    res = run_ensemble([load_scenario(f"scenarios/{n}.toml") for n in names], seeds=6, scale=0.03,
                       until=2030, workers=1, progress=False, plots=False)
    d = paired_differences(res.regions, res.flows, baseline="baseline", years=(2030,))
    return d.set_index(["scenario", "outcome", "year"])


def test_no_coordination_lowers_beijing_to_hebei_flows(effects):
    row = effects.loc[("no-coordination", "flow Beijing->Hebei", 2030)]
    assert row.hi < 0 and not row.straddles_zero


def test_integrated_innovation_center_raises_beijing_to_tianjin_and_hebei_flows(effects):
    row = effects.loc[("integrated-innovation-center", "flow Beijing->Tianjin+Hebei", 2030)]
    assert row.lo > 0 and not row.straddles_zero
