"""Time viz (issue 4): tracing and DOT generation against graph size, and drawing the moons MLP's loss graph.

Run from the repository root::

    .venv/bin/python -m benchmarks.viz_timing

It prints, for tanh chains of growing length, the time to trace and to make
the DOT text per node (flat per-node times mean linear growth), then the time
to draw and render the full loss graph of micrograd's moons demo (MLP
2-16-16-1 on 100 points, hinge loss + 1e-4 L2), auto-collapsed, as SVG and PNG.
Each figure is the median of a few repeats, with the min and max beside it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from chainrule import autograd, nn, viz
from chainrule.autograd import Value


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


def _moons_loss() -> Value:
    X, y = nn.data.make_moons(100, noise=0.1, seed=1)
    model = nn.MLP(2, [16, 16, 1], seed=0)
    scores = [model(list(x)) for x in X]
    loss = nn.functional.hinge_loss(scores, list(2 * y - 1)) + 1e-4 * autograd.sum(p * p for p in model.parameters())
    loss.backward()
    return loss


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

    loss = _moons_loss()
    nodes = len(autograd.topological_order(loss))
    print(f"\nmoons MLP loss graph ({nodes} nodes), auto-collapsed: draw + render")
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in ("svg", "png"):
            for check in (False, True):
                path = Path(tmp) / f"moons.{suffix}"
                med, lo, hi = _times(partial(viz.render, loss, path, check=check), args.repeats)
                print(f"  {suffix} check={check!s:<5}  {med:.3f} s  (min {lo:.3f}, max {hi:.3f})")
    print(f"renderer: {viz.find_renderer()}")


if __name__ == "__main__":
    main()
