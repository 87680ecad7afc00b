"""The model's outputs, declared once: every metric of the regions table and the flows table.

Plots, calibration targets, reports and docs read their titles, units and meanings from here.
Units: ``bn yuan`` = billion yuan per year (current prices); ``firms``, ``contracts`` = counts of
real firms or contracts (outputs are always at real-world scale, whatever the simulated scale).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One output metric: its column value in the tables, a short title, a unit and a meaning."""

    name: str  # as written in the tables' ``metric`` column (or a flows column)
    title: str  # short human-readable title, for charts and tables
    unit: str  # "bn yuan" (per year), "firms", "contracts"
    meaning: str  # one line: what is counted, where
    short: str = ""  # a lower-case label for dense plots (e.g. the calibration's fit chart); title if empty

    @property
    def label(self) -> str:
        """The short label, or the title."""
        return self.short or self.title


REGION_METRICS: tuple[Metric, ...] = (
    Metric("rd_spending_bn", "R&D spending", "bn yuan",
           "R&D spent by the region's firms (subsidy included) and labs", short="R&D spending"),
    Metric("contract_turnover_bn", "Technology contract turnover (registered)", "bn yuan",
           "value of contracts registered in the region, its turnover statistic: market contracts of its sellers "
           "and intra-firm contracts its branches receive (docs/model.md, 3.3 'Measurement')", short="contract turnover"),
    Metric("contract_absorbed_bn", "Technology contracts bought (absorbed)", "bn yuan",
           "value of contracts bought by the region's buyers, wherever the seller is (intra-firm included)",
           short="contracts absorbed"),
    Metric("reported_outflow_tianjin_hebei_bn", "Beijing \u2192 Tianjin + Hebei, Beijing's statistic",
           "bn yuan", "contracts registered in Beijing, Beijing as seller, with a buyer in Tianjin or Hebei "
           "(region Beijing only)", short="outflow to Tianjin + Hebei (reported)"),
    Metric("reported_outflow_tianjin_hebei_contracts", "Beijing \u2192 Tianjin + Hebei contracts, Beijing's statistic",
           "contracts", "number of the contracts of reported_outflow_tianjin_hebei_bn (region Beijing only)",
           short="contracts to Tianjin + Hebei (reported)"),
    Metric("reported_absorbed_from_beijing_bn", "Absorbed from Beijing, own statistic",
           "bn yuan", "contracts with a Beijing seller and a buyer in the region, wherever registered (intra-firm "
           "contracts of Beijing parents included; regions Tianjin and Hebei only)", short="absorbed from Beijing (reported)"),
    Metric("intra_firm_bn", "Intra-firm contracts received", "bn yuan",
           "value of contracts the region's branches received from their parents", short="intra-firm received"),
    Metric("contracts_sold", "Contracts registered", "contracts",
           "number of technology contracts registered in the region (as contract_turnover_bn)", short="contracts registered"),
    Metric("transformed_output_bn", "Output from transferred technology", "bn yuan",
           "output made from bought technology, counted where it is produced", short="transformed output"),
    Metric("high_tech_enterprises", "High-tech enterprises", "firms",
           "firms of the region recognised as national high-tech enterprises", short="high-tech enterprises"),
    Metric("sci_tech_smes", "Sci-tech SMEs", "firms",
           "technology firms of the region with sales under the SME ceiling", short="sci-tech SMEs"),
    Metric("unicorns", "Unicorns", "firms",
           "expected number of young firms of the region valued at 1 bn USD or more", short="unicorns"),
    Metric("firms", "Technology firms", "firms",
           "living technology firms of the region (legal entities there, branches of other regions' firms included)",
           short="firms"),
    Metric("firm_revenue_bn", "Firm revenue", "bn yuan", "sales of the region's technology firms", short="firm revenue"),
    Metric("branches_in", "Branches of other regions' firms", "firms",
           "branches and subsidiaries in the region whose parent firm is in another region", short="branches in"),
    Metric("beijing_branches_established", "Branches of Beijing firms established (cumulative)", "firms",
           "branches and subsidiaries established in the region by Beijing firms: the 2020 stock plus every one "
           "opened since, closed ones included (the Zhongguancun statistic, 累计设立; regions Tianjin and Hebei only)",
           short="Beijing firms' branches"),
    Metric("park_firms", "Xiong'an Zhongguancun Science Park firms", "firms",
           "branches in the Xiong'an Zhongguancun Science Park (region Xiong'an only)", short="ZGC park firms"),
)

FLOW_METRICS: tuple[Metric, ...] = (
    Metric("contract_value_bn", "Contract value", "bn yuan",
           "value of contracts from the origin's sellers to the destination's buyers, market and intra-firm "
           "(the model's own origin-destination matrix, not a registry's statistic)", short="contract value"),
    Metric("contracts", "Contracts", "contracts",
           "number of contracts from the origin's sellers to the destination's buyers", short="contracts"),
)

METRICS: dict[str, Metric] = {m.name: m for m in REGION_METRICS + FLOW_METRICS}
REGION_METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in REGION_METRICS)
FLOW_METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in FLOW_METRICS)


def metric(name: str) -> Metric:
    """The declaration of metric ``name`` (KeyError naming the known metrics if there is none)."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
