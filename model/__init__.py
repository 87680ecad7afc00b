"""bth-techtransfer: agent-based model of technology transfer in Beijing-Tianjin-Hebei.

The model knows nothing about files, plots or the command line.  Use::

    from model import Params, Schedule, simulate
    tables = simulate(Params(), seed=1, scale=0.05, until=2035)
    tables.regions   # pandas: year, region, metric, value   (real-world scale)
    tables.flows     # pandas: year, origin, destination, contract_value_bn, contracts
"""

from model.params import FIELD_NAMES, LEVER_RANGES, LEVERS, UNCERTAIN, Params, Schedule
from model.regions import FLOW_REGIONS, OUTPUT_REGIONS, REGIONS
from model.outputs import RunTables
from model.model import START_YEAR, TechTransferModel
from model.reference import ReferenceModel
from model.run import simulate

__all__ = [
    "FIELD_NAMES", "LEVERS", "LEVER_RANGES", "UNCERTAIN", "Params", "Schedule",
    "REGIONS", "FLOW_REGIONS", "OUTPUT_REGIONS", "START_YEAR",
    "RunTables", "TechTransferModel", "ReferenceModel", "simulate",
]
