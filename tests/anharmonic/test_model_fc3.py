"""FC3 of crystals from a model (``pipeline.fc3``): every displaced supercell of every crystal
in one batched model call, phono3py's displacements and solver — against phono3py 4.10 given
the same model's forces supercell by supercell (the toy Morse potential, NumPy float64)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

import tests.bench.fakes as fakes
from phonjax.pipeline import models
from phonjax.pipeline.fc3 import fc3_job, model_fc3
from phonjax.resources import ResourceError
from phonjax.structure.crystal import Crystal

FCC_P = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def crystals():
    nacl = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    si = bulk("Si", "diamond", a=5.43, cubic=True)
    return {"NaCl": (Crystal.from_ase(nacl), 2 * np.eye(3, dtype=int)),  # 1×1×1: FC3 = 0 by symmetry
            "Si": (Crystal.from_ase(si), np.eye(3, dtype=int))}


def phono3py_fc3(crystal: Crystal, smat, pmat, phonon_smat=None, cutoff_A=None):
    """phono3py 4.10 with the toy forces of each supercell, one at a time (zeros for the
    pairs a cutoff leaves out, as FORCES_FC3 holds them)."""
    from ase import Atoms
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(cell=crystal.lattice, scaled_positions=crystal.frac_positions,
                        numbers=crystal.numbers, masses=crystal.masses)
    ph3 = Phono3py(unit, supercell_matrix=smat, primitive_matrix=pmat,
                   phonon_supercell_matrix=phonon_smat)
    ph3.generate_displacements(distance=0.03, cutoff_pair_distance=cutoff_A)
    n_atoms = len(ph3.supercell)

    def forces(cells):
        return np.array([np.zeros((n_atoms, 3)) if c is None else
                         fakes.morse(Atoms(cell=c.cell, positions=c.positions,
                                           numbers=c.numbers, pbc=True))[1] for c in cells])

    ph3.forces = forces(ph3.supercells_with_displacements)
    if phonon_smat is not None:
        ph3.phonon_forces = forces(ph3.phonon_supercells_with_displacements)
    ph3.produce_fc3(symmetrize_fc3r=False)
    if phonon_smat is not None:
        ph3.produce_fc2(symmetrize_fc2=False)
    return ph3.fc2, ph3.fc3


def test_batched_model_fc3_equals_phono3py_supercell_by_supercell(monkeypatch):
    fakes.register()
    adapter = models.adapter("toy:morse", "cpu", 4096)
    calls = []
    evaluate = type(adapter).evaluate
    monkeypatch.setattr(type(adapter), "evaluate",
                        lambda self, *a, **k: calls.append(1) or evaluate(self, *a, **k))
    jobs = [fc3_job(name, c, smat, FCC_P) for name, (c, smat) in crystals().items()]
    jobs.append(fc3_job("Si-fc2", crystals()["Si"][0], np.eye(3, dtype=int), FCC_P,
                        phonon_supercell_matrix=2 * np.eye(3, dtype=int)))
    results = model_fc3(jobs, adapter, symmetrization="none")
    assert len(calls) == 1  # every supercell of every crystal in one call
    for job, result in zip(jobs, results):
        assert not isinstance(result, Exception), result
        fc2, fc3 = phono3py_fc3(job.unitcell, job.supercell_matrix, FCC_P,
                                job.phonon_supercell_matrix)
        assert np.abs(fc3).max() > 0.1  # eV/Å³: a real third order, not a symmetry zero
        assert np.abs(result.fc3 - fc3).max() <= 1e-8 * np.abs(fc3).max()
        assert np.abs(result.fc2 - fc2).max() <= 1e-10


def test_fc3_memory_refused_before_any_model_call():
    from phonjax.execution.plan import Plan

    fakes.register()
    adapter = models.adapter("toy:morse", "cpu", 4096)
    job = fc3_job("NaCl", *crystals()["NaCl"], FCC_P)
    with pytest.raises(ResourceError, match="FC3 of a 64-atom supercell"):
        model_fc3([job], adapter, plan=Plan(memory_bytes=1e3))


def test_fc3_vanishing_by_symmetry_is_one_line_not_an_assertion():
    """rocksalt's 8-atom cubic cell: every FC3 element vanishes by symmetry, and symfc's
    projector (the default symmetrization, phono3py.load's) has an empty basis; phonjax says so
    in one line (phono3py's own symfc call stops at an AssertionError)."""
    from phonjax.anharmonic.fc3 import FC3Error

    fakes.register()
    adapter = models.adapter("toy:morse", "cpu", 4096)
    nacl = Crystal.from_ase(bulk("NaCl", "rocksalt", a=5.64, cubic=True))
    [result] = model_fc3([fc3_job("NaCl", nacl, np.eye(3, dtype=int), FCC_P)], adapter)
    assert isinstance(result, FC3Error) and "vanish by symmetry" in str(result)
    assert len(str(result).splitlines()) == 1
