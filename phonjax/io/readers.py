"""Readers for phonopy_params / phonopy.yaml and Alexandria phonon-benchmark files.

(phonopy_disp.yaml + FORCE_SETS + BORN folders: ``phonjax.io.phonopy_files``.)

Both are YAML (flow style from phonopy, block style in Alexandria), optionally
compressed (.xz, .bz2, .gz). The files are large, so the text is first cut to
the top-level sections phonjax uses (Alexandria files carry ~40k lines of
force constants nobody needs) and then parsed with libyaml's C loader.
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

from phonjax.crystal import Crystal, CrystalError
from phonjax.io.dataset import DatasetError, PhononDataset

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

_WANTED = {
    "phonopy", "physical_unit", "unit_cell", "supercell_matrix", "primitive_matrix",
    "displacements", "energy", "volume", "nsites", "temperatures", "free_e", "entropy",
    "heat_capacity", "phonon_freq", "nac", "born_effective_charge", "dielectric_constant",
}
_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):", re.M)
_ENTRY = re.compile(r"^- atom:", re.M)
_FIELD = re.compile(r"^\s*([a-z_]+):", re.M)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\.nan|[-+]?\.inf", re.I)
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


def _parse_displacements(section: str) -> list[dict]:
    """The type-1 displacement list, parsed by hand: YAML parsing of forces dominates load time.

    Accepts phonopy's flow style (``- [x, y, z]``) and Alexandria's block style.
    """
    entries = []
    for chunk in _ENTRY.split(section)[1:]:
        atom_text, _, rest = chunk.partition("\n")
        fields = {m.group(1): m.end() for m in _FIELD.finditer(rest)}
        order = sorted(fields.items(), key=lambda kv: kv[1])
        entry = {"atom": int(atom_text.strip())}
        for (key, start), nxt in zip(order, order[1:] + [(None, len(rest))]):
            end = nxt[1] - len(nxt[0]) - 1 if nxt[0] else nxt[1]
            values = np.array(_NUMBER.findall(rest[start:end]), dtype=float)
            entry[key] = values if key != "supercell_energy" else float(values[0])
        if "displacement" not in entry:
            raise DatasetError(f"displacement entry for atom {entry['atom']} has no 'displacement'")
        if entry["displacement"].shape != (3,):
            raise DatasetError(f"displacement of atom {entry['atom']} is not a 3-vector")
        if "forces" in entry:
            if entry["forces"].size % 3:
                raise DatasetError(f"forces of displaced atom {entry['atom']} are not 3-vectors")
            entry["forces"] = entry["forces"].reshape(-1, 3)
        entries.append(entry)
    return entries


def parse_yaml(text: str) -> dict:
    sections = _sections(text)
    displacements = sections.pop("displacements", None)
    small = "".join(v for k, v in sections.items() if k in _WANTED)
    try:
        data = yaml.load(small, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise DatasetError(f"invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise DatasetError("not a phonopy YAML mapping")
    if displacements is not None:
        try:
            data["displacements"] = _parse_displacements(displacements)
        except (ValueError, IndexError) as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(f"malformed displacements section ({exc})") from None
    return data


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
        pmat = data.get("primitive_matrix")
        if pmat is None:
            pmat = np.eye(3)  # phonopy writes no primitive_matrix when it is the unit cell
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
        reference = {k: data[k] for k in ("volume", "nsites", "temperatures", "free_e", "entropy",
                                          "heat_capacity", "phonon_freq") if k in data}
        energy = data.get("energy")
        if energy is not None and not np.isfinite(float(energy)):
            energy = None
        from phonjax.io.phonopy_files import nac_from_mapping

        return PhononDataset(id=id, unitcell=unitcell, supercell_matrix=smat, primitive_matrix=pmat,
                             displaced_atoms=atoms, displacements=disps, forces=forces,
                             energy_eV=None if energy is None else float(energy),
                             reference=reference, source=source,
                             nac=nac_from_mapping(data, source))
    except CrystalError as exc:
        raise DatasetError(str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"malformed dataset ({type(exc).__name__}: {exc})") from None


def read_dataset(path: str | os.PathLike) -> PhononDataset:
    """Read a phonopy_params/phonopy.yaml or Alexandria benchmark file (plain, .xz, .bz2, .gz).

    Raises ``DatasetError`` (a ``ValueError``) naming the reason; the caller adds the file name.
    """
    data = parse_yaml(read_text(path))
    return dataset_from_mapping(data, dataset_id(path), source=str(path))
