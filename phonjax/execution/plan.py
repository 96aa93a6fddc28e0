"""The execution plan: how phonon properties are computed, resolved once.

The physics is the same whatever the plan (the kernels in
``phonjax.harmonic.force_constants``, ``phonjax.harmonic.dynamical_matrix`` and
``phonjax.harmonic.thermal``); a ``Plan`` says how they run:

* ``runner``: ``"chunked"`` evaluates the force constants of a size bucket in
  one vmapped jit, then each material's q-points in chunks at its own (finely
  padded) size, eigenvalues between compiled pieces; ``"graph"`` evaluates
  everything of a bucket, eigenvalues and thermal sums included, in one
  vmapped jit (the accelerator's way: nothing returns to the host between
  stages).
* ``eigensolver``: ``"phonors"`` (phonopy's own batched Rust solver, on the
  host, results checked and recomputed by LAPACK where inconsistent),
  ``"lapack"`` (NumPy's, on the host) or ``"xla"`` (inside the compiled graph:
  LAPACK on CPU, cuSOLVER on GPU). The graph runner needs ``"xla"``.
* ``real_form_tolerance``: with a host solver, the mesh of a crystal with
  inversion symmetry is solved as real symmetric matrices (``phonjax.harmonic.real_form``,
  LAPACK on every core: about half the time of phonors on the complex ones),
  where D(q) checks symmetric to this tolerance; 0 turns it off.
* sizes: the bound on the arrays of one compiled call, the D(q) bytes per
  q chunk, and the padding ladders that keep the number of compiled shapes
  small.

``default_plan()`` picks by JAX's default backend: chunked + phonors on CPU
(XLA's CPU eigensolver is several times slower than phonors and LAPACK), graph
+ XLA elsewhere. The defaults of the size settings come from measurements on a
2-core CPU (``BENCH_NOTES.md``, "Kernel tuning"); every one of them is a field
of the plan, not a module constant.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from phonjax.resources import DEFAULT_MEMORY_BYTES, THERMAL_BYTES_PER_VALUE, usable_cores

Runner = Literal["chunked", "graph"]
Eigensolver = Literal["phonors", "lapack", "xla"]

# padded sizes of the force-constant buckets (coarse: few compiled shapes)
LADDER = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512, 640,
          768, 1024, 1280, 1536, 2048, 2560, 3072, 4096, 5120, 6144, 8192)
# padded sizes of one material's D(q) in the chunked runner: steps of ≤ 25 %
FINE_LADDER = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 22, 24, 28, 32, 36, 40, 44, 48, 56,
               64, 72, 80, 88, 96, 112, 128, 144, 160, 176, 192, 224, 256)


@dataclass(frozen=True)
class Plan:
    runner: Runner = "chunked"
    eigensolver: Eigensolver = "phonors"
    memory_bytes: float = DEFAULT_MEMORY_BYTES  # arrays of one compiled call; most one material
    #   may take (``--memory-gb`` of the command line)
    q_chunk_bytes: float = 6e6  # complex D(q) per chunk: small enough to stay in cache
    q_chunk_min: int = 8
    q_chunk_max: int = 256
    min_padded_atoms: int = 64  # below, padding costs less than one more compilation
    min_padded_primitive: int = 8
    ladder: tuple[int, ...] = LADDER
    fine_ladder: tuple[int, ...] = FINE_LADDER
    # host solvers: a centrosymmetric material's mesh as real symmetric matrices
    # (phonjax.harmonic.real_form) where D(q)'s inversion residual is at most this (0: never)
    real_form_tolerance: float = 1e-12
    # κ: irreducible q-points solved at once, each in its own host thread (XLA's CPU ops
    # leave cores idle between calls; the memory bound is shared among them). None: the
    # machine's cores, at most 2 (1 where the backend is not the CPU)
    q_workers: int | None = None

    def __post_init__(self):
        if self.runner not in ("chunked", "graph"):
            raise ValueError(f"runner must be 'chunked' or 'graph', got {self.runner!r}")
        if self.eigensolver not in ("phonors", "lapack", "xla"):
            raise ValueError(f"eigensolver must be 'phonors', 'lapack' or 'xla', "
                             f"got {self.eigensolver!r}")
        if self.runner == "graph" and self.eigensolver != "xla":
            raise ValueError("the graph runner keeps eigenvalues in the compiled graph: "
                             "it needs eigensolver='xla'")
        if self.q_workers is not None and not (isinstance(self.q_workers, int)
                                                 and self.q_workers >= 1):
            raise ValueError(f"q_workers must be a positive integer, got {self.q_workers!r}")
        if not self.real_form_tolerance >= 0:
            raise ValueError("real_form_tolerance must be ≥ 0")
        if not (self.memory_bytes > 0 and self.q_chunk_bytes > 0
                and 1 <= self.q_chunk_min <= self.q_chunk_max):
            raise ValueError("memory_bytes and q_chunk_bytes must be positive and "
                             "1 ≤ q_chunk_min ≤ q_chunk_max")

    @property
    def host_solver(self) -> bool:
        return self.eigensolver != "xla"

    def replace(self, **changes) -> Plan:
        return dataclasses.replace(self, **changes)

    # --- sizes ---------------------------------------------------------------------------
    def padded(self, n: int) -> int:
        """Smallest ladder size ≥ n (powers of two beyond the ladder)."""
        return next((s for s in self.ladder if n <= s), None) or 2 ** math.ceil(math.log2(n))

    def fine(self, n: int) -> int:
        """Smallest fine-ladder size ≥ n (the coarse ladder beyond it)."""
        return next((s for s in self.fine_ladder if n <= s), None) or self.padded(n)

    def q_chunk(self, modes: int) -> int:
        """q-points per chunk: ``q_chunk_bytes`` of complex D(q), a power of two within
        [q_chunk_min, q_chunk_max]."""
        fits = self.q_chunk_bytes / (16 * modes * modes)
        return 2 ** int(math.log2(min(max(fits, self.q_chunk_min), self.q_chunk_max)))

    def q_worker_count(self) -> int:
        """Irreducible q-points κ solves at once (``q_workers``, or the default it states)."""
        if self.q_workers is not None:
            return self.q_workers
        import jax

        if jax.default_backend() != "cpu":
            return 1
        return max(1, min(2, usable_cores()))

    def temperature_chunk(self, n_values: int) -> int:
        """Temperatures per compiled call of the thermal sums over ``n_values`` mode values:
        their (n_T, n_values) work arrays (``THERMAL_BYTES_PER_VALUE`` each) within
        ``memory_bytes``, a power of two (at least 1)."""
        fits = self.memory_bytes / (THERMAL_BYTES_PER_VALUE * max(n_values, 1))
        return 2 ** int(math.log2(max(fits, 1.0)))


ALL_PLANS = (Plan(), Plan(real_form_tolerance=0.0), Plan(eigensolver="lapack"),
             Plan(eigensolver="xla"),
             Plan(runner="graph", eigensolver="xla"))


def default_plan(backend: str | None = None) -> Plan:
    """The plan for JAX's default backend (or ``backend``): chunked + phonors on CPU,
    graph + XLA on accelerators."""
    if backend is None:
        import jax

        backend = jax.default_backend()
    return Plan() if backend == "cpu" else Plan(runner="graph", eigensolver="xla")


def resolved_plan(plan: Plan | None = None, memory_bytes: float | None = None) -> Plan:
    """``plan`` (default: ``default_plan()``) with ``memory_bytes`` as its bound when given
    (``resources.checked_memory_bytes``: a number > 0, one-line ``ValueError`` otherwise)."""
    from phonjax.resources import checked_memory_bytes

    if plan is not None and not isinstance(plan, Plan):
        raise TypeError(f"plan must be a phonjax.Plan, got {type(plan).__name__}")
    if plan is None:  # the default bound as it is now (``resources.DEFAULT_MEMORY_BYTES``)
        return default_plan().replace(memory_bytes=checked_memory_bytes(memory_bytes))
    if memory_bytes is None:
        return plan
    return plan.replace(memory_bytes=checked_memory_bytes(memory_bytes))


def plan_from_text(text: str | None, memory_bytes: float | None = None) -> Plan:
    """A plan from the command line's ``--plan``: comma-separated ``field=value`` of ``Plan``
    (``runner=graph,eigensolver=xla``, ``eigensolver=lapack``, ``real_form_tolerance=0``,
    ``q_chunk_bytes=4e6``, …) over ``default_plan()``; "default" or None: that plan. An
    unknown field or a value ``Plan`` refuses raises ``ValueError`` in one line."""
    base = resolved_plan()
    known = [f.name for f in dataclasses.fields(Plan) if f.name not in ("ladder", "fine_ladder")]
    changes: dict = {}
    for part in (text or "").replace(" ", "").split(","):
        if part in ("", "default"):
            continue
        key, sep, value = part.partition("=")
        if not sep or key not in known:
            raise ValueError(f"--plan: {part!r} is not FIELD=VALUE with FIELD one of "
                             f"{', '.join(known)}")
        current = getattr(base, key)
        if current is None:  # optional integer fields (q_workers)
            current = 0
        try:
            changes[key] = value if isinstance(current, str) else type(current)(
                float(value) if isinstance(current, int) else value)
        except ValueError:
            raise ValueError(f"--plan: {key} must be a number, got {value!r}") from None
        if isinstance(current, int) and changes[key] != float(value):
            raise ValueError(f"--plan: {key} must be an integer, got {value!r}")
    if changes.get("runner") == "graph" and "eigensolver" not in changes:
        changes["eigensolver"] = "xla"  # the graph runner's only solver
    try:
        plan = dataclasses.replace(base, **changes)
    except ValueError as exc:
        raise ValueError(f"--plan: {exc}") from None
    return resolved_plan(plan, memory_bytes)
