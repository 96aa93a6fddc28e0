"""FC3 and FC2 of phonjax against phono3py 4.10 on the same forces.

Command:

    .venv/bin/python validation/fc3_phono3py.py [--data ../shared/data/phono3py-examples]

Cases (compact form, n_p × N × N × 3×3×3):

* Si-PBEsol (phono3py_disp.yaml + FORCES_FC3, 111 supercells of 64 atoms, type 1):
  - "none": the traditional solve alone (``phono3py.load(..., symmetrize_fc=False)``);
  - "traditional": then ``symmetrize_fc3()`` / ``symmetrize_fc2()`` (the CLI's scheme);
  - "symfc-projector": ``phono3py.load(...)``'s default;
  - "none, full form": the full (N, N, N, 3,3,3) solve (``is_compact_fc=False``).
* NaCl-rd (phono3py_params_NaCl.yaml.xz, 100 random-displacement supercells for FC3 and 2
  of 512 atoms for FC2): ``phono3py.load(..., fc_calculator="symfc")``.

phono3py is run here, in this process, from the same files; phonjax reads them with
``phonjax.io.phono3py_files`` and computes with ``phonjax.anharmonic.fc3.force_constants``.
Printed: max |ΔΦ3| / max |Φ3| and max |ΔΦ2| in eV/Å², against the contract (FC3 ≤ 1e-8
relative to the largest element, FC2 ≤ 1e-10 eV/Å²), and both wall times.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "phono3py-examples"
FC3_RELATIVE = 1e-8
FC2_ABSOLUTE_EV_A2 = 1e-10


def phono3py_si(folder: Path, symmetrization: str, compact: bool = True):
    import phono3py

    ph = phono3py.load(folder / "phono3py_disp.yaml", forces_fc3_filename=folder / "FORCES_FC3",
                       symmetrize_fc=symmetrization == "symfc-projector", is_compact_fc=compact)
    if symmetrization == "traditional":
        ph.symmetrize_fc3()
        ph.symmetrize_fc2()
    return ph.fc2, ph.fc3


def phono3py_random(path: Path):
    import phono3py

    ph = phono3py.load(path, fc_calculator="symfc")
    return ph.fc2, ph.fc3


def deviation(ours, ref) -> tuple[float, float]:
    """(max |Δ| / max |ref|, max |Δ|)."""
    diff = float(np.abs(np.asarray(ours) - np.asarray(ref)).max())
    return diff / float(np.abs(ref).max()), diff


def cases(data: Path):
    """(name, phono3py callable, phonjax callable) for every row of the table."""
    from phonjax.anharmonic.fc3 import force_constants
    from phonjax.io.phono3py_files import read_phono3py_folder, read_phono3py_yaml

    si = data / "Si-PBEsol"
    nacl = data / "NaCl-rd" / "phono3py_params_NaCl.yaml.xz"
    for how in ("none", "traditional", "symfc-projector"):
        yield (f"Si-PBEsol, {how}", lambda how=how: phono3py_si(si, how),
               lambda how=how: _pair(force_constants(read_phono3py_folder(si), how)))
    yield ("Si-PBEsol, none, full form", lambda: phono3py_si(si, "none", compact=False),
           lambda: _pair(force_constants(read_phono3py_folder(si), "none", compact=False)))
    yield ("NaCl-rd, symfc fit", lambda: phono3py_random(nacl),
           lambda: _pair(force_constants(read_phono3py_yaml(nacl))))


def _pair(result):
    return result.fc2, result.fc3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    import phono3py
    import symfc

    print(f"phono3py {phono3py.__version__}, symfc {symfc.__version__}; contract: FC3 ≤ "
          f"{FC3_RELATIVE:g} relative, FC2 ≤ {FC2_ABSOLUTE_EV_A2:g} eV/Å²")
    header = (f"{'case':<30} {'max|ΔΦ3|/max|Φ3|':>18} {'max|ΔΦ3| eV/Å³':>15} "
              f"{'max|ΔΦ2| eV/Å²':>15} {'phono3py s':>10} {'phonjax s':>10}  verdict")
    print(header)
    print("-" * len(header))
    failed = 0
    for name, reference, ours in cases(args.data):
        t0 = time.perf_counter()
        ref_fc2, ref_fc3 = reference()
        t1 = time.perf_counter()
        fc2, fc3 = ours()
        t2 = time.perf_counter()
        rel3, abs3 = deviation(fc3, ref_fc3)
        _, abs2 = deviation(fc2, ref_fc2)
        ok = rel3 <= FC3_RELATIVE and abs2 <= FC2_ABSOLUTE_EV_A2
        failed += not ok
        print(f"{name:<30} {rel3:>18.2e} {abs3:>15.2e} {abs2:>15.2e} {t1 - t0:>10.2f} "
              f"{t2 - t1:>10.2f}  {'ok' if ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
