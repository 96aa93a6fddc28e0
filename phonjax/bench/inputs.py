"""Reference datasets as lists of work items, read lazily by whoever computes them.

A ``Material`` names one material of one dataset (``dataset`` label +
``material_id``) and how to load it: a phonopy_params / Alexandria file
(read with ``phonjax.read_dataset`` in the worker) or an entry of the
Alexandria PBE binaries JSON (structure + Cv(300 K) per mole of that cell,
no forces, no supercell). Listing a dataset reads no phonon file; a run hashes
each input once (``hashed``: the SHA-256 travels with the material to the
worker and into every row), so a resumed run skips finished materials without
parsing them.
"""

from __future__ import annotations

import ast
import gzip
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from phonjax.io.readers import dataset_id

_PHONON_SUFFIXES = (".yaml", ".yml", ".yaml.xz", ".yaml.bz2", ".yaml.gz", ".yml.xz", ".yml.bz2",
                    ".yml.gz")
BINARIES_SUPERCELL_LENGTH_A = 10.0  # phonjax's choice for the binaries JSON, which has no S


@dataclass(frozen=True)
class Material:
    dataset: str
    material_id: str
    path: str | None = None  # phonon dataset file
    entry: dict | None = None  # binaries JSON entry: structure (dict), heat_capacity, formula
    input_sha256: str | None = None  # content_sha256, once ``hashed`` has taken it


class InputError(ValueError):
    pass


def is_binaries_json(path: Path) -> bool:
    return path.name.endswith((".json", ".json.gz"))


def _load_json(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as f:
        data = json.load(f)
    if isinstance(data, dict):
        data = list(data.values()) if "mp_id" not in data else [data]
    return data


def _named_datasets(sources: list[str] | None) -> tuple[list[str] | None, str | None]:
    """``sources`` with fetchable dataset names (``alexandria-pbe``) replaced by their local
    folders, and the first such name (the default label); InputError when one is absent."""
    from phonjax.data.sources import SOURCES, local_dir

    if not sources:
        return sources, None
    out, first = [], None
    for s in sources:
        if s.lower() not in SOURCES or Path(s).expanduser().exists():
            out.append(s)
            continue
        folder = local_dir(s)
        if not folder.is_dir() or not any(f.name.endswith(_PHONON_SUFFIXES) for f in folder.iterdir()):
            raise InputError(
                f"dataset {s} is not on this machine (looked in {folder}): fetch it with "
                f"`phonjax data fetch {s.lower()}` (~{SOURCES[s.lower()].approx_files:,} files; "
                "add --limit N for a first look, --to DIR to put it elsewhere and then pass "
                "--dataset DIR), or set PHONJAX_DATA to where it is")
        out.append(str(folder))
        first = first or s.lower()
    return out, first


def list_materials(sources: list[str] | None, label: str | None = None
                   ) -> tuple[str, list[Material], list[str]]:
    """(dataset label, materials, problems) for folders / files / "sample" / a binaries JSON."""
    from phonjax.data import sample_files

    problems: list[str] = []
    sources, named = _named_datasets(sources)
    label = label or named
    if not sources or sources == ["sample"]:
        return label or "phonondb-sample", [Material(label or "phonondb-sample", dataset_id(p),
                                                     str(p)) for p in sample_files()], problems
    files: list[Path] = []
    for s in sources:
        p = Path(s).expanduser()
        if s == "sample":
            files += sample_files()
        elif p.is_dir():
            found = sorted(f for f in p.iterdir() if f.name.endswith(_PHONON_SUFFIXES))
            if not found:
                problems.append(f"{p}: no phonopy_params / Alexandria files in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: no such file or folder")
    if not files:
        raise InputError("no dataset files found: " + "; ".join(problems))
    first = files[0]
    if label is None:
        if is_binaries_json(first):
            label = dataset_id(first.name.replace(".json", ".yaml"))
        elif Path(sources[0]).expanduser().is_dir():
            label = Path(sources[0]).expanduser().resolve().name
        else:
            label = first.resolve().parent.name
    materials: list[Material] = []
    seen: dict[str, str] = {}  # material id -> the file (or JSON) it comes from
    for f in files:
        if is_binaries_json(f):
            try:
                entries = _load_json(f)
            except Exception as exc:  # corrupt JSON: report, skip
                problems.append(f"{f}: unreadable JSON ({exc})")
                continue
            for e in entries:
                mid = str(e.get("mp_id", ""))
                if not mid or "structure" not in e or mid in seen:
                    problems.append(f"{f}: entry {mid or '?'} skipped (no id/structure or repeated)")
                    continue
                seen[mid] = str(f)
                materials.append(Material(label, mid, entry=e))
        elif f.name.endswith(_PHONON_SUFFIXES):
            mid = dataset_id(f)
            if mid in seen:  # e.g. X.yaml and X.yaml.xz: the first in name order is used
                problems.append(f"{f}: material {mid} given twice, skipped (using {seen[mid]})")
                continue
            seen[mid] = str(f)
            materials.append(Material(label, mid, path=str(f)))
        else:
            problems.append(f"{f}: not a phonopy_params/Alexandria YAML or binaries JSON, skipped")
    return label, materials, problems


def structure_of_entry(entry: dict):
    """The Crystal of a binaries JSON entry (its structure is a pymatgen dict, maybe as text)."""
    from pymatgen.core import Structure

    from phonjax.structure.crystal import Crystal

    s = entry["structure"]
    if isinstance(s, str):
        s = ast.literal_eval(s)  # stored as a Python-literal dict
    return Crystal.from_pymatgen(Structure.from_dict(s))


def binaries_supercell_matrix(lattice: np.ndarray, length_A: float = BINARIES_SUPERCELL_LENGTH_A
                              ) -> np.ndarray:
    """Diagonal S with every supercell height ≥ ``length_A`` (the JSON has no S)."""
    lattice = np.asarray(lattice, float)
    volume = abs(np.linalg.det(lattice))
    heights = [volume / np.linalg.norm(np.cross(lattice[(i + 1) % 3], lattice[(i + 2) % 3]))
               for i in range(3)]
    return np.diag([max(1, math.ceil(length_A / h - 1e-9)) for h in heights]).astype(int)


def content_sha256(material: Material) -> str | None:
    """SHA-256 of what a material's numbers are computed from: its file's bytes, or its
    binaries JSON entry (canonical JSON). None when the file cannot be read. The hash a
    material carries (``hashed``) when it has one, so that a run takes it once."""
    import hashlib

    from phonjax.download import file_sha256

    if material.input_sha256 is not None:
        return material.input_sha256
    if material.path is None:
        return hashlib.sha256(json.dumps(material.entry, sort_keys=True, default=str).encode()
                              ).hexdigest()
    try:
        return file_sha256(material.path)
    except OSError:
        return None


def hashed(materials: list[Material]) -> list[Material]:
    """``materials`` carrying their ``content_sha256``: taken here, once per run (the
    runner compares it with the store's, each row records it)."""
    return [replace(m, input_sha256=content_sha256(m)) for m in materials]


def load(material: Material):
    """A ``PhononDataset`` for ``material`` (raises ``DatasetError``/``InputError``)."""
    from phonjax.io import read_dataset
    from phonjax.io.dataset import PhononDataset

    if material.path is not None:
        if not os.path.exists(material.path):
            raise InputError(f"{material.path}: file not found")
        return read_dataset(material.path)
    crystal = structure_of_entry(material.entry)
    cv = material.entry.get("heat_capacity")
    return PhononDataset(id=material.material_id, unitcell=crystal,
                         supercell_matrix=binaries_supercell_matrix(crystal.lattice),
                         primitive_matrix=np.eye(3),
                         reference={"heat_capacity_300K": cv, "nsites": crystal.n_atoms,
                                    "formula": material.entry.get("formula")})
