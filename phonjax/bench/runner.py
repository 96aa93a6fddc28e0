"""Drive a benchmark: pending work from the store, chunks to an executor, rows back to the store.

The reference (``dft``) runs first, then each model. Materials already in the
store for (dataset, model, protocol) are not recomputed. Rows are written one
transaction each as chunks complete; input errors are reported and skipped;
a model that cannot run at all stops the run with its message (nothing of it
is stored, so fixing the environment and re-running just works).
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field

from phonjax.bench import REFERENCE_MODEL
from phonjax.bench.compute import compute_chunk
from phonjax.bench.inputs import Material
from phonjax.bench.protocols import Protocol
from phonjax.bench.store import Store


class BenchError(RuntimeError):
    pass


@dataclass
class Tally:
    computed: int = 0
    failed: int = 0
    already: int = 0
    input_errors: list[str] = field(default_factory=list)


def versions(packages=("phonjax", "jax", "jaxlib", "numpy", "spglib", "ase", "torch")) -> dict:
    from phonjax_adapters.base import package_version

    return {p: package_version(p) for p in packages}


def run_meta(model: str, protocol: Protocol) -> dict:
    from phonjax.bench import models

    try:
        ident = {"model": REFERENCE_MODEL} if model == REFERENCE_MODEL else models.describe(model)
    except (OSError, RuntimeError) as exc:  # weights missing / download failed / not installed
        raise BenchError(f"model {model} cannot run: {exc}") from None
    return {"protocol": asdict(protocol), "protocol_key": protocol.key, "model": ident,
            "versions": versions(), "host": platform.node(), "python": platform.python_version()}


def shard(materials: list[Material], spec: str | None) -> list[Material]:
    """Materials of shard ``i/n`` (0 ≤ i < n): every n-th in material-id order."""
    if not spec:
        return materials
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise ValueError(f"--shard must be i/n with integers, got {spec!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"--shard {spec}: need 0 ≤ i < n")
    ordered = sorted(materials, key=lambda m: m.material_id)
    return [m for k, m in enumerate(ordered) if k % n == i]


def chunks(items: list, size: int) -> list[list]:
    return [items[k:k + size] for k in range(0, len(items), max(1, size))]


def run(materials: list[Material], models: list[str], protocol: Protocol, store: Store,
        executor, *, chunk_size: int = 8, device: str = "cpu", max_atoms: int = 4096,
        lanes: int | None = None, retry_failed: bool = False,
        progress=None) -> dict[str, Tally]:
    """Compute every missing row; ``progress(model, row)`` is called per finished material.
    ``lanes``: concurrent model calls per chunk (None: one per core of the worker, ≤ 4)."""
    tallies: dict[str, Tally] = {}
    plan = []
    for model in [REFERENCE_MODEL] + [m for m in models if m != REFERENCE_MODEL]:
        tally = tallies[model] = Tally()
        if retry_failed:
            for ds in {m.dataset for m in materials}:
                store.delete_failed(ds, model, protocol.key)
        done = {ds: store.done(ds, model, protocol.key) for ds in {m.dataset for m in materials}}
        pending = [m for m in materials if m.material_id not in done[m.dataset]]
        tally.already = len(materials) - len(pending)
        plan.append((model, pending))
    return_plan = [(model, len(p)) for model, p in plan]
    if progress is not None:
        progress.start(return_plan, tallies)
    try:
        for model, pending in plan:
            if not pending:
                continue
            meta = run_meta(model, protocol)
            tally = tallies[model]
            # The reference is cheap per material: bigger chunks mean fewer compilations.
            size = chunk_size * 4 if model == REFERENCE_MODEL else chunk_size
            tasks = [(c, model, protocol, device, max_atoms, lanes)
                     for c in chunks(pending, size)]
            for rows in executor.map(compute_chunk, tasks):
                for row in rows:
                    if row["status"] == "model_error":
                        raise BenchError(f"model {model} cannot run: {row['error']}")
                    if row["status"] == "input_error":
                        tally.input_errors.append(f"{row['material_id']}: {row['error']}")
                    else:
                        store.put(row, meta)
                        tally.computed += 1
                        tally.failed += row["status"] == "failed"
                    if progress is not None:
                        progress.advance(model, row)
    finally:
        if progress is not None:
            progress.stop()
    return tallies


class RichProgress:
    """Materials done, failures and ETA per model, on stderr."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._progress = None
        self._tasks = {}

    def start(self, plan, tallies) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.tallies = tallies
        self._progress = Progress(TextColumn("{task.description:<22}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("failed {task.fields[failed]}"),
                                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                  console=self.console, transient=False)
        self._progress.start()
        for model, n in plan:
            self._tasks[model] = self._progress.add_task(model, total=n, failed=0)
        self.t0 = time.perf_counter()

    def advance(self, model, row) -> None:
        self._progress.update(self._tasks[model], advance=1,
                              failed=self.tallies[model].failed + len(self.tallies[model].input_errors))

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
