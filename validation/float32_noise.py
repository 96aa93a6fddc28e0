"""How much CHGNet's (float32) band structure of one crystal moves when only the order of its
atoms changes: the noise floor any float32-model test tolerance must clear.

    python validation/float32_noise.py [--orders 4]

Si from ASE (diamond, a = 5.47 Å, no relaxation), 2×2×2 conventional supercell: the
conventional cell, the primitive cell with the equivalent supercell, and ``--orders`` random
permutations of the conventional cell's atoms, all through ``Phonons.run_all`` (one process,
torch one thread). Prints max |Δν| (THz) of each along the common band path against the
conventional cell. The primitive-vs-conventional difference is what
``tests/single/test_run_cli.py`` used to bound by 2e-3 THz with CHGNet; the permutations give
the same structure's rounding noise on this CPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=4, help="random atom orders (default 4)")
    args = ap.parse_args(argv)
    import torch
    from ase.build import bulk

    from phonjax.single import Phonons

    torch.set_num_threads(1)
    conv = bulk("Si", "diamond", 5.47, cubic=True)
    prim = bulk("Si", "diamond", 5.47)
    pmat = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    s_prim = np.rint(np.linalg.inv(pmat) @ (2 * np.eye(3))).astype(int)
    common = dict(relax=False, mesh=(4, 4, 4), band_points=15)
    rng = np.random.default_rng(0)
    items = [Phonons.from_structure(conv, "chgnet", name="conventional", supercell_matrix=(2, 2, 2),
                                    **common),
             Phonons.from_structure(prim, "chgnet", name="primitive",
                                    supercell_matrix=tuple(s_prim.ravel()), **common)]
    for k in range(args.orders):
        items.append(Phonons.from_structure(conv[rng.permutation(len(conv))], "chgnet",
                                            name=f"atom order {k + 1}", supercell_matrix=(2, 2, 2),
                                            **common))
    done = Phonons.run_all(items)
    reference = done[0].band.all_frequencies_THz
    for p in done[1:]:
        assert p.error is None and p.band.path.labels == done[0].band.path.labels, p.error
        print(f"{p.name}: max |Δν| {np.abs(p.band.all_frequencies_THz - reference).max():.2e} THz")


if __name__ == "__main__":
    main()
