"""Time viz (issue 4): tracing and DOT generation against graph size, and drawing the moons MLP's loss graph.

Run from the repository root::

    .venv/bin/python -m benchmarks.viz_timing

It prints, for tanh chains of growing length, the time to trace and to make
the DOT text per node (flat per-node times mean linear growth), then the time
to draw (trace + DOT) and to render as SVG, in the network view and the scalar
view, the loss graph of micrograd's moons demo (MLP 2-16-16-1 on 100 points,
hinge loss + 1e-4 L2) and one point through MLP 2-64-64-1, with each renderer
installed (the system dot and graphviz-pure), and the picture's size.
Each figure is the median of a few repeats, with the min and max beside it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from chainrule import autograd, nn, viz
from chainrule.autograd import Value
from chainrule.viz import backend


def _times(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples), max(samples)


def _chain(steps: int) -> Value:
    x = Value(0.3, "x")
    y = x
    for _ in range(steps):
        y = y.tanh()
    y.backward()
    return y


def _moons_loss(points: int = 100) -> Value:
    X, y = nn.data.make_moons(points, noise=0.1, seed=1)
    model = nn.MLP(2, [16, 16, 1], seed=0)
    scores = [model(list(x)) for x in X]
    loss = nn.functional.hinge_loss(scores, list(2 * y - 1)) + 1e-4 * autograd.sum(p * p for p in model.parameters())
    loss.backward()
    return loss


def _one_sample_loss(sizes: list[int]) -> Value:
    model = nn.MLP(2, sizes, seed=0)
    loss = nn.functional.hinge_loss([model([0.5, -0.3])], [1.0])
    loss.backward()
    return loss


def _renderers() -> list[tuple[str, str]]:
    """The system dot, if installed, and graphviz-pure (the fallback)."""
    found = []
    dot = shutil.which("dot")
    if dot is not None:
        found.append(("dot", dot))
    fallback = Path(sys.executable).parent / backend.FALLBACK
    if fallback.exists():
        found.append((backend.FALLBACK, str(fallback)))
    return found


def _svg_size(svg: bytes) -> tuple[float, float]:
    """The picture's size in pixels at 96 dpi (Graphviz writes points)."""
    head = svg[:2000].decode("utf-8", "replace")
    width = float(re.search(r'width="([\d.]+)pt"', head).group(1))  # type: ignore[union-attr]
    height = float(re.search(r'height="([\d.]+)pt"', head).group(1))  # type: ignore[union-attr]
    return width * 96 / 72, height * 96 / 72


def main(argv: list[str] | None = None) -> None:
    """Print the timing table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.viz_timing", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000,100000", help="chain lengths, comma-separated")
    args = parser.parse_args(argv)

    print("tanh chain: per-node time to trace and to make DOT (flat = linear growth)")
    print(f"{'nodes':>8}  {'trace/node':>12}  {'DOT/node':>12}  (median; min-max)")
    for steps in (int(s) for s in args.sizes.split(",")):
        root = _chain(steps)
        n = steps + 1
        t_med, t_min, t_max = _times(partial(viz.trace, root), args.repeats)
        tr = viz.trace(root)
        d_med, d_min, d_max = _times(partial(viz.to_dot, tr), args.repeats)
        print(f"{n:>8}  {t_med / n * 1e6:>9.2f} us  {d_med / n * 1e6:>9.2f} us  "
              f"(trace {t_min / n * 1e6:.2f}-{t_max / n * 1e6:.2f}, dot {d_min / n * 1e6:.2f}-{d_max / n * 1e6:.2f})")

    print("\nnetwork view of the moons net on n points: per-node time to draw (trace + find the neurons + DOT)")
    for points in (10, 100, 1000):
        root = _moons_loss(points)
        n = len(autograd.topological_order(root))
        med, lo, hi = _times(partial(viz.draw, root, view="network"), args.repeats)
        per = [t / n * 1e6 for t in (med, lo, hi)]
        print(f"{points:>5} points {n:>8} nodes  {per[0]:>7.2f} us/node  ({per[1]:.2f}-{per[2]:.2f})")

    print("\ndraw + render SVG, both views (median of the repeats; min-max)")
    print(f"{'graph':<46} {'view':<8} {'renderer':<14} {'draw':>8} {'render':>8}  {'size px':>11}")
    renderers = [backend.Renderer(name, path) for name, path in _renderers()]
    for name, make in (("moons loss: 100 points, MLP 2-16-16-1, + L2", _moons_loss),
                       ("one point through MLP 2-64-64-1, hinge", partial(_one_sample_loss, [64, 64, 1]))):
        root = make()
        nodes = len(autograd.topological_order(root))
        for view in ("network", "scalar"):
            d_med, d_lo, d_hi = _times(partial(viz.draw, root, view=view), args.repeats)
            source = viz.draw(root, view=view).source
            for renderer in renderers:
                r_med, r_lo, r_hi = _times(partial(backend.render_source, source, "svg", renderer=renderer),
                                           args.repeats)
                width, height = _svg_size(backend.render_source(source, "svg", renderer=renderer))
                print(f"{name + f' ({nodes} nodes)':<46} {view:<8} {renderer.name:<14} {d_med:>7.3f}s {r_med:>7.3f}s  "
                      f"{width:>5.0f}x{height:<5.0f} (draw {d_lo:.3f}-{d_hi:.3f}, render {r_lo:.3f}-{r_hi:.3f})")
    print("(the scalar view of these graphs is auto-collapsed to max_nodes=150 summary boxes)")
    print(f"renderer: {viz.find_renderer()}")


if __name__ == "__main__":
    main()
