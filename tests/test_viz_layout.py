"""The scalar view as rendered: node positions (weights in order, layers side by side), the size of long chains
and sums (folded to a screen's width), edge labels clear of their own edges, and the legend's contents.

Each picture is rendered with graphviz-pure and, where it is installed, the system ``dot`` (CI installs it).
"""

from __future__ import annotations

import itertools
import math
import re
import shutil
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import needs

from chainrule import autograd, nn, viz
from chainrule.autograd import Value
from chainrule.viz import backend
from chainrule.viz.glyphs import text_width

FALLBACK = Path(sys.executable).parent / "graphviz-pure"
SVG = "{http://www.w3.org/2000/svg}"
B = 6.8813735870195432


@pytest.fixture(params=["graphviz-pure", "dot"])
def renderer(request: pytest.FixtureRequest) -> backend.Renderer:
    if request.param == "dot":
        path = shutil.which("dot")
        needs(path is not None, "system Graphviz (dot)")
        assert path is not None
        return backend.Renderer("dot", path)
    if not FALLBACK.exists():
        pytest.skip("graphviz-pure is not installed next to this Python")
    return backend.Renderer("graphviz-pure", str(FALLBACK))


def render(diagram: viz.Diagram, renderer: backend.Renderer) -> ElementTree.Element:
    return ElementTree.fromstring(backend.render_source(diagram.source, "svg", renderer=renderer))


def size_px(svg: ElementTree.Element) -> tuple[float, float]:
    return tuple(float(svg.get(k, "0").removesuffix("pt")) * 96 / 72 for k in ("width", "height"))  # type: ignore[return-value]


def groups(svg: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {g.get("id", ""): g for g in svg.iter(f"{SVG}g")}


def points(shape: ElementTree.Element) -> list[tuple[float, float]]:
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", shape.get("points") or shape.get("d") or "")]
    return list(zip(numbers[0::2], numbers[1::2]))


def box(g: ElementTree.Element) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a node's first shape."""
    for shape in g.iter():
        if shape.tag in (f"{SVG}polygon", f"{SVG}path", f"{SVG}ellipse"):
            if shape.tag == f"{SVG}ellipse":
                cx, cy, rx, ry = (float(shape.get(k, "0")) for k in ("cx", "cy", "rx", "ry"))
                return cx - rx, cy - ry, cx + rx, cy + ry
            xs, ys = zip(*points(shape))
            return min(xs), min(ys), max(xs), max(ys)
    raise AssertionError(f"no shape in {g.get('id')}")


def centre(g: ElementTree.Element) -> tuple[float, float]:
    left, top, right, bottom = box(g)
    return (left + right) / 2, (top + bottom) / 2


def mlp_loss(sizes: tuple[int, ...] = (4, 4, 1)) -> tuple[nn.MLP, Value]:
    X, y = nn.data.make_moons(2, noise=0.1, seed=1)
    model = nn.MLP(2, list(sizes), seed=0)
    loss = nn.functional.hinge_loss([model(list(X[0]))], [float(2 * y[0] - 1)])
    loss.backward()
    return model, loss


def node_ids(root: Value) -> dict[str, str]:
    """Label -> SVG id (n<position in the trace>) of every labelled node."""
    return {n.label: f"n{n.id}" for n in viz.trace(root).nodes if n.label}


# ----------------------------------------------------------------------------
# Positions
# ----------------------------------------------------------------------------


def test_weights_in_order_and_layers_side_by_side(renderer: backend.Renderer) -> None:
    _, loss = mlp_loss()
    svg = render(viz.draw(loss, view="scalar", max_nodes=None), renderer)
    found = groups(svg)
    ids = node_ids(loss)
    tr = viz.trace(loss)
    bands: list[tuple[float, float, float, float]] = []
    for k, width in enumerate((4, 4, 1)):
        fan_in = 2 if k == 0 else 4
        for j in range(width):
            path = f"layers.{k}.neurons.{j}"
            names = [f"{path}.w.{i}" for i in range(fan_in)] + [f"{path}.b"]
            ys = [centre(found[ids[name]])[1] for name in names]
            assert ys == sorted(ys) and len(set(ys)) == len(ys), (path, ys)  # w.0 ... w.n-1, b top to bottom
        # the layer's extent: its parameters and ops
        members = [n for n in tr.nodes if n.scope is not None and n.scope.startswith(f"layers.{k}.")]
        boxes = [box(found[f"n{n.id}"]) for n in members]
        bands.append((min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                       max(b[3] for b in boxes)))
    for (_, t0, r0, b0), (l1, t1, _, b1) in itertools.pairwise(bands):
        assert l1 > r0  # the next layer starts right of this one ends ...
        overlap = min(b0, b1) - max(t0, t1)
        assert overlap > 0.5 * min(b0 - t0, b1 - t1)  # ... at the same height: side by side, no staircase
    width, height = size_px(svg)
    assert 0.5 < width / height < 2.5  # a screen's shape


def test_a_neurons_inputs_come_in_argument_order(renderer: backend.Renderer) -> None:
    v = {name: Value(x, label=name) for name, x in [("x1", 2.0), ("w1", -3.0), ("x2", 0.0), ("w2", 1.0)]}
    o = (v["x1"] * v["w1"] + v["x2"] * v["w2"] + Value(B, label="b")).tanh()
    o.backward()
    found = groups(render(viz.draw(o), renderer))
    ids = node_ids(o)
    ys = [centre(found[ids[name]])[1] for name in ("x1", "w1", "x2", "w2")]
    assert ys == sorted(ys)


def chain(steps: int = 10) -> Value:
    x = Value(0.5, label="x")
    y = x
    for _ in range(steps):
        y = y.sigmoid()
    y.backward()
    return y


def long_sum(terms: int = 20) -> Value:
    xs = [Value(0.1 * i, label=f"x{i}") for i in range(terms)]
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    total.backward()
    return total


def test_long_chains_and_sums_fold_to_a_screens_width(renderer: backend.Renderer) -> None:
    for root in (chain(10), long_sum(20)):
        svg = render(viz.draw(root), renderer)
        width, height = size_px(svg)
        assert width <= 1600 and height <= 1200, (width, height)
        found = groups(svg)
        rows = [g for name, g in found.items() if name.startswith("n") and "_row" in name]
        assert rows  # the rows are joined by copies of the node where the last row ended
        # and every node of the graph is drawn once in full
        assert len([n for n in found if re.fullmatch(r"n\d+", n)]) == len(viz.trace(root).nodes)
    # rows run top to bottom: the output (last) sits below the input (first)
    svg = render(viz.draw(chain(10)), renderer)
    found = groups(svg)
    tr = viz.trace(chain(10))
    assert centre(found[f"n{tr.root}"])[1] > centre(found["n0"])[1]


def test_a_short_graph_is_not_folded() -> None:
    x = Value(3.0, label="x")
    assert "_row" not in viz.draw(x * x + x).source


# ----------------------------------------------------------------------------
# Edge labels: one line, beside their own edge, never crossed by it
# ----------------------------------------------------------------------------


def bezier(d: str) -> Iterator[tuple[float, float]]:
    """Points along an SVG path of cubic Bézier segments (Graphviz's edges)."""
    pts = [tuple(map(float, p)) for p in re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)]
    for i in range(0, len(pts) - 3, 3):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts[i : i + 4]
        for k in range(21):
            t = k / 20
            a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
            yield a * x0 + b * x1 + c * x2 + e * x3, a * y0 + b * y1 + c * y2 + e * y3


@pytest.mark.parametrize("name", ["neuron", "square", "chain", "mlp", "mlp441"])
def test_edge_labels_are_one_line_and_clear_of_their_edge(renderer: backend.Renderer, name: str) -> None:
    if name == "neuron":
        x1, w1 = Value(2.0, label="x1"), Value(-3.0, label="w1")
        root = (x1 * w1 + Value(0.0, label="x2") * Value(1.0, label="w2") + Value(B, label="b")).tanh()
    elif name == "square":
        x = Value(3.0, label="x")
        root = x * x + x
    elif name == "chain":
        root = chain(10)
    elif name == "mlp":
        root = mlp_loss((2, 1))[1]
    else:  # the lecture's MLP(2, [4, 4, 1]) loss: dense layers, edges between them
        out = nn.MLP(2, [4, 4, 1], seed=0)([Value(0.5), Value(-1.0)])
        root = (out - 1) ** 2
    root.backward()
    svg = render(viz.draw(root, max_nodes=None), renderer)
    checked = 0
    for g in svg.iter(f"{SVG}g"):
        if not (g.get("class") or "").startswith("edge"):
            continue
        texts = [t for t in g.iter(f"{SVG}text")]
        paths = [p for p in g.iter(f"{SVG}path")]
        if not texts or not paths:
            continue
        assert len(texts) == 1  # one line
        text = texts[0]
        size = float(text.get("font-size", "10"))
        width = text_width(text.text or "", size)
        x, y = float(text.get("x", "0")), float(text.get("y", "0"))
        anchor = text.get("text-anchor", "middle")
        left = x - width / 2 if anchor == "middle" else x if anchor == "start" else x - width
        inside = [(px, py) for px, py in bezier(paths[0].get("d", ""))
                  if left + 1 < px < left + width - 1 and y - 0.75 * size + 1 < py < y + 0.2 * size - 1]
        assert not inside, (text.text, inside[:3])
        checked += 1
    assert checked >= 2


# ----------------------------------------------------------------------------
# The legend
# ----------------------------------------------------------------------------


def legend_of(root: Value, **options: object) -> str:
    dot = viz.draw(root, **options).source  # type: ignore[arg-type]
    start = dot.find("legend [label=")
    return "" if start < 0 else dot[start:]


def test_the_legend_lists_only_what_the_picture_holds() -> None:
    x = Value(3.0, label="x")
    square = legend_of(x * x + x)
    assert "grad = a + b: one term per outgoing edge" in square and "d = local derivative" in square
    for absent in ("dashed edge", "dotted edge", "vanishing", "exploding", "cut off", "nan/inf", "fd:",
                   "double", "folded", "collapsed"):
        assert absent not in square, absent
    v = {name: Value(x, label=name) for name, x in [("x1", 2.0), ("w1", -3.0), ("x2", 0.0), ("w2", 1.0)]}
    o = (v["x1"] * v["w1"] + v["x2"] * v["w2"] + 1.5).tanh()
    o.backward()
    neuron = legend_of(o, check=True)
    for present in ("dashed edge: blocks the gradient", "dotted edge: from a constant", "cut off",
                    "fd: finite-difference estimate", "dashed: constant"):
        assert present in neuron, present
    folded = legend_of(chain(12))
    assert "vanishing: 0 &lt; |grad|" in folded and "folded into rows" in folded
    _, loss = mlp_loss((3, 1))
    assert "double: parameter" in legend_of(loss, view="scalar")
    assert legend_of(x * x, legend=False) == "" and legend_of(x * x, theme=viz.Theme(legend=False)) == ""
    assert legend_of(x * x, legend=True, theme=viz.Theme(legend=False)) != ""  # the argument wins


def test_collapsed_summaries_read_right() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    X, y = nn.data.make_moons(4, noise=0.1, seed=1)
    loss = nn.functional.hinge_loss([model(list(x)) for x in X], list(2 * y - 1))
    loss = loss + 1e-4 * autograd.sum(p * p for p in model.parameters())
    loss.backward()
    dot = viz.draw(loss, view="scalar", collapse=["layers.0"]).source
    summary = next(line for line in dot.splitlines() if "<B>layers.0</B>" in line)
    tr = viz.trace(loss)
    members = [n for n in tr.nodes if n.scope is not None and n.scope.startswith("layers.0.")]
    graded = [n for n in members if n.role != "constant"]
    cut = sum(n.cut_off for n in graded)
    assert f"{sum(1 for n in members if n.op)} ops, 9 parameters" in summary
    if cut:
        assert f"{cut} of {len(graded)} cut off" in summary
    assert "double-bordered box: a collapsed module" in dot


def test_the_legend_sits_beside_a_small_graph(renderer: backend.Renderer) -> None:
    # The lecture neuron: the legend is right of the output, within the graph's height band, not a band above it.
    v = {name: Value(x, label=name) for name, x in [("x1", 2.0), ("w1", -3.0), ("x2", 0.0), ("w2", 1.0)]}
    o = (v["x1"] * v["w1"] + v["x2"] * v["w2"] + Value(B, label="b")).tanh()
    o.backward()
    svg = render(viz.draw(o), renderer)
    found = groups(svg)
    nodes = [box(g) for name, g in found.items() if re.fullmatch(r"n\d+", name)]
    left, top, _, bottom = box(found["legend"])
    graph_right = max(b[2] for b in nodes)
    graph_top, graph_bottom = min(b[1] for b in nodes), max(b[3] for b in nodes)
    assert left > graph_right  # beside (right of) every node
    assert top >= graph_top - 1 and bottom <= graph_bottom + 1  # inside the graph's height band
    _, height = size_px(svg)
    assert (bottom - top) * 96 / 72 < 0.8 * height


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neurons_in_order_top_to_bottom_in_every_layer(renderer: backend.Renderer, seed: int) -> None:
    # The lecture's MLP(2, [4, 4, 1]) with a squared error: Graphviz's crossing minimisation used to draw the
    # neurons of a layer as 1, 3, 0, 2 (and 3, 0, 2, 1); now 0 ... n-1, weights 0 ... n-1 and b, side by side.
    model = nn.MLP(2, [4, 4, 1], seed=seed)
    out = model([Value(0.5), Value(-1.0)])
    loss = (out - 1) ** 2
    loss.backward()
    found = groups(render(viz.draw(loss, view="scalar"), renderer))
    ids = node_ids(loss)
    spans = []
    for k, (width, fan_in) in enumerate([(4, 2), (4, 4), (1, 4)]):
        tops = []
        for j in range(width):
            path = f"layers.{k}.neurons.{j}"
            ys = [centre(found[ids[f"{path}.w.{i}"]])[1] for i in range(fan_in)] + [centre(found[ids[f"{path}.b"]])[1]]
            assert ys == sorted(ys), (path, ys)
            left, top, right, bottom = box(found[f"module.{path}"])
            tops.append(top)
            spans.append((k, left, top, right, bottom))
        assert tops == sorted(tops), (k, tops)  # neurons.0 on top, then 1, 2, ...
    layer = {k: [s for s in spans if s[0] == k] for k in range(3)}
    for k in (0, 1):
        _, _, t0, r0, b0 = (k, min(s[1] for s in layer[k]), min(s[2] for s in layer[k]),
                            max(s[3] for s in layer[k]), max(s[4] for s in layer[k]))
        l1, t1, b1 = min(s[1] for s in layer[k + 1]), min(s[2] for s in layer[k + 1]), max(s[4] for s in layer[k + 1])
        assert l1 > r0
        assert min(b0, b1) - max(t0, t1) > 0.5 * min(b0 - t0, b1 - t1)  # side by side, not stepped


def test_each_edge_label_is_nearest_its_own_edge_or_tied_to_it(renderer: backend.Renderer) -> None:
    # The lecture's MLP(2, [4, 4, 1]) loss. Where edges between modules run close together, Graphviz can put a
    # label nearer a neighbour than its own edge: such a label is underlined and tied to its own edge by a line
    # whose end lies on that edge (and nearer it than any other edge).
    out = nn.MLP(2, [4, 4, 1], seed=0)([Value(0.5), Value(-1.0)])
    loss = (out - 1) ** 2
    loss.backward()
    svg = render(viz.draw(loss, view="scalar"), renderer)
    edges = []
    for g in svg.iter(f"{SVG}g"):
        if (g.get("class") or "").startswith("edge") and re.fullmatch(r"e\d+", g.get("id", "")):
            path = next(g.iter(f"{SVG}path"))
            edges.append((g, list(bezier(path.get("d", "")))))

    def distance(x: float, y: float, curve: list[tuple[float, float]]) -> float:
        return min(math.hypot(x - px, y - py) for px, py in curve)

    nearest = tied = 0
    for g, own in edges:
        text = next(g.iter(f"{SVG}text"), None)
        if text is None:
            continue
        size = float(text.get("font-size", "10"))
        width = text_width(text.text or "", size)
        x, y = float(text.get("x", "0")), float(text.get("y", "0"))
        left = x if text.get("text-anchor") == "start" else x - width / 2
        corners = [(left + dx, y + dy) for dx in (0, width / 2, width) for dy in (-0.75 * size, 0.25 * size)]
        mine = min(distance(cx, cy, own) for cx, cy in corners)
        others = min(min(distance(cx, cy, curve) for cx, cy in corners) for h, curve in edges if h is not g)
        if mine < others:
            nearest += 1
            continue
        line = next(g.iter(f"{SVG}polyline"), None)
        assert line is not None, (text.text, mine, others)  # neither nearest nor tied
        end = points(line)[-1]
        # (the curves are sampled 21 points a segment: a point on one is within a few points of a sample)
        assert distance(*end, own) < 6.0 and distance(*end, own) < min(
            distance(*end, curve) for h, curve in edges if h is not g), text.text
        tied += 1
    assert nearest + tied >= 70 and nearest > tied
