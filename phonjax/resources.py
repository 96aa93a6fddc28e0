"""Machine resources: memory bounds, refused before a computation starts, and usable cores.

``ResourceError`` (a ``MemoryError``) is raised, with the material, the estimate
and the bound in one line, wherever phonjax can tell in advance that a step
would exceed its bound: the supercell, from its cell matrices alone, in
``phonjax.pipeline.cells.choose_cells`` and ``prepare`` (``supercell_bytes``), the
q-mesh in ``prepare`` (``mesh_bytes``) and the kernel's arrays in
``phonjax.execution`` (``Plan.memory_bytes``). The thermal sums over many
temperatures are split into calls that fit the bound (``Plan.temperature_chunk``)
where the runner can (chunked, host eigensolver), counted in the kernel's check
elsewhere. The command-line option ``--memory-gb`` (phonons, run, bench) sets the
bound of all of them. Callers report it as a resource limit, never as a bad input.

Model calls are outside that bound (a torch model's memory is not known in advance); a JAX
model whose compiled call reports its temporaries reserves them in a ``MemoryGate`` against
the memory the machine has available (``available_memory_bytes``), so that concurrent calls
wait rather than exhaust it, and one that cannot fit is refused in one line.
"""

from __future__ import annotations

import math
import os
import threading
from contextlib import contextmanager

DEFAULT_MEMORY_BYTES = 2e9
MEMORY_OPTION_HELP = ("memory bound in GB: a step that would need more is refused before it "
                      "starts (default 2)")

# the thermal sums' work arrays per (temperature, mode value) pair: XLA on CPU materializes
# (n_T, n_modes) float64 arrays of x, e^{−x}, ln(1 − e^{−x}), … (measured peak RSS: 41-47 B
# per pair for 1000-4000 temperatures × 8192-32768 modes; 100 000 × 8192 asked for one
# 39.3 GB buffer, 48 B per pair)
THERMAL_BYTES_PER_VALUE = 48.0

# ``prepare``'s work arrays, measured with tracemalloc (mp-8710 3×3×3: 1053 atoms, 13
# primitive; mp-1000 4×4×4: 4096 atoms, 2 primitive; mp-7028 2×2×2: 1152 atoms):
MATCH_BYTES_PER_POSITION = 2.7e3  # PositionMatcher.match, per position matched (mp-8710
#   3×3×3: 619 000 positions in one call peaked at 1.65 GB)
MATCH_CHUNK_POSITIONS = 2 ** 16  # positions per call where prepare matches N² of them
SITE_OPERATIONS_MAX = 48  # each displaced atom's site operations, matched over all N atoms
DISTRIBUTION_BYTES_PER_ATOM_PAIR = 24.0  # the (N, N) permutation tables (measured 21)
SHORTEST_VECTOR_BYTES_PER_PAIR = 6.0e3  # 65 candidate images per (supercell, primitive) pair


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ResourceError(MemoryError):
    """A step would need more memory than its bound allows."""


def available_memory_bytes() -> float:
    """Bytes the machine can give this process now: /proc/meminfo's MemAvailable, within the
    cgroup's limit where one is set (containers, batch jobs); elsewhere the free physical
    pages; ``math.inf`` where neither can be read."""
    found = math.inf
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found = float(line.split()[1]) * 1024
                    break
    except OSError:
        try:
            found = float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            current = float(f.read().strip())
        if limit != "max":
            found = min(found, float(limit) - current)
    except (OSError, ValueError):
        pass
    return found


class MemoryGate:
    """Admits concurrent calls of known peak size (bytes, e.g. a compiled model call's
    temporaries) so that together they fit in the memory the machine has: a call waits
    while others hold reservations and it would not fit beside them, and is refused
    (``ResourceError``, one line) when it alone needs more than ``fraction`` of what is
    available. The cap is read (``available``) whenever no reservation is held, so memory
    the process holds otherwise is accounted for; the largest reservation granted so far is
    added to what is available, since the allocator may keep that memory for reuse after
    the call (a second 15 GB call right after a first was otherwise refused)."""

    def __init__(self, fraction: float = 0.9, available=available_memory_bytes):
        self.fraction, self._available = float(fraction), available
        self._cond = threading.Condition()
        self._reserved = 0.0
        self._largest = 0.0
        self._cap = math.inf

    @contextmanager
    def reserve(self, need_bytes: float, what: str, advice: str):
        need = max(float(need_bytes), 0.0)
        with self._cond:
            while True:
                if self._reserved == 0:
                    self._cap = self.fraction * (self._available() + self._largest)
                    if need > self._cap:
                        raise ResourceError(f"{what} needs ~{gigabytes(need)}, more than the "
                                            f"{gigabytes(self._cap)} this machine has "
                                            f"available; {advice}")
                if self._reserved + need <= self._cap:
                    break
                self._cond.wait()
            self._reserved += need
            self._largest = max(self._largest, need)
        try:
            yield
        finally:
            with self._cond:
                self._reserved -= need
                self._cond.notify_all()


def checked_memory_bytes(memory_bytes: float | None) -> float:
    """A memory bound in bytes: ``DEFAULT_MEMORY_BYTES`` for None, else a number > 0
    (``ValueError`` naming ``memory_bytes`` otherwise)."""
    if memory_bytes is None:
        return DEFAULT_MEMORY_BYTES
    if isinstance(memory_bytes, bool) or not isinstance(memory_bytes, (int, float)) \
            or not memory_bytes > 0:
        raise ValueError(f"memory_bytes must be a number > 0, got {memory_bytes!r}")
    return float(memory_bytes)


def mesh_bytes(mesh, n_rotations: int) -> float:
    """Peak bytes of reducing a q-mesh: a few int64 arrays per grid point and one grid
    map per rotation (time reversal doubles them)."""
    return math.prod(int(m) for m in mesh) * 8.0 * (2 * n_rotations + 12)


def gigabytes(n_bytes: float) -> str:
    """``n_bytes`` in GB for a message: one decimal from 0.1 to a million GB, else 3 digits."""
    gb = n_bytes / 1e9
    return f"{gb:.1f} GB" if 0.1 <= gb < 1e6 else f"{gb:.3g} GB"


def refuse_if_over(name: str, what: str, need_bytes: float, bound_bytes: float,
                   advice: str) -> None:
    """``ResourceError`` in one line (name, what, estimate, bound, advice) when
    ``need_bytes`` exceeds ``bound_bytes``."""
    if need_bytes > bound_bytes:
        raise ResourceError(f"{name}: {what} needs ~{gigabytes(need_bytes)}, more than the "
                            f"memory bound of {gigabytes(bound_bytes)}; {advice}")



def fc3_solve_bytes(n_supercell: int, n_primitive: int, full: bool) -> float:
    """Bytes of an FC3 solve: the compact array, n_p·N²·27 doubles; in full form (asked for,
    or forced by a pair cutoff, whose permutation re-average works on full arrays) the N³·27
    array with the re-average's work arrays beside it, 3·N³·27 doubles."""
    n = float(n_supercell)
    return 3 * n ** 3 * 27 * 8.0 if full else n_primitive * n ** 2 * 27 * 8.0


def prepare_bytes(n_supercell: int, n_primitive: int) -> float:
    """Peak bytes of ``prepare``'s work arrays for a supercell of ``n_supercell`` atoms with
    ``n_primitive`` in the primitive cell: the largest of its three heavy steps (the site
    symmetry of a displaced atom, the distribution tables, the shortest vectors). Measured
    peaks (tracemalloc; RSS above the ~0.2 GB of the loaded modules agrees): 0.53 GB for
    mp-1000 4×4×4 (this estimate 0.58 GB), 0.18 GB for mp-8710 3×3×3 (0.20 GB)."""
    n, n_p = float(n_supercell), float(n_primitive)
    site = SITE_OPERATIONS_MAX * n * MATCH_BYTES_PER_POSITION
    positions = min(n * n, max(n, MATCH_CHUNK_POSITIONS))  # matched per call, at most
    distribution = (positions * MATCH_BYTES_PER_POSITION
                    + DISTRIBUTION_BYTES_PER_ATOM_PAIR * n * n)
    shortest = SHORTEST_VECTOR_BYTES_PER_PAIR * n * n_p
    return max(site, distribution, shortest)


def supercell_bytes(n_supercell: int, n_primitive: int) -> float:
    """Peak bytes of a supercell of ``n_supercell`` atoms (``n_primitive`` in the primitive
    cell), known from the cell matrices before anything is built: the larger of
    ``prepare_bytes`` and the force constants every plan builds, (N, N, 3, 3) float64 and
    three intermediates of that size (``execution.padding.force_constant_bytes`` at the
    unpadded N: never more than the kernel's own check asks for later)."""
    n = float(n_supercell)
    return max(prepare_bytes(n_supercell, n_primitive), 8.0 * 9 * n * n * 4)
