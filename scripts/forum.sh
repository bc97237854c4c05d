#!/usr/bin/env bash
# The main job: set up, then train the forum's AR(1) task (x[t]**2 + 0.1*x[t-1]**2) with lagnet's
# defaults under a 60 s budget, evaluate on held-out paths and write runs/ar1/report.html.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/venv.sh
exec .venv/bin/lagnet train examples/ar1.toml --out runs/ar1 "$@"
