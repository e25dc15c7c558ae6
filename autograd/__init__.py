"""chainrule's engine: scalar ``Value`` nodes, the op table, backward and grad.

Example::

    from chainrule.autograd import Value
    x = Value(2.0, label="x")
    y = x * x + x.sin()
    y.backward()
    x.grad  # 2*x + cos(x)

Every primitive is a row of ``OPS`` (forward, local derivatives, domain, kink
and nan convention). Where ``torch.Tensor`` has a method or an operator, so
does ``Value`` (``x.log1p()``, ``x.atan2(y)``, ``x % y``, ``x.clamp(lo, hi)``,
``x.floor()``); the activations PyTorch has only in ``torch.nn.functional``
are functions here (``gelu(x, approximate="tanh")``, ``silu``, ``elu``,
``hardtanh``, ...).
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
    atan2,
    celu,
    clamp,
    constant,
    copysign,
    dot,
    elu,
    fmod,
    gelu,
    grad,
    hardsigmoid,
    hardswish,
    hardtanh,
    hypot,
    leaky_relu,
    logaddexp,
    logsigmoid,
    logsumexp,
    maximum,
    minimum,
    mish,
    relu6,
    remainder,
    selu,
    silu,
    softplus,
    softsign,
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
    "atan2",
    "celu",
    "clamp",
    "compile",
    "constant",
    "copysign",
    "current_scope",
    "defer_gc",
    "detect_anomaly",
    "dot",
    "elu",
    "enable_grad",
    "fmod",
    "gelu",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hypot",
    "is_grad_enabled",
    "leaky_relu",
    "logaddexp",
    "logsigmoid",
    "logsumexp",
    "maximum",
    "minimum",
    "mish",
    "no_grad",
    "relu6",
    "remainder",
    "scope",
    "selu",
    "silu",
    "softplus",
    "softsign",
    "sum",
    "topological_order",
]
