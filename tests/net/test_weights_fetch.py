"""Model weights on first use: fetched into each package's own cache layout from a local
server, hashed and recorded; refused at once when downloads are off."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phonjax_adapters import WeightsNotFound
from phonjax_adapters.base import Adapter
from tests.net.server import Route

CHECKPOINT = b"PK\x03\x04" + os.urandom(200_000)  # starts like a torch.save zip file


class CachedToy(Adapter):
    """A family whose package fetches ``toy.pth`` from ``url`` into ``cache``."""

    family = "cachedtoy"
    title = "Cached toy"
    distribution = "numpy"
    module = "numpy"
    extra = "test"
    variants = ("v1",)
    dtypes = ("float64",)
    batched = True
    url = ""
    cache = Path("/nonexistent")

    def weight_files(self):
        return [self.cache / "toy.pth"]

    def weights_url(self):
        return self.url

    def weights_hint(self):
        return f"download {self.url} to {self.cache / 'toy.pth'}, or pass checkpoint=PATH"

    def _load(self, weights):
        return {"loaded": weights, "hub_offline": os.environ.get("HF_HUB_OFFLINE")}

    def _evaluate(self, atoms, compute_stress):
        raise NotImplementedError


@pytest.fixture
def toy(server, tmp_path, monkeypatch):
    server.routes["/toy.pth"] = Route(CHECKPOINT)
    monkeypatch.setattr(CachedToy, "url", server.url("/toy.pth"))
    monkeypatch.setattr(CachedToy, "cache", tmp_path / "cache")
    return CachedToy


def test_missing_weights_download_on_first_use_and_are_hashed(toy, online, capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    adapter = toy()
    found = adapter.availability()
    assert found and found.downloads and "toy.pth" in found.reason
    adapter.load()
    path = toy.cache / "toy.pth"
    assert adapter.model["loaded"] == path and path.read_bytes() == CHECKPOINT
    assert adapter.model["hub_offline"] == "1"  # the hubs are offline while loading...
    assert "HF_HUB_OFFLINE" not in os.environ  # ...and only then
    assert adapter.weights_path == path
    assert adapter.weights_sha256 == hashlib.sha256(CHECKPOINT).hexdigest()
    err = capsys.readouterr().err
    assert "200.0 kB" in err and toy.url in err and adapter.weights_sha256 in err
    assert toy().availability().reason == ""  # now simply available


def test_offline_fails_fast_naming_the_file_and_where_it_goes(toy, server, monkeypatch):
    monkeypatch.setenv("PHONJAX_OFFLINE", "1")
    adapter = toy()
    assert not adapter.availability()
    start = time.perf_counter()
    with pytest.raises(WeightsNotFound) as err:
        adapter.load()
    assert time.perf_counter() - start < 1
    message = str(err.value)
    assert "downloads are off (PHONJAX_OFFLINE=1 or --offline)" in message
    assert str(toy.cache / "toy.pth") in message and toy.url in message and "\n" not in message
    assert server.requests == []
    assert toy(offline=False).availability().downloads  # the constructor overrides the variable


def test_a_web_page_instead_of_weights_is_refused(toy, server, online):
    server.routes["/toy.pth"] = Route(b"<!DOCTYPE html><html>login</html>", content_type="text/html")
    with pytest.raises(WeightsNotFound, match=r"download failed: bad content \(not a torch "
                                              r"checkpoint \(starts with an HTML page\)\)"):
        toy().load()
    assert not (toy.cache / "toy.pth").exists()


def test_a_local_checkpoint_is_never_fetched(toy, server, online, tmp_path):
    with pytest.raises(WeightsNotFound, match="checkpoint not found"):
        toy(checkpoint=tmp_path / "mine.pth").load()
    assert server.requests == []


def test_bench_records_weights_path_and_hash(toy, online):
    from phonjax.pipeline import models

    models.register("cachedtoy", lambda variant, **kw: toy(variant, **kw))
    ident = models.describe("cachedtoy")
    assert ident["weights_path"] == str(toy.cache / "toy.pth")
    assert ident["weights_sha256"] == hashlib.sha256(CHECKPOINT).hexdigest()


# --- each family's download lands where its package looks --------------------------------


def test_mattersim_mace_sevennet_fetch_into_their_packages_caches(server, online, tmp_path,
                                                                  monkeypatch):
    from phonjax_adapters import mace, mattersim, sevennet

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for name in ("mattersim-v1.0.0-1M.pth", "mace-omat-0-medium.model",
                 "checkpoint_sevennet_omat.pth"):
        server.routes[f"/{name}"] = Route(CHECKPOINT)
    monkeypatch.setattr(mattersim, "RAW_URL", server.url(""))
    monkeypatch.setitem(mace.URLS, "mace-omat-0", server.url("/mace-omat-0-medium.model"))
    monkeypatch.setitem(sevennet.DOWNLOADS, "7net-omat", server.url("/checkpoint_sevennet_omat.pth"))
    expected = {
        mattersim.MatterSimAdapter("v1.0.0-1M"):
            tmp_path / ".local/mattersim/pretrained_models/mattersim-v1.0.0-1M.pth",
        mace.MACEAdapter("mace-omat-0"): tmp_path / "xdg/mace/maceomat0mediummodel",
        sevennet.SevenNetAdapter("7net-omat"):
            tmp_path / ".cache/sevennet/SevenNet_omat/checkpoint_sevennet_omat.pth",
    }
    for adapter, path in expected.items():
        assert adapter.ensure_weights() == path and path.read_bytes() == CHECKPOINT


@pytest.mark.skipif(importlib.util.find_spec("cached_path") is None, reason="orb-models not installed")
def test_orb_fetches_through_cached_path(server, online, tmp_path, monkeypatch):
    from phonjax_adapters import orb

    monkeypatch.setenv("CACHED_PATH_CACHE_ROOT", str(tmp_path / "cp"))
    server.routes["/orb-v2-20241011.ckpt"] = Route(CHECKPOINT)
    monkeypatch.setitem(orb.VARIANTS, "orb-v2",
                        (server.url("/orb-v2-20241011.ckpt"),) + orb.VARIANTS["orb-v2"][1:])
    adapter = orb.ORBAdapter("orb-v2")
    path = adapter.ensure_weights()
    assert path.parent == tmp_path / "cp" and path.read_bytes() == CHECKPOINT
    assert orb.cached_file(server.url("/orb-v2-20241011.ckpt")) == path  # what orb will read


@pytest.fixture
def fake_hub(monkeypatch):
    """hf_hub_download writing files in the hub's cache layout (no network)."""
    hub = pytest.importorskip("huggingface_hub")
    calls = []

    def hf_hub_download(repo_id, filename, cache_dir, **kw):
        calls.append((repo_id, filename, cache_dir))
        path = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "abc" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(CHECKPOINT if filename.endswith(".pt") else b"{}")
        return str(path)

    monkeypatch.setattr(hub, "hf_hub_download", hf_hub_download)
    return calls


def test_matgl_and_fairchem_fetch_through_the_hub_into_their_caches(fake_hub, online, tmp_path,
                                                                   monkeypatch):
    from phonjax_adapters import fairchem, m3gnet

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("FAIRCHEM_CACHE_DIR", str(tmp_path / "fc"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    m3 = m3gnet.M3GNetAdapter("M3GNet-MP-2021.2.8-PES")
    folder = m3.ensure_weights()
    assert folder == tmp_path / ".cache/matgl/models--materialyze--M3GNet-MP-2021.2.8-PES/snapshots/abc"
    assert {c[:2] for c in fake_hub} == {("materialyze/M3GNet-MP-2021.2.8-PES", f)
                                        for f in ("model.pt", "state.pt", "model.json")}
    assert len(m3.weights_sha256) == 64
    uma = fairchem.FairChemAdapter("uma-s-1p1")
    found = uma.availability()  # gated: no token, no download
    assert not found and "gated" in found.reason
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert uma.availability().downloads
    path = uma.ensure_weights()
    assert path == tmp_path / "fc/models--facebook--UMA/snapshots/abc/checkpoints/uma-s-1p1.pt"
    assert uma.weights_sha256 == hashlib.sha256(CHECKPOINT).hexdigest()


def test_importing_the_adapters_changes_no_environment_variable():
    code = ("import os; before = dict(os.environ); import phonjax_adapters, phonjax_adapters.registry; "
            "print(sorted(set(os.environ.items()) ^ set(before.items())))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    assert out.stdout.strip() == "[]"


def test_hubs_offline_restores_environment_and_hub_state(monkeypatch):
    hub = pytest.importorskip("huggingface_hub.constants")
    from phonjax_adapters.weights import hubs_offline

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    with hubs_offline():
        assert os.environ["HF_HUB_OFFLINE"] == "1" and hub.HF_HUB_OFFLINE is True
    assert "HF_HUB_OFFLINE" not in os.environ and hub.HF_HUB_OFFLINE is False


def test_bench_offline_flag_reaches_the_weights_check(toy, server, monkeypatch):
    from phonjax.bench import protocols
    from phonjax.pipeline import models
    from phonjax.bench.cli import main
    from phonjax.bench.runner import BenchError, run_meta

    monkeypatch.setenv("PHONJAX_OFFLINE", "0")
    assert main(["--offline", "--list-protocols"]) == 0
    assert os.environ["PHONJAX_OFFLINE"] == "1"  # set for this process and its workers
    models.register("cachedtoy", lambda variant, **kw: toy(variant, **kw))
    with pytest.raises(BenchError, match=r"model cachedtoy cannot run: .*downloads are off.*toy\.pth"):
        run_meta("cachedtoy", protocols.resolve(protocols.DEFAULT_PROTOCOL, {}))
    assert server.requests == []
