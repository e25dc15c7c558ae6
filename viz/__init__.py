"""chainrule.viz: gradient-flow diagrams of the computation graph.

Example::

    from chainrule import viz
    from chainrule.autograd import Value
    x = Value(2.0, label="x")
    y = (x * x).tanh()
    y.backward()
    viz.draw(y)                      # a graphviz.Digraph; shows inline in Jupyter
    viz.render(y, "y.svg")           # or .png, .pdf (with Graphviz's dot), .dot

Two views of one trace: the scalar view (:mod:`viz.diagram`: every op, the
chain-rule term on every edge) and the network view (:mod:`viz.network`: one
circle per neuron of the ``nn`` modules, one edge per weight carrying dL/dw),
``draw(root, view="auto" | "scalar" | "network")``.

Pipeline: :func:`trace` (plain dataclasses) -> :class:`Theme` (one colour
scale, :mod:`viz.theme`) -> DOT (:func:`to_dot`, :func:`draw`) ->
:func:`render` (system ``dot``, or the graphviz-pure program installed with
chainrule).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from chainrule.autograd import Value
from chainrule.viz.animation import animate_backward
from chainrule.viz.backend import DiagramTooLarge, Limits, RendererError, RendererWarning, find_renderer, render_source
from chainrule.viz.diagram import Diagram, Theme, build_digraph, html_text, to_dot
from chainrule.viz.gradflow import grad_flow
from chainrule.viz.network import NotANetworkError, find_network, is_network, network_digraph
from chainrule.viz.trace import Edge, GradSource, Node, Trace, trace

__all__ = [
    "Diagram",
    "DiagramTooLarge",
    "Edge",
    "Limits",
    "Node",
    "NotANetworkError",
    "RendererError",
    "RendererWarning",
    "Theme",
    "Trace",
    "animate_backward",
    "build_digraph",
    "draw",
    "find_network",
    "find_renderer",
    "grad_flow",
    "html_text",
    "render",
    "render_source",
    "to_dot",
    "trace",
]

MAX_NODES = 150


View = Literal["auto", "scalar", "network"]


def draw(
    root: Value,
    *,
    view: View = "auto",
    check: bool = False,
    grads: GradSource = "auto",
    collapse: Sequence[str] | None = None,
    max_nodes: int | None = MAX_NODES,
    theme: Theme | None = None,
    legend: bool | None = None,
    rankdir: str | None = None,
    show_constants: bool = True,
    block_tol: float = 1e-3,
    sample: int = 0,
    detail: Sequence[str] | None = None,
    limits: Limits | None = None,
) -> Diagram:
    """Draw the graph below ``root``: every op with the chain rule on every edge, or the network of neurons.

    Args:
        root: the output Value.
        view: "scalar" (every op, the chain-rule term on every edge),
            "network" (one circle per neuron of the nn modules, one edge per
            weight carrying dL/dw) or "auto" (default): the network view when the
            graph comes from nn modules and the scalar view would draw more than
            ``max_nodes`` nodes, else the scalar view.
        check: put the finite-difference estimate and relative error beside
            every leaf's and parameter's gradient (scalar view; red where they
            disagree); "auto" then draws the scalar view.
        grads: "stored" (``.grad``), "computed" (d(root)/d(node)) or "auto"
            (stored once ``backward()`` ran); see :func:`viz.trace.trace`.
        collapse: module paths ("layers.0") each drawn as one summary node
            (scalar view; "auto" then draws the scalar view).
        max_nodes: above this many nodes, the scalar view collapses module
            clusters (deepest first), then stacks parallel nodes, until it fits; None: never.
        theme: colours, number format, font, direction.
        legend: draw the legend beside the graph (default: the theme's ``legend``, True).
        rankdir: the scalar view's direction, overriding the theme's ("LR", "TB", ...).
        show_constants: draw constant leaves (scalar view).
        block_tol: |local derivative| at or below which a saturated tanh,
            sigmoid or softplus blocks (other edges block where it is exactly 0).
        sample: the network view of a batch loss shows this sample's neuron
            values (0: the first in the graph); its edges always show the
            parameters' whole gradients.
        detail: neurons' module paths (``["layers.1.neurons.0"]``) that the
            network view draws in detail, as their scalar graphs with the
            chain-rule term on every edge ("auto" then draws the network view).
        limits: time, node and memory limits of every rendering of the
            diagram (default :class:`Limits`: 60 s, 20,000 nodes, 4 GiB).

    Returns:
        A :class:`Diagram` (a ``graphviz.Digraph``): ``.source`` is the DOT
        text; Jupyter shows it inline, and its ``render()`` and ``pipe()``
        work, with ``dot`` or graphviz-pure.

    Raises:
        ValueError: a bad option; ``view="network"`` on a graph without nn neurons.
    """
    if limits is not None and not isinstance(limits, Limits):
        raise TypeError(f"limits must be a viz.Limits, got {type(limits).__name__}")
    if view not in ("auto", "scalar", "network"):
        raise ValueError(f"view must be 'auto', 'scalar' or 'network', got {view!r}")
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    if legend is not None and not isinstance(legend, bool):
        raise TypeError(f"legend must be True, False or None, got {legend!r}")
    if detail and view == "scalar":
        raise ValueError("detail expands neurons inside the network view; draw with view='network' (or 'auto')")
    if view == "network" and (check or collapse):
        raise ValueError("check and collapse belong to the scalar view; the network view shows every neuron "
                         "(draw with view='scalar' to use them)")
    tr = trace(root, grads=grads, block_tol=block_tol, check=check and view == "scalar")
    if view == "auto":
        drawn = sum(1 for n in tr.nodes if show_constants or n.role != "constant")
        big = max_nodes is not None and drawn > max_nodes
        view = "network" if (big or detail) and not collapse and not check and is_network(tr) else "scalar"
        if view == "scalar" and check:
            tr = trace(root, grads=grads, block_tol=block_tol, check=True)
    if view == "network":
        diagram = network_digraph(tr, theme, sample=sample, legend=legend, detail=detail or ())
    else:
        diagram = build_digraph(
            tr, theme, collapse=collapse, max_nodes=max_nodes, show_constants=show_constants, rankdir=rankdir,
            legend=legend,
        )
    diagram.limits = limits
    return diagram


def render(root: Value, path: str | os.PathLike[str], **options: Any) -> Path:
    """Draw ``root`` and write the picture to ``path``, in the format its suffix names.

    Args:
        root: the output Value.
        path: .svg or .png (any renderer), .pdf (needs Graphviz's ``dot``), or
            .dot/.gv for the DOT text.
        **options: :func:`draw`'s options (``limits`` included).

    Returns:
        The path written.

    Raises:
        ValueError: an unknown suffix. DiagramTooLarge: more nodes than
            ``limits.nodes``. RendererError: the renderer can't make the format
            (the message says how to install Graphviz), failed, crashed, or ran
            out of time or memory; nothing is written.
    """
    from chainrule.viz.backend import format_for, write

    target = Path(path)
    format_for(target)  # an unknown suffix fails before any drawing
    diagram = draw(root, **options)
    return write(diagram.source, target, limits=diagram.limits)
