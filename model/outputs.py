"""The model's outputs: each year's rows of the regions and flows tables, and their collection.

Both steppings build a year's rows with :func:`annual_rows` and record them in a Mesa
``DataCollector`` declared with two tables (:func:`new_collector`, :func:`record`): the
documented ``tables=`` / ``add_table_row`` API.  Model reporters would deep-copy each year's rows;
the tables store plain values once, and ``get_table_dataframe`` gives the run's tables.

Metric names, units and meanings are declared in ``model/metrics.py``; values are at real-world
scale (agent weights = 1/scale); ``_bn`` = billion yuan per year, counts are real firms/contracts.
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np
import pandas as pd

from model.compiled import kernels
from model.inputs import value
from model.metrics import FLOW_METRIC_NAMES, METRICS, REGION_METRIC_NAMES
from model.params import Params
from model.regions import BJ, FLOW_REGIONS, HB, RC, REGIONS, ROC, TJ, XIONGAN

REGION_COLUMNS = ("year", "region", "metric", "value")
FLOW_COLUMNS = ("year", "origin", "destination") + FLOW_METRIC_NAMES
# Row order of a year's regions table: the BTH metrics in this order, then the park, then the
# Rest of China's trade.  (Not REGION_METRICS' order: the tables keep the order they always had.)
BTH_ROW_ORDER = ("rd_spending_bn", "contract_turnover_bn", "contract_absorbed_bn", "contracts_sold",
                 "reported_outflow_tianjin_hebei_bn", "reported_outflow_tianjin_hebei_contracts",
                 "reported_absorbed_from_beijing_bn", "intra_firm_bn",
                 "high_tech_enterprises", "sci_tech_smes", "unicorns", "firms",
                 "transformed_output_bn", "firm_revenue_bn", "branches_in", "beijing_branches_established")
# the regions a metric has rows for (the rest: all of REGIONS)
METRIC_REGIONS = {"reported_outflow_tianjin_hebei_bn": (BJ,), "reported_outflow_tianjin_hebei_contracts": (BJ,),
                  "reported_absorbed_from_beijing_bn": (TJ, HB), "beijing_branches_established": (TJ, HB)}
PARK_METRIC = METRICS["park_firms"].name
ROC_METRICS = tuple(METRICS[m].name for m in ("contract_turnover_bn", "contract_absorbed_bn", "contracts_sold"))
assert set(BTH_ROW_ORDER) | {PARK_METRIC} == set(REGION_METRIC_NAMES) and len(BTH_ROW_ORDER) == len(REGION_METRIC_NAMES) - 1


@dataclass
class RunTables:
    """Annual outputs of one run, at real-world scale."""

    regions: pd.DataFrame  # year, region, metric, value
    flows: pd.DataFrame  # year, origin, destination, contract_value_bn, contracts


def _bth_metrics(year: int, params: Params, firms: dict[str, np.ndarray], lab_region: np.ndarray,
                 lab_budget: np.ndarray, val: np.ndarray, cnt: np.ndarray, intra_val: np.ndarray,
                 intra_cnt: np.ndarray) -> dict[str, np.ndarray]:
    """Each BTH metric as an array over REGIONS (``val``, ``cnt``: 4x4 flow value (bn yuan) and count
    of all contracts, seller region x buyer region; ``intra_val``, ``intra_cnt``: of the intra-firm ones).

    The measurement layer (docs/model.md, 3.3 "Measurement"): a market contract is registered by its seller, where
    the seller is; an intra-firm contract (parent to its own branch) by the branch, where it is."""
    market_val, market_cnt = val - intra_val, cnt - intra_cnt
    w, region = np.ascontiguousarray(firms["weight"], np.float64), np.ascontiguousarray(firms["region"], np.int8)
    col = {name: np.ascontiguousarray(firms[name], dtype) for name, dtype in
           (("branch", np.bool_), ("rd", np.float64), ("hte", np.bool_), ("sales", np.float64),
            ("output", np.float64), ("park", np.bool_), ("birth_year", np.int16))}
    # unicorns: valuation = valuation_multiple x sales x lognormal(0, valuation_sigma) across the
    # real firms a model firm stands for; the expected share valued at 1 bn USD or more (kernel)
    sums = kernels.region_sums(w, region, col["branch"], col["rd"], col["hte"], col["sales"], col["output"],
                               col["park"], col["birth_year"], value("sme_max_sales_m"), year,
                               int(value("unicorn_max_age")),
                               1000 * value("usd_cny") / params.at("valuation_multiple", year), value("valuation_sigma"))
    return {
        "rd_spending_bn": (sums[0] + np.bincount(lab_region, weights=lab_budget, minlength=3)) / 1000,
        "contract_turnover_bn": market_val.sum(axis=1)[:3] + intra_val.sum(axis=0)[:3],
        "contract_absorbed_bn": val.sum(axis=0)[:3],
        "contracts_sold": market_cnt.sum(axis=1)[:3] + intra_cnt.sum(axis=0)[:3],
        "reported_outflow_tianjin_hebei_bn": np.full(3, market_val[BJ, TJ] + market_val[BJ, HB]),
        "reported_outflow_tianjin_hebei_contracts": np.full(3, market_cnt[BJ, TJ] + market_cnt[BJ, HB]),
        "reported_absorbed_from_beijing_bn": val[BJ, :3],
        "intra_firm_bn": intra_val.sum(axis=0)[:3],
        "high_tech_enterprises": sums[1],
        "sci_tech_smes": sums[2] * params.regional("sme_registration", year),  # registered share (measurement)
        "unicorns": sums[8],
        "firms": sums[3],
        "transformed_output_bn": sums[5] / 1000,
        "firm_revenue_bn": sums[4] / 1000,
        "branches_in": sums[6],
        PARK_METRIC: sums[7, 0],
    }


def annual_rows(year: int, params: Params, firms: dict[str, np.ndarray], lab_region: np.ndarray,
                lab_budget: np.ndarray, deals: dict[str, np.ndarray],
                beijing_branches_established: np.ndarray) -> dict[str, list[tuple]]:
    """The year's rows of the output tables (shared by both steppings): {"regions": [(year,
    region, metric, value)], "flows": [(year, origin, destination, contract_value_bn, contracts)]}.

    ``firms``: columns region, weight (real firms; 0 for firms that have exited), rd, hte, sales,
    birth_year, output, park, branch (a branch of another region's firm).  ``deals``:
    columns seller_region, buyer_region, value (m yuan), weight (real deals; one entry per model
    deal), intra (an intra-firm contract).  ``beijing_branches_established``: real branches
    established in each region by Beijing firms so far (the 2020 stock and every one opened since)."""
    # flows: origin = seller region, destination = buyer region
    sums = kernels.flow_sums(np.ascontiguousarray(deals["seller_region"], np.int64),
                             np.ascontiguousarray(deals["buyer_region"], np.int64),
                             np.ascontiguousarray(deals["value"], np.float64),
                             np.ascontiguousarray(deals["weight"], np.float64),
                             np.ascontiguousarray(deals["intra"], np.bool_))  # one pass (as np.bincount)
    val, cnt = sums[0].reshape(4, 4) / 1000, sums[1].reshape(4, 4)
    intra_val, intra_cnt = sums[2].reshape(4, 4) / 1000, sums[3].reshape(4, 4)
    flows = [(year, FLOW_REGIONS[o], FLOW_REGIONS[d], float(val[o, d]), float(cnt[o, d]))
             for o in range(4) for d in range(4) if not (o == RC and d == RC)]
    metrics = _bth_metrics(year, params, firms, lab_region, lab_budget, val, cnt, intra_val, intra_cnt)
    metrics["beijing_branches_established"] = np.asarray(beijing_branches_established, float)
    rows = [(year, REGIONS[r], m, float(metrics[m][r])) for m in BTH_ROW_ORDER for r in METRIC_REGIONS.get(m, range(3))]
    rows.append((year, XIONGAN, PARK_METRIC, float(metrics[PARK_METRIC])))
    roc_values = (val[RC].sum(), val[:, RC].sum(), cnt[RC].sum())
    rows += [(year, ROC, m, float(v)) for m, v in zip(ROC_METRICS, roc_values)]
    return {"regions": rows, "flows": flows}


def new_collector() -> mesa.DataCollector:
    """A DataCollector with the two output tables."""
    return mesa.DataCollector(tables={"regions": list(REGION_COLUMNS), "flows": list(FLOW_COLUMNS)})


def record(collector: mesa.DataCollector, rows: dict[str, list[tuple]]) -> None:
    """Add one year's rows (:func:`annual_rows`) to the collector's tables: the values ``add_table_row``
    would append, column by column (``DataCollector.tables`` maps each column to its list)."""
    for table, columns in (("regions", REGION_COLUMNS), ("flows", FLOW_COLUMNS)):
        store = collector.tables[table]
        assert list(store) == list(columns), f"table {table} has columns {list(store)}"
        for name, values in zip(columns, zip(*rows[table])):
            store[name].extend(values)


def run_tables(collector: mesa.DataCollector) -> RunTables:
    """All recorded years as tidy DataFrames."""
    return RunTables(regions=collector.get_table_dataframe("regions"), flows=collector.get_table_dataframe("flows"))
