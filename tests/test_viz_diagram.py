"""Tests for viz.diagram (trace -> DOT): snapshots, chain-rule labels, colours, clusters, collapsing, quoting."""

from __future__ import annotations

import itertools
import math
import re

import pytest

from chainrule import autograd, nn, viz
from chainrule.autograd import Op, Value, apply
from chainrule.viz.diagram import Theme, html_text

B = 6.8813735870195432


def neuron() -> Value:
    """The classic neuron tanh(x1*w1 + x2*w2 + b), after backward()."""
    v = {name: Value(x, label=name) for name, x in [("x1", 2.0), ("w1", -3.0), ("x2", 0.0), ("w2", 1.0), ("b", B)]}
    n = v["x1"] * v["w1"] + v["x2"] * v["w2"] + v["b"]
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    o.backward()
    return o


def source(diagram: viz.Diagram) -> str:
    return diagram.source.replace("\t", "    ")


# Snapshots: numbers checked by hand (tanh'(n) = 0.5; x1.grad = w1 * 0.5 = -1.5; w1.grad = x1 * 0.5 = 1, ...);
# ids from the trace's order (n<node>, e<edge>); each op's own leaves chained in argument order (x1 above w1).
NEURON = """\
digraph chainrule {
    graph [fontname=Helvetica newrank=true nodesep=0.2 rankdir=LR ranksep=0.3]
    node [fontname=Helvetica fontsize=10 shape=box style="rounded,filled"]
    edge [color="#525252" fontname=Helvetica fontsize=8.5]
    n0 [label=<<B>x1</B><BR/>data 2<BR/>grad -1.5> class="node-leaf negative" fillcolor="#159bef" fontcolor="#000000" id=n0 penwidth=1.5 tooltip="x1: data 2, grad -1.5"]
    n1 [label=<<B>w1</B><BR/>data -3<BR/>grad 1> class="node-leaf positive" fillcolor="#e0790d" fontcolor="#000000" id=n1 penwidth=1.5 tooltip="w1: data -3, grad 1"]
    n2 [label=<<B>*</B><BR/>data -6<BR/>grad 0.5> class="node-intermediate positive" fillcolor="#e78313" fontcolor="#000000" id=n2 tooltip="x1*w1: data -6, grad 0.5"]
    n3 [label=<<B>x2</B><BR/>data 0<BR/>grad 0.5> class="node-leaf positive" fillcolor="#e78313" fontcolor="#000000" id=n3 penwidth=1.5 tooltip="x2: data 0, grad 0.5"]
    n4 [label=<<B>w2</B><BR/>data 1<BR/>grad 0<BR/><I>cut off</I>> class="node-leaf zero cut-off" fillcolor="#bdbdbd" fontcolor="#000000" id=n4 penwidth=1.5 tooltip="w2: data 1, grad 0"]
    n5 [label=<<B>*</B><BR/>data 0<BR/>grad 0.5> class="node-intermediate positive" fillcolor="#e78313" fontcolor="#000000" id=n5 tooltip="x2*w2: data 0, grad 0.5"]
    n6 [label=<<B>+</B><BR/>data -6<BR/>grad 0.5> class="node-intermediate positive" fillcolor="#e78313" fontcolor="#000000" id=n6 tooltip="(x1*w1)+(x2*w2): data -6, grad 0.5"]
    n7 [label=<<B>b</B><BR/>data 6.881<BR/>grad 0.5> class="node-leaf positive" fillcolor="#e78313" fontcolor="#000000" id=n7 penwidth=1.5 tooltip="b: data 6.881, grad 0.5"]
    n8 [label=<<B>n</B> = +<BR/>data 0.8814<BR/>grad 0.5> class="node-intermediate positive" fillcolor="#e78313" fontcolor="#000000" id=n8 tooltip="n: data 0.8814, grad 0.5"]
    n9 [label=<<B>o</B> = tanh<BR/>data 0.7071<BR/>grad 1 (seed)> class="node-output positive" fillcolor="#e0790d" fontcolor="#000000" id=n9 penwidth=3 style="rounded,filled,bold" tooltip="o: data 0.7071, grad 1"]
    {
        rank=same
        n0 -> n1 [style=invis]
    }
    {
        rank=same
        n3 -> n4 [style=invis]
    }
    n0 -> n2 [label=<&lt;- -3 * 0.5 = -1.5> class="edge-term" id=e0 labeltooltip="d(x1*w1)/dx1 = -3 (local derivative); the gradient flows back from x1*w1 to x1: -3 * 0.5 = -1.5" tooltip="d(x1*w1)/dx1 = -3 (local derivative); the gradient flows back from x1*w1 to x1: -3 * 0.5 = -1.5"]
    n1 -> n2 [label=<&lt;- 2 * 0.5 = 1> class="edge-term" id=e1 labeltooltip="d(x1*w1)/dw1 = 2 (local derivative); the gradient flows back from x1*w1 to w1: 2 * 0.5 = 1" tooltip="d(x1*w1)/dw1 = 2 (local derivative); the gradient flows back from x1*w1 to w1: 2 * 0.5 = 1"]
    n3 -> n5 [label=<&lt;- 1 * 0.5 = 0.5> class="edge-term" id=e2 labeltooltip="d(x2*w2)/dx2 = 1 (local derivative); the gradient flows back from x2*w2 to x2: 1 * 0.5 = 0.5" tooltip="d(x2*w2)/dx2 = 1 (local derivative); the gradient flows back from x2*w2 to x2: 1 * 0.5 = 0.5"]
    n4 -> n5 [label=<local derivative 0: &lt;- 0 * 0.5 = 0> class="edge-term blocked" color="#8c8c8c" fontcolor="#595959" id=e3 labeltooltip="d(x2*w2)/dw2 = 0 (local derivative); the gradient flows back from x2*w2 to w2: 0 * 0.5 = 0; blocked: local derivative 0" style=dashed tooltip="d(x2*w2)/dw2 = 0 (local derivative); the gradient flows back from x2*w2 to w2: 0 * 0.5 = 0; blocked: local derivative 0"]
    n2 -> n6 [label=<&lt;- 1 * 0.5 = 0.5> class="edge-term" id=e4 labeltooltip="d((x1*w1)+(x2*w2))/d(x1*w1) = 1 (local derivative); the gradient flows back from (x1*w1)+(x2*w2) to x1*w1: 1 * 0.5 = 0.5" tooltip="d((x1*w1)+(x2*w2))/d(x1*w1) = 1 (local derivative); the gradient flows back from (x1*w1)+(x2*w2) to x1*w1: 1 * 0.5 = 0.5"]
    n5 -> n6 [label=<&lt;- 1 * 0.5 = 0.5> class="edge-term" id=e5 labeltooltip="d((x1*w1)+(x2*w2))/d(x2*w2) = 1 (local derivative); the gradient flows back from (x1*w1)+(x2*w2) to x2*w2: 1 * 0.5 = 0.5" tooltip="d((x1*w1)+(x2*w2))/d(x2*w2) = 1 (local derivative); the gradient flows back from (x1*w1)+(x2*w2) to x2*w2: 1 * 0.5 = 0.5"]
    n6 -> n8 [label=<&lt;- 1 * 0.5 = 0.5> class="edge-term" id=e6 labeltooltip="dn/d((x1*w1)+(x2*w2)) = 1 (local derivative); the gradient flows back from n to (x1*w1)+(x2*w2): 1 * 0.5 = 0.5" tooltip="dn/d((x1*w1)+(x2*w2)) = 1 (local derivative); the gradient flows back from n to (x1*w1)+(x2*w2): 1 * 0.5 = 0.5"]
    n7 -> n8 [label=<&lt;- 1 * 0.5 = 0.5> class="edge-term" id=e7 labeltooltip="dn/db = 1 (local derivative); the gradient flows back from n to b: 1 * 0.5 = 0.5" tooltip="dn/db = 1 (local derivative); the gradient flows back from n to b: 1 * 0.5 = 0.5"]
    n8 -> n9 [label=<&lt;- 0.5 * 1 = 0.5> class="edge-term" id=e8 labeltooltip="do/dn = 0.5 (local derivative); the gradient flows back from o to n: 0.5 * 1 = 0.5" tooltip="do/dn = 0.5 (local derivative); the gradient flows back from o to n: 0.5 * 1 = 0.5"]
    legend [label=<<TABLE BORDER="1" COLOR="#9e9e9e" CELLBORDER="0" CELLSPACING="1">
<TR><TD ALIGN="LEFT"><B>legend</B> <I>fill: grad (warm +, cool -)</I></TD></TR>
<TR><TD ALIGN="LEFT"><TABLE BORDER="0" CELLSPACING="2" CELLPADDING="2"><TR><TD BGCOLOR="#f69816" BORDER="1" COLOR="#bdbdbd"><FONT COLOR="#000000">0.1</FONT></TD><TD BGCOLOR="#e0790d" BORDER="1" COLOR="#bdbdbd"><FONT COLOR="#000000">1</FONT></TD><TD BGCOLOR="#ca5b02" BORDER="1" COLOR="#bdbdbd"><FONT COLOR="#000000">10</FONT></TD></TR></TABLE></TD></TR>
<TR><TD ALIGN="LEFT"><TABLE BORDER="0" CELLSPACING="2" CELLPADDING="2"><TR><TD BGCOLOR="#4fbcfb" BORDER="1" COLOR="#bdbdbd"><FONT COLOR="#000000">-0.1</FONT></TD><TD BGCOLOR="#16a0f3" BORDER="1" COLOR="#bdbdbd"><FONT COLOR="#000000">-1</FONT></TD><TD BGCOLOR="#1184dc" BORDER="1" COLOR="#bdbdbd"><FONT COLOR="#000000">-10</FONT></TD></TR></TABLE></TD></TR>
<TR><TD ALIGN="LEFT"><TABLE BORDER="0" CELLSPACING="2" CELLPADDING="2"><TR><TD BGCOLOR="#bdbdbd" BORDER="1" COLOR="#bdbdbd"><FONT COLOR="#000000">cut off</FONT></TD></TR></TABLE></TD></TR>
<TR><TD ALIGN="LEFT">edge label: &lt;- d * g = term, where d = local derivative,</TD></TR>
<TR><TD ALIGN="LEFT">   g = consumer's grad (&lt;-: flows against the arrows)</TD></TR>
<TR><TD ALIGN="LEFT">dashed edge: blocks the gradient (dead ReLU, ...)</TD></TR>
<TR><TD ALIGN="LEFT">border bold: output, thick: input</TD></TR>
</TABLE>> class=legend fontsize=8.5 id=legend shape=plain style=solid]
    n9 -> legend [style=invis]
}
"""  # noqa: E501

SQUARE = """\
digraph chainrule {
    graph [fontname=Helvetica newrank=true nodesep=0.2 rankdir=LR ranksep=0.3]
    node [fontname=Helvetica fontsize=10 shape=box style="rounded,filled"]
    edge [color="#525252" fontname=Helvetica fontsize=8.5]
    n0 [label=<<B>x</B><BR/>data 3<BR/>grad = 3 + 3 = 6> class="node-leaf positive" fillcolor="#cf6203" fontcolor="#000000" id=n0 penwidth=1.5 tooltip="x: data 3, grad 6"]
    n1 [label=<<B>*</B><BR/>data 9<BR/>grad 1 (seed)> class="node-output positive" fillcolor="#e0790d" fontcolor="#000000" id=n1 penwidth=3 style="rounded,filled,bold" tooltip="x*x: data 9, grad 1"]
    n0 -> n1 [label=<&lt;- 3 * 1 = 3> class="edge-term" id=e0 labeltooltip="d(x*x)/dx = 3 (local derivative); the gradient flows back from x*x to x: 3 * 1 = 3" tooltip="d(x*x)/dx = 3 (local derivative); the gradient flows back from x*x to x: 3 * 1 = 3"]
    n0 -> n1 [label=<&lt;- 3 * 1 = 3> class="edge-term" id=e1 labeltooltip="d(x*x)/dx = 3 (local derivative); the gradient flows back from x*x to x: 3 * 1 = 3" tooltip="d(x*x)/dx = 3 (local derivative); the gradient flows back from x*x to x: 3 * 1 = 3"]
}
"""  # noqa: E501

DOUBLE = """\
digraph chainrule {
    graph [fontname=Helvetica newrank=true nodesep=0.2 rankdir=LR ranksep=0.3]
    node [fontname=Helvetica fontsize=10 shape=box style="rounded,filled"]
    edge [color="#525252" fontname=Helvetica fontsize=8.5]
    n0 [label=<<B>a</B><BR/>data -2<BR/>grad = 1 + 1 = 2> class="node-leaf positive" fillcolor="#da7008" fontcolor="#000000" id=n0 penwidth=1.5 tooltip="a: data -2, grad 2"]
    n1 [label=<<B>+</B><BR/>data -4<BR/>grad 1 (seed)> class="node-output positive" fillcolor="#e0790d" fontcolor="#000000" id=n1 penwidth=3 style="rounded,filled,bold" tooltip="a+a: data -4, grad 1"]
    n0 -> n1 [label=<&lt;- 1 * 1 = 1> class="edge-term" id=e0 labeltooltip="d(a+a)/da = 1 (local derivative); the gradient flows back from a+a to a: 1 * 1 = 1" tooltip="d(a+a)/da = 1 (local derivative); the gradient flows back from a+a to a: 1 * 1 = 1"]
    n0 -> n1 [label=<&lt;- 1 * 1 = 1> class="edge-term" id=e1 labeltooltip="d(a+a)/da = 1 (local derivative); the gradient flows back from a+a to a: 1 * 1 = 1" tooltip="d(a+a)/da = 1 (local derivative); the gradient flows back from a+a to a: 1 * 1 = 1"]
}
"""  # noqa: E501


def test_neuron_snapshot() -> None:
    assert source(viz.draw(neuron())) == NEURON


def test_square_and_double_have_two_edges() -> None:
    x = Value(3.0, label="x")
    assert source(viz.draw(x * x, legend=False)) == SQUARE
    a = Value(-2.0, label="a")
    assert source(viz.draw(a + a, theme=Theme(legend=False))) == DOUBLE


def test_dot_is_deterministic_and_pure() -> None:
    first, second = viz.draw(neuron()).source, viz.draw(neuron()).source
    assert first == second
    tr = viz.trace(neuron())
    assert viz.to_dot(tr) == first


def test_grad_as_sum_of_outgoing_terms() -> None:
    x = Value(2.0, label="x")
    y = x * 3.0 + x.exp()  # dy/dx = 3 + e^2
    dot = viz.draw(y, theme=Theme(legend=False, number="{:.3f}")).source
    assert "grad = 3.000 + 7.389 = 10.389" in dot
    many = autograd.sum([x * float(k) for k in range(1, 7)])  # six consumers: 1 + 2 + ... + 6
    assert "grad = sum of 6 terms = 21" in viz.draw(many).source


def test_gradient_from_outside_is_named() -> None:
    x = Value(2.0, label="x")
    y = x * 5.0
    (y + x).backward()
    assert "grad = 5 + 1 from outside = 6" in viz.draw(y).source


def test_roles_look_different() -> None:
    model = nn.MLP(1, [1], seed=0)
    x = Value(0.5, label="x")
    out = model([x]) * 2.0
    dot = viz.draw(out, theme=Theme(legend=False)).source
    lines = {line.split(" [")[0].strip(): line for line in dot.splitlines() if "[label=" in line and "->" not in line}
    x_line = next(v for v in lines.values() if "<B>x</B>" in v)
    w_line = next(v for v in lines.values() if "w.0" in v)
    c_line = next(v for v in lines.values() if "dashed" in v)
    out_line = next(v for v in lines.values() if "(seed)" in v)
    assert "penwidth=1.5" in x_line and "peripheries=2" in w_line and "<B>w.0</B><BR/>" in w_line
    assert 'style="rounded,dashed"' in c_line and 'fillcolor="#ffffff"' in c_line and "<BR/>" not in c_line
    assert 'style="rounded,filled,bold"' in out_line and "penwidth=3" in out_line
    assert len({x_line.split("]")[0][-40:], w_line.split("]")[0][-40:], out_line.split("]")[0][-40:]}) == 3


def test_constants_can_be_hidden() -> None:
    x = Value(2.0, label="x")
    y = x * 3.0
    shown = viz.draw(y, theme=Theme(legend=False)).source
    hidden = viz.draw(y, show_constants=False, theme=Theme(legend=False)).source
    assert 'n1 -> n2 [class="edge-constant" color="#8c8c8c" id=e1 style=dotted]' in shown and "n1 [label=<3>" in shown
    assert "n1" not in hidden and "n0 -> n2" in hidden


# ----------------------------------------------------------------------------
# Colours: log scale, vanishing, exploding, blockers
# ----------------------------------------------------------------------------


def test_colour_scale() -> None:
    theme = Theme()
    assert theme.grad_color(0.0) == theme.zero_color == "#ffffff"
    assert theme.grad_color(math.nan) == theme.grad_color(math.inf) == theme.grad_color(-math.inf)
    assert theme.grad_color(math.nan) == theme.nonfinite_color
    # beyond the scale's ends the colour stops changing; inside it, it changes with every step
    assert theme.grad_color(1e-9) == theme.grad_color(theme.scale_min) != theme.grad_color(2 * theme.scale_min)
    assert theme.grad_color(1e9) == theme.grad_color(theme.scale_max) != theme.grad_color(theme.scale_max / 2)
    # the sign picks the hue: warm (red > blue) for positive, cool for negative
    for g in (1e-3, 0.1, 1.0, 10.0, 1e3):
        r, _, b = (int(theme.grad_color(g)[i : i + 2], 16) for i in (1, 3, 5))
        rn, _, bn = (int(theme.grad_color(-g)[i : i + 2], 16) for i in (1, 3, 5))
        assert r > b and bn > rn
    assert theme.grad_kind(0.5) is None and theme.grad_kind(0.0) is None and theme.grad_kind(math.nan) == "non-finite"
    assert theme.grad_kind(1e-9) == "vanishing" and theme.grad_kind(1e-9, seed=1e-8) is None


def test_colour_scale_is_monotonic_and_grades_the_teaching_range() -> None:
    from chainrule.viz.theme import oklab

    theme = Theme()
    for sign in (1.0, -1.0):
        steps = [sign * 10 ** (k / 4) for k in range(-16, 17)]  # 1e-4 ... 1e4, four steps a decade
        lightness = [oklab(theme.grad_color(g))[0] for g in steps]
        assert all(a > b for a, b in itertools.pairwise(lightness))  # darker as |grad| grows, never back
        # 0.1, 1 and 10 are told apart (an OKLab distance of 0.02 is just noticeable)
        teach = [oklab(theme.grad_color(sign * g)) for g in (0.1, 1.0, 10.0)]
        assert all(math.dist(a, b) > 0.07 for a, b in itertools.pairwise(teach))
        # the palest colour (tiny gradients) is still tinted: not mistaken for white (exactly 0)
        assert math.dist(oklab(theme.grad_color(sign * 1e-12)), oklab(theme.zero_color)) > 0.08
    nonfinite = oklab(theme.nonfinite_color)
    assert min(math.dist(nonfinite, oklab(theme.grad_color(10.0 ** (k / 2)))) for k in range(-8, 9)) > 0.1
    assert min(math.dist(nonfinite, oklab(theme.grad_color(-(10.0 ** (k / 2))))) for k in range(-8, 9)) > 0.1


def test_vanishing_and_exploding_chains() -> None:
    x = Value(0.0, label="x")
    y = x
    for _ in range(12):
        y = y.sigmoid()  # each sigmoid' <= 0.25: 0.25^12 ~ 6e-8 at x
    dot = viz.draw(y).source
    theme = Theme()
    line = next(line for line in dot.splitlines() if "<B>x</B>" in line)
    assert "<I>vanishing</I>" in line and f'fillcolor="{theme.grad_color(6e-8)}"' in line
    assert "vanishing: 0 &lt; |grad| &lt; 0.0001 times the output's grad" in dot  # the legend says what it means
    z = Value(1.0, label="z")
    w = z
    for _ in range(10):
        w = w * 3.0  # 3^10 = 59049: one path's product of local derivatives, above 1e3
    dot = viz.draw(w).source
    line = next(line for line in dot.splitlines() if "<B>z</B>" in line)
    assert "exploding" in line and "grad 5.905e+04" in line
    assert "exploding: one term &gt; 1000 times the output's grad" in dot


def test_a_sum_of_many_ordinary_terms_is_not_exploding() -> None:
    x = Value(0.5, label="x")
    total = x
    for _ in range(299):
        total = total + x  # 300 uses of x: grad 300, each term 1
    dot = viz.draw(total, max_nodes=None).source
    line = next(line for line in dot.splitlines() if "<B>x</B>" in line)
    assert "grad = sum of 300 terms = 300" in line and "exploding" not in dot
    y = Value(0.5, label="y")
    big = y * 5000.0  # one factor of 5000: one term above 1000
    assert "exploding" in next(line for line in viz.draw(big).source.splitlines() if "<B>y</B>" in line)
    assert "exploding" not in viz.draw(big, theme=Theme(exploding=1e4)).source


def test_dead_relu_is_marked_and_cuts_off() -> None:
    w = Value(-1.0, label="w")
    x = Value(2.0, label="x")
    out = (w * x).relu() + Value(1.0, label="c")
    out.backward()
    dot = viz.draw(out, theme=Theme(legend=False)).source
    edge = next(line for line in dot.splitlines() if "dead relu" in line)
    assert "label=<dead relu: &lt;- 0 * 1 = 0>" in edge and "style=dashed" in edge
    cut = [line for line in dot.splitlines() if "cut off" in line]
    assert len(cut) == 3  # w, x and w*x: everything the dead relu cuts off, shaded grey
    assert all(f'fillcolor="{Theme().cut_off_color}"' in line for line in cut)


def test_check_shows_estimates_and_flags_a_wrong_rule() -> None:
    wrong = Op("wrong_square", "sq", 1, lambda M, a: a * a, (lambda M, o, a: 3.0 * a,), (((-3.0, 3.0),),))
    x = Value(1.5, label="x")
    y = Value(2.0, label="y")
    out = apply(wrong, x) + y
    dot = viz.draw(out, check=True, theme=Theme(legend=False)).source
    x_line = next(line for line in dot.splitlines() if "<B>x</B>" in line)
    y_line = next(line for line in dot.splitlines() if "<B>y</B>" in line)
    red = Theme().mismatch_color
    assert f'<FONT COLOR="{red}">fd 3, rel err 0.3333 DIFFERS</FONT>' in x_line and f'color="{red}"' in x_line
    assert "grad 4.5" in x_line
    assert f'<FONT COLOR="{Theme().match_color}">fd 1, rel err' in y_line and " ok</FONT>" in y_line
    assert red not in y_line
    assert "fd " not in viz.draw(out).source


# ----------------------------------------------------------------------------
# Modules: clusters, collapsing, automatic collapsing
# ----------------------------------------------------------------------------


def mlp_loss(points: int = 4, sizes: tuple[int, ...] = (3, 1)) -> tuple[nn.MLP, Value]:
    model = nn.MLP(2, list(sizes), seed=0)
    X, y = nn.make_moons(points, noise=0.1, seed=1)
    loss = nn.functional.hinge_loss([model(list(x)) for x in X], list(2 * y - 1))
    loss = loss + 1e-4 * autograd.sum(p * p for p in model.parameters())
    loss.backward()
    return model, loss


def cluster_parents(dot: str) -> dict[str, str | None]:
    """Map each cluster's label to the label of the cluster it is nested in (by the braces)."""
    stack: list[str | None] = []
    parents: dict[str, str | None] = {}
    for line in dot.splitlines():
        text = line.strip()
        if text.startswith("subgraph cluster_"):
            stack.append(None)
        elif text == "}" and stack:
            stack.pop()
        elif stack and stack[-1] is None and "label=<" in text and text.startswith("color="):
            label = text.split("label=<")[1].split(">")[0]
            outer = [s for s in stack[:-1] if s is not None]
            parents[label] = outer[-1] if outer else None
            stack[-1] = label
    return parents


def test_modules_are_clusters() -> None:
    _, loss = mlp_loss()
    dot = viz.draw(loss, max_nodes=None).source
    # Only modules that hold nodes get a box (a box around the layer's boxes would make Graphviz step each
    # layer below the last); in path order.
    assert cluster_parents(dot) == {
        "layers.0.neurons.0": None,
        "layers.0.neurons.1": None,
        "layers.0.neurons.2": None,
        "layers.1.neurons.0": None,
    }
    assert list(cluster_parents(dot)) == ["layers.0.neurons.0", "layers.0.neurons.1", "layers.0.neurons.2",
                                          "layers.1.neurons.0"]
    # the parameters and the neuron's dot/relu nodes are inside the neuron's cluster
    inner = dot[dot.index("label=<layers.0.neurons.2>") :].split("}")[0]
    assert "<B>w.0</B>" in inner and "<B>dot</B>" in inner and "<B>relu</B>" in inner


def test_collapse_a_module() -> None:
    _, loss = mlp_loss()
    full = viz.trace(loss)
    dot = viz.draw(loss, collapse=["layers.0"], max_nodes=None, theme=Theme(legend=False)).source
    members = [n for n in full.nodes if n.scope is not None and n.scope.startswith("layers.0.")]
    ops = sum(1 for n in members if n.op)
    biggest = max(abs(n.grad) for n in members)
    summary = next(line for line in dot.splitlines() if "<B>layers.0</B>" in line)
    assert f"{ops} ops, 9 parameters" in summary and f"max |grad| {Theme().fmt(biggest)}" in summary
    assert "peripheries=2" in summary and "box3d" not in dot  # system dot clips box3d's titles
    assert "label=<layers.0.neurons" not in dot
    # edges are aggregated: the 4 points' 2 inputs (constants, unlabelled) feed 3 neurons each;
    # the 3 neurons feed layers.1's neuron once per point; each of the 9 parameters is squared (p*p: 2 edges)
    name = summary.strip().split(" ")[0]
    into = [line for line in dot.splitlines() if f"-> {name} " in line]
    assert len(into) == 8 and all("style=dotted" in line and "label" not in line for line in into)
    out = [line for line in dot.splitlines() if line.strip().startswith(f"{name} -> ")]
    # 3 edges from 3 different neurons: no sum (it would add terms of three different gradients)
    assert sum("<3 edges>" in line for line in out) == 4
    # 2 edges from one parameter (p*p): their sum is that parameter's part of its gradient
    assert sum("<2 edges, sum " in line for line in out) == 9
    # a zero bias b has d(b*b)/db = 0: both its edges are blocked
    assert sum("2 blocked> class" in line and "style=dashed" in line for line in out) == 3


def test_the_output_stays_visible_when_its_module_collapses() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    out = model([0.5, -1.0])
    dot = viz.draw(out, collapse=["layers.0", "layers.1"], theme=Theme(legend=False)).source
    drawn = [line.strip() for line in dot.splitlines() if "[label=" in line and "->" not in line]
    assert len(drawn) == 5  # the two inputs, two summaries and the output
    assert sum("summary-module" in line for line in drawn) == 2
    root = next(line for line in drawn if "(seed)" in line)
    assert "<B>dot</B>" in root and "penwidth=3" in root
    assert "subgraph" not in dot  # no cluster is left to draw: the output sits outside its collapsed module
    summary = next(line for line in drawn if "<B>layers.1</B>" in line)
    assert "0 ops, 4 parameters" in summary  # its only op is the output itself
    summary0 = next(line for line in drawn if "<B>layers.0</B>" in line)
    assert "6 ops, 9 parameters" in summary0
    one = viz.draw(nn.MLP(1, [1], activation="linear", seed=0)([0.5]) * 2.0, collapse=["layers.0"]).source
    assert "1 op, 2 parameters" in one  # grammar: one op


def test_collapse_errors() -> None:
    _, loss = mlp_loss()
    with pytest.raises(ValueError, match=r"collapse: no node is inside the module 'layers\.7'"):
        viz.draw(loss, collapse=["layers.7"])
    with pytest.raises(TypeError, match=r"collapse must be a list of module paths, got the string 'layers\.0'"):
        viz.draw(loss, collapse="layers.0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_nodes must be a positive int or None, got 0"):
        viz.draw(loss, max_nodes=0)


def test_auto_collapse_keeps_big_graphs_small() -> None:
    _, loss = mlp_loss(points=20, sizes=(8, 8, 1))
    full = viz.trace(loss)
    assert len(full.nodes) > 400
    dot = viz.draw(loss, view="scalar", max_nodes=60, theme=Theme(legend=False)).source
    drawn = [line for line in dot.splitlines() if "[label=" in line and "->" not in line]
    assert len(drawn) <= 60
    assert "summary-module" in dot  # modules collapsed
    small = viz.draw(loss, max_nodes=None, theme=Theme(legend=False)).source
    assert len([line for line in small.splitlines() if "[label=" in line and "->" not in line]) == len(full.nodes)


def test_a_long_chain_becomes_stacks() -> None:
    x = Value(0.5, label="x")
    y = x
    for i in range(3000):  # deeper than Python's recursion limit
        y = (y * 1.0001).tanh() if i % 2 else y + 0.001
    full = viz.draw(y, max_nodes=None, theme=Theme(legend=False)).source
    assert len(re.findall(r" id=e\d+", full)) == 7500 and "n7500 [label=" in full  # x, 3000 constants, 4500 ops
    small = viz.draw(y, theme=Theme(legend=False)).source
    drawn = [line.strip() for line in small.splitlines() if "[label=" in line and "->" not in line]
    titles = sorted(line.split("<B>")[1].split("</B>")[0] for line in drawn)
    # no two tanh nodes are parallel (each is one level deeper), so stacks gather each op
    assert titles == ["1499 x tanh", "1500 x *", "1500 x +", "3000 x constants", "tanh", "x"]


# ----------------------------------------------------------------------------
# Theme and quoting
# ----------------------------------------------------------------------------


def test_theme_options() -> None:
    x = Value(1.0 / 3.0, label="x")
    dot = viz.draw(x * 2.0, theme=Theme(number="{:.2f}", rankdir="TB", font="Courier", legend=False)).source
    assert "rankdir=TB" in dot and "fontname=Courier" in dot and "data 0.33" in dot
    assert "rankdir=BT" in viz.draw(x * 2.0, rankdir="BT").source
    with pytest.raises(ValueError, match="Theme number must be a format"):
        Theme(number="{:q}")
    with pytest.raises(ValueError, match="Theme rankdir must be"):
        Theme(rankdir="up")
    with pytest.raises(ValueError, match="rankdir must be 'LR', 'RL', 'TB' or 'BT', got 'up'"):
        viz.draw(x, rankdir="up")
    with pytest.raises(TypeError, match=r"theme must be a viz\.Theme"):
        viz.draw(x, theme={"rankdir": "LR"})  # type: ignore[arg-type]
    assert Theme().fmt(-0.0) == "0" and Theme().fmt(math.inf) == "inf" and Theme().fmt(math.nan) == "nan"


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ('a "b" <c> & d', "a &quot;b&quot; &lt;c&gt; &amp; d"),
        ("{x|y}\\n \\N", "{x|y}\\\\n \\\\N"),  # a backslash doubled: Graphviz would expand \N
        ("line1\nline2", "line1<BR/>line2"),
        ("tab\there\x00\x7f", "tab\u2409here\u2400\u2421"),
        ("αβ ∂ 🙂", "αβ ∂ 🙂"),
        ("&amp;", "&amp;amp;"),
    ],
)
def test_html_text(text: str, quoted: str) -> None:
    assert html_text(text) == quoted


def test_labels_are_quoted_in_the_dot() -> None:
    x = Value(1.0, label='<b>"x" & {y}|\\')
    dot = viz.draw(x * 2.0, theme=Theme(legend=False)).source
    assert "<B>&lt;b&gt;&quot;x&quot; &amp; {y}|\\\\</B>" in dot
