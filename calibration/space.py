"""The calibration's parameter space: which uncertain parameters are free, and how they are searched.

The optimiser works in the unit cube; each free parameter maps a unit coordinate ``u`` in [0, 1]
onto its search box ``model.params.UNCERTAIN[name] = (lo, hi)``:

* ``linear``: ``lo + (hi - lo) * u``
* ``log``:    ``lo * (hi / lo) ** u``  (boxes spanning more than a factor 20 with lo > 0)
* ``cube``:   ``lo + (hi - lo) * u**3`` (boxes from 0 whose plausible values crowd the low end)

The free set and the reasons for it are in :data:`FREE` and :data:`FIXED`; docs/calibration.md
repeats them.  Every other uncertain parameter stays at its prior (``model.params.Params``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from model import UNCERTAIN, Params

SIG_DIGITS = 10  # parameter values are rounded to this many significant digits before simulating


@dataclass(frozen=True)
class FreeParam:
    name: str
    scale: str  # "linear" | "log" | "cube"
    identified_by: str  # the targets that pin it down (documentation)

    @property
    def box(self) -> tuple[float, float]:
        return UNCERTAIN[self.name]

    def value(self, u: float) -> float:
        lo, hi = self.box
        u = float(np.clip(u, 0.0, 1.0))
        if self.scale == "log":
            v = lo * (hi / lo) ** u
        elif self.scale == "cube":
            v = lo + (hi - lo) * u**3
        else:
            v = lo + (hi - lo) * u
        return round_sig(v)

    def unit(self, v: float) -> float:
        lo, hi = self.box
        if self.scale == "log":
            u = np.log(v / lo) / np.log(hi / lo)
        elif self.scale == "cube":
            u = np.cbrt((v - lo) / (hi - lo))
        else:
            u = (v - lo) / (hi - lo)
        return float(np.clip(u, 0.0, 1.0))


# The free parameters, with the targets that identify them.
FREE: tuple[FreeParam, ...] = (
    # market volume, values and geography
    FreeParam("kpf_productivity", "log", "number of contracts (Beijing 2023 contracts) and the supply of technologies behind every turnover"),
    FreeParam("kpf_elasticity", "linear", "how technology output scales with a firm's R&D, which sets the regions' shares of supply (many small Hebei firms against fewer large Beijing ones): Beijing against Hebei turnover, both sold mostly to the rest of China"),
    FreeParam("value_median_m", "log", "value per contract: Beijing turnover 2022-23 given its 106,552 contracts"),
    FreeParam("roc_demand", "log", "Beijing's sales to the rest of China, most of Beijing's turnover (Beijing turnover 2022-23, BTH turnover 2024)"),
    FreeParam("roc_demand_growth", "linear", "growth of Beijing's sales to the rest of China: Beijing turnover 2022->2023 (+7.4%), BTH turnover 2024"),
    FreeParam("search_rate", "log", "demand of BTH buyers: flows inside the region (Beijing->Hebei 2020/2024, BTH turnover)"),
    FreeParam("absorptive_stock_m", "log", "demand of small against large buyers: Hebei's many small firms buying from Beijing (Beijing->Hebei 2020/2024) against Hebei's and Beijing's own turnover"),
    FreeParam("boundary_cost", "linear", "Beijing->Hebei against Hebei's own and the rest of China's technologies (Hebei absorbed from Beijing 2024; ranking first)"),
    FreeParam("boundary_cost_fall", "linear", "growth of Beijing->Hebei beyond its buyers' own growth: Beijing->Hebei 2020 (derived, 27.5) against 2024 (75.53)"),
    FreeParam("participation_hebei", "linear", "Hebei's sellers in the registered market in 2020: Hebei turnover 2020"),
    FreeParam("bass_q", "linear", "growth of sellers' participation: Hebei turnover 2020->2024 (x3.53)"),
    # firm demography and R&D
    FreeParam("sales_growth_beijing", "linear", "Beijing R&D 2024, firm revenue 2023/2025"),
    FreeParam("sales_growth_tianjin", "linear", "Tianjin R&D 2024 (derived)"),
    FreeParam("sales_growth_hebei", "linear", "Hebei R&D 2024 (+52.5% on 2020)"),
    FreeParam("entry_rate_tianjin", "linear", "Tianjin HTEs and SMEs 2024 (over 12,000 each)"),
    FreeParam("entry_rate_hebei", "linear", "Hebei sci-tech SMEs 2025 (over 127,000) and HTEs"),
    FreeParam("hte_apply_rate", "linear", "HTE counts: Beijing 2023, Tianjin 2024, Hebei 2025"),
    FreeParam("lab_budget_growth", "linear", "the public-research part of R&D: Beijing R&D 2024 against Beijing firm revenue"),
    # unicorns and the Xiong'an park
    FreeParam("valuation_multiple", "log", "Beijing unicorns 2024 (115) and 2025 (over 90); Hebei unicorns 2025"),
    FreeParam("branch_propensity", "cube", "Xiong'an Zhongguancun park firms: below 113 at the end of 2023, over 140 at the end of 2024, over 200 in 2025"),
)

# Uncertain parameters kept at their priors, and why the targets cannot identify them.
FIXED: dict[str, str] = {
    "entry_rate_beijing": "Held at its prior (entrants 8% of the 2020 count a year, against 5% exit): no target counts Beijing's firms over time, and Beijing's HTE count (28,300 in 2023) is matched through the firm count of the initial condition (~46,000 in 2020, model/data/inputs.toml). Left free in an earlier calibration (with ~31,000 firms in 2020) the HTE target pulled it to ~0.17, which doubled Beijing's firms by 2030 and made its turnover grow ~20% a year after 2025, far beyond its 7.4% growth in 2022-2023.",
    "value_sigma": "The targets give mean contract values (turnover / contracts), not their spread; median and sigma enter the mean only as median*exp(sigma^2/2). Kept at 2.0 (Scherer & Harhoff 2000); value_median_m is free.",
    "distance_decay_km": "Confounded with boundary_cost and roc_boundary_cost: the model has four places with fixed distances, so one distance scale and the boundary costs act on the same few gravity weights. Kept at the sourced prior (effective absorption radius 200-300 km, public figures).",
    "roc_boundary_cost": "Confounded with roc_demand (Beijing's sales to the rest of China) and roc_supply; no target measures the rest of China's sales into the region. Kept at the prior.",
    "roc_supply": "No target measures purchases from the rest of China. Kept at the prior.",
    "bass_p": "Confounded with bass_q: with two diffusion parameters and one growth target per region only the overall speed is identified; bass_q is free.",
    "participation_beijing": "Beijing's turnover is matched through roc_demand and the knowledge production function; its 2020 seller participation has no target of its own (no 2020 Beijing figure). Kept at the prior.",
    "participation_tianjin": "No Tianjin turnover target (only the BTH total, which Beijing dominates). Kept at the prior.",
    "sales_volatility": "Confounded with valuation_multiple (both move the unicorn counts) and with sales growth; no target measures the spread of firm sizes. Kept at the prior.",
    "exit_rate": "Only net entry (entry - exit) changes firm numbers, and the three regional entry rates are free. Kept at the prior.",
    "transformation_yield": "No target measures transformed output. Kept at the prior.",
    "output_to_sales": "No target separates sales growth from technology-driven output; sales growth is free. Kept at the prior.",
}


def check_space() -> None:
    names = [p.name for p in FREE]
    assert len(set(names)) == len(names), "duplicate free parameter"
    assert set(names).isdisjoint(FIXED), "a parameter is both free and fixed"
    missing = set(UNCERTAIN) - set(names) - set(FIXED)
    assert not missing, f"uncertain parameters neither free nor fixed: {sorted(missing)}"
    for p in FREE:
        lo, hi = p.box
        assert p.scale in ("linear", "log", "cube"), p
        assert p.scale != "log" or lo > 0, f"{p.name}: log scale needs lo > 0"


check_space()


def round_sig(v: float, digits: int = SIG_DIGITS) -> float:
    return float(f"{float(v):.{digits}g}")


class Space:
    """Maps unit-cube vectors to parameter values and ``Params``."""

    def __init__(self, free: Sequence[FreeParam] = FREE, base: Params | None = None) -> None:
        self.free = tuple(free)
        self.base = base or Params()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.free]

    @property
    def dim(self) -> int:
        return len(self.free)

    def values(self, u: Sequence[float]) -> dict[str, float]:
        return {p.name: p.value(ui) for p, ui in zip(self.free, u)}

    def unit(self, values: Mapping[str, float]) -> np.ndarray:
        return np.array([p.unit(values[p.name]) for p in self.free])

    def params(self, u: Sequence[float]) -> Params:
        return self.base.replace(**self.values(u))

    def prior_unit(self) -> np.ndarray:
        return self.unit({p.name: self.base.at(p.name, 2020) for p in self.free})
