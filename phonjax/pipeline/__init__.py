"""The shared floor under the applications (``phonjax run``, ``phonjax bench``, κ to come).

What every front door does with a (crystal, model) pair, in one place, public and typed, so
that none reaches into another: ``records`` (the frozen record of each step: ``Pair`` →
``Structure`` → ``Harmonic``; ``REFERENCE_MODEL``, the name of a file's own forces),
``models`` (model specs → adapters: the one registry), ``settings`` (``RelaxSettings``: the
relaxation's fields, declared and checked once; the bench's ``Protocol`` and the workflow's
``WorkflowSettings`` hand it over as ``relax_settings``), ``relax`` (FixSymmetry +
FrechetCellFilter + FIRE, many crystals in lock-step, one model call per step for all),
``cells`` (the primitive matrix as phonopy's "auto" and a supercell from a length, chosen and
explained), ``born`` (which Born charges and ε∞ apply to a pair, checked against its crystal)
and ``forces`` (forces of many displaced supercells from one model: the lanes, the batching,
the Hessian route).
"""
