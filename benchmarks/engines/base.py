"""What an engine adapter gives the harness: built graphs, trainers and shared graph shapes.

An engine adapter is a module in ``benchmarks.engines`` with ``LABEL``,
``version()`` and one function per workload it supports (a missing function
means "not applicable" in the table):

* ``balanced_sum(a, b) -> Graph``: build ``sum_i a[i] * b[i]`` as a pairwise
  tree over new leaves made from ``a`` and ``b``.
* ``tanh_chain(x0, steps) -> Graph``: ``x = tanh(x)`` ``steps`` times.
* ``moons(params, inputs, labels) -> Trainer``: the MLP 2-16-16-1 with the
  given initial parameters (micrograd's order) on the given data.
* ``moons_mlp(params, inputs, labels, layers) -> Trainer``: the same step for
  an MLP 2-layers[0]-...-1 (the batched engines).
* ``compile_mlp(params, inputs, labels, layers) -> dict``: a compiling
  engine's compile time for that MLP's loss (``seconds``) and the size of
  the traced graph (``nodes_edges``).

Building the graph is the forward pass; the harness times it, then times
``Graph.backward()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Unavailable(RuntimeError):
    """Raised by an adapter whose engine cannot run here (not installed, or not written yet)."""


class Graph(Protocol):
    """A built graph, kept alive by the object until the harness drops it."""

    def backward(self) -> None:
        """Run the engine's backward pass from the root."""

    def summary(self) -> dict[str, float]:
        """Return check values (root value, gradient sums) to compare engines by."""


class Trainer(Protocol):
    """One model, its data and its parameters, trained by plain SGD."""

    def step(self, lr: float) -> float:
        """Run forward, zero the gradients, backward and ``p -= lr * grad``; return the loss."""

    def grads(self) -> list[float]:
        """Return the parameters' gradients from the last step, in micrograd's order."""


class ValueGraph:
    """A built graph of micrograd-style scalars (``.data``, ``.grad``, ``.backward()``): chainrule's and micrograd's."""

    def __init__(self, root: Any, leaves: Sequence[Any]) -> None:
        self.root = root
        self.leaves = leaves

    def backward(self) -> None:
        """Run backward from the root."""
        self.root.backward()

    def summary(self) -> dict[str, float]:
        """Return the root value and the sum of the leaf gradients."""
        return {"value": float(self.root.data), "leaf_grad_sum": float(sum(v.grad for v in self.leaves))}


def pairwise_sum(items: Sequence[Any]) -> Any:
    """Sum items as a balanced binary tree: add neighbours, level by level.

    Args:
        items: at least one summand (anything with ``+``).

    Returns:
        The root of the tree (``items[0]`` alone when there is one item).
    """
    level = list(items)
    if not level:
        raise ValueError("pairwise_sum() needs at least one item")
    while len(level) > 1:
        paired = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def mlp_shapes(nin: int, nouts: Sequence[int]) -> list[tuple[int, int]]:
    """Return (fan_in, fan_out) for each layer of an MLP."""
    sizes = [nin, *nouts]
    return [(sizes[i], sizes[i + 1]) for i in range(len(nouts))]
