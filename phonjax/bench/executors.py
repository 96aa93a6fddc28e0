"""Where chunks run: in this process, or on a dask.distributed cluster.

An executor maps ``compute_chunk`` over tasks and yields each chunk's rows as
soon as they are ready, chunks in completion order. In this process a chunk's
rows come one by one as its materials finish (so each is stored at once); from
a dask worker a chunk's rows travel back together. Results travel back to the
caller, the only writer of the store, so workers never touch the database.
A task is ``compute_chunk``'s arguments: materials, model, protocol, device,
max_atoms, lanes and the ``phonjax.Plan`` (None: the worker's ``default_plan()``),
each a picklable value, so that a dask worker gets them as they are.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator


class InProcess:
    name = "inprocess"

    def map(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator:
        for args in tasks:
            yield fn(*args)

    def close(self) -> None:
        pass


class Dask:
    """``scheduler``: an address (``tcp://host:8786``) or a ``distributed.Client``."""

    name = "dask"

    def __init__(self, scheduler):
        from distributed import Client

        if isinstance(scheduler, Client):
            self.client, self._own = scheduler, False
        else:
            self.client, self._own = Client(scheduler), True

    def map(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator:
        from distributed import as_completed

        futures = [self.client.submit(_collect, fn, *args, pure=False) for args in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:  # an abandoned run must not keep the cluster busy
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self._own:
            self.client.close()


def _collect(fn: Callable, *args) -> list:
    """``fn``'s rows as one list (a generator cannot travel back from a worker)."""
    return list(fn(*args))


def make_executor(kind: str = "inprocess", scheduler=None):
    if kind in ("inprocess", "local", None):
        return InProcess()
    if kind == "dask":
        if scheduler is None:
            raise ValueError("--executor dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValueError("dask.distributed is not installed: "
                             "pip install -c constraints.txt 'phonjax[bench]'") from None
        return Dask(scheduler)
    raise ValueError(f"unknown executor {kind!r}; use inprocess or dask")
