"""Eigenvalues of Hermitian matrices on the host: phonors or LAPACK, checked.

phonors is phonopy's own batched Rust eigensolver (faer, threads over matrices):
on CPU several times faster than XLA's eigensolver and faster than NumPy's
LAPACK for batches of D(q). Its worker pool is created on first use, from the
calling thread (a pool created from inside an XLA callback thread once returned
wrong eigenvalues; the chunked runner calls it between compiled pieces, never
from a callback). Every batch is checked (Σλ = Re tr D, Σλ² = ‖D‖²_F per
matrix) and inconsistent matrices are recomputed by LAPACK.
"""

from __future__ import annotations

import warnings

import numpy as np

from phonjax.resources import usable_cores

_phonors = None


def _load_phonors():
    global _phonors
    if _phonors is None:
        import phonors

        _phonors = phonors
    return _phonors


def lapack_eigvalsh(matrices: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues (..., n) of Hermitian matrices (..., n, n) by NumPy's LAPACK."""
    return np.linalg.eigvalsh(matrices)


def phonors_eigvalsh(matrices: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues (..., n) of Hermitian matrices (..., n, n) by phonors,
    consistency-checked (LAPACK for the matrices that fail)."""
    d = np.ascontiguousarray(matrices, dtype=np.complex128)
    flat = d.reshape((-1,) + d.shape[-2:])
    if flat.shape[0] == 0:
        return np.zeros(d.shape[:-1])
    out = np.empty(flat.shape[:2], dtype=np.float64)
    _load_phonors().eigvalsh_values_batch(flat, out)
    bad = ~consistent(flat, out)
    if bad.any():
        warnings.warn(f"phonors returned inconsistent eigenvalues for {int(bad.sum())} matrices; "
                      "recomputed with LAPACK", RuntimeWarning, stacklevel=2)
        out[bad] = np.linalg.eigvalsh(flat[bad])
    return out.reshape(d.shape[:-1])


SOLVERS = {"phonors": phonors_eigvalsh, "lapack": lapack_eigvalsh}


def eigh(matrices: np.ndarray, solver: str = "phonors") -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues (n, m) ascending, eigenvectors (n, m, m) as columns) of Hermitian matrices
    (n, m, m): phonors (LAPACK where its eigenvalues fail the check) or LAPACK."""
    d = np.ascontiguousarray(matrices, dtype=np.complex128)
    if solver == "lapack" or len(d) == 0:
        return np.linalg.eigh(d)
    values = np.empty(d.shape[:2])
    vectors = np.empty(d.shape, np.complex128)
    _load_phonors().eigvalsh_batch(d, values, vectors)
    bad = ~consistent(d, values)
    if bad.any():
        values[bad], vectors[bad] = np.linalg.eigh(d[bad])
    return values, vectors


def consistent(matrices: np.ndarray, eigenvalues: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """(n,) bool: Σλ = Re tr D and Σλ² = ‖D‖²_F hold, relative to ‖D‖_F·n, for each
    Hermitian matrix (n, m, m) and its eigenvalues (n, m)."""
    trace = np.einsum("qii->q", matrices).real
    parts = np.ascontiguousarray(matrices).view(np.float64).reshape(matrices.shape[0], -1)
    frob2 = np.einsum("qk,qk->q", parts, parts)  # Σ (Re² + Im²), one pass
    scale = np.sqrt(frob2) * matrices.shape[-1] + 1e-300
    ok1 = np.abs(eigenvalues.sum(axis=1) - trace) <= rtol * scale
    ok2 = np.abs((eigenvalues ** 2).sum(axis=1) - frob2) <= rtol * scale * np.sqrt(frob2)
    return ok1 & ok2


_pool = None


def real_eigvalsh(matrices: np.ndarray, min_work: float = 2e6) -> np.ndarray:
    """Ascending eigenvalues (n, m) of real symmetric matrices (n, m, m) by LAPACK, the
    batch split over one thread per core when it holds at least ``min_work`` m³ (below,
    the threads cost more than they save). Fastest inside ``blas_single_threaded()``:
    many small matrices go faster one per thread than each with a threaded BLAS."""
    global _pool
    d = np.asarray(matrices, dtype=np.float64)
    threads = min(len(d), usable_cores())
    if threads <= 1 or len(d) * d.shape[-1] ** 3 < min_work:
        return np.linalg.eigvalsh(d)
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(usable_cores(), thread_name_prefix="phonjax-eigh")
    bounds = np.linspace(0, len(d), threads + 1).astype(int)
    parts = _pool.map(lambda k: np.linalg.eigvalsh(d[bounds[k]:bounds[k + 1]]), range(threads))
    return np.concatenate(list(parts))


_controller = None


def blas_single_threaded():
    """Context: NumPy's BLAS/LAPACK on one thread (threadpoolctl; the controller, which
    scans the loaded libraries, is made once). Entered once around a runner's loop:
    switching the thread count per call costs more than a small eigensolve."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
