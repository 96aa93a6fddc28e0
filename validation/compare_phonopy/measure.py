"""Measurements around each side's work: peak resident-memory growth, load average, JIT time."""

from __future__ import annotations

import os
import threading


class PeakRSS:
    """Peak growth of this process's resident memory while active (sampled every 10 ms).

    ``mb`` is NaN when psutil is missing: nothing is reported rather than a guess.
    """

    def __init__(self, interval_s: float = 0.01):
        self.interval_s = interval_s
        try:
            import psutil

            self._proc = psutil.Process()
        except Exception:  # noqa: BLE001
            self._proc = None
        self.base = self.peak = 0
        self._stop = threading.Event()
        self._thread = None

    def _rss(self) -> int:
        return self._proc.memory_info().rss if self._proc else 0

    def _run(self):
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self.base = self.peak = self._rss()
        if self._proc:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20 if self._proc else float("nan")


def loadavg() -> float:
    """The 1-minute load average (NaN where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


class CompileTimer:
    """Seconds JAX spends tracing, lowering and compiling (jax.monitoring events), summed."""

    def __init__(self):
        import jax

        self.total = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **kwargs):
        if event.startswith("/jax/core/compile/"):
            self.total += duration
