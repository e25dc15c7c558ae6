"""Hypothesis strategies that draw random expression graphs, so users can property-test derivatives.

Every draw stays where finite differences are meaningful: inputs come from the
op table's ``domain`` intervals, an op is only applied to slots whose current
values lie inside its domain and satisfy its ``smooth`` predicate (away from
kinks) with a margin that covers a finite-difference step, and every value
stays bounded. Slots are reused, so graphs share subgraphs and use ``x`` twice.

Example::

    from hypothesis import given
    from chainrule.autograd import gradcheck, gradgradcheck
    from chainrule.autograd.testing import expressions

    @given(expressions(max_ops=8))
    def test_derivatives(expr):
        assert gradcheck(expr, expr.inputs)
        assert gradgradcheck(expr, expr.inputs)

A failing case prints as a short program and can be pinned with ``@example``::

    @example(Expression([2.0], [Step("mul", (0, 0)), Step("pow", (1, Const(0.5)))]))
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

try:
    from hypothesis import assume
    from hypothesis import strategies as st
except ImportError as error:  # a test-time dependency, not a runtime one
    raise ImportError("chainrule.autograd.testing needs hypothesis: pip install 'chainrule[test]'") from error

from chainrule.autograd.engine import Value, apply
from chainrule.autograd.ops import FLOAT_ERRORS, FLOAT_MATH, OP, OPS, Interval, Op

__all__ = ["Const", "Expression", "Step", "arguments_for", "expressions", "values_in"]

BOUND = 1e3
"""Largest magnitude of any value (and of any slot's derivative) an expression holds."""

# How far, in units of a slot's sensitivity to the inputs, a value must stay from
# a kink or a domain edge: 100 finite-difference steps of eps = 1e-6.
STEP_MARGIN = 1e-4

# Failed attempts allowed per step (an op whose arguments do not fit) before the program stops growing.
ATTEMPTS = 6


@dataclass(frozen=True)
class Const:
    """A plain number in a program: it becomes a constant leaf when replayed on Values.

    Args:
        value: the number.
    """

    value: float

    def __repr__(self) -> str:
        return f"Const({self.value!r})"


Arg = int | Const


@dataclass(frozen=True)
class Step:
    """One op application of a program.

    Args:
        op: the name of a row of ``autograd.OPS``.
        args: per argument, the index of a slot (inputs are slots ``0..n-1``,
            step ``k`` writes slot ``n + k``) or a :class:`Const`.
    """

    op: str
    args: tuple[Arg, ...]


def _as_step(step: Step | tuple[str, Sequence[Arg]]) -> Step:
    if isinstance(step, Step):
        return step
    if isinstance(step, tuple) and len(step) == 2 and isinstance(step[0], str):
        return Step(step[0], tuple(step[1]))
    raise TypeError(f"Expression(): a program step must be a Step or (op name, args), got {step!r}")


class Expression:
    """A random expression: a straight-line program over slots, callable on Values.

    Args:
        inputs: the point to evaluate at, one float per input slot.
        program: the steps, in order; each step's result is the next slot.
            The last step's slot is the output.

    Attributes:
        inputs: the input values (a list of floats).
        program: the steps (a tuple of :class:`Step`).
        output: the index of the output slot.

    Calling ``expr(*values)`` replays the program on ``Value``s (or numbers)
    with :func:`autograd.apply`, so ``gradcheck(expr, expr.inputs)`` works.
    :meth:`replay` runs it with any other kind of number (PyTorch tensors,
    numpy arrays).
    """

    def __init__(self, inputs: Sequence[float], program: Sequence[Step | tuple[str, Sequence[Arg]]]) -> None:
        self.inputs: list[float] = [float(x) for x in inputs]
        self.program: tuple[Step, ...] = tuple(_as_step(s) for s in program)
        if not self.inputs:
            raise ValueError("Expression(): needs at least one input")
        if not self.program:
            raise ValueError("Expression(): needs at least one step")
        n = len(self.inputs)
        for k, step in enumerate(self.program):
            if step.op not in OP:
                raise ValueError(f"Expression(): step {k} uses unknown op {step.op!r}; known: {sorted(OP)}")
            arity = OP[step.op].arity
            if arity is not None and len(step.args) != arity:
                raise ValueError(f"Expression(): step {k} gives {step.op!r} {len(step.args)} args, it takes {arity}")
            if not step.args:
                raise ValueError(f"Expression(): step {k} ({step.op!r}) has no arguments")
            for a in step.args:
                if isinstance(a, Const):
                    continue
                if type(a) is not int or not 0 <= a < n + k:
                    raise ValueError(f"Expression(): step {k} refers to slot {a!r}; slots 0..{n + k - 1} exist there")
        self.output: int = n + len(self.program) - 1

    def replay(
        self,
        call: Callable[..., Any],
        *values: Any,
        constant: Callable[[float], Any] | None = None,
    ) -> Any:
        """Run the program with another kind of number.

        Args:
            call: ``call(op_name, *args) -> result`` for one step.
            values: one value per input (defaults to :attr:`inputs` when none are given).
            constant: turns a :class:`Const`'s float into an argument (default: the float itself).

        Returns:
            The output slot's value.
        """
        if not values:
            values = tuple(self.inputs)
        if len(values) != len(self.inputs):
            raise TypeError(f"Expression takes {len(self.inputs)} inputs, got {len(values)}")
        slots = list(values)
        for step in self.program:
            args = [
                (constant(a.value) if constant is not None else a.value) if isinstance(a, Const) else slots[a]
                for a in step.args
            ]
            slots.append(call(step.op, *args))
        return slots[self.output]

    def __call__(self, *values: Value | float) -> Value:
        """Replay the program on Values with :func:`autograd.apply` (numbers become leaves)."""
        if not values:
            values = tuple(Value(x, f"x{i}") for i, x in enumerate(self.inputs))
        out = self.replay(lambda name, *args: apply(OP[name], *args), *values)
        return out if isinstance(out, Value) else Value(out)

    def evaluate(self, M: Any = FLOAT_MATH, *values: Any) -> Any:
        """Run the op table's forwards in the maths namespace ``M`` (FLOAT_MATH, NUMPY_MATH).

        Args:
            M: a maths namespace of :mod:`autograd.ops`.
            values: one value per input (defaults to :attr:`inputs`).

        Returns:
            The output value.
        """
        return self.replay(lambda name, *args: OP[name].forward(M, *args), *values)

    def uses(self) -> list[int]:
        """Return, per slot, how many step arguments read it (2 for ``x*x``)."""
        counts = [0] * (len(self.inputs) + len(self.program))
        for step in self.program:
            for a in step.args:
                if not isinstance(a, Const):
                    counts[a] += 1
        return counts

    def __repr__(self) -> str:
        n = len(self.inputs)
        lines = [f"Expression(inputs={self.inputs!r}, program=["]
        for k, step in enumerate(self.program):
            lines.append(f"    Step({step.op!r}, {step.args!r}),  # v{n + k}")
        lines.append("])")
        return "\n".join(lines)

    def __str__(self) -> str:
        n = len(self.inputs)
        names = [f"v{i}" for i in range(n + len(self.program))]
        text = [", ".join(f"{names[i]}={x!r}" for i, x in enumerate(self.inputs))]
        for k, step in enumerate(self.program):
            args = ", ".join(repr(a.value) if isinstance(a, Const) else names[a] for a in step.args)
            text.append(f"{names[n + k]} = {step.op}({args})")
        return "; ".join(text)


# ----------------------------------------------------------------------------
# Small strategies
# ----------------------------------------------------------------------------


def _row(op: Op | str) -> Op:
    if isinstance(op, Op):
        return op
    if isinstance(op, str) and op in OP:
        return OP[op]
    raise ValueError(f"expected an Op row or the name of one, got {op!r}; known: {sorted(OP)}")


def _intervals(op: Op, index: int) -> tuple[Interval, ...]:
    # An n-ary op gives one domain entry for every input.
    return op.domain[0] if op.arity is None else op.domain[index]


def values_in(op: Op | str, index: int = 0) -> st.SearchStrategy[float]:
    """Floats inside the domain intervals of argument ``index`` of ``op`` (open intervals).

    Args:
        op: a row of the op table, or its name.
        index: which argument (ignored for an n-ary op: one domain serves all).

    Returns:
        A strategy of floats.
    """
    row = _row(op)
    if row.arity is not None and not 0 <= index < row.arity:
        raise ValueError(f"values_in(): {row.name!r} has {row.arity} arguments, no index {index}")
    return st.one_of(
        *[
            st.floats(lo, hi, exclude_min=True, exclude_max=True, allow_nan=False, allow_infinity=False)
            for lo, hi in _intervals(row, index)
        ]
    )


@st.composite
def _arguments(draw: st.DrawFn, row: Op, min_size: int, max_size: int) -> tuple[float, ...]:
    n = row.arity if row.arity is not None else draw(st.integers(min_size, max_size))
    xs = tuple(draw(values_in(row, i)) for i in range(n))
    # Domains are drawn per argument; smooth() also looks at them together (x vs lo/hi, a vs b).
    assume(row.smooth(*xs))
    return xs


def arguments_for(op: Op | str, *, min_size: int = 1, max_size: int = 5) -> st.SearchStrategy[tuple[float, ...]]:
    """Argument tuples for ``op`` inside its domain and away from its kinks (``op.smooth``).

    Args:
        op: a row of the op table, or its name.
        min_size, max_size: how many arguments an n-ary op gets.

    Returns:
        A strategy of tuples of floats, one per argument.
    """
    row = _row(op)
    if not 1 <= min_size <= max_size:
        raise ValueError(f"arguments_for(): need 1 <= min_size <= max_size, got {min_size}, {max_size}")
    return _arguments(row, min_size, max_size)


# ----------------------------------------------------------------------------
# Expressions
# ----------------------------------------------------------------------------


def _inside(x: float, intervals: tuple[Interval, ...]) -> bool:
    return any(lo < x < hi for lo, hi in intervals)


def _fits(row: Op, xs: Sequence[float], spread: Sequence[float]) -> bool:
    """True when every corner of the box xs +- spread lies in the domain and is smooth.

    The smooth predicates measure distances to kinks along lines (x - 0, a - b, x - lo), so
    the corners bound them over the whole box: at most 2**5 corners for five arguments.
    """
    moving = [i for i, s in enumerate(spread) if s > 0.0]
    for signs in itertools.product((-1.0, 1.0), repeat=len(moving)):
        point = list(xs)
        for i, sign in zip(moving, signs):
            point[i] += sign * spread[i]
        if not all(_inside(x, _intervals(row, i)) for i, x in enumerate(point)) or not row.smooth(*point):
            return False
    return True


def _local_grads(row: Op, xs: Sequence[float]) -> tuple[float, list[float]] | None:
    """Forward value and local derivatives on floats, or None where they are not finite."""
    try:
        out = row.forward(FLOAT_MATH, *xs)
        if row.arity is None:
            grads = list(row.grads(FLOAT_MATH, out, *xs))  # type: ignore[operator]
        else:
            grads = [rule(FLOAT_MATH, out, *xs) for rule in row.grads]  # type: ignore[union-attr]
    except FLOAT_ERRORS:
        return None
    if not all(math.isfinite(g) for g in [out, *grads]):
        return None
    return float(out), [float(g) for g in grads]


@st.composite
def _expressions(
    draw: st.DrawFn,
    rows: tuple[Op, ...],
    min_inputs: int,
    max_inputs: int,
    min_ops: int,
    max_ops: int,
    reuse: bool,
    bound: float,
) -> Expression:
    n = draw(st.integers(min_inputs, max_inputs))
    # Each input comes from the domain of some argument of some allowed op.
    inputs = []
    for _ in range(n):
        row = draw(st.sampled_from(rows))
        index = draw(st.integers(0, (row.arity or 1) - 1))
        inputs.append(draw(values_in(row, index)))
    values: list[float] = list(inputs)
    # d(slot)/d(inputs): forward-mode derivatives, to size the margin a finite-difference step needs.
    sensitivity: list[list[float]] = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    consumed = [0] * n
    program: list[Step] = []
    target = draw(st.integers(min_ops, max_ops))
    failures = 0
    while len(program) < target and failures < ATTEMPTS * max(target, 1):
        step = _draw_step(draw, rows, values, sensitivity, consumed, reuse, bound)
        if step is None:
            failures += 1
            continue
        program.append(step[0])
        values.append(step[1])
        sensitivity.append(step[2])
        consumed.append(0)
        for a in step[0].args:
            if not isinstance(a, Const):
                consumed[a] += 1
    # Too few steps fitted (a rare corner of the search space): discard this draw.
    assume(len(program) >= min_ops)
    # Sum what no step consumed (unused inputs too), so the output depends on every input.
    dangling = [i for i, c in enumerate(consumed) if c == 0 and i != len(values) - 1]
    if dangling or not program:
        program.append(Step("sum", (*dangling, len(values) - 1)))
    return Expression(inputs, program)


def _draw_step(
    draw: st.DrawFn,
    rows: tuple[Op, ...],
    values: list[float],
    sensitivity: list[list[float]],
    consumed: list[int],
    reuse: bool,
    bound: float,
) -> tuple[Step, float, list[float]] | None:
    row = draw(st.sampled_from(rows))
    k = row.arity if row.arity is not None else draw(st.integers(1, 5))
    args: list[Arg] = []
    taken: set[int] = set()
    for i in range(k):
        candidates = [
            s
            for s, v in enumerate(values)
            if _inside(v, _intervals(row, i)) and (reuse or (consumed[s] == 0 and s not in taken))
        ]
        # Mostly slots; sometimes a plain number (a constant leaf), always when no slot fits.
        if candidates and draw(st.integers(0, 4)) < 4:
            # Half the time the newest slot, which grows deep chains (and is where shrinking heads).
            s = draw(st.sampled_from(candidates)) if draw(st.booleans()) else candidates[-1]
            args.append(s)
            taken.add(s)
        else:
            args.append(Const(draw(values_in(row, i))))
    if not taken:
        return None
    xs = [a.value if isinstance(a, Const) else values[a] for a in args]
    spread = [
        0.0 if isinstance(a, Const) else STEP_MARGIN * math.fsum(abs(d) for d in sensitivity[a]) for a in args
    ]
    if not _fits(row, xs, spread):
        return None
    result = _local_grads(row, xs)
    if result is None:
        return None
    out, grads = result
    n = len(sensitivity[0])
    derivative = [0.0] * n
    for a, g in zip(args, grads):
        if not isinstance(a, Const):
            for j in range(n):
                derivative[j] += g * sensitivity[a][j]
    if not abs(out) < bound or not all(abs(d) < bound for d in derivative):
        return None
    return Step(row.name, tuple(args)), out, derivative


def expressions(
    *,
    ops: Sequence[Op | str] | None = None,
    min_inputs: int = 1,
    max_inputs: int = 4,
    min_ops: int = 1,
    max_ops: int = 12,
    reuse: bool = True,
    bound: float = BOUND,
) -> st.SearchStrategy[Expression]:
    """Random expression graphs that are safe to check with finite differences.

    Each step applies an op (n-ary ones to 1..5 arguments) to earlier slots
    whose values lie inside the op's domain intervals and satisfy its
    ``smooth`` predicate over the whole range a finite-difference step can
    move them; sometimes an argument is a plain number (a constant leaf).
    Values and each slot's derivatives stay below ``bound`` in magnitude.
    If slots are left unused, a final ``sum`` step adds them to the output so
    every input reaches it.

    Args:
        ops: the rows (or names) to draw from; default every row of ``OPS``.
        min_inputs, max_inputs: how many inputs.
        min_ops, max_ops: how many op steps (before the final ``sum``).
        reuse: let a slot feed several steps (shared subgraphs, ``x*x``);
            with False each slot feeds at most one argument (a tree).
        bound: the largest magnitude of a value or a derivative.

    Returns:
        A strategy of :class:`Expression`.

    Example::

        @given(expressions(ops=["mul", "sin", "exp"], max_inputs=2))
        def test_my_function(expr):
            assert gradcheck(expr, expr.inputs)
    """
    rows = tuple(_row(op) for op in (OPS if ops is None else ops))
    if not rows:
        raise ValueError("expressions(): ops is empty")
    if not 1 <= min_inputs <= max_inputs:
        raise ValueError(f"expressions(): need 1 <= min_inputs <= max_inputs, got {min_inputs}, {max_inputs}")
    if not 0 <= min_ops <= max_ops:
        raise ValueError(f"expressions(): need 0 <= min_ops <= max_ops, got {min_ops}, {max_ops}")
    if not bound > 0:
        raise ValueError(f"expressions(): bound must be positive, got {bound!r}")
    return _expressions(rows, min_inputs, max_inputs, min_ops, max_ops, reuse, bound)
