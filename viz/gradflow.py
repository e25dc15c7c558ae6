"""Chart the gradient flow of a network with matplotlib: mean and max |grad| per layer, on a log scale.

A vanishing gradient shows as early layers orders of magnitude below late
ones; an exploding one as the reverse, or as values that grow across training
steps. :func:`grad_flow` reads a model (one snapshot, after ``backward()``), the
``History`` that ``nn.fit(..., track_grads=True)`` returns, or plain
{layer: (mean |grad|, max |grad|)} dicts (what ``nn.grad_stats`` gives). It
duck-types all of them, so viz imports neither nn nor matplotlib until called,
and it never touches pyplot's global state.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainrule.viz import numeric

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["grad_flow", "layer_grad_stats"]

Stats = dict[str, tuple[float, float]]


def _layer_of(name: str, children: set[str], fallback: str) -> str:
    """The layer a parameter belongs to: the longest child-module path that prefixes its name, else by the name."""
    parts = name.split(".")
    if children:
        for k in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:k])
            if prefix in children:
                return prefix
        return fallback
    if ".neurons." in name:
        return name.split(".neurons.", 1)[0]
    return ".".join(parts[:2]) if len(parts) > 2 else fallback


def layer_grad_stats(model: Any) -> Stats:
    """Return {layer name: (mean |grad|, max |grad|)} over each layer's parameters, biases included.

    Layers are the model's direct children when it has ``named_children()``
    (``layers.0``, ``layers.1``, ... for an ``nn.MLP``: the same groups as
    ``nn.grad_stats``); otherwise the part of each parameter name before
    ``.neurons.``, or its first two dotted parts. Parameters outside every layer
    are grouped under the model's class name.

    Args:
        model: anything with ``named_parameters()`` yielding (name, Value).

    Returns:
        The statistics, in the order the layers first appear.
    """
    named = getattr(model, "named_parameters", None)
    if not callable(named):
        raise TypeError(f"grad_flow(): a model needs named_parameters(), got {type(model).__name__}")
    named_children = getattr(model, "named_children", None)
    children = {name for name, _ in named_children()} if callable(named_children) else set()
    fallback = type(model).__name__
    groups: dict[str, list[float]] = {}
    for name, p in named():
        g = getattr(p, "grad", None)
        if isinstance(g, bool) or not isinstance(g, (int, float)):
            raise TypeError(f"grad_flow(): parameter {name!r} has no numeric .grad (got {type(p).__name__})")
        groups.setdefault(_layer_of(str(name), children, fallback), []).append(abs(float(g)))
    if not groups:
        raise ValueError(f"grad_flow(): the model ({fallback}) has no parameters")
    return {name: (numeric.mean(g), numeric.largest(g)) for name, g in groups.items()}


def _check_stats(entry: object, where: str) -> Stats:
    if not isinstance(entry, Mapping):
        raise TypeError(f"grad_flow(): {where} must be a dict {{layer name: (mean |grad|, max |grad|)}}, "
                        f"got {type(entry).__name__}")
    out: Stats = {}
    for name, pair in entry.items():
        if not isinstance(name, str):
            raise TypeError(f"grad_flow(): {where} has a layer name that is not a str: {name!r}")
        if (not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in pair)):
            raise TypeError(f"grad_flow(): {where}[{name!r}] must be a pair (mean |grad|, max |grad|), "
                            f"got {pair!r:.60}")
        out[name] = (float(pair[0]), float(pair[1]))
    return out


def _read(source: object) -> tuple[list[Stats], bool]:
    """Return (statistics per step, whether the source is one snapshot rather than a history)."""
    if callable(getattr(source, "named_parameters", None)):
        stats = layer_grad_stats(source)
        if all(mean == 0.0 for mean, _ in stats.values()):
            raise ValueError("grad_flow(): every gradient of the model is 0; call loss.backward() first "
                             "(or pass the History of nn.fit(..., track_grads=True))")
        return [stats], True
    if isinstance(source, Mapping):
        return [_check_stats(source, "the statistics")], True
    if hasattr(source, "grad_stats") and not isinstance(source, (list, tuple)):
        history = source.grad_stats
        if not isinstance(history, (list, tuple)):
            raise TypeError(f"grad_flow(): {type(source).__name__}.grad_stats must be a list of dicts")
        if not history:
            raise ValueError("grad_flow(): the history has no gradient statistics; "
                             "train with nn.fit(..., track_grads=True)")
        return [_check_stats(e, f"grad_stats[{i}]") for i, e in enumerate(history)], False
    if isinstance(source, (list, tuple)):
        if not source:
            raise ValueError("grad_flow(): the list of statistics is empty")
        return [_check_stats(e, f"source[{i}]") for i, e in enumerate(source)], False
    raise TypeError("grad_flow(): source must be a model (with named_parameters()), a History from "
                    "nn.fit(..., track_grads=True), a dict {layer: (mean, max)} or a list of such dicts; "
                    f"got {type(source).__name__}")


def grad_flow(
    source: Any,
    *,
    path: str | os.PathLike[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Draw the mean and max |grad| of each layer (weights and biases) on a log scale.

    One snapshot (a model after ``backward()``, or one dict) puts the layers
    along the x axis: two lines, mean then max, so a slope shows gradients
    shrinking (vanishing) or growing (exploding) towards the input. A history
    puts the training step (epoch) along the x axis: per layer, in order, a solid
    line of the mean and a dashed one of the max, coloured from the first layer
    (dark) to the last (light). Zeros (dead layers) and non-finite values can't
    sit on a log scale: they are left out of the drawing and counted in a note.

    Args:
        source: a model with ``named_parameters()`` (grouped as :func:`layer_grad_stats`),
            a ``History`` with ``.grad_stats``, one dict {layer: (mean |grad|, max |grad|)},
            or a list of such dicts (one per step).
        path: also write the figure here; the suffix picks the format (.png, .svg, .pdf).
        ax: draw into these matplotlib Axes (default: a new Figure of its own).
        title: the chart's title.

    Returns:
        The matplotlib Figure (``ax``'s figure when given). ``ax.lines`` holds the data:
        ``get_ydata()`` are the statistics as given.
    """
    steps, snapshot = _read(source)
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"grad_flow(): path must be a str or path, got {type(path).__name__}")
        if not Path(path).suffix:
            raise ValueError(f"grad_flow(): path {str(path)!r} needs a suffix naming the format (.png, .svg, .pdf)")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"grad_flow(): title must be a str or None, got {type(title).__name__}")

    # Lazy: importing viz must not need matplotlib; Figure directly, never pyplot's global figures.
    from matplotlib.axes import Axes as AxesType
    from matplotlib.figure import Figure as FigureType

    if ax is None:
        fig = FigureType(figsize=(7.5, 4.2), layout="constrained")
        ax = fig.add_subplot()
    elif not isinstance(ax, AxesType):
        raise TypeError(f"grad_flow(): ax must be matplotlib Axes, got {type(ax).__name__}")
    parent: Any = ax.figure
    while not isinstance(parent, FigureType):  # a SubFigure's parent chain ends at the Figure
        parent = parent.figure
    fig = parent

    layers = list(dict.fromkeys(name for stats in steps for name in stats))
    nan = math.nan
    if snapshot:
        stats = steps[0]
        xs = list(range(len(layers)))
        ax.plot(xs, [stats[n][0] for n in layers], "o-", color="C0", label="mean |grad|")
        ax.plot(xs, [stats[n][1] for n in layers], "^--", color="C3", label="max |grad|")
        ax.set_xticks(xs, layers, rotation=30 if len(layers) > 6 else 0, ha="right" if len(layers) > 6 else "center")
        ax.set_xlabel("layer (input side → output side)")
    else:
        from matplotlib import colormaps

        cmap = colormaps["viridis"]
        xs = list(range(1, len(steps) + 1))
        for k, name in enumerate(layers):
            colour = cmap(0.85 * k / max(1, len(layers) - 1))
            means = [s[name][0] if name in s else nan for s in steps]
            maxes = [s[name][1] if name in s else nan for s in steps]
            marker = "o" if len(steps) <= 30 else None
            ax.plot(xs, means, "-", marker=marker, markersize=3, color=colour, label=name)
            ax.plot(xs, maxes, "--", color=colour, alpha=0.6, linewidth=1)
        ax.set_xlabel("epoch")
        ax.legend(title="layer (solid: mean, dashed: max)", fontsize="small", title_fontsize="small",
                  loc="best", ncols=1 if len(layers) <= 8 else 2)
    if snapshot:
        ax.legend(fontsize="small")
    values = [x for stats in steps for pair in stats.values() for x in pair]
    if not any(x > 0.0 and math.isfinite(x) for x in values):
        ax.set_ylim(1e-8, 1.0)  # nothing to autoscale on; keep the log axis valid (and quiet)
    ax.set_yscale("log", nonpositive="mask")
    ax.set_ylabel("|grad| (log scale)")
    ax.set_title(title if title is not None else "Gradient flow: mean and max |grad| per layer")
    ax.grid(True, which="major", alpha=0.3)

    zeros = sum(1 for x in values if x == 0.0)
    bad = sum(1 for x in values if not math.isfinite(x))
    notes = []
    if zeros:
        notes.append(f"{zeros} value(s) are 0 (no gradient), not drawn on the log scale")
    if bad:
        notes.append(f"{bad} value(s) are inf or nan (exploded), not drawn")
    if notes:
        ax.text(0.01, 0.01, "\n".join(notes), transform=ax.transAxes, fontsize="small", color="C3",
                va="bottom", ha="left")
    if path is not None:
        try:
            fig.savefig(path)
        except ValueError as e:
            raise ValueError(f"grad_flow(): can't write {str(path)!r}: {e}") from None
    return fig
