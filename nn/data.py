"""Toy 2-D classification data sets and a train/test split, in numpy.

The generators follow scikit-learn's (same shapes, same class layout, labels
0..k-1, shuffled, then Gaussian noise added to every coordinate) without
depending on it; the random streams differ, so the points are not
scikit-learn's for the same seed. Every function takes ``seed``: an int, a
``numpy.random.Generator``, a ``random.Random`` or None (fresh entropy);
nothing touches a global generator. ``random_state`` is another name for
``seed`` (scikit-learn's); passing both is an error.

Each returns ``X`` of shape (n_samples, 2), float64, and ``y`` of shape
(n_samples,), integer labels (``numpy.intp``).
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule.nn._limits import BYTES_PER_SAMPLE, check_fits

__all__ = ["make_blobs", "make_circles", "make_moons", "make_spirals", "train_test_split"]

DataSeed = int | np.random.Generator | random.Random | None
Array = npt.NDArray[Any]


def _generator(seed: DataSeed, who: str) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, random.Random):
        return np.random.default_rng(seed.getrandbits(128))
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{who}: seed must be an int, a numpy Generator, a random.Random or None, "
                        f"got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{who}: seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def _check_count(n: object, name: str, who: str, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{who}: {name} must be an int, got {type(n).__name__} {n!r}")
    if n < minimum:
        raise ValueError(f"{who}: {name} must be >= {minimum}, got {n}")
    return int(n)


def _check_samples(n: object, who: str, minimum: int) -> int:
    """Check n_samples: an int >= minimum whose arrays fit in memory."""
    count = _check_count(n, "n_samples", who, minimum)
    check_fits(count, BYTES_PER_SAMPLE, "samples", who)
    return count


def _check_nonnegative(x: object, name: str, who: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{who}: {name} must be a real number, got {type(x).__name__} {x!r}")
    value = float(x)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {x!r}")
    return value


def _finish(X: Array, y: Array, rng: np.random.Generator, shuffle: bool, noise: float) -> tuple[Array, Array]:
    if shuffle:
        order = rng.permutation(len(y))
        X, y = X[order], y[order]
    if noise:
        X = X + rng.normal(scale=noise, size=X.shape)
    return X.astype(np.float64), y.astype(np.intp)


def make_moons(
    n_samples: int = 100,
    *,
    noise: float = 0.0,
    seed: DataSeed = None,
    shuffle: bool = True,
    random_state: DataSeed = None,
) -> tuple[Array, Array]:
    """Two interleaving half circles (scikit-learn's ``make_moons``).

    Class 0 is the upper moon (centre (0, 0), radius 1), with n_samples // 2
    points; class 1 the lower one (centre (1, 0.5)) with the rest.

    Args:
        n_samples: the number of points, >= 2.
        noise: the standard deviation of Gaussian noise added to each coordinate.
        seed: randomness for shuffling and noise.
        shuffle: mix the classes (otherwise class 0 comes first).
        random_state: the same as ``seed`` (scikit-learn's name); pass one of them.

    Returns:
        (X, y): X of shape (n_samples, 2), y of labels 0 and 1.
    """
    who = "make_moons()"
    n = _check_samples(n_samples, who, minimum=2)
    noise = _check_nonnegative(noise, "noise", who)
    rng = _generator(_one_of(seed, "seed", random_state, "random_state", who), who)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    X = np.column_stack([
        np.concatenate([np.cos(t_out), 1.0 - np.cos(t_in)]),
        np.concatenate([np.sin(t_out), 1.0 - np.sin(t_in) - 0.5]),
    ])
    y = np.concatenate([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    return _finish(X, y, rng, shuffle, noise)


def make_circles(
    n_samples: int = 100,
    *,
    noise: float = 0.0,
    factor: float = 0.8,
    seed: DataSeed = None,
    shuffle: bool = True,
    random_state: DataSeed = None,
) -> tuple[Array, Array]:
    """A large circle (class 0, radius 1) around a small one (class 1, radius ``factor``).

    As scikit-learn's ``make_circles``: n_samples // 2 points on the outer
    circle, the rest on the inner, evenly spaced in angle from 0.

    Args:
        n_samples: the number of points, >= 2.
        noise: the standard deviation of Gaussian noise added to each coordinate.
        factor: the inner radius, in [0, 1).
        seed: randomness for shuffling and noise.
        shuffle: mix the classes.
        random_state: the same as ``seed`` (scikit-learn's name); pass one of them.

    Returns:
        (X, y): X of shape (n_samples, 2), y of labels 0 and 1.
    """
    who = "make_circles()"
    n = _check_samples(n_samples, who, minimum=2)
    noise = _check_nonnegative(noise, "noise", who)
    factor = _check_nonnegative(factor, "factor", who)
    if factor >= 1:
        raise ValueError(f"{who}: factor must be in [0, 1), got {factor!r}")
    rng = _generator(_one_of(seed, "seed", random_state, "random_state", who), who)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0.0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0.0, 2 * np.pi, n_in, endpoint=False)
    X = np.column_stack([
        np.concatenate([np.cos(t_out), factor * np.cos(t_in)]),
        np.concatenate([np.sin(t_out), factor * np.sin(t_in)]),
    ])
    y = np.concatenate([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    return _finish(X, y, rng, shuffle, noise)


def _classes(n: int, k: int) -> tuple[Array, Array, Array]:
    """Spread n points over k classes as scikit-learn does: n // k each, one more for the first n % k.

    Returns:
        (label of each point, its index within its class, the count of each class), class by class.
    """
    counts = np.full(k, n // k, dtype=np.intp)
    counts[: n % k] += 1
    y = np.repeat(np.arange(k, dtype=np.intp), counts)
    starts = np.cumsum(counts) - counts
    return y, np.arange(n, dtype=np.intp) - starts[y], counts


def make_spirals(
    n_samples: int = 100,
    *,
    n_classes: int = 2,
    noise: float = 0.0,
    turns: float = 1.0,
    seed: DataSeed = None,
    shuffle: bool = True,
    random_state: DataSeed = None,
) -> tuple[Array, Array]:
    """Interleaved spiral arms, one per class (not in scikit-learn; CS231n's classic).

    Arm j has points at radius r = 0.1 + 0.9 u and angle
    2 pi (turns * u + j / n_classes), for u evenly spaced in [0, 1]; the
    classes get n_samples // n_classes points each, the first ones one more.

    Args:
        n_samples: the number of points, >= n_classes.
        n_classes: the number of arms (classes), >= 2.
        noise: the standard deviation of Gaussian noise added to each coordinate.
        turns: how many times each arm winds around the centre, > 0.
        seed: randomness for shuffling and noise.
        shuffle: mix the classes.
        random_state: the same as ``seed`` (scikit-learn's name); pass one of them.

    Returns:
        (X, y): X of shape (n_samples, 2), y of labels 0 .. n_classes-1.
    """
    who = "make_spirals()"
    k = _check_count(n_classes, "n_classes", who, minimum=2)
    n = _check_samples(n_samples, who, minimum=k)
    noise = _check_nonnegative(noise, "noise", who)
    turns = _check_nonnegative(turns, "turns", who)
    if turns == 0:
        raise ValueError(f"{who}: turns must be > 0, got {turns!r}")
    rng = _generator(_one_of(seed, "seed", random_state, "random_state", who), who)
    y, position, counts = _classes(n, k)
    # u = np.linspace(0, 1, m) along each arm, computed for all arms at once, bit for bit as linspace does.
    m = counts[y]
    u = position * (1.0 / np.maximum(m - 1, 1))
    u[position == m - 1] = np.where(m[position == m - 1] > 1, 1.0, 0.0)
    r = 0.1 + 0.9 * u
    theta = 2 * np.pi * (turns * u + y / k)
    return _finish(np.column_stack([r * np.cos(theta), r * np.sin(theta)]), y, rng, shuffle, noise)


def make_blobs(
    n_samples: int = 100,
    *,
    centers: int | Sequence[Sequence[float]] | Array = 3,
    cluster_std: float = 1.0,
    center_box: tuple[float, float] = (-10.0, 10.0),
    seed: DataSeed = None,
    shuffle: bool = True,
    random_state: DataSeed = None,
) -> tuple[Array, Array]:
    """Gaussian blobs in the plane (scikit-learn's ``make_blobs`` with 2 features).

    Args:
        n_samples: the number of points, >= the number of centres; blob i
            gets n_samples // k points, the first n_samples % k one more.
        centers: how many blobs (their centres drawn uniformly in
            ``center_box``), or their (k, 2) coordinates.
        cluster_std: the standard deviation of each blob (the noise), >= 0.
        center_box: the (low, high) range of random centres.
        seed: randomness for centres, points and shuffling.
        shuffle: mix the classes.
        random_state: the same as ``seed`` (scikit-learn's name); pass one of them.

    Returns:
        (X, y): X of shape (n_samples, 2), y of labels 0 .. k-1 (blob index).
    """
    who = "make_blobs()"
    std = _check_nonnegative(cluster_std, "cluster_std", who)
    rng = _generator(_one_of(seed, "seed", random_state, "random_state", who), who)
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        k = _check_count(centers, "centers", who)
        _check_samples(n_samples, who, minimum=k)
        low, high = (float(b) for b in center_box)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"{who}: center_box must be (low, high) with finite low < high, got {center_box!r}")
        middle = rng.uniform(low, high, size=(k, 2))
    else:
        try:
            middle = np.asarray(centers, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{who}: centers must be an int or a (k, 2) array of coordinates, "
                            f"got {centers!r}") from None
        if middle.ndim != 2 or middle.shape[1] != 2 or middle.shape[0] == 0:
            raise ValueError(f"{who}: centers must be an int or a (k, 2) array, got shape {middle.shape}")
        if not np.isfinite(middle).all():
            raise ValueError(f"{who}: centers must be finite, got {middle.tolist()}")
        k = middle.shape[0]
    n = _check_samples(n_samples, who, minimum=k)
    y, _, _ = _classes(n, k)
    # One draw for every blob: the same stream, value for value, as rng.normal(loc=centre, scale=std) blob by blob.
    X = middle[y] + std * rng.standard_normal((n, 2))
    return _finish(X, y, rng, shuffle, 0.0)


def _split_size(size: object, name: str, n: int, who: str) -> tuple[str, float | int] | None:
    """Check test_size or train_size as scikit-learn does: an int is a count in [1, n), a float a share in (0, 1)."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, numbers.Real):
        raise TypeError(f"{who}: {name} must be an int (a count), a float (a share) or None, "
                        f"got {type(size).__name__} {size!r}")
    if isinstance(size, numbers.Integral):
        count = int(size)
        if not 0 < count < n:
            raise ValueError(f"{who}: {name}={size} must be a count from 1 to {n - 1} (there are {n} samples), "
                             "or a float in (0, 1)")
        return "count", count
    share = float(size)
    if not 0.0 < share < 1.0:
        raise ValueError(f"{who}: {name}={size!r} must be a float in (0, 1) (a share of the samples), or an int count")
    return "share", share


def train_test_split(
    X: Any,
    y: Any,
    *,
    test_size: float | int | None = None,
    train_size: float | int | None = None,
    random_state: DataSeed | np.random.RandomState = None,
    shuffle: bool = True,
    seed: DataSeed | np.random.RandomState = None,
    test_fraction: float | None = None,
) -> tuple[Array, Array, Array, Array]:
    """Split samples into a training and a test set, as scikit-learn's ``train_test_split``.

    The sizes follow scikit-learn exactly: a float is a share of the n
    samples (the test set gets ceil(test_size * n), the training set
    floor(train_size * n)), an int a count; with one of them given the other
    set gets the rest, with neither the test set is a quarter (rounded up).
    Both sets must be non-empty, and when both sizes are given some samples
    may be left out. With an int ``random_state`` (or a
    ``numpy.random.RandomState``) the split is scikit-learn's own, sample for
    sample: the permutation of ``RandomState(random_state)``, the test set
    first. Without shuffling the training set is the first samples and the
    test set the ones after it. (There is no ``stratify``.)

    Args:
        X: the samples, an array-like of n rows.
        y: the labels or targets, n of them.
        test_size: the test set: a share in (0, 1) or a count in [1, n).
        train_size: the training set, likewise (default: the rest).
        random_state: randomness for the shuffle: an int, a numpy
            ``Generator`` or ``RandomState``, a ``random.Random`` or None.
        shuffle: shuffle before splitting.
        seed: the same as ``random_state`` (the name the other ``nn.data`` functions use).
        test_fraction: the same as a float ``test_size`` (its former name).

    Returns:
        (X_train, X_test, y_train, y_test) as numpy arrays.

    Raises:
        TypeError: a size or seed of the wrong type, or an option given under both its names.
        ValueError: mismatched X and y, a size out of range, or sizes that leave a set empty or add up to more than n.
    """
    who = "train_test_split()"
    rng_seed = _one_of(seed, "seed", random_state, "random_state", who)
    test_size = _one_of(test_size, "test_size", test_fraction, "test_fraction", who)
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{who}: X and y must hold one row per sample, got shapes {X.shape} and {y.shape}")
    if len(X) != len(y):
        raise ValueError(f"{who}: X has {len(X)} rows but y has {len(y)}; they must match")
    n = len(X)
    test = _split_size(test_size, "test_size", n, who)
    train = _split_size(train_size, "train_size", n, who)
    if test is None and train is None:
        test = ("share", 0.25)
    if test is not None and train is not None and test[0] == train[0] == "share" and test[1] + train[1] > 1:
        raise ValueError(f"{who}: test_size + train_size = {test[1] + train[1]!r} is more than 1")
    n_test = (math.ceil(test[1] * n) if test[0] == "share" else int(test[1])) if test is not None else None
    n_train = (math.floor(train[1] * n) if train[0] == "share" else int(train[1])) if train is not None else None
    if n_train is None:
        n_train = n - (n_test or 0)
    if n_test is None:
        n_test = n - n_train
    if n_train + n_test > n:
        raise ValueError(f"{who}: {n_train} training and {n_test} test samples are more than the {n} there are; "
                         "reduce test_size or train_size")
    if n_train == 0:
        raise ValueError(f"{who}: with {n} samples and test_size={test_size!r}, train_size={train_size!r}, "
                         "the training set would be empty")
    if not shuffle:
        train_rows, test_rows = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        if isinstance(rng_seed, np.random.RandomState):
            order = rng_seed.permutation(n)
        elif isinstance(rng_seed, numbers.Integral) and not isinstance(rng_seed, bool):
            state = int(rng_seed)
            if not 0 <= state < 2**32:
                raise ValueError(f"{who}: an int random_state must be in [0, 2**32), got {rng_seed}")
            order = np.random.RandomState(state).permutation(n)  # scikit-learn's own permutation
        else:
            order = _generator(rng_seed, who).permutation(n)
        test_rows, train_rows = order[:n_test], order[n_test : n_test + n_train]
    return X[train_rows], X[test_rows], y[train_rows], y[test_rows]


def _one_of(value: Any, name: str, alias: Any, alias_name: str, who: str) -> Any:
    """Return whichever of an option and its other name was given; both is an error."""
    if value is not None and alias is not None:
        raise TypeError(f"{who}: got both {name}={value!r} and {alias_name}={alias!r}; they are the same option, "
                        "pass one")
    return value if value is not None else alias
