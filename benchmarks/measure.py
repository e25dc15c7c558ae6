"""Process-level measurements: resident-set size, the garbage collector's time, the host's speed.

All are read inside a benchmark's own child process, so the figures belong to
one engine and one workload and nothing else.
"""

from __future__ import annotations

import gc
import os
import resource
import time
from types import TracebackType
from typing import Any

# Iterations of the host probe's loop: about 3 ms on a 2020s x86-64 core.
PROBE_LOOPS = 100_000

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Return this process's current resident-set size in bytes.

    Reads ``/proc/self/statm`` (Linux). Elsewhere falls back to the peak RSS
    from ``getrusage``, which only grows, so a growth measured with it is
    still an upper bound on the current growth.

    Returns:
        The resident-set size in bytes.
    """
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except OSError:  # not Linux: peak RSS is the best the standard library offers
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if os.uname().sysname == "Darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


class GcTimer:
    """Time every collection of Python's cyclic garbage collector inside a ``with`` block.

    Uses ``gc.callbacks``, which the interpreter calls at the start and stop
    of each collection, so it measures the collector's real share of a run
    with the collector on (the way users run Python).

    Attributes:
        seconds: total time spent in collections.
        collections: number of collections per generation (0, 1, 2).
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        gc.callbacks.remove(self._callback)


def host_probe(tries: int = 3) -> float:
    """Time a fixed pure-Python loop: how fast this host runs Python right now.

    On a shared host (a virtual machine whose physical core is also busy with
    someone else's work) the same code can run at half speed for seconds at a
    time. A sample whose probes, taken just before and just after it, are
    much slower than the run's usual probe (see :func:`benchmarks.cli.reference_of`)
    was measured in such a phase. The loop does integer additions only: no allocation the collector
    tracks, no memory traffic beyond the interpreter's own.

    Args:
        tries: how many times to run the loop; the fastest counts, so one
            interrupt does not make the host look slow.

    Returns:
        The fastest loop's time in seconds.
    """
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        total = 0
        for i in range(PROBE_LOOPS):
            total += i
        best = min(best, time.perf_counter() - start)
    return best
