"""The floor: the leanest one-object-per-node scalar engine, to measure how far chainrule is from it.

``Scalar`` has chainrule's semantics and nothing else: ordered parents (``x*x``
has two edges), local derivatives recorded when a node is made, consumer
counts recorded then too, an iterative reverse-topological backward (Kahn's
algorithm, no recursion), and gradients added into ``.grad`` once per call (two
calls double, never compound). It has no labels, scopes, roles, op names,
modes, anomaly checks, IEEE-754 fallbacks or input checks, and its backward
assumes every consumer of a node lies below the root (true of these graphs;
chainrule also handles the other case). Every figure chainrule pays on top of
this class is what those features cost; the benchmark reports the ratio.

The moons model is built from the same nodes as chainrule's ``nn.MLP`` and
hinge loss: per neuron one ``dot`` node (weights, inputs, bias) and a ReLU,
``relu(1 - s)`` or ``relu(1 + s)`` per sample, one n-ary sum for the mean and
one for the penalty. Graph workloads and the moons step run under the same
collector setting as chainrule's adapter (see ``chainrule_scalar``).
"""

from __future__ import annotations

import gc
import math
import operator
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from benchmarks.engines.base import ValueGraph, mlp_shapes, pairwise_sum

try:  # the same collector setting as chainrule's adapter
    from chainrule.autograd.collector import GRAPH_THRESHOLD
except ImportError:  # pragma: no cover - an older chainrule
    GRAPH_THRESHOLD = 100_000

LABEL = "floor engine"

_new = object.__new__
_mul = operator.mul
_get_data = operator.attrgetter("data")
_tanh = math.tanh


class _Many:
    """Marks a node whose parents and local derivatives are tuples (more than two inputs)."""


MANY: Any = _Many()


class Scalar:
    """A node: data, grad, up to two parents and their local derivatives flat (more as tuples), a consumer count."""

    __slots__ = ("data", "grad", "_a", "_b", "_ga", "_gb", "_n")

    data: float
    grad: float
    _a: Any
    _b: Any
    _ga: Any
    _gb: Any
    _n: int

    def __init__(self, data: float) -> None:
        self.data = data
        self.grad = 0.0
        self._a = self._b = None
        self._ga = self._gb = 0.0
        self._n = 0

    # NOTE: each operator makes its node inline (no helper call): this file
    # measures the floor, so it is as lean as one object per node allows.
    def __add__(self, other: Scalar | float) -> Scalar:
        if not isinstance(other, Scalar):
            other = Scalar(other)
        v = _new(Scalar)
        v.data = self.data + other.data
        v.grad = 0.0
        v._a = self
        v._b = other
        v._ga = 1.0
        v._gb = 1.0
        v._n = 0
        if self._a is not None:
            self._n += 1
        if other._a is not None:
            other._n += 1
        return v

    def __radd__(self, other: float) -> Scalar:
        return Scalar(other) + self

    def __sub__(self, other: Scalar | float) -> Scalar:
        if not isinstance(other, Scalar):
            other = Scalar(other)
        v = _new(Scalar)
        v.data = self.data - other.data
        v.grad = 0.0
        v._a = self
        v._b = other
        v._ga = 1.0
        v._gb = -1.0
        v._n = 0
        if self._a is not None:
            self._n += 1
        if other._a is not None:
            other._n += 1
        return v

    def __rsub__(self, other: float) -> Scalar:
        return Scalar(other) - self

    def __mul__(self, other: Scalar | float) -> Scalar:
        if not isinstance(other, Scalar):
            other = Scalar(other)
        x = self.data
        y = other.data
        v = _new(Scalar)
        v.data = x * y
        v.grad = 0.0
        v._a = self
        v._b = other
        v._ga = y
        v._gb = x
        v._n = 0
        if self._a is not None:
            self._n += 1
        if other._a is not None:
            other._n += 1
        return v

    def __rmul__(self, other: float) -> Scalar:
        return Scalar(other) * self

    def __truediv__(self, other: float) -> Scalar:
        return self * Scalar(1.0 / other)

    def tanh(self) -> Scalar:
        t = _tanh(self.data)
        v = _new(Scalar)
        v.data = t
        v.grad = 0.0
        v._a = self
        v._b = None
        v._ga = 1.0 - t * t
        v._gb = 0.0
        v._n = 0
        if self._a is not None:
            self._n += 1
        return v

    def relu(self) -> Scalar:
        x = self.data
        v = _new(Scalar)
        v.grad = 0.0
        v._a = self
        v._b = None
        if x > 0.0:
            v.data = x
            v._ga = 1.0
        else:
            v.data = 0.0
            v._ga = 0.0
        v._gb = 0.0
        v._n = 0
        if self._a is not None:
            self._n += 1
        return v

    def backward(self) -> None:
        """Add d(self)/d(node) into ``.grad`` of every node below."""
        backward(self)


def _node_many(data: float, parents: tuple[Scalar, ...], grads: tuple[float, ...]) -> Scalar:
    v = _new(Scalar)
    v.data = data
    v.grad = 0.0
    v._a = parents
    v._b = MANY
    v._ga = grads
    v._gb = 0.0
    v._n = 0
    for p in parents:
        if p._a is not None:
            p._n += 1
    return v


def dot(ws: Sequence[Scalar], xs: Sequence[Scalar], b: Scalar) -> Scalar:
    """sum_i ws[i] * xs[i] + b as one node with an edge per weight, input and the bias."""
    wd = list(map(_get_data, ws))
    xd = list(map(_get_data, xs))
    return _node_many(sum(map(_mul, wd, xd)) + b.data, (*ws, *xs, b), (*xd, *wd, 1.0))


def total(xs: Sequence[Scalar]) -> Scalar:
    """sum(xs) as one node with an edge per input."""
    xs = tuple(xs)
    return _node_many(sum(map(_get_data, xs)), xs, (1.0,) * len(xs))


def backward(root: Scalar, seed: float = 1.0) -> None:
    """Kahn's algorithm from the root: a node is ready when all its recorded consumers have passed.

    A node with one consumer travels on the stack; one with more waits in
    ``partial`` until the last arrives. Leaves (no count) sum in a dict.
    """
    partial: dict[Scalar, float] = {}
    pending: dict[Scalar, int] = {}
    leaves: dict[Scalar, float] = {}
    if root._a is None:
        leaves[root] = seed
        nodes: list[Scalar] = []
        grads: list[float] = []
    else:
        nodes = [root]
        grads = [seed]
    pop = nodes.pop
    push = nodes.append
    gpop = grads.pop
    gpush = grads.append
    leaf_get = leaves.get
    while nodes:
        node = pop()
        g = gpop()
        old = node.grad
        node.grad = g if old == 0.0 and g != 0.0 else old + g  # 0.0 + g is g: no new float
        b = node._b
        if b is MANY:
            for p, local in zip(node._a, node._ga):
                if p._a is None:
                    leaves[p] = leaf_get(p, 0.0) + local * g
                elif p._n == 1:
                    push(p)
                    gpush(local * g)
                else:
                    n = pending.get(p, p._n) - 1
                    if n:
                        pending[p] = n
                        partial[p] = partial.get(p, 0.0) + local * g
                    else:
                        push(p)
                        gpush(partial.pop(p) + local * g)
            continue
        a = node._a
        if a._a is None:
            leaves[a] = leaf_get(a, 0.0) + node._ga * g
        elif a._n == 1:
            push(a)
            gpush(node._ga * g)
        else:
            n = pending.get(a, a._n) - 1
            if n:
                pending[a] = n
                partial[a] = partial.get(a, 0.0) + node._ga * g
            else:
                push(a)
                gpush(partial.pop(a) + node._ga * g)
        if b is None:
            continue
        if b._a is None:
            leaves[b] = leaf_get(b, 0.0) + node._gb * g
        elif b._n == 1:
            push(b)
            gpush(node._gb * g)
        else:
            n = pending.get(b, b._n) - 1
            if n:
                pending[b] = n
                partial[b] = partial.get(b, 0.0) + node._gb * g
            else:
                push(b)
                gpush(partial.pop(b) + node._gb * g)
    for leaf, g in leaves.items():
        old = leaf.grad
        leaf.grad = g if old == 0.0 and g != 0.0 else old + g


@contextmanager
def _collector_deferred() -> Iterator[None]:
    """Raise the first-generation threshold for the block, to the value chainrule's defer_gc() sets."""
    old = gc.get_threshold()
    gc.set_threshold(GRAPH_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


class _DeferredGraph(ValueGraph):
    def backward(self) -> None:
        with _collector_deferred():
            self.root.backward()


def balanced_sum(a: Sequence[float], b: Sequence[float]) -> ValueGraph:
    """Build sum_i a_i * b_i as a pairwise tree of binary ``+`` over ``*`` nodes."""
    with _collector_deferred():
        xs = [Scalar(x) for x in a]
        ys = [Scalar(y) for y in b]
        root = pairwise_sum([x * y for x, y in zip(xs, ys)])
    return _DeferredGraph(root, xs + ys)


def tanh_chain(x0: float, steps: int) -> ValueGraph:
    """Build x = tanh(x) ``steps`` times from one leaf."""
    with _collector_deferred():
        leaf = Scalar(x0)
        x = leaf
        for _ in range(steps):
            x = x.tanh()
    return _DeferredGraph(x, [leaf])


class _Trainer:
    def __init__(self, params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> None:
        self.params = [Scalar(float(v)) for v in params]
        it = iter(self.params)
        # Per layer, per neuron: (weights, bias), in micrograd's order.
        self.layers = [
            [([next(it) for _ in range(fan_in)], next(it)) for _ in range(fan_out)]
            for fan_in, fan_out in mlp_shapes(2, [16, 16, 1])
        ]
        self.inputs = [list(x) for x in inputs]
        self.labels = list(labels)

    def _forward(self, x: Sequence[float]) -> Scalar:
        xs = [Scalar(v) for v in x]  # constants, as chainrule makes of plain numbers
        last = len(self.layers) - 1
        for k, layer in enumerate(self.layers):
            if k == last:
                xs = [dot(w, xs, b) for w, b in layer]
            else:
                xs = [dot(w, xs, b).relu() for w, b in layer]
        return xs[0]

    def step(self, lr: float) -> float:
        with _collector_deferred():
            scores = [self._forward(x) for x in self.inputs]
            losses = [(1.0 - s).relu() if y > 0 else (1.0 + s).relu() for s, y in zip(scores, self.labels)]
            loss = total(losses) / len(losses) + 1e-4 * total([p * p for p in self.params])
            for p in self.params:
                p.grad = 0.0
            loss.backward()
        for p in self.params:
            p.data -= lr * p.grad
        return loss.data

    def grads(self) -> list[float]:
        return [p.grad for p in self.params]


def version() -> str:
    """The floor engine lives in this file: no version of its own."""
    return "benchmarks/engines/floor.py"


def moons(params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> _Trainer:
    """Return a trainer for the 2-16-16-1 MLP built from ``Scalar`` nodes, as chainrule's nn.MLP builds it."""
    return _Trainer(params, inputs, labels)
