"""The rules added for the calibration to 2020-2025 figures, each checked on its own:
the fall of the boundary cost over 2020-25, the Xiong'an park's opening year, labs registering
with their region's participation, entry as a constant inflow, and the expected unicorn count."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from model import Params, Schedule, TechTransferModel, simulate
from model.inputs import value
from model.market import LAB, boundary_friction
from model.outputs import annual_rows
from model.regions import HB, REGIONS


def test_boundary_cost_falls_linearly_to_2025_then_holds():
    p = Params(boundary_cost=1.2, boundary_cost_fall=0.8)
    assert boundary_friction(p, 2020) == pytest.approx(2.0)
    assert boundary_friction(p, 2022) == pytest.approx(1.2 + 0.8 * 3 / 5)
    for year in (2025, 2030, 2035):
        assert boundary_friction(p, year) == pytest.approx(1.2)
    # the policy lever multiplies the whole cost
    lever = p.replace(transfer_friction=Schedule(years=(2025, 2030), values=(1.0, 0.5)))
    assert boundary_friction(lever, 2030) == pytest.approx(0.6)
    assert boundary_friction(lever, 2020) == pytest.approx(2.0)


def test_boundary_cost_fall_raises_early_cross_boundary_flows_less_than_late_ones():
    """With a larger fall, 2020 costs more to cross; 2025 is unchanged (same boundary_cost)."""
    def bj_hb(p, year):
        flows = [simulate(p, seed=s, scale=0.02, until=2025).flows for s in (1, 2, 3)]
        return np.mean([f.query("year == @year and origin == 'Beijing' and destination == 'Hebei'")
                        ["contract_value_bn"].sum() for f in flows])
    flat, falling = Params(boundary_cost_fall=0.0), Params(boundary_cost_fall=1.5)
    assert bj_hb(falling, 2020) < 0.6 * bj_hb(flat, 2020)  # exp(-1.5) = 0.22 on the gravity weight
    assert bj_hb(falling, 2025) == pytest.approx(bj_hb(flat, 2025), rel=0.35)


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
    while m.year <= m.until:
        year = m.year
        m.step()
        alive, region = m.firms.view("alive"), m.firms.view("region")
        counts[year] = int(np.sum(alive & (region == HB) & (m.firms.view("birth_year") == year)))
        hebei[year] = int(np.sum(alive & (region == HB)))
    expected = 0.2 * value("firms_2020", "Hebei") * scale  # ~308 a year
    early = np.mean([counts[y] for y in range(2021, 2026)])
    late = np.mean([counts[y] for y in range(2031, 2036)])
    se = np.sqrt(expected / 5)
    assert abs(early - expected) < 4 * se and abs(late - expected) < 4 * se
    assert hebei[2035] > 1.5 * hebei[2021]  # the firm count grew meanwhile, the inflow did not
    assert REGIONS[HB] == "Hebei"


def test_unicorn_count_is_the_expected_share_of_real_firms_over_1bn_usd():
    year, multiple = 2024, 2.0
    threshold_m = 1000 * value("usd_cny") / multiple  # sales (m yuan) at which the median valuation is 1 bn USD
    sigma = value("valuation_sigma")
    sales = np.array([threshold_m, threshold_m * np.exp(sigma), threshold_m, threshold_m])
    firms = dict(region=np.array([0, 0, 2, 2]), weight=np.array([20.0, 20.0, 20.0, 0.0]), rd=np.zeros(4),
                 hte=np.zeros(4, bool), sales=sales,
                 birth_year=np.array([year - 1, year - 1, year - 30, year - 1]),  # firm 2 too old
                 prod_region=np.array([0, 0, 2, 2]), output=np.zeros(4), park=np.zeros(4, bool))
    deals = dict(seller_region=np.zeros(0, int), buyer_region=np.zeros(0, int), value=np.zeros(0), weight=np.zeros(0))
    rows = annual_rows(year, Params(valuation_multiple=multiple), firms, np.zeros(0, int), np.zeros(0), deals)
    unicorns = {r: v for (y, r, m, v) in rows["regions"] if m == "unicorns"}
    assert unicorns["Beijing"] == pytest.approx(20 * 0.5 + 20 * norm.cdf(1.0))
    assert unicorns["Hebei"] == 0.0  # one firm too old, the other exited (weight 0)
