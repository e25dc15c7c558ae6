"""The chainrule scalar-engine adapter: ``autograd.Value`` op by op, and ``nn.MLP`` for moons.

The graphs are built the way a user would write them (operators on Values);
the moons model is chainrule's own ``nn.MLP`` with its hinge loss, so the
figures include whatever nn costs per node.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

from benchmarks.engines.base import Unavailable, ValueGraph, pairwise_sum

try:
    from chainrule import autograd
    from chainrule.autograd import Value
    from chainrule.autograd.collector import defer_gc
except ImportError as error:  # pragma: no cover - depends on the environment
    raise Unavailable(f"chainrule's autograd is not importable ({error}); pip install -e .") from error

LABEL = "chainrule scalar"


def version() -> str:
    """Return the installed chainrule version (or 'source tree' when run uninstalled)."""
    try:
        return metadata.version("chainrule")
    except metadata.PackageNotFoundError:
        return "source tree"


def balanced_sum(a: Sequence[float], b: Sequence[float]) -> ValueGraph:
    """Build sum_i a_i * b_i as a pairwise tree of binary ``+`` over ``*`` nodes."""
    with defer_gc():
        xs = [Value(x) for x in a]
        ys = [Value(y) for y in b]
        root = pairwise_sum([x * y for x, y in zip(xs, ys)])
    return ValueGraph(root, xs + ys)


def tanh_chain(x0: float, steps: int) -> ValueGraph:
    """Build x = tanh(x) ``steps`` times from one leaf."""
    with defer_gc():
        leaf = Value(x0)
        x = leaf
        for _ in range(steps):
            x = x.tanh()
    return ValueGraph(x, [leaf])


def _load_nn() -> tuple[Any, Any]:
    try:
        from chainrule import nn
        from chainrule.nn.functional import hinge_loss
    except ImportError as error:
        raise Unavailable(f"chainrule's nn is not there yet ({error})") from error
    if not hasattr(nn, "MLP"):
        raise Unavailable("chainrule's nn has no MLP yet")
    return nn.MLP, hinge_loss


def moons_model(params: Sequence[float], layers: Sequence[int] = (16, 16, 1)) -> tuple[Any, list[Value], Any]:
    """Return chainrule's ``nn.MLP(2, layers)`` (2-16-16-1 by default) set to ``params`` (micrograd's
    order), its parameter list and ``nn.functional.hinge_loss``."""
    mlp, hinge_loss = _load_nn()
    model = mlp(2, list(layers), activation="relu", final_activation="linear", seed=0)
    parameters = list(model.parameters())
    if len(parameters) != len(params):
        raise ValueError(f"chainrule MLP has {len(parameters)} parameters, got {len(params)} initial values")
    for p, value in zip(parameters, params):
        p.data = float(value)
    return model, parameters, hinge_loss


class _Trainer:
    def __init__(self, params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> None:
        self.model, self.params, self.hinge_loss = moons_model(params)
        self.inputs = [list(x) for x in inputs]
        self.labels = list(labels)

    def step(self, lr: float) -> float:
        # The step's graph is built and used inside one defer_gc block, as nn.fit runs a step and as the
        # floor engine's adapter does: outside it, the first new container object (zero_grad's own lists)
        # would start a pass of the collector over the whole live graph (about 10% of this step).
        with defer_gc():
            scores = [self.model(x) for x in self.inputs]
            total = self.hinge_loss(scores, self.labels) + 1e-4 * autograd.sum([p * p for p in self.params])
            self.model.zero_grad()
            total.backward()
        for p in self.params:
            p.data -= lr * p.grad
        return total.data

    def grads(self) -> list[float]:
        return [p.grad for p in self.params]


def moons(params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> _Trainer:
    """Return a trainer for chainrule's ``nn.MLP(2, [16, 16, 1])`` with its hinge loss."""
    return _Trainer(params, inputs, labels)
