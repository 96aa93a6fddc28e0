#!/usr/bin/env bash
# Install the uMLIP model families that phonjax's adapters drive, on CPU torch 2.13.0
# (`make models` runs both lines below; `make bench`/`make test` need neither).
#
#   scripts/install-models.sh VENV          phonjax + chgnet, sevenn, matgl, orb-models,
#                                           mattersim, fairchem-core (they share one env),
#                                           and nequix (JAX; --no-deps, see pyproject.toml)
#   scripts/install-models.sh VENV --mace   phonjax + mace-torch + pytest in their own env
#                                           (mace-torch pins e3nn 0.4.4, which breaks
#                                           sevenn, mattersim and fairchem)
#
# VENV is created if it does not exist (PYTHON picks the interpreter, default python3.11).
# Every pip call uses constraints.txt so that no resolver replaces the CPU torch wheel
# with a CUDA build. Idempotent: when nothing it depends on changed since the last
# successful run, it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/install-models.sh VENV [--mace]"
venv=${1:?$usage}
mode=shared
case "${2:-}" in
  "") ;;
  --mace) mode=mace ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
python="$venv/bin/python"
stamp="$venv/.phonjax-models-$mode"
want=$(cat pyproject.toml constraints.txt scripts/install-models.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

pip() {
  # pip.conf names local indexes that may not exist; those warnings are noise.
  "$python" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
  return "${PIPESTATUS[0]}"
}

pip install -q --upgrade pip
pip install -q -c constraints.txt "torch==2.13.0"   # the CPU wheel, before anything else
if [ "$mode" = mace ]; then
  pip install -q -c constraints.txt -e ".[test,mace]"
  imports="mace.calculators"
else
  pip install -q -c constraints.txt -e ".[chgnet,sevennet,m3gnet,orb,mattersim,fairchem,nequix]"
  # mattersim requires torchvision and torchaudio but never imports them; the builds pip
  # picks do not match torch 2.13.0+cpu and make `import torchmetrics` (matgl, mattersim) fail.
  pip uninstall -q -y torchvision torchaudio
  # nequix's wheel requires jax[cuda12]: its light dependencies came with the extra above,
  # the package itself goes in without dependencies (jax and jaxlib stay as they are).
  pip install -q -c constraints.txt --no-deps "nequix==0.4.5"
  imports="chgnet.model sevenn.calculator matgl mattersim.forcefield orb_models.forcefield fairchem.core nequix.calculator"
fi

"$python" - "$imports" <<'EOF'
import importlib
import sys

import torch

assert torch.__version__.startswith("2.13.0"), f"torch {torch.__version__}, expected 2.13.0"
assert torch.version.cuda is None, "a CUDA torch build got installed; reinstall torch==2.13.0 (CPU)"
for name in sys.argv[1].split():
    importlib.import_module(name)
print(f"model packages import fine with torch {torch.__version__}: {sys.argv[1]}")
EOF
echo "$want" > "$stamp"
