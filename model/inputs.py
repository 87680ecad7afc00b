"""Load the model's sourced inputs and labelled assumptions from ``model/data/inputs.toml``.

The file is package data: every number carries its provenance next to it.  This module only
reads it; it never reads anything outside the package.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

INPUTS_FILE = Path(__file__).with_name("data") / "inputs.toml"
PROVENANCE_KEYS = ("seed", "public", "derived", "assumption")


@lru_cache(maxsize=1)
def load_inputs() -> dict[str, Any]:
    """The parsed inputs file (cached; treat as read-only)."""
    with INPUTS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def value(key: str, region: str | None = None) -> float:
    """The ``value`` of an entry, e.g. ``value("rd_spending_2020", "Hebei")`` -> 63.44."""
    entry = load_inputs()[key]
    if region is not None:
        entry = entry[region]
    return float(entry["value"])
