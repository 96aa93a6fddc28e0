"""The QHA figure: phonopy-qha's plots (``QHA.plot_qha`` and its ``-s`` PDFs) on one PNG.

Six panels: F(V) at every ``thin_number``-th temperature (data points and fitted EOS curves,
energies minus G at 298 K as phonopy shifts them, the first and last temperatures
labelled) with the line through the minima; V(T); α(T) (volumetric, in 10⁻⁶ K⁻¹); B_T(T);
Cp(T) (numerical and polynomial-fit); γ(T). Beyond phonopy's figure: the fitted volume range
shaded on V(T), and the temperatures where V(T) leaves it or B_T ≤ 0 (``core.trusted_until_K``)
shaded red on every T panel. matplotlib, Agg backend, written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from phonjax.qha.core import QHAResult, trusted_until_K
from phonjax.qha.eos import EOS_TITLES
from phonjax.qha.files import THIN_NUMBER, fv_curves


def plot_qha(result: QHAResult, path: str | os.PathLike = "qha.png",
             thin_number: int = THIN_NUMBER, title: str | None = None) -> Path:
    """PNG of the six QHA panels of ``result`` at ``path``; returns the path."""
    from phonjax.figure_files import pyplot, save_png

    plt = pyplot()
    result = QHAResult(**{k: (np.asarray(v) if hasattr(v, "shape") else v)
                          for k, v in result.__dict__.items()})
    t = result.temperatures_K
    fig, axs = plt.subplots(2, 3, figsize=(12.0, 7.0))
    ax = axs[0, 0]
    selected, e0, grid, points, curves, minima = fv_curves(result, thin_number)
    ax.plot(np.repeat(result.volumes_A3[:, None], points.shape[1], axis=1), points, "o",
            color="tab:blue", markersize=3)
    ax.plot(grid, curves, "-", color="tab:blue", lw=0.9)
    ax.plot(minima[:, 0], minima[:, 1], "o-", color="tab:red", markersize=3, lw=1.0)
    for k in sorted({0, len(selected) - 1}):
        ax.annotate(f"{t[selected[k]]:.0f} K", (grid[-1], curves[-1, k]), fontsize=8,
                    xytext=(3, 0), textcoords="offset points", va="center")
    ax.set_xlabel(r"Volume (Å$^3$)")
    ax.set_ylabel("Free energy (eV)" + (" − G(298 K)" if e0 != 0 else ""))
    panels = [
        (axs[0, 1], [(result.equilibrium_volumes_A3, None)], r"Volume (Å$^3$)"),
        (axs[0, 2], [(result.thermal_expansion_per_K * 1e6, None)],
         r"Thermal expansion $\beta$ ($10^{-6}$ K$^{-1}$)"),
        (axs[1, 0], [(result.bulk_modulus_GPa, None)], r"Bulk modulus $B_T$ (GPa)"),
        (axs[1, 1], [(result.heat_capacity_P_numerical_JKmol, "numerical"),
                     (result.heat_capacity_P_polyfit_JKmol, "polyfit")],
         r"$C_P$ (J/K/mol)"),
        (axs[1, 2], [(result.gruneisen, None)], r"Grüneisen parameter $\gamma$"),
    ]
    inside, convex = trusted_until_K(result)
    trusted = min(x if x is not None else float(t[0]) for x in (inside, convex))
    vmin, vmax = float(np.min(result.volumes_A3)), float(np.max(result.volumes_A3))
    axs[0, 1].axhspan(vmin, vmax, color="0.92", zorder=0, label="fitted volumes")
    for ax, lines, ylabel in panels:
        for y, label in lines:
            ax.plot(t, y, "-", lw=1.2, label=label)
        if trusted < float(t[-1]):  # V(T) outside the fitted volumes, or B_T ≤ 0
            ax.axvspan(trusted, float(t[-1]), color="tab:red", alpha=0.08, lw=0,
                       label=f"not trusted (> {trusted:g} K)")
            ax.legend(frameon=False, fontsize=7)
            good = np.concatenate([np.asarray(y)[t <= trusted] for y, _ in lines])
            good = good[np.isfinite(good)]
            if good.size > 2:  # the trusted part in view, the wild fits beyond clipped
                lo, hi = float(good.min()), float(good.max())
                pad = 0.5 * (hi - lo) if hi > lo else 1.0
                ax.set_ylim(lo - pad, hi + pad)
        if len(lines) > 1:
            ax.legend(frameon=False, fontsize=8)
        ax.set_xlabel("Temperature (K)")
        ax.set_ylabel(ylabel)
        ax.set_xlim(float(t[0]), float(t[-1]) if t[-1] > t[0] else float(t[0]) + 1)
    for ax in axs.flat:
        ax.tick_params(which="both", direction="in", top=True, right=True)
    pressure = f", p = {result.pressure_GPa:g} GPa" if result.pressure_GPa else ""
    fig.suptitle(title or f"QHA ({EOS_TITLES[result.eos]}{pressure})", fontsize=11)
    fig.tight_layout()
    return save_png(fig, path, dpi=120)
