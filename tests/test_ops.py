"""Table-driven tests of every row of the op table: a new row is tested by adding the row.

For each op: local derivatives recorded on the node against central
differences (first and second order) inside its domain, the pinned kink
conventions in all three maths namespaces, the forward and local derivatives
at IEEE-754 special values against numpy float64, and the numpy namespace on
arrays against the float one, element by element.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from conftest import PER_ROW
from hypothesis import given
from hypothesis import strategies as st

from chainrule import autograd
from chainrule.autograd import CONSTANT, OP, OPS, Op, Value, apply, grad, gradcheck, gradgradcheck
from chainrule.autograd.ops import FLOAT_MATH, NAN_RULE, NUMPY_MATH
from chainrule.autograd.testing import arguments_for

OP_IDS = [op.name for op in OPS]
KINKS = [
    pytest.param(op, inputs, expected, id=f"{op.name}{inputs}")
    for op in OPS
    for inputs, expected in op.kinks
]

# Special values every op must handle without raising, as numpy float64 does.
SPECIALS = (0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 710.0, -745.5, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan)

# IEEE-754 leaves the sign of max(0.0, -0.0) unspecified: Python's comparison keeps the first
# argument, np.maximum the second. Only the sign of a zero result may differ for these rows.
ZERO_SIGN_FREE = {"maximum", "minimum", "clamp", "hardtanh", "relu6"}
# Rows whose forward chains several libm calls (tanh of softplus): numpy's and libm's last bits compound.
COMPOSED = {"mish"}

# numpy's vectorised exp/log/tanh may differ from libm in the last bit (measured: <= 2e-14 relative
# for 1 - tanh^2 near |tanh| = 1); n-ary rows also differ by summation order (math.fsum vs a loop).
RTOL = 1e-13
ATOL = 1e-15


def _leaves(xs: Sequence[float]) -> list[Value]:
    return [Value(x, f"x{i}") for i, x in enumerate(xs)]


def _rule_grads(op: Op, M: Any, out: Any, xs: Sequence[Any]) -> list[Any]:
    """The row's local derivatives in namespace M, computed for every input."""
    if op.arity is None:
        return list(op.grads(M, out, *xs))  # type: ignore[operator]
    return [rule(M, out, *xs) for rule in op.grads]  # type: ignore[union-attr]


def _numpy_reference(op: Op, xs: Sequence[float]) -> tuple[float, list[float]]:
    with np.errstate(all="ignore"):
        ys = [np.float64(x) for x in xs]
        out = op.forward(NUMPY_MATH, *ys)
        return float(out), [float(g) for g in _rule_grads(op, NUMPY_MATH, out, ys)]


def _same(a: float, b: float, *, signed_zero: bool = True) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a != b:
        return False
    return not signed_zero or math.copysign(1.0, a) == math.copysign(1.0, b)


def _all_same(got: Sequence[float], expected: Sequence[float]) -> bool:
    """Equal element by element, nan equal to nan (a convention may pin a nan)."""
    return len(got) == len(expected) and all(_same(a, b, signed_zero=False) for a, b in zip(got, expected))


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return _same(a, b, signed_zero=False)
    return abs(a - b) <= ATOL + RTOL * abs(b)


# ----------------------------------------------------------------------------
# The table itself
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_row_is_well_formed(op: Op) -> None:
    assert OP[op.name] is op
    assert op.symbol and isinstance(op.symbol, str)
    if op.arity is None:
        assert callable(op.grads)
        assert len(op.domain) == 1
    else:
        assert isinstance(op.grads, tuple) and len(op.grads) == op.arity
        assert len(op.domain) == op.arity
    for intervals in op.domain:
        assert intervals and all(lo < hi for lo, hi in intervals)
    for inputs, expected in op.kinks:
        assert op.arity is None or len(inputs) == op.arity
        assert len(expected) == len(inputs)
    if op.kinks:
        assert op.convention, f"{op.name} pins kinks but does not say its convention"


def test_names_are_unique() -> None:
    assert len(OP) == len(OPS)


# ----------------------------------------------------------------------------
# Derivatives inside the domain
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@PER_ROW
@given(data=st.data())
def test_local_grads_match_central_differences(op: Op, data: st.DataObject) -> None:
    xs = data.draw(arguments_for(op), label="inputs")
    leaves = _leaves(xs)
    node = apply(op, *leaves)
    assert node.op == op.name
    assert node.parents == tuple(leaves)
    assert len(node.local_grads) == len(xs)
    assert all(type(g) is float for g in node.local_grads)
    assert node.data == pytest.approx(float(op.forward(NUMPY_MATH, *map(np.float64, xs))), rel=RTOL, abs=ATOL)
    # The recorded numbers are the row's float rules, exactly.
    out = op.forward(FLOAT_MATH, *xs)
    assert node.data == out
    assert node.local_grads == tuple(_rule_grads(op, FLOAT_MATH, out, xs))
    # One node: backward through it is exactly its recorded local derivatives.
    assert tuple(g.data for g in grad(node, leaves)) == node.local_grads
    # grad(create_graph=True) runs the same rules on Values: the same first derivatives.
    built = grad(node, leaves, create_graph=True)
    for g, local in zip(built, node.local_grads):
        assert g.data == pytest.approx(local, rel=1e-14, abs=1e-300)
    assert gradcheck(lambda *v: apply(op, *v), xs)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@PER_ROW
@given(data=st.data())
def test_second_derivatives_match_central_differences(op: Op, data: st.DataObject) -> None:
    xs = data.draw(arguments_for(op, max_size=4), label="inputs")
    assert gradgradcheck(lambda *v: apply(op, *v), xs)


@pytest.mark.parametrize("a", [1.0, 2.5, 0.3])
def test_pow_mixed_second_derivative_at_zero_exponent(a: float) -> None:
    """Bug B4: the b == 0 convention once made d/db(d/da a**b) a constant 0."""
    x, y = Value(a, "a"), Value(0.0, "b")
    dx, dy = grad(x**y, [x, y], create_graph=True)
    # d/da a^b = b a^(b-1), whose d/db at b = 0 is 1/a; d/db a^b = a^b log a, whose d/da at b = 0 is 1/a.
    assert grad(dy, [x])[0].data == pytest.approx(1.0 / a, rel=1e-14)
    assert grad(dx, [y], allow_unused=True)[0].data == pytest.approx(1.0 / a, rel=1e-14)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@PER_ROW
@given(data=st.data())
def test_constant_inputs_get_no_derivative(op: Op, data: st.DataObject) -> None:
    xs = data.draw(arguments_for(op), label="inputs")
    position = data.draw(st.integers(0, len(xs) - 1), label="constant position")
    all_values = apply(op, *_leaves(xs))
    only_constants = apply(op, *xs)
    assert only_constants.role == CONSTANT and only_constants.parents == () and only_constants.op == ""
    assert only_constants.data == all_values.data
    operands: list[Any] = _leaves(xs)
    operands[position] = xs[position]  # a plain number: a constant leaf
    node = apply(op, *operands)
    assert node.data == all_values.data
    if len(xs) == 1:
        # An op of constants only is a constant itself: nothing to record.
        assert node.role == CONSTANT and node.parents == () and node.local_grads == ()
        return
    assert node.parents[position].role == CONSTANT
    expected = list(all_values.local_grads)
    expected[position] = 0.0
    assert list(node.local_grads) == expected
    node.backward()
    assert node.parents[position].grad == 0.0
    assert [p.grad for i, p in enumerate(node.parents) if i != position] == [
        g for i, g in enumerate(all_values.local_grads) if i != position
    ]


# ----------------------------------------------------------------------------
# Kinks: each convention is pinned in the row and holds in every namespace
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "inputs", "expected"), KINKS)
def test_kink_convention_on_floats(op: Op, inputs: tuple[float, ...], expected: tuple[float, ...]) -> None:
    node = apply(op, *_leaves(inputs))
    assert _all_same(node.local_grads, expected), node.local_grads


@pytest.mark.parametrize(("op", "inputs", "expected"), KINKS)
def test_kink_convention_on_values(op: Op, inputs: tuple[float, ...], expected: tuple[float, ...]) -> None:
    leaves = _leaves(inputs)
    built = grad(apply(op, *leaves), leaves, create_graph=True)
    assert _all_same([g.data for g in built], expected), built


@pytest.mark.parametrize(("op", "inputs", "expected"), KINKS)
def test_kink_convention_on_arrays(op: Op, inputs: tuple[float, ...], expected: tuple[float, ...]) -> None:
    # The kink in the middle of a small batch, the compiled mode's view.
    columns = [np.array([x, x, x], dtype=np.float64) for x in inputs]
    with np.errstate(all="ignore"):  # where() evaluates both branches, e.g. 0 * inf at pow(0, 0)
        out = op.forward(NUMPY_MATH, *columns)
        grads = [np.broadcast_to(g, (3,)) for g in _rule_grads(op, NUMPY_MATH, out, columns)]
    assert _all_same([float(g[1]) for g in grads], expected), grads


# Hand-worked values at points that once went wrong or are easy to get wrong.
PINNED = [
    pytest.param("pow", (2.0, 3.0), 8.0, (12.0, 8.0 * math.log(2.0)), id="pow(2,3)"),
    pytest.param("pow", (0.0, 2.0), 0.0, (0.0, 0.0), id="pow(0,2): d/db is 0 at a zero base"),
    pytest.param("pow", (0.0, 0.5), 0.0, (math.inf, 0.0), id="sqrt-like pow at 0"),
    pytest.param("pow", (-8.0, 1.0 / 3.0), math.nan, (math.nan, math.nan), id="pow(-8,1/3) is nan, not complex"),
    pytest.param("pow", (0.0, 0.0), 1.0, (0.0, 0.0), id="pow(0,0): both 0 (torch; was nan, bug B2)"),
    pytest.param("pow", (3.0, 0.0), 1.0, (0.0, math.log(3.0)), id="pow(3,0)"),
    pytest.param("div", (1.0, -0.2), -5.0, (-5.0, -25.0), id="div(1,-0.2)"),
    pytest.param("div", (1.0, 0.0), math.inf, (math.inf, -math.inf), id="div(1,0)"),
    pytest.param("div", (0.0, 0.0), math.nan, (math.inf, math.nan), id="div(0,0)"),
    pytest.param("div", (1e300, 1e200), 1e100, (1e-200, -1e-100), id="div by 1e200: no overflow of b*b (bug B7)"),
    pytest.param("div", (math.inf, 1e308), math.inf, (1e-308, -math.inf), id="inf/1e308 (bug B7)"),
    pytest.param("log", (0.0,), -math.inf, (math.inf,), id="log(0)"),
    pytest.param("sqrt", (0.0,), 0.0, (math.inf,), id="sqrt(0)"),
    pytest.param("sigmoid", (-1000.0,), 0.0, (0.0,), id="sigmoid(-1000) without overflow"),
    pytest.param("sigmoid", (1000.0,), 1.0, (0.0,), id="sigmoid(1000)"),
    pytest.param("softplus", (1000.0,), 1000.0, (1.0,), id="softplus(1000) without overflow"),
    pytest.param("softplus", (-1000.0,), 0.0, (0.0,), id="softplus(-1000)"),
    pytest.param("softplus", (0.0,), math.log(2.0), (0.5,), id="softplus(0)"),
    pytest.param("tanh", (0.0,), 0.0, (1.0,), id="tanh(0)"),
    pytest.param("exp", (1000.0,), math.inf, (math.inf,), id="exp(1000)"),
    pytest.param("logsumexp", (1000.0, 1000.0), 1000.0 + math.log(2.0), (0.5, 0.5), id="logsumexp(1000,1000)"),
    pytest.param("logsumexp", (-1000.0, -1000.0), -1000.0 + math.log(2.0), (0.5, 0.5), id="logsumexp(-1000,-1000)"),
    pytest.param("logsumexp", (3.0,), 3.0, (1.0,), id="logsumexp of one"),
    pytest.param("dot", (2.0, 3.0, 5.0, 7.0, 1.0), 2 * 5 + 3 * 7 + 1.0, (5.0, 7.0, 2.0, 3.0, 1.0), id="dot+bias"),
    pytest.param("dot", (2.0, 5.0), 10.0, (5.0, 2.0), id="dot of one pair"),
    pytest.param("sum", (1.0, 2.0, 3.0), 6.0, (1.0, 1.0, 1.0), id="sum"),
    pytest.param("clamp", (0.0, 2.0, 1.0), 1.0, (0.0, 0.0, 1.0), id="clamp lo>hi: hi wins"),
    pytest.param("clamp", (-5.0, 1.0, 2.0), 1.0, (0.0, 1.0, 0.0), id="clamp below lo"),
    pytest.param("clamp", (0.0, 1.0, 1.0), 1.0, (0.0, 0.0, 0.0), id="clamp below lo == hi: none (torch; B6)"),
    pytest.param("clamp", (5.0, 1.0, 2.0), 2.0, (0.0, 0.0, 1.0), id="clamp above hi"),
    pytest.param("leaky_relu", (-2.0, 0.1), -0.2, (0.1, -2.0), id="leaky_relu(-2, 0.1)"),
    pytest.param("leaky_relu", (2.0, 0.1), 2.0, (1.0, 0.0), id="leaky_relu(2, 0.1)"),
    pytest.param("maximum", (1.0, 2.0), 2.0, (0.0, 1.0), id="maximum(1,2)"),
    pytest.param("minimum", (1.0, 2.0), 1.0, (1.0, 0.0), id="minimum(1,2)"),
    pytest.param("abs", (-3.0,), 3.0, (-1.0,), id="abs(-3)"),
    pytest.param("relu", (math.nan,), math.nan, (math.nan,), id="relu(nan) stays nan, and so its derivative"),
    pytest.param("log2", (8.0,), 3.0, (1.0 / (8.0 * math.log(2.0)),), id="log2(8)"),
    pytest.param("log10", (100.0,), 2.0, (1.0 / (100.0 * math.log(10.0)),), id="log10(100)"),
    pytest.param("log1p", (1e-20,), 1e-20, (1.0,), id="log1p(1e-20): exact where log(1 + x) gives 0"),
    pytest.param("expm1", (1e-20,), 1e-20, (1.0,), id="expm1(1e-20)"),
    pytest.param("exp2", (3.0,), 8.0, (8.0 * math.log(2.0),), id="exp2(3)"),
    pytest.param("tan", (math.pi / 4,), 0.9999999999999999, (2.0,), id="tan(pi/4)"),
    pytest.param("sinh", (0.0,), 0.0, (1.0,), id="sinh(0)"),
    pytest.param("cosh", (0.0,), 1.0, (0.0,), id="cosh(0)"),
    pytest.param("sinh", (710.0,), 1.1169973830808557e308, (1.1169973830808557e308,), id="sinh(710) is finite"),
    pytest.param("asin", (0.5,), math.pi / 6, (1.0 / math.sqrt(0.75),), id="asin(1/2)"),
    pytest.param("acos", (0.5,), math.pi / 3, (-1.0 / math.sqrt(0.75),), id="acos(1/2)"),
    pytest.param("asin", (1.0,), math.pi / 2, (math.inf,), id="asin'(1) = inf"),
    pytest.param("atan", (1.0,), math.pi / 4, (0.5,), id="atan(1)"),
    pytest.param("asinh", (0.0,), 0.0, (1.0,), id="asinh(0)"),
    pytest.param("acosh", (2.0,), math.log(2.0 + math.sqrt(3.0)), (1.0 / math.sqrt(3.0),), id="acosh(2)"),
    pytest.param("atanh", (0.5,), 0.5 * math.log(3.0), (1.0 / 0.75,), id="atanh(1/2)"),
    pytest.param("atanh", (1.0,), math.inf, (math.inf,), id="atanh(1)"),
    pytest.param("atan2", (1.0, 1.0), math.pi / 4, (0.5, -0.5), id="atan2(1, 1)"),
    pytest.param("atan2", (0.0, -1.0), math.pi, (-1.0, 0.0), id="atan2(0, -1)"),
    pytest.param("hypot", (3.0, 4.0), 5.0, (0.6, 0.8), id="hypot(3, 4)"),
    pytest.param("hypot", (3e300, 4e300), 5e300, (0.6, 0.8), id="hypot(3e300, 4e300) without overflow"),
    pytest.param("remainder", (5.5, -2.0), -0.5, (1.0, 3.0), id="5.5 % -2"),
    pytest.param("remainder", (-5.5, 2.0), 0.5, (1.0, 3.0), id="-5.5 % 2"),
    pytest.param("remainder", (1.0, 0.0), math.nan, (1.0, -math.inf), id="1 % 0"),
    pytest.param("fmod", (-5.5, 2.0), -1.5, (1.0, 2.0), id="fmod(-5.5, 2)"),
    pytest.param("reciprocal", (4.0,), 0.25, (-0.0625,), id="1/4"),
    pytest.param("reciprocal", (-0.0,), -math.inf, (-math.inf,), id="1/-0"),
    pytest.param("rsqrt", (4.0,), 0.5, (-0.0625,), id="rsqrt(4)"),
    pytest.param("erf", (0.0,), 0.0, (2.0 / math.sqrt(math.pi),), id="erf(0)"),
    pytest.param("erfc", (0.0,), 1.0, (-2.0 / math.sqrt(math.pi),), id="erfc(0)"),
    pytest.param("erfc", (27.0,), 5.2370464393526e-319, (-0.0,), id="erfc(27): subnormal, not 0"),
    pytest.param("gelu", (0.0,), 0.0, (0.5,), id="gelu(0)"),
    pytest.param("gelu", (1.0,), 0.8413447460685429, (1.0833154705876864,), id="gelu(1)"),
    pytest.param("gelu", (-10.0,), -7.619853024160526e-23, (-7.619853024160526e-22,), id="gelu(-10) is not 0"),
    pytest.param("gelu_tanh", (0.0,), 0.0, (0.5,), id="gelu_tanh(0)"),
    pytest.param("silu", (0.0,), 0.0, (0.5,), id="silu(0)"),
    pytest.param("silu", (-math.inf,), 0.0, (0.0,), id="silu(-inf): the limit"),
    pytest.param("mish", (0.0,), 0.0, (0.6,), id="mish(0): tanh(log 2) = 0.6"),
    pytest.param("softsign", (1.0,), 0.5, (0.25,), id="softsign(1)"),
    pytest.param("softsign", (-math.inf,), -1.0, (0.0,), id="softsign(-inf)"),
    pytest.param("logsigmoid", (0.0,), -math.log(2.0), (0.5,), id="logsigmoid(0)"),
    pytest.param("logsigmoid", (-1000.0,), -1000.0, (1.0,), id="logsigmoid(-1000) without overflow"),
    pytest.param("elu", (-1.0, 1.0), math.exp(-1.0) - 1.0, (math.exp(-1.0), math.exp(-1.0) - 1.0), id="elu(-1)"),
    pytest.param("elu", (0.0, math.inf), 0.0, (math.inf, 0.0), id="elu(0, alpha=inf) = 0, as PyTorch"),
    pytest.param("celu", (0.0, math.nan), 0.0, (1.0, math.nan), id="celu(0, alpha=nan) = 0, as PyTorch"),
    pytest.param("celu", (-1.0, math.inf), math.nan, (1.0, 0.0), id="celu'(x, alpha=inf) = 1, the limit"),
    pytest.param("celu", (-1.0, 2.0), 2.0 * (math.exp(-0.5) - 1.0),
                 (math.exp(-0.5), math.exp(-0.5) - 1.0 + 0.5 * math.exp(-0.5)), id="celu(-1, alpha=2)"),
    pytest.param("selu", (1.0,), 1.0507009873554805, (1.0507009873554805,), id="selu(1)"),
    pytest.param("hardtanh", (0.5, -1.0, 1.0), 0.5, (1.0, 0.0, 0.0), id="hardtanh(0.5)"),
    pytest.param("hardtanh", (3.0, -1.0, 1.0), 1.0, (0.0, 0.0, 1.0), id="hardtanh(3)"),
    pytest.param("relu6", (7.0,), 6.0, (0.0,), id="relu6(7)"),
    pytest.param("relu6", (3.0,), 3.0, (1.0,), id="relu6(3)"),
    pytest.param("hardsigmoid", (0.0,), 0.5, (1.0 / 6.0,), id="hardsigmoid(0)"),
    pytest.param("hardswish", (1.0,), 2.0 / 3.0, (5.0 / 6.0,), id="hardswish(1)"),
    pytest.param("logaddexp", (0.0, 0.0), math.log(2.0), (0.5, 0.5), id="logaddexp(0, 0)"),
    pytest.param("logaddexp", (1000.0, 0.0), 1000.0, (1.0, 0.0), id="logaddexp(1000, 0) without overflow"),
    pytest.param("logaddexp", (-math.inf, -math.inf), -math.inf, (math.nan, math.nan), id="logaddexp(-inf, -inf)"),
    pytest.param("copysign", (2.0, -0.0), -2.0, (-1.0, 0.0), id="copysign(2, -0.0)"),
    pytest.param("copysign", (-2.0, 3.0), 2.0, (-1.0, 0.0), id="copysign(-2, 3)"),
    pytest.param("sign", (-3.0,), -1.0, (0.0,), id="sign(-3)"),
    pytest.param("sign", (math.nan,), math.nan, (0.0,), id="sign(nan) = nan"),
    pytest.param("floor", (-2.5,), -3.0, (0.0,), id="floor(-2.5)"),
    pytest.param("ceil", (-2.5,), -2.0, (0.0,), id="ceil(-2.5)"),
    pytest.param("round", (2.5,), 2.0, (0.0,), id="round(2.5): half to even"),
    pytest.param("round", (3.5,), 4.0, (0.0,), id="round(3.5): half to even"),
    pytest.param("trunc", (-2.7,), -2.0, (0.0,), id="trunc(-2.7)"),
    pytest.param("floor", (1e300,), 1e300, (0.0,), id="floor(1e300)"),
    pytest.param("softplus_beta", (1.0, 2.0, 20.0), math.log1p(math.exp(2.0)) / 2.0,
                 (1.0 / (1.0 + math.exp(-2.0)), (1.0 / (1.0 + math.exp(-2.0)) - math.log1p(math.exp(2.0)) / 2.0) / 2.0,
                  0.0), id="softplus(1, beta=2)"),
    pytest.param("softplus_beta", (25.0, 1.0, 20.0), 25.0, (1.0, 0.0, 0.0), id="softplus(25, threshold=20) = 25"),
]


INTEGER_CASES = (-0.0, 0.0, -0.3, 0.3, -0.5, 0.5, -1.5, 1.5, 2.5, -2.5, -0.7, 2.0**52 - 0.5, -(2.0**52) + 0.5,
                 2.0**53 + 2.0, 1e300, -math.inf, math.nan, 5e-324, -5e-324)


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc"])
@pytest.mark.parametrize("x", INTEGER_CASES)
def test_integer_valued_ops_match_ieee(name: str, x: float) -> None:
    """numpy's floor, ceil, rint (half to even) and trunc, including the sign of a zero: ceil(-0.5) = -0.0."""
    reference = {"floor": np.floor, "ceil": np.ceil, "round": np.rint, "trunc": np.trunc}[name]
    node = getattr(Value(x), name)()
    assert _same(node.data, float(reference(np.float64(x)))), (node.data, reference(np.float64(x)))
    assert node.local_grads == (0.0,)


@pytest.mark.parametrize(("name", "inputs", "out", "local_grads"), PINNED)
def test_pinned_values(name: str, inputs: tuple[float, ...], out: float, local_grads: tuple[float, ...]) -> None:
    node = apply(OP[name], *_leaves(inputs))
    assert _same(node.data, out, signed_zero=False) or node.data == pytest.approx(out, rel=1e-15)
    assert len(node.local_grads) == len(local_grads)
    for got, want in zip(node.local_grads, local_grads):
        assert _same(got, want, signed_zero=False) or got == pytest.approx(want, rel=1e-15), (got, want)


# ----------------------------------------------------------------------------
# IEEE-754 special values: the float fast path and the numpy fallback agree
# ----------------------------------------------------------------------------


def _special_inputs(op: Op) -> list[tuple[float, ...]]:
    sizes = [op.arity] if op.arity is not None else [1, 2, 3]
    return [xs for k in sizes for xs in itertools.product(SPECIALS, repeat=k)]


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_special_values_match_numpy_float64(op: Op) -> None:
    signed_zero = op.name not in ZERO_SIGN_FREE
    mismatches = []
    for xs in _special_inputs(op):
        node = apply(op, *_leaves(xs))  # must not raise, whatever the input
        out, grads = _numpy_reference(op, xs)
        if op.arity is None or op.name in COMPOSED:
            agree = _close(node.data, out) and all(map(_close, node.local_grads, grads))
        else:
            agree = _same(node.data, out, signed_zero=signed_zero) and all(
                _same(a, b, signed_zero=False) for a, b in zip(node.local_grads, grads)
            )
        if not agree:
            mismatches.append((xs, node.data, out, node.local_grads, grads))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:3]}"


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_special_values_on_arrays_match_scalars(op: Op) -> None:
    """The numpy namespace over a whole batch of special values gives the scalar results elementwise."""
    sizes = [op.arity] if op.arity is not None else [1, 2, 3]
    for k in sizes:
        rows = list(itertools.product(SPECIALS, repeat=k))
        columns = [np.array(col, dtype=np.float64) for col in zip(*rows)]
        with np.errstate(all="ignore"):
            out = op.forward(NUMPY_MATH, *columns)
            grads = [np.broadcast_to(g, out.shape) for g in _rule_grads(op, NUMPY_MATH, out, columns)]
        for j, xs in enumerate(rows):
            node = apply(op, *_leaves(xs))
            assert _close(node.data, float(out[j])), (xs, node.data, out[j])
            for i, local in enumerate(node.local_grads):
                assert _close(local, float(grads[i][j])), (xs, i, local, grads[i][j])


@pytest.mark.parametrize("b", [0.5, -0.5, 0.25, 2.5, 2.0, 1e300])
def test_pow_of_minus_inf_is_the_same_whatever_the_exponent_role(b: float) -> None:
    """Bug B5: the numpy fallback, taken when only a derivative raised, once recomputed the forward as nan."""
    with np.errstate(all="ignore"):
        # IEEE-754/C99: +inf unless b is an odd integer; but x ** 0.5 is sqrt(x) and x ** -0.5 is
        # 1/sqrt(x), as PyTorch computes them (the row's convention): nan at -inf.
        expected = math.nan if abs(b) == 0.5 else math.pow(-math.inf, b)
    assert _same((Value(-math.inf) ** b).data, expected)
    assert _same((Value(-math.inf) ** Value(b)).data, expected)
    with autograd.no_grad():
        assert _same((Value(-math.inf) ** Value(b)).data, expected)


@pytest.mark.parametrize(
    ("x", "root", "d_root"), [(-0.0, -0.0, -math.inf), (0.0, 0.0, math.inf), (-math.inf, math.nan, math.nan)]
)
def test_half_power_is_sqrt(x: float, root: float, d_root: float) -> None:
    """The issue's case: x ** 0.5 once took C's pow on the fallback path (inf at -inf, +inf slope at -0.0)."""
    for y in (Value(x) ** 0.5, Value(x) ** Value(0.5), Value(x).sqrt()):
        assert _same(y.data, root) and _same(y.local_grads[0], d_root), y


def _sum_in_order(terms: Sequence[Any]) -> Any:
    total = np.float64(0.0)
    for t in terms:
        total = total + t
    return total


def _independent_numpy(name: str) -> Callable[..., Any] | None:
    """The same maths written with numpy's own functions (not the op table's)."""
    table: dict[str, Callable[..., Any]] = {
        "add": np.add,
        "sub": np.subtract,
        "mul": np.multiply,
        "div": np.divide,
        "neg": np.negative,
        # np.float64's power takes a sqrt shortcut for the exponent 0.5, giving nan for a base of -inf where
        # IEEE-754 (C's pow, numpy's array loop, the engine) give +inf: use C's pow for that base.
        "pow": lambda a, b: math.pow(a, b) if a == -math.inf else np.power(a, b),
        "exp": np.exp,
        "log": np.log,
        "sqrt": np.sqrt,
        "tanh": np.tanh,
        "sigmoid": lambda x: np.exp(-np.logaddexp(0.0, -x)),
        "relu": lambda x: np.where(x > 0, x, np.where(np.isnan(x), x, 0.0)),
        "leaky_relu": lambda x, s: np.where(x > 0, x, x * s),
        "abs": np.abs,
        "sin": np.sin,
        "cos": np.cos,
        "softplus": lambda x: np.logaddexp(0.0, x),
        "maximum": np.maximum,
        "minimum": np.minimum,
        "clamp": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
        "sum": lambda *xs: np.add.reduce(np.array(xs)),
        # Each product rounded, then summed in order, as PyTorch's float64 (w * x).sum(), torch.dot and
        # F.linear give; np.dot goes to a BLAS that may fuse multiply and add (w = (1, -2.5), x = (1e308,
        # 1e308): -inf rounded, -1.5e308 fused), which made this test fail on some machines.
        "dot": lambda *xs: _sum_in_order(
            [*np.multiply(xs[: len(xs) // 2], xs[len(xs) // 2 : 2 * (len(xs) // 2)]), *xs[2 * (len(xs) // 2) :]]
        ),
        "logsumexp": lambda *xs: np.logaddexp.reduce(np.array(xs)),
        "softplus_beta": lambda x, b, t: np.where(b * x > t, x, np.logaddexp(0.0, b * x) / b),
        "log2": np.log2,
        "log10": np.log10,
        "log1p": np.log1p,
        "expm1": np.expm1,
        "exp2": np.exp2,
        "tan": np.tan,
        "sinh": np.sinh,
        "cosh": np.cosh,
        "asin": np.arcsin,
        "acos": np.arccos,
        "atan": np.arctan,
        "asinh": np.arcsinh,
        "acosh": np.arccosh,
        "atanh": np.arctanh,
        "atan2": np.arctan2,
        "hypot": np.hypot,
        "reciprocal": lambda x: 1.0 / x,
        "rsqrt": lambda x: 1.0 / np.sqrt(x),
        # numpy's remainder gives a zero result the divisor's sign; PyTorch (and the row) the dividend's.
        "remainder": lambda a, b: np.where(np.remainder(a, b) == 0, np.fmod(a, b), np.remainder(a, b)),
        "fmod": np.fmod,
        "erf": np.vectorize(math.erf),
        "erfc": np.vectorize(math.erfc),
        # The limits at +-inf (the rows' conventions) are written out; elsewhere the textbook formula.
        "gelu": lambda x: np.where(np.isinf(x), np.maximum(x, 0.0), x / 2 * np.vectorize(math.erfc)(-x / np.sqrt(2.0))),
        "gelu_tanh": lambda x: np.where(
            np.isinf(x), np.maximum(x, 0.0), 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
        ),
        "silu": lambda x: np.where(np.isinf(x), np.maximum(x, 0.0), x * np.exp(-np.logaddexp(0.0, -x))),
        "mish": lambda x: np.where(np.isinf(x), np.maximum(x, 0.0), x * np.tanh(np.logaddexp(0.0, x))),
        "softsign": lambda x: np.where(np.isinf(x), np.sign(x), x / (1.0 + np.abs(x))),
        "logsigmoid": lambda x: -np.logaddexp(0.0, -x),
        "elu": lambda x, a: np.where(x >= 0, x, a * np.expm1(x)),  # elu(0) = 0 for every alpha, as PyTorch
        "celu": lambda x, a: np.where(x >= 0, x, a * np.expm1(x / a)),
        "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
        "hardtanh": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
        "relu6": lambda x: np.clip(x, 0.0, 6.0),
        "hardsigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
        "hardswish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
        "logaddexp": np.logaddexp,
        "copysign": np.copysign,
        "sign": np.sign,
        "floor": np.floor,
        "ceil": np.ceil,
        "round": np.rint,
        "trunc": np.trunc,
    }
    return table.get(name)


def test_every_op_has_an_independent_numpy_reference() -> None:
    """A tripwire: a new row needs one line in _independent_numpy above."""
    assert [op.name for op in OPS if _independent_numpy(op.name) is None] == []


def test_dot_rounds_each_product_as_pytorch() -> None:
    """The once-flaky draw: PyTorch float64 gives -inf for torch.dot, (w * x).sum() and F.linear alike."""
    w, x = (1.0, -2.5), (1e308, 1e308)
    assert autograd.dot([Value(v) for v in w], [Value(v) for v in x]).data == -math.inf
    with np.errstate(all="ignore"):
        assert _independent_numpy("dot")(*w, *x) == -math.inf  # type: ignore[misc]


@pytest.mark.parametrize("op", [op for op in OPS if _independent_numpy(op.name)], ids=lambda op: op.name)
@PER_ROW
@given(data=st.data())
def test_forward_matches_numpy_functions(op: Op, data: st.DataObject) -> None:
    reference = _independent_numpy(op.name)
    assert reference is not None
    special = st.sampled_from(SPECIALS)
    any_float = st.floats(allow_nan=True, allow_infinity=True)
    n = op.arity if op.arity is not None else data.draw(st.integers(1, 5), label="n")
    xs = data.draw(st.tuples(*[st.one_of(special, any_float) for _ in range(n)]), label="inputs")
    node = apply(op, *_leaves(xs))
    with np.errstate(all="ignore"):
        expected = float(reference(*[np.float64(x) for x in xs]))
    assert _close(node.data, expected) or (
        # logaddexp-style references lose precision where the op's stable form does not: compare loosely
        math.isfinite(expected) and node.data == pytest.approx(expected, rel=1e-9, abs=1e-300)
    ), (xs, node.data, expected)


# ----------------------------------------------------------------------------
# The numpy namespace on arrays (the compiled mode's view) equals the float one
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@PER_ROW
@given(data=st.data())
def test_numpy_arrays_match_float_local_grads(op: Op, data: st.DataObject) -> None:
    n = op.arity if op.arity is not None else data.draw(st.integers(1, 5), label="n")
    batch = data.draw(st.lists(arguments_for(op, min_size=n, max_size=n), min_size=1, max_size=6), label="batch")
    columns = [np.array(col, dtype=np.float64) for col in zip(*batch)]
    out = op.forward(NUMPY_MATH, *columns)
    grads = [np.broadcast_to(g, out.shape) for g in _rule_grads(op, NUMPY_MATH, out, columns)]
    assert isinstance(out, np.ndarray) and out.shape == (len(batch),)
    for j, xs in enumerate(batch):
        node = apply(op, *_leaves(xs))
        assert node.data == pytest.approx(float(out[j]), rel=RTOL, abs=ATOL)
        np.testing.assert_allclose(node.local_grads, [float(g[j]) for g in grads], rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------
# Never a Python exception from an op, whatever the float input
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@PER_ROW
@given(data=st.data())
def test_no_exception_on_any_float(op: Op, data: st.DataObject) -> None:
    n = op.arity if op.arity is not None else data.draw(st.integers(1, 5), label="n")
    special = st.sampled_from(SPECIALS)
    any_float = st.floats(allow_nan=True, allow_infinity=True)
    xs = data.draw(st.tuples(*[st.one_of(special, any_float)] * n), label="inputs")
    leaves = _leaves(xs)
    node = apply(op, *leaves)  # no ZeroDivisionError, OverflowError or ValueError
    assert type(node.data) is float
    assert all(type(g) is float for g in node.local_grads)
    node.backward()
    built = grad(node, leaves, create_graph=True)  # the rules on Values do not raise either
    assert all(isinstance(g, Value) for g in built)


# ----------------------------------------------------------------------------
# The nan-input convention, one decision for every piecewise row
# ----------------------------------------------------------------------------

NAN_RULE_ROWS = [op for op in OPS if NAN_RULE in op.convention]
# Inputs that choose the branch (the others, slopes and alphas, only scale one branch).
CHOOSING = {"maximum": (0, 1), "minimum": (0, 1), "clamp": (0, 1, 2), "hardtanh": (0, 1, 2)}
# Derivatives the nan rule leaves to PyTorch's convention: clamp's d/dhi (pinned in test_clamp_dhi_at_nan).
PYTORCH_AT_NAN = {"clamp": (2,)}


def _ordinary_point(op: Op) -> list[float]:
    """The middle of the first interval of each input's domain (for clamp/hardtanh: x=0, lo=-2, hi=2)."""
    return [sum(op.domain[i][0]) / 2 for i in range(op.arity or 1)]


def test_the_nan_rule_covers_the_piecewise_rows() -> None:
    names = {op.name for op in NAN_RULE_ROWS}
    assert {"relu", "leaky_relu", "abs", "maximum", "minimum", "clamp", "elu", "celu", "selu", "hardtanh",
            "relu6", "hardsigmoid", "hardswish"} <= names


@pytest.mark.parametrize("op", NAN_RULE_ROWS, ids=lambda op: op.name)
def test_a_nan_that_chooses_the_branch_makes_every_derivative_nan(op: Op) -> None:
    """First derivatives on floats, Values and arrays, and their derivatives by the nan input: nan.

    PyTorch gives 0 or 1, op by op (relu'(nan) = 1, abs'(nan) = 0, max(nan, 1) gives both inputs 1).
    """
    ruled = [i for i in range(op.arity or 1) if i not in PYTORCH_AT_NAN.get(op.name, ())]
    for position in CHOOSING.get(op.name, (0,)):
        xs = _ordinary_point(op)
        xs[position] = math.nan
        leaves = _leaves(xs)
        node = apply(op, *leaves)
        assert math.isnan(node.data)
        assert all(math.isnan(node.local_grads[i]) for i in ruled), (xs, node.local_grads)
        firsts = grad(node, leaves, create_graph=True)
        assert all(math.isnan(firsts[i].data) for i in ruled)
        for i in ruled:
            (by_nan_input,) = grad(firsts[i], [leaves[position]], allow_unused=True)
            assert math.isnan(by_nan_input.data), (xs, by_nan_input)
        columns = [np.array([x, 0.5 * x]) for x in xs]
        with np.errstate(all="ignore"):
            out = op.forward(NUMPY_MATH, *columns)
            grads = _rule_grads(op, NUMPY_MATH, out, columns)
        assert all(math.isnan(float(np.broadcast_to(grads[i], (2,))[0])) for i in ruled)


# (x, lo, hi) -> d/dhi: PyTorch's (x > hi) | (lo > hi), also where x or lo is nan (torch 2.13 float64).
CLAMP_DHI_AT_NAN = [
    ((math.nan, -1.0, 1.0), 0.0),
    ((math.nan, 2.0, 1.0), 1.0),  # lo > hi: hi wins
    ((0.0, math.nan, 1.0), 0.0),
    ((2.0, math.nan, 1.0), 1.0),  # x > hi
    ((-2.0, math.nan, 1.0), 0.0),
    ((0.0, -1.0, math.nan), 0.0),
    ((5.0, math.nan, math.nan), 0.0),
    ((math.nan, math.nan, 1.0), 0.0),
]


@pytest.mark.parametrize(("xs", "dhi"), CLAMP_DHI_AT_NAN)
def test_clamp_dhi_at_nan_is_pytorchs(xs: tuple[float, float, float], dhi: float) -> None:
    """Floats, Values (whose second derivatives by hi are 0) and arrays; x and lo keep the nan rule."""
    leaves = _leaves(xs)
    node = autograd.clamp(*leaves)
    assert math.isnan(node.data)
    assert node.local_grads[2] == dhi and all(map(math.isnan, node.local_grads[:2]))
    firsts = grad(node, leaves, create_graph=True)
    assert firsts[2].data == dhi
    assert [h.data for h in grad(firsts[2], leaves, allow_unused=True)] == [0.0, 0.0, 0.0]
    columns = [np.array([x, x]) for x in xs]
    with np.errstate(all="ignore"):
        out = OP["clamp"].forward(NUMPY_MATH, *columns)
        grads = _rule_grads(OP["clamp"], NUMPY_MATH, out, columns)
    assert float(np.broadcast_to(grads[2], (2,))[1]) == dhi


def test_pow_at_a_nan_base_and_zero_exponent() -> None:
    """nan ** 0 = 1 (IEEE-754), a constant in a: d/da = 0 (as PyTorch), d/db = log(nan) = nan."""
    a, b = Value(math.nan, "a"), Value(0.0, "b")
    y = a**b
    assert y.data == 1.0 and y.local_grads[0] == 0.0 and math.isnan(y.local_grads[1])
    (da,) = grad(Value(math.nan) ** 0.0, [Value(1.0)], allow_unused=True)
    assert da.data == 0.0


@pytest.mark.parametrize("op", [op for op in OPS if hasattr(Value, op.name)], ids=lambda op: op.name)
def test_value_methods_are_documented_with_their_rows_convention(op: Op) -> None:
    """help(Value.atan2) says what the method is and its row's convention (the API reference shows it)."""
    method = getattr(Value, op.name)
    assert method.__name__ == op.name and method.__doc__
    if op.convention and op.name not in {"softplus", "leaky_relu", "clamp"}:  # by hand, with their options
        assert op.convention in method.__doc__
