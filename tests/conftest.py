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


# Under xdist (the README's command: ``-n auto --dist loadgroup``) each of these modules runs on one worker: its
# tests share a module-scoped fixture that costs seconds to build (the sdist, wheel and wheelhouse; the API
# reference; a Chromium; callgrind runs), which a split module would build on each worker.
ONE_WORKER_MODULES = (
    "tests/test_packaging.py", "tests/test_docs.py", "tests/test_viz_animation_browser.py",
    "tests/test_benchmark_instructions.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` that also keeps each of ONE_WORKER_MODULES on one worker.

    pytest-xdist 3.8 groups the tests marked ``xdist_group`` by rewriting their node ids, which pytest 9.2
    no longer lets it do (the marks are silently ignored), so the grouping is done here, by module, where
    the scheduler splits the node ids into units of work.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else super()._split_scope(nodeid)

    return ModuleGroups(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow tests first (a stable sort: otherwise in file order).

    Under xdist (the README's command: ``-n auto``) the workers then share out the long tests while many
    short ones are left to even out their finishing times, instead of one worker ending on a minute-long test
    while the other waits.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
