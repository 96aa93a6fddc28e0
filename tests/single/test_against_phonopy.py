"""``Phonons`` from a force-set file against phonopy 4.10 on the same file, and its files read
back by phonopy: bands at the path's q-points, tetrahedron and Gaussian DOS, thermal properties
over a temperature range, phonopy_params.yaml, band.yaml, thermal_properties.yaml.

Two materials: BaTe (Fm-3m, 2 atoms) and K2PdF4 (C2/m, 7 atoms, a centred monoclinic cell).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import yaml

from phonjax.single import Phonons
from tests.conftest import sample_path
from validation.reference import phonopy_reference

IDS = ["mp-1000", "mp-28163"]
MESH = (12, 12, 12)
TEMPS = tuple(float(t) for t in range(0, 1001, 50))


@pytest.fixture(scope="module", params=IDS)
def case(request):
    p = Phonons.from_dataset(sample_path(request.param), mesh=MESH, temperatures_K=TEMPS,
                             band_points=41).run()
    ref = phonopy_reference(sample_path(request.param), mesh=MESH, temperatures_K=TEMPS,
                            qpoints=p.band.qpoints, total_dos=True)
    return p, ref


def test_bands_at_path_qpoints(case):
    p, ref = case
    assert p.band.path.verified
    f, g = ref.qpoint_frequencies_THz, p.band.all_frequencies_THz
    mask = np.abs(f) >= 0.1
    assert np.abs(f - g)[mask].max() <= 1e-8


def test_tetrahedron_dos_and_pdos(case):
    p, ref = case
    d = p.dos
    np.testing.assert_allclose(d.frequency_points_THz, ref.dos_frequency_points_THz, atol=1e-10)
    assert np.abs(d.total - ref.total_dos).max() <= 1e-8 * ref.total_dos.max()
    total = sum(d.elements.values())
    assert np.abs(total - d.total).max() <= 1e-10 * d.total.max()
    assert np.abs(d.atoms.sum(axis=0) - d.total).max() <= 1e-10 * d.total.max()
    # ∫ DOS = 3 n modes per primitive cell
    step = d.frequency_points_THz[1] - d.frequency_points_THz[0]
    assert d.total.sum() * step == pytest.approx(3 * p.system.n_primitive, rel=2e-2)


def test_gaussian_dos(case):
    p, _ = case
    ref = phonopy_reference(sample_path(p.name), mesh=MESH, total_dos=True, dos_sigma_THz=0.1)
    d = p.run_dos(method="gaussian", sigma_THz=0.1)
    np.testing.assert_allclose(d.frequency_points_THz, ref.dos_frequency_points_THz, atol=1e-10)
    assert np.abs(d.total - ref.total_dos).max() <= 1e-8 * ref.total_dos.max()
    p.run_dos()  # back to the default for the other tests


def test_thermal_over_temperatures(case):
    p, ref = case
    th = p.thermal
    np.testing.assert_array_equal(th.temperatures_K, ref.temperatures_K)
    for ours, theirs in ((th.free_energy_kJmol, ref.free_energy_kJmol),
                         (th.entropy_JKmol, ref.entropy_JKmol),
                         (th.heat_capacity_JKmol, ref.heat_capacity_JKmol)):
        scale = np.where(theirs != 0, np.abs(theirs), 1.0)
        assert (np.abs(ours - theirs) / scale).max() <= 1e-8
    assert th.zero_point_energy_kJmol == pytest.approx(ref.free_energy_kJmol[0], rel=1e-10)
    per_atom = th.columns("atoms")["free_energy_kJ_per_mol_atoms"]
    np.testing.assert_allclose(per_atom * p.system.n_primitive, ref.free_energy_kJmol, rtol=1e-8)


def test_files_read_back_by_phonopy(case, tmp_path):
    import phonopy

    p, ref = case
    p.write(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.load(tmp_path / "phonopy_params.yaml", produce_fc=False, is_nac=False)
        ph.produce_force_constants()
        ph.symmetrize_force_constants()
    assert np.abs(ph.force_constants - ref.force_constants).max() <= 1e-10
    np.testing.assert_allclose(ph.primitive_matrix, p.cells.primitive_matrix, atol=1e-12)
    # band.yaml: phonopy's own writer on the same path and force constants
    ph.run_band_structure(p.band.sampling.qpoints, path_connections=p.band.path.connections)
    ph.write_yaml_band_structure(filename=tmp_path / "phonopy_band.yaml")
    ours = yaml.safe_load(open(tmp_path / "band.yaml"))
    theirs = yaml.safe_load(open(tmp_path / "phonopy_band.yaml"))
    for key in ("nqpoint", "npath", "segment_nqpoint", "natom", "lattice", "points",
                "reciprocal_lattice"):
        assert ours[key] == theirs[key], key
    assert len(ours["labels"]) == len(p.band.path.segments)
    for a, b in zip(ours["phonon"], theirs["phonon"]):
        assert a["q-position"] == b["q-position"] and a["distance"] == pytest.approx(b["distance"])
        fa = np.array([x["frequency"] for x in a["band"]])
        fb = np.array([x["frequency"] for x in b["band"]])
        assert np.abs(fa - fb)[np.abs(fb) >= 0.1].max(initial=0) <= 2e-10
    tp = yaml.safe_load(open(tmp_path / "thermal_properties.yaml"))
    f = [row["free_energy"] for row in tp["thermal_properties"]]
    np.testing.assert_allclose(f, ref.free_energy_kJmol, atol=1e-6)
    assert tp["natom"] == p.system.n_primitive
    dat = np.loadtxt(tmp_path / "total_dos.dat")
    np.testing.assert_allclose(dat[:, 1], ref.total_dos, atol=1e-9)
