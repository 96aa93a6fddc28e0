"""phonopy's force-constant options through ``Phonons`` and ``phonjax run`` (``pipeline.fc_route``):
symfc fits (of phonopy's one-atom displacements and of random displacements computed by a model),
``symmetrize_fc=False``, ``--cutoff-radius``. Each against phonopy 4.10 run here on the same
cells, displacements and forces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import phonjax
from phonjax import Phonons
from tests.conftest import EXAMPLES

# measured here: force constants ≤ 2e-15 eV/Å² from phonopy's, eigenvalues ν|ν| ≤ 6.4e-14 THz²;
# the project's contract: 1e-10 eV/Å², 1e-8 THz
FC_TOL = 1e-10
FREQ_TOL_THZ = 1e-8
Q = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.1, 0.2, 0.3], [0.5, 0.5, 0.5]])


def _phonopy(p, dataset=None):
    """phonopy on p's cells (unit cell, S, P), with ``dataset`` if given."""
    import phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    u = p.unitcell
    ph = phonopy.Phonopy(PhonopyAtoms(cell=u.lattice, scaled_positions=u.frac_positions,
                                      numbers=u.numbers, masses=u.masses),
                         supercell_matrix=p.cells.supercell_matrix,
                         primitive_matrix=p.cells.primitive_matrix)
    if dataset is not None:
        ph.dataset = dataset
    return ph


def _type1(p):
    s = p.system
    return {"natom": s.n_supercell, "first_atoms": [
        {"number": int(a), "displacement": np.asarray(d, float), "forces": np.asarray(f, float)}
        for a, d, f in zip(s.displaced_atoms, s.displacements, p.forces)]}


def _same_phonons(p, ph):
    fc = p.harmonic.result.force_constants
    assert np.abs(fc - ph.force_constants).max() < FC_TOL
    ph.run_qpoints(Q)
    # as eigenvalues ν|ν| (THz²): the Γ acoustic ν ≈ ±1e-7 THz are √ of round-off
    ours, theirs = (f * np.abs(f) for f in (p.modes_at(Q)[0], ph.qpoints.frequencies))
    assert np.abs(ours - theirs).max() < FREQ_TOL_THZ


@pytest.fixture(scope="module")
def nacl_folder():
    folder = EXAMPLES / "NaCl"
    if not folder.is_dir():
        pytest.skip("phonopy example folders not found")
    return folder


def test_symfc_fit_of_one_atom_displacements(nacl_folder):
    p = Phonons.from_dataset(nacl_folder, nac=False, fc_calculator="symfc", mesh=(4, 4, 4))
    p.produce_force_constants()
    assert "symfc" in p.harmonic.fc_rule
    ph = _phonopy(p, _type1(p))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.produce_force_constants(fc_calculator="symfc")
    _same_phonons(p, ph)


def test_unsymmetrized_and_cutoff_radius(nacl_folder):
    plain = Phonons.from_dataset(nacl_folder, nac=False, mesh=(4, 4, 4))
    plain.produce_force_constants()
    unsym = Phonons.from_dataset(nacl_folder, nac=False, mesh=(4, 4, 4), symmetrize_fc=False)
    unsym.produce_force_constants()
    ph = _phonopy(unsym, _type1(unsym))
    ph.produce_force_constants()  # phonopy's solve, no symmetrize_force_constants()
    _same_phonons(unsym, ph)
    assert np.abs(plain.result.force_constants - unsym.result.force_constants).max() > 1e-6

    cut = Phonons.from_dataset(nacl_folder, nac=False, mesh=(4, 4, 4), fc_cutoff_radius_A=5.0)
    cut.produce_force_constants()
    ph = _phonopy(cut, _type1(cut))
    ph.produce_force_constants()
    ph.symmetrize_force_constants()  # phonjax's finite route (phonopy_reference's choice)
    ph.set_force_constants_zero_with_radius(5.0)
    _same_phonons(cut, ph)


def test_random_displacements_with_a_model():
    """Random displacements (phonopy's arrays for the seed) → model forces → symfc, against
    phonopy generating the same displacements, the same model's forces, and its symfc fit."""
    import tests.bench.fakes  # noqa: F401  (registers the toy Morse model)
    from ase.build import bulk

    from tests.bench.fakes import morse

    p = Phonons.from_structure(bulk("NaCl", "rocksalt", a=5.6), model="toy:morse", relax=False,
                               supercell_matrix=(2, 2, 2), random_snapshots=5, random_seed=11,
                               fc_calculator="symfc", distance_A=0.03, mesh=(4, 4, 4))
    p.produce_force_constants()
    ph = _phonopy(p)
    ph.generate_displacements(distance=0.03, number_of_snapshots=5, random_seed=11)
    np.testing.assert_array_equal(p.displacement_fields, ph.displacements)
    from ase import Atoms

    forces = [morse(Atoms(s.symbols, cell=s.cell, scaled_positions=s.scaled_positions,
                          pbc=True))[1] for s in ph.supercells_with_displacements]
    ph.forces = np.array(forces)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.produce_force_constants(fc_calculator="symfc")
    _same_phonons(p, ph)
    assert p.settings.random_seed == 11 and len(p.forces) == 5


def test_random_seed_drawn_and_recorded(tmp_path):
    import tests.bench.fakes  # noqa: F401
    from ase.build import bulk

    p = Phonons.from_structure(bulk("Cu", "fcc", a=3.6), model="toy:morse", relax=False,
                               supercell_matrix=(2, 2, 2), random_snapshots=2,
                               fc_calculator="symfc", mesh=(3, 3, 3), band_points=5)
    p.run()
    seed = p.settings.random_seed
    assert isinstance(seed, int) and 0 <= seed < 2 ** 32
    p.write(tmp_path)
    import json

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["settings"]["random_seed"] == seed
    assert "random-displacement" in summary["force_constants"]
    # phonopy reads the type-2 dataset written with them and fits the same force constants
    import phonopy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.load(tmp_path / "phonopy_params.yaml", fc_calculator="symfc",
                          symmetrize_fc=False, is_compact_fc=False)
    assert np.abs(ph.force_constants - p.result.force_constants).max() < FC_TOL


def test_route_settings_refused_in_one_line():
    from phonjax.single.settings import SettingsError, WorkflowSettings

    for bad in ({"random_snapshots": 3}, {"random_snapshots": 0, "fc_calculator": "symfc"},
                {"fc_calculator": "alm"}, {"symfc_cutoff_A": 4.0},
                {"fc_calculator": "symfc", "symmetrize_fc": False},
                {"fc_cutoff_radius_A": -1.0},
                {"fc_calculator": "symfc", "random_snapshots": 2, "random_seed": -4}):
        with pytest.raises(SettingsError):
            WorkflowSettings(**bad)
    with pytest.raises(Exception, match="need a --model"):
        Phonons.from_dataset(EXAMPLES / "NaCl", nac=False, fc_calculator="symfc",
                             random_snapshots=2).produce_force_constants()
