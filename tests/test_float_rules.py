"""The rows' ``float_rule`` fast paths give, bit for bit, the numbers of the rows' rules.

A ``float_rule`` computes a row's forward and local derivatives on floats in
one call (autograd/ops.py); the engine uses it instead of one call per rule.
These tests build each node through the engine (which takes the fast path)
and compare it with the same node computed by the rules alone
(``engine._by_rules``, the path taken for rows without a ``float_rule``):
same output, same derivatives, same signs of zero, nan where nan.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import sys
from collections.abc import Sequence
from unittest import mock

import pytest
from conftest import PER_ROW
from hypothesis import example, given
from hypothesis import strategies as st

from chainrule.autograd import OPS, Op, Value, apply, constant, dot, engine
from chainrule.autograd.engine import _by_rules

FAST = [op for op in OPS if op.float_rule is not None]
SPECIALS = (0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 710.0, -745.5, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan)
ANY_FLOAT = st.one_of(st.sampled_from(SPECIALS), st.floats(allow_nan=True, allow_infinity=True))


def _same(x: float, y: float) -> bool:
    """Bit-for-bit equal, except that any nan equals any nan."""
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return struct.pack("<d", x) == struct.pack("<d", y)


def _check(op: Op, xs: Sequence[float], constant: int | None = None) -> None:
    args = [Value(x) for x in xs]
    operands: list[object] = list(args)
    if constant is not None:
        operands[constant] = xs[constant]  # a plain number: a constant leaf
    node = apply(op, *operands)  # type: ignore[arg-type]
    by_rules = [Value(x) for x in xs]
    if constant is not None:
        by_rules[constant].role = "constant"
    out, grads = _by_rules(op, list(xs), by_rules)
    assert _same(node.data, out), f"{op.name}{tuple(xs)}: float_rule gives {node.data!r}, the rules {out!r}"
    for i, (fast, slow) in enumerate(zip(node.local_grads, grads, strict=True)):
        assert _same(fast, slow), f"{op.name}{tuple(xs)} input {i}: float_rule gives {fast!r}, the rules {slow!r}"


def test_the_hot_rows_have_a_float_rule() -> None:
    names = {op.name for op in FAST}
    assert {"add", "sub", "mul", "div", "neg", "exp", "log", "tanh", "sigmoid", "relu", "sum", "dot"} <= names


@pytest.mark.parametrize("op", [op for op in FAST if op.arity is not None], ids=lambda op: op.name)
@PER_ROW
@given(data=st.data())
def test_fixed_arity_float_rule_matches_the_rules(op: Op, data: st.DataObject) -> None:
    assert op.arity is not None
    xs = [data.draw(ANY_FLOAT, label=f"x{i}") for i in range(op.arity)]
    _check(op, xs)
    if op.arity == 2:
        _check(op, xs, constant=data.draw(st.sampled_from([0, 1]), label="constant input"))


@pytest.mark.parametrize("op", [op for op in FAST if op.arity is not None], ids=lambda op: op.name)
def test_fixed_arity_float_rule_at_special_values(op: Op) -> None:
    assert op.arity is not None
    for x in SPECIALS:
        for y in SPECIALS if op.arity == 2 else (None,):
            _check(op, [x] if y is None else [x, y])


@pytest.mark.parametrize("name", ["sum", "dot"])
@PER_ROW
@given(xs=st.lists(ANY_FLOAT, min_size=1, max_size=9), constant=st.integers(0, 8))
@example(xs=[0.1, 0.2, 0.3, 1e16, -1e16], constant=0)  # rounding order: sum() must match the rule's own sum
@example(xs=[-0.0, -0.0, 0.0], constant=0)  # signs of zero
def test_n_ary_float_rule_matches_the_rules(name: str, xs: list[float], constant: int) -> None:
    op = next(op for op in FAST if op.name == name)
    _check(op, xs)
    if len(xs) > 1:  # one constant among variables (all constants make a constant leaf, no edges)
        _check(op, xs, constant=constant % len(xs))


# autograd.dot() writes the dot row's float_rule out over its inputs' values (autograd/engine.py), adding
# the bias after the products' sum where sum() adds in order (before Python 3.12), else among them: both
# ways are checked here where both hold.
@pytest.mark.parametrize(
    "in_order",
    [pytest.param(True, marks=pytest.mark.skipif(sys.version_info >= (3, 12), reason="sum() compensates")), False],
)
@PER_ROW
@given(
    terms=st.lists(st.tuples(ANY_FLOAT, ANY_FLOAT), min_size=1, max_size=6),
    bias=st.one_of(st.none(), ANY_FLOAT),
    constants=st.lists(st.booleans(), min_size=13, max_size=13),
)
@example(terms=[(0.1, 1.0), (0.2, 1.0), (1e16, 1.0), (-1e16, 1.0)], bias=0.3, constants=[False] * 13)  # rounding order
@example(terms=[(-0.0, 1.0), (1.0, -0.0)], bias=None, constants=[False] * 13)  # signs of zero
@example(terms=[(1.0, 2.0)], bias=3.0, constants=[True] * 13)  # constants only: a constant leaf
# a first layer: every input a constant (dot's own branch for it), with and without a bias
@example(terms=[(0.5, 2.0), (-1.5, 3.0)], bias=0.25, constants=[False, False, True, True] + [False] * 9)
@example(terms=[(0.5, 2.0), (-1.5, 3.0)], bias=None, constants=[False, False, True, True] + [False] * 9)
# as many constants as inputs, but not the inputs: the general zeroing
@example(terms=[(0.5, 2.0), (-1.5, 3.0)], bias=0.25, constants=[True, False, False, True] + [False] * 9)
def test_dot_matches_the_rules(
    in_order: bool, terms: list[tuple[float, float]], bias: float | None, constants: list[bool]
) -> None:
    op = next(op for op in FAST if op.name == "dot")
    xs = [w for w, _ in terms] + [x for _, x in terms] + ([] if bias is None else [bias])
    make = [constant if c else Value for c in constants[: len(xs)]]
    args = [m(x) for m, x in zip(make, xs)]
    n = len(terms)
    with mock.patch.object(engine, "_SUM_ADDS_IN_ORDER", in_order):
        node = dot(args[:n], args[n : 2 * n], None if bias is None else args[-1])
    out, grads = _by_rules(op, xs, args)
    assert _same(node.data, out), f"dot{tuple(xs)}: {node.data!r}, the rules {out!r}"
    if all(constants[: len(xs)]):
        assert node.parents == () and node.role == "constant"
        return
    assert node.primitive is op and node.parents == tuple(args) and node.role == "variable"
    for i, (fast, slow) in enumerate(zip(node.local_grads, grads, strict=True)):
        assert _same(fast, slow), f"dot{tuple(xs)} input {i}: local derivative {fast!r}, the rules {slow!r}"
        if args[i].role == "constant":
            assert fast == 0.0


# Value's +, -, *, tanh and relu write their rows' float_rule out in place (autograd/engine.py).
OPERATORS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
}


@pytest.mark.parametrize("name", sorted(OPERATORS))
@PER_ROW
@given(data=st.data())
@example(data=None)  # the special values, every pair
def test_fast_operators_match_the_rules(name: str, data: st.DataObject | None) -> None:
    op = next(op for op in FAST if op.name == name)
    assert op.arity is not None
    if data is None:
        cases = [[x, y][: op.arity] for x in SPECIALS for y in SPECIALS]
    else:
        cases = [[data.draw(ANY_FLOAT, label=f"x{i}") for i in range(op.arity)]]
    for xs in cases:
        args = [Value(x) for x in xs]
        node = OPERATORS[name](*args)
        out, grads = _by_rules(op, xs, [Value(x) for x in xs])
        assert node.primitive is op and node.parents == tuple(args)
        assert _same(node.data, out), f"{name}{tuple(xs)}: {node.data!r}, the rules {out!r}"
        for fast, slow in zip(node.local_grads, grads, strict=True):
            assert _same(fast, slow), f"{name}{tuple(xs)}: local derivative {fast!r}, the rules {slow!r}"


def test_a_row_made_with_other_rules_drops_the_float_rule() -> None:
    relu = next(op for op in FAST if op.name == "relu")
    step = dataclasses.replace(relu, name="step", grads=(lambda M, o, a: 7.0,))
    assert step.float_rule is None
    assert apply(step, Value(-1.0)).local_grads == (7.0,)  # its own rule, not relu's float_rule
    renamed = dataclasses.replace(relu, name="my_relu")  # the same rules: the float_rule still holds
    assert renamed.float_rule is relu.float_rule
    assert apply(renamed, Value(-1.0)).local_grads == (0.0,)
