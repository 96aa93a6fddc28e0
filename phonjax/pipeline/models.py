"""Model specs (``name`` or ``name:variant``) → adapters, with a per-process cache: the one
registry both front doors (``phonjax run``, ``phonjax bench``) load models from.

Registered adapters come from ``phonjax_adapters.registry``; ``register``
adds a factory under a name first (tests use numpy toy potentials this way,
without torch). Workers build their own adapter from the spec string, so a
spec is all that travels between processes.
"""

from __future__ import annotations

from typing import Callable

from phonjax.pipeline.records import REFERENCE_MODEL

_FACTORIES: dict[str, Callable[..., object]] = {}
_CACHE: dict[tuple, object] = {}


def register(name: str, factory: Callable[..., object]) -> None:
    """Make ``factory(variant, device=..., max_atoms=...)`` the adapter of ``name``."""
    _FACTORIES[name.lower()] = factory
    for key in [k for k in _CACHE if k[0] == name.lower()]:
        del _CACHE[key]


def split_spec(spec: str) -> tuple[str, str | None]:
    name, _, variant = spec.partition(":")
    return name.lower(), (variant or None)


def check_spec(spec: str) -> str:
    """Raise ValueError with a clear message when ``spec`` names no usable model."""
    name, variant = split_spec(spec)
    if name == REFERENCE_MODEL:
        raise ValueError(f"{REFERENCE_MODEL!r} is the dataset's own reference, not a model")
    if name in _FACTORIES:
        return spec
    from phonjax_adapters.registry import get_adapter

    try:
        adapter = get_adapter(name, variant)
    except (KeyError, ValueError) as exc:
        raise ValueError(str(exc).strip('"')) from None
    found = adapter.availability()
    if not found:
        raise ValueError(f"model {spec} cannot run here: {found.reason}"
                         + (f" ({found.hint})" if found.hint else ""))
    return spec


def adapter(spec: str, device: str = "cpu", max_atoms: int = 4096):
    """The (cached, loaded lazily) adapter of ``spec`` in this process."""
    name, variant = split_spec(spec)
    key = (name, variant, device, max_atoms)
    if key not in _CACHE:
        if name in _FACTORIES:
            _CACHE[key] = _FACTORIES[name](variant, device=device, max_atoms=max_atoms)
        else:
            from phonjax_adapters.registry import get_adapter

            _CACHE[key] = get_adapter(name, variant, device=device, max_atoms=max_atoms)
    return _CACHE[key]


def loaded_adapter(spec: str, device: str = "cpu", max_atoms: int = 4096):
    """``adapter`` with its model loaded now: its framework imported, so that the threads
    of the lanes can be set before the first model call."""
    a = adapter(spec, device, max_atoms)
    if hasattr(a, "load"):
        a.load()
    return a


def describe(spec: str) -> dict:
    """Model identity stored with every result: family, variant, package and version, and
    the weights (path and SHA-256; fetched first when missing and downloads are allowed)."""
    a = adapter(spec)
    weights = {"weights_path": None, "weights_sha256": None}
    if hasattr(a, "ensure_weights"):
        weights = {"weights_path": str(a.ensure_weights()), "weights_sha256": a.weights_sha256}
    dist = getattr(a, "distribution", None)
    version = None
    if dist:
        from phonjax_adapters.base import package_version

        version = package_version(dist)
    return {"model": spec, "family": getattr(a, "family", split_spec(spec)[0]),
            "variant": getattr(a, "variant", split_spec(spec)[1]),
            "package": dist, "package_version": version,
            "checkpoint": str(a.checkpoint) if getattr(a, "checkpoint", None) else None,
            **weights}


def identity(spec: str) -> str:
    """What the numbers of ``spec`` depend on besides its name: the package and its
    version, and the SHA-256 of its weights (``describe``). Stored with every row: a row
    of another identity is recomputed, not reused."""
    d = describe(spec)
    weights = (d["weights_sha256"] or "none")[:16]
    return f"{d['package']}=={d['package_version']}; weights {weights}"
