"""The workloads: their data, their sizes, how one sample is measured, and the issues' targets.

Everything here that touches an engine runs inside a child process (see
:mod:`benchmarks.child`); the parent only reads the definitions.
"""

from __future__ import annotations

import functools
import gc
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from benchmarks.engines import BASELINE
from benchmarks.engines.base import Graph, mlp_shapes
from benchmarks.measure import GcTimer, rss_bytes

Sample = dict[str, Any]

MOONS_LAYERS = [16, 16, 1]
WIDE_LAYERS = [256, 256, 1]
COMPILE_WIDTHS = (16, 64, 128, 256)

# A step sample is the mean over at least this much time of steps (and at least --steps of them), so
# sub-millisecond steps are not timed one or two at a time.
MIN_SAMPLE_SECONDS = 0.25


# ----------------------------------------------------------------------------
# Data (seeded; identical in every child for the same seed)
# ----------------------------------------------------------------------------


def random_leaves(n: int, seed: int) -> tuple[list[float], list[float]]:
    """Return two lists of n uniform(-1, 1) floats."""
    rng = random.Random(seed)
    return [rng.uniform(-1.0, 1.0) for _ in range(n)], [rng.uniform(-1.0, 1.0) for _ in range(n)]


def make_moons(n: int, *, noise: float, seed: int) -> tuple[list[list[float]], list[float]]:
    """Two interleaving half circles, as scikit-learn's make_moons draws them, with labels -1/+1.

    Args:
        n: number of points (the first n // 2 on the outer moon, label -1).
        noise: standard deviation of the Gaussian noise added to each coordinate.
        seed: seed of the generator.

    Returns:
        (points, labels).
    """
    rng = random.Random(seed)
    n_out = n // 2
    n_in = n - n_out
    points: list[list[float]] = []
    labels: list[float] = []
    for i in range(n_out):
        t = math.pi * i / max(n_out - 1, 1)
        points.append([math.cos(t), math.sin(t)])
        labels.append(-1.0)
    for i in range(n_in):
        t = math.pi * i / max(n_in - 1, 1)
        points.append([1.0 - math.cos(t), 1.0 - math.sin(t) - 0.5])
        labels.append(1.0)
    for p in points:
        p[0] += rng.gauss(0.0, noise)
        p[1] += rng.gauss(0.0, noise)
    return points, labels


def micrograd_init(nin: int, nouts: list[int], *, seed: int) -> list[float]:
    """Initial MLP parameters drawn as micrograd draws them: weights uniform(-1, 1), biases 0.

    Returns:
        The parameters in micrograd's order: layer by layer, neuron by neuron,
        the neuron's weights then its bias.
    """
    rng = random.Random(seed)
    params: list[float] = []
    for fan_in, fan_out in mlp_shapes(nin, nouts):
        for _ in range(fan_out):
            params.extend(rng.uniform(-1.0, 1.0) for _ in range(fan_in))
            params.append(0.0)
    return params


def balanced_sum_nodes(size: int) -> int:
    """Nodes of the balanced sum of ``size`` products: 2n leaves, n products, n - 1 additions."""
    return 4 * size - 1


def tanh_chain_nodes(size: int) -> int:
    """Nodes of a ``size``-step tanh chain: the leaf and one node per step."""
    return size + 1


def moons_lr(step: int) -> float:
    """micrograd's demo schedule: lr = 1.0 - 0.9 * step / 100, held at 0.1 after its 100 steps."""
    return 1.0 - 0.9 * min(step, 100) / 100


# ----------------------------------------------------------------------------
# Measuring one sample (inside a child)
# ----------------------------------------------------------------------------


def _measure_graph(build: Callable[[], Graph], nodes: int) -> Sample:
    """Time the forward (building) and backward of one graph, and the RSS it added."""
    gc.collect()
    rss_before = rss_bytes()
    with GcTimer() as timer:
        start = time.perf_counter()
        graph = build()
        built = time.perf_counter()
        graph.backward()
        done = time.perf_counter()
    rss_after = rss_bytes()
    summary = graph.summary()
    return {
        "status": "ok",
        "seconds": done - start,
        "forward_s": built - start,
        "backward_s": done - built,
        "gc_s": timer.seconds,
        "gc_collections": timer.collections,
        "rss_growth": rss_after - rss_before,
        "nodes": nodes,
        "per_node_s": (done - start) / nodes,
        "bytes_per_node": (rss_after - rss_before) / nodes,
        "check": summary,
    }


def _longest_working_chain(engine: ModuleType, limit: int) -> int:
    """Bisect the longest tanh chain (<= limit) whose backward does not raise RecursionError."""

    def works(n: int) -> bool:
        try:
            engine.tanh_chain(0.5, n).backward()
        except RecursionError:
            return False
        return True

    lo, hi = 0, 64
    while hi < limit and works(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, limit)
    if works(hi):
        return hi
    while hi - lo > 1:  # invariant: works(lo), not works(hi)
        mid = (lo + hi) // 2
        if works(mid):
            lo = mid
        else:
            hi = mid
    return lo


def measure_balanced_sum(engine: ModuleType, size: int, seed: int, options: dict[str, int]) -> Sample:
    """One sample of the balanced sum of ``size`` products."""
    a, b = random_leaves(size, seed)
    return _measure_graph(lambda: engine.balanced_sum(a, b), nodes=balanced_sum_nodes(size))


def measure_tanh_chain(engine: ModuleType, size: int, seed: int, options: dict[str, int]) -> Sample:
    """One sample of a ``size``-step tanh chain; a RecursionError is a reported failure."""
    try:
        return _measure_graph(lambda: engine.tanh_chain(0.5, size), nodes=tanh_chain_nodes(size))
    except RecursionError as error:
        works = _longest_working_chain(engine, size)
        return {
            "status": "failed",
            "error": f"RecursionError ({error}) at {size:,} steps; the longest chain whose backward works "
            f"is {works:,} steps (recursion limit {sys.getrecursionlimit()})",
            "short": f"RecursionError; works up to {works:,} steps",
        }


def measure_moons(engine: ModuleType, size: int, seed: int, options: dict[str, int],
                  layers: Sequence[int] | None = None) -> Sample:
    """One sample of the moons training step: per-step time, and the first step's gradients.

    With ``layers`` the MLP is 2-layers[0]-...-1 (the adapter's ``moons_mlp``);
    without, micrograd's 2-16-16-1 (its ``moons``). After the untimed warm-up
    steps, steps run until there are at least ``steps`` of them and at least
    ``MIN_SAMPLE_SECONDS`` of them; the sample is their mean.
    """
    inputs, labels = make_moons(size, noise=0.1, seed=seed)
    if layers is None:
        params = micrograd_init(2, MOONS_LAYERS, seed=seed)
        trainer = engine.moons(params, inputs, labels)
    else:
        params = micrograd_init(2, list(layers), seed=seed)
        # micrograd's uniform(-1, 1) weights would saturate a wide layer: scale them by 1/sqrt(fan_in) instead
        params = _scaled_init(params, list(layers))
        trainer = engine.moons_mlp(params, inputs, labels, list(layers))
    warmup = options.get("warmup", 1)
    steps = options.get("steps", 2)
    times: list[float] = []
    gc_times: list[float] = []
    grads: list[float] = []
    first_loss = last_loss = math.nan
    k = 0
    while k < warmup + steps or sum(times) < MIN_SAMPLE_SECONDS:
        with GcTimer() as timer:
            start = time.perf_counter()
            loss = trainer.step(moons_lr(k))
            done = time.perf_counter()
        if k == 0:
            grads = trainer.grads()
            first_loss = loss
        if k >= warmup:
            times.append(done - start)
            gc_times.append(timer.seconds)
        last_loss = loss
        k += 1
    return {
        "status": "ok",
        "seconds": sum(times) / len(times),
        "gc_s": sum(gc_times) / len(gc_times),
        "steps": len(times),
        "warmup": warmup,
        "first_loss": first_loss,
        "last_loss": last_loss,
        "grads": grads,
    }


def _scaled_init(params: list[float], layers: list[int]) -> list[float]:
    """micrograd_init's parameters with each weight divided by sqrt(fan_in) (LeCun's scale)."""
    out: list[float] = []
    offset = 0
    for fan_in, fan_out in mlp_shapes(2, layers):
        scale = 1.0 / math.sqrt(fan_in)
        for _ in range(fan_out):
            out.extend(w * scale for w in params[offset : offset + fan_in])
            out.append(params[offset + fan_in])
            offset += fan_in + 1
    return out


def measure_compile(engine: ModuleType, size: int, seed: int, options: dict[str, int]) -> Sample:
    """One sample of compile time: the moons loss of an MLP 2-w-w-1 for each width in ``COMPILE_WIDTHS``.

    Compile time is the first step's time less the second's (tracing, grouping
    and the safety-net probe); it is divided by the traced graph's nodes plus
    edges, which a linear compiler keeps flat across widths.
    """
    inputs, labels = make_moons(size, noise=0.1, seed=seed)
    widths: dict[str, dict[str, float]] = {}
    total = 0.0
    for width in COMPILE_WIDTHS:
        layers = [width, width, 1]
        params = _scaled_init(micrograd_init(2, layers, seed=seed), layers)
        figures = engine.compile_mlp(params, inputs, labels, layers)
        widths[str(width)] = figures
        total += figures["seconds"]
    return {"status": "ok", "seconds": total, "gc_s": 0.0, "widths": widths}


# ----------------------------------------------------------------------------
# Definitions
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """A workload as the parent schedules it.

    Attributes:
        name: command-line name.
        adapter: the engine adapter function it calls (its absence means n/a).
        title: one line for the table heading ({n} is replaced by the size).
        unit: "node" (time and bytes per graph node) or "step" (time per training step).
        nodes: the number of graph nodes for a size (node workloads only).
        size: the default size; ``quick_size`` in --quick mode.
        measure: the child-side measurement.
        skip: engines not run by default, with the reason shown in the table.
        reference: the engine ratios are taken against.
        issue: the issue that asked for it.
    """

    name: str
    adapter: str
    title: str
    unit: str
    size: int
    quick_size: int
    measure: Callable[..., Sample]
    nodes: Callable[[int], int] | None = None
    skip: dict[str, str] = field(default_factory=dict)
    reference: str = BASELINE
    issue: int = 2


_SLOW_SCALARS = {
    "micrograd": "not run by default: about 100 s a step at 10k points (name it in --engines to run it)",
    "torch-scalar": "not run by default: about 50 s a step at 10k points (name it in --engines to run it)",
}

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "balanced-sum",
            "balanced_sum",
            "sum of {n:,} products a_i*b_i as a pairwise tree, forward + backward ({nodes:,} nodes)",
            "node",
            100_000,
            10_000,
            measure_balanced_sum,
            nodes=balanced_sum_nodes,
        ),
        Workload(
            "tanh-chain",
            "tanh_chain",
            "x = tanh(x) {n:,} times from one leaf, forward + backward ({nodes:,} nodes)",
            "node",
            1_000_000,
            30_000,
            measure_tanh_chain,
            nodes=tanh_chain_nodes,
        ),
        Workload(
            "moons",
            "moons",
            "moons training step: MLP 2-16-16-1, {n:,} points, hinge + 1e-4 L2, forward + backward + SGD",
            "step",
            100,
            100,
            measure_moons,
            issue=3,
        ),
        Workload(
            "moons-1k",
            "moons",
            "moons training step: MLP 2-16-16-1, {n:,} points, hinge + 1e-4 L2, forward + backward + SGD",
            "step",
            1_000,
            200,
            measure_moons,
            skip=_SLOW_SCALARS,
            reference="torch-batched",
            issue=13,
        ),
        Workload(
            "moons-10k",
            "moons",
            "moons training step: MLP 2-16-16-1, {n:,} points, hinge + 1e-4 L2, forward + backward + SGD",
            "step",
            10_000,
            300,
            measure_moons,
            skip=_SLOW_SCALARS,
            reference="torch-batched",
            issue=6,
        ),
        Workload(
            "moons-100k",
            "moons",
            "moons training step: MLP 2-16-16-1, {n:,} points, hinge + 1e-4 L2, forward + backward + SGD",
            "step",
            100_000,
            400,
            measure_moons,
            skip={**_SLOW_SCALARS, "chainrule": "not run by default: about 50 s a step (name it in --engines)"},
            reference="torch-batched",
            issue=13,
        ),
        Workload(
            "wide-1k",
            "moons_mlp",
            "moons training step: MLP 2-256-256-1 (weights / sqrt(fan_in)), {n:,} points, hinge + 1e-4 L2, "
            "forward + backward + SGD",
            "step",
            1_000,
            100,
            functools.partial(measure_moons, layers=WIDE_LAYERS),
            reference="torch-batched",
            issue=13,
        ),
        Workload(
            "compile",
            "compile_mlp",
            "compile time of the moons loss (trace, group, probe), MLP 2-w-w-1, {n:,} points",
            "compile",
            100,
            100,
            measure_compile,
            reference="chainrule-compiled",
            issue=13,
        ),
    )
}


@dataclass(frozen=True)
class Target:
    """A figure an issue asks for.

    Attributes:
        workload: workload name.
        engine: engine name.
        metric: "time" (ratio to the reference engine) or "bytes" (bytes per node).
        bound: the largest acceptable value (a ratio for "time", bytes for "bytes").
        reference: the engine a time ratio is taken against.
        issue: the issue that set it.
    """

    workload: str
    engine: str
    metric: str
    bound: float
    reference: str = "micrograd"
    issue: int = 2


TARGETS: list[Target] = [
    Target("balanced-sum", "chainrule", "time", 0.2, issue=2),
    Target("balanced-sum", "chainrule", "bytes", 250, issue=2),
    Target("balanced-sum", "chainrule", "bytes", 200, issue=6),
    Target("moons", "chainrule", "time", 0.1, issue=3),
    Target("moons", "chainrule", "time", 0.05, issue=6),
    Target("moons-10k", "chainrule-compiled", "time", 3.0, reference="torch-batched", issue=6),
    Target("balanced-sum", "chainrule", "time", 0.15, issue=14),
    Target("moons", "chainrule", "time", 0.025, issue=14),
    Target("balanced-sum", "chainrule", "time", 1.25, reference="floor", issue=14),
    Target("tanh-chain", "chainrule", "time", 1.25, reference="floor", issue=14),
    Target("moons", "chainrule", "time", 1.25, reference="floor", issue=14),
    Target("balanced-sum", "chainrule", "bytes", 170, issue=14),
    Target("moons", "chainrule-compiled", "time", 1.0, reference="torch-batched", issue=13),
    Target("moons-1k", "chainrule-compiled", "time", 1.0, reference="torch-batched", issue=13),
    Target("moons-10k", "chainrule-compiled", "time", 1.0, reference="torch-batched", issue=13),
    Target("moons-100k", "chainrule-compiled", "time", 1.0, reference="torch-batched", issue=13),
    Target("wide-1k", "chainrule-compiled", "time", 2.0, reference="torch-batched", issue=13),
]
