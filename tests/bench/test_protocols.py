"""Protocol presets, overrides, and the length-100 mesh against phonopy's own length2mesh."""

from __future__ import annotations

import numpy as np
import pytest

from phonjax.bench import protocols
from tests.bench.conftest import SAMPLE


def test_presets_and_keys():
    p = protocols.resolve("loew2024")
    assert (p.mesh, p.gamma_acoustic_tolerance_K, p.commensurate, p.is_diagonal) == (
        (20, 20, 20), 50.0, "primitive", True)
    h = protocols.resolve("hyllios")
    assert (h.mesh_length_A, h.gamma_acoustic_tolerance_K, h.commensurate, h.is_diagonal,
            h.thz_to_k) == (100.0, 35.0, "supercell_matrix", False, 47.992)
    assert p.key == "loew2024@v1" and h.key == "hyllios@v1"
    q = protocols.resolve("loew2024", {"mesh": "8", "gamma-acoustic-tolerance-K": "35"})
    assert q.mesh == (8, 8, 8) and q.key.startswith("loew2024@v1+") and q.key != p.key
    assert protocols.resolve("loew2024", {"mesh": "8x8x8", "gamma_acoustic_tolerance_K": 35}).key == q.key


@pytest.mark.parametrize("bad", [{"nope": "1"}, {"mesh": "1x2"}, {"relax": "maybe"},
                                 {"commensurate": "x"}, {"distance_A": "-1"}])
def test_bad_overrides(bad):
    with pytest.raises(ValueError):
        protocols.resolve("loew2024", bad)


@pytest.mark.parametrize("bad", [
    {"temperature_K": "-5"}, {"temperature_K": "nan"}, {"temperature_K": "inf"},
    {"thz_to_k": "0"}, {"thz_to_k": "-47.99"}, {"gamma_acoustic_tolerance_K": "nan"},
    {"gamma_acoustic_tolerance_K": "-10"}, {"mesh": "none", "mesh_length_A": "-5"},
    {"mesh": "none", "mesh_length_A": "nan"}, {"distance_A": "nan"}, {"distance_A": "0"},
    {"mesh": "abc"}, {"mesh": "0"}, {"mesh": "4x4x0"}, {"fmax_eV_A": "nan"},
    {"relax_steps": "0"}, {"max_force_eV_A": "inf"}, {"temperature_K": 1e400},
])
def test_nonsense_settings_are_refused_naming_the_setting(bad):
    """Each of these ran to a stored status=ok row before (F = ZPE with S = 0, ω_max = 0,
    a 1×1×1 mesh, stable = false for a stable crystal)."""
    name = [k for k in bad if bad[k] != "none"][-1]
    with pytest.raises(ValueError, match=name):
        protocols.resolve("loew2024", bad)


def test_bench_refuses_nonsense_settings_before_running(tmp_path, capsys):
    from phonjax.bench.cli import main

    out = tmp_path / "o"
    assert main(["--reference-only", "--limit", "1", "--out", str(out), "--no-progress",
                 "--set", "temperature_K=-5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "temperature_K" in err[0]
    assert not (out / "bench.sqlite").exists()


@pytest.mark.parametrize("mp_id", ["mp-1000", "mp-10851", "mp-14006", "mp-23215", "mp-28163",
                                   "mp-555483", "mp-673245"])
def test_length_mesh_matches_phonopy(mp_id):
    phonopy = pytest.importorskip("phonopy")
    from phonopy.phonon.grid import length2mesh

    from phonjax import read_dataset

    path = SAMPLE / f"{mp_id}.yaml.xz"
    ph = phonopy.load(str(path), produce_fc=False, log_level=0)
    expected = length2mesh(100.0, ph.primitive.cell,
                           rotations=ph.primitive_symmetry.pointgroup_operations)
    ds = read_dataset(path)
    got = protocols.mesh_for(protocols.resolve("hyllios"), ds.unitcell, ds.primitive_matrix)
    assert tuple(int(x) for x in expected) == got
