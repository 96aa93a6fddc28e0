"""The thermal-conductivity benchmark's data: 103 PhononDB-PBE crystals with their DFT κ.

The κ_SRME benchmark (Póta, Ahlawat, Csányi, Simoncelli 2024, repository MPA2suite/k_SRME;
matbench-discovery's κ task) scores a model's Wigner-RTA κ at 300 K against phono3py on
A. Togo's PBE phonondb force constants: 37 rocksalt (Fm-3m, 225), 33 zincblende (F-43m,
216) and 33 wurtzite (P6_3mc, 186) binaries. Two files of one folder hold it:

* ``phononDB-PBE-structures.extxyz``: one frame per material (the conventional cell) with
  info ``mp_id``, ``name``, ``symm.no`` (space group), ``fc3_supercell``,
  ``fc2_supercell``, ``primitive_matrix`` (absent for wurtzite: the cell is primitive)
  and ``q_mesh`` (19×19×19, wurtzite 19×19×15): a ``KappaMaterial`` each;
* ``kappas_phononDB_PBE_noNAC.json.gz``: the DFT reference without NAC, a pandas-style
  dict of columns keyed by row number: a ``KappaReference`` each, on the irreducible
  q-points of ``q_mesh`` (``weights`` sum to N = the mesh's point count).

The data are GPL-3: they are read from that folder at run time (``default_folder``:
``$PHONJAX_KAPPA_DATA``, else ``shared/data/kappa-phonondb-pbe`` beside the checkout)
and never copied into the package. Readers are safe ones (gzip + json; ASE's extxyz
reader, whose ``_JSON`` info values go through ``json.loads``). Materials are keyed by
``mp_id``: names repeat (GaN, ZnS, … exist as wurtzite and zincblende). Every problem
with the folder or its files is a one-line ``ValueError``.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV = "PHONJAX_KAPPA_DATA"
STRUCTURES_FILE = "phononDB-PBE-structures.extxyz"
REFERENCE_FILE = "kappas_phononDB_PBE_noNAC.json.gz"
REFERENCE_COLUMNS = ("mp_id", "name", "symm.no", "q_mesh", "qpoints", "weights",
                     "frequencies", "heat_capacity", "temperatures", "kappa_TOT_ave",
                     "mode_kappa_TOT_ave")
# <checkout>/phonjax/bench/ -> <checkout>/../shared/data/kappa-phonondb-pbe
SHARED_FOLDER = Path(__file__).resolve().parents[3] / "shared" / "data" / "kappa-phonondb-pbe"


@dataclass(frozen=True, eq=False)
class KappaMaterial:
    """One benchmark crystal and the phono3py settings it is computed with."""

    mp_id: str
    name: str
    spacegroup_number: int
    atoms: object  # ase.Atoms, the conventional cell as given (Å)
    fc3_supercell: np.ndarray  # (3, 3) int
    fc2_supercell: np.ndarray  # (3, 3) int
    primitive_matrix: np.ndarray  # (3, 3) float, identity where the file has none
    q_mesh: np.ndarray  # (3,) int

    @property
    def n_mesh(self) -> int:
        return int(np.prod(self.q_mesh))


@dataclass(frozen=True, eq=False)
class KappaReference:
    """The DFT (phono3py, PBE, no NAC, Wigner RTA with isotopes) κ of one material.

    Per-mode arrays live on the irreducible q-points; a mode's value already carries its
    q-point's weight, so the material's κ is Σ mode / Σ weights (see
    ``phonjax.bench.kappa_metrics``)."""

    mp_id: str
    name: str
    spacegroup_number: int
    q_mesh: np.ndarray  # (3,) int
    temperatures_K: np.ndarray  # (n_T,), [300.0]
    qpoints: np.ndarray  # (n_q, 3) reduced coordinates
    weights: np.ndarray  # (n_q,) int, sum = prod(q_mesh)
    frequencies_THz: np.ndarray  # (n_q, n_b)
    heat_capacity: np.ndarray  # (n_T, n_q, n_b) eV/K, phono3py's mode heat capacities
    kappa_tot_avg_WmK: np.ndarray  # (n_T,) trace average of κ_P + κ_C
    mode_kappa_tot_avg: np.ndarray  # (n_T, n_q, n_b) W/m·K, not divided by N

    @property
    def n_mesh(self) -> int:
        return int(np.prod(self.q_mesh))


def default_folder() -> Path:
    """``$PHONJAX_KAPPA_DATA`` if set, else ``<checkout>/../shared/data/kappa-phonondb-pbe``,
    else what ``phonjax data fetch kappa-phonondb-pbe`` fetched (``$PHONJAX_DATA``);
    ``ValueError`` (one line) if there is none."""
    from phonjax.data.sources import local_dir

    env = os.environ.get(DATA_ENV)
    if env:
        folder = Path(env).expanduser()
        if not folder.is_dir():
            raise ValueError(f"kappa benchmark data folder {folder} from ${DATA_ENV} does not "
                             "exist")
        return folder
    for folder in (SHARED_FOLDER, local_dir("kappa-phonondb-pbe")):
        if (folder / STRUCTURES_FILE).is_file():
            return folder
    raise ValueError(f"the kappa benchmark data are not on this machine (looked in "
                     f"{SHARED_FOLDER} and {local_dir('kappa-phonondb-pbe')}): fetch them "
                     f"with `phonjax data fetch kappa-phonondb-pbe`, or set ${DATA_ENV} to a "
                     "folder holding them")


def _folder(folder) -> Path:
    if folder is None:
        return default_folder()
    path = Path(folder).expanduser()
    if str(folder) == "kappa-phonondb-pbe" and not path.exists():  # the dataset's name
        from phonjax.data.sources import local_dir

        path = local_dir("kappa-phonondb-pbe")
    if not path.is_dir():
        raise ValueError(f"kappa benchmark data folder {path} does not exist")
    return path


def _file(folder, name: str) -> Path:
    path = _folder(folder) / name
    if not path.is_file():
        raise ValueError(f"kappa benchmark file {path} is missing")
    return path


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _array(value, shape: tuple, what: str, dtype=float) -> np.ndarray:
    """``value`` as a read-only array of ``shape`` (None: any length on that axis)."""
    try:
        arr = np.array(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: not a numeric array ({_one_line(exc)})") from None
    if arr.ndim != len(shape) or any(n is not None and n != m for n, m in zip(shape, arr.shape)):
        raise ValueError(f"{what}: shape {arr.shape}, expected {shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: non-finite values")
    arr.setflags(write=False)
    return arr


def _integers(value, shape: tuple, what: str) -> np.ndarray:
    arr = _array(value, shape, what)
    if np.any(arr != np.round(arr)):
        raise ValueError(f"{what}: not integers")
    out = arr.astype(int)
    out.setflags(write=False)
    return out


def load_materials(folder=None) -> dict[str, KappaMaterial]:
    """The structures file's materials by ``mp_id``, in file order."""
    from ase.io import read

    path = _file(folder, STRUCTURES_FILE)
    try:
        frames = read(path, index=":", format="extxyz")
    except Exception as exc:  # ASE raises many kinds on a garbled file
        raise ValueError(f"{path}: not a readable extxyz file ({_one_line(exc)})") from None
    out: dict[str, KappaMaterial] = {}
    for i, atoms in enumerate(frames):
        info = atoms.info
        where = f"{path.name} frame {i}"
        missing = [k for k in ("mp_id", "name", "symm.no", "fc3_supercell", "fc2_supercell",
                               "q_mesh") if k not in info]
        if missing:
            raise ValueError(f"{where}: info lacks {', '.join(missing)}")
        mp_id = str(info["mp_id"])
        if mp_id in out:
            raise ValueError(f"{where}: mp_id {mp_id} appears twice")
        prim = info.get("primitive_matrix", np.eye(3))
        out[mp_id] = KappaMaterial(
            mp_id=mp_id, name=str(info["name"]),
            spacegroup_number=int(_integers(info["symm.no"], (), f"{where} symm.no")),
            atoms=atoms,
            fc3_supercell=_integers(info["fc3_supercell"], (3, 3), f"{where} fc3_supercell"),
            fc2_supercell=_integers(info["fc2_supercell"], (3, 3), f"{where} fc2_supercell"),
            primitive_matrix=_array(prim, (3, 3), f"{where} primitive_matrix"),
            q_mesh=_integers(info["q_mesh"], (3,), f"{where} q_mesh"))
    if not out:
        raise ValueError(f"{path}: no structures")
    return out


def _reference_row(columns: dict, row: str, where: str) -> KappaReference:
    def col(name):
        return columns[name][row]

    mp_id = str(col("mp_id"))
    where = f"{where} ({mp_id})"
    temperatures = _array(col("temperatures"), (None,), f"{where} temperatures")
    weights = _integers(col("weights"), (None,), f"{where} weights")
    frequencies = _array(col("frequencies"), (weights.size, None), f"{where} frequencies")
    n_t, (n_q, n_b) = temperatures.size, frequencies.shape
    q_mesh = _integers(col("q_mesh"), (3,), f"{where} q_mesh")
    if weights.sum() != np.prod(q_mesh) or np.any(weights <= 0):
        raise ValueError(f"{where}: weights (sum {weights.sum()}) do not cover the "
                         f"{'x'.join(map(str, q_mesh))} mesh")
    return KappaReference(
        mp_id=mp_id, name=str(col("name")),
        spacegroup_number=int(_integers(col("symm.no"), (), f"{where} symm.no")),
        q_mesh=q_mesh, temperatures_K=temperatures,
        qpoints=_array(col("qpoints"), (n_q, 3), f"{where} qpoints"),
        weights=weights, frequencies_THz=frequencies,
        heat_capacity=_array(col("heat_capacity"), (n_t, n_q, n_b), f"{where} heat_capacity"),
        kappa_tot_avg_WmK=_array(col("kappa_TOT_ave"), (n_t,), f"{where} kappa_TOT_ave"),
        mode_kappa_tot_avg=_array(col("mode_kappa_TOT_ave"), (n_t, n_q, n_b),
                                  f"{where} mode_kappa_TOT_ave"))


def load_reference(folder=None) -> dict[str, KappaReference]:
    """The DFT reference's materials by ``mp_id``, in row order."""
    path = _file(folder, REFERENCE_FILE)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            columns = json.load(fh)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a gzipped JSON file ({_one_line(exc)})") from None
    if not isinstance(columns, dict):
        raise ValueError(f"{path}: expected a dict of columns, got {type(columns).__name__}")
    missing = [c for c in REFERENCE_COLUMNS if not isinstance(columns.get(c), dict)]
    if missing:
        raise ValueError(f"{path}: lacks the columns {', '.join(missing)}")
    rows = list(columns["mp_id"])
    if any(set(columns[c]) != set(rows) for c in REFERENCE_COLUMNS):
        raise ValueError(f"{path}: columns do not share the same rows")
    out: dict[str, KappaReference] = {}
    for row in sorted(rows, key=lambda r: (len(r), r)):  # "0", "1", …, "10", …
        ref = _reference_row(columns, row, f"{path.name} row {row}")
        if ref.mp_id in out:
            raise ValueError(f"{path.name}: mp_id {ref.mp_id} appears twice")
        out[ref.mp_id] = ref
    if not out:
        raise ValueError(f"{path}: no rows")
    return out


def match(materials: dict[str, KappaMaterial], references: dict[str, KappaReference]
          ) -> dict[str, tuple[KappaMaterial, KappaReference]]:
    """Pairs by ``mp_id``, in the materials' order; both sides must hold the same ids and
    agree on name, space group and q mesh."""
    only_m = sorted(set(materials) - set(references))
    only_r = sorted(set(references) - set(materials))
    if only_m or only_r:
        raise ValueError(f"structures and reference differ: only in structures {only_m}, "
                         f"only in reference {only_r}")
    out = {}
    for mp_id, mat in materials.items():
        ref = references[mp_id]
        if (mat.name, mat.spacegroup_number) != (ref.name, ref.spacegroup_number) or \
                not np.array_equal(mat.q_mesh, ref.q_mesh):
            raise ValueError(f"{mp_id}: structures say {mat.name} {mat.spacegroup_number} "
                             f"{mat.q_mesh.tolist()}, reference {ref.name} "
                             f"{ref.spacegroup_number} {ref.q_mesh.tolist()}")
        out[mp_id] = (mat, ref)
    return out


def load_benchmark(folder=None) -> dict[str, tuple[KappaMaterial, KappaReference]]:
    """``match(load_materials(folder), load_reference(folder))``."""
    return match(load_materials(folder), load_reference(folder))
