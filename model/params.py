"""Model parameters, declared once: every uncertain parameter and policy lever, with its unit.

:data:`DECLARED` is the one place a parameter is declared.  Each entry (a :class:`Param`) gives
the name, the default, the range, the unit, a one-line meaning and the role:

* ``uncertain``: a behavioural parameter; its range is the calibration's search box.  Its
  calibration status is either :func:`free` (searched on a ``linear``/``log``/``cube`` scale, at a
  fixed axis of the calibration's unit cube, with the targets that identify it) or :func:`fixed`
  (kept at its default, with the reason).  Defaults are *priors*, assumptions: for the free
  parameters only the starting point of the search, since ``calibration/calibrated.toml``
  overrides them and the scenario loader applies those calibrated values by default.
* ``lever``: a policy lever that scenarios change; its range is the valid range of a scenario
  value.

(The EMA-workbench split of uncertainties and levers.)

A regional parameter is declared once with :func:`regional` and expands to one field per region
of ``model.regions.REGIONS``: ``sales_growth`` gives ``sales_growth_beijing``,
``sales_growth_tianjin``, ``sales_growth_hebei`` (the names in scenario files and
``calibrated.toml``); the model reads the three as an array with :meth:`Params.regional`.

Everything else is derived from :data:`DECLARED`: the :class:`Params` dataclass, ``FIELD_NAMES``,
``UNCERTAIN`` (name -> box), ``LEVERS``, ``LEVER_RANGES``, ``REGIONAL``, the calibration's
``FREE``/``FIXED`` (``calibration/space.py``), the scenario schema (``scenarios/schema.py``) and
the parameter tables of ``docs/scenarios.md`` (:func:`markdown_tables`,
``scripts/param_table.py``).  To add a lever, add one :func:`lever` line to :data:`DECLARED`.

Any field may be given as a :class:`Schedule` over years; the model reads a field for a given
year with :meth:`Params.at`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Mapping, Union

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

# ------------------------------------------------------------------ the declaration's vocabulary

UNCERTAIN_ROLE = "uncertain"  # behavioural, estimated (or kept at its prior) by calibration
LEVER_ROLE = "lever"  # decided: scenarios change it
SCALES = ("linear", "log", "cube")  # search scales of a free parameter (calibration/space.py)


@dataclass(frozen=True)
class Free:
    """Calibration status of an uncertain parameter the calibration estimates.

    ``axis`` is its coordinate in the calibration's unit cube (0, 1, ...): the order of
    ``calibration.space.FREE`` and of ``free`` in ``calibrated.toml``; a new free parameter takes
    the next number.  ``scale`` maps the unit coordinate onto the box (``linear``, ``log``,
    ``cube``); ``identified_by`` names the targets that pin it down (documentation).
    """

    axis: int
    scale: str
    identified_by: str


@dataclass(frozen=True)
class Fixed:
    """Calibration status of an uncertain parameter kept at its prior; ``reason`` says why the
    targets cannot identify it."""

    reason: str


@dataclass(frozen=True)
class Param:
    """One declared parameter: a field of :class:`Params`.

    ``range`` is ``(lo, hi)``: the search box of an uncertain parameter, the valid range of a
    lever; scenario values must lie in it.  ``unit`` and ``meaning`` are one line each.
    ``calibration`` is :class:`Free` or :class:`Fixed` for an uncertain parameter, ``None`` for a
    lever.  ``group`` is the regional parameter the field belongs to (``"sales_growth"``), or
    ``None``.
    """

    name: str
    default: float
    range: tuple[float, float]
    unit: str
    meaning: str
    role: str
    calibration: Free | Fixed | None = None
    group: str | None = None

    @property
    def free(self) -> bool:
        return isinstance(self.calibration, Free)

    @property
    def scale(self) -> str | None:
        return self.calibration.scale if isinstance(self.calibration, Free) else None

    @property
    def identified_by(self) -> str | None:
        return self.calibration.identified_by if isinstance(self.calibration, Free) else None

    @property
    def fixed_reason(self) -> str | None:
        return self.calibration.reason if isinstance(self.calibration, Fixed) else None


def free(axis: int, scale: str, identified_by: str) -> Free:
    """Status: estimated by calibration at unit-cube ``axis`` on ``scale``."""
    return Free(axis, scale, identified_by)


def fixed(reason: str) -> Fixed:
    """Status: kept at the prior, for ``reason``."""
    return Fixed(reason)


def uncertain(name: str, default: float, box: tuple[float, float], unit: str, meaning: str,
              calibration: Free | Fixed) -> Param:
    """An uncertain parameter with its prior, search box and calibration status."""
    return Param(name, default, box, unit, meaning, UNCERTAIN_ROLE, calibration)


def lever(name: str, default: float, valid: tuple[float, float], unit: str, meaning: str) -> Param:
    """A policy lever with its default and the valid range of scenario values."""
    return Param(name, default, valid, unit, meaning, LEVER_ROLE)


def regional(name: str, role: str, unit: str, meaning: str, *,
             defaults: Mapping[str, float],
             ranges: tuple[float, float] | Mapping[str, tuple[float, float]],
             calibration: Mapping[str, Free | Fixed] | None = None) -> tuple[Param, ...]:
    """A regional parameter: one :class:`Param` ``<name>_<region>`` per region of ``REGIONS``.

    ``defaults`` (and ``calibration``, and ``ranges`` unless one range serves all) map each
    region name (``"Beijing"``, ...) to its value.
    """
    for table in (defaults, ranges, calibration):
        if isinstance(table, Mapping) and set(table) != set(_REGIONS):
            raise ValueError(f"{name}: expected one entry per region {_REGIONS}, got {sorted(table)}")
    out = []
    for region in _REGIONS:
        box = ranges[region] if isinstance(ranges, Mapping) else ranges
        status = calibration[region] if calibration is not None else None
        out.append(Param(f"{name}_{region.lower()}", defaults[region], tuple(box), unit,
                         f"{region}: {meaning}", role, status, group=name))
    return tuple(out)


# ------------------------------------------------------------------ the declaration

#: Every parameter of a run, in field order.  Uncertain parameters first, then the levers.
DECLARED: tuple[Param, ...] = (
    # ---------------- uncertain behavioural parameters (calibrated) ----------------
    # Knowledge production function (Griliches 1979): E[technologies/yr] = A * R&D^beta,
    # R&D in million yuan per year.
    uncertain("kpf_productivity", 0.35, (0.05, 2.0), "technologies per year per (m yuan)^beta",
              "A of the knowledge production function E[technologies/yr] = A * R&D^beta",
              free(0, "log", "number of contracts (Beijing 2023 contracts) and the supply of technologies behind every turnover")),
    uncertain("kpf_elasticity", 0.6, (0.3, 0.95), "dimensionless, < 1",
              "beta of the knowledge production function",
              free(1, "linear", "how technology output scales with a firm's R&D, which sets the regions' shares of supply (many small Hebei firms against fewer large Beijing ones): Beijing against Hebei turnover, both sold mostly to the rest of China")),
    # Lognormal value of a technology contract (Scherer & Harhoff 2000).
    uncertain("value_median_m", 1.1, (0.2, 6.0), "million yuan",
              "median value of a technology contract (lognormal)",
              free(2, "log", "value per contract: Beijing turnover 2022-23 given its 106,552 contracts")),
    uncertain("value_sigma", 2.0, (1.0, 2.6), "dimensionless",
              "lognormal sigma of contract value",
              fixed("The targets give mean contract values (turnover / contracts), not their spread; median and sigma enter the mean only as median*exp(sigma^2/2). Kept at 2.0 (Scherer & Harhoff 2000); value_median_m is free.")),
    # Spatial interaction: weight exp(-distance/decay) and a boundary cost between BJ/TJ/HB.
    uncertain("distance_decay_km", 250.0, (100.0, 600.0), "km",
              "distance decay of the gravity weight exp(-distance/decay); prior = effective absorption radius 200-300 km",
              fixed("Confounded with boundary_cost and roc_boundary_cost: the model has four places with fixed distances, so one distance scale and the boundary costs act on the same few gravity weights. Kept at the sourced prior (effective absorption radius 200-300 km, public figures).")),
    uncertain("boundary_cost", 1.5, (0.0, 4.0), "log-points of attractiveness",
              "attractiveness lost crossing a Beijing/Tianjin/Hebei boundary, 2023 on",
              free(7, "linear", "Beijing's technologies against Hebei's own and the rest of China's: Beijing's seller-side flow to Tianjin and Hebei 2023-2024, Hebei's absorption from Beijing 2024 (ranking first)")),
    # The boundary cost follows a path with knots (model/years.py BOUNDARY_KNOTS): boundary_cost +
    # boundary_cost_step up to 2022, boundary_cost from 2023 on, and held there (an assumption: the
    # step is what Beijing's seller-side series shows, flat in 2021-22 and doubled in 2023; the targets
    # end in 2024 and no source projects the barrier further; scenarios change it through
    # transfer_friction).  docs/model.md, 3.3 "Time path of integration", has the reasons.
    uncertain("boundary_cost_step", 0.5, (0.0, 3.0), "log-points of attractiveness",
              "extra boundary cost up to 2022, removed in 2023 (the integration step)",
              free(8, "linear", "the 2022->2023 step of Beijing's seller-side flow to Tianjin and Hebei (36.6 -> 74.9 bn yuan), against Hebei's absorption from Beijing 2020 (derived 27.5) and 2024 (75.53)")),
    uncertain("roc_boundary_cost", 0.5, (0.0, 3.0), "log-points of attractiveness",
              "attractiveness lost trading with the rest of China (besides distance)",
              fixed("Confounded with roc_demand (Beijing's sales to the rest of China) and roc_supply; no target measures the rest of China's sales into the region. Kept at the prior.")),
    # Demand for technology: searches per market-active buyer and absorptive capacity.
    uncertain("search_rate", 2.0, (0.05, 5.0), "searches per active firm per year",
              "searches of a market-active buyer at the reference R&D stock",
              free(5, "log", "demand of BTH buyers: flows inside the region (Beijing's seller-side series, Hebei's absorption from Beijing 2020/2024, BTH turnover)")),
    uncertain("absorptive_stock_m", 5.0, (0.5, 50.0), "million yuan of R&D stock",
              "R&D stock at which a buyer's acceptance probability is 1 - 1/e",
              free(6, "log", "demand of small against large buyers: Hebei's many small firms buying from Beijing (Hebei's absorption from Beijing 2020/2024) against Hebei's and Beijing's own turnover")),
    uncertain("roc_demand", 2.5, (0.1, 6.0), "multiplier",
              "multiplier on the Rest of China's searches (inputs: roc_searches_2020)",
              free(3, "log", "Beijing's sales to the rest of China, most of Beijing's turnover (Beijing turnover 2022-23, BTH turnover 2024)")),
    uncertain("roc_supply", 1.0, (0.1, 5.0), "ratio to BTH's own",
              "Rest-of-China technologies on offer, relative to BTH's own",
              fixed("No target measures purchases from the rest of China. Kept at the prior.")),
    # Market participation diffuses (Bass 1969): p innovation, q imitation.
    uncertain("bass_p", 0.02, (0.0, 0.15), "per year",
              "Bass innovation rate of market participation",
              fixed("Confounded with bass_q: with two diffusion parameters and one growth target per region only the overall speed is identified; bass_q is free.")),
    uncertain("bass_q", 0.3, (0.0, 1.0), "per year, times the region's active share",
              "Bass imitation rate of market participation",
              free(10, "linear", "growth of sellers' participation: Hebei turnover 2020->2024 (x3.53)")),
    *regional("participation", UNCERTAIN_ROLE, "share of firms",
              "share of firms active in the registered market, 2020",
              defaults={"Beijing": 0.8, "Tianjin": 0.40, "Hebei": 0.2},
              ranges={"Beijing": (0.2, 1.0), "Tianjin": (0.05, 1.0), "Hebei": (0.02, 0.8)},
              calibration={
                  "Beijing": fixed("Beijing's turnover is matched through roc_demand and the knowledge production function; its 2020 seller participation has no target of its own (no 2020 Beijing figure). Kept at the prior."),
                  "Tianjin": fixed("No Tianjin turnover target (only the BTH total, which Beijing dominates). Kept at the prior."),
                  "Hebei": free(9, "linear", "Hebei's sellers in the registered market in 2020: Hebei turnover 2020"),
              }),
    # Firm growth (Gibrat) and demography.
    # Firm growth is tied to the economy: a firm's log sales grow by its region's real GDP growth
    # (model/data/inputs.toml gdp_real_growth: the sourced 2021-2025 averages; an assumed rate after)
    # plus this excess, which also carries inflation and fades after 2025 (model.economy.excess_fade).
    *regional("sales_growth", UNCERTAIN_ROLE, "log-points per year",
              "mean log growth of a firm's sales in excess of the region's real GDP growth (inflation included; fading after 2025)",
              defaults={"Beijing": 0.0, "Tianjin": 0.0, "Hebei": 0.0},
              ranges=(-0.1, 0.1),
              calibration={
                  "Beijing": free(11, "linear", "Beijing R&D 2024, firm revenue 2023/2025"),
                  "Tianjin": free(12, "linear", "Tianjin R&D 2024 (derived)"),
                  "Hebei": free(13, "linear", "Hebei R&D 2024 (+52.5% on 2020)"),
              }),
    uncertain("sales_volatility", 0.25, (0.05, 0.6), "log-points per year",
              "sd of a firm's log sales growth",
              fixed("Confounded with valuation_multiple (both move the unicorn counts) and with sales growth; no target measures the spread of firm sizes. Kept at the prior.")),
    *regional("entry_rate", UNCERTAIN_ROLE, "share of the firm count per year",
              "new firms per year",
              defaults={"Beijing": 0.08, "Tianjin": 0.06, "Hebei": 0.14},
              ranges={"Beijing": (0.0, 0.3), "Tianjin": (0.0, 0.3), "Hebei": (0.0, 0.4)},
              calibration={
                  "Beijing": fixed("Held at its prior (entrants 8% of the 2020 count a year, against 5% exit): no target counts Beijing's firms over time, and Beijing's HTE count (28,300 in 2023) is matched through the firm count of the initial condition (~46,000 in 2020, model/data/inputs.toml). Left free in an earlier calibration (with ~31,000 firms in 2020) the HTE target pulled it to ~0.17, which doubled Beijing's firms by 2030 and made its turnover grow ~20% a year after 2025, far beyond its 7.4% growth in 2022-2023."),
                  "Tianjin": free(14, "linear", "Tianjin HTEs and SMEs 2024 (over 12,000 each)"),
                  "Hebei": free(15, "linear", "Hebei sci-tech SMEs 2025 (over 127,000) and HTEs"),
              }),
    # Firm counts at the end of 2020 (the initial condition; entrants are a share of them too).  The
    # sources give counts only for 2023-2025 (HTEs, SMEs): each is an assumption or a fit, with its reason.
    *regional("firms_2020", UNCERTAIN_ROLE, "firms",
              "technology firms (HTEs and sci-tech SMEs, real count) at the end of 2020",
              defaults={"Beijing": 46000.0, "Tianjin": 16000.0, "Hebei": 77000.0},
              ranges={"Beijing": (30000.0, 70000.0), "Tianjin": (10000.0, 30000.0), "Hebei": (55000.0, 130000.0)},
              calibration={
                  "Beijing": fixed("No count of Beijing's technology firms is in the sources. Chosen from Beijing's 28,300 national high-tech enterprises in 2023 (public figure 'national high-tech enterprises | Beijing | 2023 | 28,300'): with the model's R&D-intensity spread and the 2016 HTE thresholds 55-60% of Beijing's technology firms qualify, so Beijing needs ~50,000 firms in 2023, i.e. ~46,000 in 2020 at the model's ~3%/yr net growth (entry 8% less exit 5%). The first value, 31,000 (HTEs plus as many SMEs again), gave 20,300 HTEs in 2023 even with every eligible firm applying."),
                  "Tianjin": fixed("Back-cast: about 20,000 technology firms at end 2024 (public figure 'national high-tech enterprises; sci-tech SMEs | Tianjin | end 2024 | over 12,000 each', with an assumed two-thirds overlap) divided by Tianjin's R&D growth 2020-2024 (48.50 bn to ~60 bn, derived in calibration/targets.toml). entry_rate_tianjin is free, so the count's path after 2020 is fitted."),
                  "Hebei": free(22, "log", "the ratio of Hebei's two 2025 counts (over 15,000 HTEs, over 127,000 SMEs) and its R&D 2024: with Hebei's business R&D shared by more firms fewer clear the HTE thresholds. The prior 77,000 is the back-cast of about 130,000 firms in 2025 (seed 1, most HTEs also SMEs) by Hebei's R&D growth factor 2020-2025 (~1.69); held there, the calibrated model missed both counts in opposite directions (17,340 HTEs > 16,500, 118,870 SMEs < 127,000) and Hebei's R&D 2024 by -6%"),
              }),
    uncertain("exit_rate", 0.05, (0.01, 0.15), "share of firms per year",
              "firms exiting per year (smallest more likely)",
              fixed("Only net entry (entry - exit) changes firm numbers, and the three regional entry rates are free. Kept at the prior.")),
    uncertain("hte_apply_rate", 1.0, (0.02, 1.0), "probability per year",
              "chance that an eligible firm applies for high-tech enterprise (HTE) status",
              fixed("Set to 1, not estimated: a recognised HTE pays corporate income tax at 15% instead of 25% (Enterprise Income Tax Law, Art. 28), so a firm that meets every criterion has every reason to apply. Left free while eligibility was the R&D share alone, the calibration put it at its bound (0.95-1.0); the counts now identify hte_criteria_share, the share of firms meeting the criteria the model has no data for.")),
    uncertain("hte_criteria_share", 0.6, (0.05, 1.0), "share of firms",
              "share of firms meeting the HTE criteria the model has no data for (S&T staff >= 10% of employees, high-tech products >= 60% of revenue), drawn once per firm",
              free(16, "linear", "HTE counts: Beijing 2023, Tianjin 2024, Hebei 2025 (with the R&D-share and IP criteria of the 2016 Measures)")),
    # The sci-tech SME registry (docs/model.md, 3.3 "Measurement"): a firm eligible by size is counted
    # only if it registers in the national evaluation system, which is voluntary and renewed every year.
    *regional("sme_registration", UNCERTAIN_ROLE, "share of eligible firms",
              "share of the firms eligible as sci-tech SMEs (sales <= 200 m yuan) that are registered in the national sci-tech SME evaluation system",
              defaults={"Beijing": 1.0, "Tianjin": 1.0, "Hebei": 1.0},
              ranges=(0.2, 1.0),
              calibration={
                  "Beijing": fixed("No target counts Beijing's sci-tech SMEs. Kept at 1 (every small technology firm registered); it changes no other output."),
                  "Tianjin": free(21, "linear", "Tianjin's sci-tech SMEs against its HTEs in 2024 (over 12,000 each): registration in the evaluation system is voluntary and renewed every year (Evaluation Measures for Sci-tech SMEs, 2017), and with every small firm counted the model could not have as many HTEs as SMEs in Tianjin (the calibration without it put entry_rate_tianjin and hte_criteria_share at their box edges)"),
                  "Hebei": free(23, "linear", "Hebei's sci-tech SMEs 2025 (more than 127,000, seed 1) against its HTEs 2025, turnover and R&D 2024. Was kept at 1 on the argument that a share below 1 would only be offset by more firms (firms_2020_hebei), so the two would not be separately identified; the calibration showed otherwise: Hebei's firm count is held by its HTEs, R&D and turnover, and with every eligible firm registered the SMEs ended 0.6% past the band's end (140,568 against [127,000, 139,700]) while probes with fewer firms moved 3 to 6 other targets out. Registration in Hebei's provincial registry is voluntary and renewed as in the national one (Evaluation Measures for Sci-tech SMEs, 2017), so a share just under 1 is plausible; it changes no output but the SME count. Its natural bound is 1 (a share), not an artefact of the box."),
              }),
    uncertain("lab_budget_growth", 0.05, (-0.02, 0.2), "per year",
              "growth of the labs' (public research) budgets",
              free(17, "linear", "the public-research part of R&D: Beijing R&D 2024 against Beijing firm revenue")),
    uncertain("valuation_multiple", 1.5, (1.0, 40.0), "yuan of valuation per yuan of annual sales",
              "valuation of a young firm relative to its sales",
              free(18, "log", "Beijing unicorns 2024 (115) and 2025 (over 90); Hebei unicorns 2025")),
    uncertain("transformation_yield", 3.0, (0.5, 10.0), "yuan of output per yuan of contract",
              "output from a bought technology, at full capacity",
              fixed("No target measures transformed output. Kept at the prior.")),
    uncertain("output_to_sales", 0.2, (0.0, 1.0), "share",
              "share of transformed output that adds to the buyer's sales",
              fixed("No target separates sales growth from technology-driven output; sales growth is free. Kept at the prior.")),
    uncertain("branch_propensity", 0.15, (0.0, 1.0), "probability per year",
              "chance that a capacity-rationed firm opens a production branch",
              free(19, "cube", "Xiong'an Zhongguancun park firms: below 113 at the end of 2023, over 140 at the end of 2024, over 200 in 2025")),
    # Headquarters and branches (docs/model.md, 3.3 "Branches"): a branch is a firm of its own, linked to its parent.
    uncertain("park_weight", 0.05, (0.001, 1.0), "share of Hebei's spare capacity",
              "the Xiong'an Zhongguancun park's pull on a branch, as a share of Hebei's spare capacity (times the park_attraction lever)",
              free(20, "log", "Xiong'an park firms: below 113 at the end of 2023, over 140 at the end of 2024, over 200 in 2025, against the branch stock in Tianjin and Hebei")),
    uncertain("intra_transfer_rate", 2.0, (0.0, 20.0), "contracts per branch per year, before the boundary cost",
              "technology contracts a branch receives from its parent (intra-firm transfer) a year, while the parent holds recent IP, times exp(-boundary cost) across a boundary",
              free(4, "linear", "the gap between Hebei's buyer-side absorption from Beijing (75.53 bn, 2024) and Beijing's seller-side flow to Tianjin and Hebei (84.37 bn): intra-firm contracts are registered where the branch is (docs/model.md, 3.3 'Measurement')")),
    uncertain("own_tech_share", 0.3, (0.0, 1.0), "share",
              "share of a firm's own new technologies it transforms itself (at expected contract value)",
              fixed("No target measures transformed output (docs/validation.md). Kept at the prior, an assumption: a firm transforms about a third of its own inventions.")),
    uncertain("national_market_growth", 0.08, (0.0, 0.25), "per year",
              "growth of China's technology market after 2024 (the last sourced year)",
              fixed("A projection assumption, not estimable from 2020-2024: between the market's growth in 2024 (11.2%, public figures) and China's nominal GDP growth (about 4-5%); scenarios may vary it.")),
    # ---------------- policy levers (decided; scenarios change them) ----------------
    lever("transfer_friction", 1.0, (0.0, 5.0), "multiplier",
          "multiplier on the BTH boundary cost (1 = as calibrated, 2020-25)"),
    *regional("rd_subsidy", LEVER_ROLE, "share of own R&D",
              "extra firm R&D paid by subsidy",
              defaults={"Beijing": 0.0, "Tianjin": 0.0, "Hebei": 0.0}, ranges=(0.0, 2.0)),
    lever("lab_budget_boost_hebei", 0.0, (0.0, 0.5), "per year",
          "extra growth of Hebei's public research budget"),
    *regional("capacity", LEVER_ROLE, "multiplier",
              "multiplier on transformation capacity (1 = calibrated)",
              defaults={"Beijing": 1.0, "Tianjin": 1.0, "Hebei": 1.0}, ranges=(0.0, 10.0)),
    lever("park_capacity_firms", 300.0, (0.0, 100000.0), "firms",
          "firms the Xiong'an Zhongguancun Science Park can host"),
    lever("park_attraction", 1.0, (0.0, 10.0), "multiplier",
          "relocation incentive: multiplier on choosing the park"),
    lever("branch_relocation", 1.0, (0.0, 10.0), "multiplier",
          "multiplier on branch_propensity (0 = no relocation)"),
    lever("joint_projects", 220.0, (0.0, 100000.0), "projects",
          "active BJ-TJ-HB joint research projects"),
    lever("shared_labs", 0.0, (0.0, 1.0), "share of Beijing lab output",
          "share of Beijing lab output open to Tianjin/Hebei buyers at no boundary cost"),
    lever("supplier_network", 300.0, (0.0, 100000.0), "suppliers",
          "suppliers in the intelligent-connected-vehicle one-hour circle"),
)


def check_declaration(declared: tuple[Param, ...] = DECLARED) -> None:
    """Raise ``ValueError`` if the declaration is inconsistent (names, ranges, statuses, axes)."""
    names = [p.name for p in declared]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"declared twice: {dup}")
    for p in declared:
        lo, hi = p.range
        if not (p.name.isidentifier() and p.unit and p.meaning):
            raise ValueError(f"{p.name}: needs an identifier name, a unit and a meaning")
        if not lo <= p.default <= hi:
            raise ValueError(f"{p.name}: default {p.default} outside its range {p.range}")
        if p.role == LEVER_ROLE and p.calibration is not None:
            raise ValueError(f"{p.name}: a lever has no calibration status")
        if p.role == UNCERTAIN_ROLE and not isinstance(p.calibration, (Free, Fixed)):
            raise ValueError(f"{p.name}: an uncertain parameter must be free or fixed")
        if p.role not in (UNCERTAIN_ROLE, LEVER_ROLE):
            raise ValueError(f"{p.name}: role must be {UNCERTAIN_ROLE!r} or {LEVER_ROLE!r}")
        if p.free and (p.scale not in SCALES or (p.scale == "log" and lo <= 0)):
            raise ValueError(f"{p.name}: scale must be one of {SCALES}, and log needs lo > 0")
    axes = sorted(p.calibration.axis for p in declared if isinstance(p.calibration, Free))
    if axes != list(range(len(axes))):
        raise ValueError(f"free parameters' axes must be 0..{len(axes) - 1}, once each; got {axes}")


check_declaration()

# ------------------------------------------------------------------ derived from the declaration

BY_NAME: dict[str, Param] = {p.name: p for p in DECLARED}
FIELD_NAMES = frozenset(BY_NAME)

#: Search box of each uncertain parameter (the calibration's box), in declaration order.
UNCERTAIN: dict[str, tuple[float, float]] = {
    p.name: p.range for p in DECLARED if p.role == UNCERTAIN_ROLE
}
#: The policy levers, in declaration order.
LEVERS: tuple[str, ...] = tuple(p.name for p in DECLARED if p.role == LEVER_ROLE)
#: Valid range of each lever (for scenario validation).
LEVER_RANGES: dict[str, tuple[float, float]] = {name: BY_NAME[name].range for name in LEVERS}
#: Regional parameters: group name -> its fields, one per region of ``REGIONS``, in that order.
REGIONAL: dict[str, tuple[str, ...]] = {
    group: tuple(p.name for p in DECLARED if p.group == group)
    for group in dict.fromkeys(p.group for p in DECLARED if p.group is not None)
}


class _ParamsMethods:
    """Methods of :class:`Params` (its fields come from :data:`DECLARED`)."""

    __slots__ = ()

    def at(self, name: str, year: float) -> float:
        """The value of field ``name`` in ``year`` (a schedule is interpolated)."""
        v = getattr(self, name)
        return v.at(year) if isinstance(v, Schedule) else float(v)

    def regional(self, name: str, year: float) -> np.ndarray:
        """The values of the regional parameter ``name`` in ``year`` as an array over
        ``model.regions.REGIONS`` (Beijing, Tianjin, Hebei): fields ``<name>_beijing`` etc."""
        try:
            names = REGIONAL[name]
        except KeyError:
            raise KeyError(f"not a regional parameter: {name!r}; expected one of "
                           f"{sorted(REGIONAL)}") from None
        return np.array([self.at(field_name, year) for field_name in names])

    def replace(self, **changes: Any) -> "Params":
        """A copy with ``changes`` applied; ``KeyError`` for a name that is not a field."""
        unknown = set(changes) - FIELD_NAMES
        if unknown:
            raise KeyError(f"unknown parameter(s): {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field, in declaration order; a schedule as ``{"years": [...], "values": [...]}``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = (
                {"years": list(v.years), "values": list(v.values)} if isinstance(v, Schedule) else v
            )
        return out


#: All parameters of one model run: a frozen (hashable) dataclass with one field per entry of
#: :data:`DECLARED`, defaulting to its declared default.  Each field's ``metadata`` holds the
#: declaration (``dataclasses.fields(Params)[i].metadata["param"]``).
Params = dataclasses.make_dataclass(
    "Params",
    [(p.name, Value, dataclasses.field(default=p.default, metadata={"param": p}))
     for p in DECLARED],
    bases=(_ParamsMethods,),
    frozen=True,
    module=__name__,
    namespace={"__doc__": "All parameters of one model run; fields, units and meanings are "
                          "declared in model.params.DECLARED."},
)

assert set(UNCERTAIN) | set(LEVERS) == FIELD_NAMES


# ------------------------------------------------------------------ the docs tables

def _num(v: float) -> str:
    return repr(float(v))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_tables(declared: tuple[Param, ...] = DECLARED) -> str:
    """The levers and the uncertain parameters as two Markdown tables (for docs/scenarios.md)."""
    lines = ["### Levers (`[levers]`)", "",
             "| lever | default | valid range | unit | meaning |", "|---|---|---|---|---|"]
    for p in declared:
        if p.role == LEVER_ROLE:
            lines.append(f"| `{p.name}` | {_num(p.default)} | {_num(p.range[0])} to "
                         f"{_num(p.range[1])} | {_cell(p.unit)} | {_cell(p.meaning)} |")
    lines += ["", "### Uncertain parameters (`[parameters]`, sensitivity only)", "",
              "Free ones are estimated by `bth calibrate` (scenarios use the calibrated value, "
              "not the prior); fixed ones stay at the prior.", "",
              "| parameter | prior | search box | unit | meaning | calibration |",
              "|---|---|---|---|---|---|"]
    for p in declared:
        if p.role == UNCERTAIN_ROLE:
            status = (f"free ({p.scale}): {p.identified_by}" if p.free
                      else f"fixed: {p.fixed_reason}")
            lines.append(f"| `{p.name}` | {_num(p.default)} | {_num(p.range[0])} to "
                         f"{_num(p.range[1])} | {_cell(p.unit)} | {_cell(p.meaning)} | "
                         f"{_cell(status)} |")
    return "\n".join(lines) + "\n"
