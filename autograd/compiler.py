"""Compiled batch mode: trace a per-sample function once, replay it over a batch with numpy.

``compile(fn)`` returns a :class:`Compiled` function. On its first call it
traces ``fn`` on one sample into a flat tape of op-table rows and argument
slots, checks on a few more samples that the tape does not depend on the data,
and groups independent instructions of the same op into one numpy call each
(the neurons of a layer become one matrix product). Forward and backward then
run over the whole batch; the local derivatives come from the same op-table
rules as the scalar engine (``NUMPY_MATH``), so kinks follow the same
conventions.

Slots live in two tables: per-sample slots (one row of N numbers) and shared
slots (one number: parameters, constants, and everything computed from them
alone, such as an L2 penalty, which is therefore evaluated once per batch).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd.engine import CONSTANT, Value, topological_order
from chainrule.autograd.modes import enable_grad
from chainrule.autograd.ops import NUMPY_MATH, Op

SHARED = 0
SAMPLE = 1
Slot = tuple[int, int]  # (SHARED or SAMPLE, index in that table)


class DataDependentGraphError(ValueError):
    """The traced graph differs between samples: fn branches on (or reads) ``.data``."""


class _Rows:
    """Rows of a slot table: a slice when they are contiguous (numpy views, no copies), else an index array."""

    __slots__ = ("key", "size", "unique")

    def __init__(self, idx: Sequence[int] | np.ndarray) -> None:
        arr = np.asarray(idx, dtype=np.intp).ravel()
        self.size = len(arr)
        self.unique = len(np.unique(arr)) == self.size
        contiguous = self.size > 0 and bool(np.all(np.diff(arr) == 1))
        self.key: slice | np.ndarray = slice(int(arr[0]), int(arr[-1]) + 1) if contiguous else arr

    def add(self, table: np.ndarray, contribution: Any) -> None:
        """Add contribution (broadcast to these rows) into table; repeated rows add up."""
        c = np.broadcast_to(contribution, (self.size, table.shape[1]))
        if self.unique:
            table[self.key] += c
        else:
            np.add.at(table, self.key, c)  # type: ignore[arg-type]  # not unique, so an array


@dataclass
class _Group:
    """Independent instructions of one op with the same argument kinds: one numpy call."""

    op: Op
    out_kind: int
    out: _Rows
    arg_kinds: tuple[int, ...]
    args: list[_Rows]
    # The argument positions reading each table, concatenated, so all of a
    # group's contributions to one table are added in one call.
    by_kind: dict[int, tuple[list[int], _Rows]] = field(default_factory=dict)
    # A dense dot (a layer): out = W @ X (+ b), W (k, n) from shared slots
    # (stored as W.T), X (n, N) per-sample slots read by every row.
    dense: bool = False
    n: int = 0
    w: _Rows | None = None
    x: _Rows | None = None
    cache: list[Any] = field(default_factory=list)


def _group(nodes: list[Value], slots: dict[Value, Slot]) -> _Group:
    op = nodes[0]._op
    assert op is not None
    args = [[slots[p] for p in node.parents] for node in nodes]
    arity = len(args[0])
    arg_kinds = tuple(k for k, _ in args[0])
    arg_idx = [np.array([a[j][1] for a in args], dtype=np.intp) for j in range(arity)]
    group = _Group(op, slots[nodes[0]][0], _Rows([slots[v][1] for v in nodes]), arg_kinds,
                   [_Rows(ix) for ix in arg_idx])
    for table in (SHARED, SAMPLE):
        positions = [j for j, k in enumerate(arg_kinds) if k == table]
        if positions:
            group.by_kind[table] = (positions, _Rows(np.concatenate([arg_idx[j] for j in positions])))
    n = arity // 2
    if (
        op.name == "dot"
        and n > 0
        and group.out_kind == SAMPLE
        and all(k == SHARED for k in arg_kinds[:n])
        and all(k == SAMPLE for k in arg_kinds[n : 2 * n])
        and all(len(set(ix.tolist())) == 1 for ix in arg_idx[n : 2 * n])
    ):
        group.dense = True
        group.n = n
        group.w = _Rows(np.stack(arg_idx[:n]))  # W.T, (n, k)
        group.x = _Rows([ix[0] for ix in arg_idx[n : 2 * n]])
    return group


@dataclass
class _Program:
    """A traced tape, grouped for numpy."""

    input_slots: list[tuple[int, int | None, int]]  # (argument index, column or None, sample slot)
    n_sample: int
    shared_values: np.ndarray  # constants filled in; leaves refreshed at every call
    leaves: list[Value]
    leaf_rows: _Rows
    groups: list[_Group]
    outs: list[Slot]  # one per Value fn returns
    graph: list[Value]


def _signature(order: Sequence[Value], slots: dict[Value, Slot]) -> tuple[Any, ...]:
    """What must match between two traces: ops, wiring, constants and captured leaves."""
    sig: list[Any] = []
    for node in order:
        if node._op is not None:
            sig.append((node._op, tuple(slots[p] for p in node.parents)))
        elif node.role is CONSTANT:
            sig.append(("const", repr(node.data)))
        else:
            sig.append(("leaf", slots[node]))
    return tuple(sig)


class Compiled:
    """A per-sample function of scalar Values, compiled for batches.

    Args:
        fn: takes one argument per input array and returns a Value. An input
            given as an (N,) array arrives as one Value per sample; an (N, k)
            array as a list of k Values. Values it uses that are not inputs
            (a model's parameters) are shared by all samples and receive
            gradients; plain numbers are constants.
        probes: how many samples are traced to check that the graph does not
            depend on the data (first, last and evenly spaced rows).
    """

    def __init__(self, fn: Callable[..., Value], *, probes: int = 4) -> None:
        if not callable(fn):
            raise TypeError(f"compile() expects a function, got {type(fn).__name__}")
        if probes < 1:
            raise ValueError(f"compile() probes must be >= 1, got {probes}")
        self.fn = fn
        self.probes = probes
        self._programs: dict[tuple[Any, ...], _Program] = {}
        self._scalar = True  # fn returns one Value (else a list), known after the first trace
        try:
            self._names = [p.name for p in inspect.signature(fn).parameters.values()]
        except (TypeError, ValueError):
            self._names = []

    # -- inputs ---------------------------------------------------------------

    def _arrays(self, arrays: Sequence[Any]) -> list[np.ndarray]:
        if not arrays:
            raise TypeError("a compiled function needs at least one input array")
        result = []
        n = None
        for i, a in enumerate(arrays):
            try:
                arr = np.asarray(a, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"input {i}: expected an array of numbers ({exc})") from None
            if arr.ndim not in (1, 2):
                raise ValueError(f"input {i}: expected shape (N,) or (N, k), got {arr.shape}")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ValueError(f"input {i} has {arr.shape[0]} samples but input 0 has {n}")
            result.append(arr)
        if not n:
            raise ValueError("a compiled function needs at least one sample")
        return result

    def _name(self, i: int) -> str:
        return self._names[i] if i < len(self._names) else f"input{i}"

    def _placeholders(
        self, arrays: list[np.ndarray], row: int
    ) -> tuple[list[Any], list[tuple[Value, int, int | None]]]:
        args: list[Any] = []
        leaves: list[tuple[Value, int, int | None]] = []
        for i, arr in enumerate(arrays):
            if arr.ndim == 1:
                v = Value(arr[row], self._name(i))
                args.append(v)
                leaves.append((v, i, None))
            else:
                vs = [Value(arr[row, j], f"{self._name(i)}[{j}]") for j in range(arr.shape[1])]
                args.append(vs)
                leaves.extend((v, i, j) for j, v in enumerate(vs))
        return args, leaves

    def _call(self, args: list[Any]) -> list[Value]:
        with enable_grad():
            out = self.fn(*args)
        outs = [out] if isinstance(out, Value) else list(out) if isinstance(out, (list, tuple)) else None
        if not outs or not all(isinstance(v, Value) for v in outs):
            raise TypeError(f"a compiled function must return a Value or a list of Values, got {out!r:.80}")
        self._scalar = isinstance(out, Value)
        return outs

    def trace(self, *arrays: Any, row: int = 0) -> Value | list[Value]:
        """Run fn on one sample with the scalar engine and return its graph (for viz.draw)."""
        arrs = self._arrays(arrays)
        args, _ = self._placeholders(arrs, row)
        outs = self._call(args)
        return outs[0] if self._scalar else outs

    # -- tracing and grouping -----------------------------------------------

    def _trace_slots(
        self, arrays: list[np.ndarray], row: int
    ) -> tuple[list[Value], list[Value], dict[Value, Slot], list[tuple[Value, int, int | None]]]:
        """Trace one sample; slots here are provisional, for comparing traces."""
        args, placeholders = self._placeholders(arrays, row)
        outs = self._call(args)
        order = topological_order(outs)
        slots: dict[Value, Slot] = {}
        n_shared = n_sample = 0
        for v, _, _ in placeholders:
            slots[v] = (SAMPLE, n_sample)
            n_sample += 1
        for node in order:
            if node in slots:
                continue
            if node._op is None or all(slots[p][0] == SHARED for p in node.parents):
                slots[node] = (SHARED, n_shared)
                n_shared += 1
            else:
                slots[node] = (SAMPLE, n_sample)
                n_sample += 1
        return outs, order, slots, placeholders

    def _compile(self, arrays: list[np.ndarray]) -> _Program:
        n = arrays[0].shape[0]
        rows = sorted({0, n - 1, *(int(r) for r in np.linspace(0, n - 1, self.probes))})[: max(self.probes, 1)]
        outs, order, slots, placeholders = self._trace_slots(arrays, rows[0])
        signature = (_signature(order, slots), tuple(slots[v] for v in outs))
        for row in rows[1:]:
            other_outs, other_order, other_slots, _ = self._trace_slots(arrays, row)
            other = (_signature(other_order, other_slots), tuple(other_slots[v] for v in other_outs))
            if other != signature:
                raise DataDependentGraphError(self._difference(signature[0], other[0], rows[0], row))

        # Group independent instructions: same table, depth, op and argument kinds.
        kind = {node: slots[node][0] for node in order}
        level: dict[Value, int] = {}
        buckets: dict[tuple[Any, ...], list[Value]] = {}
        for node in order:
            if node._op is None:
                level[node] = 0
                continue
            lv = level[node] = 1 + max((level[p] for p in node.parents if kind[p] == kind[node]), default=0)
            key = (kind[node], lv, id(node._op), tuple(kind[p] for p in node.parents))
            buckets.setdefault(key, []).append(node)
        members = [nodes for _, nodes in sorted(buckets.items(), key=lambda kv: kv[0][:2])]

        # Lay slots out so each group reads and writes contiguous rows (numpy
        # views, no copies): walk from the output back, ranking each node by
        # where its consumers first read it, then number the slots group by group.
        # Arguments are ranked position by position, so a layer's weights lie
        # column by column: W.T is one contiguous block.
        rank: dict[Value, int] = {v: i for i, v in enumerate(dict.fromkeys(outs))}
        for nodes in reversed(members):
            nodes.sort(key=lambda v: rank.get(v, len(rank)))
            for j in range(len(nodes[0].parents)):
                for node in nodes:
                    rank.setdefault(node.parents[j], len(rank))
        final: dict[Value, Slot] = {}
        counts = [0, 0]

        def place(node: Value, table: int) -> None:
            if node not in final:
                final[node] = (table, counts[table])
                counts[table] += 1

        for v, _, _ in placeholders:
            place(v, SAMPLE)
        for leaf in sorted((v for v in order if v._op is None), key=lambda v: rank.get(v, len(rank))):
            place(leaf, kind[leaf])
        for nodes in members:
            for node in nodes:
                place(node, kind[node])

        shared_values = np.zeros(counts[SHARED])
        leaves = [v for v in order if v._op is None and kind[v] == SHARED and v.role is not CONSTANT]
        for v in order:
            if v._op is None and kind[v] == SHARED and v.role is CONSTANT:
                shared_values[final[v][1]] = v.data
        leaves.sort(key=lambda v: final[v][1])
        groups = [_group(nodes, final) for nodes in members]
        input_slots = [(i, j, final[v][1]) for v, i, j in placeholders]
        return _Program(input_slots, counts[SAMPLE], shared_values, leaves, _Rows([final[v][1] for v in leaves]),
                        groups, [final[v] for v in outs], outs)

    @staticmethod
    def _difference(a: tuple[Any, ...], b: tuple[Any, ...], row_a: int, row_b: int) -> str:
        def show(step: Any) -> str:
            if step[0] == "const":
                return f"the constant {step[1]}"
            if step[0] == "leaf":
                return "a leaf"
            return f"op '{step[0].name}'"

        for k, (x, y) in enumerate(zip(a, b)):
            if x != y:
                detail = f"at step {k} sample {row_a} has {show(x)} but sample {row_b} has {show(y)}"
                break
        else:
            detail = f"sample {row_a} has {len(a)} steps but sample {row_b} has {len(b)}"
        return (
            f"compile(): the traced graph depends on the input data ({detail}). "
            "The function must build the same graph for every sample: no Python `if` on .data and no "
            "numbers taken from .data; use ops such as relu, maximum, minimum or clamp instead."
        )

    # -- running ----------------------------------------------------------------

    def _program(self, arrays: list[np.ndarray]) -> _Program:
        spec = tuple(a.shape[1] if a.ndim == 2 else None for a in arrays)
        program = self._programs.get(spec)
        if program is None:
            program = self._programs[spec] = self._compile(arrays)
        return program

    def _forward(self, program: _Program, arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        n = arrays[0].shape[0]
        shared = program.shared_values.copy()
        if program.leaves:
            shared[program.leaf_rows.key] = [leaf.data for leaf in program.leaves]
        H = shared[:, None]
        S = np.empty((program.n_sample, n))
        for i, j, slot in program.input_slots:
            S[slot] = arrays[i] if j is None else arrays[i][:, j]
        tables = (H, S)
        with np.errstate(all="ignore"):
            for g in program.groups:
                if g.dense:
                    assert g.w is not None and g.x is not None
                    W = H[g.w.key, 0].reshape(g.n, -1).T
                    X = S[g.x.key]
                    out = W @ X
                    if len(g.args) % 2:  # the bias
                        out += tables[g.arg_kinds[-1]][g.args[-1].key]
                    g.cache = [W, X]
                else:
                    g.cache = [tables[k][rows.key] for k, rows in zip(g.arg_kinds, g.args)]
                    out = g.op.forward(NUMPY_MATH, *g.cache)
                tables[g.out_kind][g.out.key] = out
        return H, S

    def __call__(self, *arrays: Any) -> np.ndarray:
        """Return fn's output for every sample: shape (N,) for a Value, (N, k) for a list of k Values."""
        arrs = self._arrays(arrays)
        program = self._program(arrs)
        H, S = self._forward(program, arrs)
        n = arrs[0].shape[0]
        columns = [S[idx] if kind == SAMPLE else np.full(n, H[idx, 0]) for kind, idx in program.outs]
        return np.array(columns[0]) if len(program.graph) == 1 and self._scalar else np.stack(columns, axis=1)

    def backward(self, *arrays: Any, reduction: str = "mean", gradient: float = 1.0) -> float:
        """Reduce fn's outputs over the batch to one loss; add d(loss)/d(leaf) into each shared leaf's ``.grad``.

        Args:
            arrays: the batch, as for calling the function.
            reduction: "mean" or "sum" of the per-sample outputs.
            gradient: the seed d(total)/d(loss), as for ``Value.backward``.

        Returns:
            The loss (a float).
        """
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        arrs = self._arrays(arrays)
        program = self._program(arrs)
        if not self._scalar:
            raise TypeError(f"backward() needs fn to return one Value (a loss); it returns {len(program.outs)}")
        n = arrs[0].shape[0]
        H, S = self._forward(program, arrs)
        grads = (np.zeros_like(H), np.zeros_like(S))
        tables = (H, S)
        kind, idx = program.outs[0]
        scale = gradient / n if reduction == "mean" else float(gradient)
        if kind == SAMPLE:
            loss = float(S[idx].sum())
        else:
            loss = float(H[idx, 0]) * n
        grads[kind][idx] = scale * (n if kind == SHARED else 1)
        if reduction == "mean":
            loss /= n
        with np.errstate(all="ignore"):
            for g in reversed(program.groups):
                G = grads[g.out_kind][g.out.key]
                if g.dense:
                    # The dot row's local derivatives are the other factor
                    # (d/dw_i = x_i, d/dx_i = w_i): as matrices, the chain rule is two products.
                    assert g.w is not None and g.x is not None
                    W, X = g.cache
                    g.w.add(grads[SHARED], (X @ G.T).reshape(-1, 1))  # d/dW.T
                    g.x.add(grads[SAMPLE], W.T @ G)
                    if len(g.args) % 2:
                        _add(grads, g.arg_kinds[-1], g.args[-1], G)
                    continue
                out = tables[g.out_kind][g.out.key]
                if g.op.arity is None:
                    local = g.op.grads(NUMPY_MATH, out, *g.cache)  # type: ignore[operator]
                else:
                    local = [rule(NUMPY_MATH, out, *g.cache) for rule in g.op.grads]  # type: ignore[union-attr]
                for table, (positions, rows) in g.by_kind.items():
                    if len(positions) == 1:
                        contribution = local[positions[0]] * G
                    else:
                        terms = [local[j] for j in positions]
                        if all(isinstance(t, float) for t in terms):  # e.g. sum's 1.0s: no broadcasting
                            stacked = np.array(terms)[:, None, None]
                        else:
                            stacked = np.stack(np.broadcast_arrays(*terms, G)[:-1])
                        contribution = (stacked * G).reshape(-1, G.shape[1])
                    _add(grads, table, rows, contribution)
        if program.leaves:
            leaf_grads = grads[SHARED][program.leaf_rows.key, 0]
            for leaf, lg in zip(program.leaves, leaf_grads.tolist()):
                leaf.grad += lg
        return loss

    @property
    def graph(self) -> Value | list[Value] | None:
        """The scalar graph of the first traced sample (None before the first call)."""
        for program in self._programs.values():
            return program.graph[0] if self._scalar else program.graph
        return None


def _add(grads: tuple[np.ndarray, np.ndarray], table: int, rows: _Rows, contribution: Any) -> None:
    """Add a group's contribution to the gradients of its arguments in one table."""
    c = np.asarray(contribution)
    if table == SHARED and c.ndim == 2 and c.shape[1] != 1:
        c = c.sum(axis=1, keepdims=True)  # a shared slot: its gradient sums over the batch
    rows.add(grads[table], c)


def compile(fn: Callable[..., Value], *, probes: int = 4) -> Compiled:  # noqa: A001 - mirrors torch.compile
    """Compile a per-sample function of scalar Values for batches (see :class:`Compiled`)."""
    return Compiled(fn, probes=probes)


__all__ = ["Compiled", "DataDependentGraphError", "compile"]
