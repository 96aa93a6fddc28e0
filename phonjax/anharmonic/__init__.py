"""Anharmonic: third-order force constants and lattice thermal conductivity (to come).

The room of issues 25–27: FC3 from displaced supercells (phono3py's displacements), the
imaginary self-energy and κ in JAX, on top of ``phonjax.harmonic`` (the harmonic system,
its force constants and modes) and run by ``phonjax.execution`` plans.
"""
