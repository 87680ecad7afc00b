"""The registered technology market: the shelf of technologies on offer and the buyers' choice.

A search from (buyer region, buyer sector) picks a *cell* = (seller region, sector, seller kind)
by a gravity-logit with an outside option (:func:`cell_weights`, :func:`choice_probabilities`),
then a technology in that cell in proportion to the real technologies each row stands for.  The
cell weights are shared by both steppings; :class:`TechnologyMarket` is the vectorised shelf.

Units: distances in km; boundary costs in log-points of attractiveness; contract values in m yuan;
``weight`` of a technology row = real technologies it stands for (firm rows 1/scale, lab rows 1).
"""

from __future__ import annotations

import numpy as np

from model.compiled import kernels
from model.economy import national_market_index
from model.inputs import value
from model.params import Params
from model.yearly import YearParams, yearly
from model.regions import BJ, HB, RC, SECTORS, TJ
from model.years import BOUNDARY_KNOTS, FIRST_YEAR

N_SECTORS = len(SECTORS)
N_KINDS = 2  # seller kind: 0 firm, 1 lab
FIRM, LAB = 0, 1
N_CELLS = 4 * N_SECTORS * N_KINDS  # cell = (seller region incl. Rest of China, sector, kind)
TECH_FIELDS = dict(owner=np.int64, kind=np.int8, region=np.int8, sector=np.int8, weight=np.float64,
                   value=np.float64, maturity=np.float64, vintage=np.int16)
SHELF_FIELDS = dict(TECH_FIELDS, cell=np.int16)  # the shelf's buffers: TECH_FIELDS and each one's cell
# cell index -> (seller region, sector, kind): lookup tables instead of integer arithmetic per deal
CELL_REGION, CELL_SECTOR, CELL_KIND = (np.ascontiguousarray(a.ravel(), np.int64) for a in np.meshgrid(
    np.arange(4), np.arange(N_SECTORS), np.arange(N_KINDS), indexing="ij"))


def boundary_friction(params: Params, year: int) -> float:
    """Log-points of attractiveness lost crossing a boundary between Beijing, Tianjin and Hebei.

    A path with knots BOUNDARY_KNOTS (2022, 2023): ``boundary_cost + boundary_cost_step`` up to
    2022, ``boundary_cost`` from 2023 on (linear between the knots); times the
    ``transfer_friction`` lever."""
    k0, k1 = BOUNDARY_KNOTS
    left = min(max((k1 - year) / (k1 - k0), 0.0), 1.0)  # 1 up to the first knot, 0 from the second
    base = params.at("boundary_cost", year) + params.at("boundary_cost_step", year) * left
    return base * params.at("transfer_friction", year)


def cell_weights(params: Params, year: int, supply: np.ndarray, distance_km: np.ndarray,
                 bth_supply_2020: float) -> tuple[np.ndarray, np.ndarray]:
    """Gravity-logit weights w[buyer_region(4), buyer_sector, cell] with cell = (region, sector, kind).

    ``supply``: real BTH technologies on offer per cell; ``bth_supply_2020``: BTH's total on offer
    in 2020 (real technologies).  Returns (weights, real technologies on offer per cell, Rest of
    China included: ``roc_supply`` x BTH's 2020 total x the national market index, spread over
    sectors: the rest of China's supply grows with China's technology market, not with BTH's)."""
    p = params
    supply = np.array(supply, dtype=float)
    roc_cells = (RC * N_SECTORS + np.arange(N_SECTORS)) * N_KINDS  # Rest of China offers as "firms"
    supply[roc_cells] = p.at("roc_supply", year) * bth_supply_2020 * national_market_index(p, year) / N_SECTORS
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
    gravity = np.exp(-distance_km[:, :, None] / d0 - bcost)  # (4 buyer, 4 seller, kinds)
    match = np.full((N_SECTORS, N_SECTORS), value("sector_match_other"))
    np.fill_diagonal(match, 1.0)
    thick = value("market_thickness_ref")
    # w[rb, sb, rs, ss, k] = supply[rs, ss, k]/thick * gravity[rb, rs, k] * match[sb, ss]
    w = (supply[None, None] / thick) * gravity[:, None, :, None, :] * match[None, :, None, :, None]
    return w.reshape(4, N_SECTORS, N_CELLS), supply.reshape(N_CELLS)


def outside_weights(params: Params, year: int) -> np.ndarray:
    """Weight of the outside option per buyer region (4): 1 for BTH buyers (not buying, or buying
    unregistered); for the Rest of China's buyers the national market index, since their
    alternatives (the rest of China's own technologies, not modelled as cells) grow with it."""
    out = np.ones(4)
    out[RC] = national_market_index(params, year)
    return out


def choice_probabilities(w: np.ndarray, outside: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Choice probabilities of a search over the cells and an outside option (last column; weight
    ``outside[buyer region]``, default 1), and their cumulative sums (the last exactly 1): both
    shaped (4, N_SECTORS, N_CELLS + 1)."""
    out = np.ones(w.shape[0]) if outside is None else np.asarray(outside, float)
    probs = np.concatenate([w, np.broadcast_to(out[:, None, None], w.shape[:2] + (1,))], axis=-1)
    probs /= probs.sum(axis=-1, keepdims=True)
    cdf = np.cumsum(probs, axis=-1)
    cdf[..., -1] = 1.0
    return probs, cdf


def supplier_factor(params: Params, year: int) -> float:
    """Multiplier on the transformed output of intelligent-connected-vehicle technologies:
    (supplier_network / supplier_network_ref) ^ supplier_elasticity."""
    return (params.at("supplier_network", year) / value("supplier_network_ref")) ** value("supplier_elasticity")


def cell_of(region: np.ndarray, sector: np.ndarray, kind: np.ndarray, dtype=np.int64) -> np.ndarray:
    """The cell index of (seller region, sector, kind)."""
    return (region.astype(dtype) * N_SECTORS + sector) * N_KINDS + kind


class Offer:
    """This year's market as a searcher sees it: cell choice probabilities and supply."""

    def __init__(self, probs: np.ndarray, cdf: np.ndarray, supply: np.ndarray) -> None:
        self.probs, self.cdf, self.supply = probs, cdf, supply  # see choice_probabilities, cell_weights


class Bids:
    """Searches that chose a cell: the cell, the buying firm's row (-1: a Rest-of-China buyer)
    and the buyer's region, one entry per future deal."""

    def __init__(self, cells: np.ndarray, buyer: np.ndarray, buyer_region: np.ndarray) -> None:
        self.cells, self.buyer, self.buyer_region = cells, buyer, buyer_region


class _Block:
    """One vintage's technologies on the shelf: rows [start, end) of the buffers, sorted by cell
    (stably, so within a cell in the order they were offered), with per cell its first row
    (relative to start) and count, and, if all its rows weigh the same, that weight (NaN: none,
    -1: they differ)."""

    __slots__ = ("vintage", "start", "end", "first", "count", "cell_weight")

    def __init__(self, vintage, start, end, first, count, cell_weight):
        self.vintage, self.start, self.end = vintage, start, end
        self.first, self.count, self.cell_weight = first, count, cell_weight


class TechnologyMarket:
    """The shelf of technologies on offer and the settlement of the year's bids into deals.

    The shelf is a set of preallocated column buffers (``TECH_FIELDS`` plus ``cell``) holding one
    block per vintage still on offer, oldest first; a block is sorted by cell.  Shelving appends a
    block at the end and expiry drops the oldest blocks (a prefix), so no column is concatenated
    or re-sorted each year.  Within a cell the technologies stay in the order they were offered
    (vintage, then offer), which is the order picks count in.  ``techs`` gives the live shelf as
    views.  Draws from the model's generator ``rng``."""

    def __init__(self, params: Params | YearParams, scale: float, rng: np.random.Generator, distance_km: np.ndarray) -> None:
        self._p = yearly(params)  # the parameters' look-ups, memoised per year (a YearParams is used as given)
        self.params, self.scale, self.rng, self.distance_km = self._p.params, scale, rng, distance_km
        cap = int(700_000 * scale) + 40_000  # the baseline's shelf peaks at ~640,000 x scale + ~27,000 lab rows
        self._buf = {name: np.zeros(cap, dtype) for name, dtype in SHELF_FIELDS.items()}
        self._start = self._end = 0
        self._blocks: list[_Block] = []
        self.bth_supply_2020: float | None = None  # set by the first open()
        self._settled = None  # the deals settle() returned last, and their full-length columns
        self._shelf_life = int(value("tech_shelf_life"))
        self._firm_maturity = value("firm_maturity")
        self._maturity = {kind: (value("maturity_concentration") * m, value("maturity_concentration") * (1 - m))
                          for kind, m in ((FIRM, value("firm_maturity")), (LAB, value("lab_maturity")))}

    @property
    def techs(self) -> dict[str, np.ndarray]:
        """The technologies on offer, one row per model technology (views of the shelf buffers;
        ``value`` and ``maturity`` are NaN until a technology is first sold)."""
        return {name: col[self._start:self._end] for name, col in self._buf.items()}

    def _reserve(self, k: int) -> None:
        """Room for ``k`` more rows at the end: move the live shelf to the front, grow if needed."""
        cap = len(self._buf["owner"])
        if self._end + k <= cap:
            return
        live = self._end - self._start
        new_cap = max(cap, int(1.5 * (live + k)))
        shift = self._start
        for name, col in self._buf.items():
            if new_cap > cap:
                grown = np.zeros(new_cap, col.dtype)
                grown[:live] = col[self._start:self._end]
                self._buf[name] = grown
            else:
                col[:live] = col[self._start:self._end].copy()
        for b in self._blocks:
            b.start -= shift
            b.end -= shift
        self._start, self._end = 0, live

    def shelve(self, year: int, vintage: int, firm_offers: dict[str, np.ndarray],
               lab_offers: dict[str, np.ndarray]) -> None:
        """Put the new technologies of ``vintage`` on the shelf (firms' first, then labs'); drop
        those older than the shelf life in ``year``.  Offers: columns owner, region, sector, weight.

        A technology's maturity (Beta) and, for a firm's, its contract value (:meth:`value_terms`)
        are drawn when it is first sold (``kernels.settle``): most technologies on the shelf
        are never sold, and independent draws made later have the same distribution.  Until then
        they are NaN.  (A lab technology's own value is never drawn: its deals draw theirs afresh.)"""
        self._blocks = [b for b in self._blocks if b.vintage > year - self._shelf_life]
        self._start = self._blocks[0].start if self._blocks else self._end
        n_firm, n_lab = len(firm_offers["owner"]), len(lab_offers["owner"])
        n = n_firm + n_lab
        kind = np.zeros(n, np.int8)
        kind[n_firm:] = LAB
        new = dict(owner=np.concatenate([firm_offers["owner"], lab_offers["owner"]]), kind=kind,
                   region=np.concatenate([firm_offers["region"], lab_offers["region"]]),
                   sector=np.concatenate([firm_offers["sector"], lab_offers["sector"]]),
                   weight=np.concatenate([firm_offers["weight"], lab_offers["weight"]]))
        cell = cell_of(new["region"], new["sector"], kind, dtype=np.int16)
        order = np.argsort(cell, kind="stable")  # radix sort of this vintage only
        count = np.bincount(cell, minlength=N_CELLS)
        first = np.cumsum(count) - count
        self._reserve(n)
        s, e = self._end, self._end + n
        buf = self._buf
        for name, col in new.items():
            np.take(col, order, out=buf[name][s:e])
        buf["cell"][s:e] = cell[order]
        buf["vintage"][s:e] = vintage
        buf["value"][s:e] = np.nan  # drawn when first sold
        buf["maturity"][s:e] = np.nan
        w = buf["weight"][s:e]
        cell_weight = np.full(N_CELLS, np.nan)
        nonempty = np.flatnonzero(count)
        if n:
            lo, hi = np.minimum.reduceat(w, first[nonempty]), np.maximum.reduceat(w, first[nonempty])
            cell_weight[nonempty] = np.where(lo == hi, lo, -1.0)  # -1: weights differ within the cell
        self._blocks.append(_Block(vintage, s, e, first, count, cell_weight))
        self._end = e

    def orphan(self, exits: np.ndarray, n_rows: int) -> None:
        """Firms of rows ``exits`` have exited: their technologies stay on offer until they expire,
        sold by nobody (owner -1), since the rows are reused by entrants.  ``n_rows``: rows in use."""
        if not len(exits):
            return
        owner = self._buf["owner"][self._start:self._end]
        exited = np.zeros(n_rows + 1, bool)  # the extra last entry stands for "no firm" (owner -1)
        exited[exits] = True
        firm_tech = self._buf["kind"][self._start:self._end] != LAB
        owner[exited[owner] & firm_tech] = -1

    def open(self, year: int) -> Offer:
        """The year's choice probabilities, from the technologies on the shelf."""
        live = slice(self._start, self._end)
        # per cell, the weights are summed in offer order (the buffers keep it within a cell)
        supply = np.bincount(self._buf["cell"][live], weights=self._buf["weight"][live], minlength=N_CELLS)
        if self.bth_supply_2020 is None:  # the first year's BTH supply anchors the rest of China's
            self.bth_supply_2020 = float(supply.sum())
        w, supply = cell_weights(self._p, year, supply, self.distance_km, self.bth_supply_2020)
        probs, cdf = choice_probabilities(w, outside_weights(self._p, year))
        return Offer(probs, cdf, supply)

    def value_terms(self, years: range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The terms of a contract value in each of ``years``: (mean, sigma2, s2), m yuan.

        Real contract values are lognormal(log `value_median_m`, `value_sigma`), with mean
        ``mean`` and log-variance ``sigma2``.  The mean of k of them is drawn from the lognormal
        with the same mean and variance (Fenton-Wilkinson, exact for k = 1), of log-variance
        log(1 + (exp(sigma2) - 1) / k); ``s2`` is that for k = 1/scale, a model row's real count.
        This keeps totals right in expectation and in variance at every scale, instead of
        multiplying one heavy-tailed draw by 1/scale.  (The draws: ``kernels.settle``.)"""
        p = self._p
        sigma2 = np.array([p.at("value_sigma", y) ** 2 for y in years])
        mean = np.array([p.at("value_median_m", y) for y in years]) * np.exp(sigma2 / 2)
        return mean, sigma2, np.log1p(np.expm1(sigma2) / max(1.0 / self.scale, 1.0))

    def settle(self, year: int, offer: Offer, bids: list[Bids]) -> dict[str, np.ndarray]:
        """Turn the bids (in order) into deals: columns buyer, buyer_region, seller_region, seller,
        seller_kind, sector, value (m yuan), maturity, weight (real deals; one row per model deal),
        intra (False: market contracts)."""
        cells = np.concatenate([b.cells for b in bids])
        n = len(cells)
        room = n // 4 + 64  # the columns are made longer: room for the year's intra-firm contracts (:meth:`join_deals`)
        d_buyer, d_bregion = np.empty(n + room, np.int64), np.empty(n + room, np.int64)
        np.concatenate([b.buyer for b in bids], out=d_buyer[:n])
        np.concatenate([b.buyer_region for b in bids], out=d_bregion[:n])
        tech = self.pick_techs(cells, offer.supply)  # the shelf row sold (-1: a Rest-of-China offer)
        # A model deal stands for 1/scale real deals.  A firm technology row already stands for
        # 1/scale real technologies (its value is their mean); a lab technology or a Rest-of-China
        # offer is one real technology per real buyer, so the 1/scale real buyers behind the deal are
        # taken to buy as many different ones: their mean value is drawn afresh (kernels.settle).
        buf, weight_ref = self._buf, 1.0 / self.scale
        # the shelf's vintages up to this year (a fresh value is this year's: the last entry)
        vintages = range(self._blocks[0].vintage if self._blocks else year, year + 1)
        mean, sigma2, s2_ref = self.value_terms(vintages)
        region, sector, kind, seller, value_m, maturity = kernels.settle(
            self.rng, np.ascontiguousarray(cells, np.int64), tech, CELL_REGION, CELL_SECTOR, CELL_KIND,
            buf["kind"], buf["vintage"], buf["weight"], buf["value"], buf["maturity"], buf["owner"],
            vintages[0], mean, sigma2, s2_ref, weight_ref, *self._maturity[FIRM], *self._maturity[LAB],
            mean[-1], s2_ref[-1], self._firm_maturity, room)
        columns = dict(buyer=d_buyer, buyer_region=d_bregion, seller_region=region, seller=seller,
                       seller_kind=kind, sector=sector, value=value_m, maturity=maturity,
                       weight=np.full(n + room, weight_ref), intra=np.zeros(n + room, bool))
        deals = {name: col[:n] for name, col in columns.items()}
        self._settled = (deals, columns)  # for join_deals
        return deals

    def join_deals(self, deals: dict[str, np.ndarray], *more: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """:func:`join_deals` of the deals :meth:`settle` returned last and ``more``: their columns
        are continued in the room settle left after them (no copy of the deals) where the rest fits
        and keeps the column's dtype, else concatenated.  The same values either way."""
        if self._settled is None or self._settled[0] is not deals:
            return join_deals(deals, *more)
        full = self._settled[1]
        self._settled = None  # (the room is used once)
        out = {}
        for name, first in deals.items():
            rest = [p[name] for p in more]
            n, base = len(first), full[name]
            if n + sum(len(c) for c in rest) <= len(base) and all(np.can_cast(c.dtype, base.dtype) for c in rest):
                for c in rest:
                    base[n:n + len(c)] = c
                    n += len(c)
                out[name] = base[:n]
            else:
                out[name] = np.concatenate([first] + rest)
        return out

    def fresh_firm_terms(self, year: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``k`` fresh contracts for firm technologies of ``year`` (intra-firm transfers): each value
        (m yuan) the mean of 1/scale real contract values, drawn from the lognormal with their mean
        and log-variance (:meth:`value_terms`, as ``kernels.settle`` draws a fresh value), and a
        maturity Beta as a firm technology's."""
        mean, _, s2 = (a[0] for a in self.value_terms(range(year, year + 1)))
        values = np.exp(np.log(mean) - s2 / 2 + np.sqrt(s2) * self.rng.standard_normal(k))
        a, b = self._maturity[FIRM]
        return values, (self.rng.beta(a, b, k) if k else np.zeros(0))

    def pick_techs(self, cells: np.ndarray, supply: np.ndarray) -> np.ndarray:
        """One technology (a row of the shelf buffers) per chosen cell, drawn in proportion to weight
        (-1 for a cell of the Rest of China, whose offers are not on the shelf; no draw).

        All techs of a cell normally weigh the same (a cell holds one seller kind: firm techs weigh
        1/scale, lab techs 1), and then the pick is the k-th tech of the cell, k = floor(u x count),
        counted over the vintage blocks oldest first: O(1) per deal from the blocks' per-cell counts,
        with no sort of the shelf.  Otherwise a binary search on the cumulative weights.  Both use
        one uniform draw per deal."""
        blocks = self._blocks
        if not blocks or not len(cells):  # (an empty shelf has no cell to choose)
            return np.full(len(cells), -1, np.int64)
        count = np.array([b.count for b in blocks])  # (blocks, cells)
        cw = np.array([b.cell_weight for b in blocks])
        held = count > 0
        lo, hi = np.where(held, cw, np.inf).min(axis=0), np.where(held, cw, -np.inf).max(axis=0)
        cells = np.ascontiguousarray(cells, np.int64)
        if np.all(~held.any(axis=0) | ((lo == hi) & (lo != -1.0))):
            return kernels.pick_in_blocks(self.rng, cells, np.array([b.start for b in blocks], np.int64),
                                          np.array([b.first for b in blocks], np.int64), count.astype(np.int64),
                                          np.cumsum(count, axis=0).astype(np.int64), CELL_REGION, RC)
        tech = np.full(len(cells), -1, np.int64)
        local = np.flatnonzero(CELL_REGION[cells] != RC)
        cells = cells[local]
        u = self.rng.random(len(cells))
        # general case: techs grouped by cell (counting sort), binary search on cumulative weights
        tcell = self._buf["cell"][self._start:self._end]
        order = np.argsort(tcell, kind="stable")
        cnt = np.bincount(tcell, minlength=len(supply))
        first = np.cumsum(cnt) - cnt
        cum = np.cumsum(self._buf["weight"][self._start:self._end][order])
        start = np.concatenate([[0.0], cum])[first]
        pos = np.minimum(np.searchsorted(cum, start[cells] + u * supply[cells], side="right"), len(cum) - 1)
        tech[local] = self._start + order[pos]
        return tech


def join_deals(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The year's deals, market and intra-firm, as one set of columns (in the order given)."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
