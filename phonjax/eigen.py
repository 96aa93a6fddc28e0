"""Batched Hermitian eigenvalues with a deliberate backend choice.

On CPU, XLA's complex ``eigvalsh`` is slow to compile (a minute for a batch of
30×30 matrices) and 10× slower to run than LAPACK; phonopy's own batched Rust
solver (``phonors``, faer, threads over matrices) is faster still. So on CPU
the eigenvalues leave the jitted graph through ``jax.pure_callback`` to
phonors (numpy's LAPACK if phonors is missing); on GPU they stay in XLA
(cuSOLVER). Both return ascending eigenvalues, numerically a drop-in for
``numpy.linalg.eigvalsh``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

try:
    import phonors as _phonors
except ImportError:  # pragma: no cover - phonors ships with phonopy >= 4.3
    _phonors = None

BACKENDS = ("auto", "host", "xla")


def host_eigvalsh(matrices: np.ndarray) -> np.ndarray:
    d = np.ascontiguousarray(matrices, dtype=np.complex128)
    flat = d.reshape((-1,) + d.shape[-2:])
    if _phonors is None or flat.shape[0] == 0:
        return np.linalg.eigvalsh(d)
    out = np.empty(flat.shape[:2], dtype=np.float64)
    _phonors.eigvalsh_values_batch(flat, out)
    return out.reshape(d.shape[:-1])


def resolve(backend: str = "auto") -> str:
    if backend not in BACKENDS:
        raise ValueError(f"eigen backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "host" if jax.default_backend() == "cpu" else "xla"
    return backend


def eigvalsh(matrices, backend: str = "auto"):
    """Ascending eigenvalues of Hermitian matrices (..., n, n), inside or outside jit."""
    if resolve(backend) == "xla":
        return jnp.linalg.eigvalsh(matrices)
    shape = jax.ShapeDtypeStruct(matrices.shape[:-1], jnp.float64)
    return jax.pure_callback(host_eigvalsh, shape, matrices, vmap_method="broadcast_all")
