"""The compiled kernels (model/kernels.pyx) and the shelf they read: exact draws, one stream.

Statistical tests fix their seeds and state their tolerance.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import stats

from model import Params, TechTransferModel
from model.compiled import SOURCE, kernels
from model.inputs import value
from model.market import LAB, N_CELLS, Bids, TechnologyMarket, cell_of
from model.regions import distance_matrix


def test_the_build_matches_its_source_and_numpy():
    assert kernels.SOURCE_SHA == hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    assert kernels.NUMPY_VERSION == np.__version__


@pytest.mark.parametrize("lam", [0.02, 0.7, 3.0, 9.5, 40.0])
def test_poisson_counts_have_the_poisson_distribution(lam):
    """200,000 draws (inversion below 10, NumPy's sampler above): the mean within 5 standard
    errors, and a chi-square test of the frequencies at p > 0.001."""
    n = 200_000
    alive = np.ones(n, bool)
    lam_v = np.full(n, lam)
    counts = np.zeros(n, np.int64)
    owners = kernels.invent(np.random.default_rng(7), alive, alive, lam_v, np.exp(-lam_v),
                            np.zeros(n, np.int16), 2020)
    np.add.at(counts, owners, 1)
    assert abs(counts.mean() - lam) < 5 * np.sqrt(lam / n)
    top = int(stats.poisson.ppf(0.999, lam))
    observed = np.bincount(np.minimum(counts, top), minlength=top + 1)
    expected = stats.poisson.pmf(np.arange(top + 1), lam) * n
    expected[-1] = stats.poisson.sf(top - 1, lam) * n
    keep = expected > 5
    assert stats.chisquare(observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum()).pvalue > 1e-3


def test_kernels_draw_from_the_models_stream():
    """A kernel advances the generator it is given: two kernels on one generator draw what one
    numpy call would draw in between differently (the stream is shared, not copied)."""
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    alive = np.ones(1000, bool)
    kernels.exit_rows(a, alive.copy(), 0.5)
    assert a.random() != b.random()
    c, d = np.random.default_rng(3), np.random.default_rng(3)
    kernels.exit_rows(c, alive.copy(), 0.5)
    d.random(1000)  # exit_rows draws one uniform per living row
    assert c.random() == d.random()


def test_exit_and_join_draw_only_for_the_rows_they_can_change():
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    alive = np.array([1, 0, 1, 1, 0], bool)
    active = np.array([0, 0, 1, 0, 0], bool)  # rows 0 and 3 can join
    kernels.join_market(rng_a, alive, active, np.zeros(5, np.int8), np.array([1.0, 0, 0]))
    assert active.tolist() == [True, False, True, True, False]
    rng_b.random(2)
    assert rng_a.random() == rng_b.random()


def test_two_models_stepped_interleaved_give_the_tables_of_each_alone():
    """Two models built and stepped interleaved give the tables of two built one after the other."""
    p = Params()
    one = TechTransferModel(p, seed=4, scale=0.02, until=2023)
    two = TechTransferModel(p, seed=4, scale=0.02, until=2023)
    while one.year <= one.until:
        one.step()
        two.step()
    alone = TechTransferModel(p, seed=4, scale=0.02, until=2023).run()
    assert one.tables().regions.equals(alone.regions) and two.tables().flows.equals(alone.flows)


# ------------------------------------------------------------------ the shelf

def _market(seed: int = 0, scale: float = 0.05) -> TechnologyMarket:
    return TechnologyMarket(Params(), scale, np.random.default_rng(seed), distance_matrix())


def _offers(owners, region, sector, weight):
    owners = np.asarray(owners)
    return dict(owner=owners, region=np.full(len(owners), region, np.int8),
                sector=np.full(len(owners), sector, np.int8), weight=np.full(len(owners), weight))


NO_OFFERS = dict(owner=np.zeros(0, np.int64), region=np.zeros(0, np.int8), sector=np.zeros(0, np.int8),
                 weight=np.zeros(0))


def test_shelf_keeps_the_vintages_of_the_shelf_life_and_grows_past_its_capacity():
    life = int(value("tech_shelf_life"))
    m = _market()
    per_year = len(m.techs["owner"]) + len(m._buf["owner"]) // 2 + 7  # forces moves and growth of the buffers
    for year in range(2020, 2030):
        m.shelve(year, year, _offers(np.arange(per_year) + 1000 * year, 0, year % 6, 20.0), NO_OFFERS)
        t = m.techs
        assert sorted(set(t["vintage"].tolist())) == list(range(max(2020, year - life + 1), year + 1))
        for v in set(t["vintage"].tolist()):  # every technology of a vintage on the shelf is there, once
            assert sorted(t["owner"][t["vintage"] == v]) == list(np.arange(per_year) + 1000 * v)


def test_a_pick_is_uniform_over_a_cells_technologies_across_vintages():
    """Cell (Beijing, sector 2, firm) holds 3 + 5 + 2 technologies in three vintage blocks; 60,000
    picks: each technology's count is within 5 standard deviations of 6,000."""
    m = _market(seed=3)
    for year, n in ((2020, 3), (2021, 5), (2022, 2)):
        other = _offers(np.arange(4) + 500, 1, 0, 20.0)  # another cell, in the same blocks
        mine = _offers(np.arange(n) + 10 * year, 0, 2, 20.0)
        m.shelve(2022, year, {k: np.concatenate([other[k], mine[k]]) for k in mine}, NO_OFFERS)
    cell = int(cell_of(np.array([0]), np.array([2]), np.array([0]))[0])
    rows = m.pick_techs(np.full(60_000, cell), np.zeros(N_CELLS))
    owners = m._buf["owner"][rows]
    expected = {10 * y + i for y, n in ((2020, 3), (2021, 5), (2022, 2)) for i in range(n)}
    assert set(owners.tolist()) == expected
    counts = np.array([np.sum(owners == o) for o in sorted(expected)])
    assert np.all(np.abs(counts - 6000) < 5 * np.sqrt(6000 * 0.9))


def test_a_pick_follows_the_weights_when_a_cell_mixes_them():
    m = _market(seed=4)
    m.shelve(2020, 2020, _offers([1, 2], 0, 0, 1.0), NO_OFFERS)
    m.shelve(2020, 2020, _offers([3], 0, 0, 3.0), NO_OFFERS)  # same cell, three times the weight
    cell = int(cell_of(np.array([0]), np.array([0]), np.array([0]))[0])
    supply = np.zeros(N_CELLS)
    supply[cell] = 5.0
    owners = m._buf["owner"][m.pick_techs(np.full(50_000, cell), supply)]
    share = np.mean(owners == 3)  # expected 0.6, sd 0.0022: tolerance 5 sd
    assert abs(share - 0.6) < 0.011


def test_a_technology_keeps_the_maturity_and_value_drawn_at_its_first_sale():
    m = _market(seed=5)
    m.shelve(2020, 2020, _offers(np.arange(50), 0, 0, 20.0), _offers(np.arange(5), 0, 1, 20.0))
    assert np.isnan(m.techs["maturity"]).all()
    offer = m.open(2020)
    bids = Bids(np.zeros(200, np.int64), np.zeros(200, np.int64), np.zeros(200, np.int64))  # cell 0: BJ firms
    first = m.settle(2020, offer, [bids])
    again = m.settle(2020, offer, [bids])
    t = m.techs
    sold = np.isfinite(t["maturity"])
    assert 0 < sold.sum() <= 50 and np.isfinite(t["value"][sold]).all()
    assert (t["kind"][sold] != LAB).all()  # only cell 0's (firm) technologies were sold
    by_owner = dict(zip(first["seller"].tolist(), first["maturity"].tolist()))
    for seller, maturity in zip(again["seller"].tolist(), again["maturity"].tolist()):
        if seller in by_owner:
            assert maturity == by_owner[seller]  # drawn once, kept


def test_thinned_searches_make_as_many_deals_as_searching_one_by_one():
    """Each firm's deals are Poisson(search_rate x capacity x P(a cell)): over 200 repetitions
    the mean number of firm bids is within 4 standard errors of its expectation."""
    m = TechTransferModel(Params(), seed=2, scale=0.02, until=2020)
    m.step()  # 2020: the shelf is stocked
    firms, p = m.firms, m.params
    offer = m.market.open(2021)
    alive = np.flatnonzero(firms.view("alive"))
    cap = 1 - np.exp(-firms.rd_stock[alive] / p.at("absorptive_stock_m", 2021))
    p_cell = 1 - offer.probs[firms.region[alive], firms.sector[alive], -1]
    expected = np.sum(p.at("search_rate", 2021) * cap * p_cell)
    assert expected > 100
    n = [len(firms.search(2021, offer).cells) for _ in range(200)]
    assert abs(np.mean(n) - expected) < 4 * np.sqrt(expected / 200)
