"""The chainrule compiled-mode adapter: ``autograd.compile`` of the per-sample moons loss (issue 6).

The model is the same ``nn.MLP(2, [16, 16, 1])`` as the scalar adapter; the
per-sample function is ``hinge_loss([model(x)], [y]) + 1e-4 * sum(p * p)``,
whose mean over the batch is the scalar adapter's loss (the penalty does not
depend on the sample, so the tape computes it once per batch). One compiled
function per label (+1 and -1), so the label is a constant in each tape.
"""

from __future__ import annotations

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
__all__ = ["LABEL", "moons", "version"]


class _Trainer:
    def __init__(self, params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> None:
        self.model, self.params, hinge_loss = moons_model(params)
        X = np.asarray(inputs, dtype=float)
        y = np.asarray(labels, dtype=float)
        self.n = len(y)

        def per_sample(label: float) -> Any:
            def loss(x: list[Any]) -> Any:
                penalty = autograd.sum([p * p for p in self.params])
                return hinge_loss([self.model(x)], [label]) + 1e-4 * penalty

            return autograd.compile(loss)

        self.batches = [(per_sample(label), X[y == label]) for label in (1.0, -1.0) if np.any(y == label)]

    def step(self, lr: float) -> float:
        for p in self.params:  # as the batched PyTorch loop zeroes its tensors' grads
            p.grad = 0.0
        total = sum(fn.backward(X, reduction="sum", gradient=1.0 / self.n) for fn, X in self.batches)
        for p in self.params:
            p.data -= lr * p.grad
        return total / self.n

    def grads(self) -> list[float]:
        return [p.grad for p in self.params]


def moons(params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> _Trainer:
    """Return a trainer for ``nn.MLP(2, [16, 16, 1])`` whose steps run through ``autograd.compile``."""
    return _Trainer(params, inputs, labels)
