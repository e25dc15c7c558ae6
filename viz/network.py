"""The network view: a graph made by ``nn`` modules drawn as the course notes draw a network.

One column per layer and one circle per neuron (inputs, hidden neurons and
outputs styled apart), one edge per weight from the neuron or input it
multiplies to the neuron it feeds, each bias as a small square on its neuron,
and the loss after the outputs. Every weight edge is coloured by its dL/dw on
the diagrams' one colour scale (hue: sign; darker and thicker: larger |dL/dw|),
so a vanishing layer is pale and thin, an exploding one dark and thick, and a
dead ReLU's edges are dotted grey (dL/dw exactly 0). Each neuron shows its
output value and dL/d(output).

Everything comes from the recorded graph (:class:`viz.trace.Trace`), never
from the model object: a neuron is a ``dot`` node whose weights are parameters
(``nn.Neuron`` makes one per call), its activation is the unary op of the same
module that consumes it, and the columns follow from which neuron feeds which.

A batch loss (several samples through the model) holds one copy of every
neuron per sample, and the samples share the parameters. The weight edges and
bias squares show the parameters' gradients, summed over every sample (what
``backward()`` leaves in ``p.grad``); the circles show one sample's values and
gradients (``sample=0``, the first in the graph), and the legend says which.

Positions are computed here and pinned (Graphviz's ``neato`` layout with
``pos="x,y!"``), so both renderers draw the same picture and its size is known
before rendering. Edge gradients' numbers are written on the edges when a layer
has few enough of them to stay readable, else only in each edge's tooltip.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chainrule.viz.glyphs import text_width
from chainrule.viz.theme import Theme
from chainrule.viz.trace import CONSTANT_ROLE, PARAMETER_ROLE, Trace

if TYPE_CHECKING:
    from chainrule.viz.diagram import Diagram

__all__ = ["Network", "NotANetworkError", "Unit", "find_network"]

# Ops an unscoped neuron (an nn.Neuron called on its own) may take as its activation.
_ACTIVATIONS = frozenset({"tanh", "sigmoid", "relu", "leaky_relu", "softplus", "elu", "gelu", "silu"})


class NotANetworkError(ValueError):
    """The graph has no neurons made by ``nn`` modules, or they can't be drawn as a network."""


@dataclass(slots=True)
class Unit:
    """One circle of the network view: an input or a neuron (values from the drawn sample).

    Attributes:
        kind: "input" or "neuron".
        name: a neuron's module path ("layers.0.neurons.3"); an input's label, or "x<i>".
        node: trace id of its output (an input's own node).
        column: 0 for inputs, then one per layer, left to right.
        row: position in its column, top to bottom.
        dot: a neuron's pre-activation node (``dot(w, x, bias=b)``); -1 for an input.
        chain: a neuron's activation nodes after ``dot`` (usually one; none for "linear").
        activation: the activation's op names joined by "+" ("linear" for none).
        weights: the neuron's weight parameters' node ids, ``w.0 ... w.<n-1>``.
        sources: per weight, the index in :attr:`Network.units` of the unit it multiplies.
        bias: the bias parameter's node id, or None.
        output: a neuron no other neuron reads (an output of the network).
        blocked: why its activation passes (almost) no gradient in this sample ("dead relu"), or None.
    """

    kind: str
    name: str
    node: int
    column: int = 0
    row: int = 0
    dot: int = -1
    chain: list[int] = field(default_factory=list)
    activation: str = ""
    weights: list[int] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    bias: int | None = None
    output: bool = False
    blocked: str | None = None


@dataclass(slots=True)
class Network:
    """The network found in a trace.

    Attributes:
        units: inputs then neurons, in column and row order.
        columns: unit indices per column (column 0: the inputs).
        loss: trace id of the output when it comes after the network's outputs (a loss), else None.
        samples: how many samples went through the network (copies of each neuron).
        sample: which sample's values the circles show (0: the first in the graph).
        tail_ops: ops after the network's outputs (the loss), over all samples.
        direct_parameters: parameters that also feed the loss directly (an L2 penalty), not only the neurons.
    """

    units: list[Unit]
    columns: list[list[int]]
    loss: int | None
    samples: int
    sample: int
    tail_ops: int
    direct_parameters: int

    def neurons(self) -> list[Unit]:
        """Return the neurons (not the inputs), in column and row order."""
        return [u for u in self.units if u.kind == "neuron"]


def _natural(text: str) -> list[object]:
    """Sort key that puts "neurons.10" after "neurons.9"."""
    return [int(part) if part.isdecimal() else part for part in re.split(r"(\d+)", text)]


@dataclass(slots=True)
class _Instance:
    key: tuple[int, ...]
    dot: int
    chain: list[int]
    weights: list[int]
    inputs: list[int]
    bias: int | None

    @property
    def out(self) -> int:
        return self.chain[-1] if self.chain else self.dot


def _instances(tr: Trace) -> list[_Instance]:
    """Every call of a neuron: a dot node whose weights are parameters, and its activation chain."""
    nodes, edges = tr.nodes, tr.edges
    ins, outs = tr.in_edges(), tr.out_edges()
    found: list[_Instance] = []
    for n in nodes:
        if n.op != "dot":
            continue
        parents = [edges[i].parent for i in ins[n.id]]
        m = len(parents) // 2
        weights = parents[:m]
        if not m or any(nodes[w].role != PARAMETER_ROLE for w in weights):
            continue
        bias = parents[2 * m] if len(parents) % 2 else None
        if bias is not None and nodes[bias].role != PARAMETER_ROLE:
            continue
        chain: list[int] = []
        current = n.id
        while len(outs[current]) == 1:
            child = nodes[edges[outs[current][0]].child]
            if len(ins[child.id]) != 1 or child.scope != n.scope:
                break
            if n.scope is None and child.op not in _ACTIVATIONS:
                break
            chain.append(child.id)
            current = child.id
        key = (*weights, -1 if bias is None else bias)
        found.append(_Instance(key, n.id, chain, weights, parents[m : 2 * m], bias))
    return found


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def find_network(tr: Trace, *, sample: int = 0) -> Network:
    """Find the network of ``nn`` neurons in a trace.

    Args:
        tr: the traced graph.
        sample: which sample's neuron values to take, when several samples went
            through the network (0: the first in the graph's order).

    Returns:
        The :class:`Network`.

    Raises:
        NotANetworkError: no neuron in the graph, a neuron called more than once
            in one sample, or ``sample`` out of range.
    """
    nodes = tr.nodes
    found = _instances(tr)
    ins = tr.in_edges()
    if not found:
        raise NotANetworkError(
            "the network view needs neurons made by nn modules (dot(w, x, bias=b) nodes whose weights are "
            "parameters); this graph has none: draw it with view='scalar'"
        )
    # Samples: the neurons' forward nodes and their inputs, joined through the inputs (not the shared
    # parameters): each connected group is one pass through the network.
    parent = list(range(len(nodes)))
    for inst in found:
        root = _find(parent, inst.dot)
        for other in (*inst.chain, *inst.inputs):
            r = _find(parent, other)
            if r != root:
                parent[r] = root
    group_of: dict[int, int] = {}
    for inst in found:
        group_of.setdefault(_find(parent, inst.dot), len(group_of))
    samples = len(group_of)
    if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < samples:
        raise NotANetworkError(f"sample must be an int from 0 to {samples - 1} (the graph holds {samples} "
                               f"sample{'s' if samples != 1 else ''}), got {sample!r}")
    chosen = [inst for inst in found if group_of[_find(parent, inst.dot)] == sample]
    seen: dict[tuple[int, ...], _Instance] = {}
    for inst in chosen:
        if inst.key in seen:
            name = nodes[inst.dot].scope or nodes[inst.weights[0]].label or f"#{inst.dot}"
            raise NotANetworkError(f"the network view draws each neuron once per sample, but neuron {name!r} is "
                                   "called more than once in one forward pass; draw it with view='scalar'")
        seen[inst.key] = inst

    # Units: inputs (whatever feeds a neuron and is not a neuron's output) and neurons.
    unit_of_out = {inst.out: k for k, inst in enumerate(chosen)}
    column = [0] * len(chosen)
    for k, inst in enumerate(chosen):  # chosen is in topological order: sources come first
        column[k] = 1 + max((column[unit_of_out[i]] for i in inst.inputs if i in unit_of_out), default=0)
    read = {i for inst in chosen for i in inst.inputs}
    order = sorted(range(len(chosen)), key=lambda k: (column[k], _natural(nodes[chosen[k].dot].scope or ""),
                                                       chosen[k].dot))
    inputs: list[int] = []  # trace ids, in order of first use by the neurons (top to bottom)
    for k in order:
        for i in chosen[k].inputs:
            if i not in unit_of_out and i not in inputs:
                inputs.append(i)
    units: list[Unit] = []
    index: dict[int, int] = {}  # trace id of a unit's output -> unit index
    for j, i in enumerate(inputs):
        index[i] = len(units)
        units.append(Unit("input", nodes[i].label or f"x{j}", i, 0, j))
    columns: list[list[int]] = [list(range(len(units)))]
    for k in order:
        inst = chosen[k]
        scope = nodes[inst.dot].scope
        name = scope or _common_path([nodes[w].label for w in inst.weights]) or f"neuron {len(units) - len(inputs)}"
        while len(columns) <= column[k]:
            columns.append([])
        unit = Unit(
            "neuron", name, inst.out, column[k], len(columns[column[k]]), inst.dot, inst.chain,
            "+".join(nodes[c].op for c in inst.chain) or "linear", inst.weights,
            [index[i] for i in inst.inputs], inst.bias, inst.out not in read,
        )
        blockers = [tr.edges[i].blocker for c in inst.chain for i in ins[c] if tr.edges[i].blocker]
        unit.blocked = blockers[0] if blockers else None
        index[inst.out] = len(units)
        columns[column[k]].append(len(units))
        units.append(unit)
    # Inputs feeding only later columns still sit in column 0: the picture reads left to right.
    loss = None if tr.root in index else tr.root
    in_neurons = {i for inst in found for i in (inst.dot, *inst.chain)}
    tail_ops = sum(1 for n in nodes if n.op and n.id not in in_neurons)
    neuron_of_param = {p for inst in found for p in (*inst.weights, *([] if inst.bias is None else [inst.bias]))}
    direct = {e.parent for e in tr.edges if e.parent in neuron_of_param and e.child not in in_neurons}
    return Network(units, columns, loss, samples, sample, tail_ops, len(direct))


def _common_path(labels: Sequence[str]) -> str:
    """The module path shared by parameter labels ("layers.0.neurons.3.w.0", ... -> "layers.0.neurons.3")."""
    parts = [label.split(".") for label in labels if label]
    if not parts:
        return ""
    common: list[str] = []
    for group in zip(*parts):
        if len(set(group)) != 1:
            break
        common.append(group[0])
    while common and (common[-1] in ("w", "b") or (common[-1].isdigit() and len(common) > 1 and common[-2] == "w")):
        common.pop()
    return ".".join(common)


def is_network(tr: Trace) -> bool:
    """Tell whether a trace holds neurons made by ``nn`` modules (so the network view can draw it).

    Args:
        tr: the traced graph.

    Returns:
        True when some ``dot`` node's weights are parameters.
    """
    return bool(_instances(tr))


# ----------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------

# Geometry, in points (1 pt = 4/3 px at 96 dpi): the picture fits 1600 x 1000 px.
_WIDTH = 1180.0
_HEIGHT = 715.0
_PAD = 11.0  # Graphviz's pad=0.15 in
_TITLES = 34.0  # the band above the columns for their titles
_MAX_PITCH = 100.0
_MIN_PITCH = 40.0
_DOT_PITCH = 9.0  # the least distance between two neurons drawn as dots (columns too tall for numbers)
_LABEL_H = 11.0  # the box of a number on an edge
_EDGE_LABELS = 24  # at most this many numbers between two columns
_LEGEND_FONT = 8.5


def _text_width(text: str, size: float) -> float:
    """The width Graphviz gives one line of Helvetica text, in points (see viz.glyphs)."""
    return text_width(text, size)


def finite(x: float) -> bool:
    """Tell whether x is finite (neither nan nor inf)."""
    return not (math.isnan(x) or math.isinf(x))


def _fmt(number: str, x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return number.format(x + 0.0)


def _sign_class(g: float) -> str:
    if not finite(g):
        return "nonfinite"
    return "zero" if g == 0.0 else "positive" if g > 0 else "negative"


def _tooltip(text: str) -> str:
    from chainrule.viz.diagram import tooltip_text

    return tooltip_text(text)


_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")


class _Ids:
    """SVG ids, unique: a parameter's dotted name, a neuron's module path, else a fallback."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str, fallback: str) -> str:
        name = wanted if wanted and _ID.fullmatch(wanted) else fallback
        while name in self.used:
            name += "_"
        self.used.add(name)
        return name


def _layer_path(names: Sequence[str]) -> str:
    """The layer of a column's neurons: "layers.0" for "layers.0.neurons.3" and its siblings."""
    parents = []
    for name in names:
        parts = name.split(".")
        parents.append(".".join(parts[:-2]) if len(parts) > 2 and parts[-1].isdigit() else name)
    if len(set(parents)) == 1:
        return parents[0]
    return _common_path([p + ".w.0" for p in parents])


def _label_x(lines: list[tuple[float, float, float, float]], lo: float, hi: float, need: float) -> float | None:
    """Where the numbers of the edges into one column go: one vertical line x, crossed by every edge.

    Each edge (x_tail, y_tail, x_head, y_head) crosses x at its own height. Return the x nearest the heads
    (so a number sits next to the neuron it feeds) at which every two edges cross at least ``need`` apart,
    scanning from ``hi`` down to ``lo``; None if there is no such x.
    """
    steps = 40
    for i in range(steps + 1):
        x = hi - (hi - lo) * i / steps
        ys = sorted(ya + (x - xa) / (xb - xa) * (yb - ya) for xa, ya, xb, yb in lines)
        if all(b - a >= need for a, b in itertools.pairwise(ys)):
            return x
    return None


# A neuron drawn in detail: its scalar graph in a panel (sizes in points).
_ROW = 27.0  # one weight, input or bias box per row
_BOX_W = 92.0
_DOT_W = 78.0
_ACT_W = 78.0
_PANEL_FONT = 8.0


@dataclass(slots=True)
class _Panel:
    """The geometry of a neuron drawn in detail: boxes w.i above x.i (and b) feeding its dot node, then its
    activation, every edge horizontal and labelled with its chain-rule term."""

    rows: list[tuple[str, int]]  # ("w", i), ("x", i), ("b", 0), top to bottom
    box_w: float  # the weight, input and bias boxes
    label_gap: float  # between the boxes and the dot node, room for the edge terms
    act_gap: float  # between the dot node and the activation
    width: float
    height: float


def _panel(u: Unit, tr: Trace, theme: Theme, sources: list[str]) -> _Panel:
    rows = [(kind, i) for i in range(len(u.weights)) for kind in ("w", "x")]
    if u.bias is not None:
        rows.append(("b", 0))
    terms = _panel_terms(u, tr, theme)
    label_gap = max(text_width(t, _PANEL_FONT) for t, _, _ in terms.values()) + 24
    act_gap = 0.0
    if u.chain:
        act_gap = max(text_width(t, _PANEL_FONT) for t, _, _ in _chain_terms(u, tr, theme)) + 24
    nodes = tr.nodes
    texts = [f"from {name}" for name in sources]
    texts += [f"w.{i} {theme.fmt(nodes[w].data)}" for i, w in enumerate(u.weights)]
    texts += [f"grad {theme.fmt(nodes[p].grad)}" for p in (*u.weights, *([] if u.bias is None else [u.bias]))]
    box_w = max(_BOX_W, 1.12 * max(text_width(t, _PANEL_FONT) for t in texts) + 16)  # Pango measures wider
    width = box_w + label_gap + _DOT_W + len(u.chain) * (act_gap + _ACT_W)
    return _Panel(rows, box_w, label_gap, act_gap, width, len(rows) * _ROW + 22)


def _panel_terms(u: Unit, tr: Trace, theme: Theme) -> dict[tuple[str, int], tuple[str, int, str]]:
    """Per row of a panel: the label of its edge into the dot node, the trace edge's index, its tooltip."""
    ins = tr.in_edges()[u.dot]
    m = len(u.weights)
    arrow = "<-"
    out: dict[tuple[str, int], tuple[str, int, str]] = {}
    for row, index in [(("w", i), ins[i]) for i in range(m)] + [(("x", i), ins[m + i]) for i in range(m)] + (
        [(("b", 0), ins[2 * m])] if u.bias is not None else []
    ):
        e = tr.edges[index]
        local, up = e.local if e.local is not None else 0.0, e.upstream
        term = e.contribution if e.contribution is not None else 0.0
        label = f"{arrow} {theme.fmt(local)} * {theme.fmt(up)} = {theme.fmt(term)}"
        what = {"w": f"w.{row[1]}", "x": f"x.{row[1]}", "b": "b"}[row[0]]
        tip = (f"dz/d{what} = {theme.fmt(local)} (local derivative of z = w.x + b); the gradient flows back from z "
               f"to {what}: {theme.fmt(local)} * {theme.fmt(up)} = {theme.fmt(term)}")
        out[row] = (label, index, tip)
    return out


def _chain_terms(u: Unit, tr: Trace, theme: Theme) -> list[tuple[str, int, str]]:
    """The activation chain's edges: label, trace edge index, tooltip."""
    ins = tr.in_edges()
    out = []
    for c in u.chain:
        (index,) = ins[c]
        e = tr.edges[index]
        local = e.local if e.local is not None else 0.0
        term = e.contribution if e.contribution is not None else 0.0
        label = f"<- {theme.fmt(local)} * {theme.fmt(e.upstream)} = {theme.fmt(term)}"
        if e.blocker:
            label = f"{e.blocker}: {label}"
        tip = (f"d{tr.nodes[c].op}/dz = {theme.fmt(local)} (local derivative); the gradient flows back: "
               f"{theme.fmt(local)} * {theme.fmt(e.upstream)} = {theme.fmt(term)}")
        out.append((label, index, tip))
    return out


@dataclass(slots=True)
class _Layout:
    diameter: float  # of a circle that holds its numbers
    diameters: list[float]  # per column: the diameter, or a small dot's where a column is too tall for numbers
    font: float
    number: str  # format of the numbers in circles and on edges
    x: list[float]  # per column, its centre
    width: list[float]  # per column
    y: list[float]  # per unit, its centre
    panels: dict[int, _Panel]  # unit -> its detail panel

    def out_anchor(self, net: Network, k: int) -> tuple[float, float, float]:
        """Where a unit's outgoing edges start (x, y) and its half-width there."""
        u = net.units[k]
        x, y = self.x[u.column], self.y[k]
        panel = self.panels.get(k)
        if panel is None:
            return x, y, self.diameters[u.column] / 2
        right = x + panel.width / 2
        half = (_ACT_W if u.chain else _DOT_W) / 2
        return right - half, y, half

    def in_anchor(self, net: Network, k: int, i: int) -> tuple[float, float, float]:
        """Where the edge of a unit's input i ends (x, y) and the half-width there (a panel's input box: the
        middle of its left side, where the edge's ``headport="w"`` ends it)."""
        u = net.units[k]
        x, y = self.x[u.column], self.y[k]
        panel = self.panels.get(k)
        if panel is None:
            return x, y, self.diameters[u.column] / 2
        return x - panel.width / 2, _row_y(panel, y, ("x", i)), 0.0


def _row_y(panel: _Panel, centre: float, row: tuple[str, int]) -> float:
    top = centre + panel.height / 2 - 22
    return top - (panel.rows.index(row) + 0.5) * _ROW


def _legend_lines(net: Network, tr: Trace, detailed: bool, dots: bool) -> list[str]:
    """What the network legend says: only what the picture holds."""
    nodes = tr.nodes
    units = net.units
    several = net.samples > 1
    lines = ["circle: a neuron; its output value (bold)", "   and dL/d(output) (italic)"
             + (f", for sample {net.sample + 1} of {net.samples}" if several else "")]
    if any(u.output for u in units):
        lines.append("double circle: an output neuron")
    if any(u.kind == "input" for u in units):
        lines.append("dashed grey circle: an input")
    lines.append("edge: one weight w, coloured by dL/dw")
    if several:
        lines.append(f"   summed over all {net.samples} samples (w.grad)")
    if any(u.bias is not None for u in units):
        lines.append("square b: the bias, coloured by dL/db")
    if any(nodes[w].grad == 0.0 for u in units for w in u.weights):
        lines.append("dotted grey edge: dL/dw = 0 exactly")
    if any(sum(len(net.units[k].weights) for k in column) > _EDGE_LABELS for column in net.columns):
        lines.append("edges run left to right (arrowheads left out")
        lines.append("   where many meet)")
    if any(u.blocked for u in units):
        lines.append("dashed circle: blocks the gradient")
        lines.append("   (a dead ReLU or a saturated unit)")
    if dots:
        lines.append("small circles: too many to write in; hover")
        lines.append("   over one for its numbers")
    if detailed:
        lines.append("dashed frame: a neuron in detail, its scalar")
        lines.append("   graph: <- d * g = term on every edge")
        if several:
            lines.append("   (terms and values of the drawn sample)")
    return lines


def _layout(net: Network, theme: Theme, panels: dict[int, _Panel], legend_width: float, loss_width: float) -> _Layout:
    avail = _HEIGHT - 2 * _PAD - _TITLES
    tallest = max(len(c) for c in net.columns)
    pitch_min = min(_MAX_PITCH, max(_MIN_PITCH, avail / tallest))
    diameter = min(64.0, pitch_min - 6.0)
    font = 9.0 if diameter >= 50 else 8.0 if diameter >= 42 else 7.5
    number = "{:.3g}" if diameter >= 50 else "{:.2g}"
    ncols = len(net.columns)
    room = _WIDTH - 2 * _PAD - diameter - (legend_width + 24 if legend_width else 0)
    if net.loss is not None:
        room -= loss_width + 40
    centre_gap = min(240.0, max(120.0, room / max(1, ncols - 1)))  # between the centres of two circle columns
    widths = [max([diameter] + [panels[k].width for k in column if k in panels]) for column in net.columns]
    x = [0.0] * ncols
    for c in range(1, ncols):
        x[c] = x[c - 1] + widths[c - 1] / 2 + (centre_gap - diameter) + widths[c] / 2
    y = [0.0] * len(net.units)
    diameters = []
    for column in net.columns:
        if avail / len(column) >= _MIN_PITCH or any(k in panels for k in column):
            pitch = min(_MAX_PITCH, max(pitch_min, avail / len(column)))
            diameters.append(diameter)
        else:  # too many neurons for circles with numbers: small dots, their numbers in the tooltips
            pitch = max(avail / len(column), _DOT_PITCH)
            diameters.append(max(6.0, pitch - 2.5))
        stack = sorted(column, key=lambda k: k in panels)  # panels last: other neurons' edges stay above them
        heights = [panels[k].height + 0.4 * pitch if k in panels else pitch for k in stack]
        top = sum(heights) / 2
        for k, h in zip(stack, heights):
            y[k] = top - h / 2
            top -= h
    lay = _Layout(diameter, diameters, font, number, x, widths, y, panels)
    if panels:
        right = x[-1] + widths[-1] / 2
        _clear_panels(net, lay, None if net.loss is None else right + 40 + loss_width / 2)
    return lay


_CLEARANCE = _LABEL_H  # between a panel and the edges passing above it: room for their numbers


def _segments(net: Network, lay: _Layout, loss_x: float | None) -> list[tuple[float, float, float, float, set[int]]]:
    """Every straight edge between units (and to the loss at (loss_x, 0)): its ends and the units it joins."""
    found = []
    for k, u in enumerate(net.units):
        for i, src in enumerate(u.sources):
            xa, ya, _ = lay.out_anchor(net, src)
            xb, yb, _ = lay.in_anchor(net, k, i)
            found.append((xa, ya, xb, yb, {src, k}))
        if u.output and loss_x is not None:
            xa, ya, _ = lay.out_anchor(net, k)
            found.append((xa, ya, loss_x, 0.0, {k}))
    return found


def _frame(lay: _Layout, net: Network, k: int) -> tuple[float, float, float, float]:
    """A panel's frame as drawn: left, right, bottom, top."""
    panel = lay.panels[k]
    cx, cy = lay.x[net.units[k].column], lay.y[k]
    half = panel.width / 2 + 5.4  # the frame is drawn 0.15 in wider than the panel
    return cx - half, cx + half, cy - panel.height / 2, cy + panel.height / 2


def _clear_panels(net: Network, lay: _Layout, loss_x: float | None) -> None:
    """Lower each panel (the last in its column) until every edge of other units passes above it.

    Edges are straight lines between pinned positions, so they can be checked here: an edge that starts
    above a panel, or crosses the panel's columns above its centre, must clear its top by
    :data:`_CLEARANCE`. Lowering one panel moves its own edges, so this repeats until nothing moves
    (a few rounds).
    """
    for _ in range(4 * len(lay.panels) + 4):
        moved = False
        segments = _segments(net, lay, loss_x)
        for k in lay.panels:
            left, right, _bottom, top = _frame(lay, net, k)
            lowest = math.inf
            for xa, ya, xb, yb, ends in segments:
                if k in ends:
                    continue
                lo, hi = max(min(xa, xb), left), min(max(xa, xb), right)
                if lo > hi:
                    continue
                if xa == xb:
                    ys = [ya, yb]
                else:
                    ys = [ya + (xx - xa) / (xb - xa) * (yb - ya) for xx in (lo, hi)]
                # It must pass above when it starts above the panel (a neuron higher in its column) or
                # crosses the panel's columns above its centre.
                starts_above = any(left <= xx <= right and yy > top for xx, yy in ((xa, ya), (xb, yb)))
                if starts_above or sum(ys) / 2 >= lay.y[k]:
                    lowest = min(lowest, *ys)
            drop = top + _CLEARANCE - lowest
            if drop > 0.05:
                lay.y[k] -= drop
                moved = True
        if not moved:
            return


def network_digraph(
    tr: Trace,
    theme: Theme | None = None,
    *,
    sample: int = 0,
    detail: Sequence[str] = (),
    legend: bool | None = None,
    edge_labels: bool | None = None,
) -> Diagram:
    """Draw a trace's network of ``nn`` neurons (see the module's docstring).

    Args:
        tr: the traced graph.
        theme: colours, font, number format (default :class:`Theme`).
        sample: which sample's values the circles show when several went through the network.
        detail: module paths of neurons ("layers.1.neurons.0") drawn in detail: their scalar graph (each
            weight beside its input, the dot node, the activation) with the chain-rule term on every edge.
            Each such panel goes last in its column, low enough that other neurons' edges pass above it.
        legend: draw the legend (None: the theme's ``legend``).
        edge_labels: write dL/dw on the weight edges: True, False, or None (where
            the edges into a column are few enough to stay readable).

    Returns:
        A :class:`viz.Diagram`.

    Raises:
        NotANetworkError: no neurons in the graph (see :func:`find_network`).
        ValueError: a ``detail`` path that names no neuron.
    """
    from chainrule.viz.diagram import Diagram, fast_edge, fast_node, html_text

    theme = Theme() if theme is None else theme
    net = find_network(tr, sample=sample)
    nodes = tr.nodes
    names = {u.name: k for k, u in enumerate(net.units) if u.kind == "neuron"}
    if isinstance(detail, str):
        raise TypeError(f"detail must be a list of neuron paths, got the string {detail!r}; write [{detail!r}]")
    for path in detail:
        if path not in names:
            known = ", ".join(list(names)[:6])
            raise ValueError(f"detail: no neuron {path!r} in this network (neurons: {known}, ...)")
    panels = {}
    for path in detail:
        u = net.units[names[path]]
        panels[names[path]] = _panel(u, tr, theme, [net.units[src].name for src in u.sources])
    several = net.samples > 1
    summed = f" (summed over the {net.samples} samples)" if several else ""
    which = f" (sample {net.sample + 1} of {net.samples})" if several else ""
    show_legend = theme.legend if legend is None else legend
    avail = _HEIGHT - 2 * _PAD - _TITLES
    dots = any(avail / len(c) < _MIN_PITCH and not any(k in panels for k in c) for c in net.columns)
    lines = _legend_lines(net, tr, bool(panels), dots) if show_legend else []
    legend_width = max((_text_width(line, _LEGEND_FONT) for line in lines), default=0.0) + 16 if lines else 0.0
    loss_rows: list[str] = []
    if net.loss is not None:
        n = nodes[net.loss]
        outputs = sum(u.output for u in net.units)
        after = f"{net.tail_ops} op{'s' if net.tail_ops != 1 else ''} after the output{'s' if outputs != 1 else ''}"
        seed = " (seed)" if n.grad == 1.0 else ""
        loss_rows = [f"{n.label or 'loss'} {theme.fmt(n.data)}", f"grad {theme.fmt(n.grad)}{seed}", after]
        if net.direct_parameters:
            loss_rows.append(f"+ {net.direct_parameters} parameter{'s' if net.direct_parameters != 1 else ''} "
                             "read directly")
    loss_width = max((_text_width(r, 9.0) for r in loss_rows), default=0.0) + 18
    lay = _layout(net, theme, panels, legend_width, loss_width)
    ids = _Ids()
    g = Diagram("chainrule", graph_attr={
        "layout": "neato", "inputscale": "72", "splines": "line", "outputorder": "edgesfirst",
        "fontname": theme.font, "bgcolor": "white", "pad": "0.15",
    })
    g.attr("node", fontname=theme.font, fontsize=f"{lay.font:g}", style="filled")
    g.attr("edge", arrowsize="0.45", fontname=theme.font)

    def pos(x: float, y: float) -> str:
        return f"{x:.1f},{y:.1f}!"

    out_name: list[str] = []  # DOT node name per unit, where its outgoing edges start
    in_name: list[list[str]] = []  # per unit, per input, where that input's edge ends
    # ---- circles and panels ----
    for k, u in enumerate(net.units):
        n = nodes[u.node]
        x, y = lay.x[u.column], lay.y[k]
        if k in panels:
            out, ends = _emit_panel(g, tr, net, k, lay, theme, ids, which, summed)
            out_name.append(out)
            in_name.append(ends)
            continue
        out_name.append(f"u{u.node}")
        in_name.append([f"u{u.node}"] * len(u.weights))
        diameter = lay.diameters[u.column]
        radius = diameter / 2
        dot = diameter < lay.diameter  # a dot: no room for numbers
        attrs = {"pos": pos(x, y), "shape": "circle", "width": f"{diameter / 72:.3f}", "fixedsize": "shape"}
        if u.kind == "input":
            has_grad = n.role != CONSTANT_ROLE
            fill = theme.grad_color(n.grad) if has_grad else theme.constant_color
            rows = [f"<B>{html_text(u.name)}</B>", html_text(_fmt(lay.number, n.data))]
            tip = f"input {u.name} = {theme.fmt(n.data)}{which}"
            if has_grad:
                rows.append(f"<I>{html_text(_fmt(lay.number, n.grad))}</I>")
                tip += f"\ndL/d{u.name} = {theme.fmt(n.grad)}"
            attrs.update(color="#737373", penwidth="1.5", style="filled,dashed")
            classes = "input"
            svg_id = ids.take(f"input.{u.row}", f"input.{u.row}")
        else:
            fill = theme.grad_color(n.grad)
            rows = [f"<B>{html_text(_fmt(lay.number, n.data))}</B>", f"<I>{html_text(_fmt(lay.number, n.grad))}</I>"]
            z = nodes[u.dot]
            tip = (f"{u.name} ({u.activation}){which}\noutput {theme.fmt(n.data)}, dL/d(output) = {theme.fmt(n.grad)}"
                   f"\npre-activation z = w.x + b = {theme.fmt(z.data)}, dL/dz = {theme.fmt(z.grad)}")
            classes = "neuron output" if u.output else "neuron hidden"
            if u.output:
                attrs["shape"] = "doublecircle"
            if u.blocked:
                attrs.update(style="filled,dashed", penwidth="1.5")
                tip += f"\n{u.blocked}: it passes no gradient back"
                classes += " blocked"
            svg_id = ids.take(u.name, f"neuron.{u.node}")
        attrs.update(fillcolor=fill, fontcolor=theme.text_on(fill), tooltip=_tooltip(tip), id=svg_id)
        attrs["class"] = classes if n.role == CONSTANT_ROLE else f"{classes} {_sign_class(n.grad)}"
        if dot:
            attrs["fixedsize"] = "true"
        fast_node(g, out_name[k], label="" if dot else "<" + "<BR/>".join(rows) + ">", **attrs)
        if u.bias is not None:  # a small square at the bottom of the circle, coloured by dL/db
            b = nodes[u.bias]
            fill = theme.grad_color(b.grad)
            side = 11.0 if not dot else max(3.0, 0.55 * diameter)
            fast_node(g,
                f"b{u.bias}", label="" if dot else "b", pos=pos(x, y - radius), shape="square", fixedsize="true",
                width=f"{side / 72:.3f}", fontsize="7", fillcolor=fill, fontcolor=theme.text_on(fill),
                penwidth="0.8", id=ids.take(b.label, f"bias.{u.bias}"),
                tooltip=_tooltip(f"{b.label or 'bias'} = {theme.fmt(b.data)}\ndL/db = {theme.fmt(b.grad)}{summed}"),
                **{"class": f"bias parameter {_sign_class(b.grad)}"},
            )
    # ---- weight edges (into a detailed neuron: its inputs' values), and their numbers where they fit ----
    into: dict[int, list[tuple[int, int, int]]] = {}  # head column -> (head unit, arg, w) of the labelled edges
    # Where many edges meet (dense layers), arrowheads would only fringe the circles: the columns say the way.
    fan_in = {c: sum(len(net.units[k].weights) for k in column) for c, column in enumerate(net.columns)}
    ins = tr.in_edges() if panels else []
    for k, u in enumerate(net.units):
        for i, (w, src) in enumerate(zip(u.weights, u.sources)):
            p = nodes[w]
            if k in panels:  # the weight is a box in the panel; this edge brings input i's value to it
                e = tr.edges[ins[u.dot][len(u.weights) + i]]
                term = e.contribution if e.contribution is not None else 0.0
                fast_edge(g,
                    out_name[src], in_name[k][i], headport="w", color=theme.grad_color(term, line=True),
                    penwidth=f"{theme.edge_width(term, 0.5, 4.0):.2f}", id=ids.take(f"{u.name}.in.{i}", f"in.{w}"),
                    tooltip=_tooltip(f"the value of {net.units[src].name} into {u.name} as x.{i}; "
                                     f"its gradient back: {theme.fmt(term)}{which}"),
                    **{"class": f"input-edge {_sign_class(term)}"},
                )
                continue
            into.setdefault(u.column, []).append((k, i, w))
            attrs = {
                "color": theme.grad_color(p.grad, line=True), "penwidth": f"{theme.edge_width(p.grad, 0.5, 4.0):.2f}",
                "id": ids.take(p.label, f"weight.{w}"),
                "tooltip": _tooltip(f"{p.label or 'weight'} = {theme.fmt(p.data)}\ndL/dw = {theme.fmt(p.grad)}"
                                    f"{summed}\nfrom {net.units[src].name} to {u.name}"),
                "class": f"weight parameter {_sign_class(p.grad)}",
            }
            if p.grad == 0.0:
                attrs["style"] = "dotted"
            if fan_in[u.column] > _EDGE_LABELS:
                attrs["arrowhead"] = "none"
            fast_edge(g, out_name[src], out_name[k], **attrs)
    label_font = max(7.5, lay.font - 0.5)
    unlabelled = False
    for col, members in into.items():
        shown = [(k, i, w) for k, i, w in members if nodes[w].grad != 0.0]  # dotted edges say 0 already
        if not shown:
            continue
        segments = []
        for k, i, _ in members:
            xa, ya, _ra = lay.out_anchor(net, net.units[k].sources[i])
            segments.append((xa, ya, lay.x[col], lay.y[k]))
        width = max(_text_width(_fmt(lay.number, nodes[w].grad), label_font) for _, _, w in shown) + 4
        lo = max(xa + ra for xa, _, ra in (lay.out_anchor(net, net.units[k].sources[i]) for k, i, _ in members))
        lo += width / 2 + 6
        hi = lay.x[col] - lay.diameters[col] / 2 - width / 2 - 8
        x_label = None
        if edge_labels is not False and lo < hi and (edge_labels or len(members) <= _EDGE_LABELS):
            x_label = _label_x(segments, lo, hi, _LABEL_H + 2)
        if x_label is None:
            unlabelled = True
            continue
        for (_, _, w), (xa, ya, xb, yb) in zip(members, segments):
            p = nodes[w]
            if p.grad == 0.0:
                continue
            fast_node(g,
                f"l{w}", label=html_text(_fmt(lay.number, p.grad)), shape="box", style="filled", color="white",
                fillcolor="white", margin="0.01,0.005", width="0", height="0", fontsize=f"{label_font:g}",
                pos=pos(x_label, ya + (x_label - xa) / (xb - xa) * (yb - ya)),
                id=ids.take(f"{p.label}.label", f"label.{w}"),
                tooltip=_tooltip(f"dL/d{p.label or 'w'} = {theme.fmt(p.grad)}{summed}"), **{"class": "grad-label"},
            )
    if lines:
        lines.append("number on an edge: dL/dw" if not unlabelled else "hover over an edge for its dL/dw")
    # ---- the loss ----
    right = lay.x[-1] + lay.width[-1] / 2
    if net.loss is not None:
        n = nodes[net.loss]
        x = right + 40 + loss_width / 2
        fill = theme.grad_color(n.grad)
        rows = [html_text(r) for r in loss_rows]
        rows[0] = f"<B>{html_text(n.label or 'loss')}</B> {html_text(theme.fmt(n.data))}"
        fast_node(g,
            "loss", label="<" + "<BR/>".join(rows) + ">", pos=pos(x, 0.0), shape="box", style="rounded,filled,bold",
            penwidth="2.5", fillcolor=fill, fontcolor=theme.text_on(fill), fontsize="9", id=ids.take("loss", "loss"),
            tooltip=_tooltip(f"{n.label or 'loss'} = {theme.fmt(n.data)}{which}"), **{"class": "loss"},
        )
        for k, u in enumerate(net.units):
            if u.output:
                go = nodes[u.node].grad
                fast_edge(g,
                    out_name[k], "loss", color=theme.grad_color(go, line=True),
                    penwidth=f"{theme.edge_width(go, 0.5, 4.0):.2f}", id=ids.take(f"{u.name}.to_loss", f"to_loss.{k}"),
                    tooltip=_tooltip(f"dL/d(output) of {u.name} = {theme.fmt(go)}{which}"), **{"class": "to-loss"},
                )
        right = x + loss_width / 2
    # ---- column titles ----
    top = max(lay.y[k] + (lay.panels[k].height / 2 if k in lay.panels else lay.diameters[u.column] / 2)
              for k, u in enumerate(net.units))
    for c, column in enumerate(net.columns):
        units = [net.units[k] for k in column]
        if c == 0:
            title = ["inputs"]
        else:
            acts = sorted({m.activation for m in units})
            path = _layer_path([m.name for m in units])
            title = [f"{path}: {acts[0]}" if len(acts) == 1 else path]
            grads = [abs(nodes[w].grad) for m in units for w in m.weights if finite(nodes[w].grad)]
            if grads:
                title.append(f"max |dL/dw| {_fmt(lay.number, max(grads))}")
        fast_node(g,
            f"title{c}", label="<" + "<BR/>".join(html_text(t) for t in title) + ">", shape="plaintext", style="solid",
            pos=pos(lay.x[c], top + 8 + 5.5 * len(title)), id=f"column.{c}", fontsize="8.5",
            **{"class": "column-title"},
        )
    if lines:
        _legend(g, tr, net, theme, lines, right + 24, top + _TITLES - 4)
    return g


def _emit_panel(
    g: Diagram, tr: Trace, net: Network, k: int, lay: _Layout, theme: Theme, ids: _Ids, which: str, summed: str
) -> tuple[str, list[str]]:
    """Draw neuron k in detail; return the DOT name its outgoing edges start from and, per input, the name
    its incoming edge ends at."""
    from chainrule.viz.diagram import fast_edge, fast_node, html_text

    nodes = tr.nodes
    u = net.units[k]
    panel = lay.panels[k]
    cx, cy = lay.x[u.column], lay.y[k]
    left = cx - panel.width / 2
    box_w = panel.box_w
    box_x = left + box_w / 2
    dot_left = left + box_w + panel.label_gap
    dot_x = dot_left + _DOT_W / 2
    size = f"{_PANEL_FONT:g}"

    def pos(x: float, y: float) -> str:
        return f"{x:.1f},{y:.1f}!"

    def box(name: str, svg_id: str, lines: list[str], x: float, y: float, fill: str, width: float, height: float,
            tip: str, classes: str, **extra: str) -> None:
        attrs = {"style": "rounded,filled", **extra}
        fast_node(g, name, label="<" + "<BR/>".join(lines) + ">", pos=pos(x, y), shape="box", fixedsize="true",
               width=f"{width / 72:.3f}", height=f"{height / 72:.3f}", fontsize=size, fillcolor=fill,
               fontcolor=theme.text_on(fill), id=svg_id, tooltip=_tooltip(tip), **{"class": classes}, **attrs)

    # The frame and its title (drawn first, unfilled: everything else lies on top).
    fast_node(g, f"frame{k}", label="", pos=pos(cx, cy), shape="box", style="rounded,dashed", color=theme.cluster_color,
           fixedsize="true", width=f"{panel.width / 72 + 0.15:.3f}", height=f"{panel.height / 72:.3f}",
           id=ids.take(f"{u.name}.detail", f"detail.{k}"), **{"class": "detail-frame"})
    fast_node(g, f"frame{k}_title", label=html_text(f"{u.name} in detail{which}"), shape="plaintext", style="solid",
           pos=pos(cx, cy + panel.height / 2 - 10), fontsize=size, id=ids.take(f"{u.name}.detail.title", f"dt.{k}"),
           **{"class": "detail-title"})
    terms = _panel_terms(u, tr, theme)
    ins: list[str] = []
    for row in panel.rows:
        kind, i = row
        y = _row_y(panel, cy, row)
        name = f"p{k}_{kind}{i}"
        label, index, tip = terms[row]
        if kind == "x":
            src = net.units[u.sources[i]]
            v = nodes[tr.edges[index].parent]
            box(name, ids.take(f"{u.name}.x.{i}", f"x.{k}.{i}"), [f"<B>x.{i}</B> {html_text(theme.fmt(v.data))}",
                html_text(f"from {src.name}")], box_x, y, theme.constant_color, box_w, _ROW - 5,
                f"x.{i}: the value of {src.name}{which}", "detail-input", color="#737373",
                style="rounded,filled,dashed")
            ins.append(name)
        else:
            p = nodes[u.weights[i]] if kind == "w" else nodes[u.bias]  # type: ignore[index]
            short = f"w.{i}" if kind == "w" else "b"
            fill = theme.grad_color(p.grad)
            box(name, ids.take(p.label, f"param.{k}.{kind}{i}"),
                [f"<B>{short}</B> {html_text(theme.fmt(p.data))}", html_text(f"grad {theme.fmt(p.grad)}")],
                box_x, y, fill, box_w, _ROW - 5,
                f"{p.label or short} = {theme.fmt(p.data)}, grad {theme.fmt(p.grad)}{summed}",
                f"detail-parameter parameter {_sign_class(p.grad)}", peripheries="2")
        # the edge into the dot node ends at a point on its left side, at this row: every edge horizontal
        port = f"{name}_port"
        fast_node(g, port, label="", shape="point", width="0.01", style="invis", pos=pos(dot_left, y))
        e = tr.edges[index]
        attrs = {"color": theme.edge_color if not e.blocker else theme.blocked_color,
                 "style": "dashed" if e.blocker else "solid"}
        fast_edge(g, name, port, id=ids.take(f"e{index}", f"e{index}_"), tooltip=_tooltip(tip), arrowsize="0.6",
               **{"class": "edge-term" + (" blocked" if e.blocker else "")}, **attrs)
        fast_node(g, f"{name}_label",
            label=html_text(label), shape="box", style="filled", color="white", fillcolor="white",
               margin="0.01,0.005", width="0", height="0", fontsize=size,
               pos=pos((left + box_w + dot_left) / 2, y + 6.5), tooltip=_tooltip(tip),
               fontcolor=theme.muted_text if e.blocker else "#000000", **{"class": "term-label"})
    z = nodes[u.dot]
    fill = theme.grad_color(z.grad)
    dot_h = len(panel.rows) * _ROW - 4
    dot_y = cy - 11
    box(f"p{k}_dot", ids.take(f"{u.name}.dot", f"dot.{k}"),
        ["<B>dot</B>", "z = w.x + b", html_text(f"data {theme.fmt(z.data)}"), html_text(f"grad {theme.fmt(z.grad)}")],
        dot_x, dot_y, fill, _DOT_W, dot_h, f"z = w.x + b = {theme.fmt(z.data)}, dL/dz = {theme.fmt(z.grad)}{which}",
        f"detail-dot {_sign_class(z.grad)}")
    out = f"p{k}_dot"
    start = dot_left + _DOT_W
    for j, (c, (label, index, tip)) in enumerate(zip(u.chain, _chain_terms(u, tr, theme))):
        a = nodes[c]
        fill = theme.grad_color(a.grad)
        name = f"p{k}_act{c}"
        act_x = start + panel.act_gap + _ACT_W / 2
        last = j == len(u.chain) - 1  # the neuron's output carries the neuron's id, as its circle does
        rows = [f"<B>{html_text(a.symbol or a.op)}</B>", html_text(f"data {theme.fmt(a.data)}"),
                html_text(f"grad {theme.fmt(a.grad)}")]
        box(name, ids.take(u.name if last else f"{u.name}.{a.op}", f"neuron.{c}"), rows, act_x, dot_y, fill,
            _ACT_W, 44.0, f"{u.name}: {a.op}(z) = {theme.fmt(a.data)}, dL/d(output) = {theme.fmt(a.grad)}{which}",
            f"neuron {'output' if u.output else 'hidden'} detail-activation {_sign_class(a.grad)}",
            penwidth="2.5" if u.output and last else "1")
        e = tr.edges[index]
        fast_edge(g, out, name, id=ids.take(f"e{index}", f"e{index}_"), tooltip=_tooltip(tip), arrowsize="0.6",
               color=theme.blocked_color if e.blocker else theme.edge_color,
               style="dashed" if e.blocker else "solid", **{"class": "edge-term" + (" blocked" if e.blocker else "")})
        fast_node(g, f"{name}_label",
            label=html_text(label), shape="box", style="filled", color="white", fillcolor="white",
               margin="0.01,0.005", width="0", height="0", fontsize=size,
               pos=pos(start + panel.act_gap / 2, dot_y + 6.5), tooltip=_tooltip(tip),
               fontcolor=theme.muted_text if e.blocker else "#000000", **{"class": "term-label"})
        out = name
        start += panel.act_gap + _ACT_W
    return out, ins


def _legend(g: Diagram, tr: Trace, net: Network, theme: Theme, lines: list[str], left: float, top: float) -> None:
    from chainrule.viz.diagram import fast_node, html_text, swatch_rows, swatch_table

    nodes = tr.nodes
    grads = [nodes[u.node].grad for u in net.units]
    grads += [nodes[p].grad for u in net.units for p in (*u.weights, *([] if u.bias is None else [u.bias]))]
    body = "".join(f'<TR><TD ALIGN="LEFT">{html_text(line)}</TD></TR>' for line in lines)
    cells = swatch_rows(theme, grads)
    body += '<TR><TD ALIGN="LEFT">colours: dL/d... (warm +, cool -)</TD></TR>' + "".join(swatch_table(theme, cells))
    title = '<TR><TD ALIGN="LEFT"><B>network view</B></TD></TR>'
    label = f'<<TABLE BORDER="1" COLOR="{theme.cluster_color}" CELLBORDER="0" CELLSPACING="1">{title}{body}</TABLE>>'
    width = max(_text_width(line, _LEGEND_FONT) for line in lines) + 16
    height = 12.5 * (len(lines) + 2) + 17.0 * len(cells) + 8
    fast_node(g, "legend", label=label, shape="plain", style="solid", fontsize=f"{_LEGEND_FONT:g}",
           pos=f"{left + width / 2:.1f},{top - height / 2:.1f}!", id="legend", **{"class": "legend"})


