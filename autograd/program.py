"""A traced graph as a program over a batch: grouped nodes, slot tables and numpy kernels.

:func:`build` turns the graph fn made for one sample into a :class:`Program`.
Independent nodes of the same op become one group, run by one numpy call
(the neurons of a layer become one matrix product). Each node gets a slot in
one of two tables: per-sample slots (a row of N numbers) and shared slots
(one number: captured Values such as a model's parameters, constants, and
everything computed from them alone, such as an L2 penalty, evaluated once per
batch). Slots are laid out so that most groups read and write contiguous rows:
numpy views, no copies. The tables and the kernels bound to them are kept per
batch size (:class:`Workspace`), so a training loop allocates nothing large
per step.

The local derivatives are the op table's rules on numpy arrays
(``NUMPY_MATH``); a few ops have kernels that write into the tables directly
(relu, + - *, sums and layers), with the same values as their rules.
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd import engine
from chainrule.autograd.engine import _MANY, CONSTANT, PARAMETER, AnomalyError, Value
from chainrule.autograd.ops import NUMPY_MATH, Op
from chainrule.autograd.tracing import NO_GRADIENT, Guard

SHARED = 0
SAMPLE = 1
Slot = tuple[int, int]  # (SHARED or SAMPLE, index in that table)

# How a gradient contribution reaches its rows: written (the rows' first), added, or added at repeated rows.
ASSIGN, ADD, ADD_AT = 0, 1, 2

_get_data = operator.attrgetter("_data")  # the slot behind .data: no property call, no tracing
_get_grad = operator.attrgetter("grad")
_set_grad = Value.__dict__["grad"].__set__  # the slot descriptor: C code stores .grad
_set_data = Value.__dict__["_data"].__set__

# update(data, grad) -> new data, over the parameters' arrays (see Program.backward).
Update = Callable[[np.ndarray, np.ndarray], Any]


def apply_update(values: Sequence[Value], data: np.ndarray, grads: np.ndarray, update: Update) -> np.ndarray:
    """Set each Value's data to update(data, grads) (arrays in the order of values), in one C loop.

    Returns:
        The new data.
    """
    try:
        new = np.asarray(update(data, grads), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"backward(update=...) must return an array of numbers ({exc})") from None
    if new.shape != data.shape:
        raise ValueError(f"backward(update=...) returned shape {new.shape} for {len(data)} parameters")
    engine.data_writes += 1  # as .data assignments count: every program reads its parameters again
    collections.deque(map(_set_data, values, new.tolist()), maxlen=0)
    return new


class Rows:
    """Rows of a slot table: a slice when they are contiguous (numpy views, no copies), else an index array."""

    __slots__ = ("idx", "key", "size", "unique", "contiguous")

    def __init__(self, idx: Sequence[int] | np.ndarray) -> None:
        arr = np.asarray(idx, dtype=np.intp).ravel()
        self.idx = arr
        self.size = len(arr)
        if self.size > 1:
            steps = np.diff(arr)
            self.contiguous = bool(np.all(steps == 1))
            self.unique = self.contiguous or len(np.unique(arr)) == self.size
        else:
            self.contiguous = self.unique = True
        self.key: slice | np.ndarray = slice(int(arr[0]), int(arr[-1]) + 1) if self.contiguous and self.size else arr


# ----------------------------------------------------------------------------
# The graph as integer ids
# ----------------------------------------------------------------------------


def _parents(v: Value) -> tuple[Value, ...]:
    b = v._b
    if b is None:
        return () if v._a is None else (v._a,)
    if b is _MANY:
        return v._a
    return (v._a, b)


def walk(roots: Sequence[Value]) -> tuple[list[Value], list[tuple[int, ...]]]:
    """Every node the roots depend on, parents first, and each node's parents as positions in that order.

    Iterative depth-first post-order (any depth), deterministic for a given
    graph: it depends only on the roots and each node's parent order.
    """
    pos: dict[Value, int] = {}
    order: list[Value] = []
    parents_of: list[tuple[int, ...]] = []
    for root in roots:
        if root in pos:
            continue
        stack = [(root, _parents(root))]
        nexts = [0]
        while stack:
            node, ps = stack[-1]
            i = nexts[-1]
            count = len(ps)
            while i < count:
                p = ps[i]
                if p in pos:
                    i += 1
                elif p._a is None:  # a leaf: placed at once, without a stack frame
                    pos[p] = len(order)
                    order.append(p)
                    parents_of.append(())
                    i += 1
                else:
                    break
            if i < count:
                nexts[-1] = i + 1
                stack.append((p, _parents(p)))
                nexts.append(0)
                continue
            stack.pop()
            nexts.pop()
            pos[node] = len(order)
            order.append(node)
            parents_of.append(tuple([pos[p] for p in ps]))
    return order, parents_of


def signature(order: Sequence[Value], parents_of: Sequence[tuple[int, ...]], inputs: dict[Value, Any],
              outs: Sequence[Value], guards: Sequence[Guard]) -> tuple[Any, ...]:
    """What must match between two traces: ops, wiring, inputs, constants and captured values, guards, outputs."""
    pos = {v: i for i, v in enumerate(order)}
    steps: list[Any] = []
    values: list[float] = []
    for node, ps in zip(order, parents_of):
        if node.primitive is not None:
            steps.append((node.primitive, ps))
        elif node in inputs:
            steps.append(("input", inputs[node]))
        else:  # a constant, a captured Value or one made inside fn: its value is what counts
            steps.append("const" if node.role is CONSTANT else "leaf")
            values.append(node._data)
    guard_steps = tuple((pos[g.node], np.float64(g.expected).tobytes(), g.kind) for g in guards)
    return (tuple(steps), np.array(values, dtype=np.float64).tobytes(), guard_steps, tuple(pos[v] for v in outs))


def describe_difference(a: tuple[Any, ...], b: tuple[Any, ...], row_a: int, row_b: int) -> str:
    """Say where two signatures first differ."""
    steps_a, steps_b = a[0], b[0]
    for k, (x, y) in enumerate(zip(steps_a, steps_b)):
        if x != y:
            return f"at step {k} sample {row_a} has {_show(x)} but sample {row_b} has {_show(y)}"
    if len(steps_a) != len(steps_b):
        return f"sample {row_a} has {len(steps_a)} steps but sample {row_b} has {len(steps_b)}"
    if a[1] != b[1]:
        va, vb = np.frombuffer(a[1]), np.frombuffer(b[1])
        k = int(np.flatnonzero(va.view(np.int64) != vb.view(np.int64))[0])
        return f"a constant is {va[k]!r} in sample {row_a} but {vb[k]!r} in sample {row_b}"
    return f"the guards or outputs differ between samples {row_a} and {row_b}"


def _show(step: Any) -> str:
    if isinstance(step, str):
        return "a constant" if step == "const" else "a Value made outside the graph"
    if step[0] == "input":
        return "an input"
    return f"op '{step[0].name}'"


# ----------------------------------------------------------------------------
# Groups: independent nodes of one op, one numpy call
# ----------------------------------------------------------------------------


@dataclass(eq=False)
class Group:
    """Independent nodes of one op with the same argument kinds: one numpy call forward, a few backward.

    Attributes:
        op: the op-table row.
        out_kind: the table the results go to (SHARED or SAMPLE).
        out: the result rows (contiguous: slots are numbered group by group).
        kinds: the table of each argument position.
        idx: the slot of each argument, shape (arity, members).
        needs: whether each argument position receives a gradient.
        dense: a layer, out = W @ X (+ b): W (k, n) from shared slots, the same
            per-sample X (n, N) for every member.
        live: whether backward runs it (some member leads to the loss).
        modes: for each per-sample argument position that receives a
            gradient, how it is written (ASSIGN, ADD or ADD_AT).
    """

    op: Op
    out_kind: int
    out: Rows
    kinds: tuple[int, ...]
    idx: np.ndarray
    needs: list[bool]
    dense: bool = False
    n: int = 0
    w: Rows | None = None
    x: Rows | None = None
    live: bool = False
    modes: dict[int, int] = field(default_factory=dict)
    _rows: dict[int, Rows] = field(default_factory=dict)

    @property
    def arity(self) -> int:
        """Arguments per member."""
        return len(self.kinds)

    def arg(self, j: int) -> Rows:
        """The rows of argument position j (one per member)."""
        rows = self._rows.get(j)
        if rows is None:
            rows = self._rows[j] = Rows(self.idx[j])
        return rows

    def units(self) -> list[tuple[list[int], Rows]]:
        """The per-sample argument positions that receive a gradient, as units written by one numpy call each.

        A layer's inputs X are one unit; so are all the inputs of a sum when
        they lie in the per-sample table (one broadcast write); any other
        position is a unit of its own. Kernels write the units in this order.
        """
        wanted = [j for j, need in enumerate(self.needs) if need and self.kinds[j] == SAMPLE]
        if not wanted:
            return []
        if self.dense:
            assert self.x is not None
            units: list[tuple[list[int], Rows]] = []
            if any(self.n <= j < 2 * self.n for j in wanted):
                units.append((list(range(self.n, 2 * self.n)), self.x))
            if self.arity % 2 and self.arity - 1 in wanted:
                units.append(([self.arity - 1], self.arg(self.arity - 1)))
            return units
        if self.sum_vectorised():
            return [(wanted, Rows(self.idx[wanted]))]
        return [([j], self.arg(j)) for j in wanted]

    def sum_vectorised(self) -> bool:
        """A sum whose inputs that receive gradients all lie in one table: one broadcast write for all of them."""
        if self.op.name != "sum":
            return False
        wanted = [j for j, need in enumerate(self.needs) if need]
        return len(wanted) > 1 and len({self.kinds[j] for j in wanted}) == 1


# ----------------------------------------------------------------------------
# Building a program
# ----------------------------------------------------------------------------


@dataclass(eq=False)
class Program:
    """A traced graph, grouped for numpy, with the guards it relies on."""

    input_slots: list[tuple[int, int | None, int]]  # (argument index, column or None, sample slot)
    n_sample: int
    n_shared: int
    constants: np.ndarray  # shared slots len(leaves) .. len(leaves) + len(constants)
    leaves: list[Value]  # captured Values, read at every call: shared slots 0 .. len(leaves)
    groups: list[Group]
    outs: list[Slot]
    guards: list[tuple[Slot, Guard]]
    graph: list[Value]
    signature: tuple[Any, ...]
    trace_row: int
    zero_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    workspaces: collections.OrderedDict[int, Workspace] = field(default_factory=collections.OrderedDict)
    # NOTE: the captured Values are read and written in memory order (their ids), the order they lie in:
    # for a layer's weights, slot order (W.T's columns) strides across the neurons' objects and costs
    # about four times as much at 66k parameters. in_memory[i] is the slot of the i-th Value in that order.
    in_memory: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    leaves_in_memory: list[Value] = field(default_factory=list)
    # The parameters (role PARAMETER) among them, in memory order: what backward(update=...) changes.
    is_parameter: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    parameters_in_memory: list[Value] = field(default_factory=list)
    # The workspace whose shared table holds the captured Values' numbers as of engine.data_writes == fresh[1].
    fresh: tuple[Workspace | None, int] = (None, -1)

    def __post_init__(self) -> None:
        self.in_memory = np.argsort(np.array([id(v) for v in self.leaves], dtype=np.uintp), kind="stable")
        self.leaves_in_memory = [self.leaves[i] for i in self.in_memory]
        self.is_parameter = np.array([v.role is PARAMETER for v in self.leaves_in_memory], dtype=bool)
        self.parameters_in_memory = [v for v in self.leaves_in_memory if v.role is PARAMETER]

    def workspace(self, n: int) -> Workspace:
        """The tables for batches of n rows, kept between calls (for the two most recent sizes)."""
        ws = self.workspaces.get(n)
        if ws is None:
            ws = self.workspaces[n] = Workspace(self, n)
            while len(self.workspaces) > 2:
                self.workspaces.popitem(last=False)
        else:
            self.workspaces.move_to_end(n)
        return ws

    def forward(self, ws: Workspace, arrays: Sequence[np.ndarray]) -> None:
        """Fill the tables for this batch: captured Values' current data, the inputs, then every group."""
        H, S = ws.H, ws.S
        writes = engine.data_writes
        if self.leaves and (self.fresh[0] is not ws or self.fresh[1] != writes):
            # NOTE: skipped when no .data was assigned since this table was filled (backward(update=...)
            # writes its new numbers here too): one pass less over every parameter object per step.
            H[self.in_memory, 0] = np.fromiter(map(_get_data, self.leaves_in_memory), np.float64, len(self.leaves))
        self.fresh = (ws, writes)
        for i, j, slot in self.input_slots:
            S[slot] = arrays[i] if j is None else arrays[i][:, j]
        with np.errstate(all="ignore"):
            for kernel in ws.forward:
                kernel()

    def broken(self, ws: Workspace) -> np.ndarray | None:
        """Rows (a boolean mask) where some guard fails; None when every guard holds on every row."""
        bad: np.ndarray | None = None
        for (kind, idx), guard in self.guards:
            fails = _fails(ws.S[idx] if kind == SAMPLE else ws.H[idx], guard)
            if fails.any():
                fails = np.broadcast_to(fails, (ws.n,)) if kind == SHARED else fails
                bad = fails.copy() if bad is None else bad | fails
        return bad

    def first_broken(self, ws: Workspace, row: int) -> Guard:
        """The first guard that fails on a row of the last forward."""
        for (kind, idx), guard in self.guards:
            if _fails(ws.S[idx, row : row + 1] if kind == SAMPLE else ws.H[idx], guard).any():
                return guard
        raise AssertionError(f"every guard holds on row {row}")

    def backward(self, ws: Workspace, scale: float, accumulate: bool = True, update: Update | None = None
                 ) -> float:
        """Run backward on the last forward (the output's gradient is ``scale`` per row).

        Args:
            ws: the workspace holding the forward.
            scale: d(loss)/d(output) for every row.
            accumulate: add into each captured Value's ``.grad``; False writes it instead.
            update: then set each parameter's data to ``update(data, grad)`` (the
                forward's data, the gradients just written).

        Returns:
            The sum of the output over the rows.
        """
        ws.bind_backward(self)
        GH, GS = ws.GH, ws.GS
        assert GH is not None and GS is not None and ws.backward is not None
        kind, idx = self.outs[0]
        if kind == SAMPLE:
            total = float(ws.S[idx].sum())
        else:
            total = float(ws.H[idx, 0]) * ws.n
        GH.fill(0.0)
        if self.zero_rows.size:
            GS[self.zero_rows] = 0.0
        if kind == SAMPLE:
            GS[idx] = scale
        else:
            GH[idx] = scale * ws.n
        with np.errstate(all="ignore"):
            for kernel in ws.backward:
                kernel()
        leaves = self.leaves_in_memory
        if leaves:
            grads = GH[self.in_memory, 0]
            if accumulate:
                grads += np.fromiter(map(_get_grad, leaves), np.float64, len(leaves))
            collections.deque(map(_set_grad, leaves, grads.tolist()), maxlen=0)
            if update is not None and self.parameters_in_memory:
                mask = self.is_parameter
                rows = self.in_memory[mask]
                ws.H[rows, 0] = apply_update(self.parameters_in_memory, ws.H[rows, 0], grads[mask], update)
                self.fresh = (ws, engine.data_writes)
        return total


    def check_finite(self, ws: Workspace, rows: np.ndarray | None, gradients: bool = False) -> None:
        """Under ``detect_anomaly()``: raise AnomalyError at the first group whose values are not all finite.

        Args:
            ws: the workspace of the last forward (and backward).
            rows: the batch rows the workspace holds (None: all of them), for the message.
            gradients: check the gradients of the last backward (in backward order) instead.
        """
        if gradients:
            GH, GS = ws.tables(grad=True)
            for g in reversed(self.groups):
                if g.live:
                    _raise_if_not_finite(g, (GH, GS)[g.out_kind][g.out.key], rows, "the gradient reaching op '{}' is")
            return
        for g in self.groups:
            _raise_if_not_finite(g, ws.tables()[g.out_kind][g.out.key], rows, "op '{}' produced")


def _raise_if_not_finite(g: Group, block: np.ndarray, rows: np.ndarray | None, what: str) -> None:
    bad = ~np.isfinite(block)
    if not bad.any():
        return
    member, column = (int(i) for i in np.argwhere(bad)[0])
    value = float(block[member, column])
    if g.out_kind == SHARED:
        where = "a value shared by every sample"
    else:
        where = f"sample {column if rows is None else int(rows[column])}"
    raise AnomalyError(f"anomaly: {what.format(g.op.name)} {value!r} ({where}, in the compiled program)")


def _fails(values: np.ndarray, guard: Guard) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if guard.kind == "truth":
            return (values != 0.0) != bool(guard.expected)
        if guard.expected != guard.expected:
            return ~np.isnan(values)
        # bit for bit: 0.0 and -0.0 differ (1 / x tells them apart)
        return values.view(np.int64) != np.float64(guard.expected).view(np.int64)


def build(outs: list[Value], guards: list[Guard], placeholders: list[tuple[Value, int, int | None]],
          trace_row: int) -> Program:
    """Group a traced graph into a program.

    Args:
        outs: the Values fn returned.
        guards: the tracer's guards.
        placeholders: each input Value with its argument index and column.
        trace_row: the sample it was traced on.
    """
    roots = [*outs, *(g.node for g in guards)]
    order, parents_of = walk(roots)
    inputs = {v: (i, j) for v, i, j in placeholders}
    sig = signature(order, parents_of, inputs, outs, guards)
    n = len(order)
    pos = {v: i for i, v in enumerate(order)}
    ops = [v.primitive for v in order]

    # Which table each node lives in, and which nodes a gradient reaches.
    kind = [SHARED] * n
    needs = [False] * n
    level = [0] * n
    buckets: dict[tuple[Any, ...], list[int]] = {}
    for i, (v, op, ps) in enumerate(zip(order, ops, parents_of)):
        if op is None:
            if v in inputs:
                kind[i] = SAMPLE
            else:
                needs[i] = v.role is not CONSTANT
            continue
        pk = tuple([kind[p] for p in ps])
        k = kind[i] = SAMPLE if SAMPLE in pk else SHARED
        needs[i] = op not in NO_GRADIENT and any([needs[p] for p in ps])
        lv = level[i] = 1 + max([level[p] for p, pkind in zip(ps, pk) if pkind == k], default=0)
        key = (k, lv, id(op), pk)
        bucket = buckets.get(key)
        if bucket is None:
            buckets[key] = [i]
        else:
            bucket.append(i)
    members = [nodes for _, nodes in sorted(buckets.items(), key=lambda kv: kv[0][:2])]

    # Lay slots out so each group reads and writes contiguous rows: walk from
    # the outputs back, ranking each node by where its consumers first read it,
    # then number the slots group by group. Arguments are ranked position by
    # position, so a layer's weights lie column by column: W.T is one block.
    # Captured Values come first in the shared table (one block, read at every
    # call), then constants.
    unranked = n
    rank = [unranked] * n
    next_rank = 0
    for v in roots:
        if rank[pos[v]] == unranked:
            rank[pos[v]] = next_rank
            next_rank += 1
    for nodes in reversed(members):
        nodes.sort(key=rank.__getitem__)
        plists = [parents_of[i] for i in nodes]
        for j in range(len(plists[0])):
            for ps in plists:
                p = ps[j]
                if rank[p] == unranked:
                    rank[p] = next_rank
                    next_rank += 1
    slot = np.zeros(n, dtype=np.intp)
    counts = [0, 0]
    placed = np.zeros(n, dtype=bool)

    def place(i: int, table: int) -> None:
        if not placed[i]:
            placed[i] = True
            slot[i] = counts[table]
            counts[table] += 1

    input_slots: list[tuple[int, int | None, int]] = []
    for v, a, col in placeholders:
        if v in pos:  # an input fn never uses needs no slot
            place(pos[v], SAMPLE)
            input_slots.append((a, col, int(slot[pos[v]])))
    leaf_ids = sorted((i for i in range(n) if ops[i] is None and order[i] not in inputs), key=rank.__getitem__)
    leaves = [i for i in leaf_ids if order[i].role is not CONSTANT]
    constants = [i for i in leaf_ids if order[i].role is CONSTANT]
    for i in leaves + constants:
        place(i, SHARED)
    for nodes in members:
        for i in nodes:
            place(i, kind[i])

    kinds_arr = np.array(kind, dtype=np.int8)
    needs_arr = np.array(needs, dtype=bool)
    groups = [_group(order, parents_of, nodes, kinds_arr, needs_arr, slot) for nodes in members]
    program = Program(
        input_slots=input_slots,
        n_sample=counts[SAMPLE],
        n_shared=counts[SHARED],
        constants=np.array([order[i]._data for i in constants], dtype=np.float64),
        leaves=[order[i] for i in leaves],
        groups=groups,
        outs=[(kind[pos[v]], int(slot[pos[v]])) for v in outs],
        guards=[((kind[pos[g.node]], int(slot[pos[g.node]])), g) for g in guards],
        graph=outs,
        signature=sig,
        trace_row=trace_row,
    )
    if len(outs) == 1:
        _plan_backward(program, pos[outs[0]], ops, parents_of, needs, members)
    return program


def _group(order: list[Value], parents_of: list[tuple[int, ...]], nodes: list[int], kind: np.ndarray,
           needs: np.ndarray, slot: np.ndarray) -> Group:
    op = order[nodes[0]].primitive
    assert op is not None
    P = np.array([parents_of[i] for i in nodes], dtype=np.intp).T  # (arity, members)
    kinds = tuple(int(k) for k in kind[P[:, 0]])
    arg_needs = [False] * len(kinds) if op in NO_GRADIENT else needs[P].any(axis=1).tolist()
    out_kind = int(kind[nodes[0]])
    group = Group(op, out_kind, Rows(slot[nodes]), kinds, slot[P], arg_needs)
    n = len(kinds) // 2
    if (
        op.name == "dot"
        and n > 0
        and out_kind == SAMPLE
        and all(k == SHARED for k in kinds[:n])
        and all(k == SAMPLE for k in kinds[n : 2 * n])
        and bool(np.all(P[n : 2 * n] == P[n : 2 * n, :1]))
    ):
        group.dense = True
        group.n = n
        group.w = Rows(group.idx[:n])  # W.T, (n, k)
        group.x = Rows(group.idx[n : 2 * n, 0])
    return group


def _plan_backward(program: Program, out: int, ops: list[Op | None], parents_of: list[tuple[int, ...]],
                   needs: list[bool], members: list[list[int]]) -> None:
    """Decide which groups run backward and how each gradient contribution is written.

    A gradient row's first contribution is written (no zeroing pass over the
    table); later ones are added. Rows read before anything is written to them
    (members of a group that do not lead to the loss) are zeroed first.
    """
    reached = [False] * len(ops)
    reached[out] = needs[out]
    for i in range(out, -1, -1):
        if reached[i] and ops[i] is not None and ops[i] not in NO_GRADIENT:
            for p in parents_of[i]:
                if needs[p]:
                    reached[p] = True
    written = np.zeros(program.n_sample, dtype=bool)
    out_kind, out_row = program.outs[0]
    if out_kind == SAMPLE:
        written[out_row] = True
    zero: list[np.ndarray] = []
    for g, nodes in zip(reversed(program.groups), reversed(members)):
        g.live = any(g.needs) and any(reached[i] for i in nodes)
        if not g.live:
            continue
        if g.out_kind == SAMPLE:
            rows = g.out.idx
            zero.append(rows[~written[rows]])
            written[rows] = True
        for positions, unit in g.units():
            idx = unit.idx
            if not unit.unique:
                mode = ADD_AT
            elif not written[idx].any():
                mode = ASSIGN
            else:
                mode = ADD
            if mode != ASSIGN:
                zero.append(idx[~written[idx]])
            written[idx] = True
            for j in positions:
                g.modes[j] = mode
    program.zero_rows = np.unique(np.concatenate(zero)) if zero else np.zeros(0, dtype=np.intp)


# ----------------------------------------------------------------------------
# Tables and kernels
# ----------------------------------------------------------------------------


class Workspace:
    """A program's tables for one batch size, and its kernels bound to them."""

    def __init__(self, program: Program, n: int) -> None:
        self.n = n
        self.S = np.empty((program.n_sample, n))
        self.H = np.empty((program.n_shared, 1))
        self.H[len(program.leaves) : len(program.leaves) + len(program.constants), 0] = program.constants
        self.GS: np.ndarray | None = None
        self.GH: np.ndarray | None = None
        self.forward = [_bind_forward(g, self) for g in program.groups]
        self.backward: list[Callable[[], None]] | None = None

    def bind_backward(self, program: Program) -> None:
        """Allocate the gradient tables and bind the backward kernels (once per workspace)."""
        if self.backward is None:
            self.GS = np.empty_like(self.S)
            self.GH = np.zeros_like(self.H)
            self.backward = [_bind_backward(g, self) for g in reversed(program.groups) if g.live]

    def tables(self, grad: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(shared, per-sample) tables of values, or of gradients."""
        if grad:
            assert self.GH is not None and self.GS is not None
            return self.GH, self.GS
        return self.H, self.S


def _view(table: np.ndarray, rows: Rows) -> Callable[[], np.ndarray]:
    """A getter for rows of a table: a fixed view when contiguous, else a gather at each call."""
    if rows.contiguous:
        v = table[rows.key]
        return lambda: v
    idx = rows.idx
    return lambda: table[idx]


def _stacked(g: Group, table: np.ndarray, positions: list[int]) -> Callable[[], np.ndarray]:
    """A getter for the arguments at these positions (all in one table) as one (len, k, cols) array."""
    idx = g.idx[positions]  # (len, k)
    flat = Rows(idx)
    shape = (len(positions), idx.shape[1], table.shape[1])
    if flat.contiguous:
        v = table[flat.key].reshape(shape)
        return lambda: v
    return lambda: table[idx]


# Forward kernels where numpy can write straight into the table (no temporary).
_UFUNCS: dict[str, Callable[..., Any]] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "neg": np.negative,
    "exp": np.exp, "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "abs": np.abs,
}


def _bind_forward(g: Group, ws: Workspace) -> Callable[[], None]:
    tables = ws.tables()
    assert g.out.contiguous  # slots are numbered group by group
    out = tables[g.out_kind][g.out.key]
    if g.dense:
        return _dense_forward(g, ws, out)
    name = g.op.name
    if name == "sum":
        return _sum_forward(g, ws, out)
    if name == "dot":
        return _dot_forward(g, ws, out)
    getters = [_view(tables[g.kinds[j]], g.arg(j)) for j in range(g.arity)]
    if name in _UFUNCS:
        ufunc = _UFUNCS[name]
        if len(getters) == 1:
            (a,) = getters
            return lambda: ufunc(a(), out=out)
        a, b = getters
        return lambda: ufunc(a(), b(), out=out)
    if name == "relu":
        (a,) = getters
        # NOTE: np.maximum(x, 0.0) is relu exactly (nan stays nan, -0.0 becomes 0.0) and makes
        # no temporary: NUMPY_MATH.relu's np.where makes a boolean mask and a result.
        return lambda: np.maximum(a(), 0.0, out=out)
    forward = g.op.forward

    def generic() -> None:
        out[...] = forward(NUMPY_MATH, *[get() for get in getters])

    return generic


def _dense_forward(g: Group, ws: Workspace, out: np.ndarray) -> Callable[[], None]:
    assert g.w is not None and g.x is not None
    n, k = g.n, g.out.size
    H = ws.H
    X = _view(ws.S, g.x)
    bias = _view(ws.tables()[g.kinds[-1]], g.arg(g.arity - 1)) if g.arity % 2 else None
    if g.w.contiguous:
        W = H[g.w.key, 0].reshape(n, k).T

        def weights() -> np.ndarray:
            return W
    else:
        w_idx = g.w.idx

        def weights() -> np.ndarray:
            return H[w_idx, 0].reshape(n, k).T

    def dense() -> None:
        np.matmul(weights(), X(), out=out)
        if bias is not None:
            np.add(out, bias(), out=out)

    return dense


def _by_table(g: Group) -> dict[int, list[int]]:
    positions: dict[int, list[int]] = {}
    for j, kind in enumerate(g.kinds):
        positions.setdefault(kind, []).append(j)
    return positions


def _sum_forward(g: Group, ws: Workspace, out: np.ndarray) -> Callable[[], None]:
    tables = ws.tables()
    by_table = _by_table(g)
    first = _stacked(g, tables[g.out_kind], by_table.pop(g.out_kind)) if g.out_kind in by_table else None
    rest = [_stacked(g, tables[kind], positions) for kind, positions in by_table.items()]

    def forward() -> None:
        if first is not None:
            np.add.reduce(first(), axis=0, out=out)
        else:
            out.fill(0.0)
        for part in rest:
            np.add(out, part().sum(axis=0), out=out)

    return forward


def _dot_forward(g: Group, ws: Workspace, out: np.ndarray) -> Callable[[], None]:
    tables = ws.tables()
    n = g.arity // 2
    ws_ = [_view(tables[g.kinds[j]], g.arg(j)) for j in range(n)]
    xs = [_view(tables[g.kinds[n + j]], g.arg(n + j)) for j in range(n)]
    bias = _view(tables[g.kinds[-1]], g.arg(g.arity - 1)) if g.arity % 2 else None

    def forward() -> None:
        out.fill(0.0)
        for w, x in zip(ws_, xs):
            np.add(out, w() * x(), out=out)
        if bias is not None:
            np.add(out, bias(), out=out)

    return forward


class _Dest:
    """Where argument j's gradient goes: ``put(c)`` adds (or writes, for the rows' first contribution) c;
    ``product(a, b)`` puts ``a * b``, into the table directly when it can (no temporary)."""

    __slots__ = ("put", "product")

    def __init__(self, g: Group, ws: Workspace, j: int) -> None:
        rows = g.arg(j)
        GH, GS = ws.tables(grad=True)
        if g.kinds[j] == SHARED:
            self._shared(rows, GH, per_sample=g.out_kind == SAMPLE)
            return
        mode = g.modes[j]
        if rows.contiguous:
            dst = GS[rows.key]
            if mode == ASSIGN:

                def assign(c: Any) -> None:
                    dst[...] = c

                def assign_product(a: Any, b: Any) -> None:
                    np.multiply(a, b, out=dst)

                self.put, self.product = assign, assign_product
                return

            def add(c: Any) -> None:
                np.add(dst, c, out=dst)

            self.put = add
        else:
            idx = rows.idx
            if mode == ASSIGN:

                def assign_at(c: Any) -> None:
                    GS[idx] = c

                self.put = assign_at
            elif mode == ADD:

                def add_fancy(c: Any) -> None:
                    GS[idx] += c

                self.put = add_fancy
            else:

                def add_at(c: Any) -> None:
                    np.add.at(GS, idx, np.broadcast_to(c, (len(idx), GS.shape[1])))

                self.put = add_at
        put = self.put

        def put_product(a: Any, b: Any) -> None:
            put(a * b)

        self.product = put_product

    def _shared(self, rows: Rows, GH: np.ndarray, per_sample: bool) -> None:
        idx = rows.idx

        def add_shared(c: Any) -> None:
            c = np.asarray(c)
            if per_sample and c.ndim == 2 and c.shape[1] != 1:
                c = c.sum(axis=1, keepdims=True)  # a shared slot's gradient sums over the batch
            if rows.contiguous:
                GH[rows.key] += c
            elif rows.unique:  # a fancy += adds once per row: right when no row repeats, and much faster
                GH[idx] += c
            else:
                np.add.at(GH, idx, np.broadcast_to(c, (len(idx), 1)))

        def add_shared_product(a: Any, b: Any) -> None:
            if per_sample and np.ndim(a) == 2 and np.ndim(b) == 2 and a.shape[1] != 1 and b.shape[1] != 1:
                add_shared(np.einsum("ij,ij->i", a, b)[:, None])  # the sum over the batch, no (k, N) temporary
            else:
                add_shared(np.multiply(a, b))

        self.put, self.product = add_shared, add_shared_product


def _bind_backward(g: Group, ws: Workspace) -> Callable[[], None]:
    H, S = ws.tables()
    GH, GS = ws.tables(grad=True)
    G = (GH, GS)[g.out_kind][g.out.key]
    out = (H, S)[g.out_kind][g.out.key]
    wanted = [j for j, need in enumerate(g.needs) if need]
    if g.dense:
        return _dense_backward(g, ws, G)
    name = g.op.name
    if g.sum_vectorised():
        return _sum_backward(g, ws, wanted, G)
    dests = {j: _Dest(g, ws, j) for j in wanted}
    if name in ("add", "sub", "neg", "sum"):
        puts = [(dests[j].put, dests[j].product, name == "neg" or (name == "sub" and j == 1)) for j in wanted]

        def linear() -> None:
            for put, product, negated in puts:
                if negated:
                    product(G, -1.0)
                else:
                    put(G)

        return linear
    getters = [_view((H, S)[g.kinds[j]], g.arg(j)) for j in range(g.arity)]
    if name == "mul":
        a, b = getters
        to_a = dests[0].product if g.needs[0] else None
        to_b = dests[1].product if g.needs[1] else None

        def mul() -> None:
            if to_a is not None:
                to_a(b(), G)
            if to_b is not None:
                to_b(a(), G)

        return mul
    if name == "relu":
        (dest,) = dests.values()
        product = dest.product

        def relu() -> None:
            # relu'(a) = (a > 0) = (relu(a) > 0): the output's sign is enough. G times the mask, as the
            # rule's local derivative times G (a nan or inf upstream times 0 stays nan, as in the engine).
            product(G, out > 0.0)

        return relu
    rule = g.op.grads
    needs = g.needs

    def generic() -> None:
        args = [get() for get in getters]
        if g.op.arity is None:
            local = rule(NUMPY_MATH, out, *args)  # type: ignore[operator]
        else:
            local = [r(NUMPY_MATH, out, *args) if need else None
                     for r, need in zip(rule, needs)]  # type: ignore[arg-type]
        for j in wanted:
            dests[j].product(local[j], G)

    return generic


def _dense_backward(g: Group, ws: Workspace, G: np.ndarray) -> Callable[[], None]:
    assert g.w is not None and g.x is not None
    H, S = ws.tables()
    GH, GS = ws.tables(grad=True)
    n, k = g.n, g.out.size
    X = _view(S, g.x)
    w_rows, x_rows = g.w, g.x
    want_w = any(g.needs[:n])
    want_x = n in g.modes
    x_mode = g.modes.get(n, ADD)
    add_b = _Dest(g, ws, g.arity - 1).put if g.arity % 2 and g.needs[-1] else None
    dX = GS[x_rows.key] if x_rows.contiguous else None
    dW = GH[w_rows.key, 0].reshape(n, k) if w_rows.contiguous else None
    W_view = H[w_rows.key, 0].reshape(n, k).T if w_rows.contiguous else None

    def dense() -> None:
        # The dot row's local derivatives are the other factor (d/dw_i = x_i,
        # d/dx_i = w_i): as matrices, the chain rule is two products.
        if want_w:
            if dW is not None:
                np.add(dW, X() @ G.T, out=dW)  # (n, k): W.T's layout
            else:
                np.add.at(GH[:, 0], w_rows.idx, (X() @ G.T).ravel())
        if want_x:
            W = W_view if W_view is not None else H[w_rows.idx, 0].reshape(n, k).T
            if dX is not None and x_mode == ASSIGN and k == 1:
                np.multiply(W.T, G, out=dX)  # an outer product: BLAS is ~3x slower at it than a broadcast
            elif dX is not None and x_mode == ASSIGN:
                np.matmul(W.T, G, out=dX)
            elif dX is not None:
                np.add(dX, W.T @ G, out=dX)
            else:
                np.add.at(GS, x_rows.idx, W.T @ G)
        if add_b is not None:
            add_b(G)

    return dense


def _sum_backward(g: Group, ws: Workspace, wanted: list[int], G: np.ndarray) -> Callable[[], None]:
    """Every input of a sum gets the output's gradient: one broadcast write for all of them."""
    kind = g.kinds[wanted[0]]
    table = ws.tables(grad=True)[kind]
    idx = g.idx[wanted]  # (len, k)
    flat = Rows(idx)
    per_sample_into_shared = kind == SHARED and g.out_kind == SAMPLE
    mode = g.modes[wanted[0]] if kind == SAMPLE else (ADD if flat.unique else ADD_AT)
    shape = (len(wanted), idx.shape[1], table.shape[1])
    if flat.contiguous:
        dst = table[flat.key].reshape(shape)

        def contiguous() -> None:
            c = G.sum(axis=1, keepdims=True) if per_sample_into_shared else G
            if mode == ASSIGN:
                dst[...] = c
            else:
                np.add(dst, c, out=dst)

        return contiguous
    flat_idx = flat.idx

    def scattered() -> None:
        c = G.sum(axis=1, keepdims=True) if per_sample_into_shared else G
        block = np.broadcast_to(c, shape).reshape(-1, table.shape[1])
        if mode == ASSIGN:
            table[flat_idx] = block
        elif mode == ADD:
            table[flat_idx] += block
        else:
            np.add.at(table, flat_idx, block)

    return scattered


__all__ = ["SAMPLE", "SHARED", "Group", "Program", "Rows", "Workspace", "build", "describe_difference",
           "signature", "walk"]
