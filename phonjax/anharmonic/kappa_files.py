"""κ results as files: phono3py's ``kappa-m{mesh}.hdf5``, κ(T) as CSV and JSON, and plots.

``kappa-mXYZ.hdf5`` carries phono3py's dataset names, shapes and units (``kappa`` (n_T, 6)
W/m·K; ``mode_kappa`` (n_T, n_q, n_b, 6); ``gamma`` (n_T, n_q, n_b) THz; ``gamma_isotope``;
``group_velocity``; ``gv_by_gv``; ``heat_capacity`` eV/K; ``frequency``; ``qpoint``;
``weight``; ``grid_point`` (BZ indices); ``mesh``; ``temperature``;
``kappa_unit_conversion``; ``sigma``/``boundary_mfp`` where used; Wigner adds
``kappa_intra``/``kappa_inter`` as phono3py's SMM19), so ``phono3py-kaccum`` and
``phono3py-kdeplot`` read it next to a phono3py_disp.yaml of the same crystal.

Mode quantities for plots: lifetime τ = 1/(4π Γ_eff) ps, mean free path |v|·τ (Å → nm).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

VOIGT_NAMES = ("xx", "yy", "zz", "yz", "xz", "xy")


def hdf5_name(mesh, sigma_THz: float | None = None) -> str:
    """phono3py's file name: kappa-m{m1}{m2}{m3}[-s{σ}].hdf5."""
    name = "kappa-m" + "".join(str(int(m)) for m in mesh)
    if sigma_THz is not None:
        name += f"-s{sigma_THz:g}"
    return name + ".hdf5"


def write_kappa_hdf5(path: str | os.PathLike, result) -> Path:
    """``result`` (``anharmonic.kappa.KappaResult``) as phono3py's kappa hdf5 at ``path``."""
    import h5py

    from phonjax import __version__

    path = Path(path)
    s = result.settings
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=np.bytes_(f"phonjax {__version__}"))
        f.create_dataset("temperature", data=result.temperatures_K)
        f.create_dataset("mesh", data=np.asarray(result.mesh, dtype="int64"))
        f.create_dataset("frequency", data=result.frequency, compression="gzip")
        f.create_dataset("group_velocity", data=result.group_velocity, compression="gzip")
        f.create_dataset("gv_by_gv", data=result.gv_by_gv)
        f.create_dataset("heat_capacity", data=result.heat_capacity, compression="gzip")
        f.create_dataset("kappa", data=result.kappa)
        f.create_dataset("mode_kappa", data=result.mode_kappa, compression="gzip")
        if result.kappa_coherence is not None:
            f.create_dataset("kappa_intra", data=result.kappa_particle)
            f.create_dataset("kappa_inter", data=result.kappa_coherence)
        f.create_dataset("gamma", data=result.gamma, compression="gzip")
        if result.gamma_isotope is not None:
            f.create_dataset("gamma_isotope", data=result.gamma_isotope, compression="gzip")
        f.create_dataset("qpoint", data=result.qpoint, compression="gzip")
        f.create_dataset("weight", data=np.asarray(result.weight, dtype="int64"),
                         compression="gzip")
        f.create_dataset("grid_point", data=np.asarray(result.grid_point, dtype="int64"))
        if s.sigma_THz is not None:
            f.create_dataset("sigma", data=s.sigma_THz)
            if s.sigma_cutoff is not None:
                f.create_dataset("sigma_cutoff_width", data=s.sigma_cutoff)
        f.create_dataset("kappa_unit_conversion", data=result.kappa_unit_conversion)
        if s.boundary_mfp_um is not None:
            f.create_dataset("boundary_mfp", data=s.boundary_mfp_um)
    return path


def kappa_rows(result) -> list[dict]:
    """One row per temperature: T and the six κ components (and Wigner's parts)."""
    rows = []
    for i, t in enumerate(result.temperatures_K):
        row = {"T_K": float(t)}
        row.update({f"kappa_{c}_WmK": float(result.kappa[i, j])
                    for j, c in enumerate(VOIGT_NAMES)})
        if result.kappa_coherence is not None:
            row.update({f"kappa_P_{c}_WmK": float(result.kappa_particle[i, j])
                        for j, c in enumerate(VOIGT_NAMES)})
            row.update({f"kappa_C_{c}_WmK": float(result.kappa_coherence[i, j])
                        for j, c in enumerate(VOIGT_NAMES)})
        rows.append(row)
    return rows


def kappa_csv(result) -> str:
    rows = kappa_rows(result)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: repr(v) for k, v in r.items()})
    return buf.getvalue()


def gamma_effective(result) -> np.ndarray:
    """Γ_eff (n_T, n_q, n_b) THz: phonon-phonon + isotope + boundary."""
    g = result.gamma.copy()
    if result.gamma_isotope is not None:
        g = g + result.gamma_isotope[None]
    if result.gamma_boundary is not None:
        g = g + result.gamma_boundary[None]
    return g


def lifetimes_ps(result) -> np.ndarray:
    """τ = 1/(4π Γ_eff) (n_T, n_q, n_b) ps; inf where Γ_eff = 0."""
    with np.errstate(divide="ignore"):
        return 1.0 / (4 * math.pi * gamma_effective(result))


def mean_free_paths_nm(result) -> np.ndarray:
    """|v|·τ (n_T, n_q, n_b) nm (THz·Å × ps = Å)."""
    v = np.linalg.norm(result.group_velocity, axis=-1)
    with np.errstate(invalid="ignore"):  # v = 0 with τ = ∞ (Γ acoustic): nan
        return v[None] * lifetimes_ps(result) / 10.0


def cumulative(values: np.ndarray, mode_kappa_trace: np.ndarray, n_mesh: int):
    """(sorted values, cumulative κ) over the modes sorted by ``values`` (n_q, n_b)."""
    order = np.argsort(values, axis=None)
    return values.ravel()[order], np.cumsum(mode_kappa_trace.ravel()[order]) / n_mesh


def plot_kappa(result, path: str | os.PathLike, temperature_index: int | None = None) -> Path:
    """Four panels: κ(T); cumulative κ vs frequency; vs mean free path; lifetimes vs
    frequency (at the temperature nearest 300 K unless ``temperature_index``)."""
    from phonjax.figure_files import pyplot, save_png

    plt = pyplot()
    t = result.temperatures_K
    i = (int(np.argmin(np.abs(t - 300.0))) if temperature_index is None
         else temperature_index)
    n_mesh = int(np.prod(result.mesh))
    trace = result.mode_kappa[i][..., :3].sum(-1) / 3
    fig, ax = plt.subplots(2, 2, figsize=(10, 8))
    a = ax[0, 0]
    for j, c in enumerate(VOIGT_NAMES[:3]):
        a.plot(t, result.kappa[:, j], "o-" if len(t) < 20 else "-", label=f"κ_{c}")
    if result.kappa_coherence is not None:
        a.plot(t, result.kappa_coherence[:, :3].mean(-1), "--", label="coherence (mean)")
    a.set(xlabel="T (K)", ylabel="κ (W/m·K)", title="κ(T)")
    if len(t) > 1 and t.min() > 0:
        a.set_xscale("log")
        a.set_yscale("log")
    a.legend()
    f = result.frequency
    x, y = cumulative(f, trace, n_mesh)
    ax[0, 1].plot(x, y, drawstyle="steps-post")
    part = " particle part" if result.kappa_coherence is not None else ""
    ax[0, 1].set(xlabel="frequency (THz)", ylabel=f"cumulative κ{part} (W/m·K)",
                 title=f"cumulative κ{part} (trace/3), {t[i]:g} K")
    mfp = mean_free_paths_nm(result)[i]
    # modes that carry heat (a Γ-point optical mode has v ≈ 1e-30: no κ, no place on the axis)
    ok = np.isfinite(mfp) & (mfp > 0) & (trace > 1e-9 * max(float(trace.max()), 0.0))
    x, y = cumulative(np.where(ok, mfp, np.inf), np.where(ok, trace, 0.0), n_mesh)
    keep = np.isfinite(x)
    ax[1, 0].semilogx(x[keep], y[keep], drawstyle="steps-post")
    ax[1, 0].set(xlabel="mean free path (nm)", ylabel=f"cumulative κ{part} (W/m·K)",
                 title=f"κ accumulation vs mean free path, {t[i]:g} K")
    tau = lifetimes_ps(result)[i]
    ok = np.isfinite(tau) & (f > 0)
    ax[1, 1].semilogy(f[ok], tau[ok], ".", ms=3)
    ax[1, 1].set(xlabel="frequency (THz)", ylabel="lifetime τ (ps)",
                 title=f"phonon lifetimes, {t[i]:g} K")
    fig.suptitle(f"mesh {'×'.join(str(int(m)) for m in result.mesh)}, "
                 f"{result.settings.integration}")
    fig.tight_layout()
    return save_png(fig, path, dpi=120)


def write_files(folder: str | os.PathLike, result, extra: dict | None = None,
                plot: bool = True) -> list[str]:
    """kappa-mXYZ.hdf5, kappa.csv, kappa.json (``summary_json`` with ``extra``) and, with
    ``plot``, kappa.png (``plot_kappa``) in ``folder``, each written atomically; their names."""
    from phonjax.atomic_write import write_text

    folder = Path(folder)
    h5 = hdf5_name(result.mesh, result.settings.sigma_THz)
    write_kappa_hdf5(folder / h5, result)
    write_text(folder / "kappa.csv", kappa_csv(result))
    write_text(folder / "kappa.json", summary_json(result, extra))
    names = [h5, "kappa.csv", "kappa.json"]
    if plot:
        plot_kappa(result, folder / "kappa.png")
        names.append("kappa.png")
    return names


def summary_json(result, extra: dict | None = None) -> str:
    """κ per temperature and the settings, as one JSON document."""
    s = result.settings
    doc = {"mesh": [int(m) for m in result.mesh], "method": s.method,
           "integration": s.integration, "isotope": s.isotope,
           "boundary_mfp_um": s.boundary_mfp_um, "n_irreducible_q": int(len(result.weight)),
           "n_triplets": int(result.n_triplets), "kappa": kappa_rows(result),
           "timings_s": result.timings_s}
    doc.update(extra or {})
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"
