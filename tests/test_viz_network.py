"""Tests for the network view (viz.network): found from the recorded graph, every edge's dL/dw is p.grad,
ids in the SVG, the size of micrograd's moons net, the legend, and the choice of view."""

from __future__ import annotations

import itertools
import math
import re
import shutil
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from conftest import needs

from chainrule import autograd, nn, viz
from chainrule.autograd import Value
from chainrule.viz import backend
from chainrule.viz.network import NotANetworkError, find_network
from chainrule.viz.theme import Theme, contrast

FALLBACK = Path(sys.executable).parent / "graphviz-pure"
SVG = "{http://www.w3.org/2000/svg}"


def moons_loss(samples: int = 1, sizes: tuple[int, ...] = (16, 16, 1), penalty: bool = False) -> tuple[nn.MLP, Value]:
    """micrograd's demo net on ``samples`` moons points, hinge loss (+ its L2 penalty), after backward()."""
    X, y = nn.data.make_moons(max(samples, 2), noise=0.1, seed=1)
    model = nn.MLP(2, list(sizes), seed=0)
    scores = [model(list(x)) for x in X[:samples]]
    loss = nn.functional.hinge_loss(scores, list(2 * y[:samples] - 1))
    if penalty:
        loss = loss + 1e-4 * autograd.sum(p * p for p in model.parameters())
    loss.backward()
    return model, loss


def attrs_of(dot: str, name: str) -> str:
    """The attribute text of the DOT statement (node or edge) whose id is ``name``."""
    for line in dot.split("\n\t"):
        if f'id="{name}"' in line or f"id={name} " in line or line.endswith(f"id={name}]"):
            return line
    raise AssertionError(f"no statement with id {name!r}")


def edges(dot: str) -> dict[str, tuple[str, str]]:
    """Weight edges by id: (tail DOT name, head DOT name)."""
    found = {}
    for tail, head, rest in re.findall(r"\t(\w+) -> (\w+) \[(.*?)\]\n", dot, flags=re.S):
        m = re.search(r'id="([^"]+)"', rest)
        if m and "weight parameter" in rest:
            found[m.group(1)] = (tail, head)
    return found


def node_names(dot: str) -> dict[str, str]:
    """SVG id -> DOT node name, for the nodes."""
    return {m.group(2): m.group(1) for m in re.finditer(r'\t(\w+) \[.*?id="([^"]+)"', dot)}


# ----------------------------------------------------------------------------
# What the view finds in the graph
# ----------------------------------------------------------------------------


def test_columns_rows_and_sources_come_from_the_graph() -> None:
    _, loss = moons_loss(sizes=(4, 4, 1))
    net = find_network(viz.trace(loss))
    assert [len(c) for c in net.columns] == [2, 4, 4, 1]
    names = [[net.units[k].name for k in c] for c in net.columns]
    assert names[0] == ["x0", "x1"]
    assert names[2] == [f"layers.1.neurons.{j}" for j in range(4)]
    assert [u.activation for u in net.neurons()] == ["relu"] * 8 + ["linear"]
    assert [u.output for u in net.neurons()] == [False] * 8 + [True]
    # each weight multiplies the unit it comes from: layers.1.neurons.j.w.i reads layers.0.neurons.i
    tr = viz.trace(loss)
    for u in net.neurons():
        layer = int(u.name.split(".")[1])
        for i, (w, src) in enumerate(zip(u.weights, u.sources)):
            assert tr.nodes[w].label == f"{u.name}.w.{i}"
            expected = f"x{i}" if layer == 0 else f"layers.{layer - 1}.neurons.{i}"
            assert net.units[src].name == expected
        assert u.bias is not None and tr.nodes[u.bias].label == f"{u.name}.b"
    assert net.loss == tr.root and net.samples == 1 and net.tail_ops == 4  # 1 - y*s, relu, sum and the mean


def test_every_edge_carries_its_parameters_gradient() -> None:
    # A batch with a penalty: each p.grad sums 5 samples' terms and the penalty's.
    model, loss = moons_loss(samples=5, sizes=(4, 4, 1), penalty=True)
    theme = Theme()
    dot = viz.draw(loss, view="network").source
    found = edges(dot)
    names = node_names(dot)
    params = dict(model.named_parameters())
    weights = {k: p for k, p in params.items() if ".w." in k}
    assert set(found) == set(weights)  # one edge per weight, named by its parameter
    for name, p in params.items():
        line = attrs_of(dot, name)
        assert f"dL/d{'w' if '.w.' in name else 'b'} = {theme.fmt(p.grad)}" in line
        if name in weights:
            assert f'color="{theme.grad_color(p.grad, line=True)}"' in line
            tail, head = found[name]
            neuron, i = name.rsplit(".w.", 1)
            assert names[neuron] == head  # into its neuron
            layer = int(neuron.split(".")[1])
            assert names[f"input.{i}" if layer == 0 else f"layers.{layer - 1}.neurons.{i}"] == tail
        else:
            assert f'fillcolor="{theme.grad_color(p.grad)}"' in line
    # the same numbers as the engine's: the trace's parameter nodes hold p.grad exactly
    tr = viz.trace(loss)
    net = find_network(tr)
    for u in net.neurons():
        for w in (*u.weights, u.bias):
            assert w is not None and tr.nodes[w].grad == params[tr.nodes[w].label].grad


def test_a_batch_shows_one_samples_values() -> None:
    model, loss = moons_loss(samples=4, sizes=(3, 1))
    X, _ = nn.data.make_moons(4, noise=0.1, seed=1)
    tr = viz.trace(loss)
    for s in range(4):
        net = find_network(tr, sample=s)
        assert net.samples == 4 and net.sample == s
        out = next(u for u in net.neurons() if u.output)
        assert tr.nodes[out.node].data == model(list(X[s])).data  # sample s, as the model computes it
        inputs = [tr.nodes[u.node].data for u in net.units if u.kind == "input"]
        assert inputs == list(X[s])
    dot = viz.draw(loss, view="network", sample=2).source
    assert "sample 3 of 4" in dot and "summed over all 4 samples (w.grad)" in dot
    with pytest.raises(NotANetworkError, match=r"sample must be an int from 0 to 3 .*got 4"):
        viz.draw(loss, view="network", sample=4)


def test_a_neuron_called_on_its_own_and_a_skip_connection() -> None:
    neuron = nn.Neuron(3, activation="tanh", seed=0)
    out = neuron([0.5, -1.0, 2.0])
    out.backward()
    net = find_network(viz.trace(out))
    assert [len(c) for c in net.columns] == [3, 1]
    (unit,) = net.neurons()
    assert unit.activation == "tanh" and unit.output and net.loss is None
    # a second layer that also reads the raw input: the input sits in column 0, the neuron in column 2
    a, b = nn.Neuron(1, seed=1), nn.Neuron(2, seed=2)
    x = Value(0.7, label="x")
    h = a([x])
    y = b([h, x])
    y.backward()
    net = find_network(viz.trace(y))
    assert [net.units[k].name for k in net.columns[0]] == ["x"]
    assert [len(c) for c in net.columns] == [1, 1, 1]
    assert viz.trace(y).nodes[net.units[0].node].grad == x.grad  # an input Value shows its gradient


def test_graphs_without_neurons_are_refused_clearly() -> None:
    x = Value(2.0, label="x")
    with pytest.raises(NotANetworkError, match=r"the network view needs neurons made by nn modules.*view='scalar'"):
        viz.draw(x * x, view="network")
    assert isinstance(NotANetworkError("x"), ValueError)
    w = Value(0.5)
    with pytest.raises(NotANetworkError):  # a dot whose weights are not parameters is not a neuron
        viz.draw(autograd.dot([w], [x]), view="network")
    model = nn.MLP(1, [1], seed=0)
    twice = model([model([0.5])])  # the same neuron twice in one pass (a recurrence)
    with pytest.raises(NotANetworkError, match="called more than once in one forward pass"):
        viz.draw(twice, view="network")
    with pytest.raises(ValueError, match="view must be 'auto', 'scalar' or 'network', got 'graph'"):
        viz.draw(twice, view="graph")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="check and collapse belong to the scalar view"):
        viz.draw(model([0.5]), view="network", check=True)


def test_auto_picks_the_network_view_only_for_big_nn_graphs() -> None:
    _, small = moons_loss(sizes=(2, 1))
    assert "layout=neato" not in viz.draw(small).source  # few nodes: the scalar view
    _, big = moons_loss(sizes=(16, 16, 1))
    assert "layout=neato" in viz.draw(big).source  # 400+ nodes from nn modules: the network view
    assert "layout=neato" not in viz.draw(big, max_nodes=None).source  # no cap: scalar
    assert "layout=neato" not in viz.draw(big, collapse=["layers.0"]).source  # collapse asks for scalar
    x = Value(0.1, label="x")
    y = x
    for _ in range(400):
        y = y.tanh()
    assert "layout=neato" not in viz.draw(y).source  # big but no modules: the scalar view, stacked
    assert "layout=neato" in viz.draw(small, view="network").source


def test_dot_is_deterministic_and_snapshotted() -> None:
    model = nn.MLP(2, [2, 1], seed=0)
    out = model([0.5, -1.0])
    loss = (out - 1.0) * (out - 1.0)
    loss.backward()
    first = viz.draw(loss, view="network", legend=False).source
    model2 = nn.MLP(2, [2, 1], seed=0)
    out2 = model2([0.5, -1.0])
    ((out2 - 1.0) * (out2 - 1.0)).backward()
    assert viz.draw((out2 - 1.0) * (out2 - 1.0), view="network", legend=False, grads="computed").source == first


# The numbers: z0 = 1.193*0.5 + 0.8936*-1 = -0.297 (dead relu: its edges 0, dotted), z1 = 0.6976 = relu output;
# out = 0.03189*0 - 0.2689*0.6976 = -0.1876; L = (out - 1)^2 = 1.41, dL/dout = 2(out - 1) = -2.375;
# dL/d(w1 of the output) = -2.375 * 0.6976 = -1.657; dL/dz1 = -2.375 * -0.2689 = 0.6386 = dL/db; dL/dw = 0.6386 * x.
NETWORK = r"""digraph chainrule {
	graph [bgcolor=white fontname=Helvetica inputscale=72 layout=neato outputorder=edgesfirst pad=0.15 splines=line]
	node [fontname=Helvetica fontsize=9 style=filled]
	edge [arrowsize=0.45 fontname=Helvetica]
	u4 [label=<<B>x0</B><BR/>0.5> class=input color="#737373" fillcolor="#ffffff" fixedsize=shape fontcolor="#000000" id="input.0" penwidth=1.5 pos="0.0,50.0!" shape=circle style="filled,dashed" tooltip="input x0 = 0.5" width=0.889]
	u5 [label=<<B>x1</B><BR/>-1> class=input color="#737373" fillcolor="#ffffff" fixedsize=shape fontcolor="#000000" id="input.1" penwidth=1.5 pos="0.0,-50.0!" shape=circle style="filled,dashed" tooltip="input x1 = -1" width=0.889]
	u8 [label=<<B>0</B><BR/><I>-0.0757</I>> class="neuron hidden blocked negative" fillcolor="#55bffc" fixedsize=shape fontcolor="#000000" id="layers.0.neurons.0" penwidth=1.5 pos="240.0,50.0!" shape=circle style="filled,dashed" tooltip="layers.0.neurons.0 (relu)
output 0, dL/d(output) = -0.07574
pre-activation z = w.x + b = -0.297, dL/dz = 0
dead relu: it passes no gradient back" width=0.889]
	b6 [label=b class="bias parameter zero" fillcolor="#ffffff" fixedsize=true fontcolor="#000000" fontsize=7 id="layers.0.neurons.0.b" penwidth=0.8 pos="240.0,18.0!" shape=square tooltip="layers.0.neurons.0.b = 0
dL/db = 0" width=0.153]
	u13 [label=<<B>0.698</B><BR/><I>0.639</I>> class="neuron hidden positive" fillcolor="#e67f04" fixedsize=shape fontcolor="#000000" id="layers.0.neurons.1" pos="240.0,-50.0!" shape=circle tooltip="layers.0.neurons.1 (relu)
output 0.6976, dL/d(output) = 0.6386
pre-activation z = w.x + b = 0.6976, dL/dz = 0.6386" width=0.889]
	b11 [label=b class="bias parameter positive" fillcolor="#e67f04" fixedsize=true fontcolor="#000000" fontsize=7 id="layers.0.neurons.1.b" penwidth=0.8 pos="240.0,-82.0!" shape=square tooltip="layers.0.neurons.1.b = 0
dL/db = 0.6386" width=0.153]
	u15 [label=<<B>-0.188</B><BR/><I>-2.38</I>> class="neuron output negative" fillcolor="#1395ea" fixedsize=shape fontcolor="#000000" id="layers.1.neurons.0" pos="480.0,0.0!" shape=doublecircle tooltip="layers.1.neurons.0 (linear)
output -0.1876, dL/d(output) = -2.375
pre-activation z = w.x + b = -0.1876, dL/dz = -2.375" width=0.889]
	b14 [label=b class="bias parameter negative" fillcolor="#1395ea" fixedsize=true fontcolor="#000000" fontsize=7 id="layers.1.neurons.0.b" penwidth=0.8 pos="480.0,-32.0!" shape=square tooltip="layers.1.neurons.0.b = 0
dL/db = -2.375" width=0.153]
	u4 -> u8 [class="weight parameter zero" color="#a6a6a6" id="layers.0.neurons.0.w.0" penwidth=0.50 style=dotted tooltip="layers.0.neurons.0.w.0 = 1.193
dL/dw = 0
from x0 to layers.0.neurons.0"]
	u5 -> u8 [class="weight parameter zero" color="#a6a6a6" id="layers.0.neurons.0.w.1" penwidth=0.50 style=dotted tooltip="layers.0.neurons.0.w.1 = 0.8936
dL/dw = 0
from x1 to layers.0.neurons.0"]
	u4 -> u13 [class="weight parameter positive" color="#d07708" id="layers.0.neurons.1.w.0" penwidth=2.03 tooltip="layers.0.neurons.1.w.0 = -0.2751
dL/dw = 0.3193
from x0 to layers.0.neurons.1"]
	u5 -> u13 [class="weight parameter negative" color="#0d92dc" id="layers.0.neurons.1.w.1" penwidth=2.16 tooltip="layers.0.neurons.1.w.1 = -0.8351
dL/dw = -0.6386
from x1 to layers.0.neurons.1"]
	u8 -> u15 [class="weight parameter zero" color="#a6a6a6" id="layers.1.neurons.0.w.0" penwidth=0.50 style=dotted tooltip="layers.1.neurons.0.w.0 = 0.03189
dL/dw = 0
from layers.0.neurons.0 to layers.1.neurons.0"]
	u13 -> u15 [class="weight parameter negative" color="#1588d2" id="layers.1.neurons.0.w.1" penwidth=2.35 tooltip="layers.1.neurons.0.w.1 = -0.2689
dL/dw = -1.657
from layers.0.neurons.1 to layers.1.neurons.0"]
	l9 [label=0.319 class="grad-label" color=white fillcolor=white fontsize=8.5 height=0 id="layers.0.neurons.1.w.0.label" margin="0.01,0.005" pos="185.9,-27.5!" shape=box style=filled tooltip="dL/dlayers.0.neurons.1.w.0 = 0.3193" width=0]
	l10 [label=-0.639 class="grad-label" color=white fillcolor=white fontsize=8.5 height=0 id="layers.0.neurons.1.w.1.label" margin="0.01,0.005" pos="185.9,-50.0!" shape=box style=filled tooltip="dL/dlayers.0.neurons.1.w.1 = -0.6386" width=0]
	l1 [label=-1.66 class="grad-label" color=white fillcolor=white fontsize=8.5 height=0 id="layers.1.neurons.0.w.1.label" margin="0.01,0.005" pos="428.3,-10.8!" shape=box style=filled tooltip="dL/dlayers.1.neurons.0.w.1 = -1.657" width=0]
	loss [label=<<B>loss</B> 1.41<BR/>grad 1 (seed)<BR/>3 ops after the output> class=loss fillcolor="#e0790d" fontcolor="#000000" fontsize=9 id=loss penwidth=2.5 pos="603.5,0.0!" shape=box style="rounded,filled,bold" tooltip="loss = 1.41"]
	u15 -> loss [class="to-loss" color="#1484cf" id="layers.1.neurons.0.to_loss" penwidth=2.41 tooltip="dL/d(output) of layers.1.neurons.0 = -2.375"]
	title0 [label=<inputs> class="column-title" fontsize=8.5 id="column.0" pos="0.0,95.5!" shape=plaintext style=solid]
	title1 [label=<layers.0: relu<BR/>max |dL/dw| 0.639> class="column-title" fontsize=8.5 id="column.1" pos="240.0,101.0!" shape=plaintext style=solid]
	title2 [label=<layers.1: linear<BR/>max |dL/dw| 1.66> class="column-title" fontsize=8.5 id="column.2" pos="480.0,101.0!" shape=plaintext style=solid]
}
"""  # noqa: E501


def test_network_snapshot() -> None:
    model = nn.MLP(2, [2, 1], seed=0)
    out = model([0.5, -1.0])
    loss = (out - 1.0) * (out - 1.0)
    loss.backward()
    dot = viz.draw(loss, view="network", legend=False).source
    assert dot == NETWORK
    for text in ("output -0.1876, dL/d(output) = -2.375", "dL/dw = -1.657", "dL/db = 0.6386", "<B>loss</B> 1.41",
                 'id="layers.0.neurons.0" penwidth=1.5', "dead relu: it passes no gradient back"):
        assert text in dot


# ----------------------------------------------------------------------------
# Legend and text contrast
# ----------------------------------------------------------------------------


def test_legend_lists_only_what_the_picture_holds() -> None:
    _, loss = moons_loss(sizes=(4, 4, 1))
    dot = viz.draw(loss, view="network").source
    legend = attrs_of(dot, "legend")
    for text in ("double circle: an output neuron", "dashed grey circle: an input", "square b: the bias",
                 "dotted grey edge: dL/dw = 0 exactly", "dashed circle: blocks the gradient",
                 "number on an edge: dL/dw"):
        assert text in legend
    assert "samples" not in legend  # one sample: nothing to say about batches
    # a tanh net with no dead units and no zero gradients: no line about them
    model = nn.MLP(2, [3, 1], activation="tanh", seed=3)
    out = model([0.3, -0.2])
    out.backward()
    legend = attrs_of(viz.draw(out, view="network").source, "legend")
    assert "dashed circle" not in legend and "dotted grey edge" not in legend
    assert "network view" not in viz.draw(out, view="network", legend=False).source


def test_every_text_meets_wcag_aa() -> None:
    _, loss = moons_loss(samples=3, sizes=(4, 4, 1), penalty=True)
    for dot in (viz.draw(loss, view="network").source, viz.draw(loss, view="scalar", max_nodes=None).source):
        fills = re.findall(r'fillcolor="(#[0-9a-f]{6})" [^\n]*?fontcolor="(#[0-9a-f]{6})"', dot)
        assert len(fills) > 20
        for fill, font in fills:
            assert contrast(fill, font) >= 4.5, (fill, font)
        for fill, font in re.findall(r'BGCOLOR="(#[0-9a-f]{6})"[^>]*><FONT COLOR="(#[0-9a-f]{6})"', dot):
            assert contrast(fill, font) >= 4.5, (fill, font)
    theme = Theme()
    # edge labels sit on the background (white) or a module's fill; blocked ones are muted, still AA
    for background in ("#ffffff", theme.cluster_fill):
        for colour in ("#000000", theme.muted_text, theme.match_color, theme.mismatch_color):
            assert contrast(colour, background) >= 4.5


# ----------------------------------------------------------------------------
# The rendered picture: size, ids, positions
# ----------------------------------------------------------------------------


def renderers() -> list[backend.Renderer]:
    found = [backend.Renderer("graphviz-pure", str(FALLBACK))] if FALLBACK.exists() else []
    dot = shutil.which("dot")
    if dot is not None:
        found.append(backend.Renderer("dot", dot))
    return found


def svg_of(source: str, renderer: backend.Renderer) -> ElementTree.Element:
    return ElementTree.fromstring(backend.render_source(source, "svg", renderer=renderer))


def size_px(svg: ElementTree.Element) -> tuple[float, float]:
    width, height = (float(svg.get(k, "0").removesuffix("pt")) for k in ("width", "height"))
    return width * 96 / 72, height * 96 / 72


def centre(svg: ElementTree.Element, element_id: str) -> tuple[float, float]:
    """The centre of an element's first shape (ellipse, polygon or path)."""
    for g in svg.iter(f"{SVG}g"):
        if g.get("id") != element_id:
            continue
        for shape in g.iter():
            if shape.tag == f"{SVG}ellipse":
                return float(shape.get("cx", "0")), float(shape.get("cy", "0"))
            if shape.tag in (f"{SVG}polygon", f"{SVG}path"):
                numbers = [float(v) for v in re.findall(r"-?[\d.]+", shape.get("points") or shape.get("d") or "")]
                xs, ys = numbers[0::2], numbers[1::2]
                return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    raise AssertionError(f"no element {element_id!r} in the SVG")


@pytest.mark.parametrize("which", ["graphviz-pure", "dot"])
def test_moons_net_fits_a_laptop_screen_with_every_id(which: str) -> None:
    found = {r.name: r for r in renderers()}
    if which == "dot":
        needs("dot" in found, "system Graphviz (dot)")
    elif which not in found:
        pytest.skip("graphviz-pure is not installed next to this Python")
    renderer = found[which]
    for sizes in ((16, 16, 1), (4, 4, 1)):
        model, loss = moons_loss(sizes=sizes)
        svg = svg_of(viz.draw(loss).source, renderer)  # auto: the network view for the 16-16 net
        if sizes == (4, 4, 1):
            svg = svg_of(viz.draw(loss, view="network").source, renderer)
        width, height = size_px(svg)
        assert width <= 1600 and height <= 1000, (sizes, width, height)
        ids = {g.get("id") for g in svg.iter(f"{SVG}g")}
        assert set(dict(model.named_parameters())) <= ids  # every weight edge and bias square, by name
        neurons = {f"layers.{k}.neurons.{j}" for k, n in enumerate(sizes) for j in range(n)}
        assert neurons <= ids and {"input.0", "input.1", "loss", "legend"} <= ids
        # columns left to right, neurons top to bottom in order, the loss after the output
        for k, n in enumerate(sizes):
            xs, ys = zip(*(centre(svg, f"layers.{k}.neurons.{j}") for j in range(n)))
            assert len(set(xs)) == 1 and list(ys) == sorted(ys) and len(set(ys)) == n
            if k:
                assert xs[0] > centre(svg, f"layers.{k - 1}.neurons.0")[0]
        assert centre(svg, "input.0")[0] < centre(svg, "layers.0.neurons.0")[0]
        assert centre(svg, "loss")[0] > centre(svg, f"layers.{len(sizes) - 1}.neurons.0")[0]
        # text no smaller than 7 pt (9.3 px) at 100 %; the numbers in circles 7.5 pt or more
        sizes_pt = [float(t.get("font-size", "14")) for t in svg.iter(f"{SVG}text")]
        assert min(sizes_pt) >= 7.0
        assert min(float(t.get("font-size", "14")) for t in svg.iter(f"{SVG}text") if t.text != "b") >= 7.5


def test_circles_do_not_overlap() -> None:
    _, loss = moons_loss(sizes=(16, 16, 1))
    dot = viz.draw(loss, view="network").source
    circles = re.findall(r'pos="(-?[\d.]+),(-?[\d.]+)!" shape=(?:double)?circle[^\]]*width=([\d.]+)', dot)
    assert len(circles) == 2 + 16 + 16 + 1
    pts = [(float(x), float(y), float(w) * 72 / 2) for x, y, w in circles]
    for i, (x, y, r) in enumerate(pts):
        for x2, y2, r2 in pts[i + 1 :]:
            assert math.hypot(x - x2, y - y2) >= r + r2 + 2


# ----------------------------------------------------------------------------
# Neurons in detail
# ----------------------------------------------------------------------------


def test_a_neuron_in_detail_shows_its_scalar_graph() -> None:
    model, loss = moons_loss(sizes=(4, 4, 1))
    path = "layers.1.neurons.2"
    dot = viz.draw(loss, detail=[path]).source  # detail implies the network view
    assert "layout=neato" in dot and f"{path} in detail" in dot
    tr = viz.trace(loss)
    net = find_network(tr)
    unit = next(u for u in net.neurons() if u.name == path)
    ins = tr.in_edges()[unit.dot]
    theme = Theme()
    params = dict(model.named_parameters())
    for i in range(4):
        # the weight is a box now (named by its parameter), beside the box of the input it multiplies
        w_line = attrs_of(dot, f"{path}.w.{i}")
        assert "detail-parameter" in w_line and f"grad {theme.fmt(params[f'{path}.w.{i}'].grad)}" in w_line
        x_line = attrs_of(dot, f"{path}.x.{i}")
        assert f"from layers.0.neurons.{i}" in x_line
        w_y = float(re.search(r'pos="[-\d.]+,(-?[\d.]+)!"', w_line).group(1))  # type: ignore[union-attr]
        x_y = float(re.search(r'pos="[-\d.]+,(-?[\d.]+)!"', x_line).group(1))  # type: ignore[union-attr]
        assert 0 < w_y - x_y < 30  # w.i just above x.i
        # each edge into the dot node carries its chain-rule term: local derivative * dL/dz = term
        for index in (ins[i], ins[4 + i]):
            e = tr.edges[index]
            assert e.local is not None and e.contribution is not None
            label = f"&lt;- {theme.fmt(e.local)} * {theme.fmt(e.upstream)} = {theme.fmt(e.contribution)}"
            assert label in dot
            assert f"id=e{index} " in dot
        assert f"{path}.in.{i}" in dot  # the value's edge from the previous column
        assert f'id="{path}.w.{i}" penwidth' not in dot  # no weight edge for it any more
    assert f"id=e{ins[8]} " in dot  # the bias's edge
    assert f'id="{path}"' in dot and "detail-activation" in attrs_of(dot, path)  # the output keeps the id
    # the other neurons are still circles with weight edges
    assert "weight parameter" in attrs_of(dot, "layers.1.neurons.1.w.0")


def test_detail_errors() -> None:
    _, loss = moons_loss(sizes=(2, 1))
    with pytest.raises(ValueError, match=r"detail: no neuron 'layers\.5\.neurons\.0' in this network"):
        viz.draw(loss, detail=["layers.5.neurons.0"])
    with pytest.raises(TypeError, match="detail must be a list of neuron paths, got the string"):
        viz.draw(loss, view="network", detail="layers.0.neurons.0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="detail expands neurons inside the network view"):
        viz.draw(loss, view="scalar", detail=["layers.0.neurons.0"])


@pytest.mark.parametrize("which", ["graphviz-pure", "dot"])
def test_detail_renders_cleanly(which: str) -> None:
    found = {r.name: r for r in renderers()}
    if which == "dot":
        needs("dot" in found, "system Graphviz (dot)")
    elif which not in found:
        pytest.skip("graphviz-pure is not installed next to this Python")
    import subprocess

    _, loss = moons_loss(sizes=(16, 16, 1))
    source = viz.draw(loss, detail=["layers.2.neurons.0", "layers.0.neurons.3"]).source
    result = subprocess.run([found[which].path, "-Tsvg"], input=source.encode(), capture_output=True, check=False)
    assert result.returncode == 0 and result.stderr.decode() == ""  # no label too big for its box
    svg = ElementTree.fromstring(result.stdout)
    # the detailed output neuron's boxes don't overlap: w.i, x.i and b in one column, top to bottom
    ys = [centre(svg, f"layers.2.neurons.0.{kind}.{i}")[1] for i in range(16) for kind in ("w", "x")]
    assert ys == sorted(ys) and min(b - a for a, b in itertools.pairwise(ys)) >= 20


def test_render_and_animate_take_the_same_options(tmp_path: Path) -> None:
    _, loss = moons_loss(sizes=(4, 4, 1))
    path = viz.render(loss, tmp_path / "net.dot", view="network", detail=["layers.0.neurons.1"], legend=False)
    text = path.read_text(encoding="utf-8")
    assert "layers.0.neurons.1 in detail" in text and "network view" not in text
    x = Value(2.0, label="x")
    y = x * x + x
    y.backward()
    page = viz.animate_backward(y, tmp_path / "a.html", view="scalar", legend=False).read_text(encoding="utf-8")
    assert 'id="legend"' not in page  # the page embeds the diagram, legend and all
    with_legend = viz.animate_backward(y, tmp_path / "b.html").read_text(encoding="utf-8")
    assert 'id="legend"' in with_legend
    page = viz.animate_backward(loss, tmp_path / "c.html", view="network", detail=["layers.0.neurons.1"],
                                legend=False).read_text(encoding="utf-8")
    assert "layers.0.neurons.1 in detail" in page and "network view" not in page
    with pytest.raises(ValueError, match="view must be 'auto', 'scalar' or 'network'"):
        viz.animate_backward(y, tmp_path / "d.html", view="both")


def test_a_wide_net_still_fits_with_dots_for_neurons() -> None:
    model = nn.MLP(2, [64, 64, 1], seed=0)
    loss = nn.functional.hinge_loss([model([0.5, -0.3])], [1.0])
    loss.backward()
    dot = viz.draw(loss).source  # auto: network view
    assert "small circles: too many to write in" in dot
    lines = [attrs_of(dot, f"layers.0.neurons.{j}") for j in range(64)]
    ys = sorted(float(re.search(r'pos="-?[\d.]+,(-?[\d.]+)!"', line).group(1)) for line in lines)  # type: ignore[union-attr]
    widths = [float(re.search(r" width=([\d.]+)", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert ys[-1] - ys[0] < 700  # 64 neurons in one screen's height (points)
    assert all(w * 72 < 12 for w in widths)  # dots, no numbers in them ...
    line = attrs_of(dot, "layers.0.neurons.5")
    assert 'label=""' in line and "dL/d(output) = " in line  # ... the numbers are in the tooltip
    for renderer in renderers():
        width, height = size_px(svg_of(dot, renderer))
        assert width <= 1600 and height <= 1000


def _points(element: ElementTree.Element) -> list[tuple[float, float]]:
    """The coordinates of an element's shapes (path, polygon, polyline; an ellipse's bounding corners)."""
    found: list[tuple[float, float]] = []
    for shape in element.iter():
        if shape.tag == f"{SVG}ellipse":
            cx, cy, rx, ry = (float(shape.get(k, "0")) for k in ("cx", "cy", "rx", "ry"))
            found += [(cx - rx, cy - ry), (cx + rx, cy + ry)]
        elif shape.tag in (f"{SVG}path", f"{SVG}polygon", f"{SVG}polyline"):
            numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", shape.get("points") or shape.get("d") or "")]
            found += list(zip(numbers[0::2], numbers[1::2]))
    return found


def _bbox(element: ElementTree.Element) -> tuple[float, float, float, float]:
    xs, ys = zip(*_points(element))
    return min(xs), min(ys), max(xs), max(ys)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float], slack: float = 0.5) -> bool:
    return a[0] + slack < b[2] and b[0] + slack < a[2] and a[1] + slack < b[3] and b[1] + slack < a[3]


def _groups(svg: ElementTree.Element, kind: str) -> list[ElementTree.Element]:
    return [g for g in svg.iter(f"{SVG}g") if kind in (g.get("class") or "").split()]


def _title(g: ElementTree.Element) -> str:
    title = g.find(f"{SVG}title")
    return "" if title is None or title.text is None else title.text


DETAIL_CASES = [
    ((4, 4, 1), ["layers.1.neurons.2"]),  # the picture: a panel mid-column
    ((4, 4, 1), ["layers.0.neurons.0", "layers.1.neurons.1"]),  # panels in adjacent columns
    ((4, 4, 1), ["layers.2.neurons.0"]),  # the output neuron, with the loss after it
    ((16, 16, 1), ["layers.2.neurons.0", "layers.0.neurons.3"]),
]


@pytest.mark.parametrize("which", ["graphviz-pure", "dot"])
@pytest.mark.parametrize(("sizes", "detail"), DETAIL_CASES)
def test_no_edge_crosses_a_detail_panel_and_no_labels_overlap(which: str, sizes: tuple[int, ...],
                                                              detail: list[str]) -> None:
    found = {r.name: r for r in renderers()}
    if which == "dot":
        needs("dot" in found, "system Graphviz (dot)")
    elif which not in found:
        pytest.skip("graphviz-pure is not installed next to this Python")
    if sizes == (4, 4, 1) and detail == ["layers.1.neurons.2"]:  # the issue's own example
        model = nn.MLP(2, [4, 4, 1], seed=1)
        out = model([Value(0.5), Value(-1.0)])
        loss = (out - 1) ** 2  # type: ignore[operator]
        loss.backward()
    else:
        _, loss = moons_loss(sizes=sizes)
    svg = svg_of(viz.draw(loss, view="network", detail=detail).source, found[which])
    frames = _groups(svg, "detail-frame")
    assert len(frames) == len(detail)
    edges_drawn = _groups(svg, "edge")
    assert len(edges_drawn) > 20
    for frame in frames:
        own = "p" + _title(frame).removeprefix("frame") + "_"  # the DOT names of the panel's own nodes
        left, top, right, bottom = _bbox(frame)
        for edge in edges_drawn:
            if any(end.startswith(own) for end in _title(edge).split("->")):
                continue  # the panel's own edges: into its input boxes, inside it, out of its activation
            points = _points(edge)
            assert points, _title(edge)
            for (xa, ya), (xb, yb) in itertools.pairwise(points):
                for t in (s / 20 for s in range(21)):
                    x, y = xa + t * (xb - xa), ya + t * (yb - ya)
                    assert not (left + 1 < x < right - 1 and top + 1 < y < bottom - 1), (
                        f"{edge.get('id')} crosses the panel {frame.get('id')} at ({x:.1f}, {y:.1f})")
    # the numbers on edges overlap neither each other, nor a panel, nor a circle
    labels = [_bbox(g) for g in _groups(svg, "grad-label")]
    terms = [_bbox(g) for g in _groups(svg, "term-label")]
    assert terms and (labels or sizes[0] > 4)  # 16 x 16 edges between two columns: numbers only in tooltips
    for a, b in itertools.combinations(labels + terms, 2):
        assert not _overlap(a, b), (a, b)
    obstacles = [_bbox(g) for g in frames + _groups(svg, "neuron") + _groups(svg, "input")]
    for a in labels:
        assert not any(_overlap(a, b) for b in obstacles), a
