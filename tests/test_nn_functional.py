"""nn.functional: values and gradients by hand, central differences, shapes, reductions and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chainrule.autograd import Value, detect_anomaly, gradcheck
from chainrule.nn.functional import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    hinge_loss,
    log_softmax,
    mse_loss,
    nll_loss,
    softmax,
)


def values(*xs: float) -> list[Value]:
    return [Value(x) for x in xs]


def grads(vs: list[Value]) -> list[float]:
    return [v.grad for v in vs]


# ----------------------------------------------------------------------------
# softmax
# ----------------------------------------------------------------------------


def test_softmax_by_hand() -> None:
    x = values(0.0, math.log(3.0))
    p = softmax(x)
    assert [v.data for v in p] == pytest.approx([0.25, 0.75], rel=1e-15)
    # d p0 / d x = p0 (onehot_0 - p) = [0.25 * 0.75, -0.25 * 0.75]
    p[0].backward()
    assert grads(x) == pytest.approx([0.1875, -0.1875], rel=1e-14)


def test_log_softmax_by_hand() -> None:
    x = values(0.0, math.log(3.0))
    out = log_softmax(x)
    assert [v.data for v in out] == pytest.approx([math.log(0.25), math.log(0.75)], rel=1e-15)
    out[1].backward()  # d log p1 / d x = onehot_1 - p
    assert grads(x) == pytest.approx([-0.25, 0.25], rel=1e-14)


def test_softmax_is_stable_for_logits_of_1000() -> None:
    x = values(1000.0, -1000.0, 0.0)
    p = softmax(x)
    assert [v.data for v in p] == [1.0, 0.0, 0.0]
    logp = log_softmax(x)
    assert [v.data for v in logp] == [0.0, -2000.0, -1000.0]
    logp[1].backward()
    assert grads(x) == [-1.0, 1.0, 0.0]


def test_softmax_batched_rows_and_numpy_input() -> None:
    out = softmax(np.array([[0.0, 0.0], [0.0, math.log(3.0)]]))
    assert [[v.data for v in row] for row in out] == [[0.5, 0.5], pytest.approx([0.25, 0.75], rel=1e-15)]


@given(st.lists(st.floats(-5, 5), min_size=1, max_size=5))
def test_softmax_sums_to_one_and_gradchecks(xs: list[float]) -> None:
    assert sum(v.data for v in softmax(xs)) == pytest.approx(1.0, rel=1e-12)
    for k in range(len(xs)):
        gradcheck(lambda *v, k=k: softmax(list(v))[k], xs)
        gradcheck(lambda *v, k=k: log_softmax(list(v))[k], xs)


# ----------------------------------------------------------------------------
# mse
# ----------------------------------------------------------------------------


def test_mse_by_hand_each_reduction() -> None:
    x = values(1.0, 2.0, 4.0)
    loss = mse_loss(x, [1.0, 0.0, 1.0])  # errors 0, 2, 3
    assert loss.data == pytest.approx(13.0 / 3.0, rel=1e-15)
    loss.backward()  # 2 (x - t) / 3
    assert grads(x) == pytest.approx([0.0, 4.0 / 3.0, 2.0], rel=1e-15)
    assert mse_loss(x, [1, 0, 1], reduction="sum").data == 13.0
    each = mse_loss(x, np.array([1, 0, 1]), reduction="none")
    assert [v.data for v in each] == [0.0, 4.0, 9.0]


def test_mse_nested_batch_keeps_shape_and_means_over_all_elements() -> None:
    x = [values(1.0, 2.0), values(3.0, 5.0)]
    each = mse_loss(x, [[0.0, 0.0], [0.0, 0.0]], reduction="none")
    assert [[v.data for v in row] for row in each] == [[1.0, 4.0], [9.0, 25.0]]
    assert mse_loss(x, np.zeros((2, 2))).data == 39.0 / 4.0


def test_mse_single_value_and_value_target() -> None:
    x, t = Value(3.0), Value(1.0)
    loss = mse_loss(x, t)
    loss.backward()
    assert (loss.data, x.grad, t.grad) == (4.0, 4.0, -4.0)
    assert isinstance(mse_loss(x, 1.0, reduction="none"), Value)


# ----------------------------------------------------------------------------
# binary cross-entropy
# ----------------------------------------------------------------------------


def test_bce_by_hand() -> None:
    p = values(0.8, 0.8, 0.5)
    loss = binary_cross_entropy(p, [1, 0, 0.5], reduction="sum")
    assert loss.data == pytest.approx(-math.log(0.8) - math.log(0.2) + math.log(2.0), rel=1e-15)
    loss.backward()  # -t/p + (1 - t)/(1 - p)
    assert grads(p) == pytest.approx([-1.25, 5.0, 0.0], rel=1e-14, abs=1e-15)


def test_bce_clamps_log_at_minus_100_with_finite_gradients() -> None:
    p = values(0.0, 1.0, 0.0, 1e-50, 1.0)
    t = [1, 0, 0, 1, 1]
    with detect_anomaly():  # no log(0) is ever evaluated: nothing non-finite anywhere
        each = binary_cross_entropy(p, t, reduction="none")
        loss = binary_cross_entropy(p, t, reduction="sum")
    assert [v.data for v in each] == [100.0, 100.0, 0.0, 100.0, 0.0]
    loss.backward()
    # Clamped terms pass no gradient; unclamped ones give the true derivative (-1/p at p = 1, 1/(1-p) at p = 0).
    assert grads(p) == [0.0, 0.0, 1.0, 0.0, -1.0]


@given(st.floats(0.05, 0.95), st.floats(0.0, 1.0))
@example(0.5, 1.0).via("hard label")
@example(0.3, 0.0).via("hard label")
def test_bce_gradchecks(p: float, t: float) -> None:
    gradcheck(lambda x: binary_cross_entropy(x, t), [p])
    gradcheck(lambda x, y: binary_cross_entropy([x], [y]), [p, t])  # the target can be a Value too


def test_bce_with_logits_by_hand_at_zero_and_extremes() -> None:
    x = values(0.0, 0.0, 1000.0, -1000.0, 1000.0)
    t = [1, 0, 0, 1, 1]
    each = binary_cross_entropy_with_logits(x, t, reduction="none")
    assert [v.data for v in each] == [math.log(2.0), math.log(2.0), 1000.0, 1000.0, 0.0]
    binary_cross_entropy_with_logits(x, t, reduction="sum").backward()
    assert grads(x) == [-0.5, 0.5, 1.0, -1.0, 0.0]  # sigmoid(x) - t


def test_bce_with_logits_keeps_digits_for_confident_right_answers() -> None:
    # -log(sigmoid(40)) = log1p(e^-40) ~ 4.25e-18: softplus(x) - x would round it to 0.
    assert binary_cross_entropy_with_logits(Value(40.0), 1.0).data == pytest.approx(math.exp(-40.0), rel=1e-15)
    assert binary_cross_entropy_with_logits(Value(-40.0), 0.0).data == pytest.approx(math.exp(-40.0), rel=1e-15)


@given(st.floats(-6, 6), st.floats(0.0, 1.0))
def test_bce_with_logits_gradchecks_and_equals_bce_of_sigmoid(x: float, t: float) -> None:
    gradcheck(lambda v, w: binary_cross_entropy_with_logits(v, w), [x, t])
    direct = binary_cross_entropy(Value(x).sigmoid(), t).data
    assert binary_cross_entropy_with_logits(Value(x), t).data == pytest.approx(direct, rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------------
# cross-entropy and NLL
# ----------------------------------------------------------------------------


def test_cross_entropy_by_hand() -> None:
    x = values(1.0, 2.0, 3.0)
    loss = cross_entropy(x, 2)
    z = math.exp(1.0) + math.exp(2.0) + math.exp(3.0)
    assert loss.data == pytest.approx(math.log(z) - 3.0, rel=1e-14)
    loss.backward()
    assert grads(x) == pytest.approx([math.exp(1) / z, math.exp(2) / z, math.exp(3) / z - 1.0], rel=1e-14)


def test_cross_entropy_batch_reductions() -> None:
    x = [values(1000.0, -1000.0), values(0.0, 0.0)]
    each = cross_entropy(x, [1, 0], reduction="none")
    assert [v.data for v in each] == [2000.0, math.log(2.0)]
    assert cross_entropy(x, [1, 0], reduction="sum").data == 2000.0 + math.log(2.0)
    loss = cross_entropy(x, np.array([1, 0]))
    assert loss.data == (2000.0 + math.log(2.0)) / 2
    loss.backward()
    assert [grads(row) for row in x] == [[0.5, -0.5], [-0.25, 0.25]]
    assert isinstance(cross_entropy(x[0], 1, reduction="none"), Value)


@given(st.lists(st.floats(-4, 4), min_size=6, max_size=6), st.integers(0, 2), st.integers(0, 2))
def test_cross_entropy_gradchecks_and_equals_nll_of_log_softmax(xs: list[float], a: int, b: int) -> None:
    gradcheck(lambda *v: cross_entropy([list(v[:3]), list(v[3:])], [a, b]), xs)
    rows = [xs[:3], xs[3:]]
    via_nll = nll_loss(log_softmax(rows), [a, b]).data
    assert cross_entropy(rows, [a, b]).data == pytest.approx(via_nll, rel=1e-12, abs=1e-14)


def test_nll_by_hand() -> None:
    x = [values(-1.0, -2.0), values(-0.5, -3.0)]
    loss = nll_loss(x, [0, 1])
    assert loss.data == 2.0
    loss.backward()
    assert [grads(row) for row in x] == [[-0.5, 0.0], [0.0, -0.5]]
    assert [v.data for v in nll_loss(x, [1, 1], reduction="none")] == [2.0, 3.0]
    assert nll_loss(x[0], 1).data == 2.0


def test_class_targets_stored_as_float_are_accepted() -> None:
    assert cross_entropy([[0.0, 0.0]], np.array([1.0])).data == math.log(2.0)


# ----------------------------------------------------------------------------
# hinge
# ----------------------------------------------------------------------------


def test_hinge_by_hand() -> None:
    s = values(0.5, 2.0, -3.0, 1.0)
    loss = hinge_loss(s, [1, -1, -1, 1])  # relu(1 - y s) = 0.5, 3, 0, 0 (the last exactly at the margin)
    assert loss.data == 0.875
    loss.backward()
    assert grads(s) == [-0.25, 0.25, 0.0, 0.0]
    assert [v.data for v in hinge_loss(s, [1, -1, -1, 1], reduction="none")] == [0.5, 3.0, 0.0, 0.0]
    assert hinge_loss(s, [1, -1, -1, 1], reduction="sum").data == 3.5


def test_hinge_takes_labels_as_values() -> None:
    # compiled mode feeds labels as per-sample Values: the same numbers and score gradients as plain labels
    s = values(0.5, 2.0, -3.0, 1.0)
    labels = values(1, -1, -1, 1)
    loss = hinge_loss(s, labels)
    assert loss.data == 0.875
    loss.backward()
    assert grads(s) == [-0.25, 0.25, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"target\[1\] = 0.0 is not a label of -1 or \+1"):
        hinge_loss(s, values(1, 0, -1, 1))


def test_flat_float_labels_give_what_other_label_types_give() -> None:
    # float labels in a flat list take a shortcut past the shape and label checks: the same numbers
    # as int labels, numpy float labels and a nested (tuple-in-list) batch that take the full path
    from chainrule.nn.functional import _flatten

    s = values(0.5, 2.0, -3.0, 1.0)
    assert _flatten(s, "input") == ((4,), s)
    assert _flatten((1.0, -1, 2.5), "target") == ((3,), [1.0, -1, 2.5])
    assert _flatten([], "input") == ((0,), [])
    assert _flatten([[1.0], [2.0]], "input") == ((2, 1), [1.0, 2.0])
    assert _flatten([True, 1.0], "input") == ((2,), [True, 1.0])  # bool: the general path, same result
    expected = [v.data for v in hinge_loss(s, [1, -1, -1, 1], reduction="none")]
    assert expected == [0.5, 3.0, 0.0, 0.0]
    assert [v.data for v in hinge_loss(s, [1.0, -1.0, -1.0, 1.0], reduction="none")] == expected
    assert [v.data for v in hinge_loss(s, list(np.array([1.0, -1.0, -1.0, 1.0])), reduction="none")] == expected
    nested = hinge_loss([[v] for v in s], [[1.0], [-1.0], [-1.0], [1.0]], reduction="none")
    assert [row[0].data for row in nested] == expected
    with pytest.raises(ValueError, match=r"target\[2\] = 0.5 is not a label of -1 or \+1"):
        hinge_loss(s, [1.0, -1.0, 0.5, 1.0])


# ----------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: cross_entropy([[1.0, 2.0]], [2]), ValueError, r"target\[0\] = 2 is out of range for 2 classes"),
        (lambda: cross_entropy([1.0, 2.0], -1), ValueError, "target = -1 is out of range"),
        (lambda: nll_loss([[1.0, 2.0]], [True]), TypeError, "class index"),
        (lambda: cross_entropy([[1.0, 2.0]], [0.5]), TypeError, "class index"),
        (lambda: cross_entropy([[1.0, 2.0]], [0, 1]), ValueError, r"target must hold one class index per sample"),
        (lambda: cross_entropy([[[1.0]]], [0]), ValueError, r"shape \(C,\) or \(N, C\)"),
        (lambda: hinge_loss([1.0, 2.0], [1, 0]), ValueError, r"hinge_loss\(\) target\[1\] = 0.0 is not a label"),
        (lambda: binary_cross_entropy([0.5, 1.5], [1, 1]), ValueError, r"input\[1\] = 1.5 is not a probability"),
        (lambda: binary_cross_entropy([math.nan], [1]), ValueError, "not a probability"),
        (lambda: mse_loss([1.0, 2.0], [1.0]), ValueError, r"input has shape \(2,\) but target has shape \(1,\)"),
        (lambda: mse_loss([[1.0, 2.0], [3.0]], [[1.0, 2.0], [3.0]]), ValueError, "input is ragged"),
        (lambda: mse_loss([1.0], [1.0], reduction="avg"), ValueError, "reduction must be 'mean', 'sum' or 'none'"),
        (lambda: cross_entropy([[1.0]], [0], reduction=None), ValueError, "reduction"),
        (lambda: mse_loss(["a"], [1.0]), TypeError, r"mse_loss\(\) input\[0\] must be a real number"),
        (lambda: mse_loss([1.0], [None]), TypeError, r"target\[0\] must be a real number"),
        (lambda: mse_loss([], []), ValueError, "empty batch"),
    ],
)
def test_bad_input_gets_a_clear_error(call: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()  # type: ignore[operator]


def test_empty_batch_sums_to_zero() -> None:
    assert mse_loss([], [], reduction="sum").data == 0.0
    assert mse_loss([], [], reduction="none") == []
