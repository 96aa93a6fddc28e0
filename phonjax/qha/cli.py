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
    p.add_argument("thermal", nargs="*", metavar="THERMAL_PROPERTIES.YAML",
                   help="phonopy's thermal_properties.yaml of each volume, in e-v.dat's order")
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
        tp = read_thermal_properties(args.thermal)
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
