"""Tests of grad mode, anomaly mode and scopes: nesting, exceptions, threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import numpy as np
import pytest

from chainrule.autograd import (
    OPS,
    AnomalyError,
    Op,
    Value,
    apply,
    current_scope,
    detect_anomaly,
    dot,
    enable_grad,
    is_grad_enabled,
    logsumexp,
    maximum,
    no_grad,
    scope,
)
from chainrule.autograd import grad as autograd_grad
from chainrule.autograd.ops import NUMPY_MATH

# ----------------------------------------------------------------------------
# no_grad / enable_grad
# ----------------------------------------------------------------------------


def test_no_grad_context_manager() -> None:
    x = Value(2.0, "x")
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = x * 3.0
        z = y.tanh()
    assert is_grad_enabled()
    assert y.data == 6.0 and y.parents == () and y.op == "" and y.local_grads == ()
    assert z.parents == () and z.data == math.tanh(6.0)
    w = x * 3.0
    assert w.parents[0] is x


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_no_grad_records_nothing_for_every_op(op: Op) -> None:
    xs = [0.7, 1.3, 2.1] if op.arity is None else [0.7, -1.5, 2.1][: op.arity]
    with no_grad():
        node = apply(op, *[Value(x) for x in xs])
    assert node.parents == () and node.local_grads == ()
    with np.errstate(invalid="ignore"):  # acosh(0.7) is nan: the engine warns of nothing, numpy would
        expected = float(op.forward(NUMPY_MATH, *xs))
    assert node.data == pytest.approx(expected, rel=1e-14, nan_ok=True)


# The engine's fast paths (two Values under +, - and *, tanh, relu, dot) read their mode's meta, which is
# None under no_grad and anomaly mode: each must then take the generic path, as every other op does.
FAST_PATHS: dict[str, Callable[[Value, Value], Value]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "tanh": lambda a, b: a.tanh(),
    "relu": lambda a, b: a.relu(),
    "dot": lambda a, b: dot([a], [b], bias=b),
}


@pytest.mark.parametrize("name", sorted(FAST_PATHS))
def test_fast_paths_follow_the_mode(name: str) -> None:
    make = FAST_PATHS[name]
    a, b = Value(0.5, "a"), Value(-2.0, "b")
    with scope("m"):
        recorded = make(a, b)
        with no_grad():
            unrecorded = make(a, b)
            with scope("inner"), enable_grad():
                inner = make(a, b)
    assert recorded.op == name and recorded.parents and recorded.scope == "m"
    assert unrecorded.op == "" and unrecorded.parents == () and unrecorded.data == recorded.data
    assert unrecorded.scope == "m"
    assert inner.op == name and inner.parents and inner.scope == "m.inner"
    bad = math.nan if name == "tanh" else math.inf  # tanh(inf) is 1.0
    make(Value(bad), Value(1.0))  # no error outside anomaly mode
    with detect_anomaly(), pytest.raises(AnomalyError, match=f"op '{name}'"):
        make(Value(bad, "a"), Value(1.0, "b"))


def test_no_grad_decorator() -> None:
    seen = []

    @no_grad()
    def square(v: Value) -> Value:
        """Square v."""
        seen.append(is_grad_enabled())
        return v * v

    y = square(Value(3.0))
    assert y.data == 9.0 and y.parents == ()
    assert seen == [False]
    assert is_grad_enabled()
    assert square.__name__ == "square" and square.__doc__ == "Square v."


def test_no_grad_decorator_covers_a_generator_body_only() -> None:
    """As in PyTorch: the body runs without grad, the caller keeps its mode at every yield."""
    seen = []

    @no_grad()
    def steps(x: Value, n: int) -> Generator[Value, float, str]:
        """Yield n products."""
        for _ in range(n):
            factor = yield x * 2.0
            seen.append((factor, is_grad_enabled()))
        return "done"

    x = Value(3.0, "x")
    gen = steps(x, 2)
    first = next(gen)
    assert first.parents == () and first.data == 6.0
    assert is_grad_enabled()  # the caller's mode between steps
    assert gen.send(1.5).parents == ()
    with pytest.raises(StopIteration) as info:
        gen.send(2.5)
    assert info.value.value == "done"
    assert seen == [(1.5, False), (2.5, False)]
    assert steps.__name__ == "steps" and steps.__doc__ == "Yield n products."
    with no_grad():
        assert [v.parents for v in steps(x, 2)] == [(), ()]
        assert not is_grad_enabled()


def test_generator_decorator_passes_throw_and_close_inside_the_mode() -> None:
    seen = []

    @enable_grad()
    def guarded() -> Generator[int, None, None]:
        try:
            yield 1
        except KeyError:
            seen.append(("caught", is_grad_enabled()))
            yield 2
        finally:
            seen.append(("closed", is_grad_enabled()))

    with no_grad():
        gen = guarded()
        assert next(gen) == 1
        assert gen.throw(KeyError("k")) == 2
        gen.close()
        assert not is_grad_enabled()
    assert seen == [("caught", True), ("closed", True)]


def test_no_grad_decorator_covers_async_functions_and_async_generators() -> None:
    @no_grad()
    async def square(v: Value) -> tuple[Value, bool]:
        await asyncio.sleep(0)
        return v * v, is_grad_enabled()

    @no_grad()
    async def squares(v: Value) -> AsyncGenerator[tuple[Value, bool], None]:
        for _ in range(2):
            await asyncio.sleep(0)
            yield v * v, is_grad_enabled()

    async def main() -> list[Any]:
        x = Value(2.0)
        results: list[Any] = [await square(x), is_grad_enabled()]
        async for item in squares(x):
            results.append((item, is_grad_enabled()))
        return results

    (y, inside), outside, *steps = asyncio.run(main())
    assert y.data == 4.0 and y.parents == () and not inside and outside
    assert [(v.parents, inside, outside) for (v, inside), outside in steps] == [((), False, True)] * 2


def test_async_decorator_does_not_leak_into_other_tasks() -> None:
    @no_grad()
    async def slow() -> bool:
        await asyncio.sleep(0.01)
        return is_grad_enabled()

    async def other() -> bool:
        await asyncio.sleep(0.005)  # runs while slow() is suspended inside no_grad
        return is_grad_enabled()

    async def main() -> list[bool]:
        return list(await asyncio.gather(slow(), other()))

    assert asyncio.run(main()) == [False, True]


@pytest.mark.parametrize("switch", [no_grad, enable_grad, detect_anomaly])
def test_unbalanced_exit_is_a_clear_error(switch: Callable[[], Any]) -> None:
    name = switch.__name__
    with pytest.raises(RuntimeError, match=rf"{name}\(\)\.__exit__ was called without a matching __enter__"):
        switch().__exit__(None, None, None)
    assert is_grad_enabled()
    outer, inner = no_grad(), switch()
    outer.__enter__()
    inner.__enter__()
    with pytest.raises(RuntimeError, match="reverse order"):
        outer.__exit__(None, None, None)
    inner.__exit__(None, None, None)
    outer.__exit__(None, None, None)
    assert is_grad_enabled()


def test_decorating_a_non_function_is_an_error() -> None:
    with pytest.raises(TypeError, match="decorates a function"):
        no_grad()(3)  # type: ignore[type-var]


def test_enable_grad_inside_no_grad() -> None:
    x = Value(2.0)
    with no_grad():
        with enable_grad():
            assert is_grad_enabled()
            y = x * x
        assert not is_grad_enabled()
        z = x * x
    assert y.parents == (x, x)
    assert z.parents == ()


def test_enable_grad_decorator_inside_no_grad() -> None:
    @enable_grad()
    def square(v: Value) -> Value:
        return v * v

    x = Value(2.0)
    with no_grad():
        y = square(x)
        assert not is_grad_enabled()
    y.backward()
    assert x.grad == 4.0


def test_nesting_restores_each_level() -> None:
    with no_grad():
        with no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled()
        with enable_grad():
            with no_grad():
                assert not is_grad_enabled()
            assert is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_one_switch_object_can_be_reused_and_nested() -> None:
    switch = no_grad()
    with switch:
        with switch:
            assert not is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()
    with switch:
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_exceptions_restore_the_mode() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with no_grad():
            raise RuntimeError("boom")
    assert is_grad_enabled()

    @no_grad()
    def fails() -> None:
        raise KeyError("inner")

    with pytest.raises(KeyError):
        fails()
    assert is_grad_enabled()

    with no_grad():
        with pytest.raises(ValueError):
            with enable_grad():
                raise ValueError
        assert not is_grad_enabled()
    assert is_grad_enabled()


# ----------------------------------------------------------------------------
# Threads and asyncio tasks: each has its own mode
# ----------------------------------------------------------------------------


def _run_threads(*targets: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as e:  # reported in the main thread
                errors.append(e)

        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def test_no_grad_in_one_thread_does_not_affect_another() -> None:
    barrier = threading.Barrier(2, timeout=10)
    seen: dict[str, Any] = {}
    x = Value(2.0, "x")

    def quiet() -> None:
        with no_grad():
            barrier.wait()  # both threads are now running; this one is inside no_grad
            seen["quiet enabled"] = is_grad_enabled()
            seen["quiet node"] = x * x
            barrier.wait()
        seen["quiet after"] = is_grad_enabled()

    def recording() -> None:
        barrier.wait()
        seen["recording enabled"] = is_grad_enabled()
        seen["recording node"] = x * x
        barrier.wait()

    _run_threads(quiet, recording)
    assert seen["quiet enabled"] is False and seen["quiet node"].parents == ()
    assert seen["recording enabled"] is True and seen["recording node"].parents == (x, x)
    assert seen["quiet after"] is True
    assert is_grad_enabled()


def test_one_switch_object_shared_by_two_threads() -> None:
    """Exits interleave: A enters, B enters, A exits (B must stay in no_grad), B exits."""
    switch = no_grad()
    step = threading.Barrier(2, timeout=10)
    seen: dict[str, bool] = {}

    def a() -> None:
        switch.__enter__()
        step.wait()  # 1: both inside
        switch.__exit__(None, None, None)
        seen["a after exit"] = is_grad_enabled()
        step.wait()  # 2: A has left

    def b() -> None:
        switch.__enter__()
        step.wait()  # 1
        step.wait()  # 2
        seen["b still inside"] = not is_grad_enabled()
        switch.__exit__(None, None, None)
        seen["b after exit"] = is_grad_enabled()

    _run_threads(a, b)
    assert seen == {"a after exit": True, "b still inside": True, "b after exit": True}


def test_no_grad_in_one_asyncio_task_does_not_affect_another() -> None:
    x = Value(3.0)
    seen: dict[str, Any] = {}

    async def quiet(inside: asyncio.Event, done: asyncio.Event) -> None:
        with no_grad():
            inside.set()
            await done.wait()  # the other task runs while this one is inside no_grad
            seen["quiet still off"] = not is_grad_enabled()
            seen["quiet node"] = x * x

    async def recording(inside: asyncio.Event, done: asyncio.Event) -> None:
        await inside.wait()
        seen["recording enabled"] = is_grad_enabled()
        seen["recording node"] = x * x
        done.set()

    async def main() -> None:
        inside, done = asyncio.Event(), asyncio.Event()
        await asyncio.gather(quiet(inside, done), recording(inside, done))

    asyncio.run(main())
    assert seen["quiet still off"] is True and seen["quiet node"].parents == ()
    assert seen["recording enabled"] is True and seen["recording node"].parents == (x, x)
    assert is_grad_enabled()


# ----------------------------------------------------------------------------
# detect_anomaly
# ----------------------------------------------------------------------------


def test_anomaly_is_off_by_default() -> None:
    y = Value(0.0).log()
    assert y.data == -math.inf


def test_anomaly_raises_at_the_first_non_finite_op() -> None:
    x = Value(0.0, "x")
    y = Value(2.0, "y")
    made = []
    with detect_anomaly():
        made.append(x * y)  # finite: fine
        with pytest.raises(AnomalyError) as info:
            made.append(y / x)  # inf: the first anomaly
            made.append(made[-1] - made[-1])  # would be nan; never reached
    message = str(info.value)
    assert "op 'div'" in message
    assert "y=2.0" in message and "x=0.0" in message
    assert "inf" in message
    assert len(made) == 1
    assert isinstance(info.value, FloatingPointError)


def test_anomaly_in_a_local_derivative() -> None:
    x = Value(0.0, "x")
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"op 'sqrt' has local derivative inf for input 0.*x=0\.0"):
        x.sqrt()  # sqrt(0) = 0 is finite, its derivative is not


def test_anomaly_names_unlabelled_inputs_by_op_or_role() -> None:
    x = Value(-1.0, "x")
    with detect_anomaly():
        t = x * 2.0  # unlabelled: shown as <mul>
        with pytest.raises(AnomalyError, match=r"op 'log' produced nan from inputs \(<mul>=-2\.0\)"):
            t.log()
        with pytest.raises(AnomalyError, match=r"<constant>=0\.0"):
            _ = x / 0.0


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("mul", lambda: Value(1e308, "a") * 10.0),  # operator fast path
        ("log", lambda: Value(-1.0, "a").log()),  # method fast path
        ("logsumexp", lambda: logsumexp([Value(math.inf, "a"), 1.0])),  # n-ary apply
        ("maximum", lambda: maximum(Value(math.nan, "a"), 1.0)),  # apply
        ("pow", lambda: Value(-8.0, "a") ** (1 / 3)),  # complex in Python: nan
        ("exp", lambda: Value(1000.0, "a").exp()),  # OverflowError in math: numpy fallback
    ],
)
def test_anomaly_on_every_path(name: str, make: Callable[[], Value]) -> None:
    make()  # no error outside anomaly mode
    with detect_anomaly(), pytest.raises(AnomalyError, match=rf"op '{name}'.*a="):
        make()


def test_anomaly_under_no_grad_still_checks_the_forward() -> None:
    with no_grad(), detect_anomaly(), pytest.raises(AnomalyError, match="op 'div'"):
        Value(1.0) / 0.0
    with no_grad(), detect_anomaly():
        assert Value(0.0).sqrt().data == 0.0  # its derivative is not computed, so not checked


def test_anomaly_decorator_and_restore() -> None:
    @detect_anomaly()
    def bad() -> Value:
        return Value(0.0).log()

    with pytest.raises(AnomalyError):
        bad()
    assert Value(0.0).log().data == -math.inf  # off again after the exception
    with detect_anomaly():
        with no_grad():
            pass
        with pytest.raises(AnomalyError):
            Value(0.0).log()


def test_anomaly_in_backward_names_the_node_and_its_consumer() -> None:
    """The issue's example: every op is finite, the gradient is not."""
    x = Value(1e-300, "x")
    y = (x * 1e200) * 1e200
    with detect_anomaly(), pytest.raises(AnomalyError) as info:
        y.backward()
    message = str(info.value)
    assert message.startswith("anomaly in backward: the gradient of 'x' (variable leaf) became inf")
    assert "consumer <mul> (op 'mul')" in message and "local derivative 1e+200 * upstream gradient 1e+200" in message
    assert x.grad == 0.0 and y.grad == 0.0  # nothing was accumulated
    y.backward()  # outside anomaly mode: inf, silently, as before
    assert x.grad == math.inf


def test_anomaly_in_backward_names_an_inner_nodes_op_label_and_scope() -> None:
    x = Value(1.0, "x")
    with scope("layers"), scope("0"):
        h = x * 1e-300
        h.label = "h"
    with scope("loss"):
        y = (h * 1e300) * 1e300  # every value is finite (y = 1e300); h's gradient 1e300 * 1e300 is not
    for run in (y.backward, lambda: autograd_grad(y, [x]), lambda: autograd_grad(y, [x], create_graph=True)):
        with detect_anomaly(), pytest.raises(AnomalyError) as info:
            run()
        assert str(info.value) == (
            "anomaly in backward: the gradient of 'h' (op 'mul', scope 'layers.0') became inf: its consumer "
            "<mul> (op 'mul', scope 'loss') passes local derivative 1e+300 * upstream gradient 1e+300"
        )
    assert y.data == 1e300 and x.grad == h.grad == y.grad == 0.0


def test_anomaly_in_backward_when_a_sum_overflows() -> None:
    a = Value(1e-300, "a")
    with scope("layers"), scope("0"):
        t = a * 1e308
        t.label = "t"
    y = t + a * 1e308  # two finite terms for a, whose sum overflows
    for run in (y.backward, lambda: autograd_grad(y, [a]), lambda: autograd_grad(y, [a], create_graph=True)):
        with detect_anomaly(), pytest.raises(AnomalyError) as info:
            run()
        assert str(info.value) == (
            "anomaly in backward: the gradient of 'a' (variable leaf) became inf when the term 1e+308 from its "
            "consumer 't' (op 'mul', scope 'layers.0') was added to 1e+308 from its other consumers"
        )
    assert a.grad == 0.0


def test_anomaly_in_backward_of_a_graph_built_outside_anomaly_mode() -> None:
    """inf local derivatives recorded outside; inf + (-inf) = nan would follow: the first inf term raises."""
    x = Value(0.0, "x")
    y = x.sqrt() - x.sqrt()
    y.backward()
    assert math.isnan(x.grad)  # outside anomaly mode: inf + (-inf), silently
    x.grad = 0.0
    expected = r"gradient of 'x' .* became -inf: its consumer <sqrt> \(op 'sqrt'\) passes local derivative inf \*"
    with detect_anomaly(), pytest.raises(AnomalyError, match=expected + r" upstream gradient -1\.0"):
        y.backward()
    assert x.grad == 0.0


def test_anomaly_in_backward_when_grad_accumulates_past_the_range() -> None:
    b = Value(1e300, "b")
    w = b * 1.0
    with detect_anomaly():
        w.backward(1e308)
        with pytest.raises(AnomalyError, match=r"\.grad of <mul> \(op 'mul'\) became inf when this call's gradient "
                           r"1e\+308 was added to the 1e\+308 already in it"):
            w.backward(1e308)
    assert w.grad == 1e308 and b.grad == 1e308  # the failing call changed nothing


@pytest.mark.parametrize("seed", [math.inf, math.nan])
def test_anomaly_in_backward_checks_the_seed(seed: float) -> None:
    x = Value(1.0, "x")
    with detect_anomaly(), pytest.raises(AnomalyError, match="the seed gradient is"):
        (x * 2.0).backward(seed)
    with detect_anomaly(), pytest.raises(AnomalyError, match="the seed gradient is"):
        x.backward(seed)


def test_anomaly_mode_gives_the_same_gradients_bit_for_bit() -> None:
    xs = [Value(v, f"x{i}") for i, v in enumerate([0.3, -1.2, 2.5])]
    shared = xs[0] * xs[1] + xs[2].tanh()
    y = (shared * shared + shared.exp() * xs[0]).log() + logsumexp([shared, xs[1], xs[2]])
    y.backward()
    normal = [v.grad for v in xs]
    for v in xs:
        v.grad = 0.0
    with detect_anomaly():
        y.backward()
    assert [v.grad for v in xs] == normal


# ----------------------------------------------------------------------------
# scope
# ----------------------------------------------------------------------------


def test_scope_nesting_paths() -> None:
    assert current_scope() is None
    outside = Value(1.0)
    with scope("layers") as path:
        assert path == "layers" and current_scope() == "layers"
        with scope("0") as inner:
            assert inner == "layers.0"
            x = Value(2.0)
            y = x * outside
        z = y + 1.0
    assert current_scope() is None
    assert outside.scope is None
    assert x.scope == "layers.0" and y.scope == "layers.0"
    assert z.scope == "layers"
    assert z.parents[1].scope == "layers"  # the constant leaf made for 1.0


def test_scope_restores_on_exceptions_and_combines_with_no_grad() -> None:
    with pytest.raises(RuntimeError):
        with scope("a"):
            raise RuntimeError
    assert current_scope() is None
    with scope("a"):
        with no_grad():
            assert current_scope() == "a"
            with scope("b"):
                assert current_scope() == "a.b" and not is_grad_enabled()
            assert current_scope() == "a"
        assert is_grad_enabled() and current_scope() == "a"
    assert current_scope() is None


@pytest.mark.parametrize("bad", ["", 3, None])
def test_scope_rejects_bad_names(bad: Any) -> None:
    with pytest.raises(TypeError, match="non-empty str"):
        with scope(bad):
            pass


def test_scopes_are_per_thread() -> None:
    barrier = threading.Barrier(2, timeout=10)
    seen: dict[str, str | None] = {}

    def one(name: str) -> Callable[[], None]:
        def run() -> None:
            with scope(name):
                barrier.wait()
                seen[name] = Value(1.0).scope
                barrier.wait()

        return run

    _run_threads(one("left"), one("right"))
    assert seen == {"left": "left", "right": "right"}
