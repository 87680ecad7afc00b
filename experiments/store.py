"""Files of one run folder ``OUT/<scenario>/`` and how they are written.

Layout::

    OUT/<scenario>/
        .lock                            present while a run writes the folder (pid, host, command)
        manifest.json                    settings, scenario hash, code hash, versions, completeness,
                                         and the sha256 of the combined tables ("tables")
        regions.parquet                  scenario, seed, year, region, metric, value
        flows.parquet                    scenario, seed, year, origin, destination,
                                         contract_value_bn, contracts
        runs/seed-0007.regions.parquet   one finished run (scenario, seed) ...
        runs/seed-0007.flows.parquet
        runs/seed-0007.json              ... and its record, written last: the code hash and the
                                         sha256 of both files; the run counts as done only when
                                         this record exists and both files match it
        runs/seed-0007.error.txt         traceback of a failed run (removed once it succeeds)
        runs/draw-0012-seed-0007.*       the same for a run at posterior draw 12 (``--draws``):
                                         its record also names the draw and the posterior's sha256
        timeseries.png, od_matrix_*.png  the figures (experiments.plots)
        plots.json                       what the figures were drawn from (the sha256 of the
                                         combined tables and of the plotting code) and their
                                         names: figures are redrawn only when that changes

Every file is written to a temporary name in the same folder and moved into place with
``os.replace``, so a killed process leaves either the old file or the new one, never half a file;
the temporary file is removed on any error (a full disk included).  Values are at real-world
scale: ``_bn`` columns in billion yuan, counts in firms/contracts.

Compatibility: runs are mixed in one folder only when the :data:`COMPATIBILITY_KEYS` match,
the model-code hash (:func:`model.version.code_hash`, which covers the numeric package versions)
included; each per-seed record carries the code hash too, so seeds of two codes never share a
folder's tables.  Runs at posterior draws (``bth run --draws K``) add two keys: the posterior
file's sha256 and the draw ids used (absent, i.e. None, for runs at the calibrated point, whose
folders and files are as they were before draws existed); each run's record carries the sha256
too.

Tables of runs at posterior draws have a ``draw`` column (int) after ``seed``, and are sorted by
draw first; runs at the calibrated point have no ``draw`` column.

Importing this module is cheap (no pandas, no model): ``bth --help`` and the other light paths
import it; pandas and the model-code hash are imported when first used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

RUNS = "runs"  # sub-folder holding one file pair and its record per finished run
MANIFEST = "manifest.json"
REGIONS = "regions.parquet"
FLOWS = "flows.parquet"
LOCK = ".lock"
PLOTS = "plots.json"  # what the figures were drawn from (see plots_current)

REGION_COLUMNS = ["scenario", "seed", "year", "region", "metric", "value"]
FLOW_COLUMNS = ["scenario", "seed", "year", "origin", "destination", "contract_value_bn", "contracts"]
REGION_ORDER = ["seed", "year", "region", "metric"]  # row order of regions tables
FLOW_ORDER = ["seed", "year", "origin", "destination"]  # row order of flows tables
DRAW = "draw"  # the column of the posterior draw, in tables of runs at draws (after "seed")

# Settings that must match for runs to be mixed in one folder.  The last two are set only for runs
# at posterior draws (None, i.e. absent from the manifest, at the calibrated point).
COMPATIBILITY_KEYS = ("scenario_hash", "scale", "until", "stepping", "code_hash",
                      "posterior_sha256", "draws")
EXTRA_PACKAGES = ("pyarrow", "dask")  # recorded for information; they do not change numbers
FRESH_ADVICE = "rerun with --fresh to recompute, or use another --out"


class RunFolderConflict(ValueError):
    """A run folder holds results made with other settings (scenario hash, scale, until,
    stepping, model code), or is not a run folder at all."""


class RunFolderLocked(RunFolderConflict):
    """Another live process is writing the run folder (the message names it)."""


class StoreError(OSError):
    """A file of a run folder cannot be written or read (the message names it)."""


class MixedRunsError(ValueError):
    """Run folders made with different settings (scale, horizon, model code) were to be compared."""


class RunFolderError(ValueError):
    """A path is not a readable, finished run folder (the message names the path)."""


# ----------------------------------------------------------------- the model-code hash


def code_hash() -> str:
    """:func:`model.version.code_hash` (imported on first use: importing ``model`` loads Mesa)."""
    from model.version import code_hash as model_code_hash

    return model_code_hash()


def numeric_versions() -> dict[str, str]:
    """:func:`model.version.numeric_versions` (imported on first use)."""
    from model.version import numeric_versions as model_numeric_versions

    return model_numeric_versions()


# ----------------------------------------------------------------- tidy tables


def with_draw(columns: list[str]) -> list[str]:
    """``columns`` with :data:`DRAW` after ``seed`` (the columns of tables of runs at draws)."""
    i = columns.index("seed") + 1
    return columns[:i] + [DRAW] + columns[i:]


def tidy_regions(df: pd.DataFrame) -> pd.DataFrame:
    """Columns in contract order, dtypes fixed, rows sorted by seed, year, region, metric (by
    draw first, with a ``draw`` column after ``seed``, for runs at posterior draws)."""
    drawn = DRAW in df.columns
    dtypes = {"scenario": str, "seed": "int64", "year": "int64", "region": str, "metric": str,
              "value": "float64"}
    if drawn:
        dtypes[DRAW] = "int64"
    df = df[with_draw(REGION_COLUMNS) if drawn else REGION_COLUMNS].astype(dtypes)
    order = [DRAW] + REGION_ORDER if drawn else REGION_ORDER
    return df.sort_values(order, kind="mergesort").reset_index(drop=True)


def tidy_flows(df: pd.DataFrame) -> pd.DataFrame:
    """Columns in contract order, dtypes fixed, rows sorted by seed, year, origin, destination
    (by draw first, with a ``draw`` column after ``seed``, for runs at posterior draws)."""
    drawn = DRAW in df.columns
    dtypes = {"scenario": str, "seed": "int64", "year": "int64", "origin": str, "destination": str,
              "contract_value_bn": "float64", "contracts": "float64"}
    if drawn:
        dtypes[DRAW] = "int64"
    df = df[with_draw(FLOW_COLUMNS) if drawn else FLOW_COLUMNS].astype(dtypes)
    order = [DRAW] + FLOW_ORDER if drawn else FLOW_ORDER
    return df.sort_values(order, kind="mergesort").reset_index(drop=True)


# ----------------------------------------------------------------- atomic writes


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _atomic(path: Path, write) -> None:
    """Call ``write(tmp)`` then move ``tmp`` onto ``path``; ``tmp`` is removed on any error."""
    tmp = _temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, write) -> None:
    """Call ``write(tmp)`` with a temporary path in the same folder, then move it onto ``path``
    (a killed process leaves the old file or the new one, never half a file)."""
    _atomic(Path(path), write)


def write_text(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` atomically."""
    _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(obj: Any, path: Path) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", path)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def remove_temporaries(run_dir: Path) -> None:
    """Remove temporary files left by a killed writer (call only while holding the folder's lock)."""
    for folder in (run_dir, run_dir / RUNS):
        for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
            tmp.unlink(missing_ok=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def describe_os_error(err: OSError) -> str:
    """One line for an I/O error: where (the file name, if known) and what."""
    what = err.strerror or str(err) or type(err).__name__
    if isinstance(err, StoreError) or not err.filename:
        return str(err).splitlines()[0] if str(err) else what
    where = err.filename if not err.filename2 else f"{err.filename} -> {err.filename2}"
    return f"{where}: {what[0].lower() + what[1:]}"


# ----------------------------------------------------------------- one run (scenario, seed)
#
# A run is identified by its seed, and for runs at a posterior draw by (draw, seed): every
# function below takes ``draw=None`` (the calibrated point: ``seed-NNNN`` files, as before draws
# existed) or the draw id (``draw-DDDD-seed-NNNN`` files).  ``posterior`` is the sha256 of the
# posterior file of runs at draws: recorded with the run, and checked when it is read.


def run_stem(seed: int, draw: int | None = None) -> str:
    """The file stem of a run: ``seed-0007``, or ``draw-0012-seed-0007`` at posterior draw 12."""
    return f"seed-{seed:04d}" if draw is None else f"draw-{draw:04d}-seed-{seed:04d}"


def run_name(seed: int, draw: int | None = None) -> str:
    """How messages name a run: ``seed 7``, or ``draw 12 seed 7``."""
    return f"seed {seed}" if draw is None else f"draw {draw} seed {seed}"


def run_paths(run_dir: Path, seed: int, draw: int | None = None) -> tuple[Path, Path]:
    """(regions, flows) file paths of the run with ``seed`` (at ``draw``)."""
    stem = run_dir / RUNS / run_stem(seed, draw)
    return stem.with_name(stem.name + ".regions.parquet"), stem.with_name(stem.name + ".flows.parquet")


def record_path(run_dir: Path, seed: int, draw: int | None = None) -> Path:
    """The record of the run with ``seed`` (at ``draw``): code hash and sha256 of its two files."""
    return run_dir / RUNS / f"{run_stem(seed, draw)}.json"


def error_path(run_dir: Path, seed: int, draw: int | None = None) -> Path:
    """Where the traceback of a failed run with ``seed`` (at ``draw``) is saved."""
    return run_dir / RUNS / f"{run_stem(seed, draw)}.error.txt"


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _write_bytes(data: bytes, path: Path) -> None:
    _atomic(path, lambda tmp: tmp.write_bytes(data))


def save_run(run_dir: Path, seed: int, regions: pd.DataFrame, flows: pd.DataFrame,
             draw: int | None = None, posterior: str | None = None) -> None:
    """Store one finished run: both files, then (last) the record with their sha256 (and, for a
    run at ``draw``, the draw and the ``posterior`` file's sha256)."""
    paths = run_paths(run_dir, seed, draw)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    record = record_path(run_dir, seed, draw)
    record.unlink(missing_ok=True)  # the old record no longer describes them
    files = {}
    for df, path in zip((tidy_regions(regions), tidy_flows(flows)), paths):
        data = _parquet_bytes(df)
        _write_bytes(data, path)
        files[path.name] = sha256(data)
    info: dict[str, Any] = {"seed": seed}
    if draw is not None:
        info.update(draw=draw, posterior_sha256=posterior)
    write_json({**info, "code_hash": code_hash(), "files": files}, record)
    error_path(run_dir, seed, draw).unlink(missing_ok=True)


def save_error(run_dir: Path, seed: int, text: str, draw: int | None = None) -> Path:
    """Store the traceback of a failed run; returns the file written."""
    path = error_path(run_dir, seed, draw)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(text, path)
    return path


def run_problem(run_dir: Path, seed: int, draw: int | None = None,
                posterior: str | None = None) -> str | None:
    """Why the stored run with ``seed`` (at ``draw`` of the posterior of sha256 ``posterior``)
    cannot be used (None if it can).

    "" if nothing of it is stored (it was never run, or it failed); otherwise a message naming the
    file: missing, truncated or altered (checksum mismatch), no record, another model code, or
    (at a draw) another posterior file."""
    return _read_run(run_dir, seed, draw, posterior)[1]


def _read_run(run_dir: Path, seed: int, draw: int | None = None, posterior: str | None = None
              ) -> tuple[list[bytes] | None, str | None]:
    """``(bytes of the two files, None)`` of the stored run with ``seed`` (at ``draw``) if they
    match its record, else ``(None, why not)`` (as :func:`run_problem` says it).  Each file is
    read once: the bytes checked are the bytes returned."""
    record = record_path(run_dir, seed, draw)
    paths = run_paths(run_dir, seed, draw)
    rel = lambda p: f"{RUNS}/{p.name}"  # noqa: E731 - short name for messages
    if not record.exists():
        present = [p for p in paths if p.exists()]
        return None, f"{rel(present[0])}: no checksum record" if present else ""
    try:
        info = read_json(record)
        files = info["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None, f"{rel(record)}: unreadable"
    if info.get("code_hash") != code_hash():
        return None, f"{rel(record)}: made by model code {info.get('code_hash')}, this is {code_hash()}"
    if draw is not None and (info.get("draw") != draw or info.get("posterior_sha256") != posterior):
        return None, (f"{rel(record)}: made from posterior {info.get('posterior_sha256')} draw "
                      f"{info.get('draw')}, this is posterior {posterior} draw {draw}")
    contents = []
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None, f"{rel(path)}: missing"
        if sha256(data) != files.get(path.name):
            return None, f"{rel(path)}: checksum mismatch"
        contents.append(data)
    return contents, None


def is_done(run_dir: Path, seed: int, draw: int | None = None, posterior: str | None = None) -> bool:
    """Whether the run with ``seed`` (at ``draw``) finished and both files match its record."""
    return run_problem(run_dir, seed, draw, posterior) is None


def load_run(run_dir: Path, seed: int, draw: int | None = None, posterior: str | None = None
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(regions, flows) of one stored run, parsed from the bytes verified against its record.

    Raises :class:`StoreError` naming the file if it is missing or does not match."""
    contents, problem = _read_run(run_dir, seed, draw, posterior)
    if contents is None:
        raise StoreError(f"{run_dir}/{problem or f'{RUNS}: {run_name(seed, draw)} not stored'}")
    import pandas as pd

    regions, flows = (pd.read_parquet(io.BytesIO(data)) for data in contents)
    return regions, flows


def combine_runs(run_dir: Path, seeds: list[int] | list[tuple[int, int]],
                 posterior: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(regions, flows) of the stored, verified runs with ``seeds`` (or ``(draw, seed)`` pairs
    of runs at draws of the posterior of sha256 ``posterior``), concatenated and sorted."""
    import pandas as pd

    keys = [(None, s) if isinstance(s, int) else s for s in seeds]
    pairs = [load_run(run_dir, seed, draw, posterior) for draw, seed in keys]
    regions = pd.concat([r for r, _ in pairs], ignore_index=True)
    flows = pd.concat([f for _, f in pairs], ignore_index=True)
    return tidy_regions(regions), tidy_flows(flows)


def write_tables(run_dir: Path, regions: pd.DataFrame, flows: pd.DataFrame) -> dict[str, str]:
    """Write the combined tables of a run folder atomically; returns ``{file name: sha256}``
    (to be recorded in the manifest's ``tables``)."""
    out = {}
    for df, name in ((tidy_regions(regions), REGIONS), (tidy_flows(flows), FLOWS)):
        data = _parquet_bytes(df)
        _write_bytes(data, run_dir / name)
        out[name] = sha256(data)
    return out


def read_tables(run_dir: Path, recorded: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(regions, flows): the combined tables of ``run_dir`` if both files match the sha256
    ``recorded`` for them (a manifest's ``tables["sha256"]``), else None (a file missing,
    altered or not recorded).  Lets a resumed no-op use the tables in place of combining the
    stored runs again and rewriting them."""
    import pandas as pd

    contents = []
    for name in (REGIONS, FLOWS):
        try:
            data = (run_dir / name).read_bytes()
        except FileNotFoundError:
            return None
        if name not in recorded or sha256(data) != recorded[name]:
            return None
        contents.append(data)
    regions, flows = (pd.read_parquet(io.BytesIO(data)) for data in contents)
    return tidy_regions(regions), tidy_flows(flows)


def discard(run_dir: Path) -> None:
    """Remove a run folder's stored runs, combined tables and (last) its manifest (``--fresh``)."""
    if (run_dir / RUNS).exists():
        shutil.rmtree(run_dir / RUNS)
    for name in (PLOTS, REGIONS, FLOWS, MANIFEST):
        (run_dir / name).unlink(missing_ok=True)


# ----------------------------------------------------------------- figures of a run folder

# The files the figures of a run folder depend on, besides its combined tables.
PLOT_SOURCES = ("experiments/plots.py", "experiments/outcomes.py", "model/metrics.py",
                "model/regions.py")


def plot_inputs(run_dir: Path) -> dict[str, str]:
    """What the figures of ``run_dir`` are drawn from: the sha256 of its combined tables (the
    files as they are) and of the plotting code (:data:`PLOT_SOURCES` and matplotlib's version).
    Missing files count as ``"missing"``."""
    root = Path(__file__).resolve().parent.parent
    inputs = {}
    for name in (REGIONS, FLOWS):
        try:
            inputs[name] = sha256((Path(run_dir) / name).read_bytes())
        except FileNotFoundError:
            inputs[name] = "missing"
    code = hashlib.sha256()
    for source in PLOT_SOURCES:
        path = root / source
        code.update(source.encode() + (path.read_bytes() if path.is_file() else b"missing"))
    try:
        code.update(metadata.version("matplotlib").encode())
    except metadata.PackageNotFoundError:
        pass
    inputs["code"] = code.hexdigest()[:16]
    return inputs


def plots_current(run_dir: Path) -> bool:
    """Whether the figures of ``run_dir`` were drawn from its present tables by the present
    plotting code and are all there (``plots.json`` says which; see :func:`record_plots`)."""
    run_dir = Path(run_dir)
    try:
        record = read_json(run_dir / PLOTS)
        files = record["files"]
        current = record["inputs"] == plot_inputs(run_dir)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(current and files
                and all(isinstance(f, str) and (run_dir / f).is_file() and (run_dir / f).stat().st_size
                        for f in files))


def record_plots(run_dir: Path, inputs: dict[str, str], files: list[str]) -> None:
    """Write ``plots.json``: the figures ``files`` of ``run_dir`` were drawn from ``inputs``
    (:func:`plot_inputs`, taken before drawing).  Written last, after the figures."""
    write_json({"inputs": inputs, "files": sorted(files)}, Path(run_dir) / PLOTS)


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


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds a finished run's combined tables."""
    return (Path(path) / REGIONS).is_file()


def open_run(path: str | Path) -> RunFolder:
    """The one reader of a run folder: combined tables and manifest of ``path``.

    The tables are checked against the sha256 the manifest records for them (if it does).
    Raises :class:`RunFolderError` (one line naming the path) if it is not a finished run folder
    or a file cannot be read or does not match."""
    import pandas as pd

    path = Path(path)
    if not path.is_dir():
        raise RunFolderError(f"{path}: no such folder")
    if not is_run_folder(path):
        raise RunFolderError(f"{path}: no {REGIONS} (not a finished run folder; run 'bth run' first)")
    try:
        manifest = read_json(path / MANIFEST) if (path / MANIFEST).exists() else {}
        recorded = (manifest.get("tables") or {}).get("sha256") or {}
        tables = []
        for name in (REGIONS, FLOWS):
            data = (path / name).read_bytes()
            if name in recorded and sha256(data) != recorded[name]:
                raise RunFolderError(f"{path / name}: checksum mismatch with {MANIFEST} "
                                     "(rerun the same 'bth run' command to rebuild it)")
            tables.append(pd.read_parquet(io.BytesIO(data)))
    except (OSError, ValueError, AttributeError) as err:
        if isinstance(err, RunFolderError):
            raise
        first = str(err).splitlines()[0] if str(err) else ""
        raise RunFolderError(f"{path}: unreadable ({type(err).__name__}: {first})") from None
    return RunFolder(path, tables[0], tables[1], manifest)


# ----------------------------------------------------------------- manifest


def check_compatible(run_dir: Path, settings: dict[str, Any]) -> None:
    """Raise :class:`RunFolderConflict` if ``run_dir`` holds results made with other settings.

    ``settings`` holds the :data:`COMPATIBILITY_KEYS` (and ``packages``, named when the code
    hash differs).  A missing or empty folder is fine (a lone lock file counts as empty); a
    non-empty folder without a manifest is refused too (it is not ours to mix into)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderConflict(f"{run_dir} is a file, not a folder; use another --out")
    if not run_dir.exists() or not [p for p in run_dir.iterdir() if p.name != LOCK]:
        return
    manifest_path = run_dir / MANIFEST
    if not manifest_path.exists():
        raise RunFolderConflict(f"{run_dir} exists but has no {MANIFEST} (not a run folder); "
                                f"use another --out, or delete {run_dir}")
    try:
        old = read_json(manifest_path)
        if not isinstance(old, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise RunFolderConflict(f"{manifest_path}: unreadable ({first}); {FRESH_ADVICE}") from None
    differences = [
        f"{key} {_brief(old.get(key))} there, {_brief(settings.get(key))} now"
        for key in COMPATIBILITY_KEYS
        if key != "code_hash" and old.get(key) != settings.get(key)
    ]
    if old.get("code_hash") != settings["code_hash"]:
        also = f" (and {'; '.join(differences)})" if differences else ""
        raise RunFolderConflict(_code_difference(run_dir, old, settings, also))
    if differences:
        raise RunFolderConflict(
            f"{run_dir} holds runs made with other settings ({'; '.join(differences)}); "
            f"refusing to mix them; {FRESH_ADVICE}"
        )


def _brief(value: Any) -> str:
    """A setting as a message shows it: a long list of draw ids shortened."""
    if isinstance(value, list) and len(value) > 6:
        return f"[{', '.join(map(str, value[:5]))}, ... ({len(value)} in all)]"
    return repr(value)


def _code_difference(run_dir: Path, old: dict[str, Any], settings: dict[str, Any], also: str) -> str:
    """One line: the folder's model code (and differing package versions) against this one's."""
    theirs, mine = old.get("packages") or {}, settings.get("packages") or {}
    differ = [name for name in numeric_versions()
              if name in theirs and name in mine and theirs[name] != mine[name]]

    def versions(packages: dict[str, Any]) -> str:
        return f" ({', '.join(f'{n} {packages[n]}' for n in differ)})" if differ else ""

    there = (f"model code {old['code_hash']}" if old.get("code_hash")
             else "model code of unknown hash (made before code hashes were recorded)")
    return (f"{run_dir} holds runs of {there}{versions(theirs)}{also}; this is code "
            f"{settings['code_hash']}{versions(mine)}: refusing to mix them; {FRESH_ADVICE}")


@lru_cache(maxsize=1)
def git_commit() -> str:
    """``git describe --always --dirty`` of the source tree, else the installed package version
    (where the code came from; what it computes is identified by :func:`code_hash`)."""
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
    """Versions of the packages that can change numbers (and Python's), plus pyarrow and dask."""
    return dict(_package_versions())


@lru_cache(maxsize=1)
def _package_versions() -> dict[str, str]:
    versions = dict(numeric_versions())
    for name in EXTRA_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
