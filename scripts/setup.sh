#!/usr/bin/env bash
# Creates .venv with Python >= 3.12 (Mesa 3.5.1 needs it) and installs the project with the
# pinned package set in constraints.txt.  Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  local cand
  for cand in python3.13 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  # pyenv installs that are not the global default
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  for cand in "$root"/versions/3.13*/bin/python3 "$root"/versions/3.12*/bin/python3; do
    if [ -x "$cand" ]; then echo "$cand"; return 0; fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  PY=$(find_python) || { echo "error: Python >= 3.12 not found (Mesa 3.5.1 needs it)" >&2; exit 1; }
  echo "setting up .venv with $PY" >&2
  "$PY" -m venv .venv
fi
# (the kernels' source is in the stamp: a changed model/kernels.pyx is compiled again)
stamp=.venv/.installed-$(cat pyproject.toml setup.py constraints.txt model/kernels.pyx | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >&2
  # The compiled kernels link numpy's C random distributions: build them against the pinned numpy
  # itself (no build isolation), so the build tools are installed first.
  # (hatchling: the build backend of solara-assets, which is built from its sdist on some machines)
  .venv/bin/python -m pip install -q -c constraints.txt numpy Cython setuptools hatchling >&2
  .venv/bin/python -m pip install -q -c constraints.txt --no-build-isolation -e ".[test]" >&2
  rm -f .venv/.installed-*; touch "$stamp"
fi
