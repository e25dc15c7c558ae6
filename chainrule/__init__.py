"""chainrule: a scalar autograd engine whose computation graph you can see.

The three parts are subpackages: :mod:`chainrule.autograd` (the engine),
:mod:`chainrule.nn` (modules, MLPs, losses, optimisers, training) and
:mod:`chainrule.viz` (gradient-flow diagrams, the backward animation, the CLI).
The names a first program needs are re-exported here:

- ``Value``, ``grad``, ``no_grad``, ``gradcheck`` from :mod:`chainrule.autograd`;
- ``MLP`` from :mod:`chainrule.nn`;
- ``draw``, ``render`` from :mod:`chainrule.viz`.

Example::

    from chainrule import Value, draw

    x, y = Value(2.0, label="x"), Value(-1.0, label="y")
    out = (x * y + x).tanh()
    out.backward()
    draw(out)          # shows inline in Jupyter; .render() / .pipe() work too

``nn`` and ``viz`` load on first use, so ``import chainrule.autograd`` imports
the engine alone.

Coming from PyTorch? :mod:`chainrule.differences_from_pytorch` lists where the
names are the same and the behaviour is not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from chainrule.autograd import Value, grad, gradcheck, no_grad

if TYPE_CHECKING:
    from chainrule import autograd, nn, viz
    from chainrule.nn import MLP
    from chainrule.viz import draw, render

__all__ = ["MLP", "Value", "autograd", "draw", "grad", "gradcheck", "nn", "no_grad", "render", "viz"]
__version__ = "0.1.0"

# name -> the module that defines it; imported on first access (PEP 562).
_LAZY = {
    "autograd": "chainrule.autograd",
    "nn": "chainrule.nn",
    "viz": "chainrule.viz",
    "MLP": "chainrule.nn",
    "draw": "chainrule.viz",
    "render": "chainrule.viz",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    value = loaded if module.endswith("." + name) else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
