"""The registry of engine adapters: name -> module, imported only inside the child that runs it.

To add an engine (e.g. chainrule compiled, issue 6), write a module next to
this one following :mod:`benchmarks.engines.base` and add one row here.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from benchmarks.engines.base import Unavailable


@dataclass(frozen=True)
class EngineInfo:
    """One row of the registry.

    Attributes:
        name: the name used on the command line.
        label: the name shown in tables.
        module: the adapter module's import path.
        baseline: True for the engine that ratios are taken against.
    """

    name: str
    label: str
    module: str
    baseline: bool = False


ENGINES: dict[str, EngineInfo] = {
    info.name: info
    for info in (
        EngineInfo("micrograd", "micrograd 0.1.0", "benchmarks.engines.micrograd_scalar", baseline=True),
        EngineInfo("chainrule", "chainrule scalar", "benchmarks.engines.chainrule_scalar"),
        EngineInfo("floor", "floor engine", "benchmarks.engines.floor"),
        EngineInfo("chainrule-compiled", "chainrule compiled", "benchmarks.engines.chainrule_compiled"),
        EngineInfo("torch-scalar", "PyTorch scalar", "benchmarks.engines.torch_scalar"),
        EngineInfo("torch-batched", "PyTorch batched", "benchmarks.engines.torch_batched"),
        EngineInfo("jax", "JAX jit", "benchmarks.engines.jax_jit"),
    )
}

BASELINE = next(name for name, info in ENGINES.items() if info.baseline)


def load(name: str) -> ModuleType:
    """Import an engine adapter by its registry name.

    Args:
        name: a key of :data:`ENGINES`.

    Returns:
        The adapter module.

    Raises:
        Unavailable: when the engine cannot be imported here.
    """
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
    return importlib.import_module(ENGINES[name].module)


@cache
def adapter_functions(name: str) -> frozenset[str]:
    """Return the names of the top-level functions an adapter defines, without importing it.

    The parent uses this to mark a workload "n/a" for an engine without
    starting a process (and without importing torch).
    """
    spec = importlib.util.find_spec(ENGINES[name].module)
    if spec is None or spec.origin is None:
        return frozenset()
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=spec.origin)
    return frozenset(node.name for node in tree.body if isinstance(node, ast.FunctionDef))


__all__ = ["BASELINE", "ENGINES", "EngineInfo", "Unavailable", "adapter_functions", "load"]
