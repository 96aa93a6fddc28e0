"""phonjax: phonopy-exact harmonic phonons in JAX, batched over q-points and materials.

Data flows one way: crystal preparation (``phonjax.io``, ``phonjax.harmonic.system``;
NumPy + spglib on the host, producing the typed kernel tables of
``phonjax.harmonic.tables``) → kernels (``force_constants``, ``dynamical_matrix``,
``thermal``; pure ``jnp``) → execution (``phonjax.execution``: one ``Plan``
says how the kernels run) → workflow (``phonjax.harmonic.properties``) → reports.

Importing phonjax changes nothing in the caller's process: it does no numeric
work and leaves JAX's configuration alone. Its computations run in float64
(``jax.enable_x64`` around them: F = ZPE + a negative thermal part cancels, and
the contract with phonopy is 1e-8 relative) whatever the global setting; to
call the kernels directly in float64, wrap the calls in ``phonjax.float64()``.
"""

import importlib

# each public name and the module it comes from, imported on first use (PEP 562): importing
# phonjax imports neither JAX nor NumPy, so that a caller (the command line) chooses how
# (``phonjax.cli.entry``: with Python's cyclic collector paused, then frozen)
_EXPORTS = {
    "Crystal": "phonjax.structure.crystal", "CrystalError": "phonjax.structure.crystal",
    "Plan": "phonjax.execution",
    "DatasetError": "phonjax.io", "PhononDataset": "phonjax.io",
    "dataset_from_crystal": "phonjax.io", "read_dataset": "phonjax.io", "read_input": "phonjax.io",
    "NACParams": "phonjax.harmonic.nac",
    "PhononResult": "phonjax.harmonic.properties", "PhononSettings": "phonjax.harmonic.properties",
    "from_dataset": "phonjax.harmonic.properties",
    "phonon_properties": "phonjax.harmonic.properties",
    "HarmonicSystem": "phonjax.harmonic.system", "prepare": "phonjax.harmonic.system",
    "StructureBatch": "phonjax.structure.batch", "pad_structures": "phonjax.structure.batch",
    "Phonons": "phonjax.single.phonons",  # the single-crystal workflow (phonopy, seekpath)
}


def float64():
    """Context manager: JAX in float64 inside it (``jax.enable_x64(True)``), as phonjax's
    own computations run; the global setting is restored on exit."""
    import jax

    return jax.enable_x64(True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("phonjax")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


__version__ = _version()


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'phonjax' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = ["Crystal", "CrystalError", "DatasetError", "HarmonicSystem", "NACParams",
           "PhononDataset", "Phonons",
           "PhononResult", "PhononSettings", "Plan", "StructureBatch", "dataset_from_crystal",
           "float64", "from_dataset", "pad_structures", "phonon_properties", "prepare",
           "read_dataset", "read_input", "__version__"]
