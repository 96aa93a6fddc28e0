"""phonopy's own files: ``phonopy_disp.yaml`` / ``phonopy.yaml`` + ``FORCE_SETS`` + ``BORN``.

What a phonopy user has on disk after a DFT run: the displacement yaml (unit cell,
supercell and primitive matrices, type-1 displacements), the forces in a separate
type-1 ``FORCE_SETS``, and for a polar crystal a ``BORN`` file (first line: the unit
factor, optionally G-cutoff and Λ, or a comment; then ε∞; then one Born charge per
symmetry-independent atom of the primitive cell, expanded to all atoms by their site
symmetry). The yaml is parsed by phonjax's safe loader (``readers.load_yaml_text``:
phonopy's ``PhonopyYaml.read`` and ``phonopy.load`` use PyYAML's full loader, under which
a ``!!python/object/apply`` tag runs code) and interpreted by phonopy's
``load_phonopy_yaml``; FORCE_SETS and BORN by phonopy's ``parse_FORCE_SETS`` and
``parse_BORN`` (phonopy is imported only here, on first use). Each is then checked
where phonopy is lenient, so that nothing is misread silently: force
rows of exactly three finite numbers and one per supercell atom, displacements of
non-zero length on atoms of the supercell, no lines left over, and a stored
supercell equal to the one built from ``supercell_matrix``. Without a
``primitive_matrix`` in the yaml, the primitive cell is ``phonopy.load``'s ``"auto"``
(``readers.primitive_matrix_of``). Each failure is a
``DatasetError`` of one line naming the file and the reason.

The NAC parameters of a phonopy_params / phonopy.yaml file (its ``nac`` section) are
read by ``nac_from_mapping`` for ``read_dataset`` too.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from phonjax.structure.supercell import build_primitive, build_supercell
from phonjax.structure.symmetry import SYMPREC
from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.io.dataset import DatasetError, PhononDataset
from phonjax.io.readers import (dataset_id, load_yaml_text, primitive_matrix_of, read_dataset,
                                 read_text, stored_supercell_problem)
from phonjax.harmonic.nac import NACError, NACParams

YAML_NAMES = ("phonopy_params.yaml", "phonopy.yaml", "phonopy_disp.yaml")


def _fail(path, reason: str) -> DatasetError:
    return DatasetError(f"{Path(path).name}: {reason}")


# --- BORN and nac sections ----------------------------------------------------------------


def read_born(path: str | os.PathLike, unitcell: Crystal, primitive_matrix,
              symprec: float = SYMPREC) -> NACParams:
    """Born charges (expanded to the primitive cell's atoms, in phonjax's = phonopy's
    order) and ε∞ of a BORN file, by phonopy's ``parse_BORN``. ``unitcell`` and
    ``primitive_matrix``: the cells the charges belong to."""
    from phonopy.structure.atoms import PhonopyAtoms

    from phonopy.file_IO import parse_BORN

    try:
        supercell, _ = build_supercell(unitcell, np.eye(3, dtype=np.int64), symprec)
        primitive = build_primitive(supercell, np.eye(3), primitive_matrix, symprec).crystal
    except CrystalError as exc:
        raise _fail(path, f"cannot build the primitive cell for the Born charges ({exc})") from None
    cell = PhonopyAtoms(cell=primitive.lattice, scaled_positions=primitive.frac_positions,
                        numbers=primitive.numbers, masses=primitive.masses)
    if not Path(path).is_file():
        raise _fail(path, "file not found")
    _check_born_rows(path, cell, primitive, symprec)
    try:
        params = parse_BORN(cell, symprec=symprec, filename=path)
    except (ValueError, RuntimeError, IndexError) as exc:  # BORNFileParseError is a RuntimeError
        raise _fail(path, f"not a valid BORN file ({str(exc).splitlines()[0]})") from None
    try:
        return NACParams(born=params["born"], dielectric=params["dielectric"],
                         factor=params.get("factor", NACParams.factor),
                         g_cutoff=params.get("G_cutoff"), lambda_=params.get("Lambda"),
                         source=str(path))
    except NACError as exc:
        raise _fail(path, str(exc)) from None


def _check_born_rows(path, cell, primitive: Crystal, symprec: float) -> None:
    """One row of Born charges per symmetry-independent atom of the primitive cell, no
    more, no fewer (phonopy reads as many rows as it needs and ignores the rest: a file
    of another crystal, or one listing every atom, would be misread silently)."""
    from phonopy.structure.symmetry import Symmetry

    try:
        rows = [line for line in Path(path).read_text().splitlines()[2:] if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read ({exc})") from None
    independent = Symmetry(cell, symprec=symprec).get_independent_atoms()
    if len(rows) != len(independent):
        atoms = ", ".join(f"{primitive.symbols[i]}{i + 1}" for i in independent)
        raise _fail(path, f"{len(rows)} row(s) of Born charges, but the primitive cell "
                    f"({primitive.n_atoms} atoms) has {len(independent)} symmetry-independent "
                    f"atom(s) ({atoms}), one row each in this order: the file belongs to "
                    "another crystal or cell")


def nac_from_mapping(data: dict, source: str | None = None) -> NACParams | None:
    """The NAC parameters of a parsed phonopy yaml mapping, as phonopy's ``PhonopyYaml``
    reads them: the ``nac`` section (or, before phonopy 2.18, ``born_effective_charge``
    and ``dielectric_constant`` at the top level); None without both."""
    section = data.get("nac") if isinstance(data.get("nac"), dict) else data
    if "born_effective_charge" not in section or "dielectric_constant" not in section:
        return None
    factor = section.get("unit_conversion_factor")
    header = section.get("phonopy")
    if factor is None and isinstance(header, dict):
        factor = header.get("nac_unit_conversion_factor")
    method = str(section.get("method", "gonze")).lower() if section is not data else "gonze"
    try:
        return NACParams(born=np.array(section["born_effective_charge"], dtype=float),
                         dielectric=np.array(section["dielectric_constant"], dtype=float),
                         factor=NACParams.factor if factor is None else float(factor),
                         method=method, source=source)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"malformed nac section ({exc})") from None


# --- FORCE_SETS -----------------------------------------------------------------------------


def _shown_line(text: str, limit: int = 40) -> str:
    """One line of a file, quoted and cut to ``limit`` characters, for a message."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _numbers_on(line: tuple[int, str], count: int, what: str) -> tuple[list | None, str | None]:
    """(the values on one numbered line, None) when it holds exactly ``count`` finite
    numbers (for ``count`` 1: one integer), else (None, the reason, naming the line)."""
    number, text = line
    tokens = text.split()
    kind = "an integer" if count == 1 else "numbers"
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        expected = "one integer" if count == 1 else f"{count} numbers"
        return None, (f"line {number}: {what} is not {kind} ({_shown_line(text)}); "
                      f"expected {expected}")
    if len(tokens) != count:
        return None, f"line {number}: {what} has {len(tokens)} numbers, expected {count}"
    if count == 1:
        if not values[0].is_integer() or not tokens[0].lstrip("+-").isdigit():
            return None, (f"line {number}: {what} is not an integer ({_shown_line(text)}); "
                          "expected one integer")
        values = [int(tokens[0])]
    if not all(np.isfinite(values)):
        return None, f"line {number}: {what} is not finite (NaN or infinite)"
    return values, None


def _type1_rows(natom: int, n_disp: int):
    """(what, how many numbers) of each line of a type-1 FORCE_SETS after its two counts,
    lazily (a huge atom count in a short file must not build a huge list)."""
    for d in range(1, n_disp + 1):
        yield f"the atom of displacement {d}", 1
        yield f"displacement {d}", 3
        for a in range(1, natom + 1):
            yield f"force row {a} of displacement {d}", 3


def _line_problem(lines: list[tuple[int, str]]) -> str | None:
    """The first line of a type-1 FORCE_SETS (numbered non-blank lines) whose shape or
    numbers are wrong: counts on the first two, one atom number, then three finite
    numbers per displacement and per force row. None when every line is right."""
    if len(lines) < 2:
        return ("empty file" if not lines else "the file ends after line 1") + (
            "; expected the number of atoms on its first line and the number of "
            "displacements on its second")
    counts = []
    for line, what, least in zip(lines, ("the number of atoms", "the number of displacements"),
                                 (1, 0)):
        values, problem = _numbers_on(line, 1, what)
        if problem:
            return problem
        if values[0] < least:
            return f"line {line[0]}: {what} is {values[0]}; expected an integer ≥ {least}"
        counts.append(values[0])
    natom, n_disp = counts
    k = 2
    for what, count in _type1_rows(natom, n_disp):
        if k >= len(lines):
            return f"the file ends before {what} ({n_disp} displacements of {natom} atoms)"
        _, problem = _numbers_on(lines[k], count, what)
        if problem:
            return problem
        k += 1
    if k < len(lines):
        return (f"line {lines[k][0]}: more lines than {n_disp} displacements of {natom} atoms "
                "take")
    return None


def _type2_problem(lines: list[tuple[int, str]]) -> str | None:
    """The refusal of a type-2 FORCE_SETS (six numbers a line: displacement and force of
    every atom), also when comment lines come first (which phonopy's reader rejects)."""
    comments = 0
    while comments < len(lines) and lines[comments][1].lstrip().startswith("#"):
        comments += 1
    if comments == len(lines) or len(lines[comments][1].split()) != 6:
        return None
    if comments:
        return (f"line {lines[comments][0]}: type-2 FORCE_SETS after a '#' comment on line "
                f"{lines[0][0]}, which phonopy's reader rejects: remove the comment")
    return ("type-2 FORCE_SETS (every atom displaced): read_force_sets reads type 1; read the "
            "folder or its phonopy_disp.yaml (phonjax.read_input) for type 2")


def read_force_sets(path: str | os.PathLike, n_supercell: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(displaced atoms (n,) 0-based, displacements (n, 3) Å, forces (n, N, 3) eV/Å) of a
    type-1 FORCE_SETS, read by phonopy's ``parse_FORCE_SETS`` after every line is checked
    (count and finiteness of its numbers; phonopy's reader takes rows of any length and
    ignores lines left over)."""
    from phonopy.file_IO import get_FORCE_SETS_type, parse_FORCE_SETS

    if not Path(path).is_file():
        raise _fail(path, "file not found")
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot read ({exc})") from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    problem = _type2_problem(lines) or _line_problem(lines)
    if problem:
        raise _fail(path, problem)
    if get_FORCE_SETS_type(path) != 1:  # pragma: no cover - the line check saw type 1
        raise _fail(path, "not a type-1 FORCE_SETS")
    dataset = parse_FORCE_SETS(filename=path)
    natom, entries = dataset["natom"], dataset["first_atoms"]
    if natom != n_supercell:
        raise _fail(path, f"forces on {natom} atoms, but the supercell has {n_supercell}")
    if not entries:
        raise _fail(path, "no displacements")
    atoms = np.array([e["number"] for e in entries], np.int64)
    disps = np.array([e["displacement"] for e in entries], float)
    forces = np.array([e["forces"] for e in entries], float)
    outside = np.flatnonzero((atoms < 0) | (atoms >= natom))
    if outside.size:
        k = int(outside[0])
        raise _fail(path, f"displacement {k + 1} moves atom {atoms[k] + 1}, outside 1..{natom}")
    zero = np.flatnonzero(np.linalg.norm(disps, axis=1) == 0)
    if zero.size:
        k = int(zero[0])
        raise _fail(path, f"displacement {k + 1} (atom {atoms[k] + 1}) has zero length")
    return atoms, disps, forces


# --- the displacement yaml ------------------------------------------------------------------


def crystal_of(atoms) -> Crystal:
    """phonopy's ``PhonopyAtoms`` as a phonjax ``Crystal``."""
    return Crystal(atoms.cell, atoms.scaled_positions, atoms.numbers, atoms.masses)


def yaml_nac(path, data, unitcell: Crystal, primitive_matrix, born=None, nac: bool = True,
             symprec: float = SYMPREC) -> NACParams | None:
    """The NAC parameters of a phonopy or phono3py yaml: those of ``born`` (a BORN file, read
    for this unit cell and P), else the yaml's ``nac`` section; None without either or with
    ``nac=False``. ``DatasetError`` in one line naming the file for a bad section."""
    if not nac:
        return None
    if born is not None:
        return read_born(born, unitcell, primitive_matrix, symprec)
    p = data.nac_params
    if p is None:
        return None
    try:
        return NACParams(born=p["born"], dielectric=p["dielectric"],
                         factor=p.get("factor", NACParams.factor),
                         method=p.get("method", "gonze"), source=str(path))
    except NACError as exc:
        raise _fail(path, str(exc)) from None


def yaml_cells(path, data, symprec: float = SYMPREC) -> tuple[Crystal, np.ndarray, str]:
    """(unit cell, primitive matrix P, how P was chosen) of a phonopy or phono3py yaml's data:
    Å and eV/Å units only, a unit cell and a supercell matrix present, P the yaml's
    ``primitive_matrix`` or else phonopy.load's "auto" (``readers.primitive_matrix_of``);
    ``DatasetError`` in one line naming the file otherwise."""
    units = data.physical_units
    if units is not None and (units.length_unit != "angstrom"
                              or units.force_unit != "eV/angstrom"):
        raise _fail(path, f"units {units.length_unit}, {units.force_unit} are not supported "
                    "(Å and eV/Å only)")
    if data.unitcell is None or data.supercell_matrix is None:
        raise _fail(path, "no unit_cell or supercell_matrix")
    try:
        unitcell = crystal_of(data.unitcell)
        pmat, rule = primitive_matrix_of(unitcell, data.primitive_matrix, symprec)
    except (CrystalError, DatasetError) as exc:
        raise _fail(path, str(exc)) from None
    return unitcell, pmat, rule


def _check_stored_supercell(path, stored, built: Crystal, symprec: float) -> None:
    """The yaml's ``supercell`` must be the one built from its unit cell and matrix."""
    if stored is None:
        return
    stored = crystal_of(stored)
    problem = stored_supercell_problem(built, stored.lattice, stored.frac_positions,
                                       stored.numbers, symprec)
    if problem:
        raise _fail(path, problem)


def interpreted_yaml(path: str | os.PathLike, interpret, what: str):
    """``interpret(mapping)`` of a yaml file (plain, .xz, .gz, .bz2): the text parsed by the
    safe loader (a tag that would run code is refused in one line), then handed as a
    mapping to the library's own interpreter (``load_phonopy_yaml``, ``load_phono3py_yaml``:
    no YAML parsing of their own). ``DatasetError`` in one line naming the file, saying it
    is not ``what`` where the interpreter refuses it."""
    if not Path(path).is_file():
        raise _fail(path, "file not found")
    try:
        mapping = load_yaml_text(read_text(path))
    except DatasetError as exc:
        raise _fail(path, str(exc)) from None
    if not isinstance(mapping, dict):
        raise _fail(path, f"not {what} (no top-level mapping)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return interpret(mapping)
        except Exception as exc:  # the libraries raise many kinds for a bad yaml
            raise _fail(path, f"not {what} ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def phonopy_yaml_data(path: str | os.PathLike):
    """phonopy's ``PhonopyYamlData`` of a phonopy_disp.yaml / phonopy.yaml
    (``interpreted_yaml`` with phonopy's ``load_phonopy_yaml``)."""
    from phonopy.interface.phonopy_yaml import load_phonopy_yaml

    return interpreted_yaml(path, load_phonopy_yaml, "a phonopy yaml")


def read_phonopy_yaml(path: str | os.PathLike, force_sets: str | os.PathLike | None = None,
                      born: str | os.PathLike | None = None, nac: bool = True,
                      symprec: float = SYMPREC) -> PhononDataset:
    """A dataset from phonopy_disp.yaml / phonopy.yaml (``phonopy_yaml_data``) with its
    forces from the yaml itself or from ``force_sets`` (a type-1 FORCE_SETS), and its NAC
    parameters from ``born`` (a BORN file) or else the yaml's ``nac`` section
    (``nac=False``: none). P: the yaml's ``primitive_matrix``, else phonopy.load's "auto"."""
    data = phonopy_yaml_data(path)
    unitcell, pmat, rule = yaml_cells(path, data, symprec)
    try:
        name = (dataset_id_of_folder(Path(path).parent) if plain_name(Path(path)) in YAML_NAMES
                else dataset_id(path))
        base = PhononDataset(id=name, unitcell=unitcell,
                             supercell_matrix=data.supercell_matrix, primitive_matrix=pmat,
                             source=str(path))
        built, _ = build_supercell(unitcell, base.supercell_matrix, symprec)
    except (CrystalError, DatasetError) as exc:
        raise _fail(path, str(exc)) from None
    _check_stored_supercell(path, data.supercell, built, symprec)
    atoms = disps = forces = fields = None
    first = (data.dataset or {}).get("first_atoms")
    if data.dataset is not None and first is None:  # type 2: every atom displaced
        fields, forces = _type2_of(path, data.dataset, built.n_atoms)
    if first:
        atoms = np.array([d["number"] for d in first], np.int64)
        disps = np.array([np.asarray(d["displacement"], float) for d in first])
        if all("forces" in d for d in first):
            forces = np.array([np.asarray(d["forces"], float) for d in first])
    if forces is None and force_sets is not None and _is_type2(force_sets):
        fields, forces = _type2_force_sets(force_sets, built.n_atoms)
        atoms = disps = None  # phonopy uses the FORCE_SETS's displacements
    elif forces is None and force_sets is not None:
        fs_atoms, fs_disps, forces = read_force_sets(force_sets, built.n_atoms)
        if atoms is not None and (len(atoms) != len(fs_atoms) or (atoms != fs_atoms).any()
                                  or np.abs(disps - fs_disps).max() > 1e-6):
            warnings.warn(f"the displacements in {Path(force_sets).name} are not those of "
                          f"{Path(path).name}; those of {Path(force_sets).name} are used "
                          "(as phonopy does)", UserWarning, stacklevel=2)
        atoms, disps = fs_atoms, fs_disps
    if disps is not None and (np.linalg.norm(disps, axis=1) == 0).any():
        raise _fail(path, "a displacement has zero length")
    nac_params = yaml_nac(path, data, unitcell, pmat, born, nac, symprec)
    try:
        return PhononDataset(id=base.id, unitcell=unitcell, supercell_matrix=base.supercell_matrix,
                             primitive_matrix=pmat, displaced_atoms=atoms, displacements=disps,
                             forces=forces, source=str(path), nac=nac_params,
                             primitive_matrix_rule=rule, displacement_fields=fields)
    except DatasetError as exc:
        raise _fail(force_sets or path, str(exc)) from None


def _type2_of(path, dataset: dict, n_atoms: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(displacements (n, N, 3) Å, forces (n, N, 3) eV/Å or None) of a yaml's type-2 dataset."""
    try:
        fields = np.asarray(dataset["displacements"], float).reshape(-1, n_atoms, 3)
        forces = dataset.get("forces")
        forces = None if forces is None else np.asarray(forces, float).reshape(-1, n_atoms, 3)
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"malformed type-2 dataset ({type(exc).__name__}: {exc})") from None
    return fields, forces


def _is_type2(force_sets) -> bool:
    """A FORCE_SETS whose first line holds six numbers (a displacement and a force: type 2)."""
    from phonjax.io.phono3py_files import is_type2_force_file

    try:
        first = Path(force_sets).read_text().lstrip().split("\n", 1)[0]
    except (OSError, UnicodeDecodeError):
        return False  # read_force_sets names the problem
    return not first.startswith("#") and is_type2_force_file(force_sets)


def _type2_force_sets(path, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """(displacements, forces) (n, N, 3) of a type-2 FORCE_SETS (phonopy's parser)."""
    from phonjax.io.phono3py_files import read_type2_forces

    return read_type2_forces(path, n_atoms)


def _with_born(ds: PhononDataset, born, nac: bool, symprec: float = SYMPREC) -> PhononDataset:
    """``ds`` with its NAC parameters from ``born`` (a BORN file; before the file's own
    ``nac`` section, as in phonopy), or none when ``nac`` is False."""
    if not nac:
        ds.nac = None
    elif born is not None:
        ds.nac = read_born(born, ds.unitcell, ds.primitive_matrix, symprec)
    return ds


def _read_yaml_in_folder(yaml_path: Path, born, nac: bool, symprec: float,
                         require_forces: bool = True) -> PhononDataset:
    """A displacement yaml with the FORCE_SETS and BORN next to it (``born`` first);
    ``require_forces=False``: displacements only are fine (a model gives the forces)."""
    folder = yaml_path.parent
    force_sets = folder / "FORCE_SETS" if (folder / "FORCE_SETS").is_file() else None
    if born is None and (folder / "BORN").is_file():
        born = folder / "BORN"
    ds = read_phonopy_yaml(yaml_path, force_sets, born, nac, symprec)
    if ds.forces is None and require_forces:
        raise _fail(yaml_path, "has no forces and there is no FORCE_SETS next to it")
    return ds


def plain_name(path: Path) -> str:
    """The file's name without a compression suffix (.xz, .gz, .bz2)."""
    name = path.name
    for ext in (".xz", ".gz", ".bz2"):
        name = name[: -len(ext)] if name.endswith(ext) else name
    return name


def read_phonopy_folder(folder: str | os.PathLike, born: str | os.PathLike | None = None,
                        nac: bool = True, symprec: float = SYMPREC,
                        require_forces: bool = True) -> PhononDataset:
    """A dataset from a phonopy folder: its phonopy_params.yaml (self-contained, by
    ``read_dataset``) or else its phonopy.yaml / phonopy_disp.yaml with FORCE_SETS, and
    BORN (or ``born``) for the non-analytical correction unless ``nac`` is False."""

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    found = {plain_name(p): p for p in sorted(folder.iterdir(), reverse=True)
             if plain_name(p) in YAML_NAMES and p.is_file()}
    if "phonopy_params.yaml" in found:
        if born is None and (folder / "BORN").is_file():
            born = folder / "BORN"
        ds = read_dataset(found["phonopy_params.yaml"])
        ds.id = dataset_id_of_folder(folder)
        return _with_born(ds, born, nac, symprec)
    for name in YAML_NAMES[1:]:
        if name in found:
            return _read_yaml_in_folder(found[name], born, nac, symprec, require_forces)
    raise DatasetError(f"{folder.name}: no {', '.join(YAML_NAMES)} in the folder")


def dataset_id_of_folder(folder: Path) -> str:
    return Path(folder).resolve().name


def read_input(path: str | os.PathLike, born: str | os.PathLike | None = None,
               nac: bool = True, require_forces: bool = True) -> PhononDataset:
    """What ``phonjax phonons`` reads from one argument: a phonopy folder
    (``read_phonopy_folder``); a phonopy.yaml / phonopy_disp.yaml with the FORCE_SETS
    (and BORN) next to it; or a self-contained phonopy_params / Alexandria file
    (``read_dataset``). ``born``: a BORN file for the non-analytical correction (before
    any in the files); ``nac=False``: no correction; ``require_forces=False``: a
    phonopy_disp.yaml without FORCE_SETS is read too (for a model's forces)."""

    path = Path(path)
    if path.is_dir():
        return read_phonopy_folder(path, born, nac, require_forces=require_forces)
    if plain_name(path) in YAML_NAMES[1:]:
        return _read_yaml_in_folder(path, born, nac, SYMPREC, require_forces)
    return _with_born(read_dataset(path), born, nac)
