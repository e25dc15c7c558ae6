"""Tests for nn.data: the toy data sets' geometry, labels, seeding and noise, and train_test_split."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from chainrule.nn.data import make_blobs, make_circles, make_moons, make_spirals, train_test_split


def check_shapes(X: np.ndarray, y: np.ndarray, n: int, classes: int) -> None:
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.intp
    assert set(y.tolist()) == set(range(classes))


def test_moons_geometry_without_noise() -> None:
    X, y = make_moons(101, seed=0)
    check_shapes(X, y, 101, 2)
    assert np.bincount(y).tolist() == [50, 51]  # n // 2 on the outer moon, as scikit-learn
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=1e-14)
    assert (upper[:, 1] >= 0).all()
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, rtol=1e-14)
    assert (lower[:, 1] <= 0.5 + 1e-15).all()
    # Unshuffled, the points run along each moon from angle 0 to pi, ends included.
    X, y = make_moons(6, shuffle=False)
    np.testing.assert_allclose(X, [[1, 0], [0, 1], [-1, 0], [0, 0.5], [1, -0.5], [2, 0.5]], atol=1e-15)
    assert y.tolist() == [0, 0, 0, 1, 1, 1]


def test_circles_geometry() -> None:
    X, y = make_circles(40, factor=0.3, seed=0)
    check_shapes(X, y, 40, 2)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-14)
    np.testing.assert_allclose(radius[y == 1], 0.3, rtol=1e-14)
    X, _ = make_circles(8, shuffle=False)
    np.testing.assert_allclose(X[:4], [[1, 0], [0, 1], [-1, 0], [0, -1]], atol=1e-15)  # endpoint excluded


def test_spirals_geometry() -> None:
    X, y = make_spirals(90, n_classes=3, turns=1.5, seed=0)
    check_shapes(X, y, 90, 3)
    assert np.bincount(y).tolist() == [30, 30, 30]
    X, y = make_spirals(6, n_classes=2, turns=1.0, shuffle=False)
    u = np.linspace(0, 1, 3)
    r = 0.1 + 0.9 * u
    for j in (0, 1):
        theta = 2 * np.pi * (u + j / 2)
        np.testing.assert_allclose(X[y == j], np.column_stack([r * np.cos(theta), r * np.sin(theta)]), atol=1e-15)
    assert np.bincount(make_spirals(7, n_classes=3, seed=0)[1]).tolist() == [3, 2, 2]


def test_blobs_centres_counts_and_spread() -> None:
    centres = [[-5.0, 0.0], [5.0, 5.0]]
    X, y = make_blobs(4001, centers=centres, cluster_std=0.5, seed=0)
    check_shapes(X, y, 4001, 2)
    assert np.bincount(y).tolist() == [2001, 2000]
    for k, centre in enumerate(centres):
        pts = X[y == k]
        np.testing.assert_allclose(pts.mean(axis=0), centre, atol=0.05)
        np.testing.assert_allclose(pts.std(axis=0), 0.5, rtol=0.05)
    X, y = make_blobs(30, centers=4, center_box=(0.0, 1.0), cluster_std=0.0, seed=1)
    check_shapes(X, y, 30, 4)
    assert ((X >= 0) & (X <= 1)).all()
    for k in range(4):
        assert len({tuple(p) for p in X[y == k]}) == 1  # std 0: every point on its centre


def test_noise_is_gaussian_with_the_given_std() -> None:
    clean, _ = make_moons(20_000, shuffle=False)
    noisy, _ = make_moons(20_000, noise=0.2, shuffle=False, seed=0)
    residual = noisy - clean
    assert residual.std() == pytest.approx(0.2, rel=0.02)
    assert abs(residual.mean()) < 0.005
    assert np.mean(np.abs(residual) < 0.2) == pytest.approx(0.6827, abs=0.01)


@pytest.mark.parametrize("make", [make_moons, make_circles, make_spirals, make_blobs])
def test_seeding(make: Any) -> None:
    kwargs = {} if make is make_blobs else {"noise": 0.1}
    X1, y1 = make(50, seed=3, **kwargs)
    X2, y2 = make(50, seed=3, **kwargs)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    X3, _ = make(50, seed=4, **kwargs)
    assert not np.array_equal(X1, X3)
    X4, _ = make(50, seed=np.random.default_rng(3), **kwargs)
    assert np.array_equal(X1, X4)
    X5, _ = make(50, seed=random.Random(3), **kwargs)
    assert np.array_equal(X5, make(50, seed=random.Random(3), **kwargs)[0])
    # The global generators are left alone.
    np_state = np.random.get_state()
    py_state = random.getstate()
    make(50, **kwargs)
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert np_state[0] == after[0] and np.array_equal(np_state[1], after[1])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: make_moons(1), ValueError, "n_samples must be >= 2, got 1"),
        (lambda: make_moons(10.0), TypeError, "n_samples must be an int"),
        (lambda: make_moons(True), TypeError, "n_samples must be an int"),
        (lambda: make_moons(10, noise=-0.1), ValueError, "noise must be a finite number >= 0"),
        (lambda: make_circles(10, noise=math.nan), ValueError, "noise must be a finite number >= 0"),
        (lambda: make_circles(10, noise="0.1"), TypeError, "noise must be a real number"),
        (lambda: make_circles(10, factor=1.0), ValueError, r"factor must be in \[0, 1\)"),
        (lambda: make_spirals(10, n_classes=1), ValueError, "n_classes must be >= 2"),
        (lambda: make_spirals(2, n_classes=3), ValueError, "n_samples must be >= 3"),
        (lambda: make_spirals(10, turns=0), ValueError, "turns must be > 0"),
        (lambda: make_blobs(2, centers=3), ValueError, "n_samples must be >= 3"),
        (lambda: make_blobs(10, centers=[1.0, 2.0]), ValueError, r"\(k, 2\) array, got shape \(2,\)"),
        (lambda: make_blobs(10, cluster_std=-1), ValueError, "cluster_std must be a finite number >= 0"),
        (lambda: make_blobs(10, center_box=(1.0, 1.0)), ValueError, "center_box"),
        (lambda: make_moons(10, seed="a"), TypeError, "seed must be an int, a numpy Generator"),
        (lambda: make_moons(10, seed=-1), ValueError, "seed must be >= 0"),
    ],
)
def test_errors(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_train_test_split() -> None:
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    assert len(X_test) == len(y_test) == 3  # ceil(2.5), as scikit-learn
    assert len(X_train) == len(y_train) == 7
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))
    np.testing.assert_array_equal(X_train[:, 0], 2 * y_train)  # rows keep their labels
    np.testing.assert_array_equal(X_test[:, 0], 2 * y_test)
    for again in (train_test_split(X, y, test_size=0.25, random_state=0), train_test_split(X, y, seed=0),
                  train_test_split(X, y, test_fraction=0.25, seed=0)):  # the other names, the default 0.25
        assert all(np.array_equal(a, b) for a, b in zip(again, (X_train, X_test, y_train, y_test)))
    _, X_last, _, y_last = train_test_split(X.tolist(), y.tolist(), test_size=0.2, shuffle=False)
    assert y_last.tolist() == [8, 9] and X_last.tolist() == [[16.0, 17.0], [18.0, 19.0]]
    # Without shuffling, the training set first and the test set right after it (samples past both are left out).
    y_train, y_test = train_test_split(X, y, test_size=2, train_size=0.5, shuffle=False)[2:]
    assert (y_train.tolist(), y_test.tolist()) == ([0, 1, 2, 3, 4], [5, 6])


# scikit-learn 1.9.1's train_test_split on n = 1, 2, 4, 10, 33 samples: (len(train), len(test)), None for its
# ValueError. A float is a share (test rounded up, train down), an int a count; sizes past n, a float sum past 1
# and an empty set are errors.
SKLEARN_SIZES = [
    (None, None, [None, (1, 1), (3, 1), (7, 3), (24, 9)]),
    (None, 0.1, [None, None, None, (1, 9), (3, 30)]),
    (None, 0.5, [None, (1, 1), (2, 2), (5, 5), (16, 17)]),
    (None, 0.75, [None, (1, 1), (3, 1), (7, 3), (24, 9)]),
    (None, 1, [None, (1, 1), (1, 3), (1, 9), (1, 32)]),
    (None, 3, [None, None, (3, 1), (3, 7), (3, 30)]),
    (0.1, None, [None, (1, 1), (3, 1), (9, 1), (29, 4)]),
    (0.1, 0.1, [None, None, None, (1, 1), (3, 4)]),
    (0.1, 0.5, [None, (1, 1), (2, 1), (5, 1), (16, 4)]),
    (0.1, 0.75, [None, (1, 1), (3, 1), (7, 1), (24, 4)]),
    (0.1, 1, [None, (1, 1), (1, 1), (1, 1), (1, 4)]),
    (0.1, 3, [None, None, (3, 1), (3, 1), (3, 4)]),
    (0.25, None, [None, (1, 1), (3, 1), (7, 3), (24, 9)]),
    (0.25, 0.1, [None, None, None, (1, 3), (3, 9)]),
    (0.25, 0.5, [None, (1, 1), (2, 1), (5, 3), (16, 9)]),
    (0.25, 0.75, [None, (1, 1), (3, 1), (7, 3), (24, 9)]),
    (0.25, 1, [None, (1, 1), (1, 1), (1, 3), (1, 9)]),
    (0.25, 3, [None, None, (3, 1), (3, 3), (3, 9)]),
    (0.5, None, [None, (1, 1), (2, 2), (5, 5), (16, 17)]),
    (0.5, 0.1, [None, None, None, (1, 5), (3, 17)]),
    (0.5, 0.5, [None, (1, 1), (2, 2), (5, 5), (16, 17)]),
    (0.5, 0.75, [None, None, None, None, None]),
    (0.5, 1, [None, (1, 1), (1, 2), (1, 5), (1, 17)]),
    (0.5, 3, [None, None, None, (3, 5), (3, 17)]),
    (0.95, None, [None, None, None, None, (1, 32)]),
    (0.95, 0.1, [None, None, None, None, None]),
    (0.95, 1, [None, None, None, None, (1, 32)]),
    (1, None, [None, (1, 1), (3, 1), (9, 1), (32, 1)]),
    (1, 0.1, [None, None, None, (1, 1), (3, 1)]),
    (1, 0.75, [None, (1, 1), (3, 1), (7, 1), (24, 1)]),
    (1, 1, [None, (1, 1), (1, 1), (1, 1), (1, 1)]),
    (1, 3, [None, None, (3, 1), (3, 1), (3, 1)]),
    (3, None, [None, None, (1, 3), (7, 3), (30, 3)]),
    (3, 0.5, [None, None, None, (5, 3), (16, 3)]),
    (3, 1, [None, None, (1, 3), (1, 3), (1, 3)]),
    (3, 3, [None, None, None, (3, 3), (3, 3)]),
    (0.0, None, [None] * 5),
    (1.0, 0.5, [None] * 5),
    (0, 1, [None] * 5),
]


@pytest.mark.parametrize(("test_size", "train_size", "expected"), SKLEARN_SIZES)
def test_train_test_split_sizes_are_scikit_learns(test_size: Any, train_size: Any, expected: list[Any]) -> None:
    for n, sizes in zip([1, 2, 4, 10, 33], expected, strict=True):
        X = np.arange(n)
        for shuffle in (True, False):
            if sizes is None:
                with pytest.raises(ValueError):
                    train_test_split(X, X, test_size=test_size, train_size=train_size, shuffle=shuffle)
                continue
            X_train, X_test, y_train, y_test = train_test_split(X, X, test_size=test_size, train_size=train_size,
                                                                shuffle=shuffle, random_state=0)
            assert (len(X_train), len(X_test)) == (len(y_train), len(y_test)) == sizes
            assert not set(X_train.tolist()) & set(X_test.tolist())


@pytest.mark.parametrize(
    ("n", "test_size", "train_size", "random_state", "train", "test"),
    [  # scikit-learn 1.9.1's splits of np.arange(n)
        (10, None, None, 0, [9, 1, 6, 7, 3, 0, 5], [2, 8, 4]),
        (10, 3, None, 42, [0, 7, 2, 9, 4, 3, 6], [8, 1, 5]),
        (12, 0.3, 0.5, 7, [0, 1, 11, 8, 3, 6], [7, 10, 2, 5]),
        (7, None, 0.5, 2**32 - 1, [4, 2, 3], [1, 5, 0, 6]),
    ],
)
def test_train_test_split_with_an_int_random_state_is_scikit_learns_split(
    n: int, test_size: Any, train_size: Any, random_state: int, train: list[int], test: list[int]
) -> None:
    X = np.arange(n)
    for state in (random_state, np.random.RandomState(random_state)):
        X_train, X_test, _, _ = train_test_split(X, X, test_size=test_size, train_size=train_size,
                                                 random_state=state)
        assert (X_train.tolist(), X_test.tolist()) == (train, test)
    X_train, X_test, _, _ = train_test_split(X, X, test_size=test_size, train_size=train_size, seed=random_state)
    assert (X_train.tolist(), X_test.tolist()) == (train, test)


def test_train_test_split_with_other_generators() -> None:
    X = np.arange(40)
    a = train_test_split(X, X, random_state=np.random.default_rng(5))
    b = train_test_split(X, X, random_state=np.random.default_rng(5))
    c = train_test_split(X, X, random_state=random.Random(5))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert sorted(np.concatenate([c[0], c[1]]).tolist()) == list(range(40)) and len(c[1]) == 10


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"y": np.arange(9)}, ValueError, "X has 10 rows but y has 9"),
        ({"test_size": 0.0}, ValueError, r"test_size=0.0 must be a float in \(0, 1\)"),
        ({"test_size": 1.0}, ValueError, r"test_size=1.0 must be a float in \(0, 1\)"),
        ({"test_size": math.nan}, ValueError, r"test_size=nan must be a float in \(0, 1\)"),
        ({"test_size": 10}, ValueError, r"test_size=10 must be a count from 1 to 9 \(there are 10 samples\)"),
        ({"train_size": 0}, ValueError, "train_size=0 must be a count from 1 to 9"),
        ({"test_size": 0.95}, ValueError, "with 10 samples and test_size=0.95, train_size=None, the training set "
                                          "would be empty"),
        ({"test_size": 0.5, "train_size": 0.75}, ValueError, r"test_size \+ train_size = 1.25 is more than 1"),
        ({"test_size": 5, "train_size": 6}, ValueError, "6 training and 5 test samples are more than the 10"),
        ({"test_size": "0.5"}, TypeError, "test_size must be an int .* got str '0.5'"),
        ({"train_size": True}, TypeError, "train_size must be an int"),
        ({"test_size": 0.5, "test_fraction": 0.5}, TypeError, "got both test_size=0.5 and test_fraction=0.5"),
        ({"seed": 1, "random_state": 2}, TypeError, "got both seed=1 and random_state=2; they are the same option"),
        ({"random_state": -1}, ValueError, r"an int random_state must be in \[0, 2\*\*32\)"),
        ({"random_state": "0"}, TypeError, "seed must be an int, a numpy Generator"),
        ({"X": 3.0}, ValueError, "one row per sample"),
    ],
)
def test_train_test_split_errors(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    args = {"X": np.zeros((10, 2)), "y": np.arange(10), **kwargs}
    X, y = args.pop("X"), args.pop("y")
    with pytest.raises(error, match=match):
        train_test_split(X, y, **args)


@pytest.mark.parametrize("make", [make_moons, make_circles, make_spirals, make_blobs])
def test_generators_take_random_state_as_another_name_for_seed(make: Any) -> None:
    X, y = make(30, seed=4)
    X2, y2 = make(30, random_state=4)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    with pytest.raises(TypeError, match=rf"{make.__name__}\(\): got both seed=4 and random_state=4"):
        make(30, seed=4, random_state=4)


def _spirals_class_by_class(n: int, k: int, noise: float, turns: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """make_spirals as first written, one arm at a time (the library computes every arm at once)."""
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for j in range(k):
        m = n // k + (1 if j < n % k else 0)
        u = np.linspace(0.0, 1.0, m)
        r = 0.1 + 0.9 * u
        theta = 2 * np.pi * (turns * u + j / k)
        points.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
        labels.append(np.full(m, j, dtype=np.intp))
    X, y = np.concatenate(points), np.concatenate(labels)
    order = rng.permutation(n)
    X, y = X[order], y[order]
    return X + rng.normal(scale=noise, size=X.shape) if noise else X, y


def _blobs_class_by_class(n: int, centers: list[list[float]], std: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """make_blobs with given centres as first written, one blob at a time."""
    rng = np.random.default_rng(seed)
    k = len(centers)
    counts = [n // k + (1 if i < n % k else 0) for i in range(k)]
    X = np.concatenate([rng.normal(loc=centers[i], scale=std, size=(m, 2)) for i, m in enumerate(counts)])
    y = np.concatenate([np.full(m, i, dtype=np.intp) for i, m in enumerate(counts)])
    order = rng.permutation(n)
    return X[order], y[order]


@pytest.mark.parametrize(("n", "k"), [(2, 2), (3, 2), (7, 3), (101, 5), (1000, 4)])
def test_spirals_and_blobs_equal_the_class_by_class_construction(n: int, k: int) -> None:
    for noise, turns, seed in [(0.0, 1.0, 0), (0.2, 2.5, 1)]:
        X, y = make_spirals(n, n_classes=k, noise=noise, turns=turns, seed=seed)
        X0, y0 = _spirals_class_by_class(n, k, noise, turns, seed)
        assert np.array_equal(X, X0) and np.array_equal(y, y0)
    centers = [[float(i), -2.0 * i] for i in range(k)]
    X, y = make_blobs(n, centers=centers, cluster_std=1.5, seed=3)
    X0, y0 = _blobs_class_by_class(n, centers, 1.5, 3)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)
