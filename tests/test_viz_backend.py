"""Tests for rendering that cannot hurt: glyph widths, renderer choice and fallback, limits, crashes.

graphviz-pure is a dependency, so it is always here (next to this Python).
Tests that need the real system Graphviz use ``needs()``: they skip only where
``dot`` is absent, and fail in CI, which installs it.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import graphviz
import pytest
from conftest import needs

from chainrule import nn, viz
from chainrule.autograd import Value
from chainrule.viz import backend, glyphs

FALLBACK = Path(sys.executable).parent / "graphviz-pure"
PRINTABLE = [chr(c) for c in range(32, 127)]


def neuron() -> Value:
    v = {name: Value(x, label=name) for name, x in [("x1", 2.0), ("w1", -3.0), ("x2", 0.0), ("w2", 1.0)]}
    b = Value(6.8813735870195432, label="b")
    o = (v["x1"] * v["w1"] + v["x2"] * v["w2"] + b).tanh()
    o.label = "o"
    o.backward()
    return o


def xdot_widths(labels: list[str], *, bold: bool = False, size: float = 1000.0) -> list[float]:
    """Ask graphviz-pure for the width it measures for each label (the ``T`` op of its xdot output)."""
    rows = []
    for i, text in enumerate(labels):
        quoted = "".join("&#32;" if c == " " else html.escape(c) for c in text)
        rows.append(f"n{i} [label=<{f'<B>{quoted}</B>' if bold else quoted}>]")
    dot = f"digraph {{ node [shape=plaintext fontname=Helvetica fontsize={size:g}]\n" + "\n".join(rows) + "\n}"
    result = subprocess.run([str(FALLBACK), "-Txdot"], input=dot.encode(), capture_output=True, check=True)
    found = {
        int(m.group(1)): float(m.group(2))
        for m in re.finditer(rb'\bn(\d+)\s+\[_ldraw_="[^"]*?T \S+ \S+ \S+ (\S+) ', result.stdout)
    }
    return [found[i] for i in range(len(labels))]


# ----------------------------------------------------------------------------
# Glyph widths
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("bold", [False, True])
def test_text_width_is_what_the_fallback_measures_for_every_ascii_character(bold: bool) -> None:
    measured = xdot_widths(PRINTABLE, bold=bold)
    ours = [glyphs.text_width(c, 1000.0, bold=bold) for c in PRINTABLE]
    assert ours == pytest.approx(measured, abs=0.006)  # xdot prints two decimals


def test_text_width_of_labels_and_of_non_ascii() -> None:
    texts = ["grad = 3 + 3 + 1 = 7", "d = -3 * g=0.5 -> -1.5", "x", "", "∂ → ·"]
    measured = xdot_widths([t or " " for t in texts], size=10.0)
    ours = [glyphs.text_width(t or " ", 10.0) for t in texts]
    assert ours == pytest.approx(measured, abs=0.006)
    # The estimator counts a space per UTF-8 byte: ∂ (3 bytes) is 3 spaces wide.
    assert glyphs.text_width("∂") == pytest.approx(3 * glyphs.text_width(" "))
    assert glyphs.text_width("aaa", 12.0) == pytest.approx(3 * 1139 * 12.0 / 2048)


def test_ascii_text_replaces_the_typographic_glyphs() -> None:
    assert glyphs.ascii_text("∂ = -3 · g=0.5 → -1.5") == "d = -3 * g=0.5 -> -1.5"
    assert glyphs.ascii_text("Σ of 3 × tanh … ≤ 1") == "sum of 3 x tanh ... <= 1"
    assert glyphs.ascii_text("αβ 🙂") == "αβ 🙂"  # no ASCII stand-in: left as written
    for glyph, stand_in in glyphs.ASCII_FOR.items():
        assert ord(glyph) > 127 and stand_in.isascii()
    assert glyphs.non_ascii("a∂b∂→") == ["∂", "→"]


def busy_diagrams() -> dict[str, viz.Diagram]:
    """Diagrams that use every kind of text the DOT builder writes, from ASCII labels."""
    out = neuron()
    model = nn.MLP(2, [3, 1], seed=0)
    y = model([Value(0.5, label="a"), Value(-1.0, label="b")])
    assert isinstance(y, Value)
    loss = (y - 1.0) ** 2
    loss.backward()
    chain = Value(0.3, label="c")
    for _ in range(40):
        chain = chain.sigmoid()
    chain.backward()
    dead = (Value(-1.0, label="d").relu() * 2.0 + Value(0.0, label="e") * 0.0).tanh()
    dead.backward()
    return {
        "neuron, checked": viz.draw(out, check=True),
        "mlp, collapsed": viz.draw(loss, collapse=["layers.0"]),
        "mlp, auto-collapsed": viz.draw(loss, max_nodes=8, view="scalar"),
        "mlp, network view": viz.draw(loss, view="network"),
        "stacked chain": viz.draw(chain, max_nodes=5),
        "blocked": viz.draw(dead),
        "folded chain": viz.draw(chain, max_nodes=None),
        "network view": viz.draw(loss, view="network"),
    }


def test_the_diagrams_own_text_is_ascii_so_the_fallback_measures_it_without_warning() -> None:
    diagrams = busy_diagrams()
    everything = "\n".join(d.source for d in diagrams.values())
    for text in ("edges, sum", " x sigmoid", "blocked", "rel err", "d = local derivative", "grad = ", "cut off"):
        assert text in everything, text  # every kind of text the DOT builder writes is here
    for name, diagram in diagrams.items():
        source = diagram.source
        assert glyphs.non_ascii(source) == [], name
        result = subprocess.run([str(FALLBACK), "-Tsvg"], input=source.encode(), capture_output=True, check=False)
        assert (result.returncode, result.stderr.decode()) == (0, ""), name


# ----------------------------------------------------------------------------
# Renderer choice: the Diagram uses the same as viz.render, and a failing dot falls back once
# ----------------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
posix_only = pytest.mark.skipif(os.name != "posix", reason="the fake renderers are shell scripts")


@pytest.fixture(autouse=True)
def fresh_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no warning said and no dot known broken."""
    monkeypatch.setattr(backend, "_said", set())
    monkeypatch.setattr(backend, "_broken", {})


@pytest.fixture
def no_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH is one empty directory of our own: no system `dot` (graphviz-pure is still found beside Python)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def fake_dot(directory: Path, body: str) -> str:
    """Put a shell script called `dot` in ``directory``."""
    script = directory / "dot"
    script.write_text(f"#!/bin/sh\nPATH=/usr/bin:/bin\n{body}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(script)


def svg_text(svg: str | bytes) -> str:
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg")
    return " ".join(root.itertext())


def renderer_warnings(record: pytest.WarningsRecorder) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, viz.RendererWarning)]


def test_the_drawn_diagram_renders_pipes_and_displays_without_dot(no_dot: Path, tmp_path: Path) -> None:
    diagram = viz.draw(neuron())
    assert diagram.format == "svg"
    svg = diagram.pipe()
    assert isinstance(svg, bytes) and "grad 1 (seed)" in svg_text(svg)
    text = diagram.pipe(encoding="utf-8")
    assert isinstance(text, str) and text.encode() == svg
    assert diagram.pipe(format="png").startswith(PNG_MAGIC)
    assert "w2" in svg_text(diagram._repr_mimebundle_()["image/svg+xml"])
    assert diagram._repr_mimebundle_(include=["image/png"])["image/png"].startswith(PNG_MAGIC)
    # render(): the DOT source and the picture, as graphviz does it, with graphviz-pure.
    out = diagram.render(directory=tmp_path / "a")
    assert out == str(tmp_path / "a" / "chainrule.gv.svg")
    assert (tmp_path / "a" / "chainrule.gv").read_text() == diagram.source
    assert "x1" in svg_text(Path(out).read_bytes())
    out = diagram.render(outfile=tmp_path / "b" / "n.png", cleanup=True)
    assert out == str(tmp_path / "b" / "n.png") and Path(out).read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["n.png"]  # cleanup: no source kept
    with pytest.raises(graphviz.FileExistsError):
        diagram.render(outfile=tmp_path / "b" / "n.png", raise_if_result_exists=True)
    with pytest.raises(ValueError, match="renderer: not supported"):
        diagram.pipe(renderer="cairo")
    with pytest.raises(ValueError, match="engine must be 'dot'"):
        diagram.pipe(engine="neato")


def test_a_failed_render_leaves_no_file(no_dot: Path, tmp_path: Path) -> None:
    diagram = viz.draw(neuron())
    with pytest.raises(viz.RendererError, match=r"PDF needs Graphviz's `dot`"):
        diagram.render(directory=tmp_path, format="pdf")
    with pytest.raises(viz.RendererError, match=r"PDF needs Graphviz's `dot`"):
        diagram.render(outfile=tmp_path / "n.pdf")
    diagram.limits = viz.Limits(nodes=3)
    with pytest.raises(viz.DiagramTooLarge):
        diagram.render(directory=tmp_path)
    with pytest.raises(viz.DiagramTooLarge):
        viz.render(neuron(), tmp_path / "n.svg", limits=viz.Limits(nodes=3))
    assert list(tmp_path.iterdir()) == [no_dot]


@posix_only
def test_a_broken_dot_falls_back_to_graphviz_pure_and_says_so_once(no_dot: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    fake_dot(no_dot, f'echo "$@" >> "{log}"\necho \'Format: "svg" not recognized. Use one of: canon\' >&2\nexit 1')
    diagram = viz.draw(neuron())
    with pytest.warns(viz.RendererWarning) as record:
        first = diagram.pipe()
        second = viz.render(neuron(), tmp_path / "n.svg").read_bytes()
        diagram._repr_mimebundle_()
    assert first == second and "x1" in svg_text(first)
    said = renderer_warnings(record)
    assert len(said) == 1
    assert re.search(r"system Graphviz `dot` \(.*/dot\) can't render svg: dot failed to render svg \(exit status 1\): "
                     r'Format: "svg" not recognized.*Rendering with graphviz-pure instead', said[0])
    # The failing render and one probe on an empty graph; then dot is known broken for svg and skipped.
    assert log.read_text().split() == ["-Tsvg", "-Tsvg"]


@posix_only
def test_a_dot_that_fails_on_one_graph_falls_back_for_it_each_time_said_once(no_dot: Path, tmp_path: Path) -> None:
    # Works on an empty graph, crashes on anything with a node called n0.
    fallback = FALLBACK
    fake_dot(no_dot, f'input=$(cat)\ncase "$input" in *n0*) kill -SEGV $$ ;; esac\n'
                     f'printf "%s" "$input" | exec "{fallback}" "$@"')
    with pytest.warns(viz.RendererWarning) as record:
        for _ in range(2):
            assert "x1" in svg_text(viz.draw(neuron()).pipe())
    said = renderer_warnings(record)
    assert len(said) == 1
    assert said[0].startswith("dot crashed while rendering svg (killed by SIGSEGV). Rendered with graphviz-pure")
    assert backend.render_source("digraph { a }", "svg").startswith(b"<?xml")  # dot itself still used
    assert list(Path.cwd().glob("core*")) == []


@posix_only
def test_the_time_limit_stops_a_renderer(no_dot: Path) -> None:
    fake = fake_dot(no_dot, "exec sleep 30")
    source = viz.draw(neuron()).source
    start = time.monotonic()
    with pytest.raises(viz.RendererError, match=r"dot took longer than the time limit of 0.5 s and was stopped"):
        backend.render_source(source, "svg", limits=viz.Limits(seconds=0.5), renderer=backend.Renderer("dot", fake))
    # No fallback after a timeout either: the limit is on the whole call.
    with pytest.raises(viz.RendererError, match=r"time limit of 0.5 s.*limits=viz.Limits\(seconds=...\)"):
        viz.draw(neuron(), limits=viz.Limits(seconds=0.5)).pipe()
    assert time.monotonic() - start < 10


@posix_only
def test_a_crashing_renderer_is_a_clear_error(no_dot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fake = fake_dot(no_dot, 'echo "about to fall over" >&2\nkill -SEGV $$')
    with pytest.raises(viz.RendererError, match=r"^dot crashed while rendering svg \(killed by SIGSEGV\): about to"):
        backend.render_source("digraph { a }", "svg", renderer=backend.Renderer("dot", fake))
    fake = fake_dot(no_dot, "kill -KILL $$")
    with pytest.raises(viz.RendererError, match=r"killed by SIGKILL\) \(it may have run out of its memory limit"):
        backend.render_source("digraph { a }", "svg", renderer=backend.Renderer("dot", fake))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]  # no core dump


@posix_only
def test_the_memory_limit_is_applied_to_the_renderer(no_dot: Path, tmp_path: Path) -> None:
    # The child's own view of its limits: address space in KiB, core files off.
    fake = fake_dot(no_dot, f'echo "$(ulimit -v) $(ulimit -c)" > "{tmp_path / "limits"}"\nexec "{FALLBACK}" "$@"')
    backend.render_source("digraph { a }", "svg", limits=viz.Limits(memory=3 * 2**30))
    assert (tmp_path / "limits").read_text().split() == [str(3 * 2**20), "0"]
    backend.render_source("digraph { a }", "svg", limits=viz.Limits(memory=None))
    assert (tmp_path / "limits").read_text().split() == ["unlimited", "0"]
    # A real renderer that needs more than its limit fails cleanly, and the error says why.
    chain = Value(0.5, label="x")
    for _ in range(300):
        chain = chain * 0.9 + 0.1
    source = viz.draw(chain, max_nodes=None).source
    Path(fake).unlink()
    with pytest.raises(viz.RendererError, match=r"graphviz-pure crashed .*SIGABRT.*memory allocation of .*memory limit "
                                                r"of 24 MiB"):
        backend.render_source(source, "svg", limits=viz.Limits(memory=24 * 2**20))


def test_the_node_cap_refuses_before_running_anything(no_dot: Path, tmp_path: Path) -> None:
    assert viz.Limits().nodes == 20_000 and viz.Limits().seconds == 60.0 and viz.Limits().memory == 4 * 2**30
    huge = "digraph {\n" + "".join(f"\tn{i} [label=x]\n" for i in range(20_001)) + "}\n"
    start = time.monotonic()
    with pytest.raises(viz.DiagramTooLarge) as caught:
        backend.render_source(huge, "svg")
    assert time.monotonic() - start < 2
    message = str(caught.value)
    for advice in ("20,001 nodes", "limit of 20,000", "max_nodes=150", 'view="network"', "collapse=[",
                   "limits=viz.Limits(nodes=20001)"):
        assert advice in message


def test_count_nodes_agrees_with_the_renderer() -> None:
    for name, diagram in busy_diagrams().items():
        plain = subprocess.run([str(FALLBACK), "-Tplain"], input=diagram.source.encode(), capture_output=True,
                               check=True).stdout.decode()
        assert backend.count_nodes(diagram.source) == sum(line.startswith("node ") for line in plain.splitlines()), name
    source = 'digraph {\n\tnode [shape=box]\n\t"a b" [x=1]\n\tc\n\td -> e\n\tsubgraph s {\n\tf;\n}\n}'
    assert backend.count_nodes(source) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"seconds": 0}, "seconds must be a positive number"), ({"nodes": 2.5}, "nodes must be a positive int"),
     ({"memory": -1}, "memory must be a positive int"), ({"nodes": True}, "nodes must be a positive int")],
)
def test_limits_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        viz.Limits(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"limits must be a viz\.Limits"):
        viz.draw(neuron(), limits={"seconds": 1})  # type: ignore[arg-type]


@posix_only
def test_what_the_renderer_prints_is_shown_once(no_dot: Path) -> None:
    fake_dot(no_dot, f'echo "Warning: node n0, something odd" >&2\nexec "{FALLBACK}" "$@"')
    with pytest.warns(viz.RendererWarning) as record:
        viz.draw(neuron()).pipe()
        viz.draw(neuron()).pipe()
    assert renderer_warnings(record) == ["dot: Warning: node n0, something odd"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        viz.draw(neuron()).pipe(quiet=True)


def test_non_ascii_user_labels_are_said_once(no_dot: Path) -> None:
    x = Value(2.0, label="α")
    y = (x * x).tanh()
    y.label = "ŷ"
    y.backward()
    with pytest.warns(viz.RendererWarning) as record:
        viz.draw(y).pipe()
        viz.draw(y).pipe()
    said = renderer_warnings(record)
    assert len(said) == 1
    assert said[0].startswith("graphviz-pure can't measure characters outside ASCII (here: αŷ)")


# ----------------------------------------------------------------------------
# The real system Graphviz, and the fallback compared with it
# ----------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def needs_system_dot() -> str:
    dot = shutil.which("dot")
    needs(dot is not None, "the system Graphviz `dot`")
    assert dot is not None
    return dot


def svg_parts(svg: bytes) -> dict[tuple[str, str, str], tuple[list[tuple[str, ...]], list[tuple[str, ...]]]]:
    """Per node, edge and cluster group (its classes, SVG id, title): its texts and the paint of its shapes.

    What is compared between two Graphviz implementations, and why: the SVG ids
    (``node3``, ``edge5``: CSS and the animation find elements by them), the
    titles (our DOT ids: ``n0``, ``n0->n2``), every text with its colour and
    weight, and the fill, stroke and dashing of every shape. Not compared:
    coordinates and sizes (the system dot measures text with Pango and real
    fonts, the fallback with Arial's metrics, and layout details differ between
    Graphviz 2.43 and 16.1), path data, and the SVG's header comments.
    """
    def paint(value: str | None) -> str:
        return "none" if value == "transparent" else str(value)  # 2.43 writes transparent where 16.1 writes none

    parts = {}
    for g in ElementTree.fromstring(svg).iter(f"{SVG}g"):
        kind = (g.get("class") or "").split(" ")[0]  # "node" or "node leaf": a DOT class attribute is appended
        if kind not in ("node", "edge", "cluster"):
            continue
        title = g.find(f"{SVG}title")
        assert title is not None
        shapes = sorted(
            {(e.tag, paint(e.get("fill")), paint(e.get("stroke")), str(e.get("stroke-dasharray")))
             for e in g if e.tag in (f"{SVG}path", f"{SVG}polygon", f"{SVG}ellipse", f"{SVG}polyline")}
        )
        texts = [(t.text or "", paint(t.get("fill")), str(t.get("font-weight"))) for t in g.iter(f"{SVG}text")]
        parts[(str(g.get("class")), str(g.get("id")), str(title.text))] = (texts, shapes)
    return parts


def test_the_fallback_agrees_with_the_system_graphviz() -> None:
    dot = needs_system_dot()
    version = subprocess.run([dot, "-V"], capture_output=True, check=True).stderr.decode()
    for name, diagram in busy_diagrams().items():
        ours = subprocess.run([str(FALLBACK), "-Tsvg"], input=diagram.source.encode(), capture_output=True, check=True)
        theirs = subprocess.run([dot, "-Tsvg"], input=diagram.source.encode(), capture_output=True, check=True)
        expected, got = svg_parts(theirs.stdout), svg_parts(ours.stdout)
        assert len(expected) > 5
        assert got == expected, f"{name}: graphviz-pure differs from {version}"


def test_the_system_dot_is_used_when_it_works(tmp_path: Path) -> None:
    needs_system_dot()
    assert backend.find_renderer().name == "dot"
    x = Value(2.0, label="α")  # Pango measures any character: no warning
    y = (x * x).tanh()
    y.backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diagram = viz.draw(y)
        assert "α" in svg_text(diagram.pipe())
        assert viz.render(y, tmp_path / "y.pdf").read_bytes().startswith(b"%PDF")
        assert diagram.pipe(format="png").startswith(PNG_MAGIC)
        out = diagram.render(outfile=tmp_path / "y.svg")
    assert "grad 1 (seed)" in svg_text(Path(out).read_bytes())


def test_the_system_dot_under_the_limits(tmp_path: Path) -> None:
    needs_system_dot()
    # Both fail under a 1 MiB address space (how depends on the machine); the error names the limit.
    with pytest.raises(viz.RendererError) as caught, pytest.warns(viz.RendererWarning, match="Rendered with graphviz"):
        viz.draw(neuron(), limits=viz.Limits(memory=2**20)).pipe()
    message = str(caught.value)
    assert message.startswith("dot ") and "; then graphviz-pure crashed" in message
    assert "memory limit of 1 MiB" in message
    assert backend._broken == {}  # dot works under its normal limits: not set aside for the session
    assert "x1" in svg_text(viz.draw(neuron()).pipe())
