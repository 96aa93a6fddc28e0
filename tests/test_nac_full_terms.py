"""Gonze–Lee NAC with phonopy's full terms (``NACParams(with_full_terms=True)``) against
phonopy 4.10's ``DynamicalMatrixGL(..., with_full_terms=True)``, run here.

phonopy offers the full terms only through that class: its ``run(q, q_direction)`` (and
``BandStructure``, which calls it) adds the real-space Ewald sum and the limiting term to
the reciprocal one, on short-range force constants rebuilt with them. (Its batched
q-point routines, ``QpointsPhonon`` and the mesh, do not apply them consistently: they are
not the reference.) Both sides get phonopy's force constants, so that the NAC alone is
compared: phonopy's D(q) as its eigensolver reads it (the lower triangle: with full terms
D(q) need not be Hermitian, as in Al2O3) and the frequencies (≤ 1e-8 THz) at Γ along two
directions, Γ without one, a general q, a commensurate point and a band segment through Γ.
The solver is padded (a coarse fine ladder), so zero padding of the new tables is
exercised. The default (reciprocal-only) path is checked against phonopy's own default on
the same folder. One compile per case (~4 s on 2 cores): Al2O3 runs by default, NaCl and
MgO with ``-m slow``.
"""

from __future__ import annotations

import copy
import functools
import warnings

import numpy as np
import pytest

import phonjax
from phonjax.execution import stages
from phonjax.execution.modes import ModeSolver
from phonjax.execution.plan import default_plan
from phonjax.harmonic.nac import NACError, NACParams, nac_tables

from tests.conftest import EXAMPLES

REAL = 0.1  # THz: |ν| below is acoustic noise at Γ (as tests/test_nac.py)
QPOINTS = [(0.1, 0.2, 0.3), (0.5, 0.0, 0.5), (0.0, 0.0, 0.0)]  # general, commensurate, Γ
DIRECTIONS = [(1.0, 0.0, 0.0), (0.1, 0.3, 0.2)]  # of q → 0 at Γ, reduced
SEGMENT = np.array([[0.0, 0.0, 0.0], [0.125, 0.0, 0.125], [0.25, 0.0, 0.25], [0.5, 0.0, 0.5]])
PADDED = default_plan().replace(fine_ladder=(3, 13, 40))  # np 2 → 3, 10 → 13; nt 12 → 13, 32 → 40
FAST = ["Al2O3"]
CASES = FAST + [pytest.param(n, marks=pytest.mark.slow) for n in ("NaCl", "MgO")]


@functools.lru_cache(maxsize=None)
def _example(name: str):
    """(phonjax dataset with BORN, phonopy with force constants, phonopy's NAC parameters
    symmetrized as ``Phonopy`` does before its own dynamical matrix)."""
    import phonopy
    from phonopy.structure.symmetry import symmetrize_borns_and_epsilon

    folder = EXAMPLES / name
    if not folder.is_dir():
        pytest.skip("phonopy example folders not found")
    ds = phonjax.read_input(folder, nac=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.load(folder / "phonopy_disp.yaml", force_sets_filename=folder / "FORCE_SETS",
                          born_filename=folder / "BORN", produce_fc=False, is_compact_fc=False,
                          primitive_matrix=np.asarray(ds.primitive_matrix).tolist())
        ph.produce_force_constants()
        born, eps = symmetrize_borns_and_epsilon(ph.nac_params["born"], ph.nac_params["dielectric"],
                                                 ph.primitive, symprec=ph.symmetry.tolerance)
    return ds, ph, {**ph.nac_params, "born": born, "dielectric": eps}


def _phonopy_full(ph, params):
    from phonopy.harmonic.dynamical_matrix import DynamicalMatrixGL

    return DynamicalMatrixGL(ph.supercell, ph.primitive, ph.force_constants, nac_params=params,
                             with_full_terms=True)


def _thz(eigenvalues):
    from phonopy.physical_units import get_physical_units

    return np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * get_physical_units().DefaultToTHz


def _as_solved(d):
    """phonopy's D as its eigensolver (NumPy's eigh, phonors) reads it: the lower triangle."""
    low = np.tril(d, -1)
    return low + low.conj().T + np.diag(d.diagonal().real)


def _solver(ds, ph, full: bool) -> ModeSolver:
    ds = copy.copy(ds)  # the cached one stays as read
    ds.nac = ds.nac.replace(with_full_terms=full)
    system = phonjax.prepare(ds, mesh=(1, 1, 1))
    assert (system.tables.nac.full_terms is not None) == full
    return ModeSolver.build(system.tables, ph.force_constants, PADDED, q_chunk=8)


def _matrices(solver: ModeSolver, q, direction):
    """D(q) (n_q, 3n_p, 3n_p) of the solver's compiled chunk (the one ``at`` solves)."""
    import jax

    padded = np.zeros((solver.q_chunk, 3))
    padded[:len(q)] = q
    with jax.enable_x64(True):
        d = stages.chunk_matrices_jit(padded, solver.blocks, solver.phases, solver.nac,
                                      np.zeros(3) if direction is None else np.asarray(direction),
                                      solver.n_modes)
    return np.asarray(d)[:len(q)]


def _compare(solver: ModeSolver, dm, errors: dict) -> dict:
    """Largest |Δν| (THz, |ν| ≥ REAL) and |ΔD|/max|D| over the q-points, directions and the
    band segment; the frequencies per case, to compare two paths."""
    from phonopy.phonon.band_structure import BandStructure

    cases = [(q, None) for q in QPOINTS] + [((0.0, 0.0, 0.0), d) for d in DIRECTIONS]
    freqs = {}
    for q, d in cases:
        dm.run(q, d)
        theirs = _as_solved(dm.dynamical_matrix)
        ours_d = _matrices(solver, [q], d)[0]
        errors["D"] = max(errors["D"], np.abs(ours_d - theirs).max() / np.abs(theirs).max())
        ref = _thz(np.linalg.eigvalsh(theirs))
        ours = solver.at([q], q_direction=d)[0][0]
        errors["nu"] = max(errors["nu"], np.abs(ours - ref)[np.abs(ref) >= REAL].max())
        freqs[(q, d)] = ours
    band = BandStructure([SEGMENT], dm)
    (ours, _), = solver.along([SEGMENT])
    ref = band.frequencies[0]
    errors["nu"] = max(errors["nu"], np.abs(ours - ref)[np.abs(ref) >= REAL].max())
    freqs["band"] = ours
    return freqs


@pytest.mark.parametrize("name", CASES)
def test_full_terms_match_phonopy(name):
    ds, ph, params = _example(name)
    full = _solver(ds, ph, True)
    errors = {"D": 0.0, "nu": 0.0}
    ours = _compare(full, _phonopy_full(ph, params), errors)
    assert errors["nu"] <= 1e-8, errors
    assert errors["D"] <= 1e-12, errors
    if name in FAST:  # the default path, unchanged, on the same folder: phonopy's default
        default_errors = {"D": 0.0, "nu": 0.0}
        default = _compare(_solver(ds, ph, False), ph.dynamical_matrix, default_errors)
        assert default_errors["nu"] <= 1e-8, default_errors
        assert default_errors["D"] <= 1e-12, default_errors
        # and the full terms are no no-op: they move frequencies far beyond the tolerance
        moved = max(np.abs(ours[k] - default[k]).max() for k in ours)
        assert moved > 1e-6, moved


def test_given_supercell_gives_the_rebuilt_tables():
    """``nac_tables(..., supercell=)`` (the material's own) and the supercell rebuilt from
    the primitive cell give the same full-terms tables (positions here are exact)."""
    from phonjax.harmonic.mesh import commensurate_qpoints
    from phonjax.structure.supercell import build_supercell

    ds = copy.copy(_example("Al2O3")[0])
    ds.nac = ds.nac.replace(with_full_terms=True)
    system = phonjax.prepare(ds, mesh=(1, 1, 1))
    p = system.primitive
    _, s2u = build_supercell(system.unitcell, system.supercell_matrix)
    args = (ds.nac, p, s2u, system.unitcell.n_atoms,
            commensurate_qpoints(p.supercell_in_primitive))
    rebuilt = nac_tables(*args).full_terms
    given = nac_tables(*args, supercell=system.supercell).full_terms
    scale = np.abs(rebuilt.real_sym).max()
    assert scale > 0
    # the images of one atom may come in another order: compare per (a, b), sorted by vector
    for a in range(len(p.p2s)):
        for b in range(len(p.p2s)):
            i = np.lexsort(np.round(rebuilt.vectors[a, b], 8).T)
            j = np.lexsort(np.round(given.vectors[a, b], 8).T)
            assert np.abs(rebuilt.vectors[a, b][i] - given.vectors[a, b][j]).max() < 1e-10
            assert (np.abs(rebuilt.real_sym[a, b][i] - given.real_sym[a, b][j]).max()
                    < 1e-12 * scale)
    assert np.abs(rebuilt.drift - given.drift).max() < 1e-12 * scale


def test_full_terms_params():
    born, eps = np.stack([np.eye(3), -np.eye(3)]), np.eye(3) * 2
    assert not NACParams(born, eps).with_full_terms  # phonopy's default: the reciprocal sum alone
    assert NACParams(born, eps, with_full_terms=True).with_full_terms
    with pytest.raises(NACError, match="Gonze"):
        NACParams(born, eps, method="wang", with_full_terms=True)
    with pytest.raises(NACError, match="True or False"):
        NACParams(born, eps, with_full_terms="yes")
