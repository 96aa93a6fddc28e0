"""Small torch helpers shared by adapters; torch is imported only when they run."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def default_dtype(dtype) -> Iterator[None]:
    """Run a block with torch's global default dtype set to ``dtype``, then restore it.

    Some packages (orb-models) set the process-wide default dtype while loading
    or read it while building inputs; this keeps that from leaking into other models.
    """
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads (process-wide), then restore the count.

    On a small CPU, several model calls side by side with one thread each (see
    ``Adapter.evaluate(workers=...)``) beat one call using all cores: the tensors of
    a few small crystals are too small to split well, and OpenMP threads that wait
    for a core held by another process stall every operation (10-50x slower under load).
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
