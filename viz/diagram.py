"""The scalar view: turn a :class:`viz.trace.Trace` into DOT, every node with the chain-rule term on every edge.

Pure: nothing here runs a renderer (see :mod:`viz.backend`). The colours and
number format come from :class:`viz.theme.Theme`. The text the diagram writes
itself is ASCII, tooltips included (see :mod:`viz.glyphs`: the fallback
renderer measures any other character as spaces and warns). Every label is an
HTML-like label built by :func:`html_text`, the one place where user text is
quoted, so any text (quotes, ``<>&{}|``, backslashes, newlines, control
characters, unicode) reaches the picture as written. DOT ids come from the
trace's ids and first-appearance order, never ``id()``, so the text is
deterministic and snapshot-tested: nodes are ``n<id>``, edges ``e<index>``,
and classes say what each is (``node-parameter negative``, ``edge-term blocked``).

Layout of the work, each step one linear pass: choose the *units* drawn (a
node, a collapsed module, or a stack of parallel nodes), place them in the
module clusters (only modules that hold nodes get a box, so layers sit side
by side), fold a long graph without modules into rows, then emit the nodes
(an op's own leaves chained in argument order: a neuron's ``w.0 ... w.n-1,
b``) and the edges (edges between plain nodes keep the chain-rule term;
edges touching a summary are aggregated), and the legend of what is drawn.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import graphviz
from graphviz.quoting import ESCAPE_UNESCAPED_QUOTES as _ESCAPE_QUOTES
from graphviz.quoting import HTML_STRING as _HTML_STRING
from graphviz.quoting import ID as _DOT_ID
from graphviz.quoting import KEYWORDS as _DOT_KEYWORDS

from chainrule.viz import numeric
from chainrule.viz.backend import RenderedDigraph
from chainrule.viz.theme import Theme
from chainrule.viz.trace import CONSTANT_ROLE, LEAF, OUTPUT, PARAMETER_ROLE, Node, Trace

# ----------------------------------------------------------------------------
# Quoting: the one place user text becomes DOT
# ----------------------------------------------------------------------------

_HTML = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;", ord("\n"): "<BR/>"}
# Graphviz substitutes \N, \G, \E, \T, \H, \L (node name, graph name, ...) even in
# HTML-like text, and reads \\ as one backslash: so a backslash is doubled.
_HTML[ord("\\")] = "\\\\"
# Control characters are not allowed in XML (so not in SVG): show their Unicode
# "control picture" (U+2400 + code) instead, so they stay visible.
_HTML.update({c: chr(0x2400 + c) for c in range(0x20) if c != ord("\n")})
_HTML[0x7F] = "\u2421"
_HTML.update({c: "\ufffd" for c in (0xFFFE, 0xFFFF)})
_HTML[ord("\r")] = ""
_SURROGATES = re.compile("[\ud800-\udfff]")
# Text that may stand as an SVG id as it is (module paths, parameter names); anything else gets a numbered id.
_SAFE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")
_PLAIN = {c: v for c, v in _HTML.items() if (c < 0x20 and c != ord("\n")) or c >= 0x7F}


def html_text(text: str) -> str:
    """Quote text for an HTML-like DOT label: entities for ``& < > "``, ``<BR/>`` for newlines, ``\\\\`` for ``\\``.

    Args:
        text: any text.

    Returns:
        The text as HTML-like label content (no surrounding ``<>``).
    """
    if _SURROGATES.search(text):  # lone surrogates can't be encoded as UTF-8
        text = _SURROGATES.sub("\ufffd", text)
    return text.translate(_HTML)


# Statements written straight into the graph's body: the graphviz package's node() and edge() cost ~40 us per
# quoted attribute (a decorator and three regexes per value), most of the time of a big diagram. These give the
# same text (same quoting rules and patterns, attributes sorted), so the DOT is unchanged.
def _quote_text(value: str) -> str:
    if _HTML_STRING.match(value):
        return value
    if not _DOT_ID.match(value) or value.lower() in _DOT_KEYWORDS:
        # The package's escaping regex only touches double quotes, and costs ~10 us on a long tooltip.
        return f'"{_ESCAPE_QUOTES(value)}"' if '"' in value else f'"{value}"'
    return value


# Short values repeat (colours, classes, styles, widths): quoted once each. Labels and tooltips are long and
# mostly unique, so they are not kept.
_QUOTED: dict[str, str] = {}


def _quote(value: str) -> str:
    quoted = _QUOTED.get(value)
    if quoted is None:
        quoted = _quote_text(value)
        if len(value) <= 32 and len(_QUOTED) < 4096:
            _QUOTED[value] = quoted
    return quoted


def _attributes(label: str | None, attrs: dict[str, str]) -> str:
    parts = [] if label is None else [f"label={_quote(label)}"]
    parts += [f"{k}={_quote(v)}" for k, v in sorted(attrs.items()) if v is not None]  # our keys are plain names
    return f" [{' '.join(parts)}]" if parts else ""


def fast_node(graph: graphviz.Digraph, name: str, label: str | None = None, **attrs: str) -> None:
    """``graph.node(name, label, **attrs)``: the same DOT line, quoted as the graphviz package quotes."""
    graph.body.append(f"\t{_quote(name)}{_attributes(label, attrs)}\n")


def fast_edge(graph: graphviz.Digraph, tail: str, head: str, label: str | None = None, **attrs: str) -> None:
    """``graph.edge(tail, head, label, **attrs)``, the same DOT line, written directly (names without ports)."""
    graph.body.append(f"\t{_quote(tail)} -> {_quote(head)}{_attributes(label, attrs)}\n")


def _label(rows: Iterable[str]) -> str:
    """Join ready-made HTML lines (already quoted) into one HTML-like label."""
    return "<" + "<BR/>".join(rows) + ">"


def _inline(text: str) -> str:
    return f"<{text}>"


def _font(color: str, text: str) -> str:
    return f'<FONT COLOR="{color}">{text}</FONT>'


# ----------------------------------------------------------------------------
# Units: what is drawn (a node, a collapsed module, a stack of parallel nodes)
# ----------------------------------------------------------------------------


@dataclass
class _Group:
    kind: str  # "module" or "stack"
    title: str
    cluster: str | None
    members: list[int] = field(default_factory=list)


@dataclass
class _Plan:
    unit: list[int]  # per node: -1 hidden, else a unit number
    units: list[int | _Group]  # a node id or a group
    cluster_of: list[str | None]  # per unit: the cluster it sits in
    clusters: list[str]  # kept cluster paths, in first-appearance order


def _is_cluster(path: str, exact: set[str]) -> bool:
    # A module path worth a box: a node's own scope, or a list element ("layers.0", "neurons.3").
    return path in exact or path.rsplit(".", 1)[-1].isdigit()


def _prefixes(scope: str) -> list[str]:
    parts = scope.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _cluster_above(chain: list[str], module: str) -> str | None:
    """The innermost kept cluster strictly outside ``module`` (where its summary is drawn)."""
    above = [p for p in chain if len(p) < len(module) and module.startswith(p + ".")]
    return above[-1] if above else None


def _plan(tr: Trace, *, collapse: Sequence[str], max_nodes: int | None, show_constants: bool) -> _Plan:
    nodes = tr.nodes
    visible = [show_constants or n.role != CONSTANT_ROLE for n in nodes]
    scopes = sorted({n.scope for n in nodes if n.scope is not None})
    exact = set(scopes)
    # Per distinct scope: its kept cluster chain, outermost first.
    chains: dict[str | None, list[str]] = {None: []}
    for s in scopes:
        chains[s] = [p for p in _prefixes(s) if _is_cluster(p, exact)]
    all_prefixes = {p for s in scopes for p in _prefixes(s)}
    for p in collapse:
        if p not in all_prefixes:
            known = ", ".join(sorted(c for s in scopes for c in chains[s])[:8]) or "none: no node has a scope"
            raise ValueError(f"collapse: no node is inside the module {p!r} (modules: {known})")

    def build(collapsed: set[str], stacks: int) -> _Plan:
        # stacks: 0 none; 1 parallel nodes (same module, role, op and depth); 2 same module, role and op.
        unit = [-1] * len(nodes)
        units: list[int | _Group] = []
        cluster_of: list[str | None] = []
        groups: dict[tuple[Any, ...], int] = {}
        outer: dict[str | None, str | None] = {}  # scope -> outermost collapsed prefix
        for n in nodes:
            if not visible[n.id]:
                continue
            s = n.scope
            if s not in outer:
                outer[s] = None if s is None else next((p for p in _prefixes(s) if p in collapsed), None)
            module = outer[s]
            key: tuple[Any, ...] | None = None
            if n.id == tr.root:
                pass  # the output stays in sight (outside its module if that is collapsed)
            elif module is not None:
                key = ("module", module)
            elif stacks:
                chain = chains[s]
                key = ("stack", chain[-1] if chain else None, n.role, n.op, n.level if stacks == 1 else None)
            if key is None:
                unit[n.id] = len(units)
                units.append(n.id)
                chain = chains[s]
                cluster_of.append(_cluster_above(chains[s], module) if module else chain[-1] if chain else None)
                continue
            k = groups.get(key)
            if k is None:
                k = groups[key] = len(units)
                if module is not None:
                    units.append(_Group("module", module, _cluster_above(chains[s], module)))
                else:
                    units.append(_Group("stack", _stack_title(n), key[1]))
                cluster_of.append(units[-1].cluster)  # type: ignore[union-attr]
            group = units[k]
            assert isinstance(group, _Group)
            group.members.append(n.id)
            unit[n.id] = k
        # A stack of one is just the node.
        for k, u in enumerate(units):
            if isinstance(u, _Group) and u.kind == "stack" and len(u.members) == 1:
                units[k] = u.members[0]
        clusters: list[str] = []
        seen: set[str] = set()
        for n in nodes:
            for p in chains[n.scope]:
                if p not in seen:
                    seen.add(p)
                    clusters.append(p)
        return _Plan(unit, units, cluster_of, clusters)

    def fits(plan: _Plan) -> bool:
        # A readable picture needs few edges too: the edges between collapsed
        # neurons of two dense layers (16 x 16) fill a page with labels.
        assert max_nodes is not None
        if len(plan.units) > max_nodes:
            return False
        drawn = 0
        pairs: set[tuple[int, int]] = set()
        units, unit = plan.units, plan.unit
        for e in tr.edges:
            up, uc = unit[e.parent], unit[e.child]
            if up < 0 or uc < 0 or up == uc:
                continue
            if type(units[up]) is int and type(units[uc]) is int:
                drawn += 1
            else:
                pairs.add((up, uc))
            if drawn + len(pairs) > max_nodes:
                return False
        return True

    explicit = set(collapse)
    plan = build(explicit, 0)
    if max_nodes is None or fits(plan):
        return plan
    # Too big: collapse module clusters, deepest first, then stack parallel nodes;
    # last, stack every node of the same op (a long chain becomes one stack).
    depth = {p: i for s in scopes for i, p in enumerate(chains[s])}
    levels = [explicit | {p for p, pd in depth.items() if pd >= d} for d in sorted(set(depth.values()), reverse=True)]
    for collapsed in levels or [explicit]:
        for stacks in (0, 1):
            plan = build(collapsed, stacks)
            if fits(plan):
                return plan
    return build((levels or [explicit])[-1], 2)


def _stack_title(n: Node) -> str:
    if n.role == CONSTANT_ROLE:
        return "constants"
    if n.role == PARAMETER_ROLE:
        return "parameters"
    if n.role == LEAF:
        return "inputs"
    return n.symbol or n.op


# ----------------------------------------------------------------------------
# DOT
# ----------------------------------------------------------------------------


class Diagram(RenderedDigraph):
    """A ``graphviz.Digraph`` whose ``render()``, ``pipe()``, ``view()`` and display go through :mod:`viz.backend`.

    They render with the system ``dot`` when it works and with graphviz-pure
    otherwise, within the diagram's :attr:`limits` (see :class:`viz.Limits`);
    the default format is SVG. ``svg()`` and ``pipe_format(fmt)`` are
    shortcuts; :func:`viz.render` writes a file from a Value.
    """

    def __repr__(self) -> str:
        # Fixed text (no memory address), so executed notebooks don't change on every run.
        return f"<viz.Diagram: {len(self.body)} DOT statements; display it or use viz.render>"


def build_digraph(
    tr: Trace,
    theme: Theme | None = None,
    *,
    collapse: Sequence[str] | None = None,
    max_nodes: int | None = None,
    show_constants: bool = True,
    rankdir: str | None = None,
    legend: bool | None = None,
) -> Diagram:
    """Build the scalar view of a trace: every node, the chain-rule term on every edge.

    A graph made of nn modules is drawn in module clusters (one per layer and
    neuron, side by side); a long chain without modules is folded into rows
    that fit a screen's width.

    Args:
        tr: what :func:`viz.trace.trace` returned.
        theme: colours, number format, font (default :class:`Theme`).
        collapse: module paths ("layers.0") drawn as one summary node each.
        max_nodes: above this many drawn nodes, collapse module clusters,
            deepest first, then stack parallel nodes of the same op, until it fits.
            None: never.
        show_constants: draw constant leaves (plain numbers in the expression).
        rankdir: overrides the theme's direction.
        legend: draw the legend beside the graph (None: the theme's ``legend``).

    Returns:
        A :class:`Diagram` (a ``graphviz.Digraph``).
    """
    theme = Theme() if theme is None else theme
    if not isinstance(theme, Theme):
        raise TypeError(f"theme must be a viz.Theme, got {type(theme).__name__}")
    collapse = _check_collapse(collapse)
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    direction = theme.rankdir if rankdir is None else rankdir
    if direction not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"rankdir must be 'LR', 'RL', 'TB' or 'BT', got {direction!r}")
    plan = _plan(tr, collapse=collapse, max_nodes=max_nodes, show_constants=show_constants)
    scene = _Scene(tr, plan, theme, direction)

    g = Diagram("chainrule", graph_attr={
        "rankdir": direction, "fontname": theme.font, "newrank": "true", "nodesep": "0.2", "ranksep": "0.3",
    })
    size = f"{theme.font_size:g}"
    g.attr("node", shape="box", style="rounded,filled", fontname=theme.font, fontsize=size)
    g.attr("edge", fontname=theme.font, fontsize=f"{theme.font_size * 0.85:g}", color=theme.edge_color)

    # Units by cluster, then the cluster tree, emitted depth first.
    members: dict[str | None, list[int]] = {}
    for k, c in enumerate(plan.cluster_of):
        members.setdefault(c, []).append(k)
    # Only clusters that hold units are boxed: a box around boxes (a layer around its neurons) would make
    # Graphviz step each layer below the last, as the edges between layers must pass outside it.
    used = sorted((c for c in members if c is not None), key=_natural)
    children: dict[str | None, list[str]] = {}
    for c in used:
        parents = [p for p in _prefixes(c)[:-1] if p in members]
        children.setdefault(parents[-1] if parents else None, []).append(c)
    numbers = {c: i for i, c in enumerate(used)}
    scene.clustered = bool(used)
    bands = _bands(tr, plan, direction, theme) if not used else None

    chains = _argument_chains(tr, plan)

    def emit(graph: graphviz.Digraph, cluster: str | None) -> None:
        for k in members.get(cluster, []):
            _emit_unit(graph, scene, k)
        for k in members.get(cluster, []):
            if k in chains:  # this op's own leaves, top to bottom in argument order
                with _subgraph(graph) as same:
                    same.attr(rank="same")
                    names = [_unit_id(plan, j) for j in chains[k]]
                    # NOTE: with ranks running sideways, a flat edge a -> b puts a above b, but below b inside a
                    # cluster (both renderers, measured); with ranks running down, a is left of b everywhere.
                    if cluster is not None and direction in ("LR", "RL"):
                        names.reverse()
                    for a, b in itertools.pairwise(names):
                        fast_edge(same, a, b, style="invis")
        for child in children.get(cluster, []):
            with _subgraph(graph, f"cluster_{numbers[child]}") as sub:
                sub.attr(
                    label=_inline(html_text(child)), style="rounded,filled", color=theme.cluster_color,
                    fillcolor=theme.cluster_fill, fontname=theme.font, fontsize=size,
                    id=f"module.{child}" if _SAFE_ID.fullmatch(child) else f"module{numbers[child]}",
                )
                emit(sub, child)

    if bands is None:
        emit(g, None)
        _order_siblings(g, scene, members, chains)
    else:
        _emit_rows(g, scene, bands)
    _emit_edges(g, scene)
    if theme.legend if legend is None else legend:
        _emit_legend(g, scene)
    return g


def _order_siblings(
    g: graphviz.Digraph, scene: _Scene, members: dict[str | None, list[int]], chains: dict[int, list[int]]
) -> None:
    """Keep sibling modules (``layers.1.neurons.0 ... n-1``) in order, top to bottom, and layers side by side.

    Graphviz's crossing minimisation moves whole clusters and ignores flat edges between them (measured on both
    renderers: the neurons of a layer came out 2, 0, 3, 1). Two kinds of invisible edges make the wanted
    order the one with the fewest crossings: a list of modules fed by no other list (the first layer) hangs
    from a column of invisible anchors chained top to bottom; a list fed by another (the next layer) gets one
    edge into each of its modules from the module facing it in the list before (neuron i of n from neuron
    round((i + 0.5) * m / n - 0.5) of m), which cross unless both lists keep the same order. The edges into
    a module also bring it, when Graphviz places nodes, next to the bundle of edges arriving from the
    previous list, so layers sit side by side rather than stepped.
    """
    plan = scene.plan

    def sibling(cluster: str | None) -> tuple[str, int] | None:
        if cluster is None:
            return None
        group, _, index = cluster.rpartition(".")
        return (group, int(index)) if group and index.isdecimal() else None

    def first_leaf(cluster: str) -> int | None:
        units = members.get(cluster, [])
        for k in units:
            if k in chains:
                return chains[k][0]
        return units[0] if units else None

    groups: dict[str, dict[int, str]] = {}
    for cluster in members:
        where = sibling(cluster)
        if cluster is not None and where is not None:
            groups.setdefault(where[0], {})[where[1]] = cluster
    tails: dict[tuple[str, str], dict[int, int]] = {}  # (list before, list) -> index before -> the unit feeding
    units = plan.unit
    for e in scene.tr.edges:
        up, uc = units[e.parent], units[e.child]
        if up < 0 or uc < 0:
            continue
        tail_at, head_at = sibling(plan.cluster_of[up]), sibling(plan.cluster_of[uc])
        if (tail_at is not None and head_at is not None and tail_at[0] != head_at[0] and tail_at[0] in groups
                and head_at[0] in groups):
            tails.setdefault((tail_at[0], head_at[0]), {}).setdefault(tail_at[1], up)
    fed = {head for _, head in tails}
    for group, clusters in groups.items():
        if len(clusters) < 2 or group in fed:
            continue
        anchors = [f"order_{_safe(group)}_{i}" for i in sorted(clusters)]
        with _subgraph(g) as same:
            same.attr(rank="same")
            for name in anchors:
                fast_node(same, name, shape="point", style="invis", width="0", height="0")
            for upper, lower in itertools.pairwise(anchors):
                fast_edge(same, upper, lower, style="invis")
        for name, i in zip(anchors, sorted(clusters)):
            leaf = first_leaf(clusters[i])
            if leaf is not None:
                fast_edge(g, name, _unit_id(plan, leaf), style="invis")
    for (before, group), by_index in tails.items():
        m, clusters = len(groups[before]), groups[group]
        n = len(clusters)
        for i in sorted(clusters):
            j = min(m - 1, max(0, round((i + 0.5) * m / n - 0.5)))
            tail, leaf = by_index.get(j), first_leaf(clusters[i])
            if tail is not None and leaf is not None:
                fast_edge(g, _unit_id(plan, tail), _unit_id(plan, leaf), style="invis")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _emit_rows(g: graphviz.Digraph, scene: _Scene, bands: list[list[int]]) -> None:
    """A long graph without modules, folded: one invisible cluster per row, left to right in each.

    An edge from one row into another would run back across the whole picture: it starts instead at a copy
    of its tail drawn in the head's row (dashed, "from row 1"), and the tail gets a short stub saying where it
    continues ("to row 2").
    """
    tr, plan, theme = scene.tr, scene.plan, scene.theme
    band = {k: b for b, units in enumerate(bands) for k in units}
    scene.band = band
    copies: dict[tuple[int, int], str] = {}  # (tail unit, head's row) -> the copy's DOT name
    for e in tr.edges:
        up, uc = plan.unit[e.parent], plan.unit[e.child]
        if up >= 0 and uc >= 0 and band[up] != band[uc] and (up, band[uc]) not in copies:
            copies[(up, band[uc])] = f"n{plan.units[up]}_row{band[uc]}"
    scene.copies = copies
    touching: dict[int, list[tuple[int, int, str]]] = {}  # row -> the copies drawn in it or leaving from it
    for (up, row), name in copies.items():
        touching.setdefault(row, []).append((up, row, name))
        touching.setdefault(band[up], []).append((up, row, name))
    for b, units in enumerate(bands):
        with _subgraph(g, f"cluster_row{b}") as sub:
            sub.attr(style="invis", label="")
            for k in units:
                _emit_unit(sub, scene, k)
            for up, row, name in touching.get(b, []):
                n = tr.nodes[plan.units[up]]  # type: ignore[index]
                if row == b:
                    title = html_text(n.label or n.symbol or n.name)
                    fast_node(sub, name, label=_label([f"<B>{title}</B>", html_text(f"from row {band[up] + 1}")]),
                             style="rounded,dashed", color=theme.muted_text, fillcolor=theme.constant_color,
                             id=name, tooltip=_tooltip(f"{scene.names[n.id]}, drawn in row {band[up] + 1}"),
                             **{"class": "row-copy"})
                elif band[up] == b:
                    fast_node(sub, f"{name}_to", label=html_text(f"to row {row + 1}"), shape="plaintext", style="solid",
                             fontcolor=theme.muted_text, id=f"{name}_to", **{"class": "row-stub"})
                    fast_edge(sub, _unit_id(plan, up), f"{name}_to", style="dotted", color=theme.blocked_color,
                             arrowhead="none")
    if copies:
        scene.present.add("rows")
    # Rows top to bottom: an invisible anchor per row, the anchors in one rank and chained (a -> b puts a
    # above b), each anchor tied to the first nodes of its row.
    with _subgraph(g) as same:
        same.attr(rank="same")
        for b in range(len(bands)):
            fast_node(same, f"row{b}", shape="point", style="invis", width="0", height="0", label="")
        for b in range(len(bands) - 1):
            fast_edge(same, f"row{b}", f"row{b + 1}", style="invis")
    for b, units in enumerate(bands):
        start = min(tr.nodes[plan.units[k]].level for k in units)  # type: ignore[index]
        for k in units:
            if tr.nodes[plan.units[k]].level == start:  # type: ignore[index]
                fast_edge(g, f"row{b}", _unit_id(plan, k), style="invis")


@contextlib.contextmanager
def _subgraph(parent: graphviz.Digraph, name: str | None = None) -> Iterator[graphviz.Digraph]:
    """``parent.subgraph(name=...)`` without its cost: the graphviz package copies the parent's whole body for
    every subgraph it opens (quadratic in a folded chain's rows or a network's neurons); this starts empty."""
    sub = graphviz.Digraph(name=name)
    yield sub
    parent.subgraph(sub)


def _argument_chains(tr: Trace, plan: _Plan) -> dict[int, list[int]]:
    """Per op unit, the leaves that feed only it from its own cluster (a neuron's w.0 ... w.n-1, b), in argument
    order, when there are two or more: drawn in that order, top to bottom (left to right in TB)."""
    consumers: dict[int, set[int]] = {}
    for e in tr.edges:
        consumers.setdefault(e.parent, set()).add(e.child)
    chains: dict[int, list[int]] = {}
    ins = tr.in_edges()
    for k, u in enumerate(plan.units):
        if not isinstance(u, int) or not tr.nodes[u].op:
            continue
        leaves: list[int] = []
        seen: set[int] = set()
        for i in _edge_order(tr, ins[u]):
            p = tr.edges[i].parent
            j = plan.unit[p]
            if (j >= 0 and j not in seen and isinstance(plan.units[j], int) and not tr.nodes[p].op
                    and consumers[p] == {u} and plan.cluster_of[j] == plan.cluster_of[k]):
                seen.add(j)
                leaves.append(j)
        if len(leaves) > 1:
            chains[k] = leaves
    return chains


def _natural(text: str) -> list[Any]:
    """Sort key that puts "neurons.10" after "neurons.9"."""
    return [(0, int(part), "") if part.isdecimal() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def _check_collapse(collapse: Sequence[str] | None) -> list[str]:
    if collapse is None:
        return []
    if isinstance(collapse, str):
        raise TypeError(f"collapse must be a list of module paths, got the string {collapse!r}; write [{collapse!r}]")
    result = list(collapse)
    for p in result:
        if not isinstance(p, str):
            raise TypeError(f"collapse entries must be module paths (str), got {type(p).__name__} {p!r}")
    return result


def _unit_id(plan: _Plan, k: int) -> str:
    u = plan.units[k]
    return f"n{u}" if isinstance(u, int) else f"g{k}"


# Where a long graph without modules folds: at most this wide (points) per row.
_ROW_WIDTH = 1150.0
# The way gradients flow, against the edges (ASCII: see viz.glyphs).
_ARROWS = {"LR": "<-", "RL": "->", "TB": "^", "BT": "v"}
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


@dataclass
class _Scene:
    """One diagram being built: the trace, the plan, and what the legend must explain."""

    tr: Trace
    plan: _Plan
    theme: Theme
    direction: str
    present: set[str] = field(default_factory=set)
    fills: list[float] = field(default_factory=list)  # gradients drawn as colours
    band: dict[int, int] | None = None  # unit -> row, when a long graph is folded
    copies: dict[tuple[int, int], str] = field(default_factory=dict)  # (tail unit, row) -> its copy in that row
    names: list[str] = field(default_factory=list)
    clustered: bool = False  # drawn in module clusters

    def __post_init__(self) -> None:
        self.names = _names(self.tr)
        root = self.tr.nodes[self.tr.root]
        self.seed = root.grad if math.isfinite(root.grad) and root.grad != 0.0 else 1.0


def _names(tr: Trace) -> list[str]:
    """A short name per node for tooltips: its label, else its expression (``x1*w1``), else ``the * node``."""
    names: list[str] = []
    ins = tr.in_edges()
    for n in tr.nodes:
        if n.label:
            names.append(n.label)
            continue
        if not n.op:
            names.append(n.name or "leaf")
            continue
        args = [names[tr.edges[i].parent] for i in ins[n.id]]
        symbol = n.symbol or n.op
        if n.op in _INFIX and len(args) == 2:
            text = f"{_wrap(args[0])}{_INFIX[n.op]}{_wrap(args[1])}"
        else:
            text = f"{symbol}({', '.join(args)})"
        names.append(text if len(text) <= 24 else f"the {symbol} node")
    return names


def _bands(tr: Trace, plan: _Plan, direction: str, theme: Theme) -> list[list[int]] | None:
    """Fold a long graph without modules into rows no wider than a screen: the units of each row, or None."""
    if direction not in ("LR", "RL") or not all(isinstance(u, int) for u in plan.units):
        return None
    nodes = tr.nodes
    rank = {}
    for u in plan.units:
        assert isinstance(u, int)
        rank[u] = nodes[u].level
    # A leaf sits just before its first consumer (where Graphviz puts it), not in column 0.
    first: dict[int, int] = {}
    for e in tr.edges:
        if e.parent in rank and not nodes[e.parent].op and e.child in rank:
            first[e.parent] = min(first.get(e.parent, nodes[e.child].level), nodes[e.child].level)
    for leaf, level in first.items():
        rank[leaf] = max(0, level - 1)
    ranks = max(rank.values(), default=0) + 1
    # A rank's width (points): the widest node, the widest edge label (about half an em per character) and
    # the gaps between them (measured on both renderers: within 25 %).
    size = theme.font_size
    longest = max((len(theme.fmt(x)) + 5 for n in nodes for x in (n.data, n.grad)), default=8)
    terms = [len(theme.fmt(e.local)) + len(theme.fmt(e.upstream)) + len(theme.fmt(e.contribution)) + 8
             for e in tr.edges if e.local is not None and e.contribution is not None]
    width = 0.55 * size * max(longest, 8) + 16 + 0.5 * 0.85 * size * max(terms, default=10) + 60
    if ranks * width <= _ROW_WIDTH:
        return None
    per_row = max(2, int(_ROW_WIDTH // width))
    rows = math.ceil(ranks / per_row)
    per_row = math.ceil(ranks / rows)
    bands: list[list[int]] = [[] for _ in range(rows)]
    for k, u in enumerate(plan.units):
        assert isinstance(u, int)
        # A leaf goes in its first consumer's row, even when it sits just before that row begins.
        bands[(first[u] if u in first else rank[u]) // per_row].append(k)
    return [b for b in bands if b]


def _grad_line(n: Node, theme: Theme) -> str:
    g = theme.fmt(n.grad)
    if n.role == OUTPUT:
        return f"grad {g}" + (" (seed)" if n.grad == 1.0 else "")
    terms = n.grad_terms
    text = f"grad {g}"
    if len(terms) > 1 or n.grad_elsewhere:
        parts = [theme.fmt(t) for t in terms] if len(terms) <= 4 else [f"sum of {len(terms)} terms"]
        if n.grad_elsewhere:
            parts.append(f"{theme.fmt(n.grad_elsewhere)} from outside")
        text = f"grad = {' + '.join(parts)} = {g}"
    return html_text(text)


def _emit_unit(graph: graphviz.Digraph, scene: _Scene, k: int) -> None:
    tr, plan, theme = scene.tr, scene.plan, scene.theme
    u = plan.units[k]
    if isinstance(u, _Group):
        _emit_group(graph, scene, u, _unit_id(plan, k))
        return
    n = tr.nodes[u]
    attrs = dict(theme.role_styles.get(n.role, {}))
    attrs["id"] = f"n{n.id}"
    scene.present.add(n.role)
    if n.role == CONSTANT_ROLE:
        attrs.update(fillcolor=theme.constant_color, fontcolor=theme.text_on(theme.constant_color))
        attrs["class"] = "node-constant"
        fast_node(graph, f"n{n.id}", label=_label([html_text(n.name)]), **attrs)
        return
    label = n.label
    if n.scope and label.startswith(n.scope + ".") and len(label) > len(n.scope) + 1:
        label = label[len(n.scope) + 1 :]  # drawn inside its module's cluster, which names the path
    # Graphviz rejects an empty <B></B>: text that quotes to nothing (a lone "\r") gets no bold element.
    quoted = html_text(label)
    title = f"<B>{quoted}</B>" if quoted else ""
    if n.op:
        op = html_text(n.symbol) or html_text(n.op)
        title = f"{title} = {op}" if title else f"<B>{op}</B>"
    rows = [title or "<I>leaf</I>", html_text(f"data {theme.fmt(n.data)}"), _grad_line(n, theme)]
    if len(n.grad_terms) > 1 or n.grad_elsewhere:
        scene.present.add("sum")
    kind = None if n.role == OUTPUT else theme.grad_kind(n.grad, n.grad_terms, scene.seed)
    notes = [kind] if kind else []
    if kind:
        scene.present.add(kind)
    if n.cut_off:
        notes.append("cut off")
        scene.present.add("cut off")
    if notes:
        rows.append(f"<I>{html_text(', '.join(notes))}</I>")
    # The legend explains the fills drawn: a cut-off node's grad is not among them.
    if not math.isfinite(n.data):  # a nan or inf value (an output the CLI draws) is flagged like a nan gradient
        fill = theme.nonfinite_color
        scene.fills.append(math.nan)
    elif n.cut_off:
        fill = theme.cut_off_color
    else:
        fill = theme.grad_color(n.grad)
        scene.fills.append(n.grad)
    classes = [f"node-{n.role}", _sign(n.grad)] + (["cut-off"] if n.cut_off else [])
    text = theme.text_on(fill)
    if n.fd_grad is not None:
        scene.present.add("check")
        ok = bool(n.check_ok)
        line = f"fd {theme.fmt(n.fd_grad)}, rel err {theme.fmt(n.check_error or 0.0)} {'ok' if ok else 'DIFFERS'}"
        # On white, so its colour reads whatever the node's fill.
        check = _font(theme.match_color if ok else theme.mismatch_color, html_text(line))
        cells = "".join(f"<TR><TD>{_font(text, r)}</TD></TR>" for r in rows)
        label = (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{cells}'
                 f'<TR><TD BGCOLOR="#ffffff">{check}</TD></TR></TABLE>>')
        if not ok:
            attrs.update(color=theme.mismatch_color, penwidth="3")
            classes.append("differs")
            scene.present.add("differs")
    else:
        label = _label(rows)
    attrs.update(fillcolor=fill, fontcolor=text, tooltip=_tooltip(f"{scene.names[n.id]}: data {theme.fmt(n.data)}, "
                                                                   f"grad {theme.fmt(n.grad)}"))
    attrs["class"] = " ".join(classes)
    fast_node(graph, f"n{n.id}", label=label, **attrs)


def _sign(g: float) -> str:
    if math.isnan(g) or math.isinf(g):
        return "nonfinite"
    return "zero" if g == 0.0 else "positive" if g > 0 else "negative"


def tooltip_text(text: str) -> str:
    """Quote text for a DOT tooltip: control characters shown as symbols (XML forbids them), backslashes doubled.

    Args:
        text: any text; newlines stay line breaks.

    Returns:
        The attribute value (the graphviz package adds the quotes).
    """
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)
    # Graphviz reads \N, \G, ... in tooltips (escString): keep a user's backslashes as they are.
    return text.translate(_PLAIN).replace("\\", "\\\\")


_tooltip = tooltip_text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _emit_group(graph: graphviz.Digraph, scene: _Scene, group: _Group, name: str) -> None:
    tr, theme = scene.tr, scene.theme
    nodes = [tr.nodes[i] for i in group.members]
    graded = [n for n in nodes if n.role != CONSTANT_ROLE]
    grads = [abs(n.grad) for n in graded]
    biggest = max(grads, key=lambda a: (math.isnan(a), a), default=0.0)
    cut = sum(n.cut_off for n in graded)
    scene.present.add(group.kind)
    if group.kind == "module":
        ops = sum(1 for n in nodes if n.op)
        params = sum(1 for n in nodes if n.role == PARAMETER_ROLE)
        counts = _plural(ops, "op") + (f", {_plural(params, 'parameter')}" if params else "")
        rows = [f"<B>{html_text(group.title)}</B>", html_text(counts)]
    else:
        rows = [f"<B>{html_text(f'{len(nodes)} x {group.title}')}</B>"]
    if grads:
        rows.append(html_text(f"max |grad| {theme.fmt(biggest)}"))
    if cut:
        rows.append(f"<I>{html_text(f'{cut} of {len(graded)} cut off')}</I>")
        scene.present.add("cut off")
    bad = [n for n in nodes if n.check_ok is False]
    checked = [n for n in nodes if n.check_ok is not None]
    attrs = dict(theme.role_styles.get(group.kind, {}))
    if all(n.role == CONSTANT_ROLE for n in nodes):
        attrs.update(theme.role_styles.get(CONSTANT_ROLE, {}))
        fill = theme.constant_color
    else:
        fill = theme.grad_color(biggest)
        scene.fills.append(biggest)
    text = theme.text_on(fill)
    attrs.update(fillcolor=fill, fontcolor=text, id=name)
    attrs["class"] = f"summary-{group.kind}"
    if bad:
        line = f"{len(bad)} of {len(checked)} gradients DIFFER from finite differences"
        cells = "".join(f"<TR><TD>{_font(text, r)}</TD></TR>" for r in rows)
        label = (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{cells}<TR><TD BGCOLOR="#ffffff">'
                 f"{_font(theme.mismatch_color, html_text(line))}</TD></TR></TABLE>>")
        attrs.update(color=theme.mismatch_color, penwidth="3")
        scene.present.add("differs")
    else:
        label = _label(rows)
    fast_node(graph, name, label=label, **attrs)


def _edge_order(tr: Trace, ins: list[int]) -> list[int]:
    """In-edges of a node in drawing order: a dot(w, x, b) node interleaves w.0, x.0, w.1, x.1, ..., b."""
    if not ins or tr.edges[ins[0]].op != "dot" or len(ins) < 2:
        return ins
    m = len(ins) // 2
    order = [ins[j] for i in range(m) for j in (i, m + i)]
    return order + ins[2 * m :]


def _emit_edges(g: graphviz.Digraph, scene: _Scene) -> None:
    # Edges between two plain nodes are drawn one by one (x*x keeps both);
    # edges touching a summary are aggregated per (tail, head).
    tr, plan, theme = scene.tr, scene.plan, scene.theme
    aggregated: dict[tuple[int, int], list[int]] = {}
    for head in tr.in_edges():
        for i in _edge_order(tr, head):
            e = tr.edges[i]
            up, uc = plan.unit[e.parent], plan.unit[e.child]
            if up < 0 or uc < 0 or up == uc:
                continue
            if isinstance(plan.units[up], int) and isinstance(plan.units[uc], int):
                _emit_edge(g, scene, i, _layout_attrs(scene, up, uc))
            else:
                aggregated.setdefault((up, uc), []).append(i)
    for (up, uc), indices in aggregated.items():
        edges = [tr.edges[i] for i in indices]
        terms = [e.contribution for e in edges if e.contribution is not None]
        attrs = _layout_attrs(scene, up, uc)
        attrs["id"] = f"e{indices[0]}"
        if not terms:  # from constants: no derivative, nothing to say
            scene.present.add("constant edge")
            fast_edge(g, _unit_id(plan, up), _unit_id(plan, uc), style="dotted", color=theme.blocked_color, **attrs)
            continue
        blocked = sum(e.blocker is not None for e in edges)
        text = _plural(len(edges), "edge")
        parents = {e.parent for e in edges}
        if len(terms) == 1:
            text += f", term {theme.fmt(terms[0])}"
        elif len(parents) == 1:  # terms of one node's gradient: their sum means something
            text += f", sum {theme.fmt(numeric.total(terms))}"
        if blocked:
            text += f", {blocked} blocked"
            scene.present.add("blocked")
            if blocked == len(edges):
                attrs.update(style="dashed", color=theme.blocked_color, fontcolor=theme.muted_text)
        attrs["class"] = "edge-summary"
        fast_edge(g, _unit_id(plan, up), _unit_id(plan, uc), label=_inline(html_text(text)), **attrs)


def _layout_attrs(scene: _Scene, up: int, uc: int) -> dict[str, str]:
    """Attributes that shape the layout: edges between rows of a folded graph don't rank; an edge into a
    module from outside gets room for the module's own leaves (so modules sit side by side, not stepped)."""
    attrs: dict[str, str] = {}
    if scene.band is not None:
        return attrs
    inner, outer = scene.plan.cluster_of[uc], scene.plan.cluster_of[up]
    if inner is not None and not (outer == inner or (outer or "").startswith(inner + ".")):
        attrs["minlen"] = "2"
    return attrs


def _emit_edge(g: graphviz.Digraph, scene: _Scene, i: int, attrs: dict[str, str]) -> None:
    tr, theme = scene.tr, scene.theme
    e = tr.edges[i]
    tail, head = f"n{e.parent}", f"n{e.child}"
    if scene.band is not None:  # folded: an edge from another row starts at the tail's copy in this row
        up, uc = scene.plan.unit[e.parent], scene.plan.unit[e.child]
        tail = scene.copies.get((up, scene.band[uc]), tail)
    attrs["id"] = f"e{i}"
    if e.local is None or e.contribution is None:  # a constant: no derivative is computed
        scene.present.add("constant edge")
        fast_edge(g, tail, head, style="dotted", color=theme.blocked_color, **attrs, **{"class": "edge-constant"})
        return
    if scene.clustered:
        # Between modules many edges run close together, and Graphviz may put a label nearer a neighbour than its
        # own edge: the label is underlined and tied to its own edge by a short line.
        attrs["decorate"] = "true"
    arrow = _ARROWS[scene.direction]
    term = f"{arrow} {theme.fmt(e.local)} * {theme.fmt(e.upstream)} = {theme.fmt(e.contribution)}"
    parent, child = scene.names[e.parent], scene.names[e.child]
    local = theme.fmt(e.local)
    tip = (f"d{_wrap(child)}/d{_wrap(parent)} = {local} (local derivative); the gradient flows back from {child} "
           f"to {parent}: {local} * {theme.fmt(e.upstream)} = {theme.fmt(e.contribution)}")
    scene.present.add("edge")
    if e.blocker is not None:
        scene.present.add("blocked")
        fast_edge(g,
            tail, head, label=_inline(html_text(f"{e.blocker}: {term}")), style="dashed", color=theme.blocked_color,
            fontcolor=theme.muted_text, tooltip=_tooltip(f"{tip}; blocked: {e.blocker}"),
            labeltooltip=_tooltip(f"{tip}; blocked: {e.blocker}"),
            **attrs, **{"class": "edge-term blocked"},
        )
    else:
        fast_edge(g, tail, head, label=_inline(html_text(term)), tooltip=_tooltip(tip), labeltooltip=_tooltip(tip),
                  **attrs, **{"class": "edge-term"})


_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*|-?[0-9.]+(e[-+]?[0-9]+)?")


def _wrap(name: str) -> str:
    return name if _SIMPLE.fullmatch(name) else f"({name})"


def _emit_legend(g: graphviz.Digraph, scene: _Scene) -> None:
    """A compact legend beside the graph, listing only what the picture holds."""
    theme, present = scene.theme, scene.present
    arrow = _ARROWS[scene.direction]
    notes: list[str] = []
    if "edge" in present:
        notes.append(f"edge label: {arrow} d * g = term, where d = local derivative,")
        notes.append(f"   g = consumer's grad ({arrow}: flows against the arrows)")
    if "sum" in present:
        notes.append("grad = a + b: one term per outgoing edge")
    if "blocked" in present:
        notes.append("dashed edge: blocks the gradient (dead ReLU, ...)")
    if "constant edge" in present:
        notes.append("dotted edge: from a constant (no derivative)")
    borders = []
    if OUTPUT in present:
        borders.append("bold: output")
    if LEAF in present:
        borders.append("thick: input")
    if PARAMETER_ROLE in present:
        borders.append("double: parameter")
    if CONSTANT_ROLE in present:
        borders.append("dashed: constant")
    if borders:
        notes.append("border " + ", ".join(borders))
    if "rows" in present:
        notes.append("the graph is folded into rows; a dashed box")
        notes.append("   is a node drawn in full in another row")
    if "module" in present:
        notes.append("double-bordered box: a collapsed module")
    if "stack" in present:
        notes.append("k x op: k parallel nodes stacked into one")
    if "check" in present:
        notes.append("fd: finite-difference estimate of grad,")
        notes.append("   rel err, ok or DIFFERS (red border)")
    if "vanishing" in present:
        notes.append(f"vanishing: 0 < |grad| < {theme.fmt(theme.vanishing)} times the output's grad")
    if "exploding" in present:
        notes.append(f"exploding: one term > {theme.fmt(theme.exploding)} times the output's grad")
    rows = ['<TR><TD ALIGN="LEFT"><B>legend</B> <I>fill: grad (warm +, cool -)</I></TD></TR>']
    rows += swatch_table(theme, _swatches(theme, scene.fills, "cut off" in present))
    rows += [f'<TR><TD ALIGN="LEFT">{html_text(note)}</TD></TR>' for note in notes]
    label = (f'<<TABLE BORDER="1" COLOR="{theme.cluster_color}" CELLBORDER="0" CELLSPACING="1">\n'
             + "\n".join(rows) + "\n</TABLE>>")
    attrs = {"shape": "plain", "style": "solid", "fontsize": f"{theme.font_size * 0.85:g}", "id": "legend",
             "class": "legend"}
    if scene.clustered:
        # NOTE: in module clusters an edge to the legend changes Graphviz's crossing minimisation and scrambles
        # the neurons' weights (measured on both renderers): there it stays in the first rank.
        with _subgraph(g, "legend_rank") as sub:
            sub.attr(rank="min")
            fast_node(sub, "legend", label=label, **attrs)
        return
    # Beside the graph: one rank after the output (right of it when ranks run left to right), in the graph's
    # own height band instead of a band of its own above it. (rank=max is ignored with newrank.)
    fast_node(g, "legend", label=label, **attrs)
    fast_edge(g, _unit_id(scene.plan, scene.plan.unit[scene.tr.root]), "legend", style="invis")


def _swatches(theme: Theme, grads: list[float], cut_off: bool) -> list[list[tuple[str, str]]]:
    """Legend swatch rows: per sign drawn, the powers of ten the gradients span (at least three, at most
    seven cells); then 0, nan/inf and cut off where the picture has them."""
    return swatch_rows(theme, grads, [("cut off", theme.cut_off_color)] if cut_off else [])


def swatch_rows(
    theme: Theme, grads: Sequence[float], extra: Sequence[tuple[str, str]] = ()
) -> list[list[tuple[str, str]]]:
    """The colour-scale rows of a legend (shared by both views).

    Args:
        theme: the colours.
        grads: the gradients the picture colours.
        extra: more (text, colour) cells for the last row.

    Returns:
        Rows of (text, colour) cells: one row per sign present, then 0 and nan/inf if present, then ``extra``.
    """
    rows: list[list[tuple[str, str]]] = []
    low, high = round(math.log10(theme.scale_min)), round(math.log10(theme.scale_max))
    for sign in (1.0, -1.0):
        mags = [abs(x) for x in grads if math.isfinite(x) and x != 0.0 and (x > 0) == (sign > 0)]
        if not mags:
            continue
        lo = min(high, max(low, round(math.log10(min(mags)))))
        hi = max(lo, min(high, round(math.log10(max(mags)))))
        while hi - lo < 2:  # at least three cells, so the cells show a scale
            lo, hi = max(low, lo - 1), min(high, hi + 1)
            if lo == low and hi == high:
                break
        step = max(1, math.ceil((hi - lo + 1) / 7))
        rows.append([(f"{sign * 10.0**k:g}", theme.grad_color(sign * 10.0**k)) for k in range(lo, hi + 1, step)])
    last = []
    if any(x == 0.0 for x in grads):
        last.append(("0", theme.zero_color))
    if any(not math.isfinite(x) for x in grads):
        last.append(("nan/inf", theme.nonfinite_color))
    last += extra
    if last:
        rows.append(last)
    return rows


def swatch_table(theme: Theme, rows: list[list[tuple[str, str]]]) -> list[str]:
    """HTML table rows (one per swatch row) for a legend: each cell its colour, with its value written on it."""
    out = []
    for row in rows:
        cells = "".join(
            f'<TD BGCOLOR="{c}" BORDER="1" COLOR="#bdbdbd"><FONT COLOR="{theme.text_on(c)}">{html_text(t)}</FONT></TD>'
            for t, c in row
        )
        out.append(f'<TR><TD ALIGN="LEFT"><TABLE BORDER="0" CELLSPACING="2" CELLPADDING="2"><TR>{cells}</TR>'
                   "</TABLE></TD></TR>")
    return out


def to_dot(
    tr: Trace,
    theme: Theme | None = None,
    *,
    collapse: Sequence[str] | None = None,
    max_nodes: int | None = None,
    show_constants: bool = True,
    rankdir: str | None = None,
    legend: bool | None = None,
) -> str:
    """Return the DOT text of a trace's scalar view (see :func:`build_digraph` for the arguments).

    Returns:
        The DOT source.
    """
    return build_digraph(
        tr, theme, collapse=collapse, max_nodes=max_nodes, show_constants=show_constants, rankdir=rankdir,
        legend=legend,
    ).source
