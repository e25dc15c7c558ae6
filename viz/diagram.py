"""Turn a :class:`viz.trace.Trace` into DOT: the theme, module clusters, collapsing, labels and their quoting.

Pure: nothing here runs a renderer (see :mod:`viz.backend`). The text the
diagram writes itself is ASCII (see :mod:`viz.glyphs`: the fallback renderer
measures any other character as spaces and warns). Every label is an
HTML-like label built by :func:`html_text`, the one place where user text is
quoted, so any text (quotes, ``<>&{}|``, backslashes, newlines, control
characters, unicode) reaches the picture as written. DOT ids come from the
trace's ids and first-appearance order, never ``id()``, so the text is
deterministic and snapshot-tested.

Layout of the work, each step one linear pass: choose the *units* drawn (a
node, a collapsed module, or a stack of parallel nodes), place them in the
module clusters, then emit the nodes and the edges (edges between plain nodes
keep the chain-rule term; edges touching a summary are aggregated).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import graphviz

from chainrule.viz import numeric
from chainrule.viz.trace import CONSTANT_ROLE, INTERMEDIATE, LEAF, OUTPUT, PARAMETER_ROLE, Node, Trace

# ----------------------------------------------------------------------------
# Theme
# ----------------------------------------------------------------------------


def _default_role_styles() -> dict[str, dict[str, str]]:
    # On top of every node's shape=box, style="rounded,filled".
    return {
        LEAF: {"penwidth": "1.5"},
        PARAMETER_ROLE: {"style": "filled", "peripheries": "2"},
        CONSTANT_ROLE: {"style": "rounded,dashed", "color": "#969696", "fontcolor": "#636363"},
        OUTPUT: {"style": "rounded,filled,bold", "penwidth": "3"},
        INTERMEDIATE: {},
        "module": {"shape": "box3d", "style": "filled"},
        "stack": {"peripheries": "3"},
    }


@dataclass(frozen=True)
class Theme:
    """How a diagram looks: colours, number format, direction, font.

    Attributes:
        number: format of every number, a ``str.format`` pattern such as ``"{:.4g}"``.
        rankdir: layout direction: "LR" (inputs on the left), "TB", "RL" or "BT".
        font: font name for all text; font_size its size in points.
        vanishing, exploding: |grad| below ``vanishing`` is drawn as vanishing
            (pale blue), above ``exploding`` as exploding (red); in between the
            fill follows ``ramp`` on a log scale.
        ramp: colours from ``vanishing`` to ``exploding`` (log-spaced stops).
        vanishing_color, exploding_color, zero_color, nonfinite_color: fills
            below, above, at exactly 0 and for nan/inf gradients.
        cut_off_color: fill of nodes that only blocked edges reach.
        constant_color: fill of constants.
        edge_color, blocked_color: edge colours (blocked edges are also dashed).
        mismatch_color, match_color: the finite-difference line when it
            disagrees / agrees (``check=True``).
        cluster_color, cluster_fill: module clusters' border and fill.
        legend: draw the colour legend.
        role_styles: DOT node attributes per role ("leaf", "parameter",
            "constant", "output", "intermediate") and for summaries ("module",
            "stack").
    """

    number: str = "{:.4g}"
    rankdir: str = "LR"
    font: str = "Helvetica"
    font_size: float = 10.0
    vanishing: float = 1e-4
    exploding: float = 1e2
    ramp: tuple[str, ...] = ("#deebf7", "#f7fbff", "#fff7bc", "#fec44f", "#fb6a4a")
    vanishing_color: str = "#9ecae1"
    exploding_color: str = "#de2d26"
    zero_color: str = "#f0f0f0"
    nonfinite_color: str = "#c51b8a"
    cut_off_color: str = "#bdbdbd"
    constant_color: str = "#ffffff"
    edge_color: str = "#525252"
    blocked_color: str = "#a0a0a0"
    mismatch_color: str = "#d62728"
    match_color: str = "#2b8a3e"
    cluster_color: str = "#9e9e9e"
    cluster_fill: str = "#fafafa"
    legend: bool = True
    role_styles: dict[str, dict[str, str]] = field(default_factory=_default_role_styles)

    def __post_init__(self) -> None:
        try:
            self.number.format(1.5)
        except (ValueError, IndexError, KeyError, AttributeError) as error:
            raise ValueError(f"Theme number must be a format like '{{:.4g}}', got {self.number!r}: {error}") from None
        if self.rankdir not in ("LR", "RL", "TB", "BT"):
            raise ValueError(f"Theme rankdir must be 'LR', 'RL', 'TB' or 'BT', got {self.rankdir!r}")
        if not (0 < self.vanishing < self.exploding):
            raise ValueError(
                f"Theme needs 0 < vanishing < exploding, got vanishing={self.vanishing!r}, exploding={self.exploding!r}"
            )
        for name in ("ramp", "vanishing_color", "exploding_color", "zero_color", "nonfinite_color", "cut_off_color"):
            value = getattr(self, name)
            for colour in value if isinstance(value, tuple) else (value,):
                if not _HEX.fullmatch(colour):
                    raise ValueError(f"Theme {name} must be '#rrggbb' colours, got {colour!r}")
        if len(self.ramp) < 2:
            raise ValueError(f"Theme ramp needs at least two colours, got {self.ramp!r}")

    def fmt(self, x: float) -> str:
        """Format a number with ``number`` (nan and infinities spelt out, -0 shown as 0).

        Args:
            x: the number.

        Returns:
            The text.
        """
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return self.number.format(x + 0.0)

    def grad_color(self, g: float) -> str:
        """Return the fill for a gradient of size |g| (log scale between vanishing and exploding).

        Args:
            g: the gradient.

        Returns:
            A '#rrggbb' colour.
        """
        a = abs(g)
        if math.isnan(a) or math.isinf(a):
            return self.nonfinite_color
        if a == 0.0:
            return self.zero_color
        if a < self.vanishing:
            return self.vanishing_color
        if a > self.exploding:
            return self.exploding_color
        lo, hi = math.log10(self.vanishing), math.log10(self.exploding)
        t = (math.log10(a) - lo) / (hi - lo) * (len(self.ramp) - 1)
        k = min(int(t), len(self.ramp) - 2)
        return _mix(self.ramp[k], self.ramp[k + 1], t - k)

    def grad_kind(self, g: float) -> str | None:
        """Classify a gradient's size.

        Args:
            g: the gradient.

        Returns:
            "vanishing", "exploding", "non-finite", or None when it is unremarkable (0 included).
        """
        a = abs(g)
        if math.isnan(a) or math.isinf(a):
            return "non-finite"
        if 0.0 < a < self.vanishing:
            return "vanishing"
        if a > self.exploding:
            return "exploding"
        return None


_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def _mix(a: str, b: str, t: float) -> str:
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


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


class Diagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` that displays in Jupyter through :mod:`viz.backend`.

    Jupyter (``_repr_mimebundle_``), :meth:`svg` and :meth:`pipe_format`
    render with the system ``dot`` when it is installed and with graphviz-pure
    otherwise, so a diagram shows inline on a machine without Graphviz. (The
    inherited ``render()``/``pipe()``/``view()`` of the graphviz package still
    need ``dot``: write files with :func:`viz.render`.)
    """

    def pipe_format(self, fmt: str) -> bytes:
        """Render the DOT source to ``fmt`` ("svg", "png", ...) with :mod:`viz.backend`.

        Args:
            fmt: a Graphviz output format.

        Returns:
            The rendered bytes.
        """
        from chainrule.viz.backend import render_source

        return render_source(self.source, fmt)

    def svg(self) -> str:
        """Render the diagram as SVG (system ``dot`` or graphviz-pure).

        Returns:
            The SVG text.
        """
        return self.pipe_format("svg").decode("utf-8")

    def __repr__(self) -> str:
        # Fixed text (no memory address), so executed notebooks don't change on every run.
        return f"<viz.Diagram: {len(self.body)} DOT statements; display it or use viz.render>"

    def _repr_image_svg_xml(self) -> str:
        return self.svg()

    def _repr_image_png(self) -> bytes:
        return self.pipe_format("png")

    def _repr_image_jpeg(self) -> bytes:
        return self.pipe_format("jpeg")

    def _repr_svg_(self) -> str:
        return self.svg()


def build_digraph(
    tr: Trace,
    theme: Theme | None = None,
    *,
    collapse: Sequence[str] | None = None,
    max_nodes: int | None = None,
    show_constants: bool = True,
    rankdir: str | None = None,
) -> Diagram:
    """Build the diagram of a trace.

    Args:
        tr: what :func:`viz.trace.trace` returned.
        theme: colours, number format, font (default :class:`Theme`).
        collapse: module paths ("layers.0") drawn as one summary node each.
        max_nodes: above this many drawn nodes, collapse module clusters,
            deepest first, then stack parallel nodes of the same op, until it fits.
            None: never.
        show_constants: draw constant leaves (plain numbers in the expression).
        rankdir: overrides the theme's direction.

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

    g = Diagram("chainrule", graph_attr={"rankdir": direction, "fontname": theme.font, "newrank": "true"})
    size = f"{theme.font_size:g}"
    g.attr("node", shape="box", style="rounded,filled", fontname=theme.font, fontsize=size)
    g.attr("edge", fontname=theme.font, fontsize=f"{theme.font_size * 0.85:g}", color=theme.edge_color)

    # Units by cluster, then the cluster tree, emitted depth first.
    members: dict[str | None, list[int]] = {}
    for k, c in enumerate(plan.cluster_of):
        members.setdefault(c, []).append(k)
    kept = set(plan.clusters)
    used: set[str] = set()
    for c in members:
        if c is not None:
            used.update(p for p in _prefixes(c) if p in kept)
    children: dict[str | None, list[str]] = {}
    for c in plan.clusters:
        if c in used:
            parents = [p for p in _prefixes(c)[:-1] if p in kept]
            children.setdefault(parents[-1] if parents else None, []).append(c)
    numbers = {c: i for i, c in enumerate(p for p in plan.clusters if p in used)}

    def emit(graph: graphviz.Digraph, cluster: str | None) -> None:
        for k in members.get(cluster, []):
            _emit_unit(graph, tr, plan, k, theme)
        for child in children.get(cluster, []):
            with graph.subgraph(name=f"cluster_{numbers[child]}") as sub:
                sub.attr(
                    label=_inline(html_text(child)), style="rounded,filled", color=theme.cluster_color,
                    fillcolor=theme.cluster_fill, fontname=theme.font, fontsize=size,
                )
                emit(sub, child)

    emit(g, None)
    _emit_edges(g, tr, plan, theme)
    if theme.legend:
        _emit_legend(g, theme)
    return g


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


def _emit_unit(graph: graphviz.Digraph, tr: Trace, plan: _Plan, k: int, theme: Theme) -> None:
    u = plan.units[k]
    if isinstance(u, _Group):
        _emit_group(graph, tr, u, _unit_id(plan, k), theme)
        return
    n = tr.nodes[u]
    attrs = dict(theme.role_styles.get(n.role, {}))
    if n.role == CONSTANT_ROLE:
        graph.node(f"n{n.id}", label=_label([html_text(n.name)]), **attrs)
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
    elif n.role == PARAMETER_ROLE:
        title += " <I>parameter</I>"
    rows = [title or "<I>leaf</I>", html_text(f"data {theme.fmt(n.data)}"), _grad_line(n, theme)]
    kind = theme.grad_kind(n.grad)
    notes = [kind] if kind else []
    if n.cut_off:
        notes.append("cut off")
    if notes:
        rows.append(f"<I>{html_text(', '.join(notes))}</I>")
    if n.fd_grad is not None:
        ok = bool(n.check_ok)
        verdict = "ok" if ok else "DIFFERS"
        line = f"fd {theme.fmt(n.fd_grad)}, rel err {theme.fmt(n.check_error or 0.0)} {verdict}"
        rows.append(_font(theme.match_color if ok else theme.mismatch_color, html_text(line)))
        if not ok:
            attrs.update(color=theme.mismatch_color, penwidth="3")
    if not math.isfinite(n.data):  # a nan or inf value (an output the CLI draws) is flagged like a nan gradient
        attrs["fillcolor"] = theme.nonfinite_color
    else:
        attrs["fillcolor"] = theme.cut_off_color if n.cut_off else theme.grad_color(n.grad)
    graph.node(f"n{n.id}", label=_label(rows), **attrs)


def _emit_group(graph: graphviz.Digraph, tr: Trace, group: _Group, name: str, theme: Theme) -> None:
    nodes = [tr.nodes[i] for i in group.members]
    grads = [abs(n.grad) for n in nodes if n.role != CONSTANT_ROLE]
    biggest = max(grads, key=lambda a: (math.isnan(a), a), default=0.0)
    cut = sum(n.cut_off for n in nodes)
    if group.kind == "module":
        ops = sum(1 for n in nodes if n.op)
        params = sum(1 for n in nodes if n.role == PARAMETER_ROLE)
        counts = f"{ops} ops" + (f", {params} parameters" if params else "")
        rows = [f"<B>{html_text(group.title)}</B>", html_text(counts)]
    else:
        rows = [f"<B>{html_text(f'{len(nodes)} x {group.title}')}</B>"]
    if grads:
        rows.append(html_text(f"max |grad| {theme.fmt(biggest)}"))
    if cut:
        rows.append(f"<I>{html_text(f'{cut} cut off')}</I>")
    bad = [n for n in nodes if n.check_ok is False]
    if bad:
        rows.append(_font(theme.mismatch_color, html_text(f"{len(bad)} gradients DIFFER from finite differences")))
    attrs = dict(theme.role_styles.get(group.kind, {}))
    if all(n.role == CONSTANT_ROLE for n in nodes):
        attrs.update(theme.role_styles.get(CONSTANT_ROLE, {}))
    else:
        attrs["fillcolor"] = theme.grad_color(biggest)
    if bad:
        attrs.update(color=theme.mismatch_color, penwidth="3")
    graph.node(name, label=_label(rows), **attrs)


def _emit_edges(g: graphviz.Digraph, tr: Trace, plan: _Plan, theme: Theme) -> None:
    # Edges between two plain nodes are drawn one by one (x*x keeps both);
    # edges touching a summary are aggregated per (tail, head).
    aggregated: dict[tuple[int, int], list[int]] = {}
    for i, e in enumerate(tr.edges):
        up, uc = plan.unit[e.parent], plan.unit[e.child]
        if up < 0 or uc < 0 or up == uc:
            continue
        if isinstance(plan.units[up], int) and isinstance(plan.units[uc], int):
            _emit_edge(g, tr, i, theme)
        else:
            aggregated.setdefault((up, uc), []).append(i)
    for (up, uc), indices in aggregated.items():
        edges = [tr.edges[i] for i in indices]
        terms = [e.contribution for e in edges if e.contribution is not None]
        blocked = sum(e.blocker is not None for e in edges)
        text = f"{len(edges)} edges" if len(edges) > 1 else "1 edge"
        if terms:
            text += f", sum {theme.fmt(numeric.total(terms))}"
        attrs: dict[str, str] = {}
        if blocked:
            text += f", {blocked} blocked"
            if blocked == len(edges):
                attrs.update(style="dashed", color=theme.blocked_color)
        if not terms:  # from constants: no derivative, nothing to say
            g.edge(_unit_id(plan, up), _unit_id(plan, uc), style="dotted", color=theme.blocked_color)
            continue
        g.edge(_unit_id(plan, up), _unit_id(plan, uc), label=_inline(html_text(text)), **attrs)


def _emit_edge(g: graphviz.Digraph, tr: Trace, i: int, theme: Theme) -> None:
    e = tr.edges[i]
    tail, head = f"n{e.parent}", f"n{e.child}"
    if e.local is None or e.contribution is None:  # a constant: no derivative is computed
        g.edge(tail, head, style="dotted", color=theme.blocked_color)
        return
    term = f"d = {theme.fmt(e.local)} * g={theme.fmt(e.upstream)} -> {theme.fmt(e.contribution)}"
    if e.blocker is not None:
        g.edge(
            tail, head, label=_inline(html_text(f"blocked: {e.blocker}\n{term}")), style="dashed",
            color=theme.blocked_color, fontcolor=theme.blocked_color,
        )
    else:
        g.edge(tail, head, label=_inline(html_text(term)))


def _emit_legend(g: graphviz.Digraph, theme: Theme) -> None:
    # Swatches at powers of ten (every other decade if there are many).
    lo, hi = math.ceil(math.log10(theme.vanishing)), math.floor(math.log10(theme.exploding))
    step = max(1, math.ceil((hi - lo) / 4))
    stops = [10.0**k for k in range(lo, hi + 1, step)]
    cells = [("|grad| &lt; " + html_text(theme.fmt(theme.vanishing)) + ": vanishing", theme.vanishing_color)]
    cells += [(html_text(f"|grad| {s:g}"), theme.grad_color(s)) for s in stops]
    cells += [
        ("|grad| &gt; " + html_text(theme.fmt(theme.exploding)) + ": exploding", theme.exploding_color),
        ("grad 0", theme.zero_color),
        ("nan / inf", theme.nonfinite_color),
        ("cut off by a blocked edge (dashed)", theme.cut_off_color),
    ]
    # One table row per line of DOT, so the source stays readable.
    rows = "".join(f'\n<TR><TD BGCOLOR="{colour}" WIDTH="14"> </TD><TD ALIGN="LEFT">{text}</TD></TR>'
                   for text, colour in cells)
    notes = [
        "edge: d = local derivative * g = consumer's grad -> term",
        "dashed edge: blocked; dotted: from a constant",
        "bold border: output; double: parameter",
    ]
    rows += "".join(f'\n<TR><TD COLSPAN="2" ALIGN="LEFT">{html_text(note)}</TD></TR>' for note in notes)
    title = '<TR><TD COLSPAN="2"><B>legend</B></TD></TR>'
    label = f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2">\n{title}{rows}\n</TABLE>>'
    with g.subgraph(name="cluster_legend") as sub:
        sub.attr(label="", style="rounded", color=theme.cluster_color)
        sub.node("legend", label=label, shape="plain", style="solid")  # not the nodes' default fill


def to_dot(
    tr: Trace,
    theme: Theme | None = None,
    *,
    collapse: Sequence[str] | None = None,
    max_nodes: int | None = None,
    show_constants: bool = True,
    rankdir: str | None = None,
) -> str:
    """Return the DOT text of a trace's diagram (see :func:`build_digraph` for the arguments).

    Returns:
        The DOT source.
    """
    return build_digraph(
        tr, theme, collapse=collapse, max_nodes=max_nodes, show_constants=show_constants, rankdir=rankdir
    ).source
