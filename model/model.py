"""TechTransferModel: firms and labs of Beijing, Tianjin and Hebei trading and transforming technology.

One step is one year.  The first step simulates 2020 from the initial conditions (the end of the
13th Five-Year Plan); each later step first lets firms grow, exit and enter.  Within a year:

1. R&D: firms spend ``rd_intensity * sales * (1 + subsidy)``; labs spend their budget.
2. Technologies: each firm and lab produces Poisson(A * R&D^beta) technologies (knowledge
   production function) with a sector, a lognormal value and a maturity; firms active in the
   registered market offer theirs, labs in proportion to their region's active share.
3. Participation in the registered market (as seller) diffuses (Bass: p + q * active share).
4. Market: each firm searches Poisson(search_rate * absorptive capacity) times; a search
   picks a (region, sector, seller kind) cell by a gravity-logit with an outside option (distance
   decay, boundary cost (falling 2020-25) times transfer friction, sector match, supply), then a
   technology in it.
   The Rest of China searches too; joint research projects add Beijing-lab -> TJ/HB contracts.
5. Transformation: contracted value times yield and maturity becomes output where the buyer
   produces, congested by the region's capacity.
6. Branches: firms whose transformation was congested may open a production branch in Tianjin,
   Hebei or the Xiong'an Zhongguancun Science Park (open from 2023).
7. HTE recognition is granted and reviewed by the 2016 rules (R&D share thresholds, 3 years).

All hot paths are vectorised over the firm table; no Python loop runs over firms.
Outputs are annual tables at real-world scale (agent weights = 1/scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np
import pandas as pd
from scipy.special import ndtr

from model.agents import Firm, FirmTable, Lab, LabTable, RestOfChina, create_agents, gc_paused, remove_agents
from model.inputs import load_inputs, value
from model.params import Params
from model.regions import BJ, HB, ICV, RC, REGIONS, ROC, SECTOR_MIX, SECTORS, TJ, XIONGAN, FLOW_REGIONS, distance_matrix, park_distance_km

START_YEAR = 2020
BOUNDARY_FALL_END = 2025  # the calibrated fall of the boundary cost runs 2020 -> 2025 (model/params.py)
N_SECTORS = len(SECTORS)
N_KINDS = 2  # seller kind: 0 firm, 1 lab
LAB = 1


class Rows(tuple):
    """One year's rows of an output table: immutable, so the DataCollector's deepcopy can skip it
    (copying ~60 small tuples a year element by element was most of a small run's fixed cost)."""

    def __deepcopy__(self, memo: dict) -> "Rows":
        return self


@dataclass
class RunTables:
    """Annual outputs of one run, at real-world scale."""

    regions: pd.DataFrame  # year, region, metric, value
    flows: pd.DataFrame  # year, origin, destination, contract_value_bn, contracts


class TechTransferModel(mesa.Model):
    """Agent-based model of technology transfer in Beijing-Tianjin-Hebei.

    Args:
        params: behavioural parameters and policy levers (see ``model.params``).
        seed: random seed; the same params and seed give bit-identical tables.
        scale: fraction of real firms simulated as agents (0 < scale <= 1).
        until: last simulated year (inclusive).
    """

    MAX_SCALE = 1.0  # one agent per real firm at most (the benchmark's synthetic population lifts it)

    def __init__(self, params: Params | None = None, seed: int = 0, scale: float = 0.05, until: int = 2035) -> None:
        with gc_paused():
            self._build(params, seed, scale, until)

    def _build(self, params: Params | None, seed: int, scale: float, until: int) -> None:
        super().__init__(rng=seed)
        if not 0 < scale <= self.MAX_SCALE:
            raise ValueError(f"scale must be in (0, {self.MAX_SCALE:g}], got {scale}")
        self.params = params or Params()
        self.scale = float(scale)
        self.until = int(until)
        self.year = START_YEAR
        self.inputs = load_inputs()
        self.distance_km = distance_matrix()
        self.park_distance_km = park_distance_km()  # from each region to the Xiong'an park
        self.park_open_year = int(value("park_open_year"))  # the park takes firms from this year
        self.firms = FirmTable(capacity=max(1024, int(200_000 * scale * 2)))
        self.firm_agents: list[Firm | None] = []  # by row; None once the firm has exited
        self._init_labs()
        self._init_firms()
        self.rest_of_china = RestOfChina(self)
        thr = self.inputs["hte_thresholds"]
        self._hte_thr = (thr["small_sales_max_m"], thr["mid_sales_max_m"], thr["small"], thr["mid"], thr["large"])
        self._hte_years = int(thr["years_valid"])
        self.capacity_bn = np.array([value("capacity_2020", r) for r in REGIONS])
        self.congestion = np.ones(3)  # share of transformation demand met, by region, last year
        self.spare_bn = np.zeros(3)  # capacity not used for transformation, bn yuan, last year
        self.techs = _empty_techs()
        self._record: dict = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={"regions": lambda m: m._record["regions"], "flows": lambda m: m._record["flows"]}
        )

    # ------------------------------------------------------------------ initialisation
    def _init_labs(self) -> None:
        """Labs stand for the public research sector; all are simulated (weight 1)."""
        regions, sectors, budgets = [], [], []
        for r, name in enumerate(REGIONS):
            n = int(value("labs", name))
            public_rd_m = value("rd_spending_2020", name) * 1000 * (1 - value("business_rd_share", name))
            regions.append(np.full(n, r))
            sectors.append(self.rng.choice(N_SECTORS, size=n, p=SECTOR_MIX[r]))
            budgets.append(np.full(n, public_rd_m / n))
        self.labs = LabTable(np.concatenate(regions), np.concatenate(sectors), np.concatenate(budgets))
        self.lab_agents = create_agents(self, Lab, range(self.labs.n))

    def _draw_firms(self, region: int, n: int, year: int, rd_scale: float | None = None,
                    size_ratio: float = 1.0) -> dict[str, np.ndarray]:
        """Attributes of ``n`` new firms of ``region`` born by ``year``; entrants are ``size_ratio``
        times the size of the 2020 firms (their R&D intensity follows their size)."""
        name = REGIONS[region]
        sigma = value("sales_sigma", name)
        sales = size_ratio * value("median_sales_m", name) * np.exp(sigma * self.rng.standard_normal(n))
        rel = (sales / value("median_sales_m", name)) ** value("rd_intensity_size_elasticity")
        intensity = rel * np.exp(value("rd_intensity_sigma") * self.rng.standard_normal(n))
        if rd_scale is None:  # initial population: scale intensities to the region's business R&D
            target_m = value("rd_spending_2020", name) * 1000 * value("business_rd_share", name)
            rd_scale = target_m / (np.sum(intensity * sales) / self.scale)
            self._rd_scale[region] = rd_scale
        sector = self.rng.choice(N_SECTORS, size=n, p=SECTOR_MIX[region])
        return dict(
            region=np.full(n, region),
            sector=sector,
            sales=sales,
            rd_intensity=np.minimum(intensity * rd_scale, 0.5),
            weight=np.full(n, 1.0 / self.scale),
            alive=np.ones(n, bool),
            prod_region=np.full(n, region),
            hte_until=np.full(n, year),
            last_ip_year=np.full(n, year - 99),
            birth_year=np.full(n, year),
        )

    def _init_firms(self) -> None:
        self._rd_scale = np.zeros(3)
        p = self.params
        age_max = int(value("firm_age_max_2020"))
        for r, name in enumerate(REGIONS):
            n = self.rng.poisson(value("firms_2020", name) * self.scale)
            cols = self._draw_firms(r, n, START_YEAR)
            cols["birth_year"] = START_YEAR - self.rng.integers(0, age_max + 1, size=n)
            share = p.at(f"participation_{name.lower()}", START_YEAR)
            cols["active"] = self.rng.random(n) < share
            self._add_firms(cols)
        f = self.firms
        depreciation = value("rd_stock_depreciation")
        f.view("rd")[:] = f.view("rd_intensity") * f.view("sales")
        f.view("rd_stock")[:] = f.view("rd") / (depreciation + 0.05)  # steady-state capital, 5% growth
        # core IP held at the start: a technology produced in 2017-2019 at the firm's current rate
        lam = self.params.at("kpf_productivity", START_YEAR) * f.view("rd") ** self.params.at("kpf_elasticity", START_YEAR)
        has_ip = self.rng.random(f.n) < 1 - np.exp(-3 * lam)
        f.view("last_ip_year")[:] = np.where(has_ip, START_YEAR - 1, START_YEAR - 99)

    def _add_firms(self, cols: dict[str, np.ndarray]) -> None:
        rows = self.firms.append(**cols)
        agents = create_agents(self, Firm, rows)
        self.firm_agents.extend([None] * (self.firms.n - len(self.firm_agents)))
        for row, agent in zip(rows.tolist(), agents):
            self.firm_agents[row] = agent

    # ------------------------------------------------------------------ one year
    def step(self) -> None:
        year = self.year
        if year > START_YEAR:
            self._demography(year)
            self._diffuse_participation(year)
        self._rd(year)
        if year == START_YEAR:  # the technologies still on offer from before 2020
            for vintage in range(year - int(value("tech_shelf_life")) + 1, year):
                self._produce_technologies(vintage)
        self._produce_technologies(year)
        deals = self._market(year)
        self._transform(year, deals)
        if year > START_YEAR:
            self._open_branches(year)
        self._review_hte(year)
        self._record = self._tables(year, deals)
        self.datacollector.collect(self)
        self.year += 1

    def run(self) -> RunTables:
        """Simulate START_YEAR..until and return the annual tables."""
        with gc_paused():
            while self.year <= self.until:
                self.step()
        return self.tables()

    # -- 1. demography: Gibrat growth, exit, entry
    def _demography(self, year: int) -> None:
        p, f = self.params, self.firms
        alive = np.flatnonzero(f.view("alive"))
        region = f.region[alive]
        drift = np.array([p.at(f"sales_growth_{r.lower()}", year) for r in REGIONS])[region]
        shocks = p.at("sales_volatility", year) * self.rng.standard_normal(len(alive))
        f.sales[alive] = f.sales[alive] * np.exp(drift + shocks) + p.at("output_to_sales", year) * f.output[alive]
        # exit
        exits = alive[self.rng.random(len(alive)) < p.at("exit_rate", year)]
        f.alive[exits] = False
        remove_agents(self, [self.firm_agents[i] for i in exits.tolist()])
        for i in exits.tolist():
            self.firm_agents[i] = None
        # their technologies stay on offer until they expire, sold by nobody (seller -1): the
        # rows of exited firms are reused by entrants
        t = self.techs
        exited = np.zeros(f.n + 1, bool)  # the extra last entry stands for "no firm" (owner -1)
        exited[exits] = True
        firm_tech = np.flatnonzero(t["kind"] != LAB)
        t["owner"][firm_tech[exited[t["owner"][firm_tech]]]] = -1
        # entry
        # entrants: a constant inflow, entry_rate x the region's 2020 firm count a year (not a share of
        # today's firms, which would compound into exponential growth of the firm count)
        for r, name in enumerate(REGIONS):
            n = self.rng.poisson(p.at(f"entry_rate_{name.lower()}", year) * value("firms_2020", name) * self.scale)
            if n:
                self._add_firms(self._draw_firms(r, n, year, rd_scale=self._rd_scale[r],
                                                 size_ratio=value("entrant_size_ratio")))  # rd_stock 0

    # -- 2. R&D
    def _rd(self, year: int) -> None:
        p, f, labs = self.params, self.firms, self.labs
        subsidy = np.array([p.at(f"rd_subsidy_{r.lower()}", year) for r in REGIONS])
        alive = f.view("alive")
        rd = f.view("rd")
        rd[:] = np.where(alive, f.view("rd_intensity") * f.view("sales") * (1 + subsidy[f.view("region")]), 0.0)
        if year > START_YEAR:
            growth = p.at("lab_budget_growth", year) + np.array([0.0, 0.0, p.at("lab_budget_boost_hebei", year)])
            labs.budget *= 1 + growth[labs.region]
            f.view("rd_stock")[:] = f.view("rd_stock") * (1 - value("rd_stock_depreciation")) + rd

    # -- 3. technology production (knowledge production function)
    def _produce_technologies(self, year: int) -> None:
        p, f, labs = self.params, self.firms, self.labs
        A, beta = p.at("kpf_productivity", year), p.at("kpf_elasticity", year)
        alive = np.flatnonzero(f.view("alive"))
        n_firm = self.rng.poisson(A * f.rd[alive] ** beta)
        # a lab offers its technologies in the registered market as the region's firms do: in
        # proportion to the region's active (registered) share, which diffuses (step 4)
        n_lab = self.rng.poisson(A * labs.budget**beta * self.active_share()[labs.region])
        inventors = alive[n_firm > 0]
        f.last_ip_year[inventors] = np.maximum(f.last_ip_year[inventors], year)
        n_firm[~f.active[alive]] = 0  # only firms active in the registered market offer their technologies
        owner = np.concatenate([np.repeat(alive, n_firm), np.repeat(np.arange(labs.n), n_lab)])
        kind = np.concatenate([np.zeros(n_firm.sum(), np.int8), np.ones(n_lab.sum(), np.int8)])
        region = np.concatenate([np.repeat(f.region[alive], n_firm), np.repeat(labs.region, n_lab)])
        sector = np.concatenate([np.repeat(f.sector[alive], n_firm), np.repeat(labs.sector, n_lab)])
        weight = np.concatenate([np.repeat(f.weight[alive], n_firm), np.ones(n_lab.sum())])
        m = len(owner)
        value_m = self._contract_values(weight, year)
        mean_mat = np.where(kind == LAB, value("lab_maturity"), value("firm_maturity"))
        maturity = self.rng.beta(4 * mean_mat, 4 * (1 - mean_mat))
        new = dict(owner=owner, kind=kind, region=region, sector=sector, weight=weight,
                   value=value_m, maturity=maturity, vintage=np.full(m, year, np.int16))
        shelf = int(value("tech_shelf_life"))
        keep = self.techs["vintage"] > self.year - shelf
        self.techs = {k: np.concatenate([v[keep], new[k]]) for k, v in self.techs.items()}

    # -- 4. market participation (Bass diffusion)
    def active_share(self) -> np.ndarray:
        """Share of each region's firms (real firms, alive) active in the registered market."""
        f = self.firms
        alive, active, region, w = f.view("alive"), f.view("active"), f.view("region"), f.view("weight")
        real = np.bincount(region[alive], weights=w[alive], minlength=3)
        act = np.bincount(region[alive & active], weights=w[alive & active], minlength=3)
        return act / np.maximum(real, 1e-9)

    def _diffuse_participation(self, year: int) -> None:
        p, f = self.params, self.firms
        alive, active, region = f.view("alive"), f.view("active"), f.view("region")
        share = self.active_share()
        hazard = p.at("bass_p", year) + p.at("bass_q", year) * share
        adopt = alive & ~active & (self.rng.random(f.n) < hazard[region])
        active |= adopt

    # -- 5. the technology market
    def _cell_weights(self, year: int, supply: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Gravity-logit weights w[buyer_region(4), buyer_sector, cell] with cell = (region, sector, kind).

        ``supply``: real BTH technologies on offer per cell (default: counted from ``self.techs``).
        Returns (weights, real technologies on offer per cell, Rest of China included)."""
        p, t = self.params, self.techs
        n_cells = 4 * N_SECTORS * N_KINDS
        if supply is None:
            cell = (t["region"].astype(np.int64) * N_SECTORS + t["sector"]) * N_KINDS + t["kind"]
            supply = np.bincount(cell, weights=t["weight"], minlength=n_cells)
        supply = np.array(supply, dtype=float)
        bth_total = supply.sum()
        roc_cells = (RC * N_SECTORS + np.arange(N_SECTORS)) * N_KINDS  # Rest of China offers as "firms"
        supply[roc_cells] = p.at("roc_supply", year) * bth_total / N_SECTORS
        supply = supply.reshape(4, N_SECTORS, N_KINDS)

        d0 = p.at("distance_decay_km", year)
        bcost = np.zeros((4, 4, N_KINDS))  # buyer region, seller region, kind
        friction = boundary_friction(p, year)
        for a in range(3):
            for b in range(3):
                if a != b:
                    bcost[a, b, :] = friction
        shared = p.at("shared_labs", year)
        bcost[[TJ, HB], BJ, LAB] *= 1 - shared
        bcost[:3, RC, :] = bcost[RC, :3, :] = p.at("roc_boundary_cost", year)
        bcost[RC, RC, :] = np.inf  # trade within the rest of China is not modelled
        gravity = np.exp(-self.distance_km[:, :, None] / d0 - bcost)  # (4 buyer, 4 seller, kinds)
        match = np.full((N_SECTORS, N_SECTORS), value("sector_match_other"))
        np.fill_diagonal(match, 1.0)
        thick = value("market_thickness_ref")
        # w[rb, sb, rs, ss, k] = supply[rs, ss, k]/thick * gravity[rb, rs, k] * match[sb, ss]
        w = (supply[None, None] / thick) * gravity[:, None, :, None, :] * match[None, :, None, :, None]
        return w.reshape(4, N_SECTORS, n_cells), supply.reshape(n_cells)

    def _market(self, year: int) -> dict[str, np.ndarray]:
        """Match buyers with technologies; returns the deals as columns (one row per model deal)."""
        p, f, t = self.params, self.firms, self.techs
        w, supply = self._cell_weights(year)
        n_cells = w.shape[-1]
        # cumulative choice probabilities with an outside option of weight 1 (last column)
        probs = np.concatenate([w, np.ones(w.shape[:2] + (1,))], axis=-1)
        probs /= probs.sum(axis=-1, keepdims=True)
        cdf = np.cumsum(probs, axis=-1)
        cdf[..., -1] = 1.0

        # BTH buyers: one row per search, a search that picks the outside option makes no deal
        buyers = np.flatnonzero(f.view("alive"))  # any firm may buy: registration is the seller's act
        absorptive = 1 - np.exp(-f.rd_stock[buyers] / p.at("absorptive_stock_m", year))
        n_search = self.rng.poisson(p.at("search_rate", year) * absorptive)
        b_rows = np.repeat(buyers, n_search)
        b_region = f.region[b_rows].astype(np.int64)
        group = b_region * N_SECTORS + f.sector[b_rows]
        flat = (cdf.reshape(-1, n_cells + 1) + np.arange(4 * N_SECTORS)[:, None]).ravel()
        pick = np.searchsorted(flat, group + self.rng.random(len(group)), side="right") - group * (n_cells + 1)
        pick = np.minimum(pick, n_cells)
        hit = pick < n_cells
        cells, d_buyer, d_bregion = pick[hit], b_rows[hit], b_region[hit]

        # Rest-of-China buyers: Poisson(searches * scale) searches, sectors uniform, each picking a
        # cell with probs[RC, sector].  By Poisson thinning the searches that end in cell c are
        # Poisson(searches * scale * mean_sector probs[RC, :, c]), independently across cells, so
        # we draw the deals per cell directly instead of millions of mostly unsuccessful searches.
        roc = self.rest_of_china
        roc.searches = (value("roc_searches_2020") * p.at("roc_demand", year)
                        * (1 + p.at("roc_demand_growth", year)) ** (year - START_YEAR))
        roc_per_cell = self.rng.poisson(roc.searches * self.scale * probs[RC, :, :n_cells].mean(axis=0))
        roc_cells = np.repeat(np.arange(n_cells), roc_per_cell)
        cells = np.concatenate([cells, roc_cells])
        d_buyer = np.concatenate([d_buyer, np.full(len(roc_cells), -1)])
        d_bregion = np.concatenate([d_bregion, np.full(len(roc_cells), RC)])

        # joint research projects: Beijing lab -> Tianjin/Hebei firm contracts
        n_joint = self.rng.poisson(p.at("joint_projects", year) * value("joint_project_contracts") * self.scale)
        partners = np.flatnonzero(f.view("alive") & (f.view("region") != BJ))
        if n_joint and len(partners):
            j_buyer = partners[self.rng.integers(0, len(partners), n_joint)]
            lab_cells = (BJ * N_SECTORS + np.arange(N_SECTORS)) * N_KINDS + LAB
            lab_supply = supply[lab_cells]
            if lab_supply.sum() > 0:
                j_cells = lab_cells[self.rng.choice(N_SECTORS, n_joint, p=lab_supply / lab_supply.sum())]
                cells = np.concatenate([cells, j_cells])
                d_buyer = np.concatenate([d_buyer, j_buyer])
                d_bregion = np.concatenate([d_bregion, f.region[j_buyer].astype(np.int64)])

        # pick a technology within each chosen cell, in proportion to the real techs it stands for
        n_deals = len(cells)
        seller_region = cells // (N_SECTORS * N_KINDS)
        from_roc = seller_region == RC
        local = ~from_roc
        tech_idx = np.full(n_deals, -1)
        if local.any():
            tech_idx[local] = self._pick_techs(cells[local], supply)
        value_m = np.empty(n_deals)
        maturity = np.empty(n_deals)
        sector = (cells // N_KINDS) % N_SECTORS
        kind = cells % N_KINDS
        value_m[local] = t["value"][tech_idx[local]]
        maturity[local] = t["maturity"][tech_idx[local]]
        maturity[from_roc] = value("firm_maturity")
        # A model deal stands for 1/scale real deals.  A firm technology row already stands for
        # 1/scale real technologies (its value is their mean); a lab technology or a Rest-of-China
        # offer is one real technology, so the 1/scale real buyers behind the deal are taken to buy
        # as many different ones: their mean value is drawn afresh.
        fresh = from_roc | (kind == LAB)
        value_m[fresh] = self._contract_values(np.full(fresh.sum(), 1.0 / self.scale), year)
        seller = np.where(local, t["owner"][np.maximum(tech_idx, 0)], -1)
        return dict(buyer=d_buyer, buyer_region=d_bregion, seller_region=seller_region, seller=seller,
                    seller_kind=kind, sector=sector, value=value_m, maturity=maturity,
                    weight=np.full(n_deals, 1.0 / self.scale))

    def _contract_values(self, k: np.ndarray, year: int) -> np.ndarray:
        """Mean value (m yuan) of ``k`` independent lognormal contract values, one draw per entry.

        Real contract values are lognormal(log `value_median_m`, `value_sigma`).  The mean of k of
        them is drawn from the lognormal with the same mean and variance (Fenton-Wilkinson), exact
        for k = 1.  This keeps totals right in expectation and in variance at every scale, instead
        of multiplying one heavy-tailed draw by 1/scale."""
        p = self.params
        sigma2 = p.at("value_sigma", year) ** 2
        mean = p.at("value_median_m", year) * np.exp(sigma2 / 2)
        s2 = np.log1p(np.expm1(sigma2) / np.maximum(k, 1.0))
        return mean * np.exp(-s2 / 2 + np.sqrt(s2) * self.rng.standard_normal(len(k)))

    def _pick_techs(self, cells: np.ndarray, supply: np.ndarray) -> np.ndarray:
        """One technology (row of ``self.techs``) per chosen cell, drawn in proportion to weight.

        Techs are grouped by cell with a counting sort.  All techs of a cell normally weigh the
        same (a cell holds one seller kind: firm techs weigh 1/scale, lab techs 1), and then the
        pick is the k-th tech of the cell with k = floor(u * count), O(1) per deal; otherwise a
        binary search on the cumulative weights.  Both use one uniform draw per deal."""
        t = self.techs
        n_cells = len(supply)
        tcell = (t["region"].astype(np.int16) * N_SECTORS + t["sector"]) * N_KINDS + t["kind"]
        order = np.argsort(tcell, kind="stable")  # radix sort on small integers: O(techs)
        count = np.bincount(tcell, minlength=n_cells)
        first = np.cumsum(count) - count
        u = self.rng.random(len(cells))
        w_sorted = t["weight"][order]
        nonempty = first[count > 0]
        if len(w_sorted) == 0 or np.array_equal(np.minimum.reduceat(w_sorted, nonempty),
                                                np.maximum.reduceat(w_sorted, nonempty)):
            k = np.minimum((u * count[cells]).astype(np.int64), count[cells] - 1)
            return order[first[cells] + k]
        cum = np.cumsum(w_sorted)
        start = np.concatenate([[0.0], cum])[first]
        return order[np.minimum(np.searchsorted(cum, start[cells] + u * supply[cells], side="right"), len(cum) - 1)]

    # -- 6. transformation where capacity is
    def _transform(self, year: int, deals: dict[str, np.ndarray]) -> None:
        p, f = self.params, self.firms
        f.view("output")[:] = 0.0
        f.view("demand")[:] = 0.0
        firm_deal = deals["buyer"] >= 0
        buyer = deals["buyer"][firm_deal]
        f.last_ip_year[buyer] = year
        supplier = (p.at("supplier_network", year) / 300.0) ** value("supplier_elasticity")
        sector_yield = np.where(deals["sector"][firm_deal] == ICV, supplier, 1.0)
        want = deals["value"][firm_deal] * deals["maturity"][firm_deal] * p.at("transformation_yield", year) * sector_yield
        np.add.at(f.demand, buyer, want)
        # congestion by production region: output = D / sqrt(1 + (D/C)^2)
        if year > START_YEAR:
            self.capacity_bn *= 1 + value("capacity_growth")
        levers = np.array([p.at(f"capacity_{r.lower()}", year) for r in REGIONS])
        cap = self.capacity_bn * levers
        prod = f.view("prod_region")
        demand_bn = np.bincount(prod, weights=f.view("demand") * f.view("weight"), minlength=3) / 1000
        met = np.where(demand_bn > 0, 1 / np.sqrt(1 + (demand_bn / np.maximum(cap, 1e-9)) ** 2), 1.0)
        self.congestion = met
        self.spare_bn = np.maximum(cap - demand_bn * met, 0.0)
        f.view("output")[:] = f.view("demand") * met[prod]

    # -- 7. production branches ("R&D in Beijing, transformation in Tianjin and Hebei")
    def _open_branches(self, year: int) -> None:
        p, f = self.params, self.firms
        unmet = 1 - self.congestion
        candidates = np.flatnonzero(f.view("alive") & (f.view("demand") > 0) & (f.view("prod_region") == f.view("region")))
        if not len(candidates):
            return
        prob = p.at("branch_propensity", year) * p.at("branch_relocation", year) * unmet[f.region[candidates]]
        movers = candidates[self.rng.random(len(candidates)) < np.clip(prob, 0, 1)]
        if not len(movers):
            return
        d0 = p.at("distance_decay_km", year)
        friction = boundary_friction(p, year)
        # options: 0 Beijing, 1 Tianjin, 2 Hebei (outside the park), 3 Xiong'an park
        home = f.region[movers].astype(np.int64)
        opt_w = np.zeros((len(movers), 4))
        for dest in range(3):
            cost = np.where(home == dest, np.inf, self.distance_km[home, dest] / d0 + friction)
            opt_w[:, dest] = self.spare_bn[dest] * np.exp(-cost)
        park_cost = np.where(home == HB, np.inf, self.park_distance_km[home] / d0 + friction)
        opt_w[:, 3] = p.at("park_attraction", year) * self.spare_bn[HB] * np.exp(-park_cost)
        park_now = np.sum(f.view("weight")[f.view("park") & f.view("alive")])
        if year < self.park_open_year or park_now >= p.at("park_capacity_firms", year):
            opt_w[:, 3] = 0.0
        total = opt_w.sum(axis=1)
        ok = total > 0
        movers, opt_w = movers[ok], opt_w[ok] / total[ok, None]
        choice = (self.rng.random(len(movers))[:, None] > np.cumsum(opt_w, axis=1)).sum(axis=1)
        choice = np.minimum(choice, 3)
        # the park admits firms up to its capacity, in random order
        to_park = self.rng.permutation(movers[choice == 3])
        slots = p.at("park_capacity_firms", year) - park_now
        fits = np.cumsum(f.weight[to_park]) <= slots
        admitted = to_park[fits]  # firms the park cannot take stay at home this year
        f.prod_region[movers[choice < 3]] = choice[choice < 3]
        f.prod_region[admitted] = HB
        f.park[admitted] = True

    # -- 8. high-tech enterprise recognition (2016 Administrative Measures)
    def _review_hte(self, year: int) -> None:
        p, f = self.params, self.firms
        small_max, mid_max, t_small, t_mid, t_large = self._hte_thr
        sales = f.view("sales")
        threshold = np.where(sales <= small_max, t_small, np.where(sales <= mid_max, t_mid, t_large))
        share = f.view("rd") / np.maximum(sales, 1e-9)
        eligible = f.view("alive") & (share >= threshold) & (f.view("last_ip_year") >= year - 2)
        hte, until = f.view("hte"), f.view("hte_until")
        apply = p.at("hte_apply_rate", year)
        if year == START_YEAR:  # stock of recognitions granted in 2018-2020
            granted = eligible & (self.rng.random(f.n) < 1 - (1 - apply) ** self._hte_years)
            hte[:] = granted
            until[:] = np.where(granted, year + self.rng.integers(1, self._hte_years + 1, f.n), 0)
            return
        due = hte & (until <= year)
        renew = due & eligible
        until[renew] = year + self._hte_years
        hte[due & ~eligible] = False
        new = eligible & ~hte & (self.rng.random(f.n) < apply)
        hte[new] = True
        until[new] = year + self._hte_years
        hte &= f.view("alive")

    # ------------------------------------------------------------------ outputs
    def _tables(self, year: int, deals: dict[str, np.ndarray]) -> dict[str, list]:
        f = self.firms
        firms = {name: f.view(name) for name in ("region", "rd", "hte", "sales", "birth_year", "prod_region", "output", "park")}
        firms["weight"] = f.view("weight") * f.view("alive")
        return annual_rows(year, self.params, firms, self.labs.region, self.labs.budget, deals)

    def tables(self) -> RunTables:
        """All collected years as tidy DataFrames."""
        data = self.datacollector.get_model_vars_dataframe()
        regions = pd.DataFrame([r for rows in data["regions"] for r in rows], columns=["year", "region", "metric", "value"])
        flows = pd.DataFrame([r for rows in data["flows"] for r in rows],
                             columns=["year", "origin", "destination", "contract_value_bn", "contracts"])
        return RunTables(regions=regions, flows=flows)


def annual_rows(year: int, params: Params, firms: dict[str, np.ndarray], lab_region: np.ndarray,
                lab_budget: np.ndarray, deals: dict[str, np.ndarray]) -> dict[str, list]:
    """The year's rows of the output tables (shared by both steppings).

    ``firms``: columns region, weight (real firms; 0 for firms that have exited), rd, hte, sales,
    birth_year, prod_region, output, park.  ``deals``: columns seller_region, buyer_region, value,
    weight (one entry per model deal)."""
    w = firms["weight"]
    region = firms["region"]
    prod = firms["prod_region"]
    # flows: origin = seller region, destination = buyer region
    od = np.asarray(deals["seller_region"], dtype=np.int64) * 4 + np.asarray(deals["buyer_region"], dtype=np.int64)
    val = np.bincount(od, weights=deals["value"] * deals["weight"], minlength=16).reshape(4, 4) / 1000
    cnt = np.bincount(od, weights=deals["weight"], minlength=16).reshape(4, 4)
    flows = [(year, FLOW_REGIONS[o], FLOW_REGIONS[d], float(val[o, d]), float(cnt[o, d]))
             for o in range(4) for d in range(4) if not (o == RC and d == RC)]
    unicorn_sales = 1000 * value("usd_cny") / params.at("valuation_multiple", year)
    young = (year - firms["birth_year"]) <= value("unicorn_max_age")
    # valuation = valuation_multiple x sales x lognormal(0, valuation_sigma) across the real firms a
    # model firm stands for: the expected share of them valued at 1 bn USD or more
    unicorn_share = ndtr(np.log(np.maximum(firms["sales"], 1e-12) / unicorn_sales) / value("valuation_sigma"))
    rd_bn = (np.bincount(region, weights=firms["rd"] * w, minlength=3)
             + np.bincount(lab_region, weights=lab_budget, minlength=3)) / 1000
    metrics = {
        "rd_spending_bn": rd_bn,
        "contract_turnover_bn": val.sum(axis=1)[:3],
        "contract_absorbed_bn": val.sum(axis=0)[:3],
        "contracts_sold": cnt.sum(axis=1)[:3],
        "absorbed_from_beijing_bn": val[BJ, :3],
        "high_tech_enterprises": np.bincount(region, weights=w * firms["hte"], minlength=3),
        "sci_tech_smes": np.bincount(region, weights=w * (firms["sales"] <= value("sme_max_sales_m")), minlength=3),
        "unicorns": np.bincount(region, weights=w * young * unicorn_share, minlength=3),
        "firms": np.bincount(region, weights=w, minlength=3),
        "transformed_output_bn": np.bincount(prod, weights=firms["output"] * w, minlength=3) / 1000,
        "firm_revenue_bn": np.bincount(region, weights=firms["sales"] * w, minlength=3) / 1000,
        "branches_in": np.bincount(prod, weights=w * (prod != region), minlength=3),
    }
    rows = [(year, REGIONS[r], m, float(v[r])) for m, v in metrics.items() for r in range(3)]
    rows.append((year, XIONGAN, "park_firms", float(np.sum(w * firms["park"]))))
    rows += [(year, ROC, "contract_turnover_bn", float(val[RC].sum())),
             (year, ROC, "contract_absorbed_bn", float(val[:, RC].sum())),
             (year, ROC, "contracts_sold", float(cnt[RC].sum()))]
    return {"regions": Rows(rows), "flows": Rows(flows)}


def _empty_techs() -> dict[str, np.ndarray]:
    return dict(owner=np.zeros(0, np.int64), kind=np.zeros(0, np.int8), region=np.zeros(0, np.int8),
                sector=np.zeros(0, np.int8), weight=np.zeros(0), value=np.zeros(0), maturity=np.zeros(0),
                vintage=np.zeros(0, np.int16))


def boundary_friction(params: Params, year: int) -> float:
    """Log-points of attractiveness lost crossing a boundary between Beijing, Tianjin and Hebei.

    ``boundary_cost + boundary_cost_fall * (BOUNDARY_FALL_END - year) / (BOUNDARY_FALL_END - START_YEAR)``
    up to BOUNDARY_FALL_END (2025), ``boundary_cost`` after; times the ``transfer_friction`` lever."""
    left = min(max(BOUNDARY_FALL_END - year, 0), BOUNDARY_FALL_END - START_YEAR) / (BOUNDARY_FALL_END - START_YEAR)
    base = params.at("boundary_cost", year) + params.at("boundary_cost_fall", year) * left
    return base * params.at("transfer_friction", year)


def simulate(params: Params | None = None, seed: int = 0, scale: float = 0.05, until: int = 2035,
             stepping: str = "vectorised") -> RunTables:
    """Run one simulation from 2020 to ``until`` and return its annual tables (real-world scale)."""
    if stepping == "vectorised":
        return TechTransferModel(params, seed=seed, scale=scale, until=until).run()
    if stepping == "reference":
        from model.reference import ReferenceModel

        return ReferenceModel(params, seed=seed, scale=scale, until=until).run()
    raise ValueError(f"stepping must be 'vectorised' or 'reference', got {stepping!r}")
