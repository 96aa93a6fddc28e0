"""Input of the single-crystal workflow: structures and force sets, named, checked.

An *input* is one crystal with a name: a ``Crystal`` read from any structure file ASE reads
(CIF, POSCAR, extxyz — every frame of a multi-frame file), an ASE ``Atoms``, a pymatgen
``Structure``, or force-set data, which also brings its supercell and primitive matrices, its
DFT forces and its Born charges: a phonopy folder (phonopy_disp.yaml or phonopy.yaml with
FORCE_SETS, or phonopy_params.yaml; BORN next to them), a phonopy.yaml / phonopy_disp.yaml
(FORCE_SETS and BORN next to it), a phonopy_params or Alexandria file, plain or compressed;
all through ``phonjax.io.read_input``, as ``phonjax phonons`` reads them.
A file that cannot be used raises ``InputError`` with one line: the file and the reason
(not found, not a structure ASE can read, not periodic in three directions, a disordered site:
partial occupancy or several species on one site, …). An input's name is a safe folder name
(``safe_name``): never empty, ``.``, ``..`` or with a path separator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.io import DatasetError, PhononDataset

FORCE_SET_SUFFIXES = (".yaml", ".yml", ".yaml.xz", ".yaml.bz2", ".yaml.gz", ".yml.xz",
                      ".yml.bz2", ".yml.gz")
OCCUPANCY_TOLERANCE = 1e-4  # a site is ordered if one species has occupancy 1 within this
MAX_SITES_LISTED = 5  # disordered sites named in the error line


class InputError(ValueError):
    """An input that cannot be used; the message is one line naming it."""


@dataclass(frozen=True, eq=False)
class CrystalInput:
    name: str
    crystal: Crystal
    source: str | None = None  # file the crystal came from
    dataset: PhononDataset | None = None  # a force-set file's content (S, P, forces)


def is_phonopy_folder(path: str | os.PathLike) -> bool:
    """A folder with phonopy_params.yaml, phonopy.yaml or phonopy_disp.yaml (plain or
    compressed) in it."""
    from phonjax.io.phonopy_files import YAML_NAMES, plain_name

    path = Path(path)
    return path.is_dir() and any(plain_name(f) in YAML_NAMES and f.is_file()
                                 for f in path.iterdir())


def is_force_set_file(path: str | os.PathLike) -> bool:
    """Force-set data (a file by its suffix, or a phonopy folder), not a structure file."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    return str(path).lower().endswith(FORCE_SET_SUFFIXES) or is_phonopy_folder(path)


def _name_of(path: Path) -> str:
    name = path.name
    for suffix in sorted(FORCE_SET_SUFFIXES + (".cif", ".vasp", ".extxyz", ".xyz", ".json"),
                         key=len, reverse=True):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def safe_name(name: str | None, path: str | os.PathLike | None = None) -> str:
    """``name`` made safe as a folder name inside an output folder: path separators and NUL
    become "_"; a name that is empty or only dots (``.``, ``..``: a file named ``...yaml.xz``)
    becomes the file's own name with its leading dots as "_" (``___yaml.xz``), or
    "structure"."""
    name = "" if name is None else str(name)
    for bad in {"/", "\\", "\0", os.sep, os.altsep or "/"}:
        name = name.replace(bad, "_")
    if name.strip(".").strip():
        return name
    base = Path(path).name if path is not None else ""
    base = "_" * (len(base) - len(base.lstrip("."))) + base.lstrip(".")
    return safe_name(base) if base.strip("_").strip() else "structure"


def _position(frac) -> str:
    return "(" + ", ".join(f"{float(x) + 0.0:.4g}" for x in frac) + ")"


def _species(occupancies: dict) -> str:
    return " + ".join(f"{el} {float(o):g}" for el, o in occupancies.items())


def _is_ordered(occupancies: dict) -> bool:
    values = [float(o) for o in occupancies.values()]
    return len(values) == 1 and abs(values[0] - 1.0) <= OCCUPANCY_TOLERANCE


def disordered_sites_ase(atoms) -> list[str]:
    """The disordered sites of ASE ``Atoms`` read from a CIF (``atoms.info['occupancy']``:
    per site kind, or per atom without ``spacegroup_kinds``, a {symbol: occupancy} map), each
    as "Na 0.5 + K 0.5 at (0, 0, 0), 4 atoms"; empty for an ordered crystal."""
    info = getattr(atoms, "info", None)
    occupancy = info.get("occupancy") if isinstance(info, dict) else None
    if not isinstance(occupancy, dict):
        return []
    kinds = atoms.arrays.get("spacegroup_kinds") if hasattr(atoms, "arrays") else None
    frac = atoms.get_scaled_positions(wrap=False)
    out = []
    for key, occ in occupancy.items():
        if not isinstance(occ, dict) or _is_ordered(occ):
            continue
        try:
            k = int(key)
        except (TypeError, ValueError):
            out.append(f"site {key}: {_species(occ)}")
            continue
        index = [i for i in range(len(atoms)) if (kinds[i] == k if kinds is not None else i == k)]
        if index:  # a kind with no atoms duplicates another one (the same site, merged)
            out.append(f"{_species(occ)} at {_position(frac[index[0]])}, {len(index)} atom(s)")
    return out


def disordered_sites_pymatgen(structure) -> list[str]:
    """The disordered sites of a pymatgen ``Structure``, each as "site 0: Na 0.5 + K 0.5 at
    (0, 0, 0)"; empty for an ordered one."""
    out = []
    for i, site in enumerate(structure):
        occ = {str(el): float(o) for el, o in site.species.items()}
        if not _is_ordered(occ):
            out.append(f"site {i}: {_species(occ)} at {_position(site.frac_coords)}")
    return out


def _refuse_disorder(sites: list[str], name: str) -> None:
    if not sites:
        return
    shown = "; ".join(sites[:MAX_SITES_LISTED])
    if len(sites) > MAX_SITES_LISTED:
        shown += f"; and {len(sites) - MAX_SITES_LISTED} more"
    raise InputError(f"{name}: disordered site(s) (partial occupancy or several species on one "
                     f"site): {shown}; phonons need an ordered crystal: give every site one "
                     "species with occupancy 1 (e.g. an ordered supercell)")


def crystal_of(obj, name: str = "structure") -> Crystal:
    """A ``Crystal`` from a ``Crystal``, ASE ``Atoms`` or pymatgen ``Structure`` (checked:
    periodic in three directions, a non-singular cell, ordered sites: a partial occupancy or
    several species on one site raises ``InputError`` naming the sites)."""
    if isinstance(obj, Crystal):
        return obj
    try:
        if hasattr(obj, "get_scaled_positions"):  # ASE Atoms
            if len(obj) == 0:
                raise InputError(f"{name}: no atoms")
            if not all(obj.pbc) or abs(obj.cell.volume) < 1e-6:
                raise InputError(f"{name}: not periodic in all three directions "
                                 f"(pbc={[bool(p) for p in obj.pbc]}, cell volume "
                                 f"{abs(obj.cell.volume):.3g} Å³); phonons need a 3D crystal")
            _refuse_disorder(disordered_sites_ase(obj), name)
            return Crystal.from_ase(obj)
        if hasattr(obj, "frac_coords") and hasattr(obj, "lattice"):  # pymatgen Structure
            _refuse_disorder(disordered_sites_pymatgen(obj), name)
            return Crystal.from_pymatgen(obj)
    except CrystalError as exc:
        raise InputError(f"{name}: {exc}") from None
    raise InputError(f"{name}: expected a file name, ASE Atoms, pymatgen Structure or "
                     f"phonjax Crystal, got {type(obj).__name__}")


def read_inputs(source, name: str | None = None, nac: bool = True,
                require_forces: bool = True) -> list[CrystalInput]:
    """The crystals of one source: a path (structure file, force-set file or phonopy folder)
    or an object. ``nac=False``: a force-set input's Born charges are not read;
    ``require_forces=False``: a phonopy_disp.yaml without FORCE_SETS is fine (a model will
    give the forces)."""
    if not isinstance(source, (str, os.PathLike)):
        info = getattr(source, "info", None)
        label = safe_name(name or (info.get("name") if isinstance(info, dict) else None)
                          or _formula_name(source))
        return [CrystalInput(label, crystal_of(source, label))]
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir() and not is_phonopy_folder(path):
        raise InputError(f"{path}: is a folder without phonopy_disp.yaml, phonopy.yaml or "
                         "phonopy_params.yaml; give the structure files in it")
    if is_force_set_file(path):
        from phonjax.io import read_input
        from phonjax.io.phonopy_files import YAML_NAMES, plain_name

        if path.is_dir():
            stem = name or path.resolve().name
        elif plain_name(path) in YAML_NAMES:  # phonopy's fixed names: the folder's name
            stem = name or path.resolve().parent.name
        else:
            stem = name or _name_of(path)
        stem = safe_name(stem, path)
        try:
            ds = read_input(path, nac=nac, require_forces=require_forces)
        except DatasetError as exc:
            raise InputError(f"{path}: {exc}") from None
        return [CrystalInput(stem, ds.unitcell, str(path), ds)]
    stem = safe_name(name or _name_of(path), path)
    frames = _read_ase(path)
    if len(frames) == 1:
        return [CrystalInput(stem, crystal_of(frames[0], str(path)), str(path))]
    return [CrystalInput(f"{stem}-{i}", crystal_of(a, f"{path} (frame {i})"), str(path))
            for i, a in enumerate(frames)]


def _read_ase(path: Path) -> list:
    import warnings

    import ase.io

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frames = ase.io.read(str(path), index=":")
    except Exception as exc:  # ASE raises many types for unreadable files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a structure file ASE can read ({reason})") from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise InputError(f"{path}: the file holds no structure")
    return frames


def _formula_name(obj) -> str:
    try:
        return str(obj.get_chemical_formula())  # ASE
    except AttributeError:
        pass
    try:
        return str(obj.composition.reduced_formula)  # pymatgen
    except AttributeError:
        return "structure"


def unique_names(inputs: list[CrystalInput]) -> list[CrystalInput]:
    """The inputs with names made unique (``Si``, ``Si-2``, …): they name output folders."""
    seen: dict[str, int] = {}
    out = []
    for item in inputs:
        n = seen.get(item.name, 0) + 1
        seen[item.name] = n
        out.append(item if n == 1 else CrystalInput(f"{item.name}-{n}", item.crystal,
                                                    item.source, item.dataset))
    return out
