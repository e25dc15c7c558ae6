"""Losses and softmax over Values, composed from the engine's primitives (none needs a derivative rule of its own).

Shapes follow PyTorch: a batch is a sequence of samples, and each loss takes
``(input, target, *, reduction="mean" | "sum" | "none")``. With ``"none"`` the
per-element losses come back in the input's nesting (a list of Values for a
batch, one Value for a single sample).

Example::

    from chainrule.autograd import Value
    from chainrule.nn.functional import cross_entropy
    logits = [[Value(2.0), Value(0.5)], [Value(-1.0), Value(1.0)]]
    loss = cross_entropy(logits, [0, 1])   # mean over the batch
    loss.backward()                        # d loss / d logit = (softmax - one_hot) / N
"""

# ruff: noqa: A002 - the losses keep PyTorch's argument name `input`

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from chainrule import autograd
from chainrule.autograd import Value

Reduction = Literal["mean", "sum", "none"]
Shape = tuple[int, ...]

__all__ = [
    "Reduction",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "hinge_loss",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "softmax",
]

# NOTE: log(max(p, e^-100)) equals PyTorch's max(log(p), -100) for every p (log(e^-100) is exactly -100.0 in
# float64), but never evaluates log(0): max(log(p), -100) would give p = 0 a gradient of inf * 0 = nan and trip
# detect_anomaly() on a finite loss.
_LOG_FLOOR_ARG = math.exp(-100.0)

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------
# Shapes and checks
# ----------------------------------------------------------------------------


def _is_sequence(x: object) -> bool:
    if isinstance(x, np.ndarray):
        return x.ndim > 0
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


# Element types that are never sequences: a list or tuple of only these is flat.
_SCALAR_TYPES = frozenset({Value, float, int})


def _flatten(x: Any, what: str) -> tuple[Shape, list[Any]]:
    """Return the nested sequence's shape and its elements in row-major order."""
    # NOTE: a flat list of Values or numbers (a batch of scores or labels, the common case) skips
    # the per-element recursion: it was ~40% of a 100-sample hinge loss (callgrind).
    if (type(x) is list or type(x) is tuple) and _SCALAR_TYPES.issuperset(map(type, x)):
        return (len(x),), list(x)
    if not _is_sequence(x):
        return (), [x.item() if isinstance(x, np.ndarray) else x]
    if isinstance(x, np.ndarray) and x.dtype != object:
        return tuple(x.shape), x.ravel().tolist()
    items = list(x)
    if not items:
        return (0,), []
    parts = [_flatten(item, f"{what}[{i}]") for i, item in enumerate(items)]
    first = parts[0][0]
    for i, (shape, _) in enumerate(parts):
        if shape != first:
            raise ValueError(f"{what} is ragged: {what}[0] has shape {first} but {what}[{i}] has shape {shape}")
    return (len(items), *first), [v for _, flat in parts for v in flat]


def _unflatten(flat: list[Any], shape: Shape) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    size = math.prod(shape[1:])
    return [_unflatten(flat[i * size : (i + 1) * size], shape[1:]) for i in range(shape[0])]


def _number(x: object, what: str) -> float:
    """Return a plain real number as float, or raise TypeError naming the argument."""
    if isinstance(x, (numbers.Real, np.bool_)) and not isinstance(x, np.ndarray):
        return float(x)
    raise TypeError(f"{what} must be a real number, got {type(x).__name__} {x!r}")


def _as_value(x: object, what: str) -> Value:
    """Return x if it is a Value, else a constant leaf for the number x."""
    if isinstance(x, Value):
        return x
    return autograd.constant(_number(x, what), what)


def _target(x: object, what: str) -> Value | float:
    """A regression or probability target: a Value (gradient flows into it) or a number."""
    return x if isinstance(x, Value) else _number(x, what)


def _data(x: Value | float) -> float:
    return x.data if isinstance(x, Value) else x


def _class_index(x: object, num_classes: int, what: str) -> int:
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{what} must be a class index (int), got bool {x!r}")
    if isinstance(x, (numbers.Integral, np.integer)):
        index = int(x)
    elif isinstance(x, (numbers.Real, np.floating)) and float(x).is_integer():
        index = int(float(x))  # a label array stored as floats, e.g. np.array([0., 2.])
    else:
        raise TypeError(f"{what} must be a class index (int), got {type(x).__name__} {x!r}")
    if not 0 <= index < num_classes:
        raise ValueError(f"{what} = {index} is out of range for {num_classes} classes (expected 0..{num_classes - 1})")
    return index


def _check_reduction(reduction: object, fn: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}(): reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(losses: list[Value], shape: Shape, reduction: str, fn: str) -> Any:
    if reduction == "none":
        return _unflatten(losses, shape)
    if reduction == "sum":
        return autograd.sum(losses)
    if not losses:
        raise ValueError(f"{fn}(): the mean over an empty batch is undefined; use reduction='sum' or pass samples")
    return autograd.sum(losses) / len(losses)


def _elementwise(
    fn: str,
    input: Any,
    target: Any,
    reduction: str,
    element_loss: Callable[[Value, Any, str], Value],
    convert_target: Callable[[object, str], Any] = _target,
) -> Any:
    """Apply ``element_loss(x, t, where)`` to matching elements of input and target, then reduce."""
    _check_reduction(reduction, fn)
    shape, xs = _flatten(input, "input")
    target_shape, ts = _flatten(target, "target")
    if shape != target_shape:
        raise ValueError(f"{fn}(): input has shape {shape} but target has shape {target_shape}; they must match")
    losses = []
    for i, (x, t) in enumerate(zip(xs, ts, strict=True)):
        where = f"[{i}]" if shape else ""
        losses.append(element_loss(_as_value(x, f"{fn}() input{where}"), convert_target(t, f"{fn}() target{where}"),
                                   where))
    return _reduce(losses, shape, reduction, fn)


def _rows(fn: str, logits: Any) -> tuple[bool, list[list[Value]]]:
    """Split logits or log-probabilities of shape (C,) or (N, C) into rows of Values."""
    shape, flat = _flatten(logits, "input")
    if len(shape) not in (1, 2) or shape[-1] == 0:
        raise ValueError(f"{fn}(): input must have shape (C,) or (N, C) with C >= 1 classes, got shape {shape}")
    values = [_as_value(x, f"{fn}() input element {i}") for i, x in enumerate(flat)]
    c = shape[-1]
    return len(shape) == 2, [values[i : i + c] for i in range(0, len(values), c)]


def _class_targets(fn: str, target: Any, batched: bool, rows: int, classes: int) -> list[int]:
    shape, flat = _flatten(target, "target")
    expected: Shape = (rows,) if batched else ()
    if shape != expected:
        hint = "" if batched else "; an input of shape (C,) is one sample, a batch has shape (N, C)"
        raise ValueError(f"{fn}(): target must hold one class index per sample, shape {expected}, "
                         f"got shape {shape}{hint}")
    return [_class_index(t, classes, f"{fn}() target[{i}]" if batched else f"{fn}() target")
            for i, t in enumerate(flat)]


# ----------------------------------------------------------------------------
# Softmax
# ----------------------------------------------------------------------------


def log_softmax(input: Any) -> Any:
    """Return log(softmax(input)) over the last axis, as x - logsumexp(x) (stable for logits of +-1000).

    Args:
        input: logits, shape (C,) or (N, C): Values or numbers.

    Returns:
        A list of C Values, or N such lists.
    """
    batched, rows = _rows("log_softmax", input)
    out = []
    for row in rows:
        lse = autograd.logsumexp(row)
        out.append([x - lse for x in row])
    return out if batched else out[0]


def softmax(input: Any) -> Any:
    """Return exp(x - logsumexp(x)) over the last axis: probabilities that sum to 1, stable for large logits.

    Args:
        input: logits, shape (C,) or (N, C): Values or numbers.

    Returns:
        A list of C Values, or N such lists.
    """
    batched, rows = _rows("softmax", input)
    out = []
    for row in rows:
        lse = autograd.logsumexp(row)
        out.append([(x - lse).exp() for x in row])
    return out if batched else out[0]


# ----------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------


def mse_loss(input: Any, target: Any, *, reduction: Reduction = "mean") -> Any:
    """Squared error (x - t)**2 per element, reduced.

    Args:
        input: predictions: a Value or number, or a (nested) sequence of them.
        target: numbers or Values of the same shape.
        reduction: "mean" (over all elements), "sum" or "none".

    Returns:
        A Value, or with reduction="none" the squared errors in the input's shape.
    """
    return _elementwise("mse_loss", input, target, reduction, lambda x, t, where: (x - t) ** 2)


def _bce_element(p: Value, t: Value | float, where: str) -> Value:
    if not 0.0 <= p.data <= 1.0:  # also rejects nan
        raise ValueError(f"binary_cross_entropy(): input{where} = {p.data!r} is not a probability in [0, 1] "
                         "(for raw scores use binary_cross_entropy_with_logits)")
    # Hard labels keep only their one term (a smaller graph, the same value and gradient).
    if not isinstance(t, Value) and t == 1.0:
        return -autograd.maximum(p, _LOG_FLOOR_ARG).log()
    negative = autograd.maximum(1.0 - p, _LOG_FLOOR_ARG).log()
    if not isinstance(t, Value) and t == 0.0:
        return -negative
    positive = autograd.maximum(p, _LOG_FLOOR_ARG).log()
    return -(t * positive + (1.0 - t) * negative)


def binary_cross_entropy(input: Any, target: Any, *, reduction: Reduction = "mean") -> Any:
    """Binary cross-entropy from probabilities: -(t log p + (1 - t) log(1 - p)), each log clamped at -100.

    The clamp is PyTorch's: p = 0 with t = 1 costs 100, not inf. The gradient is
    the derivative of this clamped function: -t/p + (1 - t)/(1 - p) where no clamp
    is active, and that log's term contributes 0 where it is (p < e^-100 or
    1 - p < e^-100); it is never nan. PyTorch's own backward uses
    (p - t) / max(p (1 - p), 1e-12) instead, which differs only within about
    1e-12 of 0 and 1 (at p = 1, t = 1 it gives 0 where this gives -1).

    Args:
        input: probabilities in [0, 1] (e.g. a sigmoid output), any shape.
        target: numbers (or Values) of the same shape, usually 0 or 1.
        reduction: "mean", "sum" or "none".

    Returns:
        A Value, or with reduction="none" the per-element losses in the input's shape.

    Raises:
        ValueError: an input outside [0, 1] (or nan), or mismatched shapes.
    """
    return _elementwise("binary_cross_entropy", input, target, reduction, _bce_element)


def _bce_logits_element(x: Value, t: Value | float, where: str) -> Value:
    # softplus(-x) = -log(sigmoid(x)) and softplus(x) = -log(1 - sigmoid(x)); both are computed without
    # overflow, and a weighted sum of the two never cancels (softplus(x) - t*x loses digits for large x).
    if not isinstance(t, Value):
        if t == 1.0:
            return (-x).softplus()
        if t == 0.0:
            return x.softplus()
    return t * (-x).softplus() + (1.0 - t) * x.softplus()


def binary_cross_entropy_with_logits(input: Any, target: Any, *, reduction: Reduction = "mean") -> Any:
    """Binary cross-entropy of sigmoid(x), computed from the logit x stably via softplus.

    Equal to t softplus(-x) + (1 - t) softplus(x); its gradient is sigmoid(x) - t
    (0.5 - t at x = 0), finite for logits of +-1000.

    Args:
        input: logits (raw scores), any shape.
        target: numbers (or Values) of the same shape, usually 0 or 1.
        reduction: "mean", "sum" or "none".

    Returns:
        A Value, or with reduction="none" the per-element losses in the input's shape.
    """
    return _elementwise("binary_cross_entropy_with_logits", input, target, reduction, _bce_logits_element)


def cross_entropy(input: Any, target: Any, *, reduction: Reduction = "mean") -> Any:
    """Softmax cross-entropy from logits and class indices: logsumexp(x) - x[target] per sample.

    The same as ``nll_loss(log_softmax(input), target)`` in two nodes per sample;
    its gradient is softmax(x) - one_hot(target) (divided by N for "mean").

    Args:
        input: logits, shape (N, C) for a batch or (C,) for one sample.
        target: class indices in 0..C-1: shape (N,), or one int for one sample.
        reduction: "mean" (over samples), "sum" or "none".

    Returns:
        A Value, or with reduction="none" a list of N Values (one Value for one sample).
    """
    fn = "cross_entropy"
    _check_reduction(reduction, fn)
    batched, rows = _rows(fn, input)
    classes = _class_targets(fn, target, batched, len(rows), len(rows[0]) if rows else 0)
    losses = [autograd.logsumexp(row) - row[k] for row, k in zip(rows, classes, strict=True)]
    return _reduce(losses, (len(losses),) if batched else (), reduction, fn)


def nll_loss(input: Any, target: Any, *, reduction: Reduction = "mean") -> Any:
    """Negative log-likelihood: -input[target] per sample, for inputs that are log-probabilities.

    Args:
        input: log-probabilities (e.g. from log_softmax), shape (N, C) or (C,).
        target: class indices in 0..C-1: shape (N,), or one int for one sample.
        reduction: "mean" (over samples), "sum" or "none".

    Returns:
        A Value, or with reduction="none" a list of N Values (one Value for one sample).
    """
    fn = "nll_loss"
    _check_reduction(reduction, fn)
    batched, rows = _rows(fn, input)
    classes = _class_targets(fn, target, batched, len(rows), len(rows[0]) if rows else 0)
    losses = [-row[k] for row, k in zip(rows, classes, strict=True)]
    return _reduce(losses, (len(losses),) if batched else (), reduction, fn)


def _sign_label(x: object, what: str) -> Value | float:
    if type(x) is float and (x == 1.0 or x == -1.0):  # the common case, without the checks below
        return x
    if isinstance(x, Value):
        # A label as a Value (a per-sample input of autograd.compile): one condition for both labels,
        # so the compiled program has one guard that every valid label meets.
        if abs(x.data) != 1.0:
            raise ValueError(f"{what} = {x.data!r} is not a label of -1 or +1 (map 0/1 labels with 2*y - 1)")
        return x
    y = _number(x, what)
    if y not in (1.0, -1.0):
        raise ValueError(f"{what} = {y!r} is not a label of -1 or +1 (map 0/1 labels with 2*y - 1)")
    return y


def _hinge_element(s: Value, y: Value | float, where: str) -> Value:
    if isinstance(y, Value):
        return (1.0 - y * s).relu()  # y = +-1 exactly, so y * s is +-s exactly: the same numbers
    # relu(1 - y s) with y = +-1, written without the multiplication: one node fewer per sample.
    return (1.0 - s).relu() if y > 0 else (1.0 + s).relu()


def hinge_loss(input: Any, target: Any, *, reduction: Reduction = "mean") -> Any:
    """Hinge (max-margin) loss relu(1 - y s) per element, as micrograd's moons demo uses.

    At the margin (y s = 1) the gradient is 0 (relu'(0) = 0, as PyTorch).

    Args:
        input: scores s (raw, not probabilities), any shape.
        target: labels y of -1 or +1 (numbers or Values), the same shape.
        reduction: "mean", "sum" or "none".

    Returns:
        A Value, or with reduction="none" the per-element losses in the input's shape.

    Raises:
        ValueError: a label other than -1 or +1, or mismatched shapes.
    """
    return _elementwise("hinge_loss", input, target, reduction, _hinge_element, _sign_label)
