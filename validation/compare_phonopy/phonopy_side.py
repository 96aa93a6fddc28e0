"""The phonopy side in worker processes: ``phonopy_reference`` on one file, as a picklable record.

The record is the plain dict that ``compare.compare`` reads (arrays and numbers only, no phonopy
object): ``fc``, ``commensurate_q``/``commensurate_f``, ``F``/``S``/``Cv`` at 300 K, the mesh
(``mesh_q``, ``mesh_w``, ``n_irq``, ``n_freq_le_0``), the cells (``sc_lattice``, ``sc_frac``,
``sc_numbers``, ``p2s``, ``s2p``, ``n_unitcell``, ``spacegroup``), the file's displacements
(``file_disp``) and phonopy's generated sets (``disp_diag``, ``disp_nodiag``), ``times``,
``mem_MB`` and ``loadavg``; or ``error`` and ``traceback`` when phonopy fails.
"""

from __future__ import annotations

import os
import traceback
import warnings

import numpy as np

from validation.compare_phonopy.measure import PeakRSS, loadavg
from validation.compare_phonopy.settings import MESH, TEMPERATURE_K
from validation.reference import phonopy_reference

# CSV time columns <- PhonopyReference.times_s keys
TIME_KEYS = {"load": "load", "fc": "force_constants", "mesh": "mesh", "thermal": "thermal",
             "commensurate": "commensurate", "total": "total", "cpu": "cpu"}


def worker_init(threads: int | None):
    """Pool initializer: cap the numeric libraries' threads, silence phonopy's warnings."""
    if threads:
        for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    warnings.simplefilter("ignore")


def run_phonopy(path: str, primitive_matrix=None) -> dict:
    """The reference record of one file; exceptions are recorded, not raised.

    ``primitive_matrix`` is the one phonjax read from the file (``PhononDataset.primitive_matrix``)
    so that the worker need not read the file with phonjax (and import JAX); when it is None
    (phonjax could not read the file) ``phonopy_reference`` reads it itself.
    """
    out: dict = {"path": path}
    try:
        out["loadavg"] = loadavg()
        with PeakRSS() as mem:
            ref = phonopy_reference(path, mesh=MESH, temperatures_K=[TEMPERATURE_K],
                                    primitive_matrix=primitive_matrix,
                                    generate_displacements=(True, False))
        out["mem_MB"] = mem.mb
        out["times"] = {key: ref.times_s[name] for key, name in TIME_KEYS.items()}
        ph = ref.phonopy
        out.update(
            fc=ref.force_constants, commensurate_q=ref.commensurate_qpoints,
            commensurate_f=ref.commensurate_frequencies_THz, F=float(ref.free_energy_kJmol[0]),
            S=float(ref.entropy_JKmol[0]), Cv=float(ref.heat_capacity_JKmol[0]),
            n_irq=len(ref.mesh_weights), mesh_q=ref.mesh_qpoints, mesh_w=ref.mesh_weights,
            n_freq_le_0=int((ref.mesh_frequencies_THz <= 0).sum()),
            sc_lattice=np.asarray(ph.supercell.cell),
            sc_frac=np.asarray(ph.supercell.scaled_positions),
            sc_numbers=np.asarray(ph.supercell.numbers), p2s=np.asarray(ph.primitive.p2s_map),
            s2p=np.asarray(ph.primitive.s2p_map), n_unitcell=len(ph.unitcell.numbers),
            spacegroup=ph.symmetry.get_international_table(),
            disp_diag=ref.generated_displacements[True],
            disp_nodiag=ref.generated_displacements[False])
        first = ph.dataset["first_atoms"]
        out["file_disp"] = (np.array([d["number"] for d in first]),
                            np.array([d["displacement"] for d in first], float))
    except BaseException as exc:  # noqa: BLE001 - recorded, the run goes on
        if isinstance(exc, KeyboardInterrupt):
            raise
        out["error"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
        out["traceback"] = traceback.format_exc()
    return out
