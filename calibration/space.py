"""The calibration's parameter space: which uncertain parameters are free, and how they are searched.

The optimiser works in the unit cube; each free parameter maps a unit coordinate ``u`` in [0, 1]
onto its search box ``model.params.UNCERTAIN[name] = (lo, hi)``:

* ``linear``: ``lo + (hi - lo) * u``
* ``log``:    ``lo * (hi / lo) ** u``  (boxes spanning more than a factor 20 with lo > 0)
* ``cube``:   ``lo + (hi - lo) * u**3`` (boxes from 0 whose plausible values crowd the low end)

Which parameters are free (with scale and the targets that identify them) and which are fixed
(with the reason) is declared with each parameter in ``model.params.DECLARED``; :data:`FREE` and
:data:`FIXED` are derived from it, and docs/calibration.md repeats them.  Every other uncertain
parameter stays at its prior (``model.params.Params``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from model import UNCERTAIN, Params
from model.params import DECLARED, SCALES, Fixed, Free
from model.years import FIRST_YEAR

SIG_DIGITS = 10  # parameter values are rounded to this many significant digits before simulating


@dataclass(frozen=True)
class FreeParam:
    name: str
    scale: str  # "linear" | "log" | "cube"
    identified_by: str  # the targets that pin it down (documentation)

    @property
    def box(self) -> tuple[float, float]:
        return UNCERTAIN[self.name]

    def value(self, u: float) -> float:
        lo, hi = self.box
        u = float(np.clip(u, 0.0, 1.0))
        if self.scale == "log":
            v = lo * (hi / lo) ** u
        elif self.scale == "cube":
            v = lo + (hi - lo) * u**3
        else:
            v = lo + (hi - lo) * u
        return round_sig(v)

    def unit(self, v: float) -> float:
        lo, hi = self.box
        if self.scale == "log":
            u = np.log(v / lo) / np.log(hi / lo)
        elif self.scale == "cube":
            u = np.cbrt((v - lo) / (hi - lo))
        else:
            u = (v - lo) / (hi - lo)
        return float(np.clip(u, 0.0, 1.0))


# The free parameters, in the order of their axes of the unit cube (``Free.axis`` in
# model/params.py, which declares each one's scale and the targets that identify it).
FREE: tuple[FreeParam, ...] = tuple(
    FreeParam(p.name, p.calibration.scale, p.calibration.identified_by)
    for p in sorted((p for p in DECLARED if isinstance(p.calibration, Free)),
                    key=lambda p: p.calibration.axis)
)

# Uncertain parameters kept at their priors, and why the targets cannot identify them
# (``Fixed.reason`` in model/params.py).
FIXED: dict[str, str] = {
    p.name: p.calibration.reason for p in DECLARED if isinstance(p.calibration, Fixed)
}


def check_space() -> None:
    names = [p.name for p in FREE]
    assert len(set(names)) == len(names), "duplicate free parameter"
    assert set(names).isdisjoint(FIXED), "a parameter is both free and fixed"
    missing = set(UNCERTAIN) - set(names) - set(FIXED)
    assert not missing, f"uncertain parameters neither free nor fixed: {sorted(missing)}"
    for p in FREE:
        lo, hi = p.box
        assert p.scale in SCALES, p
        assert p.scale != "log" or lo > 0, f"{p.name}: log scale needs lo > 0"


check_space()


def round_sig(v: float, digits: int = SIG_DIGITS) -> float:
    return float(f"{float(v):.{digits}g}")


class Space:
    """Maps unit-cube vectors to parameter values and ``Params``."""

    def __init__(self, free: Sequence[FreeParam] = FREE, base: Params | None = None) -> None:
        self.free = tuple(free)
        self.base = base or Params()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.free]

    @property
    def dim(self) -> int:
        return len(self.free)

    def values(self, u: Sequence[float]) -> dict[str, float]:
        return {p.name: p.value(ui) for p, ui in zip(self.free, u)}

    def unit(self, values: Mapping[str, float]) -> np.ndarray:
        return np.array([p.unit(values[p.name]) for p in self.free])

    def params(self, u: Sequence[float]) -> Params:
        return self.base.replace(**self.values(u))

    def prior_unit(self) -> np.ndarray:
        return self.unit({p.name: self.base.at(p.name, FIRST_YEAR) for p in self.free})
