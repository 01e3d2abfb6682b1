#!/usr/bin/env bash
# The main job: install (if needed), then MovieLens-100K -> cleaning -> P1 split -> models tuned on
# validation -> leaderboard (terminal) + results in runs/quickstart/.
# Data: downloaded from GroupLens (sha256-checked, cached) unless LMREC_DATA_HOME points at a folder
# holding ml-100k/ (or ml-100k.zip), e.g. LMREC_DATA_HOME=../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/lmrec run examples/quickstart.yaml "$@"
