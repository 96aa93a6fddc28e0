"""pytest setup for the adapter tests.

MACE cannot be installed next to the other families (e3nn pin), so tests
marked ``mace`` run only in the MACE environment; in any other environment
they are deselected here and ``test_mace_environment.py`` runs them in
``.venv-mace`` instead (skipped when that environment was not built).
A family's tests are skipped, with the reason, when its package is not
installed: ``make bench``/``make test`` install CHGNet only, ``make models`` the rest.
Torch runs with one thread unless PHONJAX_TEST_TORCH_THREADS says otherwise.
"""

from __future__ import annotations

import importlib.util
import os


def pytest_configure(config):
    # One torch thread by default: on a small shared machine, oversubscribed intra-op
    # threads made these tests 10-50x slower. PHONJAX_TEST_TORCH_THREADS overrides it.
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(int(os.environ.get("PHONJAX_TEST_TORCH_THREADS", "1")))


# test file → the package it needs (module name, PyPI name)
_NEEDS = {
    "test_chgnet.py": ("chgnet", "chgnet"),
    "test_ase_calculator.py": ("chgnet", "chgnet"),
    "test_sevennet.py": ("sevenn", "sevenn"),
    "test_m3gnet.py": ("matgl", "matgl"),
    "test_mattersim.py": ("mattersim", "mattersim"),
    "test_orb.py": ("orb_models", "orb-models"),
    "test_fairchem.py": ("fairchem.core", "fairchem-core"),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # parent package missing
        return False


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        need = _NEEDS.get(item.path.name)
        if need and not _installed(need[0]):
            item.add_marker(pytest.mark.skip(
                reason=f"{need[1]} not installed: `make models` (scripts/install-models.sh) adds it"))
    if importlib.util.find_spec("mace") is not None:
        return
    kept = [item for item in items if item.get_closest_marker("mace") is None]
    deselected = [item for item in items if item.get_closest_marker("mace") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
