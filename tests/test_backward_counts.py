"""Backward reads each node's consumer count from when its consumers were made (``_n``).

Those counts can be too high (consumers outside the graph being differentiated:
other outputs built from the same nodes, or dropped ones) or, after a race
between threads building from shared nodes, too low. Neither may change a
gradient: these tests build such graphs and compare with a clean rebuild.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrule.autograd import Value, grad, topological_order
from chainrule.autograd.testing import Expression, expressions


def test_consumers_outside_the_graph_do_not_stop_the_walk() -> None:
    x = Value(3.0, "x")
    y = x * 2.0
    z = y + 1.0
    _unused = y * 3.0  # a second consumer of y, not below z
    z.backward()
    assert x.grad == 2.0
    assert y.grad == 1.0


def test_waiting_nodes_keep_what_already_arrived() -> None:
    # a reaches c directly and through b; b also feeds d, which is not below c.
    x = Value(1.5, "x")
    a = x * x
    b = a + 1.0
    c = b * a
    _d = b * 5.0
    c.backward()
    # c = (x^2 + 1) x^2 = x^4 + x^2 -> dc/dx = 4x^3 + 2x
    assert x.grad == pytest.approx(4 * 1.5**3 + 2 * 1.5, rel=1e-15)
    assert a.grad == pytest.approx(2 * 1.5**2 + 1, rel=1e-15)


def test_two_outputs_sharing_nodes_each_get_their_own_gradients() -> None:
    x = Value(0.7, "x")
    h = x.tanh()
    u = h * h
    v = h.exp()
    (du,) = grad(u, [x])
    (dv,) = grad(v, [x])
    sech2 = 1 - math.tanh(0.7) ** 2
    assert du.data == pytest.approx(2 * math.tanh(0.7) * sech2, rel=1e-14)
    assert dv.data == pytest.approx(math.exp(math.tanh(0.7)) * sech2, rel=1e-14)


def test_a_count_too_low_still_gives_the_right_gradients() -> None:
    # As after a race between threads: b has two consumers but recorded one.
    x = Value(2.0, "x")
    b = x * x
    c = b + b.sin()
    b._n = 1
    c.backward()
    assert x.grad == pytest.approx((1 + math.cos(4.0)) * 4.0, rel=1e-15)
    x.grad = 0.0
    (gx,) = grad(c, [x])
    assert gx.data == pytest.approx((1 + math.cos(4.0)) * 4.0, rel=1e-15)


def _with_extra_consumers(expr: Expression, rnd: random.Random) -> tuple[Value, list[Value], list[Value]]:
    leaves = [Value(x, f"x{i}") for i, x in enumerate(expr.inputs)]
    out = expr(*leaves)
    extras = [node * 1.5 for node in topological_order(out) if node.parents and rnd.random() < 0.5]
    return out, leaves, extras


@given(expressions(max_ops=10), st.randoms(use_true_random=False), st.booleans())
def test_gradients_do_not_depend_on_consumers_elsewhere(expr: Expression, rnd: random.Random, lower: bool) -> None:
    clean_leaves = [Value(x) for x in expr.inputs]
    clean = grad(expr(*clean_leaves), clean_leaves, allow_unused=True)

    out, leaves, extras = _with_extra_consumers(expr, rnd)
    if lower:  # and some counts too low, as a race would leave them
        for node in topological_order(out):
            if node.parents and rnd.random() < 0.3:
                node._n = 1
    out.backward()
    again = grad(out, leaves, allow_unused=True)
    for c, leaf, g in zip(clean, leaves, again):
        assert leaf.grad == pytest.approx(c.data, rel=1e-12, abs=1e-12)
        assert g.data == pytest.approx(c.data, rel=1e-12, abs=1e-12)
    assert extras is not None  # kept alive on purpose: their counts stay recorded
