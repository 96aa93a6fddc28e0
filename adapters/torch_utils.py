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
