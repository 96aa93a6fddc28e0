"""``phonjax qha e-v.dat thermal_properties.yaml-00 ... [options]``: phonopy-qha's QHA.

The same inputs as ``phonopy-qha`` (phonopy 4.10): e-v.dat (volume Å³, energy eV per row)
and one thermal_properties.yaml per volume, in the same order (plain or compressed); the
same options (--eos, --tmax with its default 1000 K, --pressure in GPa, --efe electronic
free energies, --exclude-imaginary, --sparse, -b); the same twelve files, byte for byte
(``phonjax.qha.files.QHA_FILES``), in --out (default ./phonjax-qha), plus qha.png (the
F–V curves with their minima, V, α, B_T, Cp, γ against T; --no-plot: none). stdout: the
EOS's name and the fitted E₀, B₀ (GPa), B₀′, V₀ per temperature, as phonopy-qha prints them.

A bad option: one line, exit status 2. Unusable input (an unreadable file, temperatures that
differ between files, fewer than 5 volumes, volumes not strictly monotonic, as many yaml
files as volumes not given) or a fit that phonopy refuses too: one line, exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from phonjax.options import OneLineParser, argparse_type, positive_int

DEFAULT_OUT = "phonjax-qha"
DEFAULT_TMAX_K = 1000.0  # phonopy-qha's --tmax default
IMAGINARY_LIMIT = 3  # phonopy-qha flags a volume with more non-integrated modes than this


def parser() -> argparse.ArgumentParser:
    from phonjax.qha.eos import EOS_NAMES

    p = OneLineParser(prog="phonjax qha", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("e_v", metavar="E-V.DAT", help="volumes (Å³) and electronic energies (eV)")
    p.add_argument("thermal", nargs="*", metavar="THERMAL_PROPERTIES.YAML|FOLDER",
                   help="phonopy's thermal_properties.yaml of each volume, in e-v.dat's order; "
                        "or each volume's phonopy folder / phonopy_params.yaml with its forces, "
                        "whose thermal properties phonjax computes (batched, --mesh)")
    p.add_argument("--mesh", type=argparse_type(positive_int, "--mesh"), nargs="+", default=None,
                   metavar="N", help="q-mesh of the folders' thermal properties: N or N1 N2 N3 "
                                     "(default 20, half-shifted on even axes as phonopy)")
    p.add_argument("--eos", choices=EOS_NAMES, default="vinet",
                   help="equation of state (default vinet)")
    p.add_argument("--tmax", type=float, default=DEFAULT_TMAX_K, metavar="K",
                   help=f"highest temperature reported, phonopy's rule (default "
                        f"{DEFAULT_TMAX_K:g})")
    p.add_argument("--pressure", type=float, default=None, metavar="GPa",
                   help="pressure: pV is added to the electronic energies (default none)")
    p.add_argument("--efe", "--electronic-free-energy", default=None, metavar="FILE",
                   help="electronic free energies: rows 'T F(V1) ... F(Vn)' (eV) replace e-v.dat's")
    p.add_argument("--exclude-imaginary", action="store_true",
                   help="leave out the volumes whose yaml counts imaginary modes")
    p.add_argument("--sparse", type=argparse_type(positive_int, "--sparse"), default=10,
                   metavar="N", help="every N-th temperature in the F–V curves (default 10)")
    p.add_argument("-b", "--bulk-modulus-only", action="store_true",
                   help="only fit e-v.dat and print V₀, E₀, B₀, B₀′")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default ./{DEFAULT_OUT})")
    p.add_argument("--no-plot", action="store_true", help="no qha.png")
    return p


def _fail(message: str) -> int:
    print(f"phonjax qha: error: {message}", file=sys.stderr)
    return 1


def _monotonic_problem(volumes: np.ndarray) -> str | None:
    steps = np.diff(volumes)
    if np.all(steps > 0) or np.all(steps < 0):
        return None
    k = int(np.argmin(steps > 0) if steps[0] > 0 else np.argmin(steps < 0))
    return (f"volumes are not strictly monotonic (row {k + 1}: {volumes[k]:g} Å³, row {k + 2}: "
            f"{volumes[k + 1]:g} Å³): give e-v.dat and the yaml files sorted by volume")


def _print_bulk_modulus(params) -> None:
    print(f"Volume: {params.volume_A3:.7f}")
    print(f"Energy: {params.energy_eV:.7f}")
    print(f"Bulk modulus: {params.bulk_modulus_GPa:.7f}")
    print(f"Parameters: {params.energy_eV:.7f} {params.bulk_modulus_eV_A3:.7f} "
          f"{params.bulk_modulus_derivative:.7f} {params.volume_A3:.7f}")


def _print_fits(result) -> None:
    from phonjax.qha.eos import EV_A3_TO_GPA

    print(("#%11s" + "%14s" * 4) % ("T", "E_0", "B_0", "B'_0", "V_0"))
    for t, p in zip(result.fitted_temperatures_K, result.fitted_eos_parameters):
        print(("%14.6f" * 5) % (t, p[0], p[1] * EV_A3_TO_GPA, p[2], p[3]))


def _are_datasets(paths) -> bool:
    """Whether the volume inputs are force sets (folders, phonopy yaml with forces) rather
    than thermal_properties.yaml files; a mixture is refused."""
    kinds = {Path(p).is_dir() or Path(p).name.startswith(("phonopy_params", "phonopy_disp",
                                                          "phonopy.yaml"))
             for p in paths}
    if len(kinds) > 1:
        raise ValueError("give thermal_properties.yaml files or phonopy folders, not both")
    return kinds == {True}


def thermal_of_folders(paths, mesh=None):
    """``ThermalPropertiesSet`` of force-set inputs (phonopy folders, phonopy_params.yaml with
    forces), one per volume: phonjax's harmonic phonons of all of them in one batched run
    (their own supercell and primitive matrices, Born charges if given), F, S, Cv per mole of
    primitive cells at phonopy-qha's temperatures (0–1000 K every 10 K), with phonopy's Γ
    acoustic rule; the mode counts as thermal_properties.yaml has them."""
    from phonjax.qha.files import ThermalPropertiesSet
    from phonjax.single import workflow
    from phonjax.single.phonons import Phonons

    changes = {} if mesh is None else {"mesh": tuple(mesh) if len(mesh) == 3 else (mesh[0],) * 3}
    items = [Phonons.from_dataset(path, **changes) for path in paths]
    workflow.run(items, spectra=False)
    tables = []
    for path, p in zip(paths, items):
        if p.error is not None:
            raise ValueError(f"{path}: {p.error[0]} failed: {p.error[1]}")
        p.run_mesh(with_projections=False)
        tables.append(p.run_thermal_properties())
    th = tables[0]
    return ThermalPropertiesSet(
        paths=tuple(str(x) for x in paths), temperatures_K=np.asarray(th.temperatures_K),
        free_energy_kJmol=np.stack([t.free_energy_kJmol for t in tables], axis=1),
        entropy_JKmol=np.stack([t.entropy_JKmol for t in tables], axis=1),
        heat_capacity_JKmol=np.stack([t.heat_capacity_JKmol for t in tables], axis=1),
        num_modes=tuple(t.num_modes for t in tables),
        num_integrated_modes=tuple(t.num_integrated_modes for t in tables))


def main(argv: list[str] | None = None) -> int:
    from phonjax.qha.core import QHAInputs, quasi_harmonic, static_eos
    from phonjax.qha.eos import EOS_TITLES
    from phonjax.qha.files import read_e_v, read_efe, read_thermal_properties, write_qha_files

    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        volumes, energies = read_e_v(args.e_v)
        if args.bulk_modulus_only:
            _print_bulk_modulus(static_eos(volumes, energies, args.eos, args.pressure))
            return 0
        if len(args.thermal) != len(volumes):
            return _fail(f"{len(args.thermal)} thermal_properties.yaml files for the "
                         f"{len(volumes)} volumes of {args.e_v}: give one per volume, in order")
        problem = _monotonic_problem(volumes)
        if problem:
            return _fail(f"{args.e_v}: {problem}")
        tp = (thermal_of_folders(args.thermal, args.mesh) if _are_datasets(args.thermal)
              else read_thermal_properties(args.thermal))
        electronic = energies
        if args.efe:
            efe_t, electronic = read_efe(args.efe)
            if electronic.shape[1] != len(volumes):
                return _fail(f"{args.efe}: {electronic.shape[1]} volume columns, {args.e_v} "
                             f"has {len(volumes)} volumes")
            k = min(len(efe_t), len(tp.temperatures_K))
            if np.any(np.abs(efe_t[:k] - tp.temperatures_K[:k]) > 1e-5):
                return _fail(f"{args.efe}: its temperatures differ from the "
                             "thermal_properties.yaml files'")
        keep = list(range(len(volumes)))
        imaginary = tp.imaginary_mode_counts()
        if imaginary is not None:
            for path, count in zip(tp.paths, imaginary):
                if count > IMAGINARY_LIMIT:
                    note = "has been excluded" if args.exclude_imaginary else \
                        "has imaginary modes"
                    print(f"# Warning: {path} {note}.", file=sys.stderr)
            if args.exclude_imaginary:
                keep = [i for i, count in enumerate(imaginary) if count <= IMAGINARY_LIMIT]
        inputs = QHAInputs(volumes[keep], electronic[..., keep], tp.temperatures_K,
                           tp.free_energy_kJmol[:, keep], tp.entropy_JKmol[:, keep],
                           tp.heat_capacity_JKmol[:, keep])
        result = quasi_harmonic(inputs, eos=args.eos, pressure_GPa=args.pressure,
                                t_max_K=args.tmax)
        print(f"# {EOS_TITLES[args.eos]}")
        _print_fits(result)
        written = write_qha_files(result, args.out, thin_number=args.sparse)
        if not args.no_plot:
            from phonjax.qha.plots import plot_qha

            written.append(plot_qha(result, Path(args.out) / "qha.png", args.sparse))
    except (ValueError, OSError) as exc:
        return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    print(f"phonjax qha: {len(written)} files in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
