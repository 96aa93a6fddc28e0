"""Settings of the shared steps, each declared and validated once; the applications compose them.

``RelaxSettings`` is how a crystal is relaxed (``phonjax.pipeline.relax``): FIRE on a
FrechetCellFilter, up to ``relax_rounds`` rounds of at most ``relax_steps`` steps aiming at
``fmax_eV_A``/2, FixSymmetry when ``fix_symmetry``, forces above ``max_force_eV_A`` an explosion.
It is frozen and checked on construction with ``phonjax.options`` (a ``SettingError`` naming the
setting), and ``RelaxSettings.check`` is that same check for one setting, for a front door that
receives the value alone (a command-line string).

How the settings compose (each field declared where it is defined, checked by its owner):

- ``RelaxSettings`` (here): the relaxation.
- ``TwoStageRelaxSettings`` (here): the κ benchmark's relaxation (k_SRME's ``two_stage_relax``).
- ``phonjax.PhononSettings`` (``phonjax.harmonic.properties``): the phonon physics
  (temperatures, drift removal, the Γ acoustic rule, THz→K). ``subtract_drift`` defaults to
  False there and in the workflow's settings (phonopy's default) and to True in the benchmark
  protocols (the paper's choice, which their stored results keep).
- ``phonjax.Plan`` (``phonjax.execution``): how the kernel runs (memory bound, chunks); no
  setting of it changes a number.
- The benchmark's ``Protocol`` (``phonjax.bench.protocols``) keeps its flat fields (they are its
  store key and stored JSON) and gives ``relax_settings`` and ``settings`` (PhononSettings); its
  relaxation fields are checked by ``RelaxSettings.check``.
- The single-crystal ``WorkflowSettings`` (``phonjax.single.settings``) keeps the flat keywords
  its users write and gives ``relax_settings`` and ``phonon_settings``; its relaxation fields
  are checked by ``RelaxSettings``.

The cell choice is not a shared record: the benchmark takes the primitive and supercell
matrices of each input file, the workflow chooses them (``phonjax.pipeline.cells``); only the
displacement length ``distance_A`` is common, checked by ``options.displacement_distance``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


from phonjax import options

@dataclass(frozen=True)
class RelaxSettings:
    """How a crystal is relaxed (the published benchmark's settings by default)."""

    fmax_eV_A: float = 0.005  # converged when atoms' and cell's forces are all ≤ this
    relax_rounds: int = 15  # rounds of FIRE (a fresh optimizer each), each up to relax_steps
    relax_steps: int = 500
    fix_symmetry: bool = True  # ASE FixSymmetry: the relaxation keeps the input's space group
    max_force_eV_A: float = 1e4  # larger forces during relaxation count as an explosion

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, self.check(f.name, getattr(self, f.name)))

    @staticmethod
    def check(name: str, value):
        """The setting ``name`` checked and in its type (a number from its text, "false" as
        False); ``options.SettingError`` names it when the value makes no sense."""
        if name not in CHECKS:
            raise options.SettingError(f"unknown relaxation setting {name!r}; known: "
                                       f"{', '.join(CHECKS)}")
        return CHECKS[name](name, value)


# the one check of each relaxation setting (RelaxSettings' fields, in their order)
CHECKS = {"fmax_eV_A": options.positive, "relax_rounds": options.positive_int,
          "relax_steps": options.positive_int, "fix_symmetry": options.boolean,
          "max_force_eV_A": options.positive}
RELAX_FIELDS = tuple(CHECKS)


@dataclass(frozen=True)
class TwoStageRelaxSettings:
    """The κ benchmark's relaxation (Póta et al. 2024; k_SRME's ``two_stage_relax``, which
    matbench-discovery's κ task runs): FIRE on a FrechetCellFilter (cell angles frozen unless
    ``allow_tilt``), stage 1 with FixSymmetry, stage 2 without, each up to ``steps`` steps
    aiming at ``fmax_eV_A``; if stage 2 changes the space group (spglib at ``symprec``) the
    stage-1 structure is kept. Not reaching fmax is recorded, not a failure (as there)."""

    fmax_eV_A: float = 1e-4
    steps: int = 300
    symprec: float = 1e-5
    allow_tilt: bool = False
    max_force_eV_A: float = 1e4  # larger forces during relaxation count as an explosion

    def __post_init__(self):
        for name, check in (("fmax_eV_A", options.positive), ("steps", options.positive_int),
                            ("symprec", options.positive), ("allow_tilt", options.boolean),
                            ("max_force_eV_A", options.positive)):
            object.__setattr__(self, name, check(name, getattr(self, name)))
