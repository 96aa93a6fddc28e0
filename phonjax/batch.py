"""Many materials in one jitted call: padding, bucketing and the vmapped kernel.

Materials differ in every array size (supercell atoms N, primitive atoms n_p,
images n_t and multiplicity M, displacements, q-points). ``bucket`` groups them
by padded (N, n_p) so that few shapes are compiled, ``pad`` brings one
material's arrays to a group's shape (padding atoms/modes/q-points are masked
out exactly, see the kernels), and ``run_bucket`` evaluates a group.

Force constants are always one ``jax.jit`` of a ``jax.vmap`` over the
materials of a group. The q-point work depends on where eigenvalues are
solved (``phonjax.eigen``): with XLA's solver (GPU) frequencies and thermal
sums stay in the same vmapped graph; with the host solver (CPU) they run per
material in fixed-size q chunks (``phonjax.spectra``), which keeps every
compiled shape small, cacheable and free of padding waste in the solver.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import numpy as np

from phonjax import spectra
from phonjax.dynamical_matrix import frequencies, mass_weighted_blocks
from phonjax.eigen import resolve
from phonjax.force_constants import force_constants
from phonjax.inversion import PairBasis
from phonjax.prepare import HarmonicSystem
from phonjax.thermal import thermal_properties

_LADDER = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512, 640,
           768, 1024, 1280, 1536, 2048, 2560, 3072, 4096, 5120, 6144, 8192)


def ladder(n: int) -> int:
    """Smallest padded size ≥ n (keeps the number of compiled shapes small)."""
    for size in _LADDER:
        if n <= size:
            return size
    return int(2 ** math.ceil(math.log2(n)))


def batch_size(n_materials: int, bytes_per_material: float, memory_bytes: float) -> int:
    """Materials per compiled call: a ladder size (calls with 3 or 4 materials share one
    compilation; the stack is filled up with copies) that fits ``memory_bytes``."""
    fits = max(1, int(memory_bytes // max(bytes_per_material, 1)))
    return max(size for size in _LADDER if size <= min(ladder(n_materials), fits))


def kernel_arrays(system: HarmonicSystem, forces: np.ndarray) -> dict[str, np.ndarray]:
    """The unpadded per-material inputs of the kernel."""
    rot, disp_index, atom_map, op_mask, u_pinv = system.solve
    source, drot, perm = system.distribute
    n, n_p = system.n_supercell, system.n_primitive
    return {
        "forces": np.asarray(forces, float), "displacements": system.displacements,
        "solve_rotations": rot, "solve_disp_index": disp_index, "solve_atom_map": atom_map,
        "solve_op_mask": op_mask, "solve_u_pinv": u_pinv, "dist_source": source, "dist_rotations": drot, "dist_perm": perm,
        "atom_mask": np.ones(n, bool), "p2s": system.primitive.p2s,
        "masses": system.primitive.crystal.masses, "image_atoms": system.image_atoms,
        "lattice_vectors": system.phase_tables[0], "lattice_weights": system.phase_tables[1],
        "image_positions": system.phase_tables[2], "primitive_positions": system.phase_tables[3],
        "mode_mask": np.ones(3 * n_p, bool), "qpoints": system.mesh.qpoints,
        "qweights": system.mesh.weights.astype(float), "commensurate": system.commensurate,
        "inversion_partners": (np.zeros(0, np.int64) if system.inversion_partners is None
                               else system.inversion_partners),
    }


# axis -> size-group name for padding; everything not listed keeps its size
_AXES = {
    "forces": ("disp", "N", None), "displacements": ("disp", None),
    "solve_rotations": ("nd", "K", None, None), "solve_disp_index": ("nd", "K"),
    "solve_atom_map": ("nd", "K", "N"), "solve_op_mask": ("nd", "K"), "solve_u_pinv": ("nd", None, "K"),
    "dist_source": ("N",), "dist_rotations": ("N", None, None), "dist_perm": ("N", "N"),
    "atom_mask": ("N",), "p2s": ("np",), "masses": ("np",), "image_atoms": ("np", "nt"),
    "lattice_vectors": ("nI", None), "lattice_weights": ("nI", "np", "np", "nt"),
    "image_positions": ("np", "nt", None), "primitive_positions": ("np", None),
    "mode_mask": ("modes",), "qpoints": ("nq", None), "qweights": ("nq",),
    "commensurate": ("nc", None),
}
_FILL = {"masses": 1.0}


def sizes(arrays: dict[str, np.ndarray]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, axes in _AXES.items():
        for axis, group in enumerate(axes):
            if group is not None:
                out[group] = max(out.get(group, 0), arrays[name].shape[axis])
    return out


def pad(arrays: dict[str, np.ndarray], target: dict[str, int]) -> dict[str, np.ndarray]:
    out = {}
    for name, a in arrays.items():
        widths = [(0, 0 if g is None else target[g] - a.shape[i]) for i, g in enumerate(_AXES[name])]
        out[name] = np.pad(a, widths, constant_values=_FILL.get(name, 0))
    return out


_TABLES = ("lattice_vectors", "lattice_weights", "image_positions", "primitive_positions")
_Q_ARRAYS = ("qpoints", "qweights", "commensurate")
_HOST_ONLY = ("inversion_partners",)  # for the host-solver path, never padded
# smallest matrices worth the real solve: below, its O(m²) basis change costs about
# what the real eigensolver saves over the complex one (measured on 2 cores)
REAL_SOLVE_MIN_MODES = 48


def _force_constant_blocks(a, drift: bool):
    fc = force_constants(a["forces"], a["displacements"],
                         (a["solve_rotations"], a["solve_disp_index"], a["solve_atom_map"],
                          a["solve_op_mask"], a["solve_u_pinv"]),
                         (a["dist_source"], a["dist_rotations"], a["dist_perm"]),
                         a["atom_mask"], drift=drift)
    return fc, mass_weighted_blocks(fc[a["p2s"]], a["image_atoms"], a["masses"])


def _one_material(a, temperatures, drift: bool, q_chunk: int):
    fc, blocks = _force_constant_blocks(a, drift)
    tables = tuple(a[k] for k in _TABLES)
    freqs = frequencies(a["qpoints"], blocks, tables, a["mode_mask"], q_chunk)
    free, entropy, cv = thermal_properties(freqs, a["qweights"], temperatures, a["mode_mask"])
    comm = frequencies(a["commensurate"], blocks, tables, a["mode_mask"],
                       min(q_chunk, a["commensurate"].shape[0]))
    return {"force_constants": fc, "free_energy": free, "entropy": entropy, "heat_capacity": cv,
            "commensurate_frequencies": comm}


def _batched(arrays, temperatures, drift, q_chunk):
    return jax.vmap(lambda a: _one_material(a, temperatures, drift, q_chunk))(arrays)


_batched_jit = jax.jit(_batched, static_argnames=("drift", "q_chunk"))
_force_constant_blocks_jit = jax.jit(
    lambda arrays, drift: jax.vmap(lambda a: _force_constant_blocks(a, drift))(arrays),
    static_argnames=("drift",))


# Smallest padded sizes: below them padding costs less than one more compilation
# (the 88 phonondb materials with N ≤ 64 fall into 7 buckets instead of 14).
_MIN_PADDED = {"N": 64, "np": 8}


def _padded(axis: str, n: int) -> int:
    return ladder(max(n, _MIN_PADDED.get(axis, 0)))


def bucket(systems: Sequence[HarmonicSystem]) -> list[list[int]]:
    """Indices grouped by padded (supercell atoms, primitive atoms)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, s in enumerate(systems):
        groups.setdefault((_padded("N", s.n_supercell), _padded("np", s.n_primitive)), []).append(i)
    return [groups[k] for k in sorted(groups)]


def _target(arrays: list[dict[str, np.ndarray]]) -> dict[str, int]:
    """Padded sizes of a group, every size on the ladder so that separate calls
    share compilations."""
    target: dict[str, int] = {}
    for a in arrays:
        for k, v in sizes(a).items():
            target[k] = max(target.get(k, 0), v)
    target = {k: _padded(k, v) for k, v in target.items()}
    target["modes"] = 3 * target["np"]
    return target


def _stack(padded: list[dict[str, np.ndarray]], batch: int, names) -> dict:
    chunk = list(padded)
    while len(chunk) < batch:  # keep one compiled shape per bucket
        chunk.append(chunk[-1])
    # device_put, not jnp.asarray: the latter compiles a copy per shape and dtype
    return {k: jax.device_put(np.stack([c[k] for c in chunk])) for k in names}


def run_bucket(arrays: list[dict[str, np.ndarray]], temperatures, *, drift: bool = False,
               memory_bytes: float = 2e9, keep_force_constants: bool = False,
               eigen_backend: str = "auto", use_inversion: bool = False) -> list[dict]:
    """Evaluate materials of one bucket; splits it into sub-batches that fit ``memory_bytes``.

    ``use_inversion``: on the host-solver path, the mesh of a centrosymmetric crystal
    is solved as real symmetric matrices (``phonjax.inversion``)."""
    if resolve(eigen_backend) == "xla":
        return _run_bucket_in_graph(arrays, temperatures, drift=drift, memory_bytes=memory_bytes,
                                    keep_force_constants=keep_force_constants)
    target = _target(arrays)
    n = target["N"]
    per_material = 8 * 3 * target["nd"] * target["K"] * n * 4 + 8 * 9 * n * n * 4
    batch = batch_size(len(arrays), per_material, memory_bytes)
    temps = np.atleast_1d(np.asarray(temperatures, float))
    names = [k for k in arrays[0] if k not in _Q_ARRAYS + _HOST_ONLY]
    out: list[dict] = []
    for start in range(0, len(arrays), batch):
        group = arrays[start:start + batch]
        padded = [pad({k: a[k] for k in names}, target) for a in group]
        fc, blocks = _force_constant_blocks_jit(_stack(padded, batch, names), drift)
        blocks = np.asarray(blocks)
        for b, a in enumerate(group):
            # D(q) at this material's own (finely padded) size, not the bucket's: its
            # cost grows as n_p²·n_t, and the bucket's ladder sizes cost 1.4× on average
            own = _spectral_sizes(a)
            tables = tuple(pad({k: a[k] for k in _TABLES}, own).values())  # host arrays
            own_blocks = jax.device_put(
                np.ascontiguousarray(blocks[b, :own["np"], :own["np"], :own["nt"]]))
            n_modes = len(a["mode_mask"])
            basis = (PairBasis.from_partners(a["inversion_partners"])
                     if use_inversion and len(a["inversion_partners"])
                     and n_modes >= REAL_SOLVE_MIN_MODES else None)
            q_chunk = _q_chunk(3 * own["np"])
            free, entropy, cv = spectra.mesh_thermal(a["qpoints"], a["qweights"], own_blocks, tables,
                                                     n_modes, temps, q_chunk, basis)
            # the mesh's chunk size: one compiled D(q) serves both q-sets
            comm = spectra.frequencies(a["commensurate"], own_blocks, tables, n_modes, q_chunk)
            item = {"free_energy": free, "entropy": entropy, "heat_capacity": cv,
                    "commensurate_frequencies": comm}
            if keep_force_constants:
                item["force_constants"] = np.asarray(fc[b])
            out.append(item)
    return out


# padded sizes of the per-material D(q): steps of ≤ 25 % (≤ 8 % more D(q) work over
# the phonondb set than exact sizes, and 100 compiled shapes instead of 176)
_FINE = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 22, 24, 28, 32, 36, 40, 44, 48, 56, 64,
         72, 80, 88, 96, 112, 128, 144, 160, 176, 192, 224, 256)


def fine(n: int) -> int:
    """Smallest size ≥ n on the fine ladder (the coarse ``ladder`` beyond it)."""
    return next((size for size in _FINE if n <= size), None) or ladder(n)


def _spectral_sizes(a: dict[str, np.ndarray]) -> dict[str, int]:
    return {"np": fine(len(a["p2s"])), "nt": fine(a["image_atoms"].shape[1]),
            "nI": ladder(len(a["lattice_vectors"]))}


def _q_chunk(modes: int) -> int:
    """q-points per D(q) chunk: ~6 MB of D(q), so that XLA's passes over it stay in
    cache (measured 2-3x faster on CPU than 64 MB chunks for 180-480 modes); small
    matrices get up to 256 q-points per chunk to amortize the per-call dispatch."""
    return 2 ** int(np.log2(np.clip(6e6 / (16 * modes * modes), 8, 256)))


def _run_bucket_in_graph(arrays, temperatures, *, drift, memory_bytes, keep_force_constants):
    """Everything in one vmapped jit (XLA eigensolver); q-points padded to the group's count."""
    target = _target(arrays)
    modes, n = target["modes"], target["N"]
    per_q = 16 * (4 * modes * modes + 4 * target["np"] ** 2 * target["nt"] * 9)
    q_chunk = int(max(8, min(256, memory_bytes / 8 / max(per_q, 1))))
    q_chunk = min(q_chunk, target["nq"])
    target["nq"] = -(-target["nq"] // q_chunk) * q_chunk
    per_material = (per_q * q_chunk + 8 * 3 * target["nd"] * target["K"] * n * 4 + 8 * 9 * n * n * 4)
    batch = batch_size(len(arrays), per_material, memory_bytes)
    temps = jax.device_put(np.atleast_1d(np.asarray(temperatures, float)))
    out: list[dict] = []
    for start in range(0, len(arrays), batch):
        group = arrays[start:start + batch]
        names = [k for k in arrays[0] if k not in _HOST_ONLY]
        stacked = _stack([pad({k: a[k] for k in names}, target) for a in group], batch, names)
        res = jax.device_get(_batched_jit(stacked, temps, drift, q_chunk))
        for b, a in enumerate(group):
            item = {k: v[b] for k, v in res.items()
                    if keep_force_constants or k != "force_constants"}
            item["commensurate_frequencies"] = item["commensurate_frequencies"][
                :len(a["commensurate"]), :len(a["mode_mask"])]
            out.append(item)
    return out
