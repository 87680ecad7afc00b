"""``simulate()``: one run of either stepping, by name.

Lives apart from both models so that ``model.model`` and ``model.reference`` need not import
each other.
"""

from __future__ import annotations

from model.model import TechTransferModel
from model.outputs import RunTables
from model.params import Params
from model.reference import ReferenceModel
from model.years import DEFAULT_HORIZON

STEPPINGS = {"vectorised": TechTransferModel, "reference": ReferenceModel}


def simulate(params: Params | None = None, seed: int = 0, scale: float = 0.05, until: int = DEFAULT_HORIZON,
             stepping: str = "vectorised") -> RunTables:
    """Run one simulation from 2020 to ``until`` and return its annual tables (real-world scale).

    ``stepping``: "vectorised" (``TechTransferModel``) or "reference" (``ReferenceModel``, one
    agent at a time: an oracle, slow)."""
    try:
        cls = STEPPINGS[stepping]
    except KeyError:
        raise ValueError(f"stepping must be 'vectorised' or 'reference', got {stepping!r}") from None
    return cls(params, seed=seed, scale=scale, until=until).run()
