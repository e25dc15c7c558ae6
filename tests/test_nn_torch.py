"""nn.functional, nn.optim and nn.schedules against PyTorch (float64): losses and their gradients, optimisers step
by step, schedule lr sequences, gradient clipping. Skipped when torch is not installed."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import import_or_need
from hypothesis import given
from hypothesis import strategies as st

from chainrule.autograd import Value
from chainrule.nn import functional as F
from chainrule.nn import schedules
from chainrule.nn.optim import SGD, Adam, AdamW, Optimizer, clip_grad_norm

torch = import_or_need("torch", "PyTorch")
TF = torch.nn.functional
pytestmark = pytest.mark.torch

SEEDS = range(4)


def as_values(a: np.ndarray) -> Any:
    return [as_values(row) for row in a] if a.ndim > 1 else [Value(float(x)) for x in a]


def leaves(nested: Any) -> list[Value]:
    return [v for item in nested for v in leaves(item)] if isinstance(nested, list) else [nested]


def tensor(a: Any, grad: bool = False) -> Any:
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def compare_loss(
    ours: Callable[..., Any], theirs: Callable[..., Any], x: np.ndarray, target: Any, reduction: str,
    rtol: float = 1e-12, atol: float = 1e-15, grads: bool = True,
) -> None:
    """Compare value(s) and, through a random weighting of the outputs, the gradient with respect to the input.

    ``atol`` allows for cancellation: x - logsumexp(x) is accurate to about one ulp of the logits, not of the result.
    """
    xs = as_values(x)
    out = ours(xs, target, reduction=reduction)
    xt = tensor(x, grad=True)
    if isinstance(target, torch.Tensor):
        target_t = target
    elif np.issubdtype(np.asarray(target).dtype, np.integer):  # class indices
        target_t = torch.tensor(np.asarray(target))
    else:
        target_t = tensor(target)
    out_t = theirs(xt, target_t, reduction=reduction)
    flat = leaves(out) if isinstance(out, list) else [out]
    flat_t = out_t.reshape(-1).tolist()
    assert [v.data for v in flat] == pytest.approx(flat_t, rel=rtol, abs=atol)
    weights = np.random.default_rng(len(flat)).uniform(0.5, 1.5, len(flat))
    total = sum((w * v for w, v in zip(weights, flat, strict=True)), Value(0.0))
    total.backward()
    (out_t.reshape(-1) * tensor(weights)).sum().backward()
    if grads:
        np.testing.assert_allclose([v.grad for v in leaves(xs)], xt.grad.reshape(-1).numpy(), rtol=rtol, atol=1e-15)


# ----------------------------------------------------------------------------
# Losses and softmax
# ----------------------------------------------------------------------------


def extreme_logits(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    x = rng.normal(0.0, 3.0, (n, c))
    x[0, 0], x[-1, -1] = 1000.0, -1000.0
    return x


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll(seed: int, reduction: str) -> None:
    rng = np.random.default_rng(seed)
    x = extreme_logits(rng, 5, 4)
    target = rng.integers(0, 4, 5)
    atol = 4 * math.ulp(1000.0)  # logsumexp - x cancels to within an ulp of the largest logit
    compare_loss(F.cross_entropy, TF.cross_entropy, x, target, reduction, atol=atol)
    compare_loss(F.nll_loss, TF.nll_loss, x, target, reduction)
    # One sample, shape (C,) with a class index: PyTorch's unbatched form.
    compare_loss(F.cross_entropy, TF.cross_entropy, x[0], int(target[0]), reduction, atol=atol)


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_and_log_softmax(seed: int) -> None:
    x = extreme_logits(np.random.default_rng(seed), 3, 5)
    for ours, theirs in ((F.softmax, TF.softmax), (F.log_softmax, TF.log_softmax)):
        xs = as_values(x)
        out = leaves(ours(xs))
        xt = tensor(x, grad=True)
        out_t = theirs(xt, dim=-1)
        np.testing.assert_allclose([v.data for v in out], out_t.reshape(-1).detach().numpy(), rtol=1e-12,
                                   atol=4 * math.ulp(1000.0))
        weights = np.linspace(0.5, 1.5, len(out))
        sum((w * v for w, v in zip(weights, out, strict=True)), Value(0.0)).backward()
        (out_t.reshape(-1) * tensor(weights)).sum().backward()
        np.testing.assert_allclose([v.grad for v in leaves(xs)], xt.grad.reshape(-1).numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse(seed: int, reduction: str) -> None:
    rng = np.random.default_rng(seed)
    compare_loss(F.mse_loss, TF.mse_loss, rng.normal(size=7), rng.normal(size=7), reduction)
    compare_loss(F.mse_loss, TF.mse_loss, rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), reduction)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(seed: int, reduction: str) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(1e-6, 1 - 1e-6, 8)
    target = np.concatenate([rng.integers(0, 2, 5), rng.uniform(0, 1, 3)])  # hard and soft labels
    compare_loss(F.binary_cross_entropy, TF.binary_cross_entropy, p, target, reduction, rtol=1e-10)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_at_0_and_1_matches_pytorch_values(reduction: str) -> None:
    # PyTorch clamps each log at -100; its backward differs from the clamped function's only within 1e-12 of 0
    # and 1 (see the docstring), so only values are compared here.
    p = np.array([0.0, 0.0, 1.0, 1.0, 1e-50, 1.0 - 1e-16])
    target = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    compare_loss(F.binary_cross_entropy, TF.binary_cross_entropy, p, target, reduction, rtol=1e-15, grads=False)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits(seed: int, reduction: str) -> None:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 4, 6), [0.0, 0.0, 1000.0, -1000.0, 1000.0, -1000.0, 40.0, -40.0]])
    target = np.concatenate([rng.uniform(0, 1, 6), [0, 1, 0, 1, 1, 0, 1, 0]])
    # atol: at x = 40, t = 1 PyTorch gives 0 where the loss is log1p(e^-40) = 4.2e-18 (this one's value).
    compare_loss(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, x, target, reduction,
                 atol=1e-17)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_hinge(seed: int, reduction: str) -> None:
    rng = np.random.default_rng(seed)
    s = np.concatenate([rng.normal(0, 2, 6), [1.0, -1.0]])  # the last two sit exactly on the margin
    y = np.concatenate([rng.choice([-1.0, 1.0], 6), [1.0, -1.0]])

    def torch_hinge(s_t: Any, y_t: Any, reduction: str) -> Any:
        each = torch.relu(1 - y_t * s_t)
        return {"mean": each.mean(), "sum": each.sum(), "none": each}[reduction]

    compare_loss(F.hinge_loss, torch_hinge, s, y, reduction)


# ----------------------------------------------------------------------------
# Optimisers step by step
# ----------------------------------------------------------------------------

OPTIMIZERS: list[tuple[type[Optimizer], Any, dict[str, Any]]] = [
    (SGD, torch.optim.SGD, {"lr": 0.1}),
    (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.5, "maximize": True}),
    (Adam, torch.optim.Adam, {}),
    (Adam, torch.optim.Adam, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}),
    (Adam, torch.optim.Adam, {"lr": 0.05, "betas": (0.3, 0.7), "weight_decay": 0.1, "amsgrad": True}),
    (Adam, torch.optim.Adam, {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    (AdamW, torch.optim.AdamW, {"lr": 0.05}),
    (AdamW, torch.optim.AdamW, {"lr": 0.05, "weight_decay": 0.5, "amsgrad": True}),
]


def grads_at(x: list[float], step: int, rng: np.random.Generator) -> list[float]:
    """A gradient that depends on the point (a bumpy bowl) plus seeded noise, with zeros and sign changes."""
    noise = rng.normal(0.0, 0.3, len(x))
    return [0.0 if i == 0 and step % 3 == 0 else math.sin(3 * v) + 0.5 * v + e
            for i, (v, e) in enumerate(zip(x, noise, strict=True))]


@pytest.mark.parametrize(("ours", "theirs", "kw"), OPTIMIZERS,
                         ids=[f"{o.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for o, _, kw in OPTIMIZERS])
def test_optimizer_matches_pytorch_step_by_step(ours: Any, theirs: Any, kw: dict[str, Any]) -> None:
    rng = np.random.default_rng(7)
    start = rng.normal(0.0, 1.5, 6).tolist()
    params = [Value(x) for x in start]
    opt = ours(params, **kw)
    t = tensor(start, grad=True)
    opt_t = theirs([t], **kw)
    for step in range(15):
        g = grads_at([p.data for p in params], step, rng)  # the same gradients for both
        for p, gi in zip(params, g, strict=True):
            p.grad = gi
        t.grad = tensor(g)
        opt.step()
        opt_t.step()
        np.testing.assert_allclose([p.data for p in params], t.detach().numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=f"after step {step + 1}")


def test_parameter_groups_match_pytorch() -> None:
    a, b = [Value(1.0), Value(-1.0)], [Value(0.5)]
    opt = SGD([{"params": a}, {"params": b, "lr": 0.3, "nesterov": True}], lr=0.1, momentum=0.9)
    ta, tb = tensor([1.0, -1.0], grad=True), tensor([0.5], grad=True)
    opt_t = torch.optim.SGD([{"params": [ta]}, {"params": [tb], "lr": 0.3, "nesterov": True}], lr=0.1, momentum=0.9)
    for _ in range(10):
        g = [math.cos(p.data) for p in a + b]
        for p, gi in zip(a + b, g, strict=True):
            p.grad = gi
        ta.grad, tb.grad = tensor(g[:2]), tensor(g[2:])
        opt.step()
        opt_t.step()
    np.testing.assert_allclose([p.data for p in a + b], torch.cat([ta, tb]).detach().numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------

SCHEDULES: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = [
    ("step", lambda o: schedules.StepLR(o, 7, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.5)),
    ("exponential", lambda o: schedules.ExponentialLR(o, 0.93),
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.93)),
    ("cosine", lambda o: schedules.CosineAnnealingLR(o, 10, 0.01),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.01)),
    ("linear", lambda o: schedules.LinearLR(o, 0.1, 0.9, 8),
     lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.1, 0.9, 8)),
    ("warmup+cosine",
     lambda o: schedules.SequentialLR(o, [schedules.LinearLR(o, 0.01, total_iters=5),
                                          schedules.CosineAnnealingLR(o, 20)], [5]),
     lambda o: torch.optim.lr_scheduler.SequentialLR(o, [torch.optim.lr_scheduler.LinearLR(o, 0.01, total_iters=5),
                                                         torch.optim.lr_scheduler.CosineAnnealingLR(o, 20)], [5])),
    ("three",
     lambda o: schedules.SequentialLR(o, [schedules.ExponentialLR(o, 0.9), schedules.StepLR(o, 3),
                                          schedules.LinearLR(o, 0.5)], [4, 12]),
     lambda o: torch.optim.lr_scheduler.SequentialLR(o, [torch.optim.lr_scheduler.ExponentialLR(o, 0.9),
                                                         torch.optim.lr_scheduler.StepLR(o, 3),
                                                         torch.optim.lr_scheduler.LinearLR(o, 0.5)], [4, 12])),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_lr_sequence_matches_pytorch(name: str, ours: Any, theirs: Any) -> None:
    opt = SGD([Value(0.0)], lr=0.5)
    opt_t = torch.optim.SGD([tensor([0.0], grad=True)], lr=0.5)
    s, s_t = ours(opt), theirs(opt_t)
    got, want = [s.get_last_lr()[0]], [s_t.get_last_lr()[0]]
    for _ in range(45):  # past T_max, where the cosine turns back up
        opt.step()
        opt_t.step()
        s.step()
        s_t.step()
        got.append(s.get_last_lr()[0])
        want.append(s_t.get_last_lr()[0])
    assert got == pytest.approx(want, rel=1e-13, abs=1e-300)
    assert opt.param_groups[0]["lr"] == got[-1]


def test_adam_with_a_cosine_schedule_matches_pytorch() -> None:
    start = [0.7, -1.3, 2.0]
    params = [Value(x) for x in start]
    opt = Adam(params, lr=0.1)
    sched = schedules.CosineAnnealingLR(opt, T_max=8)
    t = tensor(start, grad=True)
    opt_t = torch.optim.Adam([t], lr=0.1)
    sched_t = torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, T_max=8)
    for _ in range(12):
        g = [math.sin(3 * p.data) + 0.5 * p.data for p in params]
        for p, gi in zip(params, g, strict=True):
            p.grad = gi
        t.grad = tensor(g)
        opt.step()
        opt_t.step()
        sched.step()
        sched_t.step()
    np.testing.assert_allclose([p.data for p in params], t.detach().numpy(), rtol=1e-12, atol=1e-13)


# ----------------------------------------------------------------------------
# clip_grad_norm
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_pytorch(seed: int, norm_type: float, max_norm: float) -> None:
    g = np.random.default_rng(seed).normal(0.0, 2.0, 9)
    params = [Value(0.0) for _ in g]
    for p, gi in zip(params, g, strict=True):
        p.grad = float(gi)
    t = tensor(np.zeros(9), grad=True)
    t.grad = tensor(g)
    total = clip_grad_norm(params, max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_([t], max_norm, norm_type)
    assert total == pytest.approx(total_t.item(), rel=1e-13)
    np.testing.assert_allclose([p.grad for p in params], t.grad.numpy(), rtol=1e-13)


@given(
    st.lists(st.floats(-1e300, 1e300) | st.floats(-1e-300, 1e-300) | st.floats(-10.0, 10.0), min_size=1, max_size=12),
    st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 7.0, math.inf]),
)
def test_clip_grad_norm_matches_pytorch_wherever_pytorch_is_finite(grads: list[float], norm_type: float) -> None:
    params = [Value(0.0) for _ in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    t = tensor(np.zeros(len(grads)), grad=True)
    t.grad = tensor(grads)
    total = clip_grad_norm(params, 1.0, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_([t], 1.0, norm_type).item()
    assert math.isfinite(total)  # ours never overflows on finite gradients within 1e300 and this p
    if math.isfinite(total_t) and total_t > 1e-290:  # PyTorch overflows or underflows (x ** p) outside this range
        assert total == pytest.approx(total_t, rel=1e-12)
        np.testing.assert_allclose([p.grad for p in params], t.grad.numpy(), rtol=1e-12, atol=0)
