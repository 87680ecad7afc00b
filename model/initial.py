"""Initial conditions (2020) and entrants: the firm and lab populations both steppings start from.

Every function draws from the numpy ``Generator`` it is given, in a fixed order, so the vectorised
model (``model.model``) and the reference stepping (``model.reference``) start from bit-identical
populations for the same seed.  Columns are numpy arrays with the dtypes of ``FIRM_FIELDS``.

Units: money in million yuan (m yuan) per year; ``weight`` = real firms an agent row stands for
(1/scale); years are calendar years.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from model.inputs import value
from model.params import Params
from model.regions import BJ, HB, REGIONS, SECTOR_MIX, SECTORS, TJ, distance_matrix, park_distance_km
from model.years import FIRST_YEAR

N_SECTORS = len(SECTORS)
NO_IP = 99  # last_ip_year = year - NO_IP: a sentinel for "holds no recent IP" (far outside any window)

FIRM_FIELDS: dict[str, type] = {
    "region": np.int8,  # home region (R&D base): 0 Beijing, 1 Tianjin, 2 Hebei
    "sector": np.int8,  # index into SECTORS
    "sales": np.float64,  # m yuan per year
    "rd_intensity": np.float64,  # own R&D / sales (before subsidy)
    "rd": np.float64,  # R&D spending this year, m yuan (subsidy included)
    "rd_stock": np.float64,  # R&D capital, m yuan (perpetual inventory)
    "weight": np.float64,  # real firms this row stands for
    "birth_year": np.int16,
    "alive": np.bool_,
    "active": np.bool_,  # participates in the registered technology market (as seller)
    "hte": np.bool_,  # recognised national high-tech enterprise
    "hte_until": np.int16,  # year in which the recognition is reviewed
    "last_ip_year": np.int16,  # last year the firm produced or bought a technology
    "park": np.bool_,  # it is a branch in the Xiong'an Zhongguancun Science Park
    "parent": np.int64,  # row of its parent firm if it is a branch or subsidiary, else -1
    "hte_criteria": np.bool_,  # meets the HTE criteria the model has no data for (staff, high-tech revenue)
    "output": np.float64,  # transformed output this year, m yuan
    "demand": np.float64,  # output it wanted to transform this year, m yuan
}


def sector_cdf(region: int) -> np.ndarray:
    """Cumulative SECTOR_MIX of ``region``, normalised to end at 1 (as ``Generator.choice`` forms it)."""
    cdf = SECTOR_MIX[region].cumsum()
    cdf /= cdf[-1]
    return cdf


SECTOR_CDF = [sector_cdf(r) for r in range(len(REGIONS))]
SECTOR_CDF_TABLE = np.ascontiguousarray(SECTOR_CDF)  # (region, sector), for kernels.new_firm_draws


def draw_sectors(rng: np.random.Generator, region: int, n: int) -> np.ndarray:
    """``n`` sectors drawn from ``region``'s SECTOR_MIX: the draws and values of
    ``rng.choice(N_SECTORS, size=n, p=SECTOR_MIX[region])`` without its per-call checks."""
    return SECTOR_CDF[region].searchsorted(rng.random(n), side="right")


def typed(columns: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """All FIRM_FIELDS for ``n`` rows with their dtypes (fields not given are zero)."""
    return {name: (np.asarray(columns[name]).astype(dtype) if name in columns else np.zeros(n, dtype))
            for name, dtype in FIRM_FIELDS.items()}


def initial_labs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The labs of 2020 (every lab an agent at any scale): region, sector, budget (m yuan/yr).

    A region's labs share the public (non-business) part of its 2020 R&D equally."""
    regions, sectors, budgets = [], [], []
    for r, name in enumerate(REGIONS):
        n = int(value("labs", name))
        public_rd_m = value("rd_spending_2020", name) * 1000 * (1 - value("business_rd_share", name))
        regions.append(np.full(n, r))
        sectors.append(rng.choice(N_SECTORS, size=n, p=SECTOR_MIX[r]))
        budgets.append(np.full(n, public_rd_m / n))
    return dict(region=np.concatenate(regions).astype(np.int8), sector=np.concatenate(sectors).astype(np.int8),
                budget=np.concatenate(budgets).astype(np.float64))


@lru_cache(maxsize=None)
def firm_terms(region: int) -> tuple[float, float, float, float, float, float]:
    """The inputs of a new firm of ``region`` (read once): sales_sigma, median_sales_m,
    rd_intensity_size_elasticity, rd_intensity_sigma, rd_intensity_cap, and the region's 2020
    business R&D (m yuan)."""
    name = REGIONS[region]
    return (value("sales_sigma", name), value("median_sales_m", name), value("rd_intensity_size_elasticity"),
            value("rd_intensity_sigma"), value("rd_intensity_cap"),
            value("rd_spending_2020", name) * 1000 * value("business_rd_share", name))


def draw_attributes(rng: np.random.Generator, region: int, n: int, scale: float, criteria_share: float,
                    rd_scale: float | None = None, size_ratio: float = 1.0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The drawn attributes of ``n`` new firms of ``region`` (:func:`draw_firms`): sales, R&D
    intensity, sector, HTE-criteria flag, and the R&D-intensity scale.  (The vectorised model
    makes the same draws for several regions at once: ``kernels.new_firm_draws``.)"""
    sigma, median, _, _, cap, target_m = firm_terms(region)
    z_sales = rng.standard_normal(n)
    z_intensity = rng.standard_normal(n)
    sales, intensity = size_and_intensity(z_sales, z_intensity, sigma, median, size_ratio)
    if rd_scale is None:
        rd_scale = target_m / (np.sum(intensity * sales) / scale)
    sector = draw_sectors(rng, region, n)
    criteria = rng.random(n) < criteria_share
    return sales, np.minimum(intensity * rd_scale, cap), sector, criteria, rd_scale


def size_and_intensity(z_sales: np.ndarray, z_intensity: np.ndarray, sigma, median, size_ratio: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Sales (m yuan) and R&D intensity (before the region's scale) of new firms from their two
    standard normal draws: lognormal sales about ``size_ratio`` x the region's median (sigma, median:
    the region's, scalars or one per firm), intensity growing with size^rd_intensity_size_elasticity
    times a lognormal(rd_intensity_sigma)."""
    _, _, elasticity, rd_sigma, _, _ = firm_terms(0)  # (not regional)
    sales = size_ratio * median * np.exp(sigma * z_sales)
    rel = (sales / median) ** elasticity
    return sales, rel * np.exp(rd_sigma * z_intensity)


def draw_firms(rng: np.random.Generator, region: int, n: int, year: int, scale: float, criteria_share: float,
               rd_scale: float | None = None, size_ratio: float = 1.0) -> tuple[dict[str, np.ndarray], float]:
    """Attributes of ``n`` new firms of ``region`` born in ``year``, and the R&D-intensity scale.

    A share ``criteria_share`` (params ``hte_criteria_share``) meets the HTE criteria the model has
    no data for (S&T staff, high-tech revenue), drawn once per firm.
    Entrants are ``size_ratio`` times the size of the 2020 firms (their R&D intensity follows
    their size).  ``rd_scale`` None (the initial population): intensities are scaled so that the
    firms' R&D equals the region's 2020 business R&D, and that scale is returned for the
    region's later entrants."""
    sales, intensity, sector, criteria, rd_scale = draw_attributes(rng, region, n, scale, criteria_share,
                                                                   rd_scale, size_ratio)
    columns = dict(
        region=np.full(n, region),
        sector=sector,
        sales=sales,
        rd_intensity=intensity,
        weight=np.full(n, 1.0 / scale),
        alive=np.ones(n, bool),
        hte_until=np.full(n, year),
        last_ip_year=np.full(n, year - NO_IP),
        birth_year=np.full(n, year),
        parent=np.full(n, -1),
        hte_criteria=criteria,
    )
    return typed(columns, n), rd_scale


def initial_firms(rng: np.random.Generator, params: Params, scale: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The firms of 2020 (all FIRM_FIELDS) and each region's R&D-intensity scale.

    Per region: Poisson(firms_2020_<region> x scale) firms, ages uniform 0..firm_age_max_2020, a share
    ``participation_<region>`` active in the market.  Then for all: R&D = intensity x sales, the
    steady-state R&D stock, and core IP held from the ``initial_ip_years`` before 2020.  Last, the
    branches of 2020 (:func:`initial_branches`): some Tianjin and Hebei firms are branches or
    subsidiaries of Beijing firms."""
    rd_scale = np.zeros(len(REGIONS))
    age_max = int(value("firm_age_max_2020"))
    participation = params.regional("participation", FIRST_YEAR)
    firms_2020 = params.regional("firms_2020", FIRST_YEAR)
    criteria = params.at("hte_criteria_share", FIRST_YEAR)
    parts = []
    for r, name in enumerate(REGIONS):
        n = rng.poisson(firms_2020[r] * scale)
        cols, rd_scale[r] = draw_firms(rng, r, n, FIRST_YEAR, scale, criteria)
        cols["birth_year"] = (FIRST_YEAR - rng.integers(0, age_max + 1, size=n)).astype(np.int16)
        cols["active"] = rng.random(n) < participation[r]
        parts.append(cols)
    f = {name: np.concatenate([p[name] for p in parts]) for name in FIRM_FIELDS}
    f["rd"] = f["rd_intensity"] * f["sales"]
    f["rd_stock"] = f["rd"] / (value("rd_stock_depreciation") + value("rd_stock_init_growth"))
    # core IP held at the start: a technology produced in the years before 2020 at the current rate
    lam = params.at("kpf_productivity", FIRST_YEAR) * f["rd"] ** params.at("kpf_elasticity", FIRST_YEAR)
    has_ip = rng.random(len(f["rd"])) < 1 - np.exp(-value("initial_ip_years") * lam)
    f["last_ip_year"] = np.where(has_ip, FIRST_YEAR - 1, FIRST_YEAR - NO_IP).astype(np.int16)
    initial_branches(rng, f, scale)
    return f, rd_scale


def initial_branches(rng: np.random.Generator, f: dict[str, np.ndarray], scale: float) -> None:
    """Make Poisson(branches_2020 x scale) of each of Tianjin's and Hebei's 2020 firms (the first
    rows of the region, which are in random order) branches of Beijing firms: the observed stock
    of Zhongguancun firms' branches and subsidiaries (inputs ``branches_2020``).  A branch is a
    firm of its region, already counted in the region's firms and R&D; its parent is a Beijing
    firm drawn with probability proportional to sales^branch_parent_size, and it works in its
    parent's sector.  Modifies ``f`` in place."""
    beijing = np.flatnonzero(f["region"] == BJ)
    if not len(beijing):
        return
    cum = np.cumsum(f["sales"][beijing] ** value("branch_parent_size"))
    for r in (TJ, HB):
        rows = np.flatnonzero(f["region"] == r)
        k = min(int(rng.poisson(value("branches_2020", REGIONS[r]) * scale)), len(rows))
        branch = rows[:k]
        parents = beijing[np.minimum(cum.searchsorted(rng.random(k) * cum[-1], side="right"), len(beijing) - 1)]
        f["parent"][branch] = parents
        f["sector"][branch] = f["sector"][parents]


def set_up_run(model, params, scale: float, until: int, max_scale: float) -> None:
    """The run settings and geography both steppings start from: ``params`` (default ``Params()``),
    ``scale`` (checked), ``until``, ``year`` (FIRST_YEAR), ``distance_km`` (4x4, km, between BJ,
    TJ, HB and the Rest of China), ``park_distance_km`` (km from each region to the Xiong'an park)
    and ``park_open_year`` (the park takes firms from this year)."""
    check_scale(scale, max_scale)
    model.params = params or Params()
    model.scale = float(scale)
    model.until = int(until)
    model.year = FIRST_YEAR
    model.distance_km = distance_matrix()
    model.park_distance_km = park_distance_km()
    model.park_open_year = int(value("park_open_year"))


def check_scale(scale: float, max_scale: float) -> None:
    """Raise ValueError unless 0 < scale <= max_scale (the fraction of real firms simulated)."""
    if not 0 < scale <= max_scale:
        raise ValueError(f"scale must be in (0, {max_scale:g}], got {scale}")
