"""Entry-point discovery, the models table, get_adapter, and offline behaviour (the suite
runs with PHONJAX_OFFLINE=1; downloads are tested in tests/net)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

import pytest
from rich.console import Console

from phonjax_adapters import Adapter, WeightsNotFound, adapter_classes, get_adapter, models_table

FAMILIES = {"chgnet", "sevennet", "m3gnet", "mace", "mattersim", "orb", "fairchem", "nequix"}


def test_every_family_is_registered_as_an_entry_point():
    classes = adapter_classes()
    assert FAMILIES <= set(classes)
    for name, cls in classes.items():
        assert issubclass(cls, Adapter) and cls.family == name
        assert cls.variants and cls.dtypes


def test_models_table_lists_every_variant():
    table = models_table()
    console = Console(width=250, record=True)
    console.print(table)
    text = console.export_text()
    for cls in adapter_classes().values():
        for variant in cls.variants:
            assert variant in text
    assert "7net-0" in text and "M3GNet-MP-2021.2.8-PES" in text
    headers = [column.header for column in table.columns]
    assert headers == ["family / package", "variant", "available", "dtype", "batch"]


def test_listing_models_imports_neither_torch_nor_model_packages():
    code = (
        "import sys; from phonjax_adapters.registry import models_table; models_table(); "
        "heavy = {'torch', 'chgnet', 'sevenn', 'matgl', 'mace', 'mattersim', 'orb_models', 'fairchem.core', 'nequix', 'equinox'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("family", "variant"), [("chgnet", None), ("sevennet", "7net-0")])
def test_shipped_weights_are_available(family, variant):
    adapter = get_adapter(family, variant)
    if importlib.util.find_spec(adapter.module) is None:
        pytest.skip(f"{adapter.distribution} not installed (make models)")
    found = adapter.availability()
    assert found and not found.downloads
    assert adapter.weights_path.is_file() and len(adapter.weights_sha256) == 64


@pytest.mark.parametrize(
    ("name", "variant", "cls_name", "expected"),
    [
        ("chgnet", None, "CHGNetAdapter", "0.3.0"),
        ("SevenNet", "7net-l3i5", "SevenNetAdapter", "7net-l3i5"),
        ("sevennet:7net-mf-0", None, "SevenNetAdapter", "7net-mf-0"),
        ("7net-0", None, "SevenNetAdapter", "7net-0"),
        ("orb", "orb-v3-conservative", "ORBAdapter", "orb-v3-conservative-inf-omat"),
        ("mace", "mace-mpa-0", "MACEAdapter", "mace-mpa-0"),
    ],
)
def test_get_adapter_finds_family_and_variant(name, variant, cls_name, expected):
    adapter = get_adapter(name, variant, device="cpu")
    assert type(adapter).__name__ == cls_name
    assert adapter.variant == expected
    assert adapter.model is None  # nothing loads until asked


def test_unknown_names_are_errors():
    with pytest.raises(KeyError, match="registered families"):
        get_adapter("no-such-model")
    with pytest.raises(ValueError, match="known:"):
        get_adapter("chgnet", "9.9.9")


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Point every weight cache at an empty directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
    monkeypatch.setenv("CACHED_PATH_CACHE_ROOT", str(tmp_path / "cached_path"))
    monkeypatch.setenv("FAIRCHEM_CACHE_DIR", str(tmp_path / "fairchem"))
    return tmp_path


@pytest.mark.parametrize("family", ["m3gnet", "mace", "mattersim", "orb", "fairchem", "sevennet"])
def test_missing_weights_fail_fast_naming_the_file(family, empty_caches):
    variant = "7net-mf-ompa" if family == "sevennet" else None  # not in the sevenn wheel
    adapter = get_adapter(family, variant)
    found = adapter.availability()
    assert not found
    if "not installed" in found.reason:  # mace lives in its own venv; others via make models
        assert "install-models.sh" in found.hint
        return
    assert "weights missing" in found.reason and str(empty_caches) in found.hint or family == "sevennet"
    start = time.perf_counter()
    with pytest.raises(WeightsNotFound) as error:
        adapter.load()
    assert time.perf_counter() - start < 5, "must not wait on the network"
    message = str(error.value)
    assert "missing" in message and "To provide them" in message and "checkpoint=" in message
    assert str(empty_caches) in message and "\n" not in message
    if adapter.can_download():
        assert "downloads are off (PHONJAX_OFFLINE=1 or --offline)" in message


def test_missing_explicit_checkpoint_is_named(tmp_path):
    adapter = get_adapter("chgnet", checkpoint=tmp_path / "nope.pth.tar")
    assert not adapter.availability()
    with pytest.raises(WeightsNotFound, match="nope.pth.tar"):
        adapter.load()

