"""The bench through dask.distributed gives the same rows as in-process."""

from __future__ import annotations

import pytest

from phonjax.bench import protocols
from phonjax.bench.executors import Dask, InProcess
from phonjax.bench.inputs import list_materials
from phonjax.bench.runner import run
from phonjax.bench.store import Store
from tests.bench.conftest import FAST, stored

distributed = pytest.importorskip("distributed")


def test_dask_equals_inprocess(small_files, tmp_path):
    _, materials, _ = list_materials(small_files, "small")
    protocol = protocols.resolve("loew2024", FAST)
    with Store(tmp_path / "a.sqlite") as store:
        run(materials, ["toy:morse"], protocol, store, InProcess(), chunk_size=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            executor = Dask(client)
            with Store(tmp_path / "b.sqlite") as store:
                tallies = run(materials, ["toy:morse"], protocol, store, executor, chunk_size=1)
    assert tallies["toy:morse"].computed == len(materials)
    a, b = stored(tmp_path / "a.sqlite"), stored(tmp_path / "b.sqlite")
    assert a.keys() == b.keys() and len(a) == 2 * len(materials)
    for key in a:
        assert a[key][0] == b[key][0]
        for field, value in a[key][1].items():
            if isinstance(value, float):
                assert b[key][1][field] == pytest.approx(value, rel=1e-9, abs=1e-9), (key, field)
            else:
                assert b[key][1][field] == value


def test_shards_partition_the_dataset(small_files):
    from phonjax.bench.runner import shard

    _, materials, _ = list_materials(small_files, "small")
    parts = [shard(materials, f"{i}/2") for i in range(2)]
    ids = sorted(m.material_id for p in parts for m in p)
    assert ids == sorted(m.material_id for m in materials)
    with pytest.raises(ValueError):
        shard(materials, "2/2")
