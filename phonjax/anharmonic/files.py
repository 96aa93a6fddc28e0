"""phono3py's own files out: ``fc3.hdf5``, ``fc2.hdf5`` and ``phono3py_disp.yaml``.

A ``fc3.ForceConstants3`` written as phono3py writes it, so that ``phono3py-load`` and
``phono3py.load(..., fc3_filename=..., fc2_filename=...)`` read it back unchanged:

* ``fc3.hdf5``: phono3py's ``write_fc3_to_hdf5`` (datasets ``version``, ``fc3``,
  ``p2s_map``; gzip), with the primitive atoms' supercell indices of the FC3 supercell;
* ``fc2.hdf5``: phono3py's ``write_fc2_to_hdf5`` (``force_constants``, ``p2s_map``,
  ``physical_unit`` "eV/angstrom^2", ``version``), with the p2s map of the FC2 supercell
  (``phonon_supercell_matrix``'s when FC2 has its own cell);
* ``phono3py_disp.yaml``: the unit cell, the supercell, primitive and phonon supercell
  matrices and the displacement datasets (no forces), by phono3py's own dumper
  (``Phono3py.save``, ``Phono3pyYaml``): what ``phono3py-load`` starts from. Born charges
  and ε∞ go in its ``nac`` section when they are given per primitive atom.

These are phono3py's writers, called on a temporary name next to the target and renamed
onto it (``phonjax.atomic_write.replace_file``): a reader never sees half a file. Compact
arrays (first axis over the primitive atoms) and full ones are both written as they are;
phono3py tells them apart by their shape.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from phonjax.atomic_write import replace_file

FC3_FILE = "fc3.hdf5"
FC2_FILE = "fc2.hdf5"
DISP_YAML_FILE = "phono3py_disp.yaml"
FC2_UNIT = "eV/angstrom^2"  # what phono3py's command line writes


def write_fc3_hdf5(path: str | os.PathLike, result) -> Path:
    """``result.fc3`` (a ``ForceConstants3``) as phono3py's fc3.hdf5, atomically."""
    from phono3py.file_IO import write_fc3_to_hdf5

    fc3 = np.ascontiguousarray(result.fc3, dtype="double")
    p2s = np.asarray(result.cells.primitive.p2s, dtype="int64")
    return replace_file(path, lambda tmp: write_fc3_to_hdf5(fc3, filename=str(tmp), p2s_map=p2s))


def write_fc2_hdf5(path: str | os.PathLike, result) -> Path:
    """``result.fc2`` (a ``ForceConstants3``) as phono3py's fc2.hdf5, atomically."""
    from phono3py.file_IO import write_fc2_to_hdf5

    fc2 = np.ascontiguousarray(result.fc2, dtype="double")
    p2s = np.asarray(result.fc2_cells.primitive.p2s, dtype="int64")
    return replace_file(path, lambda tmp: write_fc2_to_hdf5(
        fc2, filename=str(tmp), p2s_map=p2s, physical_unit=FC2_UNIT))


def fc3_dataset_dict(displacements) -> dict:
    """phono3py's ``Phono3py.dataset`` (no forces) of an FC3 displacement record: a
    ``phono3py_files.PairDisplacements`` (type 1) or ``RandomDisplacements`` (type 2), or
    an ``anharmonic.displacements.FC3Displacements``."""
    if hasattr(displacements, "to_phono3py"):
        return displacements.to_phono3py()
    if not hasattr(displacements, "first_of_pair"):
        return {"displacements": np.asarray(displacements.displacements, float)}
    d = displacements
    first = [{"number": int(a), "displacement": np.asarray(u, float), "second_atoms": []}
             for a, u in zip(d.first_atoms, d.first_displacements)]
    for m, f in enumerate(d.first_of_pair):
        entry = {"number": int(d.second_atoms[m]),
                 "displacement": np.asarray(d.second_displacements[m], float)}
        if np.isfinite(d.pair_distances[m]):
            entry["pair_distance"] = float(d.pair_distances[m])
        if d.cutoff_distance is not None:
            entry["included"] = bool(d.included[m])
        first[f]["second_atoms"].append(entry)
    out: dict = {"first_atoms": first}
    if d.cutoff_distance is not None:
        out["cutoff_distance"] = float(d.cutoff_distance)
    return out


def fc2_dataset_dict(displacements) -> dict | None:
    """phonopy's dataset (no forces) of a separate FC2 record (``SingleDisplacements``,
    ``RandomDisplacements`` or ``anharmonic.displacements.FC2Displacements``), or None."""
    if displacements is None:
        return None
    if hasattr(displacements, "to_phonopy"):
        return displacements.to_phonopy()
    if hasattr(displacements, "atoms"):
        return {"first_atoms": [{"number": int(a), "displacement": np.asarray(u, float)}
                                for a, u in zip(displacements.atoms,
                                                displacements.displacements)]}
    return {"displacements": np.asarray(displacements.displacements, float)}


def phono3py_object(unitcell, supercell_matrix, primitive_matrix, fc3_dataset: dict,
                    phonon_supercell_matrix=None, fc2_dataset: dict | None = None, nac=None):
    """A ``phono3py.Phono3py`` of the crystal with the displacement datasets set (no forces,
    no force constants): what ``Phono3py.save`` writes a yaml from."""
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    cell = PhonopyAtoms(cell=unitcell.lattice, scaled_positions=unitcell.frac_positions,
                        numbers=unitcell.numbers, masses=unitcell.masses)
    ph3 = Phono3py(cell, supercell_matrix=np.asarray(supercell_matrix),
                   primitive_matrix=np.asarray(primitive_matrix, float),
                   phonon_supercell_matrix=(None if phonon_supercell_matrix is None
                                            else np.asarray(phonon_supercell_matrix)),
                   log_level=0)
    ph3.dataset = fc3_dataset
    if fc2_dataset is not None and phonon_supercell_matrix is not None:
        ph3.phonon_dataset = fc2_dataset
    if nac is not None and len(nac.born) == len(ph3.primitive):
        ph3.nac_params = {"born": np.asarray(nac.born, float),
                          "dielectric": np.asarray(nac.dielectric, float),
                          "factor": float(nac.factor)}
    return ph3


def write_disp_yaml(path: str | os.PathLike, unitcell, supercell_matrix, primitive_matrix,
                    fc3_displacements, phonon_supercell_matrix=None, fc2_displacements=None,
                    nac=None) -> Path:
    """``phono3py_disp.yaml`` (cells, matrices, displacements, no forces) by phono3py's
    ``Phono3py.save``, atomically."""
    ph3 = phono3py_object(unitcell, supercell_matrix, primitive_matrix,
                          fc3_dataset_dict(fc3_displacements), phonon_supercell_matrix,
                          fc2_dataset_dict(fc2_displacements), nac)
    return replace_file(path, lambda tmp: ph3.save(tmp, settings={"force_sets": False}))


def write_phono3py_files(folder: str | os.PathLike, result, dataset) -> list[Path]:
    """fc3.hdf5, fc2.hdf5 and phono3py_disp.yaml of ``result`` (``ForceConstants3``) in
    ``folder``; ``dataset``: the ``phono3py_files.FC3Dataset`` it was solved from (cells,
    matrices, displacements, NAC). Returns the paths written."""
    folder = Path(folder)
    return [write_fc3_hdf5(folder / FC3_FILE, result),
            write_fc2_hdf5(folder / FC2_FILE, result),
            write_disp_yaml(folder / DISP_YAML_FILE, dataset.unitcell, dataset.supercell_matrix,
                            dataset.primitive_matrix, dataset.fc3_displacements,
                            dataset.phonon_supercell_matrix, dataset.fc2_displacements,
                            dataset.nac)]
