"""Graphs make no reference cycles, and defer_gc() raises the collector's threshold only while it runs.

defer_gc() is safe only because a dropped graph is freed by reference
counting alone: the first tests check that, for every kind of node the
engine makes. The rest check that the thresholds come back in every way a
block can end (normally, by an exception, nested, across threads), that the
engine's backward(), grad() and nn.fit use it, and that importing chainrule
changes nothing.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from chainrule import autograd, nn
from chainrule.autograd import Value, defer_gc, detect_anomaly, grad, no_grad, scope
from chainrule.autograd import engine as engine_module
from chainrule.autograd.collector import GRAPH_THRESHOLD


@pytest.fixture(autouse=True)
def _default_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


# ----------------------------------------------------------------------------
# No reference cycles
# ----------------------------------------------------------------------------


def _every_kind_of_node() -> Value:
    x = Value(0.5, "x")
    w = [Value(0.1 * i, f"w{i}") for i in range(3)]
    with scope("block"):
        h = autograd.dot(w, [x, x * 2.0, 3.0], bias=Value(0.2))  # n-ary, constants, a scope
        y = (h.tanh() + x.relu() - 1.0) * x / 2.0 + 2.0**x + x.leaky_relu(0.1)
        y = autograd.logsumexp([y, x]) + autograd.maximum(y, x) + autograd.clamp(y, -1.0, 1.0)
        y = y + autograd.sum([x, y.sigmoid(), y.exp().log(), y.softplus()])
    with no_grad():
        _ = y * 2.0
    y.label = "y"
    return y


def _unreachable_after(build: Callable[[], object]) -> int:
    """Run build (dropping what it makes), then return how many unreachable objects the collector finds."""
    gc.collect()
    build()
    return gc.collect()


def test_a_dropped_graph_leaves_no_cycles() -> None:
    assert _unreachable_after(_every_kind_of_node) == 0


def test_backward_leaves_no_cycles() -> None:
    def build() -> None:
        y = _every_kind_of_node()
        y.backward()
        y.backward()

    assert _unreachable_after(build) == 0


@pytest.mark.parametrize("create_graph", [False, True])
def test_grad_leaves_no_cycles(create_graph: bool) -> None:
    def build() -> None:
        x = Value(0.3, "x")
        y = (x * x).tanh() * x
        (g,) = grad(y, [x], create_graph=create_graph)
        if create_graph:
            g.backward()

    assert _unreachable_after(build) == 0


def test_anomaly_mode_leaves_no_cycles() -> None:
    def build() -> None:
        with detect_anomaly():
            x = Value(0.3, "x")
            y = x.exp() * x
            y.backward()

    assert _unreachable_after(build) == 0


def test_a_training_step_leaves_no_cycles() -> None:
    model = nn.MLP(2, [4, 1], seed=0)

    def step() -> None:
        out = model([0.5, -1.0])
        loss = nn.functional.mse_loss(out, 1.0)
        model.zero_grad()
        loss.backward()

    step()  # the model's own objects and caches exist before counting
    assert _unreachable_after(step) == 0


def test_nodes_are_referred_to_by_their_consumers_only() -> None:
    x = Value(1.5, "x")
    y = x * x
    z = y.tanh()
    referrers = [r for r in gc.get_referrers(y) if r is not sys._getframe()]
    assert referrers == [z]


# ----------------------------------------------------------------------------
# defer_gc restores the thresholds
# ----------------------------------------------------------------------------


def test_defer_gc_raises_the_first_threshold_inside_and_restores_it() -> None:
    gc.set_threshold(700, 11, 12)
    with defer_gc():
        assert gc.get_threshold() == (GRAPH_THRESHOLD, 11, 12)
        assert gc.isenabled()
    assert gc.get_threshold() == (700, 11, 12)


def test_defer_gc_restores_on_an_exception() -> None:
    with pytest.raises(ZeroDivisionError), defer_gc():
        assert gc.get_threshold()[0] == GRAPH_THRESHOLD
        _ = 1 / 0
    assert gc.get_threshold() == (700, 10, 10)


def test_nested_blocks_restore_when_the_outermost_exits() -> None:
    outer = defer_gc()
    with outer:
        with defer_gc():
            assert gc.get_threshold()[0] == GRAPH_THRESHOLD
        assert gc.get_threshold()[0] == GRAPH_THRESHOLD  # the outer block still runs
        with outer:  # one object entered twice
            pass
        assert gc.get_threshold()[0] == GRAPH_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_thresholds_set_inside_the_block_are_kept() -> None:
    with defer_gc():
        gc.set_threshold(5000, 20, 20)
    assert gc.get_threshold() == (5000, 20, 20)


@pytest.mark.parametrize("first", [0, GRAPH_THRESHOLD * 2])
def test_automatic_collection_off_or_a_higher_threshold_is_left_alone(first: int) -> None:
    gc.set_threshold(first, 10, 10)
    with defer_gc():
        assert gc.get_threshold() == (first, 10, 10)
    assert gc.get_threshold() == (first, 10, 10)


def test_overlapping_blocks_in_two_threads_restore_once_both_exit() -> None:
    # Thread A enters first and exits first, while B is still inside: a
    # per-block save/restore would leave B's saved (raised) value behind.
    a_inside, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[int, int, int]] = {}

    def thread_a() -> None:
        with defer_gc():
            a_inside.set()
            b_inside.wait(5)
        seen["after a"] = gc.get_threshold()
        a_done.set()

    def thread_b() -> None:
        a_inside.wait(5)
        with defer_gc():
            b_inside.set()
            a_done.wait(5)
            seen["b inside after a"] = gc.get_threshold()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["after a"][0] == GRAPH_THRESHOLD  # B is still inside
    assert seen["b inside after a"][0] == GRAPH_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_an_exit_without_an_enter_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="without a matching"):
        defer_gc().__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


# ----------------------------------------------------------------------------
# Where the engine uses it
# ----------------------------------------------------------------------------


def _threshold_seen_by_the_walk(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    walk = engine_module._walk

    def spy(*args: object, **kwargs: object) -> None:
        seen.append(gc.get_threshold()[0])
        walk(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "_walk", spy)
    return seen


def test_backward_and_grad_defer_the_collector_and_restore_it(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _threshold_seen_by_the_walk(monkeypatch)
    x = Value(0.5)
    y = x.tanh() * x
    y.backward()
    grad(y, [x])
    assert seen == [GRAPH_THRESHOLD, GRAPH_THRESHOLD]
    assert gc.get_threshold() == (700, 10, 10)


def test_backward_restores_the_thresholds_when_it_raises() -> None:
    x = Value(1000.0, "x")
    y = x.exp()  # inf, and so is its local derivative
    with pytest.raises(autograd.AnomalyError), detect_anomaly():
        y.backward()
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(TypeError):
        y.backward("one")  # type: ignore[arg-type]
    assert gc.get_threshold() == (700, 10, 10)


def test_fit_defers_the_collector_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _threshold_seen_by_the_walk(monkeypatch)
    model = nn.MLP(2, [3, 1], seed=0)
    X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    y = [1.0, -1.0, 1.0]
    nn.fit(model, X, y, loss=nn.functional.hinge_loss, optimizer=nn.optim.SGD(model.parameters(), lr=0.1),
           epochs=2, progress=False, seed=0)
    assert seen and set(seen) == {GRAPH_THRESHOLD}
    assert gc.get_threshold() == (700, 10, 10)

    def failing_loss(outputs: list[Value], targets: list[object]) -> Value:
        raise ValueError("no loss today")

    with pytest.raises(ValueError, match="no loss today"):
        nn.fit(model, X, y, loss=failing_loss, optimizer=nn.optim.SGD(model.parameters(), lr=0.1), epochs=1,
               progress=False, seed=0)
    assert gc.get_threshold() == (700, 10, 10)


def test_importing_chainrule_leaves_the_thresholds_alone() -> None:
    code = (
        "import gc; gc.set_threshold(700, 10, 10); "
        "import chainrule, chainrule.autograd, chainrule.nn, chainrule.viz; "
        "print(gc.get_threshold())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "(700, 10, 10)"
