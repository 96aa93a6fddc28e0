"""phono3py's own files: ``phono3py_disp.yaml`` / ``phono3py.yaml`` + ``FORCES_FC3`` (+
``FORCES_FC2``, + ``BORN``), and the self-contained ``phono3py_params.yaml(.xz)``.

What a phono3py user has on disk after a DFT run, read into one frozen ``FC3Dataset``: the
unit cell (a phonjax ``Crystal``), the FC3 supercell matrix S, the primitive matrix P (the
file's, else ``phono3py.load``'s "auto"), the FC2 supercell matrix when FC2 has its own
cell (``phonon_supercell_matrix``), the FC3 displacements (type 1: ``PairDisplacements``,
first and second atoms; type 2: ``RandomDisplacements``, every atom of every supercell) with
their forces, the FC2 displacements and forces when they are separate, and the NAC
parameters (a BORN file before the yaml's ``nac`` section, as phono3py does).

Parsing: the yaml text goes through phonjax's safe loader (``readers.load_yaml_text``:
phono3py's ``Phono3pyYaml.read`` uses PyYAML's full loader, under which a
``!!python/object/apply`` tag runs code; such a file is refused in one line) and the
mapping is interpreted by phono3py's ``load_phono3py_yaml``; ``FORCES_FC3`` / ``FORCES_FC2``
by phono3py's ``parse_FORCES_FC3`` / ``parse_FORCES_FC2`` (type 1) or phonopy's
``parse_FORCE_SETS`` (type 2: six numbers a line); BORN by phonopy's ``parse_BORN``
(``phonopy_files.read_born``). The line count of a force file is checked first (phono3py
reshapes whatever it finds), and every failure is a one-line ``DatasetError`` naming the
file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phonjax.harmonic.nac import NACParams
from phonjax.io.dataset import DatasetError
from phonjax.io.phonopy_files import (crystal_of, interpreted_yaml, plain_name, yaml_cells,
                                      yaml_nac)
from phonjax.io.readers import read_text, stored_supercell_problem
from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.structure.supercell import build_supercell
from phonjax.structure.symmetry import SYMPREC

YAML_NAMES = ("phono3py_params.yaml", "phono3py.yaml", "phono3py_disp.yaml")


@dataclass(frozen=True, eq=False)
class PairDisplacements:
    """A type-1 FC3 dataset: supercell n (0 ≤ n < n_first) moves ``first_atoms[n]`` by
    ``first_displacements[n]``; pair supercell m moves first displacement
    ``first_of_pair[m]`` and ``second_atoms[m]`` by ``second_displacements[m]``. Atoms
    0-based, displacements Cartesian Å. ``pair_distances`` (Å, NaN where the file has none)
    and ``included`` (False: beyond ``cutoff_distance``, zero forces) as phono3py writes them."""

    first_atoms: np.ndarray  # (n1,)
    first_displacements: np.ndarray  # (n1, 3)
    first_of_pair: np.ndarray  # (n2,)
    second_atoms: np.ndarray  # (n2,)
    second_displacements: np.ndarray  # (n2, 3)
    pair_distances: np.ndarray  # (n2,)
    included: np.ndarray  # (n2,) bool
    cutoff_distance: float | None = None

    @property
    def n_supercells(self) -> int:
        return len(self.first_atoms) + len(self.second_atoms)


@dataclass(frozen=True, eq=False)
class SingleDisplacements:
    """A type-1 FC2 dataset (phonopy's): supercell n moves ``atoms[n]`` by ``displacements[n]``."""

    atoms: np.ndarray  # (n,)
    displacements: np.ndarray  # (n, 3) Å

    @property
    def n_supercells(self) -> int:
        return len(self.atoms)


@dataclass(frozen=True, eq=False)
class RandomDisplacements:
    """A type-2 dataset: every atom of every supercell displaced, (n, N, 3) Å."""

    displacements: np.ndarray

    @property
    def n_supercells(self) -> int:
        return len(self.displacements)


@dataclass(frozen=True, eq=False)
class FC3Dataset:
    """Everything phono3py reads for FC3 and FC2 from one folder or params file.

    ``fc3_forces`` (n, N, 3) eV/Å in dataset order (type 1: the first displacements, then
    every pair), None when the file has displacements only. ``fc2_displacements`` /
    ``fc2_forces``: the separate FC2 dataset of the ``phonon_supercell_matrix`` cell (None
    without one: FC2 then comes from the FC3 dataset's first displacements)."""

    id: str
    unitcell: Crystal
    supercell_matrix: np.ndarray  # (3, 3) int
    primitive_matrix: np.ndarray  # (3, 3) float
    fc3_displacements: PairDisplacements | RandomDisplacements
    fc3_forces: np.ndarray | None = None
    phonon_supercell_matrix: np.ndarray | None = None
    fc2_displacements: SingleDisplacements | RandomDisplacements | None = None
    fc2_forces: np.ndarray | None = None
    nac: NACParams | None = None
    primitive_matrix_rule: str = ""
    source: str = ""

    @property
    def is_random(self) -> bool:
        return isinstance(self.fc3_displacements, RandomDisplacements)

    @property
    def fc2_supercell_matrix(self) -> np.ndarray:
        """The supercell FC2 lives in: ``phonon_supercell_matrix``, else S."""
        return (self.supercell_matrix if self.phonon_supercell_matrix is None
                else self.phonon_supercell_matrix)


def _fail(path, reason: str) -> DatasetError:
    return DatasetError(f"{Path(path).name}: {reason}")


def phono3py_yaml_data(path: str | os.PathLike):
    """phono3py's ``Phono3pyYamlData`` of a phono3py yaml (plain, .xz, .gz, .bz2):
    ``phonopy_files.interpreted_yaml`` with phono3py's ``load_phono3py_yaml``."""
    from phono3py.interface.phono3py_yaml import load_phono3py_yaml

    return interpreted_yaml(path, load_phono3py_yaml, "a phono3py yaml")


def _force_lines(path) -> list[list[str]]:
    """The non-comment, non-blank lines of a force file, split."""
    try:
        text = read_text(path)
    except DatasetError as exc:
        raise _fail(path, str(exc)) from None
    return [line.split() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _checked_forces(path, forces, n_supercells: int, n_atoms: int) -> np.ndarray:
    forces = np.asarray(forces, float)
    if forces.shape != (n_supercells, n_atoms, 3):
        raise _fail(path, f"forces of shape {forces.shape}, expected ({n_supercells}, "
                    f"{n_atoms}, 3)")
    if not np.isfinite(forces).all():
        raise _fail(path, "a force is not finite (NaN or infinite)")
    return forces


def _read_forces_type1(path, dataset: dict, n_supercells: int, n_atoms: int, fc3: bool
                       ) -> np.ndarray:
    """Forces of a type-1 dataset (phono3py's dict) from FORCES_FC3 / FORCES_FC2 by
    phono3py's parsers, after the row count and the three numbers of every row are checked."""
    from phono3py.file_IO import parse_FORCES_FC2, parse_FORCES_FC3

    rows = _force_lines(path)
    expected = n_supercells * n_atoms
    if len(rows) != expected:
        raise _fail(path, f"{len(rows)} force rows, expected {expected} ({n_supercells} "
                    f"supercells of {n_atoms} atoms)")
    bad = next((i for i, r in enumerate(rows) if len(r) != 3), None)
    if bad is not None:
        raise _fail(path, f"force row {bad + 1} has {len(rows[bad])} numbers, expected 3")
    try:
        if fc3:
            parse_FORCES_FC3(dataset, path)
            entries = [d["forces"] for d in dataset["first_atoms"]] + [
                d2["forces"] for d in dataset["first_atoms"] for d2 in d["second_atoms"]]
        else:
            parse_FORCES_FC2(dataset, path)
            entries = [d["forces"] for d in dataset["first_atoms"]]
    except (ValueError, RuntimeError, KeyError) as exc:
        raise _fail(path, f"not a force file ({str(exc).splitlines()[0]})") from None
    return _checked_forces(path, entries, n_supercells, n_atoms)


def read_type2_forces(path, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """(displacements, forces) (n, N, 3) of a type-2 force file by phonopy's
    ``parse_FORCE_SETS``."""
    from phonopy.file_IO import parse_FORCE_SETS

    rows = _force_lines(path)
    if not rows or len(rows) % n_atoms:
        raise _fail(path, f"{len(rows)} rows, not a multiple of the supercell's {n_atoms} atoms")
    try:
        ds = parse_FORCE_SETS(filename=path, natom=n_atoms)
    except (ValueError, RuntimeError, IndexError) as exc:
        raise _fail(path, f"not a type-2 force file ({str(exc).splitlines()[0]})") from None
    disps = np.asarray(ds["displacements"], float).reshape(-1, n_atoms, 3)
    return disps, _checked_forces(path, ds["forces"], len(disps), n_atoms)


def is_type2_force_file(path) -> bool:
    rows = _force_lines(path)
    return bool(rows) and len(rows[0]) == 6


def _pairs_of(path, dataset: dict, n_atoms: int) -> PairDisplacements:
    first = dataset["first_atoms"]
    if not first:
        raise _fail(path, "no displacements")
    pairs = [(n, d2) for n, d in enumerate(first) for d2 in d["second_atoms"]]
    cutoff = dataset.get("cutoff_distance")

    def included(d2: dict) -> bool:  # the file's flag, else phono3py's rule: distance < cutoff
        if "included" in d2:
            return bool(d2["included"])
        if cutoff is not None and "pair_distance" in d2:
            return float(d2["pair_distance"]) < float(cutoff)
        return True

    out = PairDisplacements(
        first_atoms=np.array([d["number"] for d in first], np.int64),
        first_displacements=np.array([d["displacement"] for d in first], float).reshape(-1, 3),
        first_of_pair=np.array([n for n, _ in pairs], np.int64),
        second_atoms=np.array([d2["number"] for _, d2 in pairs], np.int64),
        second_displacements=np.array([d2["displacement"] for _, d2 in pairs],
                                      float).reshape(-1, 3),
        pair_distances=np.array([d2.get("pair_distance", np.nan) for _, d2 in pairs], float),
        included=np.array([included(d2) for _, d2 in pairs], bool),
        cutoff_distance=(None if dataset.get("cutoff_distance") is None
                         else float(dataset["cutoff_distance"])))
    atoms = np.concatenate([out.first_atoms, out.second_atoms])
    if ((atoms < 0) | (atoms >= n_atoms)).any():
        raise _fail(path, f"a displaced atom outside 1..{n_atoms}")
    for name, d in (("first", out.first_displacements), ("second", out.second_displacements)):
        if len(d) and ((np.linalg.norm(d, axis=1) == 0).any() or not np.isfinite(d).all()):
            raise _fail(path, f"a {name} displacement has zero length or is not finite")
    return out


def _single_of(path, dataset: dict, n_atoms: int) -> SingleDisplacements:
    first = dataset["first_atoms"]
    if not first:
        raise _fail(path, "no FC2 displacements")
    out = SingleDisplacements(np.array([d["number"] for d in first], np.int64),
                              np.array([d["displacement"] for d in first], float).reshape(-1, 3))
    if ((out.atoms < 0) | (out.atoms >= n_atoms)).any():
        raise _fail(path, f"an FC2 displaced atom outside 1..{n_atoms}")
    return out


def _dataset_forces(dataset: dict, type1_fc3: bool | None):
    """The forces stored in a phono3py dataset dict, or None."""
    if "first_atoms" in dataset:
        firsts = dataset["first_atoms"]
        entries = list(firsts)
        if type1_fc3:
            entries += [d2 for d in firsts for d2 in d["second_atoms"]]
        if entries and all("forces" in d for d in entries):
            return [d["forces"] for d in entries]
        return None
    return dataset.get("forces")


def _section(path, which: str, dataset, n_atoms: int, forces_file, fc3: bool):
    """(displacements record, forces or None) of the FC3 (``fc3``) or FC2 dataset: forces
    from the yaml, else from ``forces_file`` (type 1 or type 2)."""
    if dataset is None and forces_file is not None and is_type2_force_file(forces_file):
        disps, forces = read_type2_forces(forces_file, n_atoms)
        return RandomDisplacements(disps), forces
    if dataset is None:
        raise _fail(path, f"no {which} displacements")
    if "first_atoms" in dataset:
        record = _pairs_of(path, dataset, n_atoms) if fc3 else _single_of(path, dataset, n_atoms)
        stored = _dataset_forces(dataset, fc3)
        if stored is not None:
            return record, _checked_forces(path, stored, record.n_supercells, n_atoms)
        if forces_file is None:
            return record, None
        return record, _read_forces_type1(forces_file, dataset, record.n_supercells, n_atoms,
                                          fc3)
    if "displacements" in dataset:
        disps = np.asarray(dataset["displacements"], float)
        if disps.ndim != 3 or disps.shape[1:] != (n_atoms, 3):
            raise _fail(path, f"{which} displacements of shape {disps.shape}, expected "
                        f"(n, {n_atoms}, 3)")
        record = RandomDisplacements(disps)
        if dataset.get("forces") is not None:
            return record, _checked_forces(path, dataset["forces"], len(disps), n_atoms)
        if forces_file is None:
            return record, None
        _, forces = read_type2_forces(forces_file, n_atoms)
        return record, _checked_forces(forces_file, forces, len(disps), n_atoms)
    raise _fail(path, f"the {which} dataset is neither type 1 nor type 2")


def _supercell_atoms(path, unitcell: Crystal, matrix, stored, symprec: float) -> int:
    try:
        built, _ = build_supercell(unitcell, np.asarray(matrix, np.int64), symprec)
    except CrystalError as exc:
        raise _fail(path, str(exc)) from None
    if stored is not None:
        cell = crystal_of(stored)
        problem = stored_supercell_problem(built, cell.lattice, cell.frac_positions,
                                           cell.numbers, symprec)
        if problem:
            raise _fail(path, problem)
    return built.n_atoms


def read_phono3py_yaml(path: str | os.PathLike, forces_fc3: str | os.PathLike | None = None,
                       forces_fc2: str | os.PathLike | None = None,
                       born: str | os.PathLike | None = None, nac: bool = True,
                       symprec: float = SYMPREC, id: str | None = None) -> FC3Dataset:
    """An ``FC3Dataset`` from a phono3py yaml (disp, plain or params), with the forces of
    the yaml itself or of ``forces_fc3`` / ``forces_fc2``, and the NAC parameters of
    ``born`` or else the yaml's ``nac`` section (``nac=False``: none)."""
    data = phono3py_yaml_data(path)
    unitcell, pmat, rule = yaml_cells(path, data, symprec)
    smat = np.asarray(data.supercell_matrix, np.int64)
    n_fc3 = _supercell_atoms(path, unitcell, smat, data.supercell, symprec)
    fc3_disps, fc3_forces = _section(path, "FC3", data.dataset, n_fc3, forces_fc3, True)
    ph_smat = fc2_disps = fc2_forces = None
    if data.phonon_supercell_matrix is not None:
        ph_smat = np.asarray(data.phonon_supercell_matrix, np.int64)
        n_fc2 = _supercell_atoms(path, unitcell, ph_smat, data.phonon_supercell, symprec)
        if data.phonon_dataset is not None or forces_fc2 is not None:
            fc2_disps, fc2_forces = _section(path, "FC2", data.phonon_dataset, n_fc2,
                                             forces_fc2, False)
    nac_params = yaml_nac(path, data, unitcell, pmat, born, nac, symprec)
    name = id or (Path(path).resolve().parent.name if plain_name(Path(path)) in YAML_NAMES
                  else plain_name(Path(path)).removesuffix(".yaml"))
    return FC3Dataset(id=name, unitcell=unitcell, supercell_matrix=smat, primitive_matrix=pmat,
                      fc3_displacements=fc3_disps, fc3_forces=fc3_forces,
                      phonon_supercell_matrix=ph_smat, fc2_displacements=fc2_disps,
                      fc2_forces=fc2_forces, nac=nac_params, primitive_matrix_rule=rule,
                      source=str(path))


def _compressed(folder: Path, name: str) -> Path | None:
    for ext in ("", ".xz", ".gz", ".bz2"):
        if (folder / f"{name}{ext}").is_file():
            return folder / f"{name}{ext}"
    return None


def read_phono3py_folder(folder: str | os.PathLike, born: str | os.PathLike | None = None,
                         nac: bool = True, symprec: float = SYMPREC) -> FC3Dataset:
    """An ``FC3Dataset`` from a phono3py folder: its phono3py_params.yaml, phono3py.yaml or
    phono3py_disp.yaml (first found, in that order; compressed too), with FORCES_FC3,
    FORCES_FC2 and BORN next to it (``born`` first) when they are there."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    yaml_path = next((p for p in (_compressed(folder, n) for n in YAML_NAMES) if p), None)
    if yaml_path is None:
        found = sorted(p for p in folder.iterdir() if plain_name(p).startswith("phono3py")
                       and plain_name(p).endswith(".yaml"))
        if len(found) != 1:
            raise DatasetError(f"{folder.name}: no {', '.join(YAML_NAMES)} in the folder")
        yaml_path = found[0]
    if born is None:
        born = _compressed(folder, "BORN")
    return read_phono3py_yaml(yaml_path, _compressed(folder, "FORCES_FC3"),
                              _compressed(folder, "FORCES_FC2"), born, nac, symprec,
                              id=folder.resolve().name)
