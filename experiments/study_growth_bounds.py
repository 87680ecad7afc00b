"""Study: what would bound Hebei's and Tianjin's growth after the data years? (issue 11, "Nothing bounds growth")

    .venv/bin/python -m experiments.study_growth_bounds [--seeds 8] [--scale 0.05] [--out FILE.md]

The shipped model carries two catch-up processes calibrated on 2020-2025 unchanged to 2035: entry (a
constant inflow of ``entry_rate_<region> x firms_2020_<region>`` firms a year; Hebei's is 17.7% of its
2020 count) and the Bass diffusion of participation in the registered market (Hebei's 12% of firms
active in 2020 rising towards all of them).  Firm sales already grow with GDP plus an excess that
fades after 2025 (``model.economy.excess_fade``, half-life ``excess_growth_halflife``).  This study
runs the calibrated point (``calibration/calibrated.toml``) with variants in which the two catch-up
processes fade the same way after 2025; nothing changes up to 2025, so every calibration target keeps
its value:

* ``entry``: a region's expected entrants move from the calibrated inflow to the inflow that keeps its
  firm count growing with its real GDP (``exit_rate`` + real GDP growth, times its living firms), with
  weight ``excess_fade`` on the first;
* ``diffusion``: the Bass hazard of joining the market is multiplied by ``excess_fade``;
* ``both``.

It prints (and writes to ``--out``) each region's turnover and R&D as shares of GDP
(``experiments.gdp``) in 2024, 2030 and 2035, its HTEs and firms in 2035, and the two registries'
statistics of Beijing's flow in 2030 and 2035: seed means of the same seeds (common random numbers).
A study of assumptions for a later model change: the variants subclass the firm population here, and
nothing in ``model/`` changes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from calibration.defaults import calibrated_params
from experiments.gdp import gdp_bn
from model import Params
from model.agents import FirmPopulation
from model.compiled import kernels
from model.economy import excess_fade, gdp_log_growth
from model.model import TechTransferModel
from model.regions import REGIONS
from model.years import FIRST_YEAR

VARIANTS = {"shipped": (False, False), "entry": (True, False), "diffusion": (False, True), "both": (True, True)}
YEARS = (2024, 2030, 2035)


class FadingFirms(FirmPopulation):
    """The firm population with entry and/or diffusion fading after the data years (``excess_fade``)."""

    fade_entry = False
    fade_diffusion = False

    def enter(self, year: int) -> None:
        f = excess_fade(year)
        if not self.fade_entry or f >= 1.0:
            return super().enter(year)
        m, p = self.model, self.model.year_params
        calibrated = p.regional("entry_rate", year) * p.regional("firms_2020", FIRST_YEAR) * m.scale  # agents a year
        living = np.bincount(self.view("region")[self.view("alive")], minlength=3)  # agents
        with_gdp = (p.at("exit_rate", year) + np.expm1(gdp_log_growth(year))) * living
        self.add_new_firms(year, lam=f * calibrated + (1 - f) * with_gdp)

    def join_market(self, year: int) -> None:
        f = excess_fade(year)
        if not self.fade_diffusion or f >= 1.0:
            return super().join_market(year)
        p = self.model.year_params
        hazard = f * (p.at("bass_p", year) + p.at("bass_q", year) * self.active_share())
        kernels.join_market(self.model.rng, self.view("alive"), self.view("active"), self.view("region"), hazard)


def run(variant: str, params: Params, seed: int, scale: float):
    """The tables (regions, flows) of one run of ``variant`` to 2035."""
    model = TechTransferModel(params, seed=seed, scale=scale, until=max(YEARS))
    entry, diffusion = VARIANTS[variant]
    if entry or diffusion:  # (after construction: the initial draws are the shipped model's)
        model.firms.__class__ = type(f"FadingFirms_{variant}", (FadingFirms,),
                                     {"fade_entry": entry, "fade_diffusion": diffusion})
    return model.run()


def table(means) -> str:
    """Markdown: one row per variant and region."""
    head = (["variant", "region"] + [f"turnover/GDP {y}" for y in YEARS] + [f"R&D/GDP {y}" for y in YEARS]
            + ["HTEs 2035", "firms 2035"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant, m in means.items():
        for region in REGIONS:
            cells = [variant, region]
            cells += [f"{100 * m[(region, 'contract_turnover_bn', y)] / gdp_bn(region, y):.1f}%" for y in YEARS]
            cells += [f"{100 * m[(region, 'rd_spending_bn', y)] / gdp_bn(region, y):.2f}%" for y in YEARS]
            cells += [f"{m[(region, metric, 2035)]:,.0f}" for metric in ("high_tech_enterprises", "firms")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def flows_table(means) -> str:
    head = ["variant"] + [f"{label} {y}" for y in (2030, 2035) for label in
                          ("Beijing's outflow to Tianjin+Hebei (bn yuan)", "Hebei absorbed from Beijing (bn yuan)")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant, m in means.items():
        cells = [variant]
        for y in (2030, 2035):
            cells += [f"{m[('Beijing', 'reported_outflow_tianjin_hebei_bn', y)]:.1f}",
                      f"{m[('Hebei', 'reported_absorbed_from_beijing_bn', y)]:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def hebei_sales_table(flow_means, region_means) -> str:
    """Markdown: where Hebei's registered sales go (bn yuan), its contracts and firms, by variant and year."""
    dests = ("Hebei", "Rest of China", "Beijing", "Tianjin")
    head = ["variant", "year"] + [f"Hebei -> {d}" for d in dests] + ["contracts sold", "firms", "contracts per firm"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant in flow_means:
        for y in (2020, 2024, 2030, 2035):
            f, m = flow_means[variant], region_means[variant]
            n, firms = m[("Hebei", "contracts_sold", y)], m[("Hebei", "firms", y)]
            lines.append("| " + " | ".join([variant, str(y)] + [f"{f[('Hebei', d, y)]:.1f}" for d in dests]
                                           + [f"{n:,.0f}", f"{firms:,.0f}", f"{n / firms:.2f}"]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="What would bound growth after the data years (a study).")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    import pandas as pd

    params = Params().replace(**calibrated_params())
    means, flow_means = {}, {}
    for variant in VARIANTS:
        runs = [run(variant, params, seed, args.scale) for seed in range(args.seeds)]
        reg, flows = pd.concat([t.regions for t in runs]), pd.concat([t.flows for t in runs])
        means[variant] = reg.groupby(["region", "metric", "year"])["value"].mean().to_dict()
        flow_means[variant] = flows.groupby(["origin", "destination", "year"])["contract_value_bn"].mean().to_dict()
    text = (f"Calibrated point, seeds 0-{args.seeds - 1}, scale {args.scale}; seed means; GDP as "
            f"`experiments.gdp`.\n\n{table(means)}\n\n{flows_table(means)}\n\n"
            f"Where Hebei's registered sales go (bn yuan; market contracts, seller Hebei):\n\n"
            f"{hebei_sales_table(flow_means, means)}\n")
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# Study: bounding growth after the data years\n\n"
                            f"`python -m experiments.study_growth_bounds --seeds {args.seeds} --scale {args.scale}`\n\n"
                            + text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
