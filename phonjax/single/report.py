"""What a run says about each pair: the JSON summary, the per-model comparison, the text lines.

``summary(p)`` is the JSON summary with full provenance (input, symmetry before and after,
relaxation, cells, path check, mesh, thermal values in the three normalisations, stability
verdict and rule, model and weights, the non-analytical correction (method, Born file and
its SHA-256, the charges and ε∞ applied), versions, settings, timings). It never holds NaN or
infinity (written as null). ``comparison_rows`` is the one table of several models on one
crystal: ω_max, F, S, Cv at one temperature, the verdict.
"""

from __future__ import annotations

import math

import numpy as np

from phonjax.harmonic.thermal import GAMMA_ACOUSTIC_RULE
from phonjax.pipeline.born import source_name
from phonjax.units import THZ_TO_K


def clean(value):
    """JSON-safe: numpy scalars and arrays to Python, NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def report_temperature(temperatures_K) -> float:
    """300 K when the table has it, else the temperature closest to it."""
    t = np.asarray(temperatures_K, float)
    return float(t[np.argmin(np.abs(t - 300.0))])


def _path(p) -> dict | None:
    if p.band is None:
        return None
    path = p.band.path
    return {"source": path.source, "verified": path.verified, "labels": path.labels,
            "n_qpoints": int(len(p.band.qpoints)), "warnings": path.warnings,
            "checks": [{"label": c.label, "q": c.q, "ok": c.ok, "in_star": c.in_star,
                        "lattice_ok": c.lattice_ok, "little_group": c.little_group,
                        "little_group_seekpath": c.little_group_seekpath} for c in path.checks]}


def _thermal(p) -> dict | None:
    th = p.thermal
    if th is None:
        return None
    t = report_temperature(th.temperatures_K)
    i = int(np.argmin(np.abs(th.temperatures_K - t)))
    rows = {per: {k: float(v[i]) for k, v in th.columns(per).items()}
            for per in ("cells", "formula_units", "atoms")}
    return {"formula_unit": th.formula, "formula_units_per_primitive_cell": th.z,
            "atoms_per_primitive_cell": th.n_atoms,
            "zero_point_energy_kJ_per_mol_cells": th.zero_point_energy_kJmol,
            "gamma_acoustic_rule": GAMMA_ACOUSTIC_RULE,
            "mesh_contains_gamma": mesh_contains_gamma(p),
            "cutoff_frequency_THz": th.cutoff_frequency_THz,
            "num_modes": th.num_modes, "num_integrated_modes": th.num_integrated_modes,
            "undefined_reason": thermal_undefined_reason(th, i),
            "temperature_K": t, **rows,
            "temperatures_K": [float(th.temperatures_K[0]), float(th.temperatures_K[-1]),
                               len(th.temperatures_K)]}


def mesh_contains_gamma(p) -> bool:
    """Whether the mesh of the thermal table (the spectra's, else the kernel's) holds Γ."""
    from phonjax.harmonic.mesh import is_gamma

    if p.mesh is not None:
        return bool(is_gamma(p.mesh.grid.qpoints).any())
    return bool(p.result is not None and p.result.mesh_contains_gamma)


def thermal_undefined_reason(th, index: int) -> str | None:
    """Why F, S, Cv at row ``index`` of a ``ThermalTable`` are not numbers (null in JSON,
    "n/a" on the console), or None when all three are defined."""
    if th.undefined_reason is not None:
        return th.undefined_reason
    bad = [name for name, v in (("F", th.free_energy_kJmol), ("S", th.entropy_JKmol),
                                ("Cv", th.heat_capacity_JKmol)) if not math.isfinite(v[index])]
    if bad:
        return (f"{', '.join(bad)} not a finite number at T = {th.temperatures_K[index]:g} K")
    return None


def _stability(p) -> dict | None:
    rep = p.instability
    if rep is None:
        return None
    v = rep.verdict
    return {"stable": v.stable, "rule": v.rule, "tolerance_THz": v.tolerance_THz,
            "min_frequency_THz": v.min_frequency_THz, "min_at": v.min_where,
            "gamma_acoustic_max_abs_THz": v.gamma_acoustic_max_abs_THz,
            "verdict": v.kind, "acoustic_dip_only": v.acoustic_dip_only,
            "n_acoustic_dip_modes": v.n_acoustic_dip_modes,
            "near_gamma_radius_per_A": v.near_gamma_radius_per_A,
            "acoustic_dip_rule": v.acoustic_dip_rule,
            "advice": v.advice,
            "n_unstable_branches": len(rep.branches),
            "n_acoustic_dip_branches": sum(b.near_gamma_acoustic_dip for b in rep.branches),
            "modulated_structures": [{"band": m.band + 1, "q": m.q, "frequency_THz": m.frequency_THz,
                                      "supercell": m.supercell, "amplitude_A": m.amplitude_A}
                                     for m in rep.modulations],
            "not_modulated": rep.skipped}


def _nac(p) -> dict | None:

    return None if p.system is None else nac_description(p)


def summary(p) -> dict:
    from phonjax.single.provenance import model_identity, versions

    r = p.result
    out = {
        "name": p.name, "source": p.source,
        "model": model_identity(p.model, p.device) if p.error is None or p.error[0] != "model"
        else {"model": p.model},
        "error": None if p.error is None else {"stage": p.error[0], "message": p.error[1]},
        "input": {"formula": p.input_crystal.to_ase().get_chemical_formula(),
                  "n_atoms": p.input_crystal.n_atoms,
                  "symmetry": str(p.symmetry_input) if p.symmetry_input else None,
                  "symmetrized": (None if p.symmetrized_to is None else
                                  {"tolerance_A": p.settings.symmetrize_tolerance_A,
                                   "symmetry_after": str(p.symmetrized_to)})},
        "relaxation": p.relaxation.to_dict() if p.relaxation else None,
        "cells": p.cells.to_dict() if p.cells else None,
        "n_displacements": None if p.system is None else (
            len(p.system.displacements) if p.displacement_fields is None
            else len(p.displacement_fields)),
        "force_constants": None if p.harmonic is None else p.harmonic.fc_rule,
        "band_path": _path(p),
        "mesh": None if p.mesh is None else {
            "mesh": list(p.mesh.grid.mesh), "rule": p.mesh.grid.rule,
            "n_irreducible_q": len(p.mesh.grid.qpoints),
            "time_reversal_only": p.mesh.grid.symmetry_fallback},
        "nac": _nac(p),
        "dos": None if p.dos is None else {"method": p.dos.method, "sigma_THz": p.dos.sigma_THz},
        "thermal": _thermal(p),
        "stability": _stability(p),
        "commensurate": None if r is None else {
            "omega_max_K": r.omega_max_K, "omega_max_THz": r.omega_max_K / THZ_TO_K,
            "omega_min_K": r.omega_min_K, "stable_benchmark_rule": r.stable,
            "benchmark_rule": f"real frequencies at the {r.n_commensurate_q} commensurate q-points, "
                              f"Γ acoustic modes down to −{r.gamma_acoustic_tolerance_K:g} K"},
        "settings": p.settings.to_dict(),
        "timings_s": {k: round(v, 3) for k, v in p.timings.items()},
        "versions": versions(),
    }
    return clean(out)


def comparison_rows(items) -> list[dict]:
    """One row per model of one crystal: ω_max, F, S, Cv at the report temperature, verdict."""
    rows = []
    for p in items:
        row = {"model": p.model, "status": "ok" if p.error is None else
               f"failed ({p.error[0]}): {p.error[1]}"}
        if p.error is None and p.thermal is not None:
            th = p.thermal
            t = report_temperature(th.temperatures_K)
            cols = th.at(t)
            row.update({"temperature_K": t,
                        "omega_max_THz": float(np.max(p.mesh.frequencies_THz)) if p.mesh
                        else p.result.omega_max_K / THZ_TO_K,
                        "F_kJ_per_mol_cells": cols["free_energy_kJ_per_mol_cells"],
                        "S_J_per_K_per_mol_cells": cols["entropy_J_per_K_per_mol_cells"],
                        "Cv_J_per_K_per_mol_cells": cols["heat_capacity_J_per_K_per_mol_cells"],
                        "thermal_undefined_reason": thermal_undefined_reason(
                            th, int(np.argmin(np.abs(th.temperatures_K - t)))),
                        "min_frequency_THz": p.instability.verdict.min_frequency_THz,
                        "stable": p.instability.verdict.stable,
                        "verdict": p.instability.verdict.kind})
        rows.append(row)
    return rows


def nac_description(p) -> dict:
    """The NAC of a prepared pair for the JSON summary: applied or not and why; method, file
    (path, SHA-256, bytes), unit factor, and the ε∞ and Born charges used (symmetrized)."""
    from phonjax.single.provenance import file_identity

    setting = p.settings.nac
    params = None if p.system is None else p.system.nac
    if params is None:
        reason = ("turned off (nac=False, --no-nac)" if setting is False
                  else "no Born charges given")
        return {"applied": False, "reason": reason}
    origin = ("--born file" if isinstance(setting, str) else
              "the force-set input's own" if setting is None else "given (NACParams)")
    table = p.system.tables.nac
    symbols = p.system.primitive.crystal.symbols
    return {
        "applied": True,
        "method": {"gonze": "gonze (Gonze-Lee dipole-dipole, phonopy's default)",
                   "wang": "wang (Wang's method)"}[params.method],
        "origin": origin,
        "file": None if params.source is None else file_identity(params.source),
        "unit_factor": params.factor,
        "g_cutoff": params.g_cutoff, "lambda": params.lambda_,
        "dielectric_used": (np.round(np.asarray(table.dielectric), 10) + 0.0).tolist(),
        "born_charges_used": {f"{s}{i + 1}": (np.round(np.asarray(z), 10) + 0.0).tolist()
                              for i, (s, z) in enumerate(zip(symbols, table.born))},
        "symmetrized": "by the primitive cell's space group with Σ Z* = 0 (phonopy's default)"
                       if params.symmetrize else "no",
        "q_to_gamma": "band segments through Γ take the segment's direction (phonopy's rule); "
                      "the mesh and single q-points take none at Γ",
    }


def nac_summary_line(p) -> str | None:
    """One line for the terminal, or None when no NAC was asked for or found."""
    setting = p.settings.nac
    params = None if p.system is None else p.system.nac
    if params is None:
        return "NAC off (--no-nac)" if setting is False else None
    where = source_name(params) if params.source else "NACParams"
    return (f"NAC ({params.method}): Born charges and ε∞ from {where}"
            + (" (DFT) on the model's force constants" if p.model != "dft" else ""))
