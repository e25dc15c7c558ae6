"""Weight initialisers: each draws one weight for a neuron of a layer.

Every initialiser has the signature ``f(fan_in, fan_out, *, rng) -> float``:
``fan_in`` is the number of inputs of the neuron, ``fan_out`` the number of
neurons in its layer (a lone :class:`nn.Neuron` passes 1), and ``rng`` a
``random.Random`` (randomness is always explicit). Options such as ``std`` or
``gain`` are keyword arguments with defaults; bind them with
``functools.partial(nn.init.normal, std=0.1)``. :func:`constant` is the
exception: it needs a value, so it is a factory, ``nn.init.constant(0.5)``.

Biases are not drawn: they start at zero whatever the initialiser.

The default (``init=None``) depends on the layer's activation, as the
textbooks recommend (:func:`default_for`): :func:`he_uniform` (variance
2/fan_in) for "relu" and "leaky_relu", which keeps the scale of the
activations constant from layer to layer through the ReLUs;
:func:`xavier_uniform` (variance 2/(fan_in + fan_out)) for every other
activation ("tanh", "sigmoid", "linear", a callable). PyTorch's ``nn.Linear``
default is smaller, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (variance
1/(3 fan_in)), available as :func:`pytorch_linear`; measured on micrograd's
demo (``MLP(2, [16, 16, 1])``, 100 moons points, hinge loss, 100 SGD steps
with lr from 1.0 down to 0.1) it stalls at 91-95% training accuracy for
seeds 0-2, where He reaches 99-100%. Pass ``init=nn.init.pytorch_linear`` to
match a PyTorch model's initial distribution.

Example::

    from functools import partial
    from chainrule.nn import MLP, init
    MLP(2, [16, 1], init=init.he_normal, seed=0)
    MLP(2, [16, 1], init=partial(init.normal, std=0.1), seed=0)
    MLP(2, [16, 1], init=init.constant(0.5))   # every neuron identical: symmetry
"""

from __future__ import annotations

import math
import numbers
import random
import sys
from collections.abc import Callable
from typing import Protocol

__all__ = [
    "INITIALIZERS",
    "Initializer",
    "constant",
    "default_for",
    "he_normal",
    "he_uniform",
    "normal",
    "pytorch_linear",
    "resolve",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]


class Initializer(Protocol):
    """The type of an initialiser: draws one weight."""

    def __call__(self, fan_in: int, fan_out: int, *, rng: random.Random) -> float: ...


def _check_fans(fan_in: int, fan_out: int, who: str) -> None:
    for name, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(fan, bool) or not isinstance(fan, numbers.Integral) or fan <= 0:
            raise ValueError(f"{who}(): {name} must be a positive int, got {fan!r}")
        if fan > sys.float_info.max:  # the formulas divide by it as a float
            raise ValueError(f"{who}(): {name} must be at most {sys.float_info.max:.4g}, got an int of "
                             f"{len(str(fan))} digits")


def _check_number(value: object, name: str, who: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise TypeError(f"{who}(): {name} must be a finite real number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{who}(): {name} must be > 0, got {value!r}")
    return float(value)


def zeros(fan_in: int, fan_out: int, *, rng: random.Random) -> float:
    """Return 0.0 (variance 0): every neuron of a layer is identical and stays so.

    With ReLU or tanh the gradients of the hidden weights are zero as well, so
    nothing but the last bias learns. Shown for the symmetry problem only.
    """
    _check_fans(fan_in, fan_out, "zeros")
    return 0.0


def constant(value: float) -> Initializer:
    """Return an initialiser that gives every weight ``value`` (variance 0).

    Every neuron of a layer computes the same function and receives the same
    gradient, so they stay identical however long you train (the symmetry
    problem).

    Args:
        value: the weight, a finite real number.

    Returns:
        An initialiser ``f(fan_in, fan_out, *, rng) -> value``.
    """
    weight = _check_number(value, "value", "constant")

    def init(fan_in: int, fan_out: int, *, rng: random.Random) -> float:
        _check_fans(fan_in, fan_out, "constant")
        return weight

    init.__name__ = init.__qualname__ = f"constant({weight!r})"
    return init


def normal(fan_in: int, fan_out: int, *, rng: random.Random, mean: float = 0.0, std: float = 1.0) -> float:
    """Draw from N(mean, std**2): variance std**2, whatever the fans.

    With std = 1 the pre-activation of a neuron with n inputs has variance
    about n, so wide layers saturate tanh and sigmoid; scale std by hand or use
    the Xavier and He initialisers, which do it for you.
    """
    _check_fans(fan_in, fan_out, "normal")
    _check_number(mean, "mean", "normal")
    _check_number(std, "std", "normal", positive=True)
    return rng.gauss(mean, std)


def uniform(fan_in: int, fan_out: int, *, rng: random.Random, low: float = -1.0, high: float = 1.0) -> float:
    """Draw from U(low, high): variance (high - low)**2 / 12, 1/3 for the default U(-1, 1).

    The default range is micrograd's, symmetric about zero (PyTorch's
    ``uniform_`` defaults to U(0, 1), which makes every weight positive).
    """
    _check_fans(fan_in, fan_out, "uniform")
    lo = _check_number(low, "low", "uniform")
    hi = _check_number(high, "high", "uniform")
    if not lo < hi:
        raise ValueError(f"uniform(): low must be < high, got low={low!r}, high={high!r}")
    return rng.uniform(lo, hi)


def pytorch_linear(fan_in: int, fan_out: int, *, rng: random.Random) -> float:
    """Draw from U(-1/sqrt(fan_in), 1/sqrt(fan_in)): variance 1 / (3 fan_in).

    PyTorch's ``nn.Linear`` default (``kaiming_uniform_`` with a = sqrt(5)).
    """
    _check_fans(fan_in, fan_out, "pytorch_linear")
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound)


def xavier_uniform(fan_in: int, fan_out: int, *, rng: random.Random, gain: float = 1.0) -> float:
    """Draw from U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)): variance gain**2 * 2 / (fan_in + fan_out).

    Glorot and Bengio (2010): keeps the variance of activations (forward) and
    of gradients (backward) about equal for tanh-like activations; the
    variance is 1 / fan_avg with fan_avg = (fan_in + fan_out) / 2.
    """
    _check_fans(fan_in, fan_out, "xavier_uniform")
    g = _check_number(gain, "gain", "xavier_uniform", positive=True)
    bound = g * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound)


def xavier_normal(fan_in: int, fan_out: int, *, rng: random.Random, gain: float = 1.0) -> float:
    """Draw from N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out)): variance gain**2 * 2 / (fan_in + fan_out)."""
    _check_fans(fan_in, fan_out, "xavier_normal")
    g = _check_number(gain, "gain", "xavier_normal", positive=True)
    return rng.gauss(0.0, g * math.sqrt(2.0 / (fan_in + fan_out)))


def he_uniform(fan_in: int, fan_out: int, *, rng: random.Random) -> float:
    """Draw from U(-b, b), b = sqrt(6 / fan_in): variance 2 / fan_in.

    He et al. (2015), PyTorch's ``kaiming_uniform_`` for ReLU: ReLU zeroes
    half of its inputs, so twice the 1/fan_in variance keeps the activations'
    scale constant from layer to layer.
    """
    _check_fans(fan_in, fan_out, "he_uniform")
    bound = math.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound)


def he_normal(fan_in: int, fan_out: int, *, rng: random.Random) -> float:
    """Draw from N(0, 2 / fan_in): variance 2 / fan_in (PyTorch's ``kaiming_normal_`` for ReLU)."""
    _check_fans(fan_in, fan_out, "he_normal")
    return rng.gauss(0.0, math.sqrt(2.0 / fan_in))


# The initialisers a model can name with a string (``init="he_normal"``).
INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros,
    "normal": normal,
    "uniform": uniform,
    "pytorch_linear": pytorch_linear,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}


def default_for(activation: object) -> Initializer:
    """Return the default initialiser for a layer with this activation.

    Args:
        activation: an activation name or callable.

    Returns:
        :func:`he_uniform` for "relu" and "leaky_relu", else :func:`xavier_uniform`.
    """
    return he_uniform if activation in ("relu", "leaky_relu") else xavier_uniform


def resolve(init: str | Callable[..., float] | None, activation: object = "relu") -> Callable[..., float]:
    """Return the initialiser named by ``init`` (a name from :data:`INITIALIZERS`), or ``init`` itself.

    Args:
        init: None (the default for the activation, :func:`default_for`), a
            name, or a callable ``f(fan_in, fan_out, *, rng) -> float``.
        activation: the layer's activation, which picks the default.

    Returns:
        The initialiser.
    """
    if init is None:
        return default_for(activation)
    if isinstance(init, str):
        try:
            return INITIALIZERS[init]
        except KeyError:
            hint = " (constant needs a value: init=nn.init.constant(0.5))" if init == "constant" else ""
            raise ValueError(
                f"unknown init {init!r}{hint}; expected one of {', '.join(INITIALIZERS)} or a callable"
            ) from None
    if not callable(init):
        raise TypeError(f"init must be a name or a callable f(fan_in, fan_out, *, rng), got {type(init).__name__}")
    return init
