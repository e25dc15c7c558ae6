"""Check derivatives against central finite differences, as users test their own functions.

``gradcheck`` compares backward with (f(x + eps) - f(x - eps)) / (2 eps) for
every input; ``gradgradcheck`` does the same for each first derivative, built
with ``grad(create_graph=True)``.
"""

from __future__ import annotations

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
    data, labels = _leaves(inputs)
    out, leaves = _call(fn, data, labels)
    analytical = [g.data for g in grad(out, leaves, allow_unused=True)]
    for i, label in enumerate(labels):
        numerical = _numerical(fn, data, labels, i, eps)
        a = analytical[i]
        if not abs(a - numerical) <= atol + rtol * abs(numerical):
            if not raise_exception:
                return False
            at = ", ".join(f"{name}={x!r}" for name, x in zip(labels, data))
            raise GradcheckError(
                f"{what} with respect to {label} disagrees with finite differences at ({at}):\n"
                f"  numerical  {numerical!r}\n  analytical {a!r}\n"
                f"  difference {abs(a - numerical)!r} > atol + rtol*|numerical| = "
                f"{atol + rtol * abs(numerical)!r}"
            )
    return True


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
        eps: the finite-difference step.
        atol, rtol: pass when |analytical - numerical| <= atol + rtol * |numerical|.
        raise_exception: raise GradcheckError on a mismatch (else return False).

    Returns:
        True when every derivative agrees.
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
