"""Shared fixtures of the κ tests: phono3py's Si-PBEsol example, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SI_PBESOL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / \
    "phono3py-examples" / "Si-PBEsol"


@pytest.fixture(scope="session")
def si_phono3py():
    """A loader: ``load(mesh, sigma, adw)`` → a phono3py object of Si-PBEsol (symfc FCs)
    with its interaction initialised and phonons solved on the mesh."""
    phono3py = pytest.importorskip("phono3py")
    if not SI_PBESOL.exists():
        pytest.skip(f"{SI_PBESOL} not found")
    base = phono3py.load(str(SI_PBESOL / "phono3py_disp.yaml"),
                         forces_fc3_filename=str(SI_PBESOL / "FORCES_FC3"), log_level=0)
    fc2, fc3 = np.asarray(base.fc2), np.asarray(base.fc3)

    def load(mesh=(5, 5, 5), sigma=None, adw=True):
        ph = phono3py.load(str(SI_PBESOL / "phono3py_disp.yaml"), produce_fc=False,
                           log_level=0)
        ph.fc2, ph.fc3 = fc2, fc3
        ph.mesh_numbers = list(mesh)
        ph.sigmas = [sigma]
        ph.init_phph_interaction(average_degenerate_weights=adw)
        ph.run_phonon_solver()
        return ph

    return load


@pytest.fixture(scope="session")
def si_cells(si_phono3py):
    """phonjax ``FC3Cells`` of the Si-PBEsol example (the same supercell and primitive)."""
    from phonjax.anharmonic.fc3 import fc3_cells
    from phonjax.structure.crystal import Crystal

    ph = si_phono3py()
    u = ph.unitcell
    unit = Crystal(np.array(u.cell), np.array(u.scaled_positions), np.array(u.numbers),
                   np.array(u.masses))
    return fc3_cells(unit, ph.supercell_matrix, ph.primitive_matrix)


@pytest.fixture(autouse=True)
def _float64():
    """Every κ test runs JAX in float64, as phonjax's own entry points do."""
    import jax

    with jax.enable_x64(True):
        yield
