"""Phonons of one crystal, or a hundred: the user's workflow from a structure to files and plots.

*One run* is a set of crystals (structure files, ASE ``Atoms``, pymatgen ``Structure``s,
phonopy folders or force-set files) times a set of models (registered uMLIP adapters, or
``"dft"``: the forces a force-set input holds). Each (crystal, model) pair is one ``Phonons``
object: relaxed structure, cells, force constants, band structure along a checked standard
path, DOS and partial DOS, thermal properties in three normalisations, the imaginary-mode
report and its files.

Modules, one concept each, in the order a pair meets them: ``cli`` (``phonjax run``),
``settings`` (what a run does, validated), ``inputs`` (reading structures and force sets),
``phonons`` (the ``Phonons`` front over a pair's records, ``phonjax.pipeline.records``),
``workflow`` (its ``STEPS``: symmetry, relaxation, cells and Born charges, forces, kernel,
batched over many pairs on the shared floor ``phonjax.pipeline``), ``spectra`` (what one
pair's ``Harmonic`` record gives: ``bandpath``, the mesh solved once, ``dos``,
``thermal_table``, ``instability``), ``outputs`` (the pair's folder, whole or not at all:
``writers``, ``plots``, ``report`` with ``provenance``). Frequencies are computed in one
place, the pair's ``ModeSolver`` (``Harmonic.modes_at`` / ``path_modes``: phonopy's q → 0
rule at Γ on band segments when the pair has NAC).
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
