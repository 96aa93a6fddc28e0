"""What one run of the single-crystal workflow does: every setting that changes a number.

``WorkflowSettings`` is frozen and validated on construction, so a nonsense value (a negative
fmax, a zero mesh, a NaN temperature) fails at once with one line naming the setting, before any
model is loaded.

Its fields stay flat, the keywords users write (``Phonons.from_structure(relax=False,
mesh=...)``, ``settings.fmax_eV_A``), and it is made of the shared records
(``phonjax.pipeline.settings`` tells how they compose):

- ``relax_settings``: the relaxation fields (``fmax_eV_A``, ``relax_rounds``, ``relax_steps``,
  ``fix_symmetry``, ``max_force_eV_A``) as ``RelaxSettings``, which checks them (the same check
  as the benchmark protocol's); what ``phonjax.pipeline.relax`` takes. ``relax`` says whether
  to relax at all.
- ``phonon_settings``: ``temperatures_K``, ``subtract_drift``, ``gamma_acoustic_tolerance_K``
  as ``phonjax.PhononSettings``.
- The rest is the workflow's own: symmetry and the cell choice (``symprec``,
  ``symmetrize_tolerance_A``, ``min_length_A``, ``supercell_matrix``, ``primitive_matrix``,
  ``distance_A``), spectra, stability report, modulations and the non-analytical correction.

Defaults give right phonons rather than fast ones: relaxation on (FixSymmetry +
FrechetCellFilter + FIRE to 0.005 eV/Å), supercell lattice vectors ≥ 20 Å, primitive cell
found by spglib (phonopy's ``"auto"``), phonopy's 0.01 Å displacements, a 20×20×20 mesh,
phonopy's tetrahedron DOS, 0–1000 K in 10 K steps; the non-analytical correction exactly when
Born charges come with the input (a BORN next to phonopy's files) or are given (``nac``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from phonjax import options
from phonjax.pipeline.settings import RELAX_FIELDS, RelaxSettings
from phonjax.structure.symmetry import SYMPREC


class SettingsError(ValueError):
    """A setting that cannot give a meaningful result (one line, names the setting)."""


@dataclass(frozen=True)
class WorkflowSettings:
    # --- structure and relaxation ------------------------------------------------------
    relax: bool = True
    # relax_settings: declared (meaning, default) and checked by RelaxSettings
    fmax_eV_A: float = RelaxSettings.fmax_eV_A
    relax_rounds: int = RelaxSettings.relax_rounds
    relax_steps: int = RelaxSettings.relax_steps
    fix_symmetry: bool = RelaxSettings.fix_symmetry
    max_force_eV_A: float = RelaxSettings.max_force_eV_A
    symmetrize_tolerance_A: float | None = 1e-3  # snap the input to the symmetry found at this
    #   tolerance first (ASE refine_symmetry), when that is higher than at symprec; None: never
    symprec: float = SYMPREC  # phonopy's tolerance for symmetry, cells and displacements
    # --- cells --------------------------------------------------------------------------
    min_length_A: float = 20.0  # supercell: conventional-cell multiples with vectors ≥ this
    supercell_matrix: tuple | None = None  # explicit S relative to the (input) unit cell
    primitive_matrix: Any = "auto"  # "auto" (a force-set file's P, else spglib's), "spglib",
    #   "unitcell" (identity) or a 3x3 P
    # --- force constants ----------------------------------------------------------------
    distance_A: float = 0.01  # ≤ 0.2 Å, options.DISPLACEMENT_RULE (warned above 0.05 Å)
    subtract_drift: bool = False  # phonopy's default (as PhononSettings'); the benchmark
    #   protocol subtracts the drift (True, the paper's choice); models conserve momentum anyway
    fc_calculator: str = "finite"  # or "symfc" (phonopy 4's fc_calculator; pipeline.fc_route)
    random_snapshots: int | None = None  # N supercells with every atom displaced at random
    #   (phonopy's number_of_snapshots; needs "symfc"), displacements of length distance_A
    random_seed: int | None = None  # phonopy's random_seed (None: drawn, then recorded)
    symfc_cutoff_A: float | None = None  # symfc's pair cutoff (phonopy's "cutoff = r")
    symmetrize_fc: bool = True  # phonopy's symmetrize_fc (the finite route)
    fc_cutoff_radius_A: float | None = None  # phonopy's --cutoff-radius: Φ(i, j) = 0 beyond
    # --- spectra ------------------------------------------------------------------------
    mesh: tuple[int, int, int] = (20, 20, 20)  # half-shifted on even axes, as phonopy
    mesh_length_A: float | None = None  # instead of ``mesh``: phonopy's run_mesh(length),
    #   length2mesh, Γ-centred, a generalized regular grid where a regular one breaks symmetry
    gamma_center: bool = False  # ``mesh`` without the half shift (phonopy's is_gamma_center)
    temperatures_K: tuple[float, ...] = tuple(float(t) for t in range(0, 1001, 10))
    band_path: Any = "auto"  # "auto" (seekpath), a path file, or segments (see bandpath)
    band_points: int = 101  # q-points on the longest segment; others at the same spacing
    band_per_segment: bool = False  # band_points on every segment (phonopy's BAND_POINTS)
    band_connection: bool = False  # bands ordered by eigenvector overlap (is_band_connection)
    dos_method: str = "tetrahedron"  # or "gaussian"
    dos_sigma_THz: float | None = None  # Gaussian width (default: phonopy's span/100)
    dos_freq_min_THz: float | None = None  # DOS frequency points, phonopy's freq_min, freq_max,
    dos_freq_max_THz: float | None = None  # freq_pitch (None: the span ± 10σ, 200 steps)
    dos_freq_pitch_THz: float | None = None
    classical: bool = False  # F, S, Cv with classical statistics (phonopy's classical=True)
    cutoff_frequency_THz: float = 0.0  # F, S, Cv sum the modes above this (phonopy's
    #   cutoff_frequency; the zero-point energy keeps every ν > 0, as phonopy's)
    # --- phonopy's other outputs (``phonjax.phonon``; off unless asked) -----------------
    group_velocities: bool = False  # on the mesh and along the band path (phonopy's)
    thermal_displacements: bool = False  # ⟨u²⟩ and the 3×3 matrices (ADPs) on the mesh
    tdisp_freq_min_THz: float = 0.0  # their modes: phonopy's freq_min, freq_max
    tdisp_freq_max_THz: float | None = None
    tdispmat_cif_K: float | None = None  # the ADPs at this temperature as tdispmat.cif
    irreps_q: tuple | None = None  # (3,) reduced q: irreducible representations there
    modulation: Any = None  # (dimension, [(q, band from 0, amplitude, phase°), ...])
    # --- stability ----------------------------------------------------------------------
    imaginary_tolerance_THz: float = 0.05  # ν < −this counts as imaginary (Γ acoustic excluded)
    gamma_acoustic_tolerance_K: float = 50.0  # the benchmark's rule at commensurate q-points
    modulation_amplitude_A: float = 0.1  # largest atomic displacement of a modulated structure
    modulation_max_atoms: int = 400  # no modulated supercell larger than this
    # --- polar crystals -----------------------------------------------------------------
    nac: Any = None  # the non-analytical correction: None (a force-set input's own Born
    #   charges, e.g. the BORN next to it; none for a structure), False (off), a BORN file
    #   (read for the cells the workflow chooses), or ``phonjax.NACParams``

    def __post_init__(self):
        def fail(msg: str):
            raise SettingsError(msg)

        def positive(name: str, value, integer: bool = False):
            ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
                value, bool) and math.isfinite(value) and value > 0
            if not ok or (integer and int(value) != value):
                fail(f"{name} must be a positive {'integer' if integer else 'number'}, "
                     f"got {value!r}")

        for name in ("symprec", "min_length_A", "modulation_amplitude_A"):
            positive(name, getattr(self, name))
        try:  # the relaxation fields: RelaxSettings' check, stored as it gives them
            relax = self.relax_settings
            for name in RELAX_FIELDS:
                object.__setattr__(self, name, getattr(relax, name))
            # finite, > 0 and ≤ 0.2 Å (options.DISPLACEMENT_RULE)
            object.__setattr__(self, "distance_A",
                               options.displacement_distance("distance_A", self.distance_A))
            object.__setattr__(self, "mesh", options.mesh_numbers("mesh", self.mesh))
        except options.SettingError as exc:
            fail(str(exc))
        for name in ("band_points", "modulation_max_atoms"):
            positive(name, getattr(self, name), integer=True)
        if self.band_points < 2:
            fail(f"band_points must be ≥ 2, got {self.band_points}")
        if self.symmetrize_tolerance_A is not None:
            positive("symmetrize_tolerance_A", self.symmetrize_tolerance_A)
        for name in ("imaginary_tolerance_THz", "gamma_acoustic_tolerance_K"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                fail(f"{name} must be a finite number ≥ 0, got {value!r}")
        temps = tuple(float(t) for t in np.atleast_1d(self.temperatures_K))
        if not temps or not all(math.isfinite(t) and t >= 0 for t in temps):
            fail(f"temperatures must be finite and ≥ 0 K, got {list(temps)}")
        object.__setattr__(self, "temperatures_K", temps)
        if self.dos_method not in ("tetrahedron", "gaussian"):
            fail(f"dos_method must be 'tetrahedron' or 'gaussian', got {self.dos_method!r}")
        try:
            self.fc_route
        except ValueError as exc:
            fail(str(exc))
        for name in ("dos_sigma_THz", "dos_freq_pitch_THz", "mesh_length_A"):
            if getattr(self, name) is not None:
                positive(name, getattr(self, name))
        for name in ("dos_freq_min_THz", "dos_freq_max_THz"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and
                                          not isinstance(value, bool) and math.isfinite(value)):
                fail(f"{name} must be a finite number, got {value!r}")
        if None not in (self.dos_freq_min_THz, self.dos_freq_max_THz) and \
                self.dos_freq_max_THz <= self.dos_freq_min_THz:
            fail(f"dos_freq_max_THz ({self.dos_freq_max_THz}) must be above dos_freq_min_THz "
                 f"({self.dos_freq_min_THz})")
        if self.irreps_q is not None:
            q = np.asarray(self.irreps_q, float)
            if q.shape != (3,) or not np.isfinite(q).all():
                fail(f"irreps_q must be 3 finite numbers, got {self.irreps_q!r}")
            object.__setattr__(self, "irreps_q", tuple(float(x) for x in q))
        if self.tdispmat_cif_K is not None and not self.thermal_displacements:
            fail("tdispmat_cif_K needs thermal_displacements=True")
        for name in ("tdisp_freq_min_THz",):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                fail(f"{name} must be a finite number ≥ 0, got {value!r}")
        value = self.cutoff_frequency_THz
        if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and value >= 0):
            fail(f"cutoff_frequency_THz must be a finite number ≥ 0, got {value!r}")
        if self.supercell_matrix is not None:
            from phonjax.io.dataset import DatasetError, checked_supercell_matrix

            try:
                s = checked_supercell_matrix(np.reshape(self.supercell_matrix, -1) if np.size(
                    self.supercell_matrix) == 3 else np.reshape(self.supercell_matrix, (3, 3)))
            except (DatasetError, ValueError) as exc:
                fail(f"supercell: {exc}")
            object.__setattr__(self, "supercell_matrix", tuple(map(tuple, s.tolist())))
        p = self.primitive_matrix
        if isinstance(p, str):
            if p not in ("auto", "spglib", "unitcell"):
                fail(f"primitive_matrix must be 'auto', 'spglib', 'unitcell' or a 3x3 matrix, "
                     f"got {p!r}")
        else:
            from phonjax.io.dataset import DatasetError, checked_primitive_matrix

            try:
                m = checked_primitive_matrix(np.reshape(np.asarray(p, float), (3, 3)))
            except (DatasetError, ValueError) as exc:
                fail(f"primitive matrix: {exc}")
            object.__setattr__(self, "primitive_matrix", tuple(map(tuple, m.tolist())))
        nac = self.nac
        if nac is True:
            object.__setattr__(self, "nac", None)
        elif isinstance(nac, (str, os.PathLike)):
            if not os.path.isfile(nac):
                fail(f"born: {nac}: file not found")
            object.__setattr__(self, "nac", str(nac))
        elif nac is not None and nac is not False:
            from phonjax.harmonic.nac import NACParams

            if not isinstance(nac, NACParams):
                fail(f"nac (the non-analytical correction) must be a BORN file, NACParams, "
                     f"None (a force-set input's own) or False (off), got {type(nac).__name__}")

    def replace(self, **changes) -> WorkflowSettings:
        return dataclasses.replace(self, **changes)

    @property
    def relax_settings(self) -> RelaxSettings:
        """The relaxation (``phonjax.pipeline.settings.RelaxSettings``) for these settings:
        what ``phonjax.pipeline.relax`` takes."""
        return RelaxSettings(**{name: getattr(self, name) for name in RELAX_FIELDS})

    @property
    def fc_route(self):
        """How the force constants are made (``phonjax.pipeline.fc_route.FCRoute``)."""
        from phonjax.pipeline.fc_route import FCRoute

        return FCRoute(self.fc_calculator, self.random_snapshots, self.random_seed,
                       self.symfc_cutoff_A, self.symmetrize_fc, self.fc_cutoff_radius_A)

    @property
    def phonon_settings(self):
        """The kernel's physics (``phonjax.PhononSettings``) for these settings."""
        from phonjax.harmonic.properties import PhononSettings

        return PhononSettings(temperatures_K=self.temperatures_K,
                              subtract_drift=self.subtract_drift,
                              gamma_acoustic_tolerance_K=self.gamma_acoustic_tolerance_K)

    def to_dict(self) -> dict:
        """JSON-ready settings (tuples as lists)."""
        out = dataclasses.asdict(self)
        if not isinstance(out["band_path"], (str, type(None))):
            out["band_path"] = "user-given"
        if self.nac is None:
            out["nac"] = "the input's own Born charges, if any"
        elif self.nac is False:
            out["nac"] = "off"
        elif not isinstance(self.nac, str):
            out["nac"] = f"given ({self.nac.source or 'NACParams'})"
        return out
