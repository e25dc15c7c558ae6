"""Tests for nn.init: variances (statistically, fixed seeds), bounds, defaults, and the symmetry problem."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from chainrule import autograd, nn
from chainrule.nn import init

N = 20_000  # draws per check: the sample variance is within ~1-2% of the true one (standard error)


def draws(f: Callable[..., float], fan_in: int, fan_out: int, seed: int = 0, n: int = N) -> list[float]:
    rng = random.Random(seed)
    return [f(fan_in, fan_out, rng=rng) for _ in range(n)]


# (initialiser, fan_in, fan_out, variance from the docstring, normal?, bound or None); all centred on 0.
CASES: list[tuple[Callable[..., float], int, int, float, bool, float | None]] = [
    (init.normal, 10, 5, 1.0, True, None),
    (partial(init.normal, std=0.1), 10, 5, 0.01, True, None),
    (init.uniform, 10, 5, 1 / 3, False, 1.0),
    (partial(init.uniform, low=-3.0, high=3.0), 10, 5, 3.0, False, 3.0),
    (init.pytorch_linear, 16, 4, 1 / (3 * 16), False, 1 / 4),
    (init.xavier_uniform, 30, 10, 2 / 40, False, math.sqrt(6 / 40)),
    (init.xavier_normal, 30, 10, 2 / 40, True, None),
    (partial(init.xavier_uniform, gain=2.0), 30, 10, 4 * 2 / 40, False, 2 * math.sqrt(6 / 40)),
    (init.he_uniform, 50, 7, 2 / 50, False, math.sqrt(6 / 50)),
    (init.he_normal, 50, 7, 2 / 50, True, None),
]


@pytest.mark.parametrize(("f", "fan_in", "fan_out", "variance", "is_normal", "bound"), CASES)
def test_variance_mean_and_shape(
    f: Callable[..., float], fan_in: int, fan_out: int, variance: float, is_normal: bool, bound: float | None
) -> None:
    xs = draws(f, fan_in, fan_out)
    # The standard error of a sample variance is about var * sqrt(2 / N) (~1%); 6% is many
    # sigmas and the seed is fixed, so this cannot flake, yet a wrong formula (a factor 2 or 3) fails.
    assert statistics.pvariance(xs) == pytest.approx(variance, rel=0.06)
    assert abs(statistics.fmean(xs)) < 5 * math.sqrt(variance / N)
    within_one_std = sum(abs(x) < math.sqrt(variance) for x in xs) / N
    if is_normal:
        assert within_one_std == pytest.approx(0.6827, abs=0.015)
    else:
        # Uniform on (-a, a) has variance a^2 / 3, so P(|x| < std) = 1 / sqrt(3).
        assert within_one_std == pytest.approx(1 / math.sqrt(3), abs=0.015)
        assert bound is not None
        assert bound * 0.99 < max(abs(x) for x in xs) <= bound


def test_uniform_range_and_normal_mean() -> None:
    xs = draws(partial(init.uniform, low=0.0, high=3.0), 4, 4)
    assert 0.0 <= min(xs) and max(xs) <= 3.0
    assert statistics.fmean(xs) == pytest.approx(1.5, abs=0.05)
    assert statistics.fmean(draws(partial(init.normal, mean=2.0, std=0.5), 4, 4)) == pytest.approx(2.0, abs=0.02)


def test_zeros_and_constant() -> None:
    rng = random.Random(0)
    assert init.zeros(3, 4, rng=rng) == 0.0
    half = init.constant(0.5)
    assert half.__name__ == "constant(0.5)"
    assert [half(3, 4, rng=rng) for _ in range(5)] == [0.5] * 5
    with pytest.raises(TypeError, match="value must be a finite real number"):
        init.constant(math.nan)
    with pytest.raises(TypeError, match="value must be a finite real number"):
        init.constant("1")  # type: ignore[arg-type]


def test_draws_are_reproducible_from_the_rng() -> None:
    assert draws(init.he_normal, 5, 5, seed=3, n=10) == draws(init.he_normal, 5, 5, seed=3, n=10)
    assert draws(init.he_normal, 5, 5, seed=3, n=10) != draws(init.he_normal, 5, 5, seed=4, n=10)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: init.he_uniform(0, 3, rng=random.Random()), ValueError, "fan_in must be a positive int, got 0"),
        (lambda: init.xavier_normal(3, -1, rng=random.Random()), ValueError, "fan_out must be a positive int"),
        (lambda: init.normal(3, 3, rng=random.Random(), std=0.0), ValueError, "std must be > 0"),
        (lambda: init.uniform(3, 3, rng=random.Random(), low=1.0, high=1.0), ValueError, "low must be < high"),
        (lambda: init.xavier_uniform(3, 3, rng=random.Random(), gain=math.inf), TypeError, "gain must be a finite"),
        (lambda: init.resolve(3), TypeError, "init must be a name or a callable"),  # type: ignore[arg-type]
        (lambda: init.resolve("kaiming"), ValueError, "unknown init 'kaiming'; expected one of zeros"),
    ],
)
def test_errors(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_layer_passes_fan_out_and_the_default_depends_on_the_activation() -> None:
    # Xavier's variance depends on fan_out = nout: 2 / (50 + 150), not 2 / (50 + 1).
    layer = nn.Layer(50, 150, activation="tanh", init="xavier_normal", seed=0)
    weights = [w.data for n in layer.neurons for w in n.w]
    assert statistics.pvariance(weights) == pytest.approx(2 / 200, rel=0.06)
    # Default: He uniform for relu (bound sqrt(6 / 50)), Xavier uniform otherwise.
    relu_weights = [w.data for n in nn.Layer(50, 150, seed=0).neurons for w in n.w]
    assert statistics.pvariance(relu_weights) == pytest.approx(2 / 50, rel=0.06)
    assert max(map(abs, relu_weights)) <= math.sqrt(6 / 50)
    assert nn.Layer(50, 150, seed=1).state_dict() == nn.Layer(50, 150, init="he_uniform", seed=1).state_dict()
    assert (nn.Layer(50, 150, activation="tanh", seed=1).state_dict()
            == nn.Layer(50, 150, activation="tanh", init=init.xavier_uniform, seed=1).state_dict())
    assert init.default_for("leaky_relu") is init.he_uniform
    assert init.default_for("sigmoid") is init.xavier_uniform
    # An MLP's linear output layer gets Xavier too.
    model = nn.MLP(4, [8, 3], seed=2)
    rng = random.Random(2)
    nn.Layer(4, 8, init="he_uniform", seed=rng)  # consume the first layer's draws
    expected = nn.Layer(8, 3, activation="linear", init="xavier_uniform", seed=rng)
    assert [w.data for w in model.layers[1].parameters()] == [w.data for w in expected.parameters()]


def test_biases_start_at_zero_whatever_the_init() -> None:
    for how in ("normal", "uniform", init.constant(0.7)):
        model = nn.MLP(3, [4, 2], init=how, seed=0)
        assert all(n.b.data == 0.0 for layer in model.layers for n in layer.neurons)


def _train(model: nn.MLP, steps: int = 20) -> None:
    X, y = nn.make_moons(20, noise=0.1, seed=0)
    params = model.parameters()
    for _ in range(steps):
        model.zero_grad()
        outs = [model(x) for x in X]
        loss = autograd.sum((o - float(t)) ** 2 for o, t in zip(outs, y)) * (1 / len(outs))
        loss.backward()
        for p in params:
            p.data -= 0.1 * p.grad


def _neurons_identical(model: nn.MLP) -> bool:
    return all(
        len({tuple(p.data for p in n.parameters()) for n in layer.neurons}) == 1 for layer in model.layers
    )


@pytest.mark.parametrize("how", [init.constant(0.3), init.zeros])
def test_symmetry_problem_constant_init_keeps_neurons_identical(how: Callable[..., float]) -> None:
    model = nn.MLP(2, [4, 4, 1], activation="tanh", init=how, seed=0)
    before = model.state_dict()
    assert _neurons_identical(model)
    _train(model)
    assert _neurons_identical(model)
    changed = [name for name, value in model.state_dict().items() if value != before[name]]
    if how is init.zeros:
        # tanh(0) = 0 and zero weights: only the output bias gets a gradient.
        assert changed == ["layers.2.neurons.0.b"]
    else:
        # Every weight moved, yet each layer's neurons moved together.
        assert len(changed) == len(before)


def test_random_init_breaks_the_symmetry() -> None:
    model = nn.MLP(2, [4, 4, 1], activation="tanh", seed=0)
    _train(model)
    for layer in model.layers[:2]:
        assert len({tuple(p.data for p in n.parameters()) for n in layer.neurons}) == 4
