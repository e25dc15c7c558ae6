"""One sweep over the whole op table against PyTorch float64: value, first and second derivatives.

Every row is evaluated on a regular grid inside its domain and on an edge grid
(0, -0.0, subnormals, +-1e-300, +-1e300, +-inf, nan, its kinks, a few ordinary
numbers, in every combination for rows of two or three inputs; the parameters PyTorch
takes as numbers, such as elu's alpha, at edge values too). PyTorch runs
each grid as one batch; the engine runs point by point, through the public
path (``apply``, then ``grad`` with ``create_graph``). A difference from
PyTorch is allowed only where a :class:`Departure` below says so, and every
departure quotes a phrase of its row's ``convention``: the row is where the
decision is written, this file only checks it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from conftest import import_or_need

from chainrule.autograd import OP, OPS, Op, Value, apply, grad

torch = import_or_need("torch", "PyTorch")
F = torch.nn.functional

pytestmark = pytest.mark.torch

inf, nan = math.inf, math.nan
EDGES = (0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e300, -1e300, inf, -inf, nan)
ORDINARY = (1.0, -1.0, 0.5, -2.5, 3.0)  # combined with the edges in rows of several inputs
POINTS_PER_INPUT = {1: 41, 2: 9, 3: 5}
# Values of the parameters PyTorch takes as numbers (slopes, alphas) at the edges, where it accepts them.
EDGE_PARAMS = ((0.0,), (1e-300,), (1e300,), (inf,), (nan,))  # regular grid: points per domain interval and input

# Tolerances, measured: the largest differences inside the domains are ~2e-15 relative for values and
# first derivatives (libm against PyTorch's kernels) and 2e-10 relative, 9e-15 absolute, for one second
# derivative (gelu_tanh near x = 4.8, where PyTorch's 1 - tanh^2 cancels and ours does not).
RTOL = {"v": 1e-13, "1": 1e-13, "2": 1e-12}
ATOL = {"v": 1e-15, "1": 1e-15, "2": 1e-13}
# IEEE-754 leaves the sign of max(0.0, -0.0) unspecified; relu(-0.0) is -0.0 in PyTorch, 0.0 here.
ZERO_SIGN_FREE = {"relu", "maximum", "minimum", "clamp", "hardtanh", "relu6"}


@dataclass(frozen=True)
class Spelling:
    """A row in PyTorch.

    Args:
        fn: PyTorch's function: tensors for the first ``tensors`` inputs, then Python numbers.
        tensors: how many leading inputs are tensors; the rest are PyTorch's number parameters,
            which it does not differentiate (so only the tensor inputs' derivatives are compared).
        params: the parameter values swept.
        arity: for an n-ary row, how many inputs the sweep gives it.
        edges: more edge values for this row (its kinks and domain ends).
        double_backward: False where PyTorch has no second derivative (a piecewise linear op,
            whose true second derivative is 0: compared with 0).
    """

    fn: Callable[..., Any]
    tensors: int
    params: tuple[tuple[float, ...], ...] = ((),)
    arity: int | None = None
    edges: tuple[float, ...] = ()
    double_backward: bool = True


def _dot(*xs: Any) -> Any:
    n = len(xs) // 2
    out = xs[0] * xs[n]
    for w, x in zip(xs[1:n], xs[n + 1 : 2 * n]):
        out = out + w * x
    return out + xs[-1] if len(xs) % 2 else out


SWEEP: dict[str, Spelling] = {
    "add": Spelling(torch.add, 2),
    "sub": Spelling(torch.sub, 2),
    "mul": Spelling(torch.mul, 2),
    "div": Spelling(torch.div, 2),
    "neg": Spelling(torch.neg, 1),
    "pow": Spelling(torch.pow, 2, edges=(2.0, -0.5, 1.0 / 3.0)),
    "exp": Spelling(torch.exp, 1, edges=(709.0, 710.0, -745.0)),
    "log": Spelling(torch.log, 1),
    "sqrt": Spelling(torch.sqrt, 1),
    "tanh": Spelling(torch.tanh, 1),
    "sigmoid": Spelling(torch.sigmoid, 1, edges=(-1000.0, 1000.0)),
    "relu": Spelling(torch.relu, 1),
    "leaky_relu": Spelling(F.leaky_relu, 1, ((0.01,), (0.2,), *EDGE_PARAMS, (-1.0,))),
    "abs": Spelling(torch.abs, 1),
    "sin": Spelling(torch.sin, 1),
    "cos": Spelling(torch.cos, 1),
    "softplus": Spelling(lambda x: F.softplus(x, 1.0, inf), 1, edges=(20.0, 1000.0)),
    "softplus_beta": Spelling(
        F.softplus,
        1,
        ((1.0, 20.0), (2.0, 5.0), (0.5, inf), (1e-300, 20.0), (1e300, 20.0), (-1.0, 20.0), (nan, 20.0),
         (inf, 20.0), (1.0, 0.0), (1.0, -inf), (1.0, nan)),
        edges=(10.0, 20.0, 1000.0),
    ),
    "maximum": Spelling(torch.maximum, 2),
    "minimum": Spelling(torch.minimum, 2),
    "clamp": Spelling(torch.clamp, 3),
    "sum": Spelling(lambda *xs: sum(xs[1:], xs[0]), 2, arity=2),
    "dot": Spelling(_dot, 3, arity=3),
    "logsumexp": Spelling(lambda *xs: torch.logsumexp(torch.stack(xs), 0), 2, arity=2),
    "log2": Spelling(torch.log2, 1),
    "log10": Spelling(torch.log10, 1),
    "log1p": Spelling(torch.log1p, 1, edges=(-1.0 + 1e-16, -2.0)),
    "expm1": Spelling(torch.expm1, 1, edges=(-40.0, 710.0)),
    "exp2": Spelling(torch.exp2, 1, edges=(1024.0, -1075.0)),
    "tan": Spelling(torch.tan, 1, edges=(math.pi / 2,)),
    "sinh": Spelling(torch.sinh, 1, edges=(710.0, -710.0)),
    "cosh": Spelling(torch.cosh, 1, edges=(710.0, -710.0)),
    "asin": Spelling(torch.asin, 1, edges=(1.0 - 1e-16,)),
    "acos": Spelling(torch.acos, 1, edges=(1.0 - 1e-16,)),
    "atan": Spelling(torch.atan, 1),
    "asinh": Spelling(torch.asinh, 1),
    "acosh": Spelling(torch.acosh, 1, edges=(1.0 + 2e-16,)),
    "atanh": Spelling(torch.atanh, 1),
    "atan2": Spelling(torch.atan2, 2),
    "hypot": Spelling(torch.hypot, 2),
    "reciprocal": Spelling(torch.reciprocal, 1),
    "rsqrt": Spelling(torch.rsqrt, 1),
    "remainder": Spelling(torch.remainder, 2, edges=(2.0, -4.0)),
    "fmod": Spelling(torch.fmod, 2, edges=(2.0, -4.0)),
    "erf": Spelling(torch.erf, 1, edges=(6.0, -6.0)),
    "erfc": Spelling(torch.erfc, 1, edges=(27.0, -6.0)),
    "gelu": Spelling(F.gelu, 1, edges=(-10.0, -40.0)),
    "gelu_tanh": Spelling(lambda x: F.gelu(x, approximate="tanh"), 1, edges=(-10.0, 1e100)),
    "silu": Spelling(F.silu, 1, edges=(-800.0,)),
    "mish": Spelling(F.mish, 1, edges=(-800.0, 800.0)),
    "softsign": Spelling(F.softsign, 1),
    "logsigmoid": Spelling(F.logsigmoid, 1, edges=(-800.0, 800.0)),
    "elu": Spelling(F.elu, 1, ((1.0,), (0.5,), (2.0,), *EDGE_PARAMS, (-1.0,))),
    # PyTorch's celu cannot take 0, 1e+-300 (it overflows converting 1/alpha to a float) or -0.0 (0/0).
    "celu": Spelling(F.celu, 1, ((1.0,), (0.5,), (2.0,), (inf,), (nan,), (-1.0,))),
    "selu": Spelling(F.selu, 1),
    "hardtanh": Spelling(
        F.hardtanh, 1, ((-1.0, 1.0), (0.0, 6.0), (-2.0, 0.5), (-inf, inf), (1.0, 1.0), (-1e300, 1e300), (-inf, 0.0)),
        edges=(-2.0, 6.0),
    ),
    "relu6": Spelling(F.relu6, 1, edges=(6.0,)),
    "hardsigmoid": Spelling(F.hardsigmoid, 1, edges=(-3.0,), double_backward=False),
    "hardswish": Spelling(F.hardswish, 1, edges=(-3.0,)),
    "logaddexp": Spelling(torch.logaddexp, 2),
    "copysign": Spelling(torch.copysign, 2),
    "sign": Spelling(torch.sign, 1),
    "floor": Spelling(torch.floor, 1, edges=(2.5, -0.5)),
    "ceil": Spelling(torch.ceil, 1, edges=(2.5, -0.5)),
    "round": Spelling(torch.round, 1, edges=(2.5, -0.5, 1.5)),
    "trunc": Spelling(torch.trunc, 1, edges=(2.5, -0.5)),
}


# ----------------------------------------------------------------------------
# Where a row departs from PyTorch
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Departure:
    """Points where a row may differ from PyTorch, because its convention says so.

    Args:
        phrase: words of the row's ``convention`` that state the difference.
        where: ``where(xs)`` for the inputs (parameters included) where it applies.
        orders: which results may differ: "v" the value, "1" first, "2" second derivatives.
        inputs: for derivatives, which ones may differ: those by these inputs (first derivatives),
            and the derivatives of those (second); None for all.
    """

    phrase: str
    where: Callable[[Sequence[float]], bool]
    orders: str
    inputs: tuple[int, ...] | None = None


def _any_nan(xs: Sequence[float]) -> bool:
    return any(math.isnan(x) for x in xs)


def _subnormal_or_special(x: float) -> bool:
    return not math.isfinite(x) or abs(x) < 2.2250738585072014e-308


def _huge(xs: Sequence[float]) -> bool:
    return any(abs(xs[0]) >= bound for bound in (1e100,))


NAN_INPUT = Departure("a nan input that chooses the branch makes every local derivative nan", _any_nan, "12")
LIMITS = Departure("the limits", _huge, "v12")

DEPARTURES: dict[str, tuple[Departure, ...]] = {
    "pow": (
        # torch.pow with a tensor exponent is C's pow; PyTorch's x ** 0.5 and x ** -0.5 (as ours) are not.
        Departure(
            "x ** 0.5 is sqrt(x) and x ** -0.5 is rsqrt(x)",
            lambda xs: abs(xs[1]) == 0.5 and (xs[0] == -inf or xs[0] == 0.0),
            "v1",
        ),
        Departure(
            "second derivatives at a == 0, at b == 0",
            lambda xs: xs[0] == 0.0 or xs[1] == 0.0 or _subnormal_or_special(xs[0]),
            "2",
        ),
    ),
    "relu": (NAN_INPUT,),
    "leaky_relu": (NAN_INPUT,),
    "abs": (NAN_INPUT,),
    "softplus": (Departure("overflows to inf above 709, ours does not", lambda xs: xs[0] > 709.0, "v12"),),
    "softplus_beta": (
        Departure("overflows to inf above 709, ours does not", lambda xs: xs[0] * xs[1] > 709.0, "v12"),
        Departure("PyTorch's second derivative is 0 there", lambda xs: xs[0] * xs[1] == xs[2], "2"),
        Departure("its second derivative is 0)", lambda xs: math.isnan(xs[2]) and not math.isnan(xs[0] * xs[1]), "2"),
    ),
    "maximum": (NAN_INPUT,),
    "minimum": (NAN_INPUT,),
    # d/dhi is PyTorch's at a nan too: only the derivatives by x and lo follow the nan rule.
    "clamp": (Departure(NAN_INPUT.phrase, _any_nan, "12", inputs=(0, 1)),),
    "logsumexp": (
        Departure("second derivatives are 0 at an infinite input", lambda xs: any(map(math.isinf, xs)), "2"),
    ),
    "atan2": (Departure("second derivatives 0 there", lambda xs: xs[0] * xs[0] + xs[1] * xs[1] == 0.0, "2"),),
    "remainder": (Departure("exact", lambda xs: not abs(xs[0] / xs[1]) < 2.0**53, "v"),),
    "fmod": (Departure("exact", lambda xs: not abs(xs[0] / xs[1]) < 2.0**53, "v"),),
    "gelu": (LIMITS,),
    "gelu_tanh": (LIMITS,),
    "silu": (LIMITS,),
    "mish": (LIMITS, Departure("the second derivative 0 where e^x overflows", lambda xs: xs[0] > 709.0, "2")),
    "sinh": (Departure("PyTorch's overflows to inf", lambda xs: 709.0 < abs(xs[0]) < 711.0, "v12"),),
    "cosh": (Departure("PyTorch's overflows to inf", lambda xs: 709.0 < abs(xs[0]) < 711.0, "v12"),),
    "softsign": (LIMITS,),
    "elu": (
        NAN_INPUT,
        Departure("the second derivative at 0 is 0 for any alpha", lambda xs: xs[0] == 0.0 and math.isinf(xs[1]), "2"),
    ),
    "celu": (
        NAN_INPUT,
        Departure("1 for an infinite alpha", lambda xs: math.isinf(xs[1]) and xs[0] <= 0.0, "12", inputs=(0,)),
    ),
    "selu": (NAN_INPUT,),
    "hardtanh": (NAN_INPUT,),
    "relu6": (NAN_INPUT,),
    "hardsigmoid": (
        NAN_INPUT,
        Departure("float32 constant", lambda xs: -3.0 < xs[0] < 3.0, "1"),
    ),
    "hardswish": (NAN_INPUT,),
    "logaddexp": (
        Departure("second derivatives are 0 where |a - b| is huge", lambda xs: not abs(xs[0] - xs[1]) < 700.0, "2"),
    ),
    "copysign": (
        Departure("+-1 at a = +-inf", lambda xs: math.isinf(xs[0]), "1"),
        Departure("second derivatives are 0", lambda xs: True, "2"),
    ),
    "sign": (Departure("sign(nan) = nan", _any_nan, "v"),),
}


# ----------------------------------------------------------------------------
# The two sides
# ----------------------------------------------------------------------------

Results = tuple[float, list[float], list[list[float]]]  # value, first derivatives, second derivatives


def _ours(op: Op, xs: Sequence[float], n: int) -> Results:
    """The engine through its public path: one node, then grad() twice (create_graph)."""
    leaves = [Value(x) for x in xs[:n]]
    out = apply(op, *leaves, *xs[n:])
    firsts = grad(out, leaves, create_graph=True, allow_unused=True)
    seconds = [[h.data for h in grad(g, leaves, allow_unused=True)] for g in firsts]
    return out.data, [g.data for g in firsts], seconds


def _theirs(spelling: Spelling, points: Sequence[Sequence[float]], params: tuple[float, ...]) -> list[Results]:
    """PyTorch float64 on the whole batch at once (the ops are elementwise, so sums give each point's)."""
    n = spelling.tensors
    tensors = [torch.tensor(column, dtype=torch.float64, requires_grad=True) for column in zip(*points)]
    out = spelling.fn(*tensors, *params)
    firsts = torch.autograd.grad(out.sum(), tensors, create_graph=True, allow_unused=True)
    zeros = torch.zeros(len(points), dtype=torch.float64)
    firsts = [zeros if g is None else g for g in firsts]
    seconds = []
    for g in firsts:
        if spelling.double_backward and g.requires_grad:
            hs = torch.autograd.grad(g.sum(), tensors, allow_unused=True, retain_graph=True)
            seconds.append([zeros if h is None else h for h in hs])
        else:
            seconds.append([zeros] * n)

    def column(t: Any) -> list[float]:
        return [float(x) for x in t.detach().numpy(force=True)]

    values = column(out)
    d1 = [column(g) for g in firsts]
    d2 = [[column(h) for h in row] for row in seconds]
    return [
        (values[j], [d1[i][j] for i in range(n)], [[d2[i][k][j] for k in range(n)] for i in range(n)])
        for j in range(len(points))
    ]


def _agree(a: float, b: float, order: str) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= ATOL[order] + RTOL[order] * abs(b)


def _differences(name: str, ours: Results, theirs: Results) -> list[tuple[str, int, float, float]]:
    """(order, input, ours, theirs) for every result that differs; order "v", "1" or "2".

    input is the index of the input a first derivative is taken by (-1 for the value); a second
    derivative carries its first derivative's.
    """
    found = []
    (v, d1, d2), (tv, t1, t2) = ours, theirs
    if not _agree(v, tv, "v"):
        found.append(("v", -1, v, tv))
    elif v == 0.0 and tv == 0.0 and math.copysign(1.0, v) != math.copysign(1.0, tv) and name not in ZERO_SIGN_FREE:
        found.append(("v", -1, v, tv))
    for i, (a, b) in enumerate(zip(d1, t1)):
        if not _agree(a, b, "1"):
            found.append(("1", i, a, b))
        for a2, b2 in zip(d2[i], t2[i]):
            if not _agree(a2, b2, "2"):
                found.append(("2", i, a2, b2))
    return found


# ----------------------------------------------------------------------------
# Grids
# ----------------------------------------------------------------------------


def _arity(op: Op, spelling: Spelling) -> int:
    return op.arity if op.arity is not None else spelling.arity or 1


def _edge_points(op: Op, spelling: Spelling) -> list[tuple[float, ...]]:
    n = spelling.tensors
    kinks = {x for inputs, _ in op.kinks for x in inputs[:n]}
    values = list(dict.fromkeys([*EDGES, *sorted(kinks - set(EDGES)), *spelling.edges, *ORDINARY]))
    points = list(itertools.product(values, repeat=n))
    points += [inputs[:n] for inputs, _ in op.kinks if len(inputs) == n]  # each pinned kink, whole
    return points


def _grid_points(op: Op, spelling: Spelling) -> list[tuple[float, ...]]:
    n = spelling.tensors
    k = POINTS_PER_INPUT[n]
    axes = []
    for i in range(n):
        intervals = op.domain[0] if op.arity is None else op.domain[i]
        axes.append([float(x) for lo, hi in intervals for x in np.linspace(lo, hi, k + 2)[1:-1]])
    return list(itertools.product(*axes))


def _sweep(
    op: Op, spelling: Spelling | None = None, departures: tuple[Departure, ...] | None = None
) -> tuple[list[str], set[int]]:
    """Every difference from PyTorch not covered by a departure, and the departures used."""
    spelling = SWEEP[op.name] if spelling is None else spelling
    departures = DEPARTURES.get(op.name, ()) if departures is None else departures
    assert _arity(op, spelling) == spelling.tensors + len(spelling.params[0]), op.name
    unexplained: list[str] = []
    used: set[int] = set()
    for grid, points in (("edge", _edge_points(op, spelling)), ("grid", _grid_points(op, spelling))):
        for params in spelling.params:
            for xs, theirs in zip(points, _theirs(spelling, points, params)):
                inputs = (*xs, *params)
                for order, i, a, b in _differences(op.name, _ours(op, inputs, spelling.tensors), theirs):
                    allowed = [
                        k
                        for k, d in enumerate(departures)
                        if order in d.orders and (d.inputs is None or i in d.inputs) and d.where(inputs)
                    ]
                    if allowed:
                        used.add(allowed[0])
                    else:
                        what = {"v": "value", "1": "first derivative", "2": "second derivative"}[order]
                        unexplained.append(f"{grid} {inputs}: {what} {a!r}, PyTorch {b!r}")
    return unexplained, used


# ----------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------


def test_every_row_is_swept() -> None:
    """A tripwire: a new row needs a PyTorch spelling in SWEEP."""
    assert sorted(SWEEP) == sorted(OP)


@pytest.mark.parametrize(
    ("name", "departure"),
    [pytest.param(name, d, id=f"{name}: {d.phrase}") for name, ds in DEPARTURES.items() for d in ds],
)
def test_every_departure_is_written_in_its_row(name: str, departure: Departure) -> None:
    assert departure.phrase in OP[name].convention, (name, OP[name].convention)


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_sweep_against_pytorch(op: Op) -> None:
    unexplained, used = _sweep(op)
    assert not unexplained, f"{len(unexplained)} differences from PyTorch float64:\n" + "\n".join(unexplained[:20])
    # A departure that no point needs is a stale exception: it would hide a regression.
    unused = [d.phrase for k, d in enumerate(DEPARTURES.get(op.name, ())) if k not in used]
    assert not unused, f"departures no point needs: {unused}"


# Exponents given as numbers: PyTorch computes x ** 0.5 as sqrt and x ** -0.5 as rsqrt, and masks
# d/dx of x ** 0 to 0, so the engine must agree with it everywhere here, with no departure.
EXPONENTS = (0.0, 1.0, 2.0, 3.0, 0.5, -0.5, -1.0, -2.0, 1.0 / 3.0, 2.5, -1.5)
BASES = (*EDGES, *ORDINARY, 1e-154, 1e-160, 1e154)


@pytest.mark.parametrize("c", EXPONENTS)
def test_number_exponents_match_pytorch_everywhere(c: float) -> None:
    """x ** 0 and x ** 1 at subnormal and tiny x, x ** 0.5 at -inf and -0.0: value, d/dx, d2/dx2."""
    t = torch.tensor(BASES, dtype=torch.float64, requires_grad=True)
    y = t**c
    (g,) = torch.autograd.grad(y.sum(), t, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), t) if g.requires_grad else (torch.zeros_like(t),)
    differences = []
    for j, x in enumerate(BASES):
        v = Value(x)
        out = v**c
        (d1,) = grad(out, [v], create_graph=True)
        (d2,) = grad(d1, [v], allow_unused=True)
        ours = (out.data, [d1.data], [[d2.data]])
        theirs = (y[j].item(), [g[j].item()], [[h[j].item()]])
        differences += [(x, order, a, b) for order, _, a, b in _differences("pow", ours, theirs)]
    assert not differences, differences


def test_dot_overflow_matches_pytorch() -> None:
    """w = (1, -2.5), x = (1e308, 1e308): the exact sum is -1.5e308, but a product overflows first."""
    w = torch.tensor([1.0, -2.5], dtype=torch.float64)
    x = torch.tensor([1e308, 1e308], dtype=torch.float64)
    theirs = [torch.dot(w, x).item(), (w * x).sum().item(), F.linear(x[None], w[None]).item()]
    assert theirs == [-inf] * 3
    assert apply(OP["dot"], 1.0, -2.5, Value(1e308), Value(1e308)).data == -inf


# Rows whose parameters PyTorch takes as numbers (so the sweep above compares only d/dx there): the
# rows' formulas with every input a tensor, so the derivatives by the parameters are compared too. These
# compositions are not PyTorch's functions at the kinks and edges (where() picks the other side of
# elu's kink, and 0 * inf of an infinite alpha), so they are compared on the regular grid, at its
# smooth points; the edges are d/dx's, above, against PyTorch's own functions.
PARAMETERS: dict[str, Callable[..., Any]] = {
    "leaky_relu": lambda x, s: torch.where(x > 0, x, x * s),
    "elu": lambda x, alpha: torch.where(x > 0, x, alpha * torch.expm1(x)),
    "celu": lambda x, alpha: torch.where(x > 0, x, alpha * torch.expm1(x / alpha)),
    "softplus_beta": lambda x, beta, threshold: torch.where(
        beta * x > threshold, x, F.softplus(beta * x, 1.0, inf) / beta
    ),
    "hardtanh": lambda x, lo, hi: torch.clamp(x, lo, hi),
}


def test_every_row_with_parameters_is_swept_by_them() -> None:
    by_numbers = {name for name, spelling in SWEEP.items() if spelling.params != ((),)}
    assert sorted(PARAMETERS) == sorted(by_numbers)


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_sweep_of_parameters_against_pytorch(name: str) -> None:
    op = OP[name]
    n = op.arity or 1
    spelling = Spelling(PARAMETERS[name], n)
    points = [xs for xs in _grid_points(op, spelling) if op.smooth(*xs)]
    assert len(points) >= 4**n
    differences = []
    for xs, theirs in zip(points, _theirs(spelling, points, ())):
        differences += [(xs, order, i, a, b) for order, i, a, b in _differences(name, _ours(op, xs, n), theirs)]
    assert not differences, differences[:20]
