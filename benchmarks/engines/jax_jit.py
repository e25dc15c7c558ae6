"""The JAX adapter: the batched MLP step as one ``jax.jit`` function, float64, on the CPU.

An optional peer for the compiled mode (issue 13): ``pip install jax jaxlib``;
without it the engine shows as unavailable. The whole step (forward, the
gradient by ``jax.value_and_grad``, the SGD update) is one jitted function, so
this is what a tracing compiler with a real code generator (XLA) reaches. The
first step compiles it, so it is the untimed warm-up step. XLA's CPU thread
pool is pinned to the harness's thread count (``XLA_FLAGS``), like the BLAS
pools of the other engines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from benchmarks.engines.base import Unavailable, mlp_shapes

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # the harness pins XLA's threads with XLA_FLAGS (cli.child_env)

try:
    import jax
    import jax.numpy as jnp
except ImportError as error:  # pragma: no cover - depends on the environment
    raise Unavailable(f"jax is not installed ({error}); pip install jax jaxlib") from error

jax.config.update("jax_enable_x64", True)

LABEL = "JAX jit"


def version() -> str:
    """Return the installed jax version."""
    return str(jax.__version__)


def _loss(params: list[tuple[Any, Any]], x: Any, y: Any) -> Any:
    last = len(params) - 1
    for i, (w, b) in enumerate(params):
        x = x @ w.T + b
        if i != last:
            x = jax.nn.relu(x)
    data_loss = jax.nn.relu(1.0 - y * x[:, 0]).mean()
    reg_loss = 1e-4 * sum((w * w).sum() + (b * b).sum() for w, b in params)
    return data_loss + reg_loss


@jax.jit
def _step(params: list[tuple[Any, Any]], x: Any, y: Any, lr: Any) -> tuple[Any, Any, Any]:
    loss, grads = jax.value_and_grad(_loss)(params, x, y)
    new = [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(params, grads)]
    return loss, new, grads


class _Trainer:
    """The MLP as weight matrices and bias vectors; one jitted function per step."""

    def __init__(self, params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float],
                 layers: Sequence[int]) -> None:
        flat = jnp.asarray(params, dtype=jnp.float64)
        self.params: list[tuple[Any, Any]] = []
        offset = 0
        for fan_in, fan_out in mlp_shapes(2, layers):
            # micrograd's order is neuron by neuron: fan_in weights, then the bias.
            block = flat[offset : offset + fan_out * (fan_in + 1)].reshape(fan_out, fan_in + 1)
            offset += fan_out * (fan_in + 1)
            self.params.append((block[:, :fan_in], block[:, fan_in]))
        if offset != len(params):
            raise ValueError(f"the MLP has {offset} parameters, got {len(params)} initial values")
        self.inputs = jnp.asarray(inputs, dtype=jnp.float64)
        self.labels = jnp.asarray(labels, dtype=jnp.float64)
        self.last_grads: list[tuple[Any, Any]] = []

    def step(self, lr: float) -> float:
        loss, self.params, self.last_grads = _step(self.params, self.inputs, self.labels, lr)
        return float(loss)  # waits for the result: the step is timed to completion

    def grads(self) -> list[float]:
        out: list[float] = []
        for gw, gb in self.last_grads:
            block = jnp.concatenate([gw, gb[:, None]], axis=1)
            out.extend(float(g) for g in block.reshape(-1))
        return out


def moons(params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float]) -> _Trainer:
    """Return a trainer for the jitted 2-16-16-1 MLP."""
    return _Trainer(params, inputs, labels, [16, 16, 1])


def moons_mlp(
    params: Sequence[float], inputs: Sequence[Sequence[float]], labels: Sequence[float], layers: Sequence[int]
) -> _Trainer:
    """Return a trainer for the jitted MLP 2-layers[0]-...-1."""
    return _Trainer(params, inputs, labels, layers)
