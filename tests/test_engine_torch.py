"""The engine against PyTorch float64: random expression graphs, every op to second order, kink conventions."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from conftest import PER_ROW, import_or_need
from hypothesis import assume, example, given
from hypothesis import strategies as st

from chainrule.autograd import OP, OPS, Op, Value, apply, grad
from chainrule.autograd.testing import Const, Expression, Step, arguments_for, expressions

torch = import_or_need("torch", "PyTorch")
F = torch.nn.functional

pytestmark = pytest.mark.torch

DTYPE = torch.float64
REL = 1e-10
ABS = 1e-12


def _dot(*xs: Any) -> Any:
    n = len(xs) // 2
    if n == 0:  # the bias alone
        return xs[0] * 1.0
    out = (torch.stack(xs[:n]) * torch.stack(xs[n : 2 * n])).sum()
    return out + xs[-1] if len(xs) % 2 else out


# Each row of the op table in PyTorch. leaky_relu's slope is an input here, so it is written with where().
TORCH: dict[str, Callable[..., Any]] = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "neg": torch.neg,
    "pow": torch.pow,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "leaky_relu": lambda a, s: torch.where(a > 0, a, a * s),
    "abs": torch.abs,
    "sin": torch.sin,
    "cos": torch.cos,
    "softplus": F.softplus,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "clamp": lambda x, lo, hi: torch.clamp(x, lo, hi),
    "sum": lambda *xs: torch.stack(xs).sum(),
    "dot": _dot,
    "logsumexp": lambda *xs: torch.logsumexp(torch.stack(xs), 0),
    "softplus_beta": lambda x, beta, threshold: torch.where(
        beta * x > threshold, x, torch.log1p(torch.exp(beta * x)) / beta
    ),
    "log2": torch.log2,
    "log10": torch.log10,
    "log1p": torch.log1p,
    "expm1": torch.expm1,
    "exp2": torch.exp2,
    "tan": torch.tan,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "asin": torch.asin,
    "acos": torch.acos,
    "atan": torch.atan,
    "asinh": torch.asinh,
    "acosh": torch.acosh,
    "atanh": torch.atanh,
    "atan2": torch.atan2,
    "hypot": torch.hypot,
    "reciprocal": torch.reciprocal,
    "rsqrt": torch.rsqrt,
    "remainder": torch.remainder,
    "fmod": torch.fmod,
    "erf": torch.erf,
    "erfc": torch.erfc,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "mish": F.mish,
    "softsign": F.softsign,
    "logsigmoid": F.logsigmoid,
    # Parameters that are inputs here are tensors there, so written with where() as leaky_relu is.
    "elu": lambda x, alpha: torch.where(x > 0, x, alpha * torch.expm1(x)),
    "celu": lambda x, alpha: torch.where(x > 0, x, alpha * torch.expm1(x / alpha)),
    "selu": F.selu,
    "hardtanh": lambda x, lo, hi: torch.clamp(x, lo, hi),  # the same away from the kinks (domains avoid them)
    "relu6": F.relu6,
    # F.hardsigmoid has no second derivative in PyTorch, and a float32 1/6 in its first.
    "hardsigmoid": lambda x: torch.clamp(x + 3.0, 0.0, 6.0) / 6.0,
    "hardswish": F.hardswish,
    "logaddexp": torch.logaddexp,
    "copysign": torch.copysign,
    "sign": torch.sign,
    "floor": torch.floor,
    "ceil": torch.ceil,
    "round": torch.round,
    "trunc": torch.trunc,
}
# Rows whose PyTorch spelling above differs from the row at its pinned kinks (the sweep in
# test_ops_sweep.py checks those against PyTorch's own functions).
SPELLED_AWAY_FROM_KINKS = {"hardtanh", "hardsigmoid"}
# PyTorch's gelu computes 1 + erf(x / sqrt 2) and 1 + tanh(u), which cancel for x << 0; the rows use
# erfc and sigmoid(2u). Measured on 20001 points of (-5, 5), the largest relative differences are 9e-11
# (gelu) and 3e-9 (the tanh form, second derivative); the tolerances leave a factor 10.
CANCELS_IN_TORCH = {"gelu": 1e-9, "gelu_tanh": 3e-8}


def _tensor(x: float, requires_grad: bool = True) -> Any:
    return torch.tensor(float(x), dtype=DTYPE, requires_grad=requires_grad)


def _torch_call(name: str, *args: Any) -> Any:
    return TORCH[name](*args)


def _torch_grads(out: Any, inputs: Sequence[Any], *, create_graph: bool = False) -> list[Any]:
    """torch.autograd.grad with zeros (not None) for inputs the output does not reach."""
    if not out.requires_grad:
        return [torch.zeros((), dtype=DTYPE) for _ in inputs]
    grads = torch.autograd.grad(out, list(inputs), allow_unused=True, create_graph=create_graph, retain_graph=True)
    return [torch.zeros((), dtype=DTYPE) if g is None else g for g in grads]


def _hessians(expr_or_op: Callable[..., Any], torch_fn: Callable[..., Any], xs: Sequence[float]) -> tuple[
    list[float], list[list[float]], list[float], list[list[float]]
]:
    """First and second derivatives from the engine and from torch."""
    leaves = [Value(x, f"x{i}") for i, x in enumerate(xs)]
    firsts = grad(expr_or_op(*leaves), leaves, create_graph=True, allow_unused=True)
    ours_1 = [g.data for g in firsts]
    ours_2 = [[h.data for h in grad(g, leaves, allow_unused=True)] for g in firsts]
    tensors = [_tensor(x) for x in xs]
    t_firsts = _torch_grads(torch_fn(*tensors), tensors, create_graph=True)
    theirs_1 = [g.item() for g in t_firsts]
    theirs_2 = [[h.item() for h in _torch_grads(g, tensors)] for g in t_firsts]
    return ours_1, ours_2, theirs_1, theirs_2


def _exponent_is_zero(expr: Expression) -> bool:
    """A pow step whose exponent is exactly 0: torch's d2/dadb there is 0 by its where(); ours is 1/a."""
    slots = list(expr.inputs)
    for step in expr.program:
        args = [a.value if isinstance(a, Const) else slots[a] for a in step.args]
        if step.op == "pow" and args[1] == 0.0:
            return True
        slots.append(apply(OP[step.op], *args).data)
    return False


def test_every_op_has_a_torch_spelling() -> None:
    """A tripwire: a new row needs one line in TORCH above."""
    assert sorted(TORCH) == sorted(OP)


# ----------------------------------------------------------------------------
# Random expression graphs with reuse
# ----------------------------------------------------------------------------


# A dot of its bias alone (once broke the torch spelling), x*x, and a subgraph used by three consumers.
BIAS_ONLY = Expression([0.5, 1.5], [Step("dot", (1,)), Step("sum", (0, 2))])
SHARED = Expression(
    [0.7, -1.3],
    [Step("mul", (0, 0)), Step("tanh", (2,)), Step("mul", (3, 1)), Step("add", (3, 4)), Step("maximum", (3, 5))],
)


@given(expressions())
@example(BIAS_ONLY)
@example(SHARED)
def test_random_graphs_forward_and_gradients(expr: Expression) -> None:
    leaves = [Value(x, f"x{i}") for i, x in enumerate(expr.inputs)]
    out = expr(*leaves)
    out.backward()
    tensors = [_tensor(x) for x in expr.inputs]
    t_out = expr.replay(_torch_call, *tensors, constant=lambda c: _tensor(c, requires_grad=False))
    assert out.data == pytest.approx(t_out.item(), rel=REL, abs=ABS)
    expected = [g.item() for g in _torch_grads(t_out, tensors)]
    assert [x.grad for x in leaves] == pytest.approx(expected, rel=REL, abs=ABS)


@given(expressions(max_ops=6, max_inputs=3))
@example(SHARED)
def test_random_graphs_second_derivatives(expr: Expression) -> None:
    assume(not _exponent_is_zero(expr))
    ours_1, ours_2, theirs_1, theirs_2 = _hessians(
        expr, lambda *t: expr.replay(_torch_call, *t, constant=lambda c: _tensor(c, requires_grad=False)), expr.inputs
    )
    assert ours_1 == pytest.approx(theirs_1, rel=REL, abs=ABS)
    for row, expected in zip(ours_2, theirs_2):
        assert row == pytest.approx(expected, rel=1e-9, abs=1e-10)


# ----------------------------------------------------------------------------
# Every op, first and second order
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@PER_ROW
@given(data=st.data())
def test_each_op_to_second_order(op: Op, data: st.DataObject) -> None:
    """Values to 1e-14 relative, but where PyTorch's formula cancels and the row's does not (see CANCELS_IN_TORCH)."""
    xs = data.draw(arguments_for(op), label="inputs")
    assume(not (op.name == "pow" and xs[1] == 0.0))  # torch's d2/dadb is 0 there by its where(); ours is 1/a
    node = apply(op, *[Value(x) for x in xs])
    tensors = [_tensor(x) for x in xs]
    rel = CANCELS_IN_TORCH.get(op.name, 1e-14)
    assert node.data == pytest.approx(TORCH[op.name](*tensors).item(), rel=rel, abs=1e-300)
    ours_1, ours_2, theirs_1, theirs_2 = _hessians(lambda *v: apply(op, *v), TORCH[op.name], xs)
    # An absolute floor of 1e-15 (as the sweep's): where a derivative crosses zero inside the domain (mish'
    # at x = -1.19, its minimum), it is a difference of O(1) terms, which two formulas round apart by
    # ~1e-16 (5.6e-17 there: 2.5e-13 relative to the derivative, -2.2e-4).
    assert list(node.local_grads) == pytest.approx(theirs_1, rel=max(rel, 1e-13), abs=1e-15)
    assert ours_1 == pytest.approx(theirs_1, rel=max(rel, 1e-13), abs=1e-15)
    for row, expected in zip(ours_2, theirs_2):
        assert row == pytest.approx(expected, rel=max(rel, 1e-12), abs=1e-14)


@pytest.mark.parametrize(("name", "x"), [("mish", -1.1932737696367433), ("gelu", -0.7517915246935645),
                                         ("silu", -1.2784645427610737)])
def test_first_derivatives_near_their_zero_crossing(name: str, x: float) -> None:
    """Where the derivative crosses zero (the function's minimum) an absolute floor is what agrees (a past flake)."""
    ours_1, ours_2, theirs_1, theirs_2 = _hessians(lambda *v: apply(OP[name], *v), TORCH[name], [x])
    assert abs(ours_1[0]) < 1e-3 and ours_1 == pytest.approx(theirs_1, rel=1e-13, abs=1e-15)
    assert ours_2[0] == pytest.approx(theirs_2[0], rel=CANCELS_IN_TORCH.get(name, 1e-12), abs=1e-14)


# ----------------------------------------------------------------------------
# Conventions at kinks and domain edges, against torch's own functions
# ----------------------------------------------------------------------------

KINKS: list[Any] = [
    pytest.param("relu", (0.0,), lambda x: torch.relu(x), id="relu'(0) = 0"),
    pytest.param("relu", (-0.0,), lambda x: F.relu(x), id="relu'(-0) = 0"),
    pytest.param("abs", (0.0,), lambda x: torch.abs(x), id="abs'(0) = 0"),
    pytest.param("leaky_relu", (0.0, 0.01), lambda x, s: F.leaky_relu(x, s.item()), id="leaky_relu'(0) = slope"),
    pytest.param("leaky_relu", (0.0, 0.2), lambda x, s: F.leaky_relu(x, s.item()), id="leaky_relu'(0), slope 0.2"),
    pytest.param("maximum", (1.0, 1.0), lambda a, b: torch.maximum(a, b), id="maximum tie 0.5"),
    pytest.param("minimum", (-2.0, -2.0), lambda a, b: torch.minimum(a, b), id="minimum tie 0.5"),
    pytest.param("clamp", (1.0, 1.0, 2.0), lambda x, lo, hi: torch.clamp(x, lo, hi), id="clamp x == lo"),
    pytest.param("clamp", (2.0, 1.0, 2.0), lambda x, lo, hi: torch.clamp(x, lo, hi), id="clamp x == hi"),
    pytest.param("clamp", (0.0, 1.0, 2.0), lambda x, lo, hi: torch.clamp(x, lo, hi), id="clamp x < lo"),
    pytest.param("clamp", (3.0, 1.0, 2.0), lambda x, lo, hi: torch.clamp(x, lo, hi), id="clamp x > hi"),
    pytest.param("clamp", (1.5, 2.0, 1.0), lambda x, lo, hi: torch.clamp(x, lo, hi), id="clamp lo > hi"),
    pytest.param("clamp", (1.0, 1.0, 1.0), lambda x, lo, hi: torch.clamp(x, lo, hi), id="clamp x == lo == hi"),
    pytest.param("clamp", (2.0, 1.0, 1.0), lambda x, lo, hi: torch.clamp(x, lo, hi), id="clamp x > lo == hi"),
    pytest.param("clamp", (0.0, 1.0, 1.0), lambda x, lo, hi: torch.clamp(x, lo, hi), id="clamp x < lo == hi (B6)"),
    pytest.param("div", (1e300, 1e200), torch.div, id="div by a huge number (B7)"),
    pytest.param("div", (math.inf, 1e308), torch.div, id="inf / 1e308 (B7)"),
    pytest.param("pow", (0.0, 0.0), torch.pow, id="pow(0, 0)"),
    pytest.param("pow", (0.0, 2.0), torch.pow, id="pow(0, 2)"),
    pytest.param("pow", (0.0, 0.5), torch.pow, id="pow(0, 0.5)"),
    pytest.param("pow", (0.0, -1.0), torch.pow, id="pow(0, -1)"),
    pytest.param("pow", (-8.0, 1.0 / 3.0), torch.pow, id="pow(-8, 1/3)"),
    pytest.param("pow", (-2.0, 3.0), torch.pow, id="pow(-2, 3)"),
    pytest.param("sqrt", (0.0,), torch.sqrt, id="sqrt'(0) = inf"),
    pytest.param("log", (0.0,), torch.log, id="log(0)"),
    pytest.param("div", (1.0, 0.0), torch.div, id="1/0"),
    pytest.param("div", (0.0, 0.0), torch.div, id="0/0"),
    pytest.param("logsumexp", (1000.0, 1000.0), TORCH["logsumexp"], id="logsumexp(1000, 1000)"),
    pytest.param("sigmoid", (-1000.0,), torch.sigmoid, id="sigmoid(-1000)"),
    pytest.param("softplus", (-1000.0,), F.softplus, id="softplus(-1000)"),
]


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-15 * abs(b)


@pytest.mark.parametrize(("name", "inputs", "torch_fn"), KINKS)
def test_conventions_match_torch(name: str, inputs: tuple[float, ...], torch_fn: Callable[..., Any]) -> None:
    node = apply(OP[name], *[Value(x) for x in inputs])
    tensors = [_tensor(x) for x in inputs]
    t_out = torch_fn(*tensors)
    expected = [g.item() for g in _torch_grads(t_out, tensors)]
    if name == "leaky_relu":
        expected[1] = 0.0 if inputs[0] > 0 else inputs[0]  # torch takes the slope as a number: no derivative
    assert _same(node.data, t_out.item())
    assert all(map(_same, node.local_grads, expected)), (node.local_grads, expected)


@pytest.mark.parametrize("op", [op for op in OPS if op.kinks and op.name not in SPELLED_AWAY_FROM_KINKS],
                         ids=lambda op: op.name)
def test_pinned_kinks_match_torch(op: Op) -> None:
    for inputs, local_grads in op.kinks:
        if any(map(math.isnan, inputs)) or (op.name == "copysign" and math.isinf(inputs[0])):
            continue  # departures from PyTorch, written in the rows and checked by test_ops_sweep.py
        tensors = [_tensor(x) for x in inputs]
        expected = [g.item() for g in _torch_grads(TORCH[op.name](*tensors), tensors)]
        assert all(map(_same, local_grads, expected)), (inputs, local_grads, expected)


# Rows whose PyTorch spelling has another name, and rows PyTorch writes with an operator.
TORCH_NAME = {"softplus_beta": "softplus", "gelu_tanh": "gelu"}
OPERATORS = {"add": "__add__", "sub": "__sub__", "mul": "__mul__", "div": "__truediv__", "neg": "__neg__",
             "pow": "__pow__", "abs": "__abs__", "remainder": "__mod__"}
N_ARY = {"sum", "dot", "logsumexp"}  # reductions of a tensor in PyTorch; functions of many Values here


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_a_method_where_torch_has_a_tensor_method_or_operator_else_a_function(op: Op) -> None:
    """Issue 12: Value.log2(), x % y, v.clamp(lo, hi) as tensors have them; autograd.gelu(x) as F.gelu."""
    from chainrule import autograd

    name = TORCH_NAME.get(op.name, op.name)
    if op.name in OPERATORS:
        assert hasattr(torch.Tensor, OPERATORS[op.name]) and hasattr(Value, OPERATORS[op.name])
    elif op.name in N_ARY:
        assert callable(getattr(autograd, op.name))
    elif hasattr(torch.Tensor, name):
        assert callable(getattr(Value, name, None)), f"torch.Tensor.{name} exists: Value.{name} should"
    else:
        assert hasattr(F, name), name
        assert callable(getattr(autograd, name, None)), f"only F.{name}: autograd.{name} should exist"
    if op.name == "softplus_beta":  # x.softplus(beta, threshold) and autograd.softplus(x, beta, threshold)
        assert Value(1.0).softplus(2.0, 20.0).op == autograd.softplus(Value(1.0), 2.0, 20.0).op == "softplus_beta"
    if op.name == "gelu_tanh":
        assert autograd.gelu(Value(1.0), approximate="tanh").op == "gelu_tanh"


def test_value_clamp_maximum_minimum_methods_match_torch() -> None:
    x, lo, hi = Value(2.0, "x"), Value(-1.0, "lo"), Value(1.0, "hi")
    t = [torch.tensor(v, dtype=DTYPE, requires_grad=True) for v in (2.0, -1.0, 1.0)]
    for ours, theirs in (
        (x.clamp(lo, hi), t[0].clamp(t[1], t[2])),
        (x.clamp(hi=hi), t[0].clamp(max=t[2])),
        (x.maximum(hi), t[0].maximum(t[2])),
        (x.minimum(lo), t[0].minimum(t[1])),
    ):
        leaves = [x, lo, hi]
        grads = [g.data for g in grad(ours, leaves, allow_unused=True)]
        expected = [0.0 if g is None else g.item() for g in torch.autograd.grad(theirs, t, allow_unused=True)]
        assert (ours.data, grads) == (theirs.item(), expected)
