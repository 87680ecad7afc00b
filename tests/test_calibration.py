"""Calibration: targets file, loss, parameter space, cache, and recovery of known parameters."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from calibration.loss import BOUND_MARGIN, deviation, ensemble_mean, loss, passes
from calibration.runner import Cache, run_key
from calibration.space import FIXED, FREE, FreeParam, Space
from calibration.targets import (
    DEFAULT_TOLERANCE, Output, Target, TargetError, all_outputs, compared_targets, load_targets, read_outputs,
)
from model import UNCERTAIN, Params, simulate

TARGETS = load_targets()
BY_NAME = {t.name: t for t in TARGETS}


# ------------------------------------------------------------------ the targets file


def test_targets_file_parses_and_every_target_has_provenance():
    assert len(compared_targets(TARGETS)) >= 20
    for t in TARGETS:
        assert t.provenance_kind in ("seed", "public", "derived"), t.name
        assert len(t.provenance) > 20, t.name
        if t.provenance_kind == "derived":
            assert "'" in t.provenance and any(op in t.provenance for op in ("=", ">", "minus")), \
                f"{t.name}: a derived target quotes its sources and shows the derivation"
        if t.provenance_kind == "seed":  # the quoted sentence carries a figure
            assert any(ch.isdigit() for ch in t.provenance) or "Five" in t.provenance, t.name
        if t.compared:
            assert t.unit and t.year and t.weight > 0 and 0 < t.tolerance <= 1
            if abs(t.tolerance - DEFAULT_TOLERANCE) > 1e-12:
                assert len(t.tolerance_reason) > 30, f"{t.name}: a wider tolerance needs a reason"
        else:
            assert t.note, f"{t.name}: inputs say how they are satisfied, unused targets why"


def test_required_targets_are_present():
    required = {
        "hebei_rd_2024": 96.78, "hebei_rd_2020": 63.46, "hebei_turnover_2024": 197.14, "hebei_turnover_2020": 55.85,
        "hebei_absorbed_from_beijing_2024": 75.53, "hebei_hte_2025": 15000, "hebei_smes_2025": 127000,
        "hebei_unicorns_2025": 5, "xiongan_park_firms_2025": 200, "beijing_rd_2024": 327.97,
        "zhongguancun_unicorns_2025": 90, "beijing_unicorns_2024": 115, "beijing_turnover_2022": 794.75,
        "beijing_turnover_2023": 853.69, "beijing_contracts_2023": 106552, "bth_turnover_2024": 1300,
        "beijing_hte_2023": 28300, "tianjin_hte_2024": 12000, "tianjin_smes_2024": 12000,
        "zhongguancun_revenue_2025": 10000, "key_labs_and_institutes": 155, "joint_projects": 220,
        # Beijing's seller-side series and the branch stock (moved from validation.toml)
        "beijing_to_tianjin_hebei_2021": 35.04, "beijing_to_tianjin_hebei_2022": 36.59,
        "beijing_to_tianjin_hebei_2023": 74.87, "beijing_to_tianjin_hebei_2024": 84.37,
        "zhongguancun_branches_tianjin_2020": 4173, "zhongguancun_branches_hebei_2020": 4643,
        "zhongguancun_branches_tianjin_hebei_2023": 10000, "zhongguancun_branches_tianjin_hebei_2024": 10000,
    }
    for name, value in required.items():
        assert name in BY_NAME, name
        assert BY_NAME[name].value == pytest.approx(value), name
    assert BY_NAME["hebei_absorbs_most_from_beijing_2024"].kind == "greater"
    # "over N" (超N) is the band [N, 1.1 N]: passed N, not the next round number
    for name in ("hebei_hte_2025", "hebei_smes_2025", "xiongan_park_firms_2024", "xiongan_park_firms_2025",
                 "tianjin_hte_2024", "tianjin_smes_2024", "zhongguancun_revenue_2025",
                 "zhongguancun_branches_tianjin_hebei_2023", "zhongguancun_branches_tianjin_hebei_2024"):
        t = BY_NAME[name]
        assert t.kind == "band", name
        assert t.upper == pytest.approx(1.1 * t.value), name
    # a mapping inequality stays a one-sided bound
    assert BY_NAME["zhongguancun_unicorns_2025"].kind == "lower"
    # each registry's statistic is a metric of its own
    for name in ("hebei_absorbed_from_beijing_2024", "hebei_absorbed_from_beijing_2020"):
        assert BY_NAME[name].output == Output(BY_NAME[name].year, "reported_absorbed_from_beijing_bn", ("Hebei",)), name
    for year in (2021, 2022, 2023, 2024):
        t = BY_NAME[f"beijing_to_tianjin_hebei_{year}"]
        assert t.kind == "point" and t.output == Output(year, "reported_outflow_tianjin_hebei_bn", ("Beijing",))
    g = BY_NAME["hebei_absorbs_most_from_beijing_2024"]
    assert (g.left.metric, g.left.regions, g.right.metric, g.right.regions) == (
        "reported_absorbed_from_beijing_bn", ("Hebei",), "reported_absorbed_from_beijing_bn", ("Tianjin",))
    assert BY_NAME["key_labs_and_institutes"].kind == "input" and BY_NAME["joint_projects"].kind == "input"


def test_derived_values_follow_from_their_sources():
    assert BY_NAME["hebei_rd_2020"].value == pytest.approx(96.78 / 1.525, abs=0.01)
    assert BY_NAME["hebei_turnover_2020"].value == pytest.approx(197.14 / 3.53, abs=0.01)
    assert BY_NAME["beijing_rd_2024"].value == pytest.approx(0.0658 * 4984.31, abs=0.01)
    assert BY_NAME["tianjin_rd_2024"].value == pytest.approx(0.0422 * 11500 - 0.0658 * 4984.31 - 96.78, abs=0.01)
    g = 4 ** 0.2
    assert BY_NAME["hebei_absorbed_from_beijing_2020"].value == pytest.approx(85.3 * g**4 / sum(g**k for k in range(5)), abs=0.05)


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "t.toml"
    p.write_text(textwrap.dedent(body), encoding="utf-8")
    return p


def test_bad_targets_file_names_the_field(tmp_path):
    base = """
    [targets.x]
    kind = "point"
    region = "Hebei"
    metric = "rd_spending_bn"
    year = 2024
    value = 1.0
    unit = "bn yuan"
    weight = 1.0
    """
    with pytest.raises(TargetError, match=r"targets\.x: expected exactly one provenance"):
        load_targets(_write(tmp_path, base + "tolerance = 0.05\n"))
    with pytest.raises(TargetError, match=r"targets\.x\.tolerance_reason"):
        load_targets(_write(tmp_path, base + 'tolerance = 0.3\nseed = "a sentence quoted from a seed report"\n'))
    with pytest.raises(TargetError, match=r"targets\.x\.metric"):
        load_targets(_write(tmp_path, base.replace("rd_spending_bn", "rnd") + 'tolerance = 0.05\nseed = "a quoted sentence here"\n'))
    with pytest.raises(TargetError, match=r"targets\.x\.kind"):
        load_targets(_write(tmp_path, base.replace('"point"', '"about"') + 'tolerance = 0.05\nseed = "a quoted sentence here"\n'))


# ------------------------------------------------------------------ the loss


def _point(value=100.0, tol=0.05, weight=1.0) -> Target:
    return Target(name="p", kind="point", value=value, unit="bn yuan", tolerance=tol, weight=weight,
                  provenance_kind="seed", provenance="quoted", output=Output(2024, "rd_spending_bn", ("Hebei",)))


def _lower(value=100.0) -> Target:
    return Target(name="l", kind="lower", value=value, unit="firms", tolerance=0.05, weight=1.0,
                  provenance_kind="seed", provenance="quoted", output=Output(2025, "firms", ("Hebei",)))


def _band(value=100.0, upper=110.0, tol=0.05) -> Target:
    return Target(name="b", kind="band", value=value, upper=upper, unit="firms", tolerance=tol, weight=1.0,
                  provenance_kind="seed", provenance="over 100", output=Output(2025, "high_tech_enterprises", ("Hebei",)))


def _greater() -> Target:
    return Target(name="g", kind="greater", value=float("nan"), unit="bn yuan", tolerance=0.05, weight=1.0,
                  provenance_kind="derived", provenance="derived",
                  left=Output(2024, "contract_value_bn", origin="Beijing", destination="Hebei"),
                  right=Output(2024, "contract_value_bn", origin="Beijing", destination="Tianjin"))


def test_loss_is_zero_at_a_perfect_match_and_grows_away_from_it():
    targets = compared_targets(TARGETS)
    # bounds and bands hold with the loss's margin (BOUND_MARGIN tolerances inside)
    inside = {"lower": 1.0 + 2 * BOUND_MARGIN * 0.25, "upper": 1.0 - 2 * BOUND_MARGIN * 0.25, "band": 1.05}
    sim = {t.output.key: t.value * inside.get(t.kind, 1.0) for t in targets if t.kind != "greater"}
    for t in targets:
        if t.kind == "greater":
            sim.setdefault(t.left.key, 2.0)
            sim.setdefault(t.right.key, sim[t.left.key] / 2)
    assert loss(targets, sim) == 0.0
    assert all(passes(t, sim) for t in targets)
    t = _point()
    key = t.output.key
    losses = [loss([t], {key: 100.0 * (1 + e)}) for e in (0.0, 0.01, 0.03, 0.05, 0.1, 0.5)]
    assert losses[0] == 0.0 and all(b > a for a, b in zip(losses, losses[1:]))
    assert loss([t], {key: 95.0}) == pytest.approx(loss([t], {key: 105.0}))  # symmetric
    assert deviation(t, {key: 105.0}) == pytest.approx(1.0)  # z = 1 at the tolerance edge
    assert passes(t, {key: 104.9}) and not passes(t, {key: 105.2})
    assert loss([_point(weight=2.0)], {key: 110.0}) == pytest.approx(2 * loss([t], {key: 110.0}))
    assert loss([t], {}) > 1e3  # a missing output is heavily penalised


def test_lower_bound_adds_nothing_while_it_holds():
    t = _lower(100.0)
    key = t.output.key
    # zero loss beyond the margin (BOUND_MARGIN = 0.2 tolerances = 1% at a 5% tolerance)
    assert loss([t], {key: 101.0}) == 0.0 and loss([t], {key: 1e6}) == 0.0
    assert 0 < loss([t], {key: 100.5}) < 0.05  # holds, but is pulled further inside
    assert passes(t, {key: 100.5}) and not passes(t, {key: 99.9}) and not passes(t, {key: 100.0})
    shortfalls = [loss([t], {key: v}) for v in (99.0, 95.0, 80.0)]
    assert 0 < shortfalls[0] < shortfalls[1] < shortfalls[2]
    assert deviation(t, {key: 95.0}) == pytest.approx(-1.0 - BOUND_MARGIN)


def test_band_adds_nothing_inside_and_penalises_both_sides():
    """'Over N' as the band [N, upper]: it passes inside, the ends included, and z = 0 inside by the
    margin (BOUND_MARGIN tolerances: [101, 108.9] here); below it z < 0 scaled by N, above it z > 0
    scaled by upper; it fails on either side."""
    t = _band(100.0, 110.0)
    key = t.output.key
    for v in (101.0, 105.0, 108.9):
        assert deviation(t, {key: v}) == pytest.approx(0.0, abs=1e-12) and loss([t], {key: v}) < 1e-20, v
    for v in (100.0, 100.5, 105.0, 110.0):
        assert passes(t, {key: v}), v
    assert deviation(t, {key: 100.0}) == pytest.approx(-BOUND_MARGIN)  # at the edge: pulled inside
    assert deviation(t, {key: 95.0}) == pytest.approx(-1.0 - BOUND_MARGIN)  # 5% of 100 short = one tolerance
    assert deviation(t, {key: 115.5}) == pytest.approx(1.0 + BOUND_MARGIN)  # 5% of 110 over = one tolerance
    assert deviation(t, {key: 99.0}) < 0 < deviation(t, {key: 111.0})
    for v in (99.9, 95.0, 110.1, 150.0):
        assert not passes(t, {key: v}), v
    below = [loss([t], {key: v}) for v in (99.0, 95.0, 80.0)]
    above = [loss([t], {key: v}) for v in (111.0, 115.0, 130.0)]
    assert 0 < below[0] < below[1] < below[2] and 0 < above[0] < above[1] < above[2]
    assert not passes(t, {}) and loss([t], {}) > 1e3  # a missing output fails
    # with Monte Carlo error mc, zero loss only well inside: [N (1 + mc), upper (1 - mc)] roughly
    assert deviation(t, {key: 101.0}, mc=0.04) < 0 and deviation(t, {key: 109.0}, mc=0.04) > 0
    assert deviation(t, {key: 105.0}, mc=0.04) == 0.0 and passes(t, {key: 101.0}) and passes(t, {key: 109.0})
    assert "in [100, 110]" in t.description


def test_band_in_the_targets_file_needs_an_upper_end_above_its_value(tmp_path):
    base = """
    [targets.x]
    kind = "band"
    region = "Hebei"
    metric = "high_tech_enterprises"
    year = 2025
    value = 15000
    unit = "firms"
    tolerance = 0.05
    weight = 1.0
    seed = "Hebei fostered over 15,000 national high-tech enterprises"
    """
    t = load_targets(_write(tmp_path, base + "upper = 16500\n"))[0]
    assert (t.kind, t.value, t.upper, t.compared) == ("band", 15000.0, 16500.0, True)
    with pytest.raises(TargetError, match=r"targets\.x\.upper"):
        load_targets(_write(tmp_path, base))
    with pytest.raises(TargetError, match=r"targets\.x\.upper: a band's upper end must exceed"):
        load_targets(_write(tmp_path, base + "upper = 15000\n"))


def test_upper_bound_adds_nothing_while_it_holds():
    t = Target(name="u", kind="upper", value=100.0, unit="firms", tolerance=0.05, weight=1.0,
               provenance_kind="derived", provenance="count <= 113", output=Output(2023, "park_firms", ("Xiong'an",)))
    key = t.output.key
    assert loss([t], {key: 99.0}) == 0.0 and loss([t], {key: 0.0}) == 0.0
    assert 0 < loss([t], {key: 99.5}) < 0.05  # holds, but is pulled further inside
    assert passes(t, {key: 99.5}) and not passes(t, {key: 100.0}) and not passes(t, {key: 101.0})
    excess = [loss([t], {key: v}) for v in (101.0, 105.0, 120.0)]
    assert 0 < excess[0] < excess[1] < excess[2]
    assert deviation(t, {key: 105.0}) == pytest.approx(1.0 + BOUND_MARGIN)
    assert "<" in t.description


def test_bounds_are_aimed_at_with_a_margin_of_one_monte_carlo_error():
    """With Monte Carlo error mc the loss of a bound is zero only beyond bound x (1 +- mc); the
    verdict (no mc) is the bound itself."""
    low, key = _lower(100.0), _lower(100.0).output.key
    assert deviation(low, {key: 102.0}, mc=0.04) < 0 and deviation(low, {key: 104.5}, mc=0.04) == 0.0
    assert passes(low, {key: 102.0})
    up = Target(name="u", kind="upper", value=100.0, unit="firms", tolerance=0.05, weight=1.0,
                provenance_kind="derived", provenance="count <= 113", output=Output(2023, "park_firms", ("Xiong'an",)))
    assert deviation(up, {up.output.key: 98.0}, mc=0.04) > 0 and deviation(up, {up.output.key: 95.5}, mc=0.04) == 0.0
    g = _greater()
    assert deviation(g, {g.left.key: 20.4, g.right.key: 20.0}, mc=0.04) < 0
    assert deviation(g, {g.left.key: 21.0, g.right.key: 20.0}, mc=0.04) == 0.0


def test_inequality_targets_behave():
    t = _greater()
    lk, rk = t.left.key, t.right.key
    assert loss([t], {lk: 75.0, rk: 20.0}) == 0.0 and passes(t, {lk: 75.0, rk: 20.0})
    assert not passes(t, {lk: 20.0, rk: 20.0}) and not passes(t, {lk: 10.0, rk: 20.0})
    gaps = [loss([t], {lk: v, rk: 20.0}) for v in (19.9, 18.0, 10.0)]
    assert 0 < gaps[0] < gaps[1] < gaps[2]
    assert deviation(t, {lk: 19.0, rk: 20.0}) == pytest.approx(-1.0)  # 5% short = one tolerance
    assert np.isfinite(loss([t], {lk: 0.0, rk: 0.0}))


def test_ensemble_mean_is_the_moment_matched():
    runs = [{"a": 1.0, "b": 10.0}, {"a": 3.0, "b": 20.0}]
    assert ensemble_mean(runs) == {"a": 2.0, "b": 15.0}


def test_outputs_are_read_from_model_tables():
    tables = simulate(Params(), seed=3, scale=0.01, until=2021)
    outs = [Output(2021, "contract_value_bn", origin="Beijing", destination="Hebei"),
            Output(2021, "reported_absorbed_from_beijing_bn", ("Hebei",)),
            Output(2021, "contract_turnover_bn", ("Beijing", "Tianjin", "Hebei")),
            Output(2021, "contract_turnover_bn", ("Beijing",)), Output(2021, "contract_turnover_bn", ("Tianjin",)),
            Output(2021, "contract_turnover_bn", ("Hebei",)),
            Output(2021, "contract_value_bn", origin="Beijing", destination="Tianjin+Hebei"),
            Output(2021, "reported_outflow_tianjin_hebei_bn", ("Beijing",)),
            Output(2021, "reported_absorbed_from_beijing_bn", ("Beijing",))]
    v = read_outputs(tables, outs)
    k = [o.key for o in outs]
    # the buyer region's statistic: every contract from Beijing's sellers (intra-firm included)
    assert v[k[1]] == pytest.approx(v[k[0]])
    assert v[k[2]] == pytest.approx(v[k[3]] + v[k[4]] + v[k[5]])
    # Beijing's statistic counts only the market contracts it registers: at most the flow
    assert 0 < v[k[7]] <= v[k[6]] * (1 + 1e-12)
    assert np.isnan(v.pop(k[8]))  # no row: Beijing's absorption from itself is nobody's statistic
    assert all(np.isfinite(x) for x in v.values())
    # every output a target needs exists in the model's tables
    needed = all_outputs(compared_targets(TARGETS))
    got = read_outputs(simulate(Params(), seed=1, scale=0.01, until=2025), needed)
    assert all(np.isfinite(x) for x in got.values()), [k for k, x in got.items() if not np.isfinite(x)]


# ------------------------------------------------------------------ space and cache


def test_every_uncertain_parameter_is_free_or_fixed_with_a_reason():
    free = {p.name for p in FREE}
    assert free | set(FIXED) == set(UNCERTAIN) and not free & set(FIXED)
    assert all(len(r) > 40 for r in FIXED.values())


@pytest.mark.parametrize("fp", FREE, ids=[p.name for p in FREE])
def test_search_coordinates_round_trip(fp: FreeParam):
    lo, hi = fp.box
    assert fp.value(0.0) == pytest.approx(lo) and fp.value(1.0) == pytest.approx(hi)
    for u in (0.1, 0.37, 0.8):
        v = fp.value(u)
        assert lo <= v <= hi
        assert fp.unit(v) == pytest.approx(u, abs=1e-6)
    assert fp.value(0.3) < fp.value(0.6)


def test_cache_key_and_round_trip(tmp_path):
    p = Params().to_dict()
    k = run_key(p, 1, 0.05, 2025, "abc")
    assert k == run_key(dict(p), 1, 0.05, 2025, "abc")
    assert len({k, run_key(p, 2, 0.05, 2025, "abc"), run_key(p, 1, 0.1, 2025, "abc"),
                run_key(p, 1, 0.05, 2024, "abc"), run_key(p, 1, 0.05, 2025, "abd"),
                run_key({**p, "bass_q": 0.31}, 1, 0.05, 2025, "abc")}) == 6
    path = tmp_path / "c.jsonl"
    c = Cache(path)
    c.put(k, {"x": 1.5, "y": 2.0}, {"seed": 1})
    c.close()
    with path.open("a") as fh:
        fh.write('{"key": "cut sho')  # an interrupted write is skipped
    c2 = Cache(path)
    assert c2.get(k, ["x", "y"]) == {"x": 1.5, "y": 2.0}
    assert c2.get(k, ["x", "z"]) is None  # a new output forces a rerun


def test_committed_calibrated_file_is_consistent():
    from calibration.defaults import CALIBRATED_FILE, calibrated_params

    if not CALIBRATED_FILE.exists():
        pytest.skip("no calibrated.toml yet")
    values = calibrated_params()
    assert set(values) <= set(UNCERTAIN)
    for name, v in values.items():
        lo, hi = UNCERTAIN[name]
        assert lo <= v <= hi, name
    Params().replace(**values)


def test_calibration_core_does_not_import_experiments():
    """Design rule: calibration takes any executor; it does not depend on experiments."""
    import subprocess
    import sys

    code = ("import sys, calibration.calibrate, calibration.cli, calibration.report; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'experiments'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


class CountingExecutor:
    """Any object with imap_unordered will do (here: in this process, in reverse order, counted)."""

    def __init__(self) -> None:
        self.tasks = 0

    def imap_unordered(self, fn, items):
        self.tasks += len(items)
        for i in reversed(range(len(items))):
            yield i, fn(items[i])


def test_evaluator_runs_on_any_executor_with_the_same_result():
    from calibration.runner import Evaluator

    targets = [t for t in TARGETS if t.compared][:4]
    space = Space([fp for fp in FREE if fp.name in ("sales_growth_hebei", "hte_criteria_share")])
    assert space.dim == 2  # both names are free parameters
    us = [[0.3, 0.6], [0.7, 0.2]]
    until = max(t.year for t in targets)
    with Evaluator(targets, space, (0, 1), 0.01, until, Cache(None)) as ev:
        serial = ev.losses(us)
    assert np.isfinite(serial).all() and serial[0] != serial[1]
    counting = CountingExecutor()
    with Evaluator(targets, space, (0, 1), 0.01, until, Cache(None), executor=counting) as ev:
        assert ev.losses(us) == serial
        assert ev.losses(us) == serial  # memoised: no new runs
    assert counting.tasks == 4  # 2 points x 2 seeds, each run once


# ------------------------------------------------------------------ recovery of known parameters

# where HTE counts respond (near 1 they saturate); hte_apply_rate is fixed at 1 now, and the HTE
# counts identify hte_criteria_share.  (At hte_criteria_share 0.3 this budget recovered
# entry_rate_tianjin to 5.2% of its box, just outside RECOVERY_TOL; at 0.5 to 2-4% for
# sales_growth_hebei 0.02-0.08.)
TRUE = {"sales_growth_hebei": 0.02, "entry_rate_tianjin": 0.12, "hte_criteria_share": 0.5}
RECOVERY_TOL = 0.05  # recovered within 5% of each search box's width


@pytest.mark.parametrize("method", [
    # the default search; the differential-evolution alternative (--method de) missed
    # sales_growth_hebei by 7% of its box at a test-sized budget, so it is not claimed here
    dict(method="sobol-lsq", n_sobol=32, cycles=2, lsq_nfev=10, fd_step=0.03),
], ids=["sobol-lsq"])
def test_calibration_recovers_known_parameters(method):
    """Synthetic data from known parameters at small scale; calibrating three free parameters to it
    recovers them within RECOVERY_TOL of their search box (the same seeds: the loss is 0 at the truth)."""
    from calibration.calibrate import calibrate
    from calibration.search import Settings

    # 4 seeds at scale 0.02: with 2, Tianjin's few hundred model firms made entry_rate_tianjin
    # identifiable only to about its tolerance here (entrant counts are Poisson)
    seeds = (1, 2, 3, 4)
    scale = 0.02
    specs = [  # outputs that respond to the three parameters
        ("hebei_rd", Output(2024, "rd_spending_bn", ("Hebei",))),
        ("hebei_rd_2022", Output(2022, "rd_spending_bn", ("Hebei",))),
        ("hebei_hte", Output(2025, "high_tech_enterprises", ("Hebei",))),
        ("beijing_hte", Output(2023, "high_tech_enterprises", ("Beijing",))),
        ("tianjin_firms", Output(2024, "firms", ("Tianjin",))),
        ("tianjin_hte", Output(2024, "high_tech_enterprises", ("Tianjin",))),
        ("hebei_revenue", Output(2025, "firm_revenue_bn", ("Hebei",))),  # sales growth, directly
        ("tianjin_firms_2025", Output(2025, "firms", ("Tianjin",))),  # five years of entry
    ]
    truth = Params().replace(**TRUE)
    runs = [read_outputs(simulate(truth, seed=s, scale=scale, until=2025), [o for _, o in specs]) for s in seeds]
    mean = ensemble_mean(runs)
    targets = [Target(name=n, kind="point", value=mean[o.key], unit="x", tolerance=0.05, weight=1.0,
                      provenance_kind="derived", provenance="synthetic", output=o, year=o.year) for n, o in specs]
    free = [fp for fp in FREE if fp.name in TRUE]
    assert len(free) == len(TRUE)  # every true parameter is searched
    settings = Settings(scale=scale, seeds=seeds, search_seed=7, profile_grid=3, profile_near=(0.01,),
                        refine_rounds=1, report_seeds=len(seeds), noise_seeds=8, **method)
    from experiments.executor import LocalProcesses

    with LocalProcesses(2) as executor:
        result = calibrate(settings, targets, free=free, progress=False, executor=executor)
    assert result.best.loss < 1.0  # every synthetic target within about one tolerance
    for fp in free:
        lo, hi = fp.box
        err = abs(result.best.values[fp.name] - TRUE[fp.name]) / (hi - lo)
        assert err < RECOVERY_TOL, f"{fp.name}: {result.best.values[fp.name]:.4g} vs true {TRUE[fp.name]}"
    # the profile interval of each recovered parameter contains the truth
    for p in result.profiles:
        fp = next(f for f in free if f.name == p.name)
        assert fp.value(p.lo_u) - 1e-9 <= TRUE[p.name] <= fp.value(p.hi_u) + 1e-9 or \
            abs(fp.unit(TRUE[p.name]) - p.u_best) < 0.02, p.name
