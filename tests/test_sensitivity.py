"""``bth sensitivity``: a tiny Sobol run writes the table; the box; bad input exits 2 with one line."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("SALib")

from calibration.space import FREE  # noqa: E402
from experiments import sensitivity as sens  # noqa: E402
from experiments.cli import main as bth  # noqa: E402

COLUMNS = ["outcome", "year", "parameter", "S1", "S1_conf", "ST", "ST_conf", "box_source"]
TWO = ("kpf_productivity", "search_rate")


def test_tiny_run_writes_the_table(tmp_path, capsys):
    out = tmp_path / "sens"
    code = bth(["sensitivity", "--n", "2", "--free", ",".join(TWO), "--seeds", "1", "--scale", "0.01",
                "--years", "2026", "--workers", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "runs" in capsys.readouterr().out  # the plan and the time estimate
    table = pd.read_csv(out / "sensitivity.csv")
    assert list(table.columns) == COLUMNS
    outcomes = sens.outcome_names("baseline", "no-coordination")
    assert set(table["outcome"]) == set(outcomes)
    assert set(table["year"]) == {2026}
    assert set(table["parameter"]) == set(TWO)
    assert len(table) == len(outcomes) * len(TWO)
    assert np.isfinite(table["ST"]).all()
    assert (table["box_source"] == sens.choose_boxes(
        [fp for fp in FREE if fp.name in TWO])[1]).all()
    assert (out / "sensitivity.png").stat().st_size > 0
    md = (out / "sensitivity.md").read_text()
    assert all(o in md for o in outcomes)


def test_profile_box_inside_search_box_and_log_scale(tmp_path):
    boxes = sens.profile_boxes(FREE)
    assert [b.name for b in boxes] == [fp.name for fp in FREE]
    for fp, b in zip(FREE, boxes):
        s_lo, s_hi = fp.box
        assert s_lo <= b.lo < b.hi <= s_hi, b
        if fp.scale == "log":
            assert b.scale == "log"
            assert b.bounds == pytest.approx((math.log(b.lo), math.log(b.hi)))
            assert b.value(b.bounds[0]) == pytest.approx(b.lo)
            assert b.value(0.5 * sum(b.bounds)) == pytest.approx(math.sqrt(b.lo * b.hi), rel=1e-8)
        else:
            assert b.scale == "linear" and b.bounds == (b.lo, b.hi)
    # an interval reaching outside the search box is clipped to it
    toml = tmp_path / "c.toml"
    fp = next(p for p in FREE if p.scale == "log")
    toml.write_text(f"[parameters.{fp.name}]\nvalue = 1\nlo = {fp.box[0] / 10}\nhi = {fp.box[1] * 10}\n")
    (b,) = sens.profile_boxes([fp], toml)
    assert (b.lo, b.hi) == fp.box


def test_posterior_box_chosen_when_the_file_exists(tmp_path):
    fp = [p for p in FREE if p.scale == "log"][:1] + [p for p in FREE if p.scale != "log"][:1]
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"draw": np.arange(200), "weight": np.full(200, 1 / 200)})
    for p in fp:
        lo, hi = p.box
        df[p.name] = rng.uniform(lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo), 200)
    path = tmp_path / "posterior.parquet"
    df.to_parquet(path)
    boxes, source = sens.choose_boxes(fp, posterior=path)
    assert source == sens.POSTERIOR_SOURCE
    for p, b in zip(fp, boxes):
        v = df[p.name].to_numpy()
        assert b.lo == pytest.approx(np.quantile(v, 0.05), rel=0.02)
        assert b.hi == pytest.approx(np.quantile(v, 0.95), rel=0.02)
    _, source = sens.choose_boxes(fp, posterior=tmp_path / "absent.parquet")
    assert source == sens.PROFILE_SOURCE


@pytest.mark.parametrize("args", [["--n", "3"], ["--n", "0"], ["--scenario", "no-such-scenario"],
                                  ["--free", "not_a_parameter"]])
def test_bad_input_one_line_exit_2(tmp_path, capsys, args):
    code = bth(["sensitivity", *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = bth(["sensitivity", "--n", "2", "--out", str(blocker / "sub")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--out" in err
