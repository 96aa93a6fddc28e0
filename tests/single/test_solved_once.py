"""Each value of ``phonjax run`` computed once (issue 24): the mesh is solved once, with
eigenvectors, for the DOS, and F, S, Cv come from those modes (the kernel does not solve it
again); one ``ModeSolver`` per pair builds D(q)'s blocks once for bands, mesh and modes. The
numbers stay phonopy's (the thermal table against phonopy on the same file)."""

from __future__ import annotations

import numpy as np

from phonjax.execution import chunked
from phonjax.execution.modes import ModeSolver
from phonjax.single import Phonons
from tests.conftest import sample_path
from validation.reference import phonopy_reference

MESH = (8, 8, 8)
TEMPS = (0.0, 100.0, 300.0, 900.0)


def test_mesh_solved_once_and_thermal_is_phonopys(monkeypatch):
    calls = {"mesh": 0, "build": 0}
    mesh_eigenvalues, build = chunked.mesh_eigenvalues, ModeSolver.build.__func__

    def counted_mesh(*args, **kwargs):
        calls["mesh"] += 1
        return mesh_eigenvalues(*args, **kwargs)

    def counted_build(cls, *args, **kwargs):
        calls["build"] += 1
        return build(cls, *args, **kwargs)

    monkeypatch.setattr(chunked, "mesh_eigenvalues", counted_mesh)
    monkeypatch.setattr(ModeSolver, "build", classmethod(counted_build))
    p = Phonons.from_dataset(sample_path("mp-1000"), mesh=MESH, temperatures_K=TEMPS,
                             band_points=11).run()
    assert calls == {"mesh": 0, "build": 1}
    ref = phonopy_reference(sample_path("mp-1000"), mesh=MESH, temperatures_K=TEMPS)
    for ours, theirs in ((p.thermal.free_energy_kJmol, ref.free_energy_kJmol),
                         (p.thermal.entropy_JKmol, ref.entropy_JKmol),
                         (p.thermal.heat_capacity_JKmol, ref.heat_capacity_JKmol)):
        theirs = np.asarray(theirs)
        assert np.abs(np.asarray(ours) - theirs).max() <= 1e-8 * np.abs(theirs).max()
