"""Figures as PNG (matplotlib, Agg backend), drawn from comparisons and reference rows.

Per protocol and dataset: error violins per property and model, ω_max
distributions per model against the reference, parity plots per model, and
the dataset figures of the paper (crystal systems, atoms and elements per
cell, element frequency on a periodic table). Every function returns the
paths it wrote; an empty input gives no file rather than an empty plot.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from phonjax.bench.scoring import PROPERTIES
from phonjax.figure_files import pyplot, save_png
from phonjax.structure.symmetry import CRYSTAL_SYSTEMS


def _plt():
    return pyplot(force=True)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_png(fig, path, dpi=130, bbox_inches="tight")


def error_violins(comparisons: dict[str, pd.DataFrame], path: Path) -> list[Path]:
    plt = _plt()
    labels = list(comparisons)
    if not labels:
        return []
    # one row per model in every panel (shared y, labelled once), so that panels line up and
    # a long model name does not run into the panel on its left
    fig, axes = plt.subplots(1, len(PROPERTIES), sharey=True,
                             figsize=(4 * len(PROPERTIES), 1.5 + 0.6 * len(labels)))
    drawn = False
    for ax, (name, title, _, _) in zip(axes, PROPERTIES):
        data = [comparisons[m][f"{name}_err"].dropna().to_numpy(float) for m in labels]
        keep = [(i + 1, d) for i, d in enumerate(data) if len(d)]
        if keep:
            drawn = True
            ax.violinplot([d for _, d in keep], positions=[i for i, _ in keep], showmedians=True,
                          orientation="horizontal")
        ax.axvline(0, color="k", lw=0.6)
        ax.set_xlabel(f"error in {title}")
    axes[0].set_yticks(range(1, len(labels) + 1), labels)
    axes[0].set_ylim(0.4, len(labels) + 0.6)
    return [_save(fig, path)] if drawn else []


def omega_max_distribution(comparisons: dict[str, pd.DataFrame], path: Path) -> list[Path]:
    plt = _plt()
    frames = [c for c in comparisons.values() if c["omega_max_K_pred"].notna().any()]
    if not frames:
        return []
    ref = pd.concat([c[["material_id", "omega_max_K_ref"]] for c in frames]).drop_duplicates(
        "material_id")["omega_max_K_ref"].dropna()
    values = [ref] + [c["omega_max_K_pred"].dropna() for c in frames]
    bins = np.linspace(0, max(float(v.max()) for v in values if len(v)) * 1.05, 30)
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(ref):  # a Cv-only reference (the PBE binaries) has no ω_max to draw
        ax.hist(ref, bins=bins, color="0.75", label="reference (DFT)")
    for label, c in comparisons.items():
        if c["omega_max_K_pred"].notna().any():
            ax.hist(c["omega_max_K_pred"].dropna(), bins=bins, histtype="step", lw=1.5, label=label)
    ax.set_xlabel("ω_max (K)")
    ax.set_ylabel("materials")
    ax.legend(fontsize=8)
    return [_save(fig, path)]


def parity(comparisons: dict[str, pd.DataFrame], folder: Path, stem: str) -> list[Path]:
    plt = _plt()
    out = []
    for label, c in comparisons.items():
        if not c["omega_max_K_pred"].notna().any() and not c["heat_capacity_JKmol_pred"].notna().any():
            continue
        fig, axes = plt.subplots(1, len(PROPERTIES), figsize=(4 * len(PROPERTIES), 4))
        for ax, (name, title, _, _) in zip(axes, PROPERTIES):
            x, y = c[f"{name}_ref"], c[f"{name}_pred"]
            ok = x.notna() & y.notna()
            ax.scatter(x[ok], y[ok], s=12, alpha=0.7)
            if ok.any():
                lo, hi = float(min(x[ok].min(), y[ok].min())), float(max(x[ok].max(), y[ok].max()))
                ax.plot([lo, hi], [lo, hi], "k--", lw=0.7)
            ax.set_xlabel(f"reference {title}")
            ax.set_ylabel(f"predicted {title}")
        fig.suptitle(label)
        fig.tight_layout()
        safe = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in label)
        out.append(_save(fig, folder / f"{stem}.parity.{safe}.png"))
    return out


def table_position(z: int) -> tuple[int, int]:
    """(row, column) of element ``z`` in the 18-column table, f-block in rows 7 and 8."""
    if z == 1:
        return 0, 0
    if z == 2:
        return 0, 17
    for start, row in ((3, 1), (11, 2)):
        if start <= z < start + 8:
            k = z - start
            return row, k if k < 2 else k + 10
    if 19 <= z <= 54:
        row, k = (3, z - 19) if z <= 36 else (4, z - 37)
        return row, k
    base, row, frow = (55, 5, 7) if z <= 86 else (87, 6, 8)
    k = z - base
    if k < 2:
        return row, k
    if k < 17:  # La..Lu / Ac..Lr
        return frow, k
    return row, k - 14


def dataset_figures(reference: pd.DataFrame, folder: Path, stem: str) -> list[Path]:
    plt = _plt()
    from ase.data import atomic_numbers

    ref = reference.drop_duplicates("material_id")
    out = []
    if "crystal_system" in ref and ref["crystal_system"].notna().any():
        counts = ref["crystal_system"].value_counts()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(CRYSTAL_SYSTEMS, [int(counts.get(s, 0)) for s in CRYSTAL_SYSTEMS])
        ax.set_ylabel("materials")
        ax.tick_params(axis="x", rotation=30)
        out.append(_save(fig, folder / f"{stem}.dataset.crystal_systems.png"))
    if "elements" in ref and ref["elements"].notna().any():
        elements = ref["elements"].dropna().str.split()
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        n_el = elements.map(len)
        axes[0].bar(*np.unique(n_el, return_counts=True))
        axes[0].set_xlabel("elements per cell")
        axes[0].set_ylabel("materials")
        if "n_atoms_unitcell" in ref:
            axes[1].hist(pd.to_numeric(ref["n_atoms_unitcell"], errors="coerce").dropna(), bins=20)
        axes[1].set_xlabel("atoms per unit cell")
        out.append(_save(fig, folder / f"{stem}.dataset.cell_sizes.png"))
        freq = Counter(e for els in elements for e in els)
        grid = np.full((9, 18), np.nan)
        cells = [(symbol, *table_position(z)) for symbol, z in atomic_numbers.items()
                 if 1 <= z <= 118 and symbol != "X"]
        for symbol, r, c in cells:
            grid[r, c] = freq.get(symbol, 0)
        top = max(freq.values(), default=1)  # counts are ≥ 1
        # elements absent from the dataset: grey, not the lowest colour
        cmap = plt.get_cmap("viridis_r").with_extremes(under="0.92")
        fig, ax = plt.subplots(figsize=(12, 6))
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.5, vmax=top,
                       aspect="equal")
        for symbol, r, c in cells:
            dark = grid[r, c] > 0.6 * top  # white text on the dark end of the map
            ax.text(c, r, symbol, ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
        ax.set_axis_off()
        fig.colorbar(im, ax=ax, shrink=0.6, label="materials containing the element")
        out.append(_save(fig, folder / f"{stem}.dataset.periodic_table.png"))
    return out


def all_figures(comparisons: dict[str, pd.DataFrame], reference: pd.DataFrame, folder: Path,
                stem: str) -> list[Path]:
    folder = Path(folder)
    out = error_violins(comparisons, folder / f"{stem}.errors_violin.png")
    out += omega_max_distribution(comparisons, folder / f"{stem}.omega_max_distribution.png")
    out += parity(comparisons, folder, stem)
    out += dataset_figures(reference, folder, stem)
    return out
