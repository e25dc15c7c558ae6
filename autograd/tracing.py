"""What autograd.compile does with numbers that leave the graph while it traces a function.

``compile(fn)`` runs ``fn`` once, with the scalar engine, on one sample's
Values, and replays the recorded graph over the whole batch. Whatever fn does
outside the graph runs only for that one sample: a number taken out of a Value
(``v.data``, ``float(v)``, ``bool(v)``, ``v > 0``), a detached copy, an op under
``no_grad``, a Value made from such a number. Replayed naively, each would
freeze the traced sample's value for every sample and every later call.

While a trace runs, the engine hands each of these to the :class:`Tracer` of
that context, which does one of three things:

* **records it in the graph**, so the replay computes it for every sample with
  the right derivative: ``v.detach()`` and ``Value(v.data)`` become
  stop-gradient nodes, an op under ``no_grad`` becomes the op followed by a
  stop-gradient node, ``v.data`` and ``v > 0`` become :class:`TracedNumber`
  objects whose arithmetic is recorded too (a comparison that feeds arithmetic
  is a 0/1 node: a select);
* **records a guard**, a condition the compiled program checks on every row of
  every batch: ``bool(v)`` and ``if v.data > 0`` guard the truth value the
  trace saw, ``float(v)`` guards the number itself; a row that breaks a guard
  is run by another program, traced on such a row;
* **refuses** with :class:`TraceError`, naming what was done and what to write
  instead (``backward()`` inside the function).

A parameter's ``.data`` is a :class:`TracedNumber` too, so the program reads
its current value at every call.
"""

from __future__ import annotations

import math
import numbers
import operator
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.autograd import engine
from chainrule.autograd.engine import CONSTANT, Value, _ieee_forward, _set_edges, constant
from chainrule.autograd.ops import FLOAT_ERRORS, FLOAT_MATH, OP, Op

# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------


class DataDependentGraphError(ValueError):
    """The compiled program cannot stand for fn on some input: fn builds a different graph there."""


class TraceError(DataDependentGraphError):
    """fn did something while being traced that a compiled program cannot replay (raised at trace time)."""


class GuardError(DataDependentGraphError):
    """A batch breaks a guard of the compiled program and ``compile(..., retrace=False)`` forbids retracing."""


# ----------------------------------------------------------------------------
# Ops that exist only in traced graphs
# ----------------------------------------------------------------------------

# NOTE: these rows are not in the op table (ops.OPS): a stop-gradient's
# derivative is 0 by definition, which finite differences would contradict,
# and the comparisons are not differentiable. They follow the table's format,
# so the scalar engine, Value maths and the compiled replay all run them.


def _zero(M: Any, out: Any, *xs: Any) -> float:
    return 0.0


STOP_GRADIENT = Op(
    "stop_gradient", "stop_gradient", 1, lambda M, a: a, (_zero,), (((-3.0, 3.0),),),
    convention="the value passes, the gradient does not (detach, no_grad, .data inside autograd.compile)",
)


def _comparison(name: str, symbol: str, test: str) -> Op:
    def forward(M: Any, a: Any, b: Any) -> Any:
        return M.where(getattr(M, test)(a, b), 1.0, 0.0)

    return Op(name, symbol, 2, forward, (_zero, _zero), (((-3.0, 3.0),), ((-3.0, 3.0),)),
              convention="1.0 where the comparison holds, else 0.0; no gradient")


def _ne_forward(M: Any, a: Any, b: Any) -> Any:
    return M.where(M.eq(a, b), 0.0, 1.0)


COMPARISONS: dict[str, Op] = {
    "gt": _comparison("gt", ">", "gt"),
    "ge": _comparison("ge", ">=", "ge"),
    "lt": _comparison("lt", "<", "lt"),
    "le": _comparison("le", "<=", "le"),
    "eq": _comparison("eq", "==", "eq"),
    "ne": Op("ne", "!=", 2, _ne_forward, (_zero, _zero), (((-3.0, 3.0),), ((-3.0, 3.0),)),
             convention="1.0 where a != b (also where either is nan), else 0.0; no gradient"),
}

# Ops whose every local derivative is 0: nothing flows back through them.
NO_GRADIENT: frozenset[Op] = frozenset({STOP_GRADIENT, *COMPARISONS.values()})

_PYTHON_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le, "eq": operator.eq,
    "ne": operator.ne,
}
_REFLECTED = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq", "ne": "ne"}


# ----------------------------------------------------------------------------
# Guards
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    """A condition the trace relied on; the program checks it on every row of every batch.

    Attributes:
        node: the traced node whose per-sample value is checked.
        expected: the value the trace saw: the number itself for ``kind``
            "value", the truth value (1.0 or 0.0) for ``kind`` "truth".
        kind: "value" (the node must equal ``expected`` bit for bit; nan
            matches nan) or "truth" (``node != 0`` must equal ``expected``).
        what: what fn did, for error messages (``bool(x.data > 0)``).
        site: where fn did it (``file.py:12 in loss``).
    """

    node: Value
    expected: float
    kind: str
    what: str
    site: str

    def describe(self) -> str:
        """One line for error messages."""
        if self.kind == "truth":
            seen = "true" if self.expected else "false"
        else:
            seen = repr(self.expected)
        return f"{self.what} at {self.site} (the trace saw {seen})"


def _site() -> str:
    """The first frame outside autograd's own code: the line of fn (or of nn) that did it."""
    frame = sys._getframe(1)
    while frame is not None:
        if not frame.f_globals.get("__name__", "").startswith("chainrule.autograd"):
            code = frame.f_code
            return f"{code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno} in {code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>"


# ----------------------------------------------------------------------------
# The tracer
# ----------------------------------------------------------------------------

_LOCK = threading.Lock()


def _raw(v: Value) -> float:
    """A node's value as a plain float (the tracer itself never sees TracedNumbers)."""
    return v._data


class Tracer:
    """Collects what one trace of fn did outside the graph: guards, and the nodes that replace frozen numbers.

    The engine calls its methods only while it is the current context's tracer
    (see :func:`tracing`).
    """

    def __init__(self) -> None:
        self.guards: list[Guard] = []
        self.active = True
        self._stopped: dict[Value, Value] = {}

    # -- recording --------------------------------------------------------

    def stop(self, v: Value) -> Value:
        """A stop-gradient node of v: v's value per sample, no gradient (one per v)."""
        node = self._stopped.get(v)
        if node is None:
            node = self._stopped[v] = _make(STOP_GRADIENT, (v,), _raw(v))
        return node

    def detach(self, v: Value) -> Value:
        """``v.detach()`` while tracing: a stop-gradient node (a new object, labelled like v)."""
        node = _make(STOP_GRADIENT, (v,), _raw(v))
        node._meta = (v._meta[0], v._meta[1], STOP_GRADIENT)  # v's label and scope
        return node

    def read(self, v: Value) -> TracedNumber | float:
        """``v.data`` while tracing: a TracedNumber, or a plain float for a constant (it cannot vary)."""
        if v.role is CONSTANT:
            return _raw(v)
        return TracedNumber(self.stop(v), self)

    def compare(self, name: str, a: Any, b: Any) -> TracedNumber | bool:
        """``a < b`` (and the other comparisons) of Values while tracing: a 0/1 TracedNumber."""
        a_node, a_value = _operand(a)
        b_node, b_value = _operand(b)
        result = _PYTHON_COMPARE[name](a_value, b_value)
        if a_node is None and b_node is None:
            return result
        node = _record(COMPARISONS[name], a if a_node is None else a_node, b if b_node is None else b_node)
        return TracedNumber(node, self, is_bool=True)

    def no_grad_result(self, v: Value, op: Op, args: tuple[Value, ...]) -> None:
        """An op ran under no_grad: make its result leaf v the stop-gradient of the op instead."""
        inner = _make(op, args, _raw(v))
        inner._meta = (v._meta[0], v._meta[1], op)  # v's label and scope
        _set_edges(v, STOP_GRADIENT, (inner,), (0.0,))

    def node_of(self, x: object) -> Value | None:
        """The node standing for x when x is a TracedNumber of an active trace, else None."""
        if type(x) is TracedNumber and x._tracer.active:
            return x.node
        return None

    def init_from(self, v: Value, x: object, label: str) -> bool:
        """``Value(x)`` for a TracedNumber x: make v a stop-gradient node of x's node; False for anything else."""
        node = self.node_of(x)
        if node is None:
            return False
        Value.__init__(v, _raw(node), label)
        _set_edges(v, STOP_GRADIENT, (node,), (0.0,))
        return True

    # -- guards -----------------------------------------------------------

    def escape(self, v: Value, how: str) -> float:
        """A number leaves the graph (``float(v)``): guard that it is the same on every row.

        Args:
            v: the node whose value leaves.
            how: the function that takes it out ("float"), for error messages.
        """
        value = _raw(v)
        if v.role is not CONSTANT:
            self.guards.append(Guard(v, value, "value", f"{how}({describe(v)})", _site()))
        return value

    def truth(self, v: Value, how: str = "bool") -> bool:
        """``bool()`` of a traced value steers Python (an ``if``): guard its truth value on every row."""
        value = _raw(v)
        result = value != 0.0
        if v.role is not CONSTANT:
            self.guards.append(Guard(v, 1.0 if result else 0.0, "truth", f"{how}({describe(v)})", _site()))
        return result

    # -- refusals ---------------------------------------------------------

    @staticmethod
    def refuse(what: str, advice: str) -> None:
        """Raise TraceError naming what fn did and how to write it instead."""
        raise TraceError(f"compile(): {what} at {_site()} cannot be compiled: {advice}")


def describe(v: Value, depth: int = 3) -> str:
    """A short expression for a traced node, for error messages: ``x[0].data > 0.0``."""
    op = v.primitive
    if op is None:
        return repr(_raw(v)) if v.role is CONSTANT or not v.label else v.label
    args = v.parents
    if depth == 0:
        return v.label or f"<{op.name}>"
    if op is STOP_GRADIENT:
        return f"{describe(args[0], depth)}.data"
    if op in NO_GRADIENT or op.symbol in ("+", "-", "*", "/", "**"):
        return f"({describe(args[0], depth - 1)} {op.symbol} {describe(args[1], depth - 1)})" if depth < 3 else (
            f"{describe(args[0], depth - 1)} {op.symbol} {describe(args[1], depth - 1)}")
    if v.label:
        return v.label
    return f"{op.name}({', '.join(describe(a, depth - 1) for a in args[:3])}{', ...' if len(args) > 3 else ''})"


def _make(op: Op, args: tuple[Value, ...], value: float) -> Value:
    """A recorded node (zero local derivatives: it sits behind a stop-gradient, or is one)."""
    v = Value(float(value))
    _set_edges(v, op, args, (0.0,) * len(args))
    return v


def _record(op: Op, *operands: Any) -> Value:
    """Apply op to nodes and plain numbers and record the node, whatever the grad and anomaly modes.

    TracedNumber arithmetic is Python float arithmetic with a history: it
    must neither raise AnomalyError (Python gives inf quietly) nor lose its
    parents under no_grad.
    """
    args = tuple(x if isinstance(x, Value) else constant(float(x)) for x in operands)
    xs = [_raw(a) for a in args]
    try:
        out = op.forward(FLOAT_MATH, *xs)
    except FLOAT_ERRORS:
        out = _ieee_forward(op, xs)
    return _make(op, args, out)


@contextmanager
def tracing() -> Iterator[Tracer]:
    """Run a trace: the engine's hooks report to a new Tracer in this context until the block ends."""
    tracer = Tracer()
    token = engine.TRACER.set(tracer)
    with _LOCK:
        engine._start_trace()
    try:
        yield tracer
    finally:
        tracer.active = False
        engine.TRACER.reset(token)
        with _LOCK:
            engine._end_trace()


# ----------------------------------------------------------------------------
# Numbers with a history
# ----------------------------------------------------------------------------


def _operand(x: Any) -> tuple[Value | None, Any]:
    """(node or None, plain value) of a Value, a TracedNumber or a plain number."""
    if isinstance(x, TracedNumber):
        return x.node, x.value
    if isinstance(x, Value):
        return (None, _raw(x)) if x.role is CONSTANT else (x, _raw(x))
    return None, x


def _arith(name: str, python: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[[Any, Any], Any]:
    op = OP[name]

    def method(self: TracedNumber, other: Any) -> Any:
        if isinstance(other, Value):
            return NotImplemented  # Value's reflected operator records it as a Value op
        if not self._tracer.active:
            a, b = (other, self.value) if reflected else (self.value, other)
            return python(a, b)
        if isinstance(other, TracedNumber):
            other_node, other_value = other.node, other.value
        elif isinstance(other, (numbers.Real, bool)) and not isinstance(other, complex):
            other_node, other_value = None, other
        else:
            return NotImplemented
        a, b = (other_value, self.value) if reflected else (self.value, other_value)
        result = python(a, b)  # raises where Python's floats raise (x / 0), as the scalar run would
        if not isinstance(result, (int, float)) or isinstance(result, complex):
            return self._escaped(python, other, reflected)
        left, right = (other_node if other_node is not None else float(other_value), self.node)
        if not reflected:
            left, right = right, left
        node = _record(op, left, right)
        if _raw(node) != result and not (result != result and _raw(node) != _raw(node)):
            return self._escaped(python, other, reflected)  # the op's IEEE rule and Python disagree: guard
        return TracedNumber(node, self._tracer)

    return method


class TracedNumber:
    """A number taken out of a Value while autograd.compile traces fn: ``x.data``, ``x > 0``.

    It behaves like the float (or bool) it stands for, and remembers the node
    that computes it, so the compiled program computes it for every sample:
    arithmetic on it is recorded (``x.data * 2`` is a node, ``Value(x.data)``
    a stop-gradient node); ``bool()`` of it, ``if x.data > 0:``, guards the
    truth value the trace saw on every row; turning it into a plain number
    (``float()``, ``math.exp``, formatting) guards its exact value.

    Attributes:
        node: the traced node computing the number (no gradient flows through it).
        value: the number in the traced sample.
    """

    __slots__ = ("node", "_tracer", "is_bool")

    def __init__(self, node: Value, tracer: Tracer, *, is_bool: bool = False) -> None:
        self.node = node
        self._tracer = tracer
        self.is_bool = is_bool

    @property
    def value(self) -> Any:
        """The traced sample's number (a bool for a comparison)."""
        v = _raw(self.node)
        return (v != 0.0) if self.is_bool else v

    def _guard(self, what: str) -> float:
        if not self._tracer.active:
            return _raw(self.node)
        return self._tracer.escape(self.node, what)

    def _escaped(self, python: Callable[[Any, Any], Any], other: Any, reflected: bool) -> Any:
        mine = self._guard("an operator on")
        theirs = other._guard("an operator on") if isinstance(other, TracedNumber) else other
        if self.is_bool:
            mine = bool(mine)
        return python(theirs, mine) if reflected else python(mine, theirs)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """numpy on a TracedNumber: arithmetic, comparisons and the op table's functions are recorded
        (``np.exp(x.data)`` is an exp node); anything else takes the numbers out (a guard on each)."""
        plain = [float(x) if isinstance(x, np.generic) and not isinstance(x, np.bool_) else x for x in inputs]
        if method == "__call__" and not kwargs and self._tracer.active:
            python = _UFUNC_OPERATORS.get(ufunc)
            if python is not None:
                return python(*plain)
            row = _UFUNC_ROWS.get(ufunc)
            if row is not None and len(plain) == OP[row].arity:
                recorded = self._row(row, plain)
                if recorded is not None:
                    return recorded
        guarded = [x._guard(f"numpy.{ufunc.__name__}") if isinstance(x, TracedNumber) else x for x in plain]
        return getattr(ufunc, method)(*guarded, **kwargs)

    # -- what steers Python: guards -----------------------------------------

    def __bool__(self) -> bool:
        if not self._tracer.active:
            return bool(_raw(self.node))
        return self._tracer.truth(self.node, "bool")

    def __float__(self) -> float:
        return self._guard("float")

    def __int__(self) -> int:
        return int(self._guard("int"))

    def __index__(self) -> int:
        if not self.is_bool:
            raise TypeError("'float' object cannot be interpreted as an integer")
        return int(self._guard("an index"))

    def __round__(self, ndigits: int | None = None) -> Any:
        return round(self._guard("round"), ndigits)

    def __trunc__(self) -> int:
        return math.trunc(self._guard("math.trunc"))

    def __floor__(self) -> int:
        return math.floor(self._guard("math.floor"))

    def __ceil__(self) -> int:
        return math.ceil(self._guard("math.ceil"))

    def __hash__(self) -> int:
        return hash(self._guard("hash"))

    def __format__(self, spec: str) -> str:
        value = self._guard("format")
        return format(bool(value) if self.is_bool else value, spec)

    def __str__(self) -> str:
        return format(self, "")

    def __repr__(self) -> str:
        return f"TracedNumber({self.value!r})"

    # -- recorded arithmetic -------------------------------------------------

    __add__ = _arith("add", operator.add)
    __radd__ = _arith("add", operator.add, reflected=True)
    __sub__ = _arith("sub", operator.sub)
    __rsub__ = _arith("sub", operator.sub, reflected=True)
    __mul__ = _arith("mul", operator.mul)
    __rmul__ = _arith("mul", operator.mul, reflected=True)
    __truediv__ = _arith("div", operator.truediv)
    __rtruediv__ = _arith("div", operator.truediv, reflected=True)
    __pow__ = _arith("pow", operator.pow)
    __rpow__ = _arith("pow", operator.pow, reflected=True)

    def __neg__(self) -> Any:
        return self._unary("neg", operator.neg)

    def __pos__(self) -> Any:
        return self if not self.is_bool else self._unary_via_mul(1.0)

    def __abs__(self) -> Any:
        return self._unary("abs", abs)

    def _unary(self, name: str, python: Callable[[Any], Any]) -> Any:
        if not self._tracer.active:
            return python(self.value)
        return TracedNumber(_record(OP[name], self.node), self._tracer)

    def _row(self, name: str, inputs: list[Any]) -> TracedNumber | None:
        """An op row of TracedNumbers and plain numbers, recorded; None for anything else (a bool too)."""
        args: list[Value | float] = []
        for x in inputs:
            if isinstance(x, TracedNumber) and not x.is_bool and x._tracer is self._tracer:
                args.append(x.node)
            elif isinstance(x, (int, float)) and not isinstance(x, bool):
                args.append(float(x))
            else:
                return None
        return TracedNumber(_record(OP[name], *args), self._tracer)

    def _unary_via_mul(self, factor: float) -> Any:
        return self * factor

    # Floor division and modulo have no op row: the number leaves the graph (a guard).
    def __floordiv__(self, other: Any) -> Any:
        return self._escaped(operator.floordiv, other, False)

    def __rfloordiv__(self, other: Any) -> Any:
        return self._escaped(operator.floordiv, other, True)

    def __mod__(self, other: Any) -> Any:
        return self._escaped(operator.mod, other, False)

    def __rmod__(self, other: Any) -> Any:
        return self._escaped(operator.mod, other, True)

    def __divmod__(self, other: Any) -> Any:
        return self._escaped(divmod, other, False)

    def __rdivmod__(self, other: Any) -> Any:
        return self._escaped(divmod, other, True)

    # -- comparisons: recorded as 0/1 nodes; bool() of them is a guard ---------

    def _compare(self, name: str, other: Any) -> Any:
        if isinstance(other, Value):
            return NotImplemented
        if not self._tracer.active:
            theirs = other.value if isinstance(other, TracedNumber) else other
            return _PYTHON_COMPARE[name](self.value, theirs)
        if not isinstance(other, (numbers.Real, bool, TracedNumber)) or isinstance(other, complex):
            return NotImplemented
        return self._tracer.compare(name, self, other)

    def __gt__(self, other: Any) -> Any:
        return self._compare("gt", other)

    def __ge__(self, other: Any) -> Any:
        return self._compare("ge", other)

    def __lt__(self, other: Any) -> Any:
        return self._compare("lt", other)

    def __le__(self, other: Any) -> Any:
        return self._compare("le", other)

    def __eq__(self, other: object) -> Any:
        return self._compare("eq", other)

    def __ne__(self, other: object) -> Any:
        return self._compare("ne", other)

    # -- logic on comparisons ------------------------------------------------

    def _logic(self, other: Any, name: str) -> Any:
        if not (self.is_bool and isinstance(other, TracedNumber) and other.is_bool) or not self._tracer.active:
            python = {"and": operator.and_, "or": operator.or_, "xor": operator.xor}[name]
            theirs = other if not isinstance(other, TracedNumber) else other._guard_bool()
            return python(self._guard_bool(), theirs)
        if name == "and":
            node = _record(OP["mul"], self.node, other.node)
        elif name == "or":
            node = _record(OP["maximum"], self.node, other.node)
        else:
            node = _record(COMPARISONS["ne"], self.node, other.node)
        return TracedNumber(node, self._tracer, is_bool=True)

    def _guard_bool(self) -> Any:
        value = self._guard("an operator on")
        return bool(value) if self.is_bool else value

    def __and__(self, other: Any) -> Any:
        return self._logic(other, "and")

    __rand__ = __and__

    def __or__(self, other: Any) -> Any:
        return self._logic(other, "or")

    __ror__ = __or__

    def __xor__(self, other: Any) -> Any:
        return self._logic(other, "xor")

    __rxor__ = __xor__


numbers.Real.register(TracedNumber)

_UFUNC_OPERATORS: dict[Any, Callable[..., Any]] = {
    np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul, np.true_divide: operator.truediv,
    np.power: operator.pow, np.negative: operator.neg, np.positive: operator.pos, np.absolute: abs,
    np.greater: operator.gt, np.greater_equal: operator.ge, np.less: operator.lt, np.less_equal: operator.le,
    np.equal: operator.eq, np.not_equal: operator.ne,
}
# numpy functions that are op rows: recorded as that row (the replay runs the row's numpy forward).
_UFUNC_ROWS: dict[Any, str] = {
    np.exp: "exp", np.log: "log", np.sqrt: "sqrt", np.tanh: "tanh", np.sin: "sin", np.cos: "cos",
    np.log1p: "log1p", np.log2: "log2", np.log10: "log10", np.expm1: "expm1", np.exp2: "exp2", np.tan: "tan",
    np.sinh: "sinh", np.cosh: "cosh", np.arcsin: "asin", np.arccos: "acos", np.arctan: "atan",
    np.arcsinh: "asinh", np.arccosh: "acosh", np.arctanh: "atanh", np.reciprocal: "reciprocal",
    np.floor: "floor", np.ceil: "ceil", np.rint: "round", np.trunc: "trunc", np.sign: "sign",
    np.arctan2: "atan2", np.hypot: "hypot", np.fmod: "fmod", np.remainder: "remainder", np.copysign: "copysign",
    np.logaddexp: "logaddexp", np.maximum: "maximum", np.minimum: "minimum",
}


__all__ = [
    "COMPARISONS",
    "NO_GRADIENT",
    "STOP_GRADIENT",
    "DataDependentGraphError",
    "Guard",
    "GuardError",
    "TraceError",
    "TracedNumber",
    "Tracer",
    "tracing",
]
