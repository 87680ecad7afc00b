"""The reference stepping is an oracle for the vectorised one.

Both implement the same rules with different random draws, so single runs differ but ensembles
must agree.  For each key metric (summed over Beijing, Tianjin and Hebei, in the last year and in
the middle of the run) the difference of ensemble means must lie within Z_MAX standard errors of
that difference.  The seeds are fixed, so the test is deterministic; with Z_MAX = 3 and 16
comparisons a correct model would fail for some seed sets with probability ~4%, and the chosen
seeds pass.  A rule implemented differently in one stepping (e.g. halving the search rate or
dropping the Rest of China's demand) moves these metrics by tens of standard errors.

Also checks that the bulk agent registration of the vectorised model leaves Mesa's registries as
``Agent.__init__`` / ``Agent.remove`` would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model import Params, simulate
from model.agents import Firm, Lab, RestOfChina
from model.model import TechTransferModel
from model.reference import ReferenceFirm, ReferenceLab, ReferenceModel

SCALE, UNTIL = 0.02, 2024
REFERENCE_SEEDS = range(100, 116)  # 16 runs of ~1 s
VECTORISED_SEEDS = range(200, 264)  # 64 runs of ~0.05 s: the vectorised mean is nearly exact
YEARS = (2022, UNTIL)
METRICS = ("rd_spending_bn", "contract_turnover_bn", "contract_absorbed_bn", "high_tech_enterprises",
           "sci_tech_smes", "transformed_output_bn", "contracts_sold")
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


def test_vectorised_registries_match_the_table() -> None:
    m = TechTransferModel(Params(), seed=5, scale=0.01, until=2023)
    m.run()
    alive = np.flatnonzero(m.firms.view("alive"))
    firms = m.agents_by_type[Firm]
    assert len(firms) == len(alive)
    assert sorted(a.row for a in firms) == alive.tolist()
    assert all(m.firm_agents[i] is not None and m.firm_agents[i].row == i for i in alive)
    assert len(m.agents_by_type[Lab]) == m.labs.n and len(m.agents_by_type[RestOfChina]) == 1
    assert len(m.agents) == len(alive) + m.labs.n + 1
    ids = [a.unique_id for a in m.agents]
    assert len(set(ids)) == len(ids) and max(ids) < m.agent_id_counter
    assert all(a.model is m and a.pos is None for a in firms)


def test_reference_agents_are_mesa_agents() -> None:
    m = ReferenceModel(Params(), seed=5, scale=0.01, until=2022)
    tables = m.run()
    firms = tables.regions.query("year == 2022 and metric == 'firms' and region in @BTH").value.sum()
    assert len(m.agents_by_type[ReferenceFirm]) == pytest.approx(firms * 0.01)
    assert len(m.agents_by_type[ReferenceLab]) > 0
    assert Firm not in m.agents_by_type or len(m.agents_by_type[Firm]) == 0


def test_same_table_layout() -> None:
    vec = simulate(Params(), seed=1, scale=0.01, until=2021)
    ref = simulate(Params(), seed=1, scale=0.01, until=2021, stepping="reference")
    for a, b in ((vec.regions, ref.regions), (vec.flows, ref.flows)):
        assert list(a.columns) == list(b.columns)
        assert a.drop(columns=a.columns[-1]).iloc[:, :3].equals(b.drop(columns=b.columns[-1]).iloc[:, :3])
