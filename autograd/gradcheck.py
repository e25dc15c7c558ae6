"""Check derivatives against central finite differences, as users test their own functions.

``gradcheck`` compares backward with (f(x + eps) - f(x - eps)) / (2 eps) for
every input; ``gradgradcheck`` does the same for each first derivative, built
with ``grad(create_graph=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from chainrule.autograd.engine import Value, _number_to_float, grad

Function = Callable[..., Value]


class GradcheckError(AssertionError):
    """A derivative disagrees with its finite-difference estimate."""


def _leaves(inputs: Sequence[float | Value]) -> tuple[list[float], list[str]]:
    if isinstance(inputs, (Value, int, float)):
        inputs = [inputs]
    data, labels = [], []
    for i, x in enumerate(inputs):
        if isinstance(x, Value):
            data.append(x.data)
            labels.append(x.label or f"inputs[{i}]")
        else:
            data.append(_number_to_float(x, f"gradcheck() inputs[{i}]"))
            labels.append(f"inputs[{i}]")
    return data, labels


def _call(fn: Function, data: Sequence[float], labels: Sequence[str]) -> tuple[Value, list[Value]]:
    leaves = [Value(x, label) for x, label in zip(data, labels)]
    out = fn(*leaves)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck(): fn must return a Value, got {type(out).__name__} {out!r}")
    return out, leaves


def _numerical(fn: Function, data: list[float], labels: list[str], i: int, eps: float) -> float:
    # NOTE: not under no_grad: fn may itself call grad() (as gradgradcheck's does).
    up = list(data)
    up[i] += eps
    down = list(data)
    down[i] -= eps
    return (_call(fn, up, labels)[0].data - _call(fn, down, labels)[0].data) / (2.0 * eps)


def _compare(
    what: str,
    fn: Function,
    inputs: Sequence[float | Value],
    eps: float,
    atol: float,
    rtol: float,
    raise_exception: bool,
) -> bool:
    """Compare fn's gradient from backward with central differences, input by input."""
    for name, x in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if not (isinstance(x, (int, float)) and math.isfinite(x) and x >= 0.0) or (name == "eps" and x == 0.0):
            raise ValueError(f"gradcheck(): {name} must be a finite number >= 0 (eps > 0), got {x!r}")
    data, labels = _leaves(inputs)
    out, leaves = _call(fn, data, labels)
    analytical = [g.data for g in grad(out, leaves, allow_unused=True)]
    for i, label in enumerate(labels):
        numerical = _numerical(fn, data, labels, i, eps)
        a = analytical[i]
        problem = _disagreement(a, numerical, atol, rtol)
        if problem:
            if not raise_exception:
                return False
            at = ", ".join(f"{name}={x!r}" for name, x in zip(labels, data))
            raise GradcheckError(
                f"{what} with respect to {label} disagrees with finite differences at ({at}):\n"
                f"  numerical  {numerical!r}\n  analytical {a!r}\n  {problem}"
            )
    return True


def _disagreement(analytical: float, numerical: float, atol: float, rtol: float) -> str:
    """Why the two derivatives disagree, or '' when they agree.

    Finite numbers agree within atol + rtol * |numerical| (a finite
    tolerance: where the numerical derivative is inf, it would pass anything).
    A non-finite one agrees only with the same infinity; nan never agrees.
    """
    if math.isfinite(analytical) and math.isfinite(numerical):
        tolerance = atol + rtol * abs(numerical)
        difference = abs(analytical - numerical)
        return "" if difference <= tolerance else f"difference {difference!r} > atol + rtol*|numerical| = {tolerance!r}"
    if analytical == numerical:  # the same infinity
        return ""
    if math.isnan(analytical) and math.isnan(numerical):
        return "both are nan: the function is not defined here, so nothing can be checked"
    if math.isfinite(analytical):
        return ("the numerical derivative is not finite but the analytical one is: the step crosses a "
                "singularity or a domain edge, or the function overflows (try another point or a smaller eps)")
    if math.isfinite(numerical):
        return "the analytical derivative is not finite but the numerical one is"
    return "they are different non-finite numbers"


def gradcheck(
    fn: Function,
    inputs: Sequence[float | Value],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check backward against central differences for every input.

    Args:
        fn: takes one Value per input and returns a Value.
        inputs: the point to check at: numbers, or Values (their labels name them).
        eps: the finite-difference step (finite, > 0).
        atol, rtol: pass when |analytical - numerical| <= atol + rtol * |numerical| (finite, >= 0).
            A derivative that is not finite passes only where the other is the same infinity.
        raise_exception: raise GradcheckError on a mismatch (else return False).

    Returns:
        True when every derivative agrees.

    Raises:
        GradcheckError: a derivative disagrees, naming the input and both numbers.
        ValueError: eps, atol or rtol is negative, inf or nan.
    """
    return _compare("d(output)", fn, inputs, eps, atol, rtol, raise_exception)


def gradgradcheck(
    fn: Function,
    inputs: Sequence[float | Value],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check second derivatives (from ``grad(create_graph=True)``) against central differences.

    For each input i, the first derivative d(fn)/d(x_i), built out of Values,
    is itself checked with :func:`gradcheck`'s comparison. Arguments as for
    :func:`gradcheck`.
    """
    _, labels = _leaves(inputs)
    for i, label in enumerate(labels):

        def first(*xs: Value, i: int = i) -> Value:
            return grad(fn(*xs), [xs[i]], create_graph=True, allow_unused=True)[0]

        if not _compare(f"the derivative of d(output)/d({label})", first, inputs, eps, atol, rtol, raise_exception):
            return False
    return True
