"""The rules added for the calibration to 2020-2025 figures, each checked on its own:
the step of the boundary cost in 2023, the Xiong'an park's opening year, labs registering
with their region's participation, entry as a constant inflow, the expected unicorn count,
intra-firm transfers to branches, the 2020 branch stock and the national market index."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from model import Params, Schedule, TechTransferModel, simulate
from model.economy import national_market_index
from model.inputs import value
from model.market import LAB, boundary_friction
from model.outputs import annual_rows
from model.regions import BJ, HB, REGIONS
from model.years import BOUNDARY_KNOTS


def test_boundary_cost_is_flat_with_the_step_to_2022_and_without_it_from_2023():
    assert BOUNDARY_KNOTS == (2022, 2023)
    p = Params(boundary_cost=1.2, boundary_cost_step=0.8)
    for year in (2020, 2021, 2022):  # flat at boundary_cost + step: no gradual fall
        assert boundary_friction(p, year) == pytest.approx(2.0), year
    for year in (2023, 2024, 2025, 2030, 2035):  # the step is removed at once in 2023, and held off
        assert boundary_friction(p, year) == pytest.approx(1.2), year
    # no step: the same cost throughout
    flat = Params(boundary_cost=1.2, boundary_cost_step=0.0)
    assert {round(boundary_friction(flat, y), 12) for y in range(2020, 2031)} == {1.2}
    # the policy lever multiplies the whole cost, the step included
    lever = p.replace(transfer_friction=Schedule(years=(2021, 2030), values=(1.0, 0.5)))
    assert boundary_friction(lever, 2030) == pytest.approx(0.6)
    assert boundary_friction(lever, 2020) == pytest.approx(2.0)
    assert boundary_friction(lever, 2022) == pytest.approx(2.0 * (1.0 - 0.5 / 9))


def test_boundary_cost_step_lowers_flows_before_2023_and_makes_the_2023_jump():
    """With a larger step, 2020-22 cost more to cross, so Beijing's reported flow to Tianjin and
    Hebei is lower then, jumps in 2023 and is back near the no-step level in 2024 (the same
    boundary_cost from 2023 on; the flows trail the cost by the firms' adjustment)."""
    def bj_to_tj_hb(p):
        runs = [simulate(p, seed=s, scale=0.02, until=2024).regions for s in (1, 2, 3)]
        series = [r.query("region == 'Beijing' and metric == 'reported_outflow_tianjin_hebei_bn'")
                  .set_index("year")["value"] for r in runs]
        return np.mean(series, axis=0)  # 2020..2024
    flat, step = bj_to_tj_hb(Params(boundary_cost_step=0.0)), bj_to_tj_hb(Params(boundary_cost_step=1.5))
    assert (step[:3] < 0.6 * flat[:3]).all()  # exp(-1.5) = 0.22 on the gravity weight
    assert step[3] / step[2] > 2 * flat[3] / flat[2]  # the 2022 -> 2023 jump
    assert step[4] == pytest.approx(flat[4], rel=0.35)


def test_park_takes_firms_only_from_its_opening_year():
    assert value("park_open_year") == 2023
    p = Params(branch_propensity=1.0, park_attraction=10.0)
    park = simulate(p, seed=3, scale=0.02, until=2025).regions.query("region == \"Xiong'an\"")
    by_year = park.set_index("year")["value"]
    assert (by_year.loc[2020:2022] == 0).all()
    assert by_year.loc[2023] > 0


def test_labs_offer_technologies_in_proportion_to_their_regions_participation():
    def hebei_lab_techs(share: float) -> int:
        # at full scale a lab technology row is one real technology (at scale s, 1/s of them)
        m = TechTransferModel(Params(participation_hebei=share), seed=5, scale=1.0, until=2020)
        m.step()  # 2020: the technologies of vintages 2018-2020
        t = m.market.techs
        return int(np.sum((t["kind"] == LAB) & (t["region"] == HB)))
    low, high = hebei_lab_techs(0.1), hebei_lab_techs(0.8)
    # Poisson counts in the hundreds: the ratio is 8 within a few per cent (tolerance 20%)
    assert high / low == pytest.approx(8.0, rel=0.2)


def test_entry_is_a_constant_inflow_not_a_share_of_todays_firms():
    """Entrants per year ~ Poisson(entry_rate x firms_2020 x scale), in 2021 as in 2035, although
    the firm count changes in between.  Exit comes before entry in a year, so after step y the
    living firms born in y are exactly y's entrants."""
    p, scale = Params(entry_rate_hebei=0.2, exit_rate=0.01), 0.02
    m = TechTransferModel(p, seed=11, scale=scale, until=2035)
    counts: dict[int, int] = {}
    hebei: dict[int, int] = {}  # living Hebei firm agents after each year
    branches: dict[int, int] = {}  # Hebei branches opened in the year (new firms, but not entrants)
    while m.year <= m.until:
        year = m.year
        m.step()
        alive, region = m.firms.view("alive"), m.firms.view("region")
        born = alive & (region == HB) & (m.firms.view("birth_year") == year)
        # a branch opened this year still has its parent (exits come first in a year)
        entrant = m.firms.view("parent") < 0
        counts[year] = int(np.sum(born & entrant))
        branches[year] = int(np.sum(born & ~entrant))
        hebei[year] = int(np.sum(alive & (region == HB)))
    expected = 0.2 * Params().firms_2020_hebei * scale  # ~308 a year
    early = np.mean([counts[y] for y in range(2021, 2026)])
    late = np.mean([counts[y] for y in range(2031, 2036)])
    se = np.sqrt(expected / 5)
    assert abs(early - expected) < 4 * se and abs(late - expected) < 4 * se
    assert hebei[2035] > 1.5 * hebei[2021]  # the firm count grew meanwhile, the inflow did not
    assert sum(branches.values()) > 0  # branches are born too, and are not counted as entrants
    assert REGIONS[HB] == "Hebei"


def test_unicorn_count_is_the_expected_share_of_real_firms_over_1bn_usd():
    year, multiple = 2024, 2.0
    threshold_m = 1000 * value("usd_cny") / multiple  # sales (m yuan) at which the median valuation is 1 bn USD
    sigma = value("valuation_sigma")
    sales = np.array([threshold_m, threshold_m * np.exp(sigma), threshold_m, threshold_m])
    firms = dict(region=np.array([0, 0, 2, 2]), weight=np.array([20.0, 20.0, 20.0, 0.0]), rd=np.zeros(4),
                 hte=np.zeros(4, bool), sales=sales,
                 birth_year=np.array([year - 1, year - 1, year - 30, year - 1]),  # firm 2 too old
                 output=np.zeros(4), park=np.zeros(4, bool),
                 branch=np.zeros(4, bool))
    deals = dict(seller_region=np.zeros(0, int), buyer_region=np.zeros(0, int), value=np.zeros(0), weight=np.zeros(0),
                 intra=np.zeros(0, bool))
    rows = annual_rows(year, Params(valuation_multiple=multiple), firms, np.zeros(0, int), np.zeros(0), deals, np.zeros(3))
    unicorns = {r: v for (y, r, m, v) in rows["regions"] if m == "unicorns"}
    assert unicorns["Beijing"] == pytest.approx(20 * 0.5 + 20 * norm.cdf(1.0))
    assert unicorns["Hebei"] == 0.0  # one firm too old, the other exited (weight 0)


def test_branches_in_counts_the_living_branches_of_other_regions_firms():
    year = 2024
    firms = dict(region=np.array([0, 0, 2, 2, 1]), weight=np.array([20.0, 20.0, 20.0, 0.0, 20.0]), rd=np.zeros(5),
                 hte=np.zeros(5, bool), sales=np.ones(5), birth_year=np.full(5, year - 1),
                 output=np.zeros(5), park=np.zeros(5, bool),
                 branch=np.array([False, True, True, True, False]))
    deals = dict(seller_region=np.zeros(0, int), buyer_region=np.zeros(0, int), value=np.zeros(0), weight=np.zeros(0),
                 intra=np.zeros(0, bool))
    rows = annual_rows(year, Params(), firms, np.zeros(0, int), np.zeros(0), deals, np.zeros(3))
    branches = {r: v for (y, r, m, v) in rows["regions"] if m == "branches_in"}
    assert branches == {"Beijing": 20.0, "Tianjin": 0.0, "Hebei": 20.0}  # Hebei's second branch exited


# ------------------------------------------------------------------ branches and intra-firm transfers


def test_no_intra_firm_contracts_without_transfers(record_deals):
    tables, deals = record_deals(Params(intra_transfer_rate=0.0), seed=3, scale=0.02, until=2023)
    intra = tables.regions.query("metric == 'intra_firm_bn'")
    assert len(intra) == 4 * 3 and (intra["value"] == 0).all()
    assert not any(d["intra"].any() for d in deals.values())
    # so the buyer-side statistic is the market flow alone
    reg = tables.regions.set_index(["year", "region", "metric"])["value"]
    f = tables.flows.set_index(["year", "origin", "destination"])["contract_value_bn"]
    for year in range(2020, 2024):
        assert reg[(year, "Hebei", "reported_absorbed_from_beijing_bn")] == pytest.approx(f[(year, "Beijing", "Hebei")])


def test_intra_firm_transfers_add_to_hebeis_absorption_from_beijing(record_deals):
    """With transfers, Hebei's branches of Beijing firms receive contracts from their parents: Hebei's
    reported absorption from Beijing exceeds the Beijing -> Hebei market flow by the intra-firm part."""
    tables, deals = record_deals(Params(intra_transfer_rate=1.0), seed=3, scale=0.02, until=2023)
    reg = tables.regions.set_index(["year", "region", "metric"])["value"]
    for year, d in deals.items():
        real = d["value"] * d["weight"] / 1000
        bj_hb = (d["seller_region"] == BJ) & (d["buyer_region"] == HB)
        market, intra = real[bj_hb & ~d["intra"]].sum(), real[bj_hb & d["intra"]].sum()
        assert intra > 0, year
        reported = reg[(year, "Hebei", "reported_absorbed_from_beijing_bn")]
        assert reported > market, year
        assert reported == pytest.approx(market + intra, rel=1e-12)
        assert reg[(year, "Hebei", "intra_firm_bn")] >= intra * (1 - 1e-12)  # from Beijing and other parents
        # an intra-firm contract goes from a parent firm to its branch in another region
        assert (d["seller"][d["intra"]] >= 0).all()
        assert (d["buyer_region"][d["intra"]] != d["seller_region"][d["intra"]]).all()


def test_2020_branch_stock_matches_zhongguancun_firms_branches():
    """Zhongguancun firms' branches and subsidiaries at the end of 2020: 4,173 in Tianjin, 4,643 in
    Hebei (inputs branches_2020); the model's 2020 count is within 20% (the target's band)."""
    reg = simulate(Params(), seed=1, scale=0.05, until=2020).regions
    got = reg.query("year == 2020 and metric == 'branches_in'").set_index("region")["value"]
    assert got["Tianjin"] == pytest.approx(4173, rel=0.2)
    assert got["Hebei"] == pytest.approx(4643, rel=0.2)
    assert got["Beijing"] == 0  # no 2020 branches of Tianjin or Hebei firms in Beijing


# ------------------------------------------------------------------ the economy


def test_national_market_index_follows_the_national_turnover():
    p = Params()
    assert national_market_index(p, 2020) == pytest.approx(1.0)
    assert national_market_index(p, 2024) == pytest.approx(6.8 / 2.8252)
    # after the last sourced year it grows at national_market_growth
    q = Params(national_market_growth=0.1)
    assert national_market_index(q, 2026) == pytest.approx(6.8 / 2.8252 * 1.1 ** 2)
    assert national_market_index(Params(national_market_growth=0.0), 2030) == pytest.approx(6.8 / 2.8252)
