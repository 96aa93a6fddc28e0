"""κ(T) of the (crystal, model) pairs of ``phonjax run --kappa``, after their harmonic phonons.

Each pair's relaxed unit cell (the harmonic step's; not relaxed again) goes through the κ
steps of ``pipeline.kappa`` with the κ benchmark's recipe except where ``KappaRunSettings``
says otherwise, all pairs of one model in one batched model call:

* FC3 supercell: conventional-cell multiples with every lattice vector ≥ ``fc3_min_length_A``
  (10 Å, ``phonjax fc3``'s default; 2×2×2 conventional for rocksalt and zincblende, as the
  benchmark) or ``fc3_supercell``; FC2 in the harmonic run's own supercell (≥ 20 Å), both
  from 0.03 Å displacements (phono3py's default), traditional symmetrization;
* q-mesh: ``mesh``, else phonopy's length rule with ``mesh_length_A`` (60 Å: 19×19×19 for
  Si, 18³ for NaCl, 22×22×12 for wurtzite GaN);
* Wigner transport (particle + coherence, phono3py's SMM19) or RTA, isotope scattering at
  natural abundances, tetrahedron weights averaged over degenerate bands, at
  ``temperatures_K``;
* the harmonic run's masses (its unit cell's);
* the benchmark's gate: a pair with imaginary modes on the κ mesh gets no κ (the report
  says why).

Pairs with a force-set file's own forces (model "dft") have no third-order forces: they are
reported as such. ``write`` puts kappa-mXYZ.hdf5 (phono3py's layout), kappa.csv,
kappa.json and kappa.png next to the pair's harmonic files; ``compare`` overlays the models
of one crystal (kappa_comparison.png / .csv).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

DEFAULT_TEMPERATURES_K = tuple(float(t) for t in range(100, 1001, 50))


@dataclass(frozen=True)
class KappaRunSettings:
    method: str = "wigner"
    isotope: bool = True
    temperatures_K: tuple[float, ...] = DEFAULT_TEMPERATURES_K
    mesh: tuple[int, int, int] | None = None
    mesh_length_A: float = 60.0
    fc3_min_length_A: float = 10.0
    fc3_supercell: tuple | None = None  # 3 or 9 integers relative to the unit cell

    def recipe(self):
        from phonjax.pipeline.kappa import KappaRecipe

        return KappaRecipe(relax=None, method=self.method, isotope=self.isotope,
                           temperatures_K=tuple(self.temperatures_K), masses="input")


def _matrix(values) -> np.ndarray:
    m = np.asarray(values, int)
    return np.diag(m) if m.size == 3 else m.reshape(3, 3)


def crystal_of(p, settings: KappaRunSettings):
    """The ``KappaCrystal`` of a pair whose harmonic phonons are done."""
    from phonjax.harmonic.mesh import crystal_mesh_from_length
    from phonjax.pipeline.cells import supercell_for_length
    from phonjax.pipeline.kappa import KappaCrystal

    cell = p.structure.unitcell
    pmat = np.asarray(p.cells.primitive_matrix, float)
    if settings.fc3_supercell is not None:
        smat = _matrix(settings.fc3_supercell)
    else:
        smat, _ = supercell_for_length(cell, settings.fc3_min_length_A)
    mesh = settings.mesh or crystal_mesh_from_length(settings.mesh_length_A, cell, pmat)
    return KappaCrystal(p.name, cell.to_ase(), np.asarray(smat, int),
                        np.asarray(p.cells.supercell_matrix, int), pmat,
                        tuple(int(x) for x in mesh))


def run(items, settings: KappaRunSettings, progress=lambda message: None) -> None:
    """``p.kappa`` (a ``pipeline.kappa.KappaOutcome``) for every pair whose harmonic steps
    succeeded; a model's pairs in one batched call."""
    from phonjax.pipeline import models
    from phonjax.pipeline.forces import lane_threads, lanes_or_default
    from phonjax.pipeline.kappa import KappaOutcome, kappa_of_crystals
    from phonjax.pipeline.records import REFERENCE_MODEL
    from phonjax.single import workflow

    done = [p for p in items if p.error is None and p.cells is not None]
    for p in done:
        if p.model == REFERENCE_MODEL:
            p.kappa = KappaOutcome(p.name, "failed", "force_constants",
                                   "κ needs third-order forces: give a --model (a force-set "
                                   "file holds second-order forces only)")
    for (model, device, max_atoms, lanes), group in workflow.by_model(done).items():
        crystals = []
        for p in group:
            try:
                crystals.append(crystal_of(p, settings))
            except Exception as exc:
                p.kappa = KappaOutcome(p.name, "failed", "force_constants",
                                       f"{type(exc).__name__}: {exc}")
        group = [p for p in group if p.kappa is None]
        if not group:
            continue
        progress(f"κ of {len(group)} crystal(s) with {model}: FC3 and FC2 from the model, "
                 f"{settings.method} on {', '.join('×'.join(map(str, c.mesh)) for c in crystals)}")
        try:
            adapter = models.loaded_adapter(model, device, max_atoms)
            n = lanes_or_default(device, lanes)
            with lane_threads(n):
                outs = list(kappa_of_crystals(crystals, adapter, settings.recipe(), lanes=n,
                                              plan=group[0].pair.plan))
        except Exception as exc:
            outs = [KappaOutcome(c.name, "failed", "model", f"{type(exc).__name__}: {exc}")
                    for c in crystals]
        for p, o in zip(group, outs):
            p.kappa = o


def record(p) -> dict:
    """What the κ step did for one pair (kappa.json and the terminal)."""
    o = p.kappa
    out = {"status": o.status, "stage": o.stage, "reason": o.reason,
           "n_supercells": o.n_supercells, "timings_s": o.timings_s}
    if o.gate is not None:
        out["gate"] = {"imaginary": o.gate.imaginary,
                       "gamma_acoustic_min_THz": o.gate.gamma_acoustic_min_THz,
                       "min_frequency_THz": o.gate.min_frequency_THz}
    if o.dataset is not None:
        out["fc3_supercell_matrix"] = np.asarray(o.dataset.supercell_matrix).tolist()
        out["fc2_supercell_matrix"] = np.asarray(o.dataset.phonon_supercell_matrix).tolist()
    r = o.result
    if r is not None:  # the settings and κ rows come with kappa_files.summary_json
        used = KappaRunSettings().recipe()  # what run() gives kappa_of_crystals
        out.update({"displacement_A": used.distance_A, "symmetrization": used.symmetrization,
                    "temperatures_K": r.temperatures_K.tolist(),
                    "kappa_WmK": r.kappa.tolist(), "components": "xx yy zz yz xz xy"})
        if r.kappa_coherence is not None:
            out["kappa_particle_WmK"] = r.kappa_particle.tolist()
            out["kappa_coherence_WmK"] = r.kappa_coherence.tolist()
    return out


def write(p, folder: Path, plots: bool) -> list[str]:
    """The pair's κ files in its folder (kappa.json always, the rest when κ was computed)."""
    import json

    from phonjax.anharmonic import kappa_files
    from phonjax.atomic_write import write_text

    if p.kappa is None:
        return []
    folder = Path(folder)
    if p.kappa.result is None:
        write_text(folder / "kappa.json", json.dumps(record(p), indent=1, default=float))
        return ["kappa.json"]
    return kappa_files.write_files(folder, p.kappa.result, record(p), plots)


def compare(group, folder: Path, plots: bool) -> None:
    """kappa_comparison.csv (and .png): κ̄(T) of each model of one crystal."""
    from phonjax.atomic_write import write_csv
    from phonjax.figure_files import pyplot, save_png

    done = [p for p in group if p.kappa is not None and p.kappa.result is not None]
    if len(done) < 2:
        return
    write_csv(Path(folder) / "kappa_comparison.csv",
              ["model", "T_K", "kappa_avg_WmK", "kappa_xx_WmK", "kappa_yy_WmK", "kappa_zz_WmK"],
              [[p.model, f"{t:g}", f"{k[:3].mean():.6g}", *(f"{x:.6g}" for x in k[:3])]
               for p in done for t, k in zip(p.kappa.result.temperatures_K, p.kappa.result.kappa)])
    if not plots:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for p in done:
        r = p.kappa.result
        ax.plot(r.temperatures_K, r.kappa[:, :3].mean(axis=1), "o-", ms=3, label=p.model)
    ax.set(xlabel="T (K)", ylabel="κ̄ (W/m·K)", yscale="log",
           title=f"{group[0].name}: κ̄ = (κxx+κyy+κzz)/3")
    ax.legend()
    fig.tight_layout()
    save_png(fig, Path(folder) / "kappa_comparison.png", dpi=130)


def with_defaults(**changes) -> KappaRunSettings:
    return replace(KappaRunSettings(), **{k: v for k, v in changes.items() if v is not None})
