"""TechTransferModel: firms and labs of Beijing, Tianjin and Hebei trading and transforming technology.

One step is one year; the first step simulates 2020 from the initial conditions (the end of the
13th Five-Year Plan).  :meth:`TechTransferModel.step` is the ODD process list (docs/model.md, 1.3):
each line calls a method of an agent - the firm population (:class:`model.agents.FirmPopulation`),
the labs (:class:`model.agents.LabPopulation`), the Rest of China (:class:`model.agents.RestOfChina`)
- or of the market they trade in (:class:`model.market.TechnologyMarket`).

The firms are vectorised: one Mesa agent holds them all as numpy columns and applies each rule to
every firm at once, in numpy or in one compiled pass over the columns (``model/kernels.pyx``); no
Python loop runs over firms.  Outputs are annual tables at real-world scale
(agent weights = 1/scale), recorded in a Mesa ``DataCollector``'s tables (``model/outputs.py``:
the documented ``add_table_row`` API, one row per region and metric, with no per-year deep copy).
"""

from __future__ import annotations

import mesa
import numpy as np

from model.agents import FirmPopulation, LabPopulation, RestOfChina
from model.capacity import TransformationCapacity
from model.initial import initial_firms, initial_labs, set_up_run
from model.inputs import value
from model.market import TechnologyMarket
from model.outputs import RunTables, annual_rows, new_collector, record, run_tables
from model.params import Params
from model.yearly import YearParams
from model.years import DEFAULT_HORIZON, FIRST_YEAR

START_YEAR = FIRST_YEAR  # kept for code that imports it from here

__all__ = ["START_YEAR", "RunTables", "TechTransferModel"]


class TechTransferModel(mesa.Model):
    """Agent-based model of technology transfer in Beijing-Tianjin-Hebei.

    Args:
        params: behavioural parameters and policy levers (see ``model.params``).
        seed: random seed; the same params and seed give bit-identical tables.
        scale: fraction of real firms simulated as agents (0 < scale <= MAX_SCALE).
        until: last simulated year (inclusive).

    Attributes: ``firms``, ``labs``, ``rest_of_china`` (the agents, also in
    ``agents_by_type``); ``market`` (the shelf of technologies); ``capacity`` (regional
    transformation capacity and congestion); ``datacollector`` (the annual tables).
    """

    MAX_SCALE = 1.0  # one agent per real firm at most (the benchmark's synthetic population lifts it)

    def __init__(self, params: Params | None = None, seed: int = 0, scale: float = 0.05, until: int = DEFAULT_HORIZON) -> None:
        super().__init__(rng=seed)
        set_up_run(self, params, scale, until, self.MAX_SCALE)
        self.year_params = YearParams(self.params)  # params.at / regional, memoised per year
        self.labs = LabPopulation(self, **initial_labs(self.rng))
        self.firms = FirmPopulation(self, *initial_firms(self.rng, self.params, self.scale))
        self.rest_of_china = RestOfChina(self)
        self.capacity = TransformationCapacity()
        self.market = TechnologyMarket(self.year_params, self.scale, self.rng, self.distance_km)
        self.datacollector = new_collector()

    def step(self) -> None:
        """One year: the ODD process list."""
        year, firms, labs, market = self.year, self.firms, self.labs, self.market
        if year > FIRST_YEAR:
            firms.grow(year)  # 1. demography: Gibrat growth,
            market.orphan(firms.exit(year), firms.n)  # exit (their offers stay, sold by nobody),
            firms.enter(year)  # entry
            firms.join_market(year)  # 2. participation in the registered market (Bass)
        firms.spend_rd(year)  # 3. R&D
        labs.spend_rd(year)
        share = firms.active_share()  # 4. technologies put on offer
        for vintage in self.vintages(year):
            market.shelve(year, vintage, firms.invent(vintage), labs.invent(vintage, share))
        offer = market.open(year)  # 5. market: searches (firms, Rest of China, joint projects) become deals
        bids = [firms.search(year, offer), self.rest_of_china.search(year, offer), labs.joint_projects(year, firms, offer)]
        deals = market.join_deals(market.settle(year, offer, bids),  # ... and branches receive their parents'
                           firms.transfer_within(year, market))  # technologies (intra-firm contracts)
        firms.transform(year, deals, market)  # 6. transformation where capacity is
        if year > FIRST_YEAR:
            firms.open_branches(year)  # 7. branches: new firms of other regions linked to their parents
        firms.apply_for_hte(year)  # 8. HTE recognition
        record(self.datacollector, self.annual_rows(year, deals))  # 9. observation
        self.year += 1

    def vintages(self, year: int) -> list[int]:
        """Vintages of technology produced in ``year``'s step: in 2020 also those still on offer
        from before (the shelf life), later the year itself."""
        if year == FIRST_YEAR:
            return list(range(year - int(value("tech_shelf_life")) + 1, year + 1))
        return [year]

    def annual_rows(self, year: int, deals: dict[str, np.ndarray]) -> dict[str, list[tuple]]:
        """The year's rows of the output tables."""
        return annual_rows(year, self.year_params, self.firms.output_columns(), self.labs.region, self.labs.budget, deals,
                           self.firms.beijing_branches_established)

    def run(self) -> RunTables:
        """Simulate FIRST_YEAR..until and return the annual tables."""
        while self.year <= self.until:
            self.step()
        return self.tables()

    def tables(self) -> RunTables:
        """All collected years as tidy DataFrames."""
        return run_tables(self.datacollector)
