"""Batched Hermitian eigenvalues with a deliberate backend choice.

On CPU, XLA's complex ``eigvalsh`` is slow to compile (a minute for a batch of
30×30 matrices) and 10× slower to run than LAPACK; phonopy's own batched Rust
solver (``phonors``, faer, threads over matrices) is faster still. So on CPU
the eigenvalues are solved on the host by phonors (numpy's LAPACK if phonors
is missing): ``host_eigvalsh`` between jitted D(q) chunks (``phonjax.spectra``,
the default CPU path), or ``eigvalsh(..., "host")`` inside a jitted graph
through ``jax.pure_callback``. On GPU they stay in XLA (cuSOLVER). Both
return ascending eigenvalues, numerically a drop-in for
``numpy.linalg.eigvalsh``.
"""

from __future__ import annotations

import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np

try:
    import phonors as _phonors
except ImportError:  # pragma: no cover - phonors ships with phonopy >= 4.3
    _phonors = None
else:  # create the worker pool now, from an ordinary thread (see module docstring)
    _phonors.eigvalsh_values_batch(np.tile(np.eye(2, dtype=np.complex128), (4, 1, 1)),
                                   np.empty((4, 2)))

BACKENDS = ("auto", "host", "xla")


def host_eigvalsh(matrices: np.ndarray) -> np.ndarray:
    d = np.ascontiguousarray(matrices, dtype=np.complex128)
    flat = d.reshape((-1,) + d.shape[-2:])
    if _phonors is None or flat.shape[0] == 0:
        return np.linalg.eigvalsh(d)
    out = np.empty(flat.shape[:2], dtype=np.float64)
    _phonors.eigvalsh_values_batch(flat, out)
    bad = ~_consistent(flat, out)
    if bad.any():
        warnings.warn(f"phonors returned inconsistent eigenvalues for {int(bad.sum())} matrices; "
                      "recomputed with LAPACK", RuntimeWarning, stacklevel=2)
        out[bad] = np.linalg.eigvalsh(flat[bad])
    return out.reshape(d.shape[:-1])


def host_eigvalsh_real(matrices: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of real symmetric matrices (n, m, m): LAPACK with one BLAS
    thread, the batch split over one Python thread per core (numpy's linalg releases
    the GIL; BLAS threads on top of them would oversubscribe the cores)."""
    d = np.ascontiguousarray(matrices, dtype=np.float64)
    parts = np.array_split(np.arange(len(d)), max(1, min(_N_THREADS, len(d) // 4)))
    with _blas_limit():
        if len(parts) == 1:
            return np.linalg.eigvalsh(d)
        return np.concatenate(list(_pool().map(lambda i: np.linalg.eigvalsh(d[i]), parts)))


_N_THREADS = os.cpu_count() or 1
_POOL = None
_CONTROLLER = None


def _pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(_N_THREADS, thread_name_prefix="phonjax-eigh")
    return _POOL


def _blas_limit():
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _consistent(matrices: np.ndarray, eigenvalues: np.ndarray) -> np.ndarray:
    """Σλ = Re tr D and Σλ² = ‖D‖²_F hold for the eigenvalues of Hermitian D (per matrix)."""
    trace = np.einsum("qii->q", matrices).real
    flat = matrices.view(np.float64).reshape(matrices.shape[0], -1)
    frob2 = np.einsum("qk,qk->q", flat, flat)
    scale = np.sqrt(frob2) * matrices.shape[-1] + 1e-300
    ok1 = np.abs(eigenvalues.sum(axis=1) - trace) <= 1e-10 * scale
    ok2 = np.abs((eigenvalues ** 2).sum(axis=1) - frob2) <= 1e-10 * scale * np.sqrt(frob2)
    return ok1 & ok2


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
