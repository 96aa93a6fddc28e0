"""Thermal expansion of the (crystal, model) pairs of ``phonjax run --qha``: the quasi-harmonic
approximation from the model, the volumes batched.

For each pair whose harmonic phonons are done, its relaxed unit cell is scaled isotropically to
``volumes`` volumes V₀·(1 + x), x evenly spaced in [−``strain``, +``strain``] (volume strain,
V₀ the relaxed volume), and then, all volumes of all pairs of one model together:

* one batched relaxation at fixed volume (FIRE on FrechetCellFilter with ``constant_volume``,
  FixSymmetry; the settings' fmax and steps), which gives each volume's energy U(V) (eV per
  primitive cell; with ``relax`` off, no relaxation: the scaled cells' energies);
* the harmonic phonons of every volume in the pair's own supercell and primitive matrices (one
  supercell choice for all volumes, as atomate2 does): one batched model call for the
  displaced supercells of all volumes, one kernel call; F, S, Cv on the pair's mesh;
* the stability verdict of every volume (``single.instability``: path-free, on the mesh and
  the commensurate q-points); a volume with imaginary modes is *excluded* from the fit and
  named with its lowest frequency, and the QHA is *refused* (with the reason) when fewer than
  5 stable volumes remain (phonopy's minimum);
* ``phonjax.qha.core.quasi_harmonic``: phonopy 4.10's QHA (``PhonopyQHA``) on the stable
  volumes, with ``eos``, ``pressure_GPa`` and ``t_max_K``.

Volumes and energies are per primitive cell, as the thermal properties (per mole of
primitive cells). ``write`` puts phonopy-qha's inputs (``e-v.dat``, ``thermal_properties.yaml-XX``:
``phonopy-qha`` reruns the fit from them) and outputs (``phonjax.qha.files``), ``qha.png`` and
``qha.json`` into ``qha/`` next to the pair's harmonic files; ``compare`` overlays V(T) and α(T)
of the models of one crystal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

MIN_STABLE_VOLUMES = 5  # phonopy's minimum (the degree-4 S(V) and Cv(V) fits)


@dataclass(frozen=True)
class QHARunSettings:
    volumes: int = 11  # phonopy's example and matcalc's default
    strain: float = 0.05  # volume strain: V₀(1 ± strain) at the ends
    eos: str = "vinet"
    pressure_GPa: float | None = None
    t_max_K: float | None = None  # phonopy's rule (``phonjax.qha.core``); None: every T

    def __post_init__(self):
        from phonjax.qha.eos import check_eos_name

        n, x = self.volumes, self.strain
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < MIN_STABLE_VOLUMES:
            raise ValueError(f"QHA volumes must be an integer ≥ {MIN_STABLE_VOLUMES}, got {n!r}")
        if not (isinstance(x, (int, float)) and np.isfinite(x) and 0 < x < 0.5):
            raise ValueError(f"QHA strain must be a volume fraction in (0, 0.5), got {x!r}")
        check_eos_name(self.eos)

    @property
    def fractions(self) -> np.ndarray:
        """(volumes,) V/V₀ of the volumes, ascending."""
        return 1.0 + np.linspace(-self.strain, self.strain, self.volumes)


@dataclass(frozen=True, eq=False)
class VolumePoint:
    """One volume of a pair: what the fit takes from it, and whether it was stable."""

    fraction: float  # V/V₀
    volume_A3: float  # per primitive cell
    energy_eV: float  # per primitive cell
    thermal: object  # single.thermal_table.ThermalTable
    stable: bool
    min_frequency_THz: float
    min_where: str


@dataclass(frozen=True, eq=False)
class QHAOutcome:
    name: str
    status: str  # "done", "refused" or "failed"
    reason: str = ""
    points: tuple = ()  # VolumePoint per volume, ascending
    result: object | None = None  # phonjax.qha.core.QHAResult over the stable volumes
    settings: QHARunSettings | None = None

    @property
    def excluded(self) -> list[VolumePoint]:
        return [v for v in self.points if not v.stable]

    @property
    def convex_until_K(self) -> float | None:
        """The highest temperature up to which the fitted B_T(T) > 0 (``qha.core.
        trusted_until_K``: above it F(V) has no minimum worth the name); None without a
        result or from the first temperature on."""
        from phonjax.qha.core import trusted_until_K

        return None if self.result is None else trusted_until_K(self.result)[1]

    @property
    def inside_until_K(self) -> float | None:
        """The highest temperature up to which V(T) stays inside the fitted volumes (above it
        an extrapolation of the EOS fits); None without a result or from the first on."""
        from phonjax.qha.core import trusted_until_K

        return None if self.result is None else trusted_until_K(self.result)[0]


def scaled(crystal, fraction: float):
    """``crystal`` (a ``Crystal``) with its lattice scaled isotropically to ``fraction`` of its
    volume, fractional positions kept."""
    from phonjax.structure.crystal import Crystal

    return Crystal(np.asarray(crystal.lattice) * fraction ** (1.0 / 3.0), crystal.frac_positions,
                   crystal.numbers, crystal.masses)


def _volume_settings(p):
    """The pair's settings for its volumes: no relaxation or snapping (done here), its own
    supercell and primitive matrices, none of phonopy's optional outputs."""
    s = p.settings
    return s.replace(relax=False, symmetrize_tolerance_A=None,
                     supercell_matrix=tuple(map(tuple, np.asarray(p.cells.supercell_matrix,
                                                                  int).tolist())),
                     primitive_matrix=tuple(map(tuple, np.asarray(p.cells.primitive_matrix,
                                                                  float).tolist())),
                     group_velocities=False, thermal_displacements=False, tdispmat_cif_K=None,
                     irreps_q=None, modulation=None, band_connection=False)


def _relaxed_volumes(group, settings: QHARunSettings, progress) -> list[list]:
    """Per pair, per volume: (Crystal at that volume, energy eV per unit cell) — one batched
    fixed-volume relaxation (or one batched energy call with relaxation off) for the group."""
    from phonjax.pipeline import models
    from phonjax.pipeline.forces import lane_threads, lanes_or_default
    from phonjax.pipeline.relax import relax_many
    from phonjax.structure.crystal import Crystal

    p0 = group[0]
    cells = [[scaled(p.unitcell, f) for f in settings.fractions] for p in group]
    atoms = [c.to_ase() for row in cells for c in row]
    adapter = models.loaded_adapter(p0.model, p0.device, p0.max_atoms)
    n = lanes_or_default(p0.device, p0.lanes)
    if p0.settings.relax:
        progress(f"QHA: {len(atoms)} volume(s) relaxed at fixed volume with {p0.model}")
        with lane_threads(n):
            results = relax_many(atoms, adapter, p0.settings.relax_settings, n,
                                 constant_volume=True)
        out = []
        for r, a in zip(results, atoms):
            if not r.ok:
                out.append(RuntimeError(f"relaxation at V = {a.get_volume():.3f} Å³: {r.reason}"))
            else:
                out.append((Crystal(r.atoms.cell.array, r.atoms.get_scaled_positions(),
                                    r.atoms.numbers, a.get_masses()),
                            r.energy_eV_per_atom * len(a)))
    else:
        progress(f"QHA: energies of {len(atoms)} volume(s) with {p0.model} (relaxation off)")
        energies = [r.energy for r in adapter.evaluate_atoms(atoms, compute_stress=False)]
        out = [(c, e) for c, e in zip([c for row in cells for c in row], energies)]
    k = len(settings.fractions)
    return [out[i * k:(i + 1) * k] for i in range(len(group))]


def run(items, settings: QHARunSettings, progress=lambda message: None) -> None:
    """``p.qha`` (a ``QHAOutcome``) for every pair whose harmonic steps succeeded; the volumes
    of a model's pairs relaxed in one batched relaxation and their phonons in one batched run."""
    from phonjax.pipeline.records import REFERENCE_MODEL
    from phonjax.single import workflow
    from phonjax.single.phonons import Phonons

    done = [p for p in items if p.error is None and p.harmonic is not None]
    for p in done:
        p.qha = None  # a new run replaces an earlier one
        if p.model == REFERENCE_MODEL:
            p.qha = QHAOutcome(p.name, "failed", "the QHA needs a model for the other volumes "
                               "(a force-set file holds one volume); phonjax qha takes "
                               "phonopy-qha's files", settings=settings)
    for _, group in workflow.by_model([p for p in done if p.qha is None]).items():
        try:
            volumes = _relaxed_volumes(group, settings, progress)
        except Exception as exc:
            for p in group:
                p.qha = QHAOutcome(p.name, "failed", f"{type(exc).__name__}: {exc}",
                                   settings=settings)
            continue
        pairs, owners = [], []
        for p, rows in zip(group, volumes):
            bad = [r for r in rows if isinstance(r, Exception)]
            if bad:
                p.qha = QHAOutcome(p.name, "failed", str(bad[0]), settings=settings)
                continue
            mine = Phonons.from_structures(
                [crystal for crystal, _ in rows], [p.model], settings=_volume_settings(p),
                device=p.device, max_atoms=p.max_atoms, lanes=p.lanes, plan=p.plan,
                names=[f"{p.name}@V{i + 1:02d}" for i in range(len(rows))])
            pairs += mine
            owners += [(p, i) for i in range(len(mine))]
        if not pairs:
            continue
        progress(f"QHA: harmonic phonons of {len(pairs)} volume(s) with {group[0].model}")
        workflow.run(pairs, progress, spectra=False)
        for q in pairs:
            if q.error is None:
                try:
                    q.run_mesh(with_projections=False)
                    q.run_thermal_properties()
                    q.find_imaginary_modes()
                except Exception as exc:  # noqa: BLE001 - recorded for the owner
                    q.error = ("spectra", f"{type(exc).__name__}: {exc}")
        for p, rows in zip(group, volumes):
            if p.qha is not None:
                continue
            mine = [q for q, (o, _) in zip(pairs, owners) if o is p]
            p.qha = _fit(p, rows, mine, settings)


def _fit(p, rows, volume_pairs, settings: QHARunSettings) -> QHAOutcome:
    """The pair's ``QHAOutcome`` from its volumes' phonons (module docstring: the rule for
    unstable volumes)."""
    from phonjax.qha.core import QHAInputs, quasi_harmonic

    failed = [q for q in volume_pairs if q.error is not None]
    if failed:
        q = failed[0]
        return QHAOutcome(p.name, "failed", f"{q.name}: {q.error[0]} failed: {q.error[1]}",
                          settings=settings)
    share = p.system.n_primitive / p.unitcell.n_atoms  # unit cell → primitive cell
    points = []
    for f, (crystal, energy), q in zip(settings.fractions, rows, volume_pairs):
        v = q.instability.verdict
        points.append(VolumePoint(float(f), float(abs(np.linalg.det(crystal.lattice))) * share,
                                  float(energy) * share, q.thermal, bool(v.stable),
                                  float(v.min_frequency_THz), v.min_where))
    stable = [v for v in points if v.stable]
    if len(stable) < MIN_STABLE_VOLUMES:
        names = ", ".join(f"V/V₀ = {v.fraction:.3f} ({v.min_frequency_THz:.3f} THz)"
                          for v in points if not v.stable)
        return QHAOutcome(p.name, "refused", f"{len(stable)} of {len(points)} volumes stable, "
                          f"{MIN_STABLE_VOLUMES} needed; unstable: {names}", tuple(points),
                          settings=settings)
    th = stable[0].thermal
    inputs = QHAInputs(np.array([v.volume_A3 for v in stable]),
                       np.array([v.energy_eV for v in stable]), np.asarray(th.temperatures_K),
                       np.array([v.thermal.free_energy_kJmol for v in stable]).T,
                       np.array([v.thermal.entropy_JKmol for v in stable]).T,
                       np.array([v.thermal.heat_capacity_JKmol for v in stable]).T)
    try:
        result = quasi_harmonic(inputs, settings.eos, settings.pressure_GPa, settings.t_max_K)
    except ValueError as exc:
        return QHAOutcome(p.name, "failed", f"QHA fit: {exc}", tuple(points), settings=settings)
    return QHAOutcome(p.name, "done", "", tuple(points), result, settings)


def record(p) -> dict:
    """What the QHA step did for one pair (qha.json and the terminal)."""
    o = p.qha
    out = {"status": o.status, "reason": o.reason or None,
           "settings": None if o.settings is None else {
               "volumes": o.settings.volumes, "strain": o.settings.strain, "eos": o.settings.eos,
               "pressure_GPa": o.settings.pressure_GPa, "t_max_K": o.settings.t_max_K},
           "rule": ("isotropic volumes V0(1+x), x in [-strain, strain]; fixed-volume relaxation; "
                    "one supercell for all volumes; volumes with imaginary modes excluded, "
                    f"refused below {MIN_STABLE_VOLUMES} stable volumes; phonopy 4.10's QHA"),
           "volumes": [{"V_over_V0": v.fraction, "volume_A3": v.volume_A3,
                        "energy_eV": v.energy_eV, "stable": v.stable,
                        "min_frequency_THz": v.min_frequency_THz, "min_where": v.min_where,
                        "used": v.stable} for v in o.points]}
    r = o.result
    if r is not None:
        out["V_inside_fitted_volumes_until_K"] = o.inside_until_K
        out["bulk_modulus_positive_until_K"] = o.convex_until_K
        i = int(np.argmin(np.abs(r.temperatures_K - 300.0)))
        out["at_T_K"] = float(r.temperatures_K[i])
        out["volume_A3"] = float(r.equilibrium_volumes_A3[i])
        out["thermal_expansion_per_K"] = float(r.thermal_expansion_per_K[i])
        out["bulk_modulus_GPa"] = float(r.bulk_modulus_GPa[i])
        out["gibbs_eV"] = float(r.gibbs_eV[i])
    return out


def write(p, folder: Path, plots: bool) -> list[str]:
    """qha/ in the pair's folder: qha.json always; with a fit, phonopy-qha's inputs and files
    and qha.png."""
    import json

    from phonjax.atomic_write import write_text

    if getattr(p, "qha", None) is None:
        return []
    folder = Path(folder) / "qha"
    folder.mkdir(parents=True, exist_ok=True)
    out = [str(folder / "qha.json")]
    write_text(folder / "qha.json", json.dumps(record(p), indent=1, default=float))
    o = p.qha
    if o.points:
        out += _write_inputs(o, folder)
    if o.result is not None:
        from phonjax.qha.files import write_qha_files

        out += [str(f) for f in write_qha_files(o.result, folder)]
        if plots:
            from phonjax.qha.plots import plot_qha

            out.append(str(plot_qha(o.result, folder / "qha.png")))
    return out


def _write_inputs(o: QHAOutcome, folder: Path) -> list[str]:
    """phonopy-qha's inputs of the stable volumes (e-v.dat, thermal_properties.yaml-XX), so
    that ``phonopy-qha e-v.dat thermal_properties.yaml-*`` reruns the fit."""
    from phonjax.atomic_write import write_text
    from phonjax.single.writers import thermal_yaml

    stable = [v for v in o.points if v.stable]
    lines = ["#   cell volume   energy of cell other than phonon"]
    lines += [f"{v.volume_A3:20.8f} {v.energy_eV:20.8f}" for v in stable]
    write_text(folder / "e-v.dat", "\n".join(lines) + "\n")
    out = [str(folder / "e-v.dat")]
    for i, v in enumerate(stable):
        path = folder / f"thermal_properties.yaml-{i:02d}"
        write_text(path, thermal_yaml(v.thermal, v.volume_A3))
        out.append(str(path))
    return out


def compare(group, folder: Path, plots: bool) -> None:
    """qha_comparison.csv (and .png): V(T)/V(0) and α(T) of each model of one crystal."""
    from phonjax.atomic_write import write_csv
    from phonjax.figure_files import pyplot, save_png

    done = [p for p in group if getattr(p, "qha", None) is not None and p.qha.result is not None]
    if len(done) < 2:
        return
    write_csv(Path(folder) / "qha_comparison.csv",
              ["model", "T_K", "volume_A3", "thermal_expansion_per_K", "bulk_modulus_GPa"],
              [[p.model, *(f"{x:.8g}" for x in row)] for p in done
               for row in zip(p.qha.result.temperatures_K, p.qha.result.equilibrium_volumes_A3,
                              p.qha.result.thermal_expansion_per_K,
                              p.qha.result.bulk_modulus_GPa)])
    if not plots:
        return
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.8))
    for p in done:  # solid while V(T) is inside the fitted volumes and B_T > 0, dashed beyond
        r = p.qha.result
        t = r.temperatures_K
        trusted = min(-np.inf if x is None else x  # None: untrusted from the first T on
                      for x in (p.qha.inside_until_K, p.qha.convex_until_K))
        n = max(1, int(np.searchsorted(t, trusted, side="right")))
        for ax, y in ((a, r.equilibrium_volumes_A3 / r.equilibrium_volumes_A3[0]),
                      (b, r.thermal_expansion_per_K * 1e6)):
            line, = ax.plot(t[:n], y[:n], label=p.model)
            if n < len(t):
                ax.plot(t[n - 1:], y[n - 1:], "--", color=line.get_color())
    a.set(xlabel="T (K)", ylabel="V(T) / V(0 K)",
          title=f"{group[0].name}: volume (dashed: extrapolated or B_T ≤ 0)")
    b.set(xlabel="T (K)", ylabel="α (10⁻⁶ /K, volumetric)", title="thermal expansion")
    a.legend()
    fig.tight_layout()
    save_png(fig, Path(folder) / "qha_comparison.png", dpi=130)


def with_defaults(**changes) -> QHARunSettings:
    return replace(QHARunSettings(), **{k: v for k, v in changes.items() if v is not None})
