"""One CSV row per material: phonjax's item against phonopy's record of the same file.

Each stage (displacements, supercell, force constants, commensurate frequencies, ω_max, F/S/Cv,
stability) gets its deviation columns (see ``settings.COLUMNS``); times and memory of both sides
are copied. ``status`` is "ok" when both sides ran, "error" otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.compare_phonopy.settings import GAMMA_TOL_K, MESH, size_class


def _wrap(d):
    return d - np.rint(d)


def _compare_displacements(a, b):
    """(n_a, n_b, atoms identical, max |du|) for (atoms, displacements) pairs."""
    (atoms_a, u_a), (atoms_b, u_b) = a, b
    same = len(atoms_a) == len(atoms_b) and bool(np.array_equal(atoms_a, atoms_b))
    du = float(np.abs(u_a - u_b).max()) if same and len(u_a) else float("nan")
    return len(atoms_a), len(atoms_b), same, du


def compare(item: dict, ref: dict) -> dict:
    """One CSV row from the phonjax item and the phonopy record of the same file."""
    row: dict = {"id": item["id"], "file": Path(item["path"]).name}
    system = item.get("system")
    res = item.get("result")
    _sizes(row, system, ref)
    row["phonopy_error"] = ref.get("error", "")
    row["phonjax_error"] = "; ".join(filter(None, [item.get("error", ""),
                                                   item.get("disp_diag_error", ""),
                                                   item.get("disp_nodiag_error", "")]))
    _phonopy_columns(row, ref)
    _phonjax_columns(row, item, system, res)
    # comparisons need both sides
    if "error" in ref or system is None:
        row["status"] = "error"
        return row
    _displacements(row, item, ref)
    same_n = _cells(row, system, ref)
    if res is None:
        row["status"] = "error"
        return row
    _mesh(row, system, ref)
    if same_n and res.force_constants.shape == ref["fc"].shape:
        row["fc_max_abs"] = float(np.abs(res.force_constants - ref["fc"]).max())
    else:
        row["fc_max_abs"] = float("inf")
    row["fc_scale"] = float(np.abs(ref["fc"]).max())
    _frequencies(row, system, res, ref)
    row["omega_max_abs"] = abs(row["omega_max_K_phonjax"] - row["omega_max_K_phonopy"])
    _thermal(row, item.get("result_phonopy_mesh"))
    row["stability_identical"] = bool(row["stable_phonjax"] == row["stable_phonopy"])
    row["status"] = "ok"
    return row


def _sizes(row: dict, system, ref: dict) -> None:
    """Cell sizes, space group and file displacements, from phonjax or else from phonopy."""
    if system is not None:
        row.update(n_unitcell=system.unitcell.n_atoms, n_primitive=system.n_primitive,
                   n_supercell=system.n_supercell, spacegroup=system.info.get("spacegroup", ""),
                   n_disp_file=len(system.displacements))
    elif "error" not in ref:
        row.update(n_supercell=len(ref["sc_numbers"]), n_primitive=len(ref["p2s"]),
                   n_unitcell=ref["n_unitcell"], spacegroup=ref["spacegroup"],
                   n_disp_file=len(ref["file_disp"][0]))
    row["size_class"] = size_class(int(row["n_supercell"])) if "n_supercell" in row else ""


def _phonopy_columns(row: dict, ref: dict) -> None:
    """phonopy's own values: times, memory, F/S/Cv, mesh counts, ω_max and stability verdict."""
    if "error" in ref:
        return
    from phonjax.harmonic.stability import stability
    from phonjax.units import THZ_TO_K

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


_BATCH_KEYS = ("batch", "batch_size", "batch_wall_s", "batch_compile_s", "batch_cpu_s",
               "cpu_kernel_share_s", "mem_phonjax_batch_peak_MB", "loadavg_phonjax",
               "t_phonjax_kernel_share_s", "t_phonjax_compile_share_s")


def _phonjax_columns(row: dict, item: dict, system, res) -> None:
    """phonjax's own values: times (read + prepare + kernel share), F/S/Cv, ω_max, stability."""
    if system is not None:
        row.update(t_phonjax_read_s=item["t_read"], t_phonjax_prepare_s=item["t_prepare"],
                   n_irq_phonjax=len(system.mesh.qpoints))
    if res is not None:
        row.update(F_phonjax=res.free_energy_kJmol[0], S_phonjax=res.entropy_JKmol[0],
                   Cv_phonjax=res.heat_capacity_JKmol[0], omega_max_K_phonjax=res.omega_max_K,
                   stable_phonjax=res.stable, omega_min_K_phonjax=res.omega_min_K)
    row.update({k: item[k] for k in _BATCH_KEYS if k in item})
    if res is not None:
        total = item["t_read"] + item["t_prepare"] + item["t_phonjax_kernel_share_s"]
        row["t_phonjax_s"] = total
        row["t_phonjax_excl_compile_s"] = total - item["t_phonjax_compile_share_s"]
        row["cpu_phonjax_s"] = item["cpu_prepare"] + item["cpu_kernel_share_s"]  # JIT included


def _displacements(row: dict, item: dict, ref: dict) -> None:
    """phonjax- vs phonopy-generated sets; the file's own set vs phonopy's generated ones."""
    for key in ("disp_diag", "disp_nodiag"):
        if key in item:
            n_a, n_b, same, du = _compare_displacements(item[key], ref[key])
            row.update({f"{key}_n_phonjax": n_a, f"{key}_n_phonopy": n_b,
                        f"{key}_atoms_identical": same, f"{key}_max_du": du})
    fa, fu = ref["file_disp"]
    for col, key in (("file_disp_equals_generated", "disp_diag"),
                     ("file_disp_equals_generated_nodiag", "disp_nodiag")):
        ga, gu = ref[key]
        row[col] = bool(len(fa) == len(ga) and np.array_equal(fa, ga)
                        and np.abs(fu - gu).max() < 1e-8)


def _cells(row: dict, system, ref: dict) -> bool:
    """Supercell order and positions, primitive maps; True when the supercells have equal size."""
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
    return same_n


def _mesh(row: dict, system, ref: dict) -> None:
    """Irreducible meshes: the same points modulo 1? How many does phonopy move by a G vector?"""
    qm, qpm = system.mesh.qpoints, ref["mesh_q"]
    grid2 = 2 * np.asarray(MESH)

    def key(q):
        return {tuple(k) for k in np.rint((q - np.floor(q)) * grid2).astype(int) % grid2}

    row["mesh_same_points_mod1"] = bool(len(qm) == len(qpm) and key(qm) == key(qpm))
    row["mesh_n_bz_shifted"] = int((np.abs(qpm - np.floor(qpm)) > 1e-12).any(axis=1).sum())


def _frequencies(row: dict, system, res, ref: dict) -> None:
    """Frequencies at the commensurate q-points, matched modulo 1 and sorted per q."""
    from phonjax.harmonic.mesh import is_gamma

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
        return
    fp = fp[match]
    df = np.abs(fj - fp)
    iq, ib = np.unravel_index(np.argmax(df), df.shape)
    row["freq_max_abs"] = float(df.max())
    row["freq_max_at"] = f"q={np.round(qj[iq], 4).tolist()} band={ib} f={fp[iq, ib]:.3e}THz"
    excl = df.copy()
    g = np.flatnonzero(is_gamma(qj))
    if len(g):  # acoustic modes: the three smallest |f| at Γ (imaginary optical ones sort first)
        excl[g[0], np.argsort(np.abs(fp[g[0]]), kind="stable")[:3]] = 0.0
    row["freq_max_abs_excl_gamma_acoustic"] = float(excl.max())
    row["freq_sq_max_abs"] = float(np.abs(fj * np.abs(fj) - fp * np.abs(fp)).max())


def _thermal(row: dict, alt) -> None:
    """Relative F/S/Cv deviations, also with phonjax on phonopy's own q-set (``alt``, if any)."""
    for key, attr in (("F", "free_energy_kJmol"), ("S", "entropy_JKmol"),
                      ("Cv", "heat_capacity_JKmol")):
        a, b = row[f"{key}_phonjax"], row[f"{key}_phonopy"]
        row[f"{key}_rel"] = abs(a - b) / abs(b) if b != 0 else abs(a - b)
        a = getattr(alt, attr)[0] if alt is not None else a
        row[f"{key}_rel_phonopy_mesh"] = abs(a - b) / abs(b) if b != 0 else abs(a - b)
    row["thermal_rel_phonopy_mesh"] = max(row[f"{k}_rel_phonopy_mesh"] for k in ("F", "S", "Cv"))
