"""Tests of gradcheck and gradgradcheck: they pass on right derivatives and catch wrong ones."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from chainrule.autograd import OP, GradcheckError, Value, apply, gradcheck, gradgradcheck
from chainrule.autograd.ops import FLOAT_MATH, NUMPY_MATH

# sin with d/dx written as -cos: wrong at first order.
WRONG_SIN = dataclasses.replace(OP["sin"], name="wrong_sin", grads=(lambda M, o, a: -M.cos(a),))


def _flat_cos(M: object, o: object, a: object) -> object:
    # Right on floats and arrays, but on Values (create_graph) a plain number: its own derivative is lost.
    if M is FLOAT_MATH or M is NUMPY_MATH:
        return M.cos(a)  # type: ignore[attr-defined]
    return math.cos(a.data)  # type: ignore[attr-defined]


# sin whose first derivative is right but not differentiable: wrong at second order.
FLAT_SIN = dataclasses.replace(OP["sin"], name="flat_sin", grads=(_flat_cos,))


def test_gradcheck_passes_on_correct_functions() -> None:
    assert gradcheck(lambda x, y: x * y + x.sin() / (y * y + 1.0), [0.3, -1.2]) is True
    assert gradcheck(lambda x: (x.exp() + x**3).log(), [0.8]) is True
    assert gradcheck(lambda x: x.tanh(), 0.5) is True  # a single number is accepted


def test_gradgradcheck_passes_on_correct_functions() -> None:
    assert gradgradcheck(lambda x, y: x * y + x.sin() / (y * y + 1.0), [0.3, -1.2]) is True
    assert gradgradcheck(lambda x: x.sigmoid() * x.softplus(), [0.4]) is True
    assert gradgradcheck(lambda x, y: x + 2.0 * y, [1.0, 2.0]) is True  # constant first derivatives


def test_gradcheck_catches_a_wrong_derivative() -> None:
    x = Value(0.5, "x")
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda v: apply(WRONG_SIN, v), [x])
    message = str(info.value)
    assert "with respect to x" in message
    numerical = float(re.search(r"numerical\s+(\S+)", message).group(1))  # type: ignore[union-attr]
    analytical = float(re.search(r"analytical\s+(\S+)", message).group(1))  # type: ignore[union-attr]
    assert numerical == pytest.approx(math.cos(0.5), rel=1e-6)
    assert analytical == -math.cos(0.5)
    assert "x=0.5" in message
    assert isinstance(info.value, AssertionError)  # pytest shows it as a failed assertion
    assert x.grad == 0.0  # the caller's Value is left alone


def test_gradcheck_names_unlabelled_inputs_by_position() -> None:
    with pytest.raises(GradcheckError, match=r"with respect to inputs\[1\]"):
        gradcheck(lambda a, b: a + apply(WRONG_SIN, b), [0.1, 0.2])


def test_gradcheck_can_return_false() -> None:
    assert gradcheck(lambda v: apply(WRONG_SIN, v), [0.5], raise_exception=False) is False
    assert gradcheck(lambda v: apply(OP["sin"], v), [0.5], raise_exception=False) is True


def test_gradgradcheck_catches_a_wrong_second_derivative() -> None:
    def f(v: Value) -> Value:
        return apply(FLAT_SIN, v)

    assert gradcheck(f, [0.5])  # first order is right
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(f, [Value(0.5, "x")])
    message = str(info.value)
    assert "d(output)/d(x)" in message and "with respect to x" in message
    numerical = float(re.search(r"numerical\s+(\S+)", message).group(1))  # type: ignore[union-attr]
    assert numerical == pytest.approx(-math.sin(0.5), rel=1e-5)
    assert gradgradcheck(f, [0.5], raise_exception=False) is False


def test_gradcheck_fails_at_a_kink() -> None:
    # relu at 0: central differences give 0.5, the convention 0. This is why autograd.testing keeps away from kinks.
    assert gradcheck(lambda v: v.relu(), [0.0], raise_exception=False) is False
    assert gradcheck(lambda v: v.relu(), [0.5]) is True


def test_tolerances_and_step() -> None:
    # exp at 0 with eps = 0.01: central differences are off by eps^2/6 ~ 1.7e-5 (relative).
    f = lambda v: v.exp()
    assert gradcheck(f, [0.0], eps=1e-2) is True
    assert gradcheck(f, [0.0], eps=1e-2, atol=0.0, rtol=1e-6, raise_exception=False) is False
    assert gradcheck(f, [0.0], eps=1e-2, atol=0.0, rtol=1e-4) is True


def test_gradcheck_catches_nan() -> None:
    assert gradcheck(lambda v: v.log(), [-1.0], raise_exception=False) is False


def test_gradcheck_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="must return a Value"):
        gradcheck(lambda v: 1.0, [0.5])  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match=r"inputs\[0\]"):
        gradcheck(lambda v: v, ["a"])  # type: ignore[list-item]


# d(1/a)/da written as a constant: right nowhere, but the finite difference at a = 1e-6 with eps = 1e-6
# crosses the pole (-inf), and the old tolerance atol + rtol*|numerical| became inf and passed it.
WRONG_RECIPROCAL = dataclasses.replace(OP["reciprocal"], name="wrong_reciprocal", grads=(lambda M, o, a: 12345.0,))


def test_an_infinite_numerical_derivative_never_passes_a_finite_one() -> None:
    with pytest.raises(GradcheckError, match=r"numerical derivative is not finite but the analytical one is") as info:
        gradcheck(lambda a: apply(WRONG_RECIPROCAL, a), [Value(1e-6, "a")])
    assert "with respect to a" in str(info.value) and "-inf" in str(info.value)
    # The right rule fails there too (the step crosses the pole), and passes where the step does not.
    assert gradcheck(lambda a: a.reciprocal(), [1e-6], raise_exception=False) is False
    assert gradcheck(lambda a: a.reciprocal(), [1e-3]) is True
    with pytest.raises(GradcheckError, match="with respect to a"):
        gradcheck(lambda a: apply(WRONG_RECIPROCAL, a), [Value(1e-3, "a")])


def test_power_at_zero_zero_fails_on_the_exponent() -> None:
    """d/db a**b at (0, 0) is 0 by PyTorch's convention; the function jumps to inf for b < 0."""
    with pytest.raises(GradcheckError, match=r"with respect to inputs\[1\].*\n.*-inf"):
        gradcheck(lambda a, b: a**b, [0.0, 0.0])
    assert gradcheck(lambda a, b: a**b, [0.5, 1.5]) is True


def test_an_infinite_analytical_derivative_never_passes_a_finite_one() -> None:
    # sqrt at 0 with its derivative inf; at a point just above 0 the central difference is finite.
    infinite_sqrt = dataclasses.replace(OP["sqrt"], name="inf_sqrt", grads=(lambda M, o, a: math.inf,))
    with pytest.raises(GradcheckError, match="analytical derivative is not finite but the numerical one is"):
        gradcheck(lambda a: apply(infinite_sqrt, a), [1.0])


def test_nan_on_both_sides_is_not_a_pass() -> None:
    with pytest.raises(GradcheckError, match="both are nan"):
        gradcheck(lambda a: (a - a) / (a - a), [1.0])


def test_the_same_infinity_agrees_and_a_different_one_does_not() -> None:
    # A step from 0 to inf at a = 0, with its derivative there written as +inf: the central difference
    # (inf - 0) / (2 eps) is +inf too. Written as -inf, it disagrees.
    step = dataclasses.replace(
        OP["relu"], name="step", forward=lambda M, a: M.where(M.gt(a, 0.0), math.inf, 0.0),
        grads=(lambda M, o, a: math.inf,),
    )
    assert gradcheck(lambda a: apply(step, a), [0.0]) is True
    down = dataclasses.replace(step, name="down", grads=(lambda M, o, a: -math.inf,))
    with pytest.raises(GradcheckError, match="different non-finite numbers"):
        gradcheck(lambda a: apply(down, a), [0.0])


@pytest.mark.parametrize(("name", "value"), [("eps", 0.0), ("eps", -1e-6), ("atol", math.inf), ("rtol", math.nan),
                                             ("rtol", -1.0)])
def test_tolerances_must_be_finite(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"{name} must be a finite number"):
        gradcheck(lambda a: a.exp(), [1.0], **{name: value})  # type: ignore[arg-type]
