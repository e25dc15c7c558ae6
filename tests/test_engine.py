"""Tests of the engine: Value, recorded edges, backward, grad, create_graph, IEEE numbers and bad input."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import PER_ROW
from hypothesis import example, given
from hypothesis import strategies as st

from chainrule import autograd
from chainrule.autograd import (
    CONSTANT,
    OP,
    OPS,
    PARAMETER,
    VARIABLE,
    Value,
    apply,
    clamp,
    detect_anomaly,
    dot,
    grad,
    gradcheck,
    logsumexp,
    maximum,
    minimum,
    no_grad,
    scope,
    topological_order,
)
from chainrule.autograd.testing import Const, Expression, Step, expressions

# ----------------------------------------------------------------------------
# The neuron of issue 2
# ----------------------------------------------------------------------------

B = 6.8813735870195432  # makes the pre-activation atanh(1/sqrt(2)), so o = 0.7071 and 1 - o^2 = 0.5


def test_neuron_example() -> None:
    x1, x2 = Value(2.0, "x1"), Value(0.0, "x2")
    w1, w2 = Value(-3.0, "w1"), Value(1.0, "w2")
    b = Value(B, "b")
    n = x1 * w1 + x2 * w2 + b
    o = n.tanh()
    o.label = "o"
    o.backward()
    assert o.data == pytest.approx(math.sqrt(0.5), rel=1e-12)
    assert n.grad == pytest.approx(0.5, rel=1e-12)
    assert x1.grad == pytest.approx(-1.5, rel=1e-12)
    assert w1.grad == pytest.approx(1.0, rel=1e-12)
    assert x2.grad == pytest.approx(0.5, rel=1e-12)
    assert w2.grad == 0.0  # x2 = 0 exactly
    assert b.grad == pytest.approx(0.5, rel=1e-12)
    assert repr(o) == "Value(data=0.7071, grad=1.0, op='tanh', label='o')"


def test_neuron_as_one_dot_node() -> None:
    x = [Value(2.0, "x1"), Value(0.0, "x2")]
    w = [Value(-3.0, "w1"), Value(1.0, "w2")]
    b = Value(B, "b")
    n = dot(w, x, bias=b)
    assert n.op == "dot"
    assert n.parents == (*w, *x, b)
    assert n.local_grads == (2.0, 0.0, -3.0, 1.0, 1.0)
    o = n.tanh()
    o.backward()
    assert o.data == pytest.approx(math.sqrt(0.5), rel=1e-12)
    assert [v.grad for v in (*x, *w, b)] == pytest.approx([-1.5, 0.5, 1.0, 0.0, 0.5], rel=1e-12)


def test_dot_takes_any_iterable_and_keeps_its_own_tuple() -> None:
    # lists and tuples are read in place, other iterables copied: the same node either way, and the
    # node's parents never alias (or follow changes to) the caller's list
    x = [Value(2.0, "x1"), Value(0.5, "x2")]
    w = [Value(-3.0, "w1"), Value(1.0, "w2")]
    b = Value(0.25, "b")
    nodes = [dot(w, x, bias=b), dot(tuple(w), tuple(x), bias=b), dot(iter(w), (v for v in x), bias=b)]
    for n in nodes:
        assert n.data == -5.25
        assert n.parents == (*w, *x, b)
        assert n.local_grads == (2.0, 0.5, -3.0, 1.0, 1.0)
    unbiased = dot(w, iter(x))
    assert unbiased.data == -5.5 and unbiased.parents == (*w, *x)
    w.append(Value(9.0))
    assert nodes[0].parents == (*w[:2], *x, b)
    with pytest.raises(ValueError, match="3 weights but 2 inputs"):
        dot(w, x)
    with pytest.raises(ValueError, match="3 weights but 2 inputs"):
        dot(iter(w), iter(x))


# ----------------------------------------------------------------------------
# Recorded edges
# ----------------------------------------------------------------------------


def test_x_times_x_records_two_edges() -> None:
    x = Value(3.0, "x")
    y = x * x
    assert y.op == "mul"
    assert y.parents == (x, x)
    assert y.local_grads == (3.0, 3.0)
    y.backward()
    assert x.grad == 6.0


def test_a_plus_a_records_two_edges() -> None:
    a = Value(1.5, "a")
    b = a + a
    assert b.parents == (a, a) and b.local_grads == (1.0, 1.0)
    b.backward()
    assert a.grad == 2.0


def test_parents_are_ordered() -> None:
    a, b = Value(2.0, "a"), Value(5.0, "b")
    y = a - b
    z = b - a
    assert y.parents == (a, b) and y.local_grads == (1.0, -1.0)
    assert z.parents == (b, a) and z.local_grads == (1.0, -1.0)
    q = a / b
    assert q.local_grads == (0.2, -2.0 / 25.0)


def test_a_leaf_has_no_edges() -> None:
    x = Value(1.0)
    assert x.op == "" and x.parents == () and x.local_grads == () and x.role == VARIABLE


# ----------------------------------------------------------------------------
# Constant leaves
# ----------------------------------------------------------------------------


def test_number_exponent_is_a_constant_leaf() -> None:
    x = Value(-2.0, "x")
    with detect_anomaly():  # log(-2) would be nan: it must never be evaluated
        y = x**2
    exponent = y.parents[1]
    assert y.parents[0] is x
    assert exponent.role == CONSTANT and exponent.data == 2.0 and exponent.parents == ()
    assert y.local_grads == (-4.0, 0.0)
    y.backward()
    assert x.grad == -4.0
    assert exponent.grad == 0.0


def test_zero_base_with_number_exponent_raises_no_anomaly() -> None:
    with detect_anomaly():
        y = Value(0.0) ** 2  # log(0) = -inf would be an anomaly
    assert y.data == 0.0 and y.local_grads == (0.0, 0.0)


def test_number_base_is_a_constant_leaf() -> None:
    x = Value(3.0)
    y = 2**x
    base = y.parents[0]
    assert base.role == CONSTANT
    assert y.data == 8.0
    assert y.local_grads == (0.0, 8.0 * math.log(2.0))


def test_numbers_on_either_side_are_constants() -> None:
    x = Value(4.0)
    for y in (x + 1, 1 + x, x - 1, 1 - x, x * 2, 2 * x, x / 2, 2 / x, x**2, 2**x):
        constants = [p for p in y.parents if p is not x]
        assert len(constants) == 1 and constants[0].role == CONSTANT
        assert y.local_grads[y.parents.index(constants[0])] == 0.0


def test_constants_receive_no_gradient() -> None:
    x = Value(2.0)
    y = 3.0 * x + 1.0
    y.backward()
    assert x.grad == 3.0
    for node in topological_order(y):
        if node.role == CONSTANT:
            assert node.grad == 0.0


# ----------------------------------------------------------------------------
# Deep chains: every walk is iterative
# ----------------------------------------------------------------------------


def _tanh_chain(n: int, start: float = 0.5) -> tuple[Value, Value, float, float]:
    """A chain of n tanh nodes, with its output and its derivative worked out on floats."""
    x = Value(start, "x")
    v = x
    for _ in range(n):
        v = v.tanh()
    values = [start]
    for _ in range(n):
        values.append(math.tanh(values[-1]))
    derivative = 1.0
    for t in reversed(values[1:]):  # the order backward multiplies in
        derivative = (1.0 - t * t) * derivative
    return x, v, values[-1], derivative


def _check_chain(n: int) -> None:
    x, y, value, derivative = _tanh_chain(n)
    assert y.data == value
    (g,) = grad(y, [x])
    assert g.data == pytest.approx(derivative, rel=1e-12)
    y.backward()
    assert x.grad == pytest.approx(derivative, rel=1e-12)
    assert y.grad == 1.0
    order = topological_order(y)
    assert len(order) == n + 1
    assert order[0] is x and order[-1] is y
    assert order[1].parents == (x,)


def test_chain_of_100k_nodes() -> None:
    _check_chain(100_000)


@pytest.mark.slow
def test_chain_of_a_million_nodes() -> None:
    _check_chain(1_000_000)


def test_deep_chain_with_create_graph() -> None:
    x = Value(0.3, "x")
    v = x
    for _ in range(20_000):
        v = v * 1.0 + 0.0  # dv/dx = 1 at every depth
    (g,) = grad(v, [x], create_graph=True)
    assert g.data == 1.0


# ----------------------------------------------------------------------------
# Shared subgraphs and accumulation
# ----------------------------------------------------------------------------


def test_shared_subgraph() -> None:
    a = Value(1.0, "a")
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0 and b.grad == 2.0 and c.grad == 1.0
    assert grad(c, [a])[0].data == 4.0


def test_diamond_sums_over_paths() -> None:
    x = Value(1.5, "x")
    y = x * x
    z = y * y + y  # x^4 + x^2
    z.backward()
    assert x.grad == pytest.approx(4 * 1.5**3 + 2 * 1.5, rel=1e-15)
    assert y.grad == 2 * y.data + 1.0


# Found by hypothesis: x/x cancels to rounding noise; products of subnormals round differently when scaled.
CANCELLING = Expression([0.5], [Step("neg", (0,)), Step("exp", (1,)), Step("div", (2, 2)), Step("add", (0, 3))])
SUBNORMAL = Expression([2.2e-311, 0.0], [Step("softplus", (1,)), Step("mul", (2, 0)), Step("mul", (3, 3))])
# Bug B1: the backward graph of x**3 at x < 0.
CUBE_OF_NEGATIVE = Expression([-2.0], [Step("pow", (0, Const(3.0)))])


@given(expressions(max_ops=8))
@example(CANCELLING)
@example(CUBE_OF_NEGATIVE)
def test_backward_matches_grad_and_central_differences(expr: Expression) -> None:
    leaves = [Value(x, f"x{i}") for i, x in enumerate(expr.inputs)]
    out = expr(*leaves)
    by_grad = [g.data for g in grad(out, leaves, allow_unused=True)]
    out.backward()
    assert [x.grad for x in leaves] == by_grad
    assert gradcheck(expr, expr.inputs)


@given(expressions(max_ops=8))
def test_two_backward_calls_double_every_grad_exactly(expr: Expression) -> None:
    out = expr()
    out.backward()
    nodes = topological_order(out)
    first = [n.grad for n in nodes]
    out.backward()
    assert [n.grad for n in nodes] == [2.0 * g for g in first]


@given(expressions(max_ops=8))
@example(CANCELLING)
@example(SUBNORMAL)
def test_backward_seed_scales_every_grad(expr: Expression) -> None:
    out = expr()
    out.backward()
    nodes = topological_order(out)
    unit = [n.grad for n in nodes]
    for n in nodes:
        n.grad = 0.0
    out.backward(gradient=2.0)  # a power of two: exact, but for rounding in the subnormal range
    assert [n.grad for n in nodes] == pytest.approx([2.0 * g for g in unit], rel=0.0, abs=1e-300)
    for n in nodes:
        n.grad = 0.0
    out.backward(gradient=2.5)
    # Not exact: rounding differs, and where paths cancel (x/x) the result is rounding noise ~1e-16.
    assert [n.grad for n in nodes] == pytest.approx([2.5 * g for g in unit], rel=1e-13, abs=1e-12)


def test_backward_gradient_argument() -> None:
    x = Value(3.0)
    y = x * x
    y.backward(gradient=2.5)
    assert x.grad == 15.0 and y.grad == 2.5
    y.backward(np.float64(1.0))
    assert x.grad == 21.0
    with pytest.raises(TypeError, match="gradient"):
        y.backward("1")  # type: ignore[arg-type]


def test_backward_none_is_the_unit_seed() -> None:
    """PyTorch treats backward(None) on a scalar as the seed 1.0."""
    x = Value(3.0)
    y = x * x
    y.backward(None)
    assert x.grad == 6.0 and y.grad == 1.0


def test_backward_on_a_leaf() -> None:
    x = Value(3.0)
    x.backward()
    assert x.grad == 1.0


# ----------------------------------------------------------------------------
# grad()
# ----------------------------------------------------------------------------


@given(expressions(max_ops=6))
def test_grad_does_not_touch_dot_grad(expr: Expression) -> None:
    out = expr()
    nodes = topological_order(out)
    grad(out, [n for n in nodes if n.role != CONSTANT])
    grad(out, [nodes[0]], create_graph=True, allow_unused=True)
    assert all(n.grad == 0.0 for n in nodes)


def test_grad_leaves_existing_grads_alone() -> None:
    x = Value(2.0)
    y = x * x
    y.backward()
    assert grad(y, x)[0].data == 4.0  # a single Value is accepted too
    assert x.grad == 4.0 and y.grad == 1.0


def test_grad_of_an_input_itself() -> None:
    x = Value(2.0)
    assert grad(x, [x])[0].data == 1.0


def test_allow_unused_gives_zero() -> None:
    x, y = Value(2.0, "x"), Value(5.0, "y")
    out = x * 3.0
    gx, gy = grad(out, [x, y], allow_unused=True)
    assert gx.data == 3.0 and gy.data == 0.0
    assert isinstance(gy, Value)


def test_unused_input_is_an_error() -> None:
    x, y = Value(2.0, "x"), Value(5.0, "y")
    out = x * 3.0
    with pytest.raises(ValueError, match=r"inputs\[1\] 'y' is not used.*allow_unused"):
        grad(out, [x, y])


def test_constant_input_is_unused() -> None:
    x = Value(2.0)
    out = x * 3.0
    three = out.parents[1]
    with pytest.raises(ValueError, match="not used"):
        grad(out, [three])
    assert grad(out, [three], allow_unused=True)[0].data == 0.0


def test_grad_type_errors() -> None:
    x = Value(1.0)
    with pytest.raises(TypeError, match="output must be a Value"):
        grad(1.0, [x])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a Value"):
        grad(x * 2, [x, 2.0])  # type: ignore[list-item]


# ----------------------------------------------------------------------------
# create_graph: higher derivatives
# ----------------------------------------------------------------------------


def test_second_and_third_derivative_of_cube() -> None:
    x = Value(2.0, "x")
    (d1,) = grad(x**3, [x], create_graph=True)
    assert d1.data == 12.0
    (d2,) = grad(d1, [x], create_graph=True)
    assert d2.data == 12.0  # 6x
    (d3,) = grad(d2, [x], create_graph=True)
    assert d3.data == 6.0
    (d4,) = grad(d3, [x], allow_unused=True)
    assert d4.data == 0.0


def test_create_graph_result_is_differentiable_and_leaves_grad_alone() -> None:
    x = Value(0.7, "x")
    y = x.sin() * x
    (d1,) = grad(y, [x], create_graph=True)
    assert d1.parents  # built out of Values
    assert d1.data == pytest.approx(math.cos(0.7) * 0.7 + math.sin(0.7), rel=1e-15)
    d1.backward()
    assert x.grad == pytest.approx(-math.sin(0.7) * 0.7 + 2 * math.cos(0.7), rel=1e-14)


def test_mixed_partials() -> None:
    x, y = Value(2.0, "x"), Value(3.0, "y")
    f = x * x * y
    dx, dy = grad(f, [x, y], create_graph=True)
    assert (dx.data, dy.data) == (12.0, 4.0)
    assert [g.data for g in grad(dx, [x, y])] == [6.0, 4.0]
    assert [g.data for g in grad(dy, [x, y], allow_unused=True)] == [4.0, 0.0]


def test_create_graph_constant_exponent_negative_base_under_anomaly() -> None:
    """Bug B1: the backward graph of x**3 at x < 0 once held log(-2) = nan."""
    x = Value(-2.0, "x")
    with detect_anomaly():
        (d1,) = grad(x**3, [x], create_graph=True)
        (d2,) = grad(d1, [x])
    assert d1.data == 12.0 and d2.data == -12.0
    for node in topological_order(d1):
        assert all(math.isfinite(g) for g in node.local_grads), node


def test_create_graph_under_anomaly_ignores_discarded_branches() -> None:
    """Bug B9: where() evaluates both branches; anomaly mode once raised on the one thrown away."""
    x = Value(0.0, "x")
    y = Value(2.0, "y")
    with detect_anomaly():
        z = x**0  # d/dx = 0 by convention, finite: no anomaly in the forward
        assert z.local_grads == (0.0, 0.0)
        assert grad(z, [x], create_graph=True)[0].data == 0.0
        w = x**y
        dx, dy = grad(w, [x, y], create_graph=True)
    assert (dx.data, dy.data) == (0.0, 0.0)
    assert grad(dx, [x])[0].data == 2.0


def test_create_graph_with_custom_row() -> None:
    """Bug B3: rows not in OP once failed under create_graph (KeyError)."""
    import dataclasses

    row = dataclasses.replace(OP["sin"], name="my_sin")
    x = Value(0.5, "x")
    y = apply(row, x)
    assert y.op == "my_sin" and y.primitive is row
    (d1,) = grad(y, [x], create_graph=True)
    assert d1.data == math.cos(0.5)
    assert grad(d1, [x])[0].data == pytest.approx(-math.sin(0.5), rel=1e-15)
    # A row that shares a table row's name still uses its own rules (here: twice the derivative).
    doubled = dataclasses.replace(OP["sin"], grads=(lambda M, o, a: 2.0 * M.cos(a),))
    (d1,) = grad(apply(doubled, x), [x], create_graph=True)
    assert d1.data == 2.0 * math.cos(0.5)
    assert grad(d1, [x])[0].data == pytest.approx(-2.0 * math.sin(0.5), rel=1e-15)


def test_primitive_is_the_row() -> None:
    x = Value(0.5)
    assert x.primitive is None
    assert (x * x).primitive is OP["mul"] and x.tanh().primitive is OP["tanh"]
    assert dot([x], [x]).primitive is OP["dot"]


# ----------------------------------------------------------------------------
# IEEE-754 numbers
# ----------------------------------------------------------------------------

IEEE_CASES: list[tuple[str, Callable[[], Value], float]] = [
    ("1/0", lambda: Value(1.0) / 0, math.inf),
    ("-1/0", lambda: Value(-1.0) / 0, -math.inf),
    ("1/-0.0", lambda: Value(1.0) / -0.0, -math.inf),
    ("0/0", lambda: Value(0.0) / 0, math.nan),
    ("1 / Value(0)", lambda: 1 / Value(0.0), math.inf),
    ("log(0)", lambda: Value(0.0).log(), -math.inf),
    ("log(-1)", lambda: Value(-1.0).log(), math.nan),
    ("exp(1000)", lambda: Value(1000.0).exp(), math.inf),
    ("exp(-1000)", lambda: Value(-1000.0).exp(), 0.0),
    ("10.0**400", lambda: Value(10.0) ** 400, math.inf),
    ("(-10.0)**401", lambda: Value(-10.0) ** 401, -math.inf),
    ("10**Value(400)", lambda: 10 ** Value(400.0), math.inf),
    ("0**-1", lambda: Value(0.0) ** -1, math.inf),
    ("sin(inf)", lambda: Value(math.inf).sin(), math.nan),
    ("cos(-inf)", lambda: Value(-math.inf).cos(), math.nan),
    ("(-8)**(1/3)", lambda: Value(-8.0) ** (1 / 3), math.nan),
    ("sqrt(-1)", lambda: Value(-1.0).sqrt(), math.nan),
    ("tanh(inf)", lambda: Value(math.inf).tanh(), 1.0),
    ("sigmoid(-inf)", lambda: Value(-math.inf).sigmoid(), 0.0),
    ("softplus(1e308)", lambda: Value(1e308).softplus(), 1e308),
    ("1e308*10", lambda: Value(1e308) * 10, math.inf),
    ("inf-inf", lambda: Value(math.inf) - math.inf, math.nan),
    ("logsumexp(-inf,-inf)", lambda: logsumexp([-math.inf, Value(-math.inf)]), -math.inf),
    ("logsumexp(inf,1)", lambda: logsumexp([math.inf, Value(1.0)]), math.inf),
]


@pytest.mark.parametrize(("text", "make", "expected"), IEEE_CASES, ids=[c[0] for c in IEEE_CASES])
def test_ieee_results(text: str, make: Callable[[], Value], expected: float) -> None:
    v = make()
    assert type(v.data) is float  # never complex, never a numpy scalar
    if math.isnan(expected):
        assert math.isnan(v.data)
    else:
        assert v.data == expected
    if v.parents:
        assert all(type(g) is float for g in v.local_grads)


def test_ieee_local_grads() -> None:
    x = Value(0.0)
    assert x.log().local_grads == (math.inf,)
    assert x.sqrt().local_grads == (math.inf,)
    y = Value(1.0) / x
    assert y.local_grads == (math.inf, -math.inf)
    assert Value(1000.0).exp().local_grads == (math.inf,)


def _spellings() -> dict[str, Callable[..., Value]]:
    """The public spelling of each op (operator, method or function), called on its inputs."""
    return {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "neg": lambda a: -a,
        "pow": lambda a, b: a**b,
        "exp": lambda a: a.exp(),
        "log": lambda a: a.log(),
        "sqrt": lambda a: a.sqrt(),
        "tanh": lambda a: a.tanh(),
        "sigmoid": lambda a: a.sigmoid(),
        "relu": lambda a: a.relu(),
        "leaky_relu": lambda a, s: a.leaky_relu(s),
        "abs": lambda a: abs(a),
        "sin": lambda a: a.sin(),
        "cos": lambda a: a.cos(),
        "softplus": lambda a: a.softplus(),
        "softplus_beta": lambda x, beta, threshold: autograd.softplus(x, beta, threshold),
        "maximum": maximum,
        "minimum": minimum,
        "clamp": clamp,
        "sum": lambda *xs: autograd.sum(xs),
        "dot": lambda *xs: dot(xs[: len(xs) // 2], xs[len(xs) // 2 : 2 * (len(xs) // 2)], *xs[2 * (len(xs) // 2) :]),
        "logsumexp": lambda *xs: logsumexp(xs),
        **{name: getattr(Value, name) for name in UNARY_METHODS},
        "atan2": lambda a, b: a.atan2(b) if isinstance(a, Value) else autograd.atan2(a, b),
        "hypot": lambda a, b: a.hypot(b) if isinstance(a, Value) else autograd.hypot(a, b),
        "remainder": lambda a, b: a % b,
        "fmod": lambda a, b: a.fmod(b) if isinstance(a, Value) else autograd.fmod(a, b),
        "logaddexp": lambda a, b: a.logaddexp(b) if isinstance(a, Value) else autograd.logaddexp(a, b),
        "copysign": lambda a, b: a.copysign(b) if isinstance(a, Value) else autograd.copysign(a, b),
        **{name: getattr(autograd, name) for name in UNARY_FUNCTIONS},
        "gelu_tanh": lambda x: autograd.gelu(x, approximate="tanh"),
        "elu": autograd.elu,
        "celu": autograd.celu,
        "hardtanh": autograd.hardtanh,
    }


# New rows spelled as PyTorch does: a method where torch.Tensor has one, else a function of autograd.
UNARY_METHODS = ("log2", "log10", "log1p", "expm1", "exp2", "tan", "sinh", "cosh", "asin", "acos", "atan", "asinh",
                 "acosh", "atanh", "reciprocal", "rsqrt", "erf", "erfc", "sign", "floor", "ceil", "round", "trunc")
UNARY_FUNCTIONS = ("gelu", "silu", "mish", "softsign", "logsigmoid", "selu", "relu6", "hardsigmoid", "hardswish")


def test_every_op_has_a_public_spelling() -> None:
    """A tripwire: a new row with a method or function needs a line in _spellings."""
    assert sorted(_spellings()) == sorted(OP)


ANY_FLOAT = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e308, -1e308, math.inf, -math.inf, math.nan]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@PER_ROW
@given(data=st.data())
def test_spellings_never_raise_and_match_apply(op: Any, data: st.DataObject) -> None:
    """Operators and methods take their own fast paths: they must agree with apply() on any float."""
    spell = _spellings()[op.name]
    n = op.arity if op.arity is not None else data.draw(st.integers(2, 5), label="n")
    xs = data.draw(st.tuples(*[ANY_FLOAT] * n), label="inputs")
    leaves = [Value(x) for x in xs]
    spelled = spell(*leaves)  # never ZeroDivisionError, OverflowError or ValueError
    reference = apply(op, *[Value(x) for x in xs])
    assert spelled.op == op.name
    assert _same(spelled.data, reference.data)
    assert all(map(_same, spelled.local_grads, reference.local_grads))
    if n >= 2:
        # A plain number last (a constant argument) and, but for a method, first (a reflected operator).
        assert _same(spell(*leaves[:-1], xs[-1]).data, reference.data)
        if op.name != "leaky_relu":
            assert _same(spell(xs[0], *leaves[1:]).data, reference.data)
    with no_grad():
        assert _same(spell(*leaves).data, reference.data)


# ----------------------------------------------------------------------------
# Bad input and conversions
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("3", r"expected a real number.*got str '3'"),
        (None, r"expected a real number.*got NoneType None"),
        (1j, "complex numbers are not supported"),
        (np.complex128(1 + 2j), "complex numbers are not supported"),
        ([1.0], "got list"),
        (np.array([1.0, 2.0]), r"numpy array of shape \(2,\)"),
    ],
)
def test_value_rejects_non_real_numbers(bad: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Value(bad)


def test_value_of_a_value_is_an_error() -> None:
    with pytest.raises(TypeError, match="detach"):
        Value(Value(1.0))


def test_label_must_be_text() -> None:
    with pytest.raises(TypeError, match="label must be a str"):
        Value(1.0, label=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "expression",
    [
        lambda v: v + "a",
        lambda v: "a" + v,
        lambda v: v * None,
        lambda v: v ** "2",
        lambda v: [1] - v,
        lambda v: v / 1j,
        lambda v: maximum(v, "a"),
        lambda v: autograd.sum([v, "a"]),
        lambda v: v.leaky_relu("0.1"),
    ],
)
def test_operations_reject_bad_operands(expression: Callable[[Value], Any]) -> None:
    with pytest.raises(TypeError, match=r"unsupported operand|complex"):
        expression(Value(1.0))


def test_n_ary_functions_check_their_arguments() -> None:
    x = Value(1.0)
    with pytest.raises(ValueError, match="2 weights but 1 inputs"):
        dot([x, x], [x])
    with pytest.raises(ValueError, match="logsumexp"):
        logsumexp([])
    with pytest.raises(ValueError, match="lo or hi"):
        clamp(x)
    with pytest.raises(TypeError, match="takes 2 inputs"):
        apply(OP["mul"], x)


def test_empty_sum_and_dot() -> None:
    assert autograd.sum([]).data == 0.0
    assert dot([], []).data == 0.0
    b = Value(1.5)
    y = dot([], [], bias=b)
    assert y.data == 1.5
    y.backward()
    assert b.grad == 1.0


@pytest.mark.parametrize("scalar", [np.float64(2.0), np.float32(2.0), np.int64(2), np.int8(2)])
def test_numpy_scalars_on_the_left(scalar: Any) -> None:
    v = Value(3.0, "v")
    for result, expected, local in [
        (scalar * v, 6.0, 2.0),
        (scalar + v, 5.0, 1.0),
        (scalar - v, -1.0, -1.0),
        (scalar / v, 2.0 / 3.0, -2.0 / 9.0),
        (scalar**v, 8.0, 8.0 * math.log(2.0)),
    ]:
        assert type(result) is Value
        assert result.data == pytest.approx(expected, rel=1e-15)
        assert result.parents[0].role == CONSTANT and result.parents[1] is v
        assert result.local_grads[1] == pytest.approx(local, rel=1e-15)
    assert type(v * scalar) is Value


def test_numpy_scalars_and_bools_are_accepted() -> None:
    assert Value(np.float64(1.5)).data == 1.5
    assert Value(np.float32(0.5)).data == 0.5
    assert Value(np.int64(3)).data == 3.0
    assert Value(True).data == 1.0
    assert type(Value(np.float64(1.5)).data) is float


def test_huge_ints_become_infinities() -> None:
    assert Value(10**400).data == math.inf
    assert Value(-(10**400)).data == -math.inf
    v = Value(2.0)
    assert (v * 10**400).data == math.inf
    assert (10**400 - v).data == math.inf
    assert Value(2**53 + 1).data == float(2**53)


def test_repr() -> None:
    assert repr(Value(2.0)) == "Value(data=2.0, grad=0.0)"
    assert repr(Value(-3, "x")) == "Value(data=-3.0, grad=0.0, label='x')"
    x = Value(0.5, "x")
    y = x.exp()
    y.backward()
    assert repr(y) == "Value(data=1.649, grad=1.0, op='exp')"
    assert repr(Value(1e20)) == "Value(data=1e+20, grad=0.0)"
    assert repr(Value(math.nan)) == "Value(data=nan, grad=0.0)"
    assert repr(Value(-math.inf)) == "Value(data=-inf, grad=0.0)"


def test_equality_and_hash_are_identity() -> None:
    a, b = Value(1.0), Value(1.0)
    assert a == a and a != b
    assert (a == b) is False  # a bool, not a node
    assert len({a, b}) == 2
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b"
    assert hash(a) == hash(a)


def test_comparisons_read_data_and_give_bools() -> None:
    v, w = Value(2.0, "v"), Value(3.0, "w")
    results = [v < w, v <= w, v > w, v >= w, v < 3, v <= 2, v > 1.5, v >= 2.5, 1 < v, 3.0 <= v, 2 > v, 2 >= v]
    assert results == [True, True, False, False, True, True, True, False, True, False, False, True]
    assert all(type(r) is bool for r in results)
    assert (v < np.float64(2.5)) is True and (v >= np.int64(3)) is False
    assert (v < True) is False and (v > np.int8(1)) is True
    assert bool(np.float64(2.5) > v) and (v < 10**400) is True and (v > -(10**400)) is True
    y = v * w
    assert y > v and y.parents == (v, w) and v.grad == 0.0  # no node, no edge, no gradient


def test_max_min_and_sorted_work_on_values() -> None:
    v = Value(0.5, "v")
    assert max(v, 1) == 1 and max(v, 0) is v
    assert min(v, 1) is v
    values = [Value(3.0), Value(-1.0), Value(2.0)]
    assert [x.data for x in sorted(values)] == [-1.0, 2.0, 3.0]


def test_comparisons_with_nan_are_false() -> None:
    n = Value(math.nan)
    assert not (n < 1 or n <= 1 or n > 1 or n >= 1 or n < n)


@pytest.mark.parametrize("other", ["1", None, [1.0], np.array([1.0, 2.0]), 1j])
def test_comparisons_reject_non_numbers(other: object) -> None:
    with pytest.raises(TypeError, match="not supported between"):
        Value(1.0) < other  # type: ignore[operator]  # noqa: B015
    with pytest.raises(TypeError, match="not supported between"):
        other >= Value(1.0)  # type: ignore[operator]  # noqa: B015


@pytest.mark.parametrize(("x", "truth"), [(0.0, False), (-0.0, False), (1.0, True), (-2.5, True),
                                          (5e-324, True), (math.inf, True), (math.nan, True)])
def test_bool_is_data_nonzero(x: float, truth: bool) -> None:
    """As bool() of a 0-dim tensor (and of a float): nan is True."""
    assert bool(Value(x)) is truth
    assert (Value(x) if Value(x) else "no") != "no" if truth else not Value(x)


def test_assigning_data_converts_numbers() -> None:
    v = Value(1.0)
    for x, expected in [(3, 3.0), (np.float32(0.5), 0.5), (np.int64(-2), -2.0), (True, 1.0), (10**400, math.inf)]:
        v.data = x  # type: ignore[assignment]
        assert v.data == expected and type(v.data) is float
    v.data -= 0.25
    assert v.data == math.inf  # inf - 0.25
    v.data = 2.0
    v.data *= 1.5
    assert (v + v).data == 6.0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("3", r"Value.data: expected a real number.*got str '3'"),
        (None, r"Value.data: expected a real number.*got NoneType None"),
        (1j, "Value.data: complex numbers are not supported"),
        (np.complex128(1 + 2j), "complex numbers are not supported"),
        ([1.0], "got list"),
        (np.array([1.0, 2.0]), r"numpy array of shape \(2,\)"),
        (Value(2.0), r"got a Value; assign its .data"),
    ],
)
def test_assigning_data_rejects_what_the_constructor_rejects(bad: object, message: str) -> None:
    v = Value(1.0, "v")
    with pytest.raises(TypeError, match=message):
        v.data = bad  # type: ignore[assignment]
    assert v.data == 1.0  # unchanged
    assert (v + v).data == 2.0


def test_detach() -> None:
    x = Value(3.0, "x")
    y = x * x
    d = y.detach()
    assert d is not y
    assert d.data == 9.0 and d.label == y.label and d.parents == () and d.grad == 0.0 and d.op == ""
    z = x.detach() * x  # gradient flows only through the second factor
    z.backward()
    assert x.grad == 3.0


def test_item_and_float() -> None:
    v = Value(2.5)
    assert v.item() == 2.5 and type(v.item()) is float
    assert float(v) == 2.5
    assert math.isclose(math.sqrt(Value(4.0)), 2.0)  # float() lets math take Values


def test_roles() -> None:
    w = Value(1.0, "w")
    w.role = PARAMETER
    y = w * 2.0
    assert y.role == VARIABLE and w.role == PARAMETER
    y.backward()
    assert w.grad == 2.0


def test_a_role_set_from_any_equal_string_takes_effect() -> None:
    c = Value(3.0, "c")
    c.role = "".join(["con", "stant"])  # equal to CONSTANT, not the same object
    x = Value(2.0, "x")
    y = c * x
    assert c.role == CONSTANT and y.local_grads == (0.0, 3.0)
    y.backward()
    assert c.grad == 0.0 and x.grad == 3.0
    c.role = VARIABLE  # back to a variable: it gets a gradient again
    (c * x).backward()
    assert c.grad == 2.0


def test_bad_roles_are_refused() -> None:
    v = Value(1.0)
    for bad in ("weight", "", None, 1):
        with pytest.raises(ValueError, match="role must be one of"):
            v.role = bad  # type: ignore[assignment]
    y = v * v
    with pytest.raises(ValueError, match="made by op 'mul'"):
        y.role = PARAMETER
    y.role = VARIABLE  # what it is already: allowed
    assert y.role == VARIABLE and y.op == "mul" and v.role == VARIABLE


def test_label_scope_and_role_are_independent() -> None:
    with scope("layer"):
        v = Value(1.0)
        y = v * v
    v.label = "v"
    v.role = PARAMETER
    y.label = "y"
    assert (v.label, v.scope, v.role, v.op) == ("v", "layer", PARAMETER, "")
    assert (y.label, y.scope, y.role, y.op) == ("y", "layer", VARIABLE, "mul")
    y.scope = None
    assert (y.label, y.scope, y.op) == ("y", None, "mul") and y.primitive is OP["mul"]
    assert Value(2.0).label == "" and Value(2.0, "two").label == "two"


def test_a_node_is_one_small_object() -> None:
    # Eight fields (data, grad, meta, two parents, two local derivatives, a consumer count) fit
    # CPython's 96-byte allocation class; one more field would take the next class, 112 bytes.
    assert len(Value.__slots__) == 8
    assert sys.getsizeof(Value(1.0)) <= 96
    assert not hasattr(Value(1.0), "__dict__")


# ----------------------------------------------------------------------------
# topological_order
# ----------------------------------------------------------------------------


def _reachable(root: Value) -> dict[int, Value]:
    seen: dict[int, Value] = {}
    stack = [root]
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen[id(v)] = v
            stack.extend(v.parents)
    return seen


@given(expressions(max_ops=10))
def test_topological_order(expr: Expression) -> None:
    out = expr()
    order = topological_order(out)
    assert order[-1] is out
    position = {id(v): i for i, v in enumerate(order)}
    assert len(position) == len(order)  # each node once
    assert position.keys() == _reachable(out).keys()  # every node, constants included
    for v in order:
        assert all(position[id(p)] < position[id(v)] for p in v.parents)
    assert [id(v) for v in topological_order(out)] == [id(v) for v in order]  # deterministic


@given(expressions(max_ops=8), st.data())
def test_topological_order_of_several_roots(expr: Expression, data: st.DataObject) -> None:
    leaves = [Value(x, f"x{i}") for i, x in enumerate(expr.inputs)]
    out = expr(*leaves)
    other = autograd.sum(leaves) * 2.0  # a second graph sharing the leaves
    inner = data.draw(st.sampled_from(topological_order(out)), label="inner root")
    roots = data.draw(st.permutations([out, other, inner]), label="roots")
    order = topological_order(roots)
    position = {id(v): i for i, v in enumerate(order)}
    assert len(position) == len(order)
    expected = {**_reachable(out), **_reachable(other)}
    assert position.keys() == expected.keys()
    for v in order:
        assert all(position[id(p)] < position[id(v)] for p in v.parents)
    assert topological_order(tuple(roots)) == order  # a list or a tuple, the same walk
    assert topological_order([out, out]) == topological_order(out)  # each node once


def test_topological_order_includes_constants_and_rejects_non_values() -> None:
    x = Value(1.0, "x")
    y = x * 2.0
    order = topological_order(y)
    assert order[0] is x and order[-1] is y
    assert len(order) == 3 and order[1].role == CONSTANT


def test_topological_order_rejects_non_values_clearly() -> None:
    """Bug B8: once "'float' object is not iterable"."""
    with pytest.raises(TypeError, match="expects"):
        topological_order(1.0)  # type: ignore[arg-type]


def test_topological_order_depends_only_on_parent_order() -> None:
    def build() -> Value:
        a, b = Value(1.0, "a"), Value(2.0, "b")
        c = a * b
        return (c + a) * (c - b)

    first = [v.label or v.op for v in topological_order(build())]
    second = [v.label or v.op for v in topological_order(build())]
    assert first == second
