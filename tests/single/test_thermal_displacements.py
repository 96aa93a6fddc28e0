"""Thermal displacements, their matrices (ADPs, CIF) and classical F, S, Cv against phonopy 4.10.

phonopy runs here, on the same example folders (phonopy_disp.yaml + FORCE_SETS, its force
constants symmetrized, phonjax's primitive matrix): NaCl without NAC, Al2O3 with its BORN
(anisotropic ADPs; Gonze–Lee on the mesh, none at Γ as in phonopy), MgB2. Meshes 6³ (shifted,
no Γ) and 5³ (with Γ, whose acoustic modes both sides leave out: phonopy's
``exclude_gamma_acoustic=True``), temperatures 0…1000 K.

Measured (this machine, relative to the largest |value| of each array): ⟨u²⟩, projected ⟨u²⟩
and the Cartesian and CIF matrices ≤ 6.0e-15; classical F, S, Cv ≤ 6.0e-16. The tolerance
is 1e-12, about 200× the larger and within the 1e-8 contract. The files are phonopy's own,
parsed back: every number equal to its printed precision.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import yaml

from tests.conftest import EXAMPLES

TEMPS = np.arange(0.0, 1001.0, 100.0)
MESHES = ((6, 6, 6), (5, 5, 5))  # shifted (no Γ); with Γ
RTOL = 1e-12  # measured ≤ 6.0e-15 (module docstring)
CASES = {"NaCl": False, "Al2O3": True, "MgB2": False}  # name: with the folder's BORN

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="phonopy example folders not found")


def _rel(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    assert ours.shape == theirs.shape
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.fixture(scope="module")
def example():
    """``example(name)`` → (phonjax Harmonic, phonopy object with symmetrized force
    constants), once per module and folder."""
    import phonopy

    from phonjax import Phonons

    cache = {}

    def get(name):
        if name not in cache:
            folder, nac = EXAMPLES / name, CASES[name]
            p = Phonons.from_dataset(folder, nac=nac)
            p.produce_force_constants()
            h = p.harmonic
            files = {"born_filename": str(folder / "BORN")} if nac else {"is_nac": False}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ph = phonopy.load(folder / "phonopy_disp.yaml",
                                  force_sets_filename=str(folder / "FORCE_SETS"),
                                  produce_fc=False,
                                  primitive_matrix=np.asarray(h.cells.primitive_matrix).tolist(),
                                  **files)
                ph.produce_force_constants()
                ph.symmetrize_force_constants()
            assert (ph.nac_params is not None) == nac
            np.testing.assert_allclose(ph.primitive.cell, h.system.primitive.crystal.lattice,
                                       atol=1e-12)
            cache[name] = (h, ph)
        return cache[name]

    return get


def _phonopy_mesh(ph, mesh):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.run_mesh(list(mesh), with_eigenvectors=True, is_mesh_symmetry=False)


@pytest.mark.parametrize("name", list(CASES))
def test_mean_square_displacements_equal_phonopy(example, name):
    from phonjax.phonon.thermal_displacements import thermal_displacements

    h, ph = example(name)
    n = h.system.n_primitive
    for mesh in MESHES:
        _phonopy_mesh(ph, mesh)
        variants = ({}, {"freq_min": 1.0, "freq_max": 9.0}, {"direction": [1.0, 1.0, 0.0]})
        for kw in variants if mesh == MESHES[-1] else variants[:1]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = ph.run_thermal_displacements(temperatures=TEMPS, exclude_gamma_acoustic=True,
                                                   **kw).thermal_displacements
            td = thermal_displacements(h, mesh, TEMPS, freq_min_THz=kw.get("freq_min", 0.0),
                                       freq_max_THz=kw.get("freq_max"),
                                       direction=kw.get("direction"))
            assert td.msd_A2.shape == ((len(TEMPS), n) if "direction" in kw else (len(TEMPS), n, 3))
            assert _rel(td.msd_A2.reshape(len(TEMPS), -1), ref) <= RTOL, (mesh, kw)
            np.testing.assert_array_equal(td.temperatures_K, TEMPS)
            assert td.mesh == mesh


@pytest.mark.parametrize("name", list(CASES))
def test_displacement_matrices_equal_phonopy(example, name):
    from phonjax.phonon.thermal_displacements import thermal_displacement_matrices

    h, ph = example(name)
    for mesh in MESHES:
        _phonopy_mesh(ph, mesh)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = ph.run_thermal_displacement_matrices(temperatures=TEMPS,
                                                       exclude_gamma_acoustic=True)
        tdm = thermal_displacement_matrices(h, mesh, TEMPS)
        assert _rel(tdm.matrices_A2, ref.thermal_displacement_matrices) <= RTOL
        assert _rel(tdm.matrices_cif_A2, ref.thermal_displacement_matrices_cif) <= RTOL
        np.testing.assert_allclose(tdm.u_iso_A2,
                                   np.trace(ref.thermal_displacement_matrices, axis1=2,
                                            axis2=3) / 3, rtol=RTOL)
    if name == "Al2O3":  # anisotropic: the O sites' U_cif are not diagonal, nor U11 = U33
        u = tdm.matrices_cif_A2[-1]
        assert abs(u[4, 0, 0] - u[4, 2, 2]) > 1e-4 and abs(u[4, 0, 1]) > 1e-4


def _numbers_in(tree):
    """Every number of a parsed yaml, in order (nested lists and dicts flattened)."""
    if isinstance(tree, dict):
        return [x for k in tree for x in _numbers_in(tree[k])]
    if isinstance(tree, list):
        return [x for v in tree for x in _numbers_in(v)]
    return [tree] if isinstance(tree, (int, float)) else []


def _same_yaml(ours_path, theirs_path, precision):
    ours, theirs = yaml.safe_load(open(ours_path)), yaml.safe_load(open(theirs_path))
    assert ours.keys() == theirs.keys()
    a, b = _numbers_in(ours), _numbers_in(theirs)
    assert len(a) == len(b)
    np.testing.assert_allclose(a, b, rtol=0, atol=precision * 1.0001)
    # the same layout: line by line the same text up to the printed digits
    for x, y in zip(open(ours_path).read().splitlines(), open(theirs_path).read().splitlines()):
        assert x.split("[")[0] == y.split("[")[0] and x.split("#")[-1] == y.split("#")[-1]


def test_yaml_files_equal_phonopys(example, tmp_path):
    from phonjax.phonon.thermal_displacements import (
        thermal_displacement_matrices, thermal_displacements,
        write_thermal_displacement_matrices_yaml, write_thermal_displacements_yaml)

    h, ph = example("Al2O3")
    mesh, temps = (6, 6, 6), [0.0, 300.0, 1000.0]
    _phonopy_mesh(ph, mesh)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.run_thermal_displacements(temperatures=temps, freq_min=0.5,
                                     exclude_gamma_acoustic=True)
        ph.thermal_displacements.write_yaml(tmp_path / "phonopy_tdisp.yaml")
        ph.run_thermal_displacement_matrices(temperatures=temps, freq_min=0.5,
                                             exclude_gamma_acoustic=True)
        ph.thermal_displacement_matrices.write_yaml(tmp_path / "phonopy_tdispmat.yaml")
    td = thermal_displacements(h, mesh, temps, freq_min_THz=0.5)
    tdm = thermal_displacement_matrices(h, mesh, temps, freq_min_THz=0.5)
    out = write_thermal_displacements_yaml(td, tmp_path / "thermal_displacements.yaml")
    _same_yaml(out, tmp_path / "phonopy_tdisp.yaml", 1e-7)  # %10.7f
    out = write_thermal_displacement_matrices_yaml(
        tdm, tmp_path / "thermal_displacement_matrices.yaml")
    _same_yaml(out, tmp_path / "phonopy_tdispmat.yaml", 1e-5)  # %8.5f
    data = yaml.safe_load(open(out))
    assert data["natom"] == 10 and len(data["thermal_displacement_matrices"]) == 3


def _cif_tags(path):
    from ase.io.cif import parse_cif

    with open(path) as f:
        blocks = list(parse_cif(f))
    assert len(blocks) == 1
    return dict(blocks[0].items())


@pytest.mark.parametrize("name", ["Al2O3", "MgB2"])
def test_adp_cif_equals_phonopys_and_reads(example, name, tmp_path):
    import ase.io

    from phonjax.phonon.thermal_displacements import thermal_displacement_matrices, write_adp_cif

    h, ph = example(name)
    mesh, temps = (6, 6, 6), [0.0, 300.0]
    _phonopy_mesh(ph, mesh)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.run_thermal_displacement_matrices(temperatures=temps, exclude_gamma_acoustic=True)
        ph.thermal_displacement_matrices.write_cif(ph.primitive, 1, tmp_path / "phonopy.cif")
    tdm = thermal_displacement_matrices(h, mesh, temps)
    out = write_adp_cif(tdm, tmp_path / "tdispmat.cif", temperature_K=300.0)
    ours, theirs = _cif_tags(out), _cif_tags(tmp_path / "phonopy.cif")
    assert ours.keys() == theirs.keys() and "_atom_site_aniso_u_23" in ours
    for key in theirs:
        a, b = np.atleast_1d(ours[key]), np.atleast_1d(theirs[key])
        if np.issubdtype(np.asarray(b).dtype, np.number):
            np.testing.assert_allclose(a, b, rtol=0, atol=1.0001e-5, err_msg=key)  # %.5f
        else:
            assert list(a) == list(b), key
    atoms = ase.io.read(out, format="cif")
    crystal = h.system.primitive.crystal
    assert atoms.get_chemical_symbols() == crystal.symbols
    np.testing.assert_allclose(atoms.cell.cellpar(), ase.io.read(tmp_path / "phonopy.cif",
                                                                 format="cif").cell.cellpar())
    np.testing.assert_allclose(atoms.get_scaled_positions(wrap=False), crystal.frac_positions,
                               atol=1e-5)
    try:
        from pymatgen.io.cif import CifParser
    except ImportError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structure = CifParser(out).parse_structures(primitive=False)[0]
    assert [s.symbol for s in structure.species] == crystal.symbols
    np.testing.assert_allclose(structure.lattice.abc, atoms.cell.lengths(), atol=1e-4)
    with pytest.raises(ValueError, match="not one of"):
        write_adp_cif(tdm, tmp_path / "x.cif", temperature_K=200.0)
    with pytest.raises(ValueError, match="must be one of"):
        write_adp_cif(tdm, tmp_path / "x.cif")


@pytest.mark.parametrize("name", list(CASES))
def test_classical_thermal_properties_equal_phonopy(example, name):
    from phonjax.harmonic.classical import classical_thermal_properties
    from phonjax.single.dos import phonopy_mesh

    h, ph = example(name)
    for mesh in MESHES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph.run_mesh(list(mesh))
        grid = phonopy_mesh(h.system.primitive.crystal, mesh)
        frequencies, _ = h.modes_at(grid.qpoints)
        for cutoff in (None, 1.5):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = ph.run_thermal_properties(temperatures=TEMPS, classical=True,
                                                cutoff_frequency=cutoff,
                                                exclude_gamma_acoustic=True)
            ours = classical_thermal_properties(frequencies, grid.weights, TEMPS, grid.qpoints,
                                                cutoff_frequency_THz=cutoff or 0.0)
            assert _rel(ours.free_energy_kJmol, ref.free_energy) <= RTOL
            assert _rel(ours.entropy_JKmol, ref.entropy) <= RTOL
            assert _rel(ours.heat_capacity_JKmol, ref.heat_capacity) <= RTOL
            assert ours.free_energy_kJmol[0] == ours.entropy_JKmol[0] == 0.0
            assert ours.n_modes == ref.number_of_modes
            assert ours.n_integrated_modes == ref.number_of_integrated_modes


def test_eigenvectors_solved_in_bounded_chunks(example, monkeypatch):
    """The mesh's eigenvectors come in chunks of the module's byte budget, and the sums do not
    depend on the chunking."""
    import phonjax.phonon.thermal_displacements as module
    from phonjax.execution.modes import ModeSolver
    from phonjax.phonon.thermal_displacements import thermal_displacement_matrices

    h, _ = example("MgB2")
    whole = thermal_displacement_matrices(h, (5, 5, 5), TEMPS)
    sizes = []
    original = ModeSolver.at

    def spy(self, qpoints, eigenvectors=False, q_direction=None):
        sizes.append(len(qpoints))
        return original(self, qpoints, eigenvectors, q_direction)

    monkeypatch.setattr(ModeSolver, "at", spy)
    monkeypatch.setattr(module, "EIGENVECTOR_CHUNK_BYTES", 20_000.0)  # ~10 q-points of MgB2
    chunked = thermal_displacement_matrices(h, (5, 5, 5), TEMPS)
    assert sum(sizes) == 125 and len(sizes) > 10 and max(sizes) <= 20_000 // (16 * 81)
    assert _rel(chunked.matrices_A2, whole.matrices_A2) <= 1e-13  # summation order only


def test_bad_input_is_refused_in_one_line(example):
    from phonjax.harmonic.classical import classical_thermal_properties
    from phonjax.phonon.thermal_displacements import thermal_displacements

    h, _ = example("MgB2")
    for kw, message in (({"freq_min_THz": -0.1}, "freq_min_THz"),
                        ({"freq_min_THz": 2.0, "freq_max_THz": 1.0}, "freq_max_THz"),
                        ({"direction": [0, 0, 0]}, "zero length"),
                        ({"direction": [1, 0]}, "direction")):
        with pytest.raises(ValueError, match=message):
            thermal_displacements(h, 2, [300.0], **kw)
    with pytest.raises(ValueError, match="temperatures_K"):
        thermal_displacements(h, 2, [-1.0])
    with pytest.raises(ValueError, match="mesh"):
        thermal_displacements(h, (2, 2), [300.0])
    f, w, q = np.ones((2, 3)), np.ones(2), np.zeros((2, 3))
    with pytest.raises(ValueError, match="cutoff_frequency_THz"):
        classical_thermal_properties(f, w, [300.0], q, cutoff_frequency_THz=-1.0)
    with pytest.raises(ValueError, match="weights"):
        classical_thermal_properties(f, np.ones(3), [300.0], q)
    with pytest.raises(ValueError, match="temperatures_K"):
        classical_thermal_properties(f, w, [np.nan], q)


def test_plots_are_written(example, tmp_path):
    from phonjax.phonon.thermal_displacements import (
        plot_thermal_displacements, thermal_displacement_matrices, thermal_displacements)

    h, _ = example("MgB2")
    temps = np.linspace(0.0, 1000.0, 6)
    for i, result in enumerate((thermal_displacements(h, 4, temps),
                                thermal_displacements(h, 4, temps, direction=[0, 0, 1]),
                                thermal_displacement_matrices(h, 4, temps))):
        path = plot_thermal_displacements(result, tmp_path / f"tdisp{i}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
