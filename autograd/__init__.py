"""chainrule's engine: scalar ``Value`` nodes, the op table, backward and grad.

Example::

    from chainrule.autograd import Value
    x = Value(2.0, label="x")
    y = x * x + x.sin()
    y.backward()
    x.grad  # 2*x + cos(x)
"""

from chainrule.autograd.collector import defer_gc
from chainrule.autograd.compiler import Compiled, DataDependentGraphError, GuardError, TraceError, compile
from chainrule.autograd.engine import (
    CONSTANT,
    PARAMETER,
    VARIABLE,
    AnomalyError,
    Value,
    apply,
    clamp,
    constant,
    dot,
    grad,
    logsumexp,
    maximum,
    minimum,
    sum,
    topological_order,
)
from chainrule.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from chainrule.autograd.modes import current_scope, detect_anomaly, enable_grad, is_grad_enabled, no_grad, scope
from chainrule.autograd.ops import OP, OPS, Op

__all__ = [
    "CONSTANT",
    "OP",
    "OPS",
    "PARAMETER",
    "VARIABLE",
    "AnomalyError",
    "Compiled",
    "DataDependentGraphError",
    "GradcheckError",
    "GuardError",
    "Op",
    "TraceError",
    "Value",
    "apply",
    "clamp",
    "compile",
    "constant",
    "current_scope",
    "defer_gc",
    "detect_anomaly",
    "dot",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_grad_enabled",
    "logsumexp",
    "maximum",
    "minimum",
    "no_grad",
    "scope",
    "sum",
    "topological_order",
]
