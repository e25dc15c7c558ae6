"""The PyTorch scalar adapter: 0-dim float64 tensors, op by op, exactly the graphs micrograd builds.

This is PyTorch used as a scalar engine: each ``Value`` becomes a 0-dim
tensor with ``requires_grad``, each op one autograd node. It shows what a
C++ autograd engine costs per scalar op when driven from Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.engines.base import Unavailable, mlp_shapes, pairwise_sum

try:
    import torch
except ImportError as error:  # pragma: no cover - depends on the environment
    raise Unavailable(f"torch is not installed ({error}); pip install torch==2.13.0") from error

LABEL = "PyTorch scalar"
DTYPE = torch.float64


def version() -> str:
    """Return the installed torch version."""
    return str(torch.__version__)


def _leaf(x: float) -> Any:
    return torch.tensor(x, dtype=DTYPE, requires_grad=True)


class _Graph:
    def __init__(self, root: Any, leaves: Sequence[Any]) -> None:
        self.root = root
        self.leaves = leaves

    def backward(self) -> None:
        self.root.backward()

    def summary(self) -> dict[str, float]:
        return {
            "value": float(self.root.item()),
            "leaf_grad_sum": sum(float(v.grad) for v in self.leaves if v.grad is not None),
        }


def balanced_sum(a: Sequence[float], b: Sequence[float]) -> _Graph:
    """Build sum_i a_i * b_i as a pairwise tree of 0-dim tensors."""
    xs = [_leaf(x) for x in a]
    ys = [_leaf(y) for y in b]
    root = pairwise_sum([x * y for x, y in zip(xs, ys)])
    return _Graph(root, xs + ys)


def tanh_chain(x0: float, steps: int) -> _Graph:
    """Build x = tanh(x) ``steps`` times from one 0-dim leaf."""
    leaf = _leaf(x0)
    x = leaf
    for _ in range(steps):
        x = x.tanh()
    return _Graph(x, [leaf])


class _Trainer:
    """micrograd's MLP written with 0-dim tensors: one autograd node per scalar op."""

    def __init__(self, params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> None:
        self.params = [_leaf(float(v)) for v in params]
        self.layers: list[list[tuple[list[Any], Any]]] = []
        it = iter(self.params)
        for fan_in, fan_out in mlp_shapes(2, [16, 16, 1]):
            self.layers.append([([next(it) for _ in range(fan_in)], next(it)) for _ in range(fan_out)])
        self.inputs = [list(x) for x in inputs]
        self.labels = list(labels)

    def _forward(self, x: Sequence[Any]) -> Any:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            outs = []
            for w, b in layer:
                act = b
                for wi, xi in zip(w, x):
                    act = act + wi * xi
                outs.append(act if i == last else torch.relu(act))
            x = outs
        return x[0]

    def step(self, lr: float) -> float:
        scores = [self._forward(x) for x in self.inputs]
        losses = [torch.relu(1 - y * s) for y, s in zip(self.labels, scores)]
        data_loss = pairwise_sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * pairwise_sum([p * p for p in self.params])
        total = data_loss + reg_loss
        for p in self.params:
            p.grad = None
        total.backward()
        with torch.no_grad():
            for p in self.params:
                p -= lr * p.grad
        return float(total.item())

    def grads(self) -> list[float]:
        return [float(p.grad) for p in self.params]


def moons(params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> _Trainer:
    """Return a trainer for the 2-16-16-1 MLP built from 0-dim tensors."""
    return _Trainer(params, inputs, labels)
