"""The agents: firms, labs and the Rest-of-China trading partner.

Each firm and lab is a Mesa ``Agent``; its state lives in one row of a column table
(:class:`FirmTable`, :class:`LabTable`) so that the model updates all agents at once with numpy
(see ``model/model.py``).  The agent objects give each row an identity in Mesa's ``AgentSet``
and read-only views of their state for inspection and for the reference stepping.

Units: money in million yuan (m yuan) per year unless a name ends in ``_bn``; a firm's
``weight`` is the number of real firms it stands for (1/scale).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import mesa
import numpy as np
from mesa.agentset import _HardKeyAgentSet
from mesa.experimental.mesa_signals.signal_types import ModelSignals

from model.regions import FLOW_REGIONS, REGIONS, SECTORS


class FirmTable:
    """Column store of the firms: one row per firm, ``alive`` marks the living.

    The row of a firm that exits is reused by a later entrant (``append`` fills free rows first),
    so the table stays about as long as the living population.  Arrays grow in chunks; ``n`` is
    the number of rows in use (living firms plus free rows).
    """

    FIELDS: dict[str, type] = {
        "region": np.int8,  # home region (R&D base): 0 Beijing, 1 Tianjin, 2 Hebei
        "sector": np.int8,  # index into SECTORS
        "sales": np.float64,  # m yuan per year
        "rd_intensity": np.float64,  # own R&D / sales (before subsidy)
        "rd": np.float64,  # R&D spending this year, m yuan (subsidy included)
        "rd_stock": np.float64,  # R&D capital, m yuan (perpetual inventory)
        "weight": np.float64,  # real firms this agent stands for
        "birth_year": np.int16,
        "alive": np.bool_,
        "active": np.bool_,  # participates in the registered technology market
        "hte": np.bool_,  # recognised national high-tech enterprise
        "hte_until": np.int16,  # year in which the recognition is reviewed
        "last_ip_year": np.int16,  # last year the firm produced or bought a technology
        "prod_region": np.int8,  # where it transforms technology (own region or a branch)
        "park": np.bool_,  # its branch is in the Xiong'an Zhongguancun Science Park
        "output": np.float64,  # transformed output this year, m yuan
        "demand": np.float64,  # output it wanted to transform this year, m yuan
    }

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        for name, dtype in self.FIELDS.items():
            setattr(self, name, np.zeros(capacity, dtype=dtype))

    @property
    def capacity(self) -> int:
        return len(self.region)

    def append(self, **columns: np.ndarray) -> np.ndarray:
        """Add rows (all FIELDS not given are zero) and return their row indices.

        Free rows (of firms that have exited) are used first, then new rows at the end."""
        k = len(next(iter(columns.values())))
        free = np.flatnonzero(~self.view("alive"))[:k]
        n_new = k - len(free)
        if self.n + n_new > self.capacity:
            new_cap = max(2 * self.capacity, self.n + n_new)
            for name in self.FIELDS:
                old = getattr(self, name)
                grown = np.zeros(new_cap, dtype=old.dtype)
                grown[: self.n] = old[: self.n]
                setattr(self, name, grown)
        rows = np.concatenate([free, np.arange(self.n, self.n + n_new)])
        for name in self.FIELDS:
            column = getattr(self, name)
            column[rows] = columns[name] if name in columns else 0
        self.n += n_new
        return rows

    def view(self, name: str) -> np.ndarray:
        """The used part of a column (a view: writes go to the table)."""
        return getattr(self, name)[: self.n]


class LabTable:
    """Column store of labs (national key labs and new research institutions), one row per lab."""

    def __init__(self, region: np.ndarray, sector: np.ndarray, budget: np.ndarray) -> None:
        self.region = region.astype(np.int8)  # 0 Beijing, 1 Tianjin, 2 Hebei
        self.sector = sector.astype(np.int8)
        self.budget = budget.astype(np.float64)  # m yuan per year of public research spending
        self.n = len(region)


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector (restored on exit if it was enabled).

    Agents are long-lived container objects: with the collector on, every ~700 allocations a
    young-generation pass, and now and then a full pass, traverses the hundreds of thousands of
    living agents - about a quarter of a full-scale run's time, for no garbage (the model makes
    no reference cycles while it runs; reference counting frees what it drops).  The model and its
    agents form cycles when the run is over, which the collector frees as usual afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _signal_watched(model: mesa.Model, signal: ModelSignals) -> bool:
    """Whether anything listens to the model's ``agents`` signal (or a signal batch is open)."""
    return ("agents", signal) in model.subscribers or model._batch_context is not None


def create_agents(model: mesa.Model, cls: type[mesa.Agent], rows: Sequence[int]) -> list[mesa.Agent]:
    """One new ``cls(model, row)`` per row, registered with the model, made in bulk.

    The end state is the one ``Agent.__init__`` leaves (a ``unique_id`` from the model's
    counter, the agent in ``model.agents`` and ``model.agents_by_type[cls]``, ``pos`` None),
    but without the per-agent signal and debug-log calls, which cost ~5 us an agent.  When
    something listens to the model's agent signals or ``cls`` tracks datasets, the ordinary
    constructor is used so the listeners see every agent.  (Written against Mesa 3.5.1's
    ``Model.register_agent``; ``tests/test_reference.py`` checks the registries.)
    """
    if cls._datasets or _signal_watched(model, ModelSignals.AGENT_ADDED):
        return [cls(model, int(row)) for row in rows]
    first_id = model.agent_id_counter
    new = object.__new__
    agents = []
    with gc_paused():
        for unique_id, row in enumerate(np.asarray(rows).tolist(), first_id):
            agent = new(cls)
            agent.model, agent.unique_id, agent.pos, agent.row = model, unique_id, None, row
            agents.append(agent)
        model.agent_id_counter = first_id + len(agents)
        added = dict.fromkeys(agents)
        model._all_agents._agents.update(added)
        if cls in model.agents_by_type:
            model.agents_by_type[cls]._agents.update(added)
        else:
            model.agents_by_type[cls] = _HardKeyAgentSet(agents, random=model.random)
    return agents


def remove_agents(model: mesa.Model, agents: Iterable[mesa.Agent]) -> None:
    """``agent.remove()`` for each agent, in bulk (see :func:`create_agents`)."""
    agents = list(agents)
    if not agents:
        return
    cls = type(agents[0])
    if cls._datasets or _signal_watched(model, ModelSignals.AGENT_REMOVED) or any(type(a) is not cls for a in agents):
        for agent in agents:
            agent.remove()
        return
    everyone, of_type = model._all_agents._agents, model.agents_by_type[cls]._agents
    for agent in agents:
        del everyone[agent]
        del of_type[agent]


class Firm(mesa.Agent):
    """A technology firm: does R&D, buys and sells technology, transforms it where it has capacity,
    grows, may upgrade to a high-tech enterprise and may open a production branch elsewhere."""

    def __init__(self, model: mesa.Model, row: int) -> None:
        super().__init__(model)
        self.row = row  # row in model.firms

    def _get(self, name: str):
        return getattr(self.model.firms, name)[self.row]

    @property
    def region(self) -> str:
        return REGIONS[self._get("region")]

    @property
    def sector(self) -> str:
        return SECTORS[self._get("sector")]

    @property
    def sales_m(self) -> float:
        return float(self._get("sales"))

    @property
    def is_hte(self) -> bool:
        return bool(self._get("hte"))

    @property
    def production_region(self) -> str:
        return REGIONS[self._get("prod_region")]


class Lab(mesa.Agent):
    """A public research unit: turns its budget into technologies that it licenses or sells."""

    def __init__(self, model: mesa.Model, row: int) -> None:
        super().__init__(model)
        self.row = row  # row in model.labs

    @property
    def region(self) -> str:
        return REGIONS[self.model.labs.region[self.row]]

    @property
    def budget_m(self) -> float:
        return float(self.model.labs.budget[self.row])


class RestOfChina(mesa.Agent):
    """The rest of China as one aggregate trading partner: it buys the region's technology and
    offers its own.  Its searches per year (real scale) are held in ``searches``."""

    def __init__(self, model: mesa.Model) -> None:
        super().__init__(model)
        self.name = FLOW_REGIONS[-1]
        self.searches = 0.0
