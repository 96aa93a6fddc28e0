"""The hyllios preset's length mesh against phonopy's ``run_mesh(100.0)``, side by side.

    python validation/hyllios_mesh.py [FILE...]

For each file: force constants by phonopy from the file's forces, ``run_mesh(100.0)``
and thermal properties at 300 K; phonjax with the bench's ``hyllios`` preset on the
same forces. Both Γ-centred meshes contain Γ, whose three acoustic modes sit at
~1e-7 THz: with phonopy's default cutoff their k_BT·ln(hν/k_BT) terms depend on
the sign of 1e-14 eV/Å² noise in the force constants and move F by up to ~1e-3
kJ/mol between any two codes (phonopy itself, from its own force constants, is
that far from the stored values of the Alexandria files). phonjax excludes them
(``phonjax.harmonic.thermal.GAMMA_ACOUSTIC_RULE``); phonopy is run both ways: by default
(the "raw" column, for reference) and with ``exclude_gamma_acoustic=True``, which
is what phonjax is compared with. Run with phonopy 4.10 (the test environment) or
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


def phonopy_side(ds, T: float):
    import phonopy
    from validation.reference import phonopy_of_dataset

    ph = phonopy_of_dataset(ds)
    ph.run_mesh(100.0)
    q = np.asarray(ph.mesh.qpoints)

    def at_T(**kw):
        ph.run_thermal_properties(temperatures=[T], **kw)
        tp = ph.get_thermal_properties_dict()
        return np.array([tp["free_energy"][0], tp["entropy"][0], tp["heat_capacity"][0]])

    return (phonopy.__version__, tuple(int(m) for m in ph.mesh.mesh_numbers), len(q),
            at_T(), at_T(exclude_gamma_acoustic=True))


def phonjax_side(ds, T: float):
    import phonjax
    from phonjax.bench import protocols
    from phonjax.bench.compute import prepare_for_protocol

    p = protocols.resolve("hyllios")
    system = prepare_for_protocol(p, ds, unitcell=ds.unitcell, pmat=ds.primitive_matrix)
    [r] = phonjax.phonon_properties([system], [ds.forces], phonjax.PhononSettings(temperatures_K=(T,)))
    values = np.array([r.free_energy_kJmol[0], r.entropy_JKmol[0], r.heat_capacity_JKmol[0]])
    return system.mesh.mesh, len(system.mesh.qpoints), values


def main(files: list[str]) -> None:
    import phonjax

    shared = ROOT.parent / "shared" / "data"
    files = files or [str(shared / f) for f in DEFAULT]
    print("file | phonopy | mesh phonopy / phonjax | n_q phonopy / phonjax | max |Δ| raw "
          "(F, S, Cv) against phonopy's default | max rel |Δ| against exclude_gamma_acoustic=True")
    for f in files:
        ds = phonjax.read_dataset(f)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version, m_ph, n_ph, raw_ph, clean_ph = phonopy_side(ds, 300.0)
        m_pj, n_pj, pj = phonjax_side(ds, 300.0)
        raw = np.abs(pj - raw_ph)
        rel = np.abs(pj - clean_ph) / np.maximum(1.0, np.abs(clean_ph))
        print(f"{Path(f).name} | {version} | {m_ph} / {tuple(m_pj)} | {n_ph} / {n_pj} | "
              f"{raw.max():.2e} | {rel.max():.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
