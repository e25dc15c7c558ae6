"""nn.optim and nn.schedules: hand-worked steps, state round trips, clipping, schedules, the lr range test, errors."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from chainrule.autograd import Value
from chainrule.nn.functional import mse_loss
from chainrule.nn.optim import (
    SGD,
    Adam,
    AdamW,
    Optimizer,
    clip_grad_norm,
    lr_range_test,
    mean_and_max_abs,
    steepest_lr,
    vector_norm,
)
from chainrule.nn.schedules import CosineAnnealingLR, ExponentialLR, LinearLR, SequentialLR, StepLR


def one_step(opt_type: type[Optimizer], grad: float = 0.5, steps: int = 1, **kw: object) -> float:
    p = Value(1.0)
    opt = opt_type([p], **kw)
    for _ in range(steps):
        p.grad = grad
        opt.step()
    return p.data


# ----------------------------------------------------------------------------
# SGD
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "steps", "expected"),
    [
        ({"lr": 0.1}, 1, 0.95),
        ({"lr": 0.1, "momentum": 0.9}, 1, 0.95),  # the buffer starts as the gradient
        ({"lr": 0.1, "momentum": 0.9}, 2, 0.95 - 0.1 * (0.9 * 0.5 + 0.5)),
        ({"lr": 0.1, "momentum": 0.9, "dampening": 0.5}, 2, 0.95 - 0.1 * (0.9 * 0.5 + 0.25)),
        ({"lr": 0.1, "momentum": 0.9, "nesterov": True}, 1, 1.0 - 0.1 * (0.5 + 0.9 * 0.5)),
        ({"lr": 0.1, "weight_decay": 0.1}, 1, 1.0 - 0.1 * (0.5 + 0.1 * 1.0)),
        ({"lr": 0.1, "maximize": True}, 1, 1.05),
        ({"lr": 0.0}, 3, 1.0),
    ],
)
def test_sgd_steps_by_hand(kw: dict[str, object], steps: int, expected: float) -> None:
    assert one_step(SGD, steps=steps, **kw) == pytest.approx(expected, rel=1e-15)


def test_sgd_on_a_quadratic_converges_for_lr_below_two_over_curvature() -> None:
    # f(x) = c x^2 / 2 has curvature c; gradient descent contracts by |1 - lr c| a step.
    def run(lr: float) -> float:
        x = Value(1.0)
        opt = SGD([x], lr=lr)
        for _ in range(50):
            opt.zero_grad()
            (4.0 * x * x / 2).backward()
            opt.step()
        return abs(x.data)

    assert run(0.4) < 1e-10  # lr < 2/4: converges
    assert run(0.6) > 1e3  # lr > 2/4: diverges, though 0.6 < 1


# ----------------------------------------------------------------------------
# Adam and AdamW
# ----------------------------------------------------------------------------


def test_adam_first_step_moves_by_lr_times_sign() -> None:
    # Bias correction makes m_hat = g and v_hat = g^2 on the first step.
    assert one_step(Adam, lr=0.1) == pytest.approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8), rel=1e-14)
    assert one_step(Adam, grad=-2.0, lr=0.1) == pytest.approx(1.0 + 0.1 * 2.0 / (2.0 + 1e-8), rel=1e-14)


def test_adam_second_step_by_hand() -> None:
    g1, g2, lr, b1, b2, eps = 0.5, -0.25, 0.1, 0.9, 0.999, 1e-8
    p, opt = Value(1.0), None
    opt = Adam([p], lr=lr)
    for g in (g1, g2):
        p.grad = g
        opt.step()
    m = (1 - b1) * (b1 * g1 + g2)
    v = (1 - b2) * (b2 * g1**2 + g2**2)
    first = 1.0 - lr * g1 / (abs(g1) + eps)
    expected = first - lr / (1 - b1**2) * m / (math.sqrt(v / (1 - b2**2)) + eps)
    assert p.data == pytest.approx(expected, rel=1e-14)
    assert opt.state[p]["step"] == 2


def test_adam_weight_decay_is_coupled_and_adamw_decoupled() -> None:
    # Coupled: the decay enters the gradient, and Adam's normalisation hides its size on step 1.
    assert one_step(Adam, lr=0.1, weight_decay=0.1) == pytest.approx(1.0 - 0.1 * 0.6 / (0.6 + 1e-8), rel=1e-14)
    # Decoupled: the weight shrinks by lr * weight_decay first.
    assert one_step(AdamW, lr=0.1, weight_decay=0.1) == pytest.approx(0.99 - 0.1 * 0.5 / (0.5 + 1e-8), rel=1e-14)
    assert AdamW([Value(1.0)]).param_groups[0]["weight_decay"] == 1e-2


def test_amsgrad_keeps_the_largest_second_moment() -> None:
    p = Value(1.0)
    opt = Adam([p], lr=0.1, amsgrad=True, betas=(0.0, 0.5))
    for g in (2.0, 0.0, 0.0):
        p.grad = g
        opt.step()
    state = opt.state[p]
    assert state["exp_avg_sq"] == 0.5 * 0.5 * 0.5 * 4.0
    assert state["max_exp_avg_sq"] == 0.5 * 4.0


# ----------------------------------------------------------------------------
# The optimizer interface
# ----------------------------------------------------------------------------


def test_zero_grad_and_lr_is_readable_and_settable() -> None:
    a, b = Value(1.0), Value(2.0)
    opt = SGD(iter([a, b]), lr=0.5)  # any iterable, e.g. a generator
    assert opt.param_groups[0]["lr"] == 0.5
    a.grad, b.grad = 1.0, 1.0
    opt.param_groups[0]["lr"] = 0.25
    opt.step()
    assert (a.data, b.data) == (0.75, 1.75)
    opt.zero_grad()
    assert (a.grad, b.grad) == (0.0, 0.0)


def test_parameter_groups_take_their_own_options() -> None:
    w, bias = Value(1.0), Value(1.0)
    opt = SGD([{"params": [w], "weight_decay": 0.5}, {"params": [bias], "lr": 1.0}], lr=0.1)
    w.grad = bias.grad = 0.5
    opt.step()
    assert w.data == pytest.approx(1.0 - 0.1 * (0.5 + 0.5), rel=1e-15)
    assert bias.data == 0.5
    assert opt.parameters() == [w, bias]


def test_step_calls_the_closure_and_returns_its_loss() -> None:
    x = Value(3.0)
    opt = SGD([x], lr=0.1)

    def closure() -> Value:
        opt.zero_grad()
        loss = x * x
        loss.backward()
        return loss

    assert opt.step(closure) == 9.0
    assert x.data == pytest.approx(3.0 - 0.1 * 6.0)


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: Adam(ps, lr=0.05, amsgrad=True),
])
def test_state_dict_round_trip_replays_the_same_steps(make: Callable[[list[Value]], Optimizer]) -> None:
    ps = [Value(1.0), Value(-2.0)]
    opt = make(ps)

    def steps(n: int) -> None:
        for _ in range(n):
            for p in ps:
                p.grad = math.sin(3 * p.data) + 0.5 * p.data
            opt.step()

    steps(3)
    saved, data = opt.state_dict(), [p.data for p in ps]
    steps(2)
    after = [p.data for p in ps]
    for p, d in zip(ps, data, strict=True):
        p.data = d
    opt.load_state_dict(saved)
    steps(2)
    assert [p.data for p in ps] == after


def test_repr_lists_groups_and_options() -> None:
    text = repr(SGD([Value(1.0)], lr=0.1, momentum=0.9))
    assert "SGD" in text and "1 parameters" in text and "momentum: 0.9" in text


class HasParameters:
    def parameters(self) -> list[Value]:
        return [Value(1.0)]


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: SGD([Value(1.0)], lr=-0.1), ValueError, "learning rate lr: -0.1"),
        (lambda: SGD([Value(1.0)], lr=math.nan), ValueError, "learning rate"),
        (lambda: SGD([Value(1.0)], lr="0.1"), TypeError, "learning rate lr must be a real number"),
        (lambda: SGD([Value(1.0)], lr=0.1, momentum=-1), ValueError, "momentum"),
        (lambda: SGD([Value(1.0)], lr=0.1, weight_decay=-1), ValueError, "weight_decay"),
        (lambda: SGD([Value(1.0)], lr=0.1, nesterov=True), ValueError, "Nesterov momentum requires"),
        (lambda: SGD([Value(1.0)], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov"),
        (lambda: SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda: SGD(Value(1.0), lr=0.1), TypeError, "single Value"),
        (lambda: SGD(HasParameters(), lr=0.1), TypeError, r"did you mean model.parameters\(\)"),
        (lambda: SGD([1.0], lr=0.1), TypeError, r"params'\]\[0\] must be a Value"),
        (lambda: SGD([Value(1.0), {"params": []}], lr=0.1), TypeError, "not a mix"),
        (lambda: SGD([{"params": [Value(1.0)], "betas": (0.9, 0.9)}]), ValueError, "unknown options"),
        (lambda: Adam([Value(1.0)], betas=(1.0, 0.999)), ValueError, r"betas\[0\]: 1.0"),
        (lambda: Adam([Value(1.0)], betas=(0.9, -0.1)), ValueError, r"betas\[1\]"),
        (lambda: Adam([Value(1.0)], betas=0.9), TypeError, "pair"),
        (lambda: Adam([Value(1.0)], eps=-1e-8), ValueError, "eps"),
        (lambda: AdamW([Value(1.0)], amsgrad=1), TypeError, "amsgrad must be True or False"),
    ],
)
def test_bad_arguments_get_clear_errors(make: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_a_parameter_listed_twice_is_an_error() -> None:
    p = Value(1.0)
    with pytest.raises(ValueError, match="appears twice"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


# ----------------------------------------------------------------------------
# clip_grad_norm
# ----------------------------------------------------------------------------


def with_grads(*gs: float) -> list[Value]:
    ps = [Value(0.0) for _ in gs]
    for p, g in zip(ps, gs, strict=True):
        p.grad = g
    return ps


def test_clip_grad_norm_scales_down_to_max_norm() -> None:
    ps = with_grads(3.0, 4.0)
    assert clip_grad_norm(ps, 1.0) == 5.0
    assert [p.grad for p in ps] == [3.0 / (5.0 + 1e-6), 4.0 / (5.0 + 1e-6)]


def test_clip_grad_norm_leaves_small_gradients_alone() -> None:
    ps = with_grads(3.0, 4.0)
    assert clip_grad_norm(ps, 10.0) == 5.0
    assert [p.grad for p in ps] == [3.0, 4.0]


@pytest.mark.parametrize(("norm_type", "total"), [(1.0, 7.0), (math.inf, 4.0), ("inf", 4.0), (3.0, 91.0 ** (1 / 3))])
def test_clip_grad_norm_other_norms(norm_type: float | str, total: float) -> None:
    ps = with_grads(3.0, -4.0)
    assert clip_grad_norm(ps, 1.0, norm_type) == pytest.approx(total, rel=1e-15)
    assert [p.grad for p in ps] == pytest.approx([3.0 / (total + 1e-6), -4.0 / (total + 1e-6)], rel=1e-15)


def test_clip_grad_norm_non_finite() -> None:
    ps = with_grads(1.0, math.nan)
    assert math.isnan(clip_grad_norm(ps, 1.0))
    assert all(math.isnan(p.grad) for p in ps)  # as PyTorch: a nan norm spreads
    with pytest.raises(FloatingPointError, match=r"total 2\.0-norm of the gradients is inf"):
        clip_grad_norm(with_grads(1.0, math.inf), 1.0, error_if_nonfinite=True)


# (gradients, norm_type, the true norm worked by hand): PyTorch float64 gives inf or 0 for most of these.
HUGE_AND_TINY = [
    ([1e200, -1e200], 3.0, 2 ** (1 / 3) * 1e200),  # raised OverflowError (1e200 ** 3)
    ([1e200, 1e200], 1.0, 2e200),
    ([1e200, 1e200], 2.0, math.sqrt(2) * 1e200),
    ([1e200, 1e200], 0.5, 4e200),  # (2 sqrt(1e200))^2
    ([1e308, 1e308], 3.0, 2 ** (1 / 3) * 1e308),  # finite although each cube is far past the largest float
    ([1e308, -1e308], 1.0, math.inf),  # fsum overflowed with an OverflowError; the true 2e308 is inf
    ([1e308, 1e308], 0.5, math.inf),  # 4e308: past the largest float
    ([1e-200, 1e-200], 3.0, 2 ** (1 / 3) * 1e-200),  # was 0: each cube underflowed
    ([5e-324] * 4, 1.0, 2e-323),  # subnormals
    ([5e-324, 5e-324], 3.0, 5e-324),  # 2^(1/3) * 5e-324 rounds to the smallest subnormal
    ([1.0] * 1000, 0.01, 1000.0**100),  # 1e300: the sum raised to 1/p = 100 stays finite
    ([1e10] * 1000, 0.01, math.inf),  # 1e310: past the largest float (float ** float raised OverflowError)
    ([0.0, -0.0], 3.0, 0.0),
]


@pytest.mark.parametrize(("grads", "norm_type", "total"), HUGE_AND_TINY)
def test_norms_scale_by_the_largest_magnitude_first(grads: list[float], norm_type: float, total: float) -> None:
    assert vector_norm(grads, norm_type) == pytest.approx(total, rel=1e-14, abs=0.0)
    ps = with_grads(*grads)
    assert clip_grad_norm(ps, 1.0, norm_type) == pytest.approx(total, rel=1e-14, abs=0.0)
    if math.isfinite(total) and total > 1.0:  # clipped to norm 1 (up to the 1e-6 of the divisor)
        assert vector_norm([p.grad for p in ps], norm_type) == pytest.approx(1.0, rel=1e-12)
    if math.isfinite(total):
        clip_grad_norm(with_grads(*grads), 1.0, norm_type, error_if_nonfinite=True)
    else:
        with pytest.raises(FloatingPointError, match=f"total {norm_type}-norm of the gradients is inf"):
            clip_grad_norm(with_grads(*grads), 1.0, norm_type, error_if_nonfinite=True)


def test_norms_of_non_finite_values() -> None:
    for p in (0.5, 1.0, 2.0, 3.0, math.inf):
        assert math.isnan(vector_norm([1e308, math.nan, math.inf], p))
        assert math.isnan(vector_norm([math.inf, math.nan], p))  # nan wins over inf (math.hypot's doesn't)
        assert vector_norm([1.0, -math.inf], p) == math.inf
        assert vector_norm([], p) == 0.0
    with pytest.raises(FloatingPointError, match="is nan"):
        clip_grad_norm(with_grads(math.inf, math.nan), 1.0, 3.0, error_if_nonfinite=True)


@pytest.mark.parametrize(
    ("grads", "stats"),
    [
        ([1.0, -2.0, 3.0, -4.0], (2.5, 4.0)),
        ([1e308, -1e308, 1e308], (1e308, 1e308)),  # the sum overflowed fsum (OverflowError)
        ([1.5e308, 1.5e308, 0.0], (1e308, 1.5e308)),
        ([5e-324, 5e-324, 0.0, 0.0], (5e-324 / 2, 5e-324)),  # an exact sum: 1e-323 / 4 rounds to 5e-324 / 2 = 0
        ([1.0, math.inf], (math.inf, math.inf)),
        ([math.inf, -math.inf], (math.inf, math.inf)),
        ([], (0.0, 0.0)),
    ],
)
def test_mean_and_max_abs(grads: list[float], stats: tuple[float, float]) -> None:
    assert mean_and_max_abs(grads) == stats


def test_mean_and_max_abs_is_nan_with_any_nan_in_any_place() -> None:
    for grads in ([math.nan, 1.0], [1.0, math.nan], [math.inf, math.nan, 1e308], [1e308, 1e308, math.nan]):
        mean, top = mean_and_max_abs(grads)
        assert math.isnan(mean) and math.isnan(top)


def test_clip_grad_norm_edge_cases_and_errors() -> None:
    assert clip_grad_norm([], 1.0) == 0.0
    p = with_grads(-2.0)[0]
    assert clip_grad_norm(p, 1.0) == 2.0 and p.grad == pytest.approx(-1.0, rel=1e-6)
    with pytest.raises(ValueError, match="max_norm must be >= 0"):
        clip_grad_norm(with_grads(1.0), -1.0)
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        clip_grad_norm(with_grads(1.0), 1.0, 0.0)


# ----------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------


def lrs_of(make: Callable[[Optimizer], object], steps: int, lr: float = 1.0) -> list[float]:
    opt = SGD([Value(0.0)], lr=lr)
    schedule = make(opt)
    out = [schedule.get_last_lr()[0]]  # type: ignore[attr-defined]
    for _ in range(steps):
        opt.step()
        schedule.step()  # type: ignore[attr-defined]
        out.append(opt.param_groups[0]["lr"])
    return out


def test_step_lr() -> None:
    assert lrs_of(lambda o: StepLR(o, step_size=2, gamma=0.5), 5) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_exponential_lr() -> None:
    assert lrs_of(lambda o: ExponentialLR(o, gamma=0.5), 3) == [1.0, 0.5, 0.25, 0.125]


def test_cosine_annealing_lr_reaches_eta_min_at_t_max_and_continues_the_cosine() -> None:
    out = lrs_of(lambda o: CosineAnnealingLR(o, T_max=2, eta_min=0.1), 4)
    assert out == pytest.approx([1.0, 0.55, 0.1, 0.55, 1.0], rel=1e-14)


def test_linear_lr_is_a_warm_up() -> None:
    assert lrs_of(lambda o: LinearLR(o, start_factor=0.25, total_iters=3), 5) == pytest.approx(
        [0.25, 0.5, 0.75, 1.0, 1.0, 1.0], rel=1e-15)


def test_sequential_lr_warm_up_then_cosine() -> None:
    def make(o: Optimizer) -> SequentialLR:
        return SequentialLR(o, [LinearLR(o, start_factor=0.5, total_iters=2), CosineAnnealingLR(o, T_max=2)], [2])

    assert lrs_of(make, 4) == pytest.approx([0.5, 0.75, 1.0, 0.5, 0.0], rel=1e-14, abs=1e-16)


def test_schedules_chain_from_the_current_lr() -> None:
    opt = SGD([Value(0.0)], lr=1.0)
    schedule = ExponentialLR(opt, gamma=0.5)
    opt.param_groups[0]["lr"] = 8.0  # changed by hand: the schedule continues from it
    schedule.step()
    assert schedule.get_last_lr() == [4.0]
    assert opt.param_groups[0]["initial_lr"] == 1.0


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda o: StepLR(o, step_size=0), ValueError, "step_size must be a positive int"),
        (lambda o: ExponentialLR(o, gamma=-1.0), ValueError, "gamma"),
        (lambda o: CosineAnnealingLR(o, T_max=2.5), ValueError, "T_max"),
        (lambda o: LinearLR(o, start_factor=0.0), ValueError, r"start_factor must be in \(0, 1\]"),
        (lambda o: LinearLR(o, end_factor=1.5), ValueError, "end_factor"),
        (lambda o: StepLR("sgd", step_size=1), TypeError, "must be an nn.optim Optimizer"),
        (lambda o: SequentialLR(o, [StepLR(o, 1)], [3]), ValueError, "needs 0 milestones"),
        (lambda o: SequentialLR(o, [StepLR(o, 1), StepLR(o, 1)], [0]), ValueError, "positive int"),
        (lambda o: SequentialLR(o, [StepLR(SGD([Value(0.0)]), 1)], []), ValueError, "another optimizer"),
    ],
)
def test_schedule_errors(make: Callable[[Optimizer], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make(SGD([Value(0.0)], lr=1.0))


# ----------------------------------------------------------------------------
# lr_range_test
# ----------------------------------------------------------------------------


class Line:
    """y = w x + b: any object with parameters() and a call works."""

    def __init__(self) -> None:
        self.w, self.b = Value(0.3), Value(-0.2)

    def parameters(self) -> list[Value]:
        return [self.w, self.b]

    def __call__(self, x: float) -> Value:
        return self.w * x + self.b


X = [i / 10 - 1.0 for i in range(21)]
Y = [2.0 * x + 1.0 for x in X]


def snapshot(model: Line) -> list[str]:
    return [f"{p.data.hex()} {p.grad.hex()}" for p in model.parameters()]


def test_lr_range_test_falls_then_diverges_and_stops_early() -> None:
    model = Line()
    lrs, losses = lr_range_test(model, X, Y, loss=mse_loss, start_lr=1e-4, end_lr=100.0, steps=60)
    assert lrs[0] == 1e-4
    assert lrs[1] / lrs[0] == pytest.approx((100.0 / 1e-4) ** (1 / 59), rel=1e-12)
    assert len(lrs) == len(losses) < 60  # stopped early
    best = min(losses)
    assert best < 0.05 * losses[0]  # low loss at a good lr
    assert losses[-1] > 4.0 * best  # then divergence
    # The curvature of this MSE is about 2, so gradient descent diverges for lr above about 1.
    assert 0.1 < lrs[losses.index(best)] < 2.0
    assert 0.01 < steepest_lr(lrs, losses) < 2.0


def test_lr_range_test_restores_the_model_and_optimizer_bit_for_bit() -> None:
    model = Line()
    model.w.grad, model.b.grad = 0.125, -math.pi
    opt = Adam(model.parameters(), lr=0.01)
    opt.step()
    model.w.grad, model.b.grad = 0.125, -math.pi
    before, opt_before = snapshot(model), opt.state_dict()
    lrs, _ = lr_range_test(model, X, Y, loss=mse_loss, optimizer=opt, steps=30, batch_size=5, seed=0)
    assert len(lrs) > 1
    assert snapshot(model) == before
    assert opt.state_dict() == opt_before
    assert opt.param_groups[0]["lr"] == 0.01


def test_lr_range_test_restores_even_when_the_loss_fails() -> None:
    model = Line()
    before = snapshot(model)
    calls = []

    def failing_loss(pred: list[Value], target: list[float]) -> Value:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return mse_loss(pred, target)

    with pytest.raises(RuntimeError, match="boom"):
        lr_range_test(model, X, Y, loss=failing_loss, start_lr=0.1, end_lr=1.0, steps=10)
    assert snapshot(model) == before


def test_lr_range_test_with_an_optimizer_factory_and_smoothing() -> None:
    made = []

    def factory(params: list[Value]) -> Optimizer:
        made.append(SGD(params, momentum=0.9))
        return made[-1]

    lrs, losses = lr_range_test(Line(), X, Y, loss=mse_loss, optimizer_factory=factory, steps=20, smoothing=0.5,
                                start_lr=1e-3, end_lr=1e-2)
    assert len(made) == 1 and len(lrs) == 20
    assert losses[0] == mse_loss([Line()(x) for x in X], Y).data  # bias-corrected: the first is the raw loss


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"start_lr": 1.0, "end_lr": 0.1}, ValueError, "0 < start_lr < end_lr"),
        ({"steps": 1}, ValueError, "steps must be an int >= 2"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"smoothing": 1.0}, ValueError, "smoothing"),
        ({"diverge_threshold": 1.0}, ValueError, "diverge_threshold"),
        ({"optimizer": object()}, TypeError, "Optimizer"),
    ],
)
def test_lr_range_test_errors(kw: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        lr_range_test(Line(), X, Y, loss=mse_loss, **kw)  # type: ignore[arg-type]


def test_lr_range_test_data_errors() -> None:
    with pytest.raises(ValueError, match="X has 21 samples but y has 3"):
        lr_range_test(Line(), X, Y[:3], loss=mse_loss)
    with pytest.raises(TypeError, match=r"parameters\(\) method"):
        lr_range_test(object(), X, Y, loss=mse_loss)


def test_lr_range_test_on_an_mlp_restores_every_parameter() -> None:
    layers = pytest.importorskip("chainrule.nn.layers")
    data = pytest.importorskip("chainrule.nn.data")
    from chainrule.nn.functional import hinge_loss

    X, y = data.make_moons(30, noise=0.1, seed=1)
    model = layers.MLP(2, [8, 1], seed=0)
    before = [p.data.hex() for p in model.parameters()]
    lrs, losses = lr_range_test(model, X, 2 * y - 1, loss=hinge_loss, start_lr=1e-3, end_lr=10.0, steps=25)
    assert len(lrs) == len(losses) >= 2 and all(math.isfinite(v) for v in losses[:-1])
    assert [p.data.hex() for p in model.parameters()] == before
    assert all(p.grad == 0.0 for p in model.parameters())
