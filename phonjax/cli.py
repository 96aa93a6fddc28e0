"""Command line: ``python -m phonjax {run,phonons,fc3,kappa,qha,bench,models,data} ...``."""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time

from phonjax.options import (OneLineParser, add_plan_options, argparse_type, json_safe,
                             non_negative, plan_of, positive_int)
from phonjax.resources import MEMORY_OPTION_HELP
from phonjax.terminal import fit_table, stderr_console, stdout_console


def _phonons_parser(sub) -> None:
    p = sub.add_parser("phonons", help="phonon properties from phonopy folders or dataset files",
                       description="For each phonopy folder (phonopy_disp.yaml or phonopy.yaml + "
                       "FORCE_SETS, with BORN: the non-analytical correction), phonopy_params or "
                       "Alexandria phonon-benchmark file (plain, .xz, .bz2, .gz): force constants "
                       "from the forces, F/S/Cv on the mesh, ω_max and dynamical stability at the "
                       "commensurate q-points.")
    p.add_argument("files", nargs="*", metavar="DIR_OR_FILES",
                   help="phonopy folders or dataset files (default: the bundled 20-material sample)")
    nac = p.add_mutually_exclusive_group()
    nac.add_argument("--born", metavar="FILE", help="BORN file (phonopy's format: Born charges, "
                     "ε∞) for the non-analytical correction, before any in the inputs")
    nac.add_argument("--no-nac", action="store_true",
                     help="no non-analytical correction even where the inputs have Born charges")
    p.add_argument("--mesh", nargs=3, type=argparse_type(positive_int, "--mesh"),
                   default=[20, 20, 20], metavar=("N1", "N2", "N3"))
    p.add_argument("--gamma-centered", action="store_true", help="Γ-centred mesh (default: MP shift)")
    p.add_argument("--temperature", type=argparse_type(non_negative, "--temperature"), nargs="+",
                   default=[300.0], help="K, ≥ 0 (default 300)")
    p.add_argument("--gamma-acoustic-tolerance", type=argparse_type(non_negative,
                                                                    "--gamma-acoustic-tolerance"),
                   default=50.0, metavar="K",
                   help="Γ acoustic modes may go down to −K and still count as stable (default 50)")
    p.add_argument("--subtract-drift", action="store_true", help="remove the mean force per supercell")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_plan_options(p, MEMORY_OPTION_HELP)
    p.set_defaults(func=_run_phonons)


def _run_phonons(args) -> int:
    from phonjax.data import sample_files
    from phonjax.execution.padding import check_fits
    from phonjax.io import read_input
    from phonjax.io.readers import PRIMITIVE_AUTO
    from phonjax.harmonic.properties import PhononSettings, phonon_properties
    from phonjax.harmonic.system import prepare

    err = _OnFirstUse(stderr_console)  # rich's console: 20 ms, spent only when something is said
    try:
        plan = plan_of(args)
    except ValueError as exc:
        err.print(f"[red]error[/red] {exc}", highlight=False, soft_wrap=True)
        return 2
    files = args.files or [str(f) for f in sample_files()]
    failed = 0
    systems, forces, cells = [], [], []
    t0 = time.perf_counter()
    for path in files:
        try:
            ds = read_input(path, born=args.born, nac=not args.no_nac)
            if ds.forces is None:
                raise ValueError("the file has no forces")
            system = prepare(ds, mesh=args.mesh, gamma_centered=args.gamma_centered,
                             memory_bytes=plan.memory_bytes)
            check_fits(system.id, system.tables, plan, len(args.temperature))
            systems.append(system)
            forces.append(ds.forces)
            cells.append(_primitive_fields(ds))
        except Exception as exc:  # one bad file must not stop the others
            failed += 1
            err.print(f"[red]error[/red] {path}: {exc}", highlight=False, soft_wrap=True)
    results = []
    if systems:
        with _status(err, f"computing {len(systems)} material(s)…"):
            results = phonon_properties(systems, forces, PhononSettings(
                temperatures_K=tuple(args.temperature), subtract_drift=args.subtract_drift,
                gamma_acoustic_tolerance_K=args.gamma_acoustic_tolerance), plan)
    primitive = {id(r): c for r, c in zip(results, cells)}
    results, bad = _finite(results)
    for r, what in bad:  # e.g. Cv at a temperature the kernel cannot evaluate
        failed += 1
        err.print(f"[red]error[/red] {r.id}: {what} is not a finite number; nothing printed for it",
                  highlight=False, soft_wrap=True)
    if args.json:
        for r in results:
            for i in range(len(r.temperatures_K)):
                print(json.dumps(json_safe({**_record(r, i), **primitive[id(r)]}),
                                 allow_nan=False))
    else:
        from rich.table import Table

        table = Table(title=f"phonjax phonons — mesh {args.mesh}, per mole of primitive cells")
        auto = PRIMITIVE_AUTO  # marked * in the table
        for col in ("id", "n_p", "NAC", "T (K)", "F kJ/mol", "S J/K/mol", "Cv J/K/mol",
                    "ω_max K", "ω_min K", "stable"):
            table.add_column(col, justify="right" if col != "id" else "left")
        fit_table(table)  # 80 columns on a terminal; every digit when piped (stdout_console)
        for r in results:
            mark = "*" if primitive[id(r)]["primitive_matrix_rule"] == auto else ""
            for i, t in enumerate(r.temperatures_K):
                table.add_row(r.id, f"{r.n_primitive}{mark}", r.nac or "-", f"{t:g}",
                              *_thermal_cells(r, i), f"{r.omega_max_K:.3f}",
                              f"{r.omega_min_K:.3f}", "yes" if r.stable else "[red]no[/red]")
        stdout_console().print(table)
        for r in results:
            if thermal_undefined_reason(r):
                err.print(f"[yellow]{r.id}[/yellow]: F, S, Cv n/a: {thermal_undefined_reason(r)}",
                          highlight=False, soft_wrap=True)
        if any(primitive[id(r)]["primitive_matrix_rule"] == auto for r in results):
            err.print(f"n_p*: primitive cell by {auto}; the others: primitive_matrix from the "
                      "file", highlight=False, soft_wrap=True)
        if any(r.mesh_contains_gamma for r in results):
            err.print("the mesh contains Γ: its three acoustic modes are excluded from F, S, Cv "
                      "(phonopy's exclude_gamma_acoustic=True)", highlight=False, soft_wrap=True)
        err.print(f"{len(results)} done, {failed} failed in {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


class _OnFirstUse:
    """Stands for ``make()``, called on the first attribute asked for (a console that a
    run with nothing to say never imports or builds)."""

    def __init__(self, make):
        self._make, self._made = make, None

    def __getattr__(self, name: str):
        if self._made is None:
            self._made = self._make()
        return getattr(self._made, name)


def _status(err, message: str):
    """rich's spinner on stderr while the kernel runs, where stderr is a terminal; elsewhere
    (a pipe, a file) it shows nothing, and is not started: its refresh thread would wake
    12 times a second for nothing."""
    if sys.stderr.isatty():
        return err.status(message)
    return contextlib.nullcontext()


def _primitive_fields(ds) -> dict:
    """The primitive cell a dataset's results are per mole of: its matrix P (relative to the
    unit cell) and the rule that chose it (``phonjax.io.readers.PRIMITIVE_FROM_FILE`` or
    ``PRIMITIVE_AUTO``, phonopy.load's rule), for the JSON record and the table."""
    return {"primitive_matrix": ds.primitive_matrix.tolist(),
            "primitive_matrix_rule": ds.primitive_matrix_rule}


THERMAL_KEYS = ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol")


def thermal_undefined_reason(r) -> str | None:
    """Why a ``PhononResult``'s F, S and Cv are undefined, or None. They are sums over the
    mesh modes with ν > 0 (phonopy's ``num_integrated_modes``); one such mode makes F(T)
    = ZPE + k_BT·Σln(1 − e^{−x}) nonzero where S(T) underflows to 0 (and S > 0 elsewhere),
    so all three exactly 0 at every temperature means that not one mode was integrated."""
    if all(v == 0.0 for name in THERMAL_KEYS for v in getattr(r, name)):
        return ("no real modes integrated (num_integrated_modes 0: every mode on the mesh is "
                "imaginary or zero)")
    return None


def _record(r, i: int) -> dict:
    """``r.record(i)``, with F, S, Cv null and ``thermal_undefined_reason`` saying why where
    they are undefined (``thermal_undefined_reason``)."""
    out = r.record(i)
    why = thermal_undefined_reason(r)
    if why:
        out.update({k: None for k in THERMAL_KEYS})
    out["thermal_undefined_reason"] = why
    return out


def _thermal_cells(r, i: int) -> list[str]:
    """The F, S, Cv cells of the table: 6 decimals, or "n/a" where they are undefined."""
    if thermal_undefined_reason(r):
        return ["[yellow]n/a[/yellow]"] * 3
    return [f"{getattr(r, k)[i]:.6f}" for k in THERMAL_KEYS]


def _finite(results) -> tuple[list, list]:
    """(results whose F, S and Cv are all finite, [(result, what is not)] for the others)."""
    good, bad = [], []
    for r in results:
        for name in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
            values = getattr(r, name)
            at = [t for t, v in zip(r.temperatures_K, values) if not math.isfinite(v)]
            if at:
                bad.append((r, f"{name} at T = {', '.join(f'{t:g}' for t in at)} K"))
                break
        else:
            good.append(r)
    return good, bad


def _models_parser(sub) -> None:
    p = sub.add_parser("models", help="registered uMLIP adapters and whether they can run here")
    p.add_argument("--offline", action="store_true",
                   help="as with downloads forbidden (PHONJAX_OFFLINE=1): missing weights are missing")
    p.set_defaults(func=_run_models)


def _run_models(args) -> int:
    from phonjax.download import set_offline
    from phonjax_adapters.registry import models_table

    if args.offline:
        set_offline()
    stdout_console().print(models_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        from phonjax.bench.cli import main as bench_main

        return bench_main(argv[1:])
    if argv and argv[0] == "run":
        from phonjax.single.cli import main as run_main

        return run_main(argv[1:])
    if argv and argv[0] == "fc3":
        from phonjax.anharmonic.cli import main as fc3_main

        return fc3_main(argv[1:])
    if argv and argv[0] == "qha":
        from phonjax.qha.cli import main as qha_main

        return qha_main(argv[1:])
    if argv and argv[0] == "kappa":
        from phonjax.anharmonic.kappa_cli import main as kappa_main

        return kappa_main(argv[1:])
    parser = OneLineParser(prog="phonjax", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    _phonons_parser(sub)
    _models_parser(sub)
    from phonjax.data.cli import add_parser as _data_parser

    _data_parser(sub)
    sub.add_parser("run", help="phonons of crystals (CIF, POSCAR, …) with uMLIPs: bands, DOS, "
                   "thermal properties, files and plots (see `phonjax run --help`)")
    sub.add_parser("bench", help="the uMLIP phonon benchmark (see `phonjax bench --help`)")
    sub.add_parser("fc3", help="third-order force constants from phono3py folders or from a "
                   "uMLIP, written as phono3py's fc3.hdf5/fc2.hdf5 (see `phonjax fc3 --help`)")
    sub.add_parser("kappa", help="lattice thermal conductivity (RTA, Wigner) as phono3py, "
                   "with kappa-mXYZ.hdf5, CSV and plots (see `phonjax kappa --help`)")
    sub.add_parser("qha", help="quasi-harmonic approximation from e-v.dat and one "
                   "thermal_properties.yaml per volume, as phonopy-qha (see `phonjax qha --help`)")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "phonons":
        from phonjax.compile_cache import enable_compilation_cache

        enable_compilation_cache()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("phonjax: interrupted", file=sys.stderr)
        return 130


def import_frozen(*modules: str) -> None:
    """Import ``modules`` (JAX, NumPy and phonjax's kernels: ~0.5 s, ~10⁶ objects) with
    Python's cyclic collector paused, then freeze what they made (``gc.freeze``: module
    objects that live as long as the process), so that no collection walks them again
    (−0.08–0.1 s of a small run, BENCH_NOTES). For the console script only, which owns its
    process."""
    import gc
    import importlib

    gc.disable()
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        gc.freeze()
        gc.enable()


# subcommands that hold no background threads, open files or servers once they return
_FAST_EXIT = ("phonons", "run", "models")


def entry() -> None:
    """The console script: ``main``, then, for the short subcommands, an immediate exit.

    Interpreter shutdown with JAX loaded (its backends, thread pools and the objects of a
    whole run) took 0.1-0.4 s here, a fifth of a small ``phonons`` run; once the output
    is flushed there is nothing left to finish, so those subcommands end with
    ``os._exit``. The others (bench: SQLite, Dask) exit normally.
    """
    import os

    if sys.argv[1:2] and sys.argv[1] in ("phonons", "run"):  # the kernel's commands
        import_frozen("phonjax.harmonic.properties", "phonjax.execution")
    code = main()
    if sys.argv[1:2] and sys.argv[1] in _FAST_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    sys.exit(code)
