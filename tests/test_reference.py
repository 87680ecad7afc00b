"""The reference stepping is an oracle for the vectorised one.

Both implement the same rules with different random draws, so single runs differ but ensembles
must agree.  For each key metric (summed over Beijing, Tianjin and Hebei, in the last year and in
the middle of the run) the difference of ensemble means must lie within Z_MAX standard errors of
that difference.  The seeds are fixed, so the test is deterministic; with Z_MAX = 3 and 18
comparisons a correct model would fail for some seed sets with probability ~5%, and the chosen
seeds pass.  (The branch stock, ``branches_in``, joined them with the branch sampling of
``model/sampling.py``, which both steppings use.)  A rule implemented differently in one stepping (e.g. halving the search rate or
dropping the Rest of China's demand) moves these metrics by tens of standard errors.

Also checks that both models hold their agents in Mesa's registries, created through the public
constructor, and that the reference stepping is composed from the shared parts, not inherited.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model import Params, simulate
import mesa
from model.agents import FirmPopulation, LabPopulation, RestOfChina
from model.model import TechTransferModel
from model.reference import ReferenceFirm, ReferenceLab, ReferenceModel, ReferenceRestOfChina

SCALE, UNTIL = 0.02, 2024
REFERENCE_SEEDS = range(100, 116)  # 16 runs of ~1 s
VECTORISED_SEEDS = range(200, 264)  # 64 runs of ~0.05 s: the vectorised mean is nearly exact
YEARS = (2022, UNTIL)
METRICS = ("rd_spending_bn", "contract_turnover_bn", "contract_absorbed_bn", "high_tech_enterprises",
           "sci_tech_smes", "transformed_output_bn", "contracts_sold", "branches_in")
BTH = ("Beijing", "Tianjin", "Hebei")
Z_MAX = 3.0


def _ensemble(stepping: str, seeds) -> pd.DataFrame:
    """metric totals over BTH, and the contracts the Rest of China bought from BTH (the
    vectorised stepping draws those by Poisson thinning, the reference search by search):
    index (seed, year), one column per metric."""
    rows = []
    for seed in seeds:
        tables = simulate(Params(), seed=seed, scale=SCALE, until=UNTIL, stepping=stepping)
        r = tables.regions
        r = r[r.region.isin(BTH) & r.metric.isin(METRICS) & r.year.isin(YEARS)]
        totals = r.groupby(["year", "metric"]).value.sum().unstack("metric")
        f = tables.flows
        totals["roc_contracts_bought"] = f[f.destination == "Rest of China"].groupby("year").contracts.sum()
        totals["seed"] = seed
        rows.append(totals.reset_index())
    return pd.concat(rows).set_index(["seed", "year"])


@pytest.fixture(scope="module")
def ensembles() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _ensemble("vectorised", VECTORISED_SEEDS), _ensemble("reference", REFERENCE_SEEDS)


@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize("metric", METRICS + ("roc_contracts_bought",))
def test_same_ensemble_mean(ensembles, metric: str, year: int) -> None:
    vec, ref = (e.xs(year, level="year")[metric] for e in ensembles)
    se = np.sqrt(vec.var(ddof=1) / len(vec) + ref.var(ddof=1) / len(ref))
    z = (ref.mean() - vec.mean()) / se
    assert abs(z) <= Z_MAX, (
        f"{metric} {year}: reference mean {ref.mean():.4g} vs vectorised {vec.mean():.4g} "
        f"(difference {z:+.1f} standard errors, se {se:.3g})")
    assert se < 0.1 * abs(vec.mean()), f"{metric} {year}: too noisy to compare (se {se:.3g})"


def test_vectorised_registries_hold_the_three_populations() -> None:
    m = TechTransferModel(Params(), seed=5, scale=0.01, until=2023)
    m.run()
    assert len(m.agents) == 3
    assert m.agents_by_type[FirmPopulation][0] is m.firms
    assert m.agents_by_type[LabPopulation][0] is m.labs
    assert m.agents_by_type[RestOfChina][0] is m.rest_of_china
    ids = [a.unique_id for a in m.agents]
    assert len(set(ids)) == 3 and all(a.model is m for a in m.agents)


def test_reference_agents_are_mesa_agents() -> None:
    m = ReferenceModel(Params(), seed=5, scale=0.01, until=2022)
    tables = m.run()
    firms = tables.regions.query("year == 2022 and metric == 'firms' and region in @BTH").value.sum()
    assert len(m.agents_by_type[ReferenceFirm]) == pytest.approx(firms * 0.01)
    assert len(m.agents_by_type[ReferenceLab]) == 155
    assert len(m.agents_by_type[ReferenceRestOfChina]) == 1
    assert FirmPopulation not in m.agents_by_type  # nothing of the vectorised model is built


def test_reference_is_composed_not_inherited() -> None:
    assert not issubclass(ReferenceModel, TechTransferModel) and issubclass(ReferenceModel, mesa.Model)
    assert not hasattr(ReferenceModel(Params(), seed=1, scale=0.01, until=2020), "firms")


def test_both_steppings_start_from_the_same_population() -> None:
    """The same seed gives the reference stepping the vectorised model's 2020 firms, row by row."""
    vec = TechTransferModel(Params(), seed=9, scale=0.01, until=2020)
    ref = ReferenceModel(Params(), seed=9, scale=0.01, until=2020)
    firms = list(ref.agents_by_type[ReferenceFirm])
    assert len(firms) == vec.firms.living()
    for name in ("region", "sector", "sales", "rd_stock", "birth_year", "active", "last_ip_year"):
        assert [getattr(f, name) for f in firms] == vec.firms.view(name).tolist(), name
    assert np.array_equal(ref.rd_scale, vec.firms.rd_scale)


def test_creating_agents_draws_no_random_numbers() -> None:
    """Bit identity needs Mesa's public Agent constructor to leave both generators untouched."""
    m = mesa.Model(rng=7)
    rng_state, random_state = m.rng.bit_generator.state, m.random.getstate()
    for _ in range(10):
        ReferenceLab(m, 0, 0, 1.0)
    assert m.rng.bit_generator.state == rng_state and m.random.getstate() == random_state


def test_same_table_layout() -> None:
    vec = simulate(Params(), seed=1, scale=0.01, until=2021)
    ref = simulate(Params(), seed=1, scale=0.01, until=2021, stepping="reference")
    for a, b in ((vec.regions, ref.regions), (vec.flows, ref.flows)):
        assert list(a.columns) == list(b.columns)
        assert a.drop(columns=a.columns[-1]).iloc[:, :3].equals(b.drop(columns=b.columns[-1]).iloc[:, :3])
