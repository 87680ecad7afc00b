"""``bth export``: a results folder's tidy tables for spreadsheet users.

``export(RESULTS_DIR, "xlsx", "out.xlsx")`` writes one workbook with a sheet per table:

* ``regions``: ``scenario, seed, year, region, metric, value`` plus ``unit`` (from
  :mod:`model.metrics`; ``bn yuan`` = billion yuan per year, counts in firms or contracts);
* ``flows``: ``scenario, seed, year, origin, destination, contract_value_bn, contracts``;
* ``manifest``: one row per (run folder, setting): ``folder, key, value``; nested entries
  (``packages``, ``scenario_details``) are flattened to dotted keys, lists written as JSON.

``export(RESULTS_DIR, "csv", OUT)`` writes the same three tables as ``regions.csv``,
``flows.csv`` and ``manifest.csv``: into a zip file if ``OUT`` ends in ``.zip``, else into the
folder ``OUT``.  RESULTS_DIR is a run folder ``OUT/<scenario>`` or a folder holding several
(all of them are exported, scenario by scenario); each is read with
:func:`experiments.store.open_run` (checksums verified).  An existing ``OUT`` is replaced only
with ``force``.  Problems raise :class:`ExportError` or ``store.RunFolderError`` (one line).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import store
from model.metrics import METRICS

FORMATS = ("csv", "xlsx")
SHEETS = ("regions", "flows", "manifest")
EXCEL_MAX_ROWS = 1_048_576  # rows of an Excel sheet, the header included


class ExportError(ValueError):
    """The export cannot be written as asked (the message is one line)."""


def tables(results_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The ``regions``, ``flows`` and ``manifest`` tables of the run folders in ``results_dir``."""
    path = Path(results_dir)
    if not path.is_dir():
        raise ExportError(f"{path}: no such folder")
    folders = [path] if store.is_run_folder(path) else sorted(
        p for p in path.iterdir() if store.is_run_folder(p))
    if not folders:
        raise ExportError(f"{path}: no run folders ({store.REGIONS} here or in its sub-folders); "
                          "run 'bth run' first")
    runs = [store.open_run(p) for p in folders]
    regions = pd.concat([r.regions for r in runs], ignore_index=True)
    regions["unit"] = regions["metric"].map(lambda m: METRICS[m].unit if m in METRICS else "")
    flows = pd.concat([r.flows for r in runs], ignore_index=True)
    rows = []
    for r in runs:
        for key, value in _flatten(r.manifest):
            rows.append({"folder": r.path.name, "key": key, "value": value})
    manifest = pd.DataFrame(rows, columns=["folder", "key", "value"])
    return {"regions": regions, "flows": flows, "manifest": manifest}


def export(results_dir: str | Path, fmt: str, out: str | Path, force: bool = False) -> Path:
    """Write the tables of ``results_dir`` as ``fmt`` (``csv`` or ``xlsx``) to ``out``; return it."""
    if fmt not in FORMATS:
        raise ExportError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    if out.exists() and not force:
        raise ExportError(f"{out}: exists; pass --force to replace it, or choose another --out")
    if fmt == "xlsx" and out.suffix.lower() != ".xlsx":
        raise ExportError(f"{out}: an xlsx export needs a file name ending in .xlsx")
    if out.exists() and out.is_dir() and (fmt == "xlsx" or out.suffix.lower() == ".zip"):
        raise ExportError(f"{out}: is a folder, expected a file")
    data = tables(results_dir)
    if not out.parent.exists():
        raise ExportError(f"{out.parent}: no such folder")
    if fmt == "xlsx":
        too_big = [k for k, df in data.items() if len(df) + 1 > EXCEL_MAX_ROWS]
        if too_big:
            raise ExportError(f"{too_big[0]}: {len(data[too_big[0]])} rows, more than an Excel sheet holds "
                              f"({EXCEL_MAX_ROWS - 1}); export --format csv instead")
        _atomic_file(out, lambda f: _write_xlsx(data, f))
    elif out.suffix.lower() == ".zip":
        _atomic_file(out, lambda f: _write_zip(data, f))
    else:
        _write_folder(data, out)
    return out


def _write_xlsx(data: dict[str, pd.DataFrame], target: Any) -> None:
    with pd.ExcelWriter(target, engine="openpyxl") as writer:
        for name in SHEETS:
            data[name].to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            sheet.freeze_panes = "A2"
            for col in sheet.columns:  # widths that show the headers and typical values
                width = max(len(str(col[0].value)), *(len(str(c.value)) for c in col[1:50])) if len(col) > 1 \
                    else len(str(col[0].value))
                sheet.column_dimensions[col[0].column_letter].width = min(max(width + 2, 8), 60)


def _write_zip(data: dict[str, pd.DataFrame], target: Any) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in SHEETS:
            zf.writestr(f"{name}.csv", data[name].to_csv(index=False))


def _write_folder(data: dict[str, pd.DataFrame], out: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name in SHEETS:
            data[name].to_csv(tmp / f"{name}.csv", index=False)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _atomic_file(out: Path, write) -> None:
    """Write through a temporary file in the same folder, moved into place when complete."""
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        buf = io.BytesIO()
        write(buf)
        tmp.write_bytes(buf.getvalue())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would (mkstemp makes it private)
        if out.is_dir():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, text)`` pairs of a manifest: dicts flattened, other values as JSON text."""
    if isinstance(obj, dict):
        out = []
        for k, v in obj.items():
            out.extend(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, str):
        return [(prefix, obj)]
    return [(prefix, json.dumps(obj, ensure_ascii=False))]
