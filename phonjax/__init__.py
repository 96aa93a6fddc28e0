"""phonjax: phonopy-exact harmonic phonons in JAX, batched over q-points and materials.

Data flows one way: crystal preparation (``phonjax.io``, ``phonjax.prepare``;
NumPy + spglib on the host, producing the typed kernel tables of
``phonjax.tables``) → kernels (``force_constants``, ``dynamical_matrix``,
``thermal``; pure ``jnp``) → execution (``phonjax.execution``: one ``Plan``
says how the kernels run) → workflow (``phonjax.phonons``) → reports.

Importing phonjax changes nothing in the caller's process: it does no numeric
work and leaves JAX's configuration alone. Its computations run in float64
(``jax.enable_x64`` around them: F = ZPE + a negative thermal part cancels, and
the contract with phonopy is 1e-8 relative) whatever the global setting; to
call the kernels directly in float64, wrap the calls in ``phonjax.float64()``.
"""

from phonjax.crystal import Crystal, CrystalError
from phonjax.execution import Plan
from phonjax.io import DatasetError, PhononDataset, dataset_from_crystal, read_dataset, read_input
from phonjax.nac import NACParams
from phonjax.phonons import PhononResult, PhononSettings, from_dataset, phonon_properties
from phonjax.prepare import HarmonicSystem, prepare
from phonjax.structures import StructureBatch, pad_structures


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
    # the single-crystal workflow, imported on first use (it pulls in phonopy and seekpath)
    if name == "Phonons":
        from phonjax.single.phonons import Phonons

        return Phonons
    raise AttributeError(f"module 'phonjax' has no attribute {name!r}")


__all__ = ["Crystal", "CrystalError", "DatasetError", "HarmonicSystem", "NACParams",
           "PhononDataset", "Phonons",
           "PhononResult", "PhononSettings", "Plan", "StructureBatch", "dataset_from_crystal",
           "float64", "from_dataset", "pad_structures", "phonon_properties", "prepare",
           "read_dataset", "read_input", "__version__"]
