"""Compiled batch mode: same numbers as the scalar engine, one call per batch."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import numpy as np
import pytest
from conftest import scalar_batch
from hypothesis import given
from hypothesis import strategies as st

from chainrule import autograd, nn
from chainrule.autograd import OPS, Op, Value, apply, dot, maximum
from chainrule.autograd.compiler import SHARED, Compiled, DataDependentGraphError
from chainrule.autograd.compiler import compile as compile_batch
from chainrule.autograd.testing import expressions


def _mlp(seed: int, sizes: list[int]) -> tuple[list[list[tuple[list[Value], Value]]], list[Value]]:
    rng = random.Random(seed)
    layers = [
        [([Value(rng.uniform(-1, 1)) for _ in range(nin)], Value(rng.uniform(-0.1, 0.1))) for _ in range(nout)]
        for nin, nout in itertools.pairwise(sizes)
    ]
    params = [p for layer in layers for w, b in layer for p in (*w, b)]
    return layers, params


def _forward(layers: list[list[tuple[list[Value], Value]]], x: list[Value]) -> Value:
    for i, layer in enumerate(layers):
        x = [dot(w, x, bias=b) for w, b in layer]
        if i < len(layers) - 1:
            x = [v.relu() for v in x]
    return x[0]


def _scalar_mean(fn, arrays: list[np.ndarray], params: list[Value]) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    _, loss, grads = scalar_batch(fn, arrays, params)
    return loss, grads


def _compiled_mean(fn, arrays: list[np.ndarray], params: list[Value]) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    for p in params:
        p.grad = 0.0
    loss = compile_batch(fn).backward(*arrays)
    return loss, np.array([p.grad for p in params])


def _moons_like(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), np.where(rng.random(n) < 0.5, -1.0, 1.0)


def test_mlp_hinge_l2_matches_scalar_engine() -> None:
    layers, params = _mlp(0, [2, 16, 16, 1])
    X, y = _moons_like(64, 1)

    def per_sample(x: list[Value], target: Value) -> Value:
        return (1 - target * _forward(layers, x)).relu() + 1e-4 * autograd.sum(p * p for p in params)

    loss_s, grads_s = _scalar_mean(per_sample, [X, y], params)
    loss_c, grads_c = _compiled_mean(per_sample, [X, y], params)
    assert loss_c == pytest.approx(loss_s, rel=1e-12)
    assert np.max(np.abs(grads_c - grads_s)) <= 1e-12 * np.max(np.abs(grads_s))
    assert np.max(np.abs(grads_s)) > 0.01  # the comparison is not between zeros


def test_layers_become_matrix_products_and_the_penalty_is_shared() -> None:
    layers, params = _mlp(1, [2, 8, 8, 1])
    X, y = _moons_like(10, 2)

    def per_sample(x: list[Value], target: Value) -> Value:
        return (1 - target * _forward(layers, x)).relu() + 1e-4 * autograd.sum(p * p for p in params)

    fn = compile_batch(per_sample)
    fn.backward(X, y)
    (program,) = next(iter(fn._programs.values()))
    dense = [g for g in program.groups if g.dense]
    assert [g.arity for g in dense] == [2 * 2 + 1, 2 * 8 + 1, 2 * 8 + 1]
    # the L2 penalty's products and sum are computed once per batch, not per sample
    shared_ops = {g.op.name for g in program.groups if g.out_kind == SHARED}
    assert {"mul", "sum"} <= shared_ops
    assert len(program.groups) < 15  # a handful of numpy calls, not one per scalar


def test_forward_outputs_match_each_sample() -> None:
    layers, _ = _mlp(2, [3, 5, 1])
    X = np.random.default_rng(3).normal(size=(20, 3))
    fn = compile_batch(lambda x: _forward(layers, x).tanh())
    expected = [_forward(layers, [Value(v) for v in row]).tanh().data for row in X]
    np.testing.assert_allclose(fn(X), expected, rtol=1e-13, atol=0)


@given(expressions(max_inputs=4, max_ops=10), st.integers(1, 3), st.randoms(use_true_random=False))
def test_random_expressions_match_scalar_engine(expr, n_shared: int, rnd: random.Random) -> None:  # type: ignore[no-untyped-def]
    k = len(expr.inputs)
    n_shared = min(n_shared, k)
    shared = [Value(x, f"p{i}") for i, x in enumerate(expr.inputs[:n_shared])]
    # per-sample inputs: tiny relative perturbations keep every op inside its domain and away from kinks
    columns = [np.array([x * (1 + 1e-7 * rnd.uniform(-1, 1)) for _ in range(5)]) for x in expr.inputs[n_shared:]]

    def per_sample(*xs: Value) -> Value:
        return expr(*shared, *xs)

    if not columns:
        columns = [np.zeros(5)]

        def per_sample(*xs: Value) -> Value:  # no per-sample inputs: a dummy column
            return expr(*shared)

    loss_s, grads_s = _scalar_mean(per_sample, columns, shared)
    loss_c, grads_c = _compiled_mean(per_sample, columns, shared)
    scale = max(1.0, float(np.max(np.abs(grads_s))))
    assert loss_c == pytest.approx(loss_s, rel=1e-12, abs=1e-12)
    assert np.max(np.abs(grads_c - grads_s)) <= 1e-12 * scale


def _smooth_points(op: Op, n: int, count: int) -> np.ndarray:
    """count points inside op's domain and away from its kinks, spread over the domain (rows of n inputs)."""
    rng = np.random.default_rng(7)
    rows: list[list[float]] = []
    while len(rows) < count:
        row = []
        for i in range(n):
            intervals = op.domain[0] if op.arity is None else op.domain[i]
            lo, hi = intervals[int(rng.integers(len(intervals)))]
            row.append(float(rng.uniform(lo, hi)))
        if op.smooth(*row):
            rows.append(row)
    return np.array(rows)


EDGE_VALUES = (0.0, -0.0, 5e-324, 1e-300, -1e300, math.inf, -math.inf, math.nan, 1.0, -2.5)


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_every_row_compiles_to_the_scalar_engine(op: Op) -> None:
    """Each row over a batch: outputs at edge values elementwise, gradients summed at smooth points."""
    n = op.arity if op.arity is not None else 3
    shifts = [Value(0.0, f"p{i}") for i in range(n)]

    def per_sample(xs: list[Value]) -> Value:
        return apply(op, *[x + p for x, p in zip(xs, shifts)])

    edges = np.array(list(itertools.product(EDGE_VALUES, repeat=min(n, 2))))
    edges = np.hstack([edges, np.ones((len(edges), n - edges.shape[1]))])
    compiled = compile_batch(per_sample)
    with np.errstate(all="ignore"):
        expected = [per_sample([Value(v) for v in row]).data for row in edges]
        got = compiled(edges)
    for row, a, b in zip(edges, got, expected):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-13, abs=1e-300), (row, a, b)
    X = _smooth_points(op, n, 16)
    loss_s, grads_s = _scalar_mean(per_sample, [X], shifts)
    loss_c, grads_c = _compiled_mean(per_sample, [X], shifts)
    assert loss_c == pytest.approx(loss_s, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(grads_c, grads_s, rtol=1e-12, atol=1e-14)


# d/dw of the mean over x in [-1, 0, 1, 2, -2], worked by hand with each kink's convention:
# w*x hits 0 at x = 0, maximum(w*x, w) ties at x = 1, clamp(w*x, -1, 1) sits on its bounds at x = +-1.
@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda w, x: (w * x).relu(), (1 + 2) / 5),  # relu'(0) = 0
        (lambda w, x: abs(w * x), (1 + 0 + 1 + 2 + 2) / 5),  # abs'(0) = 0
        (lambda w, x: maximum(w * x, w), (1 + 1 + 1 + 2 + 1) / 5),  # tie at x = 1: half to each, 0.5*1 + 0.5*1
        (lambda w, x: (w * x).leaky_relu(0.1), (-0.1 + 0 + 1 + 2 - 0.2) / 5),  # leaky'(0) = slope, times x = 0
        (lambda w, x: autograd.clamp(w * x, -1.0, 1.0), (-1 + 0 + 1) / 5),  # closed range passes at +-1
    ],
)
def test_kinks_follow_the_same_conventions(fn, expected: float) -> None:  # type: ignore[no-untyped-def]
    w = Value(1.0, "w")
    x = np.array([-1.0, 0.0, 1.0, 2.0, -2.0])
    _, grads_s = _scalar_mean(lambda xi: fn(w, xi), [x], [w])
    _, grads_c = _compiled_mean(lambda xi: fn(w, xi), [x], [w])
    assert grads_s[0] == pytest.approx(expected, rel=1e-12)
    assert grads_c[0] == pytest.approx(expected, rel=1e-12)


def test_sum_reduction_and_gradient_seed() -> None:
    w = Value(2.0)
    fn = compile_batch(lambda x: w * x * x)
    x = np.array([1.0, 2.0, 3.0])
    assert fn.backward(x, reduction="sum", gradient=2.0) == pytest.approx(28.0)
    assert w.grad == pytest.approx(2.0 * 14.0)


def test_a_branch_on_the_data_runs_each_row_through_its_own_program() -> None:
    def branchy(x: Value) -> Value:
        return x * 2 if x.data > 0 else -x

    fn = compile_batch(branchy)
    np.testing.assert_array_equal(fn(np.array([1.0, 2.0, -3.0])), [2.0, 4.0, 3.0])
    assert fn.programs == 2
    with pytest.raises(DataDependentGraphError, match=r"x.data > 0|bool"):
        compile_batch(branchy, retrace=False)(np.array([1.0, 2.0, -3.0]))

    def reads_data(x: Value) -> Value:
        return x * x.data  # the number read from .data is recorded as a node: x times a detached x

    np.testing.assert_array_equal(compile_batch(reads_data)(np.array([1.0, 2.0, 3.0])), [1.0, 4.0, 9.0])


def test_bad_inputs_get_clear_errors() -> None:
    fn = compile_batch(lambda x, y: x * y)
    with pytest.raises(ValueError, match="input 1 has 2 samples but input 0 has 3"):
        fn(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match=r"shape \(N,\) or \(N, k\)"):
        fn(np.ones((2, 2, 2)), np.ones(2))
    with pytest.raises(TypeError, match="array of numbers"):
        fn(["a", "b"], np.ones(2))
    with pytest.raises(ValueError, match="at least one sample"):
        fn(np.ones(0), np.ones(0))
    with pytest.raises(TypeError, match="must return a Value or a list of Values"):
        compile_batch(lambda x: 3.0)(np.ones(2))
    with pytest.raises(ValueError, match="reduction"):
        fn.backward(np.ones(2), np.ones(2), reduction="max")
    with pytest.raises(TypeError, match="expects a function"):
        Compiled(3)  # type: ignore[arg-type]
    for option in ("probes", "max_programs"):
        with pytest.raises(ValueError, match=option):
            Compiled(lambda x: x, **{option: 0})


def test_parameters_are_read_at_every_call() -> None:
    w = Value(1.0)
    fn = compile_batch(lambda x: w * x)
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(fn(x), [1.0, 2.0])
    w.data = 3.0
    np.testing.assert_array_equal(fn(x), [3.0, 6.0])


def test_trace_gives_one_sample_graph_for_drawing() -> None:
    w = Value(0.5, "w")
    fn = compile_batch(lambda x: (w * x).tanh())
    x = np.array([1.0, 2.0])
    graph = fn.trace(x, row=1)
    assert graph.op == "tanh"
    assert graph.data == pytest.approx(np.tanh(1.0))
    assert fn.graph is None
    fn(x)
    assert fn.graph is not None and fn.graph.op == "tanh"
    # viz draws the traced sample like any graph: the edge into tanh carries its local derivative
    from chainrule import viz

    graph.backward()
    source = viz.draw(graph).source
    assert "tanh" in source and "x" in source


def test_a_list_of_outputs_gives_one_column_each() -> None:
    layers, _ = _mlp(4, [2, 4, 3])

    def logits(x: list[Value]) -> list[Value]:
        h = [dot(w, x, bias=b).tanh() for w, b in layers[0]]
        return [dot(w, h, bias=b) for w, b in layers[1]]

    X = np.random.default_rng(5).normal(size=(7, 2))
    fn = compile_batch(logits)
    out = fn(X)
    assert out.shape == (7, 3)
    expected = [[v.data for v in logits([Value(a) for a in row])] for row in X]
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)
    with pytest.raises(TypeError, match="one Value"):
        fn.backward(X)
    assert isinstance(fn.graph, list) and len(fn.graph) == 3


def test_accumulate_false_writes_the_gradient() -> None:
    w = Value(2.0, "w")
    v = Value(3.0, "v")
    x = np.array([1.0, -2.0, 3.0])
    for fn in (lambda x: w * x * x + v, lambda x: w * x if x.data > 0 else v * x):  # one program, then two
        compiled = compile_batch(fn)
        compiled.backward(x)
        expected = (w.grad, v.grad)
        w.grad, v.grad = 100.0, -7.0  # stale gradients from somewhere else
        compiled.backward(x, accumulate=False)
        assert (w.grad, v.grad) == pytest.approx(expected, rel=1e-15)
        compiled.backward(x)  # the default adds, as Value.backward
        assert (w.grad, v.grad) == pytest.approx((2 * expected[0], 2 * expected[1]), rel=1e-15)
        w.grad = v.grad = 0.0


@pytest.mark.parametrize("branchy", [False, True], ids=["one program", "two programs"])
def test_update_steps_the_parameters_as_the_scalar_engine_would(branchy: bool) -> None:
    data, labels = nn.data.make_moons(30, noise=0.1, seed=3)
    y = labels * 2.0 - 1.0
    models = [nn.MLP(2, [5, 1], seed=4) for _ in range(2)]
    offsets = [Value(0.25, "offset") for _ in range(2)]  # captured but not a parameter: update leaves it alone

    def loss_of(model: nn.MLP, offset: Value) -> Any:
        def loss(x: list[Value], t: Value) -> Value:
            margin = t * model(x) + offset
            if branchy and x[0].data > 0.5:
                return (1.0 - margin).relu() * 2.0
            return (1.0 - margin).relu()

        return loss

    compiled = compile_batch(loss_of(models[1], offsets[1]))
    for step in range(4):
        if step == 2:  # a parameter changed by hand between calls is read again
            models[0].parameters()[0].data += 0.5
            models[1].parameters()[0].data += 0.5
        models[0].zero_grad()
        loss_s, _ = _scalar_mean(loss_of(models[0], offsets[0]), [data, y], models[0].parameters())
        for p in models[0].parameters():
            p.data -= 0.3 * p.grad
        loss_c = compiled.backward(data, y, accumulate=False, update=lambda p, g: p - 0.3 * g)
        assert loss_c == pytest.approx(loss_s, rel=1e-12)
        for p, q in zip(models[0].parameters(), models[1].parameters()):
            assert q.data == pytest.approx(p.data, rel=1e-12, abs=1e-14)
            assert q.grad == pytest.approx(p.grad, rel=1e-12, abs=1e-14)
    assert offsets[1].data == 0.25 and offsets[1].grad != 0.0
    assert compiled.programs == (2 if branchy else 1)
    with pytest.raises(ValueError, match=r"returned shape \(2,\) for 21 parameters"):
        compiled.backward(data, y, update=lambda p, g: p[:2])
