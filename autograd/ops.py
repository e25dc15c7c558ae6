"""The op table: every primitive's forward, local derivatives, domain and kink convention.

One op, one row. A derivative rule is written once, as a function of a maths
namespace ``M`` plus the op's output and inputs, so the same rule runs on

* floats (``FLOAT_MATH``) when a node is made and its ``local_grads`` recorded,
* ``Value``s (``autograd.engine.VALUE_MATH``) when ``grad(create_graph=True)``
  builds the backward pass out of Values, and
* numpy arrays (``NUMPY_MATH``) when a compiled tape replays a whole batch.

Rules use Python's arithmetic operators plus the namespace's functions; the
namespace decides what ``exp`` or ``where`` mean for its kind of number.
Comparisons go through ``M.gt``/``M.ge``/... because they are not
differentiable: on Values they compare ``.data`` and give plain floats.

Numbers follow IEEE-754 as NumPy does. The float namespace uses :mod:`math`
(fast) and raises on overflow, division by zero or a domain error; the engine
then recomputes that op with numpy float64 scalars, which give inf/nan as
NumPy would. So an op never leaks ``ZeroDivisionError``, ``OverflowError`` or
a math-domain ``ValueError``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

inf = math.inf
nan = math.nan

# A rule's first argument is a maths namespace; the rest are floats, Values or arrays.
Rule = Callable[..., Any]
Interval = tuple[float, float]

# What the float path raises where IEEE-754 gives inf or nan; caught by the engine.
FLOAT_ERRORS = (ZeroDivisionError, OverflowError, ValueError)


# ----------------------------------------------------------------------------
# Maths namespaces
# ----------------------------------------------------------------------------


def _float_pow(a: float, b: float) -> float:
    if b == 0.5:
        # NumPy and PyTorch compute x ** 0.5 as sqrt(x): (-0.0) ** 0.5 is -0.0 there.
        return math.sqrt(a)
    r = a**b
    # NOTE: Python gives a complex number for a negative base and a fractional
    # exponent; IEEE-754 (and NumPy) give nan.
    if type(r) is complex:
        return nan
    return r


def _float_sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # x < 0 so this cannot overflow
    return e / (1.0 + e)


def _float_softplus(x: float) -> float:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|.
    if x != x:
        return x
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _float_relu(x: float) -> float:
    return 0.0 if x <= 0.0 else x  # nan stays nan


def _float_where(cond: Any, a: Any, b: Any) -> Any:
    return a if cond else b


def _float_sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else (x if x != x else 0.0))


def _float_max(a: float, b: float) -> float:
    if a != a or b != b:
        return nan
    return a if a >= b else b


def _float_min(a: float, b: float) -> float:
    if a != a or b != b:
        return nan
    return a if a <= b else b


class FloatMath:
    """Maths on Python floats (fast; raises where IEEE-754 would give inf/nan)."""

    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    sqrt = staticmethod(math.sqrt)
    tanh = staticmethod(math.tanh)
    sin = staticmethod(math.sin)
    cos = staticmethod(math.cos)
    log1p = staticmethod(math.log1p)
    pow = staticmethod(_float_pow)
    sigmoid = staticmethod(_float_sigmoid)
    softplus = staticmethod(_float_softplus)
    relu = staticmethod(_float_relu)
    abs = staticmethod(abs)
    sign = staticmethod(_float_sign)
    maximum = staticmethod(_float_max)
    minimum = staticmethod(_float_min)
    where = staticmethod(_float_where)

    @staticmethod
    def gt(a: float, b: float) -> bool:
        return a > b

    @staticmethod
    def ge(a: float, b: float) -> bool:
        return a >= b

    @staticmethod
    def lt(a: float, b: float) -> bool:
        return a < b

    @staticmethod
    def le(a: float, b: float) -> bool:
        return a <= b

    @staticmethod
    def eq(a: float, b: float) -> bool:
        return a == b

    @staticmethod
    def sum(xs: Sequence[Any]) -> Any:
        return sum(xs, 0.0)


def _np_sigmoid(x: Any) -> Any:
    # exp of a non-positive number never overflows; pick the branch per element.
    e = np.exp(-np.abs(x))
    return np.where(np.asarray(x) >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _np_softplus(x: Any) -> Any:
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _np_pow(a: Any, b: Any) -> Any:
    a = np.asarray(a, dtype=np.float64)
    r = np.power(a, b)
    neg_inf = np.isneginf(a)
    if np.any(neg_inf):
        # NOTE: numpy's float64 *scalar* power gives nan for a base of -inf;
        # IEEE-754 (C's pow, numpy's array loop) gives inf**b with the sign of
        # an odd integer exponent.
        odd = np.mod(b, 2) == 1
        r = np.where(neg_inf, np.power(np.inf, b) * np.where(odd, -1.0, 1.0), r)
    return r


class NumpyMath:
    """Maths on numpy float64 scalars and arrays (IEEE-754: inf/nan, never raises)."""

    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)
    tanh = staticmethod(np.tanh)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    log1p = staticmethod(np.log1p)
    pow = staticmethod(_np_pow)
    sigmoid = staticmethod(_np_sigmoid)
    softplus = staticmethod(_np_softplus)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    where = staticmethod(np.where)
    gt = staticmethod(np.greater)
    ge = staticmethod(np.greater_equal)
    lt = staticmethod(np.less)
    le = staticmethod(np.less_equal)
    eq = staticmethod(np.equal)

    @staticmethod
    def relu(x: Any) -> Any:
        return np.where(np.asarray(x) <= 0.0, 0.0, x)

    @staticmethod
    def sum(xs: Sequence[Any]) -> Any:
        total: Any = 0.0
        for x in xs:
            total = total + x
        return total


FLOAT_MATH = FloatMath()
NUMPY_MATH = NumpyMath()


# ----------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Op:
    """One primitive: a row of the op table.

    Args:
        name: key of the row, also ``Value.op`` of the nodes it makes.
        symbol: short text for display (``"*"``, ``"tanh"``).
        arity: number of inputs, or ``None`` for an n-ary op (``sum``).
        forward: ``forward(M, *inputs) -> output``.
        grads: for a fixed arity, one rule per input,
            ``rule(M, out, *inputs) -> d out / d input``; for an n-ary op a
            single rule ``rule(M, out, *inputs) -> list of derivatives``.
        domain: intervals per input that tests draw from (inside the domain and
            away from kinks); an n-ary op gives one entry used for every input.
        smooth: ``smooth(*inputs) -> bool``: True where the inputs are safely
            inside the domain and away from any kink (finite differences are
            valid there).
        kinks: pinned cases ``(inputs, local derivatives)`` that fix each
            convention at a point where the derivative is not defined.
        convention: the kink/domain convention in words.
    """

    name: str
    symbol: str
    arity: int | None
    forward: Rule
    grads: tuple[Rule, ...] | Rule
    domain: tuple[tuple[Interval, ...], ...]
    smooth: Callable[..., bool] = field(default=lambda *xs: True)
    kinks: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = ()
    convention: str = ""

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


# Shared domains: intervals that tests draw inputs from.
ANY: tuple[Interval, ...] = ((-3.0, 3.0),)
NONZERO: tuple[Interval, ...] = ((-3.0, -0.2), (0.2, 3.0))
POSITIVE: tuple[Interval, ...] = ((0.05, 4.0),)
MARGIN = 1e-3  # how far from a kink finite differences stay valid with eps=1e-6


def _away(*points: float) -> Callable[..., bool]:
    def smooth(x: float, *rest: float) -> bool:
        return all(abs(x - p) > MARGIN for p in points)

    return smooth


def _apart(a: float, b: float) -> bool:
    return abs(a - b) > MARGIN


def _clamp_smooth(x: float, lo: float, hi: float) -> bool:
    return lo + MARGIN < hi and abs(x - lo) > MARGIN and abs(x - hi) > MARGIN


def _clamp_forward(M: Any, x: Any, lo: Any, hi: Any) -> Any:
    # PyTorch's convention: min(max(x, lo), hi), so hi wins when lo > hi.
    return M.minimum(M.maximum(x, lo), hi)


def _logsumexp_forward(M: Any, *xs: Any) -> Any:
    if M is FLOAT_MATH:
        if any(x != x for x in xs):
            return nan
        m = max(xs)
        if math.isinf(m):  # all -inf gives -inf; any +inf gives +inf
            return m
        return m + math.log(math.fsum(math.exp(x - m) for x in xs))
    m = xs[0]
    for x in xs[1:]:
        m = M.maximum(m, x)
    finite_m = M.where(np.isfinite(m), m, 0.0)
    return finite_m + M.log(M.sum([M.exp(x - finite_m) for x in xs]))


def _dot_forward(M: Any, *xs: Any) -> Any:
    n = len(xs) // 2
    terms = list(map(operator.mul, xs[:n], xs[n : 2 * n]))  # w_i * x_i in one C loop (floats, arrays or Values)
    if len(xs) % 2:  # a trailing bias
        terms.append(xs[-1])
    return M.sum(terms)


def _dot_grads(M: Any, out: Any, *xs: Any) -> list[Any]:
    n = len(xs) // 2
    return [*xs[n : 2 * n], *xs[:n]] + ([1.0] if len(xs) % 2 else [])


def _pow_dbase(M: Any, out: Any, a: Any, b: Any) -> Any:
    # d(a^b)/da = b a^(b-1); PyTorch sets it to 0 where b == 0 (else 0 * inf = nan at a == 0).
    # Only the point a == b == 0 takes the constant, so d2/dadb stays right elsewhere.
    d = b * M.pow(a, b - 1.0)
    return M.where(M.eq(b, 0.0), M.where(M.eq(a, 0.0), 0.0, d), d)


def _pow_dexp(M: Any, out: Any, a: Any, b: Any) -> Any:
    # d(a^b)/db = a^b log(a); PyTorch sets it to 0 where a == 0 and b >= 0.
    return M.where(M.eq(a, 0.0), M.where(M.ge(b, 0.0), 0.0, out * M.log(a)), out * M.log(a))


OPS: tuple[Op, ...] = (
    Op("add", "+", 2, lambda M, a, b: a + b, (lambda M, o, a, b: 1.0, lambda M, o, a, b: 1.0), (ANY, ANY)),
    Op("sub", "-", 2, lambda M, a, b: a - b, (lambda M, o, a, b: 1.0, lambda M, o, a, b: -1.0), (ANY, ANY)),
    Op("mul", "*", 2, lambda M, a, b: a * b, (lambda M, o, a, b: b, lambda M, o, a, b: a), (ANY, ANY)),
    Op(
        "div", "/", 2,
        lambda M, a, b: a / b,
        # d/db as -(a/b)/b, not -a/(b*b): b*b overflows for |b| > 1e154.
        (lambda M, o, a, b: 1.0 / b, lambda M, o, a, b: -o / b),
        (ANY, NONZERO),
        convention="a/0 is +-inf (nan for 0/0), as IEEE-754",
    ),
    Op("neg", "neg", 1, lambda M, a: -a, (lambda M, o, a: -1.0,), (ANY,)),
    Op(
        "pow", "**", 2,
        lambda M, a, b: M.pow(a, b),
        (_pow_dbase, _pow_dexp),
        (POSITIVE, ANY),
        kinks=(((0.0, 0.0), (0.0, 0.0)),),
        convention="nan for a negative base and a fractional exponent; d/da is 0 where b == 0; "
        "d/db is 0 where a == 0 and b >= 0 (PyTorch's conventions)",
    ),
    Op("exp", "exp", 1, lambda M, a: M.exp(a), (lambda M, o, a: o,), (ANY,)),
    Op(
        "log", "log", 1, lambda M, a: M.log(a), (lambda M, o, a: 1.0 / a,), (POSITIVE,),
        convention="log(0) = -inf, log(x < 0) = nan",
    ),
    Op(
        "sqrt", "sqrt", 1, lambda M, a: M.sqrt(a), (lambda M, o, a: 0.5 / o,), (POSITIVE,),
        convention="sqrt'(0) = inf, sqrt(x < 0) = nan",
    ),
    Op("tanh", "tanh", 1, lambda M, a: M.tanh(a), (lambda M, o, a: 1.0 - o * o,), (ANY,)),
    Op("sigmoid", "sigmoid", 1, lambda M, a: M.sigmoid(a), (lambda M, o, a: o * (1.0 - o),), (ANY,)),
    Op(
        "relu", "relu", 1, lambda M, a: M.relu(a),
        (lambda M, o, a: M.where(M.gt(a, 0.0), 1.0, 0.0),),
        (NONZERO,), _away(0.0), (((0.0,), (0.0,)),),
        convention="relu'(0) = 0",
    ),
    Op(
        "leaky_relu", "leaky_relu", 2,
        lambda M, a, s: M.where(M.gt(a, 0.0), a, a * s),
        (lambda M, o, a, s: M.where(M.gt(a, 0.0), 1.0, s), lambda M, o, a, s: M.where(M.gt(a, 0.0), 0.0, a)),
        (NONZERO, ((0.0, 0.5),)), _away(0.0), (((0.0, 0.01), (0.01, 0.0)),),
        convention="leaky_relu'(0) = slope (PyTorch's convention); the slope is an input",
    ),
    Op(
        "abs", "abs", 1, lambda M, a: M.abs(a), (lambda M, o, a: M.sign(a),),
        (NONZERO,), _away(0.0), (((0.0,), (0.0,)),),
        convention="abs'(0) = 0",
    ),
    Op("sin", "sin", 1, lambda M, a: M.sin(a), (lambda M, o, a: M.cos(a),), (ANY,)),
    Op("cos", "cos", 1, lambda M, a: M.cos(a), (lambda M, o, a: -M.sin(a),), (ANY,)),
    Op(
        "softplus", "softplus", 1, lambda M, a: M.softplus(a), (lambda M, o, a: M.sigmoid(a),), (ANY,),
        convention="log(1 + e^x), computed without overflow",
    ),
    Op(
        "maximum", "max", 2, lambda M, a, b: M.maximum(a, b),
        (
            lambda M, o, a, b: M.where(M.gt(a, b), 1.0, M.where(M.eq(a, b), 0.5, 0.0)),
            lambda M, o, a, b: M.where(M.gt(b, a), 1.0, M.where(M.eq(a, b), 0.5, 0.0)),
        ),
        (ANY, ANY), _apart, (((1.0, 1.0), (0.5, 0.5)),),
        convention="at a tie each input gets half (PyTorch's convention); nan propagates",
    ),
    Op(
        "minimum", "min", 2, lambda M, a, b: M.minimum(a, b),
        (
            lambda M, o, a, b: M.where(M.lt(a, b), 1.0, M.where(M.eq(a, b), 0.5, 0.0)),
            lambda M, o, a, b: M.where(M.lt(b, a), 1.0, M.where(M.eq(a, b), 0.5, 0.0)),
        ),
        (ANY, ANY), _apart, (((1.0, 1.0), (0.5, 0.5)),),
        convention="at a tie each input gets half (PyTorch's convention); nan propagates",
    ),
    Op(
        "clamp", "clamp", 3, _clamp_forward,
        (
            lambda M, o, x, lo, hi: M.where(M.ge(x, lo), M.where(M.le(x, hi), 1.0, 0.0), 0.0),
            lambda M, o, x, lo, hi: M.where(M.lt(x, lo), M.where(M.lt(lo, hi), 1.0, 0.0), 0.0),
            lambda M, o, x, lo, hi: M.where(M.gt(M.maximum(x, lo), hi), 1.0, 0.0),
        ),
        (ANY, ((-3.0, -1.0),), ((1.0, 3.0),)), _clamp_smooth,
        (((1.0, 1.0, 2.0), (1.0, 0.0, 0.0)), ((2.0, 1.0, 2.0), (1.0, 0.0, 0.0))),
        convention="x passes its gradient on the closed range [lo, hi]; lo gets it where x < lo < hi, "
        "hi where max(x, lo) > hi (PyTorch's conventions)",
    ),
    Op(
        "sum", "sum", None, lambda M, *xs: M.sum(xs), lambda M, o, *xs: [1.0] * len(xs), (ANY,),
    ),
    Op(
        "dot", "dot", None, _dot_forward, _dot_grads, (ANY,),
        convention="inputs are w_1..w_n, x_1..x_n and an optional bias b; out = sum w_i x_i (+ b)",
    ),
    Op(
        "logsumexp", "logsumexp", None, _logsumexp_forward,
        lambda M, o, *xs: [M.exp(x - o) for x in xs], (ANY,),
        convention="computed as m + log(sum e^(x - m)) with m = max x: no overflow",
    ),
)

OP: dict[str, Op] = {op.name: op for op in OPS}
