"""# Differences from PyTorch

chainrule takes PyTorch's names where it can (`grad`, `no_grad`, `detect_anomaly`,
`gradcheck`, `SGD`, `Adam`, `StepLR`, `cross_entropy`, ...), so what you learn here
carries over. This page lists where it behaves differently. Every row was checked
against PyTorch 2.13, and `tests/test_pytorch_differences.py` checks each one again,
on both libraries, whenever the test suite runs with PyTorch installed.

## Scalars, not tensors

- A `chainrule.autograd.Value` is one number, always a Python float (float64). There are
  no shapes, dtypes or devices; PyTorch's default dtype is float32.
- A model takes one sample at a time (`model([x1, x2])`), and `chainrule.nn.functional`
  takes nested lists of Values where PyTorch takes tensors of the same shape.
- Comparisons (`<`, `<=`, `>`, `>=`) read `.data` and return plain bools; `==` is
  identity, so Values can be dict keys. PyTorch's comparisons, `==` included, return
  bool tensors, element by element.
- Every `Value` takes part in differentiation: there is no `requires_grad`. A plain
  number mixed into an expression (`x * 2.0`) becomes a constant leaf, which gets no
  gradient.

## Gradients

| | chainrule | PyTorch |
|---|---|---|
| `.grad` before any backward | `0.0` | `None` |
| `.grad` of an intermediate node | filled in by `backward()` | `None` (with a warning) unless `retain_grad()` |
| `backward()` twice on one graph | works: every `.grad` doubles | `RuntimeError`, unless `retain_graph=True` |
| what `grad(output, inputs)` returns | a list of Values, one per input | a tuple of tensors |
| `grad()` of an unused input | `ValueError`, or `Value(0.0)` if `allow_unused` | `RuntimeError`, or `None` |
| `optimizer.zero_grad()`, `module.zero_grad()` | set `.grad` to `0.0` | set `.grad` to `None` (`set_to_none=True`) |
| `v.detach()` | a new leaf holding a copy of `data` (and the label) | a tensor sharing the storage |

`backward()` adds each call's gradients into `.grad` of every node, leaves and
intermediate nodes alike. The graph is never freed, so there is no `retain_graph`
argument. For an input the output does not use, `grad(..., allow_unused=True)` gives
`Value(0.0)`; PyTorch gives `None`, or zeros with `materialize_grads=True`.
`grad(..., create_graph=True)` works as in PyTorch (its results are Values
that can be differentiated again).

## Elementwise ops at the edges

Every op follows PyTorch float64 except where its row in `chainrule.autograd.OPS` says
otherwise (`OP["relu"].convention`); `tests/test_ops_sweep.py` compares every row with
PyTorch on a grid and at 0, -0.0, subnormals, ±1e-300, ±1e300, ±inf and nan. Where
they differ:

- **A nan that picks a branch gives nan derivatives.** relu, leaky_relu, abs, maximum,
  minimum, clamp (by x and lo), hardtanh, relu6, hardsigmoid, hardswish, elu, celu and
  selu: `d relu(x)/dx` at x = nan is nan; PyTorch gives 0 or 1, op by op
  (`relu'(nan) = 1`, `abs'(nan) = 0`, `maximum(nan, 1)` gives both inputs 1). clamp's
  derivative by its upper bound is PyTorch's, nan or not.
- **Limits, not nan, at ±inf**: `gelu(-inf) = 0`, `silu'(inf) = 1`, `softsign(inf) = 1`
  (PyTorch: nan). `sinh` and `cosh` are finite up to |x| = 710.4 (PyTorch's vectorised
  kernel overflows from 709.8). `sign(nan)` is nan (PyTorch: 0).
- **`x.softplus(beta)` is exact**: its threshold defaults to inf; PyTorch's `F.softplus`
  switches to x above 20 (off by up to 2e-9).
- **Parameters are inputs**: the alpha of elu and celu, the slope of leaky_relu, beta
  and threshold of softplus, the bounds of hardtanh and clamp can be Values and get
  their derivatives; PyTorch takes numbers for all but clamp's bounds.
- **The mixed partial of `a ** b` at b = 0 is 1/a**, the true value (PyTorch: 0).

## Modes

- **Anomaly mode checks every value and every gradient, for nan and ±inf.** Inside
  `chainrule.autograd.detect_anomaly()`, the first op whose output or local derivative
  is nan or ±inf raises `chainrule.autograd.AnomalyError` (a `FloatingPointError`)
  naming the op and its inputs: `Value(-1.0).log()` and `Value(0.0).log()` both raise.
  In `backward()` and `grad()`, the first gradient that becomes nan or ±inf raises,
  naming the node and the consumer whose term made it, before any `.grad` changes.
  PyTorch's `torch.autograd.detect_anomaly()` lets the forward pass make nan and inf
  silently, and in the backward pass raises only when a backward function returns
  nan: an infinite gradient passes. It adds the forward traceback of the op to the
  error.
- **`no_grad()` is per thread and per asyncio task** (the mode lives in a
  `contextvars.ContextVar`). PyTorch's grad mode is per thread, so while one asyncio
  task is inside `torch.no_grad()`, the other tasks on that thread run without
  gradients too.

## Weight initialisation (`chainrule.nn.init`)

- An initialiser draws **one** weight, `f(fan_in, fan_out, *, rng) -> float`, and a
  layer calls it once per weight. PyTorch's fill a tensor in place and end in `_`.
- The names follow the papers: `he_uniform` and `he_normal` are PyTorch's
  `kaiming_uniform_` and `kaiming_normal_` at their defaults (`a=0`, `mode="fan_in"`,
  `nonlinearity="leaky_relu"`, so a gain of √2: variance 2/fan_in), without the
  `a`, `mode` and `nonlinearity` options. `xavier_uniform` and `xavier_normal` match
  `xavier_uniform_` and `xavier_normal_` (gain 1 by default).
- `uniform` draws from U(-1, 1); PyTorch's `uniform_` from U(0, 1). `normal` is N(0, 1)
  in both.
- **Defaults differ.** With `init=None`, `nn.MLP`, `nn.Layer` and `nn.Neuron` use
  `he_uniform` for ReLU and leaky-ReLU layers and `xavier_uniform` for the others, and
  biases start at 0. `torch.nn.Linear` draws weights and biases from
  U(-1/√fan_in, 1/√fan_in); `init=nn.init.pytorch_linear` gives those weights (the
  biases still start at 0).
- Randomness is explicit: constructors take `seed=`, initialisers `rng=`. PyTorch
  draws from a global generator (`torch.manual_seed`).

## Optimisers and schedules

- `nn.optim.SGD`, `Adam` and `AdamW` follow PyTorch's algorithms, argument names and
  defaults (`lr=1e-3`; `AdamW(weight_decay=1e-2)`).
- Learning-rate schedules live in `chainrule.nn.schedules` (`StepLR`, `ExponentialLR`,
  `CosineAnnealingLR`, `LinearLR`, `SequentialLR`), where PyTorch has
  `torch.optim.lr_scheduler`; the rules and the lrs they give are PyTorch's.
- Gradient clipping is `nn.optim.clip_grad_norm`, without PyTorch's trailing
  underscore (`torch.nn.utils.clip_grad_norm_`); it returns the total norm as a float.

## Losses

`chainrule.nn.functional` has PyTorch's names and `reduction` options, plus
`hinge_loss`: micrograd's max-margin loss, the mean of relu(1 - y·s) over labels
y = ±1. PyTorch has no such function (`hinge_embedding_loss` is a different loss).

## Compiled batch mode is not `torch.compile`

`chainrule.autograd.compile(fn)` traces `fn`, a function of **one sample** of scalar
Values, into a tape, and replays that tape over a whole batch with numpy; the neurons
of a layer become one matrix product. That is closer to `torch.func.vmap` (with a
batched gradient) than to `torch.compile`, which compiles a tensor program as it
stands. A Python branch on `.data` is guarded on every sample, like `torch.compile`'s
guards but per sample: the samples that take the other branch run a program traced for
them (vmap refuses data-dependent control flow); with `retrace=False` such a sample
raises `chainrule.autograd.GuardError`, a `DataDependentGraphError`.
`step.backward(X)` returns the mean loss as a float and adds the gradients into `.grad`
of the shared leaves (the model's parameters).

## Modules and training

- `nn.Module` finds parameters in attributes (lists included) and names one scalar per
  entry (`layers.0.neurons.3.w.1`), where PyTorch names whole tensors
  (`layers.0.weight`).
- `state_dict()` maps names to floats. `save()` and `chainrule.nn.load()` write and
  read JSON, never pickle; `torch.save` pickles.
- `chainrule.nn.fit` is a training loop, as Keras has; PyTorch leaves the loop to you.
"""
