"""The hyllios preset's length mesh against phonopy's ``run_mesh(100.0)``, side by side.

    python validation/hyllios_mesh.py [FILE...]

For each file: force constants by phonopy from the file's forces, ``run_mesh(100.0)``
and thermal properties at 300 K; phonjax with the bench's ``hyllios`` preset on the
same forces. Both Γ-centred meshes contain Γ, whose three acoustic modes sit at
~1e-7 THz: their k_BT·ln(hν/k_BT) terms depend on 1e-14 eV/Å² noise in the force
constants and move F by up to ~1e-3 kJ/mol between any two codes (phonopy itself,
from its own force constants, is that far from the stored values of the
Alexandria files). Those three terms are removed on each side from its own
frequencies at Γ before comparing. Run with phonopy 4.10 (the test environment) or
with another version first on PYTHONPATH: phonopy ≥ 4.0 replaces the regular grid
by a generalized regular grid where the regular one breaks the point group (body-
centred cells); phonopy 2.x/3.x, the published pipeline's, keeps the regular grid.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT = ["alexandria-pbe/mp-149.yaml.xz", "alexandria-pbe/mp-1000-pbesol.yaml.bz2",
           "phonondb-pbesol/mp-3248.yaml.xz", "phonondb-pbesol/mp-29955.yaml.xz",
           "phonondb-pbesol/mp-2964.yaml.xz", "phonondb-pbesol/mp-5309.yaml.xz"]
KB_EV, THZ_EV, EV_KJMOL = 8.6173382568083159e-05, 0.004135667662340164, 96.48533212331002


def gamma_acoustic_terms(gamma_thz, weight: float, T: float) -> np.ndarray:
    """(F kJ/mol, S J/K/mol, Cv J/K/mol) of the three Γ modes of smallest |ν| with ν > 0,
    times the q-point's weight share (phonopy's formulas, written out here)."""
    f = np.asarray(gamma_thz, float)
    f = f[np.argsort(np.abs(f), kind="stable")[:3]]
    e = f[f > 0] * THZ_EV
    kt = KB_EV * T
    x = e / kt
    F = (kt * np.log(1 - np.exp(-x)) + e / 2).sum() * EV_KJMOL
    S = (KB_EV * (x / np.expm1(x) - np.log(1 - np.exp(-x)))).sum() * EV_KJMOL * 1000
    C = (KB_EV * x**2 * np.exp(x) / np.expm1(x) ** 2).sum() * EV_KJMOL * 1000
    return np.array([F, S, C]) * weight


def phonopy_side(ds, T: float):
    import phonopy
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    u = ds.unitcell
    ph = Phonopy(PhonopyAtoms(cell=u.lattice, scaled_positions=u.frac_positions,
                              numbers=u.numbers, masses=u.masses),
                 supercell_matrix=ds.supercell_matrix, primitive_matrix=ds.primitive_matrix)
    ph.dataset = {"natom": ds.n_supercell, "first_atoms": [
        {"number": int(a), "displacement": d, "forces": f}
        for a, d, f in zip(ds.displaced_atoms, ds.displacements, ds.forces)]}
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    ph.run_mesh(100.0)
    q, w = np.asarray(ph.mesh.qpoints), np.asarray(ph.mesh.weights)
    freqs = np.asarray(ph.mesh.frequencies)
    ph.run_thermal_properties(temperatures=[T])
    tp = ph.get_thermal_properties_dict()
    values = np.array([tp["free_energy"][0], tp["entropy"][0], tp["heat_capacity"][0]])
    g = np.flatnonzero((np.abs(q - np.rint(q)) < 1e-12).all(axis=1))
    noise = gamma_acoustic_terms(freqs[g[0]], w[g[0]] / w.sum(), T) if len(g) else 0.0
    return (phonopy.__version__, tuple(int(m) for m in ph.mesh.mesh_numbers), len(q),
            values, values - noise)


def phonjax_side(ds, T: float):
    import phonjax
    from phonjax.bench import protocols
    from phonjax.bench.compute import _prepare

    p = protocols.resolve("hyllios")
    system = _prepare(p, ds, unitcell=ds.unitcell, pmat=ds.primitive_matrix)
    [r] = phonjax.phonon_properties([system], [ds.forces], phonjax.PhononSettings(temperatures_K=(T,)))
    values = np.array([r.free_energy_kJmol[0], r.entropy_JKmol[0], r.heat_capacity_JKmol[0]])
    w = system.mesh.weights
    g = np.flatnonzero((np.abs(system.mesh.qpoints) < 1e-12).all(axis=1))
    noise = gamma_acoustic_terms(r.commensurate_frequencies_THz[0], w[g[0]] / w.sum(), T)
    return system.mesh.mesh, len(system.mesh.qpoints), values, values - noise


def main(files: list[str]) -> None:
    import phonjax

    shared = ROOT.parent / "shared" / "data"
    files = files or [str(shared / f) for f in DEFAULT]
    print("file | phonopy | mesh phonopy / phonjax | n_q phonopy / phonjax | max |Δ| raw "
          "(F, S, Cv) | max rel |Δ| without the Γ acoustic terms")
    for f in files:
        ds = phonjax.read_dataset(f)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version, m_ph, n_ph, raw_ph, clean_ph = phonopy_side(ds, 300.0)
        m_pj, n_pj, raw_pj, clean_pj = phonjax_side(ds, 300.0)
        raw = np.abs(raw_pj - raw_ph)
        rel = np.abs(clean_pj - clean_ph) / np.maximum(1.0, np.abs(clean_ph))
        print(f"{Path(f).name} | {version} | {m_ph} / {tuple(m_pj)} | {n_ph} / {n_pj} | "
              f"{raw.max():.2e} | {rel.max():.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
