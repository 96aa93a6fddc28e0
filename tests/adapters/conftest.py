"""pytest setup for the adapter tests.

MACE cannot be installed next to the other families (e3nn pin), so tests
marked ``mace`` run only in the MACE environment; in any other environment
they are deselected here and ``test_mace_environment.py`` runs them in
``.venv-mace`` instead (and fails if that environment is missing).
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


def pytest_collection_modifyitems(config, items):
    if importlib.util.find_spec("mace") is not None:
        return
    kept = [item for item in items if item.get_closest_marker("mace") is None]
    deselected = [item for item in items if item.get_closest_marker("mace") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
