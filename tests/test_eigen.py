"""The CPU eigenvalue backend (phonors via a host callback) against LAPACK.

Regression: phonors' thread pool created from inside an XLA callback thread
returned wrong eigenvalues (and then also corrupted phonopy's results in the
same process). Run in a fresh interpreter so the pool really is created there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import numpy as np, jax, jax.numpy as jnp
import phonjax
from phonjax.dynamical_matrix import dynamical_matrices, mass_weighted_blocks
from phonjax.eigen import eigvalsh
ds = phonjax.read_dataset("phonjax/data/sample/mp-3248.yaml.xz")
s = phonjax.prepare(ds)
r = phonjax.phonon_properties([s], [ds.forces], keep_force_constants=True)[0]
blocks = mass_weighted_blocks(r.force_constants[s.primitive.p2s], s.image_atoms, s.primitive.crystal.masses)
d = dynamical_matrices(jnp.asarray(s.mesh.qpoints), blocks, *s.phase_tables)
inside = np.asarray(jax.jit(lambda m: eigvalsh(m, "host"))(d))
print(np.abs(inside - np.linalg.eigvalsh(np.asarray(d))).max())
"""


def test_host_eigenvalues_inside_jit_equal_lapack():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) < 1e-10


def test_consistency_check_catches_wrong_eigenvalues():
    import numpy as np

    from phonjax.eigen import _consistent

    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 6, 6)) + 1j * rng.normal(size=(5, 6, 6))
    h = a + np.conj(np.swapaxes(a, 1, 2))
    e = np.linalg.eigvalsh(h)
    assert _consistent(h, e).all()
    e[2, 4] += 1e-6
    assert _consistent(h, e).tolist() == [True, True, False, True, True]


def test_in_graph_path_matches_phonopy():
    """The GPU path (XLA eigensolver, everything in one vmapped jit) run on CPU."""
    import numpy as np

    import phonjax
    from tests.conftest import sample_path
    from validation.reference import phonopy_reference

    ids = ["mp-1000", "mp-361"]  # 6 modes: XLA's CPU eigvalsh compiles quickly at this size
    refs = [phonopy_reference(sample_path(i)) for i in ids]
    systems = [phonjax.prepare(r.dataset) for r in refs]
    res = phonjax.phonon_properties(systems, [r.dataset.forces for r in refs],
                                    eigen_backend="xla")
    for ref, r in zip(refs, res):
        for key in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
            ours, theirs = getattr(r, key)[0], getattr(ref, key)[0]
            assert abs(ours - theirs) <= 1e-8 * abs(theirs), (key, ours, theirs)
        ph_f = np.sort(ref.commensurate_frequencies_THz, axis=1)
        ours = np.sort(r.commensurate_frequencies_THz, axis=1)
        assert np.abs(ours * np.abs(ours) - ph_f * np.abs(ph_f)).max() < 1e-8
