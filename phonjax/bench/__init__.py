"""The uMLIP phonon benchmark (Loew et al. 2024) on top of the phonjax kernel.

Flow, one concept per module: ``protocols`` (named, versioned settings) →
``inputs`` (reference datasets) → ``compute`` (relaxation, forces and the kernel from the
shared floor: ``phonjax.pipeline.relax``, ``pipeline.forces``, ``phonon_properties``) →
``store`` (SQLite, one row per material × model × protocol, resumable) →
``executors`` (in-process or dask) driven by ``runner`` → ``scoring``,
``report`` and ``figures`` rebuilt from the store. ``cli`` is
``python -m phonjax bench``.
"""

from phonjax.pipeline.records import REFERENCE_MODEL  # noqa: F401 (a dataset's own forces)
