"""Per-run memo of parameter look-ups: :class:`YearParams`.

``Params.at`` interpolates a schedule at every call, and ``Params.regional`` builds an array;
the vectorised model asks for the same (name, year) many times a year.  ``YearParams`` answers
``at`` and ``regional`` with the values ``Params`` gives, computed once per (name, year).  It
can stand wherever the model's functions take ``params`` only to read them this way.
"""

from __future__ import annotations

import numpy as np

from model.params import Params


class YearParams:
    """``params.at`` and ``params.regional``, memoised per (name, year).  The arrays ``regional``
    returns are shared, so they are read-only.  ``params``: the :class:`Params` read."""

    __slots__ = ("params", "_at", "_regional")

    def __init__(self, params: Params) -> None:
        self.params = params
        self._at: dict[tuple[str, float], float] = {}
        self._regional: dict[tuple[str, float], np.ndarray] = {}

    def at(self, name: str, year: float) -> float:
        """``Params.at(name, year)``."""
        try:
            return self._at[name, year]
        except KeyError:
            v = self._at[name, year] = self.params.at(name, year)
            return v

    def regional(self, name: str, year: float) -> np.ndarray:
        """``Params.regional(name, year)`` (read-only)."""
        try:
            return self._regional[name, year]
        except KeyError:
            v = self.params.regional(name, year)
            v.flags.writeable = False
            self._regional[name, year] = v
            return v


def yearly(params: Params | YearParams) -> YearParams:
    """``params`` as a :class:`YearParams` (itself if it is one)."""
    return params if isinstance(params, YearParams) else YearParams(params)
