"""phonjax: phonopy-exact harmonic phonons in JAX, batched over q-points and materials.

Data flows one way: crystal preparation (``phonjax.io``, ``phonjax.prepare``;
numpy + spglib on the host) → kernels (``force_constants``,
``dynamical_matrix``, ``thermal``; pure JAX, float64) → workflow
(``phonjax.phonons``) → reports. Importing phonjax switches JAX to float64:
F = ZPE + a negative thermal part cancels, and the contract with phonopy is
1e-8 relative.
"""

import jax

jax.config.update("jax_enable_x64", True)

from phonjax.crystal import Crystal, CrystalError  # noqa: E402
from phonjax.io import DatasetError, PhononDataset, dataset_from_crystal, read_dataset  # noqa: E402
from phonjax.phonons import PhononResult, from_dataset, phonon_properties  # noqa: E402
from phonjax.prepare import HarmonicSystem, prepare  # noqa: E402
from phonjax.structures import StructureBatch, pad_structures  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Crystal", "CrystalError", "DatasetError", "PhononDataset", "PhononResult",
           "HarmonicSystem", "StructureBatch", "dataset_from_crystal", "from_dataset",
           "pad_structures", "phonon_properties", "prepare", "read_dataset", "__version__"]
