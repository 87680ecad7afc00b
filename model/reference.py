"""The reference stepping: the same model written the plain Mesa way, one agent at a time.

Every firm and lab keeps its own state in attributes and makes its own decisions in its own
methods, with its own random draws; the model drives each phase of the year with
``model.agents_by_type[...].shuffle_do(...)`` (or ``do`` where order cannot matter).  The rules
and parameters are those of :class:`model.model.TechTransferModel` (the vectorised stepping), phase
by phase; the output tables are built by the same :func:`model.outputs.annual_rows`.

It is an oracle, not a tool: ``tests/test_reference.py`` checks that both steppings give the same
distribution of outcomes, and ``bth bench`` measures how much faster the vectorised one is.
Select it with ``simulate(..., stepping="reference")`` or ``bth run ... --stepping reference``.

It is composed from the same parts as the vectorised model, not derived from it: the initial
population of 2020 (``model.initial``: the same draws, handed to one agent object per firm and
lab), the gravity-logit cell weights and choice probabilities (``model.market``), the capacity
rationing (``model.capacity``), the HTE rule (``model.recognition``) and the output rows and their
collection (``model.outputs``).  Everything that happens to an agent from 2020 on is
re-implemented here, one agent at a time.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from typing import NamedTuple

import mesa
import numpy as np

from model.capacity import TransformationCapacity
from model.initial import FIRM_FIELDS, NO_IP, initial_firms, initial_labs, set_up_run
from model.inputs import value
from model.market import FIRM, LAB, N_CELLS, N_KINDS, N_SECTORS, boundary_friction, cell_weights, choice_probabilities, supplier_factor
from model.outputs import RunTables, annual_rows, new_collector, record, run_tables
from model.params import Params
from model.recognition import hte_rule
from model.regions import BJ, HB, ICV, RC, REGIONS, SECTOR_MIX
from model.years import DEFAULT_HORIZON, FIRST_YEAR

STATE = tuple(name for name in FIRM_FIELDS if name != "alive")  # a ReferenceFirm's attributes


class Tech(NamedTuple):
    """A technology on offer."""

    owner: mesa.Agent
    kind: int  # 0 firm, 1 lab
    region: int
    sector: int
    weight: float  # real technologies it stands for
    value: float  # contract value, m yuan
    maturity: float
    vintage: int


class Deal(NamedTuple):
    buyer: mesa.Agent | None  # None: a Rest-of-China buyer
    buyer_region: int
    seller_region: int
    seller: mesa.Agent | None  # None: a Rest-of-China seller
    sector: int
    value: float
    maturity: float


class ReferenceFirm(mesa.Agent):
    """A firm with its state in attributes (see ``model.initial.FIRM_FIELDS`` for their meaning)."""

    def __init__(self, model: "ReferenceModel", **state) -> None:
        super().__init__(model)
        for name in STATE:
            setattr(self, name, state[name])
        self.contracts: list[Deal] = []  # bought this year

    @classmethod
    def newborn(cls, model: "ReferenceModel", region: int, year: int) -> "ReferenceFirm":
        """An entrant: size, R&D intensity and sector drawn as for the initial population."""
        rng, name = model.rng, REGIONS[region]
        median = value("median_sales_m", name)
        sales = value("entrant_size_ratio") * median * math.exp(value("sales_sigma", name) * rng.standard_normal())
        intensity = (sales / median) ** value("rd_intensity_size_elasticity") * math.exp(
            value("rd_intensity_sigma") * rng.standard_normal())
        return cls(model, region=region, sector=int(rng.choice(N_SECTORS, p=SECTOR_MIX[region])), sales=sales,
                   rd_intensity=min(intensity * model.rd_scale[region], value("rd_intensity_cap")), rd=0.0, rd_stock=0.0,
                   weight=1.0 / model.scale, birth_year=year, active=False, hte=False, hte_until=year,
                   last_ip_year=year - NO_IP, prod_region=region, park=False, output=0.0, demand=0.0)

    # -- 1. demography
    def grow_and_exit(self, year: int) -> None:
        p = self.model.params
        drift = float(p.regional("sales_growth", year)[self.region])
        shock = p.at("sales_volatility", year) * self.model.rng.standard_normal()
        self.sales = self.sales * math.exp(drift + shock) + p.at("output_to_sales", year) * self.output
        if self.random.random() < p.at("exit_rate", year):
            self.remove()

    # -- market participation (Bass)
    def consider_market(self, year: int, active_share: list[float]) -> None:
        p = self.model.params
        if not self.active:
            hazard = p.at("bass_p", year) + p.at("bass_q", year) * active_share[self.region]
            self.active = self.random.random() < hazard

    # -- 2. R&D
    def spend_rd(self, year: int) -> None:
        subsidy = float(self.model.params.regional("rd_subsidy", year)[self.region])
        self.rd = self.rd_intensity * self.sales * (1 + subsidy)
        if year > FIRST_YEAR:
            self.rd_stock = self.rd_stock * (1 - value("rd_stock_depreciation")) + self.rd

    # -- 3. technologies
    def invent(self, vintage: int) -> None:
        m = self.model
        n = m.rng.poisson(m.params.at("kpf_productivity", vintage) * self.rd ** m.params.at("kpf_elasticity", vintage))
        if n:
            self.last_ip_year = max(self.last_ip_year, vintage)
        if self.active:  # only firms in the registered market offer their technologies
            for _ in range(n):
                m.offer(self, FIRM, self.region, self.sector, self.weight, value("firm_maturity"), vintage)

    # -- 4. the market
    def search(self, year: int) -> None:
        m = self.model
        self.contracts = []
        absorptive = 1 - math.exp(-self.rd_stock / m.params.at("absorptive_stock_m", year))
        for _ in range(m.rng.poisson(m.params.at("search_rate", year) * absorptive)):
            cell = m.choose_cell(self.region, self.sector)
            if cell is not None:
                m.make_deal(self, self.region, cell)

    # -- 5. transformation
    def want_output(self, year: int) -> None:
        p = self.model.params
        supplier = supplier_factor(p, year)
        self.demand = sum(d.value * d.maturity * p.at("transformation_yield", year) * (supplier if d.sector == ICV else 1.0)
                          for d in self.contracts)
        if self.contracts:
            self.last_ip_year = year
        self.output = 0.0

    def produce_output(self, met: np.ndarray) -> None:
        self.output = self.demand * met[self.prod_region]

    # -- 6. branches
    def consider_branch(self, year: int) -> None:
        m, p = self.model, self.model.params
        if self.demand <= 0 or self.prod_region != self.region:
            return
        prob = p.at("branch_propensity", year) * p.at("branch_relocation", year) * (1 - m.capacity.congestion[self.region])
        if not self.random.random() < min(max(prob, 0.0), 1.0):
            return
        d0 = p.at("distance_decay_km", year)
        friction = boundary_friction(p, year)
        home = self.region
        options = [0.0 if dest == home else m.capacity.spare_bn[dest] * math.exp(-(m.distance_km[home, dest] / d0 + friction))
                   for dest in range(3)]  # Beijing, Tianjin, Hebei outside the park: where capacity is spare
        park = 0.0
        if home != HB and year >= m.park_open_year and m.park_firms_at_start < p.at("park_capacity_firms", year):
            park = p.at("park_attraction", year) * m.capacity.spare_bn[HB] * math.exp(-(m.park_km[home] / d0 + friction))
        options.append(park)
        total = sum(options)
        if total <= 0:
            return
        u, choice = self.random.random() * total, 0
        for w in accumulate(options):
            if u < w:
                break
            choice += 1
        choice = min(choice, 3)
        if choice < 3:
            self.prod_region = choice
        elif m.park_firms + self.weight <= p.at("park_capacity_firms", year):  # else it stays home this year
            m.park_firms += self.weight
            self.prod_region, self.park = HB, True

    # -- 7. HTE recognition
    def review_hte(self, year: int) -> None:
        m = self.model
        rule = hte_rule()
        threshold = (rule.small if self.sales <= rule.small_sales_max_m else rule.mid if self.sales <= rule.mid_sales_max_m
                     else rule.large)
        eligible = self.rd / max(self.sales, 1e-9) >= threshold and self.last_ip_year >= rule.oldest_ip_year(year)
        apply = m.params.at("hte_apply_rate", year)
        if year == FIRST_YEAR:  # stock of recognitions granted in 2018-2020
            self.hte = eligible and self.random.random() < 1 - (1 - apply) ** rule.years_valid
            self.hte_until = year + int(m.rng.integers(1, rule.years_valid + 1)) if self.hte else 0
            return
        if self.hte and self.hte_until <= year:
            if eligible:
                self.hte_until = year + rule.years_valid
            else:
                self.hte = False
        if eligible and not self.hte and self.random.random() < apply:
            self.hte, self.hte_until = True, year + rule.years_valid


class ReferenceLab(mesa.Agent):
    """A public research unit with its own budget."""

    def __init__(self, model: "ReferenceModel", region: int, sector: int, budget: float) -> None:
        super().__init__(model)
        self.region, self.sector, self.budget = region, sector, budget

    def spend_rd(self, year: int) -> None:
        if year > FIRST_YEAR:
            p = self.model.params
            boost = p.at("lab_budget_boost_hebei", year) if self.region == HB else 0.0
            self.budget *= 1 + p.at("lab_budget_growth", year) + boost

    def invent(self, vintage: int) -> None:
        m = self.model
        n = m.rng.poisson(m.scale * m.params.at("kpf_productivity", vintage)
                          * self.budget ** m.params.at("kpf_elasticity", vintage)
                          * m.lab_share[self.region])  # labs register as their region's firms do
        for _ in range(n):  # simulated at the model's scale, as the firms' (1/scale real each)
            m.offer(self, LAB, self.region, self.sector, 1.0 / m.scale, value("lab_maturity"), vintage)


class ReferenceRestOfChina(mesa.Agent):
    """The rest of China: searches one by one for BTH technology (sectors uniform)."""

    def __init__(self, model: "ReferenceModel") -> None:
        super().__init__(model)
        self.searches = 0.0

    def search(self, year: int) -> None:
        m = self.model
        self.searches = (value("roc_searches_2020") * m.params.at("roc_demand", year)
                         * (1 + m.params.at("roc_demand_growth", year)) ** (year - FIRST_YEAR))
        for _ in range(m.rng.poisson(self.searches * m.scale)):
            cell = m.choose_cell(RC, self.random.randrange(N_SECTORS))
            if cell is not None:
                m.make_deal(None, RC, cell)


class ReferenceModel(mesa.Model):
    """The model stepped agent by agent (see the module docstring).  Same arguments as
    :class:`model.model.TechTransferModel`; the same initial population for the same seed."""

    MAX_SCALE = 1.0

    def __init__(self, params: Params | None = None, seed: int = 0, scale: float = 0.05, until: int = DEFAULT_HORIZON) -> None:
        super().__init__(rng=seed)
        set_up_run(self, params, scale, until, self.MAX_SCALE)
        self.park_km = self.park_distance_km.tolist()  # as Python floats, for the per-agent rules
        labs = initial_labs(self.rng)  # drawn first, as in the vectorised model
        firms, self.rd_scale = initial_firms(self.rng, self.params, self.scale)
        columns = {name: firms[name].tolist() for name in STATE}
        for i in range(len(firms["region"])):
            ReferenceFirm(self, **{name: columns[name][i] for name in STATE})
        for r, s, b in zip(labs["region"].tolist(), labs["sector"].tolist(), labs["budget"].tolist()):
            ReferenceLab(self, r, s, b)
        self.rest_of_china = ReferenceRestOfChina(self)
        self.capacity = TransformationCapacity()
        self.shelf: list[Tech] = []
        self.deals: list[Deal] = []
        self.park_firms = self.park_firms_at_start = 0.0
        self.lab_share = [0.0] * len(REGIONS)
        self.datacollector = new_collector()

    @property
    def firm_set(self) -> mesa.agent.AgentSet:
        return self.agents_by_type[ReferenceFirm]

    @property
    def lab_set(self) -> mesa.agent.AgentSet:
        return self.agents_by_type[ReferenceLab]

    def step(self) -> None:
        year, firms, labs = self.year, self.firm_set, self.lab_set
        if year > FIRST_YEAR:
            firms.shuffle_do("grow_and_exit", year)
            entry = self.params.regional("entry_rate", year)
            for r, name in enumerate(REGIONS):
                for _ in range(self.rng.poisson(entry[r] * value("firms_2020", name) * self.scale)):
                    ReferenceFirm.newborn(self, r, year)
            firms = self.firm_set
            firms.shuffle_do("consider_market", year, self._active_shares())
        firms.do("spend_rd", year)
        labs.do("spend_rd", year)
        if year == FIRST_YEAR:  # the technologies still on offer from before 2020
            for vintage in range(year - int(value("tech_shelf_life")) + 1, year):
                self._invent(vintage)
        self._invent(year)
        self._market(year)
        self._transform(year)
        if year > FIRST_YEAR:
            self.park_firms = self.park_firms_at_start = sum(f.weight for f in firms if f.park)
            firms.shuffle_do("consider_branch", year)
        firms.do("review_hte", year)
        record(self.datacollector, self._annual_rows(year))
        self.year += 1

    def run(self) -> RunTables:
        """Simulate FIRST_YEAR..until and return the annual tables."""
        while self.year <= self.until:
            self.step()
        return run_tables(self.datacollector)

    def _active_shares(self) -> list[float]:
        active, alive = [0.0] * 3, [0.0] * 3
        for firm in self.firm_set:
            alive[firm.region] += firm.weight
            active[firm.region] += firm.weight * firm.active
        return [a / max(n, 1e-9) for a, n in zip(active, alive)]

    # -- technologies
    def _invent(self, vintage: int) -> None:
        shelf_life = int(value("tech_shelf_life"))
        self.shelf = [t for t in self.shelf if t.vintage > self.year - shelf_life]
        self.firm_set.do("invent", vintage)
        self.lab_share = self._active_shares()
        self.lab_set.do("invent", vintage)

    def offer(self, owner: mesa.Agent, kind: int, region: int, sector: int, weight: float, mean_maturity: float,
              vintage: int) -> None:
        """Put a new technology of ``owner`` on the shelf (lognormal value, beta maturity)."""
        p, rng = self.params, self.rng
        val = p.at("value_median_m", vintage) * math.exp(p.at("value_sigma", vintage) * rng.standard_normal())
        k = value("maturity_concentration")
        maturity = float(rng.beta(k * mean_maturity, k * (1 - mean_maturity)))
        self.shelf.append(Tech(owner, kind, region, sector, weight, val, maturity, vintage))

    # -- the market
    def _market(self, year: int) -> None:
        self._by_cell: list[list[Tech]] = [[] for _ in range(N_CELLS)]
        for tech in self.shelf:
            self._by_cell[(tech.region * N_SECTORS + tech.sector) * N_KINDS + tech.kind].append(tech)
        self._cum_weight = [list(accumulate(t.weight for t in techs)) for techs in self._by_cell]
        supply = [cum[-1] if cum else 0.0 for cum in self._cum_weight]
        w, self._supply = cell_weights(self.params, year, np.array(supply), self.distance_km)
        _, cdf = choice_probabilities(w)
        self._cdf = cdf.tolist()  # [buyer region][buyer sector] -> cumulative choice probabilities
        self.deals = []
        self.firm_set.shuffle_do("search", year)
        self.rest_of_china.search(year)
        # joint research projects: Beijing lab -> Tianjin/Hebei firm contracts
        n_joint = self.rng.poisson(self.params.at("joint_projects", year) * value("joint_project_contracts") * self.scale)
        partners = [f for f in self.firm_set if f.region != BJ]
        lab_cells = [(BJ * N_SECTORS + s) * N_KINDS + LAB for s in range(N_SECTORS)]
        lab_supply = [self._supply[c] for c in lab_cells]
        if n_joint and partners and sum(lab_supply) > 0:
            for _ in range(n_joint):
                buyer = self.random.choice(partners)
                cell = self.random.choices(lab_cells, weights=lab_supply)[0]
                self.make_deal(buyer, buyer.region, cell)

    def choose_cell(self, region: int, sector: int) -> int | None:
        """A search's choice: a cell, or None for the outside option."""
        cell = bisect_right(self._cdf[region][sector], self.random.random())
        return cell if cell < N_CELLS else None

    def make_deal(self, buyer: ReferenceFirm | None, buyer_region: int, cell: int) -> None:
        """A contract for a technology of ``cell``, picked in proportion to the real techs it stands for."""
        seller_region, sector = cell // (N_SECTORS * N_KINDS), (cell // N_KINDS) % N_SECTORS
        if seller_region == RC:  # the rest of China's technology: a fresh draw
            p = self.params
            val = p.at("value_median_m", self.year) * math.exp(p.at("value_sigma", self.year) * self.rng.standard_normal())
            deal = Deal(buyer, buyer_region, RC, None, sector, val, value("firm_maturity"))
        else:
            cum = self._cum_weight[cell]
            k = min(bisect_right(cum, self.random.random() * cum[-1]), len(cum) - 1)
            tech = self._by_cell[cell][k]
            deal = Deal(buyer, buyer_region, seller_region, tech.owner, sector, tech.value, tech.maturity)
        self.deals.append(deal)
        if buyer is not None:
            buyer.contracts.append(deal)

    # -- transformation where capacity is
    def _transform(self, year: int) -> None:
        firms = self.firm_set
        firms.do("want_output", year)
        demand_bn = np.zeros(3)
        for firm in firms:
            demand_bn[firm.prod_region] += firm.demand * firm.weight / 1000
        firms.do("produce_output", self.capacity.ration(self.params, year, demand_bn))

    # -- outputs
    def _annual_rows(self, year: int) -> dict[str, list]:
        firms = list(self.firm_set)
        cols = {name: np.array([getattr(f, name) for f in firms], dtype=float)
                for name in ("weight", "rd", "hte", "sales", "birth_year", "output", "park")}
        cols["region"] = np.array([f.region for f in firms], dtype=np.int64)
        cols["prod_region"] = np.array([f.prod_region for f in firms], dtype=np.int64)
        labs = list(self.lab_set)
        deals = {"seller_region": np.array([d.seller_region for d in self.deals], dtype=np.int64),
                 "buyer_region": np.array([d.buyer_region for d in self.deals], dtype=np.int64),
                 "value": np.array([d.value for d in self.deals], dtype=float)}
        deals["weight"] = np.full(len(self.deals), 1.0 / self.scale)
        return annual_rows(year, self.params, cols, np.array([lab.region for lab in labs], dtype=np.int64),
                           np.array([lab.budget for lab in labs], dtype=float), deals)
