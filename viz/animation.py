"""Write the backward pass as one self-contained HTML page that animates the static diagram, wave by wave.

One picture: the page embeds the SVG that :func:`viz.draw` renders for the same
graph and options (scalar or network view, ``collapse``, ``detail``), so the
colours, the number format, the factor order on the edges (``<- local * g =
term``) and the legend are the diagram's own. The page animates that SVG by
toggling classes on its nodes and edges, found by their SVG ids and DOT names:
a node is drawn grey, with ``grad ?``, until its gradient is known, and then
takes its colour. There is no second layout engine.

Order: step 0 is the output (its gradient is the seed). Then one step per wave
front: every node whose longest path to the output has k edges becomes known
at step k, all together (``order="node"`` goes one node at a time instead). The
network view steps one layer at a time, right to left. Each step's panel lists
the chain-rule sums that complete at it. An optional forward phase
(``forward=True``) first shows the values arriving, level by level, left to
right.

The page needs nothing but a browser: the steps are embedded as JSON and a
little inline JavaScript steps, plays, zooms and pans (mouse, wheel with Ctrl,
touch); the arrow keys step, ``#step=N`` in the address opens step N, and a
click on a node pins its equation. There are no external URLs.
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Literal

from chainrule.autograd import Value
from chainrule.viz.backend import Limits
from chainrule.viz.diagram import _plan, build_digraph
from chainrule.viz.network import find_network, is_network, network_digraph
from chainrule.viz.theme import Theme
from chainrule.viz.trace import CONSTANT_ROLE, GradSource, Node, Trace, trace

__all__ = ["MAX_NODES", "Step", "Sum", "animate_backward", "backward_steps", "node_names", "shorten"]

MAX_NODES = 150
"""Default size limit (drawn nodes of the scalar view, as :func:`viz.draw`): above it the page switches by
itself to the network view (a graph of nn modules) or to collapsed modules and stacked nodes."""

_NAME_CHARS = 28  # longer names are shortened from the left, so the indices at the end stay
_MAX_TERMS = 6  # terms written out in a sum; more are summarised (all are in Sum.terms)
_MIN_TEXT_PX = 11.0  # no text is drawn smaller than this at the fitted scale
_SVG = "http://www.w3.org/2000/svg"
_XLINK = "http://www.w3.org/1999/xlink"
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*|-?[0-9.]+(e[-+]?[0-9]+)?")
# A number as the diagrams write it (not the digits inside a name such as x1 or w.0).
_TERM = re.compile(r"(.*?(?:<-|->|\^|v) \S+ \* )\S+( = )\S+")  # an edge label: "<- local * g = term"
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d+(?:\.\d*)?(?:e[-+]?\d+)?|inf|nan)(?![\w.])")


@dataclass(frozen=True, slots=True)
class Sum:
    """One node's chain-rule sum: its gradient as the sum over its outgoing edges of local × upstream.

    Attributes:
        node: the node's id in the :class:`~viz.trace.Trace`.
        name: what the page calls it (see :func:`node_names`).
        grad: its gradient (the sum of the terms' contributions, plus any ``elsewhere``).
        edges: indices into ``Trace.edges`` of its outgoing edges that carry a term, in edge order.
        terms: per edge, (local derivative, consumer's grad, contribution): the factor order of the diagram.
        elsewhere: gradient that reached the stored ``.grad`` from consumers outside this graph.
        lines: the explanation, symbolic then numeric (``dL/dw1 = d(x1*w1)/dw1 * dL/d(x1*w1)``, ``= 2 * 0.5 = 1``).
    """

    node: int
    name: str
    grad: float
    edges: tuple[int, ...]
    terms: tuple[tuple[float, float, float], ...]
    elsewhere: float
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the backward pass: the nodes whose gradients become known together.

    Attributes:
        nodes: their ids, in reverse topological order.
        sums: their chain-rule sums, in the same order.
        title: what the step is ("depth 2 from the output: 3 gradients").
    """

    nodes: tuple[int, ...]
    sums: tuple[Sum, ...]
    title: str

    @property
    def lines(self) -> tuple[str, ...]:
        """All the step's sums, each as one line (symbolic = numeric)."""
        return tuple("   ".join(s.lines) for s in self.sums)


def _clean(text: str) -> str:
    """Make any text safe to show: control characters, line separators and lone surrogates become escapes."""
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            code = ord(ch)
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\x{code:02x}" if code < 0x100 else
                                                                f"\\u{code:04x}"))
        else:
            out.append(ch)
    return "".join(out)


def shorten(text: str, limit: int = _NAME_CHARS) -> str:
    """Shorten a name from the left, at a dot, so its end (the indices of a module path) stays: ``…1.neurons.0.b``.

    Args:
        text: the name.
        limit: the most characters kept, the ellipsis included.

    Returns:
        The name, or ``…`` and at most its last ``limit - 1`` characters.
    """
    if len(text) <= limit:
        return text
    tail = text[len(text) - (limit - 1):]
    # Cut at a dot where one is near, so no index loses digits ("…12.neurons.0", not "…2.neurons.0").
    dot = tail.find(".")
    if 0 <= dot < len(tail) // 2 and dot + 1 < len(tail):
        tail = tail[dot + 1:]
    return "…" + tail


def _wrap(name: str) -> str:
    return name if _SIMPLE.fullmatch(name) else f"({name})"


def node_names(tr: Trace, theme: Theme | None = None) -> list[str]:
    """A readable name per node: its label; else its op and module (``relu@layers.1.neurons.0``); else its
    expression (``x1*w1``) when short; constants by their value. Long names are shortened from the left.

    Args:
        tr: the traced graph.
        theme: the number format of constants (default :class:`Theme`).

    Returns:
        One name per node, in id order; repeated names get ``#2``, ``#3``, ... .
    """
    theme = Theme() if theme is None else theme
    ins = tr.in_edges()
    names: list[str] = []
    seen: dict[str, int] = {}
    for n in tr.nodes:
        if n.label:
            name = shorten(_clean(n.label))
        elif n.role == CONSTANT_ROLE:
            name = theme.fmt(n.data)
        elif not n.op:
            name = f"input#{n.id}"
        else:
            symbol = n.symbol or n.op
            if n.scope:
                name = f"{symbol}@{shorten(_clean(n.scope), _NAME_CHARS - len(symbol) - 1)}"
            else:
                args = [names[tr.edges[i].parent] for i in ins[n.id]]
                if n.op in _INFIX and len(args) == 2:
                    name = f"{_wrap(args[0])}{_INFIX[n.op]}{_wrap(args[1])}"
                else:
                    name = f"{symbol}({', '.join(args)})"
                if len(name) > _NAME_CHARS and n.id == tr.root:
                    name = "output"
                elif len(name) > _NAME_CHARS:
                    first = args[0] if args else ""
                    name = f"{symbol}({first}, …)" if len(args) > 1 else f"{symbol}({first})"
                    if len(name) > _NAME_CHARS:
                        name = f"{symbol}(…)"
        if n.role != CONSTANT_ROLE:
            count = seen.get(name, 0) + 1
            seen[name] = count
            if count > 1:
                name = f"{name}#{count}"
        names.append(name)
    return names


def _sums(tr: Trace, names: list[str], theme: Theme) -> dict[int, Sum]:
    """Every non-constant node's chain-rule sum, keyed by node id."""
    out_edges = tr.out_edges()
    fmt = theme.fmt
    r = _wrap(names[tr.root])
    sums: dict[int, Sum] = {}
    for node in tr.nodes:
        if node.role == CONSTANT_ROLE:
            continue
        n = _wrap(names[node.id])
        g = fmt(node.grad)
        if node.id == tr.root:
            seed = "the seed: the backward pass starts here" if node.grad == 1.0 else \
                "the seed given to backward(), summed over calls"
            sums[node.id] = Sum(node.id, names[node.id], node.grad, (), (), 0.0, (f"d{r}/d{r} = {g} ({seed})",))
            continue
        edge_ids = tuple(i for i in out_edges[node.id] if tr.edges[i].contribution is not None)
        terms: list[tuple[float, float, float]] = []
        symbolic: list[str] = []
        numeric: list[str] = []
        for i in edge_ids:
            e = tr.edges[i]
            assert e.local is not None and e.contribution is not None
            terms.append((e.local, e.upstream, e.contribution))
            c = _wrap(names[e.child])
            symbolic.append(f"d{c}/d{n} * d{r}/d{c}")
            numeric.append(f"{fmt(e.local)} * {fmt(e.upstream)}")
        if len(symbolic) > _MAX_TERMS:
            more = f"… ({len(symbolic) - _MAX_TERMS} more terms)"
            symbolic = [*symbolic[:_MAX_TERMS], more]
            numeric = [*numeric[:_MAX_TERMS], more]
        rest = f" + {fmt(node.grad_elsewhere)} (from consumers outside this graph)" if node.grad_elsewhere else ""
        lines = [f"d{r}/d{n} = " + " + ".join(symbolic), "= " + " + ".join(numeric) + rest + f" = {g}"]
        blocked = [tr.edges[i] for i in edge_ids if tr.edges[i].blocker]
        if blocked:
            lines.append("blocked: " + "; ".join(f"{e.blocker} at {names[e.child]}" for e in blocked[:3])
                         + (" …" if len(blocked) > 3 else ""))
        sums[node.id] = Sum(node.id, names[node.id], node.grad, edge_ids, tuple(terms), node.grad_elsewhere,
                            tuple(lines))
    return sums


def _depths(tr: Trace) -> list[int]:
    """Per node, its longest path (in edges that carry gradient) to the output; -1 for constants."""
    depth = [-1] * len(tr.nodes)
    depth[tr.root] = 0
    # Edges are grouped by child in topological order: walking them backwards settles a child before its parents.
    for e in reversed(tr.edges):
        if e.contribution is not None and depth[e.child] >= 0 and depth[e.child] + 1 > depth[e.parent]:
            depth[e.parent] = depth[e.child] + 1
    return depth


def backward_steps(tr: Trace, *, order: Literal["depth", "node"] = "depth", theme: Theme | None = None) -> list[Step]:
    """Return the steps of the backward pass of a traced graph, the output first.

    Args:
        tr: a :class:`~viz.trace.Trace` (from :func:`viz.trace.trace`).
        order: "depth" (default): one step per wave front, every node whose longest path to the output has
            k edges at step k; "node": one node per step, in reverse topological order.
        theme: the number format (default :class:`Theme`, as the diagrams).

    Returns:
        The steps; every node but the constants is in exactly one, after all its consumers.
    """
    if order not in ("depth", "node"):
        raise ValueError(f"order must be 'depth' or 'node', got {order!r}")
    theme = Theme() if theme is None else theme
    names = node_names(tr, theme)
    sums = _sums(tr, names, theme)
    if order == "node":
        return [Step((i,), (sums[i],), f"{names[i]}") for i in reversed(range(len(tr.nodes))) if i in sums]
    depth = _depths(tr)
    waves: list[list[int]] = [[] for _ in range(max(depth) + 1)]
    for i in reversed(range(len(tr.nodes))):
        if depth[i] >= 0:
            waves[depth[i]].append(i)
    steps = []
    for k, wave in enumerate(waves):
        what = "the output" if k == 0 else f"{k} edge{'s' if k != 1 else ''} from the output"
        count = f"{len(wave)} gradient{'s' if len(wave) != 1 else ''}"
        steps.append(Step(tuple(wave), tuple(sums[i] for i in wave), f"{what}: {count}"))
    return steps


# ----------------------------------------------------------------------------
# The picture: which SVG element becomes known at which step
# ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Timeline:
    """When each trace node's value and gradient appear (step indices, -1: from the start), and the steps."""

    value_at: list[int]
    grad_at: list[int]
    titles: list[str]
    panel: list[list[int]]  # per step, the trace nodes whose sums (or values) the panel lists
    forward_steps: int


def _scalar_timeline(tr: Trace, order: str, forward: bool, theme: Theme) -> _Timeline:
    steps = backward_steps(tr, order=order, theme=theme)  # type: ignore[arg-type]
    n = len(tr.nodes)
    value_at = [-1] * n
    titles: list[str] = []
    panel: list[list[int]] = []
    offset = 0
    if forward:
        levels = max(node.level for node in tr.nodes) + 1
        for node in tr.nodes:
            value_at[node.id] = node.level
        for level in range(levels):
            members = [node.id for node in tr.nodes if node.level == level and node.role != CONSTANT_ROLE]
            titles.append(f"forward, level {level}: {len(members)} value{'s' if len(members) != 1 else ''}")
            panel.append(members)
        offset = levels
    grad_at = [-1] * n
    for k, step in enumerate(steps):
        for i in step.nodes:
            grad_at[i] = offset + k
        titles.append(f"backward, {step.title}")
        panel.append(list(step.nodes))
    return _Timeline(value_at, grad_at, titles, panel, offset)


def _network_timeline(tr: Trace, sample: int, forward: bool) -> tuple[_Timeline, dict[str, tuple[int, int]]]:
    """One backward step per layer, right to left (the loss first); per DOT name, its (value, grad) steps."""
    net = find_network(tr, sample=sample)
    last = len(net.columns) - 1
    has_loss = net.loss is not None
    n = len(tr.nodes)
    offset = (last + 1 + has_loss) if forward else 0
    first = offset + has_loss  # the step at which the output column's gradients are known

    def grad_step(column: int) -> int:
        return first + (last - column)

    value_at = [-1] * n
    grad_at = [-1] * n
    titles: list[str] = []
    panel: list[list[int]] = [[] for _ in range(offset + has_loss + last + 1)]
    names: dict[str, tuple[int, int]] = {}
    in_neurons: set[int] = set()
    for k, u in enumerate(net.units):
        c = u.column
        v = c if forward else -1
        own = [u.node] if u.kind == "input" else [*u.chain, u.dot] if u.chain else [u.dot]
        if u.kind == "neuron":
            in_neurons.update(own)
        for i in own:
            grad_at[i] = grad_step(c)
            value_at[i] = v
        if tr.nodes[u.node].role != CONSTANT_ROLE:
            panel[grad_step(c)].extend(sorted(own, reverse=True))
        if forward:
            panel[c].append(u.node)
        names[f"u{u.node}"] = (v, grad_step(c))
        for kind, i in [("w", i) for i in range(len(u.weights))] + [("x", i) for i in range(len(u.weights))] + (
                [("b", 0)] if u.bias is not None else []):
            names[f"p{k}_{kind}{i}"] = (v, grad_step(c) + 1)
        names[f"p{k}_dot"] = (v, grad_step(c))
        for a in u.chain:
            names[f"p{k}_act{a}"] = (v, grad_step(c))
        params = [*u.weights, *([] if u.bias is None else [u.bias])]
        for p in params:
            grad_at[p] = grad_step(c) + 1
            names[f"l{p}"] = (-1, grad_step(c) + 1)
        if u.bias is not None:
            names[f"b{u.bias}"] = (-1, grad_step(c) + 1)
        if c >= 1:
            panel[grad_step(c) + 1].extend(params)
    if has_loss:
        assert net.loss is not None
        names["loss"] = (offset - 1 if forward else -1, offset)
        tail = [node.id for node in reversed(tr.nodes)
                if node.op and node.id not in in_neurons and node.role != CONSTANT_ROLE]
        for i in tail:
            grad_at[i] = offset
            value_at[i] = offset - 1 if forward else -1
        panel[offset] = tail
        if forward:
            panel[offset - 1] = [net.loss]
    if forward:
        titles += [f"forward: {'the inputs' if c == 0 else f'layer {c}'}" for c in range(last + 1)]
        if has_loss:
            titles.append("forward: the loss")
    if has_loss:
        titles.append("backward: the loss (the seed)")
    for c in range(last, -1, -1):
        what = "the inputs" if c == 0 else f"layer {c}" + (" (the outputs)" if c == last else "")
        titles.append(f"backward: {what}" + (f" and the weights into layer {c + 1}" if c < last else ""))
    return _Timeline(value_at, grad_at, titles, panel, offset), names


def _text_of(el: ET.Element) -> str:
    return "".join(el.itertext())


def _mark_texts(group: ET.Element, is_edge: bool, grad_only: bool) -> None:
    """Mark the texts that show a gradient (class cr-g) or a value (cr-d), with their masked form ("grad ?")."""
    for t in group.iter(f"{{{_SVG}}}text"):
        text = _text_of(t).strip()
        if not text:
            continue
        if is_edge or grad_only or text.startswith(("grad", "max |grad|")) or t.get("font-style") == "italic" \
                or re.search(r"\bterm\b|\bsum\b", text):
            kind = "cr-g"
        elif text.startswith("data ") or _NUMBER.fullmatch(text):
            kind = "cr-d"
        else:
            continue
        # An edge's local derivative is known from the forward pass: only the consumer's grad and the term wait.
        term = _TERM.fullmatch(_text_of(t)) if is_edge else None
        masked = f"{term.group(1)}?{term.group(2)}?" if term else _NUMBER.sub("?", _text_of(t))
        if masked == _text_of(t):
            continue
        t.set("class", kind)
        t.set("data-m", masked)


def _annotate(svg: str, view: str, tr: Trace, plan_units: list[list[int]] | None, line: _Timeline,
              network_names: dict[str, tuple[int, int]]) -> tuple[str, float, float, float]:
    """Add the timeline to the diagram's SVG: data-v (value step), data-g (gradient step), data-n (trace nodes)
    on every node and edge group; classes on the texts that show numbers. Return the SVG and its viewBox size
    and the smallest font size in it (viewBox units)."""
    ET.register_namespace("", _SVG)
    ET.register_namespace("xlink", _XLINK)
    body = svg[svg.index("<svg"):]
    root = ET.fromstring(body)
    box = [float(x) for x in (root.get("viewBox") or "0 0 100 100").split()]
    width, height = box[2], box[3]
    scale = 1.0
    graph = root.find(f"{{{_SVG}}}g")
    if graph is not None:
        m = re.search(r"scale\(([-\d.]+)", graph.get("transform") or "")
        scale = float(m.group(1)) if m else 1.0
    smallest = math.inf
    for t in root.iter(f"{{{_SVG}}}text"):
        if _text_of(t).strip():
            smallest = min(smallest, float(t.get("font-size") or 14.0) * scale)
    for attr in ("width", "height"):
        root.attrib.pop(attr, None)
    root.set("id", "graph")
    root.set("preserveAspectRatio", "xMinYMin meet")
    edges = tr.edges
    unit_of: list[int] | None = None
    if plan_units is not None:
        unit_of = [-1] * len(tr.nodes)
        for k, members_of_unit in enumerate(plan_units):
            for i in members_of_unit:
                unit_of[i] = k
    for g in root.iter(f"{{{_SVG}}}g"):
        classes = (g.get("class") or "").split()
        if "node" not in classes and "edge" not in classes:
            continue
        gid = g.get("id") or ""
        title_el = g.find(f"{{{_SVG}}}title")
        title = (title_el.text or "") if title_el is not None else ""
        is_edge = "edge" in classes
        members: list[int] = []
        timing: tuple[int, int] | None = None
        if view == "scalar":
            m = re.fullmatch(r"e(\d+)", gid) if is_edge else re.fullmatch(r"n(\d+)(?:_row\d+)?|g(\d+)", gid)
            if m is None:
                continue
            if is_edge:
                e = edges[int(m.group(1))]
                members = [e.parent]
                # An edge's term arrives when its parent's sum completes; its value with its child's.
                timing = (line.value_at[e.child], line.grad_at[e.parent] if e.contribution is not None else -1)
                if "edge-summary" in classes and unit_of is not None:  # all the edges between two summaries
                    pair = (unit_of[e.parent], unit_of[e.child])
                    same = [f for f in edges if (unit_of[f.parent], unit_of[f.child]) == pair]
                    members = sorted({f.parent for f in same})
                    timing = (max(line.value_at[f.child] for f in same),
                              max((line.grad_at[f.parent] for f in same if f.contribution is not None), default=-1))
            else:
                if m.group(1) is not None:
                    members = [int(m.group(1))]
                else:
                    assert plan_units is not None
                    members = plan_units[int(m.group(2))]
                graded = [i for i in members if line.grad_at[i] >= 0]
                timing = (max((line.value_at[i] for i in members), default=-1),
                          max((line.grad_at[i] for i in graded), default=-1))
        elif is_edge:
            tail, _, head = title.partition("->")
            tail, head = tail.split(":")[0], head.split(":")[0]
            if head == "loss":  # carries dL/d(output): known with the output neuron
                timing = network_names.get(tail)
            elif head.endswith("_port"):  # a weight's (or bias's) term into a detailed neuron's dot node
                timing = network_names.get(head[: -len("_port")])
            elif head.startswith("p") and tail.startswith("p"):  # dot -> activation inside a detailed neuron
                timing = network_names.get(head)
            elif head.startswith("u"):  # a weight edge: dL/dw is known one step after the neuron it feeds
                found = network_names.get(head)
                timing = None if found is None else (-1, found[1] + 1)
            else:
                timing = network_names.get(head)
        else:
            timing = network_names.get(title[: -len("_label")] if title.endswith("_label") else title)
        if timing is None:
            continue
        value_step, grad_step = timing
        if value_step < 0 and grad_step < 0:
            continue
        g.set("data-v", str(value_step))
        g.set("data-g", str(grad_step))
        if members:
            g.set("data-n", " ".join(map(str, members)))
        elif not is_edge and view == "network":
            m = re.fullmatch(r"u(\d+)|b(\d+)|l(\d+)", title)
            if m:
                g.set("data-n", next(x for x in m.groups() if x is not None))
        _mark_texts(g, is_edge, view == "network" and title.startswith("l"))
    return ET.tostring(root, encoding="unicode"), width, height, smallest


# ----------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------


def _t(text: str) -> str:
    return escape(_clean(text), quote=False)


def _json(data: object) -> str:
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    # Inside <script>, "</script>" or "<!--" in a label would end the block early.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_CSS = """
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body { font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2433; background: #fff;
  display: flex; flex-direction: column; overflow: hidden; }
header { flex: none; display: flex; align-items: center; gap: 5px; padding: 4px 8px; border-bottom: 1px solid #e5e7eb;
  white-space: nowrap; overflow-x: auto; }
h1 { font-size: 13px; font-weight: 600; margin: 0 6px 0 0; overflow: hidden; text-overflow: ellipsis; min-width: 3em;
  flex: 0 1 auto; }
button { font: inherit; min-width: 28px; height: 26px; padding: 0 7px; border: 1px solid #cbd2dc; border-radius: 5px;
  background: #fff; cursor: pointer; }
button:hover { background: #f1f5f9; }
#slider { flex: 1 1 120px; min-width: 40px; }
#counter { color: #52525b; font-variant-numeric: tabular-nums; }
#notice { flex: none; padding: 3px 8px; background: #fff7d6; border-bottom: 1px solid #eed27a; font-size: 12px; }
#stage { flex: 1 1 auto; min-height: 0; overflow: auto; touch-action: none; cursor: grab; position: relative; }
#stage.dragging { cursor: grabbing; }
#graph { display: block; }
#panel { flex: none; max-height: 26vh; overflow: auto; border-top: 1px solid #e5e7eb; padding: 4px 8px;
  background: #fafafa; font: 12px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
#panel summary { cursor: pointer; font-family: system-ui, sans-serif; font-weight: 600; }
#sums div, #pinned div { white-space: pre-wrap; overflow-wrap: anywhere; }
#pinned { border-left: 3px solid #1d2433; padding-left: 6px; margin-top: 3px; }
#about { font-size: 12px; color: #3f3f46; white-space: normal; }
#about[open] { position: absolute; right: 8px; top: 34px; z-index: 2; background: #fff; border: 1px solid #cbd2dc;
  border-radius: 6px; padding: 6px 10px; max-width: 30em; box-shadow: 0 2px 8px rgba(0,0,0,.15); }
#about summary { cursor: pointer; }
/* The animation: a node is grey, its gradient "?", until the gradient is known; then it takes its colour. */
#graph g.node.cr-pending :is(path, polygon, ellipse):not([fill="none"]):not([fill="white"]) { fill: #eeeeee; }
#graph g.node.cr-pending text { fill: #3f3f46; }
#graph g.edge.cr-pending :is(path, polygon, polyline) { stroke: #cfcfcf; }
#graph g.edge.cr-pending polygon { fill: #cfcfcf; }
#graph g.edge.cr-pending text { fill: #71717a; }
#graph g.node.cr-now:not(.grad-label):not(.term-label) :is(path, polygon, ellipse):not([fill="none"]) {
  stroke: #111; stroke-width: 3px; }
#graph g.edge.cr-now path { stroke-width: 3px; stroke-dasharray: 8 5; animation: cr-flow 0.8s linear infinite; }
#graph g.edge.cr-now text { font-weight: bold; }
#graph g.node.cr-pinned :is(path, polygon, ellipse):not([fill="none"]) { stroke: #7c3aed; stroke-width: 3px; }
#graph g.node { cursor: pointer; }
@keyframes cr-flow { to { stroke-dashoffset: 26; } }
@media (prefers-reduced-motion: reduce) { #graph g.edge.cr-now path { animation: none; stroke-dasharray: none; } }
"""

_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chainrule-data").textContent);
  var last = data.steps.length - 1, cur = 0, timer = null, pinned = null;
  var svg = document.getElementById("graph"), stage = document.getElementById("stage");
  var groups = Array.prototype.map.call(svg.querySelectorAll("g[data-g]"), function (el) {
    var texts = Array.prototype.map.call(el.querySelectorAll("text[data-m]"), function (t) {
      return {el: t, shown: t.textContent, masked: t.getAttribute("data-m"), grad: t.getAttribute("class") === "cr-g"};
    });
    return {el: el, v: parseInt(el.getAttribute("data-v"), 10), g: parseInt(el.getAttribute("data-g"), 10),
            texts: texts};
  });
  var slider = document.getElementById("slider"), counter = document.getElementById("counter");
  var title = document.getElementById("steptitle"), sums = document.getElementById("sums");
  var pin = document.getElementById("pinned"), play = document.getElementById("play");
  slider.max = String(last);
  function line(text) { var d = document.createElement("div"); d.textContent = text; return d; }
  function show(k) {
    cur = Math.max(0, Math.min(last, k));
    groups.forEach(function (x) {
      var valued = x.v <= cur, graded = x.g < 0 || x.g <= cur;
      x.el.classList.toggle("cr-pending", x.g >= 0 && x.g > cur);
      x.el.classList.toggle("cr-now", x.g === cur || (x.g < 0 && x.v === cur));
      x.texts.forEach(function (t) {
        var known = t.grad ? graded && valued : valued;
        var text = known ? t.shown : t.masked;
        if (t.el.textContent !== text) { t.el.textContent = text; }
      });
    });
    var step = data.steps[cur];
    slider.value = String(cur);
    counter.textContent = "step " + cur + " of " + last;
    title.textContent = step.title;
    sums.textContent = "";
    step.lines.forEach(function (l) { sums.appendChild(line(l)); });
    if (!userToggled) { details.open = step.lines.length <= 3; }
    reveal();
    if (location.hash !== "#step=" + cur && history.replaceState) { history.replaceState(null, "", "#step=" + cur); }
  }
  var details = document.getElementById("details"), userToggled = false;
  details.querySelector("summary").addEventListener("click", function () { userToggled = true; });
  function reveal() {
    // Bring the step's nodes into view: scroll the diagram only (never the page), centring them if off-screen.
    var now = svg.querySelectorAll("g.node.cr-now");
    if (!now.length) { now = svg.querySelectorAll("g.cr-now"); }
    if (!now.length) { return; }
    var m = stage.getBoundingClientRect(), l = Infinity, t = Infinity, r = -Infinity, b = -Infinity;
    Array.prototype.forEach.call(now, function (el) {
      var x = el.getBoundingClientRect();
      l = Math.min(l, x.left); t = Math.min(t, x.top); r = Math.max(r, x.right); b = Math.max(b, x.bottom);
    });
    var pad = 16;  // scroll as little as brings them in (centred when they are larger than the stage)
    if (r - l > m.width - 2 * pad) { stage.scrollLeft += (l + r - m.left - m.right) / 2; }
    else if (r > m.right - pad) { stage.scrollLeft += r - m.right + pad; }
    else if (l < m.left + pad) { stage.scrollLeft -= m.left + pad - l; }
    if (b - t > m.height - 2 * pad) { stage.scrollTop += (t + b - m.top - m.bottom) / 2; }
    else if (b > m.bottom - pad) { stage.scrollTop += b - m.bottom + pad; }
    else if (t < m.top + pad) { stage.scrollTop -= m.top + pad - t; }
  }
  function stop() { if (timer !== null) { clearInterval(timer); timer = null; } play.textContent = "\u25b6"; }
  function start() {
    if (cur >= last) { show(0); }
    play.textContent = "\u2016";
    timer = setInterval(function () { if (cur >= last) { stop(); } else { show(cur + 1); } }, 1000 / data.fps);
  }
  play.addEventListener("click", function () { if (timer === null) { start(); } else { stop(); } });
  document.getElementById("first").addEventListener("click", function () { stop(); show(0); });
  document.getElementById("back").addEventListener("click", function () { stop(); show(cur - 1); });
  document.getElementById("forward").addEventListener("click", function () { stop(); show(cur + 1); });
  document.getElementById("end").addEventListener("click", function () { stop(); show(last); });
  slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });

  // Zoom and pan. scale: CSS pixels per SVG unit. The fitted scale fits width and height, but never draws
  // text below the minimum size: then the stage scrolls.
  var scale = 1, least = data.minText * 1.003 / data.smallest;  // a hair over: CSS pixels round
  function size(s) {
    scale = Math.max(least, Math.min(s, 8 * least));
    svg.style.width = (data.width * scale) + "px";
    svg.style.height = (data.height * scale) + "px";
  }
  function fitted() {
    var w = stage.clientWidth - 4, h = stage.clientHeight - 4;
    return Math.max(least, Math.min(w / data.width, h / data.height, Math.max(2, least)));
  }
  function zoom(factor, cx, cy) {
    var r = stage.getBoundingClientRect();
    var x = (cx === undefined ? r.width / 2 : cx - r.left), y = (cy === undefined ? r.height / 2 : cy - r.top);
    var ux = (stage.scrollLeft + x) / scale, uy = (stage.scrollTop + y) / scale;
    size(scale * factor);
    stage.scrollLeft = ux * scale - x; stage.scrollTop = uy * scale - y;
  }
  document.getElementById("zoomin").addEventListener("click", function () { zoom(1.25); });
  document.getElementById("zoomout").addEventListener("click", function () { zoom(0.8); });
  document.getElementById("fit").addEventListener("click", function () { size(fitted()); });
  stage.addEventListener("wheel", function (ev) {
    if (!ev.ctrlKey) { return; }  // a plain wheel scrolls; Ctrl+wheel (and a trackpad's pinch) zooms
    ev.preventDefault();
    zoom(Math.exp(-ev.deltaY / 300), ev.clientX, ev.clientY);
  }, {passive: false});
  var pointers = {}, pinch = 0, moved = 0;
  stage.addEventListener("pointerdown", function (ev) {
    pointers[ev.pointerId] = {x: ev.clientX, y: ev.clientY}; moved = 0;
    stage.classList.add("dragging");
    var ids = Object.keys(pointers);
    if (ids.length === 2) {  // a pinch starts: the fingers' distance is the baseline
      pinch = Math.hypot(pointers[ids[0]].x - pointers[ids[1]].x, pointers[ids[0]].y - pointers[ids[1]].y);
    }
  });
  function release(ev) {
    delete pointers[ev.pointerId]; pinch = 0;
    if (Object.keys(pointers).length === 0) { stage.classList.remove("dragging"); }
  }
  stage.addEventListener("pointerup", release);
  stage.addEventListener("pointercancel", release);
  stage.addEventListener("pointerleave", release);
  stage.addEventListener("pointermove", function (ev) {
    var p = pointers[ev.pointerId];
    if (!p) { return; }
    var ids = Object.keys(pointers);
    if (ids.length === 2) {
      p.x = ev.clientX; p.y = ev.clientY;
      var a = pointers[ids[0]], b = pointers[ids[1]], d = Math.hypot(a.x - b.x, a.y - b.y);
      if (pinch) { zoom(d / pinch, (a.x + b.x) / 2, (a.y + b.y) / 2); }
      pinch = d; moved += 10; return;
    }
    var dx = ev.clientX - p.x, dy = ev.clientY - p.y;
    moved += Math.abs(dx) + Math.abs(dy);
    stage.scrollLeft -= dx; stage.scrollTop -= dy;
    p.x = ev.clientX; p.y = ev.clientY;
  });
  // A click on a node pins its equation (a drag is not a click).
  svg.addEventListener("click", function (ev) {
    if (moved > 5) { return; }
    var g = ev.target.closest ? ev.target.closest("g[data-n]") : null;
    if (pinned) { pinned.classList.remove("cr-pinned"); }
    if (!g || g === pinned || !g.classList.contains("node")) { pinned = null; pin.hidden = true; return; }
    pinned = g; g.classList.add("cr-pinned");
    pin.textContent = "";
    g.getAttribute("data-n").split(" ").forEach(function (id) {
      (data.sums[id] || [data.names[id] + ": a constant, no gradient"]).forEach(function (l) {
        pin.appendChild(line(l));
      });
    });
    pin.hidden = false;
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.target === slider && (ev.key === "ArrowLeft" || ev.key === "ArrowRight")) { return; }
    var k = ev.key;
    if (k === "ArrowRight") { stop(); show(cur + 1); }
    else if (k === "ArrowLeft") { stop(); show(cur - 1); }
    else if (k === "Home") { stop(); show(0); }
    else if (k === "End") { stop(); show(last); }
    else if (k === " ") { if (timer === null) { start(); } else { stop(); } }
    else if (k === "+" || k === "=") { zoom(1.25); }
    else if (k === "-") { zoom(0.8); }
    else if (k === "0") { size(fitted()); }
    else { return; }
    ev.preventDefault();
  });
  size(fitted());
  var fitOnResize = true;
  stage.addEventListener("pointerdown", function () { fitOnResize = false; });
  window.addEventListener("resize", function () { if (fitOnResize) { size(fitted()); } });
  function fromHash() { var m = /step=(\d+)/.exec(window.location.hash); return m ? parseInt(m[1], 10) : 0; }
  window.addEventListener("hashchange", function () { stop(); show(fromHash()); });
  show(fromHash());
})();
"""


def _about(view: str, order: str, forward: bool) -> str:
    how = ("one step per layer, right to left" if view == "network" else
           "one step per wave front: all nodes the same number of edges from the output" if order == "depth" else
           "one node per step")
    fwd = " The forward phase first shows the values arriving, left to right." if forward else ""
    return (f"The backward pass on the diagram of viz.draw: {how}.{fwd} A node is grey with <i>grad ?</i> until "
            "its gradient is known, then takes the diagram's colour (warm +, cool -). Each edge's label is "
            "<i>&lt;- local * g = term</i>: a node's gradient is the sum of the terms on its outgoing edges. "
            "Keys: ← → step, space plays, + − 0 zoom; drag or scroll to pan, Ctrl+wheel or pinch to zoom; "
            "click a node to pin its equation.")


def _html(title: str, svg: str, data: str, n_steps: int, about: str, notice: str) -> str:
    note = f'<div id="notice" role="status">{_t(notice)}</div>\n' if notice else ""
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
<h1 title="{escape(_clean(title))}">{_t(title)}</h1>
<button id="first" type="button" title="first step (Home)">|◀</button>
<button id="back" type="button" title="step back (←)">◀</button>
<button id="play" type="button" title="play / pause (space)">▶</button>
<button id="forward" type="button" title="step forward (→)">▶▶</button>
<button id="end" type="button" title="last step (End)">▶|</button>
<input id="slider" type="range" min="0" max="{n_steps - 1}" value="0" aria-label="step">
<span id="counter">step 0 of {n_steps - 1}</span>
<button id="zoomout" type="button" title="zoom out (-)">−</button>
<button id="fit" type="button" title="fit to the window (0)">fit</button>
<button id="zoomin" type="button" title="zoom in (+)">+</button>
<details id="about"><summary>?</summary>{about}</details>
</header>
{note}<main id="stage">{svg}</main>
<section id="panel" aria-live="polite"><details id="details" open><summary id="steptitle">\
Turn on JavaScript to step through the backward pass; the diagram shows every gradient.</summary>\
<div id="sums"></div></details><div id="pinned" hidden></div></section>
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
    max_nodes: int | None = MAX_NODES,
    view: str = "auto",
    detail: Sequence[str] | None = None,
    collapse: Sequence[str] | None = None,
    sample: int = 0,
    legend: bool = True,
    order: Literal["depth", "node"] = "depth",
    forward: bool = False,
    theme: Theme | None = None,
    limits: Limits | None = None,
    size_option: str = "max_nodes",
) -> Path:
    """Write a self-contained HTML page that animates the backward pass of ``root`` on its diagram.

    Args:
        root: the output Value.
        path: the file to write (conventionally ``.html``); its directory must exist.
        grads: which gradients to show, as :func:`viz.trace.trace`: "stored", "computed" or "auto".
        fps: steps per second when playing.
        title: the page's heading; default "Backward pass of <root>".
        max_nodes: the size limit (drawn nodes of the scalar view). Above it the page switches by itself to
            the network view (a graph of nn modules) or to collapsed modules and stacked nodes, and says so.
            None: never.
        view, detail, collapse, sample, legend: :func:`viz.draw`'s options; the page embeds that diagram.
        order: "depth" (one step per wave front) or "node" (one node per step); the network view always
            steps one layer at a time.
        forward: first show the forward pass, the values arriving level by level, left to right.
        theme: the diagram's theme (default :class:`Theme`).
        limits: the rendering's limits (see :class:`viz.Limits`).
        size_option: how the page names the size limit when it switches (the CLI passes "--max-nodes").

    Returns:
        The path written.

    Raises:
        TypeError: root is not a Value, or path is not a path.
        ValueError: a bad option. RendererError: the diagram could not be rendered.
    """
    if not isinstance(root, Value):
        raise TypeError(f"animate_backward(): root must be an autograd Value, got {type(root).__name__} {root!r:.60}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"animate_backward(): path must be a str or path, got {type(path).__name__} {path!r:.60}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"animate_backward(): fps must be a finite number > 0, got {fps!r}")
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"animate_backward(): max_nodes must be an int >= 1 or None, got {max_nodes!r}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"animate_backward(): title must be a str or None, got {type(title).__name__}")
    if view not in ("auto", "scalar", "network"):
        raise ValueError(f"animate_backward(): view must be 'auto', 'scalar' or 'network', got {view!r}")
    if order not in ("depth", "node"):
        raise ValueError(f"animate_backward(): order must be 'depth' or 'node', got {order!r}")
    for name, flag in (("legend", legend), ("forward", forward)):
        if not isinstance(flag, bool):
            raise TypeError(f"animate_backward(): {name} must be True or False, got {flag!r}")
    if detail and view == "scalar":
        raise ValueError("animate_backward(): detail expands neurons inside the network view; use view='network' "
                         "(or 'auto')")
    if view == "network" and collapse:
        raise ValueError("animate_backward(): collapse belongs to the scalar view; use view='scalar'")
    theme = Theme() if theme is None else theme
    tr = trace(root, grads=grads)
    drawn = len(tr.nodes)
    notice = ""
    big = max_nodes is not None and drawn > max_nodes
    if view == "auto":
        view = "network" if (big or detail) and not collapse and is_network(tr) else "scalar"
        if big and view == "network":
            notice = (f"This graph has {drawn} nodes, more than {size_option}={max_nodes}: the page shows the "
                      f"network view, one step per layer. Pass a larger {size_option} to step through every node.")
    if view == "network":
        diagram = network_digraph(tr, theme, sample=sample, legend=legend, detail=detail or ())
        timeline, names = _network_timeline(tr, sample, forward)
        units = None
    else:
        diagram = build_digraph(tr, theme, collapse=collapse, max_nodes=max_nodes, legend=legend)
        plan = _plan(tr, collapse=list(collapse or ()), max_nodes=max_nodes, show_constants=True)
        units = [[u] if isinstance(u, int) else list(u.members) for u in plan.units]
        if big and len(plan.units) < drawn:
            notice = (f"This graph has {drawn} nodes, more than {size_option}={max_nodes}: the page collapses "
                      f"modules and stacks parallel nodes ({len(plan.units)} boxes). Pass a larger {size_option} "
                      "to step through every node.")
        timeline, names = _scalar_timeline(tr, order, forward, theme), {}
    diagram.limits = limits
    svg, width, height, smallest = _annotate(diagram.svg(), view, tr, units, timeline, names)
    labels = node_names(tr, theme)
    sums = _sums(tr, labels, theme)
    steps = []
    for k, (step_title, members) in enumerate(zip(timeline.titles, timeline.panel)):
        if k < timeline.forward_steps:
            lines = [f"{labels[i]} = {theme.fmt(tr.nodes[i].data)}" for i in members]
        else:
            lines = ["   ".join(sums[i].lines) for i in members if i in sums]
        steps.append({"title": step_title, "lines": lines})
    root_node: Node = tr.nodes[tr.root]
    if title is None:
        title = f"Backward pass of {labels[tr.root] if root_node.label else 'the output'}"
    data = {
        "fps": float(fps), "view": view, "grads": tr.grads, "width": width, "height": height,
        "smallest": smallest if math.isfinite(smallest) else 10.0, "minText": _MIN_TEXT_PX,
        "steps": steps, "names": labels, "sums": {str(i): list(s.lines) for i, s in sums.items()},
        "grad": [_json_number(n.grad) for n in tr.nodes],
    }
    page = _html(title, svg, _json(data), len(steps), _about(view, order, forward), notice)
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out


def _json_number(x: float) -> float | str:
    return x if math.isfinite(x) else Theme().fmt(x)  # JSON has no inf/nan; "inf" reads back with float()

