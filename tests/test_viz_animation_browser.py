"""The backward animation in a real browser (Playwright with the system Chromium): no console errors, the
keyboard steps to the end where every node shows the engine's gradient, the page's SVG is viz.draw's, text is
at least 11 px at the fitted scale, edge labels overlap neither each other nor nodes, the header is compact,
zoom, pan, pinning and reduced motion work. Screenshots go to build/animation-screenshots/ (ignored by git).

Skipped where Chromium or Playwright is missing, except in CI (tests/conftest.py ``needs``).
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chainrule import autograd, viz
from chainrule.autograd import Value
from chainrule.viz.theme import Theme
from tests.conftest import import_or_need, needs
from tests.conftest import mlp_4_4_1_loss as mlp_loss

SHOTS = Path(__file__).resolve().parents[1] / "build" / "animation-screenshots"
SVG_NS = "http://www.w3.org/2000/svg"


def lecture_neuron() -> Value:
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.label = "o"
    o.backward()
    return o


def x_times_x_plus_x() -> Value:
    x = Value(3.0, label="x")
    y = x * x + x
    y.backward()
    return y


GRAPHS: dict[str, Callable[[], Value]] = {"neuron": lecture_neuron, "x_x_plus_x": x_times_x_plus_x, "mlp": mlp_loss}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    needs(chromium is not None, "Chromium (the system browser)")
    sync = import_or_need("playwright.sync_api", "Playwright for Python")
    with sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


class Opened:
    def __init__(self, page: Any, errors: list[str]) -> None:
        self.page, self.errors = page, errors


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Opened]]:
    pages: list[Any] = []

    def open_(path: Path, width: int = 1000, height: int = 560, **context: Any) -> Opened:
        page = browser.new_page(viewport={"width": width, "height": height}, **context)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.resolve().as_uri())
        pages.append(page)
        return Opened(page, errors)

    yield open_
    for page in pages:
        page.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def ids(svg: ET.Element, kind: str) -> set[str]:
    return {g.get("id") or "" for g in svg.iter(f"{{{SVG_NS}}}g") if kind in (g.get("class") or "").split()}


# The boxes, in CSS pixels, of every edge label and every node shape, and the smallest text.
MEASURE = """() => {
  const box = r => [r.left, r.top, r.right, r.bottom];
  const labels = [...document.querySelectorAll('#graph g.edge text')].filter(t => t.textContent.trim())
      .map(t => [t.closest('g.edge').id, box(t.getBoundingClientRect())]);
  const nodes = [...document.querySelectorAll('#graph g.node')].map(g => {
      const shapes = [...g.querySelectorAll('path, polygon, ellipse')];
      if (!shapes.length) return null;
      const rs = shapes.map(s => s.getBoundingClientRect());
      return [g.id, [Math.min(...rs.map(r => r.left)), Math.min(...rs.map(r => r.top)),
                     Math.max(...rs.map(r => r.right)), Math.max(...rs.map(r => r.bottom))]];
  }).filter(x => x);
  const texts = [...document.querySelectorAll('#graph text')].filter(t => t.textContent.trim());
  const heights = texts.map(t => t.getBoundingClientRect().height);
  const fonts = texts.map(t => parseFloat(t.getAttribute('font-size')) * t.getScreenCTM().a);
  return {labels, nodes, height: Math.min(...heights), font: Math.min(...fonts)};
}"""


def overlap(a: list[float], b: list[float], slack: float = 0.5) -> bool:
    return a[0] + slack < b[2] and b[0] + slack < a[2] and a[1] + slack < b[3] and b[1] + slack < a[3]


@pytest.mark.parametrize("name", list(GRAPHS))
def test_page_in_chromium(name: str, open_page: Callable[..., Opened], tmp_path: Path) -> None:
    root = GRAPHS[name]()
    path = viz.animate_backward(root, tmp_path / f"{name}.html")
    opened = open_page(path)
    page = opened.page
    shot(page, f"{name}_start")

    # The page's SVG is viz.draw's: the same node and edge ids.
    drawn = viz.draw(root).svg()
    drawn_svg = ET.fromstring(drawn[drawn.index("<svg"):])
    page_svg = ET.fromstring(page.evaluate("new XMLSerializer().serializeToString(document.getElementById('graph'))"))
    for kind in ("node", "edge"):
        assert ids(page_svg, kind) == ids(drawn_svg, kind), kind

    # At the fitted scale, no text is below 11 px, and the header is compact.
    sizes = page.evaluate(MEASURE)
    assert sizes["font"] >= 11.0 - 1e-6 and sizes["height"] >= 11.0, sizes["font"]
    header = page.evaluate("document.querySelector('header').getBoundingClientRect().height")
    assert header <= 0.1 * 560
    stage = page.evaluate("document.getElementById('stage').getBoundingClientRect().height")
    assert stage >= 0.6 * 560  # the picture gets most of a notebook's 560-px frame

    # Before any step, every gradient but the output's is hidden.
    order = autograd.topological_order(root)
    fmt = Theme().fmt
    grads = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#graph g.node')]
        .filter(g => /^n\\d+$/.test(g.id))
        .map(g => [g.id, [...g.querySelectorAll('text')].map(t => t.textContent).find(t => t.startsWith('grad'))]))""")
    hidden = [gid for gid, text in grads.items() if text and "?" in text]
    assert len(hidden) == sum(1 for v in order if v.role != autograd.CONSTANT) - 1

    # Step to the end with the keyboard.
    steps = page.evaluate("JSON.parse(document.getElementById('chainrule-data').textContent).steps.length")
    for k in range(steps - 1):
        page.keyboard.press("ArrowRight")
        if k == 1:
            shot(page, f"{name}_step2")
    assert page.evaluate("document.getElementById('counter').textContent") == f"step {steps - 1} of {steps - 1}"
    shot(page, f"{name}_end")
    grads = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#graph g.node')]
        .filter(g => /^n\\d+$/.test(g.id))
        .map(g => [g.id, [...g.querySelectorAll('text')].map(t => t.textContent).find(t => t.startsWith('grad'))]))""")
    shown = 0
    for gid, text in grads.items():
        v = order[int(gid[1:])]
        if v.role == autograd.CONSTANT:
            assert text is None
            continue
        number = re.sub(r" \(seed\)$", "", text).split(" = ")[-1].removeprefix("grad ")
        assert number == fmt(v.grad), (gid, text)
        shown += 1
    assert shown == sum(1 for v in order if v.role != autograd.CONSTANT)

    # With every label shown: no two edge labels overlap, nor a label and a node.
    sizes = page.evaluate(MEASURE)
    labels, nodes = sizes["labels"], sizes["nodes"]
    assert labels
    for i, (a_id, a) in enumerate(labels):
        for b_id, b in labels[i + 1:]:
            assert not overlap(a, b), (a_id, b_id)
        for n_id, n in nodes:
            assert not overlap(a, n), (a_id, n_id)
    assert not opened.errors, opened.errors


def test_zoom_pan_pin_and_hash(open_page: Callable[..., Opened], tmp_path: Path) -> None:
    path = viz.animate_backward(lecture_neuron(), tmp_path / "neuron.html")
    opened = open_page(Path(f"{path}"))
    page = opened.page
    width = page.evaluate("document.getElementById('graph').getBoundingClientRect().width")
    page.keyboard.press("+")
    wider = page.evaluate("document.getElementById('graph').getBoundingClientRect().width")
    assert wider == pytest.approx(1.25 * width, rel=0.01)
    page.keyboard.press("0")
    assert page.evaluate("document.getElementById('graph').getBoundingClientRect().width") == pytest.approx(width)
    # Ctrl+wheel zooms; a drag pans (the stage scrolls).
    page.mouse.move(500, 300)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Control")
    assert page.evaluate("document.getElementById('graph').getBoundingClientRect().width") > width
    before = page.evaluate("document.getElementById('stage').scrollLeft")
    page.mouse.move(600, 300)
    page.mouse.down()
    page.mouse.move(450, 300, steps=5)
    page.mouse.up()
    assert page.evaluate("document.getElementById('stage').scrollLeft") > before
    # A click on a node pins its equation.
    page.keyboard.press("End")
    page.locator("#graph g#n0").click()
    pinned = page.evaluate("document.getElementById('pinned').textContent")
    assert "do/dx1 = d(x1*w1)/dx1 * do/d(x1*w1)" in pinned and "= -3 * 0.5 = -1.5" in pinned
    shot(page, "neuron_pinned")
    # #step=N opens step N.
    page.goto(f"{path.resolve().as_uri()}#step=2")
    assert page.evaluate("document.getElementById('counter').textContent") == "step 2 of 4"
    assert not opened.errors, opened.errors


def test_reduced_motion_and_the_network_view_with_a_forward_phase(
    open_page: Callable[..., Opened], tmp_path: Path
) -> None:
    loss = mlp_loss()
    path = viz.animate_backward(loss, tmp_path / "net.html", view="network", forward=True)
    opened = open_page(path, reduced_motion="reduce")
    page = opened.page
    data = page.evaluate("JSON.parse(document.getElementById('chainrule-data').textContent)")
    assert data["view"] == "network" and len(data["steps"]) == 4 + 1 + 5  # 4 columns, the loss; 5 backward
    # Step 0 of the forward phase: only the inputs have values.
    masked = page.evaluate("[...document.querySelectorAll('#graph text.cr-d')].filter(t => t.textContent.includes('?'))"
                           ".length")
    assert masked > 0
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    shot(page, "mlp_network_backward_first_layer")
    animation = page.evaluate("getComputedStyle(document.querySelector('#graph g.edge.cr-now path')).animationName")
    assert animation == "none"
    page.keyboard.press("End")
    shot(page, "mlp_network_end")
    assert page.evaluate("document.querySelectorAll('#graph .cr-pending').length") == 0
    sizes = page.evaluate(MEASURE)
    assert sizes["font"] >= 11.0 - 1e-6
    assert not opened.errors, opened.errors


def test_notebook_frame_is_mostly_picture(open_page: Callable[..., Opened], tmp_path: Path) -> None:
    x, y = Value(1.5, label="x"), Value(-0.7, label="y")
    f = (x * y).sin() + x**2
    f.backward()
    path = viz.animate_backward(f, tmp_path / "05.html", title="Backward pass of f = sin(x*y) + x**2")
    opened = open_page(path, width=900, height=560)
    page = opened.page
    header = page.evaluate("document.querySelector('header').getBoundingClientRect().height")
    panel = page.evaluate("document.getElementById('panel').getBoundingClientRect().height")
    assert header + panel <= 0.3 * 560, (header, panel)
    shot(page, "notebook_frame")
    assert not opened.errors, opened.errors


def test_touch_drag_pans_and_pinch_zooms(open_page: Callable[..., Opened], tmp_path: Path) -> None:
    path = viz.animate_backward(mlp_loss(), tmp_path / "mlp.html", order="node")
    opened = open_page(path, has_touch=True)
    page = opened.page
    data = page.evaluate("JSON.parse(document.getElementById('chainrule-data').textContent)")
    assert len(data["steps"]) == sum(1 for n in viz.trace(mlp_loss()).nodes if n.role != "constant")
    touch = """([kind, id, x, y]) => document.getElementById('stage').dispatchEvent(new PointerEvent(kind,
        {pointerId: id, pointerType: 'touch', clientX: x, clientY: y, bubbles: true}))"""
    width = page.evaluate("document.getElementById('graph').getBoundingClientRect().width")
    left = page.evaluate("document.getElementById('stage').scrollLeft")
    assert left > 100  # the first step (the loss, on the right) is in view
    page.evaluate(touch, ["pointerdown", 1, 200, 300])
    page.evaluate(touch, ["pointermove", 1, 300, 300])
    page.evaluate(touch, ["pointerup", 1, 300, 300])
    assert page.evaluate("document.getElementById('stage').scrollLeft") == pytest.approx(left - 100, abs=1)
    page.evaluate(touch, ["pointerdown", 1, 400, 300])
    page.evaluate(touch, ["pointerdown", 2, 500, 300])
    page.evaluate(touch, ["pointermove", 2, 550, 300])  # the fingers 100 px apart, then 150 px
    page.evaluate(touch, ["pointermove", 2, 600, 300])
    page.evaluate(touch, ["pointerup", 2, 600, 300])
    page.evaluate(touch, ["pointerup", 1, 400, 300])
    assert page.evaluate("document.getElementById('graph').getBoundingClientRect().width") == pytest.approx(
        2 * width, rel=0.02)
    assert not opened.errors, opened.errors
