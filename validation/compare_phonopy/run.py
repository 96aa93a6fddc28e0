"""The batch loop: size buckets in order, each batch run on both sides, written row by row.

Per size bucket, every file is read and prepared with phonjax; per batch (``--batch-size``
materials of one bucket), one ``phonon_properties`` call runs in this process while the phonopy
reference runs in worker processes (during the phonjax call with ``--overlap``, after it
otherwise). Each material's row is compared, appended to the CSV and printed as soon as its
phonopy record arrives; summary.md is rewritten after every batch.
"""

from __future__ import annotations

import csv
import datetime as _dt
import multiprocessing as mp
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable

from validation.compare_phonopy import phonjax_side
from validation.compare_phonopy.compare import compare
from validation.compare_phonopy.measure import CompileTimer
from validation.compare_phonopy.phonopy_side import run_phonopy, worker_init
from validation.compare_phonopy.summary import sci
from validation.compare_phonopy.table import RowWriter


class PhonopyWorkers:
    """Spawned processes running ``run_phonopy``; a dead pool is replaced, its work resubmitted."""

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)
        # with several workers, share the cores; with one, leave the libraries' defaults
        self.threads = max(1, (os.cpu_count() or 1) // self.jobs) if jobs > 1 else None
        self.pool = self._new_pool()
        self.args: dict[str, tuple] = {}

    def _new_pool(self):
        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=mp.get_context("spawn"),
                                   initializer=worker_init, initargs=(self.threads,))

    def submit(self, items: list[dict]) -> dict:
        """path -> future of its phonopy record, with the primitive matrix phonjax read."""
        futures = {}
        for it in items:
            ds = it.get("dataset")
            self.args[it["path"]] = (it["path"], None if ds is None else ds.primitive_matrix)
            futures[it["path"]] = self.pool.submit(run_phonopy, *self.args[it["path"]])
        return futures

    def result(self, futures: dict, path: str) -> dict:
        try:
            return futures[path].result()
        except BrokenProcessPool as exc:
            self.pool.shutdown(cancel_futures=True)
            self.pool = self._new_pool()
            futures.update({p: self.pool.submit(run_phonopy, *self.args[p])
                            for p, f in futures.items() if not f.done() or f.cancelled()})
            return {"error": f"phonopy worker died ({exc}); memory or a crash in compiled code"}

    def shutdown(self):
        self.pool.shutdown(cancel_futures=True)


def material_entries(paths: list[str]) -> list[dict]:
    """(path, id, N, np) per file, from manifest.csv next to the files or from the file itself."""
    from phonjax.io import dataset_id

    manifests: dict[Path, dict] = {}
    entries = []
    for p in paths:
        d = Path(p).parent
        if d not in manifests:
            m = d / "manifest.csv"
            manifests[d] = ({r["mp_id"]: r for r in csv.DictReader(open(m))} if m.exists() else {})
        r = manifests[d].get(dataset_id(p))
        if r:
            n, n_p = int(r["n_supercell"]), int(r["n_primitive"])
        else:
            try:
                n, n_p = phonjax_side.material_sizes(p)
            except Exception:  # noqa: BLE001 - the run records the error later
                n, n_p = 10**6, 10**6
        entries.append({"path": p, "id": dataset_id(p), "N": n, "np": n_p})
    return entries


def _annotate(batch: list[dict], info: dict, n_batch: int) -> None:
    """Copy the batch's measurements (or an item's own, after a fallback) onto its items."""
    n_ok = max(1, info["size"])
    for it in batch:
        if "result" not in it:
            continue
        own = "t_kernel_own" in it
        it.update(batch=n_batch, batch_size=1 if own else info["size"],
                  batch_wall_s=it.get("t_kernel_own", info["wall"]),
                  batch_compile_s=it.get("t_compile_own", info["compile"]),
                  batch_cpu_s=it.get("cpu_kernel_own", info["cpu"]),
                  cpu_kernel_share_s=it["cpu_kernel_own"] if own else info["cpu"] / n_ok,
                  mem_phonjax_batch_peak_MB=float("nan") if own else info["mem"],
                  loadavg_phonjax=info["loadavg"],
                  t_phonjax_kernel_share_s=it["t_kernel_own"] if own else info["wall"] / n_ok,
                  t_phonjax_compile_share_s=(it["t_compile_own"] if own
                                             else info["compile"] / n_ok))


def _row(it: dict, ref: dict) -> dict:
    try:
        row = compare(it, ref)
    except Exception as exc:  # noqa: BLE001
        row = {"id": it["id"], "file": Path(it["path"]).name, "status": "error",
               "phonjax_error": f"comparison failed: {type(exc).__name__}: {exc}"}
        traceback.print_exc()
    row["finished_at"] = _dt.datetime.now().isoformat(timespec="seconds")
    return row


def _print_row(row: dict) -> None:
    print(f"  {row['id']:>12} N={row.get('n_supercell', '?'):>3} "
          f"np={row.get('n_primitive', '?'):>3} {row['status']:5} "
          f"fc {sci(row.get('fc_max_abs'))} f {sci(row.get('freq_max_abs'))} "
          f"F {sci(row.get('F_rel'))} S {sci(row.get('S_rel'))} "
          f"Cv {sci(row.get('Cv_rel'))} | phonopy {row.get('t_phonopy_s', float('nan')):.2f} s"
          f" phonjax {row.get('t_phonjax_s', float('nan')):.2f} s"
          + (f" | {row.get('phonopy_error') or ''} {row.get('phonjax_error') or ''}"
             if row["status"] != "ok" else ""), flush=True)


def run_batch(batch: list[dict], n_batch: int, workers: PhonopyWorkers, overlap: bool,
              compile_timer: CompileTimer, writer: RowWriter) -> int:
    """Both sides on one batch; every row written and printed. Returns the rows written."""
    futures = workers.submit(batch) if overlap else None
    info = phonjax_side.run_kernel(batch, compile_timer)
    _annotate(batch, info, n_batch)
    if info["size"]:
        print(f"[batch {n_batch}] {info['size']} materials, N≤"
              f"{max(it['system'].n_supercell for it in batch if 'system' in it)}, "
              f"phonjax kernel {info['wall']:.1f} s (JIT {info['compile']:.1f} s)", flush=True)
    if futures is None:
        futures = workers.submit(batch)
    for it in batch:
        row = _row(it, workers.result(futures, it["path"]))
        writer.write(row)
        _print_row(row)
        for k in ("result", "dataset"):
            it.pop(k, None)
    return len(batch)


def run(todo: list[str], csv_path: Path, *, jobs: int, overlap: bool, batch_size: int, order: str,
        max_minutes: float | None, start: float, summarize: Callable[[], None]) -> None:
    """Compare every file in ``todo``, appending to ``csv_path``; ``summarize`` after each batch."""
    compile_timer = CompileTimer()
    writer = RowWriter(csv_path)
    workers = PhonopyWorkers(jobs)
    n_batch = n_done = 0
    try:
        for group in phonjax_side.size_groups(material_entries(todo), order):
            # read + prepare the whole size bucket, then batches of similar q-mesh size
            items = [phonjax_side.prepare_item(e["path"]) for e in group]
            ordered = phonjax_side.batches([it for it in items if "error" not in it], batch_size)
            failed = [it for it in items if "error" in it]
            if failed:
                ordered.append(failed)
            for batch in ordered:
                if max_minutes is not None and (time.time() - start) / 60 > max_minutes:
                    print(f"--max-minutes {max_minutes} reached: stopping", flush=True)
                    return
                n_batch += 1
                n_done += run_batch(batch, n_batch, workers, overlap, compile_timer, writer)
                summarize()
                print(f"  [{n_done}/{len(todo)} done, {(time.time() - start) / 60:.1f} min]",
                      flush=True)
            phonjax_side.forget_compiled()  # this bucket's shapes are not reused by the next
    finally:
        writer.close()
        workers.shutdown()
