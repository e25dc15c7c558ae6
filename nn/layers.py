"""Neuron, Layer and MLP: the fully connected building blocks.

A neuron's forward pass is two nodes: its pre-activation
``autograd.dot(w, x, bias=b)`` (one node with an edge per weight, input and
the bias) and its activation (none for "linear"). Numbers given as inputs
become constant leaves, once per call of the outermost module.

Parameters are named ``w.<i>`` and ``b`` in a neuron, ``neurons.<j>.w.<i>`` in
a layer and ``layers.<k>.neurons.<j>.w.<i>`` in an MLP, and the forward nodes
carry the same module paths (``layers.0.neurons.3``) as their ``scope``.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd import Value, constant, dot
from chainrule.autograd.modes import reset_mode, scoped_modes, set_mode
from chainrule.nn import init as _init
from chainrule.nn._limits import BYTES_PER_PARAMETER, check_fits
from chainrule.nn.module import Module

__all__ = ["ACTIVATIONS", "MLP", "Activation", "Layer", "Neuron"]

Activation = str | Callable[[Value], Value]
Seed = int | random.Random | None

# Built-in activations by name; None means no node at all (linear).
ACTIVATIONS: dict[str, Callable[[Value], Value] | None] = {
    "linear": None,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "relu": Value.relu,
    "leaky_relu": Value.leaky_relu,  # slope 0.01, PyTorch's default
}


def _make_rng(seed: Seed, who: str) -> random.Random:
    """Return a Random for ``seed`` (a fresh OS-seeded one for None; never the global generator)."""
    if isinstance(seed, random.Random):
        return seed
    if seed is None:
        return random.Random()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{who}: seed must be an int, a random.Random or None, got {type(seed).__name__} {seed!r}")
    return random.Random(int(seed))


def _check_size(n: object, name: str, who: str) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{who}: {name} must be an int, got {type(n).__name__} {n!r}")
    if n <= 0:
        raise ValueError(f"{who}: {name} must be >= 1, got {n}")
    return int(n)


def _check_buildable(count: int, who: str) -> int:
    """Refuse a model whose ``count`` parameters would not fit in memory; return the count."""
    check_fits(count, BYTES_PER_PARAMETER, "parameters", who)
    return count


def _mlp_sizes(nin: object, nouts: object, who: str) -> list[int]:
    """Return [nin, *nouts] checked: positive ints, at least one layer."""
    sizes = [_check_size(nin, "nin", who)]
    if isinstance(nouts, (str, bytes)) or not isinstance(nouts, (Sequence, np.ndarray)):
        raise TypeError(f"{who}: nouts must be a sequence of layer widths, got {type(nouts).__name__} {nouts!r}")
    if len(nouts) == 0:
        raise ValueError(f"{who}: nouts must name at least one layer width, got {list(nouts)}")
    check_fits(2 * len(nouts), BYTES_PER_PARAMETER, "parameters (at least 2 per layer)", who)
    sizes.extend(_check_size(n, f"nouts[{i}]", who) for i, n in enumerate(nouts))
    return sizes


def _mlp_parameter_count(sizes: list[int]) -> int:
    # Each layer: nout neurons of nin weights and a bias.
    return sum((sizes[k] + 1) * sizes[k + 1] for k in range(len(sizes) - 1))


def _config_entries(config: object, keys: tuple[str, ...], who: str) -> dict[str, Any]:
    """Check that a file's config is an object with exactly ``keys``; return it."""
    if not isinstance(config, dict):
        raise TypeError(f"{who}: config must be a JSON object, got {type(config).__name__}")
    missing = [k for k in keys if k not in config]
    if missing:
        raise ValueError(f"{who}: config has no {missing[0]!r} entry (it needs {', '.join(keys)})")
    extra = [k for k in config if k not in keys]
    if extra:
        raise ValueError(f"{who}: unexpected config entry {extra[0]!r} (expected only {', '.join(keys)})")
    for key in keys:
        if key.endswith("activation") and not isinstance(config[key], str):
            raise TypeError(f"{who}: {key} must be an activation name, got {type(config[key]).__name__}")
    return config


def _resolve_activation(activation: Activation, who: str) -> Callable[[Value], Value] | None:
    if isinstance(activation, str):
        if activation.startswith("custom:"):
            raise ValueError(f"{who}: activation {activation!r} is a custom callable recorded by name, which "
                             "cannot be rebuilt from a file; build the model with that callable and call "
                             "model.load(path)")
        try:
            return ACTIVATIONS[activation]
        except KeyError:
            raise ValueError(
                f"{who}: unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)} "
                "or a callable on a Value"
            ) from None
    if not callable(activation):
        raise TypeError(f"{who}: activation must be a name or a callable on a Value, "
                        f"got {type(activation).__name__} {activation!r}")

    def custom(v: Value) -> Value:
        out = activation(v)
        if not isinstance(out, Value):
            raise TypeError(f"activation {getattr(activation, '__name__', activation)!r} returned "
                            f"{type(out).__name__} {out!r}; it must return a Value")
        return out

    return custom


def _activation_config(activation: Activation) -> str:
    # A custom callable cannot be rebuilt from a file; it is recorded by name so
    # that loading into a model built with it still checks the architecture.
    if isinstance(activation, str):
        return activation
    return "custom:" + getattr(activation, "__qualname__", type(activation).__qualname__)


def _init_name(init: Any) -> str:
    return getattr(init, "__name__", type(init).__name__)


def _as_inputs(x: Any, nin: int, who: str) -> list[Value]:
    """Check one sample (a sequence or 1-D array of nin numbers or Values); numbers become constants."""
    if type(x) is not list and type(x) is not tuple:  # lists and tuples, the usual samples, need no checks here
        if isinstance(x, np.ndarray):
            if x.ndim != 1:
                raise ValueError(f"{who} expects one sample of {nin} inputs (a 1-D array), got an array of shape "
                                 f"{x.shape}; call it once per row")
            x = x.tolist()
        elif isinstance(x, (Value, str, bytes)) or not isinstance(x, Sequence):
            raise TypeError(f"{who} expects a sequence of {nin} inputs (numbers or Values), got {type(x).__name__}")
    if len(x) != nin:
        raise ValueError(f"{who} expects {nin} input{'' if nin == 1 else 's'}, got {len(x)}")
    # NOTE: a float (the usual input) cannot fail to convert, so it needs no error message made for it
    return [v if isinstance(v, Value) else constant(v) if type(v) is float else constant(v, f"{who} input {i}")
            for i, v in enumerate(x)]


class Neuron(Module):
    """One neuron: activation(w . x + b).

    Args:
        nin: the number of inputs.
        activation: "linear", "tanh", "sigmoid", "relu", "leaky_relu"
            (slope 0.01) or a callable on a Value.
        init: the weight initialiser, a name or a callable
            ``f(fan_in, fan_out, *, rng) -> float`` (see :mod:`nn.init`;
            None: He uniform for relu and leaky_relu, Xavier uniform
            otherwise). The bias starts at 0.
        seed: an int or a ``random.Random`` for the weights (None: fresh
            entropy, never the global generator).
        fan_out: passed to the initialiser; a Layer passes its width.

    Attributes:
        w: the weights, ``w.0 ... w.<nin-1>``.
        b: the bias.
    """

    _repr_children = False

    def __init__(
        self,
        nin: int,
        *,
        activation: Activation = "relu",
        init: str | Callable[..., float] | None = None,
        seed: Seed = None,
        fan_out: int = 1,
    ) -> None:
        who = "Neuron()"
        self.nin = _check_size(nin, "nin", who)
        fan_out = _check_size(fan_out, "fan_out", who)
        _check_buildable(self.nin + 1, who)
        self._act = _resolve_activation(activation, who)
        self.activation = activation
        draw = _init.resolve(init, activation)
        rng = _make_rng(seed, who)
        weights: list[Value] = []
        for i in range(self.nin):
            w = draw(self.nin, fan_out, rng=rng)
            if isinstance(w, bool) or not isinstance(w, numbers.Real):
                raise TypeError(f"{who}: init {_init_name(draw)!r} returned {type(w).__name__} {w!r} "
                                f"for weight {i}; it must return a float")
            weights.append(Value(float(w)))
        self.w = weights
        self.b = Value(0.0)

    def _forward(self, xs: Sequence[Value]) -> Value:
        out = dot(self.w, xs, bias=self.b)
        act = self._act
        return out if act is None else act(out)

    def forward(self, x: Sequence[Any] | np.ndarray) -> Value:
        """Return activation(w . x + b) for one sample of ``nin`` numbers or Values."""
        return self._forward(_as_inputs(x, self.nin, "Neuron"))

    def get_config(self) -> dict[str, Any]:
        """Return {"nin", "activation"}."""
        return {"nin": self.nin, "activation": _activation_config(self.activation)}

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> int:
        """Check a file's config (see :meth:`Module.check_config`); return nin + 1."""
        who = "Neuron()"
        _config_entries(config, ("nin", "activation"), who)
        _resolve_activation(config["activation"], who)
        return _check_buildable(_check_size(config["nin"], "nin", who) + 1, who)

    def extra_repr(self) -> str:
        act = self.activation if isinstance(self.activation, str) else _activation_config(self.activation)
        return f"{self.nin} input{'' if self.nin == 1 else 's'}, {act}"


class Layer(Module):
    """``nout`` neurons reading the same ``nin`` inputs.

    Args:
        nin: the number of inputs.
        nout: the number of neurons (outputs).
        activation, init, seed: as for :class:`Neuron` (the neurons draw
            their weights in order from one generator, with fan_out = nout).

    Calling it on one sample returns a Value when ``nout == 1``, else a list.

    Attributes:
        neurons: the neurons, ``neurons.0 ... neurons.<nout-1>``.
    """

    _repr_children = False

    def __init__(
        self,
        nin: int,
        nout: int,
        *,
        activation: Activation = "relu",
        init: str | Callable[..., float] | None = None,
        seed: Seed = None,
    ) -> None:
        who = "Layer()"
        self.nin = _check_size(nin, "nin", who)
        self.nout = _check_size(nout, "nout", who)
        _check_buildable((self.nin + 1) * self.nout, who)
        _resolve_activation(activation, who)
        self.activation = activation
        rng = _make_rng(seed, who)
        self.neurons = [
            Neuron(self.nin, activation=activation, init=init, seed=rng, fan_out=self.nout) for _ in range(self.nout)
        ]

    def _forward(self, xs: Sequence[Value]) -> list[Value]:
        outs = []
        # NOTE: not `with scope(f"neurons.{i}")` per neuron (this runs once per
        # neuron and sample): the scopes' modes are looked up once per call, each
        # is set in turn, and the mode from before is restored once at the end.
        modes = scoped_modes("neurons", len(self.neurons))
        token = set_mode(modes[0])
        try:
            for mode, neuron in zip(modes, self.neurons):
                set_mode(mode)
                outs.append(neuron._forward(xs))
        finally:
            reset_mode(token)
        return outs

    def forward(self, x: Sequence[Any] | np.ndarray) -> Value | list[Value]:
        """Return the neurons' outputs for one sample: a Value if ``nout == 1``, else a list."""
        outs = self._forward(_as_inputs(x, self.nin, "Layer"))
        return outs[0] if len(outs) == 1 else outs

    def get_config(self) -> dict[str, Any]:
        """Return {"nin", "nout", "activation"}."""
        return {"nin": self.nin, "nout": self.nout, "activation": _activation_config(self.activation)}

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> int:
        """Check a file's config (see :meth:`Module.check_config`); return (nin + 1) * nout."""
        who = "Layer()"
        _config_entries(config, ("nin", "nout", "activation"), who)
        _resolve_activation(config["activation"], who)
        nin = _check_size(config["nin"], "nin", who)
        return _check_buildable((nin + 1) * _check_size(config["nout"], "nout", who), who)

    def extra_repr(self) -> str:
        act = self.activation if isinstance(self.activation, str) else _activation_config(self.activation)
        return f"{self.nin} -> {self.nout}, {act}"


class MLP(Module):
    """A multilayer perceptron: fully connected layers of sizes ``nin -> nouts[0] -> ... -> nouts[-1]``.

    Args:
        nin: the number of inputs.
        nouts: the layer widths; the last is the number of outputs.
        activation: the hidden layers' activation (see :class:`Neuron`).
        final_activation: the last layer's ("linear" by default: raw scores
            for the losses).
        init: the weight initialiser for every layer (see :mod:`nn.init`).
        seed: an int or a ``random.Random``; layers draw in order from it.

    Calling it on one sample returns a Value when the last layer has one
    neuron, else a list. ``MLP(2, [16, 16, 1])`` has 337 parameters, in the
    order layer, neuron, weights then bias.

    Attributes:
        layers: the layers, ``layers.0 ... layers.<len(nouts)-1>``.
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        *,
        activation: Activation = "relu",
        final_activation: Activation = "linear",
        init: str | Callable[..., float] | None = None,
        seed: Seed = None,
    ) -> None:
        who = "MLP()"
        sizes = _mlp_sizes(nin, nouts, who)
        _check_buildable(_mlp_parameter_count(sizes), who)
        self.nin = sizes[0]
        self.nouts = sizes[1:]
        _resolve_activation(activation, who)
        _resolve_activation(final_activation, who)
        self.activation = activation
        self.final_activation = final_activation
        rng = _make_rng(seed, who)
        last = len(self.nouts) - 1
        self.layers = [
            Layer(sizes[k], sizes[k + 1], activation=final_activation if k == last else activation, init=init, seed=rng)
            for k in range(len(self.nouts))
        ]

    def forward(self, x: Sequence[Any] | np.ndarray) -> Value | list[Value]:
        """Return the outputs for one sample: a Value if the last layer has one neuron, else a list."""
        xs = _as_inputs(x, self.nin, "MLP")
        modes = scoped_modes("layers", len(self.layers))  # as in Layer._forward
        token = set_mode(modes[0])
        try:
            for mode, layer in zip(modes, self.layers):
                set_mode(mode)
                xs = layer._forward(xs)
        finally:
            reset_mode(token)
        return xs[0] if len(xs) == 1 else xs

    def get_config(self) -> dict[str, Any]:
        """Return {"nin", "nouts", "activation", "final_activation"}."""
        return {
            "nin": self.nin,
            "nouts": list(self.nouts),
            "activation": _activation_config(self.activation),
            "final_activation": _activation_config(self.final_activation),
        }

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> int:
        """Check a file's config (see :meth:`Module.check_config`); return the number of parameters."""
        who = "MLP()"
        _config_entries(config, ("nin", "nouts", "activation", "final_activation"), who)
        if not isinstance(config["nouts"], list):
            raise TypeError(f"{who}: nouts must be a list of layer widths, got {type(config['nouts']).__name__}")
        sizes = _mlp_sizes(config["nin"], config["nouts"], who)
        _resolve_activation(config["activation"], who)
        _resolve_activation(config["final_activation"], who)
        return _check_buildable(_mlp_parameter_count(sizes), who)

    def extra_repr(self) -> str:
        act = self.activation if isinstance(self.activation, str) else _activation_config(self.activation)
        fin = (self.final_activation if isinstance(self.final_activation, str)
               else _activation_config(self.final_activation))
        return f"{self.nin} -> {self.nouts}, {act}, final {fin}"
