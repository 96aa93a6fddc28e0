"""``phonjax run STRUCTURE... [options]``: phonons of one crystal, or a hundred, with files and plots.

Each structure file (CIF, POSCAR, extxyz, … anything ASE reads) with each ``--model``:
relaxed (FixSymmetry + FrechetCellFilter + FIRE, fmax 0.005 eV/Å), supercell with lattice
vectors ≥ 20 Å, primitive cell found by spglib, band structure along seekpath's path (mapped to
the cell used and checked), tetrahedron DOS and PDOS on a 20×20×20 mesh, thermal properties
0–1000 K, imaginary-mode report with modulated structures. A phonopy folder (phonopy_disp.yaml
or phonopy.yaml with FORCE_SETS, or phonopy_params.yaml) or a force-set file gives the same
from its own DFT forces, cells and Born charges. Polar crystals: a BORN next to the phonopy
files turns the non-analytical correction on (LO–TO splitting at Γ, as phonopy; --no-nac:
off); --born FILE adds DFT Born charges and ε∞ to a model's force constants. Files and PNGs go
to OUT/NAME/MODEL/; several models on one crystal also give OUT/NAME/comparison.{csv,png}.
Each OUT/NAME is replaced whole by a re-run (written aside, then swapped in: it holds only
that run's files; a failed or killed write keeps the previous folder).
A bad option or an unusable model: one line, exit status 2. A crystal that fails: one line,
the others go on, exit status 1.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

from phonjax.options import add_model_options, add_plan_options, plan_of
from phonjax.resources import MEMORY_OPTION_HELP

DEFAULT_MODEL = "chgnet"
DEFAULT_OUT = "phonjax-run"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="phonjax run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("structures", nargs="+", metavar="STRUCTURE",
                   help="structure files ASE reads; phonopy folders (phonopy_disp.yaml or "
                        "phonopy.yaml + FORCE_SETS [+ BORN]); phonopy_params / Alexandria files")
    p.add_argument("--model", action="append", default=None, metavar="NAME[:VARIANT]",
                   help=f"uMLIP adapter, repeatable (default {DEFAULT_MODEL}; 'dft': a force-set "
                        "file's own forces, the default for force-set files)")
    cell = p.add_mutually_exclusive_group()
    cell.add_argument("--supercell", nargs="+", type=int, metavar="N",
                      help="supercell matrix relative to the input cell: 3 (diagonal) or 9 integers")
    cell.add_argument("--min-length", type=float, default=20.0, metavar="Å",
                      help="supercell: conventional-cell multiples with every lattice vector ≥ this "
                           "(default 20)")
    p.add_argument("--primitive", nargs="+", default=["auto"], metavar="P",
                   help="'auto' (default: a force-set file's own, else spglib's, phonopy's "
                        "choice), 'spglib', 'unitcell', or 9 numbers")
    p.add_argument("--no-relax", action="store_true", help="use the structure as given")
    p.add_argument("--fmax", type=float, default=0.005, metavar="eV/Å",
                   help="relaxation converged below this force (default 0.005)")
    p.add_argument("--no-symmetrize", action="store_true",
                   help="do not snap the input to the symmetry found at 1e-3 Å")
    p.add_argument("--band-path", default="auto", metavar="auto|FILE",
                   help="'auto' (seekpath, mapped to the cell used and checked) or a YAML path file")
    p.add_argument("--band-points", type=int, default=101, metavar="N",
                   help="q-points on the longest path segment (default 101)")
    mesh = p.add_mutually_exclusive_group()
    mesh.add_argument("--mesh", nargs="+", type=int, default=[20, 20, 20], metavar="N",
                      help="q-mesh for DOS and thermal properties: N or N1 N2 N3 (default 20, "
                           "half-shifted on even axes as phonopy)")
    mesh.add_argument("--mesh-length", type=float, default=None, metavar="Å",
                      help="q-mesh from a length, as phonopy's run_mesh(length): Γ-centred, a "
                           "generalized regular grid where a regular one breaks the symmetry")
    p.add_argument("--gamma-center", action="store_true",
                   help="--mesh without the half shift (phonopy's is_gamma_center)")
    p.add_argument("--dos", choices=("tetrahedron", "gaussian"), default=None,
                   help="DOS method (default: tetrahedron, or gaussian when --sigma is given, "
                        "as phonopy)")
    p.add_argument("--sigma", type=float, default=None, metavar="THz",
                   help="Gaussian width (default: phonopy's, 1/100 of the frequency span)")
    p.add_argument("--dos-range", nargs=2, type=float, default=None, metavar=("MIN", "MAX"),
                   help="DOS frequency range in THz (phonopy's freq_min, freq_max; default: "
                        "the span ± 10σ)")
    p.add_argument("--dos-pitch", type=float, default=None, metavar="THz",
                   help="DOS frequency step (phonopy's freq_pitch; default: the range / 200)")
    p.add_argument("--cutoff-frequency", type=float, default=0.0, metavar="THz",
                   help="F, S, Cv sum only the modes above this (phonopy's cutoff_frequency; "
                        "default 0)")
    p.add_argument("--temperatures", nargs=3, type=float, default=[0.0, 1000.0, 10.0],
                   metavar=("T0", "T1", "STEP"), help="K (default 0 1000 10)")
    p.add_argument("--imaginary-tolerance", type=float, default=0.05, metavar="THz",
                   help="ν < −this counts as imaginary (default 0.05)")
    nac = p.add_mutually_exclusive_group()
    nac.add_argument("--born", default=None, metavar="FILE",
                     help="phonopy BORN file: Born charges and ε∞ (from DFT) for the "
                          "non-analytical correction (default: a BORN next to phonopy files)")
    nac.add_argument("--no-nac", action="store_true",
                     help="no non-analytical correction, even with a BORN next to the files")
    o = p.add_argument_group("phonopy's other outputs (phonjax.phonon; README: Coming from "
                             "phonopy)")
    o.add_argument("--group-velocities", action="store_true",
                   help="group velocities on the mesh and the band path: mesh.yaml and band.yaml "
                        "gain group_velocity, group_velocity.png")
    o.add_argument("--band-connection", action="store_true",
                   help="band branches ordered by eigenvector overlap (phonopy's "
                        "--band-connection)")
    o.add_argument("--band-points-per-segment", type=int, default=None, metavar="N",
                   help="N q-points on every band segment (phonopy's BAND_POINTS) instead of "
                        "--band-points at constant spacing")
    o.add_argument("--classical", action="store_true",
                   help="F, S, Cv with classical statistics (phonopy's --classical)")
    o.add_argument("--tdisp", action="store_true",
                   help="thermal displacements ⟨u²⟩ and matrices (ADPs) on the full mesh: "
                        "thermal_displacements.yaml, thermal_displacement_matrices.yaml, png "
                        "(an odd mesh or --gamma-center keeps the site symmetry, as in phonopy)")
    o.add_argument("--tdisp-range", nargs=2, type=float, default=None, metavar=("FMIN", "FMAX"),
                   help="their modes: above FMIN and below FMAX THz (phonopy's --fmin, --fmax)")
    o.add_argument("--tdispmat-cif", type=float, default=None, metavar="T",
                   help="the ADPs at T K as tdispmat.cif (implies --tdisp)")
    o.add_argument("--irreps", nargs=3, type=float, default=None, metavar=("QX", "QY", "QZ"),
                   help="irreducible representations of the modes at q (reduced): irreps.yaml; "
                        "at Γ with Mulliken labels and IR/Raman activity")
    o.add_argument("--modulation", default=None, metavar="'D1 D2 D3, QX QY QZ BAND AMP PHASE, ...'",
                   help="modulated supercells as phonopy's MODULATION tag (band from 1, amplitude "
                        "as phonopy's, phase in degrees): modulation/MPOSCAR…, modulation.yaml")
    fc = p.add_argument_group("force constants (phonopy's fc_calculator and options)")
    fc.add_argument("--fc-calculator", choices=("finite", "symfc"), default="finite",
                    help="'finite' (phonopy's one-atom finite differences, default) or 'symfc' "
                         "(a symfc fit, phonopy 4's fc_calculator='symfc')")
    fc.add_argument("--random-displacements", type=int, default=None, metavar="N",
                    help="N supercells with every atom displaced at random by --distance "
                         "(phonopy's number_of_snapshots; implies --fc-calculator symfc)")
    fc.add_argument("--random-seed", type=int, default=None, metavar="S",
                    help="phonopy's random_seed (default: drawn, and recorded in summary.json)")
    fc.add_argument("--symfc-cutoff", type=float, default=None, metavar="Å",
                    help="symfc's pair cutoff (phonopy's --fc-calc-opt 'cutoff = r')")
    fc.add_argument("--no-sym-fc", action="store_true",
                    help="finite-difference force constants not symmetrized (phonopy's "
                         "--no-sym-fc)")
    fc.add_argument("--cutoff-radius", type=float, default=None, metavar="Å",
                    help="force constants of pairs farther apart than this set to zero "
                         "(phonopy's --cutoff-radius)")
    p.add_argument("--distance", type=float, default=0.01, metavar="Å",
                   help="displacement length (default 0.01, phonopy's; at most 0.2, with a "
                        "warning above 0.05)")
    q = p.add_argument_group("thermal expansion (--qha)")
    q.add_argument("--qha", action="store_true",
                   help="also the quasi-harmonic approximation: --qha-volumes volumes around the "
                        "relaxed one, relaxed at fixed volume, their phonons batched, phonopy's "
                        "QHA (V(T), α(T), B(T), Cp, G) in qha/ (see phonjax.single.qha_step)")
    q.add_argument("--qha-volumes", type=int, default=11, metavar="N",
                   help="volumes (default 11, at least 5)")
    q.add_argument("--qha-strain", type=float, default=0.05, metavar="X",
                   help="volume strain at the ends: V0(1 ± X) (default 0.05)")
    q.add_argument("--qha-eos", choices=("vinet", "birch_murnaghan", "murnaghan"),
                   default="vinet")
    q.add_argument("--qha-pressure", type=float, default=None, metavar="GPa")
    k = p.add_argument_group("thermal conductivity (--kappa)")
    k.add_argument("--kappa", action="store_true",
                   help="also κ(T): FC3 and FC2 from the model on the relaxed cell (0.03 Å, "
                        "phono3py's displacements), Wigner transport with isotope scattering, "
                        "the κ benchmark's recipe (see phonjax.single.kappa_step)")
    k.add_argument("--kappa-mesh", nargs="+", type=int, default=None, metavar="N",
                   help="κ q-mesh: N or N1 N2 N3 (default: phonopy's length rule at 60 Å, "
                        "19×19×19 for Si)")
    k.add_argument("--kappa-method", choices=("wigner", "rta"), default="wigner")
    k.add_argument("--kappa-temperatures", default="100:1000:50", metavar="T|A:B:STEP",
                   help="κ temperatures in K: numbers or START:STOP:STEP (default 100:1000:50)")
    k.add_argument("--fc3-supercell", nargs="+", type=int, default=None, metavar="N",
                   help="FC3 supercell relative to the input cell, 3 or 9 integers (default: "
                        "conventional multiples ≥ 10 Å)")
    k.add_argument("--no-isotope", action="store_true", help="κ without isotope scattering")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"results folder (default ./{DEFAULT_OUT})")
    add_model_options(p)
    p.add_argument("--no-plots", action="store_true", help="files only")
    add_plan_options(p, MEMORY_OPTION_HELP + "; a crystal over it fails with one line")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show other packages' warnings (torch, the models, ase, pymatgen, "
                        "spglib, phonopy); phonjax's own always show")
    return p


def temperatures(t0: float, t1: float, step: float) -> tuple[float, ...]:
    if not (step > 0 and t1 >= t0):
        raise ValueError(f"--temperatures needs T0 ≤ T1 and STEP > 0, got {t0:g} {t1:g} {step:g}")
    n = int(round((t1 - t0) / step))
    return tuple(float(t0 + i * step) for i in range(n + 1) if t0 + i * step <= t1 + 1e-9)


def modulation_tag(text: str) -> tuple:
    """(dimension, [(q, band from 0, amplitude, phase°), ...]) from phonopy's MODULATION tag,
    "D1 D2 D3, QX QY QZ BAND AMPLITUDE PHASE, ..." (3 or 9 dimension integers; bands from 1;
    PHASE may be left out: 0), as ``Phonons.run_modulations`` takes it."""
    parts = [p.split() for p in text.split(",")]
    try:
        dimension = [int(x) for x in parts[0]]
        modes = []
        for m in parts[1:]:
            values = [float(x) for x in m]
            if len(values) not in (5, 6) or values[3] != int(values[3]) or values[3] < 1:
                raise ValueError
            modes.append((values[:3], int(values[3]) - 1, values[4],
                          values[5] if len(values) == 6 else 0.0))
    except ValueError:
        raise ValueError(f"--modulation: {text!r} is not phonopy's MODULATION tag "
                         "('D1 D2 D3, QX QY QZ BAND AMPLITUDE PHASE, ...', bands from 1)") from None
    if len(dimension) not in (3, 9) or not modes:
        raise ValueError(f"--modulation: {text!r} needs 3 or 9 dimension integers and at least "
                         "one mode")
    return (tuple(dimension), tuple((tuple(q), b, a, ph) for q, b, a, ph in modes))


def settings_from(args):
    """``WorkflowSettings`` from the options (``SettingsError``/``ValueError`` on nonsense)."""
    from phonjax.single.settings import WorkflowSettings

    prim = args.primitive
    primitive = prim[0] if len(prim) == 1 else [float(x) for x in prim]
    if isinstance(primitive, list) and len(primitive) != 9:
        raise ValueError(f"--primitive takes 'auto', 'unitcell' or 9 numbers, got {len(prim)}")
    if args.supercell is not None and len(args.supercell) not in (3, 9):
        raise ValueError(f"--supercell takes 3 or 9 integers, got {len(args.supercell)}")
    if args.max_atoms is not None and args.max_atoms < 1:
        raise ValueError("--max-atoms must be ≥ 1")
    return WorkflowSettings(
        relax=not args.no_relax, fmax_eV_A=args.fmax, min_length_A=args.min_length,
        symmetrize_tolerance_A=None if args.no_symmetrize else 1e-3,
        supercell_matrix=None if args.supercell is None else tuple(args.supercell),
        primitive_matrix=primitive, distance_A=args.distance, mesh=tuple(args.mesh),
        mesh_length_A=args.mesh_length, gamma_center=args.gamma_center,
        temperatures_K=temperatures(*args.temperatures), band_path=args.band_path,
        band_points=args.band_points if args.band_points_per_segment is None
        else args.band_points_per_segment,
        dos_method=args.dos or ("gaussian" if args.sigma is not None else "tetrahedron"),
        dos_sigma_THz=args.sigma,
        dos_freq_min_THz=None if args.dos_range is None else args.dos_range[0],
        dos_freq_max_THz=None if args.dos_range is None else args.dos_range[1],
        dos_freq_pitch_THz=args.dos_pitch, cutoff_frequency_THz=args.cutoff_frequency,
        fc_calculator="symfc" if args.random_displacements is not None else args.fc_calculator,
        random_snapshots=args.random_displacements, random_seed=args.random_seed,
        symfc_cutoff_A=args.symfc_cutoff, symmetrize_fc=not args.no_sym_fc,
        fc_cutoff_radius_A=args.cutoff_radius,
        group_velocities=args.group_velocities, band_connection=args.band_connection,
        band_per_segment=args.band_points_per_segment is not None,
        classical=args.classical, thermal_displacements=args.tdisp or args.tdispmat_cif is not None,
        tdisp_freq_min_THz=0.0 if args.tdisp_range is None else args.tdisp_range[0],
        tdisp_freq_max_THz=None if args.tdisp_range is None else args.tdisp_range[1],
        tdispmat_cif_K=args.tdispmat_cif, irreps_q=args.irreps,
        modulation=None if args.modulation is None else modulation_tag(args.modulation),
        imaginary_tolerance_THz=args.imaginary_tolerance,
        nac=False if args.no_nac else args.born)


def irreps_line(ir) -> str:
    """The irreps at q in one line: point group of q, and per degenerate set its label (and,
    at Γ, IR/Raman activity)."""
    q = " ".join(f"{x:g}" for x in ir.qpoint)
    sets = []
    for i, bands in enumerate(ir.degenerate_sets):
        label = ir.labels[i] if ir.labels is not None and ir.labels[i] else (
            "acoustic" if ir.acoustic is not None and ir.acoustic[i] else f"{len(bands)}-dim")
        if ir.activities is not None and ir.acoustic is not None and not ir.acoustic[i]:
            label += f" ({ir.activities[i]})"
        sets.append(label)
    return f"irreps at q = ({q}), point group {ir.point_group_at_q}: " + ", ".join(sets)


def kappa_settings_from(args):
    """``single.kappa_step.KappaRunSettings`` from the κ options (ValueError on nonsense)."""
    from phonjax.anharmonic.cli import matrix_of
    from phonjax.anharmonic.kappa_cli import temperatures_of
    from phonjax.options import mesh_numbers
    from phonjax.single.kappa_step import KappaRunSettings

    mesh = None if args.kappa_mesh is None else mesh_numbers("--kappa-mesh", args.kappa_mesh)
    fc3 = matrix_of(args.fc3_supercell, "--fc3-supercell")
    return KappaRunSettings(method=args.kappa_method, isotope=not args.no_isotope,
                            temperatures_K=temperatures_of(args.kappa_temperatures.split()),
                            mesh=mesh, fc3_supercell=None if fc3 is None
                            else tuple(int(x) for x in fc3.ravel()))


def _items(args, settings, err):
    """(pairs, number of unusable inputs); a model that cannot run raises ValueError."""
    from phonjax.single.inputs import InputError, is_force_set_file
    from phonjax.single.phonons import Phonons

    models = args.model
    items, bad = [], 0
    if models:
        for m in models:  # a model that cannot run stops everything, before any input is read
            if m != "dft":
                from phonjax.pipeline import models as registry

                registry.check_spec(m)
    if args.band_path != "auto" and not Path(args.band_path).is_file():
        raise ValueError(f"--band-path {args.band_path}: file not found")
    for s in args.structures:
        chosen = models or (["dft"] if is_force_set_file(s) else [DEFAULT_MODEL])
        try:
            items += Phonons.from_structures([s], chosen, settings=settings, device=args.device,
                                             max_atoms=args.max_atoms,
                                             plan=plan_of(args))
        except (InputError, ValueError) as exc:
            bad += 1
            err.print(f"[red]error[/red] {exc}", highlight=False, soft_wrap=True)
    final: dict[tuple, str] = {}  # (name, source) -> folder name, unique across arguments
    for p in items:
        key = (p.name, p.source)
        if key not in final:
            taken = set(final.values())
            name, k = p.name, 1
            while name in taken:
                k += 1
                name = f"{p.name}-{k}"
            final[key] = name
        p.pair = replace(p.pair, name=final[key])
    return items, bad


def _slug(model: str) -> str:
    return model.replace(":", "_").replace("/", "_")


def _progress(err):
    state = {"t": time.perf_counter(), "last": None}

    def report(message: str) -> None:
        now = time.perf_counter()
        if state["last"] is not None:
            err.print(f"  [green]✓[/green] {state['last']} ({now - state['t']:.1f} s)",
                      highlight=False, soft_wrap=True)
        state.update(t=now, last=message)
        status.update(f"{message} …")

    status = err.status("starting …")
    return report, status


def _outputs(items, out: Path, plots: bool, err) -> None:
    """OUT/NAME of every crystal, each written whole or not at all (``outputs``): a crystal
    whose files fail keeps its previous folder, and its pairs fail at stage "output"."""
    from phonjax.single.outputs import write_crystal

    crystals: dict[str, list] = {}
    for p in items:
        crystals.setdefault(p.name, []).append(p)
    for name, group in crystals.items():
        try:
            write_crystal(out, name, group, plots, _slug)
        except Exception as exc:
            kept = "; the previous files are kept" if (out / name).exists() else ""
            for p in group:
                if p.error is None:
                    p.error = ("output", f"{type(exc).__name__}: {exc}{kept}")


def _matrix(m) -> str:
    """"4×4×4" for a diagonal matrix, its rows otherwise."""
    import numpy as np

    m = np.asarray(m)
    if (m == np.diag(m.diagonal())).all():
        return "×".join(str(int(x)) for x in m.diagonal())
    return " ".join(",".join(str(int(x)) for x in row) for row in m)


def describe(p) -> list[str]:
    """What was done to one pair, in a few lines (the choices the user should see)."""
    if p.error is not None and p.cells is None:
        return [f"[bold]{p.name}[/bold] · {p.model}: [red]{p.error[0]} failed[/red]: {p.error[1]}"]
    lines = [f"[bold]{p.name}[/bold] · {p.model}"]
    sym = f"input {p.input_crystal.n_atoms} atoms, {p.symmetry_input}"
    if p.symmetrized_to is not None:
        sym += f"; snapped to {p.symmetrized_to} at {p.settings.symmetrize_tolerance_A:g} Å"
    lines.append(sym)
    r = p.relaxation
    if r is not None:
        state = "converged" if r.converged else "[red]not converged[/red]"
        lines.append(f"relaxed: {r.steps} FIRE steps, final fmax {r.fmax_eV_A:.2e} eV/Å ({state}); "
                     f"symmetry after: {r.symmetry_after}")
    elif p.model != "dft":
        lines.append("relaxation off: the structure as given")
    c = p.cells
    if c is not None:
        lines.append(f"primitive cell: {c.n_primitive} atoms, {c.primitive_how}")
        n_disp = (0 if p.system is None else len(p.system.displacements)
                  if p.displacement_fields is None else len(p.displacement_fields))
        lines.append(f"supercell: {_matrix(c.supercell_matrix)} ({c.supercell_how}) = "
                     f"{c.n_supercell} atoms, images ≥ {c.min_image_distance_A:.1f} Å apart, "
                     f"{n_disp} displacement(s)")
        if p.harmonic is not None and not p.settings.fc_route.is_kernel:
            lines.append(f"force constants: {p.harmonic.fc_rule}")
        from phonjax.single.report import nac_summary_line

        nac = nac_summary_line(p)
        if nac:
            lines.append(nac)
    if p.band is not None:
        path = p.band.path
        ok = {True: "[green]all labelled points checked[/green]",
              False: f"[red]check failed for {[x.label for x in path.checks if not x.ok]}[/red]",
              None: "not checked"}[path.verified]
        lines.append(f"band path: {path.source}; {ok}")
    from phonjax.single.report import mesh_contains_gamma

    if p.mesh is not None:
        lines.append(f"mesh: {p.mesh.grid.rule}, {len(p.mesh.grid.qpoints)} irreducible q")
    if mesh_contains_gamma(p):
        lines.append("the mesh contains Γ: its three acoustic modes are excluded from F, S, Cv "
                     "(phonopy's exclude_gamma_acoustic=True)")
    if p.thermal is not None and p.thermal.classical:
        lines.append("F, S, Cv with classical statistics (phonopy's classical=True)")
    if p.thermal is not None and p.thermal.cutoff_frequency_THz > 0:
        lines.append(f"F, S, Cv sum the modes above {p.thermal.cutoff_frequency_THz:g} THz "
                     "(phonopy's cutoff_frequency)")
    if p.instability is not None:
        lines.append(verdict_line(p.instability))
    if p.irreps_result is not None:
        lines.append(irreps_line(p.irreps_result))
    if p.kappa is not None:
        lines.append(kappa_line(p.kappa))
    if p.qha is not None:
        lines.append(qha_line(p.qha))
    if p.error is not None:
        lines.append(f"[red]{p.error[0]} failed[/red]: {p.error[1]}")
    return [lines[0]] + ["  " + x for x in lines[1:]]


def qha_line(o) -> str:
    """What the QHA step did: volumes used and excluded (named), or why there is none."""
    bad = [f"V/V₀ {v.fraction:.3f} (lowest {v.min_frequency_THz:.3f} THz, {v.min_where})"
           for v in o.excluded]
    if o.result is None:
        return f"QHA [red]{o.status}[/red]: {o.reason}"
    used = len(o.points) - len(bad)
    line = (f"QHA: {used} of {len(o.points)} volumes (V₀ ± {o.settings.strain:g}), "
            f"{o.settings.eos} EOS")
    if bad:
        line += "; [yellow]excluded (imaginary modes)[/yellow]: " + ", ".join(bad)
    top, convex = float(o.result.temperatures_K[-1]), o.convex_until_K
    if convex is None or convex < top:
        line += ("; [red]B_T ≤ 0[/red] (F(V) not convex) from "
                 f"{'0' if convex is None else f'above {convex:g}'} K: the model's phonons "
                 "outweigh U(V) there, α and V(T) are not meaningful")
    until = o.inside_until_K
    if until is None or until < top:
        line += ("; [yellow]V(T) leaves the fitted volumes[/yellow] above "
                 f"{until if until is not None else 0:g} K (an extrapolation: widen --qha-strain)")
    return line


def print_qha_table(items, console) -> None:
    """V, α, B_T at 300 K (or the nearest temperature) per pair with a QHA."""
    import numpy as np
    from rich.table import Table

    done = [p for p in items if p.qha is not None and p.qha.result is not None]
    if not done:
        return
    table = Table(title="quasi-harmonic approximation (phonopy's), per primitive cell")
    for col in ("crystal", "model", "T K", "V Å³", "α 10⁻⁶/K", "B_T GPa", "Cp J/K/mol"):
        table.add_column(col, justify="left" if col in ("crystal", "model") else "right")
    for p in done:
        r = p.qha.result
        i = int(np.argmin(np.abs(r.temperatures_K - 300.0)))
        table.add_row(p.name, p.model, f"{r.temperatures_K[i]:g}",
                      f"{r.equilibrium_volumes_A3[i]:.4f}",
                      f"{r.thermal_expansion_per_K[i] * 1e6:.3f}",
                      f"{r.bulk_modulus_GPa[i]:.2f}",
                      f"{r.heat_capacity_P_polyfit_JKmol[i]:.3f}")
    console.print(table)


def kappa_line(o) -> str:
    """What the κ step did: cells, displacements, mesh and method, or why there is no κ."""
    import numpy as np

    if o.dataset is None:
        return f"κ: [red]{o.status}[/red] at {o.stage}: {o.reason}"
    from phonjax.single.kappa_step import KappaRunSettings

    used = KappaRunSettings().recipe()  # the displacement and symmetrization run() uses
    n3 = o.dataset.unitcell.n_atoms * round(abs(np.linalg.det(o.dataset.supercell_matrix)))
    line = (f"κ: FC3 supercell {_matrix(o.dataset.supercell_matrix)} ({n3} atoms), FC2 "
            f"{_matrix(o.dataset.phonon_supercell_matrix)}, {used.distance_A:g} Å "
            f"displacements, {o.n_supercells} supercells from the model, "
            f"{used.symmetrization} symmetrization")
    if o.result is None:
        return line + f"; [red]{o.status}[/red] at {o.stage}: {o.reason}"
    s = o.result.settings
    return (line + f"; {s.method} on {'×'.join(map(str, s.mesh))} ({o.result.n_triplets:,} "
            f"triplets), {s.integration}" + (", isotope scattering" if s.isotope else ""))


def verdict_line(rep) -> str:
    """The stability line: stable, unstable, or a near-Γ acoustic dip (likely numerical)."""
    from phonjax.single.instability import ACOUSTIC_DIP_ADVICE

    v = rep.verdict
    lowest = f"lowest counted frequency {v.min_frequency_THz:.3f} THz ({v.min_where})"
    if v.acoustic_dip_only:
        return (f"[yellow]acoustic dip near Γ[/yellow] (not counted as stable): {lowest}, on an "
                f"acoustic branch within {v.near_gamma_radius_per_A:.3f} 1/Å of Γ, where the "
                f"supercell fixes no frequency, and nothing imaginary elsewhere; "
                f"{ACOUSTIC_DIP_ADVICE}")
    word = "[green]stable[/green]" if v.stable else "[red]unstable[/red]"
    dips = sum(b.near_gamma_acoustic_dip for b in rep.branches)
    extra = f"; {dips} branch(es) are only near-Γ acoustic dips" if dips and not v.stable else ""
    return f"{word}: {lowest}; {len(rep.modulations)} modulated structure(s){extra}"


def print_thermal_table(items, console) -> None:
    """The terminal's table of each result's thermal values at the report temperature."""
    from rich.table import Table

    from phonjax.single.report import report_temperature, thermal_undefined_reason

    t_report = report_temperature(items[0].settings.temperatures_K) if items else 300.0
    table = Table(title=f"thermal values at {t_report:g} K, per mole of formula units")
    for col in ("crystal", "model", "ω_max THz", "F kJ/mol", "S J/K/mol", "Cv J/K/mol", "stable"):
        table.add_column(col, justify="left" if col in ("crystal", "model") else "right",
                         overflow="fold")
    notes = []
    for p in items:
        if p.error is not None:
            table.add_row(p.name, p.model, "", "", "", "", f"[red]{p.error[0]} failed[/red]")
            continue
        th, v = p.thermal, p.instability.verdict
        row = th.columns("formula_units")
        i = int(abs(th.temperatures_K - t_report).argmin())
        why = thermal_undefined_reason(th, i)
        if why:
            notes.append(f"{p.name} · {p.model}: F, S, Cv n/a: {why}")
        table.add_row(p.name, p.model, f"{float(p.mesh.frequencies_THz.max()):.3f}",
                      *(_number(row[f"{k}_per_mol_formula_units"][i]) for k in
                        ("free_energy_kJ", "entropy_J_per_K", "heat_capacity_J_per_K")),
                      _stable_word(v))
    console.print(table)
    for line in notes:
        console.print(f"[yellow]{line}[/yellow]", highlight=False, soft_wrap=True)


def print_kappa_table(items, console) -> None:
    """κ̄ at 300 K (or the temperature nearest it) of each pair, or why there is none."""
    from rich.table import Table

    table = Table(title="thermal conductivity κ̄ = (κxx+κyy+κzz)/3")
    for col in ("crystal", "model", "mesh", "T K", "κ̄ W/m·K", "coherence", "note"):
        table.add_column(col, overflow="fold")
    for p in items:
        o = p.kappa
        if o is None:
            continue
        r = o.result
        if r is None:
            table.add_row(p.name, p.model, "", "", "", "", f"[red]{o.status}[/red]: {o.reason}")
            continue
        i = int(abs(r.temperatures_K - 300.0).argmin())
        coh = "" if r.kappa_coherence is None else f"{r.kappa_coherence[i, :3].mean():.4g}"
        table.add_row(p.name, p.model, "×".join(map(str, r.settings.mesh)),
                      f"{r.temperatures_K[i]:g}", f"{r.kappa[i, :3].mean():.4g}", coh,
                      f"{r.settings.method}, {r.settings.integration}"
                      + (", isotopes" if r.settings.isotope else ""))
    console.print(table)


def _number(value: float) -> str:
    """A table cell: 4 decimals, or "n/a" for an undefined (non-finite) value."""
    return f"{value:.4f}" if math.isfinite(value) else "[yellow]n/a[/yellow]"


def _stable_word(v) -> str:
    """The table's "stable" cell: yes, no, or no with the near-Γ acoustic dip flag."""
    if v.stable:
        return "yes"
    if v.acoustic_dip_only:
        return "[yellow]no (Γ dip)[/yellow]"
    return "[red]no[/red]"


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    from phonjax.single.outputs import OutputError, check_out, check_targets
    from phonjax.single.settings import SettingsError
    from phonjax.terminal import quiet_third_party_warnings, warn_distance_once

    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    quiet_third_party_warnings(args.verbose)
    # piped output keeps every digit (a terminal's width would fold the table)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    err = Console(stderr=True)
    try:
        settings = settings_from(args)
        kappa = kappa_settings_from(args) if args.kappa else None
        qha = None
        if args.qha:
            from phonjax.single.qha_step import QHARunSettings

            qha = QHARunSettings(args.qha_volumes, args.qha_strain, args.qha_eos,
                                 args.qha_pressure)
        plan_of(args)  # a plan it refuses: one line, before any work
        out = check_out(args.out)  # before any input, model or relaxation work
    except (SettingsError, ValueError) as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
        return 2
    warn_distance_once(settings.distance_A, err)
    from phonjax.compile_cache import enable_compilation_cache

    enable_compilation_cache()
    try:
        items, bad = _items(args, settings, err)
    except ValueError as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
        return 2
    if not items:
        return 2
    try:
        check_targets(out, dict.fromkeys(p.name for p in items))
    except OutputError as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
        return 2
    from phonjax.single.phonons import Phonons

    t0 = time.perf_counter()
    report, status = _progress(err)
    try:
        with status:
            Phonons.run_all(items, report)
            if kappa is not None:
                from phonjax.single import kappa_step

                kappa_step.run(items, kappa, report)
            if qha is not None:
                from phonjax.single import qha_step

                qha_step.run(items, qha, report)
            report("writing files and plots")
            _outputs(items, out, not args.no_plots, err)
            report("done")
    except KeyboardInterrupt:
        err.print(f"[red]interrupted[/red]: the crystal folders written so far are in {out}/ "
                  "(each complete; one being written keeps its previous content)",
                  highlight=False, soft_wrap=True)
        return 130
    for p in items:
        for line in describe(p):
            console.print(line, highlight=False, soft_wrap=True)
    print_thermal_table(items, console)
    if kappa is not None:
        print_kappa_table(items, console)
    if qha is not None:
        print_qha_table(items, console)
    failed = sum(p.error is not None for p in items)
    err.print(f"{len(items) - failed} done, {failed + bad} failed in "
              f"{time.perf_counter() - t0:.1f} s · files in {out}/", highlight=False)
    return 1 if failed or bad else 0
