"""F, S at 100 and 300 K on meshes that contain Γ, phonjax against phonopy 4.10, side by side.

    python validation/gamma_acoustic.py

NaCl (phonopy's example folder, no NAC) and BaTe (mp-1000 of the bundled sample), odd meshes
3³, 5³, 9³ and a Γ-centred 20³: phonopy's F and S with ``exclude_gamma_acoustic=True`` (the
rule phonjax follows, ``phonjax.harmonic.thermal.GAMMA_ACOUSTIC_RULE``) and with its default (the three
Γ acoustic modes counted when their round-off is > 0), against ``phonjax.phonon_properties``
on the same forces. Prints one row per material and mesh: phonjax − phonopy (kJ/mol, J/K/mol).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLES = ROOT.parent / "shared" / "data" / "phonopy-examples"
TEMPERATURES = (100.0, 300.0)
MESHES = ((3, 3, 3, False), (5, 5, 5, False), (9, 9, 9, False), (20, 20, 20, True))


def phonopy_side(ds, mesh, gamma_centered: bool):
    """{rule: (F (n_T,), S (n_T,))} of phonopy on the dataset's cells and forces."""
    from validation.reference import phonopy_of_dataset

    ph = phonopy_of_dataset(ds)
    ph.run_mesh(list(mesh), is_gamma_center=gamma_centered)
    out = {}
    for rule, exclude in (("exclude", True), ("default", False)):
        ph.run_thermal_properties(temperatures=list(TEMPERATURES), exclude_gamma_acoustic=exclude)
        tp = ph.get_thermal_properties_dict()
        out[rule] = (np.asarray(tp["free_energy"]), np.asarray(tp["entropy"]))
    return out


def main() -> None:
    import phonjax
    from phonjax.data import sample_dir

    cases = [("BaTe mp-1000", phonjax.read_dataset(sample_dir() / "mp-1000.yaml.xz"))]
    if (EXAMPLES / "NaCl").is_dir():
        cases.insert(0, ("NaCl", phonjax.read_input(EXAMPLES / "NaCl", nac=False)))
    print("material | mesh | ΔF 100/300 K vs exclude | ΔS 300 K vs exclude | "
          "ΔF 100/300 K vs phonopy's default | ΔS 300 K vs default")
    for name, ds in cases:
        for *mesh, centred in MESHES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = phonopy_side(ds, mesh, centred)
            system = phonjax.prepare(ds, mesh=tuple(mesh), gamma_centered=centred)
            [r] = phonjax.phonon_properties([system], [ds.forces],
                                            phonjax.PhononSettings(temperatures_K=TEMPERATURES))
            f, s = np.asarray(r.free_energy_kJmol), np.asarray(r.entropy_JKmol)
            label = "×".join(map(str, mesh)) + (" Γ-centred" if centred else "")
            cells = []
            for rule in ("exclude", "default"):
                df, ds_ = f - ref[rule][0], s - ref[rule][1]
                cells += [f"{df[0]:+.2e} / {df[1]:+.2e}", f"{ds_[1]:+.2e}"]
            print(f"{name} | {label} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
