"""autograd.compile is never silently wrong: every way a number can leave the graph while fn is traced.

Each hazard of issue 13 either matches the scalar engine on every row (outputs
and the mean loss's gradients) or raises. The reference is always the scalar
engine run sample by sample.
"""

from __future__ import annotations

import math
import threading
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from conftest import scalar_batch
from hypothesis import given
from hypothesis import strategies as st

from chainrule import autograd, nn
from chainrule.autograd import Value, grad, no_grad
from chainrule.autograd.compiler import DataDependentGraphError, GuardError, TraceError
from chainrule.autograd.compiler import compile as compile_batch
from chainrule.autograd.tracing import _UFUNC_ROWS

X = np.linspace(-1.0, 2.0, 1000).reshape(-1, 1)


_scalar = scalar_batch  # each sample's output, the mean and its gradients, by the scalar engine


def _compiled(fn: Callable[..., Value], arrays: Sequence[np.ndarray], params: Sequence[Value],
              compiled: autograd.Compiled | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    for p in params:
        p.grad = 0.0
    c = compiled or compile_batch(fn)
    loss = c.backward(*arrays)
    grads = np.array([p.grad for p in params])
    return c(*arrays), loss, grads


def _assert_same(fn: Callable[..., Value], arrays: Sequence[np.ndarray], params: Sequence[Value],
                 compiled: autograd.Compiled | None = None) -> None:
    rows_s, loss_s, grads_s = _scalar(fn, arrays, params)
    rows_c, loss_c, grads_c = _compiled(fn, arrays, params, compiled)
    np.testing.assert_allclose(rows_c, rows_s, rtol=1e-12, atol=1e-12)
    assert loss_c == pytest.approx(loss_s, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grads_c, grads_s, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------
# The four hazards of issue 13, with its numbers
# ----------------------------------------------------------------------------


def test_detach_is_a_stop_gradient_per_sample() -> None:
    w = Value(0.7, "w")
    fn = compile_batch(lambda x: w * x[0] * x[0].detach())
    _, loss, grads = _compiled(fn.fn, [X], [w], fn)
    assert loss == pytest.approx(0.701051, abs=1e-6)  # the issue: compiled gave -0.35 (row 0 frozen)
    assert grads[0] == pytest.approx(1.001502, abs=1e-6)  # and 1.0015 is the scalar engine's
    _assert_same(lambda x: w * x[0] * x[0].detach(), [X], [w])
    _assert_same(lambda x: w * x[0] * (w * x[0]).detach(), [X], [w])  # no gradient through the detached w


FEW = np.array([[0.5], [-1.0], [0.5], [2.0], [-1.0]])


@pytest.mark.parametrize(
    ("make", "data"),
    [
        (lambda w: lambda x: w * x[0] * Value(x[0].data), X),  # a Value made from .data inside fn
        (lambda w: lambda x: w * x[0] * Value((w * x[0]).data), X),  # ... of a node that depends on w
        (lambda w: lambda x: w * x[0] * (w * x[0]).data, X),  # .data as a number in an expression
        # float() takes the number out of the graph: a guard on it, one program per distinct value
        (lambda w: lambda x: w * x[0] * Value(float(x[0].data * 1.0)), FEW),
    ],
    ids=["Value(x.data)", "Value((w*x).data)", "(w*x).data", "float(x.data)"],
)
def test_numbers_read_from_data_are_computed_per_sample(make: Callable[[Value], Callable[..., Value]],
                                                        data: np.ndarray) -> None:
    w = Value(0.7, "w")
    _assert_same(make(w), [data], [w])


def test_no_grad_inside_the_function_stops_the_gradient_per_sample() -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        with no_grad():
            frozen = (w * x[0]).tanh()  # under no_grad: a leaf in the scalar engine, no gradient to w
        return w * x[0] * frozen + w

    _assert_same(fn, [X], [w])


def test_a_cached_program_is_checked_on_every_new_batch() -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        return w * x[0] if x[0].data > 0 else -3 * w * x[0]

    compiled = compile_batch(fn)
    compiled.backward(np.linspace(0.1, 2.0, 50).reshape(-1, 1))  # all positive: one program, one branch
    w.grad = 0.0
    loss = compiled.backward(X)  # a mixed batch: the guard fails on the negative rows, which get their own
    assert w.grad == pytest.approx(1.168, abs=1e-9)  # the issue: 0.5 from the stale program
    assert loss == pytest.approx(0.8176, abs=1e-9)
    assert compiled.programs == 2
    _assert_same(fn, [X], [w], compiled)

    strict = compile_batch(fn, retrace=False)
    strict.backward(np.linspace(0.1, 2.0, 50).reshape(-1, 1))
    with pytest.raises(GuardError, match=r"sample 0 breaks .*x\[0\]\.data > 0"):
        strict.backward(X)


def test_every_row_is_checked_not_a_few_probes() -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        return 1.1 * w * x[0] if 0.40 < x[0].data < 0.45 else w * x[0]  # taken by 16 rows of 1000

    _, _, grads = _compiled(fn, [X], [w])
    inside = X[(X > 0.40) & (X < 0.45)]
    assert len(inside) == 16
    # d/dw of the mean: the mean of x (0.5, what a program that missed the branch gives), plus 0.1 x inside
    assert grads[0] == pytest.approx(0.5 + 0.1 * inside.sum() / 1000, rel=1e-12)
    _assert_same(fn, [X], [w])


def test_parameters_are_read_at_every_call() -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        return x[0] * w.data + (w - 0.7) * 0.0  # w.data is a number: no gradient, but the current value

    compiled = compile_batch(fn)
    x0 = np.array([[0.86]])
    assert compiled(x0)[0] == pytest.approx(0.86 * 0.7)
    w.data = 5.0
    assert compiled(x0)[0] == pytest.approx(0.86 * 5.0)  # the issue: the value stayed frozen at 0.7
    _assert_same(fn, [X], [w], compiled)

    def branchy(x: list[Value]) -> Value:
        return x[0] * w if w.data > 1.0 else x[0] * 0.0  # a guard on a parameter: checked at every call

    compiled = compile_batch(branchy)
    _assert_same(branchy, [X], [w], compiled)
    w.data = 0.5
    _assert_same(branchy, [X], [w], compiled)
    assert compiled.programs == 2


def test_changing_parameters_between_calls_trains_like_the_scalar_engine() -> None:
    data, labels = nn.data.make_moons(40, noise=0.1, seed=1)
    models = [nn.MLP(2, [6, 6, 1], seed=2) for _ in range(2)]
    y = labels * 2.0 - 1.0

    def loss_of(model: nn.MLP) -> Callable[..., Value]:
        params = model.parameters()

        def loss(x: list[Value], t: Value) -> Value:
            return (1.0 - t * model(x)).relu() + 1e-3 * autograd.sum(p * p for p in params)

        return loss

    compiled = compile_batch(loss_of(models[1]))
    for _ in range(5):
        models[1].zero_grad()
        _, loss_s, _ = _scalar(loss_of(models[0]), [data, y], models[0].parameters())
        loss_c = compiled.backward(data, y)
        assert loss_c == pytest.approx(loss_s, rel=1e-12)
        for p, q in zip(models[0].parameters(), models[1].parameters()):
            assert q.grad == pytest.approx(p.grad, rel=1e-9, abs=1e-12)
            p.data -= 0.5 * p.grad
            q.data -= 0.5 * q.grad
    assert compiled.programs == 1


# ----------------------------------------------------------------------------
# Each way a number leaves the graph
# ----------------------------------------------------------------------------


def test_a_comparison_that_feeds_arithmetic_is_a_select() -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        positive = x[0] > 0  # a 0/1 number per sample
        return positive * w * x[0] + (1 - positive) * 2 * w + (x[0].data >= 1.0) * w

    compiled = compile_batch(fn)
    _assert_same(fn, [X], [w], compiled)
    assert compiled.programs == 1  # no Python branch: no guard, one program


def test_bool_of_a_value_is_a_guard() -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        return w * x[0] if x[0] else w  # bool(v) is v.data != 0

    compiled = compile_batch(fn)
    _assert_same(fn, [np.array([[0.0], [1.0], [0.0], [-2.0]])], [w], compiled)
    assert compiled.programs == 2


def test_float_and_item_guard_the_exact_number() -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value], t: Value) -> Value:
        label = float(t)  # a label: one program per distinct value, as the loss branches on it
        return (1.0 - label * w * x[0]).relu() if label > 0 else (1.0 + w * x[0].item()).relu()

    labels = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    compiled = compile_batch(fn)
    _assert_same(fn, [np.array([[0.5], [0.2], [-3.0], [1.5], [2.5]]), labels], [w], compiled)
    assert compiled.programs == 3  # +1; and -1 twice, as item() also freezes x there: rows 0.2 and 2.5


def test_too_many_programs_is_a_clear_error() -> None:
    w = Value(0.7, "w")
    fn = compile_batch(lambda x: w * math.exp(x[0].data), max_programs=4)
    with pytest.raises(DataDependentGraphError, match=r"yet another program.*float\(\)"):
        fn(X)


def test_arithmetic_on_numbers_read_from_values_is_recorded() -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        d = x[0].data
        scaled = 2 * d - d / 4 + abs(-d) ** 2 - (d * d) / (1 + d * d)
        return w * Value(scaled) + w * (-d) + (0.5 + d) * w

    _assert_same(fn, [X], [w])


def test_grad_inside_the_function_is_recorded() -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        inner = (w * x[0]).tanh() * x[0]
        (g,) = grad(inner, w)  # a number per sample (without create_graph): detached, but per sample
        (h,) = grad(inner, w, create_graph=True)  # a Value: differentiable again
        return inner + 0.1 * g * w + 0.1 * h * h

    _assert_same(fn, [X], [w])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (lambda w, x: (w * x[0]).backward(), "backward"),
        (lambda w, x: setattr(w, "data", 1.0), "assigning .data"),
    ],
)
def test_side_effects_inside_the_function_are_refused(body: Callable[[Value, Any], Any], match: str) -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        body(w, x)
        return w * x[0]

    with pytest.raises(TraceError, match=match):
        compile_batch(fn)(X)
    assert w.data == 0.7


def test_a_number_taken_out_behind_the_tracers_back_is_caught_by_the_probe() -> None:
    w = Value(0.7, "w")
    fn = compile_batch(lambda x: w * x[0] * x[0]._data)  # the private slot: no hook sees it
    with pytest.raises(DataDependentGraphError, match="cannot see"):
        fn(X)


def test_a_random_function_is_not_mistaken_for_a_branch() -> None:
    rng = np.random.default_rng(0)
    w = Value(0.7, "w")
    fn = compile_batch(lambda x: w * x[0] * Value(float(rng.normal())))  # a new random constant per trace
    with pytest.raises(DataDependentGraphError):
        fn(X)


def test_tracing_in_one_thread_leaves_other_threads_alone() -> None:
    w = Value(0.7, "w")
    inside = threading.Event()
    release = threading.Event()
    seen: list[Any] = []

    def fn(x: list[Value]) -> Value:
        inside.set()
        release.wait(10)
        return w * x[0] if x[0].data > 0 else w

    thread = threading.Thread(target=lambda: seen.append(compile_batch(fn, probes=1)(np.array([[1.0], [-1.0]]))))
    thread.start()
    assert inside.wait(10)
    v = Value(3.0)
    assert type(v.data) is float and bool(v > 2) is True and type(v > 2) is bool  # plain here, meanwhile
    release.set()
    thread.join(10)
    np.testing.assert_array_equal(seen[0], [0.7, 0.7])
    assert type(Value.__dict__["data"].fget).__name__ == "attrgetter"  # the fast property is back


# ----------------------------------------------------------------------------
# Random programs: branches, detach, parameter reads, selects, no_grad
# ----------------------------------------------------------------------------

# Values are dyadic (multiples of 1/4) and the conditions are sums and products of a few of them,
# so every condition is computed exactly by both engines (no rounding can flip a branch).
_DYADIC = st.integers(-8, 8).map(lambda k: k / 4)

_STEP = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("mul"), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("tanh"), st.integers(0, 99)),
    st.tuples(st.just("relu"), st.integers(0, 99)),
    st.tuples(st.just("detach"), st.integers(0, 99)),
    st.tuples(st.just("from_data"), st.integers(0, 99)),
    st.tuples(st.just("param_read"), st.integers(0, 99), st.integers(0, 2)),
    st.tuples(st.just("branch"), st.integers(0, 99), _DYADIC, st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("value_branch"), st.integers(0, 99), _DYADIC, st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("select"), st.integers(0, 99), _DYADIC, st.integers(0, 99)),
    st.tuples(st.just("no_grad"), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("numpy"), st.integers(0, 99), _DYADIC),
)


def _program(steps: list[tuple[Any, ...]], params: list[Value]) -> Callable[..., Value]:
    def fn(x: list[Value]) -> Value:
        vals: list[Value] = [*x, *params]
        exact = [True] * len(vals)  # computed without rounding (so safe to branch on)
        branches = 0
        for step in steps:
            kind, a = step[0], vals[step[1] % len(vals)]
            ea = exact[step[1] % len(vals)]
            if kind in ("add", "mul"):
                b = vals[step[2] % len(vals)]
                out, e = (a + b, ea) if kind == "add" else (a * b, False)
                e = e and exact[step[2] % len(vals)]
            elif kind == "tanh":
                out, e = a.tanh(), False
            elif kind == "relu":
                out, e = a.relu(), ea
            elif kind == "detach":
                out, e = a.detach() * 1.0, ea
            elif kind == "from_data":
                out, e = Value(a.data) + a, ea
            elif kind == "param_read":
                out, e = a * params[step[2]].data, False
            elif kind in ("branch", "value_branch", "select"):
                if not ea or (kind != "select" and branches >= 3):
                    continue
                threshold = step[2]
                if kind == "select":
                    out, e = (a > threshold) * vals[step[3] % len(vals)], False
                else:
                    branches += 1
                    cond = a.data > threshold if kind == "branch" else a >= threshold
                    out, e = (vals[step[3] % len(vals)] if cond else vals[step[4] % len(vals)] * 2.0), False
            elif kind == "numpy":  # numpy on a number read from a Value: recorded, per sample
                out, e = Value(np.maximum(a.data, step[2])) * a, False
            else:  # no_grad
                with no_grad():
                    out, e = a * vals[step[2] % len(vals)] + 1.0, False
            vals.append(out)
            exact.append(e)
        return autograd.sum(vals[len(x):]) + vals[-1] * vals[0]

    return fn


@given(
    st.lists(_STEP, min_size=1, max_size=10),
    st.lists(_DYADIC, min_size=3, max_size=3),
    st.lists(st.lists(_DYADIC, min_size=2, max_size=2), min_size=2, max_size=12),
    st.lists(st.lists(_DYADIC, min_size=2, max_size=2), min_size=1, max_size=12),
)
def test_random_programs_match_the_scalar_engine(steps: list[tuple[Any, ...]], start: list[float],
                                                 batch1: list[list[float]], batch2: list[list[float]]) -> None:
    params = [Value(v, f"p{i}") for i, v in enumerate(start)]
    fn = _program(steps, params)
    compiled = compile_batch(fn)
    for batch in (np.array(batch1), np.array(batch2)):
        _assert_same(fn, [batch], params, compiled)
        for p in params:  # parameters change between calls: read again, guards on them checked again
            p.data = p.data - 0.25 * np.sign(p.grad)
    _assert_same(fn, [np.array(batch1)], params, compiled)


def test_numpy_on_numbers_read_from_values() -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        d = x[0].data
        recorded = np.exp(d) + np.float64(2.0) * d - np.abs(d) + np.sqrt(d * d)  # recorded: one program
        return w * Value(recorded) + w * (np.greater(d, 0.5) * 1.0)

    compiled = compile_batch(fn)
    _assert_same(fn, [X], [w], compiled)
    assert compiled.programs == 1

    def guarded(x: list[Value]) -> Value:
        return w * float(np.floor(x[0].data))  # floor is recorded, float() of it guards its exact value

    compiled = compile_batch(guarded)
    _assert_same(guarded, [FEW], [w], compiled)
    assert compiled.programs == 3  # 0.5, -1.0 and 2.0


@pytest.mark.parametrize("ufunc", list(_UFUNC_ROWS), ids=[u.__name__ for u in _UFUNC_ROWS])
def test_every_numpy_function_with_an_op_row_is_recorded(ufunc: np.ufunc) -> None:
    w = Value(0.7, "w")

    def fn(x: list[Value]) -> Value:
        d = (x[0].data + 1.0) / 3.05 + 0.01  # in (0, 1), inside every row's domain
        if ufunc is np.arccosh:
            d = 1.0 / d
        number = ufunc(d) if ufunc.nin == 1 else ufunc(d, 0.3) + ufunc(-1.5, d)
        return w * Value(number) + w * x[0]

    compiled = compile_batch(fn)
    _assert_same(fn, [X], [w], compiled)
    assert compiled.programs == 1  # recorded: one program for 1000 distinct numbers (a guard would need 1000)


def test_reading_local_grads_inside_the_function_is_refused() -> None:
    w = Value(0.7, "w")
    with pytest.raises(TraceError, match="local_grads"):
        compile_batch(lambda x: w * (w * x[0]).local_grads[0])(X)


def test_detect_anomaly_raises_as_the_scalar_engine_does() -> None:
    w = Value(0.7, "w")
    data = np.array([[1.0], [4.0], [-1.0], [2.0]])
    fn = compile_batch(lambda x: (w * x[0]).log())  # log of a negative: nan at sample 2
    with pytest.raises(autograd.AnomalyError, match=r"anomaly: op 'log' produced nan \(sample 2"):
        with autograd.detect_anomaly():
            fn(data)
    with autograd.detect_anomaly():  # the scalar engine raises there too
        with pytest.raises(autograd.AnomalyError, match="log"):
            (w * Value(-1.0)).log()
    assert np.isnan(fn(data)[2])  # outside anomaly mode: IEEE numbers, as the scalar engine's
    steep = compile_batch(lambda x: (x[0] * w - 0.7).sqrt())  # sqrt'(0) = inf: sample 1's gradient
    steep.backward(data[1:2])  # traced and compiled on a sample where all is finite
    with pytest.raises(autograd.AnomalyError, match=r"the gradient reaching op '.*' is inf \(sample 1"):
        with autograd.detect_anomaly():
            steep.backward(data[[1, 0]])


# ----------------------------------------------------------------------------
# What fn reads outside its arguments
# ----------------------------------------------------------------------------

_model: nn.MLP | None = None
_scale = 2.0


def _scores(x: list[Value]) -> Value:
    assert _model is not None
    return _model(x) * _scale  # a global model and a global number, read through a helper


def test_a_name_fn_reads_that_now_stands_for_another_object_traces_again() -> None:
    global _model, _scale
    data = np.array([[0.5, -1.0], [2.0, 0.25]])

    def expected() -> list[float]:
        return [_scores([Value(a) for a in row]).data for row in data]

    _model = nn.MLP(2, [3, 1], seed=0)
    compiled = compile_batch(lambda x: _scores(x))
    np.testing.assert_allclose(compiled(data), expected(), rtol=1e-13)
    _model = nn.MLP(2, [3, 1], seed=1)  # a notebook cell makes a new model
    np.testing.assert_allclose(compiled(data), expected(), rtol=1e-13)
    _scale = 3.0  # a plain number fn reads: another object too
    np.testing.assert_allclose(compiled(data), expected(), rtol=1e-13)
    strict = compile_batch(lambda x: _scores(x), retrace=False)
    strict(data)
    _model = nn.MLP(2, [3, 1], seed=2)
    with pytest.raises(GuardError, match="global '_model'"):
        strict(data)

    model = nn.MLP(2, [3, 1], seed=3)
    in_closure = compile_batch(lambda x: model(x))
    in_closure(data)
    model = nn.MLP(2, [3, 1], seed=4)  # rebinds the closure's cell
    np.testing.assert_allclose(in_closure(data), [model([Value(a) for a in row]).data for row in data], rtol=1e-13)


_w = Value(0.7, "w")


def test_a_parameter_object_rebound_between_calls_gets_its_gradient() -> None:
    global _w
    compiled = compile_batch(lambda x: _w * x[0] * x[0])
    _assert_same(lambda x: _w * x[0] * x[0], [X], [_w], compiled)
    old = _w
    _w = Value(5.0, "w")  # a new parameter object: the program's captured Value is the old one
    _assert_same(lambda x: _w * x[0] * x[0], [X], [_w], compiled)
    assert old.grad == pytest.approx(np.mean(X**2), rel=1e-12)  # from the first call only
    assert compiled.programs == 1


def test_clear_forgets_the_programs() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    data = np.array([[0.5, -1.0], [2.0, 0.25]])
    compiled = compile_batch(lambda x: model(x))
    compiled(data)
    compiled.clear()
    assert compiled.programs == 0
    np.testing.assert_allclose(compiled(data), [model([Value(a) for a in row]).data for row in data], rtol=1e-13)
    assert compiled.programs == 1


_DATA2 = np.array([[0.5, -1.0], [2.0, 0.25], [-1.5, 0.75]])


def test_a_layer_swapped_into_a_model_traces_again() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    compiled = compile_batch(lambda x: model(x))
    _assert_same(lambda x: model(x), [_DATA2], model.parameters(), compiled)
    model.layers[1] = nn.MLP(3, [1], seed=5).layers[0]  # in place: the name 'model' still holds
    _assert_same(lambda x: model(x), [_DATA2], model.parameters(), compiled)
    model.layers[0].neurons[2].w[1] = Value(3.0)  # one parameter swapped deep inside
    _assert_same(lambda x: model(x), [_DATA2], model.parameters(), compiled)
    model.layers.append(nn.MLP(1, [1], seed=6).layers[0])  # a layer more
    _assert_same(lambda x: model(x), [_DATA2], model.parameters(), compiled)
    strict = compile_batch(lambda x: model(x), retrace=False)
    strict(_DATA2)
    model.layers[0].neurons[0].b = Value(-2.0)
    with pytest.raises(GuardError, match=r"contents of 'model.layers\[0\].neurons\[0\]'"):
        strict(_DATA2)


def test_a_model_reached_through_an_attribute_traces_again_when_replaced() -> None:
    class Trainer:  # as the benchmark's adapter: fn reads self.model and self.params from a closure
        def __init__(self, seed: int) -> None:
            self.model = nn.MLP(2, [3, 1], seed=seed)
            self.params = self.model.parameters()

    t = Trainer(0)

    def loss(x: list[Value]) -> Value:
        return t.model(x) + 1e-2 * autograd.sum([p * p for p in t.params])

    compiled = compile_batch(loss)
    _assert_same(loss, [_DATA2], t.params, compiled)
    t.model = nn.MLP(2, [3, 1], seed=1)  # t.params still the old list
    _assert_same(loss, [_DATA2], t.model.parameters(), compiled)
    t.params[0] = t.model.parameters()[0]  # the list t.params holds is changed in place
    _assert_same(loss, [_DATA2], t.params, compiled)
    strict = compile_batch(loss, retrace=False)
    strict(_DATA2)
    t.model = nn.MLP(2, [3, 1], seed=2)
    with pytest.raises(GuardError, match=r"attribute 't\.model'"):
        strict(_DATA2)


class _Config:
    def __init__(self) -> None:
        self.scale = 2.0
        self.inner = types.SimpleNamespace(shift=0.5, on=True)


_cfg = _Config()


def _scaled(x: list[Value], w: Value) -> Value:
    y = w * x[0] * _cfg.scale + _cfg.inner.shift
    return y * 2 if _cfg.inner.on else y


def test_a_number_in_an_attribute_fn_reads_traces_again_when_set() -> None:
    w = Value(0.7, "w")
    compiled = compile_batch(lambda x: _scaled(x, w))
    _assert_same(lambda x: _scaled(x, w), [_DATA2], [w], compiled)
    for change in ("scale", "shift", "on"):
        if change == "scale":
            _cfg.scale = 3.0
        elif change == "shift":
            _cfg.inner.shift = -1.25  # two attributes deep
        else:
            _cfg.inner.on = False  # a bool that steers Python
        _assert_same(lambda x: _scaled(x, w), [_DATA2], [w], compiled)
    assert compiled.programs == 1  # each change dropped the old program
    strict = compile_batch(lambda x: _scaled(x, w), retrace=False)
    strict(_DATA2)
    _cfg.scale = 4.0
    with pytest.raises(GuardError, match=r"attribute '_cfg.scale' \(read by _scaled"):
        strict(_DATA2)
    _cfg.scale = 4.0  # the same number again, a new float object: no retrace needed
    k = compile_batch(lambda x: _scaled(x, w), retrace=False)
    k(_DATA2)
    _cfg.scale = float("4.0")
    k(_DATA2)


_mean = np.array([0.5, -0.25])
_stats = types.SimpleNamespace(scale=[np.array([2.0, float("nan")])])


def _normalised(x: list[Value], w: Value) -> Value:
    """Reads a global array and an array inside a list reached by an attribute chain."""
    s = _stats.scale[0]
    return w * (x[0] - _mean[0]) * s[0] + (x[1] - _mean[1]) * (1.0 if np.isnan(s[1]) else float(s[1]))


def test_a_numpy_array_changed_in_place_traces_again() -> None:
    w = Value(0.7, "w")
    compiled = compile_batch(lambda x: _normalised(x, w))
    _assert_same(lambda x: _normalised(x, w), [_DATA2], [w], compiled)
    _assert_same(lambda x: _normalised(x, w), [_DATA2], [w], compiled)  # nan == nan: no change, no retrace
    assert compiled.programs == 1
    _mean[0] = 2.0  # a global array, in place
    _assert_same(lambda x: _normalised(x, w), [_DATA2], [w], compiled)
    _stats.scale[0][0] = -3.0  # an array inside a list, reached by an attribute chain
    _assert_same(lambda x: _normalised(x, w), [_DATA2], [w], compiled)
    _stats.scale[0][1] = 5.0  # the nan that steered Python's branch
    _assert_same(lambda x: _normalised(x, w), [_DATA2], [w], compiled)
    assert compiled.programs == 1  # each change dropped the old program
    strict = compile_batch(lambda x: _normalised(x, w), retrace=False)
    strict(_DATA2)
    _mean[1] = 1.0
    with pytest.raises(GuardError, match=r"values of the array '_mean'"):
        strict(_DATA2)


class _Knobs:
    """A user's plain object (no parameters(), no forward)."""

    def __init__(self) -> None:
        self.gain = 2.0
        self.inner = types.SimpleNamespace(bias=0.5)


_knobs = [_Knobs()]


def _apply_knobs(x: Value, k: _Knobs) -> Value:
    """A helper that reads attributes through its argument."""
    return x * k.gain + k.inner.bias


def _knobbed(x: list[Value], w: Value) -> Value:
    return _apply_knobs(w * x[0], _knobs[0]) + x[1]


def test_attributes_a_helper_reads_through_its_argument_trace_again_when_set() -> None:
    w = Value(0.7, "w")
    compiled = compile_batch(lambda x: _knobbed(x, w))
    _assert_same(lambda x: _knobbed(x, w), [_DATA2], [w], compiled)
    _knobs[0].gain = -1.5  # a plain object inside a list, read by a helper through its argument
    _assert_same(lambda x: _knobbed(x, w), [_DATA2], [w], compiled)
    _knobs[0].inner.bias = 4.0  # a SimpleNamespace one attribute deeper
    _assert_same(lambda x: _knobbed(x, w), [_DATA2], [w], compiled)
    assert compiled.programs == 1
    strict = compile_batch(lambda x: _knobbed(x, w), retrace=False)
    strict(_DATA2)
    _knobs[0].gain = 9.0
    with pytest.raises(GuardError, match=r"contents of '_knobs\[0\]'"):
        strict(_DATA2)


_offset = 0.25


class _Shifted(nn.Module):
    """A user's module whose forward reads a global and its own plain-number attribute."""

    def __init__(self) -> None:
        self.lin = nn.MLP(2, [2, 1], seed=0)
        self.gain = 1.5

    def forward(self, x: list[Value]) -> Value:
        return self.lin(x) * self.gain + _offset


def test_names_and_numbers_read_in_a_users_forward_are_guarded() -> None:
    global _offset
    model = _Shifted()
    compiled = compile_batch(lambda x: model(x))
    _assert_same(lambda x: model(x), [_DATA2], model.parameters(), compiled)
    _offset = -3.0  # a global read inside forward, not by fn
    _assert_same(lambda x: model(x), [_DATA2], model.parameters(), compiled)
    model.gain = 0.5  # a number attribute of the model
    _assert_same(lambda x: model(x), [_DATA2], model.parameters(), compiled)
    inner = compile_batch(lambda x: [model(x)])  # the model inside a list: found all the same
    inner(_DATA2)
    strict = compile_batch(lambda x: model(x), retrace=False)
    strict(_DATA2)
    _offset = 1.0
    with pytest.raises(GuardError, match=r"global '_offset' \(read by _Shifted.forward"):
        strict(_DATA2)


def test_training_without_changes_keeps_one_program() -> None:
    model = nn.MLP(2, [4, 1], seed=0)
    compiled = compile_batch(lambda x: model(x) * model(x))
    for _ in range(3):
        compiled.backward(_DATA2, accumulate=False, update=lambda p, g: p - 0.1 * g)
    assert compiled.programs == 1
    model.eval()  # the training flag is part of what forward may read
    compiled(_DATA2)
    assert compiled.programs == 1


def test_a_bound_method_guards_what_it_reads_through_self() -> None:
    class Task:
        def __init__(self) -> None:
            self.model = nn.MLP(2, [3, 1], seed=0)
            self.cfg = types.SimpleNamespace(weight=0.5)

        def loss(self, x: list[Value]) -> Value:
            return self.model(x) * self.cfg.weight

    task = Task()
    compiled = compile_batch(task.loss)
    _assert_same(task.loss, [_DATA2], task.model.parameters(), compiled)
    task.cfg.weight = -2.0  # a number two attributes from self
    _assert_same(task.loss, [_DATA2], task.model.parameters(), compiled)
    task.model = nn.MLP(2, [3, 1], seed=1)
    _assert_same(task.loss, [_DATA2], task.model.parameters(), compiled)
    strict = compile_batch(task.loss, retrace=False)
    strict(_DATA2)
    task.cfg.weight = 4.0
    with pytest.raises(GuardError, match=r"attribute 'self\.cfg\.weight' \(read by .*Task\.loss"):
        strict(_DATA2)


def _chain_of_functions(n: int) -> Callable[[Value], Value]:
    """f_n(x) = f_{n-1}(x) + 1, ..., f_0(x) = x * 2: n + 1 functions, each reaching the next by a closure."""

    def f0(x: Value) -> Value:
        return x * 2.0

    f = f0
    for _ in range(n):

        def make(inner: Callable[[Value], Value]) -> Callable[[Value], Value]:
            def fi(x: Value) -> Value:
                return inner(x) + 1.0
            return fi

        f = make(f)
    return f


def test_a_function_reaching_too_many_functions_warns_that_the_rest_are_not_watched() -> None:
    from chainrule.autograd.compiler import MAX_NAMED_FUNCTIONS

    data = np.array([0.5, -1.5])
    small = _chain_of_functions(10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(compile_batch(small)(data), data * 2.0 + 10.0)
    big = _chain_of_functions(MAX_NAMED_FUNCTIONS + 5)
    with pytest.warns(RuntimeWarning, match=rf"reaches more than {MAX_NAMED_FUNCTIONS} of your functions .* clear\(\)"):
        out = compile_batch(big)(data)
    np.testing.assert_allclose(out, data * 2.0 + MAX_NAMED_FUNCTIONS + 5)
