"""Tests for rendering that cannot hurt: glyph widths, renderer choice and fallback, limits, crashes.

graphviz-pure is a dependency, so it is always here (next to this Python).
Tests that need the real system Graphviz use ``needs()``: they skip only where
``dot`` is absent, and fail in CI, which installs it.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule import nn, viz
from chainrule.autograd import Value
from chainrule.viz import glyphs

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
        "mlp, auto-collapsed": viz.draw(loss, max_nodes=8),
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
