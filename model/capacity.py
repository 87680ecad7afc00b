"""Regional capacity for transforming technology into output, and its congestion.

Capacity C of a production region (bn yuan of output per year) is ``capacity_2020`` growing by
``capacity_growth`` a year, times the ``capacity_<region>`` lever.  With demand D (bn yuan), the
share met is ``1 / sqrt(1 + (D/C)^2)`` (a smooth capacity constraint); the spare capacity
``max(C - met D, 0)`` attracts production branches the next year.  Shared by both steppings.
"""

from __future__ import annotations

import numpy as np

from model.inputs import value
from model.params import Params
from model.regions import REGIONS
from model.years import FIRST_YEAR


class TransformationCapacity:
    """Capacity, congestion and spare capacity of Beijing, Tianjin and Hebei (arrays over REGIONS).

    ``congestion``: share of transformation demand met last year (1 before any demand);
    ``spare_bn``: capacity not used for transformation last year, bn yuan."""

    def __init__(self) -> None:
        self.capacity_bn = np.array([value("capacity_2020", r) for r in REGIONS])
        self.congestion = np.ones(len(REGIONS))
        self.spare_bn = np.zeros(len(REGIONS))

    def ration(self, params: Params, year: int, demand_bn: np.ndarray) -> np.ndarray:
        """Grow capacity to ``year``, meet ``demand_bn`` (bn yuan by production region) and return
        the share met by region (also kept as ``congestion``)."""
        if year > FIRST_YEAR:
            self.capacity_bn *= 1 + value("capacity_growth")
        cap = self.capacity_bn * params.regional("capacity", year)
        met = np.where(demand_bn > 0, 1 / np.sqrt(1 + (demand_bn / np.maximum(cap, 1e-9)) ** 2), 1.0)
        self.congestion = met
        self.spare_bn = np.maximum(cap - demand_bn * met, 0.0)
        return met
