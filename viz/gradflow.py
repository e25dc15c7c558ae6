"""Chart the gradient flow of a network with matplotlib: |grad| per layer, on the diagrams' log colour scale.

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
from chainrule.viz.theme import Theme

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
    theme: Theme | None = None,
) -> Figure:
    """Chart the mean and max |grad| of each layer (weights and biases), with the vanishing and exploding bands.

    One snapshot (a model after ``backward()``, or one dict) puts the layers
    along the x axis on a log scale: two lines, mean then max, so a slope shows
    gradients shrinking (vanishing) or growing (exploding) towards the input.
    A history draws a heat map, one row per layer (the input side on top) and
    one column per training step (epoch), each cell the layer's mean |grad| in
    the diagrams' colour (:meth:`Theme.grad_color`: the same value has the same
    colour in every picture), 0 in the theme's zero colour and inf/nan in its
    non-finite colour. In both, values below ``theme.vanishing`` or above
    ``theme.exploding`` are marked (a shaded band; hatched cells), and the
    legend and colour bar sit outside the axes. Zeros and non-finite values
    can't sit on a log axis: the line chart leaves them out and counts them in
    a note. A figure made here is at 110 dpi, its text at least 9 pt.

    Args:
        source: a model with ``named_parameters()`` (grouped as :func:`layer_grad_stats`),
            a ``History`` with ``.grad_stats``, one dict {layer: (mean |grad|, max |grad|)},
            or a list of such dicts (one per step).
        path: also write the figure here; the suffix picks the format (.png, .svg, .pdf).
        ax: draw into these matplotlib Axes (default: a new Figure of its own).
        title: the chart's title.
        theme: the colours and thresholds (default :class:`viz.Theme`).

    Returns:
        The matplotlib Figure (``ax``'s figure when given). For a snapshot ``ax.lines``
        holds the data (``get_ydata()`` are the statistics as given); for a history
        ``ax.images[0]`` is the heat map, whose ``grad_values`` attribute holds the
        means (rows: layers, columns: steps; nan where a layer is missing).
    """
    steps, snapshot = _read(source)
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"grad_flow(): path must be a str or path, got {type(path).__name__}")
        if not Path(path).suffix:
            raise ValueError(f"grad_flow(): path {str(path)!r} needs a suffix naming the format (.png, .svg, .pdf)")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"grad_flow(): title must be a str or None, got {type(title).__name__}")
    theme = Theme() if theme is None else theme
    if not isinstance(theme, Theme):
        raise TypeError(f"grad_flow(): theme must be a viz.Theme, got {type(theme).__name__}")

    # Lazy: importing viz must not need matplotlib; Figure directly, never pyplot's global figures.
    from matplotlib.axes import Axes as AxesType
    from matplotlib.figure import Figure as FigureType

    own = ax is None
    if ax is None:
        fig = FigureType(figsize=(7.5, 4.2), dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
    elif not isinstance(ax, AxesType):
        raise TypeError(f"grad_flow(): ax must be matplotlib Axes, got {type(ax).__name__}")
    parent: Any = ax.figure
    while not isinstance(parent, FigureType):  # a SubFigure's parent chain ends at the Figure
        parent = parent.figure
    fig = parent

    layers = list(dict.fromkeys(name for stats in steps for name in stats))
    if snapshot:
        _lines(ax, steps[0], layers, theme, own)
    else:
        _heat_map(fig, ax, steps, layers, theme)
    ax.set_title(title if title is not None else "Gradient flow: mean and max |grad| per layer" if snapshot
                 else "Gradient flow: mean |grad| per layer and step", fontsize=FONT + 2,
                 pad=6 if own or not snapshot else 3 * FONT + 14)  # above the legend
    ax.tick_params(labelsize=FONT)
    if path is not None:
        try:
            fig.savefig(path, dpi=max(DPI, fig.dpi))
        except ValueError as e:
            raise ValueError(f"grad_flow(): can't write {str(path)!r}: {e}") from None
    return fig


# A figure of its own is drawn at this resolution; every text at least FONT points.
DPI = 110
FONT = 9.5


def _bands(ax: Axes, theme: Theme) -> list[Any]:
    """Shade the vanishing band (below theme.vanishing) and the exploding one (above theme.exploding).

    The bands are added as artists, not data: they don't widen the autoscaled (or shared) y axis.
    """
    from matplotlib.patches import Rectangle
    from matplotlib.transforms import blended_transform_factory

    where = blended_transform_factory(ax.transAxes, ax.transData)
    bands = []
    for low, high, colour, text in (
        (1e-300, theme.vanishing, _VANISHING, f"vanishing < {theme.vanishing:.0e}"),
        (theme.exploding, 1e300, _EXPLODING, f"exploding > {theme.exploding:.0e}"),
    ):
        band = Rectangle((0.0, low), 1.0, high - low, transform=where, facecolor=colour, alpha=0.6, lw=0,
                         zorder=0, label=text)
        ax.add_artist(band)
        bands.append(band)
    return bands


_VANISHING, _EXPLODING = "#9ecae1", "#fcae91"


def _lines(ax: Axes, stats: Stats, layers: list[str], theme: Theme, own: bool) -> None:
    xs = list(range(len(layers)))
    ax.plot(xs, [stats[n][0] for n in layers], "o-", color="C0", label="mean |grad|")
    ax.plot(xs, [stats[n][1] for n in layers], "^--", color="C3", label="max |grad|")
    many = len(layers) > 6
    ax.set_xticks(xs, layers, rotation=30 if many else 0, ha="right" if many else "center")
    ax.set_xlabel("layer (input side → output side)", fontsize=FONT + 0.5)
    values = [x for pair in stats.values() for x in pair]
    finite = [x for x in values if x > 0.0 and math.isfinite(x)]
    if not finite:
        ax.set_ylim(1e-8, 1.0)  # nothing to autoscale on; keep the log axis valid (and quiet)
    elif max(finite) > 1e290 or min(finite) < 1e-290:  # autoscale's margins would overflow a float
        ax.set_ylim(max(min(finite) / 3, 1e-300), min(max(finite) * 3, 1e300))
    ax.set_yscale("log", nonpositive="mask")
    bands = _bands(ax, theme)
    ax.set_ylabel("|grad| (log scale)", fontsize=FONT + 0.5)
    ax.grid(True, which="major", alpha=0.3)
    handles = [*ax.lines[-2:], *bands]
    if own:  # outside, right of the axes
        ax.legend(handles=handles, fontsize=FONT, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:  # in someone's layout (small multiples side by side): outside, above the axes, under the title
        ax.legend(handles=handles, fontsize=FONT, loc="lower left", bbox_to_anchor=(0.0, 1.01), borderaxespad=0.0,
                  ncols=2, frameon=False, handlelength=1.5, columnspacing=0.8)
    zeros = sum(1 for x in values if x == 0.0)
    bad = sum(1 for x in values if not math.isfinite(x))
    notes = []
    if zeros:
        notes.append(f"{zeros} value(s) are 0 (no gradient), not drawn on the log scale")
    if bad:
        notes.append(f"{bad} value(s) are inf or nan (exploded), not drawn")
    if notes:
        ax.text(0.01, 0.01, "\n".join(notes), transform=ax.transAxes, fontsize=FONT, color="C3",
                va="bottom", ha="left")


def _rgb(colour: str) -> tuple[float, float, float]:
    return int(colour[1:3], 16) / 255, int(colour[3:5], 16) / 255, int(colour[5:7], 16) / 255


def _heat_map(fig: Figure, ax: Axes, steps: list[Stats], layers: list[str], theme: Theme) -> None:
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.patches import Patch, Rectangle

    values = np.array([[s[name][0] if name in s else math.nan for s in steps] for name in layers], dtype=float)
    missing = np.array([[name not in s for s in steps] for name in layers])
    blank = _rgb("#f0f0f0")
    image = np.empty((*values.shape, 3))
    for (i, j), g in np.ndenumerate(values):
        image[i, j] = blank if missing[i, j] else _rgb(theme.grad_color(float(g)))
    n_layers, n_steps = values.shape
    im = ax.imshow(image, aspect="auto", interpolation="nearest",
                   extent=(0.5, n_steps + 0.5, n_layers - 0.5, -0.5))
    im.grad_values = values  # type: ignore[attr-defined]
    ax.set_yticks(range(n_layers), layers)
    ax.set_ylabel("layer (input side on top)", fontsize=FONT + 0.5)
    ax.set_xlabel("step", fontsize=FONT + 0.5)
    if n_steps <= 30:
        ax.set_xticks(range(1, n_steps + 1))
    # Cells outside the band, hatched: vanishing (\\) and exploding (//); cell borders so that 0 (white) shows.
    marked: set[str] = set()
    label_cells = n_steps <= 8 and n_layers <= 12  # the values written in the cells, where they fit
    for (i, j), g in np.ndenumerate(values):
        if missing[i, j]:
            continue
        kind = theme.grad_kind(float(g))
        hatch = {"vanishing": "\\\\", "exploding": "////", "non-finite": "xx"}.get(kind or "")
        ax.add_patch(Rectangle((j + 0.5, i - 0.5), 1, 1, fill=False, lw=0.5, edgecolor="#ffffff" if not hatch
                               else "#404040", hatch=hatch))
        if kind:
            marked.add(kind)
        if label_cells:
            colour = theme.grad_color(float(g))
            ax.text(j + 1, i, "nan" if math.isnan(g) else f"{g:.2g}", ha="center", va="center", fontsize=FONT,
                    color=theme.text_on(colour), bbox={"facecolor": colour, "edgecolor": "none", "pad": 0.5}
                    if hatch else None)
        if g == 0.0:
            marked.add("zero")
    # The colour bar: the theme's scale (positive gradients), log10 |grad| from scale_min to scale_max.
    lo, hi = math.log10(theme.scale_min), math.log10(theme.scale_max)
    cmap = ListedColormap([theme.grad_color(10 ** (lo + (hi - lo) * k / 255)) for k in range(256)])
    mappable = ScalarMappable(norm=LogNorm(theme.scale_min, theme.scale_max), cmap=cmap)
    bar = fig.colorbar(mappable, ax=ax, location="right", fraction=0.05, pad=0.02)
    bar.set_label("mean |grad| (log scale)", fontsize=FONT + 0.5)
    bar.ax.tick_params(labelsize=FONT)
    bar.ax.axhspan(theme.scale_min, theme.vanishing, facecolor="none", edgecolor="#404040", hatch="\\\\", lw=0)
    bar.ax.axhspan(theme.exploding, theme.scale_max, facecolor="none", edgecolor="#404040", hatch="////", lw=0)
    for y in (theme.vanishing, theme.exploding):
        bar.ax.axhline(y, color="#000000", lw=1.2)
    handles = [Patch(facecolor="#ffffff", edgecolor="#404040", hatch="\\\\",
                     label=f"vanishing: < {theme.fmt(theme.vanishing)}"),
               Patch(facecolor="#ffffff", edgecolor="#404040", hatch="////",
                     label=f"exploding: > {theme.fmt(theme.exploding)}")]
    if "zero" in marked:
        handles.append(Patch(facecolor=theme.zero_color, edgecolor="#404040", label="0 (no gradient)"))
    if "non-finite" in marked:
        handles.append(Patch(facecolor=theme.nonfinite_color, edgecolor="#404040", hatch="xx", label="inf or nan"))
    if missing.any():
        handles.append(Patch(facecolor="#f0f0f0", edgecolor="#404040", label="no such layer at this step"))
    # Outside the axes, below them: never over the data.
    ax.legend(handles=handles, fontsize=FONT, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncols=min(len(handles), 3), frameon=False)
