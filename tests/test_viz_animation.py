"""Tests for viz.animation: the backward-pass page parses, is self-contained, steps in the right order with the
engine's gradients, explains each step with the chain rule, escapes any label, and refuses huge graphs."""

from __future__ import annotations

import itertools
import json
import math
import re
import tempfile
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chainrule import autograd
from chainrule.autograd import Value
from chainrule.viz.animation import animate_backward, backward_steps, format_number
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
        self.texts: list[tuple[tuple[str, ...], str]] = []  # (ids/classes of open elements, text)
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.start_tags.append(tag)
        a = dict(attrs)
        self.attrs.append((tag, a))
        if tag not in VOID:
            self.stack.append(tag)
            self._open.append(f"{tag}#{a.get('id') or ''}.{a.get('class') or ''}")

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
            key = self._open[-1].split("#", 1)[1].split(".", 1)[0]
            self.scripts[key] = self.scripts.get(key, "") + data
        elif self.stack:
            self.texts.append((tuple(self._open), data))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert not page.problems, page.problems
    assert page.stack == [], page.stack
    return page


def data_of(page: Page) -> dict:
    return json.loads(page.scripts["chainrule-data"])


def texts_in(page: Page, element_id: str, cls: str) -> list[str]:
    """Text inside <... class=cls> inside the element with this id (e.g. a node's name)."""
    out = []
    for opened, text in page.texts:
        if any(f"#{element_id}." in o for o in opened) and opened[-1].endswith(f".{cls}"):
            out.append(text)
    return out


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


def test_neuron_steps_match_the_hand_worked_gradients(tmp_path: Path) -> None:
    o, v = neuron()
    o.backward()
    out = animate_backward(o, tmp_path / "neuron.html")
    assert out == tmp_path / "neuron.html"
    data = data_of(parse(out))
    steps = data["steps"]
    names = [s["name"] for s in steps]
    # Reverse topological order: o, n, then b and the sum (in the engine's order), the products, the inputs.
    assert names[:2] == ["o", "n"]
    assert len(steps) == 10
    by_name = {s["name"]: s for s in steps}
    expected = {"o": 1.0, "n": 0.5, "b": 0.5, "x1*w1 + x2*w2": 0.5, "x1*w1": 0.5, "x2*w2": 0.5,
                "x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0}
    for name, g in expected.items():
        assert by_name[name]["grad"] == pytest.approx(g, rel=1e-12, abs=1e-15), name
        assert by_name[name]["grad"] == v[name].grad  # exactly what the engine stored
    assert by_name["w1"]["lines"] == ["d(o)/d(w1) = d(o)/d(x1*w1) × d(x1*w1)/d(w1)", "= 0.5 × 2.0 = 1.0"]
    assert by_name["x1"]["lines"][1] == "= 0.5 × -3.0 = -1.5"
    assert by_name["o"]["lines"][0] == "d(o)/d(o) = 1.0"
    # x2 = 0 makes w2's only edge a ~0 factor: the step says the gradient is blocked there.
    assert by_name["w2"]["lines"][2].startswith("blocked: local derivative")
    assert by_name["w2"]["lines"][2].endswith(" at x2*w2")
    assert by_name["n"]["terms"] == [[1.0, pytest.approx(0.5, rel=1e-12), pytest.approx(0.5, rel=1e-12)]]


def test_steps_are_reverse_topological_and_each_after_all_its_consumers(tmp_path: Path) -> None:
    x, y = Value(1.5, label="x"), Value(-0.5, label="y")
    a = x * y + x.sin()
    root = (a * a + y.exp() / (1.0 + x * x)).log()
    root.backward()
    data = data_of(parse(animate_backward(root, tmp_path / "p.html")))
    order = autograd.topological_order(root)
    wanted = [i for i in reversed(range(len(order))) if order[i].role != autograd.CONSTANT]
    ids = [s["node"] for s in data["steps"]]
    assert ids == wanted
    step_of = {node: k for k, node in enumerate(ids)}
    for k, s in enumerate(data["steps"]):
        assert s["grad"] == order[s["node"]].grad
        for e in s["edges"]:
            edge = data["edges"][e]
            assert edge["parent"] == s["node"]
            assert step_of[edge["child"]] < k  # every consumer's gradient came first
        # The chain rule: the node's gradient is the sum of its terms (consumer's grad x local derivative).
        if s["terms"]:
            assert math.fsum(t[2] for t in s["terms"]) == pytest.approx(s["grad"], rel=1e-12, abs=1e-12)
            for up, local, term in s["terms"]:
                assert term == up * local
    # The DOM says the same: each node and edge carries the step it arrives at.
    page = parse(tmp_path / "p.html")
    node_steps = {a["id"]: int(a["data-step"] or "") for tag, a in page.attrs
                  if tag == "g" and (a.get("id") or "")[:1] == "n"}
    assert [node_steps[f"n{i}"] for i in ids] == list(range(len(ids)))


def test_before_backward_the_page_shows_computed_gradients_and_leaves_grad_alone(tmp_path: Path) -> None:
    x = Value(3.0, label="x")
    y = x * x + 2.0 * x  # dy/dx = 2x + 2 = 8
    data = data_of(parse(animate_backward(y, tmp_path / "p.html")))
    assert data["grads"] == "computed"
    assert x.grad == 0.0 and y.grad == 0.0
    by_node = {s["node"]: s for s in data["steps"]}
    x_id = autograd.topological_order(y).index(x)
    assert by_node[x_id]["grad"] == 8.0
    # Three edges reach x: twice through x*x (3 each), once through 2*x (2).
    assert sorted(t[2] for t in by_node[x_id]["terms"]) == [2.0, 3.0, 3.0]
    assert "(argument 1)" in by_node[x_id]["lines"][0] and "(argument 2)" in by_node[x_id]["lines"][0]
    assert by_node[x_id]["lines"][1] == "= 1.0 × 3.0 + 1.0 × 3.0 + 1.0 × 2.0 = 8.0"


def test_many_consumers_are_summarised_in_the_text_but_all_in_the_terms(tmp_path: Path) -> None:
    x = Value(0.5, label="x")
    total = autograd.sum([x * float(k) for k in range(1, 11)])  # d/dx = 1 + 2 + ... + 10 = 55
    data = data_of(parse(animate_backward(total, tmp_path / "p.html")))
    step = data["steps"][-1]
    assert step["name"] == "x" and step["grad"] == 55.0
    assert [t[1] for t in step["terms"]] == [float(k) for k in range(1, 11)]
    assert step["lines"][1].endswith(" + 1.0 × 6.0 + … (4 more terms) = 55.0")


def test_constants_get_no_step_and_their_edges_no_numbers(tmp_path: Path) -> None:
    x = Value(2.0, label="x")
    y = x * 5.0 + 1.0
    y.backward()
    page = parse(animate_backward(y, tmp_path / "p.html"))
    data = data_of(page)
    roles = [n["role"] for n in data["nodes"]]
    assert roles.count("constant") == 2
    assert len(data["steps"]) == len(roles) - 2
    edge_attrs = {a["id"]: a for tag, a in page.attrs if tag == "g" and "edge" in (a.get("class") or "").split()}
    for i, e in enumerate(data["edges"]):
        constant = data["nodes"][e["parent"]]["role"] == "constant"
        assert ("const" in (edge_attrs[f"e{i}"]["class"] or "").split()) == constant
        assert (edge_attrs[f"e{i}"]["data-step"] == "-1") == constant
        assert (texts_in(page, f"e{i}", "local") == []) == constant
    x_id = [n["label"] for n in data["nodes"]].index("x")
    assert texts_in(page, f"n{x_id}", "gv") == ["5.0"]


def test_page_is_self_contained(tmp_path: Path) -> None:
    o, _ = neuron()
    o.backward()
    text = animate_backward(o, tmp_path / "p.html").read_text(encoding="utf-8")
    assert set(re.findall(r"\w+://[^\s\"'<>)]*", text)) == {SVG_NS}
    page = parse(tmp_path / "p.html")
    for tag, a in page.attrs:
        assert "src" not in a and not (a.get("href") or "").strip(), (tag, a)
        assert tag not in ("link", "img", "iframe", "object", "embed")
    assert {"button", "svg", "script", "style"} <= set(page.start_tags)
    ids = {a.get("id") for _, a in page.attrs}
    assert {"play", "back", "forward", "first", "end", "slider", "explain"} <= ids
    assert "url(" not in text.replace("url(#arrow)", "")


def test_layout_runs_left_to_right_without_overlaps(tmp_path: Path) -> None:
    o, _ = neuron()
    page = parse(animate_backward(o, tmp_path / "p.html"))
    data = data_of(page)
    boxes = {}
    for tag, a in page.attrs:
        if tag == "g" and (a.get("id") or "").startswith("n"):
            match = re.fullmatch(r"translate\(([-\d.]+),([-\d.]+)\)", a["transform"] or "")
            assert match, a
            boxes[int((a["id"] or "")[1:])] = (float(match[1]), float(match[2]))
    heights = [float(a["height"] or 0) for tag, a in page.attrs if tag == "rect"]
    assert len(boxes) == len(data["nodes"]) == len(heights)
    for e in data["edges"]:
        assert boxes[e["parent"]][0] < boxes[e["child"]][0]
    columns: dict[float, list[tuple[float, float]]] = {}
    for i, (x, y) in boxes.items():
        columns.setdefault(x, []).append((y, y + heights[i]))
    for spans in columns.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_long_edges_run_between_the_boxes_of_the_columns_they_cross(tmp_path: Path) -> None:
    x, y = Value(1.5, label="x"), Value(-0.7, label="y")
    f = (x * y).sin().exp() + x**2  # x**2 -> + crosses the columns of sin and exp
    page = parse(animate_backward(f, tmp_path / "p.html"))
    boxes = []
    for tag, a in page.attrs:
        if tag == "g" and (a.get("id") or "").startswith("n"):
            match = re.fullmatch(r"translate\(([-\d.]+),([-\d.]+)\)", a["transform"] or "")
            assert match, a
            boxes.append((float(match[1]), float(match[2])))
    heights = [float(a["height"] or 0) for tag, a in page.attrs if tag == "rect"]
    crossings = [tuple(map(float, m)) for tag, a in page.attrs if tag == "path"
                 for m in re.findall(r"(-?[\d.]+),(-?[\d.]+) H(-?[\d.]+)", a.get("d") or "")]
    assert len(crossings) == 2
    for x0, y0, x1 in crossings:
        in_column = [(by, h) for (bx, by), h in zip(boxes, heights) if bx == x0]
        assert in_column and x1 > x0
        assert all(not (by <= y0 <= by + h) for by, h in in_column)


def test_non_finite_gradients_are_written_as_text(tmp_path: Path) -> None:
    x = Value(0.0, label="x")
    y = x.log() + x.sqrt()  # -inf; d/dx = 1/x + 1/(2 sqrt x) = inf
    y.backward()
    data = data_of(parse(animate_backward(y, tmp_path / "p.html")))
    grads = {data["nodes"][s["node"]]["label"]: s["grad"] for s in data["steps"]}
    assert grads["x"] == "inf" and float(grads["x"]) == x.grad
    assert data["nodes"][-1]["data"] == "-inf"


def printable(text: str) -> bool:
    return all(unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp") for c in text)


@given(st.text())
@example("</script><script>alert(1)</script>")
@example('"quoted" & <b>bold</b> \'single\' {braces} |pipes| \\backslash')
@example("line\nbreak\ttab\x00nul\x7f")
@example("\ud800 lone surrogate")
@example("é 漢字 🙂 \u202e rtl \u2028")
@example("<!--")
def test_any_label_is_escaped(label: str) -> None:
    x = Value(2.0, label=label)
    y = (x * 3.0).tanh()
    y.label = label
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.html"
        plain = Path(tmp) / "plain.html"
        animate_backward(y, path)
        x2 = Value(2.0, label="a")
        y2 = (x2 * 3.0).tanh()
        y2.label = "a"
        animate_backward(y2, plain)
        page, reference = parse(path), parse(plain)
        raw = path.read_text(encoding="utf-8")
    # The label adds no markup: the same elements as with a plain label.
    assert page.start_tags == reference.start_tags
    assert "</" not in page.scripts["chainrule-data"]
    data = data_of(page)
    assert data["nodes"][0]["label"] == label == data["nodes"][-1]["label"]
    shown = texts_in(page, "n0", "name")
    assert len(shown) == 1
    if label and len(label) <= 8 and printable(label) and label.strip():
        assert shown == [label]
    assert printable(shown[0])
    for line in data["steps"][-1]["lines"]:
        assert printable(line)
    assert "\ud800" not in raw


def test_graph_too_large_is_refused_with_advice(tmp_path: Path) -> None:
    x = Value(0.5, label="x")
    y = x
    for _ in range(40):
        y = y.tanh()
    with pytest.raises(ValueError, match=r"41 nodes, more than max_nodes=20.*viz\.draw"):
        animate_backward(y, tmp_path / "p.html", max_nodes=20)
    assert not (tmp_path / "p.html").exists()
    animate_backward(y, tmp_path / "p.html", max_nodes=41)


def test_deep_chain_beyond_the_recursion_limit(tmp_path: Path) -> None:
    x = Value(0.1, label="x")
    y = x
    for _ in range(1500):
        y = y * 1.0 + 0.0
    y.backward()
    data = data_of(parse(animate_backward(y, tmp_path / "p.html", max_nodes=10_000)))
    assert data["steps"][-1]["node"] == 0 and data["steps"][-1]["grad"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fps": 0}, ValueError, "fps"),
        ({"fps": float("nan")}, ValueError, "fps"),
        ({"fps": True}, ValueError, "fps"),
        ({"max_nodes": 0}, ValueError, "max_nodes"),
        ({"max_nodes": 2.5}, ValueError, "max_nodes"),
        ({"title": 3}, TypeError, "title"),
        ({"grads": "yes"}, ValueError, "grads"),
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


def test_title_and_fps_reach_the_page(tmp_path: Path) -> None:
    page = parse(animate_backward(Value(1.0, label="v") * 2.0, tmp_path / "p.html", fps=4, title="Mine <&>"))
    assert data_of(page)["fps"] == 4.0
    assert [t for o, t in page.texts if o[-1].startswith("h1")] == ["Mine <&>"]


def test_backward_steps_of_a_trace_and_number_format() -> None:
    o, v = neuron()
    o.backward()
    steps = backward_steps(trace(o))
    assert [s.grad for s in steps][:2] == [1.0, v["n"].grad]
    assert steps[0].edges == () and steps[0].terms == ()
    assert [format_number(x) for x in (2, 0.5, -1.5, 0.70710678, 1e-7, math.inf, -math.inf, math.nan)] == [
        "2.0", "0.5", "-1.5", "0.7071", "1e-07", "inf", "-inf", "nan"]


def test_gradient_from_outside_the_graph_is_named(tmp_path: Path) -> None:
    x = Value(2.0, label="x")
    y = x * 3.0
    y.label = "y"
    other = x * 10.0
    other.backward()  # 10 reaches x.grad through a consumer outside y's graph
    y.backward()
    data = data_of(parse(animate_backward(y, tmp_path / "p.html", grads="stored")))
    step = next(s for s in data["steps"] if s["name"] == "x")
    assert step["grad"] == 13.0
    assert step["lines"][1] == "= 1.0 × 3.0 + 10.0 (from consumers outside this graph) = 13.0"
