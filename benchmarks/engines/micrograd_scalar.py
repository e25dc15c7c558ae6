"""The micrograd 0.1.0 adapter (PyPI ``micrograd==0.1.0``): the baseline every ratio is taken against.

micrograd 0.1.0 has no ``tanh``. :class:`TanhValue` adds one with the same
closure pattern as micrograd's own ops (the version from micrograd's lecture):
``out = Value(tanh(x), (self,), 'tanh')`` with a ``_backward`` closure adding
``(1 - t**2) * out.grad`` into ``self.grad``. Every node of the chain is a
``TanhValue``, so nothing else about micrograd changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import metadata

from benchmarks.engines.base import Unavailable, ValueGraph, pairwise_sum

try:
    from micrograd.engine import Value
    from micrograd.nn import MLP
except ImportError as error:  # pragma: no cover - depends on the environment
    raise Unavailable(f"micrograd is not installed ({error}); pip install micrograd==0.1.0") from error

LABEL = "micrograd 0.1.0"


def version() -> str:
    """Return the installed micrograd version."""
    return metadata.version("micrograd")


class TanhValue(Value):
    """micrograd's Value plus ``tanh``, written the way micrograd writes its ops."""

    def tanh(self) -> TanhValue:
        t = math.tanh(self.data)
        out = TanhValue(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += (1 - t**2) * out.grad

        out._backward = _backward
        return out


def balanced_sum(a: Sequence[float], b: Sequence[float]) -> ValueGraph:
    """Build sum_i a_i * b_i as a pairwise tree of micrograd Values."""
    xs = [Value(x) for x in a]
    ys = [Value(y) for y in b]
    root = pairwise_sum([x * y for x, y in zip(xs, ys)])
    return ValueGraph(root, xs + ys)


def tanh_chain(x0: float, steps: int) -> ValueGraph:
    """Build x = tanh(x) ``steps`` times from one leaf."""
    leaf = TanhValue(x0)
    x = leaf
    for _ in range(steps):
        x = x.tanh()
    return ValueGraph(x, [leaf])


class _Trainer:
    def __init__(self, params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> None:
        # micrograd initialises from the global `random`; overwrite every parameter
        # instead, so the run is reproducible without seeding a global generator.
        self.model = MLP(2, [16, 16, 1])
        self.params = self.model.parameters()
        if len(self.params) != len(params):
            raise ValueError(f"micrograd MLP has {len(self.params)} parameters, got {len(params)} initial values")
        for p, value in zip(self.params, params):
            p.data = value
        self.inputs = [list(x) for x in inputs]
        self.labels = list(labels)

    def step(self, lr: float) -> float:
        # micrograd's own demo loss: mean hinge loss plus 1e-4 * sum of squared parameters.
        scores = [self.model(x) for x in self.inputs]
        losses = [(1 + -y * s).relu() for y, s in zip(self.labels, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in self.params)
        total = data_loss + reg_loss
        self.model.zero_grad()
        total.backward()
        for p in self.params:
            p.data -= lr * p.grad
        return float(total.data)

    def grads(self) -> list[float]:
        return [float(p.grad) for p in self.params]


def moons(params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> _Trainer:
    """Return a trainer for micrograd's own ``nn.MLP(2, [16, 16, 1])``."""
    return _Trainer(params, inputs, labels)
