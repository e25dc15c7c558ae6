"""Tests of autograd.testing: the drawn expressions keep their promises (domains, kinks, bounds, reuse)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from conftest import PER_ROW
from hypothesis import Phase, example, given, settings
from hypothesis import find as _find
from hypothesis import strategies as st

from chainrule.autograd import OP, OPS, Op, Value, grad, gradcheck, gradgradcheck
from chainrule.autograd.ops import FLOAT_MATH, NUMPY_MATH
from chainrule.autograd.testing import BOUND, Const, Expression, Step, arguments_for, expressions, values_in

EPS = 1e-6  # gradcheck's default step


def find(strategy: st.SearchStrategy[Expression], condition: Callable[[Expression], bool]) -> Expression:
    """hypothesis.find without shrinking (which costs seconds and is not needed to show existence)."""
    return _find(strategy, condition, settings=settings(max_examples=200, database=None, phases=[Phase.generate]))


def _slot_values(expr: Expression, inputs: Sequence[float]) -> list[float]:
    slots = list(inputs)
    for step in expr.program:
        args = [a.value if isinstance(a, Const) else slots[a] for a in step.args]
        slots.append(float(OP[step.op].forward(NUMPY_MATH, *map(np.float64, args))))
    return slots


def _inside(op: Op, index: int, x: float) -> bool:
    intervals = op.domain[0] if op.arity is None else op.domain[index]
    return any(lo < x < hi for lo, hi in intervals)


def _check_steps(expr: Expression, inputs: Sequence[float]) -> None:
    """Every drawn step (all but a final sum) has its arguments in its domain and is smooth."""
    slots = _slot_values(expr, inputs)
    steps = expr.program[:-1] if expr.program[-1].op == "sum" else expr.program
    for step in steps:
        op = OP[step.op]
        args = [a.value if isinstance(a, Const) else slots[a] for a in step.args]
        assert all(_inside(op, i, x) for i, x in enumerate(args)), (step, args)
        assert op.smooth(*args), (step, args)


@given(expressions())
def test_drawn_steps_stay_in_domain_and_away_from_kinks(expr: Expression) -> None:
    _check_steps(expr, expr.inputs)
    assert all(math.isfinite(v) and abs(v) < BOUND for v in _slot_values(expr, expr.inputs))


@given(expressions(max_ops=8))
def test_a_finite_difference_step_crosses_no_kink(expr: Expression) -> None:
    for j in range(len(expr.inputs)):
        for sign in (-1.0, 1.0):
            moved = list(expr.inputs)
            moved[j] += sign * EPS
            _check_steps(expr, moved)


@given(expressions(max_ops=8))
def test_documented_use_gradcheck_and_gradgradcheck_pass(expr: Expression) -> None:
    assert gradcheck(expr, expr.inputs)
    assert gradgradcheck(expr, expr.inputs)


@given(expressions())
def test_every_input_reaches_the_output(expr: Expression) -> None:
    leaves = [Value(x) for x in expr.inputs]
    grad(expr(*leaves), leaves)  # raises if an input were unused


@given(expressions())
def test_call_evaluate_and_replay_agree(expr: Expression) -> None:
    by_values = expr().data
    assert by_values == expr.evaluate(FLOAT_MATH)
    assert by_values == pytest.approx(float(expr.evaluate(NUMPY_MATH, *map(np.float64, expr.inputs))), rel=1e-12)
    # replay with a custom call: count the steps and see constants through the hook
    calls: list[str] = []
    constants: list[float] = []

    def call(name: str, *args: float) -> float:
        calls.append(name)
        return float(OP[name].forward(FLOAT_MATH, *args))

    def constant(x: float) -> float:
        constants.append(x)
        return x

    assert expr.replay(call, *expr.inputs, constant=constant) == by_values
    assert calls == [s.op for s in expr.program]
    assert constants == [a.value for s in expr.program for a in s.args if isinstance(a, Const)]


@given(expressions(ops=["mul", "sin", OP["exp"]], max_inputs=2))
def test_ops_are_restricted(expr: Expression) -> None:
    assert {s.op for s in expr.program} <= {"mul", "sin", "exp", "sum"}
    assert all(s.op != "sum" for s in expr.program[:-1])  # only the final step may add up leftovers


@given(expressions(reuse=False))
def test_without_reuse_the_graph_is_a_tree(expr: Expression) -> None:
    assert max(expr.uses()) == 1


def test_reuse_makes_shared_subgraphs_and_repeated_arguments() -> None:
    shared = find(expressions(), lambda e: max(e.uses()) >= 2)
    assert max(shared.uses()) >= 2
    twice = find(
        expressions(),
        lambda e: any(len({a for a in s.args if not isinstance(a, Const)}) < len(s.args) for s in e.program),
    )
    assert any(len(set(s.args)) < len(s.args) for s in twice.program)  # x*x-like


def test_deep_graphs_are_drawn() -> None:
    def depth(e: Expression) -> int:
        d = [0] * len(e.inputs)
        for s in e.program:
            d.append(1 + max(d[a] for a in s.args if not isinstance(a, Const)))
        return d[-1]

    assert depth(find(expressions(), lambda e: depth(e) >= 6)) >= 6


def test_every_op_gets_drawn() -> None:
    for op in OPS:
        e = find(expressions(ops=[op]), lambda e, name=op.name: any(s.op == name for s in e.program))
        assert op.name in {s.op for s in e.program}


def test_the_default_strategy_draws_every_row() -> None:
    """expressions() with no ops draws every row of the table, issue 12's new ones too (~200 draws see all)."""
    seen: set[str] = set()

    def all_seen(e: Expression) -> bool:
        seen.update(s.op for s in e.program)
        return seen >= set(OP)

    settle = settings(max_examples=3000, database=None, phases=[Phase.generate])
    _find(expressions(), all_seen, settings=settle)
    assert seen == set(OP)


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@PER_ROW
@given(data=st.data())
def test_every_row_in_drawn_graphs_passes_gradcheck_and_gradgradcheck(op: Op, data: st.DataObject) -> None:
    """Each row composed with itself (shared subgraphs, x op x) by the strategies, inside its domain."""
    expr = data.draw(expressions(ops=[op], max_inputs=3, max_ops=4), label="expression")
    assert op.name in {s.op for s in expr.program}
    assert gradcheck(expr, expr.inputs)
    assert gradgradcheck(expr, expr.inputs)


# ----------------------------------------------------------------------------
# Expression by hand: pins for @example
# ----------------------------------------------------------------------------

PIN = Expression([2.0], [Step("mul", (0, 0)), Step("pow", (1, Const(0.5)))])


@given(expressions(max_ops=4))
@example(PIN)
def test_example_pins_work(expr: Expression) -> None:
    assert gradcheck(expr, expr.inputs)


def test_hand_built_expression() -> None:
    e = Expression([3.0, 4.0], [("mul", (0, 0)), ("mul", (1, 1)), Step("add", (2, 3)), ("sqrt", (4,))])
    assert e.output == 5
    assert e.uses() == [2, 2, 1, 1, 1, 0]
    x, y = Value(3.0, "x"), Value(4.0, "y")
    out = e(x, y)
    assert out.data == 5.0
    out.backward()
    assert (x.grad, y.grad) == (pytest.approx(0.6), pytest.approx(0.8))
    assert e().data == 5.0  # the stored inputs by default
    assert str(e) == "v0=3.0, v1=4.0; v2 = mul(v0, v0); v3 = mul(v1, v1); v4 = add(v2, v3); v5 = sqrt(v4)"
    assert repr(e).startswith("Expression(inputs=[3.0, 4.0], program=[\n    Step('mul', (0, 0)),  # v2")
    assert repr(PIN).splitlines()[2] == "    Step('pow', (1, Const(0.5))),  # v2"


@pytest.mark.parametrize(
    ("inputs", "program", "message"),
    [
        ([], [Step("neg", (0,))], "at least one input"),
        ([1.0], [], "at least one step"),
        ([1.0], [Step("nope", (0,))], "unknown op 'nope'"),
        ([1.0], [Step("mul", (0,))], "gives 'mul' 1 args, it takes 2"),
        ([1.0], [Step("neg", (1,))], "refers to slot 1"),
        ([1.0], [Step("neg", (-1,))], "refers to slot -1"),
        ([1.0], [Step("sum", ())], "no arguments"),
    ],
)
def test_expression_validation(inputs: list[float], program: list[Step], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Expression(inputs, program)


def test_expression_rejects_bad_steps_and_input_counts() -> None:
    with pytest.raises(TypeError, match="Step or"):
        Expression([1.0], ["neg"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="takes 1 inputs, got 2"):
        PIN(Value(1.0), Value(2.0))


# ----------------------------------------------------------------------------
# Small strategies
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@PER_ROW
@given(data=st.data())
def test_values_in_and_arguments_for(op: Op, data: st.DataObject) -> None:
    for i in range(op.arity or 1):
        x = data.draw(values_in(op, i))
        assert _inside(op, i, x)
    xs = data.draw(arguments_for(op.name, min_size=2, max_size=3))
    assert op.smooth(*xs)
    assert all(_inside(op, i, x) for i, x in enumerate(xs))
    if op.arity is None:
        assert 2 <= len(xs) <= 3
    else:
        assert len(xs) == op.arity


def test_strategy_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="no index 1"):
        values_in("exp", 1)
    with pytest.raises(ValueError, match="known"):
        values_in("nope")
    with pytest.raises(ValueError, match="min_size"):
        arguments_for("sum", min_size=0)
    with pytest.raises(ValueError, match="ops is empty"):
        expressions(ops=[])
    with pytest.raises(ValueError, match="min_inputs"):
        expressions(min_inputs=3, max_inputs=2)
    with pytest.raises(ValueError, match="min_ops"):
        expressions(min_ops=-1)
    with pytest.raises(ValueError, match="bound"):
        expressions(bound=0.0)
