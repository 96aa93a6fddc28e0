"""Relaxing many crystals together (lock-step, one model call per step for all) gives
the same relaxations as one at a time, with far fewer model calls."""

from __future__ import annotations

import numpy as np

import phonjax
from phonjax.pipeline.relax import relax, relax_many
from phonjax.pipeline.settings import RelaxSettings
from tests.bench.fakes import ToyAdapter


def test_relax_many_equals_one_at_a_time(small_files):
    settings = RelaxSettings(relax_steps=60, relax_rounds=2)
    cells = [phonjax.read_dataset(f).unitcell.to_ase() for f in small_files[:3]]
    for a in cells:  # start away from the minimum so that every relaxation takes steps
        a.set_cell(a.cell.array * 1.02, scale_atoms=True)
    adapter = ToyAdapter("morse").load()
    ToyAdapter.calls = 0
    alone = [relax(a, adapter.calculator(), settings) for a in cells]
    calls_alone = ToyAdapter.calls
    ToyAdapter.calls = 0
    together = relax_many(cells, adapter, settings)
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
    settings = RelaxSettings(relax_steps=10, relax_rounds=1)
    cells = [phonjax.read_dataset(f).unitcell.to_ase() for f in small_files[:2]]
    cells[1].positions[0] = cells[1].positions[1] + 0.05  # two atoms on top of each other
    out = relax_many(cells, ToyAdapter("morse").load(), settings)
    assert len(out) == 2 and out[1].ok is False and out[1].reason


def test_cached_cell_filter_relaxes_exactly_like_ases_filter(small_files, monkeypatch):
    """The filter that computes its forces once per configuration takes the same FIRE steps
    as ASE's FrechetCellFilter, bit for bit, with a quarter of the symmetrizations."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter

    settings = RelaxSettings(relax_steps=60, relax_rounds=2)
    adapter = ToyAdapter("morse").load()
    calls = {"n": 0}
    adjust = FixSymmetry.adjust_forces

    def counted(self, *args, **kwargs):
        calls["n"] += 1
        return adjust(self, *args, **kwargs)

    monkeypatch.setattr(FixSymmetry, "adjust_forces", counted)
    for f in small_files[:2]:
        cell = phonjax.read_dataset(f).unitcell.to_ase()
        cell.set_cell(cell.cell.array * 1.02, scale_atoms=True)
        calls["n"] = 0
        cached = relax(cell, adapter.calculator(), settings)
        cached_calls, calls["n"] = calls["n"], 0
        plain = relax(cell, adapter.calculator(), settings, cell_filter=FrechetCellFilter)
        assert cached.ok and plain.ok and cached.steps == plain.steps > 0
        np.testing.assert_array_equal(cached.atoms.positions, plain.atoms.positions)
        np.testing.assert_array_equal(cached.atoms.cell.array, plain.atoms.cell.array)
        assert cached.fmax_eV_A == plain.fmax_eV_A
        assert cached_calls <= calls["n"] / 3


def test_relaxation_takes_relax_settings_only(small_files):
    """The relaxation reads a typed ``RelaxSettings``; the benchmark protocol and the
    workflow's settings hand theirs over (``relax_settings``), checked by one validator."""
    import pytest

    from phonjax import options
    from phonjax.bench import protocols
    from phonjax.single.settings import SettingsError, WorkflowSettings

    cell = phonjax.read_dataset(small_files[0]).unitcell.to_ase()
    protocol = protocols.resolve("loew2024", {"relax_steps": "60", "fix_symmetry": "false"})
    with pytest.raises(TypeError, match="RelaxSettings"):
        relax(cell, ToyAdapter("morse").load().calculator(), protocol)
    with pytest.raises(TypeError, match="RelaxSettings"):
        relax_many([cell], ToyAdapter("morse").load(), WorkflowSettings())
    assert protocol.relax_settings == RelaxSettings(relax_steps=60, fix_symmetry=False)
    assert WorkflowSettings(fmax_eV_A=0.01).relax_settings == RelaxSettings(fmax_eV_A=0.01)
    assert protocols.resolve("hyllios").relax_settings == RelaxSettings()  # the defaults
    for bad in ({"fmax_eV_A": "nan"}, {"relax_rounds": "2.5"}, {"fix_symmetry": "maybe"}):
        [(name, value)] = bad.items()
        with pytest.raises(options.SettingError, match=name):
            RelaxSettings(**bad)
        with pytest.raises(options.SettingError, match=name):
            protocols.resolve("loew2024", bad)
        with pytest.raises(SettingsError, match=name):
            WorkflowSettings(**bad)
