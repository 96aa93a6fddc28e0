"""``phonjax qha e-v.dat FOLDER...``: the volumes given as phonopy force sets (one
phonopy_params.yaml per volume), their thermal properties computed by phonjax, against phonopy
4.10 computing them from the same files and ``PhonopyQHA`` on its own (full-precision) arrays.

The force sets are made in the test: NaCl (phonopy's example) at 7 volumes, its force constants
scaled as Φ(V) = Φ₀ (V/V₀)^(−2γ) (a Grüneisen law, γ = 1.5), forces −Φ(V)·u on phonopy's
displacements of each scaled cell; U(V) a Vinet curve."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from phonjax.qha.cli import main
from tests.conftest import EXAMPLES

TEMPERATURES = np.arange(0.0, 1001.0, 10.0)


@pytest.fixture(scope="module")
def volumes(tmp_path_factory):
    import phonopy

    folder = EXAMPLES / "NaCl"
    if not folder.is_dir():
        pytest.skip("phonopy example folders not found")
    root = tmp_path_factory.mktemp("volumes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = phonopy.load(folder / "phonopy_disp.yaml", is_nac=False, is_compact_fc=False,
                           force_sets_filename=folder / "FORCE_SETS")
    fc0, v0 = ref.force_constants, ref.primitive.volume
    rows, paths, thermal = [], [], []
    for k, f in enumerate(np.linspace(0.94, 1.06, 7)):
        unit = ref.unitcell.copy()
        unit.cell = unit.cell * f ** (1 / 3)
        ph = phonopy.Phonopy(unit, supercell_matrix=ref.supercell_matrix,
                             primitive_matrix=ref.primitive_matrix)
        ph.generate_displacements()
        fc = fc0 * f ** (-3.0)  # γ = 1.5
        first = ph.dataset["first_atoms"]
        u = np.zeros((len(first), len(ph.supercell), 3))
        for i, d in enumerate(first):
            u[i, d["number"]] = d["displacement"]
        ph.forces = -np.einsum("ijab,sjb->sia", fc, u)
        path = root / f"v{k}"
        path.mkdir()
        ph.save(path / "phonopy_params.yaml")
        ph.produce_force_constants()
        ph.symmetrize_force_constants()
        ph.run_mesh([8, 8, 8])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph.run_thermal_properties(temperatures=TEMPERATURES, exclude_gamma_acoustic=True)
        thermal.append(ph.thermal_properties)
        v = ph.primitive.volume
        eta, b0, b1 = (v / v0) ** (1 / 3), 0.6, 5.0  # Vinet: B₀ 0.6 eV/Å³ (96 GPa), B₀′ 5
        energy = -8.0 + 2 * b0 * v0 / (b1 - 1) ** 2 * (
            2 - (5 + 3 * b1 * (eta - 1) - 3 * eta) * np.exp(-1.5 * (b1 - 1) * (eta - 1)))
        rows.append((v, energy))
        paths.append(path / "phonopy_params.yaml")
    ev = root / "e-v.dat"
    ev.write_text("".join(f"{v:20.10f} {e:20.10f}\n" for v, e in rows))
    return ev, paths, np.array(rows), thermal


def test_folders_as_phonopy_qha(volumes, tmp_path):
    import phonopy

    ev, paths, rows, thermal = volumes
    out = tmp_path / "out"
    assert main([str(ev), *map(str, paths), "--mesh", "8", "--out", str(out), "--no-plot"]) == 0
    ours = np.loadtxt(out / "volume-temperature.dat")
    qha = phonopy.PhonopyQHA(rows[:, 0], rows[:, 1], temperatures=TEMPERATURES,
                             free_energy=np.array([t.free_energy for t in thermal]).T,
                             cv=np.array([t.heat_capacity for t in thermal]).T,
                             entropy=np.array([t.entropy for t in thermal]).T, eos="vinet",
                             t_max=1000.0)
    n = len(ours)
    # measured: V(T) 6.0e-11, α(T) 3.6e-8 relative (F, S, Cv equal to ~1e-15; e-v.dat printed
    # to 1e-10, and phonopy's leastsq stopping point follows the last bits)
    np.testing.assert_allclose(ours[:, 1], qha.volume_temperature[:n], rtol=6e-9)
    alpha = np.loadtxt(out / "thermal_expansion.dat")
    np.testing.assert_allclose(alpha[1:, 1], qha.thermal_expansion[1:n], rtol=3e-6)


def test_mixed_inputs_refused(volumes, tmp_path, capsys):
    ev, paths, _, _ = volumes
    yaml = tmp_path / "thermal_properties.yaml-00"
    yaml.write_text("thermal_properties: []\n")
    assert main([str(ev), str(yaml), *map(str, paths[1:])]) == 1
    assert "not both" in capsys.readouterr().err
