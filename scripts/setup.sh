#!/usr/bin/env bash
# Create (or update) the project environment in .venv ($VENV): phonjax, its test and bench
# dependencies, and CHGNet (CPU torch 2.13.0), which is what `make bench` (CHGNet 0.3.0,
# weights inside the wheel) and `make test` need. The other model families are built on
# demand: `make models` (scripts/install-models.sh). Idempotent: a second run with
# unchanged requirements returns in a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=${VENV:-.venv}
stamp="$VENV/.phonjax-setup"
want=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() {
  # pip.conf names local indexes that may not exist; those warnings are noise.
  "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
  return "${PIPESTATUS[0]}"
}
pip install -q --upgrade pip
# the CPU torch wheel first, pinned, so no resolver ever swaps in a CUDA build
pip install -q -c constraints.txt "torch==2.13.0"
pip install -q -c constraints.txt -e ".[test,bench,chgnet]"
"$VENV/bin/python" -c "import torch, chgnet.model, phonjax; assert torch.version.cuda is None, 'CUDA torch'"
echo "$want" > "$stamp"
