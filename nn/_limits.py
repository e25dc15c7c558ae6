"""Size limits: refuse, with an estimate of the memory, what this machine could not hold.

Model constructors and data generators call :func:`check_fits` before they
allocate anything, so a huge size gets a ``ValueError`` that says how much
memory it would take, never a ``MemoryError`` (or a swapping machine) from
deep inside numpy or a constructor loop.
"""

from __future__ import annotations

import os

__all__ = ["BYTES_PER_PARAMETER", "BYTES_PER_SAMPLE", "check_fits", "format_bytes", "memory_bytes"]

# Measured with tracemalloc on CPython 3.11: an MLP holds about 275 bytes per
# parameter once built (the Value, its slot in the neuron's list) and peaks near
# 440 while building; the 2-D generators peak at 80-92 bytes per sample (the
# arrays, their shuffled copies and the noise). Rounded up.
BYTES_PER_PARAMETER = 450
BYTES_PER_SAMPLE = 100

# Assumed when the system does not say how much memory it has (os.sysconf is POSIX only).
_FALLBACK_MEMORY = 16 * 2**30


def memory_bytes() -> int:
    """Return the machine's physical memory in bytes (16 GiB where the system does not say)."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return _FALLBACK_MEMORY
    if pages <= 0 or page_size <= 0:
        return _FALLBACK_MEMORY
    return int(pages) * int(page_size)


def format_bytes(n: int) -> str:
    """Return ``n`` bytes in a readable unit ("3.2 GB"); huge counts as a power of ten ("about 10^400 bytes")."""
    if n >= 10**21:
        return f"about 10^{len(str(n)) - 1} bytes"
    for unit, size in (("EB", 10**18), ("PB", 10**15), ("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def check_fits(count: int, bytes_each: int, what: str, who: str) -> None:
    """Raise ValueError when ``count`` items of ``bytes_each`` bytes would not fit in memory.

    Args:
        count: how many items (parameters, samples); any Python int.
        bytes_each: the estimated peak bytes per item.
        what: the items, for the message ("parameters", "samples").
        who: the caller, for the message ("MLP()").

    Raises:
        ValueError: naming the count, the estimate and the machine's memory.
    """
    need = count * bytes_each
    have = memory_bytes()
    if need > have:
        shown = f"{count:,}" if count < 10**21 else f"about 10^{len(str(count)) - 1}"
        raise ValueError(
            f"{who}: {shown} {what} are too many to build: at about {bytes_each} bytes each they would take "
            f"{format_bytes(need)}, more than this machine's {format_bytes(have)} of memory"
        )
