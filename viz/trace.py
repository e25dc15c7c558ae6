"""Read a computation graph into plain dataclasses: nodes, edges and the chain-rule numbers on each edge.

Nothing here knows about Graphviz: :func:`trace` returns a :class:`Trace` that
the DOT builder, the animation and tests read. Node ids are positions in
``autograd.topological_order`` (deterministic), never ``id()``.

Every walk is one linear pass over the nodes or the edges.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from chainrule import autograd
from chainrule.autograd import CONSTANT, PARAMETER, Value
from chainrule.viz import numeric

# Roles as diagrams show them (the engine's "variable" splits into leaf and intermediate).
LEAF = "leaf"
PARAMETER_ROLE = "parameter"
CONSTANT_ROLE = "constant"
OUTPUT = "output"
INTERMEDIATE = "intermediate"

GradSource = Literal["auto", "stored", "computed"]

# Defaults of the finite-difference check, the same as autograd.gradcheck's.
CHECK_EPS = 1e-6
CHECK_ATOL = 1e-5
CHECK_RTOL = 1e-3


@dataclass(slots=True)
class Node:
    """One node of the traced graph.

    Attributes:
        id: position in topological order (parents before consumers, root last).
        label: the Value's label ('' when it has none).
        op: the op-table row that made it ('' for a leaf).
        data: the forward value.
        grad: the gradient shown (see :func:`trace`'s ``grads``).
        role: "leaf", "parameter", "constant", "output" or "intermediate".
        scope: the module path it was made in, or None.
        level: longest path from a leaf (leaves are 0).
        grad_terms: the contributions of its outgoing edges, in edge order; the
            chain rule says ``grad`` is their sum.
        grad_elsewhere: ``grad - sum(grad_terms)`` when it is not ~0: gradient that
            reached the stored ``.grad`` through consumers outside this graph.
        cut_off: its gradient flows only through blocked edges.
        fd_grad: the finite-difference estimate (``check=True``, leaves and parameters).
        check_error: ``|grad - fd_grad| / max(|grad|, |fd_grad|)`` (0 when both are 0).
        check_ok: whether grad and fd_grad agree within the check's tolerances.
        symbol: the op's display symbol ("*", "tanh"; '' for a leaf), from the row
            that made the node (custom rows made with ``autograd.apply`` included).
    """

    id: int
    label: str
    op: str
    data: float
    grad: float
    role: str
    scope: str | None
    level: int = 0
    grad_terms: list[float] = field(default_factory=list)
    grad_elsewhere: float = 0.0
    cut_off: bool = False
    fd_grad: float | None = None
    check_error: float | None = None
    check_ok: bool | None = None
    symbol: str = ""

    @property
    def name(self) -> str:
        """The label, or the op when there is none (what a diagram calls this node)."""
        if self.label:
            return self.label
        if self.op:
            return self.symbol or self.op
        return "" if self.role != CONSTANT_ROLE else _short(self.data)


@dataclass(slots=True)
class Edge:
    """One edge parent -> child (one per argument: ``x*x`` has two).

    Attributes:
        parent, child: node ids.
        arg: the argument position of parent in child's op.
        op: child's op.
        local: d(child)/d(parent) as recorded by the engine; None for a constant
            parent (the engine computes no derivative for it).
        upstream: child's grad.
        contribution: ``local * upstream``, this edge's term of parent's grad (None
            for a constant parent).
        blocker: why almost no gradient passes ("dead relu", "saturated tanh", ...)
            or None.
    """

    parent: int
    child: int
    arg: int
    op: str
    local: float | None
    upstream: float
    contribution: float | None
    blocker: str | None = None


@dataclass(slots=True)
class Trace:
    """The whole traced graph.

    Attributes:
        nodes: in topological order (``nodes[i].id == i``), root last.
        edges: grouped by child, in argument order.
        root: the root's id.
        grads: "stored" (the nodes' ``.grad``) or "computed" (d(root)/d(node) by viz).
        block_tol: |local derivative| at or below which a saturating activation blocks.
        checked: whether ``check=True`` filled the finite-difference fields.
    """

    nodes: list[Node]
    edges: list[Edge]
    root: int
    grads: str
    block_tol: float
    checked: bool = False

    def out_edges(self) -> list[list[int]]:
        """Return, per node id, the indices of the edges it is the parent of (in edge order)."""
        result: list[list[int]] = [[] for _ in self.nodes]
        for i, e in enumerate(self.edges):
            result[e.parent].append(i)
        return result

    def in_edges(self) -> list[list[int]]:
        """Return, per node id, the indices of the edges into it (in argument order)."""
        result: list[list[int]] = [[] for _ in self.nodes]
        for i, e in enumerate(self.edges):
            result[e.child].append(i)
        return result

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)


def _short(x: float) -> str:
    return f"{x:.4g}"


def _role(v: Value, is_root: bool) -> str:
    if is_root:
        return OUTPUT
    if v.role == CONSTANT:
        return CONSTANT_ROLE
    if v.role == PARAMETER:
        return PARAMETER_ROLE
    return INTERMEDIATE if v.parents else LEAF


# Activations whose derivative fades to 0 without reaching it: blocked below block_tol.
SATURATING = frozenset({"tanh", "sigmoid", "softplus"})
# What a zero local derivative means for ops where it has a name.
_ZERO_MEANS = {
    "relu": "dead relu",
    "leaky_relu": "local derivative 0",
    "maximum": "max takes the other input",
    "minimum": "min takes the other input",
    "clamp": "clamped",
}


def _blocker(op: str, local: float, block_tol: float) -> str | None:
    if op in SATURATING:
        return f"saturated {op}" if abs(local) <= block_tol else None  # nan is not a blocker
    if local != 0.0:
        # A small factor (1e-4 * L2 penalty) scales the gradient on purpose: not a blocker.
        return None
    return _ZERO_MEANS.get(op, "local derivative 0")


def trace(
    root: Value,
    *,
    grads: GradSource = "auto",
    block_tol: float = 1e-3,
    check: bool = False,
    check_eps: float = CHECK_EPS,
    check_atol: float = CHECK_ATOL,
    check_rtol: float = CHECK_RTOL,
) -> Trace:
    """Trace the graph below ``root`` into plain dataclasses.

    Args:
        root: the output Value.
        grads: which gradients to show. "stored": each node's ``.grad`` as
            ``backward()`` left it (zeros if it was never called). "computed":
            d(root)/d(node), computed here without touching ``.grad``. "auto"
            (default): "stored" when ``root.grad`` is non-zero (backward ran),
            else "computed", so a diagram drawn before ``backward()`` still
            shows the chain rule.
        block_tol: a saturating activation (tanh, sigmoid, softplus) whose
            |local derivative| is at most this blocks the gradient; any other
            edge blocks where its local derivative is exactly 0 (a dead ReLU,
            a zero factor, the loser of a max, a clamped input), since a small
            factor such as an L2 penalty's 1e-4 scales the gradient on purpose.
        check: estimate every leaf's and parameter's gradient by central finite
            differences (see :func:`viz.check.finite_differences`).
        check_eps, check_atol, check_rtol: the check's step and tolerances
            (agree when |grad - fd| <= atol + rtol * |fd|), as ``autograd.gradcheck``.

    Returns:
        A :class:`Trace`.
    """
    if not isinstance(root, Value):
        raise TypeError(f"viz.trace() root must be an autograd Value, got {type(root).__name__} {root!r}")
    if grads not in ("auto", "stored", "computed"):
        raise ValueError(f"viz.trace() grads must be 'auto', 'stored' or 'computed', got {grads!r}")
    if not (isinstance(block_tol, (int, float)) and block_tol >= 0):
        raise ValueError(f"viz.trace() block_tol must be a number >= 0, got {block_tol!r}")

    order = autograd.topological_order(root)
    index = {v: i for i, v in enumerate(order)}
    last = len(order) - 1
    source = grads
    if source == "auto":
        source = "stored" if root.grad != 0.0 else "computed"
    if source == "stored":
        values = [v.grad for v in order]
    else:
        computed = autograd.grad(root, order, allow_unused=True)
        values = [0.0 if v.role == CONSTANT else g.data for v, g in zip(order, computed)]

    nodes: list[Node] = []
    edges: list[Edge] = []
    levels = [0] * len(order)
    for i, v in enumerate(order):
        level = 0
        g = values[i]
        row = v.primitive
        op = "" if row is None else row.name
        if row is not None:
            for arg, (p, local) in enumerate(zip(v.parents, v.local_grads)):
                pid = index[p]
                if levels[pid] >= level:
                    level = levels[pid] + 1
                if p.role == CONSTANT:
                    edges.append(Edge(pid, i, arg, op, None, g, None))
                else:
                    edges.append(Edge(pid, i, arg, op, local, g, local * g, _blocker(op, local, block_tol)))
        levels[i] = level
        symbol = "" if row is None else row.symbol
        label, scope = v.label, v.scope
        nodes.append(Node(i, label, op, v.data, g, _role(v, i == last), scope, level, symbol=symbol))

    for e in edges:
        if e.contribution is not None:
            nodes[e.parent].grad_terms.append(e.contribution)
    _mark_elsewhere(nodes)
    _mark_cut_off(nodes, edges)
    result = Trace(nodes, edges, last, source, float(block_tol))
    if check:
        from chainrule.viz.check import finite_differences

        finite_differences(result, order, eps=check_eps, atol=check_atol, rtol=check_rtol)
    return result


def _mark_elsewhere(nodes: list[Node]) -> None:
    for n in nodes:
        if n.role == CONSTANT_ROLE or n.role == OUTPUT:
            continue
        rest = n.grad - numeric.total(n.grad_terms)  # nan or inf when a term is: then nothing is "elsewhere"
        # Summation order differs from the engine's, so allow rounding.
        if math.isfinite(rest) and abs(rest) > 1e-9 * max(1.0, abs(n.grad), numeric.total(map(abs, n.grad_terms))):
            n.grad_elsewhere = rest


def _mark_cut_off(nodes: list[Node], edges: list[Edge]) -> None:
    """Mark nodes whose every path to the root crosses a blocked edge (one reverse pass)."""
    alive = [False] * len(nodes)
    alive[-1] = True
    has_out = [False] * len(nodes)
    # Edges are grouped by child in topological order, so walking them backwards
    # settles each child before any of its parents.
    for e in reversed(edges):
        if e.local is None:
            continue
        has_out[e.parent] = True
        if alive[e.child] and e.blocker is None:
            alive[e.parent] = True
    for n in nodes:
        if n.role not in (CONSTANT_ROLE, OUTPUT) and has_out[n.id] and not alive[n.id]:
            n.cut_off = True
