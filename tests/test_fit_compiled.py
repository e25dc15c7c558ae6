"""nn.fit(compiled=True) trains exactly as the scalar loop does, to rounding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from chainrule import autograd, nn
from chainrule.autograd import Value
from chainrule.nn import functional as F


def _train(compiled: bool, make_model: Callable[[], nn.Module], X: np.ndarray, y: np.ndarray, loss: Any,
           epochs: int = 3, batch_size: int | None = None) -> tuple[nn.History, list[float]]:
    model = make_model()
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = nn.fit(model, X, y, loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size,
                     progress=False, seed=0, compiled=compiled)
    return history, [p.data for p in model.parameters()]


def _assert_same_training(make_model: Callable[[], nn.Module], X: np.ndarray, y: np.ndarray, loss: Any,
                          **options: Any) -> None:
    h_scalar, p_scalar = _train(False, make_model, X, y, loss, **options)
    h_compiled, p_compiled = _train(True, make_model, X, y, loss, **options)
    np.testing.assert_allclose(h_compiled.loss, h_scalar.loss, rtol=1e-10)
    assert h_compiled.accuracy == h_scalar.accuracy or np.isnan(h_scalar.accuracy).all()
    np.testing.assert_allclose(p_compiled, p_scalar, rtol=1e-9, atol=1e-12)


def test_moons_hinge_with_l2_penalty() -> None:
    X, y = nn.data.make_moons(60, noise=0.1, seed=0)
    labels = y * 2 - 1

    def make_model() -> nn.Module:
        return nn.MLP(2, [8, 8, 1], seed=1)

    holder: dict[str, nn.Module] = {}

    def make_and_remember() -> nn.Module:
        holder["model"] = make_model()
        return holder["model"]

    def loss(outputs: list[Value], targets: list[float]) -> Value:
        penalty = autograd.sum(p * p for p in holder["model"].parameters())
        return F.hinge_loss(outputs, targets) + 1e-4 * penalty

    _assert_same_training(make_and_remember, X, labels, loss, batch_size=20)


def test_three_classes_cross_entropy() -> None:
    X, y = nn.data.make_blobs(45, centers=3, seed=2)
    _assert_same_training(lambda: nn.MLP(2, [6, 3], activation="tanh", seed=3), X, y, F.cross_entropy)


def test_regression_targets_arrive_as_values() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(80, 2))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]  # 80 distinct targets: too many to compile one function each
    _assert_same_training(lambda: nn.MLP(2, [5, 1], activation="tanh", seed=5), X, y, F.mse_loss)


def test_a_summed_loss_is_refused_clearly() -> None:
    X, y = nn.data.make_moons(10, seed=0)
    model = nn.MLP(2, [4, 1], seed=0)
    with pytest.raises(ValueError, match="mean of its per-sample values"):
        nn.fit(model, X, y * 2 - 1, loss=lambda o, t: F.hinge_loss(o, t, reduction="sum"),
               optimizer=nn.optim.SGD(model.parameters(), lr=0.1), epochs=1, progress=False, compiled=True)


@pytest.mark.parametrize(
    ("make_data", "loss", "programs"),
    [
        # labels as Values: hinge, mse and bce take them, so one program serves every label
        (lambda: (nn.data.make_moons(30, noise=0.1, seed=0)[0], nn.data.make_moons(30, noise=0.1, seed=0)[1] * 2 - 1),
         F.hinge_loss, 1),
        (lambda: (np.linspace(-1, 1, 20).reshape(-1, 2), np.linspace(0, 3, 10)), F.mse_loss, 1),
        # class indices must be numbers: one program per class, the class guarded on every row
        (lambda: nn.data.make_blobs(30, centers=3, seed=2), F.cross_entropy, 3),
    ],
    ids=["hinge", "mse", "cross_entropy"],
)
def test_one_compiled_function_targets_as_an_input(make_data: Any, loss: Any, programs: int) -> None:
    from chainrule.nn.training import _CompiledLoss

    X, y = make_data()
    y = np.asarray(y, dtype=float)
    width = 3 if loss is F.cross_entropy else 1
    model = nn.MLP(X.shape[1], [4, width], activation="tanh", seed=0)
    compiled = _CompiledLoss(model, loss, y)
    got, _ = compiled.step(X, list(range(len(y))), y.tolist(), "fit()")
    assert compiled.per_sample.programs == programs
    model.zero_grad()
    targets = [int(t) for t in y] if loss is F.cross_entropy else y.tolist()
    expected = loss([model(row.tolist()) for row in X], targets)
    assert got == pytest.approx(expected.data, rel=1e-12)
