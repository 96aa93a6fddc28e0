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
    frequencies_THz: list[np.ndarray]  # per segment (n_i, n_modes), ascending
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
                   with_eigenvectors: bool = False) -> BandStructure:
    primitive = h.system.primitive.crystal
    bp = bandpath.build_path(s.band_path if path is None else path, primitive,
                             h.cells.primitive_matrix, s.symprec)
    sampling = bandpath.sample(bp, primitive.lattice, n_points or s.band_points)
    segments = h.path_modes(sampling.qpoints, with_eigenvectors)
    return BandStructure(sampling, [f for f, _ in segments],
                         [v for _, v in segments] if with_eigenvectors else None)


@dataclass(frozen=True, eq=False)
class MeshSpectrum:
    grid: dos_module.MeshGrid
    frequencies_THz: np.ndarray  # (n_ir, n_modes)
    atom_shares: np.ndarray | None  # (n_ir, n_modes, n_atoms), degenerate modes averaged


def mesh_spectrum(h: Harmonic, s: WorkflowSettings, mesh=None, with_shares: bool = True
                  ) -> MeshSpectrum:
    """Frequencies (and atom shares, eigenvectors in bounded chunks) on phonopy's mesh;
    ``mesh``: one or three integers ≥ 1 (2.5 or True: ``SettingError``), None: the settings'."""
    from phonjax.options import mesh_numbers

    mesh = s.mesh if mesh is None else mesh_numbers("mesh", mesh)
    grid = dos_module.phonopy_mesh(h.system.primitive.crystal, mesh, s.symprec)
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
                      method: str | None = None, sigma_THz: float | None = None
                      ) -> dos_module.DensityOfStates:
    return dos_module.density_of_states(
        spectrum.frequencies_THz, spectrum.atom_shares, spectrum.grid, h.system.primitive.crystal,
        method or s.dos_method, sigma_THz if sigma_THz is not None else s.dos_sigma_THz,
        s.symprec)


def thermal_table(h: Harmonic, s: WorkflowSettings, spectrum: MeshSpectrum) -> ThermalTable:
    """F, S, Cv at the settings' temperatures from the mesh's modes as solved for the DOS
    (``execution.modes.mesh_thermal``: the kernel's sums and Γ acoustic rule, so the mesh is
    solved once); F(0) gives the zero-point energy."""
    from phonjax.execution.modes import mesh_thermal

    wanted = np.asarray(s.temperatures_K, float)
    temps = wanted if 0.0 in s.temperatures_K else np.concatenate([[0.0], wanted])
    grid = spectrum.grid
    free, entropy, cv = mesh_thermal(spectrum.frequencies_THz, grid.weights, grid.qpoints,
                                     temps, h.plan)
    first = {t: i for i, t in reversed(list(enumerate(temps.tolist())))}  # O(n_T), not n_T²
    index = np.array([first[t] for t in wanted.tolist()], dtype=int)
    zpe = float(free[first[0.0]])
    formula, z = reduced_formula(h.system.primitive.crystal.symbols)
    w = grid.weights
    modes = int(w.sum() * spectrum.frequencies_THz.shape[1])
    f = zero_gamma_acoustic(spectrum.frequencies_THz, is_gamma(grid.qpoints))
    integrated = int((w[:, None] * (f > 0)).sum())  # the thermal sums' modes
    return ThermalTable(wanted, free[index], entropy[index], cv[index], h.system.n_primitive,
                        formula, z, zpe, modes, integrated)


def instability_report(h: Harmonic, s: WorkflowSettings, band: BandStructure | None,
                       spectrum: MeshSpectrum | None) -> inst.InstabilityReport:
    primitive = h.system.primitive.crystal
    tol = s.imaginary_tolerance_THz
    sets = {}
    if band is not None:
        sets["band path"] = (band.qpoints, band.all_frequencies_THz)
    if spectrum is not None:
        sets["mesh"] = (spectrum.grid.qpoints, spectrum.frequencies_THz)
    sets["commensurate q-points"] = (np.asarray(h.system.commensurate),
                                     np.asarray(h.result.commensurate_frequencies_THz))
    mesh_label = "×".join(map(str, spectrum.grid.mesh)) if spectrum is not None else "no"
    radius = inst.near_gamma_radius(np.asarray(h.system.commensurate), primitive.lattice)
    dips = {where: _acoustic_dips(h, q, f, tol, radius) for where, (q, f) in sets.items()}
    verdict = inst.verdict(sets, tol, mesh_label, dips, radius)
    cache: dict = {}

    def vector(q, band_index):
        key = tuple(np.round(q, 10))
        if key not in cache:
            cache[key] = h.modes_at(np.asarray([q]), True)
        f, v = cache[key]
        return f[0, band_index], v[0][:, band_index]

    def shares_for(q_all):
        return lambda i, b: inst.element_shares(vector(q_all[i], b)[1], primitive)

    branches = []
    for where, (q, f) in sets.items():
        segments = band.segment_slices() if where == "band path" else None
        branches += inst.branches(where, q, f, tol, shares_for(q), segments, dips[where])
    # one modulated structure per distinct unstable mode (degenerate partners and equivalent
    # q-points give the same frequency) at the q-points a small supercell holds, worst first
    found: dict[float, tuple] = {}
    for q in _commensurable_points(h, s, band):
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
    out: list[np.ndarray] = []
    m = h.system.primitive.supercell_in_primitive
    for q in points:
        fits = inst.modulation_cell(q, h.system.n_primitive, s.modulation_max_atoms, m)
        if fits is not None and not any(np.allclose(q, o) for o in out):
            out.append(q)
    return out
