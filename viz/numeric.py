"""Sums, means and maxima over gradients that never raise: IEEE-754 answers for nan, infinities and overflow.

``math.fsum`` is correctly rounded but raises on exactly the gradients a
diagram must show: ``ValueError`` for ``inf + -inf`` and ``OverflowError``
when a partial sum passes the largest float (``1.5e308 + 1.5e308``, even when
the terms cancel later). These helpers give what the engine's own float
arithmetic gives instead: nan for nan or for infinities of both signs, an
infinity for an infinite term, and for finite terms whose partial sums
overflow, the exact sum (scaled as integers, so it is right whether it cancels
back into range or overflows to inf).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

__all__ = ["largest", "mean", "total"]


def total(values: Iterable[float]) -> float:
    """Return the sum, correctly rounded, without raising.

    Args:
        values: floats (any, nan and infinities included).

    Returns:
        ``math.fsum(values)`` where that works; nan when a term is nan or
        infinities of both signs meet; an infinity when a term is infinite or
        the exact sum is out of range.
    """
    xs = values if isinstance(values, (list, tuple)) else list(values)
    try:
        return math.fsum(xs)
    except ValueError:  # inf + -inf
        return math.nan
    except OverflowError:  # partial sums passed the largest float
        return _exact_sum(xs, 1)


def mean(values: Iterable[float]) -> float:
    """Return the mean, without raising: finite whenever the true mean is (``[1.5e308, 1.5e308]`` -> 1.5e308).

    Args:
        values: floats (at least one).

    Returns:
        The mean; nan and infinities as in :func:`total`.

    Raises:
        ValueError: no values.
    """
    xs = values if isinstance(values, (list, tuple)) else list(values)
    if not xs:
        raise ValueError("mean() of no values")
    try:
        return math.fsum(xs) / len(xs)
    except ValueError:
        return math.nan
    except OverflowError:
        return _exact_sum(xs, len(xs))


def largest(values: Iterable[float], default: float = 0.0) -> float:
    """Return the maximum, nan if any value is nan (``max()`` answers by position: ``max([1, nan])`` is 1).

    Args:
        values: floats.
        default: the answer for no values.

    Returns:
        The largest value, or nan.
    """
    best = default
    first = True
    for x in values:
        if x != x:
            return math.nan
        if first or x > best:
            best, first = x, False
    return best


def _exact_sum(xs: list[float] | tuple[float, ...], divisor: int) -> float:
    """sum(xs) / divisor, exactly, then rounded; fsum raises OverflowError before looking at nan and inf."""
    if any(x != x for x in xs):
        return math.nan
    signs = {x > 0 for x in xs if math.isinf(x)}
    if signs:
        return math.nan if len(signs) == 2 else math.inf if True in signs else -math.inf
    exact = sum((Fraction(x) for x in xs), Fraction(0)) / divisor
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf
