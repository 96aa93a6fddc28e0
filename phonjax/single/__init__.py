"""Phonons of one crystal, or a hundred: the user's workflow from a structure to files and plots.

*One run* is a set of crystals (structure files, ASE ``Atoms``, pymatgen ``Structure``s,
phonopy folders or force-set files) times a set of models (registered uMLIP adapters, or
``"dft"``: the forces a force-set input holds). Each (crystal, model) pair is one ``Phonons``
object: relaxed structure, cells, force constants, band structure along a checked standard
path, DOS and partial DOS, thermal properties in three normalisations, the imaginary-mode
report and its files.

Modules, one concept each: ``settings`` (what a run does, validated), ``inputs`` (reading
structures and force sets), ``cells`` (symmetry, primitive cell, supercell), ``bandpath``
(seekpath's path mapped to the cell used, and its check), ``dos`` (tetrahedron and Gaussian DOS,
projections), ``thermal_table``, ``instability`` (imaginary-mode report, modulated structures),
``workflow`` (relaxation, forces and kernel, batched over many pairs with the bench's code),
``spectra`` (what one pair's force constants give), ``phonons`` (the ``Phonons`` object),
``report`` (JSON summary, model comparison), ``writers``, ``plots``, ``provenance``, ``cli``
(``phonjax run``), ``born`` (the non-analytical correction of a pair: the input's own Born
charges, a BORN file for a model's force constants, or none; checked against the crystal).
Frequencies are computed in one place, ``Phonons.modes_at`` / ``path_modes`` (phonopy's
q → 0 rule at Γ on band segments when the pair has NAC).
"""

__all__ = ["Phonons", "WorkflowSettings"]


def __getattr__(name: str):
    # lazy, so that ``import phonjax.single.settings`` (the CLI's option check) stays light
    if name == "Phonons":
        from phonjax.single.phonons import Phonons

        return Phonons
    if name == "WorkflowSettings":
        from phonjax.single.settings import WorkflowSettings

        return WorkflowSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
