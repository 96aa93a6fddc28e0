"""summary.md and the console tables, built from the CSV rows alone (rebuilt at any time).

``stage_table``: per stage, the largest deviation over the compared materials, the worst material
and those beyond the contract threshold; ``timing_table``: both sides' time, CPU and memory per size
class; ``cause``: an automatic hint on why a material is beyond a threshold.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from validation.compare_phonopy.settings import MESH, SIZE_CLASSES, SUMMARY_NAME, TEMPERATURE_K, TOL
from validation.compare_phonopy.table import flag, num


# (label, metric description, threshold text, value column or None, failing(row) -> bool)
def _stages():
    def over(col, tol):
        return lambda r: not (num(r, col) <= tol)  # nan (missing) counts as a failure

    def not_true(col):
        return lambda r: flag(r, col) is not True

    def disp(prefix):
        return lambda r: (flag(r, f"{prefix}_atoms_identical") is not True
                          or not (num(r, f"{prefix}_max_du") <= TOL["disp_du"]))

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
        ("stability verdict", "phonjax vs phonjax.harmonic.stability(phonopy f)", "identical", None,
         not_true("stability_identical")),
    ]


def stage_table(rows: list[dict]) -> list[dict]:
    ok = [r for r in rows if r.get("status") == "ok"]
    out = []
    for label, metric, threshold, col, failing in _stages():
        vals = [(num(r, col), r["id"]) for r in ok] if col else []
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
        col = {k: np.array([num(r, k) for r in sel]) for k in (
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


def cause(r: dict) -> list[str]:
    """Automatic hints on why a material is beyond a threshold (see README for the analysis)."""
    causes = []
    if not (num(r, "freq_max_abs") <= TOL["freq"]):
        if num(r, "freq_max_abs_excl_gamma_acoustic") <= TOL["freq"]:
            causes.append("Δf only in the 3 Γ acoustic modes (f≈0: √ of ~1e-15 eigenvalue noise)")
        elif num(r, "freq_sq_max_abs") <= TOL["freq_sq"]:
            # Δ(f·|f|) ≈ 2|f|·Δf: every mode with |f| ≥ 0.1 THz agrees to 1e-8 THz
            causes.append("Δf only where f≈0 (√ amplifies eigenvalue noise; Δ(f·|f|) ≤ 2e-9 THz²)")
        else:
            causes.append("Δf in finite modes")
    if not (num(r, "fc_max_abs") <= TOL["fc"]):
        causes.append("force constants differ")
    therm = [k for k in ("F", "S", "Cv") if not (num(r, f"{k}_rel") <= TOL["thermal_rel"])]
    if therm:
        worst = max(num(r, f"{k}_rel") for k in ("F", "S", "Cv"))
        if worst > 1e-5:
            causes.append(f"{'/'.join(therm)} off by {worst:.1e}: far beyond what the choice of mesh "
                          "points does (≤ 3e-7 in the phonondb set); wrong frequencies on the mesh "
                          "(e.g. the eigensolver, see README)")
        elif r.get("n_irq_phonopy") != r.get("n_irq_phonjax"):
            causes.append(f"{'/'.join(therm)}: irreducible meshes differ "
                          f"({r.get('n_irq_phonopy')} vs {r.get('n_irq_phonjax')} q)")
        elif r.get("mesh_same_points_mod1") == "True" and num(r, "mesh_n_bz_shifted") > 0:
            causes.append(f"{'/'.join(therm)}: same irreducible points modulo 1, but phonopy "
                          f"evaluates {r['mesh_n_bz_shifted']} of them at BZ-relocated q+G; with the "
                          "dataset's position noise D(q+G) is not exactly equivalent to D(q)")
        else:
            causes.append(f"{'/'.join(therm)} differ with the same number of irreducible points")
        if num(r, "n_freq_le_0_mesh") > 0:
            causes.append(f"{r['n_freq_le_0_mesh']} mesh modes ≤ 0 (imaginary/soft modes at the "
                          "f>0 cutoff)")
    if r.get("stability_identical") == "False":
        causes.append(f"stability flips (phonopy ω_min {num(r, 'omega_min_K_phonopy'):.3g} K, "
                      f"Γ acoustic min {num(r, 'gamma_acoustic_min_K_phonopy'):.3g} K)")
    for prefix in ("disp_diag", "disp_nodiag"):
        if r.get(f"{prefix}_atoms_identical") == "False" or num(r, f"{prefix}_max_du") > TOL["disp_du"]:
            causes.append(f"{prefix}: generated displacement sets differ "
                          f"({r.get(prefix + '_n_phonjax')} vs {r.get(prefix + '_n_phonopy')})")
    if r.get("supercell_order_identical") == "False":
        causes.append("supercell order differs")
    if not (num(r, "omega_max_abs") <= TOL["omega_max"]):
        causes.append("ω_max differs")
    return causes


def sci(x: float) -> str:
    """x in scientific notation with 3 digits; an en dash when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.2e}"


def _list(ids: list[str], n: int = 12) -> str:
    """The first n ids, then how many more."""
    return ", ".join(ids[:n]) + (f", … (+{len(ids) - n})" if len(ids) > n else "")


def write_summary(out: Path, rows: list[dict], requested: int, meta: dict) -> str:
    """Write ``<out>/summary.md`` from the CSV rows; ``meta``: command, versions, machine, now."""
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
        f"run_mesh({list(MESH)}) → run_thermal_properties([{TEMPERATURE_K:g}]) → run_qpoints(commensurate)",
        f"- coverage: **{len(ok)} compared** of {requested} requested "
        f"({len(rows)} processed, {len(err)} with an error on either side)", "",
        "## Largest deviation per stage (materials compared on both sides)", "",
        "| stage | metric | contract | max over materials | worst material | # over | over |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in stages:
        metric = s["metric"].replace("|", "\\|")
        lines.append(f"| {s['stage']} | {metric} | {s['threshold']} | {sci(s['max'])} | "
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
    bad = [(r, cause(r)) for r in ok]
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
                         f"{sci(num(r, 'freq_max_abs'))} | "
                         f"{sci(num(r, 'freq_max_abs_excl_gamma_acoustic'))} | "
                         f"{sci(num(r, 'F_rel'))} | {sci(num(r, 'S_rel'))} | {sci(num(r, 'Cv_rel'))} "
                         f"| {sci(num(r, 'fc_max_abs'))} | {'; '.join(c)} |")
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


def print_tables(rows: list[dict], requested: int):
    """The stage and timing tables on the console (rich)."""
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
        t.add_row(s["stage"], s["threshold"], sci(s["max"]), s["worst"], n, _list(s["over"], 8),
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
