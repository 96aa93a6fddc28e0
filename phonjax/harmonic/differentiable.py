"""The differentiable surface: phonon thermodynamics as pure JAX functions, for grad and jvp.

    F, S, Cv = thermal_properties(force_constants, system.tables, temperatures_K)

Differentiable inputs: force constants (N, N, 3, 3) eV/Å², forces (n_disp, N, 3)
eV/Å (``thermal_properties_from_forces``), the masses ``tables.phases.masses``
(replace them with ``dataclasses.replace``), and through ``phonjax.harmonic.hessian`` any
parameter of an energy function. Static: every index table, the q-points and
their weights. The path is the graph runner's (``phonjax.execution.stages``):
D(q) (with the non-analytical correction where the tables carry Born charges)
→ XLA's eigensolver → frequencies → thermal sums, chunk by chunk.

Only functions of eigenvalues enter (sums over modes; never eigenvectors), so
the derivatives are finite at degenerate modes; √λ is guarded at λ = 0 and
modes at or below zero frequency are masked as in phonopy, and on a mesh with Γ
its three acoustic modes are left out (``phonjax.harmonic.thermal.GAMMA_ACOUSTIC_RULE``),
so F stays smooth there too.
``smooth_max`` replaces the hard max of ω_max, whose derivative exists only
for a non-degenerate top mode.

Everything runs in float64 (inside ``jax.enable_x64``) whatever the inputs'
dtype and the caller's global setting, which is left alone: a float32 model
feeds float64 force constants, D(q) and sums; results are float64. Under
``jax.grad``/``jax.vjp`` this holds whatever the setting (the backward pass is
run in float64 too, by a custom VJP); forward mode (``jax.jvp``, ``jax.hessian``)
needs float64 enabled around the call: ``with phonjax.float64(): jax.jvp(...)``.
The host-driven ``phonon_properties`` is not differentiable (it raises a
TypeError saying so); use these functions under ``jax.grad``/``jax.jvp``/``jax.jit``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from phonjax.execution.plan import Plan
from phonjax.execution.stages import material_blocks, qset_spectrum
from phonjax.harmonic.force_constants import force_constants as _force_constants
from phonjax.harmonic.tables import MaterialTables, QSet, pad, sizes_of
from phonjax.harmonic.thermal import per_mole


def float64_differentiable(fn):
    """``fn`` (JAX arrays and pytrees in, float64 out) differentiable whatever the caller's
    x64 setting: with float64 on, ``fn`` itself (every transformation applies); with it
    off, a custom VJP whose forward and backward passes both run inside
    ``jax.enable_x64`` (transposing float64 operations outside it would truncate them)."""

    @jax.custom_vjp
    def scoped(*args):
        with jax.enable_x64(True):
            return fn(*args)

    def forward(*args):
        with jax.enable_x64(True):
            return jax.vjp(fn, *args)

    def backward(vjp_fn, cotangent):
        with jax.enable_x64(True):
            return vjp_fn(cotangent)

    scoped.defvjp(forward, backward)

    @functools.wraps(fn)
    def wrapper(*args):
        if jax.config.jax_enable_x64:
            return fn(*args)
        with jax.enable_x64(True):  # or the custom VJP's boundary casts float64 inputs to float32
            return scoped(*args)

    return wrapper


def _chunked(qset: QSet, q_chunk: int) -> QSet:
    """A q-set padded (weight 0) to a multiple of ``q_chunk`` points (static, host)."""
    n = sizes_of(qset).nq
    return pad(qset, sizes_of(qset).replace(nq=-(-n // q_chunk) * q_chunk))


def _q_chunk(tables: MaterialTables, q_chunk: int | None) -> int:
    s = sizes_of(tables)
    return min(q_chunk or Plan().q_chunk(3 * s.np), max(s.nq, 1))


def thermal_properties(force_constants, tables: MaterialTables, temperatures_K, *,
                       q_chunk: int | None = None):
    """(free_energy kJ/mol, entropy J/K/mol, heat_capacity J/K/mol), each (n_T,), per mole
    of primitive cells, on the material's mesh (``tables.mesh``), float64.

    force_constants (N, N, 3, 3) eV/Å²; tables: ``HarmonicSystem.tables`` (unpadded);
    temperatures_K (n_T,).
    """
    chunk = _q_chunk(tables, q_chunk)
    mesh = _chunked(tables.mesh, chunk)
    total = float(sum(tables.mesh.weights))

    @float64_differentiable
    def properties(fc, phases, temperatures):
        blocks = material_blocks(jnp.asarray(fc, jnp.float64), phases, tables.nac)
        temps = jnp.atleast_1d(jnp.asarray(temperatures, jnp.float64))
        _, sums = qset_spectrum(mesh, chunk, temps, blocks, phases, tables.nac)
        return per_mole(sums, total)

    return properties(force_constants, tables.phases, jnp.asarray(temperatures_K))


def thermal_properties_from_forces(forces, tables: MaterialTables, temperatures_K, *,
                                   subtract_drift: bool = False, q_chunk: int | None = None):
    """``thermal_properties`` of the force constants solved from ``forces`` (n_disp, N, 3) eV/Å
    on the material's displaced supercells."""
    return thermal_properties(force_constants_from_forces(forces, tables, subtract_drift),
                              tables, temperatures_K, q_chunk=q_chunk)


def force_constants_from_forces(forces, tables: MaterialTables, subtract_drift: bool = False):
    """Symmetrized force constants (N, N, 3, 3) eV/Å², float64, from forces (n_disp, N, 3)."""

    @float64_differentiable
    def solve(f):
        return _force_constants(jnp.asarray(f, jnp.float64), tables.fc,
                                subtract_drift=subtract_drift)

    return solve(forces)


def commensurate_frequencies(force_constants, tables: MaterialTables):
    """Frequencies (n_c, 3n_p) THz, ascending, at the commensurate q-points (Γ first), float64."""
    return _qset_frequencies(force_constants, tables, tables.commensurate)


def mesh_frequencies(force_constants, tables: MaterialTables):
    """Frequencies (n_q, 3n_p) THz, ascending, at the irreducible mesh points, float64."""
    return _qset_frequencies(force_constants, tables, tables.mesh)


def _qset_frequencies(force_constants, tables: MaterialTables, qset: QSet):
    n = sizes_of(qset).nq
    chunk = min(_q_chunk(tables, None), n)
    padded = _chunked(qset, chunk)

    @float64_differentiable
    def frequencies(fc, phases):
        blocks = material_blocks(jnp.asarray(fc, jnp.float64), phases, tables.nac)
        freqs, _ = qset_spectrum(padded, chunk, jnp.zeros(1), blocks, phases, tables.nac)
        return freqs[:n]

    return frequencies(force_constants, tables.phases)


def smooth_max(values, sharpness: float = 10.0):
    """A differentiable stand-in for ``max``: logsumexp(sharpness·v)/sharpness, between the
    true maximum and log(n)/sharpness above it (n values; in the units of ``values``)."""
    v = jnp.ravel(values)
    return jax.nn.logsumexp(sharpness * v) / sharpness
