"""Relaxing many crystals together (lock-step, one model call per step for all) gives
the same relaxations as one at a time, with far fewer model calls."""

from __future__ import annotations

import numpy as np

import phonjax
from phonjax.bench import protocols
from phonjax.bench.relax import relax, relax_many
from tests.bench.fakes import ToyAdapter


def test_relax_many_equals_one_at_a_time(small_files):
    protocol = protocols.resolve("loew2024", {"relax_steps": "60", "relax_rounds": "2"})
    cells = [phonjax.read_dataset(f).unitcell.to_ase() for f in small_files[:3]]
    for a in cells:  # start away from the minimum so that every relaxation takes steps
        a.set_cell(a.cell.array * 1.02, scale_atoms=True)
    adapter = ToyAdapter("morse").load()
    ToyAdapter.calls = 0
    alone = [relax(a, adapter.calculator(), protocol) for a in cells]
    calls_alone = ToyAdapter.calls
    ToyAdapter.calls = 0
    together = relax_many(cells, adapter, protocol)
    calls_together = ToyAdapter.calls
    for a, b in zip(alone, together):
        assert a.ok == b.ok and a.steps == b.steps and a.steps > 0
        if a.ok:
            assert abs(a.energy_eV_per_atom - b.energy_eV_per_atom) < 1e-12
            assert np.abs(a.atoms.positions - b.atoms.positions).max() < 1e-10
            assert np.abs(a.atoms.cell.array - b.atoms.cell.array).max() < 1e-10
    # one call per lock-step (at most the longest relaxation's), not one per material-step
    assert calls_together <= max(r.steps for r in together) * 2 + 8
    assert calls_together < calls_alone / 2


def test_relax_many_isolates_a_failing_material(small_files):
    protocol = protocols.resolve("loew2024", {"relax_steps": "10", "relax_rounds": "1"})
    cells = [phonjax.read_dataset(f).unitcell.to_ase() for f in small_files[:2]]
    cells[1].positions[0] = cells[1].positions[1] + 0.05  # two atoms on top of each other
    out = relax_many(cells, ToyAdapter("morse").load(), protocol)
    assert len(out) == 2 and out[1].ok is False and out[1].reason
