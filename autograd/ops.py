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
differentiable: on Values they compare ``.data`` and give plain floats. So do
the piecewise-constant helpers (``sign``, ``heaviside``, ``floor_divide``,
``isnan``, ``isinf``, ``isfinite``) and ``detach``, which holds a value
constant: on Values they give numbers, which add no graph. Every other
namespace function on Values is the op-table row of the same name.

Each row follows PyTorch float64, and its ``convention`` says where it does
not and why (IEEE-754 or the maths); ``tests/test_ops_sweep.py`` holds every
row to exactly that.

Numbers follow IEEE-754 as NumPy does. The float namespace uses :mod:`math`
(fast) and raises on overflow, division by zero or a domain error; the engine
then recomputes that op with numpy float64 scalars, which give inf/nan as
NumPy would. So an op never leaks ``ZeroDivisionError``, ``OverflowError`` or
a math-domain ``ValueError``.

The hottest rows also carry a ``float_rule``: the forward and every local
derivative on Python floats in one call. A Python call costs about as much
as the arithmetic around it, and the rules above take one call each, so the
engine makes those nodes through ``float_rule``. It is an optimisation, not a
second definition: tests hold every ``float_rule`` to its row's forward and
grads on ``FLOAT_MATH``, bit for bit, and where it raises (a math error) the
engine goes back to the rules.
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
        # PyTorch computes x ** 0.5 as sqrt(x) (NumPy's array loop too): (-0.0) ** 0.5 is -0.0 and
        # (-inf) ** 0.5 is nan there, where C's pow gives +0.0 and +inf.
        return math.sqrt(a)
    if b == -0.5:
        return 1.0 / math.sqrt(a)  # and x ** -0.5 as rsqrt(x)
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


def _float_heaviside(x: float) -> float:
    # The step 0 / 1 with step(0) = 0, and nan at nan (relu's derivative).
    return 1.0 if x > 0.0 else (0.0 if x <= 0.0 else nan)


def _identity(x: Any) -> Any:
    return x


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


_INTEGRAL = 4503599627370496.0  # 2**52: every float at least this large is an integer


def _integer_valued(fn: Callable[[float], int]) -> Callable[[float], float]:
    """floor, ceil, round or trunc on floats, as IEEE-754: a float result, the sign of a zero kept."""

    def rounded(x: float) -> float:
        if not -_INTEGRAL < x < _INTEGRAL:  # already an integer, or inf, or nan
            return x
        return math.copysign(float(fn(x)), x)  # floor(-0.5) = -1.0, ceil(-0.5) = -0.0

    return rounded


def _float_exp2(x: float) -> float:
    return 2.0**x  # OverflowError above 1024, caught by the engine


def _float_reciprocal(x: float) -> float:
    return 1.0 / x if x else math.copysign(inf, x)


def _float_rsqrt(x: float) -> float:
    return 1.0 / math.sqrt(x)


def _float_remainder(a: float, b: float) -> float:
    # PyTorch's remainder: fmod, moved into the divisor's sign. Python's a % b is the same but
    # for the sign of a zero result (Python takes the divisor's, PyTorch keeps the dividend's).
    m = math.fmod(a, b)
    if m != 0.0 and (b < 0.0) != (m < 0.0):
        m += b
    return m


def _float_logaddexp(a: float, b: float) -> float:
    if a != a or b != b:
        return nan
    if a == b and math.isinf(a):  # inf - inf would be nan
        return a
    return (a if a > b else b) + math.log1p(math.exp(-abs(a - b)))


class FloatMath:
    """Maths on Python floats (fast; raises where IEEE-754 would give inf/nan)."""

    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    sqrt = staticmethod(math.sqrt)
    tanh = staticmethod(math.tanh)
    sin = staticmethod(math.sin)
    cos = staticmethod(math.cos)
    log1p = staticmethod(math.log1p)
    log2 = staticmethod(math.log2)
    log10 = staticmethod(math.log10)
    expm1 = staticmethod(math.expm1)
    exp2 = staticmethod(_float_exp2)
    tan = staticmethod(math.tan)
    sinh = staticmethod(math.sinh)
    cosh = staticmethod(math.cosh)
    asin = staticmethod(math.asin)
    acos = staticmethod(math.acos)
    atan = staticmethod(math.atan)
    asinh = staticmethod(math.asinh)
    acosh = staticmethod(math.acosh)
    atanh = staticmethod(math.atanh)
    atan2 = staticmethod(math.atan2)
    hypot = staticmethod(math.hypot)
    erf = staticmethod(math.erf)
    erfc = staticmethod(math.erfc)
    reciprocal = staticmethod(_float_reciprocal)
    rsqrt = staticmethod(_float_rsqrt)
    floor = staticmethod(_integer_valued(math.floor))
    ceil = staticmethod(_integer_valued(math.ceil))
    round = staticmethod(_integer_valued(round))  # Python rounds half to even, as IEEE-754 and PyTorch
    trunc = staticmethod(_integer_valued(math.trunc))
    fmod = staticmethod(math.fmod)
    remainder = staticmethod(_float_remainder)
    copysign = staticmethod(math.copysign)
    logaddexp = staticmethod(_float_logaddexp)
    pow = staticmethod(_float_pow)
    sigmoid = staticmethod(_float_sigmoid)
    softplus = staticmethod(_float_softplus)
    relu = staticmethod(_float_relu)
    heaviside = staticmethod(_float_heaviside)
    abs = staticmethod(abs)
    sign = staticmethod(_float_sign)
    maximum = staticmethod(_float_max)
    minimum = staticmethod(_float_min)
    where = staticmethod(_float_where)
    isfinite = staticmethod(math.isfinite)
    isinf = staticmethod(math.isinf)
    isnan = staticmethod(math.isnan)
    detach = staticmethod(_identity)  # held constant: only Values have something to hold

    @staticmethod
    def floor_divide(a: float, b: float) -> float:
        return a // b  # Python's floor division is PyTorch's div(rounding_mode="floor")

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
    # x ** 0.5 is sqrt(x) and x ** -0.5 is rsqrt(x), as on floats (see _float_pow).
    r = np.where(np.equal(b, 0.5), np.sqrt(a), r)
    return np.where(np.equal(b, -0.5), 1.0 / np.sqrt(a), r)


def _np_remainder(a: Any, b: Any) -> Any:
    m = np.fmod(a, b)
    return np.where((m != 0.0) & (np.less(b, 0.0) != (m < 0.0)), m + b, m)


_np_erf = np.vectorize(math.erf, otypes=[np.float64])
_np_erfc = np.vectorize(math.erfc, otypes=[np.float64])


class NumpyMath:
    """Maths on numpy float64 scalars and arrays (IEEE-754: inf/nan, never raises)."""

    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)
    tanh = staticmethod(np.tanh)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    log1p = staticmethod(np.log1p)
    log2 = staticmethod(np.log2)
    log10 = staticmethod(np.log10)
    expm1 = staticmethod(np.expm1)
    exp2 = staticmethod(np.exp2)
    tan = staticmethod(np.tan)
    sinh = staticmethod(np.sinh)
    cosh = staticmethod(np.cosh)
    asin = staticmethod(np.arcsin)
    acos = staticmethod(np.arccos)
    atan = staticmethod(np.arctan)
    asinh = staticmethod(np.arcsinh)
    acosh = staticmethod(np.arccosh)
    atanh = staticmethod(np.arctanh)
    atan2 = staticmethod(np.arctan2)
    hypot = staticmethod(np.hypot)
    # NOTE: numpy has no erf; math.erf per element (the compiled mode pays ~0.1 us per sample).
    erf = staticmethod(_np_erf)
    erfc = staticmethod(_np_erfc)
    reciprocal = staticmethod(np.reciprocal)
    floor = staticmethod(np.floor)
    ceil = staticmethod(np.ceil)
    round = staticmethod(np.rint)  # half to even
    trunc = staticmethod(np.trunc)
    fmod = staticmethod(np.fmod)
    remainder = staticmethod(_np_remainder)
    floor_divide = staticmethod(np.floor_divide)
    copysign = staticmethod(np.copysign)
    logaddexp = staticmethod(np.logaddexp)
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
    isfinite = staticmethod(np.isfinite)
    isinf = staticmethod(np.isinf)
    isnan = staticmethod(np.isnan)
    detach = staticmethod(_identity)

    @staticmethod
    def rsqrt(x: Any) -> Any:
        return 1.0 / np.sqrt(x)

    @staticmethod
    def heaviside(x: Any) -> Any:
        return np.heaviside(x, 0.0)

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
        float_rule: optional, on floats only: ``float_rule(*inputs) ->
            (output, d0, d1, ...)`` for a fixed arity, ``(output, derivatives)``
            for an n-ary op; exactly what forward and grads give on
            ``FLOAT_MATH``, in one call (see the module docstring). A row
            made from this one with another forward or grads
            (``dataclasses.replace(OP["relu"], grads=...)``) drops it: it was
            written for these rules only.
        float_rule_of: set by the row itself: the (forward, grads) its
            ``float_rule`` was written for.
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
    float_rule: Callable[..., tuple[Any, ...]] | None = None
    float_rule_of: tuple[Rule, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.float_rule is None:
            return
        rules = (self.forward, self.grads)
        if self.float_rule_of is None:
            object.__setattr__(self, "float_rule_of", rules)
        elif self.float_rule_of != rules:  # copied by dataclasses.replace with new rules: stale
            object.__setattr__(self, "float_rule", None)
            object.__setattr__(self, "float_rule_of", None)

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


# Shared domains: intervals that tests draw inputs from.
ANY: tuple[Interval, ...] = ((-3.0, 3.0),)
NONZERO: tuple[Interval, ...] = ((-3.0, -0.2), (0.2, 3.0))
POSITIVE: tuple[Interval, ...] = ((0.05, 4.0),)
UNIT: tuple[Interval, ...] = ((-0.95, 0.95),)
MARGIN = 1e-3  # how far from a kink finite differences stay valid with eps=1e-6

# Constants, spelled as PyTorch computes them (so values agree to the last bit where the formulas do).
LN2 = 0.6931471805599453  # M_LN2
LN10 = 2.302585092994046  # M_LN10
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
SQRT1_2 = 0.7071067811865476  # M_SQRT1_2
INV_SQRT_2PI = 1.1283791670955126 * SQRT1_2 * 0.5  # M_2_SQRTPI * M_SQRT1_2 / 2 = 1/sqrt(2 pi)
GELU_BETA = 1.4142135623730951 * 1.1283791670955126 * 0.5  # sqrt(2/pi)
GELU_KAPPA = 0.044715
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# The nan-input convention of every piecewise row (relu, abs, max, min, clamp, the hard* family, the
# elu family): see _nan_at_nan.
NAN_RULE = "a nan input that chooses the branch makes every local derivative nan (no branch applies)"


def _away(*points: float) -> Callable[..., bool]:
    def smooth(x: float, *rest: float) -> bool:
        return all(abs(x - p) > MARGIN for p in points)

    return smooth


def _apart(a: float, b: float) -> bool:
    return abs(a - b) > MARGIN


def _clamp_smooth(x: float, lo: float, hi: float) -> bool:
    return lo + MARGIN < hi and abs(x - lo) > MARGIN and abs(x - hi) > MARGIN


def _off_integers(q: float, shift: float = 0.0) -> bool:
    """True when q is more than MARGIN from every integer + shift (the jumps of floor and friends)."""
    return abs(q - shift - round(q - shift)) > MARGIN


def _nan_at_nan(M: Any, d: Any, *xs: Any) -> Any:
    """d, but nan where any of xs is nan: the nan-input convention of the piecewise rows.

    A branch is chosen by comparisons, which are all false for nan, so no
    branch's derivative applies; nan says so (IEEE-754: nan in, nan out)
    where PyTorch gives 0 or 1 depending on the op (relu'(nan) = 1,
    abs'(nan) = 0, both inputs of max(nan, 1) get 1).
    """
    for x in xs:
        # x * nan, not a plain nan: on Values its derivative is nan too, so second derivatives follow.
        d = M.where(M.isnan(x), x * nan, d)
    return d


def _limit_at_inf(M: Any, x: Any, value: Any, at_minus_inf: Any, at_plus_inf: Any) -> Any:
    """value, but the limits of the function at x = -inf and +inf (where the formula gives inf * 0)."""
    return M.where(M.isinf(x), M.where(M.gt(x, 0.0), at_plus_inf, at_minus_inf), value)


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


# float_rule of the hottest rows: forward and local derivatives on floats in one call.


def _div_float(a: float, b: float) -> tuple[float, float, float]:
    o = a / b
    return o, 1.0 / b, -o / b


def _exp_float(a: float) -> tuple[float, float]:
    o = math.exp(a)
    return o, o


def _tanh_float(a: float) -> tuple[float, float]:
    o = math.tanh(a)
    return o, 1.0 - o * o


def _sigmoid_float(a: float) -> tuple[float, float]:
    o = _float_sigmoid(a)
    return o, o * (1.0 - o)


def _relu_float(a: float) -> tuple[float, float]:
    if a > 0.0:
        return a, 1.0
    if a <= 0.0:
        return 0.0, 0.0
    return a, nan  # nan in, nan out, and a nan derivative (heaviside's)


def _sum_float(*xs: float) -> tuple[float, tuple[float, ...]]:
    return sum(xs, 0.0), (1.0,) * len(xs)


def _dot_float(*xs: float) -> tuple[float, tuple[float, ...]]:
    n = len(xs) // 2
    weights, inputs = xs[:n], xs[n : 2 * n]
    # NOTE: the same terms summed by the same sum() as _dot_forward on FLOAT_MATH, the bias among them
    # (Python 3.12's sum() of floats compensates its rounding, so sum(terms) + b could differ in the last bit).
    terms = list(map(operator.mul, weights, inputs))
    if len(xs) % 2:
        terms.append(xs[-1])
        return sum(terms, 0.0), (*inputs, *weights, 1.0)
    return sum(terms, 0.0), (*inputs, *weights)


def _pow_dbase(M: Any, out: Any, a: Any, b: Any) -> Any:
    # d(a^b)/da = b a^(b-1). Where b == 0, a^0 = 1 for every a (IEEE-754: nan and inf too), so
    # the derivative is 0 (as PyTorch), also where a^(b-1) is inf (a == 0 or subnormal).
    # NOTE: there it is written b * (1/a), with 1/a held constant: 0 in value, yet its derivative
    # with respect to b is the true mixed partial d2/dadb = 1/a (PyTorch's is 0), and with respect
    # to a it is 0, so d2/da2 of a^0 is 0 at any a (it was nan below 1e-154). Where 1/a is not
    # finite (a == 0, subnormal, nan), a plain 0.
    held = M.detach(M.reciprocal(a))
    at_zero = M.where(M.isfinite(held), b * held, 0.0)
    return M.where(M.eq(b, 0.0), at_zero, b * M.pow(a, b - 1.0))


def _pow_dexp(M: Any, out: Any, a: Any, b: Any) -> Any:
    # d(a^b)/db = a^b log(a); PyTorch sets it to 0 where a == 0 and b >= 0.
    return M.where(M.eq(a, 0.0), M.where(M.ge(b, 0.0), 0.0, out * M.log(a)), out * M.log(a))


def _max_grad(M: Any, a: Any, b: Any) -> Any:
    # d max(a, b) / da: 1 where a wins, 1/2 at a tie, 0 where b wins, nan when either is nan.
    return _nan_at_nan(M, M.where(M.gt(a, b), 1.0, M.where(M.eq(a, b), 0.5, 0.0)), a, b)


def _indicator(M: Any, *conditions: Any) -> Any:
    """1.0 where every condition holds, else 0.0 (nested where: works on floats, Values and arrays)."""
    result: Any = 1.0
    for cond in reversed(conditions):
        result = M.where(cond, result, 0.0)
    return result


def _clamp_rules(open_range: bool) -> tuple[Rule, Rule, Rule]:
    """Derivatives of min(max(x, lo), hi) with respect to x, lo and hi (clamp, or hardtanh if open_range).

    clamp: x passes on the closed range [lo, hi], lo where x < lo < hi, hi where
    x > hi or lo > hi (PyTorch's). hardtanh: x on the open range (lo, hi), as
    PyTorch's; lo where x <= lo < hi and hi where max(x, lo) >= hi, so the
    three always sum to 1. All three are nan at a nan, except clamp's d/dhi,
    which is PyTorch's at a nan too.
    """

    def dx(M: Any, o: Any, x: Any, lo: Any, hi: Any) -> Any:
        inside = _indicator(M, M.gt(x, lo), M.lt(x, hi)) if open_range else _indicator(M, M.ge(x, lo), M.le(x, hi))
        return _nan_at_nan(M, inside, x, lo, hi)

    def dlo(M: Any, o: Any, x: Any, lo: Any, hi: Any) -> Any:
        below = M.le(x, lo) if open_range else M.lt(x, lo)
        return _nan_at_nan(M, _indicator(M, below, M.lt(lo, hi)), x, lo, hi)

    def dhi(M: Any, o: Any, x: Any, lo: Any, hi: Any) -> Any:
        if open_range:
            return _nan_at_nan(M, _indicator(M, M.ge(M.maximum(x, lo), hi)), x, lo, hi)
        # x > hi or lo > hi: max(x, lo) > hi where nothing is nan. NOTE: PyTorch's two comparisons, not
        # max(x, lo) > hi, and no nan rule: with a nan x or lo, hi still gets 1 where the other one
        # exceeds it (PyTorch's clamp backward), with a nan hi 0 (both comparisons are false).
        return M.where(M.gt(x, hi), 1.0, M.where(M.gt(lo, hi), 1.0, 0.0))

    return dx, dlo, dhi


def _box_grad(M: Any, x: Any, lo: float, hi: float, inside: Any) -> Any:
    """inside on the open range (lo, hi), 0 outside it and at its ends, nan at nan (relu6, hardsigmoid)."""
    return _nan_at_nan(M, M.where(M.gt(x, lo), M.where(M.lt(x, hi), inside, 0.0), 0.0), x)


def _softplus_forward(M: Any, x: Any, beta: Any, threshold: Any) -> Any:
    z = beta * x
    return M.where(M.gt(z, threshold), x, M.softplus(z) / beta)


def _softplus_dbeta(M: Any, out: Any, x: Any, beta: Any, threshold: Any) -> Any:
    # d/dbeta softplus(beta x) / beta = (x sigmoid(beta x) - out) / beta.
    z = beta * x
    return M.where(M.gt(z, threshold), 0.0, (x * M.sigmoid(z) - out) / beta)


def _gelu_forward(M: Any, x: Any) -> Any:
    # x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2: PyTorch's 1 + erf(x / sqrt 2) rounds to 0 below x ~ -8.3.
    return _limit_at_inf(M, x, 0.5 * x * M.erfc(-x * SQRT1_2), 0.0, x)


def _gelu_grad(M: Any, out: Any, x: Any) -> Any:
    # Phi(x) + x phi(x).
    cdf = 0.5 * M.erfc(-x * SQRT1_2)
    return _limit_at_inf(M, x, cdf + x * (INV_SQRT_2PI * M.exp(-0.5 * x * x)), 0.0, 1.0)


def _gelu_tanh_forward(M: Any, x: Any) -> Any:
    # x (1 + tanh(u)) / 2 = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): no cancellation for x << 0.
    u = GELU_BETA * (x + GELU_KAPPA * x * x * x)
    return _limit_at_inf(M, x, x * M.sigmoid(2.0 * u), 0.0, x)


def _gelu_tanh_grad(M: Any, out: Any, x: Any) -> Any:
    u = GELU_BETA * (x + GELU_KAPPA * x * x * x)
    s = M.sigmoid(2.0 * u)
    du = GELU_BETA * (1.0 + 3.0 * GELU_KAPPA * x * x)
    # Beyond |x| = 1e100, s(1 - s) is exactly 0 and du overflows (PyTorch's 0 * inf = nan): the limits 0 and 1.
    return M.where(M.ge(M.abs(x), 1e100), M.where(M.gt(x, 0.0), 1.0, 0.0), s + 2.0 * x * s * (1.0 - s) * du)


def _silu_grad(M: Any, out: Any, x: Any) -> Any:
    s = M.sigmoid(x)
    return _limit_at_inf(M, x, s * (1.0 + x * (1.0 - s)), 0.0, 1.0)


def _mish_grad(M: Any, out: Any, x: Any) -> Any:
    t = M.tanh(M.softplus(x))
    return _limit_at_inf(M, x, t + x * M.sigmoid(x) * (1.0 - t * t), 0.0, 1.0)


def _elu_forward(M: Any, x: Any, alpha: Any) -> Any:
    # x itself at x == 0 (the same 0 for a finite alpha): 0 for every alpha, as PyTorch (alpha * expm1(0)
    # would be nan for an infinite or nan alpha).
    return M.where(M.ge(x, 0.0), x, alpha * M.expm1(x))


def _elu_grad(M: Any, x: Any, positive: float, at_zero: Any, negative: Any) -> Any:
    """The derivative of the elu family: its value at 0 is the left one, held constant there, so the
    second derivative at 0 is 0 (PyTorch's: its first derivative tests x <= 0, its second x < 0)."""
    return _nan_at_nan(M, M.where(M.gt(x, 0.0), positive, M.where(M.lt(x, 0.0), negative, at_zero)), x)


def _celu_dalpha(M: Any, out: Any, x: Any, alpha: Any) -> Any:
    # d/dalpha alpha (e^(x/alpha) - 1) = e^(x/alpha) - 1 - (x/alpha) e^(x/alpha).
    q = x / alpha
    return M.where(M.gt(x, 0.0), 0.0, M.expm1(q) - q * M.exp(q))


def _hardswish_forward(M: Any, x: Any) -> Any:
    return x * M.minimum(M.maximum(x + 3.0, 0.0), 6.0) / 6.0


def _hardswish_grad(M: Any, out: Any, x: Any) -> Any:
    # PyTorch's: 0 up to -3 (closed), x/3 + 1/2 on (-3, 3), 1 from 3 on (closed).
    middle = M.where(M.gt(x, -3.0), x / 3.0 + 0.5, 0.0)
    return _nan_at_nan(M, M.where(M.lt(x, 3.0), middle, 1.0), x)


def _atan2_grads(M: Any, y: Any, x: Any) -> tuple[Any, Any]:
    # d/dy = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2); 0 at the origin, as PyTorch.
    r2 = x * x + y * y
    return M.where(M.eq(r2, 0.0), 0.0, x / r2), M.where(M.eq(r2, 0.0), 0.0, -y / r2)


def _remainder_smooth(a: float, b: float) -> bool:
    return _off_integers(a / b)


def _copysign_smooth(a: float, b: float) -> bool:
    return abs(a) > MARGIN and abs(b) > MARGIN


def _atan2_smooth(y: float, x: float) -> bool:
    # Away from the origin and from the cut along the negative x axis (atan2 jumps from pi to -pi).
    return math.hypot(x, y) > 0.1 and not (x < 0.0 and abs(y) <= MARGIN)


def _softplus_smooth(x: float, beta: float, threshold: float) -> bool:
    return abs(beta * x - threshold) > MARGIN


def _zero(M: Any, o: Any, *xs: Any) -> float:
    return 0.0


def _one(M: Any, o: Any, *xs: Any) -> float:
    return 1.0


def _unary_row(
    name: str, forward: Rule, grad: Rule, domain: tuple[Interval, ...] = ANY, convention: str = "", **kw: Any
) -> Op:
    return Op(name, name, 1, forward, (grad,), (domain,), convention=convention, **kw)


INTEGER_VALUED = "integer-valued: the derivative is 0 everywhere (at the jumps, at inf and nan too), as PyTorch"

OPS: tuple[Op, ...] = (
    Op("add", "+", 2, lambda M, a, b: a + b, (_one, _one), (ANY, ANY), float_rule=lambda a, b: (a + b, 1.0, 1.0)),
    Op(
        "sub", "-", 2, lambda M, a, b: a - b, (_one, lambda M, o, a, b: -1.0), (ANY, ANY),
        float_rule=lambda a, b: (a - b, 1.0, -1.0),
    ),
    Op(
        "mul", "*", 2, lambda M, a, b: a * b, (lambda M, o, a, b: b, lambda M, o, a, b: a), (ANY, ANY),
        float_rule=lambda a, b: (a * b, b, a),
    ),
    Op(
        "div", "/", 2,
        lambda M, a, b: a / b,
        # d/db as -(a/b)/b, not -a/(b*b): b*b overflows for |b| > 1e154.
        (lambda M, o, a, b: 1.0 / b, lambda M, o, a, b: -o / b),
        (ANY, NONZERO),
        convention="a/0 is +-inf (nan for 0/0), as IEEE-754",
        float_rule=_div_float,
    ),
    Op("neg", "neg", 1, lambda M, a: -a, (lambda M, o, a: -1.0,), (ANY,), float_rule=lambda a: (-a, -1.0)),
    Op(
        "pow", "**", 2,
        lambda M, a, b: M.pow(a, b),
        (_pow_dbase, _pow_dexp),
        (POSITIVE, ANY),
        kinks=(
            ((0.0, 0.0), (0.0, 0.0)),
            ((math.nan, 0.0), (0.0, math.nan)),
            ((5e-324, 0.0), (0.0, -744.4400719213812)),
        ),
        convention="nan for a negative base and a fractional exponent; x ** 0.5 is sqrt(x) and x ** -0.5 is "
        "rsqrt(x), as PyTorch computes them ((-inf) ** 0.5 = nan and (-0.0) ** 0.5 = -0.0, where C's pow "
        "gives inf and 0; torch.pow with a tensor exponent gives C's); d/da is 0 where b == 0 for every a "
        "(a ** 0 = 1 even for nan and inf), with the true mixed partial d2/dadb = 1/a there (PyTorch's is 0); "
        "d/db is 0 where a == 0 and b >= 0 (PyTorch's conventions); second derivatives at a == 0, at b == 0 and at "
        "a subnormal or infinite a come from these constants and from 1/a (inf at a subnormal a), where PyTorch, "
        "which divides the upstream gradient instead, mostly gives nan",
    ),
    Op("exp", "exp", 1, lambda M, a: M.exp(a), (lambda M, o, a: o,), (ANY,), float_rule=_exp_float),
    Op(
        "log", "log", 1, lambda M, a: M.log(a), (lambda M, o, a: 1.0 / a,), (POSITIVE,),
        convention="log(0) = -inf, log(x < 0) = nan",
        float_rule=lambda a: (math.log(a), 1.0 / a),
    ),
    Op(
        "sqrt", "sqrt", 1, lambda M, a: M.sqrt(a), (lambda M, o, a: 0.5 / o,), (POSITIVE,),
        convention="sqrt'(0) = inf, sqrt'(-0.0) = -inf, sqrt(x < 0) = nan",
    ),
    Op("tanh", "tanh", 1, lambda M, a: M.tanh(a), (lambda M, o, a: 1.0 - o * o,), (ANY,), float_rule=_tanh_float),
    Op(
        "sigmoid", "sigmoid", 1, lambda M, a: M.sigmoid(a), (lambda M, o, a: o * (1.0 - o),), (ANY,),
        float_rule=_sigmoid_float,
    ),
    Op(
        "relu", "relu", 1, lambda M, a: M.relu(a),
        (lambda M, o, a: M.heaviside(a),),
        (NONZERO,), _away(0.0), (((0.0,), (0.0,)), ((math.nan,), (math.nan,))),
        convention=f"relu'(0) = 0; {NAN_RULE} (PyTorch: relu'(nan) = 1)",
        float_rule=_relu_float,
    ),
    Op(
        "leaky_relu", "leaky_relu", 2,
        lambda M, a, s: M.where(M.gt(a, 0.0), a, a * s),
        (
            lambda M, o, a, s: _nan_at_nan(M, M.where(M.gt(a, 0.0), 1.0, s), a),
            lambda M, o, a, s: _nan_at_nan(M, M.where(M.gt(a, 0.0), 0.0, a), a),
        ),
        (NONZERO, ((0.0, 0.5),)), _away(0.0), (((0.0, 0.01), (0.01, 0.0)), ((math.nan, 0.01), (math.nan, math.nan))),
        convention=f"leaky_relu'(0) = slope (PyTorch's convention); the slope is an input; {NAN_RULE}",
    ),
    Op(
        "abs", "abs", 1, lambda M, a: M.abs(a), (lambda M, o, a: M.sign(a),),
        (NONZERO,), _away(0.0), (((0.0,), (0.0,)), ((math.nan,), (math.nan,))),
        convention=f"abs'(0) = 0; {NAN_RULE} (PyTorch: abs'(nan) = 0)",
    ),
    Op("sin", "sin", 1, lambda M, a: M.sin(a), (lambda M, o, a: M.cos(a),), (ANY,)),
    Op("cos", "cos", 1, lambda M, a: M.cos(a), (lambda M, o, a: -M.sin(a),), (ANY,)),
    Op(
        "softplus", "softplus", 1, lambda M, a: M.softplus(a), (lambda M, o, a: M.sigmoid(a),), (ANY,),
        convention="log(1 + e^x), computed without overflow (PyTorch's F.softplus with threshold=inf "
        "overflows to inf above 709, ours does not; its default threshold=20 is softplus_beta's)",
    ),
    Op(
        "softplus_beta", "softplus", 3, _softplus_forward,
        (
            lambda M, o, x, beta, threshold: M.where(M.gt(beta * x, threshold), 1.0, M.sigmoid(beta * x)),
            _softplus_dbeta,
            _zero,
        ),
        (ANY, ((0.5, 2.0),), ((2.0, 20.0),)), _softplus_smooth,
        convention="log(1 + e^(beta x)) / beta, computed without overflow, and x where beta x > threshold "
        "(PyTorch's F.softplus(x, beta, threshold), whose exp(beta x) overflows to inf above 709, ours does "
        "not); beta is an input (d/dbeta is the true one), the threshold too (d/dthreshold = 0); at beta x == "
        "threshold the sigmoid branch, with its second derivative (PyTorch's second derivative is 0 there); "
        "with a nan threshold too (no comparison holds: PyTorch's first derivative is the sigmoid branch's, "
        "its second derivative is 0)",
    ),
    Op(
        "maximum", "max", 2, lambda M, a, b: M.maximum(a, b),
        (lambda M, o, a, b: _max_grad(M, a, b), lambda M, o, a, b: _max_grad(M, b, a)),
        (ANY, ANY), _apart, (((1.0, 1.0), (0.5, 0.5)), ((math.nan, 1.0), (math.nan, math.nan))),
        convention=f"at a tie each input gets half (PyTorch's convention); nan propagates; {NAN_RULE} "
        "(PyTorch gives both 1)",
    ),
    Op(
        "minimum", "min", 2, lambda M, a, b: M.minimum(a, b),
        (lambda M, o, a, b: _max_grad(M, b, a), lambda M, o, a, b: _max_grad(M, a, b)),
        (ANY, ANY), _apart, (((1.0, 1.0), (0.5, 0.5)), ((1.0, math.nan), (math.nan, math.nan))),
        convention=f"at a tie each input gets half (PyTorch's convention); nan propagates; {NAN_RULE} "
        "(PyTorch gives both 1)",
    ),
    Op(
        "clamp", "clamp", 3, _clamp_forward, _clamp_rules(open_range=False),
        (ANY, ((-3.0, -1.0),), ((1.0, 3.0),)), _clamp_smooth,
        (
            ((1.0, 1.0, 2.0), (1.0, 0.0, 0.0)),
            ((2.0, 1.0, 2.0), (1.0, 0.0, 0.0)),
            ((2.0, math.nan, 1.0), (math.nan, math.nan, 1.0)),
            ((0.0, math.nan, 1.0), (math.nan, math.nan, 0.0)),
            ((math.nan, 2.0, 1.0), (math.nan, math.nan, 1.0)),
            ((0.0, -1.0, math.nan), (math.nan, math.nan, 0.0)),
        ),
        convention="x passes its gradient on the closed range [lo, hi]; lo gets it where x < lo < hi, "
        f"hi where x > hi or lo > hi (PyTorch's conventions); for x and lo, {NAN_RULE} (PyTorch gives 0); "
        "d/dhi is PyTorch's at a nan too: 1 where x > hi or lo > hi, comparisons that are false at nan (so "
        "1 for clamp(nan, 2, 1) and clamp(2, nan, 1), 0 for a nan hi)",
    ),
    Op(
        "sum", "sum", None, lambda M, *xs: M.sum(xs), lambda M, o, *xs: [1.0] * len(xs), (ANY,),
        float_rule=_sum_float,
    ),
    Op(
        "dot", "dot", None, _dot_forward, _dot_grads, (ANY,),
        convention="inputs are w_1..w_n, x_1..x_n and an optional bias b; out = sum w_i x_i (+ b), each "
        "product rounded before the sum, as PyTorch's (w * x).sum(), torch.dot and F.linear float64 give "
        "(a BLAS with fused multiply-add may not overflow where a product does)",
        float_rule=_dot_float,
    ),
    Op(
        "logsumexp", "logsumexp", None, _logsumexp_forward,
        lambda M, o, *xs: [M.exp(x - o) for x in xs], (ANY,),
        convention="computed as m + log(sum e^(x - m)) with m = max x: no overflow; second derivatives are 0 "
        "at an infinite input (the true limit; PyTorch's inf - inf gives nan)",
    ),
    # -- logarithms and exponentials -------------------------------------------------------------
    _unary_row("log2", lambda M, a: M.log2(a), lambda M, o, a: 1.0 / (a * LN2), POSITIVE,
               "log2(0) = -inf, log2(x < 0) = nan"),
    _unary_row("log10", lambda M, a: M.log10(a), lambda M, o, a: 1.0 / (a * LN10), POSITIVE,
               "log10(0) = -inf, log10(x < 0) = nan"),
    _unary_row("log1p", lambda M, a: M.log1p(a), lambda M, o, a: 1.0 / (a + 1.0), ((-0.9, 3.0),),
               "log(1 + x), exact for small x; log1p(-1) = -inf, log1p(x < -1) = nan"),
    _unary_row("expm1", lambda M, a: M.expm1(a), lambda M, o, a: M.exp(a), ANY,
               "e^x - 1, exact for small x; the derivative is e^x (PyTorch's out + 1 rounds to 0 below x ~ -37)"),
    _unary_row("exp2", lambda M, a: M.exp2(a), lambda M, o, a: o * LN2),
    # -- trigonometric and hyperbolic ---------------------------------------------------------------
    _unary_row("tan", lambda M, a: M.tan(a), lambda M, o, a: 1.0 + o * o, ((-1.4, 1.4),), "tan(+-inf) = nan"),
    _unary_row("sinh", lambda M, a: M.sinh(a), lambda M, o, a: M.cosh(a), ANY,
               "sinh(710) = 1.1e308, finite (PyTorch's overflows to inf from |x| ~ 709.8)"),
    _unary_row("cosh", lambda M, a: M.cosh(a), lambda M, o, a: M.sinh(a), ANY,
               "cosh(710) = 1.1e308, finite (PyTorch's overflows to inf from |x| ~ 709.8)"),
    _unary_row("asin", lambda M, a: M.asin(a), lambda M, o, a: M.rsqrt(1.0 - a * a), UNIT,
               "asin'(+-1) = inf; nan outside [-1, 1]"),
    _unary_row("acos", lambda M, a: M.acos(a), lambda M, o, a: -M.rsqrt(1.0 - a * a), UNIT,
               "acos'(+-1) = -inf; nan outside [-1, 1]"),
    _unary_row("atan", lambda M, a: M.atan(a), lambda M, o, a: 1.0 / (a * a + 1.0)),
    _unary_row("asinh", lambda M, a: M.asinh(a), lambda M, o, a: M.rsqrt(a * a + 1.0)),
    _unary_row("acosh", lambda M, a: M.acosh(a), lambda M, o, a: M.rsqrt(a * a - 1.0), ((1.05, 4.0),),
               "acosh'(1) = inf; nan below 1"),
    _unary_row("atanh", lambda M, a: M.atanh(a), lambda M, o, a: 1.0 / (1.0 - a * a), UNIT,
               "atanh(+-1) = +-inf, atanh'(+-1) = inf; nan outside [-1, 1]"),
    Op(
        "atan2", "atan2", 2, lambda M, y, x: M.atan2(y, x),
        (lambda M, o, y, x: _atan2_grads(M, y, x)[0], lambda M, o, y, x: _atan2_grads(M, y, x)[1]),
        (ANY, ANY), _atan2_smooth, (((0.0, 0.0), (0.0, 0.0)),),
        convention="atan2(y, x), the angle of (x, y) in [-pi, pi]; both derivatives are 0 at the origin "
        "(PyTorch's convention; also where x^2 + y^2 underflows to 0), as constants, so second derivatives 0 "
        "there (PyTorch: nan); it jumps across the negative x axis",
    ),
    Op(
        "hypot", "hypot", 2, lambda M, a, b: M.hypot(a, b),
        (lambda M, o, a, b: a / o, lambda M, o, a, b: b / o),
        (NONZERO, NONZERO), kinks=(((0.0, 0.0), (math.nan, math.nan)),),
        convention="sqrt(a^2 + b^2) without overflow; the derivatives are nan at the origin (0/0, as PyTorch)",
    ),
    # -- division-like ----------------------------------------------------------------------------
    _unary_row("reciprocal", lambda M, a: M.reciprocal(a), lambda M, o, a: -(o * o), NONZERO,
               "1/x; 1/(+-0) = +-inf, and the derivative -inf there"),
    _unary_row("rsqrt", lambda M, a: M.rsqrt(a), lambda M, o, a: -0.5 * M.pow(o, 3.0), POSITIVE,
               "1/sqrt(x); rsqrt(0) = inf, rsqrt(-0.0) = -inf, nan for x < 0"),
    Op(
        "remainder", "%", 2, lambda M, a, b: M.remainder(a, b),
        (_one, lambda M, o, a, b: -M.floor_divide(a, b)),
        (ANY, NONZERO), _remainder_smooth,
        convention="a - b floor(a/b), the sign of b (Python's a % b and PyTorch's remainder; a zero result "
        "keeps a's sign, as PyTorch), computed exact through fmod (PyTorch's vectorised kernel gives nan "
        "where a/b overflows); d/db = -floor(a/b); x % 0 = nan",
    ),
    Op(
        "fmod", "fmod", 2, lambda M, a, b: M.fmod(a, b),
        # trunc(a/b) held constant: PyTorch differentiates div(rounding_mode="trunc") as 0, without the
        # chain through a/b (whose 0 * inf would be nan at b == 0).
        (_one, lambda M, o, a, b: -M.detach(M.trunc(a / b))),
        (ANY, NONZERO), lambda a, b: _off_integers(a / b) or abs(a / b) < 1.0 - MARGIN,
        convention="a - b trunc(a/b), the sign of a (C's fmod and PyTorch's), exact (PyTorch's vectorised "
        "kernel gives nan where a/b overflows); d/db = -trunc(a/b); fmod(x, 0) = nan",
    ),
    # -- error function and the activations built on it --------------------------------------------
    _unary_row("erf", lambda M, a: M.erf(a), lambda M, o, a: TWO_OVER_SQRT_PI * M.exp(-(a * a))),
    _unary_row("erfc", lambda M, a: M.erfc(a), lambda M, o, a: -TWO_OVER_SQRT_PI * M.exp(-(a * a))),
    _unary_row("gelu", _gelu_forward, _gelu_grad, ((-5.0, 5.0),),
               "x Phi(x) (approximate='none'); computed with erfc, so it stays accurate where PyTorch's "
               "1 + erf(x/sqrt 2) rounds to 0 (x < -8.3: PyTorch gives -0.0); gelu(-inf) = 0 and "
               "gelu'(+-inf) = 0, 1 (the limits; PyTorch's inf * 0 gives nan)"),
    _unary_row("gelu_tanh", _gelu_tanh_forward, _gelu_tanh_grad, ((-5.0, 5.0),),
               "x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 (approximate='tanh'), computed as x sigmoid(2u) "
               "without cancellation; the limits 0, 1 for the derivative at |x| >= 1e100 and at +-inf, and "
               "gelu_tanh(-inf) = 0 (PyTorch gives nan there)"),
    # -- other smooth activations -------------------------------------------------------------------
    _unary_row("silu", lambda M, x: _limit_at_inf(M, x, x * M.sigmoid(x), 0.0, x), _silu_grad, ((-5.0, 5.0),),
               "x sigmoid(x); silu(-inf) = 0 and silu'(+-inf) = 0, 1 (the limits; PyTorch gives nan)"),
    _unary_row("mish", lambda M, x: _limit_at_inf(M, x, x * M.tanh(M.softplus(x)), 0.0, x), _mish_grad,
               ((-5.0, 5.0),),
               "x tanh(softplus(x)); mish(-inf) = 0 and mish'(+-inf) = 0, 1 (the limits; PyTorch gives nan), "
               "and the second derivative 0 where e^x overflows (PyTorch: nan)"),
    _unary_row("softsign", lambda M, x: _limit_at_inf(M, x, x / (1.0 + M.abs(x)), -1.0, 1.0),
               lambda M, o, x: 1.0 / ((1.0 + M.abs(x)) * (1.0 + M.abs(x))), ANY,
               "x / (1 + |x|); softsign(+-inf) = +-1 (the limits; PyTorch's inf/inf gives nan); the second "
               "derivative is 0 at 0 (abs'(0) = 0), as PyTorch", smooth=_away(0.0)),
    _unary_row("logsigmoid", lambda M, x: M.minimum(x, 0.0) - M.log1p(M.exp(-M.abs(x))),
               lambda M, o, x: M.sigmoid(-x), ((-5.0, 5.0),),
               "log(sigmoid(x)) = min(x, 0) - log1p(e^-|x|), without overflow"),
    Op(
        "elu", "elu", 2, _elu_forward,
        (
            lambda M, o, x, alpha: _elu_grad(M, x, 1.0, alpha, alpha * M.exp(x)),
            lambda M, o, x, alpha: M.where(M.gt(x, 0.0), 0.0, M.expm1(x)),
        ),
        (ANY, ((0.5, 2.0),)), _away(0.0), (((0.0, 1.5), (1.5, 0.0)), ((math.nan, 1.0), (math.nan, math.nan))),
        convention=f"x where x >= 0, else alpha (e^x - 1) (so elu(0) = 0 for every alpha, as PyTorch); "
        f"elu'(0) = alpha (PyTorch's); alpha is an input (d/dalpha = e^x - 1 for x <= 0); the second "
        f"derivative at 0 is 0 for any alpha (PyTorch's masked alpha e^x gives nan for an infinite alpha); "
        f"{NAN_RULE} (PyTorch: elu'(nan) = 1)",
    ),
    Op(
        "celu", "celu", 2,
        lambda M, x, alpha: M.where(M.ge(x, 0.0), x, alpha * M.expm1(x / alpha)),  # x at 0, as elu
        (lambda M, o, x, alpha: _elu_grad(M, x, 1.0, 1.0, M.exp(x / alpha)), _celu_dalpha),
        (ANY, ((0.5, 2.0),)), _away(0.0), (((0.0, 1.5), (1.0, 0.0)), ((math.nan, 1.0), (math.nan, math.nan))),
        convention=f"x where x >= 0, else alpha (e^(x/alpha) - 1); celu'(0) = 1; alpha is an input; for x <= 0 "
        "d/dx = e^(x/alpha), 1 for an infinite alpha, with second derivative 0 (PyTorch's alpha (1/alpha) "
        f"e^(x/alpha) gives nan there); {NAN_RULE}",
    ),
    _unary_row("selu", lambda M, x: M.where(M.gt(x, 0.0), SELU_SCALE * x, SELU_SCALE * SELU_ALPHA * M.expm1(x)),
               lambda M, o, x: _elu_grad(M, x, SELU_SCALE, SELU_SCALE * SELU_ALPHA, SELU_SCALE * SELU_ALPHA * M.exp(x)),
               ANY,
               f"scale (x where x > 0, else alpha (e^x - 1)) with PyTorch's constants; selu'(0) = scale alpha "
               f"(PyTorch's); {NAN_RULE} (PyTorch: selu'(nan) = scale)",
               smooth=_away(0.0), kinks=(((0.0,), (SELU_SCALE * SELU_ALPHA,)), ((math.nan,), (math.nan,)))),
    # -- piecewise linear ----------------------------------------------------------------------------
    Op(
        "hardtanh", "hardtanh", 3, _clamp_forward, _clamp_rules(open_range=True),
        (ANY, ((-3.0, -1.0),), ((1.0, 3.0),)), _clamp_smooth,
        (((-1.0, -1.0, 1.0), (0.0, 1.0, 0.0)), ((1.0, -1.0, 1.0), (0.0, 0.0, 1.0)),
         ((math.nan, -1.0, 1.0), (math.nan, math.nan, math.nan))),
        convention="clamp(x, lo, hi), but x passes its gradient on the open range (lo, hi) (PyTorch's "
        f"hardtanh); lo gets it where x <= lo < hi, hi where max(x, lo) >= hi; {NAN_RULE} (PyTorch: 1)",
    ),
    _unary_row("relu6", lambda M, x: M.minimum(M.maximum(x, 0.0), 6.0), lambda M, o, x: _box_grad(M, x, 0.0, 6.0, 1.0),
               ((-3.0, 9.0),), f"min(max(x, 0), 6); the derivative is 1 on the open range (0, 6), 0 at its ends "
               f"(PyTorch's, as hardtanh(x, 0, 6)); {NAN_RULE} (PyTorch: 1)",
               smooth=_away(0.0, 6.0), kinks=(((0.0,), (0.0,)), ((6.0,), (0.0,)), ((math.nan,), (math.nan,)))),
    _unary_row("hardsigmoid", lambda M, x: M.minimum(M.maximum(x + 3.0, 0.0), 6.0) / 6.0,
               lambda M, o, x: _box_grad(M, x, -3.0, 3.0, 1.0 / 6.0), ((-5.0, 5.0),),
               f"relu6(x + 3) / 6; the derivative is 1/6 on the open range (-3, 3), 0 at its ends (PyTorch's, "
               f"whose float64 kernel uses the float32 constant 1/6 = 0.1666666716 and has no second "
               f"derivative); {NAN_RULE} (PyTorch: 0)",
               smooth=_away(-3.0, 3.0), kinks=(((-3.0,), (0.0,)), ((3.0,), (0.0,)), ((math.nan,), (math.nan,)))),
    _unary_row("hardswish", _hardswish_forward, _hardswish_grad, ((-5.0, 5.0),),
               f"x relu6(x + 3) / 6; the derivative is 0 up to -3, x/3 + 1/2 on (-3, 3), 1 from 3 on "
               f"(PyTorch's; the second derivative is 1/3 on the open range only); {NAN_RULE} (PyTorch: 1)",
               smooth=_away(-3.0, 3.0), kinks=(((-3.0,), (0.0,)), ((3.0,), (1.0,)), ((math.nan,), (math.nan,)))),
    # -- two-input smooth ops -------------------------------------------------------------------------
    Op(
        "logaddexp", "logaddexp", 2, lambda M, a, b: M.logaddexp(a, b),
        (lambda M, o, a, b: M.sigmoid(a - b), lambda M, o, a, b: M.sigmoid(b - a)),
        (ANY, ANY), kinks=(((math.inf, math.inf), (math.nan, math.nan)),),
        convention="log(e^a + e^b) without overflow; logaddexp(inf, inf) = inf, (-inf, -inf) = -inf; the "
        "derivatives sigmoid(a - b), sigmoid(b - a) are nan there (inf - inf, as PyTorch); second derivatives "
        "are 0 where |a - b| is huge (the true limit; PyTorch's exp(b - a) overflows to nan)",
    ),
    Op(
        "copysign", "copysign", 2, lambda M, a, b: M.copysign(a, b),
        # d/da = +-1 (whether the sign flips), from signs only: no graph, so second derivatives are 0.
        (lambda M, o, a, b: M.sign(o) * M.sign(a), _zero),
        (NONZERO, NONZERO), _copysign_smooth,
        (((0.0, -1.0), (0.0, 0.0)), ((math.inf, -1.0), (-1.0, 0.0))),
        convention="|a| with the sign of b (its sign bit: -0.0 and -nan count as negative); d/da = 0 at "
        "a == 0 (PyTorch's) and +-1 at a = +-inf (PyTorch's out/a gives nan there); d/db = 0 everywhere; "
        "second derivatives are 0 (PyTorch's out/a gives nan at a = 0, subnormal, inf)",
    ),
    # -- integer-valued ---------------------------------------------------------------------------------
    _unary_row("sign", lambda M, a: M.sign(a), _zero, NONZERO,
               f"-1, 0 or 1; sign(nan) = nan (as NumPy; PyTorch gives 0); {INTEGER_VALUED}", smooth=_away(0.0)),
    _unary_row("floor", lambda M, a: M.floor(a), _zero, ANY, INTEGER_VALUED, smooth=_off_integers),
    _unary_row("ceil", lambda M, a: M.ceil(a), _zero, ANY, INTEGER_VALUED, smooth=_off_integers),
    _unary_row("round", lambda M, a: M.round(a), _zero, ANY, f"half to even, as PyTorch; {INTEGER_VALUED}",
               smooth=lambda x: _off_integers(x, 0.5)),
    _unary_row("trunc", lambda M, a: M.trunc(a), _zero, ANY, INTEGER_VALUED, smooth=_off_integers),
)

OP: dict[str, Op] = {op.name: op for op in OPS}
