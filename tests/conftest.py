"""Fixtures shared by several test modules."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.api import run_ensemble
from scenarios import load_scenario


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A small results folder: baseline and a low-friction variant (from 2026), 3 seeds, scale
    0.01, to 2030, no plots; one per module (the app tests and the browser test)."""
    out = tmp_path_factory.mktemp("results")
    base = load_scenario("baseline")
    alt = base.with_changes(name="low-friction",
                            transfer_friction={"years": [2025, 2026], "values": [1.0, 0.3]})
    run_ensemble([base, alt], seeds=3, scale=0.01, until=2030, out=out, workers=1, progress=False,
                 plots=False)
    return out


def run_recording_deals(params, seed: int, scale: float, until: int):
    """A run's tables and each year's deals (market and intra-firm, by year), as the observation
    (``TechTransferModel.annual_rows``) saw them."""
    from model import TechTransferModel

    m = TechTransferModel(params, seed=seed, scale=scale, until=until)
    deals: dict[int, dict[str, np.ndarray]] = {}
    observe = m.annual_rows

    def recording(year, d):
        deals[year] = {k: np.array(v, copy=True) for k, v in d.items()}
        return observe(year, d)

    m.annual_rows = recording
    return m.run(), deals


@pytest.fixture(scope="session")
def record_deals():
    """:func:`run_recording_deals`, for tests that check the observation against the deals."""
    return run_recording_deals
