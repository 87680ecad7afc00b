"""The calibrated parameter values that scenarios and `bth run` use by default."""

from __future__ import annotations

import tomllib
from pathlib import Path

CALIBRATED_FILE = Path(__file__).with_name("calibrated.toml")


def calibrated_params(path: Path = CALIBRATED_FILE) -> dict[str, float]:
    """Point estimates from ``calibrated.toml`` (``[parameters.NAME] value = ...``); {} if absent."""
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return {name: float(entry["value"]) for name, entry in data.get("parameters", {}).items()}
