"""The bench's Hessian route (``--set force_constants=hessian``): a JAX-native model's
force constants from Hessian-vector products, against the same model's finite
displacements (O(h²) apart) and recorded in the protocol key."""

from __future__ import annotations

import pytest

from phonjax.bench import protocols
from phonjax.bench.compute import compute_chunk
from phonjax.bench.inputs import list_materials
from tests.bench import fakes  # noqa: F401  (registers the toy families)


def test_hessian_route_agrees_with_finite_displacements_and_is_recorded():
    materials = list_materials(None)[1][:2]
    by_route = {}
    for route in ("finite_displacement", "hessian"):
        protocol = protocols.resolve("loew2024", {"relax": "false", "force_constants": route})
        rows = compute_chunk(materials, "toyjax:morse", protocol, lanes=1)
        assert all(r["status"] == "ok" for r in rows), rows
        by_route[route] = (protocol.key, {r["material_id"]: r for r in rows})
    (fd_key, fd), (h_key, h) = by_route["finite_displacement"], by_route["hessian"]
    assert fd_key != h_key and "+" in h_key  # the route changes the stored protocol key
    for mp_id, row in fd.items():
        for name in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
            assert h[mp_id][name] == pytest.approx(row[name], rel=1e-3), (mp_id, name)


def test_hessian_route_needs_a_jax_model():
    protocol = protocols.resolve("loew2024", {"relax": "false", "force_constants": "hessian"})
    [row] = compute_chunk(list_materials(None)[1][:1], "toy:morse", protocol, lanes=1)
    assert row["status"] == "failed" and "JAX-native" in row["error"]
