"""Files of one run folder ``OUT/<scenario>/`` and how they are written.

Layout::

    OUT/<scenario>/
        manifest.json                    settings, scenario hash, versions, completeness
        regions.parquet                  scenario, seed, year, region, metric, value
        flows.parquet                    scenario, seed, year, origin, destination,
                                         contract_value_bn, contracts
        runs/seed-0007.regions.parquet   one finished run (scenario, seed); the pair is complete
        runs/seed-0007.flows.parquet     when both files exist
        runs/seed-0007.error.txt         traceback of a failed run (removed once it succeeds)

Every file is written to a temporary name in the same folder and moved into place with
``os.replace``, so a killed process leaves either the old file or the new one, never half a file.
Values are at real-world scale: ``_bn`` columns in billion yuan, counts in firms/contracts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

RUNS = "runs"  # sub-folder holding one file pair per finished run
MANIFEST = "manifest.json"
REGIONS = "regions.parquet"
FLOWS = "flows.parquet"

REGION_COLUMNS = ["scenario", "seed", "year", "region", "metric", "value"]
FLOW_COLUMNS = ["scenario", "seed", "year", "origin", "destination", "contract_value_bn", "contracts"]
REGION_ORDER = ["seed", "year", "region", "metric"]  # row order of regions tables
FLOW_ORDER = ["seed", "year", "origin", "destination"]  # row order of flows tables

# Settings that must match for runs to be mixed in one folder.
COMPATIBILITY_KEYS = ("scenario_hash", "scale", "until", "stepping")
VERSIONED_PACKAGES = ("mesa", "numpy", "scipy", "pandas", "pyarrow", "dask")


class RunFolderConflict(ValueError):
    """A run folder holds results made with other settings (scenario hash, scale, until, stepping)."""


# ----------------------------------------------------------------- tidy tables


def tidy_regions(df: pd.DataFrame) -> pd.DataFrame:
    """Columns in contract order, dtypes fixed, rows sorted by seed, year, region, metric."""
    df = df[REGION_COLUMNS].astype(
        {"scenario": str, "seed": "int64", "year": "int64", "region": str, "metric": str,
         "value": "float64"}
    )
    return df.sort_values(REGION_ORDER, kind="mergesort").reset_index(drop=True)


def tidy_flows(df: pd.DataFrame) -> pd.DataFrame:
    """Columns in contract order, dtypes fixed, rows sorted by seed, year, origin, destination."""
    df = df[FLOW_COLUMNS].astype(
        {"scenario": str, "seed": "int64", "year": "int64", "origin": str, "destination": str,
         "contract_value_bn": "float64", "contracts": "float64"}
    )
    return df.sort_values(FLOW_ORDER, kind="mergesort").reset_index(drop=True)


# ----------------------------------------------------------------- atomic writes


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` (without its index) to ``path`` atomically."""
    tmp = _temporary(path)
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def write_text(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` atomically."""
    tmp = _temporary(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(obj: Any, path: Path) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", path)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------- one run (scenario, seed)


def run_paths(run_dir: Path, seed: int) -> tuple[Path, Path]:
    """(regions, flows) file paths of the run with ``seed``."""
    stem = run_dir / RUNS / f"seed-{seed:04d}"
    return stem.with_name(stem.name + ".regions.parquet"), stem.with_name(stem.name + ".flows.parquet")


def error_path(run_dir: Path, seed: int) -> Path:
    """Where the traceback of a failed run with ``seed`` is saved."""
    return run_dir / RUNS / f"seed-{seed:04d}.error.txt"


def save_run(run_dir: Path, seed: int, regions: pd.DataFrame, flows: pd.DataFrame) -> None:
    """Store one finished run.  Flows go first, so a present regions file means a complete pair."""
    regions_path, flows_path = run_paths(run_dir, seed)
    regions_path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(tidy_flows(flows), flows_path)
    write_parquet(tidy_regions(regions), regions_path)
    error_path(run_dir, seed).unlink(missing_ok=True)


def save_error(run_dir: Path, seed: int, text: str) -> Path:
    """Store the traceback of a failed run; returns the file written."""
    path = error_path(run_dir, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(text, path)
    return path


def is_done(run_dir: Path, seed: int) -> bool:
    """Whether the run with ``seed`` finished and both of its files are in place."""
    return all(p.exists() for p in run_paths(run_dir, seed))


def load_run(run_dir: Path, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(regions, flows) of one stored run."""
    regions_path, flows_path = run_paths(run_dir, seed)
    return pd.read_parquet(regions_path), pd.read_parquet(flows_path)


def combine_runs(run_dir: Path, seeds: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(regions, flows) of the stored runs with ``seeds``, concatenated and sorted."""
    pairs = [load_run(run_dir, seed) for seed in seeds]
    regions = pd.concat([r for r, _ in pairs], ignore_index=True)
    flows = pd.concat([f for _, f in pairs], ignore_index=True)
    return tidy_regions(regions), tidy_flows(flows)


def write_tables(run_dir: Path, regions: pd.DataFrame, flows: pd.DataFrame) -> None:
    """Write the combined ``regions.parquet`` and ``flows.parquet`` of a run folder."""
    write_parquet(tidy_regions(regions), run_dir / REGIONS)
    write_parquet(tidy_flows(flows), run_dir / FLOWS)


def remove_tables(run_dir: Path) -> None:
    """Remove combined tables that no longer match the manifest (they are rebuilt at the end)."""
    for name in (REGIONS, FLOWS):
        (run_dir / name).unlink(missing_ok=True)


# ----------------------------------------------------------------- reading a run folder


@dataclass
class RunFolder:
    """A finished run folder ``OUT/<scenario>/``: its combined tables and its manifest."""

    path: Path
    regions: pd.DataFrame  # scenario, seed, year, region, metric, value
    flows: pd.DataFrame  # scenario, seed, year, origin, destination, contract_value_bn, contracts
    manifest: dict[str, Any]

    @property
    def scenario(self) -> str:
        return str(self.manifest.get("scenario") or self.path.name)


class MixedRunsError(ValueError):
    """Run folders made with different settings (scale, horizon, model code) were to be compared."""


class RunFolderError(ValueError):
    """A path is not a readable, finished run folder (the message names the path)."""


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds a finished run's combined tables."""
    return (Path(path) / REGIONS).is_file()


def open_run(path: str | Path) -> RunFolder:
    """The one reader of a run folder: combined tables and manifest of ``path``.

    Raises :class:`RunFolderError` (one line naming the path) if it is not a finished run folder
    or a file cannot be read."""
    path = Path(path)
    if not path.is_dir():
        raise RunFolderError(f"{path}: no such folder")
    if not is_run_folder(path):
        raise RunFolderError(f"{path}: no {REGIONS} (not a finished run folder; run 'bth run' first)")
    try:
        manifest = read_json(path / MANIFEST) if (path / MANIFEST).exists() else {}
        regions = pd.read_parquet(path / REGIONS)
        flows = pd.read_parquet(path / FLOWS)
    except (OSError, ValueError) as err:
        raise RunFolderError(f"{path}: unreadable ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    return RunFolder(path, regions, flows, manifest)


# ----------------------------------------------------------------- manifest


def check_compatible(run_dir: Path, settings: dict[str, Any]) -> None:
    """Raise :class:`RunFolderConflict` if ``run_dir`` holds results made with other settings.

    ``settings`` holds the :data:`COMPATIBILITY_KEYS`.  A missing or empty folder is fine; a
    non-empty folder without a manifest is refused too (it is not ours to mix into).
    """
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return
    advice = f"use --out with another folder, or delete {run_dir}"
    manifest_path = run_dir / MANIFEST
    if not manifest_path.exists():
        raise RunFolderConflict(f"{run_dir} exists but has no {MANIFEST}; {advice}")
    try:
        old = read_json(manifest_path)
    except (OSError, ValueError) as err:
        raise RunFolderConflict(f"{manifest_path}: unreadable ({err}); {advice}") from None
    differences = [
        f"{key} {old.get(key)!r} there, {settings[key]!r} now"
        for key in COMPATIBILITY_KEYS
        if old.get(key) != settings[key]
    ]
    if differences:
        raise RunFolderConflict(
            f"{run_dir} holds runs made with other settings ({'; '.join(differences)}); "
            f"refusing to mix them: {advice}"
        )


def code_version() -> str:
    """``git describe --always --dirty`` of the source tree, else the installed package version."""
    source = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=source, capture_output=True,
            text=True, timeout=10,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return metadata.version("bth-techtransfer")
    except metadata.PackageNotFoundError:
        return "unknown"


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape the results, plus Python's."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["python"] = sys.version.split()[0]
    return versions


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
