#!/usr/bin/env python
"""FC3 by automatic differentiation against finite-displacement FC3 of the same energy (issue 25).

Diamond Si, 2×2×2 conventional supercell (64 atoms, 2 primitive atoms), ideal geometry:

1. The ``jnp`` Morse pair potential (``validation/pair_potential.py``): the compact FC3
   (2, 64, 64, 3, 3, 3) of ``phonjax.anharmonic.hessian3`` against (a) phono3py's
   finite-displacement formula on forces of pair-displaced supercells (no symmetry: every
   (iα, jβ) pair, ± both, 4 force calls a pair),
       Φ3[i,j,k,α,β,γ] ≈ −[F_kγ(+iα,+jβ) − F_kγ(+iα,−jβ) − F_kγ(−iα,+jβ) + F_kγ(−iα,−jβ)] / 4h²,
   and (b) central differences of ``jax.hessian`` along each first direction, each at
   h = 0.01 and 0.005 Å: max |Δ| / max |Φ3| and the ratio of the two (O(h²): ≈ 4).
2. Nequix-MP-1 (float64, fixed neighbour graph: ``NequixAdapter.energy_function``) when
   ``nequix`` imports (the models venv of ``scripts/install-models.sh``, not ``make setup``'s
   .venv): the same comparison with (a) on a sample of the compact FC3 — first direction
   x of primitive atom 0, second atoms 0 and its four nearest neighbours (15 slabs
   Φ3[0, j, :, x, β, :]) — or on all of it with ``--nequix-all`` (1,152 third derivatives:
   hours on a 2-core CPU, ~7 s each there).
Wall times per route; the autodiff route's one-time compile is counted apart.

    python validation/fc3_autodiff.py [--skip-nequix | --skip-morse] [--nequix-all]
    (Nequix: scripts/install-models.sh VENV first, then VENV/bin/python validation/fc3_autodiff.py)
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import phonjax  # noqa: E402
from phonjax.anharmonic.hessian3 import compact_fc3, third_derivative_columns  # noqa: E402
from phonjax.structure.crystal import Crystal  # noqa: E402
from validation.pair_potential import morse_energy  # noqa: E402

STEPS_A = (0.01, 0.005)
F_CENTRED = [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def silicon():
    """phonjax's 64-atom Si supercell (2×2×2 conventional, a = 5.43 Å) and its p2s."""
    unit = Crystal(np.eye(3) * 5.43, np.vstack([FCC, FCC + 0.25]), [14] * 8)
    return phonjax.prepare(unit, 2 * np.eye(3, dtype=int), F_CENTRED, mesh=1)


def pair_fd(force_fn, positions, pairs, h, batch_size):
    """Finite-displacement slabs (n_pairs, N, 3) of Φ3 for (first, second) coordinate pairs
    (flat indices into 3N) from forces on the 4 pair-displaced supercells of each pair."""
    n = positions.shape[0]
    signs = np.array([(1, 1), (1, -1), (-1, 1), (-1, -1)], float)
    weights = np.array([1.0, -1.0, -1.0, 1.0])
    shifts = np.zeros((len(pairs), 4, 3 * n))
    for p, (a, b) in enumerate(pairs):
        shifts[p, :, a] += h * signs[:, 0]
        shifts[p, :, b] += h * signs[:, 1]
    geometries = jnp.asarray(positions[None, None] + shifts.reshape(len(pairs), 4, n, 3))
    forces = jax.lax.map(force_fn, geometries.reshape(-1, n, 3), batch_size=batch_size)
    forces = np.asarray(forces).reshape(len(pairs), 4, n, 3)
    return -np.einsum("s,psnc->pnc", weights, forces) / (4 * h * h)


def deviation(fd, exact) -> float:
    return float(np.abs(fd - exact).max() / np.abs(exact).max())


def row(label, devs, seconds) -> str:
    return (f"| {label} | {devs[0]:.2e} | {devs[1]:.2e} | {devs[0] / devs[1]:.2f} | "
            f"{seconds[0]:.1f} / {seconds[1]:.1f} |")


def morse(system) -> list[str]:
    sc = system.supercell
    p2s = np.asarray(system.primitive.p2s)
    energy = morse_energy(sc.numbers, sc.positions, sc.lattice)
    n, cell = sc.n_atoms, jnp.asarray(sc.lattice)
    lines = []
    with phonjax.float64():
        start = time.perf_counter()
        fc3 = np.asarray(compact_fc3(energy, sc.positions, sc.lattice, p2s, batch_size=3,
                                     column_batch_size=64))
        autodiff_s = time.perf_counter() - start
        start = time.perf_counter()
        np.asarray(compact_fc3(energy, sc.positions, sc.lattice, p2s, batch_size=3,
                               column_batch_size=64))
        warm_s = time.perf_counter() - start
        lines.append(f"Morse, 64-atom Si: autodiff compact FC3 {fc3.shape}, "
                     f"{autodiff_s:.1f} s first call (compile included), {warm_s:.1f} s again; "
                     f"max |Φ3| {np.abs(fc3).max():.3f} eV/Å³; "
                     f"max |Σ_k Φ3| {np.abs(fc3.sum(axis=2)).max():.1e}")
        firsts = (3 * p2s[:, None] + np.arange(3)).reshape(-1)
        pairs = [(a, b) for a in firsts for b in range(3 * n)]
        exact = np.transpose(fc3, (0, 3, 1, 4, 2, 5)).reshape(len(pairs), n, 3)
        force = jax.jit(jax.grad(lambda r: -energy(r, cell)))
        devs, secs = [], []
        for h in STEPS_A:
            start = time.perf_counter()
            devs.append(deviation(pair_fd(force, sc.positions, pairs, h, 256), exact))
            secs.append(time.perf_counter() - start)
        lines.append(row(f"Morse: forces, pair displacements ({4 * len(pairs)} supercells/h)",
                         devs, secs))
        hessian = jax.jit(jax.hessian(lambda r: energy(r, cell)))
        devs, secs = [], []
        for h in STEPS_A:
            start = time.perf_counter()
            fd = np.zeros((len(firsts), 3 * n, 3 * n))
            for d, a in enumerate(firsts):
                step = np.zeros(3 * n)
                step[a] = h
                plus, minus = (np.asarray(hessian(jnp.asarray(sc.positions + s.reshape(n, 3))))
                               for s in (step, -step))
                fd[d] = (plus - minus).reshape(3 * n, 3 * n) / (2 * h)
            devs.append(deviation(fd.reshape(len(pairs), n, 3), exact))
            secs.append(time.perf_counter() - start)
        lines.append(row(f"Morse: central differences of jax.hessian ({2 * len(firsts)} "
                         "Hessians/h)", devs, secs))
    return lines


def nequix_rows(system, everything: bool) -> list[str]:
    from phonjax_adapters.nequix import NequixAdapter

    sc = system.supercell
    p2s = np.asarray(system.primitive.p2s)
    n = sc.n_atoms
    adapter = NequixAdapter("nequix-mp-1")
    energy = adapter.energy_function(sc.lattice, sc.positions, sc.numbers)
    cell = jnp.asarray(sc.lattice)
    if everything:
        firsts = (3 * p2s[:, None] + np.arange(3)).reshape(-1)
        pairs = [(a, b) for a in firsts for b in range(3 * n)]
    else:
        i = int(p2s[0])
        wrapped = (sc.frac_positions - sc.frac_positions[i] + 0.5) % 1 - 0.5  # minimum image
        near = np.argsort(np.linalg.norm(wrapped @ sc.lattice, axis=1), kind="stable")[:5]
        pairs = [(3 * i, 3 * int(j) + b) for j in near for b in range(3)]
    lines = []
    with phonjax.float64():
        third = jax.jit(third_derivative_columns(energy, jnp.asarray(sc.positions), cell))
        eye = np.eye(3 * n)
        start = time.perf_counter()
        unit = [jnp.asarray(eye[a].reshape(n, 3)) for a in range(3 * n)]
        third(unit[0], unit[0]).block_until_ready()
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        exact = np.stack([np.asarray(third(unit[a], unit[b])) for a, b in pairs])
        autodiff_s = time.perf_counter() - start
        per = autodiff_s / len(pairs)
        lines.append(f"Nequix-MP-1 (float64), 64-atom Si: {len(pairs)} autodiff slabs "
                     f"Φ3[i, j, :, α, β, :] in {autodiff_s:.1f} s ({per:.2f} s each after a "
                     f"{compile_s:.0f} s compile; the whole compact FC3, 1152 slabs: "
                     f"~{1152 * per / 60:.0f} min here); max |Φ3| {np.abs(exact).max():.3f} "
                     f"eV/Å³; max |Σ_k| {np.abs(exact.sum(axis=1)).max():.1e}")
        force = jax.jit(jax.grad(lambda r: -energy(r, cell)))
        devs, secs = [], []
        for h in STEPS_A:
            start = time.perf_counter()
            devs.append(deviation(pair_fd(force, sc.positions, pairs, h, None), exact))
            secs.append(time.perf_counter() - start)
        lines.append(row(f"Nequix-MP-1: forces, pair displacements ({4 * len(pairs)} "
                         "supercells/h)", devs, secs))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-nequix", action="store_true")
    parser.add_argument("--skip-morse", action="store_true")
    parser.add_argument("--nequix-all", action="store_true",
                        help="all 1152 slabs of the compact FC3 (hours on CPU)")
    args = parser.parse_args()
    system = silicon()
    header = ("| reference | FD h=0.01 Å vs autodiff | FD h=0.005 Å vs autodiff | ratio | "
              "FD wall s (0.01 / 0.005) |\n|---|---|---|---|---|")
    if not args.skip_morse:
        lines = morse(system)
        print(lines[0])
        print(header)
        print("\n".join(lines[1:]), flush=True)
    if args.skip_nequix:
        return 0
    if importlib.util.find_spec("nequix") is None:
        print("\nNequix: not importable in this environment (scripts/install-models.sh VENV); "
              "Morse only")
        return 0
    lines = nequix_rows(system, args.nequix_all)
    print("\n" + lines[0])
    print(header)
    print("\n".join(lines[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
