"""Runs the MACE adapter tests inside the separate MACE environment.

mace-torch pins e3nn 0.4.4, which breaks sevenn, mattersim and fairchem, so it
lives in its own venv (default ``.venv-mace`` at the project root,
``PHONJAX_MACE_VENV`` overrides it), built on demand by ``make models``. Without
that environment the test is skipped, saying how to build it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("mace") is not None,
    reason="this environment has mace-torch: test_mace.py runs here directly",
)
def test_mace_adapter_tests_pass_in_mace_environment():
    venv = Path(os.environ.get("PHONJAX_MACE_VENV", ROOT / ".venv-mace"))
    python = venv / "bin" / "python"
    if not python.exists():
        pytest.skip(
            f"no MACE environment at {venv}: build it with `make models` "
            f"(or scripts/install-models.sh {venv} --mace; or set PHONJAX_MACE_VENV)"
        )
    result = subprocess.run(
        [str(python), "-m", "pytest", "tests/adapters/test_mace.py", "-m", "mace", "-q", "-p", "no:warnings"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"MACE tests failed in {venv}:\n{report}"
    assert " passed" in result.stdout and " failed" not in result.stdout, report
