"""High-tech enterprise (HTE) recognition by the 2016 Administrative Measures, as the model reads them.

A firm is eligible when its R&D share of sales reaches the threshold of its sales band and it
produced or bought a technology within the ``hte_ip_window_years``; recognition lasts
``years_valid`` years (``hte_thresholds`` in ``model/data/inputs.toml``).  Shared by both steppings.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from model.inputs import load_inputs, value


@dataclass(frozen=True)
class HteRule:
    """Thresholds (share of sales) by sales band (m yuan per year) and durations (years)."""

    small_sales_max_m: float
    mid_sales_max_m: float
    small: float  # R&D share required at sales <= small_sales_max_m
    mid: float  # ... at sales <= mid_sales_max_m
    large: float  # ... above
    years_valid: int  # a recognition is reviewed after this many years
    ip_window_years: int  # new IP must be this recent (this year and the years before)

    def oldest_ip_year(self, year: int) -> int:
        """The earliest year of new IP that still makes a firm eligible in ``year``."""
        return year - (self.ip_window_years - 1)


@lru_cache(maxsize=1)
def hte_rule() -> HteRule:
    """The HTE rule of the inputs file."""
    thr = load_inputs()["hte_thresholds"]
    return HteRule(thr["small_sales_max_m"], thr["mid_sales_max_m"], thr["small"], thr["mid"], thr["large"],
                   int(thr["years_valid"]), int(value("hte_ip_window_years")))
