#!/usr/bin/env bash
# The main job: set up, run every shipped scenario as an ensemble over 20 posterior draws x 2 seeds
# (calibration/posterior.parquet; the same draws and seeds in every scenario), then compare them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/bth run scenarios/*.toml --draws 20 --seeds 2 --out results "$@"
.venv/bin/bth compare $(for f in scenarios/*.toml; do n=${f##*/}; echo "results/${n%.toml}"; done) --out results/comparison --force  # the shipped scenarios only; the main job owns results/comparison
echo "report: results/comparison/report.html"
