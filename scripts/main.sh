#!/usr/bin/env bash
# The main job: set up, run every shipped scenario as a seed ensemble, then compare them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/bth run scenarios/*.toml --out results "$@"
.venv/bin/bth compare $(for f in scenarios/*.toml; do n=${f##*/}; echo "results/${n%.toml}"; done) --out results/comparison --force  # the shipped scenarios only; the main job owns results/comparison
echo "report: results/comparison/report.html"
