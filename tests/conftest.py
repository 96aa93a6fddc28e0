"""Shared fixtures: real phonondb datasets and phonopy's results for them; offline switches.

phonopy is the reference; it is computed here, in the test session, from the
same files (full FCs by finite differences, symmetrize_force_constants(), no
NAC, explicit primitive matrix, 20³ mesh, 300 K), never stored.
"""

from __future__ import annotations

import os
import warnings

# The test suite never downloads: model weights and datasets that are missing fail at
# once (tests of the download code talk to their own server on 127.0.0.1 and switch
# this off for that call only). Subprocesses inherit it.
os.environ["PHONJAX_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from pathlib import Path

import numpy as np
import pytest

import phonjax
from phonjax.data import sample_dir

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# a dozen small materials, all seven crystal systems (bundled sample, CC BY 4.0)
KERNEL_IDS = ["mp-1000", "mp-361", "mp-23215", "mp-3248", "mp-10851", "mp-11583", "mp-14006",
              "mp-8710", "mp-8187", "mp-556003", "mp-28163", "mp-673245"]


def sample_path(mp_id: str) -> Path:
    return sample_dir() / f"{mp_id}.yaml.xz"


def phonopy_reference(path: Path, mesh=(20, 20, 20)) -> dict:
    import phonopy
    from phonopy.harmonic.dynmat_to_fc import get_commensurate_points

    ds = phonjax.read_dataset(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.load(str(path), produce_fc=False, is_nac=False,
                          primitive_matrix=ds.primitive_matrix.tolist())
        ph.produce_force_constants()
        ph.symmetrize_force_constants()
        ph.run_mesh(list(mesh))
        ph.run_thermal_properties(temperatures=[300.0])
        tp = ph.get_thermal_properties_dict()
        m = np.rint(np.linalg.inv(ds.primitive_matrix) @ ds.supercell_matrix).astype(int)
        comm = get_commensurate_points(m)
        ph.run_qpoints(comm)
        comm_freqs = ph.get_qpoints_dict()["frequencies"]
    return {"phonopy": ph, "dataset": ds, "free_energy": tp["free_energy"][0],
            "entropy": tp["entropy"][0], "heat_capacity": tp["heat_capacity"][0],
            "commensurate": comm, "commensurate_frequencies": comm_freqs}


@pytest.fixture(scope="session")
def kernel_cases():
    """phonjax results for the dozen materials in one batched call, and phonopy's."""
    refs = {i: phonopy_reference(sample_path(i)) for i in KERNEL_IDS}
    systems = [phonjax.prepare(refs[i]["dataset"]) for i in KERNEL_IDS]
    results = phonjax.phonon_properties(systems, [refs[i]["dataset"].forces for i in KERNEL_IDS],
                                        keep_force_constants=True)
    return [(refs[i], s, r) for i, s, r in zip(KERNEL_IDS, systems, results)]
