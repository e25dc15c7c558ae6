"""Tests for viz.gradflow: the plotted lines are the per-layer gradient statistics (by hand and as nn computes
them), a deep sigmoid MLP shows vanishing gradients, files are written, bad input gets clear errors."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from chainrule import nn
from chainrule.autograd import Value
from chainrule.viz import Theme
from chainrule.viz.gradflow import grad_flow, layer_grad_stats


def ys(line: Any) -> list[float]:
    """A plotted line's y data as plain floats."""
    return [float(y) for y in line.get_ydata()]


def xs(line: Any) -> list[float]:
    return [float(x) for x in line.get_xdata()]


def mlp_after_backward(nouts: list[int], activation: str = "tanh", *, seed: int = 0) -> nn.MLP:
    model = nn.MLP(3, nouts, activation=activation, seed=seed)
    X = np.random.default_rng(seed).normal(size=(8, 3))
    outs = [model(list(x)) for x in X]
    outs = [o[0] if isinstance(o, list) else o for o in outs]
    nn.functional.mse_loss(outs, [1.0] * len(outs)).backward()
    return model


def test_snapshot_lines_are_mean_and_max_per_layer_by_hand() -> None:
    model = nn.MLP(2, [2, 1], seed=0)
    names = [n for n, _ in model.named_parameters()]
    # layers.0: two neurons x (2 weights + bias) = 6 parameters; layers.1: 2 weights + bias.
    grads = [1.0, -2.0, 0.5, -4.0, 0.25, 0.25, 3.0, -0.5, 0.0]
    for (_, p), g in zip(model.named_parameters(), grads):
        p.grad = g
    assert names[:3] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1", "layers.0.neurons.0.b"]
    fig = grad_flow(model)
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    assert ys(ax.lines[0]) == [8.0 / 6, 3.5 / 3]  # mean |grad|: (1+2+.5+4+.25+.25)/6, (3+.5+0)/3
    assert ys(ax.lines[1]) == [4.0, 3.0]  # max |grad|, biases included
    assert [t.get_text() for t in ax.get_xticklabels()] == ["layers.0", "layers.1"]
    assert ax.get_yscale() == "log"
    assert layer_grad_stats(model) == nn.grad_stats(model)


def test_snapshot_matches_nn_grad_stats() -> None:
    model = mlp_after_backward([5, 4, 1])
    expected = nn.grad_stats(model)
    ax = grad_flow(model, title="three layers").axes[0]
    assert ys(ax.lines[0]) == [v[0] for v in expected.values()]
    assert ys(ax.lines[1]) == [v[1] for v in expected.values()]
    assert ax.get_title() == "three layers"
    # The same drawing from the dict nn.grad_stats returns.
    ax2 = grad_flow(expected).axes[0]
    assert [ys(line) for line in ax2.lines] == [ys(line) for line in ax.lines]


def test_deep_sigmoid_mlp_shows_vanishing_gradients() -> None:
    model = mlp_after_backward([6] * 6 + [1], "sigmoid", seed=1)
    means = ys(grad_flow(model).axes[0].lines[0])
    assert len(means) == 7
    # sigmoid' <= 1/4: each layer back towards the input shrinks the gradient.
    assert all(a < b for a, b in itertools.pairwise(means)), means
    assert means[0] < means[-1] / 1000


def hex_at(image: Any, row: int, column: int) -> str:
    r, g, b = (round(float(c) * 255) for c in image.get_array()[row, column][:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def test_history_is_a_heat_map_in_the_diagrams_colours() -> None:
    X, y = nn.data.make_moons(24, noise=0.1, seed=0)
    model = nn.MLP(2, [4, 4, 1], activation="tanh", seed=0)
    history = nn.fit(model, X, y, loss=nn.functional.mse_loss, optimizer=nn.optim.SGD(model.parameters(), lr=0.1),
                     epochs=4, track_grads=True, progress=False, seed=0)
    assert len(history.grad_stats) == 4
    ax = grad_flow(history).axes[0]
    layers = ["layers.0", "layers.1", "layers.2"]
    image = ax.images[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == layers
    theme = Theme()
    for i, name in enumerate(layers):
        for j, epoch in enumerate(history.grad_stats):
            assert image.grad_values[i, j] == epoch[name][0]
            assert hex_at(image, i, j) == theme.grad_color(epoch[name][0])  # the diagrams' colour for this value
    # The last epoch's means are those of the model's gradients as fit left them.
    assert [image.grad_values[i, -1] for i in range(3)] == [v[0] for v in nn.grad_stats(model).values()]
    # A plain list of dicts draws the same.
    again = grad_flow(list(history.grad_stats)).axes[0].images[0]
    assert (again.get_array() == image.get_array()).all()


def test_heat_map_colours_zero_non_finite_and_missing_and_marks_the_bands() -> None:
    theme = Theme()
    steps = [{"a": (0.5, 1.0), "b": (0.0, 0.0)}, {"a": (math.inf, math.inf), "b": (math.nan, math.nan)},
             {"a": (1e-6, 1e-5), "b": (5e3, 1e4)}, {"a": (2.0, 3.0)}]
    fig = grad_flow(steps)
    ax = fig.axes[0]
    image = ax.images[0]
    assert hex_at(image, 0, 0) == theme.grad_color(0.5)
    assert hex_at(image, 1, 0) == theme.zero_color
    assert hex_at(image, 0, 1) == hex_at(image, 1, 1) == theme.nonfinite_color
    assert hex_at(image, 0, 2) == theme.grad_color(1e-6)
    assert hex_at(image, 1, 3) == "#f0f0f0"  # "b" is missing at step 4: neither 0 nor a colour of the scale
    hatched = {patch.get_hatch() for patch in ax.patches if patch.get_hatch()}
    assert len(hatched) == 3  # vanishing, exploding, non-finite cells each marked
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["vanishing: < 0.0001", "exploding: > 1000"] and "inf or nan" in labels
    assert "0 (no gradient)" in labels and "no such layer at this step" in labels
    # the legend is outside the axes (below them), the colour bar its own axes on the right
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    axes_box = ax.get_window_extent()
    assert legend_box.y1 <= axes_box.y0
    assert len(fig.axes) == 2 and fig.axes[1].get_window_extent().x0 >= axes_box.x1


def test_snapshot_marks_the_bands_with_the_legend_outside() -> None:
    theme = Theme(vanishing=1e-3, exploding=1e2)
    fig = grad_flow({"a": (1e-5, 1e-4), "b": (1.0, 500.0)}, theme=theme)
    ax = fig.axes[0]
    low, high = ax.patches  # the bands: drawn, but not data (they don't stretch a shared y axis)
    assert low.get_y() + low.get_height() == pytest.approx(1e-3) and high.get_y() == 1e2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["mean |grad|", "max |grad|",
                                                                    "vanishing < 1e-03", "exploding > 1e+02"]
    fig.canvas.draw()
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1  # outside, right of the axes
    bottom, top = ax.get_ylim()
    assert bottom < 1e-5 and 500 < top < 1e5  # the data's range, not the bands'
    # In a given axes (small multiples), the legend goes above the axes, under the title.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3))
    axes = fig.subplots(1, 3, sharey=True)
    for k, a in enumerate(axes):
        grad_flow({"a": (10.0**-k, 10.0**-k), "b": (1.0, 1.0)}, ax=a, title=f"{k}")
    fig.canvas.draw()
    for a in axes:
        legend, box = a.get_legend().get_window_extent(), a.get_window_extent()
        assert legend.y0 >= box.y1 - 1 and a.title.get_window_extent().y0 >= legend.y1 - 1
    assert axes[0].get_ylim()[0] < 1e-2  # shared: every chart's data in view


@pytest.mark.parametrize("history", [False, True])
def test_own_figures_are_110_dpi_with_text_of_9_points(tmp_path: Path, history: bool) -> None:
    source: Any = [{"a": (0.5, 1.0), "b": (2.0, 3.0)}] * 3 if history else {"a": (0.5, 1.0), "b": (0.0, math.inf)}
    fig = grad_flow(source, path=tmp_path / "flow.png")
    from matplotlib.text import Text

    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
    assert sizes and min(sizes) >= 9
    data = (tmp_path / "flow.png").read_bytes()
    at = data.find(b"pHYs")  # pixels per metre
    assert at > 0
    per_metre = int.from_bytes(data[at + 4 : at + 8], "big")
    assert per_metre * 0.0254 >= 109.5


def test_non_finite_values_never_crash() -> None:
    for source in ({"a": (math.nan, math.inf)}, [{"a": (math.nan, math.nan)}, {"a": (-math.inf, math.inf)}],
                   [{"a": (0.0, 0.0)}], {"a": (1e308, math.inf), "b": (5e-324, 5e-324)}):
        fig = grad_flow(source)
        fig.canvas.draw()


def test_zeros_and_non_finite_values_are_kept_and_noted() -> None:
    ax = grad_flow({"a": (0.0, 0.0), "b": (1e-3, math.inf)}).axes[0]
    assert ys(ax.lines[0]) == [0.0, 1e-3]
    assert ys(ax.lines[1]) == [0.0, math.inf]
    note = " ".join(t.get_text() for t in ax.texts)
    assert "2 value(s) are 0" in note and "1 value(s) are inf or nan" in note
    assert len(grad_flow({"a": (1.0, 1.0)}).axes[0].texts) == 0
    # Nothing drawable: still a valid log axis, and no warning from matplotlib.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert grad_flow({"a": (0.0, 0.0)}).axes[0].get_ylim() == pytest.approx((1e-8, 1.0))


def test_writes_png_and_svg(tmp_path: Path) -> None:
    model = mlp_after_backward([4, 1])
    grad_flow(model, path=tmp_path / "flow.png")
    assert (tmp_path / "flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grad_flow(model, path=str(tmp_path / "flow.svg"))
    assert "<svg" in (tmp_path / "flow.svg").read_text(encoding="utf-8")[:2000]


def test_draws_into_given_axes_including_a_subfigure() -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    left, right = np.asarray(fig.subfigures(1, 2)).ravel()
    ax = right.add_subplot()
    assert grad_flow({"a": (1.0, 2.0)}, ax=ax) is fig
    assert len(ax.lines) == 2 and left.axes == []
    assert len(grad_flow([{"a": (1.0, 2.0)}] * 2, ax=right.add_subplot()).axes) == 3  # + the colour bar


def test_duck_typed_model_groups_by_name() -> None:
    class Params:
        def named_parameters(self) -> list[tuple[str, Value]]:
            out = []
            for name, g in [("enc.0.w", 1.0), ("enc.0.b", -3.0), ("dec.neurons.0.w.0", 2.0), ("dec.neurons.1.b", 4.0),
                            ("scale", 0.5)]:
                v = Value(0.0)
                v.grad = g
                out.append((name, v))
            return out

    assert layer_grad_stats(Params()) == {"enc.0": (2.0, 3.0), "dec": (3.0, 4.0), "Params": (0.5, 0.5)}
    assert ys(grad_flow(Params()).axes[0].lines[0]) == [2.0, 3.0, 0.5]


@pytest.mark.parametrize(
    ("source", "kwargs", "error", "match"),
    [
        (object(), {}, TypeError, "source must be a model"),
        ([], {}, ValueError, "empty"),
        ([{"a": (1.0, 2.0)}, 3], {}, TypeError, r"source\[1\] must be a dict"),
        ({"a": (1.0,)}, {}, TypeError, "must be a pair"),
        ({"a": ("1", 2.0)}, {}, TypeError, "must be a pair"),
        ({1: (1.0, 2.0)}, {}, TypeError, "not a str"),
        (nn.History(), {}, ValueError, "track_grads=True"),
        ({"a": (1.0, 2.0)}, {"path": "flow"}, ValueError, "suffix"),
        ({"a": (1.0, 2.0)}, {"path": "flow.nosuchformat"}, ValueError, "can't write"),
        ({"a": (1.0, 2.0)}, {"ax": "axes"}, TypeError, "ax must be matplotlib Axes"),
        ({"a": (1.0, 2.0)}, {"title": 1}, TypeError, "title"),
    ],
)
def test_bad_input_says_what_was_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Any, kwargs: dict, error: type, match: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=match):
        grad_flow(source, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_model_before_backward_is_refused() -> None:
    with pytest.raises(ValueError, match=r"backward\(\) first"):
        grad_flow(nn.MLP(2, [3, 1], seed=0))


def test_imports_matplotlib_lazily_and_never_pyplot() -> None:
    code = (
        "import sys, viz.gradflow as g\n"
        "assert 'matplotlib' not in sys.modules\n"
        "g.grad_flow({'a': (1.0, 2.0)})\n"
        "assert 'matplotlib.figure' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
