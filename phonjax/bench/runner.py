"""Drive a benchmark: pending work from the store, chunks to an executor, rows back to the store.

The reference (``dft``) runs first, then each model. A material whose row is in
the store for (dataset, model, protocol) with the same input (SHA-256 of its
file) and the same model identity (package version, weights' hash) is not
recomputed; a row of another input or model is recomputed and replaced (the
tally counts them as ``changed``, as rows whose data cannot be read, which are
deleted first); rows stored before phonjax recorded these
are reused as they are unless ``recompute_unverified``. Each chunk's materials
are claimed in the store just before the chunk runs, so a second run on the
same store skips what another live run is computing. Rows are written one
transaction each as soon as each material is done; input errors are reported
and skipped; a model that cannot run at all stops the run with its message
(nothing of it is stored, so fixing the environment and re-running just works).
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from phonjax.bench import REFERENCE_MODEL
from phonjax.bench.compute import compute_chunk
from phonjax.bench.inputs import Material, hashed
from phonjax.bench.protocols import Protocol
from phonjax.bench.store import Store

if TYPE_CHECKING:
    from phonjax.execution.plan import Plan


class BenchError(RuntimeError):
    pass


@dataclass
class Tally:
    computed: int = 0
    failed: int = 0
    already: int = 0
    changed: list[str] = field(default_factory=list)  # recomputed: input or model changed
    unverified: int = 0  # reused rows stored before input hashes were recorded
    elsewhere: dict[str, str] = field(default_factory=dict)  # {id: who} another run computes
    input_errors: list[str] = field(default_factory=list)


def model_identity(model: str) -> str:
    """What a model row is computed with, beyond the spec: package version and weights."""
    if model == REFERENCE_MODEL:
        return "reference"
    from phonjax.pipeline import models

    return models.identity(model)


def versions(packages=("phonjax", "jax", "jaxlib", "numpy", "spglib", "ase", "torch")) -> dict:
    from phonjax_adapters.base import package_version

    return {p: package_version(p) for p in packages}


def run_meta(model: str, protocol: Protocol) -> dict:
    from phonjax.pipeline import models

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


def to_compute(materials: list[Material], model: str, protocol: Protocol, store: Store,
               identity: str, hashes: dict[str, str | None], recompute_unverified: bool = False
               ) -> tuple[list[Material], Tally]:
    """(materials to compute, tally of the others) for one model."""
    tally = Tally()
    stored = {ds: store.identities(ds, model, protocol.key) for ds in {m.dataset for m in materials}}
    pending = []
    for m in materials:
        have = stored[m.dataset].get(m.material_id)
        if have is None:
            pending.append(m)
        elif have == (hashes[m.material_id], identity) and have[0] is not None:
            tally.already += 1
        elif have[0] is None and have[1] is None and not recompute_unverified:
            tally.unverified += 1
            tally.already += 1
        else:
            why = ("no input hash was recorded" if have[0] is None else
                   "input changed since it was stored" if have[0] != hashes[m.material_id]
                   else "model changed since it was stored")
            tally.changed.append(f"{m.material_id} ({why})")
            pending.append(m)
    return pending, tally


def run(materials: list[Material], models: list[str], protocol: Protocol, store: Store,
        executor, *, chunk_size: int = 8, device: str = "cpu", max_atoms: int = 4096,
        lanes: int | None = None, retry_failed: bool = False, recompute_unverified: bool = False,
        progress=None, plan: Plan | None = None, compute=compute_chunk,
        reference: bool = True) -> dict[str, Tally]:
    """Compute every missing or outdated row; ``progress.advance(model, row)`` is called per
    finished material. ``compute``: the task's rows of a chunk (``compute_chunk``, the
    phonon benchmark's; ``bench.kappa_task.compute_kappa_chunk``, the κ benchmark's), called
    as ``compute(materials, model, protocol, device, max_atoms, lanes, plan)``;
    ``reference``: compute the dataset's own reference rows first (model ``dft``). ``lanes``: concurrent model calls per chunk (None: one per core of
    the worker, ≤ 4). ``plan``: how the kernel runs, sent with each chunk (None:
    ``default_plan()`` of the worker; its ``memory_bytes`` bounds prepare and the kernel);
    how, not what: rows and the protocol key are the same under every plan."""
    tallies: dict[str, Tally] = {}
    work = []
    materials = hashed(materials)  # each input hashed once; the hash travels with the chunks
    hashes = {m.material_id: m.input_sha256 for m in materials}
    for model in [REFERENCE_MODEL] * reference + [m for m in models if m != REFERENCE_MODEL]:
        if retry_failed:
            for ds in {m.dataset for m in materials}:
                store.delete_failed(ds, model, protocol.key)
        identity = model_identity(model)
        unreadable = _drop_unreadable(store, materials, model, protocol)
        pending, tallies[model] = to_compute(materials, model, protocol, store, identity,
                                             hashes, recompute_unverified)
        tallies[model].changed += [f"{mid} (its stored row was unreadable)" for mid in unreadable]
        work.append((model, identity, pending))
    if progress is not None:
        progress.start([(model, len(p)) for model, _, p in work], tallies)
    try:
        for model, identity, pending in work:
            if not pending:
                continue
            meta = run_meta(model, protocol)
            tally = tallies[model]
            # The reference is cheap per material: bigger chunks mean fewer compilations.
            size = chunk_size * 4 if model == REFERENCE_MODEL else chunk_size
            tasks = _claimed_tasks(chunks(pending, size), model, identity, hashes, protocol,
                                   store, tally, (device, max_atoms, lanes, plan),
                                   progress)
            for rows in executor.map(compute, tasks):
                for row in rows:
                    if row["status"] == "model_error":
                        raise BenchError(f"model {model} cannot run: {row['error']}")
                    if row["status"] == "input_error":
                        tally.input_errors.append(f"{row['material_id']}: {row['error']}")
                    else:
                        store.put(row, meta, identity)
                        tally.computed += 1
                        tally.failed += row["status"] == "failed"
                    if progress is not None:
                        progress.advance(model, row)
    finally:
        store.release()
        if progress is not None:
            progress.stop()
    for model, identity, _ in work:  # what another run finished meanwhile is in the tables
        t = tallies[model]
        if t.elsewhere:
            have = {ds: store.identities(ds, model, protocol.key)
                    for ds in {m.dataset for m in materials}}
            done = {m.material_id for m in materials if m.material_id in t.elsewhere
                    and have[m.dataset].get(m.material_id) == (hashes[m.material_id], identity)}
            t.already += len(done)
            t.elsewhere = {k: v for k, v in t.elsewhere.items() if k not in done}
    return tallies


def _drop_unreadable(store: Store, materials: list[Material], model: str,
                     protocol: Protocol) -> list[str]:
    """Delete the stored rows of ``materials`` under ``model`` whose data cannot be read
    (damaged or edited by hand), so that they are computed again; their material ids."""
    dropped = []
    for ds in dict.fromkeys(m.dataset for m in materials):
        ids = [m.material_id for m in materials if m.dataset == ds]
        dropped += store.drop_unreadable(ds, model, protocol.key, ids)
    return dropped


def _claimed_tasks(groups, model, identity, hashes, protocol, store, tally, settings, progress):
    """Each chunk as a task once its materials are claimed (those another live run claimed,
    or finished meanwhile, are left out)."""
    for group in groups:
        claimed = set()
        for dataset in dict.fromkeys(m.dataset for m in group):
            wanted = {m.material_id: (hashes[m.material_id], identity)
                      for m in group if m.dataset == dataset}
            ids, busy = store.claim(dataset, model, protocol.key, wanted)
            claimed.update((dataset, i) for i in ids)
            tally.elsewhere.update(busy)
            tally.already += len(wanted) - len(ids) - len(busy)  # another run finished them
        mine = [m for m in group if (m.dataset, m.material_id) in claimed]
        if progress is not None:
            for _ in range(len(group) - len(mine)):
                progress.skip(model)
        if mine:
            yield (mine, model, protocol, *settings)


class RichProgress:
    """Materials done, failures and ETA per model, on stderr."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._progress = None
        self._tasks = {}

    def start(self, work, tallies) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.tallies = tallies
        self._progress = Progress(TextColumn("{task.description:<22}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("failed {task.fields[failed]}"),
                                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                  console=self.console, transient=False)
        self._progress.start()
        for model, n in work:
            self._tasks[model] = self._progress.add_task(model, total=n, failed=0)
        self.t0 = time.perf_counter()

    def skip(self, model) -> None:
        """A planned material another run is computing (or has just finished)."""
        task_id = self._tasks[model]
        total = next(t.total for t in self._progress.tasks if t.id == task_id)
        self._progress.update(task_id, total=max(0, (total or 0) - 1))

    def advance(self, model, row) -> None:
        failed = self.tallies[model].failed + len(self.tallies[model].input_errors)
        self._progress.update(self._tasks[model], advance=1, failed=failed)
        if not self.console.is_terminal:  # a log file: the bar is not redrawn there
            task = next(t for t in self._progress.tasks if t.id == self._tasks[model])
            self.console.print(f"{model}: {row.get('material_id', '?')} {row.get('status', '?')}"
                               f" · {int(task.completed)}/{int(task.total or 0)} done, "
                               f"{failed} failed · {time.perf_counter() - self.t0:.0f} s",
                               highlight=False, soft_wrap=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
