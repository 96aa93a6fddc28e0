"""Anharmonic: third-order force constants and lattice thermal conductivity (issues 25–27).

``displacements`` generates phono3py 4.10's FC3 displacement dataset (first atoms, then the
symmetry-reduced second atoms of each first displacement, pair distances and cutoff) and the
FC2 displacements of a separate phonon supercell, identical to phono3py's; ``fc3`` solves FC3
and FC2 from the forces on them as phono3py does (the traditional solve, then the traditional
or symfc-projector symmetrization; random-displacement datasets through symfc); ``hessian3``
gets FC3 of a JAX energy by differentiating three times instead. Files in:
``phonjax.io.phono3py_files``; many crystals from one model call: ``phonjax.pipeline.fc3``.
κ (the imaginary self-energy, the Boltzmann equation) comes next, on top of
``phonjax.harmonic`` and run by ``phonjax.execution`` plans.
"""
