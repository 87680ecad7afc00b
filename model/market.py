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

from model.inputs import value
from model.params import Params
from model.regions import BJ, HB, RC, SECTORS, TJ
from model.years import BOUNDARY_FALL_END, FIRST_YEAR

N_SECTORS = len(SECTORS)
N_KINDS = 2  # seller kind: 0 firm, 1 lab
FIRM, LAB = 0, 1
N_CELLS = 4 * N_SECTORS * N_KINDS  # cell = (seller region incl. Rest of China, sector, kind)
TECH_FIELDS = dict(owner=np.int64, kind=np.int8, region=np.int8, sector=np.int8, weight=np.float64,
                   value=np.float64, maturity=np.float64, vintage=np.int16)


def boundary_friction(params: Params, year: int) -> float:
    """Log-points of attractiveness lost crossing a boundary between Beijing, Tianjin and Hebei.

    ``boundary_cost + boundary_cost_fall * (BOUNDARY_FALL_END - year) / (BOUNDARY_FALL_END - FIRST_YEAR)``
    up to BOUNDARY_FALL_END (2025), ``boundary_cost`` after; times the ``transfer_friction`` lever."""
    left = min(max(BOUNDARY_FALL_END - year, 0), BOUNDARY_FALL_END - FIRST_YEAR) / (BOUNDARY_FALL_END - FIRST_YEAR)
    base = params.at("boundary_cost", year) + params.at("boundary_cost_fall", year) * left
    return base * params.at("transfer_friction", year)


def cell_weights(params: Params, year: int, supply: np.ndarray, distance_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gravity-logit weights w[buyer_region(4), buyer_sector, cell] with cell = (region, sector, kind).

    ``supply``: real BTH technologies on offer per cell.  Returns (weights, real technologies on
    offer per cell, Rest of China included: ``roc_supply`` x BTH's total, spread over sectors)."""
    p = params
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
    gravity = np.exp(-distance_km[:, :, None] / d0 - bcost)  # (4 buyer, 4 seller, kinds)
    match = np.full((N_SECTORS, N_SECTORS), value("sector_match_other"))
    np.fill_diagonal(match, 1.0)
    thick = value("market_thickness_ref")
    # w[rb, sb, rs, ss, k] = supply[rs, ss, k]/thick * gravity[rb, rs, k] * match[sb, ss]
    w = (supply[None, None] / thick) * gravity[:, None, :, None, :] * match[None, :, None, :, None]
    return w.reshape(4, N_SECTORS, N_CELLS), supply.reshape(N_CELLS)


def choice_probabilities(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Choice probabilities of a search over the cells and an outside option of weight 1 (last
    column), and their cumulative sums (the last exactly 1): both shaped (4, N_SECTORS, N_CELLS + 1)."""
    probs = np.concatenate([w, np.ones(w.shape[:2] + (1,))], axis=-1)
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


class TechnologyMarket:
    """The shelf of technologies on offer (columns ``techs``, one row per model technology) and
    the settlement of the year's bids into deals.  Draws from the model's generator ``rng``."""

    def __init__(self, params: Params, scale: float, rng: np.random.Generator, distance_km: np.ndarray) -> None:
        self.params, self.scale, self.rng, self.distance_km = params, scale, rng, distance_km
        self.techs = {name: np.zeros(0, dtype) for name, dtype in TECH_FIELDS.items()}

    def shelve(self, year: int, vintage: int, firm_offers: dict[str, np.ndarray],
               lab_offers: dict[str, np.ndarray]) -> None:
        """Put the new technologies of ``vintage`` on the shelf (firms' first, then labs'), with a
        contract value (:meth:`contract_values`) and a Beta maturity; drop those older than the
        shelf life in ``year``.  Offers: columns owner, region, sector, weight."""
        owner = np.concatenate([firm_offers["owner"], lab_offers["owner"]])
        n_firm, n_lab = len(firm_offers["owner"]), len(lab_offers["owner"])
        kind = np.concatenate([np.zeros(n_firm, np.int8), np.ones(n_lab, np.int8)])
        region = np.concatenate([firm_offers["region"], lab_offers["region"]])
        sector = np.concatenate([firm_offers["sector"], lab_offers["sector"]])
        weight = np.concatenate([firm_offers["weight"], lab_offers["weight"]])
        value_m = self.contract_values(weight, vintage)
        mean_mat = np.where(kind == LAB, value("lab_maturity"), value("firm_maturity"))
        k = value("maturity_concentration")
        maturity = self.rng.beta(k * mean_mat, k * (1 - mean_mat))
        new = dict(owner=owner, kind=kind, region=region, sector=sector, weight=weight,
                   value=value_m, maturity=maturity, vintage=np.full(len(owner), vintage, np.int16))
        keep = self.techs["vintage"] > year - int(value("tech_shelf_life"))
        self.techs = {k: np.concatenate([v[keep], new[k]]) for k, v in self.techs.items()}

    def orphan(self, exits: np.ndarray, n_rows: int) -> None:
        """Firms of rows ``exits`` have exited: their technologies stay on offer until they expire,
        sold by nobody (owner -1), since the rows are reused by entrants.  ``n_rows``: rows in use."""
        t = self.techs
        exited = np.zeros(n_rows + 1, bool)  # the extra last entry stands for "no firm" (owner -1)
        exited[exits] = True
        firm_tech = np.flatnonzero(t["kind"] != LAB)
        t["owner"][firm_tech[exited[t["owner"][firm_tech]]]] = -1

    def open(self, year: int) -> Offer:
        """The year's choice probabilities, from the technologies on the shelf."""
        t = self.techs
        supply = np.bincount(cell_of(t["region"], t["sector"], t["kind"]), weights=t["weight"], minlength=N_CELLS)
        w, supply = cell_weights(self.params, year, supply, self.distance_km)
        probs, cdf = choice_probabilities(w)
        return Offer(probs, cdf, supply)

    def contract_values(self, k: np.ndarray, year: int) -> np.ndarray:
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

    def settle(self, year: int, offer: Offer, bids: list[Bids]) -> dict[str, np.ndarray]:
        """Turn the bids (in order) into deals: columns buyer, buyer_region, seller_region, seller,
        seller_kind, sector, value (m yuan), maturity, weight (real deals; one row per model deal)."""
        t = self.techs
        cells = np.concatenate([b.cells for b in bids])
        d_buyer = np.concatenate([b.buyer for b in bids])
        d_bregion = np.concatenate([b.buyer_region for b in bids])
        n_deals = len(cells)
        seller_region = cells // (N_SECTORS * N_KINDS)
        from_roc = seller_region == RC
        local = ~from_roc
        tech_idx = np.full(n_deals, -1)
        if local.any():
            tech_idx[local] = self.pick_techs(cells[local], offer.supply)
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
        value_m[fresh] = self.contract_values(np.full(fresh.sum(), 1.0 / self.scale), year)
        seller = np.where(local, t["owner"][np.maximum(tech_idx, 0)], -1)
        return dict(buyer=d_buyer, buyer_region=d_bregion, seller_region=seller_region, seller=seller,
                    seller_kind=kind, sector=sector, value=value_m, maturity=maturity,
                    weight=np.full(n_deals, 1.0 / self.scale))

    def pick_techs(self, cells: np.ndarray, supply: np.ndarray) -> np.ndarray:
        """One technology (row of ``techs``) per chosen cell, drawn in proportion to weight.

        Techs are grouped by cell with a counting sort.  All techs of a cell normally weigh the
        same (a cell holds one seller kind: firm techs weigh 1/scale, lab techs 1), and then the
        pick is the k-th tech of the cell with k = floor(u * count), O(1) per deal; otherwise a
        binary search on the cumulative weights.  Both use one uniform draw per deal."""
        t = self.techs
        tcell = cell_of(t["region"], t["sector"], t["kind"], dtype=np.int16)
        order = np.argsort(tcell, kind="stable")  # radix sort on small integers: O(techs)
        count = np.bincount(tcell, minlength=len(supply))
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
