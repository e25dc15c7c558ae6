"""The PyTorch batched adapter: whole vectors and matrices per op, the speed a scalar engine is chasing.

The balanced sum becomes ``(a * b).sum()`` on two float64 vectors, and the
moons MLP three matrix products over the whole batch. There is no batched
form of a tanh chain (it is inherently one scalar after another), so that
workload is not applicable here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.engines.base import Unavailable, mlp_shapes

try:
    import torch
except ImportError as error:  # pragma: no cover - depends on the environment
    raise Unavailable(f"torch is not installed ({error}); pip install torch==2.13.0") from error

LABEL = "PyTorch batched"
DTYPE = torch.float64


def version() -> str:
    """Return the installed torch version."""
    return str(torch.__version__)


class _Graph:
    def __init__(self, root: Any, leaves: Sequence[Any]) -> None:
        self.root = root
        self.leaves = leaves

    def backward(self) -> None:
        self.root.backward()

    def summary(self) -> dict[str, float]:
        return {
            "value": float(self.root.item()),
            "leaf_grad_sum": sum(float(v.grad.sum()) for v in self.leaves),
        }


def balanced_sum(a: Sequence[float], b: Sequence[float]) -> _Graph:
    """Compute sum_i a_i * b_i as ``(a * b).sum()`` on two leaf vectors."""
    xs = torch.tensor(a, dtype=DTYPE, requires_grad=True)
    ys = torch.tensor(b, dtype=DTYPE, requires_grad=True)
    return _Graph((xs * ys).sum(), [xs, ys])


class _Trainer:
    """The MLP as weight matrices and bias vectors, the batch in one tensor."""

    def __init__(self, params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float],
                 layers: Sequence[int]) -> None:
        self.weights: list[Any] = []
        self.biases: list[Any] = []
        offset = 0
        for fan_in, fan_out in mlp_shapes(2, layers):
            # micrograd's order is neuron by neuron: fan_in weights, then the bias.
            block = torch.tensor(params[offset : offset + fan_out * (fan_in + 1)], dtype=DTYPE).reshape(
                fan_out, fan_in + 1
            )
            offset += fan_out * (fan_in + 1)
            self.weights.append(block[:, :fan_in].clone().requires_grad_(True))
            self.biases.append(block[:, fan_in].clone().requires_grad_(True))
        if offset != len(params):
            raise ValueError(f"the MLP has {offset} parameters, got {len(params)} initial values")
        self.params = self.weights + self.biases
        self.inputs = torch.tensor(inputs, dtype=DTYPE)
        self.labels = torch.tensor(labels, dtype=DTYPE)

    def step(self, lr: float) -> float:
        x = self.inputs
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.addmm(b, x, w.t())
            if i != last:
                x = torch.relu(x)
        scores = x[:, 0]
        data_loss = torch.relu(1 - self.labels * scores).mean()
        reg_loss = 1e-4 * sum((p * p).sum() for p in self.params)
        total = data_loss + reg_loss
        for p in self.params:
            p.grad = None
        total.backward()
        with torch.no_grad():
            for p in self.params:
                p -= lr * p.grad
        return float(total.item())

    def grads(self) -> list[float]:
        out: list[float] = []
        for w, b in zip(self.weights, self.biases):
            block = torch.cat([w.grad, b.grad[:, None]], dim=1)
            out.extend(float(g) for g in block.reshape(-1))
        return out


def moons(params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> _Trainer:
    """Return a trainer for the batched 2-16-16-1 MLP."""
    return _Trainer(params, inputs, labels, [16, 16, 1])


def moons_mlp(
    params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float], layers: Sequence[int]
) -> _Trainer:
    """Return a trainer for the batched MLP 2-layers[0]-...-1."""
    return _Trainer(params, inputs, labels, layers)
