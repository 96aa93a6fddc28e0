"""``phonjax fc3 INPUT... [options]``: third-order force constants written as phono3py's files.

Each INPUT is either
* a phono3py folder (phono3py_params.yaml, phono3py.yaml or phono3py_disp.yaml with
  FORCES_FC3 [+ FORCES_FC2, + BORN]) or a phono3py yaml file (phono3py_params.yaml[.xz]):
  FC2 and FC3 from the file's own forces, cells and displacements, as ``phono3py.load``
  gives them (``io.phono3py_files`` + ``anharmonic.fc3.force_constants``); or
* a structure file ASE reads (CIF, POSCAR, extxyz; every frame): used as given (no
  relaxation), phono3py's displacements (``--distance``, 0.03 Å by default) in the supercell
  of ``--supercell`` or of conventional-cell multiples ≥ ``--min-length``, a separate FC2
  supercell with ``--fc2-supercell``, forces from ``--model`` (required): every displaced
  supercell of every crystal in one batched model call (``pipeline.fc3.model_fc3``).

The symmetrization is ``--symmetrization`` (default: ``phono3py.load``'s symfc projector;
"traditional": phono3py's command line; "none"). For each crystal, OUT/NAME gets
fc3.hdf5 and fc2.hdf5 (phono3py's writers: ``phono3py-load`` and ``phono3py.load(...,
fc3_filename=..., fc2_filename=...)`` read them), phono3py_disp.yaml (the cells and
displacements phono3py starts from) and summary.json (cells, displacement counts,
symmetrization, model, timing, versions). OUT/NAME is written whole (a temporary folder,
swapped in) and only for a crystal that succeeded; a folder there already is replaced only
if it holds nothing but these files. The plan (``--plan``, ``--memory-gb``) runs the model
calls and bounds each FC3 array (n_p·N²·27 doubles) before any work.
A bad option: one line, exit status 2. A crystal that fails: one line, the others go on,
exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phonjax.anharmonic.fc3 import SYMMETRIZATIONS
from phonjax.options import (OneLineParser, add_model_options, add_plan_options,
                             argparse_type, displacement_distance, plan_of, positive)
from phonjax.resources import MEMORY_OPTION_HELP

DEFAULT_OUT = "phonjax-fc3"
DEFAULT_MIN_LENGTH_A = 10.0  # Si: 2×2×2 conventional (64 atoms), phono3py's example cell
OUT_FILES = ("fc3.hdf5", "fc2.hdf5", "phono3py_disp.yaml", "summary.json")
STRUCTURE_ONLY = ("supercell", "min_length", "fc2_supercell", "primitive", "distance")


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="phonjax fc3", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="phono3py folders or phono3py yaml files (their own forces), or "
                        "structure files ASE reads (with --model)")
    p.add_argument("--model", default=None, metavar="NAME[:VARIANT]",
                   help="uMLIP adapter giving the forces of structure-file inputs (required "
                        "for them)")
    cell = p.add_mutually_exclusive_group()
    cell.add_argument("--supercell", nargs="+", type=int, metavar="N",
                      help="FC3 supercell matrix relative to the input cell: 3 (diagonal) or 9 "
                           "integers")
    cell.add_argument("--min-length", type=argparse_type(positive, "--min-length"),
                      default=None, metavar="Å",
                      help="FC3 supercell: conventional-cell multiples with every lattice vector "
                           f"≥ this (default {DEFAULT_MIN_LENGTH_A:g})")
    p.add_argument("--fc2-supercell", nargs="+", type=int, metavar="N",
                   help="a separate FC2 supercell (phono3py's --dim-fc2): 3 or 9 integers")
    p.add_argument("--primitive", nargs="+", default=None, metavar="P",
                   help="'auto' (default: phonopy's choice by spglib), 'unitcell', or 9 numbers")
    p.add_argument("--distance", type=argparse_type(displacement_distance, "--distance"),
                   default=None, metavar="Å", help="displacement length (default 0.03, "
                   "phono3py's)")
    p.add_argument("--cutoff-pair-distance", type=argparse_type(positive, "--cutoff-pair-distance"),
                   default=None, metavar="Å", help="pairs farther apart get no supercell "
                   "(phono3py's --cutoff-pair; FC3 solved in full form and re-averaged as it does)")
    p.add_argument("--symmetrization", choices=SYMMETRIZATIONS, default="symfc-projector",
                   help="of FC2 and FC3 (default symfc-projector, phono3py.load's; random "
                        "displacement datasets are fitted by symfc whatever this says)")
    p.add_argument("--full", action="store_true",
                   help="full arrays (N, N, N, 3, 3, 3) instead of phono3py's compact "
                        "(n_p, N, N, 3, 3, 3)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"results folder (default ./{DEFAULT_OUT})")
    add_model_options(p)
    add_plan_options(p, MEMORY_OPTION_HELP + "; a crystal whose FC3 is over it fails with "
                     "one line")
    return p


@dataclass
class Crystal3:
    """One crystal's way through the command: its input, then its job or dataset, then its
    result or error (one line)."""

    name: str
    source: str
    forces: str  # "file" or the model spec
    dataset: object = None  # phono3py_files.FC3Dataset (file inputs)
    crystal: object = None  # structure.crystal.Crystal (structure inputs)
    job: object = None  # pipeline.fc3.FC3Job (structure inputs)
    cells: dict = field(default_factory=dict)
    result: object = None  # anharmonic.fc3.ForceConstants3
    error: str | None = None
    seconds: float = 0.0


def matrix_of(values, option: str) -> np.ndarray | None:
    """3 integers (diagonal) or 9 (row by row) as a checked supercell matrix."""
    from phonjax.io.dataset import DatasetError, checked_supercell_matrix

    if values is None:
        return None
    if len(values) not in (3, 9):
        raise ValueError(f"{option} takes 3 or 9 integers, got {len(values)}")
    m = np.array(values) if len(values) == 3 else np.reshape(values, (3, 3))
    try:
        return checked_supercell_matrix(m)
    except DatasetError as exc:
        raise ValueError(f"{option}: {exc}") from None


def primitive_of(values):
    """'auto', 'unitcell' or a checked 3×3 primitive matrix."""
    from phonjax.io.dataset import DatasetError, checked_primitive_matrix

    if values is None:
        return "auto"
    if len(values) == 1 and values[0] in ("auto", "spglib", "unitcell"):
        return "unitcell" if values[0] == "unitcell" else "auto"
    if len(values) != 9:
        raise ValueError(f"--primitive takes 'auto', 'unitcell' or 9 numbers, got "
                         f"{' '.join(values)}")
    try:
        return checked_primitive_matrix(np.reshape([float(x) for x in values], (3, 3)))
    except (DatasetError, ValueError) as exc:
        raise ValueError(f"--primitive: {exc}") from None


def is_phono3py_input(path: Path) -> bool:
    """A folder with a phono3py yaml in it, or a file named phono3py*.yaml (compressed too)."""
    from phonjax.io.phonopy_files import plain_name

    if path.is_dir():
        return any(plain_name(f).startswith("phono3py") and plain_name(f).endswith(".yaml")
                   for f in path.iterdir())
    return plain_name(path).startswith("phono3py") and plain_name(path).endswith(
        (".yaml", ".yml"))


def read_crystals(args, err) -> tuple[list[Crystal3], int]:
    """The crystals of every input (file inputs read with their forces, structure files as
    crystals), and the number of inputs that could not be used (one line each)."""
    from phonjax.io.dataset import DatasetError
    from phonjax.io.phono3py_files import read_phono3py_folder, read_phono3py_yaml
    from phonjax.single.inputs import InputError, read_inputs, safe_name

    items, bad = [], 0
    for text in args.inputs:
        path = Path(text)
        try:
            if path.exists() and is_phono3py_input(path):
                ds = (read_phono3py_folder(path) if path.is_dir() else read_phono3py_yaml(path))
                if ds.fc3_forces is None:
                    raise ValueError(f"{path}: no FC3 forces (FORCES_FC3 or forces in the yaml)")
                items.append(Crystal3(safe_name(ds.id, path), str(path), "file", dataset=ds))
            elif path.is_dir():
                raise InputError(f"{path}: a folder without a phono3py yaml "
                                 "(phono3py_params.yaml, phono3py.yaml, phono3py_disp.yaml)")
            else:
                inputs = read_inputs(path, require_forces=False)
                if any(i.dataset is not None for i in inputs):
                    raise InputError(f"{path}: a phonopy (harmonic) file; FC3 needs a phono3py "
                                     "folder or a structure file")
                if args.model is None:
                    raise InputError(f"{path}: a structure file needs --model for its forces")
                items += [Crystal3(i.name, str(path), args.model, crystal=i.crystal)
                          for i in inputs]
        except (InputError, DatasetError, ValueError, OSError) as exc:
            bad += 1
            err.print(f"[red]error[/red] {exc}", highlight=False, soft_wrap=True)
    seen: dict[str, int] = {}
    for item in items:  # unique folder names: Si, Si-2, …
        n = seen[item.name] = seen.get(item.name, 0) + 1
        if n > 1:
            item.name = f"{item.name}-{n}"
    return items, bad


def plan_structure_job(item: Crystal3, args, memory_bytes: float) -> None:
    """P, S (and the FC2 supercell) of a structure input, the FC3 array checked against the
    memory bound, then phono3py's displacements (``item.job``)."""
    from phonjax.anharmonic.displacements import DEFAULT_DISTANCE_A
    from phonjax.pipeline.cells import cell_choice, supercell_for_length
    from phonjax.pipeline.fc3 import fc3_job
    from phonjax.resources import fc3_solve_bytes, refuse_if_over
    from phonjax.structure.symmetry import auto_primitive_matrix

    crystal = item.crystal
    prim = primitive_of(args.primitive)
    if isinstance(prim, str) and prim == "auto":
        pmat, p_how = auto_primitive_matrix(crystal)
    elif isinstance(prim, str):
        pmat, p_how = np.eye(3), "the unit cell as given"
    else:
        pmat, p_how = prim, "given"
    smat = matrix_of(args.supercell, "--supercell")
    if smat is not None:
        s_how = "given"
    else:
        smat, s_how = supercell_for_length(crystal, args.min_length or DEFAULT_MIN_LENGTH_A)
    choice = cell_choice(crystal, pmat, smat, p_how, s_how)
    fc2_smat = matrix_of(args.fc2_supercell, "--fc2-supercell")
    fc2_choice = None if fc2_smat is None else cell_choice(crystal, pmat, fc2_smat, p_how, "given")
    n = choice.n_supercell
    full = args.full or args.cutoff_pair_distance is not None  # a cutoff solves in full form
    refuse_if_over(item.name, f"FC3 of a {n}-atom supercell",
                   fc3_solve_bytes(n, choice.n_primitive, full), memory_bytes,
                   "use a smaller --supercell / --min-length or raise the bound (--memory-gb)")
    item.cells = cells_record(choice, fc2_choice)
    item.job = fc3_job(item.name, crystal, choice.supercell_matrix, choice.primitive_matrix,
                       phonon_supercell_matrix=fc2_smat,
                       distance_A=args.distance or DEFAULT_DISTANCE_A,
                       cutoff_pair_distance_A=args.cutoff_pair_distance)


def cells_record(choice, fc2_choice=None) -> dict:
    out = choice.to_dict()
    out["phonon_supercell_matrix"] = (None if fc2_choice is None
                                      else fc2_choice.supercell_matrix.tolist())
    out["n_fc2_supercell"] = (choice.n_supercell if fc2_choice is None
                              else fc2_choice.n_supercell)
    return out


def file_cells(ds) -> dict:
    from phonjax.pipeline.cells import cell_choice

    rule = ds.primitive_matrix_rule or "from the file"
    choice = cell_choice(ds.unitcell, ds.primitive_matrix, ds.supercell_matrix, rule,
                         "from the file")
    fc2 = (None if ds.phonon_supercell_matrix is None else
           cell_choice(ds.unitcell, ds.primitive_matrix, ds.phonon_supercell_matrix, rule,
                       "from the file"))
    return cells_record(choice, fc2)


def solve_file(item: Crystal3, args, memory_bytes: float) -> None:
    """FC2 and FC3 of a file input from its own forces (``item.result``)."""
    from phonjax.anharmonic.fc3 import force_constants
    from phonjax.resources import fc3_solve_bytes, refuse_if_over

    ds = item.dataset
    item.cells = file_cells(ds)
    n, n_p = item.cells["n_supercell"], item.cells["n_primitive"]
    cutoff = not ds.is_random and ds.fc3_displacements.cutoff_distance is not None
    refuse_if_over(item.name, f"FC3 of a {n}-atom supercell",
                   fc3_solve_bytes(n, n_p, args.full or cutoff), memory_bytes,
                   "raise the memory bound (--memory-gb)")
    item.result = force_constants(ds, args.symmetrization, compact=not args.full)


def displacement_counts(item: Crystal3) -> dict:
    if item.job is not None:
        d = item.job.displacements
        return {"type": "pairs", "distance_A": d.fc3.distance_A,
                "n_fc3_supercells": d.fc3.n_supercells, "n_fc3_computed": d.fc3.n_included,
                "n_fc2_supercells": 0 if d.fc2 is None else len(d.fc2.atoms),
                "cutoff_pair_distance_A": d.fc3.cutoff_pair_distance_A}
    ds = item.dataset
    disps = ds.fc3_displacements
    random = ds.is_random
    computed = (disps.n_supercells if random or disps.cutoff_distance is None
                else len(disps.first_atoms) + int(disps.included.sum()))
    return {"type": "random" if random else "pairs", "distance_A": None,
            "n_fc3_supercells": disps.n_supercells, "n_fc3_computed": computed,
            "n_fc2_supercells": (0 if ds.fc2_displacements is None
                                 else ds.fc2_displacements.n_supercells),
            "cutoff_pair_distance_A": None if random else disps.cutoff_distance}


def summary(item: Crystal3, args, batch_seconds: float | None, n_batch: int) -> dict:
    import phono3py

    from phonjax import __version__

    r = item.result
    return {
        "name": item.name, "input": item.source,
        "forces": "from the file" if item.forces == "file" else "model",
        "model": None if item.forces == "file" else item.forces,
        "cells": item.cells, "displacements": displacement_counts(item),
        "symmetrization": r.symmetrization, "compact": r.compact,
        "fc3_shape": list(r.fc3.shape), "fc2_shape": list(r.fc2.shape),
        "max_abs_fc3_eV_A3": float(np.abs(r.fc3).max()),
        "max_abs_fc2_eV_A2": float(np.abs(r.fc2).max()),
        "timing_s": {"solve": item.seconds, "model_batch": batch_seconds,
                     "crystals_in_model_batch": n_batch if batch_seconds is not None else None},
        "plan": args.plan, "memory_gb": args.memory_gb,
        "phonjax_version": __version__, "phono3py_version": phono3py.__version__,
        "files": list(OUT_FILES),
    }


def replace_refusal(folder: Path) -> str | None:
    """Why OUT/NAME may not be replaced, or None (absent, or holding only this command's
    files and temporary names of a killed run)."""
    from phonjax.atomic_write import LEFTOVER

    if not folder.is_symlink() and not folder.exists():
        return None
    if folder.is_symlink() or not folder.is_dir():
        return "it is not a folder"
    for entry in sorted(folder.iterdir()):
        if LEFTOVER.match(entry.name) or (entry.name in OUT_FILES and entry.is_file()):
            continue
        return f"it holds {entry.name}, which phonjax fc3 does not write"
    return None


def check_targets(out: Path, names) -> None:
    """``single.outputs.check_targets`` with this command's ``replace_refusal``."""
    from phonjax.single import outputs

    outputs.check_targets(out, names, replace_refusal, "phonjax fc3")


def write_item_disp_yaml(path: Path, item: Crystal3) -> Path:
    """phono3py_disp.yaml of a crystal: its cells and displacements (a model job's, or the
    phono3py input's own, with its Born charges)."""
    from phonjax.anharmonic import files

    if item.job is not None:
        j = item.job
        return files.write_disp_yaml(path, j.unitcell, j.supercell_matrix, j.primitive_matrix,
                                     j.displacements.fc3, j.phonon_supercell_matrix,
                                     j.displacements.fc2)
    ds = item.dataset
    return files.write_disp_yaml(path, ds.unitcell, ds.supercell_matrix, ds.primitive_matrix,
                                 ds.fc3_displacements, ds.phonon_supercell_matrix,
                                 ds.fc2_displacements, ds.nac)


def write_crystal(out: Path, item: Crystal3, record: dict) -> Path:
    """OUT/NAME with fc3.hdf5, fc2.hdf5, phono3py_disp.yaml and summary.json, whole."""
    from phonjax.anharmonic import files
    from phonjax.atomic_write import remove_leftovers, replacing_folder, write_text
    from phonjax.single.outputs import child

    out.mkdir(parents=True, exist_ok=True)
    target = child(out, item.name)
    r = item.result
    with replacing_folder(target) as tmp:
        files.write_fc3_hdf5(tmp / files.FC3_FILE, r)
        files.write_fc2_hdf5(tmp / files.FC2_FILE, r)
        write_item_disp_yaml(tmp / files.DISP_YAML_FILE, item)
        write_text(tmp / "summary.json", json.dumps(record, indent=2, allow_nan=False) + "\n")
    remove_leftovers(out, item.name)
    return target


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message; for one without a message (a bare
    ``assert`` in a library), its type and the line that raised it."""
    text = str(exc).strip().splitlines()
    if text:
        return text[0]
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = (f" raised at {Path(frames[-1].filename).parent.name}/"
             f"{Path(frames[-1].filename).name}:{frames[-1].lineno}") if frames else ""
    return f"{type(exc).__name__}{where}"


def print_table(items, console) -> None:
    from rich.table import Table

    from phonjax.terminal import fit_table

    table = Table(title="phonjax fc3 — FC3 (eV/Å³) and FC2 written as phono3py's fc3.hdf5, "
                  "fc2.hdf5")
    for col in ("crystal", "forces", "n_p", "N fc3", "N fc2", "supercells", "symmetrization",
                "max|Φ3|", "s"):
        table.add_column(col, justify="left" if col in ("crystal", "forces",
                                                        "symmetrization") else "right")
    fit_table(table)
    for it in items:
        if it.error is not None:
            table.add_row(it.name, it.forces, "", "", "", "", "[red]failed[/red]", "", "")
            continue
        c, d = it.cells, displacement_counts(it)
        table.add_row(it.name, it.forces, str(c["n_primitive"]), str(c["n_supercell"]),
                      str(c["n_fc2_supercell"]),
                      str(d["n_fc3_computed"] + d["n_fc2_supercells"]),
                      it.result.symmetrization, f"{np.abs(it.result.fc3).max():.4f}",
                      f"{it.seconds:.1f}")
    console.print(table)


def solve_force_constants(items, args, plan) -> tuple[float | None, int]:
    """FC2 and FC3 (``item.result``) of every crystal not yet solved or failed: phono3py
    inputs from their own forces, structure inputs in one batched model call; a crystal that
    fails gets its one-line ``error`` and the others go on. Returns the model batch's seconds
    (None without one) and its number of crystals."""
    for it in items:
        if it.result is not None or it.error is not None:
            continue
        start = time.perf_counter()
        try:
            if it.forces == "file":
                solve_file(it, args, plan.memory_bytes)
            else:
                plan_structure_job(it, args, plan.memory_bytes)
        except Exception as exc:  # one bad crystal must not stop the others
            it.error = one_line(exc)
        it.seconds += time.perf_counter() - start
    model_items = [it for it in items if it.job is not None and it.error is None]
    if not model_items:
        return None, 0
    from phonjax.pipeline import models
    from phonjax.pipeline.fc3 import model_fc3
    from phonjax.pipeline.forces import default_lanes

    max_atoms = args.max_atoms or (256 if args.device == "cpu" else 2048)
    start = time.perf_counter()
    try:
        adapter = models.adapter(args.model, args.device, max_atoms)
        results = model_fc3([it.job for it in model_items], adapter,
                            lanes=default_lanes(args.device), plan=plan,
                            symmetrization=args.symmetrization, compact=not args.full)
    except Exception as exc:
        results = [exc] * len(model_items)
    batch_seconds = time.perf_counter() - start
    for it, r in zip(model_items, results):
        if isinstance(r, BaseException):
            it.error = one_line(r)
        else:
            it.result = r
        it.seconds += batch_seconds
    return batch_seconds, len(model_items)


def main(argv: list[str] | None = None) -> int:
    from phonjax.single.outputs import OutputError, check_out
    from phonjax.terminal import quiet_third_party_warnings, stderr_console, stdout_console

    try:
        args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # a usage error (one line, already printed) or --help
        return exc.code if isinstance(exc.code, int) else 2
    quiet_third_party_warnings(False)
    err = stderr_console()
    try:  # every option checked before any input is read
        plan = plan_of(args)
        matrix_of(args.supercell, "--supercell")
        matrix_of(args.fc2_supercell, "--fc2-supercell")
        primitive_of(args.primitive)
        if args.max_atoms is not None and args.max_atoms < 1:
            raise ValueError("--max-atoms must be ≥ 1")
        if args.model is not None:
            from phonjax.pipeline import models

            models.check_spec(args.model)
        out = check_out(args.out)
    except (OutputError, ValueError) as exc:
        err.print(f"[red]error[/red]: {one_line(exc)}", highlight=False, soft_wrap=True)
        return 2
    t0 = time.perf_counter()
    items, bad = read_crystals(args, err)
    if not items:
        return 2
    try:
        check_targets(out, [it.name for it in items])
    except OutputError as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
        return 2
    if any(it.forces == "file" for it in items) and any(
            getattr(args, k) is not None for k in STRUCTURE_ONLY):
        err.print("[yellow]note[/yellow]: --supercell, --min-length, --fc2-supercell, "
                  "--primitive and --distance apply to structure files; phono3py inputs keep "
                  "their own cells and displacements", highlight=False, soft_wrap=True)
    from phonjax.compile_cache import enable_compilation_cache

    enable_compilation_cache()
    batch_seconds, n_batch = solve_force_constants(items, args, plan)
    for it in items:
        if it.error is None:
            try:
                record = summary(it, args, batch_seconds if it.job is not None else None,
                                 n_batch)
                write_crystal(out, it, record)
            except Exception as exc:
                kept = "; the previous files are kept" if (out / it.name).exists() else ""
                it.error = f"writing {out / it.name}: {one_line(exc)}{kept}"
        if it.error is not None:
            err.print(f"[red]error[/red] {it.name}: {it.error}", highlight=False, soft_wrap=True)
    print_table(items, stdout_console())
    failed = sum(it.error is not None for it in items)
    err.print(f"{len(items) - failed} done, {failed + bad} failed in "
              f"{time.perf_counter() - t0:.1f} s · files in {out}/", highlight=False)
    return 1 if failed or bad else 0
