#!/usr/bin/env python
"""Stage-by-stage validation of phonjax against phonopy on phonopy_params files.

For every file, phonopy (the reference: full force constants by traditional
finite differences, ``symmetrize_force_constants()``, no NAC, 20x20x20 mesh,
300 K, frequencies at the q-points commensurate with the supercell) and phonjax
(``read_dataset`` -> ``prepare`` -> batched ``phonon_properties``) run on the
same input, and the largest deviation of each stage is recorded:

===============  ===============================================  ==================
stage            metric                                           contract
===============  ===============================================  ==================
displacements    phonjax- vs phonopy-generated sets (is_diagonal  identical atoms,
                 True and False): atom list, max |du| (A)         |du| <= 1e-10 A
supercell        order (species per index) and max |dr| (A)       identical order
force constants  max |dPhi| over the full N x N (eV/A^2)          <= 1e-10
frequencies      commensurate q, sorted per q, max |df| (THz)     <= 1e-8
omega_max        |d omega_max| (K)                                <= 1e-4
F, S, Cv         relative deviation at 300 K                      <= 1e-8
stability        phonjax.stability on phonopy's frequencies       identical verdict
===============  ===============================================  ==================

plus the time of each side per material (phonopy: load + FC + symmetrize + mesh
+ thermal + commensurate; phonjax: read + prepare + its share of the batched
kernel call, with the JIT compile time measured separately) and the peak
resident-memory growth of each side.

Results are appended to ``<out>/per_material.csv`` one material at a time (a
crash loses at most the batch in flight; a rerun skips materials already in
the CSV unless ``--force``), and ``<out>/summary.md`` is rewritten from the CSV
after every batch. Run ``--help`` for the options; see validation/README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import lzma
import math
import os
import platform
import re
import sys
import threading
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

# Keep this module's top level free of jax/phonopy: phonopy workers are spawned
# processes that re-import it.

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (ROOT / ".." / "shared" / "data" / "phonondb-pbesol").resolve()
DEFAULT_OUT = ROOT / "validation" / "results"
CSV_NAME = "per_material.csv"
SUMMARY_NAME = "summary.md"

MESH = [20, 20, 20]
TEMPERATURE = 300.0
THZ_TO_K = 47.992398658977166  # phonopy THzToEv / KB
GAMMA_TOL_K = 50.0  # phonjax.phonon_properties default, used for both verdicts

# contract thresholds
TOL = {
    "disp_du": 1e-10,  # A: "identical" displacement vectors (same arithmetic, float noise only)
    "fc": 1e-10,  # eV/A^2
    "freq": 1e-8,  # THz
    "freq_sq": 2e-9,  # THz^2 on f·|f|: Δf ≤ 1e-8 THz for every mode with |f| ≥ 0.1 THz
    "omega_max": 1e-4,  # K
    "thermal_rel": 1e-8,
    "supercell_dr": 1e-8,  # A, reported; the contract is the identical order
}

SIZE_CLASSES = [("<=64", 0, 64), ("65-128", 65, 128), ("129-200", 129, 200), (">200", 201, 10**9)]

COLUMNS = [
    "id", "file", "n_unitcell", "n_primitive", "n_supercell", "size_class", "spacegroup",
    "n_disp_file", "status", "phonopy_error", "phonjax_error",
    # displacements
    "disp_diag_n_phonjax", "disp_diag_n_phonopy", "disp_diag_atoms_identical", "disp_diag_max_du",
    "disp_nodiag_n_phonjax", "disp_nodiag_n_phonopy", "disp_nodiag_atoms_identical",
    "disp_nodiag_max_du", "file_disp_equals_generated", "file_disp_equals_generated_nodiag",
    # supercell
    "supercell_order_identical", "supercell_max_dr", "supercell_max_dlattice",
    "primitive_maps_identical",
    # force constants
    "fc_max_abs", "fc_scale",
    # frequencies at commensurate q
    "n_commensurate", "commensurate_q_identical", "freq_max_abs", "freq_max_at",
    "freq_max_abs_excl_gamma_acoustic", "freq_sq_max_abs",
    # omega_max, thermal
    "omega_max_K_phonopy", "omega_max_K_phonjax", "omega_max_abs",
    "F_phonopy", "F_phonjax", "F_rel", "S_phonopy", "S_phonjax", "S_rel",
    "Cv_phonopy", "Cv_phonjax", "Cv_rel",
    "F_rel_phonopy_mesh", "S_rel_phonopy_mesh", "Cv_rel_phonopy_mesh", "thermal_rel_phonopy_mesh",
    "n_irq_phonopy", "n_irq_phonjax", "n_freq_le_0_mesh", "mesh_same_points_mod1",
    "mesh_n_bz_shifted",
    # stability
    "stable_phonopy", "stable_phonjax", "stability_identical",
    "omega_min_K_phonopy", "omega_min_K_phonjax", "gamma_acoustic_min_K_phonopy",
    # time and memory
    "t_phonopy_s", "t_phonopy_load_s", "t_phonopy_fc_s", "t_phonopy_mesh_s",
    "t_phonopy_thermal_s", "t_phonopy_commensurate_s",
    "cpu_phonopy_s",
    "t_phonjax_s", "t_phonjax_excl_compile_s", "t_phonjax_read_s", "t_phonjax_prepare_s",
    "t_phonjax_kernel_share_s", "t_phonjax_compile_share_s", "cpu_phonjax_s",
    "batch", "batch_size", "batch_wall_s", "batch_compile_s", "batch_cpu_s",
    "mem_phonopy_peak_MB", "mem_phonjax_batch_peak_MB", "loadavg_phonopy", "loadavg_phonjax",
    "finished_at",
]


# --------------------------------------------------------------------------- helpers


class PeakRSS:
    """Peak growth of this process's resident memory while active (sampled every 10 ms)."""

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        try:
            import psutil

            self._proc = psutil.Process()
        except Exception:  # psutil missing: report nothing rather than guess
            self._proc = None
        self.base = self.peak = 0
        self._stop = threading.Event()
        self._thread = None

    def _rss(self) -> int:
        return self._proc.memory_info().rss if self._proc else 0

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self.base = self.peak = self._rss()
        if self._proc:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20 if self._proc else float("nan")


def loadavg() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def file_id(path: str | Path) -> str:
    name = Path(path).name
    for suffix in (".xz", ".bz2", ".gz", ".yaml", ".yml"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def size_class(n: int) -> str:
    for name, lo, hi in SIZE_CLASSES:
        if lo <= n <= hi:
            return name
    return "?"


_PMAT = re.compile(r"^primitive_matrix:\s*\n((?:[ \t]*-.*\n){3})", re.M)


def file_primitive_matrix(path: str) -> list[list[float]]:
    """The file's own primitive_matrix (identity when absent), read independently of phonjax."""
    opener = lzma.open if str(path).endswith(".xz") else open
    with opener(path, "rt") as f:
        head = []
        for line in f:  # the matrix sits in the header, long before the displacements
            if line.startswith("displacements:") or line.startswith("force_constants:"):
                break
            head.append(line)
    m = _PMAT.search("".join(head))
    if m is None:
        return np.eye(3).tolist()
    rows = [[float(x) for x in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", line)]
            for line in m.group(1).strip().splitlines()]
    return [r[:3] for r in rows]


def fmt(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "True" if x else "False"
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return "" if x is None else str(x)


# --------------------------------------------------------------------------- phonopy side


def _worker_init(threads: int | None):
    if threads:
        for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    warnings.simplefilter("ignore")


def phonopy_reference(path: str) -> dict:
    """Everything phonopy computes for one file; exceptions are returned, not raised."""
    out: dict = {"path": path}
    try:
        warnings.simplefilter("ignore")
        import phonopy
        from phonopy.harmonic.dynmat_to_fc import get_commensurate_points

        pmat = file_primitive_matrix(path)
        out["loadavg"] = loadavg()
        with PeakRSS() as mem:
            c0 = time.process_time()
            t0 = time.perf_counter()
            ph = phonopy.load(path, produce_fc=False, is_nac=False, primitive_matrix=pmat)
            t1 = time.perf_counter()
            ph.produce_force_constants()
            ph.symmetrize_force_constants()
            t2 = time.perf_counter()
            ph.run_mesh(MESH)
            t3 = time.perf_counter()
            ph.run_thermal_properties(temperatures=[TEMPERATURE])
            t4 = time.perf_counter()
            smat_p = np.linalg.inv(ph.primitive_matrix) @ ph.supercell_matrix
            smat_p_int = np.rint(smat_p).astype(int)
            if np.abs(smat_p - smat_p_int).max() > 1e-6:
                raise ValueError(f"inv(P)·S is not integer: {smat_p.tolist()}")
            q = get_commensurate_points(smat_p_int)
            ph.run_qpoints(q)
            freqs = np.asarray(ph.get_qpoints_dict()["frequencies"])
            t5 = time.perf_counter()
            c5 = time.process_time()
        out["times"] = {"load": t1 - t0, "fc": t2 - t1, "mesh": t3 - t2, "thermal": t4 - t3,
                        "commensurate": t5 - t4, "total": t5 - t0, "cpu": c5 - c0}
        out["mem_MB"] = mem.mb
        tp = ph.get_thermal_properties_dict()
        mesh = ph.get_mesh_dict()
        out.update(
            fc=np.asarray(ph.force_constants), commensurate_q=np.asarray(q), commensurate_f=freqs,
            F=float(tp["free_energy"][0]), S=float(tp["entropy"][0]),
            Cv=float(tp["heat_capacity"][0]), n_irq=len(mesh["weights"]),
            mesh_q=np.asarray(mesh["qpoints"]), mesh_w=np.asarray(mesh["weights"]),
            n_freq_le_0=int((np.asarray(mesh["frequencies"]) <= 0).sum()),
            sc_lattice=np.asarray(ph.supercell.cell), sc_frac=np.asarray(ph.supercell.scaled_positions),
            sc_numbers=np.asarray(ph.supercell.numbers), p2s=np.asarray(ph.primitive.p2s_map),
            s2p=np.asarray(ph.primitive.s2p_map), n_unitcell=len(ph.unitcell.numbers),
            spacegroup=ph.symmetry.get_international_table(),
        )
        first = ph.dataset["first_atoms"]
        out["file_disp"] = (np.array([d["number"] for d in first]),
                            np.array([d["displacement"] for d in first], float))
        # displacement sets generated by phonopy itself (untimed)
        gen = phonopy.Phonopy(ph.unitcell, supercell_matrix=ph.supercell_matrix,
                              primitive_matrix=ph.primitive_matrix)
        for key, diag in (("disp_diag", True), ("disp_nodiag", False)):
            gen.generate_displacements(distance=0.01, is_plusminus="auto", is_diagonal=diag)
            first = gen.dataset["first_atoms"]
            out[key] = (np.array([d["number"] for d in first]),
                        np.array([d["displacement"] for d in first], float).reshape(-1, 3))
    except BaseException as exc:  # noqa: BLE001 - recorded, the run goes on
        if isinstance(exc, KeyboardInterrupt):
            raise
        out["error"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
        out["traceback"] = traceback.format_exc()
    return out


# --------------------------------------------------------------------------- phonjax side


class CompileTimer:
    """Seconds JAX spends tracing, lowering and compiling (jax.monitoring events)."""

    def __init__(self):
        import jax

        self.total = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **kwargs):
        if event.startswith("/jax/core/compile/"):
            self.total += duration


def phonjax_prepare(path: str) -> dict:
    """read + prepare (timed) and the generated displacement sets (untimed)."""
    import phonjax

    item: dict = {"path": path, "id": file_id(path)}
    try:
        c0 = time.process_time()
        t0 = time.perf_counter()
        ds = phonjax.read_dataset(path)
        t1 = time.perf_counter()
        system = phonjax.prepare(ds)
        t2 = time.perf_counter()
        item.update(dataset=ds, system=system, t_read=t1 - t0, t_prepare=t2 - t1, id=system.id,
                    cpu_prepare=time.process_time() - c0)
        for key, diag in (("disp_diag", True), ("disp_nodiag", False)):
            try:
                gen = phonjax.prepare(ds, use_dataset_displacements=False, is_diagonal=diag)
                item[key] = (np.asarray(gen.displaced_atoms), np.asarray(gen.displacements))
            except Exception as exc:  # noqa: BLE001
                item[key + "_error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001
        item["error"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
    return item


def phonjax_kernel(items: list[dict], compile_timer: CompileTimer) -> dict:
    """One ``phonon_properties`` call for every prepared item; per-item fallback on failure."""
    import phonjax

    ok = [it for it in items if "error" not in it]
    info = {"wall": 0.0, "compile": 0.0, "cpu": 0.0, "mem": float("nan"), "loadavg": loadavg(),
            "size": len(ok)}
    if not ok:
        return info
    c0 = compile_timer.total
    try:
        with PeakRSS() as mem:
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            results = phonjax.phonon_properties(
                [it["system"] for it in ok], [it["dataset"].forces for it in ok],
                temperatures=[TEMPERATURE], keep_force_constants=True)
            info["wall"] = time.perf_counter() - t0
            info["cpu"] = time.process_time() - cpu0
        info["mem"] = mem.mb
        info["compile"] = compile_timer.total - c0
        for it, res in zip(ok, results):
            it["result"] = res
        _on_phonopy_mesh(ok)
        return info
    except Exception as exc:  # noqa: BLE001
        print(f"  phonjax batch failed ({type(exc).__name__}: {exc}); retrying one by one",
              flush=True)
    info.update(wall=0.0, compile=0.0, cpu=0.0, size=0)
    for it in ok:
        c1 = compile_timer.total
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        try:
            it["result"] = phonjax.phonon_properties(
                [it["system"]], [it["dataset"].forces], temperatures=[TEMPERATURE],
                keep_force_constants=True)[0]
        except Exception as exc:  # noqa: BLE001
            it["error"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
        it["t_kernel_own"] = time.perf_counter() - t0
        it["t_compile_own"] = compile_timer.total - c1
        it["cpu_kernel_own"] = time.process_time() - cpu0
    return info


def _on_phonopy_mesh(items: list[dict]) -> None:
    """Untimed: F, S, Cv on phonopy's own q-set where phonopy falls back to time reversal."""
    import phonjax

    for it in items:
        alt = phonjax.prepare(it["dataset"], phonopy_mesh_fallback=True)
        if len(alt.mesh.qpoints) != len(it["system"].mesh.qpoints):
            it["result_phonopy_mesh"] = phonjax.phonon_properties(
                [alt], [it["dataset"].forces], temperatures=[TEMPERATURE])[0]


# --------------------------------------------------------------------------- comparison


def _wrap(d):
    return d - np.rint(d)


def _compare_displacements(a, b):
    """(n_a, n_b, atoms identical, max |du|) for (atoms, displacements) pairs."""
    (atoms_a, u_a), (atoms_b, u_b) = a, b
    same = len(atoms_a) == len(atoms_b) and bool(np.array_equal(atoms_a, atoms_b))
    du = float(np.abs(u_a - u_b).max()) if same and len(u_a) else float("nan")
    return len(atoms_a), len(atoms_b), same, du


def compare(item: dict, ref: dict) -> dict:
    """One CSV row from the phonjax item and the phonopy reference of the same file."""
    from phonjax.stability import stability

    row: dict = {"id": item["id"], "file": Path(item["path"]).name}
    system = item.get("system")
    res = item.get("result")
    if system is not None:
        row.update(n_unitcell=system.unitcell.n_atoms, n_primitive=system.n_primitive,
                   n_supercell=system.n_supercell, spacegroup=system.info.get("spacegroup", ""),
                   n_disp_file=len(system.displacements))
    elif "error" not in ref:
        row.update(n_supercell=len(ref["sc_numbers"]), n_primitive=len(ref["p2s"]),
                   n_unitcell=ref["n_unitcell"], spacegroup=ref["spacegroup"],
                   n_disp_file=len(ref["file_disp"][0]))
    row["size_class"] = size_class(int(row["n_supercell"])) if "n_supercell" in row else ""
    row["phonopy_error"] = ref.get("error", "")
    row["phonjax_error"] = item.get("error", "")
    if "disp_diag_error" in item or "disp_nodiag_error" in item:
        row["phonjax_error"] = "; ".join(filter(None, [row["phonjax_error"],
                                                       item.get("disp_diag_error", ""),
                                                       item.get("disp_nodiag_error", "")]))
    # phonopy-only columns
    if "error" not in ref:
        t = ref["times"]
        row.update(t_phonopy_s=t["total"], t_phonopy_load_s=t["load"], t_phonopy_fc_s=t["fc"],
                   t_phonopy_mesh_s=t["mesh"], t_phonopy_thermal_s=t["thermal"],
                   t_phonopy_commensurate_s=t["commensurate"], cpu_phonopy_s=t["cpu"],
                   mem_phonopy_peak_MB=ref["mem_MB"],
                   loadavg_phonopy=ref["loadavg"], F_phonopy=ref["F"], S_phonopy=ref["S"],
                   Cv_phonopy=ref["Cv"], n_irq_phonopy=ref["n_irq"],
                   n_freq_le_0_mesh=ref["n_freq_le_0"])
        st_ref = stability(ref["commensurate_q"], ref["commensurate_f"], GAMMA_TOL_K, THZ_TO_K)
        row.update(omega_max_K_phonopy=float(ref["commensurate_f"].max()) * THZ_TO_K,
                   stable_phonopy=st_ref.stable, omega_min_K_phonopy=st_ref.omega_min_K,
                   gamma_acoustic_min_K_phonopy=st_ref.gamma_acoustic_min_K)
    # phonjax-only columns
    if system is not None:
        row.update(t_phonjax_read_s=item["t_read"], t_phonjax_prepare_s=item["t_prepare"],
                   n_irq_phonjax=len(system.mesh.qpoints))
    if res is not None:
        row.update(F_phonjax=res.free_energy_kJmol[0], S_phonjax=res.entropy_JKmol[0],
                   Cv_phonjax=res.heat_capacity_JKmol[0], omega_max_K_phonjax=res.omega_max_K,
                   stable_phonjax=res.stable, omega_min_K_phonjax=res.omega_min_K)
    for k in ("batch", "batch_size", "batch_wall_s", "batch_compile_s", "batch_cpu_s",
              "cpu_kernel_share_s",
              "mem_phonjax_batch_peak_MB",
              "loadavg_phonjax", "t_phonjax_kernel_share_s", "t_phonjax_compile_share_s"):
        if k in item:
            row[k] = item[k]
    if res is not None:
        total = item["t_read"] + item["t_prepare"] + item["t_phonjax_kernel_share_s"]
        row["t_phonjax_s"] = total
        row["t_phonjax_excl_compile_s"] = total - item["t_phonjax_compile_share_s"]
        cpu = item["cpu_prepare"] + item["cpu_kernel_share_s"]
        row["cpu_phonjax_s"] = cpu  # JIT compile included
    # comparisons need both sides
    if "error" in ref or system is None:
        row["status"] = "error"
        return row
    # displacements: phonjax-generated vs phonopy-generated
    for key in ("disp_diag", "disp_nodiag"):
        if key in item:
            n_a, n_b, same, du = _compare_displacements(item[key], ref[key])
            row.update({f"{key}_n_phonjax": n_a, f"{key}_n_phonopy": n_b,
                        f"{key}_atoms_identical": same, f"{key}_max_du": du})
    fa, fu = ref["file_disp"]
    ga, gu = ref["disp_diag"]
    row["file_disp_equals_generated"] = bool(
        len(fa) == len(ga) and np.array_equal(fa, ga) and np.abs(fu - gu).max() < 1e-8)
    ga, gu = ref["disp_nodiag"]
    row["file_disp_equals_generated_nodiag"] = bool(
        len(fa) == len(ga) and np.array_equal(fa, ga) and np.abs(fu - gu).max() < 1e-8)
    # supercell and primitive maps
    sc = system.supercell
    same_n = sc.n_atoms == len(ref["sc_numbers"])
    if same_n:
        dr = np.linalg.norm(_wrap(sc.frac_positions - ref["sc_frac"]) @ sc.lattice, axis=1)
        row["supercell_max_dr"] = float(dr.max())
        row["supercell_order_identical"] = bool(
            np.array_equal(sc.numbers, ref["sc_numbers"]) and dr.max() < 1e-5)
        row["supercell_max_dlattice"] = float(np.abs(sc.lattice - ref["sc_lattice"]).max())
        row["primitive_maps_identical"] = bool(
            np.array_equal(system.primitive.p2s, ref["p2s"])
            and np.array_equal(system.primitive.s2p, ref["s2p"]))
    else:
        row["supercell_order_identical"] = False
    if res is None:
        row["status"] = "error"
        return row
    # irreducible meshes: the same points modulo 1? how many does phonopy move by a G vector?
    qm, qpm = system.mesh.qpoints, ref["mesh_q"]
    key = lambda q: {tuple(k) for k in np.rint((q - np.floor(q)) * 2 * np.asarray(MESH)).astype(int)
                     % (2 * np.asarray(MESH))}
    row["mesh_same_points_mod1"] = bool(len(qm) == len(qpm) and key(qm) == key(qpm))
    row["mesh_n_bz_shifted"] = int((np.abs(qpm - np.floor(qpm)) > 1e-12).any(axis=1).sum())
    # force constants
    if same_n and res.force_constants.shape == ref["fc"].shape:
        row["fc_max_abs"] = float(np.abs(res.force_constants - ref["fc"]).max())
    else:
        row["fc_max_abs"] = float("inf")
    row["fc_scale"] = float(np.abs(ref["fc"]).max())
    # frequencies at commensurate q (matched by q mod 1, sorted per q)
    qj, qp = system.commensurate, ref["commensurate_q"]
    row["n_commensurate"] = len(qj)
    row["commensurate_q_identical"] = bool(qj.shape == qp.shape and np.abs(qj - qp).max() < 1e-12)
    fj = np.sort(res.commensurate_frequencies_THz, axis=1)
    fp = np.sort(ref["commensurate_f"], axis=1)
    match = np.full(len(qj), -1)
    if len(qj) == len(qp):
        d = np.abs(_wrap(qj[:, None, :] - qp[None, :, :])).max(-1)
        match = np.where(d.min(1) < 1e-8, d.argmin(1), -1)
    if (match < 0).any() or fj.shape[1] != fp.shape[1]:
        row["freq_max_abs"] = float("inf")
        row["freq_max_at"] = "q-point sets differ"
    else:
        fp = fp[match]
        df = np.abs(fj - fp)
        iq, ib = np.unravel_index(np.argmax(df), df.shape)
        row["freq_max_abs"] = float(df.max())
        row["freq_max_at"] = (f"q={np.round(qj[iq], 4).tolist()} band={ib} "
                              f"f={fp[iq, ib]:.3e}THz")
        from phonjax.mesh import is_gamma

        excl = df.copy()
        g = np.flatnonzero(is_gamma(qj))
        if len(g):  # the acoustic modes: the three smallest |f| at Γ (imaginary optical modes sort first)
            excl[g[0], np.argsort(np.abs(fp[g[0]]), kind="stable")[:3]] = 0.0
        row["freq_max_abs_excl_gamma_acoustic"] = float(excl.max())
        row["freq_sq_max_abs"] = float(np.abs(fj * np.abs(fj) - fp * np.abs(fp)).max())
    row["omega_max_abs"] = abs(row["omega_max_K_phonjax"] - row["omega_max_K_phonopy"])
    alt = item.get("result_phonopy_mesh")
    for key, attr in (("F", "free_energy_kJmol"), ("S", "entropy_JKmol"),
                      ("Cv", "heat_capacity_JKmol")):
        a, b = row[f"{key}_phonjax"], row[f"{key}_phonopy"]
        row[f"{key}_rel"] = abs(a - b) / abs(b) if b != 0 else abs(a - b)
        a = getattr(alt, attr)[0] if alt is not None else a
        row[f"{key}_rel_phonopy_mesh"] = abs(a - b) / abs(b) if b != 0 else abs(a - b)
    row["thermal_rel_phonopy_mesh"] = max(row[f"{k}_rel_phonopy_mesh"] for k in ("F", "S", "Cv"))
    row["stability_identical"] = bool(row["stable_phonjax"] == row["stable_phonopy"])
    row["status"] = "ok"
    return row


# --------------------------------------------------------------------------- CSV / summary


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict]):
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt(r.get(k)) for k in COLUMNS})
    tmp.replace(path)


class RowWriter:
    def __init__(self, path: Path):
        self.path = path
        new = not path.exists() or path.stat().st_size == 0
        self.f = open(path, "a", newline="")
        self.w = csv.DictWriter(self.f, COLUMNS, extrasaction="ignore")
        if new:
            self.w.writeheader()
            self.f.flush()

    def write(self, row: dict):
        self.w.writerow({k: fmt(row.get(k)) for k in COLUMNS})
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self):
        self.f.close()


def _num(r: dict, key: str) -> float:
    try:
        return float(r.get(key, "") or "nan")
    except ValueError:
        return float("nan")


def _bool(r: dict, key: str):
    v = r.get(key, "")
    return None if v == "" else v == "True"


# (label, metric description, threshold text, value column or None, failing(row) -> bool)
def _stages():
    def over(col, tol):
        return lambda r: not (_num(r, col) <= tol)  # nan (missing) counts as a failure

    def not_true(col):
        return lambda r: _bool(r, col) is not True

    def disp(prefix):
        return lambda r: (_bool(r, f"{prefix}_atoms_identical") is not True
                          or not (_num(r, f"{prefix}_max_du") <= TOL["disp_du"]))

    return [
        ("displacements (is_diagonal=True)", "max |Δu| (Å), atoms identical", "identical",
         "disp_diag_max_du", disp("disp_diag")),
        ("displacements (is_diagonal=False)", "max |Δu| (Å), atoms identical", "identical",
         "disp_nodiag_max_du", disp("disp_nodiag")),
        ("supercell positions & order", "max |Δr| (Å), species per index", "identical order",
         "supercell_max_dr", not_true("supercell_order_identical")),
        ("force constants (full N×N)", "max |ΔΦ| (eV/Å²)", "≤ 1e-10", "fc_max_abs",
         over("fc_max_abs", TOL["fc"])),
        ("frequencies at commensurate q", "max |Δf| (THz)", "≤ 1e-8", "freq_max_abs",
         over("freq_max_abs", TOL["freq"])),
        ("  ↳ excl. the 3 Γ acoustic modes", "max |Δf| (THz)", "(info)",
         "freq_max_abs_excl_gamma_acoustic", None),
        ("  ↳ in f·|f| (eigenvalue space)", "max |Δ(f·|f|)| (THz²); ≤ 2e-9 ⇔ Δf ≤ 1e-8 for all |f| ≥ 0.1 THz",
         "≤ 2e-9", "freq_sq_max_abs", over("freq_sq_max_abs", TOL["freq_sq"])),
        ("ω_max", "|Δω_max| (K)", "≤ 1e-4", "omega_max_abs", over("omega_max_abs", TOL["omega_max"])),
        ("F (300 K)", "relative", "≤ 1e-8", "F_rel", over("F_rel", TOL["thermal_rel"])),
        ("S (300 K)", "relative", "≤ 1e-8", "S_rel", over("S_rel", TOL["thermal_rel"])),
        ("Cv (300 K)", "relative", "≤ 1e-8", "Cv_rel", over("Cv_rel", TOL["thermal_rel"])),
        ("F, S, Cv on phonopy's q-set", "max relative; `phonopy_mesh_fallback=True` (time "
         "reversal only where the shifted grid breaks a rotation)", "≤ 1e-8", "thermal_rel_phonopy_mesh",
         over("thermal_rel_phonopy_mesh", TOL["thermal_rel"])),
        ("stability verdict", "phonjax vs phonjax.stability(phonopy f)", "identical", None,
         not_true("stability_identical")),
    ]


def stage_table(rows: list[dict]) -> list[dict]:
    ok = [r for r in rows if r.get("status") == "ok"]
    out = []
    for label, metric, threshold, col, failing in _stages():
        vals = [(_num(r, col), r["id"]) for r in ok] if col else []
        finite = [(v, i) for v, i in vals if not math.isnan(v)]
        worst = max(finite) if finite else (float("nan"), "")
        bad = [r["id"] for r in ok if failing(r)] if failing else []
        out.append({"stage": label, "metric": metric, "threshold": threshold,
                    "max": worst[0], "worst": worst[1], "n_over": len(bad) if failing else None,
                    "over": bad})
    return out


def timing_table(rows: list[dict]) -> list[dict]:
    out = []
    classes = [c[0] for c in SIZE_CLASSES] + ["all"]
    for name in classes:
        sel = [r for r in rows if r.get("status") == "ok" and (name == "all" or r["size_class"] == name)]
        if not sel:
            out.append({"class": name, "n": 0})
            continue
        col = {k: np.array([_num(r, k) for r in sel]) for k in (
            "t_phonopy_s", "t_phonjax_s", "t_phonjax_excl_compile_s", "cpu_phonopy_s",
            "cpu_phonjax_s", "mem_phonopy_peak_MB", "mem_phonjax_batch_peak_MB")}
        tp, tj, tjx = col["t_phonopy_s"], col["t_phonjax_s"], col["t_phonjax_excl_compile_s"]
        cp, cj = col["cpu_phonopy_s"], col["cpu_phonjax_s"]
        mp, mj = col["mem_phonopy_peak_MB"], col["mem_phonjax_batch_peak_MB"]
        out.append({
            "class": name, "n": len(sel), "phonopy_total": np.nansum(tp),
            "phonjax_total": np.nansum(tj), "phonjax_total_excl": np.nansum(tjx),
            "phonopy_median": float(np.nanmedian(tp)), "phonjax_median": float(np.nanmedian(tj)),
            "ratio": np.nansum(tp) / np.nansum(tj), "ratio_excl": np.nansum(tp) / np.nansum(tjx),
            "cpu_phonopy": np.nansum(cp), "cpu_phonjax": np.nansum(cj),
            "ratio_cpu": np.nansum(cp) / np.nansum(cj),
            "mem_phonopy_max": np.nanmax(mp) if np.isfinite(mp).any() else float("nan"),
            "mem_phonjax_max": np.nanmax(mj) if np.isfinite(mj).any() else float("nan"),
        })
    return out


def _cause(r: dict) -> list[str]:
    """Automatic hints on why a material is beyond a threshold (see README for the analysis)."""
    causes = []
    if not (_num(r, "freq_max_abs") <= TOL["freq"]):
        if _num(r, "freq_max_abs_excl_gamma_acoustic") <= TOL["freq"]:
            causes.append("Δf only in the 3 Γ acoustic modes (f≈0: √ of ~1e-15 eigenvalue noise)")
        elif _num(r, "freq_sq_max_abs") <= TOL["freq_sq"]:
            # Δ(f·|f|) ≈ 2|f|·Δf: every mode with |f| ≥ 0.1 THz agrees to 1e-8 THz
            causes.append("Δf only where f≈0 (√ amplifies eigenvalue noise; Δ(f·|f|) ≤ 2e-9 THz²)")
        else:
            causes.append("Δf in finite modes")
    if not (_num(r, "fc_max_abs") <= TOL["fc"]):
        causes.append("force constants differ")
    therm = [k for k in ("F", "S", "Cv") if not (_num(r, f"{k}_rel") <= TOL["thermal_rel"])]
    if therm:
        worst = max(_num(r, f"{k}_rel") for k in ("F", "S", "Cv"))
        if worst > 1e-5:
            causes.append(f"{'/'.join(therm)} off by {worst:.1e}: far beyond what the choice of mesh "
                          "points does (≤ 3e-7 in the phonondb set); wrong frequencies on the mesh "
                          "(e.g. the eigensolver, see README)")
        elif r.get("n_irq_phonopy") != r.get("n_irq_phonjax"):
            causes.append(f"{'/'.join(therm)}: irreducible meshes differ "
                          f"({r.get('n_irq_phonopy')} vs {r.get('n_irq_phonjax')} q)")
        elif r.get("mesh_same_points_mod1") == "True" and _num(r, "mesh_n_bz_shifted") > 0:
            causes.append(f"{'/'.join(therm)}: same irreducible points modulo 1, but phonopy "
                          f"evaluates {r['mesh_n_bz_shifted']} of them at BZ-relocated q+G; with the "
                          "dataset's position noise D(q+G) is not exactly equivalent to D(q)")
        else:
            causes.append(f"{'/'.join(therm)} differ with the same number of irreducible points")
        if _num(r, "n_freq_le_0_mesh") > 0:
            causes.append(f"{r['n_freq_le_0_mesh']} mesh modes ≤ 0 (imaginary/soft modes at the "
                          "f>0 cutoff)")
    if r.get("stability_identical") == "False":
        causes.append(f"stability flips (phonopy ω_min {_num(r, 'omega_min_K_phonopy'):.3g} K, "
                      f"Γ acoustic min {_num(r, 'gamma_acoustic_min_K_phonopy'):.3g} K)")
    for prefix in ("disp_diag", "disp_nodiag"):
        if r.get(f"{prefix}_atoms_identical") == "False" or _num(r, f"{prefix}_max_du") > TOL["disp_du"]:
            causes.append(f"{prefix}: generated displacement sets differ "
                          f"({r.get(prefix + '_n_phonjax')} vs {r.get(prefix + '_n_phonopy')})")
    if r.get("supercell_order_identical") == "False":
        causes.append("supercell order differs")
    if not (_num(r, "omega_max_abs") <= TOL["omega_max"]):
        causes.append("ω_max differs")
    return causes


def _e(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.2e}"


def _list(ids: list[str], n: int = 12) -> str:
    return ", ".join(ids[:n]) + (f", … (+{len(ids) - n})" if len(ids) > n else "")


def write_summary(out: Path, rows: list[dict], requested: int, meta: dict) -> str:
    stages = stage_table(rows)
    timing = timing_table(rows)
    ok = [r for r in rows if r.get("status") == "ok"]
    err = [r for r in rows if r.get("status") != "ok"]
    lines = [
        "# phonjax vs phonopy: stage-by-stage validation", "",
        f"Generated {meta['now']} by `{meta['command']}`.", "",
        f"- versions: {meta['versions']}",
        f"- machine: {meta['machine']}",
        f"- reference: phonopy.load(produce_fc=False, is_nac=False, explicit primitive_matrix) → "
        f"produce_force_constants() (full, traditional FD) → symmetrize_force_constants() → "
        f"run_mesh({MESH}) → run_thermal_properties([{TEMPERATURE:g}]) → run_qpoints(commensurate)",
        f"- coverage: **{len(ok)} compared** of {requested} requested "
        f"({len(rows)} processed, {len(err)} with an error on either side)", "",
        "## Largest deviation per stage (materials compared on both sides)", "",
        "| stage | metric | contract | max over materials | worst material | # over | over |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in stages:
        metric = s["metric"].replace("|", "\\|")
        lines.append(f"| {s['stage']} | {metric} | {s['threshold']} | {_e(s['max'])} | "
                     f"{s['worst']} | {'' if s['n_over'] is None else s['n_over']} | "
                     f"{_list(s['over'])} |")
    lines += ["", "## Time per material and size class (n_supercell)", "",
              "phonopy time = load + FC + symmetrize + mesh + thermal + commensurate. "
              "phonjax time = read + prepare + its share of the batched kernel call "
              "(time of the call / materials in it); 'excl. JIT' subtracts the compile "
              "time measured by jax.monitoring. Wall time depends on what else runs on the "
              "machine (see the load average in the CSV); CPU time (process_time, all threads, "
              "JIT included for phonjax) is the steadier measure of work. Peak memory: largest "
              "resident-memory growth during one phonopy material / one phonjax batch call.", "",
              "| size class | n | phonopy wall (s) | phonjax wall (s) | phonjax wall excl. JIT (s) "
              "| median phonopy / phonjax (s) | wall ratio phonopy/phonjax | excl. JIT "
              "| phonopy CPU (s) | phonjax CPU (s) | CPU ratio "
              "| peak mem phonopy (MB) | peak mem phonjax batch (MB) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in timing:
        if not t["n"]:
            lines.append(f"| {t['class']} | 0 |" + " |" * 11)
            continue
        lines.append(
            f"| {t['class']} | {t['n']} | {t['phonopy_total']:.1f} | {t['phonjax_total']:.1f} | "
            f"{t['phonjax_total_excl']:.1f} | {t['phonopy_median']:.2f} / {t['phonjax_median']:.2f} "
            f"| {t['ratio']:.2f}× | {t['ratio_excl']:.2f}× | {t['cpu_phonopy']:.1f} | "
            f"{t['cpu_phonjax']:.1f} | {t['ratio_cpu']:.2f}× | {t['mem_phonopy_max']:.0f} | "
            f"{t['mem_phonjax_max']:.0f} |")
    bad = [(r, _cause(r)) for r in ok]
    bad = [(r, c) for r, c in bad if c]
    gamma_only = [r["id"] for r, c in bad if len(c) == 1 and c[0].startswith("Δf only")]
    bad = [(r, c) for r, c in bad if r["id"] not in set(gamma_only)]
    lines += ["", f"## Materials beyond a contract threshold", "",
              f"{len(gamma_only)} materials exceed the frequency threshold only through modes with "
              "f ≈ 0 (the acoustic modes at Γ, where √ turns ~1e-16 eigenvalue differences into "
              "~1e-7 THz; every mode with |f| ≥ 0.1 THz agrees to 1e-8 THz, i.e. "
              "max |Δ(f·|f|)| ≤ 2e-9 THz²) and meet every other threshold: "
              f"{_list(gamma_only, 40) if gamma_only else 'none'}.", "",
              f"{len(bad)} materials exceed another threshold:", ""]
    if bad:
        lines += ["| material | n_sc | sg | max Δf (THz) | excl. Γ ac. | F rel | S rel | Cv rel | "
                  "ΔΦ | cause (automatic hint) |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r, c in bad:
            lines.append(f"| {r['id']} | {r['n_supercell']} | {r['spacegroup']} | "
                         f"{_e(_num(r, 'freq_max_abs'))} | "
                         f"{_e(_num(r, 'freq_max_abs_excl_gamma_acoustic'))} | "
                         f"{_e(_num(r, 'F_rel'))} | {_e(_num(r, 'S_rel'))} | {_e(_num(r, 'Cv_rel'))} "
                         f"| {_e(_num(r, 'fc_max_abs'))} | {'; '.join(c)} |")
    else:
        lines.append("None.")
    lines += ["", f"## Errors ({len(err)})", ""]
    for r in err:
        lines.append(f"- {r['id']}: phonopy: `{r.get('phonopy_error') or '—'}`; "
                     f"phonjax: `{r.get('phonjax_error') or '—'}`")
    if not err:
        lines.append("None.")
    n_file = sum(1 for r in ok if r.get("file_disp_equals_generated") == "False")
    n_nodiag = sum(1 for r in ok if r.get("file_disp_equals_generated_nodiag") == "True")
    lines += ["", "## Notes", "",
              f"- {n_file} of {len(ok)} files carry a displacement set that differs from the one "
              "phonopy 4.10 generates by default (is_diagonal=True); "
              f"{n_nodiag} of {len(ok)} equal phonopy's is_diagonal=False set (the database was "
              "made with axis displacements). phonjax uses the file's own displacements for the "
              "force constants, as phonopy does, so this is expected. The displacement contract "
              "compares phonjax-generated with phonopy-generated sets, for both settings.",
              "- Per-material values: `per_material.csv` (same directory)."]
    text = "\n".join(lines) + "\n"
    (out / SUMMARY_NAME).write_text(text)
    return text


def print_rich(rows: list[dict], requested: int):
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    ok = [r for r in rows if r.get("status") == "ok"]
    t = Table(title=f"phonjax vs phonopy — {len(ok)} compared / {requested} requested "
                    f"({len(rows) - len(ok)} errors)")
    for c in ("stage", "contract", "max deviation", "worst", "# over", "over"):
        t.add_column(c, overflow="fold")
    for s in stage_table(rows):
        n = "" if s["n_over"] is None else str(s["n_over"])
        style = "red" if s["n_over"] else None
        t.add_row(s["stage"], s["threshold"], _e(s["max"]), s["worst"], n, _list(s["over"], 8),
                  style=style)
    console.print(t)
    tt = Table(title="time per size class (n_supercell)")
    for c in ("class", "n", "phonopy wall s", "phonjax wall s", "phonjax excl JIT s",
              "wall ratio", "excl JIT", "phonopy CPU s", "phonjax CPU s", "CPU ratio",
              "peak MB phonopy", "peak MB phonjax batch"):
        tt.add_column(c, justify="right")
    for x in timing_table(rows):
        if x["n"]:
            tt.add_row(x["class"], str(x["n"]), f"{x['phonopy_total']:.1f}",
                       f"{x['phonjax_total']:.1f}", f"{x['phonjax_total_excl']:.1f}",
                       f"{x['ratio']:.2f}", f"{x['ratio_excl']:.2f}", f"{x['cpu_phonopy']:.1f}",
                       f"{x['cpu_phonjax']:.1f}", f"{x['ratio_cpu']:.2f}",
                       f"{x['mem_phonopy_max']:.0f}", f"{x['mem_phonjax_max']:.0f}")
        else:
            tt.add_row(x["class"], "0", *[""] * 10)
    console.print(tt)


# --------------------------------------------------------------------------- planning


def plan(paths: list[str]) -> list[dict]:
    """(path, id, N, n_p) per file, from manifest.csv next to the files or from the file itself."""
    manifests: dict[Path, dict] = {}
    entries = []
    for p in paths:
        d = Path(p).parent
        if d not in manifests:
            m = d / "manifest.csv"
            manifests[d] = ({r["mp_id"]: r for r in csv.DictReader(open(m))} if m.exists() else {})
        r = manifests[d].get(file_id(p))
        if r:
            entries.append({"path": p, "id": file_id(p), "N": int(r["n_supercell"]),
                            "np": int(r["n_primitive"])})
            continue
        try:
            import phonjax

            ds = phonjax.read_dataset(p)
            n_p = int(round(ds.unitcell.n_atoms * abs(np.linalg.det(ds.primitive_matrix))))
            entries.append({"path": p, "id": file_id(p), "N": ds.n_supercell, "np": n_p})
        except Exception:  # noqa: BLE001 - the run records the error later
            entries.append({"path": p, "id": file_id(p), "N": 10**6, "np": 10**6})
    return entries


def bucket_groups(entries: list[dict], order: str) -> list[list[dict]]:
    """Materials grouped by phonjax's size bucket (padded N, padded n_p), cheapest first."""
    from phonjax.batch import ladder

    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        groups.setdefault((ladder(e["N"]), ladder(e["np"])), []).append(e)
    if order == "name":
        return [sorted(entries, key=lambda e: e["id"])]
    # the mesh cost grows like n_p^3 per q-point on both sides: largest n_p last
    keys = sorted(groups, key=lambda k: (k[1], k[0]))
    return [groups[k] for k in keys]


# --------------------------------------------------------------------------- main


def versions() -> str:
    import importlib.metadata as md

    out = []
    for pkg in ("phonjax", "phonopy", "phonors", "jax", "jaxlib", "spglib", "numpy"):
        try:
            out.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(out)


def phonjax_commit() -> str:
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "phonjax"], cwd=ROOT,
                               text=True, capture_output=True).stdout.split("\n")
        dirty = [line[3:] for line in dirty if line.strip()]
        return head + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else "")
    except Exception:  # noqa: BLE001
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", help="phonopy_params files (same as --files)")
    ap.add_argument("--files", nargs="+", default=[], help="phonopy_params files to compare")
    ap.add_argument("--data", default=str(DEFAULT_DATA),
                    help="directory of *.yaml.xz used when no files are given (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=None,
                    help="only the first N files (by name) of the selection")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: %(default)s)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="phonopy worker processes (default 1). With more than one, phonopy "
                         "materials run concurrently and their times include contention.")
    ap.add_argument("--overlap", action="store_true",
                    help="run phonjax on a batch while the phonopy workers process it "
                         "(shorter wall time; both sides' times then include contention)")
    ap.add_argument("--batch-size", type=int, default=32,
                    help="materials per phonon_properties call, within one size bucket (default 32)")
    ap.add_argument("--order", choices=("size", "name"), default="size",
                    help="size: phonjax size buckets, smallest primitive cells first (default)")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="start no new batch after this many minutes (partial coverage is reported)")
    ap.add_argument("--force", action="store_true", help="recompute materials already in the CSV")
    ap.add_argument("--retry-errors", action="store_true",
                    help="recompute materials whose CSV row records an error")
    ap.add_argument("--warm-phonors", action="store_true",
                    help="create phonors' thread pool from the main thread before phonjax runs: a "
                         "workaround for the flush-to-zero bug of phonjax's CPU eigensolver "
                         "callback (see README); off by default so that the bug shows")
    ap.add_argument("--summary-only", action="store_true",
                    help="only rebuild summary.md and the tables from the existing CSV")
    args = ap.parse_args(argv)

    start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / CSV_NAME
    paths = [str(Path(p)) for p in (args.paths + args.files)]
    if not paths:
        paths = sorted(str(p) for p in Path(args.data).glob("*.yaml.xz"))
    paths = sorted(dict.fromkeys(paths), key=lambda p: file_id(p))
    if args.limit is not None:
        paths = paths[: args.limit]
    requested_ids = {file_id(p) for p in paths}
    shown = [a for a in (argv or sys.argv[1:]) if not a.endswith((".xz", ".yaml", ".bz2", ".gz"))]
    if len(args.paths) + len(args.files):
        ids = [file_id(p) for p in paths]
        shown.append(f"--files <{len(ids)} files: {', '.join(ids[:3])}{', …' if len(ids) > 3 else ''}>")
    meta = {"command": "python " + " ".join([os.path.relpath(__file__, ROOT)] + shown),
            "versions": versions() + f"; phonjax checkout {phonjax_commit()}"
                        + ("; **--warm-phonors workaround on**" if args.warm_phonors else ""),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
                       f"python {platform.python_version()}",
            "now": _dt.datetime.now().isoformat(timespec="seconds")}

    def summarize(final: bool = False):
        rows = [r for r in read_rows(csv_path) if r["id"] in requested_ids]
        meta["now"] = _dt.datetime.now().isoformat(timespec="seconds")
        write_summary(out, rows, len(paths), meta)
        if final:
            print_rich(rows, len(paths))

    if args.summary_only:
        old = out / SUMMARY_NAME
        if old.exists():  # keep the command and versions of the run that wrote the CSV
            m = re.search(r"by `(.*)`\.", old.read_text())
            v = re.search(r"^- versions: (.*)$", old.read_text(), re.M)
            meta["command"] = m.group(1) if m else meta["command"]
            meta["versions"] = v.group(1) if v else meta["versions"]
        summarize(final=True)
        return 0

    rows = read_rows(csv_path)
    if args.force:
        rows = [r for r in rows if r["id"] not in requested_ids]
    elif args.retry_errors:
        rows = [r for r in rows if r.get("status") == "ok" or r["id"] not in requested_ids]
    if args.force or args.retry_errors or (rows and list(rows[0].keys()) != COLUMNS):
        write_rows(csv_path, rows)
    done = {r["id"] for r in rows}
    todo = [p for p in paths if file_id(p) not in done]
    print(f"{len(paths)} files requested, {len(paths) - len(todo)} already in {csv_path}, "
          f"{len(todo)} to run", flush=True)

    import jax

    import phonjax  # noqa: F401 - enables float64
    from phonjax.batch import bucket

    if args.warm_phonors:
        try:
            import phonors

            phonors.eigvalsh_values_batch(np.eye(3, dtype=complex)[None].repeat(2, 0).copy(),
                                          np.empty((2, 3)))
            print("phonors thread pool created from the main thread (--warm-phonors)", flush=True)
        except ImportError:
            pass

    compile_timer = CompileTimer()
    writer = RowWriter(csv_path)
    threads = max(1, (os.cpu_count() or 1) // max(1, args.jobs)) if args.jobs > 1 else None
    import multiprocessing as mp

    ctx = mp.get_context("spawn")

    def new_pool():
        return ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=ctx,
                                   initializer=_worker_init, initargs=(threads,))

    pool = new_pool()
    n_batch = n_done = 0
    stopped = False
    try:
        for group in bucket_groups(plan(todo), args.order):
            if stopped:
                break
            # read + prepare the whole size bucket, then batches of similar q-mesh size
            items = [phonjax_prepare(e["path"]) for e in group]
            good = [it for it in items if "error" not in it]
            sub = bucket([it["system"] for it in good]) if good else []
            ordered = []
            for idx in sub:  # normally one group: bucket() agrees with the plan
                g = sorted((good[i] for i in idx),
                           key=lambda it: (len(it["system"].mesh.qpoints), len(it["system"].displacements)))
                ordered += [g[i:i + args.batch_size] for i in range(0, len(g), args.batch_size)]
            failed = [it for it in items if "error" in it]
            if failed:
                ordered.append(failed)
            for batch in ordered:
                if args.max_minutes is not None and (time.time() - start) / 60 > args.max_minutes:
                    print(f"--max-minutes {args.max_minutes} reached: stopping", flush=True)
                    stopped = True
                    break
                n_batch += 1
                futures = ({it["path"]: pool.submit(phonopy_reference, it["path"]) for it in batch}
                           if args.overlap else None)
                info = phonjax_kernel(batch, compile_timer)
                n_ok = max(1, info["size"])
                for it in batch:
                    if "result" not in it:
                        continue
                    own = "t_kernel_own" in it
                    it.update(batch=n_batch, batch_size=1 if own else info["size"],
                              batch_wall_s=it.get("t_kernel_own", info["wall"]),
                              batch_compile_s=it.get("t_compile_own", info["compile"]),
                              batch_cpu_s=it.get("cpu_kernel_own", info["cpu"]),
                              cpu_kernel_share_s=it["cpu_kernel_own"] if own else info["cpu"] / n_ok,
                              mem_phonjax_batch_peak_MB=float("nan") if own else info["mem"],
                              loadavg_phonjax=info["loadavg"],
                              t_phonjax_kernel_share_s=it["t_kernel_own"] if own else info["wall"] / n_ok,
                              t_phonjax_compile_share_s=(it["t_compile_own"] if own
                                                         else info["compile"] / n_ok))
                if info["size"]:
                    print(f"[batch {n_batch}] {info['size']} materials, N≤"
                          f"{max(it['system'].n_supercell for it in batch if 'system' in it)}, "
                          f"phonjax kernel {info['wall']:.1f} s (JIT {info['compile']:.1f} s)",
                          flush=True)
                if futures is None:
                    futures = {it["path"]: pool.submit(phonopy_reference, it["path"]) for it in batch}
                for it in batch:
                    try:
                        ref = futures[it["path"]].result()
                    except BrokenProcessPool as exc:
                        ref = {"error": f"phonopy worker died ({exc}); memory or a crash in "
                                        "compiled code"}
                        pool.shutdown(cancel_futures=True)
                        pool = new_pool()
                        futures.update({p: pool.submit(phonopy_reference, p) for p, f in futures.items()
                                        if not f.done() or f.cancelled()})
                    try:
                        row = compare(it, ref)
                    except Exception as exc:  # noqa: BLE001
                        row = {"id": it["id"], "file": Path(it["path"]).name, "status": "error",
                               "phonjax_error": f"comparison failed: {type(exc).__name__}: {exc}"}
                        traceback.print_exc()
                    row["finished_at"] = _dt.datetime.now().isoformat(timespec="seconds")
                    writer.write(row)
                    n_done += 1
                    print(f"  {row['id']:>12} N={row.get('n_supercell', '?'):>3} "
                          f"np={row.get('n_primitive', '?'):>3} {row['status']:5} "
                          f"fc {_e(row.get('fc_max_abs'))} f {_e(row.get('freq_max_abs'))} "
                          f"F {_e(row.get('F_rel'))} S {_e(row.get('S_rel'))} "
                          f"Cv {_e(row.get('Cv_rel'))} | phonopy {row.get('t_phonopy_s', float('nan')):.2f} s"
                          f" phonjax {row.get('t_phonjax_s', float('nan')):.2f} s"
                          + (f" | {row.get('phonopy_error') or ''} {row.get('phonjax_error') or ''}"
                             if row["status"] != "ok" else ""), flush=True)
                    for k in ("result", "dataset"):
                        it.pop(k, None)
                summarize()
                print(f"  [{n_done}/{len(todo)} done, {(time.time() - start) / 60:.1f} min]",
                      flush=True)
            jax.clear_caches()  # compiled shapes of this bucket are not reused by the next
    finally:
        writer.close()
        pool.shutdown(cancel_futures=True)
    summarize(final=True)
    print(f"wrote {csv_path} and {out / SUMMARY_NAME} in {(time.time() - start) / 60:.1f} min",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
