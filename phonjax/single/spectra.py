"""What a pair's force constants give: band structure, mesh spectrum and DOS, thermal table,
imaginary-mode report. One material at a time, from its ``Harmonic`` record (frequencies and
eigenvectors by its one ``execution.modes.ModeSolver``) and the workflow's settings. With a
non-analytical correction (the material's ``tables.nac``) the band path follows phonopy's rule
for q → 0 (a segment through Γ takes its direction: LO–TO splitting at Γ on the plot), the
mesh (DOS, thermal table) has none at Γ, as phonopy's mesh, and so has the mode analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phonjax.single import bandpath, dos as dos_module, instability as inst
from phonjax.single.thermal_table import ThermalTable, reduced_formula
from phonjax.harmonic.mesh import is_gamma
from phonjax.harmonic.thermal import gamma_acoustic_modes, zero_gamma_acoustic
from phonjax.pipeline.records import Harmonic
from phonjax.single.settings import WorkflowSettings

EIGENVECTOR_CHUNK_BYTES = 1e8  # eigenvectors held at once while projecting the mesh
MAX_MODULATIONS = 12  # modulated structures written per pair, most unstable first


@dataclass(frozen=True, eq=False)
class BandStructure:
    sampling: bandpath.PathSampling
    frequencies_THz: list[np.ndarray]  # per segment (n_i, n_modes), ascending (or connected)
    eigenvectors: list[np.ndarray] | None  # per segment (n_i, n_modes, n_modes), columns

    @property
    def path(self) -> bandpath.BandPath:
        return self.sampling.path

    @property
    def qpoints(self) -> np.ndarray:
        return self.sampling.all_qpoints

    @property
    def distances(self) -> np.ndarray:
        return np.concatenate(self.sampling.distances)

    @property
    def all_frequencies_THz(self) -> np.ndarray:
        return np.concatenate(self.frequencies_THz)

    def segment_slices(self) -> list[tuple[str, slice]]:
        out, start = [], 0
        for seg, q in zip(self.path.segments, self.sampling.qpoints):
            out.append((f"{seg.start}-{seg.end}", slice(start, start + len(q))))
            start += len(q)
        return out


def band_structure(h: Harmonic, s: WorkflowSettings, path=None, n_points: int | None = None,
                   with_eigenvectors: bool = False, *, per_segment: bool | None = None,
                   band_connection: bool | None = None) -> BandStructure:
    """Bands along ``path`` (None: the settings'), ``n_points`` at constant spacing or, with
    ``per_segment``, on every segment (phonopy's BAND_POINTS); ``band_connection``: branches
    ordered by eigenvector overlap (``phonon.band_connection``, phonopy's
    ``is_band_connection``). None: the settings'."""
    from phonjax.phonon.band_connection import connected_band_structure

    primitive = h.system.primitive.crystal
    bp = bandpath.build_path(s.band_path if path is None else path, primitive,
                             h.cells.primitive_matrix, s.symprec)
    per_segment = s.band_per_segment if per_segment is None else per_segment
    connect = s.band_connection if band_connection is None else band_connection
    sampling = bandpath.sample(bp, primitive.lattice, n_points or s.band_points, per_segment)
    segments = h.path_modes(sampling.qpoints, with_eigenvectors or connect)
    band = BandStructure(sampling, [f for f, _ in segments],
                         [v for _, v in segments] if with_eigenvectors or connect else None)
    if connect:
        band = connected_band_structure(band)
        if not with_eigenvectors:
            band = BandStructure(band.sampling, band.frequencies_THz, None)
    return band


def band_with_velocities(h: Harmonic, s: WorkflowSettings, path=None,
                         n_points: int | None = None, with_eigenvectors: bool = False, *,
                         per_segment: bool | None = None, band_connection: bool | None = None
                         ) -> tuple[BandStructure, list]:
    """``band_structure`` and phonopy's group velocities at its points (per segment,
    ``phonon.group_velocity.GroupVelocities``), in the band's order: with band connection
    permuted as the branches are, as phonopy's ``run_band_structure(...,
    with_group_velocities=True, is_band_connection=True)``."""
    from phonjax.phonon.band_connection import connect_bands
    from phonjax.phonon.group_velocity import GroupVelocities, band_group_velocities

    connect = s.band_connection if band_connection is None else band_connection
    raw = band_structure(h, s, path, n_points, with_eigenvectors or connect,
                         per_segment=per_segment, band_connection=False)
    velocities = band_group_velocities(h, raw, symprec=s.symprec)
    if not connect:
        return raw if with_eigenvectors else BandStructure(raw.sampling, raw.frequencies_THz,
                                                           None), velocities
    c = connect_bands(raw.frequencies_THz, raw.eigenvectors)
    moved = [GroupVelocities(v.qpoints, np.take_along_axis(v.frequencies_THz, o, axis=1),
                             np.take_along_axis(v.velocities_THz_A, o[:, :, None], axis=1))
             for v, o in zip(velocities, c.order)]
    return BandStructure(raw.sampling, c.frequencies_THz,
                         c.eigenvectors if with_eigenvectors else None), moved


@dataclass(frozen=True, eq=False)
class MeshSpectrum:
    grid: dos_module.MeshGrid
    frequencies_THz: np.ndarray  # (n_ir, n_modes)
    atom_shares: np.ndarray | None  # (n_ir, n_modes, n_atoms), degenerate modes averaged


def mesh_grid(h: Harmonic, s: WorkflowSettings, mesh=None, length_A: float | None = None,
              gamma_center: bool | None = None) -> dos_module.MeshGrid:
    """phonopy's mesh for the pair (``dos.phonopy_mesh``): ``mesh`` one or three integers ≥ 1
    (2.5 or True: ``SettingError``), or ``length_A`` (phonopy's length input); neither: the
    settings' (``mesh_length_A`` if set, else ``mesh``); ``gamma_center`` None: the settings'."""
    from phonjax.options import SettingError, mesh_numbers

    if mesh is not None and length_A is not None:
        raise SettingError("give the mesh as numbers or as a length, not both")
    if mesh is None and length_A is None:
        mesh, length_A = (s.mesh, None) if s.mesh_length_A is None else (None, s.mesh_length_A)
    elif mesh is not None:
        mesh = mesh_numbers("mesh", mesh)
    if length_A is not None and not (isinstance(length_A, (int, float)) and not isinstance(
            length_A, bool) and np.isfinite(length_A) and length_A > 0):
        raise SettingError(f"mesh length must be a positive number of Å, got {length_A!r}")
    return dos_module.phonopy_mesh(h.system.primitive.crystal, mesh, s.symprec,
                                   gamma_center=s.gamma_center if gamma_center is None
                                   else bool(gamma_center), length_A=length_A)


def mesh_spectrum(h: Harmonic, s: WorkflowSettings, mesh=None, with_shares: bool = True, *,
                  length_A: float | None = None, gamma_center: bool | None = None
                  ) -> MeshSpectrum:
    """Frequencies (and atom shares, eigenvectors in bounded chunks) on phonopy's mesh
    (``mesh_grid``: numbers or a length, the settings' by default)."""
    grid = mesh_grid(h, s, mesh, length_A, gamma_center)
    if not with_shares:
        return MeshSpectrum(grid, h.modes_at(grid.qpoints)[0], None)
    n_modes = 3 * h.system.n_primitive
    chunk = max(1, int(EIGENVECTOR_CHUNK_BYTES // (16 * n_modes * n_modes)))
    freqs, shares = [], []
    for start in range(0, len(grid.qpoints), chunk):
        f, v = h.modes_at(grid.qpoints[start:start + chunk], True)
        freqs.append(f)
        shares.append(dos_module.atom_shares(v, f))
    return MeshSpectrum(grid, np.concatenate(freqs), np.concatenate(shares))


def density_of_states(h: Harmonic, s: WorkflowSettings, spectrum: MeshSpectrum,
                      method: str | None = None, sigma_THz: float | None = None, *,
                      freq_min_THz: float | None = None, freq_max_THz: float | None = None,
                      freq_pitch_THz: float | None = None) -> dos_module.DensityOfStates:
    """DOS and PDOS of the mesh; each option None: the settings' (``dos_*``). A σ given
    without a method means Gaussian smearing, as phonopy's ``run_total_dos(sigma=)``."""
    def pick(given, setting):
        return setting if given is None else given

    sigma = pick(sigma_THz, s.dos_sigma_THz)
    if method is None:
        method = "gaussian" if sigma_THz is not None else s.dos_method
    return dos_module.density_of_states(
        spectrum.frequencies_THz, spectrum.atom_shares, spectrum.grid, h.system.primitive.crystal,
        method, sigma, s.symprec,
        freq_min_THz=pick(freq_min_THz, s.dos_freq_min_THz),
        freq_max_THz=pick(freq_max_THz, s.dos_freq_max_THz),
        freq_pitch_THz=pick(freq_pitch_THz, s.dos_freq_pitch_THz))


def thermal_table(h: Harmonic, s: WorkflowSettings, spectrum: MeshSpectrum,
                  cutoff_frequency_THz: float | None = None, classical: bool | None = None
                  ) -> ThermalTable:
    """F, S, Cv at the settings' temperatures from the mesh's modes as solved for the DOS
    (``execution.modes.mesh_thermal``: the kernel's sums and Γ acoustic rule, so the mesh is
    solved once); F(0) gives the zero-point energy. ``cutoff_frequency_THz`` (None: the
    settings'): phonopy's ``cutoff_frequency``, the sums take the modes above it only; the
    zero-point energy keeps every ν > 0, as phonopy's. ``classical`` (None: the settings'):
    phonopy's ``classical=True`` statistics (``harmonic.classical``; no zero-point energy).
    Γ acoustic frequencies above 0.1 THz
    (force constants that break translational invariance) raise phonopy's warning,
    ``harmonic.thermal.GammaAcousticWarning``."""
    import warnings

    from phonjax.execution.modes import mesh_thermal
    from phonjax.harmonic.thermal import GammaAcousticWarning, large_gamma_acoustic

    cutoff = s.cutoff_frequency_THz if cutoff_frequency_THz is None else float(
        cutoff_frequency_THz)
    if not (np.isfinite(cutoff) and cutoff >= 0):
        from phonjax.options import SettingError

        raise SettingError(f"cutoff frequency must be a finite number ≥ 0 THz, got {cutoff!r}")
    wanted = np.asarray(s.temperatures_K, float)
    temps = wanted if 0.0 in s.temperatures_K else np.concatenate([[0.0], wanted])
    grid = spectrum.grid
    gamma = is_gamma(grid.qpoints)
    large = large_gamma_acoustic(spectrum.frequencies_THz, gamma)
    if large.size:
        warnings.warn(f"the acoustic frequencies at Γ are {', '.join(f'{x:.3e}' for x in large)} "
                      "THz, far from zero: the force constants break translational invariance",
                      GammaAcousticWarning, stacklevel=2)
    f = zero_gamma_acoustic(spectrum.frequencies_THz, gamma)
    formula, z = reduced_formula(h.system.primitive.crystal.symbols)
    if s.classical if classical is None else classical:
        from phonjax.harmonic.classical import classical_thermal_properties

        c = classical_thermal_properties(spectrum.frequencies_THz, grid.weights, wanted,
                                         grid.qpoints, cutoff_frequency_THz=cutoff)
        return ThermalTable(wanted, c.free_energy_kJmol, c.entropy_JKmol,
                            c.heat_capacity_JKmol, h.system.n_primitive, formula, z, 0.0,
                            c.n_modes, c.n_integrated_modes, cutoff, classical=True)
    summed = np.where(f > cutoff, f, 0.0) if cutoff > 0 else spectrum.frequencies_THz
    free, entropy, cv = mesh_thermal(summed, grid.weights, grid.qpoints, temps, h.plan)
    first = {t: i for i, t in reversed(list(enumerate(temps.tolist())))}  # O(n_T), not n_T²
    index = np.array([first[t] for t in wanted.tolist()], dtype=int)
    zpe = float(free[first[0.0]]) if cutoff == 0 else float(
        mesh_thermal(f, grid.weights, grid.qpoints, np.zeros(1), h.plan)[0][0])
    w = grid.weights
    modes = int(w.sum() * spectrum.frequencies_THz.shape[1])
    integrated = int((w[:, None] * (f > cutoff)).sum())  # the thermal sums' modes
    return ThermalTable(wanted, free[index], entropy[index], cv[index], h.system.n_primitive,
                        formula, z, zpe, modes, integrated, cutoff)


def instability_report(h: Harmonic, s: WorkflowSettings, band: BandStructure | None,
                       spectrum: MeshSpectrum | None) -> inst.InstabilityReport:
    primitive = h.system.primitive.crystal
    tol = s.imaginary_tolerance_THz
    sets = {}
    if band is not None:
        sets["band path"] = (band.qpoints, np.sort(band.all_frequencies_THz, axis=1))
    if spectrum is not None:
        sets["mesh"] = (spectrum.grid.qpoints, spectrum.frequencies_THz)
    sets["commensurate q-points"] = (np.asarray(h.system.commensurate),
                                     np.asarray(h.result.commensurate_frequencies_THz))
    mesh_label = "×".join(map(str, spectrum.grid.mesh)) if spectrum is not None else "no"
    radius = inst.near_gamma_radius(np.asarray(h.system.commensurate), primitive.lattice)
    dips = {where: _acoustic_dips(h, q, f, tol, radius) for where, (q, f) in sets.items()}
    verdict = inst.verdict(sets, tol, mesh_label, dips, radius)
    cache: dict = {}

    def key_of(q):
        return tuple(np.round(q, 10))

    def vector(q, band_index):
        key = key_of(q)
        if key not in cache:
            cache[key] = h.modes_at(np.asarray([q]), True)
        f, v = cache[key]
        return f[0, band_index], v[0][:, band_index]

    def prefetch(points):
        """Eigenvectors of the points with a mode below −tol (+ a margin for eigvalsh's last
        bits), in one batched call instead of one call per point."""
        points = [q for q in points if key_of(q) not in cache]
        if not points:
            return
        f, _ = h.modes_at(np.asarray(points), False)
        wanted = {key_of(q): q for q, row in zip(points, f) if row.min() < -tol + 1e-6}
        if wanted:
            f, v = h.modes_at(np.asarray(list(wanted.values())), True)
            for i, key in enumerate(wanted):
                cache[key] = (f[i:i + 1], v[i:i + 1])

    def shares_for(q_all):
        return lambda i, b: inst.element_shares(vector(q_all[i], b)[1], primitive)

    branches = []
    for where, (q, f) in sets.items():
        segments = band.segment_slices() if where == "band path" else None
        branches += inst.branches(where, q, f, tol, shares_for(q), segments, dips[where])
    # one modulated structure per distinct unstable mode (degenerate partners and equivalent
    # q-points give the same frequency) at the q-points a small supercell holds, worst first
    found: dict[float, tuple] = {}
    points = _commensurable_points(h, s, band)
    prefetch(points)
    for q in points:
        if key_of(q) not in cache:
            continue  # no mode below −tol there (prefetch's frequencies)
        for b in range(3 * h.system.n_primitive):
            f_b, _ = vector(q, b)
            if f_b < -tol and not _gamma_acoustic(q, b, cache):
                found.setdefault(round(float(f_b), 4), (q, b, f_b))
    modulations, skipped = [], []
    for q, b, f_b in sorted(found.values(), key=lambda x: x[2])[:MAX_MODULATIONS]:
        m = inst.modulated(primitive, q, vector(q, b)[1], f_b, b, s.modulation_amplitude_A,
                           s.modulation_max_atoms, h.system.primitive.supercell_in_primitive)
        if m is not None:
            modulations.append(m)
    lowest_modulated = min((m.frequency_THz for m in modulations), default=np.inf)
    if (not verdict.stable and not verdict.acoustic_dip_only
            and verdict.min_frequency_THz < lowest_modulated - tol):
        skipped.append(f"the lowest mode ({verdict.min_frequency_THz:.3f} THz at "
                       f"{verdict.min_where}) lies at a q-point that no supercell of at most "
                       f"{s.modulation_max_atoms} atoms holds")
    return inst.InstabilityReport(verdict, branches, modulations, skipped)


def _acoustic_dips(h: Harmonic, q: np.ndarray, f: np.ndarray, tolerance_THz: float,
                   radius_per_A: float) -> np.ndarray:
    """(n_q, n_modes) mask of the near-Γ acoustic dips of one q-set (``inst.ACOUSTIC_DIP_RULE``):
    the candidates by band, |q| and |ν|, then their eigenvectors' acoustic character."""
    primitive = h.system.primitive.crystal
    candidates = inst.dip_candidates(q, f, tolerance_THz, primitive.lattice, radius_per_A)
    rows = np.flatnonzero(candidates.any(axis=1))
    character = np.zeros(candidates.shape)
    if len(rows):
        _, vectors = h.modes_at(np.asarray(q)[rows], True)
        character[rows] = inst.acoustic_character(vectors, primitive.masses)
    return inst.acoustic_dips(candidates, character)


def _gamma_acoustic(q, band_index: int, cache: dict) -> bool:
    """Whether mode ``band_index`` at q is one of Γ's three acoustic modes (smallest |ν|,
    ``thermal.gamma_acoustic_modes``)."""
    f = cache[tuple(np.round(q, 10))][0][:1]
    return bool(gamma_acoustic_modes(f, is_gamma(np.asarray(q)[None], 1e-8))[0, band_index])


def _commensurable_points(h: Harmonic, s: WorkflowSettings, band: BandStructure | None) -> list[np.ndarray]:
    """Labelled path points and commensurate q-points: the q a small supercell can hold."""
    points = [np.asarray(q, float) for q in np.asarray(h.system.commensurate)]
    if band is not None:
        for seg in band.path.segments:
            points += [seg.q_start, seg.q_end]
    m = h.system.primitive.supercell_in_primitive
    fitting = [q for q in points
               if inst.modulation_cell(q, h.system.n_primitive, s.modulation_max_atoms, m)
               is not None]
    if not fitting:
        return []
    # the first of each group of equal points (np.allclose's rule), all pairs at once
    x = np.asarray(fitting)
    close = (np.abs(x[:, None, :] - x[None, :, :]) <= 1e-8 + 1e-5 * np.abs(x[None, :, :])).all(-1)
    out: list[np.ndarray] = []
    kept = np.zeros(len(x), bool)
    for i in range(len(x)):
        if not (close[i] & kept).any():
            kept[i] = True
            out.append(fitting[i])
    return out
