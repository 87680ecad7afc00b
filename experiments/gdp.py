"""The regions' GDP for plausibility checks of projections (bn yuan), declared once.

2024 from the public figures (Beijing 4,984.31 bn yuan, Beijing 2024 statistical bulletin; Tianjin
about 1,800 bn, State Information Center; Hebei the BTH total of about 11,500 bn, NBS BTH monitoring
office, less the two: about 4,716 bn); after 2024 it grows at the model's own real GDP growth paths
(``model/data/inputs.toml`` gdp_real_growth, gdp_real_growth_after) with no inflation: an assumption
(China's GDP deflator has been near zero since 2023; no source projects it).
"""

from __future__ import annotations

import math

from model.economy import gdp_log_growth
from model.regions import REGIONS

GDP_2024_BN = {"Beijing": 4984.31, "Tianjin": 1800.0, "Hebei": 11500.0 - 4984.31 - 1800.0}


def gdp_bn(region: str, year: int) -> float:
    """GDP of ``region`` in ``year`` (bn yuan, year >= 2024): the 2024 figure grown at the model's
    real GDP growth."""
    r = REGIONS.index(region)
    return GDP_2024_BN[region] * math.exp(sum(gdp_log_growth(y)[r] for y in range(2025, year + 1)))
