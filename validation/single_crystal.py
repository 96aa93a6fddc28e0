#!/usr/bin/env python
"""The single-crystal workflow (``phonjax.Phonons``) against phonopy 4.10, and its band paths
for other cells of the same crystals.

For each material (default: the 12 kernel test materials of ``tests/conftest.py``, all seven
crystal systems), from the dataset's own DFT forces:

* ``Phonons.from_dataset(file).run()`` against ``validation.reference.phonopy_reference`` on
  the same file (phonopy's force constants from the same forces): band frequencies at every
  q-point of the path (modes ≥ 0.1 THz), the tetrahedron DOS against phonopy's ``total_dos``
  (relative to its maximum), element PDOS summed against the total, and F, S, Cv over 0–1000 K
  (10 K steps; relative, absolute where phonopy's value is 0). The path's labelled points must
  all pass their check.
* The same crystal given as other cells (``validation.cell_variants``): rotated, re-based by a
  cyclic permutation of a, b, c (a non-standard setting), with the spglib primitive matrix
  instead of the file's, and with the unit cell itself as the "primitive" cell (folded bands).
  Frequencies along each variant's path must equal the original's (every original frequency
  found among the folded ones); "naive" is the same comparison at the labelled points with
  seekpath's coordinates used unmapped (phonopy's ``get_band_qpoints_by_seekpath``), to show
  what the mapping prevents.

Polar crystals (``--examples``, default phonopy's NaCl, MgO and Al2O3 example folders:
phonopy_disp.yaml + FORCE_SETS + BORN), with and without the non-analytical correction:
``Phonons.from_dataset(folder).run()`` against ``phonopy_reference`` with the folder's
FORCE_SETS (and BORN): bands along our path by phonopy's ``run_band_structure`` (its rule for
q → 0 on segments through Γ), the tetrahedron DOS, F, S, Cv over 0–1000 K, and the LO–TO
splitting at Γ (our highest Γ mode minus the next, on the first segment through Γ).

    python -m validation.single_crystal [--ids mp-1000 ...] [--examples NaCl ...] [--json OUT]

(``--ids`` or ``--examples`` with no names skips that part; ``--json OUT`` writes the
materials' rows to OUT and the folders' to OUT_polar_folders.json.)
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

MODE_FLOOR_THZ = 0.1


def _band_diff(ref: np.ndarray, ours: np.ndarray) -> float:
    mask = np.abs(ref) >= MODE_FLOOR_THZ
    return float(np.abs(ref - ours)[mask].max()) if mask.any() else 0.0


def _thermal_diff(ref: np.ndarray, ours: np.ndarray) -> float:
    ref, ours = np.asarray(ref, float), np.asarray(ours, float)
    scale = np.where(np.abs(ref) > 0, np.abs(ref), 1.0)
    return float((np.abs(ref - ours) / scale).max())


def _folded_diff(original: np.ndarray, folded: np.ndarray) -> float:
    """Largest distance from an original frequency (≥ 0.1 THz) to the nearest folded one, per q."""
    worst = 0.0
    for f, g in zip(original, folded):
        f = f[np.abs(f) >= MODE_FLOOR_THZ]
        if len(f):
            worst = max(worst, float(np.abs(f[:, None] - g[None, :]).min(axis=1).max()))
    return worst


def _labelled(p, path) -> dict[str, np.ndarray]:
    """Frequencies at the labelled points of ``path`` (a BandPath) for pair p."""
    points = {s.start: s.q_start for s in path.segments} | {s.end: s.q_end for s in path.segments}
    labels = sorted(points)
    f, _ = p.modes_at(np.array([points[k] for k in labels]))
    return dict(zip(labels, f))


def variants(p, ds) -> dict:
    """Path agreement of the cell variants of one dataset with the original pair ``p``."""
    from phonjax.single import Phonons
    from phonjax.single.bandpath import naive_path
    from validation import cell_variants as cv

    out, naive = {}, 0.0
    original = _labelled(p, p.band.path)
    cases = {"rotated": cv.rotated(ds, cv.rotation(1)), "rebased": cv.rebased(ds, cv.CYCLIC),
             "auto_P": ds, "folded": cv.unitcell_as_primitive(ds)}
    for name, vds in cases.items():
        settings = {"primitive_matrix": "spglib"} if name == "auto_P" else {}
        q = Phonons.from_dataset(vds, name=vds.id, **settings)
        q.run_band_structure()
        same = (q.band.path.labels == p.band.path.labels
                and [len(x) for x in q.band.sampling.qpoints]
                == [len(x) for x in p.band.sampling.qpoints])  # a rint tie can move one point
        if name == "folded" and same:
            diff = _folded_diff(p.band.all_frequencies_THz, q.band.all_frequencies_THz)
        elif same:
            diff = _band_diff(p.band.all_frequencies_THz, q.band.all_frequencies_THz)
        else:  # another but equivalent path: compare at the labelled points
            mine = _labelled(q, q.band.path)
            compare = _folded_diff if name == "folded" else _band_diff
            diff = max(compare(original[k][None], mine[k][None]) for k in original if k in mine)
        out[name] = {"verified": q.band.path.verified, "max_diff_THz": diff, "same_path": same}
        primitive = q.system.primitive.crystal
        unmapped = _labelled(q, naive_path(primitive))
        if name == "folded":
            d = max(_folded_diff(original[k][None], unmapped[k][None]) for k in original
                    if k in unmapped)
        else:
            d = max(_band_diff(original[k], unmapped[k]) for k in original if k in unmapped)
        naive = max(naive, d)
    out["naive_max_diff_THz"] = naive
    return out


def one(mp_id: str) -> dict:
    from phonjax.single import Phonons
    from tests.conftest import sample_path
    from validation.reference import phonopy_reference

    t0 = time.perf_counter()
    p = Phonons.from_dataset(sample_path(mp_id)).run()
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = phonopy_reference(sample_path(mp_id), mesh=p.settings.mesh,
                            temperatures_K=p.settings.temperatures_K, qpoints=p.band.qpoints,
                            total_dos=True)
    t_ref = time.perf_counter() - t0
    th = p.thermal
    d = p.dos
    row = {
        "id": mp_id, "spacegroup": p.symmetry_input.international,
        "crystal_system": p.symmetry_input.crystal_system, "n_primitive": p.system.n_primitive,
        "n_path_q": int(len(p.band.qpoints)),
        "band_THz": _band_diff(ref.qpoint_frequencies_THz, p.band.all_frequencies_THz),
        "dos_points_THz": float(np.abs(ref.dos_frequency_points_THz - d.frequency_points_THz).max()),
        "dos_rel": float(np.abs(ref.total_dos - d.total).max() / ref.total_dos.max()),
        "pdos_sum_rel": float(np.abs(sum(d.elements.values()) - d.total).max() / d.total.max()),
        "F_rel": _thermal_diff(ref.free_energy_kJmol, th.free_energy_kJmol),
        "S_rel": _thermal_diff(ref.entropy_JKmol, th.entropy_JKmol),
        "Cv_rel": _thermal_diff(ref.heat_capacity_JKmol, th.heat_capacity_JKmol),
        "path_verified": p.band.path.verified, "n_labels": len(p.band.path.checks),
        "seconds_phonjax": t_ours, "seconds_phonopy": t_ref,
    }
    row["variants"] = variants(p, p.dataset)
    return row


def one_folder(name: str, nac: bool) -> dict:
    """A phonopy example folder with (``nac``) or without its BORN, against phonopy."""
    from phonjax.single import Phonons
    from tests.conftest import EXAMPLES
    from validation.reference import phonopy_reference

    folder = EXAMPLES / name
    p = Phonons.from_dataset(folder, nac=nac).run()
    segments = p.band.sampling.qpoints
    ref = phonopy_reference(folder / "phonopy_disp.yaml",
                            primitive_matrix=p.dataset.primitive_matrix,
                            force_sets=folder / "FORCE_SETS",
                            born=folder / "BORN" if nac else None, mesh=p.settings.mesh,
                            temperatures_K=p.settings.temperatures_K, band_paths=segments,
                            total_dos=True)
    th, d = p.thermal, p.dos
    through = [k for k, q in enumerate(segments)
               if np.allclose(q[0], 0) or np.allclose(q[-1], 0)]
    k = through[0]
    gamma = p.band.frequencies_THz[k][0 if np.allclose(segments[k][0], 0) else -1]
    return {
        "id": name, "nac": nac, "n_primitive": p.system.n_primitive,
        "band_THz": max(_band_diff(r, o) for r, o in zip(ref.band_frequencies_THz,
                                                          p.band.frequencies_THz)),
        "dos_rel": float(np.abs(ref.total_dos - d.total).max() / ref.total_dos.max()),
        "F_rel": _thermal_diff(ref.free_energy_kJmol, th.free_energy_kJmol),
        "S_rel": _thermal_diff(ref.entropy_JKmol, th.entropy_JKmol),
        "Cv_rel": _thermal_diff(ref.heat_capacity_JKmol, th.heat_capacity_JKmol),
        "gamma_top_split_THz": float(gamma[-1] - gamma[-2]),
        "path_verified": p.band.path.verified,
    }


def folder_table(rows: list[dict]) -> str:
    head = ("| folder | NAC | n_p | bands ΔTHz | DOS Δ/max | F, S, Cv Δrel | Γ: top − next THz "
            "| path ✓ |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        thermal = max(r["F_rel"], r["S_rel"], r["Cv_rel"])
        lines.append(f"| {r['id']} | {'BORN' if r['nac'] else 'off'} | {r['n_primitive']} | "
                     f"{r['band_THz']:.1e} | {r['dos_rel']:.1e} | {thermal:.1e} | "
                     f"{r['gamma_top_split_THz']:.3f} | {'✓' if r['path_verified'] else '✗'} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    head = ("| material | space group | n_p | bands ΔTHz | DOS Δ/max | ΣPDOS−DOS | F, S, Cv Δrel "
            "| path ✓ | rotated | rebased | spglib P | folded | naive |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        v = r["variants"]
        thermal = max(r["F_rel"], r["S_rel"], r["Cv_rel"])
        lines.append(
            f"| {r['id']} | {r['spacegroup']} ({r['crystal_system']}) | {r['n_primitive']} | "
            f"{r['band_THz']:.1e} | {r['dos_rel']:.1e} | {r['pdos_sum_rel']:.1e} | "
            f"{thermal:.1e} | {r['n_labels']} {'✓' if r['path_verified'] else '✗'} | "
            + " | ".join(f"{v[k]['max_diff_THz']:.0e}{'' if v[k]['verified'] else ' ✗'}"
                         for k in ("rotated", "rebased", "auto_P", "folded"))
            + f" | {v['naive_max_diff_THz']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from tests.conftest import KERNEL_IDS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", nargs="*", default=KERNEL_IDS)
    ap.add_argument("--examples", nargs="*", default=["NaCl", "MgO", "Al2O3"],
                    help="phonopy example folders with BORN, run with and without NAC")
    ap.add_argument("--json", default=None, help="write the rows here")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import phonjax

    rows = []
    t0 = time.perf_counter()
    for mp_id in args.ids:
        rows.append(one(mp_id))
        r = rows[-1]
        print(f"{mp_id}: bands {r['band_THz']:.1e} THz, DOS {r['dos_rel']:.1e}, thermal "
              f"{max(r['F_rel'], r['S_rel'], r['Cv_rel']):.1e}, path {r['path_verified']}, "
              f"variants {json.dumps(r['variants'])}", flush=True)
    ok = True
    if rows:
        print(f"\nphonjax {phonjax.__version__}, {len(rows)} materials in "
              f"{time.perf_counter() - t0:.0f} s\n")
        print(table(rows))
        worst = {k: max(r[k] for r in rows) for k in ("band_THz", "dos_rel", "pdos_sum_rel",
                                                       "F_rel", "S_rel", "Cv_rel")}
        variant_worst = max(r["variants"][k]["max_diff_THz"] for r in rows
                            for k in ("rotated", "rebased", "auto_P", "folded"))
        ok = (worst["band_THz"] <= 1e-8 and worst["dos_rel"] <= 1e-8
              and worst["pdos_sum_rel"] <= 1e-8
              and max(worst["F_rel"], worst["S_rel"], worst["Cv_rel"]) <= 1e-8
              and all(r["path_verified"] for r in rows) and variant_worst <= 1e-6
              and all(r["variants"][k]["verified"] for r in rows
                      for k in ("rotated", "rebased", "auto_P", "folded")))
        print(f"\nworst: {json.dumps(worst)}, variants {variant_worst:.1e} THz → "
              f"{'PASS' if ok else 'FAIL'}")
    folder_rows = [one_folder(name, nac) for name in args.examples for nac in (True, False)]
    if folder_rows:
        print("\n" + folder_table(folder_rows))
        folder_ok = all(max(r["band_THz"], r["dos_rel"], r["F_rel"], r["S_rel"], r["Cv_rel"])
                        <= 1e-8 and r["path_verified"] for r in folder_rows)
        print(f"\npolar folders → {'PASS' if folder_ok else 'FAIL'}")
        ok = ok and folder_ok
    if args.json:  # the materials' rows in OUT, the folders' in OUT's name + _polar_folders
        out = Path(args.json)
        for path, data in ((out, rows), (out.with_name(f"{out.stem}_polar_folders.json"),
                                         folder_rows)):
            if data:
                path.write_text(json.dumps(data, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
