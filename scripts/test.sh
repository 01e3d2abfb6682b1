#!/usr/bin/env bash
# The test command: install (if needed), then the default test suite (slow benchmarks excluded:
# run them with `bash scripts/test.sh -m slow`). Real-data tests read ../shared/data
# (or $LMREC_SHARED_DATA) and skip with the reason when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
args=("$@")
if [ ${#args[@]} -eq 0 ]; then args=(-m "not slow"); fi
# -rs: every skip and its reason in the summary, so a test that never runs here is seen
exec .venv/bin/python -m pytest -rs "${args[@]}"
