"""chainrule.viz: gradient-flow diagrams of the computation graph.

Example::

    from chainrule import viz
    from chainrule.autograd import Value
    x = Value(2.0, label="x")
    y = (x * x).tanh()
    y.backward()
    viz.draw(y)                      # a graphviz.Digraph; shows inline in Jupyter
    viz.render(y, "y.svg")           # or .png, .pdf (with Graphviz's dot), .dot

Pipeline: :func:`trace` (plain dataclasses) -> :class:`Theme` -> DOT
(:func:`to_dot`, :func:`draw`) -> :func:`render` (system ``dot``, or the
graphviz-pure program installed with chainrule).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chainrule.autograd import Value
from chainrule.viz.animation import animate_backward
from chainrule.viz.backend import RendererError, find_renderer, render_source
from chainrule.viz.diagram import Diagram, Theme, build_digraph, html_text, to_dot
from chainrule.viz.gradflow import grad_flow
from chainrule.viz.trace import Edge, GradSource, Node, Trace, trace

__all__ = [
    "Diagram",
    "Edge",
    "Node",
    "RendererError",
    "Theme",
    "Trace",
    "animate_backward",
    "build_digraph",
    "draw",
    "find_renderer",
    "grad_flow",
    "html_text",
    "render",
    "render_source",
    "to_dot",
    "trace",
]

MAX_NODES = 150


def draw(
    root: Value,
    *,
    check: bool = False,
    grads: GradSource = "auto",
    collapse: Sequence[str] | None = None,
    max_nodes: int | None = MAX_NODES,
    theme: Theme | None = None,
    rankdir: str | None = None,
    show_constants: bool = True,
    block_tol: float = 1e-3,
) -> Diagram:
    """Draw the graph below ``root`` with the chain rule on every edge.

    Args:
        root: the output Value.
        check: put the finite-difference estimate and relative error beside
            every leaf's and parameter's gradient (red where they disagree).
        grads: "stored" (``.grad``), "computed" (d(root)/d(node)) or "auto"
            (stored once ``backward()`` ran); see :func:`viz.trace.trace`.
        collapse: module paths ("layers.0") each drawn as one summary node.
        max_nodes: above this many nodes, collapse module clusters (deepest
            first), then stack parallel nodes, until it fits; None: never.
        theme: colours, number format, font, direction.
        rankdir: layout direction, overriding the theme's ("LR", "TB", ...).
        show_constants: draw constant leaves.
        block_tol: |local derivative| at or below which a saturated tanh,
            sigmoid or softplus blocks (other edges block where it is exactly 0).

    Returns:
        A :class:`Diagram` (a ``graphviz.Digraph``): ``.source`` is the DOT
        text; Jupyter shows it inline, rendered with ``dot`` or graphviz-pure.
    """
    tr = trace(root, grads=grads, block_tol=block_tol, check=check)
    return build_digraph(
        tr, theme, collapse=collapse, max_nodes=max_nodes, show_constants=show_constants, rankdir=rankdir
    )


def render(root: Value, path: str | os.PathLike[str], **options: Any) -> Path:
    """Draw ``root`` and write the picture to ``path``, in the format its suffix names.

    Args:
        root: the output Value.
        path: .svg or .png (any renderer), .pdf (needs Graphviz's ``dot``), or
            .dot/.gv for the DOT text.
        **options: :func:`draw`'s options.

    Returns:
        The path written.

    Raises:
        ValueError: an unknown suffix. RendererError: the renderer can't make
            the format (the message says how to install Graphviz) or failed.
    """
    from chainrule.viz.backend import format_for, write

    target = Path(path)
    format_for(target)  # an unknown suffix fails before any drawing
    return write(draw(root, **options).source, target)
