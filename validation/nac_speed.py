"""phonjax vs phonopy on polar crystals with the non-analytical correction, side by side.

For each of phonopy's example folders with a BORN file (phonopy_disp.yaml + FORCE_SETS +
BORN: NaCl, MgO, Al2O3), in one run: phonopy 4.10 (``validation.reference.phonopy_reference``:
load with ``born_filename``, force constants, 20³ mesh, thermal properties at 300 K,
commensurate points; then phonopy's automatic band path) against phonjax (``read_input``,
``prepare``, ``phonon_properties``; then ``path_modes`` on phonopy's band q-points).
phonjax runs twice in the process: "cold" compiles every kernel shape (a first run with an
empty compilation cache), "compiled" is the second pass (later runs, with phonjax's
persistent cache). Prints the times, their ratios and the largest deviations from
phonopy (F/S/Cv relative, band frequencies in THz). Usage:

    python validation/nac_speed.py [--folders NaCl MgO Al2O3] [--method gonze|wang]
                                   [--band-npoints 101]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: make the repository's `validation` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import phonjax  # noqa: E402
from phonjax.execution.modes import path_modes  # noqa: E402
from validation.reference import phonopy_reference  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "phonopy-examples"


def phonjax_pass(folder: Path, method: str, band_qpoints) -> tuple[dict, object, list]:
    """Stage seconds, the PhononResult and the band frequencies of one phonjax pass."""
    t = {}
    t0 = time.perf_counter()
    ds = phonjax.read_input(folder)
    ds.nac = ds.nac.replace(method=method)
    t["read"], t0 = time.perf_counter() - t0, time.perf_counter()
    system = phonjax.prepare(ds)
    t["prepare"], t0 = time.perf_counter() - t0, time.perf_counter()
    [r] = phonjax.phonon_properties([system], [ds.forces], keep_force_constants=True)
    t["kernel"], t0 = time.perf_counter() - t0, time.perf_counter()
    bands = [f for f, _ in path_modes(system.tables, r.force_constants, band_qpoints)]
    t["bands"] = time.perf_counter() - t0
    return t, r, bands


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folders", nargs="*", default=["NaCl", "MgO", "Al2O3"])
    ap.add_argument("--method", default="gonze", choices=["gonze", "wang"])
    ap.add_argument("--band-npoints", type=int, default=101)
    args = ap.parse_args(argv)
    import jax.numpy as jnp

    jnp.zeros(8).sum().block_until_ready()  # JAX's runtime started outside the timing
    load_before = os.getloadavg()[0]
    rows = []
    for name in args.folders:
        folder = EXAMPLES / name
        ds = phonjax.read_input(folder)
        ref = phonopy_reference(folder / "phonopy_disp.yaml", primitive_matrix=ds.primitive_matrix,
                                force_sets=folder / "FORCE_SETS", born=folder / "BORN",
                                nac_method=args.method, band_npoints=args.band_npoints)
        tp = ref.times_s
        phonopy_pipeline = tp["load"] + tp["force_constants"] + tp["mesh"] + tp["thermal"] \
            + tp["commensurate"]
        cold, r, bands = phonjax_pass(folder, args.method, ref.band_qpoints)
        warm, _, _ = phonjax_pass(folder, args.method, ref.band_qpoints)
        ours = (r.free_energy_kJmol[0], r.entropy_JKmol[0], r.heat_capacity_JKmol[0])
        theirs = (ref.free_energy_kJmol[0], ref.entropy_JKmol[0], ref.heat_capacity_JKmol[0])
        dev = max(abs(a - b) / abs(b) for a, b in zip(ours, theirs))
        band_dev = max(np.abs(a - b)[np.abs(b) >= 0.1].max()
                       for a, b in zip(bands, ref.band_frequencies_THz))
        pipeline = {k: cold[k] for k in ("read", "prepare", "kernel")}
        rows.append(dict(name=name, n_p=r.n_primitive, n_q=r.n_irreducible_q,
                         n_band_q=sum(len(q) for q in ref.band_qpoints),
                         phonopy=phonopy_pipeline, phonopy_mesh=tp["mesh"],
                         phonjax_cold=sum(pipeline.values()),
                         phonjax_compiled=warm["read"] + warm["prepare"] + warm["kernel"],
                         phonopy_bands=tp["paths"], bands_cold=cold["bands"],
                         bands_compiled=warm["bands"], dev=dev, band_dev=band_dev,
                         stages=warm))
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"phonjax vs phonopy 4.10 with NAC ({args.method}), 20³ mesh + 300 K "
                        f"+ commensurate points; band path {args.band_npoints} points/segment")
    for col in ("folder", "n_p", "irr. q", "phonopy (s)", "of it mesh (s)", "phonjax cold (s)",
                "ratio cold", "phonjax compiled (s)", "ratio compiled", "band q",
                "phonopy bands (s)", "phonjax bands cold / compiled (s)", "ratio compiled",
                "max rel dev F,S,Cv", "max band dev (THz)"):
        table.add_column(col, justify="right")
    for x in rows:
        table.add_row(x["name"], str(x["n_p"]), str(x["n_q"]), f"{x['phonopy']:.2f}",
                      f"{x['phonopy_mesh']:.2f}", f"{x['phonjax_cold']:.2f}",
                      f"{x['phonopy'] / x['phonjax_cold']:.2f}×", f"{x['phonjax_compiled']:.2f}",
                      f"{x['phonopy'] / x['phonjax_compiled']:.1f}×", str(x["n_band_q"]),
                      f"{x['phonopy_bands']:.2f}",
                      f"{x['bands_cold']:.2f} / {x['bands_compiled']:.3f}",
                      f"{x['phonopy_bands'] / x['bands_compiled']:.1f}×", f"{x['dev']:.1e}",
                      f"{x['band_dev']:.1e}")
    Console(width=220).print(table)
    for x in rows:
        print(f"{x['name']}: phonjax compiled stages " + ", ".join(
            f"{k} {v:.3f} s" for k, v in x["stages"].items()))
    plan = phonjax.execution.default_plan()
    print(f"phonjax plan {plan.runner}:{plan.eigensolver}; load average {load_before:.1f} "
          f"before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
