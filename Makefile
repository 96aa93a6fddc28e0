# The README's commands. `setup` creates/updates .venv (idempotent): phonjax, tests, bench and
# CHGNet, all that `bench` and `test` need. `models` adds the other uMLIP families on demand.
.PHONY: setup bench test test-all models

setup:
	bash scripts/setup.sh

bench: setup
	.venv/bin/python -m phonjax bench

test: setup
	.venv/bin/python -m pytest -q --durations=25

test-all: setup
	.venv/bin/python -m pytest -q -m ""

# SevenNet, M3GNet (matgl), ORB, MatterSim and fairchem into .venv; MACE into .venv-mace
# (mace-torch pins e3nn 0.4.4, which the others cannot share). See README "Models".
models: setup
	bash scripts/install-models.sh .venv
	bash scripts/install-models.sh $${MACE_VENV:-.venv-mace} --mace
