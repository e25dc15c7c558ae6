"""Shared test set-up: hypothesis profiles and the optional PyTorch oracle.

Profiles: "quick" (default, for a developer's loop) and "thorough" (CI), chosen
by the environment variable CHAINRULE_HYPOTHESIS.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("quick", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile(os.environ.get("CHAINRULE_HYPOTHESIS", "quick"))

# For a property test run once per row of the op table: a quarter of the profile's examples (at
# least 10), so the suite's time does not grow with the table; test_ops_sweep.py checks every row on
# grids against PyTorch besides.
PER_ROW = settings(max_examples=max(10, settings.default.max_examples // 4))


def needs(available: bool, what: str) -> None:
    """Skip the calling test when ``what`` is missing, except in CI (CHAINRULE_CI=1), where it fails.

    For the optional real components: PyTorch, the system Graphviz ``dot``, Chromium.
    """
    if available:
        return
    if os.environ.get("CHAINRULE_CI"):
        pytest.fail(f"{what} is missing, and CI must run this test (.ci/run installs it)")
    pytest.skip(f"{what} is not installed", allow_module_level=True)  # import_or_need runs at module level too


def import_or_need(module: str, what: str | None = None) -> Any:
    """``pytest.importorskip`` that fails instead of skipping in CI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        needs(False, what or module)


def scalar_batch(fn: Any, arrays: Any, params: Any) -> tuple[Any, float, Any]:
    """The scalar engine's reference for a compiled function: run fn sample by sample.

    Args:
        fn: the per-sample function, as for ``autograd.compile``.
        arrays: the batch: (N,) arrays (one Value per sample) or (N, k) (a list of k Values).
        params: the Values whose gradients to return (zeroed first).

    Returns:
        (each sample's output as an array, the mean output, the mean's gradient for each of params).
    """
    import numpy as np

    from chainrule import autograd
    from chainrule.autograd import Value

    for p in params:
        p.grad = 0.0
    n = len(arrays[0])
    outs = []
    for i in range(n):
        args = [[Value(v) for v in a[i]] if a.ndim == 2 else Value(a[i]) for a in arrays]
        outs.append(fn(*args))
    total = autograd.sum(outs) / n
    total.backward()
    return np.array([o.data for o in outs]), total.data, np.array([p.grad for p in params])


def mlp_4_4_1_loss() -> Any:
    """The squared error of MLP(2, [4, 4, 1]) (seed 0) on one point, after backward: the animation tests' MLP."""
    from chainrule import nn

    model = nn.MLP(2, [4, 4, 1], seed=0)
    out = model([0.5, -1.0])
    loss = (out - 1.0) * (out - 1.0)
    loss.label = "loss"
    loss.backward()
    return loss
