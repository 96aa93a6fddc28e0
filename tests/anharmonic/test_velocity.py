"""phonjax.anharmonic.velocity against phonopy 4.10 / phono3py 4.10, computed here.

* ∂D/∂q against phonopy's ``DerivativeOfDynamicalMatrix`` (the Rust kernel phono3py
  uses; Gonze–Lee NAC included) at Γ, next to Γ, on the BZ surface and at random q.
* Si (phono3py's Si-PBEsol example, 9³): ``group_velocities`` and ``gv_by_gv`` of
  phono3py's RTA run at every irreducible point; the velocity matrices of its ``SMM19``
  velocity solver (``VelocityMatrixSolver``: ``vm_by_vm``) and of ``VelocityMatrix``.
* NaCl with Gonze–Lee NAC (phonopy's example: FORCE_SETS + BORN; phono3py on its FC2
  with zero FC3, 8³, BZ-surface points included): phono3py's velocity solvers, and
  phonopy's ``GroupVelocity`` off the grid (Γ, near Γ, zone boundary).

Where a degenerate set's perturbation matrix is itself degenerate (high-symmetry lines),
the rotation inside the set is the eigensolver's free choice, in phono3py as here:
velocity-matrix elements are compared as sums over pairs of degenerate sets (what κ reads,
with Γ, f and C equal inside a set), single elements only at generic q. Tolerances:
measured differences are ≤ 4e-14 of the largest value (1e-15 for ∂D/∂q).
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from phonjax.anharmonic import velocity as V
from phonjax.anharmonic.fc3 import fc2_compact_to_full, fc3_cells
from phonjax.anharmonic.grid import bz_grid, ir_grid_points
from phonjax.harmonic.dynamical_matrix import mass_weighted_blocks, short_range_blocks
from phonjax.harmonic.system import phase_tables
from phonjax.structure.crystal import Crystal

pytest.importorskip("phono3py")
from phono3py.conductivity.velocity_solvers import (GroupVelocitySolver,  # noqa: E402
                                                    VelocityMatrixSolver)
from phono3py.phonon.velocity_matrix import VelocityMatrix  # noqa: E402
from phonopy.harmonic.derivative_dynmat import DerivativeOfDynamicalMatrix  # noqa: E402
from phonopy.phonon.degeneracy import degenerate_sets  # noqa: E402
from phonopy.phonon.group_velocity import GroupVelocity  # noqa: E402

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SI = DATA / "phono3py-examples" / "Si-PBEsol"
NACL = DATA / "phonopy-examples" / "NaCl"
REL = 1e-11  # of the largest |value|; measured ≤ 4e-14
Q_POINTS = np.array([[0, 0, 0], [1e-4, 2e-4, 0], [0.01, 0.02, 0], [0.5, 0.5, 0.5],
                     [0.5, 0.25, 0.75], [0.5, 0, 0.5], [0.12, -0.31, 0.44],
                     [-0.27, 0.05, 0.38]])


class Case:
    """phono3py's side (``pp``: its Interaction) and phonjax's inputs for one material."""

    def __init__(self, pp, mesh, blocks, phases, lattice, nac, crystal):
        self.pp, self.blocks, self.phases, self.lattice, self.nac = pp, blocks, phases, lattice, nac
        self.grid = bz_grid(crystal, mesh)
        self.bz_points = ir_grid_points(self.grid).bz_points
        assert np.array_equal(pp.bz_grid.addresses, self.grid.addresses)

    def frequencies(self, q):
        """phonopy's frequencies (THz) at reduced q, numpy's eigh as its velocity code."""
        dm = self.pp.dynamical_matrix
        dm.run(q)
        w = np.linalg.eigvalsh(dm.dynamical_matrix)
        return np.sqrt(np.abs(w)) * np.sign(w) * self.pp.frequency_factor_to_THz


@pytest.fixture(scope="module")
def si():
    import phono3py

    if not SI.is_dir():
        pytest.skip("phono3py's Si-PBEsol example not found")
    ph = phono3py.load(SI / "phono3py_disp.yaml", forces_fc3_filename=SI / "FORCES_FC3")
    ph.mesh_numbers = [9, 9, 9]
    ph.init_phph_interaction()
    ph.run_thermal_conductivity(temperatures=[300], write_kappa=False)
    u = ph.unitcell
    smat = (ph.supercell_matrix if ph.phonon_supercell_matrix is None
            else ph.phonon_supercell_matrix)
    cells = fc3_cells(Crystal(u.cell, u.scaled_positions, u.numbers, u.masses), smat,
                      ph.primitive_matrix)
    fc2 = ph.fc2 if ph.fc2.shape[0] == ph.fc2.shape[1] else fc2_compact_to_full(ph.fc2, cells)
    phases = phase_tables(cells.supercell, cells.primitive, cells.symprec)
    with jax.enable_x64(True):
        blocks = mass_weighted_blocks(jax.numpy.asarray(fc2), phases)
    case = Case(ph.phph_interaction, [9, 9, 9], blocks, phases,
                cells.primitive.crystal.lattice, None, cells.primitive.crystal)
    case.kappa = ph.thermal_conductivity
    return case


@pytest.fixture(scope="module")
def nacl():
    import phonopy
    from phono3py import Phono3py

    import phonjax

    if not NACL.is_dir():
        pytest.skip("phonopy's NaCl example not found")
    ph = phonopy.load(NACL / "phonopy_disp.yaml", force_sets_filename=NACL / "FORCE_SETS",
                      born_filename=NACL / "BORN", is_compact_fc=False)
    p3 = Phono3py(ph.unitcell, supercell_matrix=ph.supercell_matrix,
                  primitive_matrix=ph.primitive_matrix)
    dm = ph.dynamical_matrix  # its Born charges and ε are symmetrized, as phono3py.load's
    p3.nac_params = dict(ph.nac_params, born=dm.born, dielectric=dm.dielectric_constant)
    p3.fc2 = ph.force_constants
    p3.fc3 = np.zeros((len(ph.supercell),) * 3 + (3, 3, 3))
    p3.mesh_numbers = [8, 8, 8]
    p3.init_phph_interaction()
    system = phonjax.prepare(phonjax.read_input(NACL, nac=True), mesh=(1, 1, 1))
    tables = system.tables
    with jax.enable_x64(True):
        blocks = short_range_blocks(mass_weighted_blocks(
            jax.numpy.asarray(ph.force_constants), tables.phases), tables.phases, tables.nac)
    crystal = system.primitive.crystal
    return Case(p3.phph_interaction, [8, 8, 8], blocks, tables.phases, crystal.lattice,
                tables.nac, crystal)


def _assert_close(ours, theirs, what, rel=REL, floor=0.0):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    err = np.abs(ours - theirs).max()
    assert err <= rel * np.abs(theirs).max() + floor, (what, err, np.abs(theirs).max())


def _set_pair_sums(case, values):
    """Σ over s ∈ A, s′ ∈ B of values[q, s, s′, ...] for every pair of degenerate sets
    (A, B) at every q (phonopy's sets), flattened."""
    out = []
    for x, q in zip(values, case.grid.qpoints[case.bz_points]):
        sets = degenerate_sets(case.frequencies(q))
        out += [x[np.ix_(a, b)].sum(axis=(0, 1)) for a in sets for b in sets]
    return np.array(out)


def _vm_by_vm_reference(case):
    solver = VelocityMatrixSolver(case.pp)
    return np.array([solver.compute(int(g)).vm_by_vm for g in case.bz_points])


def _velocity_matrix_object(case):
    bz = case.pp.bz_grid
    return VelocityMatrix(case.pp.dynamical_matrix, rotations_cartesian=bz.rotations_cartesian,
                          reciprocal_operations=bz.reciprocal_operations,
                          frequency_factor_to_THz=case.pp.frequency_factor_to_THz)


@pytest.mark.parametrize("name", ["si", "nacl"])
def test_derivatives_match_phonopy(name, request):
    case = request.getfixturevalue(name)
    with jax.enable_x64(True):
        ours = np.asarray(V.dynamical_matrix_derivatives(Q_POINTS, case.blocks, case.phases,
                                                         case.lattice, case.nac))
    ddm = DerivativeOfDynamicalMatrix(case.pp.dynamical_matrix)
    assert ours.shape == (len(Q_POINTS), 3, 6, 6)
    for q, d in zip(Q_POINTS, ours):
        ddm.run(q)
        _assert_close(d, ddm.d_dynamical_matrix, f"dD/dq at {q}", rel=1e-12, floor=1e-14)


def test_si_group_velocities_match_phono3py_kappa(si):
    gv = V.group_velocities_on_grid(si.grid, si.bz_points, si.blocks, si.phases, si.lattice)
    _assert_close(gv, si.kappa.group_velocities, "group velocities")
    _assert_close(V.gv_by_gv_on_grid(si.grid, si.bz_points, gv, si.lattice),
                  si.kappa.gv_by_gv, "gv_by_gv")


@pytest.mark.parametrize("name", ["si", "nacl"])
def test_velocity_matrices_match_phono3py(name, request):
    case = request.getfixturevalue(name)
    vm = V.velocity_matrices_on_grid(case.grid, case.bz_points, case.blocks, case.phases,
                                     case.lattice, case.nac)
    q = case.grid.qpoints[case.bz_points]
    obj = _velocity_matrix_object(case)
    obj.run(q)
    # the diagonal: little-group-averaged group velocities, as phono3py leaves it
    _assert_close(np.einsum("qavv->qav", vm), np.einsum("qavv->qav", obj.velocity_matrices),
                  "velocity matrix diagonal")
    ours = V.vm_by_vm_on_grid(case.grid, case.bz_points, vm, case.lattice)
    theirs = _vm_by_vm_reference(case)
    _assert_close(_set_pair_sums(case, ours), _set_pair_sums(case, theirs),
                  "vm_by_vm summed over pairs of degenerate sets")
    # generic q (no degeneracy): every |V_ss′| (eigenvector phases drop out)
    generic = Q_POINTS[-2:]
    obj.run(generic)
    _assert_close(np.abs(V.velocity_matrices(generic, case.blocks, case.phases, case.lattice,
                                             case.pp.bz_grid.reciprocal_operations, case.nac)),
                  np.abs(obj.velocity_matrices), "|V| at generic q")


def test_nacl_group_velocities_match_phono3py_solver(nacl):
    solver = GroupVelocitySolver(nacl.pp)
    ref = [solver.compute(int(g)) for g in nacl.bz_points]
    surface = np.diff(nacl.grid.gp_map)[nacl.grid.bzg2grg[nacl.bz_points]] > 1
    assert surface.any()  # points with several BZ images are among them
    gv = V.group_velocities_on_grid(nacl.grid, nacl.bz_points, nacl.blocks, nacl.phases,
                                    nacl.lattice, nacl.nac)
    _assert_close(gv, np.array([r.group_velocities for r in ref]), "group velocities")
    _assert_close(V.gv_by_gv_on_grid(nacl.grid, nacl.bz_points, gv, nacl.lattice),
                  np.array([r.gv_by_gv for r in ref]), "gv_by_gv")


def test_nacl_group_velocities_match_phonopy_off_grid(nacl):
    """phonopy's GroupVelocity with the little-group average, at Γ (no NAC direction),
    next to Γ and on the zone boundary. At q = (1e-4, 2e-4, 0) the acoustic v = ⟨∂D⟩/2f
    divides the rounding of D by f ~ 1e-3 THz: both sides are noisy there (measured
    differences 1e-9 to 4e-9 of max |v|, changing from run to run of the same code)."""
    symmetry_ops = nacl.pp.bz_grid.reciprocal_operations
    gv = V.group_velocities(Q_POINTS, nacl.blocks, nacl.phases, nacl.lattice, symmetry_ops,
                            nacl.nac)
    ref = GroupVelocity(nacl.pp.dynamical_matrix, symmetry=nacl.pp.primitive_symmetry,
                        frequency_factor_to_THz=nacl.pp.frequency_factor_to_THz)
    ref.run(Q_POINTS)
    far = np.abs(Q_POINTS).max(axis=1) != 2e-4
    _assert_close(gv[far], ref.group_velocities[far], "group velocities")
    _assert_close(gv[~far], ref.group_velocities[~far], "group velocities at |q| = 1e-4",
                  rel=1e-6)
