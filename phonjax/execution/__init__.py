"""Execution: the one place where the ways of running the kernels differ.

``run`` takes the kernel tables and forces of any number of materials,
buckets them by size (``padding``) and hands each bucket to the plan's runner
(``chunked`` or ``graph``), inside ``jax.enable_x64``: phonjax computes in
float64 whatever the caller's global setting, and leaves that setting alone.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import numpy as np

from phonjax.execution import chunked, graph
from phonjax.execution.padding import bucket, check_fits
from phonjax.execution.plan import ALL_PLANS, Plan, default_plan
from phonjax.execution.stages import MaterialOutput
from phonjax.resources import ResourceError
from phonjax.harmonic.tables import MaterialTables

__all__ = ["ALL_PLANS", "MaterialOutput", "Plan", "ResourceError", "default_plan", "run"]

_RUNNERS = {"chunked": chunked.run, "graph": graph.run}


def run(forces: Sequence[np.ndarray], tables: Sequence[MaterialTables], temperatures,
        subtract_drift: bool = False, plan: Plan | None = None,
        keep_force_constants: bool = False,
        on_bucket_done: Callable[[list[int], list[MaterialOutput]], None] | None = None,
        names: Sequence[str] | None = None, thermal: bool = True) -> list[MaterialOutput]:
    """One ``MaterialOutput`` per material, in order. ``on_bucket_done(indices, outputs)``
    is called as each bucket finishes (progress, early writes). A material that alone
    needs more than ``plan.memory_bytes`` (at these temperatures) raises ``ResourceError``
    before anything runs (``names`` name the materials in that message). ``thermal=False``:
    a runner may skip the mesh (the chunked runner does: F, S, Cv empty), for callers that
    solve the mesh themselves (``modes.mesh_thermal``)."""
    plan = plan or default_plan()
    n_temperatures = int(np.size(temperatures))
    for i, t in enumerate(tables):
        check_fits(names[i] if names else f"material {i}", t, plan, n_temperatures)
    runner = _RUNNERS[plan.runner]
    out: list[MaterialOutput | None] = [None] * len(tables)
    with jax.enable_x64(True):
        for group in bucket(tables, plan):
            outputs = runner([forces[i] for i in group], [tables[i] for i in group],
                             temperatures, subtract_drift, plan, keep_force_constants, thermal)
            for i, o in zip(group, outputs):
                out[i] = o
            if on_bucket_done:
                on_bucket_done(group, outputs)
    return out  # type: ignore[return-value]
