"""Readers for phonopy_params / phonopy.yaml and Alexandria phonon-benchmark files.

(phonopy_disp.yaml + FORCE_SETS + BORN folders: ``phonjax.io.phonopy_files``.)

Both are YAML (flow style from phonopy, block style in Alexandria), optionally
compressed (.xz, .bz2, .gz). The files are large, so the text is first cut to
the top-level sections phonjax uses (Alexandria files carry ~40k lines of
force constants nobody needs) and then parsed with libyaml's C loader.

Every YAML phonjax reads is parsed with a *safe* loader (``yaml.CSafeLoader``, else
``yaml.SafeLoader``): a tag such as ``!!python/object/apply:os.system`` would run code
under PyYAML's full loader (the one phonopy's own readers use), so a file holding one,
anywhere, is refused with one line (``code_tag_in``, ``load_yaml_text``).

A file without ``primitive_matrix`` gets the primitive cell ``phonopy.load`` gives it:
``"auto"`` (spglib's primitive cell of the unit cell); ``PhononDataset.primitive_matrix_rule``
says which rule chose it (``PRIMITIVE_FROM_FILE`` or ``PRIMITIVE_AUTO``).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
from pathlib import Path

import numpy as np
import yaml

from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.structure.elements import NUMBERS
from phonjax.structure.symmetry import SYMPREC
from phonjax.io.dataset import DatasetError, PhononDataset

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

PRIMITIVE_FROM_FILE = "primitive_matrix from the file"
PRIMITIVE_AUTO = "phonopy.load's 'auto' (no primitive_matrix in the file)"
_PYTHON_TAG = "tag:yaml.org,2002:python/"  # PyYAML's tags that build Python objects
_TAG_CANDIDATE = re.compile(r"(?:^|[\s\[{,])!|^%TAG", re.M)  # where a YAML tag may start
_UNKNOWN_TAG = re.compile(r"for the tag '([^']*)'")

_WANTED = {
    "phonopy", "physical_unit", "unit_cell", "supercell_matrix", "primitive_matrix",
    "displacements", "energy", "volume", "nsites", "temperatures", "free_e", "entropy",
    "heat_capacity", "phonon_freq", "nac", "born_effective_charge", "dielectric_constant",
}
SUPERCELL_TOLERANCE_A = 1e-5  # the file's supercell against the one its matrices build
_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):", re.M)
_ENTRY = re.compile(r"^- atom:", re.M)
_FIELD = re.compile(r"^\s*([a-z_]+):", re.M)
_SUFFIXES = (".xz", ".bz2", ".gz", ".yaml", ".yml")


def dataset_id(path: str | os.PathLike) -> str:
    """File name without its extensions: ``mp-1000.yaml.xz`` -> ``mp-1000``."""
    name = Path(path).name
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name, changed = name[: -len(suffix)], True
    return name


def read_text(path: str | os.PathLike) -> str:
    path = str(path)
    opener = {".xz": lzma.open, ".bz2": bz2.open, ".gz": gzip.open}.get(Path(path).suffix, open)
    try:
        with opener(path, "rt") as f:
            return f.read()
    except FileNotFoundError:
        raise DatasetError("file not found") from None
    except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read/decompress: {exc}") from None


def _sections(text: str) -> dict[str, str]:
    starts = [m.start() for m in _TOP_KEY.finditer(text)] + [len(text)]
    return {text[a:text.index(":", a)]: text[a:b] for a, b in zip(starts[:-1], starts[1:])}


_YAML_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_YAML_SPECIAL = {".nan": float("nan"), ".inf": float("inf"), "+.inf": float("inf"),
                 "-.inf": float("-inf")}
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def _number(token: str, where: str) -> float:
    """A YAML float (``.nan``/``.inf`` spelled as YAML spells them)."""
    token = token.strip()
    if _YAML_NUMBER.fullmatch(token):
        return float(token)
    if token.lower() in _YAML_SPECIAL:
        return _YAML_SPECIAL[token.lower()]
    raise DatasetError(f"{where}: {token!r} is not a number")


_FLOW_ROW = re.compile(r"^[ \t]*-?[ \t]*\[([^\]\n]*)\][ \t]*(?:#[^\n]*)?$", re.M)
_BLOCK_ITEM = re.compile(r"-\s+(.*)")


def vector_rows(text: str, where: str) -> list[list[float]] | np.ndarray:
    """The rows of one field's value, row boundaries kept: each flow list ``[x, y, z]``
    (phonopy's style, one per line), or each block list (``- - x`` then ``  - y`` lines,
    Alexandria's style), or one block list of scalars (``- x`` lines). Comments allowed."""
    pieces = _FLOW_ROW.split(text)  # text between rows, row, text between rows, ...
    flow = pieces[1::2]
    if flow and not "".join(pieces[0::2]).strip():
        # fast path, phonopy's style: every line one flow row of exactly three numbers
        if all(row.count(",") == 2 for row in flow):
            try:
                return np.array(",".join(flow).split(","), dtype=float).reshape(-1, 3)
            except ValueError:
                pass  # a token that is not a plain number: the slow path names it
    rows: list[list[float]] = []
    block = False  # the last row is a block list that ``- y`` lines continue
    for raw in text.splitlines():
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        item = _BLOCK_ITEM.fullmatch(line)
        value = item.group(1).strip() if item else line
        if value.startswith("["):
            if not value.endswith("]"):
                raise DatasetError(f"{where}: a row must be one [x, y, z] per line, "
                                   f"got {raw.strip()!r}")
            inner = value[1:-1]
            rows.append([_number(t, where) for t in inner.split(",")] if inner.strip() else [])
            block = False
        elif item is None:
            raise DatasetError(f"{where}: unexpected line {raw.strip()!r}")
        elif _BLOCK_ITEM.fullmatch(value):  # "- - x": a new block row
            rows.append([_number(_BLOCK_ITEM.fullmatch(value).group(1), where)])
            block = True
        elif block:
            rows[-1].append(_number(value, where))
        else:  # a block list of scalars: one vector
            if not rows:
                rows.append([])
            rows[-1].append(_number(value, where))
    return rows


def triples(rows: list[list[float]] | np.ndarray, where: str) -> np.ndarray:
    """``vector_rows``' rows as an (n, 3) float array; ``DatasetError`` naming ``where``
    and the row when a row does not hold exactly three numbers."""
    if isinstance(rows, np.ndarray):
        return rows
    for k, row in enumerate(rows):
        if len(row) != 3:
            raise DatasetError(f"{where}, row {k + 1}: {len(row)} numbers where 3 are needed")
    return np.array(rows, dtype=float).reshape(-1, 3)


_TYPE2_ENTRY = re.compile(r"^[ \t]*-[ \t]*#[^\n]*\n[ \t]*-[ \t]*displacement:", re.M)
_ATOM_KEY = re.compile(r"^[ \t]*-?[ \t]*atom:", re.M)


def _type2_displacements(section: str) -> dict:
    """phonopy < 2.24's type-2 ``displacements`` section (one list per supercell of
    ``{displacement, force}`` per atom) as {"displacements", "forces"} (n, N, 3) arrays."""
    block = load_yaml_text(section)
    try:
        snapshots = block["displacements"]
        disps = np.array([[a["displacement"] for a in snap] for snap in snapshots], float)
        have = [all("force" in a for a in snap) for snap in snapshots]
        forces = (np.array([[a["force"] for a in snap] for snap in snapshots], float)
                  if all(have) else None)
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"malformed type-2 displacements ({type(exc).__name__}: {exc})") \
            from None
    if disps.ndim != 3 or disps.shape[-1] != 3:
        raise DatasetError(f"type-2 displacements of shape {disps.shape}")
    return {"displacements": disps, "forces": forces}


def _parse_displacements(section: str) -> list[dict]:
    """The type-1 displacement list, parsed by hand (libyaml takes ~10x longer on the large
    force blocks), row by row: every force row must hold exactly 3 numbers.

    Accepts phonopy's flow style (``- [x, y, z]``) and Alexandria's block style.
    """
    entries = []
    for chunk in _ENTRY.split(section)[1:]:
        atom_text, _, rest = chunk.partition("\n")
        atom_text = _COMMENT.sub("", atom_text).strip()
        if not re.fullmatch(r"\d+", atom_text):
            raise DatasetError(f"displacement entry with atom {atom_text!r} (an integer ≥ 1 needed)")
        fields = {m.group(1): m.end() for m in _FIELD.finditer(rest)}
        order = sorted(fields.items(), key=lambda kv: kv[1])
        entry = {"atom": int(atom_text)}
        for (key, start), nxt in zip(order, order[1:] + [(None, len(rest))]):
            end = nxt[1] - len(nxt[0]) - 1 if nxt[0] else nxt[1]
            where = f"{key} of displaced atom {entry['atom']}"
            value = rest[start:end]
            if key == "supercell_energy":
                entry[key] = _number(_COMMENT.sub("", value), where)
            elif key in ("displacement", "forces"):
                entry[key] = triples(vector_rows(value, where), where)
        if "displacement" not in entry:
            raise DatasetError(f"displacement entry for atom {entry['atom']} has no 'displacement'")
        if entry["displacement"].shape != (1, 3):
            raise DatasetError(f"displacement of atom {entry['atom']} is not one 3-vector")
        entry["displacement"] = entry["displacement"][0]
        entries.append(entry)
    return entries


def _shown_tag(tag: str) -> str:
    """A resolved tag as it is usually written: ``tag:yaml.org,2002:x`` -> ``!!x``."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix):] if tag.startswith(prefix) else tag


def code_tag_refusal(tag: str) -> str:
    """The one-line reason a file with the Python-object tag ``tag`` is refused."""
    return (f"contains a YAML tag that would run code ({_shown_tag(tag)}); refusing to read "
            "it (phonopy itself would run it: remove the tag)")


def code_tag_in(text: str) -> str | None:
    """The first tag of YAML ``text`` that PyYAML's full loader would turn into a Python
    object or call (a tag under ``tag:yaml.org,2002:python/``, however it is spelled:
    ``!!python/…``, ``!<tag:…>``, a ``%TAG`` handle, %-escapes), or None. Text without a
    ``!`` where a tag can start is answered at once; other text is scanned by the parser
    (no object is built). Text that is not YAML answers None (its parse reports it)."""
    if "!" not in text or not _TAG_CANDIDATE.search(text):  # (%TAG lines need a "!" too)
        return None
    try:
        for event in yaml.parse(text, Loader=_Loader):
            tag = getattr(event, "tag", None)
            if tag and tag.startswith(_PYTHON_TAG):
                return tag
    except yaml.YAMLError:
        return None
    return None


def load_yaml_text(text: str):
    """``text`` parsed by the safe loader; ``DatasetError`` for text that is not YAML and,
    in one line, for a tag the safe loader does not build (``code_tag_refusal`` for one
    that would run code)."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.constructor.ConstructorError as exc:
        found = _UNKNOWN_TAG.search(str(exc))
        if found and found.group(1).startswith(_PYTHON_TAG):
            raise DatasetError(code_tag_refusal(found.group(1))) from None
        if found:
            raise DatasetError("contains a YAML tag phonjax does not read "
                               f"({_shown_tag(found.group(1))})") from None
        raise DatasetError(f"invalid YAML: {str(exc).splitlines()[0]}") from None
    except yaml.YAMLError as exc:
        raise DatasetError(f"invalid YAML: {str(exc).splitlines()[0]}") from None


def parse_yaml(text: str) -> dict:
    """The sections phonjax uses of a phonopy_params / Alexandria YAML text (safe loader;
    a file with a code-running tag anywhere, even in a section phonjax skips, is refused)."""
    tag = code_tag_in(text)
    if tag is not None:
        raise DatasetError(code_tag_refusal(tag))
    sections = _sections(text)
    displacements = sections.pop("displacements", None)
    supercell = sections.pop("supercell", None)
    type2 = sections.pop("dataset", None)  # phonopy's type-2 (every atom displaced) dataset
    small = "".join(v for k, v in sections.items() if k in _WANTED)
    data = load_yaml_text(small)
    if not isinstance(data, dict):
        raise DatasetError("not a phonopy YAML mapping")
    if displacements is not None and _TYPE2_ENTRY.search(displacements) \
            and not _ATOM_KEY.search(displacements):
        data["dataset"] = _type2_displacements(displacements)  # phonopy < 2.24's type 2
    elif displacements is not None:
        try:
            data["displacements"] = _parse_displacements(displacements)
        except (ValueError, IndexError) as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(f"malformed displacements section ({exc})") from None
    if supercell is not None:
        data["supercell"] = _parse_supercell(supercell)
    if type2 is not None:
        block = load_yaml_text(type2)
        if not isinstance(block, dict) or not isinstance(block.get("dataset"), dict):
            raise DatasetError("malformed dataset section")
        data["dataset"] = block["dataset"]
    return data


_COORDINATES = re.compile(r"^[ \t]*coordinates:[ \t]*\[([^\]\n]*)\]", re.M)
_SYMBOL = re.compile(r"^[ \t]*(?:-[ \t]+)?symbol:[ \t]*([A-Za-z]+)", re.M)


def _parse_supercell(section: str) -> dict:
    """The file's ``supercell`` block as {lattice, coordinates, symbols}: by hand for
    phonopy's flow style (a 1000-atom block takes libyaml ~0.1 s), libyaml otherwise."""
    head, _, points = section.partition("points:")
    coords, symbols = _COORDINATES.findall(points), _SYMBOL.findall(points)
    lattice_text = head.partition("lattice:")[2]
    if coords and len(coords) == len(symbols) and points.count("coordinates:") == len(coords):
        where = "supercell"
        lattice = triples(vector_rows(lattice_text, where), where)
        frac = triples([[_number(t, where) for t in c.split(",")] for c in coords], where)
        return {"lattice": lattice, "coordinates": frac, "symbols": symbols}
    try:
        block = yaml.load(section, Loader=_Loader)["supercell"]
        return {"lattice": np.array(block["lattice"], float),
                "coordinates": np.array([p["coordinates"] for p in block["points"]], float),
                "symbols": [p["symbol"] for p in block["points"]]}
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"malformed supercell section ({type(exc).__name__}: {exc})") from None


def _require(data: dict, key: str):
    if key not in data or data[key] is None:
        raise DatasetError(f"missing '{key}'")
    return data[key]


def _crystal(block: dict) -> Crystal:
    points = _require(block, "points")
    try:
        symbols = [p["symbol"] for p in points]
        frac = [p["coordinates"] for p in points]
        masses = [p["mass"] for p in points] if all("mass" in p for p in points) else None
    except (KeyError, TypeError) as exc:
        raise DatasetError(f"malformed unit_cell points ({exc})") from None
    symbols = [re.sub(r"\d+$", "", s) for s in symbols]  # phonopy allows suffixed labels like "Cl1"
    return Crystal.from_symbols(_require(block, "lattice"), frac, symbols, masses)


def dataset_from_mapping(data: dict, id: str, source: str | None = None) -> PhononDataset:
    """Build a dataset from a parsed phonopy / Alexandria YAML mapping."""
    try:
        unit = data.get("physical_unit") or {}
        if unit.get("length", "angstrom").lower() not in ("angstrom", "ang", "a"):
            raise DatasetError(f"length unit {unit['length']!r} is not supported (Å only)")
        if unit.get("force", "eV/angstrom").lower() not in ("ev/angstrom", "ev/ang", "ev/a"):
            raise DatasetError(f"force unit {unit['force']!r} is not supported (eV/Å only)")
        unitcell = _crystal(_require(data, "unit_cell"))
        smat = _require(data, "supercell_matrix")
        pmat, rule = primitive_matrix_of(unitcell, data.get("primitive_matrix"))
        atoms = disps = forces = None
        entries = data.get("displacements")
        if entries:
            atoms = np.array([int(e["atom"]) - 1 for e in entries])
            disps = np.array([e["displacement"] for e in entries], float)
            have = [("forces" in e and e["forces"] is not None) for e in entries]
            if all(have):
                shapes = {np.shape(e["forces"]) for e in entries}
                if len(shapes) != 1:
                    raise DatasetError(f"force arrays of different shapes {sorted(shapes)}")
                forces = np.array([e["forces"] for e in entries], float)
            elif any(have):
                missing = [i + 1 for i, h in enumerate(have) if not h]
                raise DatasetError(f"forces missing for displacement(s) {missing[:10]}")
        fields = None
        type2 = data.get("dataset") or {}
        if type2.get("displacements") is not None:
            if entries:
                raise DatasetError("both one-atom displacements and a type-2 dataset")
            n_super = unitcell.n_atoms * int(round(abs(np.linalg.det(np.reshape(
                np.asarray(smat, float), (3, 3)) if np.size(smat) == 9 else np.diag(smat)))))
            fields = np.asarray(type2["displacements"], float).reshape(-1, n_super, 3)
            if type2.get("forces") is not None:
                forces = np.asarray(type2["forces"], float).reshape(-1, n_super, 3)
        reference = {k: data[k] for k in ("volume", "nsites", "temperatures", "free_e", "entropy",
                                          "heat_capacity", "phonon_freq") if k in data}
        energy = data.get("energy")
        if energy is not None and not np.isfinite(float(energy)):
            energy = None
        from phonjax.io.phonopy_files import nac_from_mapping

        dataset = PhononDataset(id=id, unitcell=unitcell, supercell_matrix=smat,
                                primitive_matrix=pmat, displaced_atoms=atoms, displacements=disps,
                                forces=forces, energy_eV=None if energy is None else float(energy),
                                reference=reference, source=source,
                                nac=nac_from_mapping(data, source), primitive_matrix_rule=rule,
                                displacement_fields=fields)
        if data.get("supercell") is not None:
            check_stored_supercell(dataset, **data["supercell"])
        return dataset
    except CrystalError as exc:
        raise DatasetError(str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"malformed dataset ({type(exc).__name__}: {exc})") from None


def primitive_matrix_of(unitcell: Crystal, stored, symprec: float = SYMPREC
                        ) -> tuple[np.ndarray, str]:
    """(P, the rule that chose it) as ``phonopy.load(file)`` chooses P for any phonopy
    yaml (phonopy_disp.yaml, phonopy.yaml, phonopy_params.yaml): the file's
    ``primitive_matrix`` (``stored``) when it has one, else ``"auto"`` (phonopy's
    ``guess_primitive_matrix``: spglib's primitive cell of ``unitcell``)."""
    if stored is not None:
        return stored, PRIMITIVE_FROM_FILE  # checked by PhononDataset
    from phonjax.structure.symmetry import auto_primitive_matrix

    pmat, _ = auto_primitive_matrix(unitcell, symprec)
    return pmat, PRIMITIVE_AUTO


def check_stored_supercell(dataset: PhononDataset, lattice, coordinates, symbols,
                           tolerance_A: float = SUPERCELL_TOLERANCE_A) -> None:
    """The supercell a file stores must be the one phonjax builds from its unit cell and
    ``supercell_matrix`` (lattice, and each atom's element and position in phonopy's
    order): the forces belong to the stored one, so a matrix of the right determinant
    but the wrong shape, or a unit cell edited without its forces, would otherwise give
    confident wrong numbers."""
    from phonjax.structure.supercell import build_supercell

    built, _ = build_supercell(dataset.unitcell, dataset.supercell_matrix)
    lattice, frac = np.asarray(lattice, float), np.asarray(coordinates, float)
    if lattice.shape != (3, 3) or frac.shape != (len(symbols), 3):
        raise DatasetError("malformed supercell section (lattice 3x3, one 3-vector per atom)")
    numbers = np.array([NUMBERS.get(re.sub(r"\d+$", "", str(s)), -1) for s in symbols])
    problem = stored_supercell_problem(built, lattice, frac, numbers, tolerance_A)
    if problem:
        raise DatasetError(problem)


def stored_supercell_problem(built: Crystal, lattice: np.ndarray, frac: np.ndarray,
                             numbers: np.ndarray, tolerance_A: float) -> str | None:
    """Why a stored supercell (lattice (3, 3) Å, fractional positions (n, 3), atomic
    numbers (n,)) is not ``built`` atom for atom within ``tolerance_A``, or None."""
    fix = "check supercell_matrix and unit_cell against the forces' supercell"
    if len(numbers) != built.n_atoms:
        return (f"the file's stored supercell has {len(numbers)} atoms, its unit cell and "
                f"supercell_matrix build {built.n_atoms}; {fix}")
    lattice_error = np.abs(lattice - built.lattice).max()
    if not lattice_error <= tolerance_A:
        return (f"the file's stored supercell lattice differs by {lattice_error:.3g} Å from "
                f"the one its unit cell and supercell_matrix build; {fix}")
    d = frac - built.frac_positions
    off = np.linalg.norm((d - np.rint(d)) @ built.lattice, axis=1)
    wrong = np.flatnonzero(~(off <= tolerance_A) | (numbers != built.numbers))
    if len(wrong):
        return (f"atom {wrong[0] + 1} of the file's stored supercell is not the atom phonjax "
                f"builds there ({len(wrong)} atoms differ, by up to {off.max():.3g} Å); {fix}")
    return None


def read_dataset(path: str | os.PathLike) -> PhononDataset:
    """Read a phonopy_params/phonopy.yaml or Alexandria benchmark file (plain, .xz, .bz2, .gz).

    Raises ``DatasetError`` (a ``ValueError``) naming the reason; the caller adds the file name.
    """
    data = parse_yaml(read_text(path))
    return dataset_from_mapping(data, dataset_id(path), source=str(path))
