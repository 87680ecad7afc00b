"""bth-techtransfer: agent-based model of technology transfer in Beijing-Tianjin-Hebei.

The model knows nothing about files, plots or the command line.  Use::

    from model import Params, Schedule, simulate
    tables = simulate(Params(), seed=1, scale=0.05, until=2035)
    tables.regions   # pandas: year, region, metric, value   (real-world scale)
    tables.flows     # pandas: year, origin, destination, contract_value_bn, contracts
"""

import importlib

# Where each public name lives.  Names are imported on first use (PEP 562), so that importing a
# light submodule (model.params, model.years, model.version) does not load Mesa, SciPy and pandas.
_EXPORTS = {
    "FIELD_NAMES": "model.params", "LEVERS": "model.params", "LEVER_RANGES": "model.params",
    "UNCERTAIN": "model.params", "Params": "model.params", "Schedule": "model.params",
    "REGIONS": "model.regions", "FLOW_REGIONS": "model.regions", "OUTPUT_REGIONS": "model.regions",
    "RunTables": "model.outputs", "START_YEAR": "model.model", "TechTransferModel": "model.model",
    "ReferenceModel": "model.reference", "simulate": "model.run",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
