"""Non-finite and overflowing gradients never crash viz: the sums behind the labels, and each reproducer of issue 10.

The reproducers: ``sqrt(x) - sqrt(x)`` at 0 (x's two terms are inf and -inf:
``math.fsum`` raised ValueError) and ``x*1.5e308 + x*1.5e308`` (two finite
terms whose sum overflows: ``math.fsum`` raised OverflowError). Each goes
through trace, draw, the finite-difference check, the animation and
grad_flow; the CLI's cases are in test_cli.py.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chainrule import nn, viz
from chainrule.autograd import Value
from chainrule.viz import numeric

NONFINITE = "#c51b8a"  # Theme().nonfinite_color


def ieee_sum(xs: list[float], divisor: int = 1) -> float:
    """The sum by the rules the helpers promise, computed exactly with Fractions (the oracle)."""
    if any(math.isnan(x) for x in xs):
        return math.nan
    infinities = {x for x in xs if math.isinf(x)}
    if len(infinities) == 2:
        return math.nan
    if infinities:
        return infinities.pop()
    exact = sum((Fraction(x) for x in xs), Fraction(0)) / divisor
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


floats = st.floats(allow_nan=True, allow_infinity=True)
huge = st.floats(min_value=1e307, max_value=1.7976931348623157e308) | st.floats(
    min_value=-1.7976931348623157e308, max_value=-1e307
)


@given(st.lists(floats | huge, max_size=12))
@example([1.5e308, 1.5e308])  # overflows to inf
@example([1.5e308, 1.5e308, -1.5e308])  # overflows on the way, cancels back to 1.5e308
@example([math.inf, -math.inf])
@example([math.inf, 1.5e308, 1.5e308])  # fsum raises OverflowError before it looks at the inf
@example([1.5e308, 1.5e308, math.nan])
@example([1.0, 1e100, 1.0, -1e100])  # correctly rounded: 2, where left-to-right float addition gives 0
def test_total_is_the_correctly_rounded_ieee_sum(xs: list[float]) -> None:
    assert same(numeric.total(xs), ieee_sum(xs))
    assert same(numeric.total(iter(xs)), ieee_sum(xs))


@given(st.lists(floats | huge, min_size=1, max_size=12))
@example([1.5e308, 1.5e308])  # the mean is finite though the sum is not
@example([-1.7976931348623157e308, -1.7976931348623157e308, -1.7976931348623157e308])
def test_mean_is_finite_whenever_the_true_mean_is(xs: list[float]) -> None:
    got, exact = numeric.mean(xs), ieee_sum(xs, len(xs))
    # fsum then / len rounds twice: within one unit in the last place of the exact mean.
    assert same(got, exact) or abs(got - exact) <= math.ulp(exact)


def test_mean_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        numeric.mean([])


def test_largest_is_nan_wherever_the_nan_is() -> None:
    assert math.isnan(numeric.largest([1.0, math.nan]))
    assert math.isnan(numeric.largest([math.nan, 1.0]))
    assert numeric.largest([1.0, math.inf, 3.0]) == math.inf
    assert numeric.largest([-2.0, -1.0]) == -1.0
    assert numeric.largest([], default=0.0) == 0.0


# ----------------------------------------------------------------------------
# The reproducers, through every part of viz
# ----------------------------------------------------------------------------


def inf_minus_inf() -> tuple[Value, Value]:
    """x's gradient terms are inf and -inf: x.grad is nan."""
    x = Value(0.0, label="x")
    out = x.sqrt() - x.sqrt()
    out.backward()
    return out, x


def overflowing_sum() -> tuple[Value, Value]:
    """x's two gradient terms are 1.5e308 each: x.grad overflows to inf."""
    x = Value(1e-300, label="x")
    out = x * 1.5e308 + x * 1.5e308
    out.backward()
    return out, x


CASES = {"inf-inf": (inf_minus_inf, "grad = inf + -inf = nan"), "overflow": (overflowing_sum, "= inf")}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("grads", ["stored", "computed"])
def test_trace_shows_the_non_finite_gradient(case: str, grads: str) -> None:
    make, _ = CASES[case]
    out, x = make()
    tr = viz.trace(out, grads=grads)  # type: ignore[arg-type]
    node = next(n for n in tr.nodes if n.label == "x")
    expected = math.nan if case == "inf-inf" else math.inf
    assert same(node.grad, expected) and same(x.grad, expected)
    assert node.grad_terms == ([math.inf, -math.inf] if case == "inf-inf" else [1.5e308, 1.5e308])
    assert node.grad_elsewhere == 0.0  # nan - nan is no evidence of gradient from outside


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("check", [False, True])
def test_draw_labels_the_value_in_the_non_finite_colour(case: str, check: bool) -> None:
    make, text = CASES[case]
    out, _ = make()
    source = viz.draw(out, check=check).source
    line = next(s for s in source.splitlines() if "<B>x</B>" in s)
    assert text in line and f'fillcolor="{NONFINITE}"' in line
    assert "non-finite" in line


def test_check_compares_non_finite_gradients() -> None:
    out, _ = overflowing_sum()
    x = next(n for n in viz.trace(out, check=True).nodes if n.label == "x")
    assert x.fd_grad == math.inf and x.check_ok  # the central difference overflows the same way
    out, _ = inf_minus_inf()
    x = next(n for n in viz.trace(out, check=True).nodes if n.label == "x")
    assert math.isnan(x.grad) and x.check_ok is False


def test_aggregated_edges_sum_without_overflow() -> None:
    # A collapsed module's edges are summed into one label: two terms of 1.5e308 overflow to inf.
    model = nn.MLP(1, [2, 1], activation="linear", seed=0)
    for name, p in model.named_parameters():
        p.data = (1.5e308 if name.startswith("layers.0") else 1.0) if ".w." in name else 0.0
    a = Value(1e-300, label="a")
    out = model([a])
    assert isinstance(out, Value)
    out.backward()
    assert a.grad == math.inf
    labels = [line for line in viz.draw(out, collapse=["layers.0"]).source.splitlines() if "sum" in line]
    assert any("2 edges, sum inf" in line for line in labels), labels


@pytest.mark.parametrize("case", CASES)
def test_animation_writes_the_non_finite_values(case: str, tmp_path: Path) -> None:
    make, _ = CASES[case]
    out, _ = make()
    page = viz.animate_backward(out, tmp_path / "a.html").read_text()
    assert ("nan" if case == "inf-inf" else "inf") in page


def test_grad_flow_of_overflowing_gradients() -> None:
    pytest.importorskip("matplotlib")
    model = nn.MLP(2, [2, 1], seed=0)
    params = list(model.parameters())
    for p in params:
        p.grad = 1.5e308
    stats = viz.gradflow.layer_grad_stats(model)
    assert stats["layers.0"] == (1.5e308, 1.5e308)  # the mean of huge values, not OverflowError
    params[0].grad, params[1].grad = math.inf, -math.inf
    params[-1].grad = math.nan
    stats = viz.gradflow.layer_grad_stats(model)
    assert stats["layers.0"] == (math.inf, math.inf)  # |grad| is inf: no inf - inf
    assert all(math.isnan(v) for v in stats["layers.1"])
    fig = viz.grad_flow(model)
    assert any("inf or nan" in t.get_text() for t in fig.axes[0].texts)
