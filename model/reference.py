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
lab, a branch's parent row becoming a reference to its parent agent) and the attributes of a new
firm (``model.initial.draw_firms``, one call per entrant or branch), the gravity-logit cell weights,
outside option, choice probabilities and boundary friction (``model.market``), the economy's paths
(``model.economy``), the capacity rationing (``model.capacity``), the HTE rule
(``model.recognition``) and the output rows and their collection (``model.outputs``).  Everything
that happens to an agent from 2020 on is re-implemented here, one agent at a time.

A branch is a firm of its own (a ``ReferenceFirm`` of its region) that holds a reference to its
parent (``parent``; None for an independent firm); the parent keeps its living branches
(``branches``).  A new branch is a new agent, created through Mesa's constructor as entrants are.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from typing import NamedTuple

import mesa
import numpy as np

from model.capacity import TransformationCapacity
from model.economy import excess_fade, gdp_log_growth, national_market_index
from model.initial import FIRM_FIELDS, draw_firms, initial_firms, initial_labs, set_up_run
from model.inputs import value
from model.market import (FIRM, LAB, N_CELLS, N_KINDS, N_SECTORS, boundary_friction, cell_weights, choice_probabilities,
                          outside_weights, supplier_factor)
from model.outputs import RunTables, annual_rows, new_collector, record, run_tables
from model.params import Params
from model.recognition import hte_rule
from model.sampling import bernoulli_rows, categorical_rows
from model.regions import BJ, HB, ICV, RC, REGIONS
from model.years import DEFAULT_HORIZON, FIRST_YEAR

# a ReferenceFirm's attributes as numbers (besides these: ``parent``, an agent or None, and ``branches``)
STATE = tuple(name for name in FIRM_FIELDS if name not in ("alive", "parent"))


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
    intra: bool = False  # an intra-firm contract (a parent's technology to its own branch)


class ReferenceFirm(mesa.Agent):
    """A firm with its state in attributes (see ``model.initial.FIRM_FIELDS`` for their meaning).

    ``parent``: the firm it is a branch (or subsidiary) of, or None; ``branches``: its living
    branches."""

    def __init__(self, model: "ReferenceModel", parent: "ReferenceFirm | None" = None, **state) -> None:
        super().__init__(model)
        for name in STATE:
            setattr(self, name, state[name])
        self.parent: ReferenceFirm | None = None
        self.branches: list[ReferenceFirm] = []
        if parent is not None:
            self.link(parent)
        self.contracts: list[Deal] = []  # bought (or received from its parent) this year

    @classmethod
    def newborn(cls, model: "ReferenceModel", region: int, year: int, parent: "ReferenceFirm | None" = None,
                park: bool = False) -> "ReferenceFirm":
        """An entrant of ``region`` (``model.initial.draw_firms``: size, R&D intensity, sector and
        the HTE criteria drawn as for the region's entrants), or, given its ``parent``, a new
        branch: drawn the same way but in its parent's sector, in the Xiong'an park if ``park``."""
        p = model.params
        cols, _ = draw_firms(model.rng, region, 1, year, model.scale, p.at("hte_criteria_share", year),
                             rd_scale=model.rd_scale[region], size_ratio=value("entrant_size_ratio"))  # rd_stock 0
        firm = cls(model, parent=parent, **{name: cols[name][0].item() for name in STATE})
        if parent is not None:
            firm.sector, firm.park = parent.sector, park
            if parent.region == BJ and region != BJ:
                model.beijing_branches_established[region] += firm.weight
        return firm

    def link(self, parent: "ReferenceFirm") -> None:
        """Become a branch of ``parent``."""
        self.parent = parent
        parent.branches.append(self)

    def is_branch_in(self) -> bool:
        """A branch (or subsidiary) of a firm of another region (the outputs' ``branches_in``)."""
        return self.parent is not None and self.parent.region != self.region

    # -- 1. demography
    def grow_and_exit(self, year: int) -> None:
        """Gibrat growth tied to the economy (the region's real GDP growth, ``model.economy``, plus
        sales_growth_<region>), then exit with probability exit_rate."""
        p = self.model.params
        drift = float(gdp_log_growth(year)[self.region] + excess_fade(year) * p.regional("sales_growth", year)[self.region])
        shock = p.at("sales_volatility", year) * self.model.rng.standard_normal()
        self.sales = self.sales * math.exp(drift + shock) + p.at("output_to_sales", year) * self.output
        if self.random.random() < p.at("exit_rate", year):
            self.remove()

    def remove(self) -> None:
        """Exit: its branches carry on as independent firms of their regions, a branch leaves its
        parent's branches; then Mesa's removal."""
        for branch in self.branches:
            branch.parent = None
        self.branches = []
        if self.parent is not None:
            self.parent.branches.remove(self)
            self.parent = None
        super().remove()

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

    # -- 4. the market: intra-firm contracts
    def receive_from_parent(self, year: int) -> None:
        """A branch whose parent holds IP from the HTE window receives Poisson(intra_transfer_rate x
        exp(-boundary cost), the cost 0 in the same region) of its parent's technologies (contracts:
        value and maturity as a firm technology's)."""
        m, parent = self.model, self.parent
        if parent is None or parent.last_ip_year < hte_rule().oldest_ip_year(year):
            return
        a, b = m.maturity_shape(value("firm_maturity"))
        rate = m.params.at("intra_transfer_rate", year)
        if parent.region != self.region:
            rate *= math.exp(-boundary_friction(m.params, year))
        for _ in range(m.rng.poisson(rate)):
            deal = Deal(self, self.region, parent.region, parent, parent.sector, m.mean_contract_value(year),
                        float(m.rng.beta(a, b)), intra=True)
            m.deals.append(deal)
            self.contracts.append(deal)

    # -- 5. transformation
    def want_output(self, year: int) -> None:
        """Demand: value x maturity x yield (x the supplier factor for ICV) of the contracts bought
        or received, plus own_tech_share of its expected own technologies of this year (A x
        rd^beta) at the mean contract value and a firm technology's mean maturity."""
        p = self.model.params
        supplier = supplier_factor(p, year)
        y = p.at("transformation_yield", year)
        self.demand = sum(d.value * d.maturity * y * (supplier if d.sector == ICV else 1.0) for d in self.contracts)
        own_share = p.at("own_tech_share", year)
        if own_share > 0:
            mean_value = p.at("value_median_m", year) * math.exp(p.at("value_sigma", year) ** 2 / 2)
            expected = p.at("kpf_productivity", year) * self.rd ** p.at("kpf_elasticity", year)
            self.demand += (own_share * mean_value * value("firm_maturity") * y * (supplier if self.sector == ICV else 1.0)
                            * expected)
        if self.contracts:
            self.last_ip_year = year
        self.output = 0.0

    def produce_output(self, met: np.ndarray) -> None:
        self.output = self.demand * met[self.region]

    # -- 6. branches
    def may_branch(self) -> bool:
        """A firm with transformation demand, no branch and not a branch itself may open a branch."""
        return self.demand > 0 and self.parent is None and not self.branches

    def branch_probability(self, year: int) -> float:
        """branch_propensity x branch_relocation x (1 - share met at home), in [0, 1]."""
        m, p = self.model, self.model.params
        prob = p.at("branch_propensity", year) * p.at("branch_relocation", year) * (1 - m.capacity.congestion[self.region])
        return min(max(prob, 0.0), 1.0)

    def branch_options(self, year: int) -> list[float]:
        """The weights of Beijing, Tianjin, Hebei outside the park and the Xiong'an park for this
        firm's branch: spare capacity x exp(-distance/decay - boundary cost) (0 at home); the park:
        park_weight x park_attraction x Hebei's, only while the park has room."""
        m, p = self.model, self.model.params
        d0 = p.at("distance_decay_km", year)
        friction = boundary_friction(p, year)
        home = self.region
        options = [0.0 if dest == home else m.capacity.spare_bn[dest] * math.exp(-(m.distance_km[home, dest] / d0 + friction))
                   for dest in range(3)]  # where capacity is spare
        park = 0.0
        if home != HB and year >= m.park_open_year and m.park_firms_at_start < p.at("park_capacity_firms", year):
            park = (p.at("park_weight", year) * p.at("park_attraction", year) * m.capacity.spare_bn[HB]
                    * math.exp(-(m.park_km[home] / d0 + friction)))
        options.append(park)
        return options

    def open_branch(self, choice: int, year: int) -> None:
        """The branch is a new firm of the destination (:meth:`newborn`), linked to this one; in the
        park only if it has room for it (else none this year)."""
        m, p = self.model, self.model.params
        if choice < 3:
            ReferenceFirm.newborn(m, choice, year, parent=self)
        elif m.park_firms + self.weight <= p.at("park_capacity_firms", year):
            m.park_firms += self.weight
            ReferenceFirm.newborn(m, HB, year, parent=self, park=True)

    # -- 7. HTE recognition
    def review_hte(self, year: int) -> None:
        m = self.model
        rule = hte_rule()
        threshold = (rule.small if self.sales <= rule.small_sales_max_m else rule.mid if self.sales <= rule.mid_sales_max_m
                     else rule.large)
        eligible = (self.hte_criteria and self.rd / max(self.sales, 1e-9) >= threshold
                    and self.last_ip_year >= rule.oldest_ip_year(year))
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
        """roc_searches_2020 x roc_demand x the national market index searches (real scale)."""
        m = self.model
        self.searches = value("roc_searches_2020") * m.params.at("roc_demand", year) * national_market_index(m.params, year)
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
        agents = [ReferenceFirm(self, **{name: columns[name][i] for name in STATE}) for i in range(len(firms["region"]))]
        for agent, row in zip(agents, firms["parent"].tolist()):  # the branches of 2020: row -> agent
            if row >= 0:
                agent.link(agents[row])
        # real branches established in each region by Beijing firms, cumulative (outputs)
        self.beijing_branches_established = np.zeros(len(REGIONS))
        for agent in agents:
            if agent.parent is not None and agent.parent.region == BJ and agent.region != BJ:
                self.beijing_branches_established[agent.region] += agent.weight
        for r, s, b in zip(labs["region"].tolist(), labs["sector"].tolist(), labs["budget"].tolist()):
            ReferenceLab(self, r, s, b)
        self.rest_of_china = ReferenceRestOfChina(self)
        self.capacity = TransformationCapacity()
        self.shelf: list[Tech] = []
        self.deals: list[Deal] = []
        self.bth_supply_2020: float | None = None  # BTH's technologies on offer in 2020 (the first market)
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
            firms_2020 = self.params.regional("firms_2020", FIRST_YEAR)
            for r, name in enumerate(REGIONS):
                for _ in range(self.rng.poisson(entry[r] * firms_2020[r] * self.scale)):
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
        firms.shuffle_do("receive_from_parent", year)  # intra-firm contracts, parent to branch
        self._transform(year)
        if year > FIRST_YEAR:
            self.park_firms = self.park_firms_at_start = sum(f.weight for f in firms if f.park)
            self._open_branches(year)
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

    # -- branches
    def _open_branches(self, year: int) -> None:
        """Firms that may branch, in random order, region by region: the movers are the real
        firms' binomial draw (``model.sampling.bernoulli_rows``), their destinations the real
        firms' multinomial draw shared among them (``model.sampling.categorical_rows``); then each
        mover, in that order, opens its branch."""
        candidates = [f for f in self.firm_set.shuffle() if f.may_branch()]
        movers = []
        for h in range(3):
            of_h = [f for f in candidates if f.region == h]
            if not of_h:
                continue
            weight = np.array([f.weight for f in of_h])
            chosen = bernoulli_rows(self.rng, np.arange(len(of_h)), weight, of_h[0].branch_probability(year))
            movers += [of_h[i] for i in chosen]
        placed = []
        for h in range(3):
            of_h = [f for f in movers if f.region == h]
            if not of_h:
                continue
            options = of_h[0].branch_options(year)
            if sum(options) <= 0:
                continue
            choice = categorical_rows(self.rng, len(of_h), sum(f.weight for f in of_h), np.array(options))
            placed += list(zip(of_h, choice.tolist()))
        for firm, choice in placed:
            firm.open_branch(choice, year)

    # -- technologies
    def _invent(self, vintage: int) -> None:
        shelf_life = int(value("tech_shelf_life"))
        self.shelf = [t for t in self.shelf if t.vintage > self.year - shelf_life]
        self.firm_set.do("invent", vintage)
        self.lab_share = self._active_shares()
        self.lab_set.do("invent", vintage)

    def offer(self, owner: mesa.Agent, kind: int, region: int, sector: int, weight: float, mean_maturity: float,
              vintage: int) -> None:
        """Put a new technology of ``owner`` on the shelf: beta maturity and, for a firm's (which
        stands for ``weight`` real ones), the mean of their values; a lab's has none of its own
        (each of its deals draws one, :meth:`make_deal`)."""
        val = self.mean_contract_value(vintage, weight) if kind == FIRM else math.nan
        maturity = float(self.rng.beta(*self.maturity_shape(mean_maturity)))
        self.shelf.append(Tech(owner, kind, region, sector, weight, val, maturity, vintage))

    def mean_contract_value(self, year: int, k: float | None = None) -> float:
        """The mean value (m yuan) of ``k`` real contracts of ``year`` (default 1/scale, the real
        contracts a model contract stands for).  Real values are lognormal(log value_median_m,
        value_sigma); their mean is drawn from the lognormal with the same mean, value_median_m x
        exp(value_sigma^2 / 2), and log-variance log(1 + (exp(value_sigma^2) - 1) / max(k, 1))
        (Fenton-Wilkinson, as ``TechnologyMarket.value_terms``)."""
        p = self.params
        sigma2 = p.at("value_sigma", year) ** 2
        s2 = math.log1p(math.expm1(sigma2) / max(1.0 / self.scale if k is None else k, 1.0))
        mean = p.at("value_median_m", year) * math.exp(sigma2 / 2)
        return mean * math.exp(-s2 / 2 + math.sqrt(s2) * self.rng.standard_normal())

    @staticmethod
    def maturity_shape(mean_maturity: float) -> tuple[float, float]:
        """The Beta(a, b) of a technology's maturity with mean ``mean_maturity``."""
        k = value("maturity_concentration")
        return k * mean_maturity, k * (1 - mean_maturity)

    # -- the market
    def _market(self, year: int) -> None:
        self._by_cell: list[list[Tech]] = [[] for _ in range(N_CELLS)]
        for tech in self.shelf:
            self._by_cell[(tech.region * N_SECTORS + tech.sector) * N_KINDS + tech.kind].append(tech)
        self._cum_weight = [list(accumulate(t.weight for t in techs)) for techs in self._by_cell]
        supply = [cum[-1] if cum else 0.0 for cum in self._cum_weight]
        if self.bth_supply_2020 is None:  # the first year's BTH supply anchors the rest of China's
            self.bth_supply_2020 = float(sum(supply))
        w, self._supply = cell_weights(self.params, year, np.array(supply), self.distance_km, self.bth_supply_2020)
        _, cdf = choice_probabilities(w, outside_weights(self.params, year))
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
        """A contract for a technology of ``cell``, picked in proportion to the real techs it stands for.

        A model deal stands for 1/scale real ones: a firm technology already carries the mean value
        of the real technologies it stands for; a lab's or the rest of China's is one real technology
        per real buyer, so the deal's value is the mean of 1/scale fresh values of this year."""
        seller_region, sector = cell // (N_SECTORS * N_KINDS), (cell // N_KINDS) % N_SECTORS
        if seller_region == RC:  # the rest of China's technology: a fresh draw
            deal = Deal(buyer, buyer_region, RC, None, sector, self.mean_contract_value(self.year), value("firm_maturity"))
        else:
            cum = self._cum_weight[cell]
            k = min(bisect_right(cum, self.random.random() * cum[-1]), len(cum) - 1)
            tech = self._by_cell[cell][k]
            val = tech.value if tech.kind == FIRM else self.mean_contract_value(self.year)
            deal = Deal(buyer, buyer_region, seller_region, tech.owner, sector, val, tech.maturity)
        self.deals.append(deal)
        if buyer is not None:
            buyer.contracts.append(deal)

    # -- transformation where capacity is
    def _transform(self, year: int) -> None:
        firms = self.firm_set
        firms.do("want_output", year)
        demand_bn = np.zeros(3)
        for firm in firms:
            demand_bn[firm.region] += firm.demand * firm.weight / 1000
        firms.do("produce_output", self.capacity.ration(self.params, year, demand_bn))

    # -- outputs
    def _annual_rows(self, year: int) -> dict[str, list]:
        firms = list(self.firm_set)
        cols = {name: np.array([getattr(f, name) for f in firms], dtype=float)
                for name in ("weight", "rd", "hte", "sales", "birth_year", "output", "park")}
        cols["region"] = np.array([f.region for f in firms], dtype=np.int64)
        cols["branch"] = np.array([f.is_branch_in() for f in firms], dtype=bool)
        labs = list(self.lab_set)
        deals = {"seller_region": np.array([d.seller_region for d in self.deals], dtype=np.int64),
                 "buyer_region": np.array([d.buyer_region for d in self.deals], dtype=np.int64),
                 "value": np.array([d.value for d in self.deals], dtype=float),
                 "intra": np.array([d.intra for d in self.deals], dtype=bool)}
        deals["weight"] = np.full(len(self.deals), 1.0 / self.scale)
        return annual_rows(year, self.params, cols, np.array([lab.region for lab in labs], dtype=np.int64),
                           np.array([lab.budget for lab in labs], dtype=float), deals, self.beijing_branches_established)
