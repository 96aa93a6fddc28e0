"""Tables I–III on hand-made rows with hand-computed answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from phonjax.bench.scoring import compare, summary, tables


def _ref():
    return pd.DataFrame([
        dict(material_id="a", status="ok", n_primitive=2, omega_max_K=100.0, entropy_JKmol=10.0,
             free_energy_kJmol=-1.0, heat_capacity_JKmol=40.0, stable=True,
             energy_eV_per_atom=-3.0, volume_A3_per_atom=10.0),
        dict(material_id="b", status="ok", n_primitive=4, omega_max_K=200.0, entropy_JKmol=20.0,
             free_energy_kJmol=-2.0, heat_capacity_JKmol=80.0, stable=False,
             energy_eV_per_atom=None, volume_A3_per_atom=20.0),
        dict(material_id="c", status="ok", n_primitive=1, omega_max_K=300.0, entropy_JKmol=5.0,
             free_energy_kJmol=1.0, heat_capacity_JKmol=20.0, stable=True,
             energy_eV_per_atom=-1.0, volume_A3_per_atom=5.0),
    ])


def _pred():
    return pd.DataFrame([
        dict(material_id="a", status="ok", n_primitive=2, omega_max_K=110.0, entropy_JKmol=12.0,
             free_energy_kJmol=-1.5, heat_capacity_JKmol=41.0, stable=False,
             energy_eV_per_atom=-3.01, volume_A3_per_atom=10.5, seconds=3.0,
             wall_seconds=2.0),
        # same material in a cell twice as large: extensive properties scale by 2
        dict(material_id="b", status="ok", n_primitive=8, omega_max_K=190.0, entropy_JKmol=44.0,
             free_energy_kJmol=-3.0, heat_capacity_JKmol=164.0, stable=False,
             energy_eV_per_atom=-5.0, volume_A3_per_atom=19.0, seconds=5.0),
        dict(material_id="c", status="failed", n_primitive=None, omega_max_K=None,
             entropy_JKmol=None, free_energy_kJmol=None, heat_capacity_JKmol=None, stable=None,
             energy_eV_per_atom=None, volume_A3_per_atom=None, seconds=1.0,
             wall_seconds=1.5),
    ])


def test_tables_by_hand():
    s = summary(compare(_pred(), _ref()), "m")
    assert s["n"] == 3
    assert s["failed_pct"] == pytest.approx(100 / 3)
    assert s["MAE ω_max (K)"] == pytest.approx((10 + 10) / 2)
    assert s["MAE S (J/K/mol)"] == pytest.approx((2 + 4) / 2)  # b: 44 vs 2×20
    assert s["MAE F (kJ/mol)"] == pytest.approx((0.5 + 1.0) / 2)  # b: -3 vs -4
    assert s["MAE C_V (J/K/mol)"] == pytest.approx((1 + 4) / 2)  # b: 164 vs 160
    assert s["MAE E (meV/atom)"] == pytest.approx(10.0)  # only a has a reference energy
    assert s["MAE V (Å³/atom)"] == pytest.approx((0.5 + 1.0) / 2)
    # a: stable→unstable (FU), b: unstable both (TU); c failed: not counted
    assert (s["TS (%)"], s["FU (%)"], s["TU (%)"], s["FS (%)"]) == (0, 50, 50, 0)
    # the chunk's wall share over the rows that store it (a, c; failures count), not b's
    # own overlapping seconds
    assert s["time (s/material)"] == pytest.approx((2.0 + 1.5) / 2)
    legacy = _pred().drop(columns="wall_seconds")  # a store from before wall_seconds
    assert summary(compare(legacy, _ref()), "m")["time (s/material)"] == pytest.approx(3.0)
    t = tables([s])
    assert t["table1"].columns[-1] == "time (s/material)"
    assert list(t["table3"].columns) == ["model", "Γ rule", "TS (%)", "FU (%)", "TU (%)", "FS (%)",
                                         "n", "changed (model)", "changed (ref)"]
    # these legacy rows hold the "smallest" verdict only: Table III under "lowest" is empty
    smallest, lowest = (t["table3"][t["table3"]["Γ rule"] == r].iloc[0]
                        for r in ("smallest", "lowest"))
    assert (smallest["FU (%)"], smallest["TU (%)"], smallest["n"]) == (50, 50, 2)
    assert lowest["n"] == 0


def test_table3_under_both_rules():
    """b's reference has an imaginary optical mode at Γ: unstable when the three modes of
    smallest |ν| are excused, stable when the three lowest are (published code)."""
    from phonjax.bench.scoring import reference_rules

    ref, pred = _ref(), _pred()
    ref["stable_smallest"] = [True, False, True]
    ref["stable_lowest"] = [True, True, True]
    pred["stable_smallest"] = [False, False, None]
    pred["stable_lowest"] = [False, True, None]
    s = summary(compare(pred, ref), "m")
    t3 = tables([s])["table3"].set_index("Γ rule")
    assert (t3.loc["smallest", "FU (%)"], t3.loc["smallest", "TU (%)"]) == (50, 50)
    # lowest: a stable→unstable (FU), b stable both (TS)
    assert (t3.loc["lowest", "TS (%)"], t3.loc["lowest", "FU (%)"]) == (50, 50)
    assert (t3.loc["lowest", "changed (model)"], t3.loc["lowest", "changed (ref)"]) == (1, 1)
    rules = reference_rules(ref, "x")
    assert (rules["n"], rules["stable (smallest)"], rules["stable (lowest)"],
            rules["differ"], rules["materials that differ"]) == (3, 2, 3, 1, "b")


def test_missing_reference_is_not_scored():
    ref = _ref()[_ref().material_id != "a"]
    s = summary(compare(_pred(), ref), "m")
    assert s["n omega_max_K"] == 1
    assert math.isnan(s["MAE E (meV/atom)"])


def test_wall_seconds_add_up_to_the_chunk(small_files):
    import time

    from phonjax.bench import protocols
    from phonjax.bench.compute import compute_chunk
    from phonjax.bench.inputs import list_materials
    from tests.bench.conftest import FAST

    _, materials, _ = list_materials(small_files[:2], "small")
    t0 = time.perf_counter()
    rows = list(compute_chunk(materials, "toy:morse", protocols.resolve("loew2024", FAST)))
    elapsed = time.perf_counter() - t0
    shares = [r["wall_seconds"] for r in rows]  # each: the time since the previous row
    assert len(rows) == 2 and min(shares) > 0
    assert 0.5 * elapsed < sum(shares) <= elapsed
