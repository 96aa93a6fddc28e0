"""Shared fixtures: real phonondb datasets and phonopy's results for them; offline switches.

phonopy is the reference; it is computed here, in the test session, from the
same files by ``validation.reference.phonopy_reference`` (full FCs by finite
differences, symmetrize_force_constants(), no NAC, the file's primitive matrix,
20³ mesh, 300 K), the same function validation/ uses; never stored.
"""

from __future__ import annotations

import os

# The test suite never downloads: model weights and datasets that are missing fail at
# once (tests of the download code talk to their own server on 127.0.0.1 and switch
# this off for that call only). Subprocesses inherit it.
os.environ["PHONJAX_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from pathlib import Path

import pytest

import phonjax
from phonjax.data import sample_dir
from validation.reference import phonopy_reference

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# a dozen small materials, all seven crystal systems (bundled sample, CC BY 4.0)
KERNEL_IDS = ["mp-1000", "mp-361", "mp-23215", "mp-3248", "mp-10851", "mp-11583", "mp-14006",
              "mp-8710", "mp-8187", "mp-556003", "mp-28163", "mp-673245"]


def sample_path(mp_id: str) -> Path:
    return sample_dir() / f"{mp_id}.yaml.xz"


@pytest.fixture(scope="session")
def kernel_cases():
    """phonjax results for the dozen materials in one batched call, and phonopy's."""
    refs = {i: phonopy_reference(sample_path(i)) for i in KERNEL_IDS}
    systems = [phonjax.prepare(refs[i].dataset) for i in KERNEL_IDS]
    results = phonjax.phonon_properties(systems, [refs[i].dataset.forces for i in KERNEL_IDS],
                                        keep_force_constants=True)
    return [(refs[i], s, r) for i, s, r in zip(KERNEL_IDS, systems, results)]


# phonopy's example folders: phonopy_disp.yaml + FORCE_SETS (+ BORN)
EXAMPLES = SHARED / "phonopy-examples"
EXAMPLE_DIRECTIONS = {"[100]": [1.0, 0.0, 0.0], "[111]": [1.0, 1.0, 1.0]}  # Cartesian q → 0


@pytest.fixture(scope="session")
def phonopy_example():
    """``example(name, nac)`` → (phonopy reference, phonjax dataset, Cartesian-[100]/[111]
    directions in reduced coordinates) for a phonopy example folder; ``nac``: None (off),
    "gonze" or "wang" (with its BORN). phonopy's side: ``phonopy_reference`` with the
    folder's FORCE_SETS (and BORN), 20³ mesh, its band path, Γ along the directions.
    Computed once per session and case."""
    import numpy as np

    if not EXAMPLES.is_dir():
        pytest.skip("phonopy example folders not found")
    cache = {}

    def example(name: str, nac: str | None):
        if (name, nac) not in cache:
            folder = EXAMPLES / name
            ds = phonjax.read_input(folder, nac=nac is not None)
            if nac is not None:
                ds.nac = ds.nac.replace(method=nac)
            lattice = phonjax.prepare(ds, mesh=(1, 1, 1)).primitive.crystal.lattice
            directions = [lattice @ np.array(d) for d in EXAMPLE_DIRECTIONS.values()]
            ref = phonopy_reference(
                folder / "phonopy_disp.yaml", primitive_matrix=ds.primitive_matrix,
                force_sets=folder / "FORCE_SETS", born=folder / "BORN" if nac else None,
                nac_method=nac, band_npoints=21, gamma_directions=directions if nac else ())
            cache[(name, nac)] = (ref, ds, directions)
        return cache[(name, nac)]

    return example
