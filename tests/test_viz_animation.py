"""Tests for viz.animation without a browser: the page embeds viz.draw's SVG, steps in wave fronts (one layer
per step in the network view) with the engine's gradients, explains each step with the chain rule in the
diagram's factor order and number format, names nodes readably, switches view above the size limit, escapes
any label. The page in a real browser: tests/test_viz_animation_browser.py."""

from __future__ import annotations

import json
import math
import re
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import mlp_4_4_1_loss as mlp_loss
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chainrule import autograd, viz
from chainrule.autograd import Value
from chainrule.viz.animation import animate_backward, backward_steps, node_names, shorten
from chainrule.viz.trace import trace

VOID = {"meta", "input", "br", "img", "link", "hr"}
SVG_NS = "http://www.w3.org/2000/svg"


class Page(HTMLParser):
    """Parse the page strictly enough to catch broken markup: every end tag must close the innermost open one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.start_tags: list[str] = []
        self.problems: list[str] = []
        self.scripts: dict[str, str] = {}
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.start_tags.append(tag)
        a = dict(attrs)
        self.attrs.append((tag, a))
        if tag not in VOID:
            self.stack.append(tag)
            self._open.append(a.get("id") or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.start_tags.append(tag)
        self.attrs.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        self._open.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "script":
            self.scripts[self._open[-1]] = self.scripts.get(self._open[-1], "") + data


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert not page.problems, page.problems
    assert page.stack == [], page.stack
    return page


def data_of(page: Page) -> dict:
    return json.loads(page.scripts["chainrule-data"])


def svg_of(path: Path) -> ET.Element:
    text = path.read_text(encoding="utf-8")
    return ET.fromstring(text[text.index("<svg"): text.index("</svg>") + len("</svg>")])


def groups(svg: ET.Element, kind: str) -> dict[str, ET.Element]:
    """The node or edge groups of a Graphviz SVG, by id."""
    return {g.get("id") or "": g for g in svg.iter(f"{{{SVG_NS}}}g") if kind in (g.get("class") or "").split()}


def neuron() -> tuple[Value, dict[str, Value]]:
    """The classic neuron o = tanh(x1*w1 + x2*w2 + b), with n = 0.8814 so that o = 1/sqrt(2)."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    s = x1w1 + x2w2
    s.label = "x1*w1 + x2*w2"
    n = s + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o, {v.label: v for v in (x1, x2, w1, w2, b, x1w1, x2w2, s, n, o)}


def test_neuron_steps_are_wave_fronts_with_the_hand_worked_gradients() -> None:
    o, v = neuron()
    o.backward()
    tr = trace(o)
    steps = backward_steps(tr)
    names = node_names(tr)
    waves = [sorted(names[i] for i in s.nodes) for s in steps]
    # One step per depth from the output: o; n; b and the sum; the two products; the four leaves.
    assert waves == [["o"], ["n"], ["b", "x1*w1 + x2*w2"], ["x1*w1", "x2*w2"], ["w1", "w2", "x1", "x2"]]
    sums = {s.name: s for step in steps for s in step.sums}
    expected = {"o": 1.0, "n": 0.5, "b": 0.5, "x1*w1 + x2*w2": 0.5, "x1*w1": 0.5, "x2*w2": 0.5,
                "x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0}
    for name, g in expected.items():
        assert sums[name].grad == pytest.approx(g, rel=1e-12, abs=1e-15), name
        assert sums[name].grad == v[name].grad  # exactly what the engine stored
    # The diagram's factor order (local * upstream) and number format (2, not 2.0).
    assert sums["w1"].lines == ("do/dw1 = d(x1*w1)/dw1 * do/d(x1*w1)", "= 2 * 0.5 = 1")
    assert sums["x1"].lines[1] == "= -3 * 0.5 = -1.5"
    assert sums["o"].lines[0].startswith("do/do = 1 (the seed")
    assert sums["w2"].lines[2] == "blocked: local derivative 0 at x2*w2"
    assert sums["n"].terms == ((pytest.approx(0.5, rel=1e-12), 1.0, pytest.approx(0.5, rel=1e-12)),)


def test_x_times_x_plus_x_sums_three_terms_at_depth_two() -> None:
    x = Value(3.0, label="x")
    y = x * x + x
    y.backward()
    steps = backward_steps(trace(y))
    assert [len(s.nodes) for s in steps] == [1, 1, 1]
    (last,) = steps[2].sums
    assert last.name == "x" and last.grad == 7.0 == x.grad  # 3 + 3 through x*x, 1 through +
    assert [t[2] for t in last.terms] == [3.0, 3.0, 1.0]
    assert last.lines[1] == "= 3 * 1 + 3 * 1 + 1 * 1 = 7"


def test_every_node_is_in_one_step_after_all_its_consumers() -> None:
    x, y = Value(1.5, label="x"), Value(-0.5, label="y")
    a = x * y + x.sin()
    root = (a * a + y.exp() / (1.0 + x * x)).log()
    root.backward()
    tr = trace(root)
    for order in ("depth", "node"):
        steps = backward_steps(tr, order=order)
        step_of = {i: k for k, s in enumerate(steps) for i in s.nodes}
        graded = [n.id for n in tr.nodes if n.role != "constant"]
        assert sorted(step_of) == graded
        for e in tr.edges:
            if e.contribution is not None:
                assert step_of[e.child] < step_of[e.parent]
        for s in steps:
            for total in s.sums:
                assert total.grad == autograd.topological_order(root)[total.node].grad
                if total.terms:
                    assert math.fsum(t[2] for t in total.terms) == pytest.approx(total.grad, rel=1e-12, abs=1e-12)
    assert len(backward_steps(tr, order="node")) == len([n for n in tr.nodes if n.role != "constant"])


def test_names_are_readable_and_shortened_from_the_left() -> None:
    tr = trace(mlp_loss())
    names = node_names(tr)
    assert "relu@layers.1.neurons.0" in names and "dot@layers.0.neurons.3" in names
    assert not any(re.fullmatch(r"#\d+", n) for n in names)
    assert shorten("layers.12.neurons.0.b", 16) == "…12.neurons.0.b"  # never a cut index
    assert shorten("layers.12.neurons.0.b", 15) == "…neurons.0.b"
    assert shorten("layers.1.neurons.0.b", 15) == "…1.neurons.0.b"
    assert shorten("abcdefghijklmnopqrstuvwxyz", 10) == "…rstuvwxyz"
    long = "model.encoder.layers.1.neurons.0.w.3"
    assert shorten(long).endswith("layers.1.neurons.0.w.3") and shorten(long).startswith("…")
    named = [n for n in names if not re.fullmatch(r"-?[\d.]+", n)]  # constants are their values
    assert len(named) == len(set(named))


def test_the_page_embeds_the_diagram_of_viz_draw(tmp_path: Path) -> None:
    o, _ = neuron()
    o.backward()
    page_path = animate_backward(o, tmp_path / "neuron.html")
    parse(page_path)
    svg = svg_of(page_path)
    drawn = ET.fromstring(viz.draw(o).svg().split("?>", 1)[-1].split("-->", 2)[-1])
    for kind in ("node", "edge"):
        assert set(groups(svg, kind)) == set(groups(drawn, kind)), kind
    # The same colours: every node's fill is the diagram's.
    for gid, g in groups(drawn, "node").items():
        fills = [p.get("fill") for p in g.iter() if p.get("fill") and p.tag.endswith(("path", "polygon"))]
        mine = [p.get("fill") for p in groups(svg, "node")[gid].iter()
                if p.get("fill") and p.tag.endswith(("path", "polygon"))]
        assert fills == mine, gid


def test_each_node_and_edge_carries_its_step(tmp_path: Path) -> None:
    o, _ = neuron()
    o.backward()
    tr = trace(o)
    steps = backward_steps(tr)
    step_of = {i: k for k, s in enumerate(steps) for i in s.nodes}
    svg = svg_of(animate_backward(o, tmp_path / "p.html"))
    for gid, g in groups(svg, "node").items():
        m = re.fullmatch(r"n(\d+)", gid)
        if m:
            assert int(g.get("data-g") or "") == step_of[int(m[1])], gid
            grad_texts = [t for t in g.iter(f"{{{SVG_NS}}}text") if t.get("class") == "cr-g"]
            assert [t.get("data-m") for t in grad_texts] == ["grad ? (seed)" if gid == f"n{tr.root}" else "grad ?"]
    for gid, g in groups(svg, "edge").items():
        masks = [t.get("data-m") for t in g.iter(f"{{{SVG_NS}}}text") if t.get("data-m")]
        if gid == "e1":  # x1*w1 <- w1: the local derivative x1 = 2 shows from the start
            assert masks == ["<- 2 * ? = ?"]
    for gid, g in groups(svg, "edge").items():
        e = tr.edges[int(gid[1:])]
        assert int(g.get("data-g") or "") == step_of[e.parent]  # the term arrives with its parent's sum


def test_forward_phase_comes_first_level_by_level(tmp_path: Path) -> None:
    o, _ = neuron()
    o.backward()
    tr = trace(o)
    page_path = animate_backward(o, tmp_path / "p.html", forward=True)
    data = data_of(parse(page_path))
    levels = max(n.level for n in tr.nodes) + 1
    assert len(data["steps"]) == levels + len(backward_steps(tr))
    assert all(s["title"].startswith("forward") for s in data["steps"][:levels])
    assert data["steps"][levels]["title"].startswith("backward")
    for gid, g in groups(svg_of(page_path), "node").items():
        m = re.fullmatch(r"n(\d+)", gid)
        if m:
            node = tr.nodes[int(m[1])]
            assert int(g.get("data-v") or "") == node.level
            if node.role != "constant":
                assert int(g.get("data-g") or "") >= levels


def test_network_view_steps_one_layer_at_a_time_right_to_left(tmp_path: Path) -> None:
    loss = mlp_loss()
    page_path = animate_backward(loss, tmp_path / "net.html", view="network")
    data = data_of(parse(page_path))
    # The loss, the output layer, the two hidden layers, the inputs.
    assert [s["title"] for s in data["steps"]] == [
        "backward: the loss (the seed)", "backward: layer 3 (the outputs)",
        "backward: layer 2 and the weights into layer 3", "backward: layer 1 and the weights into layer 2",
        "backward: the inputs and the weights into layer 1"]
    svg = svg_of(page_path)
    nodes = groups(svg, "node")
    tr = trace(loss)
    net = viz.find_network(tr)
    for u in net.neurons():
        assert int(nodes[u.name].get("data-g") or "") == 1 + (3 - u.column)
    for gid, g in groups(svg, "edge").items():
        if "weight" in (g.get("class") or ""):
            head = next(u for u in net.neurons() if gid.startswith(u.name + ".w."))
            assert int(g.get("data-g") or "") == 2 + (3 - head.column)
    # Every sum of the weights into layer 1 is listed at the last step, all of them.
    assert len(data["steps"][-1]["lines"]) == 4 * 3


def test_detail_and_collapse_draw_the_same_diagram(tmp_path: Path) -> None:
    loss = mlp_loss()
    page_path = animate_backward(loss, tmp_path / "d.html", view="network", detail=["layers.1.neurons.0"])
    drawn = ET.fromstring(viz.draw(loss, view="network", detail=["layers.1.neurons.0"]).svg().split("-->", 2)[-1])
    assert set(groups(svg_of(page_path), "node")) == set(groups(drawn, "node"))
    page_path = animate_backward(loss, tmp_path / "c.html", collapse=["layers.0"])
    svg = svg_of(page_path)
    summary = [g for g in groups(svg, "node").values() if "summary-module" in (g.get("class") or "")]
    assert len(summary) == 1 and int(summary[0].get("data-g") or "") > 0


def test_above_the_size_limit_the_page_switches_and_says_so(tmp_path: Path) -> None:
    loss = mlp_loss()
    text = animate_backward(loss, tmp_path / "big.html", max_nodes=30).read_text(encoding="utf-8")
    assert "more than max_nodes=30: the page shows the network view" in text
    assert data_of(parse(tmp_path / "big.html"))["view"] == "network"
    x = Value(0.5, label="x")
    y = x
    for _ in range(40):
        y = y.tanh()
    text = animate_backward(y, tmp_path / "chain.html", max_nodes=20, size_option="--max-nodes").read_text("utf-8")
    assert "41 nodes, more than --max-nodes=20: the page collapses modules and stacks" in text
    assert 'id="notice"' not in animate_backward(y, tmp_path / "all.html", max_nodes=None).read_text("utf-8")


def test_deep_chain_beyond_the_recursion_limit(tmp_path: Path) -> None:
    x = Value(0.1, label="x")
    y = x
    for _ in range(1500):
        y = y * 1.0 + 0.0
    y.backward()
    steps = backward_steps(trace(y))
    assert steps[-1].nodes == (0,) and steps[-1].sums[0].grad == 1.0
    data = data_of(parse(animate_backward(y, tmp_path / "p.html")))  # stacked into a readable picture
    assert len(data["steps"]) == len(steps)


def test_page_is_self_contained(tmp_path: Path) -> None:
    o, _ = neuron()
    o.backward()
    text = animate_backward(o, tmp_path / "p.html").read_text(encoding="utf-8")
    assert set(re.findall(r"\w+://[^\s\"'<>)]*", text)) <= {SVG_NS, "http://www.w3.org/1999/xlink"}
    page = parse(tmp_path / "p.html")
    for tag, a in page.attrs:
        assert "src" not in a and not (a.get("href") or "").strip(), (tag, a)
        assert tag not in ("link", "img", "iframe", "object", "embed")
    ids = {a.get("id") for _, a in page.attrs}
    assert {"play", "back", "forward", "first", "end", "slider", "graph", "zoomin", "zoomout", "fit"} <= ids


def printable(text: str) -> bool:
    return all(unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp") for c in text)


@settings(max_examples=15)
@given(st.text())
@example("</script><script>alert(1)</script>")
@example('"quoted" & <b>bold</b> \'single\' {braces} |pipes| \\backslash')
@example("line\nbreak\ttab\x00nul\x7f")
@example("\ud800 lone surrogate")
@example("<!--")
def test_any_label_is_escaped(label: str) -> None:
    x = Value(2.0, label=label)
    y = (x * 3.0).tanh()
    y.label = label
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.html"
        animate_backward(y, path, title=label)
        page = parse(path)
        raw = path.read_text(encoding="utf-8")
    assert "</" not in page.scripts["chainrule-data"]
    data = data_of(page)
    assert all(printable(line) for step in data["steps"] for line in step["lines"])
    assert "\ud800" not in raw
    assert raw.count("<script") == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fps": 0}, ValueError, "fps"),
        ({"fps": float("nan")}, ValueError, "fps"),
        ({"max_nodes": 0}, ValueError, "max_nodes"),
        ({"title": 3}, TypeError, "title"),
        ({"grads": "yes"}, ValueError, "grads"),
        ({"order": "random"}, ValueError, "order"),
        ({"forward": 1}, TypeError, "forward"),
        ({"view": "scalar", "detail": ["layers.0.neurons.0"]}, ValueError, "detail"),
        ({"view": "network"}, ValueError, "network view needs neurons"),
    ],
)
def test_bad_options_say_what_was_wrong(tmp_path: Path, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        animate_backward(Value(1.0) * 2.0, tmp_path / "p.html", **kwargs)
    assert not (tmp_path / "p.html").exists()


def test_bad_root_or_path(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="root must be an autograd Value"):
        animate_backward(3.0, tmp_path / "p.html")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path must be"):
        animate_backward(Value(1.0), None)  # type: ignore[arg-type]


def test_gradient_from_outside_the_graph_is_named() -> None:
    x = Value(2.0, label="x")
    y = x * 3.0
    y.label = "y"
    other = x * 10.0
    other.backward()  # 10 reaches x.grad through a consumer outside y's graph
    y.backward()
    (total,) = backward_steps(trace(y, grads="stored"))[-1].sums
    assert total.grad == 13.0
    assert total.lines[1] == "= 3 * 1 + 10 (from consumers outside this graph) = 13"


def test_a_summary_edge_arrives_with_the_last_of_its_edges(tmp_path: Path) -> None:
    loss = mlp_loss()
    tr = trace(loss)
    steps = backward_steps(tr)
    step_of = {i: k for k, s in enumerate(steps) for i in s.nodes}
    svg = svg_of(animate_backward(loss, tmp_path / "c.html", collapse=["layers.0", "layers.1"]))
    summaries = [g for g in groups(svg, "edge").values() if "edge-summary" in (g.get("class") or "")]
    assert summaries
    for g in summaries:
        parents = [int(i) for i in (g.get("data-n") or "").split()]
        assert int(g.get("data-g") or "") == max(step_of[i] for i in parents)


def test_a_lone_leaf_and_non_finite_gradients(tmp_path: Path) -> None:
    data = data_of(parse(animate_backward(Value(2.0, label="x"), tmp_path / "leaf.html")))
    assert len(data["steps"]) == 1
    x = Value(0.0, label="x")
    y = x.log() + x.sqrt()  # -inf; d/dx = 1/x + 1/(2 sqrt x) = inf
    y.backward()
    data = data_of(parse(animate_backward(y, tmp_path / "inf.html")))
    assert data["grad"][0] == "inf"
    assert any("= inf" in line for step in data["steps"] for line in step["lines"])
