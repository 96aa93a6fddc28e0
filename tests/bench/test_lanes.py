"""Lanes: model calls side by side in threads. They change how fast, never what comes out."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import phonjax
from phonjax.bench import protocols
from phonjax.bench.compute import model_rows
from phonjax.bench.inputs import list_materials
from phonjax.pipeline.relax import balanced_lanes, relax_many
from phonjax.pipeline.settings import RelaxSettings
from phonjax.structure.batch import pad_structures
from tests.bench.conftest import FAST
from tests.bench.fakes import ToyAdapter


def test_balanced_lanes_spread_atoms_evenly():
    n_atoms = [48, 8, 24, 20, 10, 39, 6, 12]
    lanes = balanced_lanes(n_atoms, 2)
    loads = [sum(n for n, k in zip(n_atoms, lanes) if k == lane) for lane in (0, 1)]
    assert sorted(set(lanes)) == [0, 1] and sum(loads) == sum(n_atoms)
    assert abs(loads[0] - loads[1]) <= min(n_atoms)  # 83 vs 84 atoms
    assert balanced_lanes([5, 5], 4) == [0, 1]  # never more lanes than structures
    assert balanced_lanes([5, 7, 9], 1) == [0, 0, 0]


def test_relaxations_do_not_depend_on_lanes(small_files):
    settings = RelaxSettings(relax_steps=60, relax_rounds=2)
    cells = [phonjax.read_dataset(f).unitcell.to_ase() for f in small_files]
    for a in cells:
        a.set_cell(a.cell.array * 1.02, scale_atoms=True)
    adapter = ToyAdapter("morse").load()
    one = relax_many(cells, adapter, settings, lanes=1)
    ToyAdapter.calls = 0
    two = relax_many(cells, adapter, settings, lanes=2)
    for a, b in zip(one, two):
        assert a.ok and b.ok and a.steps == b.steps > 0
        np.testing.assert_array_equal(a.atoms.positions, b.atoms.positions)
        np.testing.assert_array_equal(a.atoms.cell.array, b.atoms.cell.array)
    # two lock-step groups: about two model calls per step of the longest relaxation
    assert ToyAdapter.calls <= 2 * (max(r.steps for r in two) * 2 + 8)


class _ThreadRecordingToy(ToyAdapter):
    threads: set = set()

    def _evaluate(self, atoms, compute_stress):
        _ThreadRecordingToy.threads.add(threading.get_ident())
        return super()._evaluate(atoms, compute_stress)


def test_evaluate_with_workers_equals_one_worker(small_files):
    cells = [(c, r, z) for f in small_files
             for c, r, z in phonjax.prepare(phonjax.read_dataset(f)).displaced_supercells()]
    batch = pad_structures(cells)
    adapter = _ThreadRecordingToy("morse", max_atoms=70).load()  # one supercell per call
    serial = adapter.evaluate(batch, compute_stress=True)
    _ThreadRecordingToy.threads = set()
    parallel = adapter.evaluate(batch, compute_stress=True, workers=2)
    assert len(_ThreadRecordingToy.threads) == 2
    np.testing.assert_array_equal(serial.forces, parallel.forces)
    np.testing.assert_array_equal(serial.energies, parallel.energies)
    np.testing.assert_array_equal(serial.stresses, parallel.stresses)


def test_model_rows_do_not_depend_on_lanes(small_files):
    _, materials, _ = list_materials(small_files, "small")
    protocol = protocols.resolve("loew2024", FAST)
    one, two = (model_rows(materials, "toy:morse", protocol, lanes=n) for n in (1, 2))
    assert len(one) == len(two) == len(small_files)
    for a, b in zip(one, two):
        assert a["status"] == b["status"] == "ok"
        same = {k: v for k, v in a.items() if "seconds" not in k}
        assert same == {k: v for k, v in b.items() if "seconds" not in k}


def test_intra_op_threads_is_restored():
    torch = pytest.importorskip("torch")
    from phonjax_adapters.torch_utils import intra_op_threads

    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


class _OneAtATimeToy(ToyAdapter):
    """A family that batches on accelerators only (like SevenNet on CPU)."""

    batch_on_cpu = False
    sizes: list = []

    def _evaluate(self, atoms, compute_stress):
        _OneAtATimeToy.sizes.append(len(atoms))
        return super()._evaluate(atoms, compute_stress)


def test_family_that_does_not_batch_on_cpu_gets_one_structure_per_call(small_files):
    settings = RelaxSettings(relax_steps=60, relax_rounds=2)
    cells = [phonjax.read_dataset(f).unitcell.to_ase() for f in small_files]
    for a in cells:
        a.set_cell(a.cell.array * 1.02, scale_atoms=True)
    batched = relax_many(cells, ToyAdapter("morse").load(), settings, lanes=1)
    adapter = _OneAtATimeToy("morse").load()
    assert not adapter.batches_here and _OneAtATimeToy("morse", device="cuda").batches_here
    for lanes in (1, 2):
        _OneAtATimeToy.sizes = []
        alone = relax_many(cells, adapter, settings, lanes=lanes)
        assert set(_OneAtATimeToy.sizes) == {1}
        # each crystal on its own or in a lock-step: the same FIRE trajectory
        for a, b in zip(batched, alone):
            assert a.ok and b.ok and a.steps == b.steps > 0
            np.testing.assert_array_equal(a.atoms.positions, b.atoms.positions)
            np.testing.assert_array_equal(a.atoms.cell.array, b.atoms.cell.array)
    _OneAtATimeToy.sizes = []
    system = phonjax.prepare(phonjax.read_dataset(small_files[0]))
    adapter.evaluate(pad_structures(system.displaced_supercells()), compute_stress=False)
    assert _OneAtATimeToy.sizes == [1] * len(system.displacements)
