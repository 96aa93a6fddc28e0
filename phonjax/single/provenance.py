"""Provenance of a result: the model (package, version, weights files and their SHA-256) and
the versions of every package that shaped the numbers."""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

PACKAGES = ("phonjax", "jax", "jaxlib", "numpy", "spglib", "phonopy", "phonors", "seekpath",
            "ase", "torch")


def versions(extra: tuple[str, ...] = ()) -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES + tuple(extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime: float) -> str:
    """``file_sha256`` once per (path, size, mtime) in this process."""
    from phonjax.download import file_sha256

    return file_sha256(path)


def file_identity(path) -> dict:
    p = Path(path)
    if not p.is_file():
        return {"path": str(p), "sha256": None, "bytes": None}
    st = p.stat()
    return {"path": str(p), "sha256": _sha256(str(p), st.st_size, st.st_mtime),
            "bytes": st.st_size}


def model_identity(model: str, device: str = "cpu") -> dict:
    """Family, variant, package and version of an adapter spec, and its weights files."""
    if model == "dft":
        return {"model": "dft", "description": "the force-set file's own forces"}
    from phonjax.pipeline import models

    out = models.describe(model)
    adapter = models.adapter(model)
    files = []
    try:
        files = [adapter.checkpoint] if getattr(adapter, "checkpoint", None) else \
            list(adapter.weight_files())
    except Exception:  # an adapter that cannot list its files still describes itself
        files = []
    out["weights"] = [file_identity(f) for f in files]
    out["device"] = device
    out["dtype"] = getattr(adapter, "dtype", None)
    return out
