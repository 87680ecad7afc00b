"""The agents of the vectorised model: the firm population, the lab population, the Rest of China.

The firms are one Mesa agent, :class:`FirmPopulation`, whose rows are firms: it holds their state
as numpy columns (``FIRM_FIELDS`` in ``model/initial.py``) and carries their rules as methods,
each applied to every living firm at once (the pattern of mesa-frames): a rule's pass over the
columns is numpy or one function of the compiled kernels (``model/kernels.pyx``).  :class:`LabPopulation`
does the same for the labs; :class:`RestOfChina` is the aggregate trading partner.  All three are
``mesa.Agent`` subclasses registered through Mesa's public constructor, so ``model.agents`` and
``model.agents_by_type`` hold them; no Python object is made per firm.

A firm that exits has ``alive`` False; its row is reused by a later entrant (:meth:`append` fills
free rows first), so the columns stay about as long as the living population.

Units: money in million yuan (m yuan) per year unless a name ends in ``_bn``; a firm's
``weight`` is the number of real firms it stands for (1/scale).  Every method draws from the
model's ``rng`` in a fixed order (the same seed gives bit-identical tables).
"""

from __future__ import annotations

import mesa
import numpy as np

from model.compiled import kernels
from model.initial import FIRM_FIELDS, NO_IP, SECTOR_CDF_TABLE, firm_terms, size_and_intensity
from model.inputs import value
from model.economy import excess_fade, gdp_log_growth, national_market_index
from model.market import LAB, N_CELLS, N_KINDS, N_SECTORS, Bids, Offer, TechnologyMarket, boundary_friction, supplier_factor
from model.recognition import hte_rule
from model.sampling import bernoulli_rows, categorical_rows
from model.regions import BJ, FLOW_REGIONS, HB, ICV, RC, REGIONS
from model.years import FIRST_YEAR

NO_BIDS = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
# new firms' inputs per region (model.initial.firm_terms): sales sigma and median; the R&D-intensity cap
NEW_SIGMA, NEW_MEDIAN = (np.array([firm_terms(r)[i] for r in range(len(REGIONS))]) for i in (0, 1))
RD_CAP = firm_terms(0)[4]
NO_LAM, NO_COUNTS = np.zeros(len(REGIONS)), np.zeros(len(REGIONS), np.int64)


class FirmPopulation(mesa.Agent):
    """The technology firms of Beijing, Tianjin and Hebei, one row per simulated firm.

    Args:
        model: the model (its ``year_params``, ``scale``, ``rng``, ``capacity`` and geography are read).
        columns: the initial firms, all FIRM_FIELDS (``model.initial.initial_firms``).
        rd_scale: per region, the scale of entrants' R&D intensities (from the initial population).
    """

    def __init__(self, model: mesa.Model, columns: dict[str, np.ndarray], rd_scale: np.ndarray) -> None:
        super().__init__(model)
        self.n = 0  # rows in use (living firms plus free rows)
        self.rd_scale = rd_scale
        self._expected = None  # (vintage, rows) and expected_technologies' result, until R&D changes
        capacity = max(1024, int(200_000 * model.scale * 2))
        for name, dtype in FIRM_FIELDS.items():
            setattr(self, name, np.zeros(capacity, dtype=dtype))
        self.append(columns)
        # real branches established in each region by Beijing firms, cumulative: the 2020 stock, then
        # every branch a Beijing firm opens (what the Zhongguancun statistic counts, 累计设立)
        parent = self.view("parent")
        of_beijing = (parent >= 0) & (self.region[np.maximum(parent, 0)] == BJ)
        self.beijing_branches_established = np.bincount(self.view("region")[of_beijing],
                                                        weights=self.view("weight")[of_beijing], minlength=3).astype(float)

    # ------------------------------------------------------------------ the column store
    @property
    def capacity(self) -> int:
        """Rows allocated (the columns grow in chunks)."""
        return len(self.region)

    def view(self, name: str) -> np.ndarray:
        """The used part of a column (a view: writes go to the population)."""
        return getattr(self, name)[: self.n]

    def living(self) -> int:
        """The number of living firm rows (agents; each stands for ``weight`` real firms)."""
        return int(np.count_nonzero(self.view("alive")))

    def append(self, columns: dict[str, np.ndarray], k: int | None = None) -> np.ndarray:
        """Add ``k`` rows (all FIRM_FIELDS not given are zero; a scalar is every row's value) and
        return their row indices.  ``k`` None: the length of the first column given.

        Free rows (of firms that have exited) are used first, then new rows at the end."""
        if k is None:
            k = len(next(iter(columns.values())))
        self._expected = None  # rows change
        free = np.flatnonzero(~self.view("alive"))[:k]
        n_new = k - len(free)
        if self.n + n_new > self.capacity:
            new_cap = max(2 * self.capacity, self.n + n_new)
            for name in FIRM_FIELDS:
                old = getattr(self, name)
                grown = np.zeros(new_cap, dtype=old.dtype)
                grown[: self.n] = old[: self.n]
                setattr(self, name, grown)
        if len(free):
            rows = np.concatenate([free, np.arange(self.n, self.n + n_new)])
            for name in FIRM_FIELDS:
                getattr(self, name)[rows] = columns.get(name, 0)
        else:  # new rows only: a slice
            rows = np.arange(self.n, self.n + n_new)
            for name in FIRM_FIELDS:
                getattr(self, name)[self.n:self.n + n_new] = columns.get(name, 0)
        self.n += n_new
        return rows

    def add_new_firms(self, year: int, lam: np.ndarray | None = None, counts: np.ndarray | None = None,
                      **links: np.ndarray) -> np.ndarray:
        """Draw and append new firms born in ``year``, region by region (Beijing, Tianjin, Hebei):
        Poisson(lam[r]) of region r, or counts[r], each as :func:`model.initial.draw_firms` draws a
        firm of its region (``kernels.new_firm_draws`` draws them; the same draws in the same order).
        ``links``: further columns (parent, sector, park), one entry per new firm in that order.
        Returns their rows."""
        m, p = self.model, self.model.year_params
        poisson = lam is not None
        if poisson and not np.all(lam >= 0):
            raise ValueError(f"entry: Poisson means must be >= 0, got {lam}")
        region, z_sales, z_intensity, sector, criteria = kernels.new_firm_draws(
            m.rng, lam if poisson else NO_LAM, counts if not poisson else NO_COUNTS, poisson, SECTOR_CDF_TABLE,
            p.at("hte_criteria_share", year))
        k = len(region)
        if not k:
            return np.zeros(0, np.int64)
        sales, intensity = size_and_intensity(z_sales, z_intensity, NEW_SIGMA[region], NEW_MEDIAN[region],
                                              value("entrant_size_ratio"))
        columns = dict(region=region, sales=sales, rd_intensity=np.minimum(intensity * self.rd_scale[region], RD_CAP),
                       sector=sector, hte_criteria=criteria, weight=1.0 / m.scale, alive=True, hte_until=year,
                       last_ip_year=year - NO_IP, birth_year=year, parent=-1)
        columns.update(links)
        return self.append(columns, k)

    def active_share(self) -> np.ndarray:
        """Share of each region's firms (real firms, alive) active in the registered market."""
        return kernels.region_shares(self.view("weight"), self.view("alive"), self.view("active"), self.view("region"))

    def output_columns(self) -> dict[str, np.ndarray]:
        """The columns the output tables read (``model.outputs.annual_rows``); weight 0 if exited."""
        cols = {name: self.view(name) for name in ("region", "rd", "hte", "sales", "birth_year", "output", "park")}
        cols["weight"], cols["branch"] = kernels.observed_weight_and_branch(  # (branch: as branch_mask)
            self.view("alive"), self.view("weight"), self.view("parent"), self.view("region"))
        return cols

    def branch_mask(self) -> np.ndarray:
        """Rows that are branches (or subsidiaries) of a firm of another region."""
        parent = self.view("parent")
        linked = parent >= 0
        out = np.zeros(self.n, bool)
        out[linked] = self.region[parent[linked]] != self.view("region")[linked]
        return out

    # ------------------------------------------------------------------ 1. demography
    def grow(self, year: int) -> None:
        """Gibrat growth tied to the economy: log sales += the region's real GDP growth (log,
        ``model.economy.gdp_log_growth``) + sales_growth_<region> (the excess, fading after the
        last year of data: ``model.economy.excess_fade``) + sales_volatility z,
        plus the share output_to_sales of last year's transformed output (m yuan)."""
        p = self.model.year_params
        drift = gdp_log_growth(year) + excess_fade(year) * p.regional("sales_growth", year)
        alive = self.view("alive")
        log_growth = kernels.log_growth(self.model.rng, alive, self.view("region"), drift, p.at("sales_volatility", year))
        kernels.grow_sales(alive, self.view("sales"), np.exp(log_growth), self.view("output"),
                           p.at("output_to_sales", year))

    def exit(self, year: int) -> np.ndarray:
        """Each living firm exits with probability exit_rate; returns the rows that exited.  A
        branch whose parent exits carries on as an independent firm of its region (parent -1)."""
        exits = kernels.exit_rows(self.model.rng, self.view("alive"), self.model.year_params.at("exit_rate", year))
        if len(exits):
            parent = self.view("parent")
            gone = np.zeros(self.n + 1, bool)  # the extra last entry stands for "no parent" (-1)
            gone[exits] = True
            parent[gone[parent]] = -1
        return exits

    def enter(self, year: int) -> None:
        """Entrants: Poisson(entry_rate_<region> x firms_2020 x scale) a year per region, a constant
        inflow (not a share of today's firms), at entrant_size_ratio of the 2020 firms' size."""
        m = self.model
        p = m.year_params
        self.add_new_firms(year, lam=p.regional("entry_rate", year) * p.regional("firms_2020", FIRST_YEAR) * m.scale)  # rd_stock 0

    # ------------------------------------------------------------------ 2. participation
    def join_market(self, year: int) -> None:
        """Bass diffusion: an inactive firm joins the registered market with probability
        bass_p + bass_q x (active share of its region's firms)."""
        p = self.model.year_params
        hazard = p.at("bass_p", year) + p.at("bass_q", year) * self.active_share()
        kernels.join_market(self.model.rng, self.view("alive"), self.view("active"), self.view("region"), hazard)

    # ------------------------------------------------------------------ 3. R&D
    def spend_rd(self, year: int) -> None:
        """R&D (m yuan) = intensity x sales x (1 + rd_subsidy_<region>); the R&D stock
        depreciates at rd_stock_depreciation and accumulates it (from 2021)."""
        self._expected = None
        kernels.spend_rd(self.view("alive"), self.view("region"), self.view("rd_intensity"), self.view("sales"),
                         self.model.year_params.regional("rd_subsidy", year), self.view("rd"), self.view("rd_stock"),
                         value("rd_stock_depreciation"), year > FIRST_YEAR)

    # ------------------------------------------------------------------ 4. technologies
    def expected_technologies(self, vintage: int) -> np.ndarray:
        """Each row's expected new technologies of ``vintage``: A x rd^beta (0 if exited: rd 0)."""
        key = (vintage, self.n)
        if self._expected is not None and self._expected[0] == key:  # R&D unchanged since (spend_rd resets it)
            return self._expected[1]
        p = self.model.year_params
        lam = p.at("kpf_productivity", vintage) * self.view("rd") ** p.at("kpf_elasticity", vintage)
        lam.flags.writeable = False
        self._expected = (key, lam)
        return lam

    def invent(self, vintage: int) -> dict[str, np.ndarray]:
        """Knowledge production: Poisson(A x rd^beta) technologies per living firm.  Every
        inventor holds new IP; only firms active in the registered market offer theirs.
        Returns the offers: columns owner (row), region, sector, weight."""
        lam = self.expected_technologies(vintage)  # 0 if exited
        owner = kernels.invent(self.model.rng, self.view("alive"), self.view("active"), lam, np.exp(-lam),
                               self.view("last_ip_year"), vintage)
        return dict(owner=owner, region=self.region[owner], sector=self.sector[owner], weight=self.weight[owner])

    # ------------------------------------------------------------------ 5. the market (demand)
    def search(self, year: int, offer: Offer) -> Bids:
        """Each living firm searches Poisson(search_rate x absorptive capacity) times, capacity =
        1 - exp(-R&D stock / absorptive_stock_m); a search picks a cell or the outside option.

        Drawn by Poisson thinning: the searches that pick a cell (not the outside option) are
        Poisson(search_rate x capacity x P(a cell | buyer region, sector)), and each picks its cell
        from the choice probabilities given that it picks one.  Exact in distribution; only the
        deals are drawn, not the searches that end in the outside option."""
        p = self.model.year_params
        probs = offer.probs.reshape(-1, N_CELLS + 1)  # (buyer region x sector, cells + outside)
        p_cell = 1.0 - probs[:, -1]
        cdf = np.cumsum(probs[:, :N_CELLS], axis=1) / np.maximum(p_cell, 1e-300)[:, None]
        last = N_CELLS - 1 - np.argmax(probs[:, N_CELLS - 1::-1] > 0, axis=1)  # last cell that can be picked
        cdf[np.arange(N_CELLS) >= last[:, None]] = 1.0
        region, sector = self.view("region"), self.view("sector")
        capacity = np.negative(self.view("rd_stock"))  # -expm1(-R&D stock / absorptive_stock_m), in place
        np.divide(capacity, p.at("absorptive_stock_m", year), out=capacity)
        np.negative(np.expm1(capacity, out=capacity), out=capacity)
        lam = kernels.search_rates(region, sector, p.at("search_rate", year) * p_cell, capacity, N_SECTORS)
        p0 = np.exp(np.negative(lam, out=capacity), out=capacity)
        return Bids(*kernels.search(self.model.rng, self.view("alive"), region, sector, lam, p0, cdf, last, N_SECTORS))

    # ------------------------------------------------------------------ 6. transformation
    def transform(self, year: int, deals: dict[str, np.ndarray], market: TechnologyMarket) -> None:
        """Technology becomes output where the firm is (a branch is a firm of its own): demand =
        value x maturity x transformation_yield (x the supplier factor for ICV) of the technologies
        it bought or received from its parent, plus own_tech_share of its own new technologies
        this year at their expected value and maturity; rationed by the region's capacity
        (``model.capacity``).  Buying counts as new IP."""
        p = self.model.year_params
        y, icv_factor = p.at("transformation_yield", year), supplier_factor(p, year)
        demand = self.view("demand")
        demand_bn = kernels.demand(deals["buyer"], deals["value"], deals["maturity"],
                                   np.ascontiguousarray(deals["sector"], np.int64), y, icv_factor, ICV,
                                   self.view("last_ip_year"), year, demand, self.view("region"), self.view("weight"))
        own_share = p.at("own_tech_share", year)
        if own_share > 0:  # expected technologies this year x mean value x mean maturity x yield
            mean_value = market.value_terms(range(year, year + 1))[0][0]
            coef = own_share * mean_value * value("firm_maturity") * y
            own_bn = kernels.own_demand(self.view("sector"), self.expected_technologies(year), self.view("region"),
                                        self.view("weight"), coef, icv_factor, ICV, demand)
            demand_bn = demand_bn + own_bn / 1000
        met = self.model.capacity.ration(p, year, demand_bn)
        kernels.output(self.view("demand"), self.view("region"), met, self.view("output"))

    # ------------------------------------------------------------------ 7. branches
    def transfer_within(self, year: int, market: TechnologyMarket) -> dict[str, np.ndarray]:
        """Intra-firm transfer: each branch whose parent holds IP from the HTE window receives
        Poisson(intra_transfer_rate x exp(-B)) of its parent's technologies a year, B the boundary
        cost between the two regions (``boundary_friction``; 0 in the same region): registering a
        transfer across a provincial boundary meets the same administrative barrier as a market
        contract (an assumption; Keller & Yeaple 2013: the cost of intra-firm knowledge transfer
        rises with distance).  As contracts (a model
        contract stands for 1/scale real ones; value the mean of that many lognormal contract
        values, as the market's, ``TechnologyMarket.value_terms``; maturity Beta as a firm's).
        Returns them as deals (the columns of ``TechnologyMarket.settle``, ``intra`` True)."""
        m, p = self.model, self.model.year_params
        rate = p.at("intra_transfer_rate", year)
        buyer = kernels.intra_transfers(m.rng, self.view("alive"), self.view("parent"), self.view("last_ip_year"),
                                        self.view("region"), hte_rule().oldest_ip_year(year),
                                        rate * 1.0, rate * np.exp(-boundary_friction(p, year)))
        seller = self.parent[buyer]
        k = len(buyer)
        value_m, maturity = market.fresh_firm_terms(year, k)
        return dict(buyer=buyer, buyer_region=self.region[buyer].astype(np.int64),
                    seller_region=self.region[seller].astype(np.int64), seller=seller,
                    seller_kind=np.zeros(k, np.int8), sector=self.sector[seller].astype(np.int64),
                    value=value_m, maturity=maturity,
                    weight=np.full(k, 1.0 / m.scale), intra=np.ones(k, bool))

    def open_branches(self, year: int) -> None:
        """Firms rationed at home, with no branch yet and not branches themselves, open a branch
        with probability branch_propensity x branch_relocation x (1 - share met at home), in
        Tianjin, Hebei, Beijing or the Xiong'an park, chosen by spare capacity x
        exp(-distance/decay - boundary cost) (the park: park_weight x park_attraction x Hebei's).  A branch is a new firm of its region (drawn as the
        region's entrants, in its parent's sector), linked to its parent (``parent``); it buys,
        receives its parent's technologies (:meth:`transfer_within`), transforms, grows and can
        exit as any firm.  Who moves and where are the real firms' binomial and multinomial counts,
        shared among the agents (``model/sampling.py``; docs/model.md, 3.3 "Branches")."""
        m, p = self.model, self.model.year_params
        prob = p.at("branch_propensity", year) * p.at("branch_relocation", year) * (1 - m.capacity.congestion)
        candidates, ends = kernels.branch_candidates(self.view("alive"), self.view("parent"), self.view("demand"),
                                                     self.view("region"))  # grouped by region
        weight, starts = self.weight, (0, ends[0], ends[1])
        movers = [bernoulli_rows(m.rng, candidates[starts[h]:ends[h]], weight, prob[h])
                  for h in range(3)]  # region by region (the real firms' binomial draws)
        if not any(len(x) for x in movers):
            return
        alive = self.view("alive")
        park_now = np.sum(self.view("weight")[self.view("park") & alive])
        options = self._branch_options(year, park_now)
        chosen = [(h, x, categorical_rows(m.rng, len(x), weight[x].sum(), options[h]))  # where they go
                  for h, x in enumerate(movers) if len(x) and options[h].sum() > 0]
        if not chosen:
            return
        movers = np.concatenate([x for _, x, _ in chosen])
        choice = np.concatenate([c for _, _, c in chosen])
        # the park admits branches up to its capacity, in random order
        to_park = m.rng.permutation(movers[choice == 3])
        slots = p.at("park_capacity_firms", year) - park_now
        admitted = to_park[np.cumsum(weight[to_park]) <= slots]  # the rest open none this year
        outside = choice < 3
        order = np.argsort(choice[outside], kind="stable")  # region by region, each in home-then-row order
        par = np.concatenate([movers[outside][order], admitted])
        counts = np.bincount(choice[outside], minlength=3)
        counts[HB] += len(admitted)  # the park's branches come last among Hebei's
        if len(par):
            rows = self.add_new_firms(year, counts=counts, parent=par, sector=self.sector[par],
                                      park=np.arange(len(par)) >= len(par) - len(admitted))
            rows = rows[self.region[par] == BJ]
            self.beijing_branches_established += np.bincount(self.region[rows], weights=self.weight[rows], minlength=3)

    def _branch_options(self, year: int, park_now: float) -> np.ndarray:
        """The weights of a branch's options by home region (rows Beijing, Tianjin, Hebei; columns
        0 Beijing, 1 Tianjin, 2 Hebei outside the park, 3 the Xiong'an park): spare capacity x
        exp(-distance/decay - boundary cost), 0 at home; the park's x park_weight x park_attraction,
        0 before it opened and once it is full."""
        m, p = self.model, self.model.year_params
        spare = m.capacity.spare_bn
        d0 = p.at("distance_decay_km", year)
        friction = boundary_friction(p, year)
        opt_w = np.empty((3, 4))
        cost = m.distance_km[:3, :3] / d0 + friction
        np.fill_diagonal(cost, np.inf)
        np.multiply(spare[:3], np.exp(-cost), out=opt_w[:, :3])
        park_cost = m.park_distance_km[:3] / d0 + friction
        park_cost[HB] = np.inf
        opt_w[:, 3] = p.at("park_weight", year) * p.at("park_attraction", year) * spare[HB] * np.exp(-park_cost)
        if year < m.park_open_year or park_now >= p.at("park_capacity_firms", year):
            opt_w[:, 3] = 0.0
        return opt_w

    # ------------------------------------------------------------------ 8. HTE recognition
    def apply_for_hte(self, year: int) -> None:
        """Eligible firms (meeting the staff and revenue criteria, ``hte_criteria``; R&D share over
        their sales band's threshold; new IP in the window) apply with probability hte_apply_rate;
        recognitions are reviewed after years_valid.  2020: the stock of recognitions granted in
        2018-2020."""
        rule = hte_rule()
        kernels.recognise(self.model.rng, self.view("alive") & self.view("hte_criteria"), self.view("sales"), self.view("rd"), self.view("last_ip_year"),
                          self.view("hte"), self.view("hte_until"), year, year == FIRST_YEAR,
                          rule.small_sales_max_m, rule.mid_sales_max_m, rule.small, rule.mid, rule.large,
                          rule.oldest_ip_year(year), rule.years_valid, self.model.year_params.at("hte_apply_rate", year))


class LabPopulation(mesa.Agent):
    """The labs (national key labs and new research institutions), one row per lab: region,
    sector, budget (m yuan per year of public research spending).  Every lab is one agent at any
    scale; its technologies are sampled at the model's scale (rows of weight 1/scale, :meth:`invent`)."""

    def __init__(self, model: mesa.Model, region: np.ndarray, sector: np.ndarray, budget: np.ndarray) -> None:
        super().__init__(model)
        self.region, self.sector, self.budget = region, sector, budget
        self.n = len(region)

    def spend_rd(self, year: int) -> None:
        """Budgets grow by lab_budget_growth a year (+ lab_budget_boost_hebei in Hebei), from 2021."""
        if year > FIRST_YEAR:
            p = self.model.year_params
            growth = p.at("lab_budget_growth", year) + np.array([0.0, 0.0, p.at("lab_budget_boost_hebei", year)])
            self.budget *= 1 + growth[self.region]

    def invent(self, vintage: int, active_share: np.ndarray) -> dict[str, np.ndarray]:
        """Poisson(A x budget^beta x active share of the region's firms) technologies on offer:
        labs register contracts as their region's firms do.  Like the firms', the labs' technologies
        are simulated at the model's scale: Poisson(scale x that) rows, each standing for 1/scale
        real technologies (the same supply in expectation at any scale; a lab is still one agent).
        Returns the offers (as FirmPopulation)."""
        m, p = self.model, self.model.year_params
        A, beta = p.at("kpf_productivity", vintage), p.at("kpf_elasticity", vintage)
        n_lab = m.rng.poisson(m.scale * A * self.budget**beta * active_share[self.region])
        return dict(owner=np.repeat(np.arange(self.n), n_lab), region=np.repeat(self.region, n_lab),
                    sector=np.repeat(self.sector, n_lab), weight=np.full(n_lab.sum(), 1.0 / m.scale))

    def joint_projects(self, year: int, firms: FirmPopulation, offer: Offer) -> Bids:
        """Joint research projects: Poisson(joint_projects x joint_project_contracts x scale)
        contracts from Beijing's labs (sector by their supply) to random Tianjin or Hebei firms."""
        m, p = self.model, self.model.year_params
        n_joint = m.rng.poisson(p.at("joint_projects", year) * value("joint_project_contracts") * m.scale)
        partners = np.flatnonzero(firms.view("alive") & (firms.view("region") != BJ))
        if n_joint and len(partners):
            j_buyer = partners[m.rng.integers(0, len(partners), n_joint)]
            lab_cells = (BJ * N_SECTORS + np.arange(N_SECTORS)) * N_KINDS + LAB
            lab_supply = offer.supply[lab_cells]
            if lab_supply.sum() > 0:
                j_cells = lab_cells[m.rng.choice(N_SECTORS, n_joint, p=lab_supply / lab_supply.sum())]
                return Bids(j_cells, j_buyer, firms.region[j_buyer].astype(np.int64))
        return Bids(*NO_BIDS)


class RestOfChina(mesa.Agent):
    """The rest of China as one aggregate trading partner: it buys the region's technology and
    offers its own (``roc_supply``, in the market's cell weights).  ``searches``: its searches
    this year (real scale)."""

    def __init__(self, model: mesa.Model) -> None:
        super().__init__(model)
        self.name = FLOW_REGIONS[-1]
        self.searches = 0.0

    def search(self, year: int, offer: Offer) -> Bids:
        """roc_searches_2020 x roc_demand x the national market index (``model.economy``) searches, sectors
        uniform.  By Poisson thinning the searches that end in cell c are Poisson(searches x scale
        x mean-over-sectors probs[RC, :, c]), independently across cells, so the deals are drawn per
        cell directly instead of millions of mostly unsuccessful searches."""
        m, p = self.model, self.model.year_params
        self.searches = value("roc_searches_2020") * p.at("roc_demand", year) * national_market_index(p, year)
        per_cell = m.rng.poisson(self.searches * m.scale * offer.probs[RC, :, :N_CELLS].mean(axis=0))
        cells = np.repeat(np.arange(N_CELLS), per_cell)
        return Bids(cells, np.full(len(cells), -1), np.full(len(cells), RC))
