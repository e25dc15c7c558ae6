"""Learning-rate schedules: objects that set an optimizer's lr, stepped once per optimizer step (PyTorch's rules).

Each schedule sets the lr of every parameter group when it is made (step 0)
and again at each ``step()``; ``get_last_lr()`` gives the lrs it set last. The
updates are PyTorch's chainable ones (each new lr is computed from the current
``group["lr"]``), so a schedule composes with changes made by hand, and the
sequences agree with ``torch.optim.lr_scheduler``.

Example::

    opt = SGD(model.parameters(), lr=0.1)
    warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
    for _ in range(20):
        ...; opt.step(); warmup.step()
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

from chainrule.nn.optim import Optimizer, _at_least_zero, _real

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LinearLR",
    "SequentialLR",
    "StepLR",
]


def _positive_int(x: object, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 1:
        raise ValueError(f"{what} must be a positive int, got {x!r}")
    return x


class LRScheduler:
    """Base class: records each group's starting lr (``group["initial_lr"]``) and performs step 0.

    Subclasses give ``get_lr()`` (the next lrs, from the current ones) and
    ``_closed_form_lr()`` (the lrs at ``last_epoch`` from the starting ones).

    Args:
        optimizer: the optimizer whose ``param_groups[i]["lr"]`` to set.

    Attributes:
        last_epoch: the number of ``step()`` calls so far (0 right after construction).
        base_lrs: each group's starting lr.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}() optimizer must be an nn.optim Optimizer, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """Return the lrs for ``last_epoch`` (already advanced), computed from the current ones."""
        raise NotImplementedError

    def _closed_form_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step and set every group's lr (call it after ``optimizer.step()``)."""
        self._step_count += 1
        self.last_epoch += 1
        self._set(self.get_lr())

    def _restart(self) -> None:
        """Jump to step 0 from the starting lrs (SequentialLR hands over this way)."""
        self.last_epoch = 0
        self._set(self._closed_form_lr())

    def _set(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """Return the lr of each parameter group as this schedule last set it."""
        return list(self._last_lr)

    def _current(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply the lr by gamma every step_size steps: lr_t = base_lr * gamma ** (t // step_size).

    Args:
        optimizer: the optimizer to schedule.
        step_size: steps between decays (a positive int).
        gamma: the decay factor (>= 0), 0.1 by default.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _positive_int(step_size, "StepLR() step_size")
        self.gamma = _at_least_zero(gamma, "StepLR() gamma")
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        """Return the next lrs: the current ones, times gamma at each multiple of step_size."""
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current()
        return [lr * self.gamma for lr in self._current()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by gamma every step: lr_t = base_lr * gamma ** t.

    Args:
        optimizer: the optimizer to schedule.
        gamma: the factor per step (>= 0).
    """

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = _at_least_zero(gamma, "ExponentialLR() gamma")
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        """Return the next lrs: the current ones times gamma (unchanged at step 0)."""
        if self._is_initial:
            return self._current()
        return [lr * self.gamma for lr in self._current()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing: lr_t = eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2.

    The lr reaches eta_min at t = T_max; stepping on past T_max continues the
    cosine back up (period 2 T_max), as PyTorch does.

    Args:
        optimizer: the optimizer to schedule.
        T_max: steps from the starting lr down to eta_min (a positive int).
        eta_min: the smallest lr (>= 0).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _positive_int(T_max, "CosineAnnealingLR() T_max")
        self.eta_min = _at_least_zero(eta_min, "CosineAnnealingLR() eta_min")
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        """Return the next lrs by PyTorch's recursive form of the cosine (it composes with other changes)."""
        t, period = self.last_epoch, self.T_max
        if self._is_initial:
            return self._current()
        if (t - 1 - period) % (2 * period) == 0:  # the bottom of the cosine: the ratio below would be 0/0
            return [lr + (base - self.eta_min) * (1 - math.cos(math.pi / period)) / 2
                    for base, lr in zip(self.base_lrs, self._current(), strict=True)]
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        return [ratio * (lr - self.eta_min) + self.eta_min for lr in self._current()]

    def _closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr linearly from start_factor to end_factor times its starting value over total_iters steps.

    A linear warm-up is ``LinearLR(opt, start_factor=0.01, total_iters=k)``:
    the lr climbs from 1% to 100% of its value over k steps, then stays.

    Args:
        optimizer: the optimizer to schedule.
        start_factor: the factor at step 0, in (0, 1].
        end_factor: the factor from step total_iters on, in [0, 1].
        total_iters: the number of steps of the ramp (a positive int).
    """

    def __init__(
        self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5
    ) -> None:
        self.start_factor = _real(start_factor, "LinearLR() start_factor")
        self.end_factor = _real(end_factor, "LinearLR() end_factor")
        if not 0.0 < self.start_factor <= 1.0:
            raise ValueError(f"LinearLR() start_factor must be in (0, 1], got {start_factor!r}")
        if not 0.0 <= self.end_factor <= 1.0:
            raise ValueError(f"LinearLR() end_factor must be in [0, 1], got {end_factor!r}")
        self.total_iters = _positive_int(total_iters, "LinearLR() total_iters")
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        """Return the next lrs: one more step along the ramp, from the current ones."""
        t, start, end, total = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        if t == 0:
            return [lr * start for lr in self._current()]
        if self._is_initial or t > total:
            return self._current()
        factor = 1.0 + (end - start) / (total * start + (t - 1) * (end - start))
        return [lr * factor for lr in self._current()]

    def _closed_form_lr(self) -> list[float]:
        t, start, end, total = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        return [base * (start + (end - start) * min(total, t) / total) for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run schedules one after another: schedulers[i] from milestones[i - 1] on (e.g. warm-up, then cosine).

    Each later schedule restarts from the starting lrs at its milestone, as in
    PyTorch's SequentialLR.

    Args:
        optimizer: the optimizer all the schedulers belong to.
        schedulers: the schedules, made on this optimizer.
        milestones: the steps at which to switch, one fewer than schedulers, increasing.
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"SequentialLR() optimizer must be an nn.optim Optimizer, got {type(optimizer).__name__}")
        if not schedulers:
            raise ValueError("SequentialLR() needs at least one scheduler")
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler) or isinstance(s, SequentialLR):
                raise TypeError(f"SequentialLR() schedulers[{i}] must be a schedule such as LinearLR, got {s!r}")
            if s.optimizer is not optimizer:
                raise ValueError(f"SequentialLR() schedulers[{i}] belongs to another optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR() needs {len(schedulers) - 1} milestones for {len(schedulers)} "
                             f"schedulers, got {len(milestones)}")
        for i, m in enumerate(milestones):
            _positive_int(m, f"SequentialLR() milestones[{i}]")
            if i and m <= milestones[i - 1]:
                raise ValueError(f"SequentialLR() milestones must increase, got {list(milestones)}")
        self.optimizer = optimizer
        self.schedulers = list(schedulers)
        self.milestones = list(milestones)
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        # Undo the step 0 each schedule performed when it was made; only the first one's counts.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in self.schedulers:
            s.last_epoch -= 1
        self.schedulers[0]._initial_step()
        self._last_lr = self.schedulers[0].get_last_lr()

    def step(self) -> None:
        """Advance one step: hand over at a milestone, else step the schedule in force."""
        self.last_epoch += 1
        index = bisect_right(self.milestones, self.last_epoch)
        scheduler = self.schedulers[index]
        if index > 0 and self.milestones[index - 1] == self.last_epoch:
            scheduler._restart()
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()
