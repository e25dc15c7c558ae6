"""Tests for viz.trace (graph -> dataclasses with the chain-rule numbers) and viz.check (finite differences)."""

from __future__ import annotations

import math
import sys

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chainrule import autograd, nn
from chainrule.autograd import Op, Value, apply
from chainrule.viz.trace import CONSTANT_ROLE, INTERMEDIATE, LEAF, OUTPUT, PARAMETER_ROLE, Trace, trace

B = 6.8813735870195432  # makes the neuron's pre-activation atanh(1/sqrt(2)): tanh'(n) = 0.5


def neuron() -> tuple[Value, dict[str, Value]]:
    """The classic neuron tanh(x1*w1 + x2*w2 + b) at x1=2, x2=0, w1=-3, w2=1."""
    v = {name: Value(x, label=name) for name, x in [("x1", 2.0), ("w1", -3.0), ("x2", 0.0), ("w2", 1.0), ("b", B)]}
    n = v["x1"] * v["w1"] + v["x2"] * v["w2"] + v["b"]
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o, v


def by_label(tr: Trace) -> dict[str, int]:
    return {n.label: n.id for n in tr.nodes if n.label}


def test_neuron_numbers_by_hand() -> None:
    o, _ = neuron()
    tr = trace(o)
    ids = by_label(tr)
    assert tr.grads == "computed"  # backward() never ran
    assert [n.id for n in tr.nodes] == list(range(len(tr.nodes))) and tr.root == len(tr.nodes) - 1
    node = {name: tr.nodes[i] for name, i in ids.items()}
    assert node["o"].role == OUTPUT and node["o"].data == pytest.approx(1 / math.sqrt(2)) and node["o"].grad == 1.0
    # do/dn = 1 - tanh^2 = 0.5; n = x1*w1 + x2*w2 + b
    assert node["n"].grad == pytest.approx(0.5)
    assert node["x1"].grad == pytest.approx(-1.5) and node["w1"].grad == pytest.approx(1.0)
    assert node["x2"].grad == pytest.approx(0.5) and node["w2"].grad == pytest.approx(0.0)
    assert node["b"].grad == pytest.approx(0.5)
    assert {node[k].role for k in ("x1", "w1", "x2", "w2", "b")} == {LEAF}
    assert node["n"].role == INTERMEDIATE and node["n"].op == "add" and node["n"].symbol == "+"
    # the edge x1 -> (x1*w1): local d(x1*w1)/dx1 = w1 = -3, upstream 0.5, term -1.5
    (edge,) = [e for e in tr.edges if e.parent == ids["x1"]]
    assert (edge.op, edge.arg, edge.local, edge.blocker) == ("mul", 0, -3.0, None)
    assert edge.upstream == pytest.approx(0.5) and edge.contribution == pytest.approx(-1.5)
    (tanh_edge,) = tr.in_edges()[ids["o"]]
    assert tr.edges[tanh_edge].local == pytest.approx(0.5) and tr.edges[tanh_edge].upstream == 1.0
    # x2*w2 with x2 = 0: w2's only local derivative is 0, so w2 is cut off
    (w2_edge,) = [e for e in tr.edges if e.parent == ids["w2"]]
    assert w2_edge.local == 0.0 and w2_edge.blocker == "local derivative 0"
    assert node["w2"].cut_off and not node["x2"].cut_off and not node["b"].cut_off


def test_levels_and_edge_lists() -> None:
    o, _ = neuron()
    tr = trace(o)
    ids = by_label(tr)
    assert tr.nodes[ids["x1"]].level == 0 and tr.nodes[ids["n"]].level == 3 and tr.nodes[ids["o"]].level == 4
    outs, ins = tr.out_edges(), tr.in_edges()
    assert sum(map(len, outs)) == sum(map(len, ins)) == len(tr.edges) == 9
    assert all(tr.edges[i].child == n for n, es in enumerate(ins) for i in es)
    assert len(tr) == 10 and [n.id for n in tr] == list(range(10))


def test_trace_is_deterministic() -> None:
    a, _ = neuron()
    b, _ = neuron()
    assert trace(a) == trace(b)


@pytest.mark.parametrize("op", ["mul", "add"])
def test_reused_input_has_two_edges(op: str) -> None:
    x = Value(3.0, label="x")
    y = x * x if op == "mul" else x + x
    tr = trace(y)
    assert [(e.parent, e.child, e.arg) for e in tr.edges] == [(0, 1, 0), (0, 1, 1)]
    local = 3.0 if op == "mul" else 1.0
    assert [e.local for e in tr.edges] == [local, local]
    assert tr.nodes[0].grad_terms == [local, local] and tr.nodes[0].grad == 2 * local
    assert tr.nodes[0].grad_elsewhere == 0.0


def test_stored_and_computed_grads() -> None:
    o, v = neuron()
    o.backward()
    o.backward()  # .grad accumulates: every stored gradient doubles
    stored = trace(o)
    assert stored.grads == "stored" and stored.nodes[stored.root].grad == 2.0
    assert stored.nodes[by_label(stored)["x1"]].grad == pytest.approx(-3.0)
    computed = trace(o, grads="computed")
    assert computed.nodes[by_label(computed)["x1"]].grad == pytest.approx(-1.5)
    assert v["x1"].grad == pytest.approx(-3.0)  # tracing doesn't touch .grad
    fresh, _ = neuron()
    assert trace(fresh, grads="stored").nodes[0].grad == 0.0  # what .grad holds: nothing yet


def test_gradient_from_outside_the_drawn_graph() -> None:
    x = Value(2.0, label="x")
    y = x * 5.0
    z = y + x  # x also reaches z directly, outside y's graph
    z.backward()
    tr = trace(y)
    node = tr.nodes[by_label(tr)["x"]]
    assert node.grad == 6.0 and node.grad_terms == [5.0] and node.grad_elsewhere == 1.0


def test_constants_get_no_derivative() -> None:
    x = Value(2.0, label="x")
    y = 3.0 * x
    tr = trace(y)
    const = tr.nodes[0]
    assert const.role == CONSTANT_ROLE and const.data == 3.0 and const.name == "3" and const.grad == 0.0
    assert tr.edges[0].local is None and tr.edges[0].contribution is None and tr.edges[0].blocker is None
    assert not const.cut_off and const.grad_terms == []
    assert tr.edges[1].local == 3.0 and tr.nodes[1].grad == 3.0


@pytest.mark.parametrize(
    ("make", "blocker"),
    [
        (lambda x: x.relu(), "dead relu"),
        (lambda x: (x * -20.0).tanh(), None),  # the mul passes; the tanh blocks
        (lambda x: x.sigmoid(), "saturated sigmoid"),
    ],
)
def test_blockers(make: object, blocker: str | None) -> None:
    x = Value(-1.0 if blocker == "dead relu" else -30.0, label="x")
    y = make(x)  # type: ignore[operator]
    tr = trace(y)
    last = tr.edges[-1]
    assert last.blocker == (blocker or "saturated tanh")
    assert tr.nodes[0].cut_off


def test_cut_off_only_when_every_path_is_blocked() -> None:
    x = Value(-1.0, label="x")
    dead = x.relu()
    both = dead + x  # a live path around the dead relu
    tr = trace(both)
    ids = by_label(tr)
    assert not tr.nodes[ids["x"]].cut_off and tr.nodes[ids["x"]].grad == 1.0
    only = (x.relu() * 2.0).exp()
    tr = trace(only)
    cut = [n for n in tr.nodes if n.cut_off]
    assert [n.label for n in cut] == ["x"]  # the relu itself still gets its gradient
    assert trace(only, block_tol=0.0).nodes[0].cut_off  # exactly 0 still blocks


def test_block_tol_is_an_absolute_threshold() -> None:
    x = Value(3.0, label="x")
    y = x.tanh()  # tanh'(3) = 0.0099
    assert trace(y).edges[0].blocker is None
    assert trace(y, block_tol=0.01).edges[0].blocker == "saturated tanh"


def test_small_factors_scale_but_zeros_block() -> None:
    x = Value(2.0, label="x")
    assert trace(x * 1e-4).edges[0].blocker is None  # an L2 penalty's weight: scaled on purpose
    assert not trace(x * 1e-4).nodes[0].cut_off
    y = Value(5.0, label="y")
    tr = trace(autograd.maximum(x, y) + autograd.clamp(x, 3.0, 4.0))
    blockers = {(tr.nodes[e.parent].label, e.op): e.blocker for e in tr.edges if e.op != "add" and e.local is not None}
    assert blockers == {
        ("x", "maximum"): "max takes the other input",
        ("y", "maximum"): None,
        ("x", "clamp"): "clamped",
    }
    assert trace(autograd.minimum(x, y)).edges[1].blocker == "min takes the other input"
    assert trace((x * -50.0).softplus()).edges[-1].blocker == "saturated softplus"


def test_nan_local_derivative_is_not_a_blocker() -> None:
    x = Value(0.0, label="x")
    y = x.sqrt()  # sqrt'(0) = inf
    assert trace(y).edges[0].blocker is None


def test_module_scopes_and_parameter_roles() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    out = model([0.5, -1.0])
    tr = trace(out)
    params = [n for n in tr.nodes if n.role == PARAMETER_ROLE]
    assert len(params) == len(model.parameters()) == 13
    scopes = {n.scope for n in tr.nodes}
    assert "layers.0.neurons.2" in scopes and "layers.1.neurons.0" in scopes
    assert tr.nodes[tr.root].scope == "layers.1.neurons.0"


def test_deep_chain_beyond_recursion_limit() -> None:
    x = Value(0.5, label="x")
    y = x
    for _ in range(sys.getrecursionlimit() + 500):
        y = y * 1.0001
    tr = trace(y, check=True)
    assert tr.nodes[0].grad == pytest.approx(1.0001 ** (sys.getrecursionlimit() + 500))
    assert tr.nodes[0].check_ok


# ----------------------------------------------------------------------------
# check=True: central finite differences replayed on numpy
# ----------------------------------------------------------------------------


def test_check_agrees_on_a_correct_graph() -> None:
    o, _ = neuron()
    tr = trace(o, check=True)
    assert tr.checked
    for n in tr.nodes:
        if n.role == LEAF:
            assert n.fd_grad == pytest.approx(n.grad, abs=1e-6) and n.check_ok and n.check_error < 1e-6
        else:
            assert n.fd_grad is None and n.check_ok is None


WRONG_SQUARE = Op(
    "wrong_square", "sq", 1, lambda M, a: a * a, (lambda M, o, a: 3.0 * a,), (((-3.0, 3.0),),)
)  # d(a^2)/da is 2a, not 3a


def test_check_flags_a_wrong_rule() -> None:
    x = Value(1.5, label="x")
    y = Value(2.0, label="y")
    z = apply(WRONG_SQUARE, x) + y
    tr = trace(z, check=True)
    nx, ny = tr.nodes[0], tr.nodes[by_label(tr)["y"]]
    assert nx.grad == 4.5 and nx.fd_grad == pytest.approx(3.0, abs=1e-6)
    assert nx.check_ok is False and nx.check_error == pytest.approx(1.5 / 4.5, abs=1e-6)
    assert ny.check_ok is True and tr.nodes[1].symbol == "sq" and tr.nodes[1].name == "sq"


def test_check_replays_a_row_written_for_floats_only() -> None:
    step = Op(
        "float_relu", "frelu", 1, lambda M, a: a if a > 0 else 0.0 * a, (lambda M, o, a: 1.0 if a > 0 else 0.0,),
        (((-3.0, 3.0),),),
    )
    x = Value(2.0, label="x")
    tr = trace(apply(step, x) * x, check=True)  # d(x^2)/dx = 4
    assert tr.nodes[0].grad == 4.0 and tr.nodes[0].fd_grad == pytest.approx(4.0) and tr.nodes[0].check_ok


def test_check_scales_by_the_backward_seed() -> None:
    x = Value(2.0, label="x")
    y = x * x
    y.backward(3.0)
    tr = trace(y, check=True)
    assert tr.nodes[0].grad == 12.0 and tr.nodes[0].fd_grad == pytest.approx(12.0) and tr.nodes[0].check_ok


def test_check_on_an_mlp_loss_in_chunks() -> None:
    model = nn.MLP(2, [4, 1], seed=0)
    X, y = nn.make_moons(8, noise=0.1, seed=1)
    loss = nn.functional.hinge_loss([model(list(x)) for x in X], list(2 * y - 1))
    loss.backward()
    tr = trace(loss, check=True)
    checked = [n for n in tr.nodes if n.check_ok is not None]
    assert len(checked) == len(model.parameters()) == 17
    assert all(n.check_ok for n in checked)
    for p in model.parameters():
        assert tr.nodes[by_label(tr)[p.label]].grad == p.grad
    from chainrule.viz.check import finite_differences

    order = autograd.topological_order(loss)
    again = trace(loss)
    finite_differences(again, order, eps=1e-6, atol=1e-5, rtol=1e-3, chunk=3)  # several chunks, same answers
    assert [n.fd_grad for n in again.nodes] == pytest.approx([n.fd_grad for n in tr.nodes], nan_ok=True)


def test_check_at_a_non_finite_point() -> None:
    x = Value(0.0, label="x")
    tr = trace(x.log() * x.sqrt(), check=True)  # log'(0) = inf, sqrt'(0) = inf: grad = 0*inf + -inf*0... = nan
    node = tr.nodes[0]
    assert math.isnan(node.grad) and node.fd_grad is not None and math.isnan(node.fd_grad)
    assert node.check_ok is False and node.check_error is not None and math.isnan(node.check_error)


def test_compare() -> None:
    from chainrule.viz.check import _compare

    assert _compare(math.inf, math.inf, 1e-5, 1e-3) == (0.0, True)
    assert _compare(1.0, 1.0 + 1e-9, 1e-5, 1e-3)[1] is True
    assert _compare(4.5, 3.0, 1e-5, 1e-3) == (pytest.approx(1 / 3), False)
    assert _compare(1.0, math.inf, 1e-5, 1e-3) == (math.inf, False)
    error, ok = _compare(math.nan, math.nan, 1e-5, 1e-3)
    assert math.isnan(error) and not ok


@given(x=st.floats(-3, 3), y=st.floats(-3, 3))
@example(x=0.0, y=0.0)
def test_terms_sum_to_the_gradient(x: float, y: float) -> None:
    a, b = Value(x, label="a"), Value(y, label="b")
    out = (a * b + a.sin() * a - b / (1.0 + a * a)).tanh() + b * b
    tr = trace(out)
    expected = autograd.grad(out, [a, b])
    for node, g in zip([tr.nodes[i] for i in (by_label(tr)["a"], by_label(tr)["b"])], expected):
        assert node.grad == pytest.approx(g.data, rel=1e-12, abs=1e-12)
        assert math.fsum(node.grad_terms) == pytest.approx(node.grad, rel=1e-9, abs=1e-12)
        assert node.grad_elsewhere == 0.0


def test_bad_arguments() -> None:
    x = Value(1.0)
    with pytest.raises(TypeError, match="root must be an autograd Value, got float"):
        trace(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grads must be 'auto', 'stored' or 'computed', got 'both'"):
        trace(x, grads="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="block_tol must be a number >= 0, got -1"):
        trace(x, block_tol=-1)
    with pytest.raises(ValueError, match="check_eps must be > 0"):
        trace(x * 2.0, check=True, check_eps=0.0)
