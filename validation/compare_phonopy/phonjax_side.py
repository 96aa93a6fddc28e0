"""The phonjax side: every call of the comparison into phonjax's API lives here.

``prepare_item`` reads and prepares one file (timed) and builds phonjax's generated displacement
sets (untimed); ``run_kernel`` runs one batched ``phonon_properties`` call over prepared items
(timed, JIT compile time measured apart), falling back to one call per item when the batch fails;
``size_groups`` and ``batches`` order the work by phonjax's size buckets. Items are dicts: ``path``,
``id``, then ``dataset``, ``system``, ``t_read``, ``t_prepare``, ``cpu_prepare``, ``disp_diag``,
``disp_nodiag`` and, after the kernel, ``result`` (a ``PhononResult``) and
``result_phonopy_mesh``; or ``error``.
"""

from __future__ import annotations

import time

import numpy as np

from validation.compare_phonopy.measure import CompileTimer, PeakRSS, loadavg
from validation.compare_phonopy.settings import TEMPERATURE_K


def init() -> None:
    """Import phonjax in the main process before anything is timed."""
    import phonjax  # noqa: F401


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]


def prepare_item(path: str) -> dict:
    """read + prepare (timed) and the generated displacement sets (untimed)."""
    import phonjax
    from phonjax.io import dataset_id

    item: dict = {"path": path, "id": dataset_id(path)}
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
        item["error"] = _error(exc)
    return item


def _properties(items: list[dict], keep_force_constants: bool = True) -> list:
    """phonjax.phonon_properties at the comparison's temperature for prepared items."""
    import phonjax

    return phonjax.phonon_properties([it["system"] for it in items],
                                     [it["dataset"].forces for it in items],
                                     phonjax.PhononSettings(temperatures_K=(TEMPERATURE_K,)),
                                     keep_force_constants=keep_force_constants)


def run_kernel(items: list[dict], compile_timer: CompileTimer) -> dict:
    """One ``phonon_properties`` call for every prepared item; per-item fallback on failure.

    Sets ``result`` on each item (or ``error``, with ``t_kernel_own``, ``t_compile_own`` and
    ``cpu_kernel_own`` after a fallback) and returns the batch's wall, compile and CPU seconds,
    peak memory growth (MB), load average and size (0 after a fallback).
    """
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
            results = _properties(ok)
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
            it["result"] = _properties([it])[0]
        except Exception as exc:  # noqa: BLE001
            it["error"] = _error(exc)
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
                [alt], [it["dataset"].forces], phonjax.PhononSettings(temperatures_K=(TEMPERATURE_K,)))[0]


def material_sizes(path: str) -> tuple[int, int]:
    """(supercell atoms, primitive atoms) of a file, read with phonjax."""
    import phonjax

    ds = phonjax.read_dataset(path)
    n_primitive = ds.unitcell.n_atoms * abs(np.linalg.det(ds.primitive_matrix))
    return ds.n_supercell, int(round(n_primitive))


def size_groups(entries: list[dict], order: str) -> list[list[dict]]:
    """Entries (``N``, ``np``) grouped by phonjax's size bucket (padded N, padded n_p), cheapest first.

    ``order="name"``: one group, sorted by id.
    """
    from phonjax.execution import default_plan

    if order == "name":
        return [sorted(entries, key=lambda e: e["id"])]
    plan = default_plan()
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        groups.setdefault((plan.padded(e["N"]), plan.padded(e["np"])), []).append(e)
    # the mesh cost grows like n_p^3 per q-point on both sides: largest n_p last
    keys = sorted(groups, key=lambda k: (k[1], k[0]))
    return [groups[k] for k in keys]


def batches(items: list[dict], batch_size: int) -> list[list[dict]]:
    """Prepared items in kernel batches: phonjax's buckets by q-points, ``batch_size`` each."""
    from phonjax.execution import default_plan
    from phonjax.execution.padding import bucket

    if not items:
        return []
    out = []
    for idx in bucket([it["system"].tables for it in items], default_plan()):  # normally one group: agrees with the plan
        g = sorted((items[i] for i in idx),
                   key=lambda it: (len(it["system"].mesh.qpoints), len(it["system"].displacements)))
        out += [g[i:i + batch_size] for i in range(0, len(g), batch_size)]
    return out


def forget_compiled() -> None:
    """Drop JAX's compiled kernels (after a size bucket: its shapes do not come back)."""
    import jax

    jax.clear_caches()
