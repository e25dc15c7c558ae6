"""Optimisers that update Values from their ``.grad``, PyTorch's algorithms and argument names; gradient clipping;
the learning-rate range test.

Each optimiser holds ``param_groups`` (a list of dicts with ``"params"`` and the
hyperparameters, ``param_groups[0]["lr"]`` readable and settable, as schedules
do) and per-parameter ``state``. The update rules are PyTorch's, written out for
floats (see the algorithm boxes of torch.optim.SGD, Adam and AdamW).

Example::

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(100):
        opt.zero_grad()
        loss = hinge_loss([model(x) for x in X], y)
        loss.backward()
        opt.step()
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from chainrule.autograd import Value

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Optimizer",
    "clip_grad_norm",
    "lr_range_test",
    "mean_and_max_abs",
    "steepest_lr",
    "vector_norm",
]

ParamGroup = dict[str, Any]


# ----------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------


def _real(x: object, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {type(x).__name__} {x!r}")
    return float(x)


def _at_least_zero(x: object, what: str) -> float:
    """A finite number >= 0, or a ValueError naming the argument."""
    value = _real(x, what)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"invalid {what}: {x!r} (expected a finite number >= 0)")
    return value


def _flag(x: object, what: str) -> bool:
    if not isinstance(x, bool):
        raise TypeError(f"{what} must be True or False, got {type(x).__name__} {x!r}")
    return x


def _params_list(params: object, what: str) -> list[Value]:
    if isinstance(params, Value):
        raise TypeError(f"{what} must be an iterable of Values (e.g. model.parameters()), got a single Value; "
                        "wrap it in a list")
    if not isinstance(params, Iterable) or isinstance(params, (str, bytes)):
        hint = "; did you mean model.parameters()?" if hasattr(params, "parameters") else ""
        raise TypeError(f"{what} must be an iterable of Values, got {type(params).__name__}{hint}")
    items = list(params)
    for i, p in enumerate(items):
        if not isinstance(p, Value):
            raise TypeError(f"{what}[{i}] must be a Value, got {type(p).__name__} {p!r}")
    return items


# ----------------------------------------------------------------------------
# The base class
# ----------------------------------------------------------------------------


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad`` and the state dict.

    Args:
        params: an iterable of Values (e.g. ``model.parameters()``), or of
            dicts ``{"params": [...], "lr": ...}`` giving groups their own
            hyperparameters (missing ones come from ``defaults``).
        defaults: the hyperparameters of every group.
    """

    def __init__(self, params: Iterable[Value] | Iterable[ParamGroup], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, Value) or not isinstance(params, Iterable) or isinstance(params, (str, bytes)):
            _params_list(params, f"{name}() params")  # raises the TypeError that explains
        items: list[Any] = [params] if isinstance(params, dict) else list(params)
        if not items:
            raise ValueError(f"{name}() got an empty parameter list: pass model.parameters() of a model with weights")
        self.defaults = dict(defaults)
        self.param_groups: list[ParamGroup] = []
        self.state: dict[Value, dict[str, Any]] = {}
        if all(isinstance(g, dict) for g in items):
            for group in items:
                self.add_param_group(group)
        elif any(isinstance(g, dict) for g in items):
            raise TypeError(f"{name}() params must be all Values or all dicts of parameter groups, not a mix")
        else:
            self.add_param_group({"params": items})

    def add_param_group(self, group: ParamGroup) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones take the defaults).

        Args:
            group: a dict with ``"params"`` (Values) and optional hyperparameters.
        """
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}() a parameter group must be a dict with a 'params' entry, got {group!r}")
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"{name}() parameter group has unknown options {sorted(unknown)}; "
                             f"expected some of {sorted(self.defaults)}")
        index = len(self.param_groups)
        params = _params_list(group["params"], f"{name}() param_groups[{index}]['params']")
        if not params:
            raise ValueError(f"{name}() param_groups[{index}] has an empty parameter list")
        seen: set[Value] = set()
        taken = {p for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if p in seen or p in taken:
                raise ValueError(f"{name}() parameter {i} of param_groups[{index}] ({p!r}) appears twice; "
                                 "each parameter may be listed once")
            seen.add(p)
        full = {**self.defaults, **group, "params": params}
        self._check_group(full)
        self.param_groups.append(full)

    def _check_group(self, group: ParamGroup) -> None:
        """Validate one group's hyperparameters (subclasses add their own)."""
        group["lr"] = _at_least_zero(group["lr"], f"{type(self).__name__}() learning rate lr")

    def parameters(self) -> list[Value]:
        """Return every parameter of every group, in order."""
        return [p for g in self.param_groups for p in g["params"]]

    def zero_grad(self) -> None:
        """Set ``.grad`` of every parameter to 0.0 (before the next backward, which adds into it)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = 0.0

    def step(self, closure: Callable[[], Value] | None = None) -> float | None:
        """Update every parameter once from its ``.grad``.

        Args:
            closure: optional; called first (it should zero the gradients,
                compute the loss and call backward) and its loss returned.

        Returns:
            The closure's loss as a float, or None.
        """
        loss = None
        if closure is not None:
            out = closure()
            loss = out.data if isinstance(out, Value) else _real(out, "step() closure result")
        for group in self.param_groups:
            self._update(group)
        return loss

    def _update(self, group: ParamGroup) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Return the hyperparameters and state as plain numbers, parameters named by position.

        Returns:
            ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``
            (a copy: later steps do not change it).
        """
        index = {p: i for i, p in enumerate(self.parameters())}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[p] for p in g["params"]]}
                  for g in self.param_groups]
        state = {index[p]: dict(s) for p, s in self.state.items() if p in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by :meth:`state_dict` (same group sizes).

        Args:
            state_dict: as returned by :meth:`state_dict`.
        """
        name = type(self).__name__
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if not isinstance(groups, list) or len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict(): expected {len(self.param_groups)} param_groups")
        for i, (saved, group) in enumerate(zip(groups, self.param_groups, strict=True)):
            if len(saved.get("params", ())) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict(): param_groups[{i}] has {len(saved.get('params', ()))} "
                                 f"parameters, this optimizer has {len(group['params'])}")
        params = self.parameters()
        for saved, group in zip(groups, self.param_groups, strict=True):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {params[int(i)]: dict(s) for i, s in state_dict.get("state", {}).items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"  group {i}: {len(group['params'])} parameters")
            lines.extend(f"    {k}: {v}" for k, v in group.items() if k != "params")
        return "\n".join([*lines, ")"])


# ----------------------------------------------------------------------------
# SGD, Adam, AdamW
# ----------------------------------------------------------------------------


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay (PyTorch's SGD).

    Per parameter θ with gradient g, each step::

        g = -g if maximize;  g = g + weight_decay * θ
        b = g (first step), else b = momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b      (when momentum != 0)
        θ = θ - lr * g

    Args:
        params: Values (e.g. ``model.parameters()``) or parameter-group dicts.
        lr: the learning rate (>= 0).
        momentum: the momentum factor (>= 0).
        dampening: dampening for momentum.
        weight_decay: L2 penalty added to the gradient (>= 0).
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Iterable[Value] | Iterable[ParamGroup],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: ParamGroup) -> None:
        super()._check_group(group)
        group["momentum"] = _at_least_zero(group["momentum"], "SGD() momentum")
        group["dampening"] = _real(group["dampening"], "SGD() dampening")
        group["weight_decay"] = _at_least_zero(group["weight_decay"], "SGD() weight_decay")
        _flag(group["maximize"], "SGD() maximize")
        if _flag(group["nesterov"], "SGD() nesterov") and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD(): Nesterov momentum requires momentum > 0 and dampening = 0")

    def _update(self, group: ParamGroup) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
        if not (momentum or weight_decay or maximize):  # plain gradient descent: the common, hot case
            for p in group["params"]:
                p.data -= lr * p.grad
            return
        for p in group["params"]:
            g = -p.grad if maximize else p.grad
            if weight_decay:
                g = g + weight_decay * p.data
            if momentum:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                buf = g if buf is None else buf * momentum + (1.0 - dampening) * g
                state["momentum_buffer"] = buf
                g = g + momentum * buf if nesterov else buf
            p.data -= lr * g


def _check_betas(betas: object, what: str) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"{what} must be a pair (beta1, beta2), got {betas!r}")
    pair = (_real(betas[0], f"{what}[0]"), _real(betas[1], f"{what}[1]"))
    for i, b in enumerate(pair):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"invalid {what}[{i}]: {b!r} (expected 0 <= beta < 1)")
    return pair


def _lerp(start: float, end: float, weight: float) -> float:
    # NOTE: PyTorch's lerp, which Adam uses for the first moment; the two forms keep it exact at both ends.
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


class Adam(Optimizer):
    """Adam (PyTorch's algorithm, with optional AMSGrad and decoupled weight decay).

    Per parameter θ with gradient g, at step t::

        g = -g if maximize
        θ = θ (1 - lr weight_decay)          if decoupled_weight_decay (AdamW)
        g = g + weight_decay θ               otherwise
        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g²
        v̂max = max(v̂max, v) if amsgrad (used in place of v)
        θ = θ - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Args:
        params: Values (e.g. ``model.parameters()``) or parameter-group dicts.
        lr: the learning rate (>= 0).
        betas: decay rates of the first and second moments, each in [0, 1).
        eps: added to the denominator (>= 0).
        weight_decay: L2 penalty (>= 0).
        amsgrad: use the running maximum of the second moment.
        maximize: ascend instead of descend.
        decoupled_weight_decay: shrink the weights directly, as AdamW.
    """

    def __init__(
        self,
        params: Iterable[Value] | Iterable[ParamGroup],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group: ParamGroup) -> None:
        super()._check_group(group)
        name = type(self).__name__
        group["betas"] = _check_betas(group["betas"], f"{name}() betas")
        group["eps"] = _at_least_zero(group["eps"], f"{name}() eps")
        group["weight_decay"] = _at_least_zero(group["weight_decay"], f"{name}() weight_decay")
        for flag in ("amsgrad", "maximize", "decoupled_weight_decay"):
            _flag(group[flag], f"{name}() {flag}")

    def _update(self, group: ParamGroup) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, amsgrad, maximize = group["weight_decay"], group["amsgrad"], group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        for p in group["params"]:
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0, "exp_avg": 0.0, "exp_avg_sq": 0.0}
                if amsgrad:
                    state["max_exp_avg_sq"] = 0.0
            g = -p.grad if maximize else p.grad
            step = state["step"] = state["step"] + 1
            if weight_decay:
                if decoupled:
                    p.data *= 1.0 - lr * weight_decay
                else:
                    g = g + weight_decay * p.data
            m = state["exp_avg"] = _lerp(state["exp_avg"], g, 1.0 - beta1)
            v = state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + (1.0 - beta2) * g * g
            if amsgrad:
                v = state["max_exp_avg_sq"] = max(state.get("max_exp_avg_sq", 0.0), v)
            step_size = lr / (1.0 - beta1**step)
            denom = math.sqrt(v) / (1.0 - beta2**step) ** 0.5 + eps
            p.data -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's AdamW): θ shrinks by lr * weight_decay * θ each step.

    Args:
        params: Values (e.g. ``model.parameters()``) or parameter-group dicts.
        lr: the learning rate (>= 0).
        betas: decay rates of the first and second moments, each in [0, 1).
        eps: added to the denominator (>= 0).
        weight_decay: the decoupled decay rate (>= 0), 1e-2 by default.
        amsgrad: use the running maximum of the second moment.
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Iterable[Value] | Iterable[ParamGroup],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


# ----------------------------------------------------------------------------
# Gradient clipping
# ----------------------------------------------------------------------------


def vector_norm(values: Iterable[float], norm_type: float = 2.0) -> float:
    """Return the p-norm of ``values`` without overflow or underflow on the way.

    The magnitudes are divided by the largest one before they are raised to
    the power p, so the result is inf only when the true norm is past the
    largest float (1e200 and 1e200 have 3-norm 1.26e200, not an OverflowError),
    and tiny values do not vanish (two 1e-200 have 3-norm 1.26e-200, not 0).

    Args:
        values: real numbers (gradients).
        norm_type: p > 0, or ``math.inf`` for the largest magnitude.

    Returns:
        The norm: 0.0 for no values, nan if any value is nan, inf if any is infinite.
    """
    mags = [abs(v) for v in values]
    if not mags:
        return 0.0
    if any(m != m for m in mags):
        return math.nan
    top = max(mags)
    if norm_type == math.inf or top == 0.0 or top == math.inf:
        return top
    if norm_type == 1.0:
        try:
            return math.fsum(mags)  # exact; with positive terms, an overflow means the sum is past the largest float
        except OverflowError:
            return math.inf
    if norm_type == 2.0:
        return math.hypot(*mags)  # scales internally, correctly rounded
    ratio_sum = math.fsum((m / top) ** norm_type for m in mags)  # each term in [0, 1]: the sum is in [1, n]
    try:
        return top * ratio_sum ** (1.0 / norm_type)  # a float product past the largest float is inf, no error
    except OverflowError:  # a float ** float past the largest float raises instead
        return math.inf


def mean_and_max_abs(values: Sequence[float]) -> tuple[float, float]:
    """Return (mean |v|, max |v|) without overflow: inf only when it is the true value.

    The sum is exact (``math.fsum``); when it is past the largest float, the
    mean is computed from the magnitudes divided by the largest one.

    Args:
        values: real numbers (gradients).

    Returns:
        (0.0, 0.0) for no values; (nan, nan) if any value is nan; (inf, inf) if any is infinite.
    """
    mags = [abs(v) for v in values]
    if not mags:
        return 0.0, 0.0
    if any(m != m for m in mags):
        return math.nan, math.nan
    top = max(mags)
    if top == math.inf:
        return top, top
    try:
        return math.fsum(mags) / len(mags), top
    except OverflowError:
        return top * (math.fsum(m / top for m in mags) / len(mags)), top


def clip_grad_norm(
    parameters: Value | Iterable[Value],
    max_norm: float,
    norm_type: float | str = 2.0,
    *,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale the gradients in place so their joint norm is at most max_norm (PyTorch's clip_grad_norm_).

    The gradients are multiplied by max_norm / (total + 1e-6) when that is below 1,
    so a norm just under max_norm is left alone. A nan total makes every gradient
    nan (as PyTorch): pass ``error_if_nonfinite=True`` to get an error instead.
    The total is computed by :func:`vector_norm`, so it is inf only when the
    true norm is (PyTorch overflows to inf sooner: ``[1e200, 1e200]`` has
    3-norm 1.26e200, inf in PyTorch float64).

    Args:
        parameters: Values (or one Value) whose ``.grad`` to clip.
        max_norm: the largest allowed norm (>= 0).
        norm_type: p of the p-norm (> 0), or ``math.inf`` / ``"inf"`` for the largest |grad|.
        error_if_nonfinite: raise FloatingPointError when the total norm is nan or inf.

    Returns:
        The total norm of the gradients before clipping.
    """
    params = [parameters] if isinstance(parameters, Value) else _params_list(parameters, "clip_grad_norm() parameters")
    limit = _real(max_norm, "clip_grad_norm() max_norm")
    if not limit >= 0.0:
        raise ValueError(f"clip_grad_norm() max_norm must be >= 0, got {max_norm!r}")
    p_norm = math.inf if norm_type == "inf" else _real(norm_type, "clip_grad_norm() norm_type")
    if not p_norm > 0.0:
        raise ValueError(f"clip_grad_norm() norm_type must be > 0 or inf, got {norm_type!r}")
    if not params:
        return 0.0
    total = vector_norm([p.grad for p in params], p_norm)
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(f"clip_grad_norm(): the total {norm_type}-norm of the gradients is {total!r}; "
                                 "pass error_if_nonfinite=False to clip anyway")
    coef = limit / (total + 1e-6)
    if not coef >= 1.0:  # nan included, as PyTorch's clamp(coef, max=1) lets it through
        for p in params:
            p.grad *= coef
    return total


# ----------------------------------------------------------------------------
# The learning-rate range test
# ----------------------------------------------------------------------------


def _batches(n: int, batch_size: int | None, seed: int | random.Random | None) -> Iterable[list[int]]:
    """Yield index batches forever: the whole set each time, or shuffled minibatches epoch after epoch."""
    if batch_size is None or batch_size >= n:
        while True:
            yield list(range(n))
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    while True:
        order = list(range(n))
        rng.shuffle(order)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]


def lr_range_test(
    model: Any,
    X: Sequence[Any],
    y: Sequence[Any],
    *,
    loss: Callable[[list[Any], list[Any]], Value],
    optimizer: Optimizer | None = None,
    optimizer_factory: Callable[[list[Value]], Optimizer] | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    batch_size: int | None = None,
    seed: int | random.Random | None = None,
    smoothing: float = 0.0,
    diverge_threshold: float = 4.0,
) -> tuple[list[float], list[float]]:
    """The learning-rate finder: train briefly while the lr grows exponentially, record the loss, then undo it all.

    Step i uses lr = start_lr * (end_lr / start_lr) ** (i / (steps - 1)). Each
    step computes the batch loss, records it, then updates the parameters with
    that lr. The run stops early once the loss diverges (nan/inf, or more than
    ``diverge_threshold`` times the best loss so far). Afterwards every
    parameter's ``data`` and ``grad`` are restored bit for bit, and so are the
    optimizer's state and learning rates. A good lr is usually a little below
    where the loss falls fastest (see :func:`steepest_lr`).

    Args:
        model: anything with ``parameters()`` that maps one input to a Value or list of Values.
        X: the inputs, one per sample.
        y: the targets, one per sample.
        loss: ``loss(predictions, targets) -> Value``, e.g. ``nn.functional.mse_loss``.
        optimizer: an optimizer over the model's parameters (its lrs are overridden during the test).
        optimizer_factory: or a function making one from the parameter list; plain SGD when neither is given.
        start_lr: the first learning rate (> 0).
        end_lr: the last learning rate (> start_lr).
        steps: the number of steps (>= 2).
        batch_size: samples per step; the whole data set when None.
        seed: shuffles the minibatches (an int or random.Random).
        smoothing: weight of the past in an exponential moving average of the recorded loss (0 = raw, e.g. 0.9).
        diverge_threshold: stop when the loss exceeds this multiple of the best loss.

    Returns:
        ``(lrs, losses)``: the learning rate of each step taken and the (smoothed) loss recorded at it.
    """
    if not callable(getattr(model, "parameters", None)):
        raise TypeError(f"lr_range_test() model must have a parameters() method, got {type(model).__name__}")
    params = _params_list(model.parameters(), "lr_range_test() model.parameters()")
    if not params:
        raise ValueError("lr_range_test() the model has no parameters to train")
    if len(X) != len(y):
        raise ValueError(f"lr_range_test() X has {len(X)} samples but y has {len(y)}; they must match")
    if not len(X):
        raise ValueError("lr_range_test() needs at least one sample in X")
    if optimizer is not None and optimizer_factory is not None:
        raise ValueError("lr_range_test() takes optimizer or optimizer_factory, not both")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"lr_range_test() optimizer must be an nn.optim Optimizer, got {type(optimizer).__name__}")
    lo, hi = _real(start_lr, "lr_range_test() start_lr"), _real(end_lr, "lr_range_test() end_lr")
    if not (0.0 < lo < hi < math.inf):
        raise ValueError(f"lr_range_test() needs 0 < start_lr < end_lr, got start_lr={start_lr!r}, end_lr={end_lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"lr_range_test() steps must be an int >= 2, got {steps!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"lr_range_test() batch_size must be a positive int or None, got {batch_size!r}")
    beta = _real(smoothing, "lr_range_test() smoothing")
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"lr_range_test() smoothing must be in [0, 1), got {smoothing!r}")
    threshold = _real(diverge_threshold, "lr_range_test() diverge_threshold")
    if not threshold > 1.0:
        raise ValueError(f"lr_range_test() diverge_threshold must be > 1, got {diverge_threshold!r}")

    if optimizer is None:
        optimizer = optimizer_factory(params) if optimizer_factory is not None else SGD(params, lr=lo)
        if not isinstance(optimizer, Optimizer):
            raise TypeError("lr_range_test() optimizer_factory must return an nn.optim Optimizer, "
                            f"got {type(optimizer).__name__}")
    saved_data = [p.data for p in params]
    saved_grad = [p.grad for p in params]
    saved_optimizer = optimizer.state_dict()

    lrs: list[float] = []
    losses: list[float] = []
    best = math.inf
    average = 0.0
    batches = iter(_batches(len(X), batch_size, seed))
    try:
        for i in range(steps):
            lr = lo * (hi / lo) ** (i / (steps - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            indices = next(batches)
            optimizer.zero_grad()
            for p in params:
                p.grad = 0.0
            value = loss([model(X[j]) for j in indices], [y[j] for j in indices])
            if not isinstance(value, Value):
                raise TypeError(f"lr_range_test() loss must return a Value, got {type(value).__name__}")
            value.backward()
            current = value.data
            if beta:
                average = beta * average + (1.0 - beta) * current
                current = average / (1.0 - beta ** (i + 1))
            lrs.append(lr)
            losses.append(current)
            if not math.isfinite(current) or current > threshold * best:
                break
            best = min(best, current)
            optimizer.step()
    finally:
        for p, data, grad in zip(params, saved_data, saved_grad, strict=True):
            p.data = data
            p.grad = grad
        optimizer.load_state_dict(saved_optimizer)
    return lrs, losses


def steepest_lr(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """Return the learning rate where the loss falls fastest against log(lr): a common pick from a range test.

    Args:
        lrs: learning rates from :func:`lr_range_test`.
        losses: the losses recorded at them.

    Returns:
        The lr at the most negative finite slope d(loss)/d(log lr).
    """
    if len(lrs) != len(losses) or len(lrs) < 2:
        raise ValueError(f"steepest_lr() needs two or more (lr, loss) pairs, "
                         f"got {len(lrs)} lrs and {len(losses)} losses")
    best_i, best_slope = -1, math.inf
    for i in range(len(lrs) - 1):
        slope = (losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        if math.isfinite(slope) and slope < best_slope:
            best_i, best_slope = i, slope
    if best_i < 0:
        raise ValueError("steepest_lr() found no finite slope in the losses")
    return lrs[best_i]
