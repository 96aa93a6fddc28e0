"""The uMLIP phonon benchmark (Loew et al. 2024) on top of the phonjax kernel.

Flow, one concept per module: ``protocols`` (named, versioned settings) →
``inputs`` (reference datasets) → ``relax`` (ASE relaxation with a model) →
``compute`` (displace, evaluate forces in batches, ``phonon_properties``) →
``store`` (SQLite, one row per material × model × protocol, resumable) →
``executors`` (in-process or dask) driven by ``runner`` → ``scoring``,
``report`` and ``figures`` rebuilt from the store. ``cli`` is
``python -m phonjax bench``.
"""

REFERENCE_MODEL = "dft"  # model name under which a dataset's own (DFT) forces are stored
