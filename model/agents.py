"""The agents of the vectorised model: the firm population, the lab population, the Rest of China.

The firms are one Mesa agent, :class:`FirmPopulation`, whose rows are firms: it holds their state
as numpy columns (``FIRM_FIELDS`` in ``model/initial.py``) and carries their rules as methods,
each applied to every living firm at once (the pattern of mesa-frames).  :class:`LabPopulation`
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

from model.initial import FIRM_FIELDS, draw_firms
from model.inputs import value
from model.market import LAB, N_CELLS, N_KINDS, N_SECTORS, Bids, Offer, boundary_friction, supplier_factor
from model.recognition import hte_rule
from model.regions import BJ, FLOW_REGIONS, HB, ICV, RC, REGIONS
from model.years import FIRST_YEAR

NO_BIDS = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


class FirmPopulation(mesa.Agent):
    """The technology firms of Beijing, Tianjin and Hebei, one row per simulated firm.

    Args:
        model: the model (its ``params``, ``scale``, ``rng``, ``capacity`` and geography are read).
        columns: the initial firms, all FIRM_FIELDS (``model.initial.initial_firms``).
        rd_scale: per region, the scale of entrants' R&D intensities (from the initial population).
    """

    def __init__(self, model: mesa.Model, columns: dict[str, np.ndarray], rd_scale: np.ndarray) -> None:
        super().__init__(model)
        self.n = 0  # rows in use (living firms plus free rows)
        self.rd_scale = rd_scale
        capacity = max(1024, int(200_000 * model.scale * 2))
        for name, dtype in FIRM_FIELDS.items():
            setattr(self, name, np.zeros(capacity, dtype=dtype))
        self.append(columns)

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

    def append(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Add rows (all FIRM_FIELDS not given are zero) and return their row indices.

        Free rows (of firms that have exited) are used first, then new rows at the end."""
        k = len(next(iter(columns.values())))
        free = np.flatnonzero(~self.view("alive"))[:k]
        n_new = k - len(free)
        if self.n + n_new > self.capacity:
            new_cap = max(2 * self.capacity, self.n + n_new)
            for name in FIRM_FIELDS:
                old = getattr(self, name)
                grown = np.zeros(new_cap, dtype=old.dtype)
                grown[: self.n] = old[: self.n]
                setattr(self, name, grown)
        rows = np.concatenate([free, np.arange(self.n, self.n + n_new)])
        for name in FIRM_FIELDS:
            column = getattr(self, name)
            column[rows] = columns[name] if name in columns else 0
        self.n += n_new
        return rows

    def living_rows(self) -> tuple[np.ndarray, bool]:
        """The rows of living firms, in order, and whether that is every row in use (then the
        columns' views stand for gathers over those rows: no copy is made)."""
        rows = np.flatnonzero(self.view("alive"))
        return rows, len(rows) == self.n

    def gather(self, name: str, rows: np.ndarray, every: bool) -> np.ndarray:
        """Column ``name`` at ``rows`` (``living_rows``): a view if they are every row in use."""
        return self.view(name) if every else getattr(self, name)[rows]

    def active_share(self) -> np.ndarray:
        """Share of each region's firms (real firms, alive) active in the registered market."""
        region, w = self.view("region"), self.view("weight") * self.view("alive")  # exited rows weigh 0
        real = np.bincount(region, weights=w, minlength=3)
        act = np.bincount(region, weights=w * self.view("active"), minlength=3)
        return act / np.maximum(real, 1e-9)

    def output_columns(self) -> dict[str, np.ndarray]:
        """The columns the output tables read (``model.outputs.annual_rows``); weight 0 if exited."""
        cols = {name: self.view(name) for name in ("region", "rd", "hte", "sales", "birth_year", "prod_region",
                                                    "output", "park")}
        cols["weight"] = self.view("weight") * self.view("alive")
        return cols

    # ------------------------------------------------------------------ 1. demography
    def grow(self, year: int) -> None:
        """Gibrat growth: log sales += sales_growth_<region> + sales_volatility z, plus the share
        output_to_sales of last year's transformed output (m yuan)."""
        p = self.model.params
        alive, every = self.living_rows()
        drift = p.regional("sales_growth", year)[self.gather("region", alive, every)]
        shocks = p.at("sales_volatility", year) * self.model.rng.standard_normal(len(alive))
        grown = (self.gather("sales", alive, every) * np.exp(drift + shocks)
                 + p.at("output_to_sales", year) * self.gather("output", alive, every))
        if every:
            self.view("sales")[:] = grown
        else:
            self.sales[alive] = grown

    def exit(self, year: int) -> np.ndarray:
        """Each living firm exits with probability exit_rate; returns the rows that exited."""
        alive = np.flatnonzero(self.view("alive"))
        exits = alive[self.model.rng.random(len(alive)) < self.model.params.at("exit_rate", year)]
        self.alive[exits] = False
        return exits

    def enter(self, year: int) -> None:
        """Entrants: Poisson(entry_rate_<region> x firms_2020 x scale) a year per region, a constant
        inflow (not a share of today's firms), at entrant_size_ratio of the 2020 firms' size."""
        m = self.model
        entry = m.params.regional("entry_rate", year)
        parts = []
        for r, name in enumerate(REGIONS):
            n = m.rng.poisson(entry[r] * value("firms_2020", name) * m.scale)
            if n:
                cols, _ = draw_firms(m.rng, r, n, year, m.scale, rd_scale=self.rd_scale[r],
                                     size_ratio=value("entrant_size_ratio"))  # rd_stock 0
                parts.append(cols)
        if parts:  # one append: rows as if appended region by region
            self.append(parts[0] if len(parts) == 1 else {k: np.concatenate([c[k] for c in parts]) for k in parts[0]})

    # ------------------------------------------------------------------ 2. participation
    def join_market(self, year: int) -> None:
        """Bass diffusion: an inactive firm joins the registered market with probability
        bass_p + bass_q x (active share of its region's firms)."""
        p = self.model.params
        alive, active, region = self.view("alive"), self.view("active"), self.view("region")
        hazard = p.at("bass_p", year) + p.at("bass_q", year) * self.active_share()
        adopt = alive & ~active & (self.model.rng.random(self.n) < hazard[region])
        active |= adopt

    # ------------------------------------------------------------------ 3. R&D
    def spend_rd(self, year: int) -> None:
        """R&D (m yuan) = intensity x sales x (1 + rd_subsidy_<region>); the R&D stock
        depreciates at rd_stock_depreciation and accumulates it (from 2021)."""
        subsidy = self.model.params.regional("rd_subsidy", year)
        rd = self.view("rd")
        rd[:] = np.where(self.view("alive"), self.view("rd_intensity") * self.view("sales") * (1 + subsidy[self.view("region")]), 0.0)
        if year > FIRST_YEAR:
            self.view("rd_stock")[:] = self.view("rd_stock") * (1 - value("rd_stock_depreciation")) + rd

    # ------------------------------------------------------------------ 4. technologies
    def invent(self, vintage: int) -> dict[str, np.ndarray]:
        """Knowledge production: Poisson(A x rd^beta) technologies per living firm.  Every
        inventor holds new IP; only firms active in the registered market offer theirs.
        Returns the offers: columns owner (row), region, sector, weight."""
        p = self.model.params
        A, beta = p.at("kpf_productivity", vintage), p.at("kpf_elasticity", vintage)
        alive, every = self.living_rows()
        n_firm = self.model.rng.poisson(A * self.gather("rd", alive, every) ** beta)
        inventors = alive[n_firm > 0]
        self.last_ip_year[inventors] = np.maximum(self.last_ip_year[inventors], vintage)
        n_firm *= self.gather("active", alive, every)  # only active firms offer theirs
        return dict(owner=np.repeat(alive, n_firm), region=np.repeat(self.gather("region", alive, every), n_firm),
                    sector=np.repeat(self.gather("sector", alive, every), n_firm),
                    weight=np.repeat(self.gather("weight", alive, every), n_firm))

    # ------------------------------------------------------------------ 5. the market (demand)
    def search(self, year: int, offer: Offer) -> Bids:
        """Each living firm searches Poisson(search_rate x absorptive capacity) times, capacity =
        1 - exp(-R&D stock / absorptive_stock_m); a search picks a cell or the outside option."""
        p, rng = self.model.params, self.model.rng
        buyers = np.flatnonzero(self.view("alive"))  # any firm may buy: registration is the seller's act
        absorptive = 1 - np.exp(-self.rd_stock[buyers] / p.at("absorptive_stock_m", year))
        n_search = rng.poisson(p.at("search_rate", year) * absorptive)
        b_rows = np.repeat(buyers, n_search)
        b_region = self.region[b_rows].astype(np.int64)
        group = b_region * N_SECTORS + self.sector[b_rows]
        flat = (offer.cdf.reshape(-1, N_CELLS + 1) + np.arange(4 * N_SECTORS)[:, None]).ravel()
        pick = np.searchsorted(flat, group + rng.random(len(group)), side="right") - group * (N_CELLS + 1)
        pick = np.minimum(pick, N_CELLS)
        hit = pick < N_CELLS  # a search that picks the outside option makes no deal
        return Bids(pick[hit], b_rows[hit], b_region[hit])

    # ------------------------------------------------------------------ 6. transformation
    def transform(self, year: int, deals: dict[str, np.ndarray]) -> None:
        """Bought technology becomes output where the buyer produces: demand = value x maturity x
        transformation_yield (x the supplier factor for ICV), rationed by the production
        region's capacity (``model.capacity``).  Buying counts as new IP."""
        p = self.model.params
        firm_deal = np.flatnonzero(deals["buyer"] >= 0)
        buyer = deals["buyer"][firm_deal]
        self.last_ip_year[buyer] = year
        sector_yield = np.where(deals["sector"][firm_deal] == ICV, supplier_factor(p, year), 1.0)
        want = deals["value"][firm_deal] * deals["maturity"][firm_deal] * p.at("transformation_yield", year) * sector_yield
        demand = self.view("demand")
        demand[:] = np.bincount(buyer, weights=want, minlength=self.n)  # each buyer's sum, in deal order
        prod = self.view("prod_region")
        demand_bn = np.bincount(prod, weights=demand * self.view("weight"), minlength=3) / 1000
        met = self.model.capacity.ration(p, year, demand_bn)
        np.multiply(demand, met[prod], out=self.view("output"))

    # ------------------------------------------------------------------ 7. branches
    def open_branches(self, year: int) -> None:
        """Firms rationed at home open a production branch with probability branch_propensity x
        branch_relocation x (1 - share met at home), choosing Tianjin, Hebei, Beijing or the
        Xiong'an park by spare capacity x exp(-distance/decay - boundary cost)."""
        m, p = self.model, self.model.params
        unmet = 1 - m.capacity.congestion
        candidates = np.flatnonzero(self.view("alive") & (self.view("demand") > 0) & (self.view("prod_region") == self.view("region")))
        if not len(candidates):
            return
        prob = p.at("branch_propensity", year) * p.at("branch_relocation", year) * unmet[self.region[candidates]]
        movers = candidates[m.rng.random(len(candidates)) < np.clip(prob, 0, 1)]
        if not len(movers):
            return
        park_now = np.sum(self.view("weight")[self.view("park") & self.view("alive")])
        movers, choice = self._branch_choice(year, movers, park_now)
        # the park admits firms up to its capacity, in random order
        to_park = m.rng.permutation(movers[choice == 3])
        slots = p.at("park_capacity_firms", year) - park_now
        fits = np.cumsum(self.weight[to_park]) <= slots
        admitted = to_park[fits]  # firms the park cannot take stay at home this year
        self.prod_region[movers[choice < 3]] = choice[choice < 3]
        self.prod_region[admitted] = HB
        self.park[admitted] = True

    def _branch_choice(self, year: int, movers: np.ndarray, park_now: float) -> tuple[np.ndarray, np.ndarray]:
        """Where each mover goes: 0 Beijing, 1 Tianjin, 2 Hebei (outside the park), 3 Xiong'an park
        (movers with no option left are dropped)."""
        m, p = self.model, self.model.params
        spare = m.capacity.spare_bn
        d0 = p.at("distance_decay_km", year)
        friction = boundary_friction(p, year)
        home = self.region[movers].astype(np.int64)
        opt_w = np.zeros((len(movers), 4))
        for dest in range(3):
            cost = np.where(home == dest, np.inf, m.distance_km[home, dest] / d0 + friction)
            opt_w[:, dest] = spare[dest] * np.exp(-cost)
        park_cost = np.where(home == HB, np.inf, m.park_distance_km[home] / d0 + friction)
        opt_w[:, 3] = p.at("park_attraction", year) * spare[HB] * np.exp(-park_cost)
        if year < m.park_open_year or park_now >= p.at("park_capacity_firms", year):
            opt_w[:, 3] = 0.0
        total = opt_w.sum(axis=1)
        ok = total > 0
        movers, opt_w = movers[ok], opt_w[ok] / total[ok, None]
        choice = (m.rng.random(len(movers))[:, None] > np.cumsum(opt_w, axis=1)).sum(axis=1)
        return movers, np.minimum(choice, 3)

    # ------------------------------------------------------------------ 8. HTE recognition
    def apply_for_hte(self, year: int) -> None:
        """Eligible firms (R&D share over their sales band's threshold, new IP in the window)
        apply with probability hte_apply_rate; recognitions are reviewed after years_valid.
        2020: the stock of recognitions granted in 2018-2020."""
        rule, rng = hte_rule(), self.model.rng
        sales = self.view("sales")
        threshold = np.where(sales <= rule.small_sales_max_m, rule.small,
                             np.where(sales <= rule.mid_sales_max_m, rule.mid, rule.large))
        share = self.view("rd") / np.maximum(sales, 1e-9)
        eligible = self.view("alive") & (share >= threshold) & (self.view("last_ip_year") >= rule.oldest_ip_year(year))
        hte, until = self.view("hte"), self.view("hte_until")
        apply = self.model.params.at("hte_apply_rate", year)
        if year == FIRST_YEAR:
            granted = eligible & (rng.random(self.n) < 1 - (1 - apply) ** rule.years_valid)
            hte[:] = granted
            until[:] = np.where(granted, year + rng.integers(1, rule.years_valid + 1, self.n), 0)
            return
        due = hte & (until <= year)
        renew = due & eligible
        until[renew] = year + rule.years_valid
        hte[due & ~eligible] = False
        new = eligible & ~hte & (rng.random(self.n) < apply)
        hte[new] = True
        until[new] = year + rule.years_valid
        hte &= self.view("alive")


class LabPopulation(mesa.Agent):
    """The labs (national key labs and new research institutions), one row per lab: region,
    sector, budget (m yuan per year of public research spending).  All are simulated (weight 1)."""

    def __init__(self, model: mesa.Model, region: np.ndarray, sector: np.ndarray, budget: np.ndarray) -> None:
        super().__init__(model)
        self.region, self.sector, self.budget = region, sector, budget
        self.n = len(region)

    def spend_rd(self, year: int) -> None:
        """Budgets grow by lab_budget_growth a year (+ lab_budget_boost_hebei in Hebei), from 2021."""
        if year > FIRST_YEAR:
            p = self.model.params
            growth = p.at("lab_budget_growth", year) + np.array([0.0, 0.0, p.at("lab_budget_boost_hebei", year)])
            self.budget *= 1 + growth[self.region]

    def invent(self, vintage: int, active_share: np.ndarray) -> dict[str, np.ndarray]:
        """Poisson(A x budget^beta x active share of the region's firms) technologies on offer:
        labs register contracts as their region's firms do.  Returns the offers (as FirmPopulation)."""
        p = self.model.params
        A, beta = p.at("kpf_productivity", vintage), p.at("kpf_elasticity", vintage)
        n_lab = self.model.rng.poisson(A * self.budget**beta * active_share[self.region])
        return dict(owner=np.repeat(np.arange(self.n), n_lab), region=np.repeat(self.region, n_lab),
                    sector=np.repeat(self.sector, n_lab), weight=np.ones(n_lab.sum()))

    def joint_projects(self, year: int, firms: FirmPopulation, offer: Offer) -> Bids:
        """Joint research projects: Poisson(joint_projects x joint_project_contracts x scale)
        contracts from Beijing's labs (sector by their supply) to random Tianjin or Hebei firms."""
        m, p = self.model, self.model.params
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
        """roc_searches_2020 x roc_demand x (1 + roc_demand_growth)^(year - 2020) searches, sectors
        uniform.  By Poisson thinning the searches that end in cell c are Poisson(searches x scale
        x mean-over-sectors probs[RC, :, c]), independently across cells, so the deals are drawn per
        cell directly instead of millions of mostly unsuccessful searches."""
        m, p = self.model, self.model.params
        self.searches = (value("roc_searches_2020") * p.at("roc_demand", year)
                         * (1 + p.at("roc_demand_growth", year)) ** (year - FIRST_YEAR))
        per_cell = m.rng.poisson(self.searches * m.scale * offer.probs[RC, :, :N_CELLS].mean(axis=0))
        cells = np.repeat(np.arange(N_CELLS), per_cell)
        return Bids(cells, np.full(len(cells), -1), np.full(len(cells), RC))
