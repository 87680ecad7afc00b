"""The economy the model's market grows with: China's technology market and the regions' GDP.

Exogenous paths from sourced figures (``model/data/inputs.toml``), with labelled assumptions after
the last sourced year.  Shared by both steppings.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from model.inputs import load_inputs, value
from model.params import Params
from model.regions import REGIONS
from model.years import CALIBRATION_LAST_YEAR, FIRST_YEAR


@lru_cache(maxsize=1)
def national_turnover() -> dict[int, float]:
    """China's registered technology contract turnover by year, trillion yuan (inputs
    ``national_turnover_trn``; 2020-2024)."""
    entry = load_inputs()["national_turnover_trn"]
    return {int(y): float(v) for y, v in entry["values"].items()}


def national_market_index(params: Params, year: int) -> float:
    """China's technology contract turnover in ``year`` relative to 2020 (public figures), growing
    at ``national_market_growth`` a year after the last sourced year.  The Rest of China's demand,
    its supply and its buyers' outside option grow with it."""
    series = national_turnover()
    last = max(series)
    if year <= last:
        return series[max(year, FIRST_YEAR)] / series[FIRST_YEAR]
    index = series[last] / series[FIRST_YEAR]
    for y in range(last + 1, year + 1):
        index *= 1 + params.at("national_market_growth", y)
    return index


def excess_fade(year: int) -> float:
    """The share of a firm's calibrated growth in excess of GDP still at work in ``year``: 1 up to the
    last year of data (2025), then halving every ``excess_growth_halflife`` years (an assumption:
    a sector cannot outgrow its economy forever; inputs.toml)."""
    if year <= CALIBRATION_LAST_YEAR:
        return 1.0
    return 0.5 ** ((year - CALIBRATION_LAST_YEAR) / value("excess_growth_halflife"))


@lru_cache(maxsize=None)
def gdp_log_growth(year: int) -> np.ndarray:
    """Each region's real GDP growth in ``year`` as a log rate (per year): the 2021-2025 average
    (inputs ``gdp_real_growth``, sourced) up to 2025, ``gdp_real_growth_after`` (an assumption)
    after."""
    if year <= CALIBRATION_LAST_YEAR:
        return np.array([math.log1p(value("gdp_real_growth", r)) for r in REGIONS])
    return np.full(len(REGIONS), math.log1p(value("gdp_real_growth_after")))
