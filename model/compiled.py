"""The compiled kernels (``model/kernels.pyx``), checked against their source and numpy.

``kernels`` is the extension module.  Importing this module fails with a one-line message if the
extension is missing, was compiled from a different ``kernels.pyx``, or against another numpy
(whose C random distributions it links): run ``bash scripts/setup.sh`` to rebuild it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from model.version import KernelBuildError

SOURCE = Path(__file__).resolve().parent / "kernels.pyx"
REBUILD = "run `bash scripts/setup.sh` (or `pip install --no-build-isolation -e .`) to rebuild it"

try:
    from model import kernels
except ImportError as exc:  # pragma: no cover - a broken install
    raise KernelBuildError(f"the model's compiled kernels (model/kernels.pyx) are not built: {REBUILD}") from exc

if SOURCE.exists() and hashlib.sha256(SOURCE.read_bytes()).hexdigest() != kernels.SOURCE_SHA:
    raise KernelBuildError(f"model/kernels.pyx changed since its kernels were compiled: {REBUILD}")
if kernels.NUMPY_VERSION != np.__version__:
    raise KernelBuildError(f"the model's kernels were compiled against numpy {kernels.NUMPY_VERSION}, "
                      f"numpy {np.__version__} is installed: {REBUILD}")

__all__ = ["kernels"]
