"""Machine resources: memory bounds, refused before a computation starts, and usable cores.

``ResourceError`` (a ``MemoryError``) is raised, with the material, the estimate
and the bound in one line, wherever phonjax can tell in advance that a step
would exceed its bound: the q-mesh in ``prepare`` (``mesh_bytes``) and the
kernel's arrays in ``phonjax.execution`` (``Plan.memory_bytes``). Callers report
it as a resource limit, never as a bad input.
"""

from __future__ import annotations

import math
import os

DEFAULT_MEMORY_BYTES = 2e9


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ResourceError(MemoryError):
    """A step would need more memory than its bound allows."""


def mesh_bytes(mesh, n_rotations: int) -> float:
    """Peak bytes of reducing a q-mesh: a few int64 arrays per grid point and one grid
    map per rotation (time reversal doubles them)."""
    return math.prod(int(m) for m in mesh) * 8.0 * (2 * n_rotations + 12)


def refuse_if_over(name: str, what: str, need_bytes: float, bound_bytes: float,
                   advice: str) -> None:
    if need_bytes > bound_bytes:
        raise ResourceError(f"{name}: {what} needs ~{need_bytes / 1e9:.1f} GB, more than the "
                            f"memory bound of {bound_bytes / 1e9:.1f} GB; {advice}")
