"""Write the backward pass as one self-contained HTML page that steps through it, one node's gradient per step.

The page needs nothing but a browser: the graph is drawn here as inline SVG
(columns by :attr:`viz.trace.Node.level`, left to right; no Graphviz program),
the steps are embedded as JSON and a little inline JavaScript shows one step
at a time (play/pause, step back/forward, a slider, the arrow keys; ``#step=N``
in the address opens step N). There are no external URLs.

Step 0 is the output (its gradient is the seed, 1 for ``backward()``). Then, in
reverse topological order, each node once all its consumers have their
gradients: its outgoing edges light up with their chain-rule terms
(consumer's grad x local derivative) and the node's gradient is their sum.
Constants get no gradient and no step.

Everything is one linear pass over the nodes and edges (plus a sort per
column), and the graph size is capped (``max_nodes``) so a page stays usable.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from chainrule import autograd
from chainrule.autograd import Value
from chainrule.viz.trace import CONSTANT_ROLE, GradSource, Node, Trace, trace

__all__ = ["MAX_NODES", "Step", "animate_backward", "backward_steps", "format_number"]

MAX_NODES = 300
"""Default cap on the graph size: above it a stepped page is no longer readable."""

# Geometry of the SVG (pixels).
_NODE_W = 180
_NODE_MIN_H = 58
_PORT_GAP = 20  # vertical room per argument on a node's left side, so edge labels don't overlap
_COL_GAP = 175  # room between columns for the edge labels
_ROW_GAP = 26
_DUMMY_H = 6.0  # the height an edge takes where it crosses a column
_DUMMY_GAP = 8.0
_DUMMIES_PER_NODE = 20  # cap on those crossings, so the layout stays linear in the graph's size
_MARGIN = 24
_NAME_CHARS = 40  # longer labels are cut in explanations (the full text is in the node's tooltip)
_MAX_TERMS = 6  # terms written out in a step's explanation; more are summarised


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the backward pass: a node's gradient arrives.

    Attributes:
        node: the node's id in the :class:`~viz.trace.Trace` (its position in topological order).
        grad: its gradient (the sum of ``terms``, plus any ``elsewhere``).
        edges: indices into ``Trace.edges`` of its outgoing edges that carry a term, in edge order.
        terms: per edge in ``edges``, (consumer's grad, local derivative, contribution).
        elsewhere: gradient that reached the stored ``.grad`` from consumers outside this graph.
        lines: the explanation, symbolic then numeric (e.g. ``d(L)/d(w1) = 0.5 × 2.0 = 1.0``).
    """

    node: int
    grad: float
    edges: tuple[int, ...]
    terms: tuple[tuple[float, float, float], ...]
    elsewhere: float
    lines: tuple[str, ...]


def format_number(x: float) -> str:
    """Format a number as the page shows it: 4 significant digits, ``2.0`` not ``2``, ``inf``/``nan`` as such.

    Args:
        x: the number.

    Returns:
        The text.
    """
    text = f"{x:.4g}"
    if text.lstrip("-").isdigit():
        text += ".0"
    return text


def _clean(text: str) -> str:
    """Make any text safe to show: control characters, line separators and lone surrogates become escapes.

    (Surrogates could not even be written as UTF-8; a newline would silently become a space in SVG.)
    """
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            code = ord(ch)
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\x{code:02x}" if code < 0x100 else
                                                                f"\\u{code:04x}"))
        else:
            out.append(ch)
    return "".join(out)


def _cut(text: str, n: int) -> str:
    """Shorten to n characters with an ellipsis in the middle (both ends of "layers.0.neurons.3.w.1" matter)."""
    if len(text) <= n:
        return text
    head = (n - 1) // 2
    return text[:head] + "…" + text[len(text) - (n - 1 - head):]


def _symbol(op: str) -> str:
    return autograd.OP[op].symbol if op in autograd.OP else op


def _name(node: Node) -> str:
    """What the explanation calls a node: its label, else ``#id`` (shown in its box)."""
    if node.label:
        return _cut(_clean(node.label), _NAME_CHARS)
    if node.role == CONSTANT_ROLE:
        return format_number(node.data)
    return f"#{node.id}"


def backward_steps(tr: Trace) -> list[Step]:
    """Return the steps of the backward pass of a traced graph: output first, then reverse topological order.

    Args:
        tr: a :class:`~viz.trace.Trace` (from :func:`viz.trace.trace`).

    Returns:
        One :class:`Step` per node that gets a gradient (every node but constants).
    """
    out_edges = tr.out_edges()
    root = tr.nodes[tr.root]
    r = _name(root)
    steps: list[Step] = []
    for node in reversed(tr.nodes):
        if node.role == CONSTANT_ROLE:
            continue
        n = _name(node)
        g = format_number(node.grad)
        if node.id == tr.root:
            lines = [f"d({r})/d({r}) = {g}"]
            if node.grad == 1.0:
                lines.append("the backward pass starts at the output with gradient 1")
            else:
                lines.append(f"the backward pass starts at the output with gradient {g} "
                             "(the seed given to backward(), summed over calls)")
            steps.append(Step(node.id, node.grad, (), (), 0.0, tuple(lines)))
            continue
        edge_ids = tuple(i for i in out_edges[node.id] if tr.edges[i].contribution is not None)
        terms: list[tuple[float, float, float]] = []
        symbolic: list[str] = []
        numeric: list[str] = []
        uses = Counter(tr.edges[i].child for i in edge_ids)
        for i in edge_ids:
            e = tr.edges[i]
            assert e.local is not None and e.contribution is not None  # constant parents have no step
            terms.append((e.upstream, e.local, e.contribution))
            c = _name(tr.nodes[e.child])
            arg = f" (argument {e.arg + 1})" if uses[e.child] > 1 else ""
            symbolic.append(f"d({r})/d({c}) × d({c})/d({n}){arg}")
            numeric.append(f"{format_number(e.upstream)} × {format_number(e.local)}")
        if len(symbolic) > _MAX_TERMS:
            more = f"… ({len(symbolic) - _MAX_TERMS} more terms)"
            symbolic = [*symbolic[:_MAX_TERMS], more]
            numeric = [*numeric[:_MAX_TERMS], more]
        rest = ""
        if node.grad_elsewhere:
            rest = f" + {format_number(node.grad_elsewhere)} (from consumers outside this graph)"
        lines = [f"d({r})/d({n}) = " + " + ".join(symbolic), "= " + " + ".join(numeric) + rest + f" = {g}"]
        blocked = [tr.edges[i] for i in edge_ids if tr.edges[i].blocker]
        if blocked:
            lines.append("blocked: " + "; ".join(f"{e.blocker} at {_name(tr.nodes[e.child])}" for e in blocked[:3])
                         + (" …" if len(blocked) > 3 else ""))
        steps.append(Step(node.id, node.grad, edge_ids, tuple(terms), node.grad_elsewhere, tuple(lines)))
    return steps


# ----------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Box:
    x: float
    y: float
    h: float


@dataclass(slots=True)
class _Layout:
    """Where everything goes: a box per node and, per edge, the heights at which it crosses the columns between
    its ends (empty for an edge between neighbouring columns)."""

    boxes: list[_Box]
    waypoints: list[list[float]]
    width: float
    height: float


def _columns(tr: Trace, out_edges: list[list[int]]) -> list[int]:
    """Column of each node: its level, but sources sit just left of their first consumer (shorter edges)."""
    column = [n.level for n in tr.nodes]
    for node in tr.nodes:
        if node.level == 0 and out_edges[node.id]:
            column[node.id] = min(column[tr.edges[i].child] for i in out_edges[node.id]) - 1
    return column


def _layout(tr: Trace) -> _Layout:
    """Place the nodes: one column per level, rows ordered by the mean height of their neighbours.

    An edge that spans several columns gets a thin placeholder in each column it
    crosses (as in Sugiyama's layered drawing), so it runs between boxes rather
    than through them. Placeholders are capped at a few per node, so a node used at
    every level of a deep graph can't make the layout quadratic: edges beyond the
    cap are drawn straight across.
    """
    n = len(tr.nodes)
    out_edges = tr.out_edges()
    in_edges = tr.in_edges()
    column = _columns(tr, out_edges)
    n_cols = max(column) + 1
    # Items 0..n-1 are the nodes, the rest placeholders; up/down: neighbouring items one column away.
    height = [float(max(_NODE_MIN_H, _PORT_GAP * len(in_edges[i]) + 12)) for i in range(n)]
    item_column = list(column)
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    chains: list[list[int]] = [[] for _ in tr.edges]
    budget = _DUMMIES_PER_NODE * n
    for k, e in enumerate(tr.edges):
        span = column[e.child] - column[e.parent]
        previous = e.parent
        if 1 < span <= budget + 1:
            budget -= span - 1
            for c in range(column[e.parent] + 1, column[e.child]):
                item = len(height)
                height.append(_DUMMY_H)
                item_column.append(c)
                up.append([previous])
                down.append([])
                down[previous].append(item)
                chains[k].append(item)
                previous = item
        up[e.child].append(previous)
        down[previous].append(e.child)
    is_node = [i < n for i in range(len(height))]
    cols: list[list[int]] = [[] for _ in range(n_cols)]
    for i, c in enumerate(item_column):
        cols[c].append(i)
    centre = [0.0] * len(height)

    def gap(a: int, b: int) -> float:
        return _ROW_GAP if is_node[a] and is_node[b] else _DUMMY_GAP

    def stack(ids: list[int]) -> None:
        total = sum(height[i] for i in ids) + sum(gap(a, b) for a, b in itertools.pairwise(ids))
        y = -total / 2
        for j, i in enumerate(ids):
            if j:
                y += gap(ids[j - 1], i)
            centre[i] = y + height[i] / 2
            y += height[i]

    def sort_by(ids: list[int], neighbours: list[list[int]]) -> None:
        def key(i: int) -> float:
            ys = neighbours[i]
            return sum(centre[j] for j in ys) / len(ys) if ys else centre[i]

        ids.sort(key=key)
        stack(ids)

    for ids in cols:
        stack(ids)
    # Two barycentre sweeps (down by the items to the left, up by those to the
    # right): few crossings for the trees and near-trees of expressions and neurons.
    for _ in range(2):
        for ids in cols[1:]:
            sort_by(ids, up)
        for ids in reversed(cols[:-1]):
            sort_by(ids, down)
    top = min(centre[i] - height[i] / 2 for i in range(len(height)))
    bottom = max(centre[i] + height[i] / 2 for i in range(len(height)))
    boxes = [
        _Box(_MARGIN + column[i] * (_NODE_W + _COL_GAP), _MARGIN + centre[i] - height[i] / 2 - top, height[i])
        for i in range(n)
    ]
    waypoints = [[_MARGIN + centre[i] - top for i in chain] for chain in chains]
    width = 2 * _MARGIN + n_cols * _NODE_W + (n_cols - 1) * _COL_GAP
    return _Layout(boxes, waypoints, width, 2 * _MARGIN + bottom - top)


# ----------------------------------------------------------------------------
# SVG and HTML
# ----------------------------------------------------------------------------


def _t(text: str) -> str:
    """Text content for HTML/SVG."""
    return escape(_clean(text), quote=False)


def _a(text: str) -> str:
    """An attribute value (double-quoted)."""
    return escape(_clean(text), quote=True)


def _f(x: float) -> str:
    return f"{x:.1f}"


def _svg(tr: Trace, steps: list[Step], layout: _Layout) -> str:
    boxes, width, height = layout.boxes, layout.width, layout.height
    step_of = [-1] * len(tr.nodes)
    for k, s in enumerate(steps):
        step_of[s.node] = k
    in_edges = tr.in_edges()
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="graph" width="{_f(width)}" height="{_f(height)}" '
        f'viewBox="0 0 {_f(width)} {_f(height)}" role="img" aria-label="computation graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>',
        '<g class="edges">',
    ]
    for i, e in enumerate(tr.edges):
        p, c = boxes[e.parent], boxes[e.child]
        n_args = len(in_edges[e.child])
        x1, y1 = p.x + _NODE_W, p.y + p.h / 2
        x2, y2 = c.x, c.y + (e.arg + 1) * c.h / (n_args + 1)
        d = f"M{_f(x1)},{_f(y1)}"
        for y in layout.waypoints[i]:  # straight through each column it crosses, curves between columns
            x = x1 + _COL_GAP
            d += _curve(x1, y1, x, y) + f" H{_f(x + _NODE_W)}"
            x1, y1 = x + _NODE_W, y
        d += _curve(x1, y1, x2, y2)
        classes = ["edge"]
        if e.contribution is None:
            classes.append("const")
        if e.blocker:
            classes.append("blocked")
        parent, child = tr.nodes[e.parent], tr.nodes[e.child]
        tip = (f"{_name(parent)} → {_name(child)} ({child.op}, argument {e.arg + 1})"
               + (f": local derivative {format_number(e.local)}" if e.local is not None else ": constant, no gradient")
               + (f"; {e.blocker}" if e.blocker else ""))
        if e.local is not None and e.contribution is not None:
            tip += (f"; its term of d/d({_name(parent)}): {format_number(e.upstream)} × {format_number(e.local)}"
                    f" = {format_number(e.contribution)}")
        parts.append(f'<g class="{" ".join(classes)}" id="e{i}" data-step="{step_of[e.parent]}">'
                     f"<title>{_t(tip)}</title>"
                     f'<path d="{d}" '
                     'marker-end="url(#arrow)"/>')
        if e.local is not None and e.contribution is not None:
            lx, ly = _f(x2 - 8), _f(y2 - 4)
            parts.append(f'<text class="local" x="{lx}" y="{ly}">∂ {_t(format_number(e.local))}</text>'
                         f'<text class="contrib" x="{lx}" y="{ly}">'
                         f"{_t(format_number(e.upstream))} × {_t(format_number(e.local))} = "
                         f"{_t(format_number(e.contribution))}</text>")
        parts.append("</g>")
    parts.append('</g><g class="nodes">')
    for node in tr.nodes:
        b = boxes[node.id]
        classes = ["node", f"role-{node.role}"]
        if node.cut_off:
            classes.append("cut-off")
        title = _name(node) if node.label else ""
        op = _symbol(node.op) if node.op else {"leaf": "input", "parameter": "parameter",
                                                  "constant": "constant", "output": "output"}.get(node.role, "")
        # The name (bold) and the op tag share the first line; leaves show their role by colour.
        tag = f"{_cut(_symbol(node.op), 9)} #{node.id}" if title and node.op else f"#{node.id}"
        name = _cut(title or op, max(5, int((_NODE_W - 28 - 7.2 * len(tag)) / 7.8)))
        tip = (f"#{node.id} {node.label!r} " if node.label else f"#{node.id} ") + (f"op {node.op}, " if node.op else "")
        tip += f"{node.role}, data {format_number(node.data)}"
        if node.role != CONSTANT_ROLE:
            tip += f", grad {format_number(node.grad)}"
        if node.scope:
            tip += f", in {node.scope}"
        parts.append(
            f'<g class="{" ".join(classes)}" id="n{node.id}" data-step="{step_of[node.id]}" '
            f'transform="translate({_f(b.x)},{_f(b.y)})"><title>{_t(tip)}</title>'
            f'<rect width="{_NODE_W}" height="{_f(b.h)}" rx="8"/>'
            f'<text class="name" x="10" y="20">{_t(name)}</text>'
            f'<text class="op" x="{_NODE_W - 8}" y="20">{_t(tag)}</text>'
            f'<text class="data" x="10" y="{_f(b.h / 2 + 6)}">data {_t(format_number(node.data))}</text>'
        )
        if node.role != CONSTANT_ROLE:
            parts.append(f'<text class="grad" x="10" y="{_f(b.h - 10)}">grad '
                         f'<tspan class="gv">{_t(format_number(node.grad))}</tspan><tspan class="gq">?</tspan></text>')
        parts.append("</g>")
    parts.append("</g></svg>")
    return "".join(parts)


def _curve(x1: float, y1: float, x2: float, y2: float) -> str:
    """An S-shaped cubic from (x1, y1) to (x2, y2), leaving and arriving horizontally."""
    dx = (x2 - x1) / 2
    return f" C{_f(x1 + dx)},{_f(y1)} {_f(x2 - dx)},{_f(y2)} {_f(x2)},{_f(y2)}"


def _json_number(x: float) -> float | str:
    return x if math.isfinite(x) else format_number(x)  # JSON has no inf/nan; "inf" reads back with float()


def _data(tr: Trace, steps: list[Step], fps: float) -> str:
    data = {
        "fps": fps,
        "root": tr.root,
        "grads": tr.grads,
        "nodes": [{"id": n.id, "label": n.label, "op": n.op, "role": n.role, "data": _json_number(n.data),
                   "grad": _json_number(n.grad), "scope": n.scope} for n in tr.nodes],
        "edges": [{"parent": e.parent, "child": e.child, "arg": e.arg} for e in tr.edges],
        "steps": [{"node": s.node, "name": _name(tr.nodes[s.node]), "grad": _json_number(s.grad),
                   "edges": list(s.edges), "terms": [[_json_number(x) for x in t] for t in s.terms],
                   "lines": list(s.lines)} for s in steps],
    }
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    # Inside <script>, "</script>" or "<!--" in a label would end the block early.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_CSS = """
:root { --ink: #1d2433; --muted: #6b7280; --line: #9aa3b2; --done: #e8f5e9; --done-edge: #2e7d32;
  --now: #ef6c00; --now-fill: #fff3e0; --blocked: #c62828; }
* { box-sizing: border-box; }
html, body { height: 100%; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  background: #fafafa; display: flex; flex-direction: column; overflow: hidden; }
header { flex: none; padding: 12px 18px 8px; background: #fff; border-bottom: 1px solid #e5e7eb; }
h1 { font-size: 17px; margin: 0 0 8px; font-weight: 600; }
.controls { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; }
button { font: inherit; min-width: 36px; padding: 3px 10px; border: 1px solid #cbd2dc; border-radius: 6px;
  background: #fff; cursor: pointer; }
button:hover { background: #f1f5f9; }
#slider { flex: 1 1 240px; min-width: 160px; }
label { color: var(--muted); user-select: none; }
svg.fit { width: 100%; height: auto; }
#counter { color: var(--muted); min-width: 110px; font-variant-numeric: tabular-nums; }
#explain { margin-top: 8px; padding: 8px 12px; min-height: 4.4em; background: var(--now-fill);
  border-left: 4px solid var(--now); border-radius: 4px; font: 14px/1.5 ui-monospace, SFMono-Regular, Menlo,
  Consolas, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
.legend { margin-top: 6px; color: var(--muted); font-size: 12px; }
.legend b { font-weight: 600; }
main { flex: 1 1 auto; min-height: 0; padding: 12px 18px; overflow: auto; }
svg text { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; fill: var(--ink); }
.node rect { fill: #fff; stroke: var(--line); stroke-width: 1.2; }
.node.role-leaf rect { fill: #eef4ff; }
.node.role-parameter rect { fill: #f3ecff; }
.node.role-constant rect { fill: #f3f4f6; stroke-dasharray: 4 3; }
.node.role-output rect { stroke: #b08900; stroke-width: 2; }
.node .name { font-weight: 700; font-size: 13px; }
.node .op { text-anchor: end; fill: var(--muted); }
.node .data { fill: #374151; }
.node .grad { font-weight: 700; fill: var(--muted); }
.node.role-constant text { fill: var(--muted); }
.node.pending .gv, .node:not(.pending) .gq { display: none; }
.node.done rect { fill: var(--done); stroke: var(--done-edge); }
.node.done .grad { fill: var(--done-edge); }
.node.source rect { stroke: var(--now); stroke-dasharray: 5 3; stroke-width: 1.6; }
.node.current rect { fill: var(--now-fill); stroke: var(--now); stroke-width: 3; }
.node.current .grad { fill: var(--now); }
.node.cut-off { opacity: 0.7; }
.edge path { fill: none; stroke: var(--line); stroke-width: 1.4; }
.edge.const path { stroke-dasharray: 3 3; opacity: 0.7; }
.edge text { font-size: 11px; text-anchor: end; paint-order: stroke; stroke: #fafafa; stroke-width: 4px;
  stroke-linejoin: round; fill: var(--muted); }
.edge .contrib, .edge.sent .local { display: none; }
.edge.sent .contrib { display: inline; }
.edge.sent path { stroke: var(--done-edge); }
.edge.blocked path { stroke: var(--blocked); stroke-dasharray: 6 3; }
.edge.active path { stroke: var(--now); stroke-width: 3; stroke-dasharray: 8 5; animation: flow 0.8s linear infinite; }
.edge.active text { fill: var(--now); font-weight: 700; }
@keyframes flow { to { stroke-dashoffset: -26; } }
@media (prefers-reduced-motion: reduce) { .edge.active path { animation: none; } }
"""

_JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chainrule-data").textContent);
  var steps = data.steps, last = steps.length - 1, cur = 0, timer = null;
  var nodes = [], edges = [];
  for (var i = 0; i < data.nodes.length; i++) {
    var el = document.getElementById("n" + i);
    nodes.push({el: el, step: parseInt(el.getAttribute("data-step"), 10)});
  }
  for (var j = 0; j < data.edges.length; j++) {
    var ee = document.getElementById("e" + j);
    edges.push({el: ee, step: parseInt(ee.getAttribute("data-step"), 10), child: data.edges[j].child});
  }
  var slider = document.getElementById("slider"), counter = document.getElementById("counter");
  var explain = document.getElementById("explain"), play = document.getElementById("play");
  slider.max = String(last);
  function show(k) {
    cur = Math.max(0, Math.min(last, k));
    var sources = {};
    edges.forEach(function (e) {
      var sent = e.step >= 0 && e.step <= cur, active = e.step === cur;
      e.el.classList.toggle("sent", sent);
      e.el.classList.toggle("active", active);
      if (active) { sources[e.child] = true; }
    });
    nodes.forEach(function (n, id) {
      var constant = n.step < 0;
      n.el.classList.toggle("pending", !constant && n.step > cur);
      n.el.classList.toggle("done", !constant && n.step < cur);
      n.el.classList.toggle("current", n.step === cur);
      n.el.classList.toggle("source", !!sources[id]);
    });
    slider.value = String(cur);
    counter.textContent = "step " + cur + " of " + last;
    explain.textContent = steps[cur].lines.join("\\n");
    reveal(nodes[steps[cur].node].el);
  }
  var main = document.querySelector("main");
  function reveal(el) {
    // Scroll only the diagram (never the page) to bring the current node into view.
    var b = el.getBoundingClientRect(), m = main.getBoundingClientRect(), pad = 24;
    if (b.left < m.left + pad) { main.scrollLeft -= m.left + pad - b.left; }
    else if (b.right > m.right - pad) { main.scrollLeft += b.right - m.right + pad; }
    if (b.top < m.top + pad) { main.scrollTop -= m.top + pad - b.top; }
    else if (b.bottom > m.bottom - pad) { main.scrollTop += b.bottom - m.bottom + pad; }
  }
  function stop() { if (timer !== null) { clearInterval(timer); timer = null; } play.textContent = "▶ play"; }
  function start() {
    if (cur >= last) { show(0); }
    play.textContent = "‖ pause";
    timer = setInterval(function () { if (cur >= last) { stop(); } else { show(cur + 1); } }, 1000 / data.fps);
  }
  play.addEventListener("click", function () { if (timer === null) { start(); } else { stop(); } });
  document.getElementById("first").addEventListener("click", function () { stop(); show(0); });
  document.getElementById("back").addEventListener("click", function () { stop(); show(cur - 1); });
  document.getElementById("forward").addEventListener("click", function () { stop(); show(cur + 1); });
  document.getElementById("end").addEventListener("click", function () { stop(); show(last); });
  slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });
  document.addEventListener("keydown", function (ev) {
    if (ev.target === slider) { return; }
    if (ev.key === "ArrowRight") { stop(); show(cur + 1); ev.preventDefault(); }
    else if (ev.key === "ArrowLeft") { stop(); show(cur - 1); ev.preventDefault(); }
    else if (ev.key === " ") { if (timer === null) { start(); } else { stop(); } ev.preventDefault(); }
  });
  var fit = document.getElementById("fit"), svg = document.getElementById("graph");
  function setFit() { svg.classList.toggle("fit", fit.checked); reveal(nodes[steps[cur].node].el); }
  fit.addEventListener("change", setFit);
  // Fit by default when that shrinks the text by at most a third.
  fit.checked = svg.width.baseVal.value <= 1.5 * main.clientWidth;
  svg.classList.toggle("fit", fit.checked);
  var m = /step=(\\d+)/.exec(window.location.hash);
  show(m ? parseInt(m[1], 10) : 0);
})();
"""


_LEGEND = """<div class="legend">Each arrow is an edge of the forward pass; <b>∂</b> is its local derivative \
d(consumer)/d(input). Going backward, a node's gradient is the sum over its outgoing edges of \
consumer's grad × local derivative. <b>orange</b>: this step; <b>green</b>: gradient known; \
<b>red dashed</b>: blocked (local derivative ≈ 0); \
blue: inputs; purple: parameters; dashed boxes: constants (no gradient). \
Hover over a node or an edge for details; keys ← → and space step and play.</div>
"""


def _html(title: str, svg: str, data: str, n_steps: int, legend: bool = True) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_t(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{_t(title)}</h1>
<div class="controls">
<button id="first" type="button" title="first step">|◀</button>
<button id="back" type="button" title="step back (←)">◀</button>
<button id="play" type="button" title="play / pause (space)">▶ play</button>
<button id="forward" type="button" title="step forward (→)">▶</button>
<button id="end" type="button" title="last step">▶|</button>
<input id="slider" type="range" min="0" max="{n_steps - 1}" value="0" aria-label="step">
<span id="counter">step 0 of {n_steps - 1}</span>
<label title="scale the diagram to the window's width"><input id="fit" type="checkbox"> fit to width</label>
</div>
<div id="explain" aria-live="polite">Turn on JavaScript to step through the backward pass; \
the diagram shows every gradient.</div>
{_LEGEND if legend else ""}</header>
<main>{svg}</main>
<script type="application/json" id="chainrule-data">{data}</script>
<script>{_JS}</script>
</body>
</html>
"""


def animate_backward(
    root: Value,
    path: str | os.PathLike[str],
    *,
    grads: GradSource = "auto",
    fps: float = 1.0,
    title: str | None = None,
    max_nodes: int = MAX_NODES,
    view: str = "auto",
    detail: Sequence[str] | None = None,
    legend: bool = True,
) -> Path:
    """Write a self-contained HTML page that steps through the backward pass of ``root``.

    Args:
        root: the output Value.
        path: the file to write (conventionally ``.html``); its directory must exist.
        grads: which gradients to show, as :func:`viz.trace.trace`: "stored" (``.grad``
            after ``backward()``), "computed" (d(root)/d(node), ``.grad`` untouched) or
            "auto" (stored if ``root.grad`` is non-zero, else computed).
        fps: steps per second when playing.
        title: the page's heading; default "Backward pass of <root>".
        max_nodes: refuse graphs with more nodes than this (a stepped page of thousands
            of nodes is unreadable).
        view, detail: :func:`viz.draw`'s options. The page steps through the
            scalar graph: "auto" and "scalar" draw it; "network" and ``detail``
            are refused with a message until the page animates the network view.
        legend: show the explanation under the controls.

    Returns:
        The path written.

    Raises:
        TypeError: root is not a Value, or path is not a path.
        ValueError: a bad ``fps``/``max_nodes``/``grads``, or the graph has more than ``max_nodes`` nodes.
    """
    if not isinstance(root, Value):
        raise TypeError(f"animate_backward(): root must be an autograd Value, got {type(root).__name__} {root!r:.60}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"animate_backward(): path must be a str or path, got {type(path).__name__} {path!r:.60}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"animate_backward(): fps must be a finite number > 0, got {fps!r}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"animate_backward(): max_nodes must be an int >= 1, got {max_nodes!r}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"animate_backward(): title must be a str or None, got {type(title).__name__}")
    if view not in ("auto", "scalar", "network"):
        raise ValueError(f"animate_backward(): view must be 'auto', 'scalar' or 'network', got {view!r}")
    if view == "network" or detail:
        raise ValueError("animate_backward(): the page steps through the scalar graph, one node's gradient at a "
                         "time; the network view (view='network', detail=...) is drawn by viz.draw and viz.render")
    if not isinstance(legend, bool):
        raise TypeError(f"animate_backward(): legend must be True or False, got {legend!r}")
    size = len(autograd.topological_order(root))
    if size > max_nodes:
        raise ValueError(
            f"animate_backward(): the graph has {size} nodes, more than max_nodes={max_nodes}; a step-by-step "
            "page of it would be unreadable. Animate a smaller piece (one neuron, a few samples), pass a larger "
            "max_nodes, or draw the whole graph with viz.draw(root), which collapses modules into summary nodes "
            "(collapse=['layers.0', ...] picks them)."
        )
    tr = trace(root, grads=grads)
    steps = backward_steps(tr)
    root_node = tr.nodes[tr.root]
    if title is None:
        title = f"Backward pass of {_name(root_node) if root_node.label else 'the output'}"
    page = _html(title, _svg(tr, steps, _layout(tr)), _data(tr, steps, float(fps)), len(steps), legend)
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out

