#!/usr/bin/env bash
# Create .venv and install lmrec with pinned dependencies (constraints.txt pins torch==2.13.0, the local
# CPU wheel, so no CUDA packages are ever pulled). Idempotent: reinstalls only when the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "lmrec setup: creating .venv with $($PY --version)" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.lmrec-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "lmrec setup: installing dependencies (pinned in constraints.txt)" >&2
  # the machine's pip config lists local indexes that may not exist: drop only those warnings
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,lm,serve,bench,rank,report,browser,distributed,tune,rating]" 2>&1 \
    | { grep -v "^WARNING: Location 'file:" || true; }
  echo "$want" > "$stamp"
fi
