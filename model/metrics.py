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
    Metric("contract_turnover_bn", "Technology contracts sold (turnover)", "bn yuan",
           "value of contracts sold by the region's sellers, wherever the buyer is", short="contract turnover"),
    Metric("contract_absorbed_bn", "Technology contracts bought (absorbed)", "bn yuan",
           "value of contracts bought by the region's buyers, wherever the seller is", short="contracts absorbed"),
    Metric("absorbed_from_beijing_bn", "Contracts bought from Beijing", "bn yuan",
           "value of contracts the region's buyers bought from Beijing's sellers", short="absorbed from Beijing"),
    Metric("contracts_sold", "Contracts sold", "contracts",
           "number of technology contracts sold by the region's sellers", short="contracts sold"),
    Metric("transformed_output_bn", "Output from transferred technology", "bn yuan",
           "output made from bought technology, counted where it is produced", short="transformed output"),
    Metric("high_tech_enterprises", "High-tech enterprises", "firms",
           "firms of the region recognised as national high-tech enterprises", short="high-tech enterprises"),
    Metric("sci_tech_smes", "Sci-tech SMEs", "firms",
           "technology firms of the region with sales under the SME ceiling", short="sci-tech SMEs"),
    Metric("unicorns", "Unicorns", "firms",
           "expected number of young firms of the region valued at 1 bn USD or more", short="unicorns"),
    Metric("firms", "Technology firms", "firms", "living technology firms headquartered in the region", short="firms"),
    Metric("firm_revenue_bn", "Firm revenue", "bn yuan", "sales of the region's technology firms", short="firm revenue"),
    Metric("branches_in", "Production branches of other regions' firms", "firms",
           "firms of other regions transforming technology in the region through a branch", short="branches in"),
    Metric("park_firms", "Xiong'an Zhongguancun Science Park firms", "firms",
           "firms with a branch in the Xiong'an Zhongguancun Science Park (region Xiong'an only)", short="ZGC park firms"),
)

FLOW_METRICS: tuple[Metric, ...] = (
    Metric("contract_value_bn", "Contract value", "bn yuan",
           "value of contracts from the origin's sellers to the destination's buyers", short="contract value"),
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
