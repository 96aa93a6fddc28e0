"""Harmonic: from a crystal and forces on displaced supercells to phonon properties.

``system`` prepares one material (``HarmonicSystem``: phonopy's ``displacements``, the
``mesh`` and commensurate q-points, the ``nac`` tables, all typed in ``tables``); the pure
``jnp`` kernels follow the physics: ``force_constants`` → ``dynamical_matrix`` (with
``dipole_dipole`` for polar crystals, ``real_form`` where inversion makes D(q) real) →
``thermal`` (F, S, Cv) and ``stability`` (ω_max, the verdict); ``properties`` runs them
for many materials under one ``phonjax.execution.Plan``. ``hessian`` gets force constants
from a JAX energy by Hessian-vector products instead of forces; ``differentiable`` is the
same physics as functions for ``jax.grad``.
"""
