"""Model parameters: what is uncertain (calibrated) and what is decided (policy levers).

Following the EMA-workbench split:

* ``UNCERTAIN`` lists the behavioural parameters that calibration estimates, each with the
  range searched.  Their defaults here are *priors*, assumptions: for the free parameters
  (``calibration/space.py`` FREE) only the starting point of the search, since
  ``calibration/calibrated.toml`` overrides them and the scenario loader applies those calibrated
  values by default; the parameters kept at their priors are listed, each with its reason and
  source, in ``calibration/space.py`` FIXED.
* ``LEVERS`` lists the policy levers that scenarios change.  A lever may be a constant or a
  :class:`Schedule` over years.

Every field has a unit in its docstring.  The model reads a field for a given year with
:meth:`Params.at`, so any field may be given as a schedule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Union

import numpy as np

from model.regions import REGIONS as _REGIONS


@dataclass(frozen=True)
class Schedule:
    """A value that changes over years: piecewise-linear between the given points.

    ``Schedule(years=(2026, 2030), values=(1.0, 0.7))`` means 1.0 up to 2026, falling
    linearly to 0.7 in 2030, and 0.7 afterwards.  Years must be strictly increasing.
    """

    years: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.years) != len(self.values) or not self.years:
            raise ValueError("a schedule needs as many values as years, and at least one")
        if any(b <= a for a, b in zip(self.years, self.years[1:])):
            raise ValueError(f"schedule years must be strictly increasing, got {list(self.years)}")

    def at(self, year: float) -> float:
        return float(np.interp(year, self.years, self.values))


Value = Union[float, Schedule]


@dataclass(frozen=True)
class Params:
    """All parameters of one model run.  Units are in each field's comment."""

    # ---------------- uncertain behavioural parameters (calibrated) ----------------
    # Knowledge production function (Griliches 1979): E[technologies/yr] = A * R&D^beta,
    # R&D in million yuan per year.
    kpf_productivity: Value = 0.35  # technologies per year per (m yuan)^beta
    kpf_elasticity: Value = 0.6  # beta, dimensionless, < 1
    # Lognormal value of a technology contract (Scherer & Harhoff 2000).
    value_median_m: Value = 1.1  # median contract value, million yuan
    value_sigma: Value = 2.0  # lognormal sigma of contract value, dimensionless
    # Spatial interaction: weight exp(-distance/decay) and a boundary cost between BJ/TJ/HB.
    distance_decay_km: Value = 250.0  # km; prior = effective absorption radius 200-300 km
    boundary_cost: Value = 1.5  # log-points of attractiveness lost crossing a BTH boundary, 2025 on
    # The boundary cost fell over 2020-25 (coordinated-development measures): in 2020 it was
    # boundary_cost + boundary_cost_fall, falling linearly to boundary_cost in 2025 and held after
    # (an assumption: the targets end in 2025 and no source projects the barrier further; scenarios
    # change it through transfer_friction).
    boundary_cost_fall: Value = 0.5  # log-points fallen 2020 -> 2025; prior = a third of boundary_cost's (calibrated)
    roc_boundary_cost: Value = 0.5  # log-points lost trading with the rest of China (besides distance)
    # Demand for technology: searches per market-active buyer and absorptive capacity.
    search_rate: Value = 2.0  # searches per active firm per year at reference R&D stock
    absorptive_stock_m: Value = 5.0  # m yuan R&D stock at which acceptance prob = 1 - 1/e
    roc_demand: Value = 2.5  # multiplier on the Rest of China's searches (inputs: roc_searches_2020)
    roc_demand_growth: Value = 0.03  # growth of Rest-of-China searches per year
    roc_supply: Value = 1.0  # Rest-of-China technologies on offer, relative to BTH's own
    # Market participation diffuses (Bass 1969): p innovation, q imitation.
    bass_p: Value = 0.02  # per year
    bass_q: Value = 0.3  # per year, times the region's active share
    participation_beijing: Value = 0.8  # share of firms active in the registered market, 2020
    participation_tianjin: Value = 0.40
    participation_hebei: Value = 0.2
    # Firm growth (Gibrat) and demography.
    sales_growth_beijing: Value = 0.03  # mean log growth of sales per year
    sales_growth_tianjin: Value = 0.02
    sales_growth_hebei: Value = 0.03
    sales_volatility: Value = 0.25  # sd of log growth per year
    entry_rate_beijing: Value = 0.08  # new firms per year, share of the firm count
    entry_rate_tianjin: Value = 0.06
    entry_rate_hebei: Value = 0.14
    exit_rate: Value = 0.05  # share of firms exiting per year (smallest more likely)
    hte_apply_rate: Value = 0.35  # chance per year that an eligible firm applies for HTE status
    lab_budget_growth: Value = 0.05  # growth of labs' (public research) budgets per year
    valuation_multiple: Value = 1.5  # firm valuation / annual sales, young firms
    transformation_yield: Value = 3.0  # yuan of output per yuan of contract, at full capacity
    output_to_sales: Value = 0.2  # share of transformed output that adds to the buyer's sales
    branch_propensity: Value = 0.15  # chance a capacity-rationed firm opens a branch, per year

    # ---------------- policy levers (decided; scenarios change them) ----------------
    transfer_friction: Value = 1.0  # multiplier on the BTH boundary cost (1 = as calibrated, 2020-25)
    rd_subsidy_beijing: Value = 0.0  # extra firm R&D paid by subsidy, share of own R&D
    rd_subsidy_tianjin: Value = 0.0
    rd_subsidy_hebei: Value = 0.0
    lab_budget_boost_hebei: Value = 0.0  # extra growth of Hebei's public research budget, per year
    capacity_beijing: Value = 1.0  # multiplier on transformation capacity (1 = calibrated)
    capacity_tianjin: Value = 1.0
    capacity_hebei: Value = 1.0
    park_capacity_firms: Value = 300.0  # firms the Xiong'an Zhongguancun Science Park can host
    park_attraction: Value = 1.0  # relocation incentive: multiplier on choosing the park
    branch_relocation: Value = 1.0  # multiplier on branch_propensity (0 = no relocation)
    joint_projects: Value = 220.0  # active BJ-TJ-HB joint research projects (count)
    shared_labs: Value = 0.0  # share of Beijing lab output open to TJ/HB buyers at no boundary cost
    supplier_network: Value = 300.0  # suppliers in the ICV one-hour circle (count)

    def at(self, name: str, year: float) -> float:
        """The value of field ``name`` in ``year`` (a schedule is interpolated)."""
        v = getattr(self, name)
        return v.at(year) if isinstance(v, Schedule) else float(v)

    def regional(self, name: str, year: float) -> np.ndarray:
        """The values of the regional parameter ``name`` in ``year`` as an array over
        ``model.regions.REGIONS`` (Beijing, Tianjin, Hebei): fields ``<name>_beijing`` etc."""
        return np.array([self.at(f"{name}_{region.lower()}", year) for region in _REGIONS])

    def replace(self, **changes: Any) -> "Params":
        unknown = set(changes) - FIELD_NAMES
        if unknown:
            raise KeyError(f"unknown parameter(s): {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = (
                {"years": list(v.years), "values": list(v.values)} if isinstance(v, Schedule) else v
            )
        return out


FIELD_NAMES = frozenset(f.name for f in fields(Params))

# Search ranges of the uncertain parameters (the calibration's box).
UNCERTAIN: dict[str, tuple[float, float]] = {
    "kpf_productivity": (0.05, 2.0),
    "kpf_elasticity": (0.3, 0.95),
    "value_median_m": (0.2, 6.0),
    "value_sigma": (1.0, 2.6),
    "distance_decay_km": (100.0, 600.0),
    "boundary_cost": (0.0, 4.0),
    "boundary_cost_fall": (0.0, 3.0),
    "roc_boundary_cost": (0.0, 3.0),
    "search_rate": (0.05, 5.0),
    "absorptive_stock_m": (0.5, 50.0),
    "roc_demand": (0.1, 6.0),
    "roc_demand_growth": (-0.05, 0.15),
    "roc_supply": (0.1, 5.0),
    "bass_p": (0.0, 0.15),
    "bass_q": (0.0, 1.0),
    "participation_beijing": (0.2, 1.0),
    "participation_tianjin": (0.05, 1.0),
    "participation_hebei": (0.02, 0.8),
    "sales_growth_beijing": (-0.05, 0.2),
    "sales_growth_tianjin": (-0.05, 0.2),
    "sales_growth_hebei": (-0.05, 0.2),
    "sales_volatility": (0.05, 0.6),
    "entry_rate_beijing": (0.0, 0.3),
    "entry_rate_tianjin": (0.0, 0.3),
    "entry_rate_hebei": (0.0, 0.4),
    "exit_rate": (0.01, 0.15),
    "hte_apply_rate": (0.02, 1.0),
    "lab_budget_growth": (-0.02, 0.2),
    "valuation_multiple": (1.0, 40.0),
    "transformation_yield": (0.5, 10.0),
    "output_to_sales": (0.0, 1.0),
    "branch_propensity": (0.0, 1.0),
}

LEVERS: tuple[str, ...] = (
    "transfer_friction",
    "rd_subsidy_beijing",
    "rd_subsidy_tianjin",
    "rd_subsidy_hebei",
    "lab_budget_boost_hebei",
    "capacity_beijing",
    "capacity_tianjin",
    "capacity_hebei",
    "park_capacity_firms",
    "park_attraction",
    "branch_relocation",
    "joint_projects",
    "shared_labs",
    "supplier_network",
)

# Valid range of each lever (for scenario validation).
LEVER_RANGES: dict[str, tuple[float, float]] = {
    "transfer_friction": (0.0, 5.0),
    "rd_subsidy_beijing": (0.0, 2.0),
    "rd_subsidy_tianjin": (0.0, 2.0),
    "rd_subsidy_hebei": (0.0, 2.0),
    "lab_budget_boost_hebei": (0.0, 0.5),
    "capacity_beijing": (0.0, 10.0),
    "capacity_tianjin": (0.0, 10.0),
    "capacity_hebei": (0.0, 10.0),
    "park_capacity_firms": (0.0, 100000.0),
    "park_attraction": (0.0, 10.0),
    "branch_relocation": (0.0, 10.0),
    "joint_projects": (0.0, 100000.0),
    "shared_labs": (0.0, 1.0),
    "supplier_network": (0.0, 100000.0),
}
assert set(UNCERTAIN) | set(LEVERS) == FIELD_NAMES
