"""``phonjax kappa INPUT... [options]``: lattice thermal conductivity, phono3py's numbers.

Each INPUT is a folder with phono3py's fc3.hdf5 and fc2.hdf5 next to its yaml (phono3py's
or ``phonjax fc3``'s output: used as they are), or what ``phonjax fc3`` takes
(``anharmonic.cli``): a phono3py folder or yaml with its own forces (FC2/FC3 as
``phono3py.load`` makes them), or a structure file with ``--model``; FC2 and FC3 then come
from the same code as ``phonjax fc3``. Then κ on the
Γ-centred ``--mesh`` (``anharmonic.kappa``): the relaxation-time approximation (``--method
rta``) or Wigner transport (``wigner``: phono3py's ``SMM19``, particle + coherence), the
δ functions by the tetrahedron method with degenerate weights averaged (phono3py's
``average_degenerate_weights``: the result does not depend on the eigensolver's basis) or
by Gaussians (``--sigma``), with isotope (``--isotope``, natural abundances) and boundary
(``--boundary-mfp``) scattering.

For each crystal OUT/NAME gets kappa-mXYZ.hdf5 (phono3py's layout: ``phono3py-kaccum
phono3py_disp.yaml kappa-mXYZ.hdf5`` reads it), phono3py_disp.yaml, kappa.csv (κ(T), six
components), kappa.json (settings, κ, timings) and kappa.png (κ(T), cumulative κ vs
frequency and vs mean free path, lifetimes), written whole. ``--json``: one JSON line per
crystal on stdout instead of the table. A bad option: one line, exit status 2; a crystal
that fails: one line, the others go on, exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from phonjax.anharmonic import cli as fc3_cli
from phonjax.anharmonic.fc3 import SYMMETRIZATIONS
from phonjax.options import (OneLineParser, SettingError, add_model_options, add_plan_options,
                             argparse_type, displacement_distance, mesh_numbers, plan_of, positive)
from phonjax.resources import MEMORY_OPTION_HELP

DEFAULT_OUT = "phonjax-kappa"
DEFAULT_MESH = (19, 19, 19)  # phono3py's example and the κ benchmark's density for Si
OUT_FILES = ("kappa.csv", "kappa.json", "kappa.png", "phono3py_disp.yaml")


def temperatures_of(values) -> tuple[float, ...]:
    """Temperatures in K: numbers, or one START:STOP:STEP range (STOP included)."""
    out: list[float] = []
    for v in values:
        if ":" in v:
            parts = v.split(":")
            if len(parts) != 3:
                raise ValueError(f"--temperatures range must be START:STOP:STEP, got {v}")
            a, b, c = (float(x) for x in parts)
            if not c > 0 or b < a:
                raise ValueError(f"--temperatures range {v}: need STEP > 0 and STOP ≥ START")
            out += list(np.arange(a, b + 0.5 * c, c))
        else:
            out.append(float(v))
    if not out or min(out) < 0 or not np.all(np.isfinite(out)):
        raise ValueError("--temperatures must be finite and ≥ 0 K")
    if len(out) > 10000:
        raise ValueError(f"--temperatures gives {len(out)} values; at most 10000")
    return tuple(float(t) for t in out)


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="phonjax kappa", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="phono3py folders or yaml files (their own forces), or structure "
                        "files (with --model)")
    p.add_argument("--mesh", nargs="+", default=None, metavar="N",
                   help="q-mesh: one or three integers (default 19 19 19)")
    p.add_argument("--temperatures", nargs="+", default=["300"], metavar="T",
                   help="K: numbers or START:STOP:STEP (default 300)")
    p.add_argument("--method", choices=("rta", "wigner", "lbte"), default="rta",
                   help="rta (default), wigner (SMM19: particle + coherence) or lbte (not yet)")
    p.add_argument("--sigma", type=argparse_type(positive, "--sigma"), default=None,
                   metavar="THz", help="Gaussian smearing width instead of the tetrahedron "
                   "method")
    p.add_argument("--sigma-cutoff", type=argparse_type(positive, "--sigma-cutoff"),
                   default=None, metavar="N", help="truncate the Gaussians at N σ (phono3py's)")
    p.add_argument("--isotope", action="store_true", help="isotope scattering (natural "
                   "abundances)")
    p.add_argument("--boundary-mfp", type=argparse_type(positive, "--boundary-mfp"),
                   default=None, metavar="µm", help="boundary scattering mean free path")
    p.add_argument("--no-degenerate-average", action="store_true",
                   help="tetrahedron weights per band, phono3py's default (depends on the "
                        "eigensolver's basis, ~5e-4 in κ)")
    p.add_argument("--symmetrization", choices=SYMMETRIZATIONS, default="symfc-projector",
                   help="of FC2 and FC3 (default symfc-projector, phono3py.load's)")
    p.add_argument("--model", default=None, metavar="NAME[:VARIANT]",
                   help="uMLIP adapter for structure-file inputs")
    p.add_argument("--supercell", nargs="+", type=int, metavar="N", help="as phonjax fc3")
    p.add_argument("--min-length", type=argparse_type(positive, "--min-length"), default=None,
                   metavar="Å", help="as phonjax fc3")
    p.add_argument("--fc2-supercell", nargs="+", type=int, metavar="N", help="as phonjax fc3")
    p.add_argument("--primitive", nargs="+", default=None, metavar="P", help="as phonjax fc3")
    p.add_argument("--distance", type=argparse_type(displacement_distance, "--distance"),
                   default=None, metavar="Å", help="as phonjax fc3")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"results folder (default ./{DEFAULT_OUT})")
    p.add_argument("--json", action="store_true", help="one JSON line per crystal on stdout")
    p.add_argument("--no-plot", action="store_true", help="skip kappa.png")
    add_model_options(p)
    add_plan_options(p, MEMORY_OPTION_HELP + "; bounds each chunk of triplets")
    return p


def settings_of(args):
    from phonjax.anharmonic.kappa import KappaSettings

    if args.method == "lbte":
        raise ValueError("--method lbte is not implemented yet; use rta or wigner")
    mesh = DEFAULT_MESH if args.mesh is None else mesh_numbers("--mesh", [
        int(m) if m.lstrip("-").isdigit() else m for m in args.mesh])
    return KappaSettings(mesh=mesh, temperatures_K=temperatures_of(args.temperatures),
                         method=args.method, sigma_THz=args.sigma,
                         sigma_cutoff=args.sigma_cutoff,
                         average_degenerate=not args.no_degenerate_average,
                         isotope=args.isotope, boundary_mfp_um=args.boundary_mfp)


def has_force_constants(path: Path) -> bool:
    """A folder with phono3py's fc3.hdf5 and fc2.hdf5 next to its yaml (phono3py's or
    ``phonjax fc3``'s output)."""
    return path.is_dir() and (path / "fc3.hdf5").is_file() and (path / "fc2.hdf5").is_file()


def read_force_constants(item, symprec: float | None = None) -> None:
    """FC2 and FC3 of a folder's fc3.hdf5 / fc2.hdf5 (phono3py's reader; compact or full) on
    the cells of its yaml (``item.result``)."""
    from phono3py.file_IO import read_fc2_from_hdf5, read_fc3_from_hdf5

    from phonjax.anharmonic.fc3 import ForceConstants3, fc3_cells

    ds = item.dataset
    folder = Path(item.source)
    cells = fc3_cells(ds.unitcell, ds.supercell_matrix, ds.primitive_matrix)
    fc2_cells = cells if ds.phonon_supercell_matrix is None else fc3_cells(
        ds.unitcell, ds.phonon_supercell_matrix, ds.primitive_matrix)
    fc3 = np.asarray(read_fc3_from_hdf5(folder / "fc3.hdf5"))
    fc2 = np.asarray(read_fc2_from_hdf5(folder / "fc2.hdf5"))
    n, n_p = cells.n_atoms, len(cells.primitive.p2s)
    if fc3.shape == (n, n, n, 3, 3, 3):
        fc3 = np.ascontiguousarray(fc3[cells.primitive.p2s])  # rows of the primitive atoms
    elif fc3.shape != (n_p, n, n, 3, 3, 3):
        raise ValueError(f"{folder / 'fc3.hdf5'}: shape {fc3.shape} does not fit the "
                         f"{n}-atom supercell of the yaml")
    n2 = fc2_cells.n_atoms
    if fc2.shape[1:] != (n2, 3, 3) or fc2.shape[0] not in (n2, len(fc2_cells.primitive.p2s)):
        raise ValueError(f"{folder / 'fc2.hdf5'}: shape {fc2.shape} does not fit the "
                         f"{n2}-atom FC2 supercell of the yaml")
    item.result = ForceConstants3(fc2, fc3, cells, fc2_cells, True, "from fc3.hdf5")


def read_items(args, err):
    """The crystals of every input: folders with fc3.hdf5 + fc2.hdf5 read as they are, the
    others as ``phonjax fc3`` reads them."""
    from phonjax.io.phono3py_files import read_phono3py_folder

    direct, rest = [], []
    for text in args.inputs:
        (direct if has_force_constants(Path(text)) else rest).append(text)
    items, bad = [], 0
    for text in direct:
        try:
            ds = read_phono3py_folder(text)
            items.append(fc3_cli.Crystal3(Path(text).resolve().name, text, "fc3.hdf5",
                                          dataset=ds))
        except Exception as exc:
            bad += 1
            err.print(f"[red]error[/red] {fc3_cli.one_line(exc)}", highlight=False,
                      soft_wrap=True)
    if rest:
        more, more_bad = fc3_cli.read_crystals(argparse.Namespace(**{**vars(args),
                                                                     "inputs": rest}), err)
        items += more
        bad += more_bad
    return items, bad


def inputs_of(item):
    """``KappaInputs`` of a crystal whose force constants are solved; a phono3py input's
    Born charges (BORN or the yaml's) go with it."""
    from phonjax.anharmonic.kappa import KappaInputs

    ds = item.dataset
    if ds is None or ds.nac is None:
        return KappaInputs.from_force_constants(item.result)
    smat = ds.supercell_matrix if ds.phonon_supercell_matrix is None else \
        ds.phonon_supercell_matrix
    return KappaInputs.from_force_constants(item.result, ds.nac, ds.unitcell, smat)


def record(item, result) -> dict:
    s = result.settings
    out = {"name": item.name, "input": item.source,
           "forces": {"file": "from the file", "fc3.hdf5": "fc3.hdf5 + fc2.hdf5"}.get(
               item.forces, item.forces),
           "mesh": list(s.mesh), "method": s.method, "integration": s.integration,
           "isotope": s.isotope, "boundary_mfp_um": s.boundary_mfp_um,
           "temperatures_K": [float(t) for t in result.temperatures_K],
           "kappa_WmK": result.kappa.tolist(), "components": "xx yy zz yz xz xy"}
    if result.kappa_coherence is not None:
        out["kappa_particle_WmK"] = result.kappa_particle.tolist()
        out["kappa_coherence_WmK"] = result.kappa_coherence.tolist()
    out["n_triplets"] = int(result.n_triplets)
    out["seconds"] = round(item.seconds, 3)
    return out


def replace_refusal(folder: Path) -> str | None:
    from phonjax.atomic_write import LEFTOVER

    if not folder.is_symlink() and not folder.exists():
        return None
    if folder.is_symlink() or not folder.is_dir():
        return "it is not a folder"
    for entry in sorted(folder.iterdir()):
        if LEFTOVER.match(entry.name) or (entry.is_file() and (
                entry.name in OUT_FILES or (entry.name.startswith("kappa-m")
                                            and entry.name.endswith(".hdf5")))):
            continue
        return f"it holds {entry.name}, which phonjax kappa does not write"
    return None


def write_crystal(out: Path, item, result, rec: dict, plot: bool) -> Path:
    from phonjax.anharmonic import files, kappa_files
    from phonjax.atomic_write import remove_leftovers, replacing_folder
    from phonjax.single.outputs import child

    out.mkdir(parents=True, exist_ok=True)
    target = child(out, item.name)
    with replacing_folder(target) as tmp:
        fc3_cli.write_item_disp_yaml(tmp / files.DISP_YAML_FILE, item)
        kappa_files.write_files(tmp, result, rec, plot)
    remove_leftovers(out, item.name)
    return target


def print_table(items, results, console) -> None:
    from rich.table import Table

    from phonjax.terminal import fit_table

    table = Table(title="phonjax kappa — κ (W/m·K) at each temperature, xx yy zz")
    for col in ("crystal", "T (K)", "κ_xx", "κ_yy", "κ_zz", "coherence", "triplets", "s"):
        table.add_column(col, justify="left" if col == "crystal" else "right")
    fit_table(table)
    for it in items:
        r = results.get(it.name)
        if r is None:
            table.add_row(it.name, "", "", "", "", "[red]failed[/red]", "", "")
            continue
        for i, t in enumerate(r.temperatures_K):
            coh = "" if r.kappa_coherence is None else f"{r.kappa_coherence[i, :3].mean():.3f}"
            table.add_row(it.name if i == 0 else "", f"{t:g}", *(f"{r.kappa[i, j]:.3f}"
                                                                for j in range(3)), coh,
                          str(r.n_triplets) if i == 0 else "",
                          f"{it.seconds:.1f}" if i == 0 else "")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    from phonjax.single.outputs import OutputError, check_out, check_targets
    from phonjax.terminal import quiet_third_party_warnings, stderr_console, stdout_console

    try:
        args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    quiet_third_party_warnings(False)
    err = stderr_console()
    try:
        plan = plan_of(args)
        settings = settings_of(args)
        fc3_cli.matrix_of(args.supercell, "--supercell")
        fc3_cli.matrix_of(args.fc2_supercell, "--fc2-supercell")
        fc3_cli.primitive_of(args.primitive)
        if args.model is not None:
            from phonjax.pipeline import models

            models.check_spec(args.model)
        out = check_out(args.out)
    except (OutputError, SettingError, ValueError) as exc:
        err.print(f"[red]error[/red]: {fc3_cli.one_line(exc)}", highlight=False, soft_wrap=True)
        return 2
    args.full = False
    args.cutoff_pair_distance = None
    t0 = time.perf_counter()
    items, bad = read_items(args, err)
    if not items:
        return 2
    try:
        check_targets(out, [it.name for it in items], replace_refusal, "phonjax kappa")
    except OutputError as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
        return 2
    from phonjax.compile_cache import enable_compilation_cache

    enable_compilation_cache()
    for it in items:  # fc3.hdf5 folders as they are; the rest as phonjax fc3 solves them
        if it.forces == "fc3.hdf5":
            start = time.perf_counter()
            try:
                read_force_constants(it)
            except Exception as exc:
                it.error = fc3_cli.one_line(exc)
            it.seconds = time.perf_counter() - start
    fc3_cli.solve_force_constants(items, args, plan)
    from phonjax.anharmonic.kappa import thermal_conductivity

    results = {}
    for it in items:
        if it.error is not None:
            err.print(f"[red]error[/red] {it.name}: {it.error}", highlight=False, soft_wrap=True)
            continue
        start = time.perf_counter()
        try:
            def progress(done, total, name=it.name):
                if not args.json and (done == total or done % max(1, total // 10) == 0):
                    err.print(f"{name}: {done}/{total} irreducible q-points", highlight=False)

            r = thermal_conductivity(inputs_of(it), settings, progress, plan)
            it.seconds += time.perf_counter() - start
            rec = record(it, r)
            write_crystal(out, it, r, rec, not args.no_plot)
            results[it.name] = r
            if args.json:
                print(json.dumps(rec, allow_nan=False), flush=True)
        except Exception as exc:
            it.error = fc3_cli.one_line(exc)
            err.print(f"[red]error[/red] {it.name}: {it.error}", highlight=False, soft_wrap=True)
    if not args.json:
        print_table(items, results, stdout_console())
    failed = sum(it.error is not None for it in items)
    err.print(f"{len(items) - failed} done, {failed + bad} failed in "
              f"{time.perf_counter() - t0:.1f} s · files in {out}/", highlight=False)
    return 1 if failed or bad else 0
