# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled kernels of the vectorised model's rules: one pass over the firm (or deal) columns each.

The rules live in ``model/agents.py`` and ``model/market.py``; each of their methods that walks the
firm columns hands the walk to one function here.  The functions draw from the model's numpy
``Generator`` through NumPy's own C distributions (``numpy.random.c_distributions``: the code
behind ``Generator.random``, ``standard_normal``, ``poisson`` and ``beta``), holding the bit
generator's lock, so the draws share one stream with the model's numpy calls and the same seed
gives bit-identical tables in any process.

Draws are made row by row in row order (firms) or deal order (deals), only for the rows a rule can
change.  Poisson counts with mean below 10 are drawn by inversion from one uniform
(:c:func:`poisson`), exact in distribution.  Units as in ``model/agents.py``: money in m yuan.

Built by ``pip install -e .`` (``setup.py``); ``model/compiled.py`` imports it and checks that the
build matches this source.
"""

import numpy as np

cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.math cimport erfc, exp, expm1, floor, isnan, log, log1p, sqrt
from libc.stdint cimport int8_t, int16_t, int64_t, uint8_t
from numpy.random cimport bitgen_t
from numpy.random.c_distributions cimport (random_beta, random_interval, random_poisson,
                                           random_standard_normal, random_standard_uniform)

cnp.import_array()

cdef extern from *:
    """
    #ifndef KERNELS_SOURCE_SHA
    #define KERNELS_SOURCE_SHA "unknown"
    #endif
    #ifndef KERNELS_NUMPY_VERSION
    #define KERNELS_NUMPY_VERSION "unknown"
    #endif
    """
    const char* KERNELS_SOURCE_SHA
    const char* KERNELS_NUMPY_VERSION

cdef extern from *:
    """
    #define KERNELS_PREFETCH(p) __builtin_prefetch((const void*)(p))
    """
    void prefetch "KERNELS_PREFETCH"(const void* p) noexcept nogil

cdef enum:
    AHEAD = 16  # deals ahead whose shelf rows settle() prefetches (the shelf is larger than the caches)

SOURCE_SHA = KERNELS_SOURCE_SHA.decode()  # sha256 of this file when it was compiled (setup.py)
NUMPY_VERSION = KERNELS_NUMPY_VERSION.decode()  # the numpy it was compiled against

ctypedef uint8_t boolean  # numpy bool_ columns are read as bytes


cdef bitgen_t* _bitgen(object rng):
    return <bitgen_t*> PyCapsule_GetPointer(rng.bit_generator.capsule, "BitGenerator")


cdef inline int64_t poisson(bitgen_t* bg, double lam, double p0) noexcept nogil:
    """One Poisson(lam) draw, given p0 = exp(-lam) (computed by numpy over the whole column, which
    is several times faster than one libm call per row): by inversion from one uniform below
    lam 10, else NumPy's sampler."""
    cdef double u, p, cdf
    cdef int64_t n = 0
    if not lam > 0.0:
        return 0
    if lam >= 10.0:
        return random_poisson(bg, lam)
    u = random_standard_uniform(bg)
    p = p0
    cdf = p
    while u >= cdf and p > 0.0:  # (p underflows only far in the tail)
        n += 1
        p *= lam / n
        cdf += p
    return n


# ----------------------------------------------------------------------------- 1. demography

def log_growth(object rng, const boolean[::1] alive, const int8_t[::1] region, const double[::1] drift,
               double volatility):
    """Each living row's log growth drift[region] + volatility x z, z a standard normal drawn in row
    order (0 for the other rows)."""
    cdef bitgen_t* bg = _bitgen(rng)
    cdef Py_ssize_t i, n = alive.shape[0]
    out = np.zeros(n)
    cdef double[::1] o = out
    with rng.bit_generator.lock, nogil:
        for i in range(n):
            if alive[i]:
                o[i] = drift[region[i]] + volatility * random_standard_normal(bg)
    return out


def grow_sales(const boolean[::1] alive, double[::1] sales, const double[::1] factor, const double[::1] output_m,
               double output_share):
    """sales = sales x factor + output_share x output for the living rows."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(alive.shape[0]):
            if alive[i]:
                sales[i] = sales[i] * factor[i] + output_share * output_m[i]


def exit_rows(object rng, boolean[::1] alive, double rate):
    """Each living row exits with probability ``rate`` (alive set False); returns their rows."""
    cdef bitgen_t* bg = _bitgen(rng)
    cdef Py_ssize_t i, h = 0, n = alive.shape[0]
    out = np.empty(n, np.int64)
    cdef int64_t[::1] o = out
    with rng.bit_generator.lock, nogil:
        for i in range(n):
            if alive[i] and random_standard_uniform(bg) < rate:
                alive[i] = 0
                o[h] = i
                h += 1
    return out[:h]


def new_firm_draws(object rng, const double[::1] lam, const int64_t[::1] counts, bint poisson_counts,
                   const double[:, ::1] sector_cdf, double criteria_share):
    """The draws of new firms (``model.initial.draw_attributes``) of each region in turn: a count
    (Poisson(lam[r]) if ``poisson_counts``, as ``Generator.poisson``; else counts[r]), then that
    many standard normals for sales, as many for R&D intensity, uniforms for sectors (the first
    sector whose cumulative share sector_cdf[r] exceeds u, as ``searchsorted(side="right")``) and
    uniforms for the HTE criteria (u < criteria_share).  Returns (region, z_sales, z_intensity,
    sector, criteria), region by region."""
    cdef bitgen_t* bg = _bitgen(rng)
    cdef Py_ssize_t r, i, k, h = 0, n_regions = lam.shape[0], n_sectors = sector_cdf.shape[1]
    cdef int64_t n
    cdef double u
    cdef Py_ssize_t cap = 16
    for r in range(n_regions):
        cap += <Py_ssize_t> (lam[r] + 10 * sqrt(lam[r])) if poisson_counts else counts[r]
    region = np.empty(cap, np.int8)
    z1 = np.empty(cap)
    z2 = np.empty(cap)
    sector = np.empty(cap, np.int8)
    criteria = np.empty(cap, np.bool_)
    cdef int8_t[::1] o_region = region, o_sector = sector
    cdef double[::1] o_z1 = z1, o_z2 = z2
    cdef boolean[::1] o_criteria = criteria
    with rng.bit_generator.lock:
        for r in range(n_regions):
            n = random_poisson(bg, lam[r]) if poisson_counts else counts[r]
            if h + n > cap:  # (far in the tail) room for this region's firms
                cap = 2 * (h + n)
                region, z1, z2 = np.resize(region, cap), np.resize(z1, cap), np.resize(z2, cap)
                sector, criteria = np.resize(sector, cap), np.resize(criteria, cap)
                o_region, o_sector, o_z1, o_z2, o_criteria = region, sector, z1, z2, criteria
            with nogil:
                for i in range(n):
                    o_region[h + i] = <int8_t> r
                    o_z1[h + i] = random_standard_normal(bg)
                for i in range(n):
                    o_z2[h + i] = random_standard_normal(bg)
                for i in range(n):
                    u = random_standard_uniform(bg)
                    k = 0
                    while k < n_sectors and sector_cdf[r, k] <= u:
                        k += 1
                    o_sector[h + i] = <int8_t> k
                for i in range(n):
                    o_criteria[h + i] = random_standard_uniform(bg) < criteria_share
            h += n
    return region[:h], z1[:h], z2[:h], sector[:h], criteria[:h]


# ----------------------------------------------------------------------------- 2. participation

def join_market(object rng, const boolean[::1] alive, boolean[::1] active, const int8_t[::1] region,
                const double[::1] hazard):
    """Each living inactive row becomes active with probability hazard[region]."""
    cdef bitgen_t* bg = _bitgen(rng)
    cdef Py_ssize_t i, n = alive.shape[0]
    with rng.bit_generator.lock, nogil:
        for i in range(n):
            if alive[i] and not active[i]:
                if random_standard_uniform(bg) < hazard[region[i]]:
                    active[i] = 1


# ----------------------------------------------------------------------------- 3. R&D

def spend_rd(const boolean[::1] alive, const int8_t[::1] region, const double[::1] intensity,
             const double[::1] sales, const double[::1] subsidy, double[::1] rd, double[::1] rd_stock,
             double depreciation, bint accumulate):
    """rd = intensity x sales x (1 + subsidy[region]) for living rows (0 otherwise); with
    ``accumulate``, rd_stock = rd_stock x (1 - depreciation) + rd."""
    cdef Py_ssize_t i, n = alive.shape[0]
    with nogil:
        for i in range(n):
            rd[i] = intensity[i] * sales[i] * (1 + subsidy[region[i]]) if alive[i] else 0.0
            if accumulate:
                rd_stock[i] = rd_stock[i] * (1 - depreciation) + rd[i]


# ----------------------------------------------------------------------------- 4. technologies

def invent(object rng, const boolean[::1] alive, const boolean[::1] active, const double[::1] lam,
           const double[::1] p0, int16_t[::1] last_ip_year, int vintage):
    """Poisson(lam) technologies per living row (p0 = exp(-lam)); an inventor's
    last_ip_year becomes at least ``vintage``.  Returns the offering rows (active inventors), one
    entry per technology, in row order."""
    cdef bitgen_t* bg = _bitgen(rng)
    cdef Py_ssize_t i, j, h = 0, n = alive.shape[0]
    cdef int64_t k, total = 0
    counts = np.zeros(n, np.int64)
    cdef int64_t[::1] c = counts
    with rng.bit_generator.lock, nogil:
        for i in range(n):
            if alive[i]:
                k = poisson(bg, lam[i], p0[i])
                if k > 0:
                    if last_ip_year[i] < vintage:
                        last_ip_year[i] = vintage
                    if active[i]:
                        c[i] = k
                        total += k
    owners = np.empty(total, np.int64)
    cdef int64_t[::1] o = owners
    with nogil:
        for i in range(n):
            for j in range(c[i]):
                o[h] = i
                h += 1
    return owners


# ----------------------------------------------------------------------------- 5. the market

def search_rates(const int8_t[::1] region, const int8_t[::1] sector, const double[::1] rate,
                 const double[::1] capacity, int n_sectors):
    """Each row's rate of searches that end in a deal: rate[g] x capacity, g = region x n_sectors + sector."""
    cdef Py_ssize_t i, n = region.shape[0]
    out = np.empty(n)
    cdef double[::1] o = out
    with nogil:
        for i in range(n):
            o[i] = rate[region[i] * n_sectors + sector[i]] * capacity[i]
    return out


def search(object rng, const boolean[::1] alive, const int8_t[::1] region, const int8_t[::1] sector,
           const double[::1] lam, const double[::1] p0, const double[:, ::1] cdf, const int64_t[::1] last,
           int n_sectors):
    """Searches that end in a deal: each living row makes Poisson(lam) of them (p0 = exp(-lam)),
    and each picks the first cell c with cdf[g, c] > u (at most last[g]; g = region x n_sectors +
    sector).  Returns (cells, buyer rows, buyer regions), in row order."""
    cdef bitgen_t* bg = _bitgen(rng)
    cdef Py_ssize_t i, j, h = 0, n = alive.shape[0], lo, hi, mid
    cdef int64_t g, total = 0
    cdef double u
    counts = np.zeros(n, np.int64)
    cdef int64_t[::1] c = counts
    with rng.bit_generator.lock, nogil:
        for i in range(n):
            if alive[i]:
                c[i] = poisson(bg, lam[i], p0[i])
                total += c[i]
    cells = np.empty(total, np.int64)
    rows = np.empty(total, np.int64)
    regions = np.empty(total, np.int64)
    cdef int64_t[::1] oc = cells, orow = rows, oreg = regions
    cdef Py_ssize_t width = cdf.shape[1]
    with rng.bit_generator.lock, nogil:
        for i in range(n):
            if c[i] == 0:
                continue
            g = region[i] * n_sectors + sector[i]
            for j in range(c[i]):
                u = random_standard_uniform(bg)
                lo = 0
                hi = width
                while lo < hi:  # the first cell whose cumulative probability exceeds u
                    mid = (lo + hi) >> 1
                    if cdf[g, mid] > u:
                        hi = mid
                    else:
                        lo = mid + 1
                oc[h] = lo if lo < last[g] else last[g]
                orow[h] = i
                oreg[h] = region[i]
                h += 1
    return cells, rows, regions


def pick_in_blocks(object rng, const int64_t[::1] cells, const int64_t[::1] start,
                   const int64_t[:, ::1] first, const int64_t[:, ::1] count, const int64_t[:, ::1] cum,
                   const int64_t[::1] cell_region, int rc):
    """One shelf row per chosen cell, uniform over the cell's technologies (all of one weight):
    k = floor(u x total) counted over the vintage blocks oldest first, where block b holds
    count[b, c] of cell c from row start[b] + first[b, c] and cum is count summed over blocks
    0..b.  One uniform per deal, in deal order; a cell of region ``rc`` (cell_region[c], the Rest
    of China, not on the shelf) gets -1 and no draw."""
    cdef bitgen_t* bg = _bitgen(rng)
    cdef Py_ssize_t d, b, n = cells.shape[0], last_block = cum.shape[0] - 1
    cdef int64_t c, k, total
    out = np.empty(n, np.int64)
    cdef int64_t[::1] o = out
    with rng.bit_generator.lock, nogil:
        for d in range(n):
            c = cells[d]
            if cell_region[c] == rc:
                o[d] = -1
                continue
            total = cum[last_block, c]
            k = <int64_t> floor(random_standard_uniform(bg) * total)
            if k > total - 1:
                k = total - 1
            b = 0
            while cum[b, c] <= k:
                b += 1
            o[d] = start[b] + first[b, c] + k - (cum[b, c] - count[b, c])
    return out


cdef inline double mean_of_values(bitgen_t* bg, double mean, double s2) noexcept nogil:
    """The mean of k lognormal contract values with mean ``mean``: lognormal with log-variance
    s2 = log(1 + (exp(sigma^2) - 1) / k) and the same mean (Fenton-Wilkinson; see
    ``TechnologyMarket.value_terms``)."""
    return mean * exp(-s2 / 2 + sqrt(s2) * random_standard_normal(bg))


cdef inline double mean_of_values_given(bitgen_t* bg, double mean, double half, double sd) noexcept nogil:
    """:c:func:`mean_of_values` given half = -s2 / 2 and sd = sqrt(s2) (the same operations)."""
    return mean * exp(half + sd * random_standard_normal(bg))


def settle(object rng, const int64_t[::1] cells, const int64_t[::1] tech, const int64_t[::1] cell_region,
           const int64_t[::1] cell_sector, const int64_t[::1] cell_kind,
           const int8_t[::1] kind, const int16_t[::1] vintage, const double[::1] weight, double[::1] value_m,
           double[::1] maturity, const int64_t[::1] owner, int first_vintage, const double[::1] mean_by_vintage,
           const double[::1] sigma2_by_vintage, const double[::1] s2_ref_by_vintage, double weight_ref,
           double firm_a, double firm_b, double lab_a, double lab_b,
           double fresh_mean, double fresh_s2, double roc_maturity, Py_ssize_t room=0):
    """The deals of the year's bids, in bid order: for deal d, cell ``cells[d]`` (seller region x
    sector x kind) and shelf row ``tech[d]`` (-1 for a Rest-of-China offer).  A technology sold for
    the first time (maturity NaN) draws its Beta maturity and, for a firm's, its contract value (the
    mean of ``weight`` values of its vintage; s2_ref_by_vintage holds s2 for ``weight_ref``).  A lab
    technology or a Rest-of-China offer stands for one real technology per real buyer, so its deal
    draws a fresh mean value (fresh_mean, fresh_s2: this year's, for 1/scale values).  Returns
    (seller_region, sector, kind, seller row, value m yuan, maturity) per deal, each array ``room``
    entries longer than the deals (room for more deals: ``TechnologyMarket.join_deals``)."""
    cdef bitgen_t* bg = _bitgen(rng)
    cdef Py_ssize_t d, n = cells.shape[0]
    cdef int64_t c, r
    cdef int v, kind_d
    cdef double s2
    out_region = np.empty(n + room, np.int64)
    out_sector = np.empty(n + room, np.int64)
    out_kind = np.empty(n + room, np.int64)
    out_seller = np.empty(n + room, np.int64)
    out_value = np.empty(n + room)
    out_maturity = np.empty(n + room)
    cdef int64_t[::1] o_region = out_region, o_sector = out_sector, o_kind = out_kind, o_seller = out_seller
    cdef double[::1] o_value = out_value, o_maturity = out_maturity
    cdef int64_t ahead
    cdef double fresh_half = -fresh_s2 / 2, fresh_sd = sqrt(fresh_s2)
    with rng.bit_generator.lock, nogil:
        for d in range(n):
            if d + AHEAD < n:  # memory only: the rows a later deal reads
                ahead = tech[d + AHEAD]
                if ahead >= 0:
                    prefetch(&maturity[ahead])
                    prefetch(&value_m[ahead])
                    prefetch(&owner[ahead])
                    prefetch(&kind[ahead])
                    prefetch(&vintage[ahead])
                    prefetch(&weight[ahead])
            c = cells[d]
            kind_d = cell_kind[c]
            o_region[d] = cell_region[c]
            o_sector[d] = cell_sector[c]
            o_kind[d] = kind_d
            r = tech[d]
            if r < 0:  # the Rest of China's offer
                o_seller[d] = -1
                o_maturity[d] = roc_maturity
                o_value[d] = mean_of_values_given(bg, fresh_mean, fresh_half, fresh_sd)
                continue
            if isnan(maturity[r]):  # first sale of this technology
                if kind[r] == 0:
                    v = vintage[r] - first_vintage
                    s2 = s2_ref_by_vintage[v] if weight[r] == weight_ref else \
                        log1p(expm1(sigma2_by_vintage[v]) / (weight[r] if weight[r] > 1.0 else 1.0))
                    value_m[r] = mean_of_values(bg, mean_by_vintage[v], s2)
                    maturity[r] = random_beta(bg, firm_a, firm_b)
                else:
                    maturity[r] = random_beta(bg, lab_a, lab_b)
            o_seller[d] = owner[r]
            o_maturity[d] = maturity[r]
            o_value[d] = value_m[r] if kind_d == 0 else mean_of_values_given(bg, fresh_mean, fresh_half, fresh_sd)
    return out_region, out_sector, out_kind, out_seller, out_value, out_maturity


# ----------------------------------------------------------------------------- 6. transformation

def demand(const int64_t[::1] buyer, const double[::1] value_m, const double[::1] maturity,
           const int64_t[::1] sector, double yield_, double icv_factor, int icv, int16_t[::1] last_ip_year,
           int year, double[::1] demand_m, const int8_t[::1] region, const double[::1] weight):
    """Each buying row's demand (m yuan, the sum of its deals' value x maturity x yield_ (x icv_factor
    in sector ``icv``), in deal order; buyer -1 is not a firm), its last_ip_year = ``year``; returns
    demand (bn yuan, real firms) by the region the row transforms in (its own: a branch is a firm
    of its region)."""
    cdef Py_ssize_t d, i, n = demand_m.shape[0]
    cdef int64_t b
    by_region = np.zeros(3)
    cdef double[::1] out = by_region
    with nogil:
        for i in range(n):
            demand_m[i] = 0.0
        for d in range(buyer.shape[0]):
            b = buyer[d]
            if b >= 0:
                demand_m[b] += value_m[d] * maturity[d] * yield_ * (icv_factor if sector[d] == icv else 1.0)
                last_ip_year[b] = year
        for i in range(n):
            out[region[i]] += demand_m[i] * weight[i]
        for i in range(3):
            out[i] /= 1000
    return by_region


def own_demand(const int8_t[::1] sector, const double[::1] expected, const int8_t[::1] region,
               const double[::1] weight, double coef, double icv_factor, int icv, double[::1] demand_m):
    """Each row transforms coef (x icv_factor in sector ``icv``) x its expected technologies of its
    own: added to its demand (m yuan); returns that demand by region (m yuan, real firms, summed in
    row order)."""
    cdef Py_ssize_t i
    cdef double own
    by_region = np.zeros(3)
    cdef double[::1] out = by_region
    with nogil:
        for i in range(demand_m.shape[0]):
            own = coef * (icv_factor if sector[i] == icv else 1.0) * expected[i]
            demand_m[i] = demand_m[i] + own
            out[region[i]] += own * weight[i]
    return by_region


def output(const double[::1] demand_m, const int8_t[::1] region, const double[::1] met, double[::1] output_m):
    """output = demand x the share met in the row's region (m yuan)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(demand_m.shape[0]):
            output_m[i] = demand_m[i] * met[region[i]]


# ----------------------------------------------------------------------------- 7. branches

def branch_candidates(const boolean[::1] alive, const int64_t[::1] parent, const double[::1] demand_m,
                      const int8_t[::1] region):
    """The rows that may open a branch (living, with demand, not a branch, with no branch yet),
    grouped by region (Beijing, Tianjin, Hebei), in row order within each, and the end of each
    region's group.  (Which of them do: ``model.sampling.bernoulli_rows``.)"""
    cdef Py_ssize_t i, n = alive.shape[0]
    cdef int64_t[3] fill
    has = np.zeros(n, np.uint8)
    ok = np.zeros(n, np.uint8)
    cdef uint8_t[::1] has_branch = has, may = ok
    cdef int64_t counts[3]
    counts[0] = counts[1] = counts[2] = 0
    with nogil:
        for i in range(n):
            if alive[i] and parent[i] >= 0:
                has_branch[parent[i]] = 1
        for i in range(n):
            if alive[i] and demand_m[i] > 0 and parent[i] < 0 and not has_branch[i]:
                may[i] = 1
                counts[region[i]] += 1
    out = np.empty(counts[0] + counts[1] + counts[2], np.int64)
    cdef int64_t[::1] o = out
    fill[0], fill[1], fill[2] = 0, counts[0], counts[0] + counts[1]
    with nogil:
        for i in range(n):
            if may[i]:
                o[fill[region[i]]] = i
                fill[region[i]] += 1
    return out, (int(fill[0]), int(fill[1]), int(fill[2]))


def intra_transfers(object rng, const boolean[::1] alive, const int64_t[::1] parent, const int16_t[::1] last_ip_year,
                    const int8_t[::1] region, int oldest_ip_year, double rate_same, double rate_cross):
    """Intra-firm contracts: each living branch whose parent's last_ip_year is at least
    ``oldest_ip_year`` receives Poisson(rate_cross if its region differs from its parent's, else
    rate_same) of them, drawn in row order as ``Generator.poisson``.  Returns the receiving row once
    per contract, in row order."""
    cdef bitgen_t* bg = _bitgen(rng)
    cdef Py_ssize_t i, j, h = 0, n = alive.shape[0]
    cdef int64_t k, total = 0
    counts = np.zeros(n, np.int64)
    cdef int64_t[::1] c = counts
    with rng.bit_generator.lock, nogil:
        for i in range(n):
            if alive[i] and parent[i] >= 0 and last_ip_year[parent[i]] >= oldest_ip_year:
                k = random_poisson(bg, rate_cross if region[i] != region[parent[i]] else rate_same)
                c[i] = k
                total += k
    out = np.empty(total, np.int64)
    cdef int64_t[::1] o = out
    with nogil:
        for i in range(n):
            for j in range(c[i]):
                o[h] = i
                h += 1
    return out


# ----------------------------------------------------------------------------- 8. HTE recognition

def recognise(object rng, const boolean[::1] alive, const double[::1] sales, const double[::1] rd,
              const int16_t[::1] last_ip_year, boolean[::1] hte, int16_t[::1] hte_until, int year, bint first_year,
              double small_max, double mid_max, double small, double mid, double large, int oldest_ip_year,
              int years_valid, double apply):
    """High-tech enterprise recognition, row by row.  Eligible: alive, R&D / sales at least the
    threshold of its sales band, new IP since ``oldest_ip_year``.  First year: an eligible row holds
    a recognition with probability 1 - (1 - apply)^years_valid, reviewed in year + 1..years_valid
    (uniform).  Later: a recognition due for review is renewed if eligible and lost if not; an
    eligible row without one is recognised with probability ``apply``."""
    cdef bitgen_t* bg = _bitgen(rng)
    cdef Py_ssize_t i, n = alive.shape[0]
    cdef double s, threshold, p_first = 1 - pow(1 - apply, years_valid)
    cdef bint eligible
    with rng.bit_generator.lock, nogil:
        for i in range(n):
            s = sales[i]
            threshold = small if s <= small_max else (mid if s <= mid_max else large)
            eligible = alive[i] and rd[i] / (s if s > 1e-9 else 1e-9) >= threshold and last_ip_year[i] >= oldest_ip_year
            if first_year:
                hte[i] = 0
                hte_until[i] = 0
                if eligible and random_standard_uniform(bg) < p_first:
                    hte[i] = 1
                    hte_until[i] = year + 1 + <int> random_interval(bg, years_valid - 1)
                continue
            if hte[i] and hte_until[i] <= year:  # due for review
                if eligible:
                    hte_until[i] = year + years_valid
                else:
                    hte[i] = 0
            if eligible and not hte[i] and random_standard_uniform(bg) < apply:
                hte[i] = 1
                hte_until[i] = year + years_valid
            if not alive[i]:
                hte[i] = 0


# ----------------------------------------------------------------------------- 9. observation

def observed_weight_and_branch(const boolean[::1] alive, const double[::1] weight, const int64_t[::1] parent,
                               const int8_t[::1] region):
    """The observation's firm weight (weight x alive: 0 for an exited row) and branch flag (a row
    whose parent is a firm of another region), in one pass."""
    cdef Py_ssize_t i, n = alive.shape[0]
    w_out = np.empty(n)
    b_out = np.zeros(n, np.bool_)
    cdef double[::1] w = w_out
    cdef boolean[::1] b = b_out
    with nogil:
        for i in range(n):
            w[i] = weight[i] * alive[i]
            if parent[i] >= 0 and region[parent[i]] != region[i]:
                b[i] = 1
    return w_out, b_out


def region_shares(const double[::1] weight, const boolean[::1] alive, const boolean[::1] active,
                  const int8_t[::1] region):
    """Per region: the share of its living firms (real firms = weight) that are active."""
    cdef Py_ssize_t i
    cdef double real[3]
    cdef double act[3]
    real[:] = [0.0, 0.0, 0.0]
    act[:] = [0.0, 0.0, 0.0]
    with nogil:
        for i in range(weight.shape[0]):
            if alive[i]:
                real[region[i]] += weight[i]
                if active[i]:
                    act[region[i]] += weight[i]
    return np.array([act[r] / (real[r] if real[r] > 1e-9 else 1e-9) for r in range(3)])


def flow_sums(const int64_t[::1] seller_region, const int64_t[::1] buyer_region, const double[::1] value_m,
              const double[::1] weight, const boolean[::1] intra):
    """Per (seller region x 4 + buyer region): the real value (value x weight, m yuan) and count
    (weight) of all deals, and of the intra-firm ones; summed in deal order (as numpy's bincount).
    Returns a 4 x 16 array (value, count, intra value, intra count)."""
    cdef Py_ssize_t d, n = value_m.shape[0]
    cdef int64_t od
    cdef double rv
    sums = np.zeros((4, 16))
    cdef double[:, ::1] s = sums
    with nogil:
        for d in range(n):
            od = seller_region[d] * 4 + buyer_region[d]
            rv = value_m[d] * weight[d]
            s[0, od] += rv
            s[1, od] += weight[d]
            if intra[d]:
                s[2, od] += rv
                s[3, od] += weight[d]
    return sums


def region_sums(const double[::1] weight, const int8_t[::1] region, const boolean[::1] branch,
                const double[::1] rd, const boolean[::1] hte, const double[::1] sales, const double[::1] output_m,
                const boolean[::1] park, const int16_t[::1] birth_year, double sme_max_sales_m, int year,
                int unicorn_max_age, double unicorn_sales_m, double valuation_sigma):
    """Per region (rows of a 9 x 3 array, real firms = weight; weight 0 for exited rows): R&D
    (m yuan), high-tech enterprises, sci-tech SMEs (sales <= sme_max_sales_m), firms, revenue
    (m yuan), transformed output (m yuan) and branches of other regions' firms (``branch``), by
    region; the Xiong'an park's firms (in column 0); and unicorns, by region: for each firm at most unicorn_max_age years old, the expected share of the real firms
    it stands for that are valued at 1 bn USD or more, with valuations lognormal(log sd
    valuation_sigma) about valuation_multiple x sales, i.e. sales at unicorn_sales_m:
    Phi(log(sales / unicorn_sales_m) / valuation_sigma)."""
    cdef Py_ssize_t i, n = weight.shape[0]
    cdef double w, log_threshold = log(unicorn_sales_m), inv = 1.0 / (valuation_sigma * sqrt(2.0))
    cdef int r
    sums = np.zeros((9, 3))
    cdef double[:, ::1] s = sums
    with nogil:
        for i in range(n):
            w = weight[i]
            if w == 0.0:
                continue
            r = region[i]
            s[0, r] += rd[i] * w
            if hte[i]:
                s[1, r] += w
            if sales[i] <= sme_max_sales_m:
                s[2, r] += w
            s[3, r] += w
            s[4, r] += sales[i] * w
            s[5, r] += output_m[i] * w
            if branch[i]:
                s[6, r] += w
            if park[i]:
                s[7, 0] += w
            if year - birth_year[i] <= unicorn_max_age:  # Phi(z) = erfc(-z / sqrt 2) / 2
                s[8, r] += w * 0.5 * erfc(-(log(sales[i] if sales[i] > 1e-12 else 1e-12) - log_threshold) * inv)
    return sums
