"""Scenarios: declarative TOML files of policy levers, validated and turned into model parameters.

    from scenarios import load_scenario
    s = load_scenario("scenarios/baseline.toml")      # or load_scenario("baseline")
    s.params, s.until, s.content_hash                  # feed to model.simulate
    s2 = s.with_changes(joint_projects=400)            # a validated variant (notebooks)

Any problem raises :class:`ScenarioError` with one line naming the file and the field; a what-if
without a rationale, or a lever changed in the calibrated years, gives a :class:`ScenarioWarning`.
File format: ``docs/scenarios.md`` and :mod:`scenarios.schema`.
"""

from scenarios.loader import SCENARIO_DIR, Scenario, ScenarioWarning, load_scenario, shipped_scenarios
from scenarios.schema import KeyOutcome, ScenarioError

__all__ = ["SCENARIO_DIR", "KeyOutcome", "Scenario", "ScenarioError", "ScenarioWarning", "load_scenario",
           "shipped_scenarios"]
