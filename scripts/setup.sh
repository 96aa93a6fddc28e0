#!/usr/bin/env bash
# Create (or update) the project environment in .venv: phonjax, its test and bench
# dependencies, and the uMLIP families that share one environment (CPU torch 2.13.0).
# Idempotent: a second run with unchanged requirements returns in a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=${VENV:-.venv}
stamp="$VENV/.phonjax-setup"
want=$(cat pyproject.toml constraints.txt scripts/setup.sh scripts/install-models.sh 2>/dev/null | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/pip"
"$PIP" install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
# the CPU torch wheel first, pinned, so no resolver ever swaps in a CUDA build
"$PIP" install -q -c constraints.txt "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
"$PIP" install -q -c constraints.txt -e ".[test,bench]" 2>&1 | grep -v "^WARNING: Location" || true
if [ -f scripts/install-models.sh ]; then
  bash scripts/install-models.sh "$VENV"
  # MACE pins e3nn 0.4.4: its own environment, used by tests/adapters/test_mace_environment.py
  bash scripts/install-models.sh "${MACE_VENV:-.venv-mace}" --mace
fi
echo "$want" > "$stamp"
