"""The chainrule compiled-mode adapter: ``autograd.compile`` of the per-sample moons loss (issue 6).

The model is the same ``nn.MLP(2, [16, 16, 1])`` as the scalar adapter; the
per-sample function is the hinge loss ``relu(1 - y * model(x)) + 1e-4 * sum(p * p)``,
whose mean over the batch is the scalar adapter's loss (the penalty does not
depend on the sample, so the program computes it once per batch). The label
``y`` is a per-sample input like ``x``: one program for the whole batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.engines.base import Unavailable
from benchmarks.engines.chainrule_scalar import moons_model, version

try:
    from chainrule import autograd

except ImportError as error:  # pragma: no cover - depends on the environment
    raise Unavailable(f"chainrule's autograd is not importable ({error}); pip install -e .") from error

if not hasattr(autograd, "compile"):  # pragma: no cover - an older tree
    raise Unavailable("this chainrule has no autograd.compile")

LABEL = "chainrule compiled"
__all__ = ["LABEL", "compile_mlp", "moons", "moons_mlp", "version"]


class _Trainer:
    def __init__(self, params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float],
                 layers: Sequence[int]) -> None:
        self.model, self.params, _ = moons_model(params, layers)
        self.X = np.asarray(inputs, dtype=float)
        self.y = np.asarray(labels, dtype=float)

        def loss(x: list[Any], label: Any) -> Any:
            # The hinge loss relu(1 - y s) with the label as a per-sample input (one program for both labels).
            penalty = autograd.sum([p * p for p in self.params])
            return (1.0 - label * self.model(x)).relu() + 1e-4 * penalty

        self.loss = autograd.compile(loss)

    def step(self, lr: float) -> float:
        # accumulate=False writes .grad instead of adding to it: as PyTorch batched sets p.grad = None
        # and lets backward write it, no separate zeroing pass over the parameters.
        # The SGD update as array operations (backward's update=), as PyTorch batched updates whole tensors:
        # a Python loop over 66k parameters costs a third of the MLP 2-256-256-1 step.
        return self.loss.backward(self.X, self.y, accumulate=False, update=lambda p, g: p - lr * g)

    def grads(self) -> list[float]:
        return [p.grad for p in self.params]


def moons(params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> _Trainer:
    """Return a trainer for ``nn.MLP(2, [16, 16, 1])`` whose steps run through ``autograd.compile``."""
    return _Trainer(params, inputs, labels, [16, 16, 1])


def moons_mlp(
    params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float], layers: Sequence[int]
) -> _Trainer:
    """Return a trainer for ``nn.MLP(2, layers)`` whose steps run through ``autograd.compile``."""
    return _Trainer(params, inputs, labels, layers)


def compile_mlp(
    params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float], layers: Sequence[int]
) -> dict[str, float]:
    """Time the compile of the moons loss of ``nn.MLP(2, layers)``: the first step less the second.

    Returns:
        ``seconds`` (the compile time) and ``nodes_edges`` (of the traced graph).
    """
    trainer = _Trainer(params, inputs, labels, layers)
    start = time.perf_counter()
    trainer.loss.backward(trainer.X, trainer.y)
    first = time.perf_counter() - start
    start = time.perf_counter()
    trainer.loss.backward(trainer.X, trainer.y)
    second = time.perf_counter() - start
    graph = trainer.loss.graph
    assert graph is not None
    order = autograd.topological_order(graph)
    return {"seconds": first - second, "nodes_edges": float(len(order) + sum(len(v.parents) for v in order))}
