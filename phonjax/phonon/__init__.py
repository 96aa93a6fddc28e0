"""What phonopy computes from harmonic force constants besides the spectra (phonopy's
``phonopy/phonon``): group velocities, irreducible representations, modulated structures,
band connection and thermal displacements. Each module takes the ``Harmonic`` record of a
(crystal, model) pair (``phonjax.pipeline.records``) and returns frozen records; ``Phonons``
and ``phonjax run`` expose them (README: "Coming from phonopy").

Group velocities and the degenerate-set rule are those the κ code uses
(``phonjax.anharmonic.velocity``, ``phonjax.anharmonic.degeneracy``): phono3py takes them from
phonopy, and so does this package from there.
"""
