"""PNG figures a materials scientist expects: bands + DOS, PDOS, thermal curves, model overlays.

matplotlib with the Agg backend (no display needed). Bands in THz along the labelled
high-symmetry path (Γ, X₁, … at the ticks, breaks shown as "X|K"), a zero line, imaginary
branches (negative, phonopy's convention) in red; DOS panels share the frequency axis. Thermal
curves are per mole of formula units, with 3nR (Dulong–Petit) for Cv; the axis labels say so.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
          "#bcbd22", "#7f7f7f")  # no red: red marks imaginary branches
R_J_PER_MOL_K = 8.314462618


def _plt():
    from phonjax.figure_files import pyplot

    plt = pyplot()
    plt.rcParams.update({"font.size": 10, "axes.linewidth": 0.8, "savefig.dpi": 150})
    return plt


def _save(fig, path) -> None:
    """The figure as PNG at ``path`` (``figure_files.save_png``: atomically, then closed)."""
    from phonjax.figure_files import save_png

    save_png(fig, path, bbox_inches="tight")


def _title(p) -> str:
    sym = p.symmetry_input.international if p.symmetry_input else ""
    th = p.thermal
    formula = th.formula if th is not None else p.name
    head = formula if p.name == formula else f"{p.name}: {formula}"
    nac = " · NAC" if p.system is not None and p.system.nac is not None else ""
    return f"{head} ({sym}) · {p.model}{nac}"


def _decorate_bands(ax, sampling, ymin: float, ymax: float) -> None:
    ticks = sampling.tick_positions
    for x in ticks[1:-1]:
        ax.axvline(x, color="0.6", lw=0.6, zorder=0)
    ax.axhline(0.0, color="0.3", lw=0.7, ls="--", zorder=0)
    ax.set_xticks(ticks)
    ax.set_xticklabels(sampling.tick_labels)
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylim(ymin, ymax)
    ax.set_ylabel("Frequency (THz)")


def _draw_bands(ax, band, color, label=None, x_map=None, lw=1.0) -> None:
    for i, (d, f) in enumerate(zip(band.sampling.distances, band.frequencies_THz)):
        x = d if x_map is None else x_map(i, d)
        for b in range(f.shape[1]):
            ax.plot(x, f[:, b], color=color, lw=lw, label=label if (i == 0 and b == 0) else None)
            neg = np.where(f[:, b] < 0, f[:, b], np.nan)
            if np.isfinite(neg).any():
                ax.plot(x, neg, color="#d62728", lw=lw * 1.4)


def _wavenumber_axis(ax) -> None:
    """A right-hand axis in cm⁻¹ for the same frequencies."""
    from phonjax.units import THZ_TO_CM

    right = ax.secondary_yaxis("right", functions=(lambda f: f * THZ_TO_CM,
                                                   lambda w: w / THZ_TO_CM))
    right.set_ylabel("Wavenumber (cm$^{-1}$)")


def _no_zero_tick(ax) -> None:
    """No "0" under the DOS panel: it would run into the band plot's last label."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=3, prune="lower"))


def _limits(frequencies) -> tuple[float, float]:
    lo = min(float(np.min(f)) for f in frequencies)
    hi = max(float(np.max(f)) for f in frequencies)
    pad = 0.05 * (hi - min(lo, 0.0))
    return (min(lo, 0.0) - pad, hi + pad)


def bands_dos(p, path) -> None:
    plt = _plt()
    fig, (ax, ax_dos) = plt.subplots(1, 2, figsize=(8.0, 4.6), sharey=True,
                                     gridspec_kw={"width_ratios": [3.2, 1], "wspace": 0.05})
    ymin, ymax = _limits([p.band.all_frequencies_THz, p.dos.frequency_points_THz])
    _draw_bands(ax, p.band, "#1f3f7a")
    _decorate_bands(ax, p.band.sampling, ymin, ymax)
    d = p.dos
    ax_dos.fill_betweenx(d.frequency_points_THz, 0, d.total, color="0.85", lw=0)
    ax_dos.plot(d.total, d.frequency_points_THz, color="0.2", lw=1.0, label="total")
    for i, (el, pd) in enumerate(d.elements.items()):
        if len(d.elements) > 1:
            ax_dos.plot(pd, d.frequency_points_THz, color=COLORS[i % len(COLORS)], lw=1.0,
                        label=el)
    ax_dos.axhline(0.0, color="0.3", lw=0.7, ls="--")
    ax_dos.set_xlim(0, 1.05 * float(np.max(d.total)))
    _no_zero_tick(ax_dos)
    ax_dos.set_xlabel("DOS (states/THz)")
    ax_dos.legend(loc="upper right", fontsize=8, frameon=False)
    _wavenumber_axis(ax_dos)
    verified = p.band.path.verified
    check = {True: "path checked", False: "PATH CHECK FAILED", None: "user path"}[verified]
    fig.suptitle(f"{_title(p)}   [{check}]", fontsize=10)
    _save(fig, path)


def pdos(p, path) -> None:
    plt = _plt()
    d = p.dos
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.fill_between(d.frequency_points_THz, 0, d.total, color="0.88", lw=0, label="total")
    for i, (el, pd) in enumerate(d.elements.items()):
        ax.plot(d.frequency_points_THz, pd, color=COLORS[i % len(COLORS)], lw=1.3, label=el)
    ax.axvline(0.0, color="0.3", lw=0.7, ls="--")
    ax.set_xlabel("Frequency (THz)")
    ax.set_ylabel("DOS (states/THz per primitive cell)")
    ax.set_xlim(d.frequency_points_THz[0], d.frequency_points_THz[-1])
    ax.set_ylim(0, None)
    ax.legend(frameon=False)
    method = "tetrahedron" if d.method == "tetrahedron" else f"Gaussian σ={d.sigma_THz:.3g} THz"
    ax.set_title(f"{_title(p)}\npartial DOS by element, {'×'.join(map(str, d.mesh))} mesh, "
                 f"{method}", fontsize=9)
    _save(fig, path)


def thermal(p, path) -> None:
    plt = _plt()
    th = p.thermal
    per = "formula_units"
    cols = th.columns(per)
    t = th.temperatures_K
    fig, axes = plt.subplots(1, 3, figsize=(11.0, 3.5))
    axes[0].plot(t, cols[f"free_energy_kJ_per_mol_{per}"], color=COLORS[0], label="F")
    axes[0].plot(t, cols[f"energy_kJ_per_mol_{per}"], color=COLORS[1], label="E = F + TS")
    axes[0].set_ylabel(f"kJ/mol of {th.formula}")
    axes[0].legend(frameon=False)
    axes[1].plot(t, cols[f"entropy_J_per_K_per_mol_{per}"], color=COLORS[2])
    axes[1].set_ylabel(f"S (J/K/mol of {th.formula})")
    axes[2].plot(t, cols[f"heat_capacity_J_per_K_per_mol_{per}"], color=COLORS[3], label="$C_V$")
    limit = 3 * th.n_atoms / th.z * R_J_PER_MOL_K
    axes[2].axhline(limit, color="0.5", ls=":", lw=1.0, label="3nR (Dulong–Petit)")
    axes[2].set_ylabel(f"$C_V$ (J/K/mol of {th.formula})")
    axes[2].set_ylim(0, limit * 1.08)
    axes[2].legend(frameon=False, loc="lower right")
    for ax in axes:
        ax.set_xlabel("Temperature (K)")
        ax.set_xlim(t[0], t[-1])
        ax.grid(alpha=0.25)
    fig.suptitle(f"{_title(p)} · harmonic, per mole of formula units "
                 f"({th.z} per primitive cell)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def _segment_map(reference, other):
    """x(i, d): other's segment i mapped linearly onto reference's segment i."""
    ref, oth = reference.sampling.distances, other.sampling.distances

    def x_map(i, d):
        a0, a1, b0, b1 = oth[i][0], oth[i][-1], ref[i][0], ref[i][-1]
        return b0 + (d - a0) * ((b1 - b0) / (a1 - a0) if a1 > a0 else 0.0)
    return x_map


def compare(items, path) -> None:
    """Bands and DOS of several models on one crystal, overlaid (same labelled path)."""
    plt = _plt()
    done = [p for p in items if p.error is None and p.band is not None]
    if not done:
        return
    ref = done[0]
    fig, (ax, ax_dos) = plt.subplots(1, 2, figsize=(8.4, 4.8), sharey=True,
                                     gridspec_kw={"width_ratios": [3.2, 1], "wspace": 0.05})
    ymin, ymax = _limits([p.band.all_frequencies_THz for p in done]
                         + [p.dos.frequency_points_THz for p in done if p.dos is not None])
    for i, p in enumerate(done):
        same = p.band.path.labels == ref.band.path.labels
        color = COLORS[i % len(COLORS)]
        _draw_bands(ax, p.band, color, label=p.model if same else f"{p.model} (other path)",
                    x_map=_segment_map(ref.band, p.band) if same else None, lw=0.9)
        if p.dos is not None:
            ax_dos.plot(p.dos.total, p.dos.frequency_points_THz, color=color, lw=1.0,
                        label=p.model)
    _decorate_bands(ax, ref.band.sampling, ymin, ymax)
    ax.legend(loc="upper right", fontsize=8, frameon=True, framealpha=0.9)
    ax_dos.axhline(0.0, color="0.3", lw=0.7, ls="--")
    ax_dos.set_xlabel("DOS (states/THz)")
    ax_dos.set_xlim(0, None)
    _no_zero_tick(ax_dos)
    _wavenumber_axis(ax_dos)
    sym = ref.symmetry_input.international if ref.symmetry_input else ""
    formula = ref.thermal.formula if ref.thermal is not None else ref.name
    fig.suptitle(f"{ref.name}: {formula} ({sym}) · " + " vs ".join(p.model for p in done)
                 + "  [imaginary branches in red]" * any(
                     (p.band.all_frequencies_THz < 0).any() for p in done), fontsize=10)
    _save(fig, path)


def plot_all(p, folder: str | os.PathLike) -> list[str]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    if p.band is not None and p.dos is not None:
        bands_dos(p, folder / "bands_dos.png")
        out.append(str(folder / "bands_dos.png"))
    if p.dos is not None and p.dos.elements:
        pdos(p, folder / "pdos.png")
        out.append(str(folder / "pdos.png"))
    if p.thermal is not None:
        thermal(p, folder / "thermal.png")
        out.append(str(folder / "thermal.png"))
    if p.group_velocities is not None:
        from phonjax.phonon.group_velocity import plot_group_velocities

        gv = p.group_velocities
        out.append(str(plot_group_velocities(gv.velocities_THz_A, gv.frequencies_THz,
                                             folder / "group_velocity.png",
                                             title=f"{p.name} · {p.model}")))
    if p.thermal_displacement_matrices is not None or p.thermal_displacements is not None:
        from phonjax.phonon.thermal_displacements import plot_thermal_displacements

        td = p.thermal_displacements or p.thermal_displacement_matrices
        out.append(str(plot_thermal_displacements(td, folder / "thermal_displacements.png")))
    return out
