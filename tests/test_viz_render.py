"""Tests for viz.render and viz.backend: real SVG/PNG through graphviz-pure with `dot` hidden, a fake `dot`, errors.

Every test here hides any system `dot` by setting PATH to a directory of our
own (empty, or holding a fake `dot`); graphviz-pure is found next to this
interpreter, as in a virtual environment that was never activated.
"""

from __future__ import annotations

import os
import stat
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chainrule import autograd, viz
from chainrule.autograd import Op, Value, apply
from chainrule.viz import backend
from chainrule.viz.diagram import Theme

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FALLBACK = Path(sys.executable).parent / "graphviz-pure"

pytestmark = pytest.mark.skipif(not FALLBACK.exists(), reason="graphviz-pure is not installed next to this Python")


@pytest.fixture
def no_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH is one empty directory: no `dot`, no `graphviz-pure` on it."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def neuron() -> Value:
    v = {name: Value(x, label=name) for name, x in [("x1", 2.0), ("w1", -3.0), ("x2", 0.0), ("w2", 1.0)]}
    b = Value(6.8813735870195432, label="b")
    o = (v["x1"] * v["w1"] + v["x2"] * v["w2"] + b).tanh()
    o.label = "o"
    o.backward()
    return o


def svg_text(svg: str | bytes) -> str:
    """Parse SVG as XML (so it must be well-formed) and return its text."""
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg")
    return " ".join(root.itertext())


def test_fallback_renders_svg(no_dot: Path, tmp_path: Path) -> None:
    assert backend.find_renderer() == backend.Renderer("graphviz-pure", str(FALLBACK))
    path = viz.render(neuron(), tmp_path / "neuron.svg")
    assert path == tmp_path / "neuron.svg"
    text = svg_text(path.read_bytes())
    for label in ("x1", "w1", "x2", "w2", "o", "grad -1.5", "<- -3 * 0.5 = -1.5", "local derivative 0: <- 0 * 0.5 = 0"):
        assert label in text


def test_fallback_renders_png(no_dot: Path, tmp_path: Path) -> None:
    path = viz.render(neuron(), str(tmp_path / "neuron.PNG"))
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000


def test_dot_suffixes_write_the_source(no_dot: Path, tmp_path: Path) -> None:
    for name in ("n.dot", "n.gv"):
        path = viz.render(neuron(), tmp_path / name, check=True)
        assert path.read_text(encoding="utf-8") == viz.draw(neuron(), check=True).source


def test_pdf_without_dot_says_how_to_install_graphviz(no_dot: Path, tmp_path: Path) -> None:
    with pytest.raises(viz.RendererError, match=r"PDF needs Graphviz's `dot`.*apt-get install graphviz.*brew"):
        viz.render(neuron(), tmp_path / "n.pdf")
    assert not (tmp_path / "n.pdf").exists()


def test_unknown_suffix(no_dot: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"suffix '\.txt'; use one of \.svg, \.png, \.pdf, \.dot, \.gv"):
        viz.render(neuron(), tmp_path / "n.txt")
    with pytest.raises(ValueError, match=r"suffix '\(none\)'"):
        viz.render(neuron(), tmp_path / "n")


def write_fake_dot(directory: Path, body: str) -> Path:
    script = directory / "dot"
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


@pytest.mark.skipif(os.name != "posix", reason="the fake dot is a shell script")
def test_system_dot_is_preferred(no_dot: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    write_fake_dot(no_dot, f'echo "$@" >> "{log}"\nexec "{FALLBACK}" "$@"')
    assert backend.find_renderer().name == "dot"
    svg = viz.render(neuron(), tmp_path / "n.svg").read_text(encoding="utf-8")
    assert "x1" in svg_text(svg)
    # dot gets the PDF request too (the fake hands it to graphviz-pure, which refuses it)
    with pytest.raises(viz.RendererError, match=r'dot failed to render pdf \(exit status 1\): .*"pdf" not recognized'):
        viz.render(neuron(), tmp_path / "n.pdf")
    assert log.read_text(encoding="utf-8").split() == ["-Tsvg", "-Tpdf"]


@pytest.mark.skipif(os.name != "posix", reason="the fake dot is a shell script")
def test_renderer_failure_carries_its_stderr(no_dot: Path, tmp_path: Path) -> None:
    fake = write_fake_dot(no_dot, 'echo "Error: layout blew up" >&2\nexit 3')
    with pytest.raises(viz.RendererError, match=r"dot failed to render svg \(exit status 3\): Error: layout blew up"):
        backend.render_source(viz.draw(neuron()).source, "svg", renderer=backend.Renderer("dot", str(fake)))
    # Without a renderer named, a failing dot falls back to graphviz-pure (tests/test_viz_backend.py).


def test_invalid_dot_is_a_clear_error(no_dot: Path) -> None:
    with pytest.raises(viz.RendererError, match=r"graphviz-pure failed to render svg.*syntax error"):
        backend.render_source("digraph { a -> }", "svg")
    with pytest.raises(ValueError, match="fmt must be a Graphviz format name"):
        backend.render_source("digraph {}", "-o/etc/passwd")


def test_jupyter_shows_svg_without_dot(no_dot: Path) -> None:
    diagram = viz.draw(neuron())
    bundle = diagram._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"]
    assert "w2" in svg_text(bundle["image/svg+xml"])
    assert diagram._repr_image_png().startswith(PNG_MAGIC)
    assert "grad 1 (seed)" in svg_text(diagram._repr_svg_())


def test_big_mlp_diagram_renders(no_dot: Path, tmp_path: Path) -> None:
    from chainrule import autograd, nn

    model = nn.MLP(2, [8, 8, 1], seed=0)
    X, y = nn.make_moons(20, noise=0.1, seed=1)
    loss = nn.functional.hinge_loss([model(list(x)) for x in X], list(2 * y - 1))
    loss = loss + 1e-4 * autograd.sum(p * p for p in model.parameters())
    loss.backward()
    text = svg_text(viz.render(loss, tmp_path / "mlp.svg", view="scalar", max_nodes=60).read_bytes())
    assert "layers.0" in text and "max |grad|" in text
    text = svg_text(viz.render(loss, tmp_path / "net.svg", max_nodes=60).read_bytes())  # auto: the network view
    assert "layers.0: relu" in text and "network view" in text


def _visible(text: str) -> str:
    """What a label's text looks like in the SVG, whitespace aside (control characters as their pictures)."""
    pictures = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x0A, 0x0D)}
    pictures[0x7F] = "\u2421"
    return "".join(text.replace("\r", "").translate(pictures).split())


@given(label=st.text(), scope=st.text(min_size=1), symbol=st.text())
@example(label='"<&>{}|\\\n"', scope="layers.0", symbol="<op>")
@example(label="\x00tab\tline\r\nü∂🙂", scope="{a|b}", symbol="\\")
@example(label="&amp; &#65; ]]>", scope="&lt;", symbol="]]>")
@example(label="\r", scope="0", symbol="\r")  # quote to nothing: Graphviz rejects an empty <B></B>
@example(label="", scope="²", symbol="")  # "²".isdigit() but int("²") fails: module paths sort by isdecimal
def test_any_label_renders(label: str, scope: str, symbol: str) -> None:
    # PATH is not touched here (hypothesis reruns the body): the fallback is asked for explicitly.
    renderer = backend.Renderer("graphviz-pure", str(FALLBACK))
    row = Op(f"custom_{len(symbol)}", symbol, 1, lambda M, a: a * a, (lambda M, o, a: 2.0 * a,), (((-3.0, 3.0),),))
    v = Value(1.0, label=label)
    with autograd.scope(scope):
        out = apply(row, v)
    svg = backend.render_source(viz.draw(out, theme=Theme(legend=False)).source, "svg", renderer=renderer, quiet=True)
    shown = "".join(svg_text(svg).split())
    for text in (label, scope, symbol):  # node label, cluster label, op symbol
        assert _visible(text) in shown


@pytest.mark.skipif(os.name != "posix", reason="the fake renderer is a shell script")
def test_fallback_found_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "graphviz-pure"
    shim.write_text(f'#!/bin/sh\nexec "{FALLBACK}" "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "elsewhere" / "python"))
    assert backend.find_renderer() == backend.Renderer("graphviz-pure", str(shim))
    assert viz.render(neuron(), tmp_path / "n.png").read_bytes().startswith(PNG_MAGIC)
    shim.unlink()
    with pytest.raises(viz.RendererError, match=r"no DOT renderer found.*pip install graphviz-pure.*apt-get"):
        viz.render(neuron(), tmp_path / "m.svg")
    assert not (tmp_path / "m.svg").exists()
