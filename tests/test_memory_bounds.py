"""Memory bounds, checked before anything is allocated (issue 23, item 6).

A supercell too large for the bound is refused from its cell matrices alone (``prepare``,
``choose_cells``: nothing is built, which the tests check by making ``build_supercell`` fail);
the thermal sums over many temperatures are split into calls that fit the bound (same numbers
as phonopy) or, where a runner cannot split them, refused in one line; ``--memory-gb`` exists
on ``phonjax phonons``, ``run`` and ``bench`` and sets the bound that the messages name.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import phonjax
from phonjax.resources import ResourceError
from tests.conftest import sample_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PREPARE_MODULE = importlib.import_module("phonjax.harmonic.system")  # prepare() and its helpers


@pytest.fixture
def nothing_built(monkeypatch):
    """Fail the test if a supercell is built at all."""

    def refuse(*args, **kwargs):
        raise AssertionError("build_supercell was called: the supercell was not refused first")

    monkeypatch.setattr(PREPARE_MODULE, "build_supercell", refuse)


@pytest.fixture
def tiny_default_bound(monkeypatch):
    """A default bound of 1 MB, which even the 64-atom supercell of mp-1000 exceeds (its
    tables need ~8 MB), so that a case the default refuses runs in seconds."""
    import phonjax.resources

    monkeypatch.setattr(phonjax.resources, "DEFAULT_MEMORY_BYTES", 1e6)


def test_prepare_refuses_a_large_supercell_before_building_it(nothing_built):
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    t0 = time.perf_counter()
    with pytest.raises(ResourceError, match=r"^mp-1000: a supercell of 512000 atoms needs ~\d.*"
                                            r"memory bound of 2\.0 GB.*--memory-gb"):
        phonjax.prepare(ds.unitcell, np.diag([40, 40, 40]), ds.primitive_matrix, id="mp-1000")
    with pytest.raises(ResourceError, match="a supercell of 64 atoms needs .* 0.001 GB"):
        phonjax.prepare(ds, memory_bytes=1e6)
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("option", [["--supercell", "1000", "1000", "1000"],
                                    ["--min-length", "1e9"]])
def test_run_refuses_absurd_supercells_at_once(option, nothing_built, tmp_path, capsys):
    """Were planned as 8·10⁹ and 4.5·10²⁵ atoms and grew until killed: one line per crystal
    naming the atoms, the estimate, the bound and what to change."""
    import tests.bench.fakes  # noqa: F401  registers the "toy" family
    from phonjax.single.cli import main

    t0 = time.perf_counter()
    code = main([str(EXAMPLES / "NaCl.cif"), "--model", "toy:morse", "--no-relax", "--no-plots",
                 "--out", str(tmp_path), *option])
    out = capsys.readouterr()
    assert time.perf_counter() - t0 < 60
    assert code == 1
    [line] = [x for x in out.out.splitlines() if "prepare failed: NaCl: a supercell of " in x]
    assert "memory bound of 2.0 GB" in line and "--memory-gb" in line
    assert ("--supercell" if option[0] == "--supercell" else "--min-length") in line
    assert "Traceback" not in out.err + out.out


def test_run_refuses_an_absurd_supercell_before_relaxing(nothing_built, tmp_path, capsys,
                                                          monkeypatch):
    """With relaxation on, the supercell the input cell would get is checked first: no
    relaxation (and no model call) is spent on a crystal whose supercell cannot fit."""
    import tests.bench.fakes  # noqa: F401  registers the "toy" family
    from phonjax.pipeline import relax as relax_module
    from phonjax.single.cli import main

    def no_relaxation(*args, **kwargs):
        raise AssertionError("a relaxation ran for a supercell that cannot fit")

    monkeypatch.setattr(relax_module, "relax_many", no_relaxation)
    code = main([str(EXAMPLES / "NaCl.cif"), "--model", "toy:morse", "--no-plots",
                 "--out", str(tmp_path), "--min-length", "1e9"])
    out = capsys.readouterr()
    assert code == 1
    [line] = [x for x in out.out.splitlines() if "prepare failed: NaCl: a supercell of " in x]
    assert "--memory-gb" in line and "Traceback" not in out.err + out.out


def test_memory_gb_sets_the_bound_of_phonons(tiny_default_bound, capsys):
    """The default refuses mp-1000 here; --memory-gb 1 lets it through, with phonopy's F."""
    from phonjax.cli import main
    from validation.reference import phonopy_reference

    path = str(sample_path("mp-1000"))
    assert main(["phonons", path, "--json"]) == 1
    err = capsys.readouterr().err
    assert "a supercell of 64 atoms needs" in err and "memory bound of 0.001 GB" in err
    assert "--memory-gb" in err
    assert main(["phonons", path, "--json", "--memory-gb", "1"]) == 0
    [record] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    theirs = phonopy_reference(path).free_energy_kJmol[0]
    assert abs(record["free_energy_kJmol"] - theirs) <= 1e-8 * abs(theirs)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "abc"])
def test_memory_gb_must_be_positive(value, capsys):
    from phonjax.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["phonons", str(sample_path("mp-1000")), "--memory-gb", value])
    assert exit_.value.code == 2
    assert "argument --memory-gb: must be" in capsys.readouterr().err


def test_memory_gb_sets_the_bound_of_run(tiny_default_bound, tmp_path, capsys):
    """``phonjax run`` of a force-set file: refused under the (tiny) default, computed with
    --memory-gb; a nonsense value is one line with status 2."""
    from phonjax.single.cli import main

    path = str(sample_path("mp-1000"))
    args = [path, "--no-plots", "--mesh", "4", "--temperatures", "0", "300", "300"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 1
    out = capsys.readouterr().out
    assert "prepare failed: mp-1000: a supercell of 64 atoms" in out and "--memory-gb" in out
    assert main([*args, "--out", str(tmp_path / "b"), "--memory-gb", "1"]) == 0
    with pytest.raises(SystemExit) as exit_:  # the same option and check on every command
        main([*args, "--memory-gb", "-3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--memory-gb" in err and "must be > 0" in err


def test_memory_gb_sets_the_bound_of_bench(tiny_default_bound, tmp_path):
    from phonjax.bench.cli import main
    from phonjax.bench.store import Store

    common = ["--reference-only", "--limit", "1", "--no-figures", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 1  # refused, not computed
    assert main([*common, "--out", str(tmp_path / "b"), "--memory-gb", "1"]) == 0
    with Store(tmp_path / "b" / "bench.sqlite", readonly=True) as store:
        assert list(store.frame()["status"]) == ["ok"]
    # --plan keeps the default bound unless --memory-gb is given with it
    lapack = ["--plan", "eigensolver=lapack"]
    assert main([*common, *lapack, "--out", str(tmp_path / "c")]) == 1
    assert main([*common, *lapack, "--out", str(tmp_path / "d"), "--memory-gb", "1"]) == 0
    with Store(tmp_path / "d" / "bench.sqlite", readonly=True) as store:
        assert list(store.frame()["status"]) == ["ok"]


def test_many_temperatures_are_split_to_fit_the_bound(monkeypatch):
    """The thermal sums' (n_T, n_modes) work arrays stay within the plan's bound (100 000
    temperatures used to ask XLA for 39 GB at once), with phonopy's numbers."""
    from phonjax.execution import stages
    from phonjax.resources import THERMAL_BYTES_PER_VALUE
    from validation.reference import phonopy_reference

    bound = 4e7  # bytes; the 8192 mode values of mp-1000 allow 64 temperatures per call
    calls = []
    original = stages.modes_spectrum_jit

    def spy(values, weights, temperatures):
        calls.append(THERMAL_BYTES_PER_VALUE * np.size(values) * np.size(temperatures))
        return original(values, weights, temperatures)

    monkeypatch.setattr(stages, "modes_spectrum_jit", spy)
    temps = np.linspace(0.0, 1000.0, 301)
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    [res] = phonjax.phonon_properties([phonjax.prepare(ds)], [ds.forces],
                                      phonjax.PhononSettings(temperatures_K=tuple(temps)),
                                      phonjax.Plan(memory_bytes=bound))
    assert len(calls) > 1 and max(calls) <= bound
    ref = phonopy_reference(sample_path("mp-1000"), temperatures_K=temps)
    for key in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
        np.testing.assert_allclose(getattr(res, key), getattr(ref, key), rtol=1e-8, atol=1e-10)


def test_graph_runner_refuses_temperatures_over_the_bound():
    """The graph runner sums a chunk of q-points at every temperature at once: too many
    temperatures for the bound are one line before anything runs, not an XLA error."""
    from phonjax.execution.padding import material_bytes

    ds = phonjax.read_dataset(sample_path("mp-1000"))
    system = phonjax.prepare(ds)
    plan = phonjax.Plan(runner="graph", eigensolver="xla")
    plan = plan.replace(memory_bytes=material_bytes(system.tables, plan) * 1.05)
    settings = phonjax.PhononSettings(temperatures_K=tuple(np.linspace(0, 1000, 2000)))
    with pytest.raises(ResourceError, match=r"mp-1000: the kernel \(64 supercell atoms, 6 modes, "
                                            r"2000 temperatures\) needs .*--memory-gb.*fewer "
                                            r"temperatures"):
        phonjax.phonon_properties([system], [ds.forces], settings, plan)


def test_supercell_entries_beyond_int64_are_refused_not_wrapped():
    """1e20 wrapped to −2⁶³ in the int64 cast and was reported as a left-handed matrix."""
    from phonjax.io.dataset import DatasetError, checked_supercell_matrix

    with pytest.raises(DatasetError, match="below 2³¹"):
        checked_supercell_matrix([99999999999999999999, 1, 1])
    assert checked_supercell_matrix([3, 3, 3]).tolist() == np.diag([3, 3, 3]).tolist()


def test_memory_gate_serializes_what_does_not_fit_together_and_refuses_the_impossible():
    """``MemoryGate``: two calls of 6 GB on a 10 GB machine (cap 9 GB) run one after the
    other, two of 4 GB side by side; one of 12 GB is refused in one line before it runs."""
    import threading
    import time

    from phonjax.resources import MemoryGate, ResourceError

    gate = MemoryGate(fraction=0.9, available=lambda: 10e9)
    for size, expect_overlap in ((6e9, False), (4e9, True)):
        inside, most = [0], [0]
        lock = threading.Lock()

        def call():
            with gate.reserve(size, "a call", "advice"):
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.5)
                with lock:
                    inside[0] -= 1

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert (most[0] == 2) == expect_overlap
    # 10 GB available plus the 6 GB call the allocator may still hold: cap 14.4 GB
    with pytest.raises(ResourceError, match=r"a call needs ~15\.0 GB.*14\.4 GB.*; advice"):
        with gate.reserve(15e9, "a call", "advice"):
            pass
    with gate.reserve(1e9, "after a refusal", "advice"):  # nothing left reserved
        pass
    free = [3e9]  # a second call as large as the first while the allocator keeps its memory
    held = MemoryGate(fraction=0.9, available=lambda: free[0])
    with held.reserve(2e9, "first", "advice"):
        free[0] = 0.5e9
    with held.reserve(2e9, "second", "advice"):
        pass


def test_available_memory_is_a_positive_number():
    from phonjax.resources import available_memory_bytes

    assert 0 < available_memory_bytes() <= float("inf")
