"""Tests of ``bth export``: the tidy tables of a results folder as xlsx, zipped CSV or a CSV folder."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from experiments.api import load_results, run_ensemble
from experiments.export import ExportError, export
from scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    base = load_scenario("baseline")
    alt = base.with_changes(name="more-projects", joint_projects={"years": [2025, 2026], "values": [220, 600]})
    run_ensemble([base, alt], seeds=2, scale=0.01, until=2024, out=out, workers=1, progress=False, plots=False)
    return out


def bth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_xlsx_has_a_sheet_per_table_and_the_manifest(results, tmp_path):
    out = tmp_path / "results.xlsx"
    done = bth("export", str(results), "--format", "xlsx", "--out", str(out))
    assert done.returncode == 0, done.stderr
    res = load_results(results)
    wb = openpyxl.load_workbook(out, read_only=True)
    assert wb.sheetnames == ["regions", "flows", "manifest"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # like any file written with open()
    rows = {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}
    assert rows["regions"][0] == ("scenario", "seed", "year", "region", "metric", "value", "unit")
    assert len(rows["regions"]) == 1 + len(res.regions)
    assert rows["flows"][0] == ("scenario", "seed", "year", "origin", "destination", "contract_value_bn",
                                "contracts")
    assert len(rows["flows"]) == 1 + len(res.flows)
    manifest = {(f, k): v for f, k, v in rows["manifest"][1:]}
    assert manifest[("baseline", "scenario")] == "baseline" and manifest[("more-projects", "scale")] == "0.01"
    assert ("baseline", "packages.numpy") in manifest
    # the values are the stored ones, with the unit of each metric
    sheet = pd.read_excel(out, sheet_name="regions")
    pd.testing.assert_series_equal(sheet["value"], res.regions["value"].reset_index(drop=True),
                                   check_names=False)
    assert set(sheet.loc[sheet["metric"] == "rd_spending_bn", "unit"]) == {"bn yuan"}


def test_csv_as_zip_and_as_folder(results, tmp_path):
    res = load_results(results / "baseline")
    export(results / "baseline", "csv", tmp_path / "b.zip")
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert sorted(zf.namelist()) == ["flows.csv", "manifest.csv", "regions.csv"]
        regions = pd.read_csv(io.BytesIO(zf.read("regions.csv")))
    assert len(regions) == len(res.regions) and set(regions["scenario"]) == {"baseline"}
    export(results, "csv", tmp_path / "csv")
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["flows.csv", "manifest.csv", "regions.csv"]
    flows = pd.read_csv(tmp_path / "csv" / "flows.csv")
    assert set(flows["scenario"]) == {"baseline", "more-projects"}


def test_existing_output_is_replaced_only_with_force(results, tmp_path):
    out = tmp_path / "r.xlsx"
    out.write_text("not mine")
    done = bth("export", str(results), "--format", "xlsx", "--out", str(out))
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "--force" in done.stderr
    assert out.read_text() == "not mine"
    done = bth("export", str(results), "--format", "xlsx", "--out", str(out), "--force")
    assert done.returncode == 0, done.stderr
    assert openpyxl.load_workbook(out).sheetnames == ["regions", "flows", "manifest"]


@pytest.mark.parametrize("args, message", [
    (["MISSING", "--format", "csv", "--out", "OUT/x.zip"], "no such folder"),
    (["EMPTY", "--format", "csv", "--out", "OUT/x.zip"], "no run folders"),
    (["RESULTS", "--format", "xlsx", "--out", "OUT/x.csv"], "needs a file name ending in .xlsx"),
    (["RESULTS", "--format", "xlsx", "--out", "OUT/nowhere/x.xlsx"], "no such folder"),
])
def test_errors_are_one_line_and_exit_2(results, tmp_path, args, message):
    (tmp_path / "EMPTY").mkdir()
    subst = {"MISSING": str(tmp_path / "missing"), "EMPTY": str(tmp_path / "EMPTY"), "RESULTS": str(results)}
    args = [subst.get(a, a.replace("OUT", str(tmp_path))) for a in args]
    done = bth("export", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and message in done.stderr and len(done.stderr.splitlines()) == 1


def test_bad_format_is_refused(results, tmp_path):
    with pytest.raises(ExportError, match="format: expected one of csv, xlsx"):
        export(results, "ods", tmp_path / "x.ods")
    done = bth("export", str(results), "--format", "ods", "--out", str(tmp_path / "x"))
    assert done.returncode == 2
