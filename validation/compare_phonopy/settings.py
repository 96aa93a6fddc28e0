"""What the comparison computes and judges: data, mesh, temperature, thresholds, CSV columns."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = (ROOT / ".." / "shared" / "data" / "phonondb-pbesol").resolve()
DEFAULT_OUT = ROOT / "validation" / "results"
CSV_NAME = "per_material.csv"
SUMMARY_NAME = "summary.md"

MESH = (20, 20, 20)
TEMPERATURE_K = 300.0
GAMMA_TOL_K = 50.0  # phonjax.phonon_properties' default, used for both verdicts

# contract thresholds
TOL = {
    "disp_du": 1e-10,  # Å: "identical" displacement vectors (same arithmetic, float noise only)
    "fc": 1e-10,  # eV/Å²
    "freq": 1e-8,  # THz
    "freq_sq": 2e-9,  # THz² on f·|f|: Δf ≤ 1e-8 THz for every mode with |f| ≥ 0.1 THz
    "omega_max": 1e-4,  # K
    "thermal_rel": 1e-8,
    "supercell_dr": 1e-8,  # Å, reported; the contract is the identical order
}

# (name, smallest, largest) number of supercell atoms
SIZE_CLASSES = [("<=64", 0, 64), ("65-128", 65, 128), ("129-200", 129, 200), (">200", 201, 10**9)]


def size_class(n_supercell: int) -> str:
    for name, lo, hi in SIZE_CLASSES:
        if lo <= n_supercell <= hi:
            return name
    return "?"


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
