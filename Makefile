# The two commands of the README. Both create/update .venv first (idempotent).
.PHONY: setup bench test test-all

setup:
	bash scripts/setup.sh

bench: setup
	.venv/bin/python -m phonjax bench

test: setup
	.venv/bin/python -m pytest -q

test-all: setup
	.venv/bin/python -m pytest -q -m ""
