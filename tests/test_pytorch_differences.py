"""Every claim of the "Differences from PyTorch" page (chainrule/differences_from_pytorch.py), on both libraries.

If one of these fails, the page is out of date: fix the page with the code, or the code.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import random
import statistics
import warnings
from typing import Any

import numpy as np
import pytest
from conftest import import_or_need

from chainrule import autograd, nn
from chainrule.autograd import (
    AnomalyError,
    DataDependentGraphError,
    Value,
    detect_anomaly,
    grad,
    is_grad_enabled,
    no_grad,
)
from chainrule.nn import functional as F

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def torch() -> Any:
    return import_or_need("torch", "PyTorch")


def test_values_are_float64_scalars_where_torch_defaults_to_float32(torch: Any) -> None:
    third = (Value(1.0) / 3.0).data
    assert type(third) is float and third == 1 / 3
    assert torch.get_default_dtype() == torch.float32
    assert (torch.tensor(1.0) / 3).item() != 1 / 3  # float32 rounding


def test_comparisons_give_bools_and_equality_is_identity(torch: Any) -> None:
    a, b = Value(1.0), Value(1.0)
    assert (a < Value(2.0)) is True and (a >= 1) is True
    assert (a == b) is False and a == a and {a: 1, b: 2}[b] == 2
    same = torch.tensor(1.0) == torch.tensor(1.0)
    assert isinstance(same, torch.Tensor) and same.dtype == torch.bool and bool(same)


def test_plain_numbers_are_constants_that_get_no_gradient() -> None:
    x = Value(2.0)
    y = x * 2.0
    y.backward()
    (constant,) = [p for p in y.parents if p is not x]
    assert constant.role == "constant" and constant.grad == 0.0 and x.grad == 2.0


def test_grad_starts_at_zero_not_none(torch: Any) -> None:
    assert Value(1.0).grad == 0.0
    assert torch.tensor(1.0, requires_grad=True).grad is None


def test_backward_fills_intermediate_nodes_torch_does_not(torch: Any) -> None:
    x = Value(2.0)
    z = x * 3.0
    (z * z).backward()
    assert z.grad == 12.0

    tx = torch.tensor(2.0, requires_grad=True)
    tz = tx * 3.0
    (tz * tz).backward()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tz.grad is None
    assert any("not a leaf" in str(w.message) for w in caught)


def test_backward_twice_doubles_where_torch_needs_retain_graph(torch: Any) -> None:
    x = Value(2.0)
    y = x * x
    y.backward()
    y.backward()
    assert x.grad == 8.0

    tx = torch.tensor(2.0, requires_grad=True)
    ty = tx * tx
    ty.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        ty.backward()


def test_grad_returns_a_list_and_zero_for_unused_inputs(torch: Any) -> None:
    x, unused = Value(2.0), Value(3.0)
    y = x * x
    result = grad(y, [x, unused], allow_unused=True)
    assert isinstance(result, list) and [g.data for g in result] == [4.0, 0.0]
    assert all(isinstance(g, Value) for g in result)
    with pytest.raises(ValueError, match="not used"):
        grad(y, [x, unused])

    tx, tu = torch.tensor(2.0, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    ty = tx * tx
    theirs = torch.autograd.grad(ty, [tx, tu], allow_unused=True, retain_graph=True)
    assert isinstance(theirs, tuple) and theirs[1] is None
    with pytest.raises(RuntimeError, match="not have been used"):
        torch.autograd.grad(ty, [tx, tu], retain_graph=True)
    materialized = torch.autograd.grad(ty, [tx, tu], allow_unused=True, materialize_grads=True)
    assert materialized[1].item() == 0.0


def test_zero_grad_sets_zero_where_torch_sets_none(torch: Any) -> None:
    model = nn.MLP(2, [1], seed=0)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    model([1.0, 2.0]).backward()
    optimizer.zero_grad()
    assert [p.grad for p in model.parameters()] == [0.0, 0.0, 0.0]

    linear = torch.nn.Linear(2, 1)
    torch_optimizer = torch.optim.SGD(linear.parameters(), lr=0.1)
    linear(torch.ones(2)).sum().backward()
    torch_optimizer.zero_grad()
    assert all(p.grad is None for p in linear.parameters())


def test_detach_copies_where_torch_shares_storage(torch: Any) -> None:
    a = Value(1.0, label="a")
    d = a.detach()
    d.data = 5.0
    assert a.data == 1.0 and d.label == "a" and d.parents == ()

    ta = torch.tensor([1.0])
    ta.detach()[0] = 5.0
    assert ta.item() == 5.0


def test_create_graph_gives_differentiable_results() -> None:
    x = Value(2.0)
    (dy,) = grad(x**3, [x], create_graph=True)
    (d2y,) = grad(dy, [x])
    assert (dy.data, d2y.data) == (12.0, 12.0)


def test_anomaly_mode_checks_values_and_gradients_torch_only_backward_nans(torch: Any) -> None:
    for make in (lambda: Value(-1.0).log(), lambda: Value(0.0).log()):
        with detect_anomaly(), pytest.raises(AnomalyError, match="log"):
            make()
    assert issubclass(AnomalyError, FloatingPointError)
    with detect_anomaly():
        x = Value(1e-10, label="x")
        z = x * 1.7e308  # finite forward (1.7e298), but d(z + z)/dx = 3.4e308 overflows
        total = z + z
        with pytest.raises(AnomalyError, match="became inf"):
            total.backward()
    assert x.grad == 0.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that anomaly mode is slow
        with torch.autograd.detect_anomaly():
            assert math.isnan(torch.log(torch.tensor(-1.0, requires_grad=True)).item())
            t = torch.tensor(1e-10, dtype=torch.float64, requires_grad=True)
            (t * 1.7e308 + t * 1.7e308).backward()  # an infinite gradient passes
            assert t.grad.item() == math.inf
            at_zero = torch.tensor(0.0, requires_grad=True)
            with pytest.raises(RuntimeError, match="returned nan values"):
                (torch.sqrt(at_zero) * 0.0).backward()


def _torch_grad(torch: Any, fn: Any, *xs: float) -> list[float]:
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    return [g.item() for g in torch.autograd.grad(fn(*ts), ts)]


def test_elementwise_ops_at_the_edges(torch: Any) -> None:
    tf = torch.nn.functional
    nan, inf = math.nan, math.inf
    # A nan that picks a branch: nan derivatives here, 0 or 1 in PyTorch.
    for ours, theirs, torch_says in (
        (lambda v: v.relu(), torch.relu, [1.0]),
        (abs, torch.abs, [0.0]),
        (lambda v: autograd.maximum(v, Value(1.0)), lambda t: torch.maximum(t, torch.tensor(1.0)), [1.0]),
    ):
        x = Value(nan)
        assert math.isnan(ours(x).local_grads[0])
        assert _torch_grad(torch, theirs, nan) == torch_says
    # clamp's d/dhi is PyTorch's, nan or not; by x and lo the nan rule.
    x, lo, hi = Value(2.0), Value(nan), Value(1.0)
    dx, dlo, dhi = autograd.clamp(x, lo, hi).local_grads
    assert math.isnan(dx) and math.isnan(dlo) and dhi == 1.0
    assert _torch_grad(torch, torch.clamp, 2.0, nan, 1.0) == [0.0, 0.0, 1.0]
    # Limits at +-inf where PyTorch gives nan.
    assert autograd.gelu(Value(-inf)).data == 0.0 and math.isnan(tf.gelu(torch.tensor(-inf)).item())
    assert autograd.silu(Value(inf)).local_grads == (1.0,) and math.isnan(_torch_grad(torch, tf.silu, inf)[0])
    assert autograd.softsign(Value(inf)).data == 1.0 and math.isnan(tf.softsign(torch.tensor(inf)).item())
    big = torch.full((16,), 710.0, dtype=torch.float64)  # a vector, as PyTorch's vectorised kernel runs
    assert Value(710.0).sinh().data == math.sinh(710.0) < inf and torch.sinh(big)[0].item() == inf
    assert math.isnan(Value(nan).sign().data) and torch.sign(torch.tensor(nan)).item() == 0.0
    # softplus: exact by default; PyTorch's threshold 20 returns x itself above it.
    exact = math.log1p(math.exp(20.5))
    assert Value(20.5).softplus().data == exact and Value(20.5).softplus(1.0, 20.0).data == 20.5
    assert tf.softplus(torch.tensor(20.5, dtype=torch.float64)).item() == 20.5 != exact
    # Parameters are inputs with derivatives.
    alpha = Value(2.0)
    assert grad(autograd.elu(Value(-1.0), alpha), [alpha])[0].data == pytest.approx(math.expm1(-1.0), rel=1e-15)
    with pytest.raises(TypeError):
        tf.elu(torch.tensor(-1.0), torch.tensor(2.0, requires_grad=True))
    # The mixed partial of a ** b at b = 0: 1/a here, 0 in PyTorch.
    a, b = Value(2.0), Value(0.0)
    (da,) = grad(a**b, [a], create_graph=True)
    assert grad(da, [b])[0].data == 0.5
    ta = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    (tda,) = torch.autograd.grad(ta**tb, ta, create_graph=True)
    assert torch.autograd.grad(tda, tb)[0].item() == 0.0


def _other_task_sees_grad(enabled: Any, no_grad_mode: Any) -> bool:
    """Whether a second asyncio task has gradients on while the first is inside no_grad."""
    seen: list[bool] = []

    async def main() -> None:
        entered = asyncio.Event()

        async def inside() -> None:
            with no_grad_mode():
                entered.set()
                await asyncio.sleep(0.01)

        async def other() -> None:
            await entered.wait()
            seen.append(enabled())

        await asyncio.gather(inside(), other())

    asyncio.run(main())
    return seen[0]


def test_no_grad_is_per_asyncio_task_torch_per_thread(torch: Any) -> None:
    assert _other_task_sees_grad(is_grad_enabled, no_grad) is True
    assert _other_task_sees_grad(torch.is_grad_enabled, torch.no_grad) is False


def _draws(init: Any, n: int = 4000, fan_in: int = 8, fan_out: int = 4, **options: Any) -> list[float]:
    rng = random.Random(0)
    return [init(fan_in, fan_out, rng=rng, **options) for _ in range(n)]


def test_he_is_kaiming_at_torch_defaults(torch: Any) -> None:
    fan_in, fan_out = 8, 4
    kaiming = inspect.signature(torch.nn.init.kaiming_uniform_).parameters
    defaults = tuple(kaiming[name].default for name in ("a", "mode", "nonlinearity"))
    assert defaults == (0, "fan_in", "leaky_relu")
    assert not hasattr(torch.nn.init, "he_uniform")
    torch.manual_seed(0)
    theirs = torch.nn.init.kaiming_uniform_(torch.empty(1000, fan_in, dtype=torch.float64))
    ours = _draws(nn.init.he_uniform, fan_in=fan_in, fan_out=fan_out)
    bound = math.sqrt(6 / fan_in)  # variance bound**2 / 3 = 2 / fan_in
    assert max(map(abs, ours)) <= bound and theirs.abs().max().item() <= bound
    assert max(map(abs, ours)) > 0.99 * bound and theirs.abs().max().item() > 0.99 * bound
    assert statistics.pvariance(ours) == pytest.approx(2 / fan_in, rel=0.06)
    assert theirs.var().item() == pytest.approx(2 / fan_in, rel=0.06)
    torch.manual_seed(0)
    theirs_normal = torch.nn.init.kaiming_normal_(torch.empty(1000, fan_in, dtype=torch.float64))
    assert statistics.pvariance(_draws(nn.init.he_normal)) == pytest.approx(2 / fan_in, rel=0.06)
    assert theirs_normal.var().item() == pytest.approx(2 / fan_in, rel=0.06)
    assert "mode" not in inspect.signature(nn.init.he_uniform).parameters


def test_xavier_matches_and_uniform_defaults_differ(torch: Any) -> None:
    assert inspect.signature(nn.init.xavier_uniform).parameters["gain"].default == 1.0
    assert inspect.signature(torch.nn.init.xavier_uniform_).parameters["gain"].default == 1.0
    ours = _draws(nn.init.xavier_uniform)
    assert statistics.pvariance(ours) == pytest.approx(2 / (8 + 4), rel=0.06)
    uniform = _draws(nn.init.uniform)
    assert min(uniform) < -0.99 and max(uniform) > 0.99 and min(uniform) >= -1.0 and max(uniform) <= 1.0
    torch.manual_seed(0)
    theirs = torch.nn.init.uniform_(torch.empty(4000, dtype=torch.float64))
    assert theirs.min().item() >= 0.0 and theirs.max().item() > 0.99
    normal = _draws(nn.init.normal)
    assert statistics.fmean(normal) == pytest.approx(0.0, abs=0.05)
    assert statistics.pstdev(normal) == pytest.approx(1.0, rel=0.05)
    normal_defaults = inspect.signature(torch.nn.init.normal_).parameters
    assert (normal_defaults["mean"].default, normal_defaults["std"].default) == (0.0, 1.0)


def test_default_init_he_for_relu_xavier_otherwise_zero_bias(torch: Any) -> None:
    assert nn.init.default_for("relu") is nn.init.he_uniform
    assert nn.init.default_for("leaky_relu") is nn.init.he_uniform
    assert nn.init.default_for("tanh") is nn.init.xavier_uniform
    fan_in = 50
    relu_layer = nn.Layer(fan_in, 40, activation="relu", seed=0)
    weights = [p.data for name, p in relu_layer.named_parameters() if ".w." in name]
    biases = [p.data for name, p in relu_layer.named_parameters() if name.endswith(".b")]
    assert biases == [0.0] * 40
    assert statistics.pvariance(weights) == pytest.approx(2 / fan_in, rel=0.08)
    assert max(map(abs, weights)) <= math.sqrt(6 / fan_in)

    torch.manual_seed(0)
    linear = torch.nn.Linear(fan_in, 40)
    bound = 1 / math.sqrt(fan_in)
    assert linear.weight.abs().max().item() <= bound and linear.bias.abs().max().item() <= bound
    assert linear.bias.abs().min().item() > 0.0  # biases drawn too
    assert linear.weight.var().item() == pytest.approx(1 / (3 * fan_in), rel=0.08)
    ours = nn.Layer(fan_in, 40, activation="relu", init=nn.init.pytorch_linear, seed=0)
    ours_weights = [p.data for name, p in ours.named_parameters() if ".w." in name]
    assert max(map(abs, ours_weights)) <= bound
    assert statistics.pvariance(ours_weights) == pytest.approx(1 / (3 * fan_in), rel=0.08)
    assert all(p.data == 0.0 for name, p in ours.named_parameters() if name.endswith(".b"))


def test_randomness_is_explicit() -> None:
    first = [p.data for p in nn.MLP(3, [4, 1], seed=7).parameters()]
    random.seed(123)  # the global generator plays no part
    assert [p.data for p in nn.MLP(3, [4, 1], seed=7).parameters()] == first


def test_optimisers_share_torch_defaults(torch: Any) -> None:
    for ours, theirs in ((nn.optim.SGD, torch.optim.SGD), (nn.optim.Adam, torch.optim.Adam)):
        assert inspect.signature(ours).parameters["lr"].default == inspect.signature(theirs).parameters["lr"].default
    assert inspect.signature(nn.optim.SGD).parameters["lr"].default == 1e-3
    assert inspect.signature(nn.optim.AdamW).parameters["weight_decay"].default == 1e-2
    assert inspect.signature(torch.optim.AdamW).parameters["weight_decay"].default == 1e-2


def test_schedules_live_in_nn_schedules(torch: Any) -> None:
    names = ["StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "SequentialLR"]
    for name in names:
        assert hasattr(nn.schedules, name) and hasattr(torch.optim.lr_scheduler, name)
        assert not hasattr(nn.optim, name)
    optimizer = nn.optim.SGD([Value(1.0)], lr=1.0)
    schedule = nn.schedules.StepLR(optimizer, step_size=2, gamma=0.5)
    torch_optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    torch_schedule = torch.optim.lr_scheduler.StepLR(torch_optimizer, step_size=2, gamma=0.5)
    ours, theirs = [], []
    for _ in range(5):
        optimizer.step()
        schedule.step()
        torch_optimizer.step()
        torch_schedule.step()
        ours.append(schedule.get_last_lr()[0])
        theirs.append(torch_schedule.get_last_lr()[0])
    assert ours == theirs == [1.0, 0.5, 0.5, 0.25, 0.25]


def test_clip_grad_norm_has_no_underscore_and_returns_a_float(torch: Any) -> None:
    a, b = Value(0.0), Value(0.0)
    a.grad, b.grad = 3.0, 4.0
    total = nn.optim.clip_grad_norm([a, b], max_norm=1.0)
    assert type(total) is float and total == 5.0
    assert (a.grad, b.grad) == pytest.approx((0.6, 0.8), rel=1e-5)
    assert not hasattr(nn.optim, "clip_grad_norm_")
    assert hasattr(torch.nn.utils, "clip_grad_norm_")


def test_hinge_loss_is_micrograds_and_torch_has_none(torch: Any) -> None:
    scores, labels = [Value(0.5), Value(-2.0), Value(3.0)], [1.0, 1.0, -1.0]
    expected = (max(0.0, 1 - 0.5) + max(0.0, 1 + 2.0) + max(0.0, 1 + 3.0)) / 3
    assert F.hinge_loss(scores, labels).data == pytest.approx(expected, rel=1e-15)
    assert not hasattr(torch.nn.functional, "hinge_loss")
    embedding = torch.nn.functional.hinge_embedding_loss(torch.tensor([0.5, -2.0, 3.0]), torch.tensor(labels))
    assert embedding.item() != pytest.approx(expected)


def test_compile_traces_one_sample_and_guards_data_dependent_branches(torch: Any) -> None:
    w = Value(0.5)
    step = autograd.compile(lambda x: (w * x - 1.0) ** 2)
    X = np.array([1.0, 2.0, 3.0])
    loss = step.backward(X)
    assert loss == pytest.approx(statistics.fmean((0.5 * x - 1.0) ** 2 for x in X), rel=1e-15)
    assert w.grad == pytest.approx(statistics.fmean(2 * (0.5 * x - 1.0) * x for x in X), rel=1e-15)

    def branches(x: Value) -> Value:
        return x * 2.0 if x.data > 0 else x

    data = np.array([1.0, -1.0, 2.0, -3.0])
    np.testing.assert_array_equal(autograd.compile(branches)(data), [2.0, -1.0, 4.0, -3.0])  # each its branch
    with pytest.raises(DataDependentGraphError):
        autograd.compile(branches, retrace=False).backward(data)

    def torch_branches(x: Any) -> Any:
        return x * 2.0 if x.sum() > 0 else x

    with pytest.raises(RuntimeError, match="data-dependent control flow"):
        torch.func.vmap(torch_branches)(torch.tensor([1.0, -1.0]))


def test_modules_name_one_scalar_per_parameter_and_save_json(tmp_path: Any, torch: Any) -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    names = [name for name, _ in model.named_parameters()]
    assert names[:3] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1", "layers.0.neurons.0.b"]
    assert all(type(v) is float for v in model.state_dict().values())
    path = tmp_path / "model.json"
    model.save(path)
    assert path.read_text(encoding="utf-8").lstrip().startswith("{")
    assert [n for n, _ in torch.nn.Sequential(torch.nn.Linear(2, 3)).named_parameters()] == ["0.weight", "0.bias"]
