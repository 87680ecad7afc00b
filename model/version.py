"""The model-code hash, defined once: what identifies the code that produced a number.

``code_hash()`` hashes the model's sources and data (``model/*.py``, the compiled kernels' source
``model/kernels.pyx``, ``model/data/*``) and the
versions of the packages that change the numbers (numpy and Mesa define the random streams; SciPy
gives the normal CDF; pandas builds the tables).  Two runs with the same scenario, seed, scale,
horizon and code hash give bit-identical tables.  Run folders and the calibration record it.
"""

from __future__ import annotations

import hashlib
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent
NUMERIC_PACKAGES = ("numpy", "mesa", "scipy", "pandas")  # packages whose versions can change outputs


class KernelBuildError(ImportError):
    """The compiled kernels (``model/kernels.pyx``) are missing or do not match their source or
    the installed numpy (raised by ``model/compiled.py``; the CLI prints it in one line)."""


def numeric_versions() -> dict[str, str]:
    """Versions of the packages that can change the numbers, plus Python's."""
    out = {}
    for name in NUMERIC_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[name] = "not installed"
    out["python"] = sys.version.split()[0]
    return out


@lru_cache(maxsize=1)
def code_hash() -> str:
    """sha256 (first 16 hex digits) of the model's sources, data and numeric package versions."""
    h = hashlib.sha256()
    files = sorted(list(MODEL_DIR.glob("*.py")) + list(MODEL_DIR.glob("*.pyx")) + list((MODEL_DIR / "data").glob("*")))
    for f in files:
        if f.is_file():
            h.update(f.relative_to(MODEL_DIR.parent).as_posix().encode())
            h.update(f.read_bytes())
    for name, version in sorted(numeric_versions().items()):
        if name != "python":
            h.update(f"{name}=={version}".encode())
    return h.hexdigest()[:16]
