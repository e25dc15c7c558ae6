"""The engine: ``Value`` nodes, applying ops from the table, and the backward walk.

A ``Value`` records, when it is made, its op, its parents (an ordered tuple:
``x*x`` has two edges) and the local derivative along each edge. The chain
rule lives in one place, ``_propagate``: walk the graph in reverse
topological order and add ``local_grad * upstream`` to each parent.
"""

from __future__ import annotations

import builtins
import contextvars
import math
import numbers
import operator
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, Union

import numpy as np

from chainrule.autograd.collector import defer_gc
from chainrule.autograd.modes import CONSTANT, PARAMETER, VARIABLE, Meta, Mode, get_mode, mode_of, reset_mode, set_mode
from chainrule.autograd.ops import FLOAT_ERRORS, FLOAT_MATH, NUMPY_MATH, OP, Op

# Roles (defined in modes.py, with the Place that holds them). Intermediate
# nodes and user leaves are variables; plain numbers mixed into an expression
# become constants (no derivative is computed for them); nn marks its weights
# and biases as parameters.
_ROLES = {VARIABLE: VARIABLE, CONSTANT: CONSTANT, PARAMETER: PARAMETER}  # any equal str -> the shared one


# Union, not a quoted "Value | int | float": tools that evaluate annotations (pdoc) need `Operand | None` to work.
Operand: TypeAlias = Union["Value", int, float]

_EMPTY: tuple[Any, ...] = ()


class AnomalyError(FloatingPointError):
    """Raised under ``detect_anomaly()`` at the first op or gradient that makes nan or inf."""


# ----------------------------------------------------------------------------
# Hooks for autograd.compile's tracer (autograd/tracing.py)
# ----------------------------------------------------------------------------

# NOTE: autograd.compile traces a per-sample function once with this engine and
# replays the graph over a batch. A number that leaves the graph while it
# traces (float(v), v.detach(), an op under no_grad, Value(number)) would
# freeze the traced sample's value for every sample. While a trace runs,
# TRACER holds the tracer of that thread or task, and the few places below
# that let a number out hand it over. `_tracing` counts the traces running in
# any thread: while it is 0 (always, outside compile) a hook costs one read
# of a module global, and the hooks sit off the hot paths (slow paths for
# non-float numbers, the no_grad branch, float(), detach, backward).
TRACER: contextvars.ContextVar[Any] = contextvars.ContextVar("chainrule_tracer", default=None)
_tracing = 0
# How many times a Value's .data has been assigned (any Value): a compiled program that holds its
# parameters' numbers skips reading them again while this has not moved (autograd/program.py).
data_writes = 0


def _trace_no_grad(v: Value, op: Op, args: tuple[Value, ...]) -> None:
    """Under no_grad op made the leaf v: while tracing, make v stop_gradient(op(args)) instead."""
    tracer = TRACER.get()
    if tracer is not None:
        tracer.no_grad_result(v, op, args)


def _number_to_float(x: object, what: str) -> float:
    """Convert a real number to float, or raise a TypeError saying what was expected."""
    if type(x) is float:
        return x
    if isinstance(x, (numbers.Real, np.bool_)) and not isinstance(x, np.ndarray):
        try:
            return float(x)
        except OverflowError:  # an int too big for a float: IEEE-754 rounds to inf
            return math.inf if x > 0 else -math.inf  # type: ignore[operator]
    if isinstance(x, (complex, np.complexfloating)):
        raise TypeError(f"{what}: complex numbers are not supported, got {x!r}")
    if isinstance(x, np.ndarray):
        raise TypeError(f"{what}: expected a real number, got a numpy array of shape {x.shape}; "
                        "use .item() for a single number or build one Value per element")
    expected = "a Value or a real number" if what.startswith("unsupported operand") else "a real number"
    raise TypeError(f"{what}: expected {expected} (int or float), got {type(x).__name__} {x!r:.60}")


def _compared(x: object) -> Any:
    """The number a comparison reads from x (a Value's .data), or None for anything else."""
    if isinstance(x, Value):
        return x._data
    if type(x) is float or type(x) is int:  # Python compares these exactly, even huge ints
        return x
    if isinstance(x, (numbers.Real, np.bool_)) and not isinstance(x, np.ndarray):
        return _number_to_float(x, "comparison")  # numpy scalars: a plain bool, not np.bool_
    return None


def _format_number(x: float) -> str:
    text = f"{x:.4g}"
    if text.lstrip("-").isdigit():
        text += ".0"
    return text


# ----------------------------------------------------------------------------
# Making nodes
# ----------------------------------------------------------------------------

_new_object = object.__new__


class _Many:
    """Marks a node whose parents and local derivatives are stored as tuples (arity > 2)."""

    def __repr__(self) -> str:
        return "<many>"


_MANY: Any = _Many()

_DEFER_GC = defer_gc()  # one shared instance: defer_gc keeps its state per process, not per object


def _leaf(data: float, meta: Meta) -> Value:
    v = _new_object(Value)
    v._data = data
    v.grad = 0.0
    v._meta = meta
    v._a = None
    v._b = None
    v._ga = 0.0
    v._gb = 0.0
    v._n = 0
    return v


def _set_edges(v: Value, op: Op, args: tuple[Value, ...], grads: tuple[float, ...]) -> None:
    meta = v._meta
    if meta[2] is not op:
        v._meta = (meta[0], meta[1], op)
    for a in args:
        if a._a is not None:
            a._n += 1
    if len(args) == 1:
        v._a = args[0]
        v._ga = grads[0]
    elif len(args) == 2:
        v._a, v._b = args
        v._ga, v._gb = grads
    else:
        v._a = args
        v._b = _MANY
        v._ga = grads


def constant(x: object, what: str = "operand") -> Value:
    """Return a constant leaf for a plain number (no gradient is computed for it)."""
    if _tracing and type(x) is not float:
        tracer = TRACER.get()
        node = None if tracer is None else tracer.node_of(x)  # x.data while tracing: its node
        if node is not None:
            return node
    return _leaf(_number_to_float(x, what), get_mode().constant)


def _as_value(x: object, op: Op) -> Value:
    if type(x) is Value:
        return x
    if isinstance(x, Value):  # a subclass
        return x
    return constant(x, f"unsupported operand for {op.symbol}")


def _zero_constants(args: Sequence[Value], grads: Sequence[Any]) -> tuple[Any, ...]:
    """The local derivatives with 0.0 for every constant input (constants take no derivative)."""
    # NOTE: a loop over a copy, not a comprehension: ~30% fewer instructions for a neuron's inputs.
    out = list(grads)
    i = 0
    for a in args:  # NOTE: a counter, not enumerate(): no (i, a) tuple to unpack per input
        if a._meta[2] is CONSTANT:
            out[i] = 0.0
        i += 1
    return tuple(out)


def _all_constants(values: Sequence[Value]) -> bool:
    """Whether every value is a constant."""
    # NOTE: a loop, not all() over a generator: a third of the instructions for a neuron's few inputs.
    for v in values:
        if v._meta[2] is not CONSTANT:
            return False
    return True


def _local_grads(op: Op, M: Any, out: Any, xs: Sequence[Any], args: Sequence[Value]) -> tuple[Any, ...]:
    """Local derivatives of ``op`` at ``xs`` by its rules (0.0 for constant inputs, never computed)."""
    if op.arity is None:
        return _zero_constants(args, op.grads(M, out, *xs))  # type: ignore[operator]
    return tuple([
        0.0 if a._meta[2] is CONSTANT else rule(M, out, *xs)
        for a, rule in zip(args, op.grads)  # type: ignore[arg-type]
    ])


def _ieee_forward(op: Op, xs: Sequence[float]) -> float:
    """Recompute a forward with numpy float64 scalars, which give inf/nan where math raises."""
    with np.errstate(all="ignore"):
        return float(op.forward(NUMPY_MATH, *(np.float64(x) for x in xs)))


def _ieee_grads(op: Op, out: float, xs: Sequence[float], args: Sequence[Value]) -> tuple[float, ...]:
    """Recompute local derivatives with numpy float64 scalars (the forward value is kept)."""
    with np.errstate(all="ignore"):
        ys = [np.float64(x) for x in xs]
        return tuple(float(g) for g in _local_grads(op, NUMPY_MATH, np.float64(out), ys, args))


def _forward(op: Op, xs: Sequence[float]) -> float:
    """The op's forward on floats by its rule (numpy float64 where math raises)."""
    try:
        return op.forward(FLOAT_MATH, *xs)
    except FLOAT_ERRORS:
        return _ieee_forward(op, xs)


def _by_rules(op: Op, xs: Sequence[float], args: Sequence[Value]) -> tuple[float, tuple[float, ...]]:
    """Forward and local derivatives by the row's rules, one call per rule (numpy where math raises)."""
    out = _forward(op, xs)
    try:
        return out, _local_grads(op, FLOAT_MATH, out, xs, args)
    except FLOAT_ERRORS:
        return out, _ieee_grads(op, out, xs, args)


def _describe_input(a: Value) -> str:
    return a.label or f"<{a.op or a.role}>"


def _raise_anomaly(op: Op, args: Sequence[Value], out: float, grads: Sequence[float]) -> None:
    inputs = ", ".join(f"{_describe_input(a)}={a._data!r}" for a in args)
    if not math.isfinite(out):
        what = f"produced {out!r}"
    else:
        bad = [i for i, g in enumerate(grads) if not math.isfinite(g)]
        what = f"has local derivative {grads[bad[0]]!r} for input {bad[0]}"
    raise AnomalyError(f"anomaly: op '{op.name}' {what} from inputs ({inputs})")


def _check_finite(op: Op, args: Sequence[Value], out: float, grads: Sequence[float]) -> None:
    """Under anomaly mode: raise AnomalyError if the output or a local derivative is nan or inf."""
    if not (math.isfinite(out) and all(map(math.isfinite, grads))):
        _raise_anomaly(op, args, out, grads)


def _unrecorded(op: Op, xs: Sequence[float], args: tuple[Value, ...], mode: Mode, constant: bool) -> Value:
    """An op that records no edges, as a leaf: under no_grad, or on constants only (then a constant)."""
    out = _forward(op, xs)
    if mode.anomaly:
        _check_finite(op, args, out, _EMPTY)
    v = _leaf(out, mode.constant if constant else mode.variable)
    if _tracing and not mode.grad_enabled and not constant:
        _trace_no_grad(v, op, args)
    return v


def apply(op: Op, *operands: Operand) -> Value:
    """Apply a row of the op table to Values or plain numbers and record the node.

    Plain numbers become constant leaves. Under ``no_grad`` the result is a
    leaf. Under ``detect_anomaly`` a non-finite output or local derivative
    raises ``AnomalyError``.
    """
    if op.arity is not None and len(operands) != op.arity:
        raise TypeError(f"op '{op.name}' takes {op.arity} inputs, got {len(operands)}")
    args: tuple[Value, ...] = operands  # type: ignore[assignment]
    xs = []
    constants = 0
    try:
        # NOTE: one pass over the inputs reads their values and counts the constants.
        for a in args:
            xs.append(a._data)
            if a._meta[2] is CONSTANT:
                constants += 1
    except AttributeError:  # a plain number among them: a constant leaf
        args = tuple([_as_value(x, op) for x in operands])
        xs = [a._data for a in args]
        constants = [a.role for a in args].count(CONSTANT)
    mode = get_mode()
    if not mode.grad_enabled or constants == len(args):
        return _unrecorded(op, xs, args, mode, constants == len(args))
    fused = op.float_rule
    out: float
    grads: tuple[float, ...]
    if fused is None:
        out, grads = _by_rules(op, xs, args)
    else:
        try:  # the row's float_rule: the same numbers in one call
            if op.arity is None:
                out, grads = fused(*xs)
            else:
                out, *rest = fused(*xs)
                grads = tuple(rest)
            if constants:  # constants take no derivative
                grads = _zero_constants(args, grads)
        except FLOAT_ERRORS:
            out, grads = _by_rules(op, xs, args)
    if mode.anomaly:
        _check_finite(op, args, out, grads)
    v = _leaf(out, mode.place.ops[op])
    _set_edges(v, op, args, grads)
    return v


def _binary(op: Op, reflected: bool = False) -> Callable[[Value, Operand], Value]:
    """Make the operator method for a binary row (the hot path of the engine)."""
    fused = op.float_rule
    forward = op.forward
    d0, d1 = op.grads  # type: ignore[misc]
    name = op.name
    what = f"unsupported operand for {op.symbol}"
    M = FLOAT_MATH
    # NOTE: the body repeats apply() for two inputs without its generic
    # tuples: this is the engine's hot path.

    def method(a: Value, b: Operand) -> Value:
        if type(b) is not Value:
            b = b if isinstance(b, Value) else constant(b, what)
        x = a._data
        y = b._data
        mode = get_mode()
        a_role = a._meta[2]
        b_role = b._meta[2]
        if not mode.grad_enabled or (a_role is CONSTANT and b_role is CONSTANT):
            return _unrecorded(op, (x, y), (a, b), mode, a_role is CONSTANT and b_role is CONSTANT)
        try:
            if fused is not None:  # the row's float_rule: the same numbers in one call
                out, ga, gb = fused(x, y)
                if a_role is CONSTANT:
                    ga = 0.0
                elif b_role is CONSTANT:
                    gb = 0.0
            else:
                out = forward(M, x, y)
                ga = 0.0 if a_role is CONSTANT else d0(M, out, x, y)
                gb = 0.0 if b_role is CONSTANT else d1(M, out, x, y)
        except FLOAT_ERRORS:
            out, (ga, gb) = _by_rules(op, (x, y), (a, b))
        if mode.anomaly:
            _check_finite(op, (a, b), out, (ga, gb))
        v = _new_object(Value)
        v._data = out
        v.grad = 0.0
        v._meta = mode.place.ops[op]
        v._a = a
        v._b = b
        v._ga = ga
        v._gb = gb
        v._n = 0
        if a._a is not None:
            a._n += 1
        if b._a is not None:
            b._n += 1
        return v

    if not reflected:
        method.__name__ = f"__{name}__"
        return method

    def reflected_method(self: Value, other: Operand) -> Value:  # other <op> self
        return method(other if isinstance(other, Value) else constant(other, what), self)

    reflected_method.__name__ = f"__r{name}__"
    return reflected_method


def _unary(op: Op) -> Callable[[Value], Value]:
    """Make the method for a unary row (as _binary, for one input)."""
    fused = op.float_rule
    forward = op.forward
    (d0,) = op.grads  # type: ignore[misc]
    name = op.name
    M = FLOAT_MATH

    def method(self: Value) -> Value:  # apply() for one input, without its tuples
        x = self._data
        mode = get_mode()
        if not mode.grad_enabled or self._meta[2] is CONSTANT:
            return _unrecorded(op, (x,), (self,), mode, self._meta[2] is CONSTANT)
        try:
            if fused is not None:
                out, ga = fused(x)
            else:
                out = forward(M, x)
                ga = d0(M, out, x)
        except FLOAT_ERRORS:
            out, (ga,) = _by_rules(op, (x,), (self,))
        if mode.anomaly:
            _check_finite(op, (self,), out, (ga,))
        v = _new_object(Value)
        v._data = out
        v.grad = 0.0
        v._meta = mode.place.ops[op]
        v._a = self
        v._b = None
        v._ga = ga
        v._gb = 0.0
        v._n = 0
        if self._a is not None:
            self._n += 1
        return v

    method.__name__ = name
    method.__doc__ = f"Return {name}(self) as a new node."
    if op.convention:
        method.__doc__ += f" Convention: {op.convention}."
    return method


def _binary_method(op: Op) -> Callable[[Value, Operand], Value]:
    """The method ``self.<op>(other)`` for a binary row (``x.atan2(y)``): _binary, named and documented."""
    method = _binary(op)
    method.__name__ = op.name
    method.__doc__ = f"Return {op.name}(self, other) as a new node."
    if op.convention:
        method.__doc__ += f" Convention: {op.convention}."
    return method


# The generic methods of the hottest rows. Value's own +, -, *, tanh and relu
# (below) take the fast path for the common case and hand everything else to these.
_generic_add = _binary(OP["add"])
_generic_sub = _binary(OP["sub"])
_generic_mul = _binary(OP["mul"])
_generic_tanh = _unary(OP["tanh"])
_generic_relu = _unary(OP["relu"])
_ADD, _SUB, _MUL, _TANH, _RELU = OP["add"], OP["sub"], OP["mul"], OP["tanh"], OP["relu"]
_math_tanh = math.tanh  # a module global: one lookup, not two
_DOT = OP["dot"]
_mul = operator.mul
_float_sum = builtins.sum  # this module defines its own sum() below
# Before Python 3.12, sum() of floats adds them left to right, so sum(products) + bias is bit for bit
# sum([*products, bias]); 3.12's sum() compensates its rounding, so there the bias must be among the terms.
_SUM_ADDS_IN_ORDER = sys.version_info < (3, 12)


class Value:
    """A scalar node of the computation graph.

    Args:
        data: a real number (int, float, bool or a numpy scalar). Ints too big
            for a float become +-inf, as in NumPy.
        label: a name shown in reprs, errors and diagrams.

    Attributes:
        data: the forward value (a float).
        grad: d(output)/d(this node), summed over every ``backward()`` call.
        label: the display name.
        op: the name of the op that made this node ('' for a leaf).
        parents: the op's inputs, in order (``x*x`` has ``(x, x)``).
        local_grads: d(this)/d(parent) for each parent, recorded when the node
            was made (0.0 for a constant parent: none is computed for it).
        role: "variable", "constant" (a plain number in an expression) or
            "parameter" (marked by nn).
        scope: the module path the node was made in (see ``autograd.scope``).

    Comparisons ``<``, ``<=``, ``>``, ``>=`` with a Value or a number compare
    ``.data`` and return a plain bool (no node, no gradient), so ``max(v, 1)``
    and ``if v > 0:`` work; ``bool(v)`` is ``v.data != 0``, as for a 0-dim
    tensor. ``==`` and ``!=`` stay identity, as for any object: Values are
    dictionary keys (gradients, traces), so ``v == 1.0`` is False even when
    ``v.data == 1.0``; compare ``v.data`` for numbers.
    """

    # NOTE: parents and local derivatives are stored flat (_a, _b, _ga, _gb) for
    # nodes of one or two inputs, and as tuples in _a/_ga (with _b = _MANY) for
    # more. A tuple per node would be one more object for Python's garbage
    # collector to traverse and ~56 more bytes; `parents` and `local_grads`
    # rebuild the tuples on access.
    # _meta is (label, scope, what), what being the Op that made the node or a
    # leaf's role: unlabelled nodes share their place's tuple (modes.Place),
    # so the three cost one slot. Eight slots fit CPython's 96-byte allocation
    # class; ten took the 112-byte one, which made building a graph ~25%
    # slower (benchmarks/README.md, issue 14).
    # _n counts the edges recorded into this node (its consumers), so backward
    # needs no counting pass.
    # _data holds the forward value; the public `data` is a property so that
    # assigning it is validated, while the engine reads and writes the slot
    # directly (a property costs ~3x a slot read and ~5x a slot write).
    __slots__ = ("_data", "grad", "_meta", "_a", "_b", "_ga", "_gb", "_n")
    # Make numpy hand `np.float64(2) * v` back to Value.__rmul__ instead of
    # building an object array.
    __array_ufunc__ = None

    _data: float
    grad: float
    _meta: Meta
    _a: Any
    _b: Any
    _ga: Any
    _gb: Any
    _n: int

    def __init__(self, data: object, label: str = "") -> None:
        if type(data) is not float:  # floats, the common case, need no check
            if isinstance(data, Value):
                raise TypeError("Value() expects a real number, got a Value; use v.detach() for a new leaf")
            if _tracing:  # Value(x.data) while tracing: a stop-gradient node of x
                tracer = TRACER.get()
                if tracer is not None and tracer.init_from(self, data, label):
                    return
            data = _number_to_float(data, "Value()")
        if label == "":  # the common case, the shared meta of unlabelled leaves
            self._meta = get_mode().variable
        elif isinstance(label, str):
            self._meta = (label, get_mode().scope, VARIABLE)
        else:
            raise TypeError(f"Value() label must be a str, got {type(label).__name__} {label!r}")
        self._data = data
        self.grad = 0.0
        self._a = None
        self._b = None
        self._ga = 0.0
        self._gb = 0.0
        self._n = 0

    def _set_data(self, data: object) -> None:
        global data_writes
        data_writes += 1
        if type(data) is not float:  # floats, the common case (optimiser steps), need no check
            if isinstance(data, Value):
                raise TypeError("Value.data must be a real number, got a Value; assign its .data instead")
            data = _number_to_float(data, "Value.data")
        self._data = data

    if TYPE_CHECKING:

        @property
        def data(self) -> float:
            """The forward value (a float); assigning a non-number raises TypeError."""
            return self._data

        @data.setter
        def data(self, data: object) -> None: ...

    else:
        # NOTE: a C getter (attrgetter) reads ~1/3 faster than a Python one.
        data = property(
            operator.attrgetter("_data"),
            _set_data,
            doc="The forward value (a float); assigning a non-number raises TypeError.",
        )

    @property
    def label(self) -> str:
        """The display name ('' when none was given)."""
        return self._meta[0]

    @label.setter
    def label(self, label: str) -> None:
        if not isinstance(label, str):
            raise TypeError(f"label must be a str, got {type(label).__name__} {label!r}")
        meta = self._meta
        self._meta = (label, meta[1], meta[2])

    @property
    def scope(self) -> str | None:
        """The module path the node was made in (see ``autograd.scope``), or None."""
        return self._meta[1]

    @scope.setter
    def scope(self, scope: str | None) -> None:
        if scope is not None and not isinstance(scope, str):
            raise TypeError(f"scope must be a str or None, got {type(scope).__name__} {scope!r}")
        meta = self._meta
        self._meta = (meta[0], scope, meta[2])

    @property
    def op(self) -> str:
        """The name of the op that made this node ('' for a leaf)."""
        what = self._meta[2]
        return "" if type(what) is str else what.name

    @property
    def primitive(self) -> Op | None:
        """The op-table row that made this node (None for a leaf)."""
        what = self._meta[2]
        return None if type(what) is str else what

    @property
    def role(self) -> str:
        """"variable", "constant" or "parameter"; an op node is a variable.

        Setting it on a leaf makes the leaf a constant (no gradient), a
        parameter (what nn marks) or a variable again.
        """
        what = self._meta[2]
        return what if type(what) is str else VARIABLE

    @role.setter
    def role(self, role: str) -> None:
        shared = _ROLES.get(role) if isinstance(role, str) else None
        if shared is None:
            raise ValueError(f"role must be one of {', '.join(map(repr, _ROLES))}, got {role!r}")
        meta = self._meta
        if type(meta[2]) is not str:
            if shared is VARIABLE:
                return
            raise ValueError(f"role {role!r} is for leaves; this node was made by op '{meta[2].name}' "
                             "and is a variable (detach() it for a leaf)")
        self._meta = (meta[0], meta[1], shared)

    @property
    def parents(self) -> tuple[Value, ...]:
        """The op's inputs, in order (``x*x`` has ``(x, x)``); ``()`` for a leaf."""
        b = self._b
        if b is None:
            return _EMPTY if self._a is None else (self._a,)
        if b is _MANY:
            return self._a
        return (self._a, b)

    @property
    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each parent, recorded when the node was made."""
        if _tracing and (tracer := TRACER.get()) is not None:  # the traced sample's numbers: refused
            tracer.refuse("reading local_grads", "they are the traced sample's numbers; use autograd.grad(..., "
                          "create_graph=True) for derivatives inside a compiled function")
        b = self._b
        if b is None:
            return _EMPTY if self._a is None else (self._ga,)
        if b is _MANY:
            return self._ga
        return (self._ga, self._gb)

    # -- conversions and display ------------------------------------------

    def __repr__(self) -> str:
        text = f"Value(data={_format_number(self._data)}, grad={_format_number(self.grad)}"
        if self.op:
            text += f", op={self.op!r}"
        if self.label:
            text += f", label={self.label!r}"
        return text + ")"

    def __float__(self) -> float:
        if _tracing and (tracer := TRACER.get()) is not None:
            return tracer.escape(self, "float")
        return self._data

    def __bool__(self) -> bool:
        if _tracing and (tracer := TRACER.get()) is not None:
            return tracer.truth(self, "bool")  # a guard
        return self._data != 0.0  # nan is True, as bool(float('nan')) and a 0-dim tensor

    # Comparisons read .data and give plain bools; == stays identity (see the class docstring).
    # While autograd.compile traces, they give a 0/1 TracedNumber instead (see autograd/tracing.py).
    def __lt__(self, other: Operand) -> bool:
        o = _compared(other)
        if _tracing and o is not None and (tracer := TRACER.get()) is not None:
            return tracer.compare("lt", self, other)
        return NotImplemented if o is None else self._data < o

    def __le__(self, other: Operand) -> bool:
        o = _compared(other)
        if _tracing and o is not None and (tracer := TRACER.get()) is not None:
            return tracer.compare("le", self, other)
        return NotImplemented if o is None else self._data <= o

    def __gt__(self, other: Operand) -> bool:
        o = _compared(other)
        if _tracing and o is not None and (tracer := TRACER.get()) is not None:
            return tracer.compare("gt", self, other)
        return NotImplemented if o is None else self._data > o

    def __ge__(self, other: Operand) -> bool:
        o = _compared(other)
        if _tracing and o is not None and (tracer := TRACER.get()) is not None:
            return tracer.compare("ge", self, other)
        return NotImplemented if o is None else self._data >= o

    def item(self) -> float:
        """Return the forward value as a float."""
        if _tracing and (tracer := TRACER.get()) is not None:
            return tracer.escape(self, "item")
        return self._data

    def detach(self) -> Value:
        """Return a new leaf with the same data and label, cut from the graph."""
        if _tracing and (tracer := TRACER.get()) is not None:
            return tracer.detach(self)  # a stop-gradient node
        return Value(self._data, self.label)

    def backward(self, gradient: float | None = 1.0) -> None:
        """Add d(self)/d(node) * gradient into ``.grad`` of every node of the graph.

        The walk is iterative (any depth works) and in reverse topological
        order. Gradients accumulate: calling it twice doubles every ``.grad``
        (call ``zero_grad`` or set ``.grad = 0.0`` in between to start afresh).
        Constants receive no gradient.

        Args:
            gradient: the seed d(loss)/d(self); 1.0 by default, and for None
                (as PyTorch does for a scalar).
        """
        if _tracing and (tracer := TRACER.get()) is not None:
            tracer.refuse("backward()", "the compiled function's backward() differentiates what fn returns; "
                          "return the loss instead of calling backward() on it")
        seed = 1.0 if gradient is None else _number_to_float(gradient, "backward() gradient")
        with _DEFER_GC:  # the walk makes no cycles (see autograd/collector.py)
            _propagate(self, seed, accumulate=True)

    # -- the fast path: +, -, * of two Values, tanh and relu -----------------
    # NOTE: these five make most nodes of a typical graph (a sum of products,
    # an MLP), so each writes its row's float_rule out in place: a Python call
    # costs about a fifth of a whole node (callgrind: ~750 of ~4,200
    # instructions for a product). The numbers are the row's, bit for bit
    # (tests/test_float_rules.py checks it), and the arithmetic cannot raise on
    # floats. Anything else (a plain number, a constant input, no_grad and
    # anomaly mode, where the mode's meta for the op is None) goes to the
    # generic method made from the row, as every other op does.

    def __add__(self, other: Operand) -> Value:  # self + other
        if type(other) is not Value or self._meta[2] is CONSTANT or other._meta[2] is CONSTANT:
            return _generic_add(self, other)
        meta = get_mode().add
        if meta is None:  # no_grad, anomaly mode
            return _generic_add(self, other)
        v = _new_object(Value)
        v._data = self._data + other._data
        v.grad = 0.0
        v._meta = meta
        v._a = self
        v._b = other
        v._ga = 1.0
        v._gb = 1.0
        v._n = 0
        if self._a is not None:
            self._n += 1
        if other._a is not None:
            other._n += 1
        return v

    def __sub__(self, other: Operand) -> Value:  # self - other
        if type(other) is not Value or self._meta[2] is CONSTANT or other._meta[2] is CONSTANT:
            return _generic_sub(self, other)
        meta = get_mode().sub
        if meta is None:  # no_grad, anomaly mode
            return _generic_sub(self, other)
        v = _new_object(Value)
        v._data = self._data - other._data
        v.grad = 0.0
        v._meta = meta
        v._a = self
        v._b = other
        v._ga = 1.0
        v._gb = -1.0
        v._n = 0
        if self._a is not None:
            self._n += 1
        if other._a is not None:
            other._n += 1
        return v

    def __mul__(self, other: Operand) -> Value:  # self * other
        if type(other) is not Value or self._meta[2] is CONSTANT or other._meta[2] is CONSTANT:
            return _generic_mul(self, other)
        meta = get_mode().mul
        if meta is None:  # no_grad, anomaly mode
            return _generic_mul(self, other)
        x = self._data
        y = other._data
        v = _new_object(Value)
        v._data = x * y
        v.grad = 0.0
        v._meta = meta
        v._a = self
        v._b = other
        v._ga = y
        v._gb = x
        v._n = 0
        if self._a is not None:
            self._n += 1
        if other._a is not None:
            other._n += 1
        return v

    def tanh(self) -> Value:
        meta = get_mode().tanh
        if meta is None or self._meta[2] is CONSTANT:
            return _generic_tanh(self)
        out = _math_tanh(self._data)
        v = _new_object(Value)
        v._data = out
        v.grad = 0.0
        v._meta = meta
        v._a = self
        v._b = None
        v._ga = 1.0 - out * out
        v._gb = 0.0
        v._n = 0
        if self._a is not None:
            self._n += 1
        return v

    def relu(self) -> Value:
        meta = get_mode().relu
        x = self._data
        if meta is None or self._meta[2] is CONSTANT or x != x:  # nan: the generic path
            return _generic_relu(self)
        v = _new_object(Value)
        if x > 0.0:
            v._data = x
            v._ga = 1.0
        else:
            v._data = 0.0
            v._ga = 0.0
        v.grad = 0.0
        v._meta = meta
        v._a = self
        v._b = None
        v._gb = 0.0
        v._n = 0
        if self._a is not None:
            self._n += 1
        return v

    tanh.__doc__ = _generic_tanh.__doc__  # the row's docstring, with its convention
    relu.__doc__ = _generic_relu.__doc__

    # -- operators: one-line calls into the op table ----------------------

    __radd__ = _binary(OP["add"], reflected=True)  # other + self
    __rsub__ = _binary(OP["sub"], reflected=True)  # other - self
    __rmul__ = _binary(OP["mul"], reflected=True)  # other * self
    __truediv__ = _binary(OP["div"])  # self / other
    __rtruediv__ = _binary(OP["div"], reflected=True)  # other / self
    __pow__ = _binary(OP["pow"])  # self ** other (a number exponent is a constant)
    __rpow__ = _binary(OP["pow"], reflected=True)  # other ** self
    __mod__ = _binary(OP["remainder"])  # self % other: the sign of other, as Python and PyTorch
    __rmod__ = _binary(OP["remainder"], reflected=True)  # other % self
    __neg__ = _unary(OP["neg"])  # -self
    __abs__ = _unary(OP["abs"])  # |self|, with abs'(0) = 0

    exp = _unary(OP["exp"])  # e ** self
    log = _unary(OP["log"])  # natural log; log(0) = -inf, log(x < 0) = nan
    sqrt = _unary(OP["sqrt"])
    sigmoid = _unary(OP["sigmoid"])  # 1 / (1 + e ** -self)
    sin = _unary(OP["sin"])
    cos = _unary(OP["cos"])
    log2 = _unary(OP["log2"])
    log10 = _unary(OP["log10"])
    log1p = _unary(OP["log1p"])  # log(1 + self), exact for small self
    expm1 = _unary(OP["expm1"])  # e ** self - 1, exact for small self
    exp2 = _unary(OP["exp2"])  # 2 ** self
    tan = _unary(OP["tan"])
    sinh = _unary(OP["sinh"])
    cosh = _unary(OP["cosh"])
    asin = _unary(OP["asin"])
    acos = _unary(OP["acos"])
    atan = _unary(OP["atan"])
    asinh = _unary(OP["asinh"])
    acosh = _unary(OP["acosh"])
    atanh = _unary(OP["atanh"])
    reciprocal = _unary(OP["reciprocal"])  # 1 / self
    rsqrt = _unary(OP["rsqrt"])  # 1 / sqrt(self)
    erf = _unary(OP["erf"])
    erfc = _unary(OP["erfc"])  # 1 - erf(self), accurate where erf is near 1
    sign = _unary(OP["sign"])  # -1, 0 or 1 (nan for nan), derivative 0
    floor = _unary(OP["floor"])  # derivative 0, as every integer-valued op
    ceil = _unary(OP["ceil"])
    round = _unary(OP["round"])  # half to even
    trunc = _unary(OP["trunc"])
    atan2 = _binary_method(OP["atan2"])  # the angle of the point (other, self): self is y, as torch.atan2
    hypot = _binary_method(OP["hypot"])  # sqrt(self ** 2 + other ** 2) without overflow
    remainder = _binary_method(OP["remainder"])  # self % other
    fmod = _binary_method(OP["fmod"])  # C's fmod: the sign of self
    logaddexp = _binary_method(OP["logaddexp"])  # log(e ** self + e ** other) without overflow
    copysign = _binary_method(OP["copysign"])  # |self| with the sign of other
    maximum = _binary_method(OP["maximum"])  # the larger of self and other, as torch.Tensor.maximum
    minimum = _binary_method(OP["minimum"])  # the smaller of self and other

    def clamp(self, lo: Operand | None = None, hi: Operand | None = None) -> Value:
        """Return self limited to [lo, hi] (``autograd.clamp``; ``torch.Tensor.clamp(min, max)``)."""
        return clamp(self, lo, hi)

    _softplus = _unary(OP["softplus"])

    def softplus(self, beta: Operand = 1.0, threshold: Operand = math.inf) -> Value:
        """Return log(1 + e ** (beta * self)) / beta, computed without overflow.

        With the defaults the node is the one-input row ``softplus``; else
        ``softplus_beta``, whose inputs are self, beta and threshold.

        Args:
            beta: the sharpness (a Value gets its derivative).
            threshold: where beta * self exceeds it, return self (PyTorch's
                ``F.softplus`` defaults to 20; the default here, inf, is exact).
        """
        if type(beta) is not Value and type(threshold) is not Value and beta == 1.0 and threshold == math.inf:
            return self._softplus()
        return apply(OP["softplus_beta"], self, beta, threshold)

    def leaky_relu(self, slope: Operand = 0.01) -> Value:
        """Return ``self`` where positive, else ``slope * self``."""
        return apply(OP["leaky_relu"], self, slope)


# While a trace runs in any thread, Value.data is this property instead: in the
# tracing context it hands the tracer the read (a TracedNumber that remembers
# the node) and refuses assignments (fn would change the model only while
# traced); elsewhere it is the plain read. Swapping the class attribute keeps
# the usual property (a C getter) as fast as ever when nothing is traced.


def _traced_data(v: Value) -> Any:
    tracer = TRACER.get()
    return v._data if tracer is None else tracer.read(v)


def _traced_set_data(v: Value, data: object) -> None:
    tracer = TRACER.get()
    if tracer is not None:
        tracer.refuse("assigning .data", "the compiled program would not repeat the assignment; make a new Value "
                      "inside fn (Value(x) or x.detach()) or change Values between calls")
    v._set_data(data)


_PLAIN_DATA = Value.__dict__["data"]
_TRACED_DATA = property(_traced_data, _traced_set_data, doc=_PLAIN_DATA.__doc__)


def _start_trace() -> None:
    """A trace starts (autograd/tracing.py calls this under its lock)."""
    global _tracing
    _tracing += 1
    if _tracing == 1:
        Value.data = _TRACED_DATA  # type: ignore[method-assign,assignment]


def _end_trace() -> None:
    """A trace ends (under the same lock)."""
    global _tracing
    _tracing -= 1
    if _tracing == 0:
        Value.data = _PLAIN_DATA  # type: ignore[method-assign]


# ----------------------------------------------------------------------------
# Functions for n-ary and comparison-shaped primitives
# ----------------------------------------------------------------------------


def sum(values: Iterable[Operand]) -> Value:  # noqa: A001 - autograd.sum mirrors torch.sum
    """Sum many Values as one node with one edge per input (an empty sum is 0)."""
    items = tuple(values)
    if not items:
        return Value(0.0)
    return apply(OP["sum"], *items)


def dot(weights: Sequence[Operand], inputs: Sequence[Operand], bias: Operand | None = None) -> Value:
    """Return sum_i weights[i] * inputs[i] (+ bias) as one node with 2n (+1) edges.

    This is a neuron's pre-activation in one node: ``dot(w, x, bias=b)``.
    """
    # NOTE: lists and tuples are read as they are (a neuron's weights and inputs are lists): only
    # other iterables are copied, since `args` below is the one tuple the node keeps.
    if type(weights) is not list and type(weights) is not tuple:
        weights = tuple(weights)
    if type(inputs) is not list and type(inputs) is not tuple:
        inputs = tuple(inputs)
    if len(weights) != len(inputs):
        raise ValueError(f"dot(): {len(weights)} weights but {len(inputs)} inputs; they must match")
    if not weights:
        return Value(0.0) if bias is None else apply(OP["sum"], bias)
    args = (*weights, *inputs) if bias is None else (*weights, *inputs, bias)
    meta = get_mode().dot
    if meta is None:  # no_grad, anomaly mode
        return apply(_DOT, *args)
    # NOTE: every neuron of an MLP makes one of these per sample, so this is
    # the row's float_rule (_dot_float) written out over the inputs' values,
    # bit for bit the same numbers (tests/test_float_rules.py), without
    # apply()'s generic passes. Products and sums of floats cannot raise.
    # Comprehensions read the slots at about half the cost of map(attrgetter).
    try:
        ws = [w._data for w in weights]  # type: ignore[union-attr]
        xs = [x._data for x in inputs]  # type: ignore[union-attr]
        b = 0.0 if bias is None else bias._data  # type: ignore[union-attr]
    except AttributeError:  # a plain number among them: apply() makes it a constant
        return apply(_DOT, *args)
    if bias is None:
        data = _float_sum(map(_mul, ws, xs), 0.0)
        grads: tuple[float, ...] = (*xs, *ws)
    else:
        # NOTE: the products summed as map() makes them, with no list holding them all:
        # each float is freed as it is added (~9% of the moons MLP's forward, by wall clock).
        if _SUM_ADDS_IN_ORDER:
            data = _float_sum(map(_mul, ws, xs), 0.0) + b
        else:
            data = _float_sum([*map(_mul, ws, xs), b], 0.0)
        grads = (*xs, *ws, 1.0)
    nodes: tuple[Value, ...] = args  # all Values: each had a _data
    constants = 0
    for a in nodes:
        if a._a is not None:
            a._n += 1
        elif a._meta[2] is CONSTANT:
            constants += 1
    if constants:  # constants take no derivative (an MLP's first layer: its inputs)
        if constants == len(nodes):  # constants only (all leaves, so nothing was counted above)
            return apply(_DOT, *args)  # a constant leaf, as for any op
        if constants == len(inputs) and _all_constants(inputs):  # type: ignore[arg-type]
            # the usual case, a first layer's inputs: their derivatives (the weights) are all 0.0
            grads = (*xs, *(0.0,) * len(xs)) if bias is None else (*xs, *(0.0,) * len(xs), 1.0)
        else:
            grads = _zero_constants(nodes, grads)
    v = _new_object(Value)
    v._data = data
    v.grad = 0.0
    v._meta = meta
    v._a = nodes
    v._b = _MANY
    v._ga = grads
    v._gb = 0.0
    v._n = 0
    return v


def logsumexp(values: Iterable[Operand]) -> Value:
    """Return log(sum(exp(v))) computed stably (no overflow for logits of +-1000)."""
    items = tuple(values)
    if not items:
        raise ValueError("logsumexp() of no values is undefined; pass at least one")
    return apply(OP["logsumexp"], *items)


def atan2(y: Operand, x: Operand) -> Value:
    """Return the angle of the point (x, y) in [-pi, pi], as ``torch.atan2(y, x)``."""
    return apply(OP["atan2"], y, x)


def hypot(a: Operand, b: Operand) -> Value:
    """Return sqrt(a ** 2 + b ** 2), computed without overflow."""
    return apply(OP["hypot"], a, b)


def remainder(a: Operand, b: Operand) -> Value:
    """Return a % b with the sign of b (Python's and PyTorch's remainder)."""
    return apply(OP["remainder"], a, b)


def fmod(a: Operand, b: Operand) -> Value:
    """Return C's fmod(a, b): a - b * trunc(a / b), with the sign of a."""
    return apply(OP["fmod"], a, b)


def logaddexp(a: Operand, b: Operand) -> Value:
    """Return log(e ** a + e ** b), computed without overflow."""
    return apply(OP["logaddexp"], a, b)


def copysign(a: Operand, b: Operand) -> Value:
    """Return |a| with the sign of b."""
    return apply(OP["copysign"], a, b)


def softplus(x: Operand, beta: Operand = 1.0, threshold: Operand = math.inf) -> Value:
    """Return log(1 + e ** (beta * x)) / beta, and x where beta * x > threshold (see ``Value.softplus``)."""
    if type(beta) is not Value and type(threshold) is not Value and beta == 1.0 and threshold == math.inf:
        return apply(OP["softplus"], x)
    return apply(OP["softplus_beta"], x, beta, threshold)


def gelu(x: Operand, approximate: str = "none") -> Value:
    """Return x * Phi(x), Phi the standard normal CDF; ``approximate="tanh"`` uses PyTorch's tanh formula.

    Raises:
        ValueError: for an ``approximate`` other than "none" or "tanh".
    """
    if approximate == "none":
        return apply(OP["gelu"], x)
    if approximate == "tanh":
        return apply(OP["gelu_tanh"], x)
    raise ValueError(f"gelu(): approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x: Operand) -> Value:
    """Return x * sigmoid(x) (also called swish)."""
    return apply(OP["silu"], x)


def mish(x: Operand) -> Value:
    """Return x * tanh(softplus(x))."""
    return apply(OP["mish"], x)


def softsign(x: Operand) -> Value:
    """Return x / (1 + |x|)."""
    return apply(OP["softsign"], x)


def logsigmoid(x: Operand) -> Value:
    """Return log(sigmoid(x)), computed without overflow."""
    return apply(OP["logsigmoid"], x)


def elu(x: Operand, alpha: Operand = 1.0) -> Value:
    """Return x where x > 0, else alpha * (e ** x - 1)."""
    return apply(OP["elu"], x, alpha)


def celu(x: Operand, alpha: Operand = 1.0) -> Value:
    """Return x where x > 0, else alpha * (e ** (x / alpha) - 1)."""
    return apply(OP["celu"], x, alpha)


def selu(x: Operand) -> Value:
    """Return scale * elu(x, alpha) with PyTorch's constants (self-normalising)."""
    return apply(OP["selu"], x)


def hardtanh(x: Operand, min_val: Operand = -1.0, max_val: Operand = 1.0) -> Value:
    """Return x limited to [min_val, max_val]; x passes its gradient on the open range (PyTorch's)."""
    return apply(OP["hardtanh"], x, min_val, max_val)


def relu6(x: Operand) -> Value:
    """Return min(max(x, 0), 6)."""
    return apply(OP["relu6"], x)


def hardsigmoid(x: Operand) -> Value:
    """Return relu6(x + 3) / 6."""
    return apply(OP["hardsigmoid"], x)


def hardswish(x: Operand) -> Value:
    """Return x * relu6(x + 3) / 6."""
    return apply(OP["hardswish"], x)


def leaky_relu(x: Operand, negative_slope: Operand = 0.01) -> Value:
    """Return x where x > 0, else negative_slope * x (``F.leaky_relu``; also ``x.leaky_relu(slope)``)."""
    return apply(OP["leaky_relu"], x, negative_slope)


def maximum(a: Operand, b: Operand) -> Value:
    """Return the larger of a and b; at a tie each gets half the gradient."""
    return apply(OP["maximum"], a, b)


def minimum(a: Operand, b: Operand) -> Value:
    """Return the smaller of a and b; at a tie each gets half the gradient."""
    return apply(OP["minimum"], a, b)


def clamp(x: Operand, lo: Operand | None = None, hi: Operand | None = None) -> Value:
    """Return x limited to [lo, hi]; x passes its gradient on the closed range."""
    if lo is None and hi is None:
        raise ValueError("clamp() needs at least one of lo or hi")
    return apply(OP["clamp"], x, -math.inf if lo is None else lo, math.inf if hi is None else hi)


# ----------------------------------------------------------------------------
# Graph walks
# ----------------------------------------------------------------------------


def _consumer_counts(roots: list[Value]) -> dict[Value, int]:
    """Count, for each non-leaf node at or below the roots, the edges that consume it from there."""
    counts: dict[Value, int] = {}
    is_root = set(roots)
    stack = [r for r in roots if r._a is not None]
    pop = stack.pop
    push = stack.append
    get = counts.get
    while stack:
        node = pop()
        b = node._b
        if b is _MANY:
            for p in node._a:
                if p._a is not None:  # leaves need no count
                    n = get(p, 0)
                    counts[p] = n + 1
                    if not n and p not in is_root:
                        push(p)
            continue
        a = node._a  # one or two inputs, unrolled
        if a._a is not None:
            n = get(a, 0)
            counts[a] = n + 1
            if not n and a not in is_root:
                push(a)
        if b is not None and b._a is not None:
            n = get(b, 0)
            counts[b] = n + 1
            if not n and b not in is_root:
                push(b)
    return counts


def topological_order(root: Value | Sequence[Value]) -> list[Value]:
    """Return every node that root depends on, parents before consumers, root last.

    Iterative (no recursion limit); constants included; deterministic for a
    given graph (it depends only on the order of each node's parents).

    Args:
        root: a Value, or a sequence of Values (the nodes of all of them, each once).
    """
    if isinstance(root, Value):
        roots = [root]
    elif isinstance(root, (list, tuple)) and all(isinstance(r, Value) for r in root):
        roots = list(root)
    else:
        raise TypeError(f"topological_order() expects a Value or a sequence of Values, got {root!r:.80}")
    roots = list(dict.fromkeys(roots))
    counts: dict[Value, int] = {}
    seen = set(roots)
    stack = list(roots)
    while stack:
        for p in stack.pop().parents:
            if p in counts:
                counts[p] += 1
            else:
                counts[p] = 1
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
    order = []
    # Roots that another root consumes wait for their consumers like any node.
    stack = [r for r in reversed(roots) if r not in counts]
    while stack:
        node = stack.pop()
        order.append(node)
        for p in node.parents:
            n = counts[p] - 1
            counts[p] = n
            if not n:
                stack.append(p)
    order.reverse()
    return order


def _propagate(root: Value, seed: float, accumulate: bool) -> dict[Value, float]:
    """The chain rule, on floats: d(root)/d(node) * seed for every node reached.

    A node is processed once all of its consumers have added their
    contribution (Kahn's algorithm), so this is a reverse topological walk
    without recursion and without a separate sort. The consumer counts come
    from ``_n``, recorded when the consumers were made; a node with one
    consumer (most of them) never enters a dict: its gradient travels on the
    stack with it. A count can be too high (a consumer outside this graph) or,
    if threads raced while building, too low: see :func:`_walk`.

    Args:
        root: where the walk starts.
        seed: d(output)/d(root).
        accumulate: add every node's result into its ``.grad`` (backward());
            else return them all (grad()).

    Returns:
        With ``accumulate``, the leaves' results only (already added, constants
        skipped); else every node's result (constant leaves with a meaningless
        value: callers skip them).
    """
    if get_mode().anomaly:
        return _propagate_checked(root, seed, accumulate)
    partial: dict[Value, float] = {}  # contributions so far, for nodes still waiting for consumers
    pending: dict[Value, int] = {}  # consumers still to come, for nodes that had more than one
    leaves: dict[Value, float] = {}
    results: dict[Value, float] = {}
    if root._a is None:
        leaves[root] = seed
    else:
        _walk([root], [seed], partial, pending, leaves, results, accumulate)
        if partial:
            _finish_counted(partial, leaves, results, accumulate)
    if not accumulate:
        for leaf, g in leaves.items():
            results[leaf] = g
        return results
    for leaf, g in leaves.items():
        if leaf._meta[2] is not CONSTANT:
            old = leaf.grad
            leaf.grad = g if old == 0.0 and g != 0.0 else old + g
    return leaves


def _finish_counted(
    partial: dict[Value, float], leaves: dict[Value, float], results: dict[Value, float], accumulate: bool
) -> None:
    """Finish a walk whose recorded counts left nodes waiting, with exact counts.

    Some nodes wait for consumers that are not in this graph (made from the
    same nodes for another output), or were released early by a count that
    was too low. Count the consumers that are in it, below the waiting nodes,
    and walk from the waiting nodes that none of them consumes. Rare, so the
    plain loop over ``parents`` and ``local_grads``.
    """
    counts = _consumer_counts(list(partial))
    stack = [(v, partial.pop(v)) for v in list(partial) if v not in counts]
    while stack:
        node, g = stack.pop()
        if accumulate:
            old = node.grad
            node.grad = g if old == 0.0 and g != 0.0 else old + g
        else:
            results[node] = results.get(node, 0.0) + g
        for p, local in zip(node.parents, node.local_grads):
            if p._a is None:
                leaves[p] = leaves.get(p, 0.0) + local * g
                continue
            n = counts[p] - 1
            counts[p] = n
            if n:
                partial[p] = partial.get(p, 0.0) + local * g
            else:
                stack.append((p, partial.pop(p, 0.0) + local * g))
    assert not partial, "every node below the waiting ones has its exact count"


def _describe_node(v: Value) -> str:
    """Name a node for an error: its label (or <op>), its op and its module scope."""
    details = [f"op '{v.primitive.name}'" if v.primitive is not None else f"{v.role} leaf"]
    if v.scope:
        details.append(f"scope '{v.scope}'")
    name = repr(v.label) if v.label else f"<{v.op or v.role}>"
    return f"{name} ({', '.join(details)})"


def _anomaly_in_term(node: Value, consumer: Value, local: float, upstream: float, term: float) -> AnomalyError:
    return AnomalyError(
        f"anomaly in backward: the gradient of {_describe_node(node)} became {term!r}: its consumer "
        f"{_describe_node(consumer)} passes local derivative {local!r} * upstream gradient {upstream!r}"
    )


def _anomaly_in_sum(node: Value, consumer: Value, before: float, term: float, total: float) -> AnomalyError:
    return AnomalyError(
        f"anomaly in backward: the gradient of {_describe_node(node)} became {total!r} when the term "
        f"{term!r} from its consumer {_describe_node(consumer)} was added to {before!r} from its other consumers"
    )


def _propagate_checked(root: Value, seed: float, accumulate: bool) -> dict[Value, float]:
    """_propagate under anomaly mode: raise at the first non-finite gradient, before touching ``.grad``.

    The normal walk runs first (so results are bit for bit those of normal
    mode); only if a result is not finite does a plain reverse-topological
    walk retrace the chain rule, term by term, to find where it went wrong.
    """
    if not math.isfinite(seed):
        raise AnomalyError(f"anomaly in backward: the seed gradient is {seed!r} at {_describe_node(root)}")
    mode = get_mode()
    token = set_mode(mode_of(mode.grad_enabled, False, mode.place))
    try:
        results = _propagate(root, seed, accumulate=False)
    finally:
        reset_mode(token)
    if not all(math.isfinite(g) for v, g in results.items() if v.role is not CONSTANT):
        _raise_backward_anomaly(root, seed, results)
    if not accumulate:
        return results
    for node, g in results.items():
        if node.role is not CONSTANT:
            old = node.grad
            new = g if old == 0.0 and g != 0.0 else old + g
            if math.isfinite(old) and not math.isfinite(new):
                raise AnomalyError(
                    f"anomaly in backward: .grad of {_describe_node(node)} became {new!r} when this call's "
                    f"gradient {g!r} was added to the {old!r} already in it"
                )
    for node, g in results.items():  # checked first: an anomaly leaves every .grad as it was
        if node.role is not CONSTANT:
            old = node.grad
            node.grad = g if old == 0.0 and g != 0.0 else old + g
    return {v: g for v, g in results.items() if v._a is None}


def _raise_backward_anomaly(root: Value, seed: float, results: dict[Value, float]) -> None:
    """Retrace the chain rule from the root and raise at the first non-finite term or sum."""
    order = topological_order(root)
    grads: dict[Value, float] = {root: seed}
    for node in reversed(order):
        if node._a is None:
            continue
        upstream = grads[node]
        for p, local in zip(node.parents, node.local_grads):
            if p.role is CONSTANT:
                continue
            term = local * upstream
            if not math.isfinite(term):
                raise _anomaly_in_term(p, node, local, upstream, term)
            if p in grads:
                total = grads[p] + term
                if not math.isfinite(total):
                    raise _anomaly_in_sum(p, node, grads[p], term, total)
                grads[p] = total
            else:
                grads[p] = term
    # Only the order of summation differs from the walk that overflowed: name its first non-finite result.
    for node in reversed(order):
        g = results.get(node, 0.0)
        if node.role is not CONSTANT and not math.isfinite(g):
            raise AnomalyError(f"anomaly in backward: the gradient of {_describe_node(node)} became {g!r} "
                               "(a sum of finite terms that overflowed)")


def _walk(
    nodes: list[Value],
    upstream: list[float],
    partial: dict[Value, float],
    pending: dict[Value, int],
    leaves: dict[Value, float],
    results: dict[Value, float],
    accumulate: bool,
) -> None:
    """Process ready op nodes (with their gradients) and every node they make ready.

    A node with one recorded consumer (``_n == 1``, most nodes) is ready as
    soon as that consumer passes its gradient on, and never enters a dict.
    Otherwise its remaining consumer count is ``pending[node]`` if it is
    there, else its recorded ``_n``, and its gradient so far waits in
    ``partial``. A count that is too low only releases a node early: it is
    then processed again when the rest arrives, which by the linearity of the
    chain rule gives the same sums.
    """
    pop = nodes.pop
    push = nodes.append
    gpop = upstream.pop
    gpush = upstream.append
    leaf_get = leaves.get
    partial_pop = partial.pop
    partial_get = partial.get
    pending_get = pending.get
    pending_pop = pending.pop
    while nodes:
        node = pop()
        g = gpop()
        if accumulate:
            # NOTE: 0.0 + g is g exactly, so a fresh .grad keeps g's float
            # object itself: one allocation less per node.
            old = node.grad
            node.grad = g if old == 0.0 and g != 0.0 else old + g
        elif node in results:
            results[node] += g
        else:
            results[node] = g
        b = node._b
        if b is _MANY:
            for p, local in zip(node._a, node._ga):
                if p._a is None:
                    leaves[p] = leaf_get(p, 0.0) + local * g
                elif p._n == 1:
                    push(p)
                    gpush(local * g)
                else:
                    n = pending_get(p) or p._n
                    if n <= 1:
                        push(p)
                        gpush(partial_pop(p, 0.0) + local * g)
                        pending_pop(p, None)
                    else:
                        pending[p] = n - 1
                        partial[p] = partial_get(p, 0.0) + local * g
            continue
        # One or two inputs, the common cases, unrolled: ~30% faster than
        # building tuples for the loop above.
        a = node._a
        if a._a is None:
            leaves[a] = leaf_get(a, 0.0) + node._ga * g
        elif a._n == 1:
            push(a)
            gpush(node._ga * g)
        else:
            n = pending_get(a) or a._n
            if n <= 1:
                push(a)
                gpush(partial_pop(a, 0.0) + node._ga * g)
                pending_pop(a, None)
            else:
                pending[a] = n - 1
                partial[a] = partial_get(a, 0.0) + node._ga * g
        if b is None:
            continue
        if b._a is None:
            leaves[b] = leaf_get(b, 0.0) + node._gb * g
        elif b._n == 1:
            push(b)
            gpush(node._gb * g)
        else:
            n = pending_get(b) or b._n
            if n <= 1:
                push(b)
                gpush(partial_pop(b, 0.0) + node._gb * g)
                pending_pop(b, None)
            else:
                pending[b] = n - 1
                partial[b] = partial_get(b, 0.0) + node._gb * g


class ValueMath:
    """Maths on Values: the rules of the op table build differentiable graphs with it."""

    @staticmethod
    def _data(x: Any) -> float:
        return x.data if isinstance(x, Value) else x

    def __getattr__(self, name: str) -> Any:  # exp, log, sqrt, ... -> apply(op)
        try:
            op = OP[name]
        except KeyError:  # getattr(m, "__qualname__", None), hasattr() and copy expect AttributeError
            raise AttributeError(f"ValueMath has no op or attribute {name!r}") from None
        return lambda *xs: apply(op, *xs)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return a if cond else b

    # Not differentiable (piecewise constant): plain floats from .data, so they add no graph;
    # at a nan, x * nan, so that second derivatives are nan there too (the nan-input convention).
    def sign(self, x: Any) -> Any:
        d = FLOAT_MATH.sign(self._data(x))
        return x * math.nan if d != d else d

    def heaviside(self, x: Any) -> Any:
        d = FLOAT_MATH.heaviside(self._data(x))
        return x * math.nan if d != d else d

    def floor_divide(self, a: Any, b: Any) -> float:
        a, b = self._data(a), self._data(b)
        try:
            return FLOAT_MATH.floor_divide(a, b)
        except ZeroDivisionError:
            with np.errstate(all="ignore"):
                return float(NUMPY_MATH.floor_divide(np.float64(a), np.float64(b)))

    def detach(self, x: Any) -> float:
        return self._data(x)

    def isfinite(self, x: Any) -> bool:
        return math.isfinite(self._data(x))

    def isinf(self, x: Any) -> bool:
        return math.isinf(self._data(x))

    def isnan(self, x: Any) -> bool:
        return math.isnan(self._data(x))

    def gt(self, a: Any, b: Any) -> bool:
        return self._data(a) > self._data(b)

    def ge(self, a: Any, b: Any) -> bool:
        return self._data(a) >= self._data(b)

    def lt(self, a: Any, b: Any) -> bool:
        return self._data(a) < self._data(b)

    def le(self, a: Any, b: Any) -> bool:
        return self._data(a) <= self._data(b)

    def eq(self, a: Any, b: Any) -> bool:
        return self._data(a) == self._data(b)

    def sum(self, xs: Sequence[Any]) -> Any:
        return sum(xs)


VALUE_MATH = ValueMath()


def _value_local_grads(node: Value, check: bool) -> tuple[Any, ...]:
    """Local derivatives of node as Values (differentiable), from the same op-table rules.

    With ``check`` (anomaly mode), a non-finite derivative that is kept
    raises. Rules evaluate both branches of M.where; on Values each branch
    builds nodes, and a discarded one may be inf (pow(0, -1)), so the caller
    builds them with anomaly mode off and only the kept ones are checked here.
    """
    op = node.primitive
    assert op is not None
    grads = _local_grads(op, VALUE_MATH, node, node.parents, node.parents)
    if check:
        for i, (p, g) in enumerate(zip(node.parents, grads)):
            d = _data_of(g)
            if p.role is not CONSTANT and not math.isfinite(d):
                inputs = ", ".join(f"{_describe_input(a)}={a._data!r}" for a in node.parents)
                raise AnomalyError(f"anomaly: op '{op.name}' has local derivative {d!r} for input {i} "
                                   f"from inputs ({inputs}) while building the backward graph")
    return grads


def _data_of(x: Any) -> float:
    return x._data if isinstance(x, Value) else x


def _propagate_graph(root: Value, seed: float) -> dict[Value, Any]:
    """The chain rule again, building the backward pass out of Values (create_graph).

    Under anomaly mode, the first non-finite local derivative, term or sum
    raises ``AnomalyError`` naming the node and the consumer (the Values of
    the backward pass are built with the op-level check off, so the error
    names the forward graph's nodes rather than a multiplication inside it).
    """
    mode = get_mode()
    check = mode.anomaly
    if check:
        if not math.isfinite(seed):
            raise AnomalyError(f"anomaly in backward: the seed gradient is {seed!r} at {_describe_node(root)}")
        token = set_mode(mode_of(mode.grad_enabled, False, mode.place))
    try:
        pending = _consumer_counts([root])
        grads: dict[Value, Any] = {root: seed}
        stack = [root] if root._a is not None else []
        while stack:
            node = stack.pop()
            g = grads[node]
            for p, local in zip(node.parents, _value_local_grads(node, check)):
                if p.role is CONSTANT:
                    continue
                term = g if (type(local) is float and local == 1.0) else local * g
                if check and not math.isfinite(_data_of(term)):
                    raise _anomaly_in_term(p, node, _data_of(local), _data_of(g), _data_of(term))
                if p in grads:
                    before = grads[p]
                    grads[p] = before + term
                    if check and not math.isfinite(_data_of(grads[p])):
                        raise _anomaly_in_sum(p, node, _data_of(before), _data_of(term), _data_of(grads[p]))
                else:
                    grads[p] = term
                if p._a is not None:
                    pending[p] -= 1
                    if not pending[p]:
                        stack.append(p)
    finally:
        if check:
            reset_mode(token)
    return grads


def _describe(v: Value) -> str:
    return repr(v.label) if v.label else repr(v)


def grad(
    output: Value,
    inputs: Value | Sequence[Value],
    *,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> list[Value]:
    """Return d(output)/d(input) for each input, without touching ``.grad``.

    Args:
        output: the Value to differentiate.
        inputs: a Value or a sequence of Values.
        create_graph: build the result out of Values, so it can be
            differentiated again (second derivatives).
        allow_unused: give 0 for an input the output does not depend on,
            instead of raising ValueError.

    Returns:
        One Value per input.
    """
    if not isinstance(output, Value):
        raise TypeError(f"grad() output must be a Value, got {type(output).__name__}")
    items = [inputs] if isinstance(inputs, Value) else list(inputs)
    for i, x in enumerate(items):
        if not isinstance(x, Value):
            raise TypeError(f"grad() inputs[{i}] must be a Value, got {type(x).__name__} {x!r}")
    if not create_graph and _tracing and (tracer := TRACER.get()) is not None:
        # While tracing, the float results would freeze the traced sample's
        # numbers: build them as Values instead and cut them from the graph.
        values = grad(output, items, create_graph=True, allow_unused=allow_unused)
        return [tracer.detach(g) if g.role is not CONSTANT else g for g in values]
    with _DEFER_GC:
        if create_graph:
            grads: dict[Value, Any] = _propagate_graph(output, 1.0)
        else:
            grads = _propagate(output, 1.0, accumulate=False)
    result = []
    for i, x in enumerate(items):
        if x in grads and x.role is not CONSTANT:
            g = grads[x]
        elif allow_unused:
            g = 0.0
        else:
            raise ValueError(
                f"grad(): inputs[{i}] {_describe(x)} is not used to compute the output "
                "(pass allow_unused=True to get 0 for it)"
            )
        result.append(g if isinstance(g, Value) else Value(g))
    return result
