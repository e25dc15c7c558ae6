"""Check a traced graph's leaf gradients against central finite differences (``draw(check=True)``).

How it re-evaluates: it replays the forward of the row that made each node
(``node.primitive.forward(NUMPY_MATH, *parent_data)``, custom rows made with
``autograd.apply`` included), in topological order, on numpy arrays that hold every perturbation of a chunk of leaves at
once (column 2j is leaf j nudged up by eps, column 2j+1 nudged down). Only
nodes downstream of a nudged leaf are recomputed; the rest keep their
recorded ``data``. NUMPY_MATH is the engine's own IEEE-754 namespace (what it
falls back to for 1/0, log(0), overflow), so replays give inf/nan exactly
where the engine does and never raise. No Value is built and ``.grad`` is
not touched.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd import Op, Value
from chainrule.autograd.ops import NUMPY_MATH
from chainrule.viz.trace import LEAF, PARAMETER_ROLE, Trace

# Leaves perturbed per replay: bounds memory at nodes * 2 * CHUNK floats.
CHUNK = 64


def finite_differences(
    tr: Trace, order: list[Value], *, eps: float, atol: float, rtol: float, chunk: int = CHUNK
) -> None:
    """Fill ``fd_grad``, ``check_error`` and ``check_ok`` on every leaf and parameter of ``tr``.

    The estimate is scaled by the root's shown gradient (the seed of
    ``backward()``, 1.0 unless you passed another), so it is comparable with
    the gradients the diagram shows.

    Args:
        tr: the trace to fill in (its node ids index ``order``).
        order: the Values in topological order, as traced.
        eps: the central-difference step.
        atol, rtol: agree when |grad - fd| <= atol + rtol * |fd|.
        chunk: leaves perturbed per replay.

    Returns:
        None; ``tr`` is updated in place and ``tr.checked`` set.
    """
    if not eps > 0:
        raise ValueError(f"check_eps must be > 0, got {eps!r}")
    targets = [n.id for n in tr.nodes if n.role in (LEAF, PARAMETER_ROLE)]
    seed = tr.nodes[tr.root].grad
    index = {v: i for i, v in enumerate(order)}
    parent_ids = [tuple(index[p] for p in v.parents) for v in order]
    consumers = [0] * len(order)
    for ps in parent_ids:
        for p in ps:
            consumers[p] += 1
    for start in range(0, len(targets), chunk):
        batch = targets[start : start + chunk]
        estimates = _replay(order, parent_ids, consumers, batch, tr.root, eps)
        for t, d in zip(batch, estimates):
            node = tr.nodes[t]
            fd = seed * d
            node.fd_grad = fd
            node.check_error, node.check_ok = _compare(node.grad, fd, atol, rtol)
    tr.checked = True


def _compare(grad: float, fd: float, atol: float, rtol: float) -> tuple[float, bool]:
    """Return (relative error, agree?); equal infinities agree, anything against nan does not."""
    if grad == fd:
        return 0.0, True
    diff = abs(grad - fd)
    if not math.isfinite(diff):
        return math.nan if math.isnan(diff) else math.inf, False
    return diff / max(abs(grad), abs(fd)), bool(diff <= atol + rtol * abs(fd))


def _forward(row: Op, xs: list[Any], width: int) -> Any:
    """Run a row's forward on the columns at once, or column by column if it only takes scalars."""
    try:
        return row.forward(NUMPY_MATH, *xs)
    except (TypeError, ValueError):
        # A custom row written for floats (`a if a > 0 else 0.0`) can't take an array.
        columns = [np.broadcast_to(np.asarray(x, dtype=np.float64), (width,)) for x in xs]
        return np.array([float(row.forward(NUMPY_MATH, *(c[j] for c in columns))) for j in range(width)])


def _replay(
    order: list[Value], parent_ids: list[tuple[int, ...]], consumers: list[int], batch: list[int], root: int,
    eps: float,
) -> list[float]:
    width = 2 * len(batch)
    values: list[Any] = [None] * len(order)  # None: not affected by the nudges, use the recorded data
    for j, t in enumerate(batch):
        column = np.full(width, order[t].data)
        column[2 * j] += eps
        column[2 * j + 1] -= eps
        values[t] = column
    remaining = list(consumers)
    with np.errstate(all="ignore"):
        for i in range(min(batch), len(order)):
            ps = parent_ids[i]
            if not ps or not any(values[p] is not None for p in ps):
                continue
            xs = [order[p].data if values[p] is None else values[p] for p in ps]
            row = order[i].primitive
            assert row is not None  # a node with parents was made by a row
            values[i] = _forward(row, xs, width)
            for p in ps:
                remaining[p] -= 1
                if not remaining[p] and p != root:
                    values[p] = None  # no consumer is left: free the column
        out = np.broadcast_to(np.asarray(values[root], dtype=np.float64), (width,))
        return [float((out[2 * j] - out[2 * j + 1]) / (2.0 * eps)) for j in range(len(batch))]
