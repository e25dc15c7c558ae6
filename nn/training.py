"""The training loop: ``fit`` a model to (X, y), recording a ``History`` of floats per epoch.

Also :func:`accuracy` (of a model on a data set) and :func:`grad_stats` (mean
and max |grad| per top-level layer, for gradient-flow charts).

How accuracy is counted, from each sample's output:

- One output: the prediction is the nearer of the two label values, so the
  threshold is their midpoint: 0 for labels -1/+1 (hinge loss: the sign of
  the score), 0.5 for labels 0/1 (outputs are probabilities, e.g. after a
  sigmoid with binary cross-entropy, or regression onto 0/1 with MSE). With
  ``binary_cross_entropy_with_logits`` the output is a logit, so the threshold
  is 0; pass ``threshold=`` to choose it yourself (for instance when your own
  loss wraps that one). An output exactly at the threshold counts as the lower
  label, as micrograd counts ``score > 0``. Targets with more than two values,
  or not whole numbers, are regression: accuracy is nan.
- Several outputs: the prediction is the index of the largest output
  (argmax; the first on ties), compared with the class index in ``y`` (or
  with the argmax of one-hot rows of a 2-D ``y``; other 2-D targets give nan).
"""

from __future__ import annotations

import math
import numbers
import random
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd import Value, defer_gc, no_grad
from chainrule.autograd import compile as compile_batch
from chainrule.nn.module import Module
from chainrule.nn.optim import mean_and_max_abs

__all__ = ["History", "accuracy", "fit", "grad_stats"]

# The progress bar appears only once a run has taken this long (seconds), and
# is redrawn at most every _PROGRESS_INTERVAL seconds (tqdm's delay and mininterval).
_PROGRESS_DELAY = 0.5
_PROGRESS_INTERVAL = 0.1


@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch (plain floats, never graphs).

    Attributes:
        loss: the mean loss over the epoch's batches, weighted by batch size
            (each batch's loss is taken before that batch's update).
        accuracy: the share of samples classified correctly by the outputs
            of the epoch's forward passes (before each batch's update); nan
            when the targets are not class labels (see the module docstring).
        lr: the learning rate (``param_groups[0]["lr"]``) used by the epoch's
            last step; nan if the optimizer has none.
        grad_stats: with ``track_grads=True``, for each epoch, {layer name:
            (mean |grad|, max |grad|)} of its last step (:func:`grad_stats`);
            empty otherwise.
        nonfinite: (epoch, batch) of every step whose loss was nan or
            infinite, both counted from 1.
        stopped: why training stopped before the last epoch (the message
            of the warning), or None when it ran every epoch. The epoch it
            stopped in is recorded up to and including the step that
            stopped it.
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_stats: list[dict[str, tuple[float, float]]] = field(default_factory=list)
    nonfinite: list[tuple[int, int]] = field(default_factory=list)
    stopped: str | None = None


def grad_stats(model: Module) -> dict[str, tuple[float, float]]:
    """Return {layer name: (mean |grad|, max |grad|)} over each top-level layer's weights and biases.

    The layers are the model's direct child modules, named by their path
    (``layers.0``, ``layers.1``, ... for an MLP; ``neurons.0``, ... for a
    Layer); parameters of the model itself (a lone Neuron's) are grouped under
    its class name. Call it after ``backward()``.

    Huge or non-finite gradients never make it fail (:func:`nn.optim.mean_and_max_abs`):
    a layer with a nan gradient gets (nan, nan), one with an infinite
    gradient (inf, inf), and sums past the largest float are scaled first.

    Args:
        model: a Module.

    Returns:
        The statistics, in declaration order.
    """
    if not isinstance(model, Module):
        raise TypeError(f"grad_stats() expects an nn.Module, got {type(model).__name__}")
    groups: dict[str, list[float]] = {}
    in_children: set[int] = set()
    for name, child in model.named_children():
        grads = [p.grad for p in child.parameters()]
        in_children.update(id(p) for p in child.parameters())
        groups[name] = grads
    own = [p.grad for p in model.parameters() if id(p) not in in_children]
    if own:
        groups[type(model).__name__] = own
    return {name: mean_and_max_abs(g) for name, g in groups.items()}


def _positive_int(x: object, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"fit(): {name} must be an int, got {type(x).__name__} {x!r}")
    if x < 1:
        raise ValueError(f"fit(): {name} must be >= 1, got {x}")
    return int(x)


def _as_inputs(X: Any, who: str) -> np.ndarray:
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: X must be a 2-D array of numbers (one row per sample)") from None
    if arr.ndim == 1:
        raise ValueError(f"{who}: X must be 2-D (one row per sample), got shape {arr.shape}; "
                         "for one input per sample use X.reshape(-1, 1)")
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{who}: X must be 2-D with at least one row, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        row = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise ValueError(f"{who}: X row {row} holds a non-finite number: {arr[row].tolist()}")
    return arr


def _as_targets(y: Any, n: int, who: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.intp)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{who}: y must hold numbers (labels or targets), got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"{who}: y must be 1-D (one label per sample) or 2-D, got shape {arr.shape}")
    if len(arr) != n:
        raise ValueError(f"{who}: X has {n} rows but y has {len(arr)} entries; they must match")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError(f"{who}: y entry {int(np.argwhere(~np.isfinite(arr))[0][0])} is not finite")
    return arr


def _width(out: object, who: str) -> int:
    if isinstance(out, Value):
        return 1
    if isinstance(out, (list, tuple)) and out and all(isinstance(v, Value) for v in out):
        return len(out)
    raise TypeError(f"{who}: the model must return a Value or a list of Values for one sample, "
                    f"got {type(out).__name__}")


def _check_input_width(model: Any, X: np.ndarray, who: str) -> None:
    nin = getattr(model, "nin", None)
    if isinstance(nin, int) and X.shape[1] != nin:
        raise ValueError(f"{who}: X has {X.shape[1]} columns but the model takes {nin} inputs")


def _is_whole(y: np.ndarray) -> bool:
    return bool(np.issubdtype(y.dtype, np.integer) or np.all(np.floor(y) == y))


class _Scorer:
    """Counts correct predictions (see the module docstring); ``active`` is False for regression targets."""

    def __init__(self, y: np.ndarray, width: int, threshold: float | None, logits: bool, who: str) -> None:
        self.width = width
        self.active = True
        self.targets: list[Any] = y.tolist()
        if width == 1:
            values = set(np.unique(y).tolist())
            if not _is_whole(y) or len(values) > 2:
                self.active = False
                return
            if values <= {-1, 1}:
                lo, hi = -1.0, 1.0
            elif values <= {0, 1}:
                lo, hi = 0.0, 1.0
            elif len(values) == 2:
                lo, hi = (float(v) for v in sorted(values))
            else:  # one class only, neither 0/1 nor -1/+1: no second label to tell apart
                self.active = False
                return
            self.lo, self.hi = lo, hi
            if threshold is not None:
                self.threshold = float(threshold)
            else:
                self.threshold = 0.0 if logits else (lo + hi) / 2
        elif y.ndim == 1:
            if not _is_whole(y) or y.min() < 0 or y.max() >= width:
                bad = next(v for v in y.tolist() if v != int(v) or not 0 <= v < width)
                raise ValueError(f"{who}: y holds the class label {bad!r} but the model has {width} outputs, "
                                 f"so labels must be whole numbers in 0..{width - 1}")
            self.targets = [int(v) for v in self.targets]
        else:
            one_hot = bool(np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all())
            if one_hot:
                self.targets = [int(k) for k in np.argmax(y, axis=1)]
            else:
                self.active = False

    def correct_array(self, outputs: np.ndarray, indices: Sequence[int]) -> int:
        """As :meth:`correct`, for outputs as an array ((n,) or (n, width)) from a compiled model."""
        if not self.active:
            return 0
        targets = [self.targets[i] for i in indices]
        if self.width == 1:
            predicted = np.where(outputs.reshape(-1) > self.threshold, self.hi, self.lo)
            return int(np.sum(predicted == np.asarray(targets, dtype=float)))
        return int(np.sum(np.argmax(outputs, axis=1) == np.asarray(targets)))

    def correct(self, outputs: Sequence[Any], indices: Sequence[int]) -> int:
        if not self.active:
            return 0
        count = 0
        if self.width == 1:
            for out, i in zip(outputs, indices):
                predicted = self.hi if out.data > self.threshold else self.lo
                count += predicted == self.targets[i]
        else:
            for out, i in zip(outputs, indices):
                data = [v.data for v in out]
                count += data.index(max(data)) == self.targets[i]
        return count


def _is_bce_with_logits(loss: object) -> bool:
    fn = getattr(loss, "func", loss)  # see through functools.partial
    return getattr(fn, "__name__", "") == "binary_cross_entropy_with_logits"


def _prepare(model: Any, X: Any, y: Any, who: str) -> tuple[np.ndarray, np.ndarray, int]:
    if not callable(model):
        raise TypeError(f"{who}: model must be callable on one sample, got {type(model).__name__}")
    X_arr = _as_inputs(X, who)
    y_arr = _as_targets(y, len(X_arr), who)
    _check_input_width(model, X_arr, who)
    with no_grad():
        width = _width(model(X_arr[0]), who)
    if y_arr.ndim == 2:
        if width == 1 and y_arr.shape[1] == 1:
            y_arr = y_arr[:, 0]
        elif y_arr.shape[1] != width:
            raise ValueError(f"{who}: y has {y_arr.shape[1]} columns but the model has {width} outputs")
    return X_arr, y_arr, width


def accuracy(model: Any, X: Any, y: Any, *, threshold: float | None = None) -> float:
    """Return the share of samples the model classifies correctly (see the module docstring).

    Runs under ``no_grad`` (no graph is kept).

    Args:
        model: a callable on one sample (e.g. an MLP).
        X: the samples, shape (n, nin).
        y: class labels (n,), labels -1/+1 or 0/1 for one output, or one-hot rows.
        threshold: for one output, the score above which a sample is the
            higher label (default: midway between the labels).

    Returns:
        A float in [0, 1], or nan when ``y`` is not class labels.
    """
    who = "accuracy()"
    X_arr, y_arr, width = _prepare(model, X, y, who)
    scorer = _Scorer(y_arr, width, threshold, False, who)
    if not scorer.active:
        return math.nan
    with no_grad():
        outputs = [model(row) for row in X_arr.tolist()]
    return scorer.correct(outputs, range(len(outputs))) / len(outputs)


def _in_jupyter() -> bool:
    """Whether this process is a Jupyter kernel (notebook, JupyterLab, VS Code, Colab): its stderr is no terminal,
    but what it writes is shown."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return type(shell).__name__ == "ZMQInteractiveShell"


class _Progress:
    """nn.fit's progress bar, drawn by ``tqdm.auto``: a widget in Jupyter, a text line on a terminal.

    It shows only where someone watches: in a Jupyter kernel, or when stderr
    is a terminal; never in a pipe or a CI log (stderr is not a terminal
    there). In a kernel without ipywidgets, tqdm.auto falls back to text,
    which Jupyter shows too. The bar appears once a run has taken
    ``_PROGRESS_DELAY`` seconds, so short runs print nothing.
    """

    def __init__(self, total: int, epochs: int, enabled: bool) -> None:
        self.epochs = epochs
        self.bar: Any = None
        self.epoch = 0
        if not enabled:
            return
        isatty = getattr(sys.stderr, "isatty", None)
        if not (_in_jupyter() or (callable(isatty) and isatty())):
            return
        from tqdm.auto import tqdm  # imported here: its notebook-or-terminal choice is made at import

        self.epoch = 1
        self.bar = tqdm(total=total, desc=f"epoch 1/{epochs}", unit="step", delay=_PROGRESS_DELAY,
                        mininterval=_PROGRESS_INTERVAL, disable=False, leave=True, dynamic_ncols=True)

    def update(self, epoch: int, loss: float, acc: float) -> None:
        bar = self.bar
        if bar is None:
            return
        if epoch != self.epoch:
            self.epoch = epoch
            bar.set_description_str(f"epoch {epoch}/{self.epochs}", refresh=False)
        text = f"loss {loss:.4g}" + ("" if math.isnan(acc) else f", accuracy {acc:.1%}")
        bar.set_postfix_str(text, refresh=False)
        bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _CompiledLoss:
    """``fit(compiled=True)``: each step's loss and gradients from ``autograd.compile``.

    One compiled function computes the per-sample loss, the target being a
    per-sample input like x: a Value (a list of Values for rows of targets),
    so losses that take Values as targets (mse, bce, hinge) run one program
    for the whole batch. A loss that needs plain numbers as targets (class
    indices for cross_entropy) gets numbers read from the Values instead: the
    compiled function guards them, so each class gets its own program. The
    batch loss must be the mean of the per-sample losses (a loss with
    reduction "mean", plus terms that don't depend on the sample such as an
    L2 penalty, which the program evaluates once per batch); the first step
    checks it.
    """

    def __init__(self, model: Any, loss: Callable[[list[Any], list[Any]], Value], y: np.ndarray) -> None:
        self.model = model
        self.loss = loss
        self.y = y
        self.outputs = compile_batch(lambda x: model(x))
        self.as_values = True
        self.per_sample = compile_batch(self._sample_loss)
        self.checked = False

    def _sample_loss(self, x: list[Value], t: Any) -> Value:
        if not self.as_values:
            t = [v.data for v in t] if isinstance(t, list) else t.data
        return self.loss([self.model(x)], [t])

    def _run(self, method: str, *arrays: np.ndarray, **options: Any) -> Any:
        try:
            return getattr(self.per_sample, method)(*arrays, **options)
        except TypeError:
            if not self.as_values or self.per_sample.programs:
                raise
        # The loss refused Values as targets: give it their numbers, one program per distinct target.
        self.as_values = False
        distinct = len(np.unique(self.y, axis=0))
        self.per_sample = compile_batch(self._sample_loss, max_programs=16 + distinct)
        return getattr(self.per_sample, method)(*arrays, **options)

    def _check_mean(self, X: np.ndarray, indices: Sequence[int], targets: list[Any], who: str) -> None:
        few = list(indices[:4])
        with no_grad():
            expected = self.loss([self.model(X[i].tolist()) for i in few], [targets[i] for i in few]).data
        got = float(np.mean(self._run("__call__", X[few], self.y[few])))
        if not abs(got - expected) <= 1e-9 * (1.0 + abs(expected)):
            raise ValueError(
                f"{who}: compiled=True needs a loss whose value on a batch is the mean of its per-sample values "
                f"(reduction='mean'); on {len(few)} samples the loss is {expected!r} but the mean is {got!r}"
            )

    def step(self, X: np.ndarray, indices: Sequence[int], targets: list[Any], who: str) -> tuple[float, np.ndarray]:
        """Add the batch's gradients into the parameters' ``.grad``; return the loss and the outputs."""
        if not self.checked:
            self._check_mean(X, indices, targets, who)
            self.checked = True
        rows = list(indices)
        batch = X[rows]
        loss = self._run("backward", batch, self.y[rows])
        return loss, self.outputs(batch)


def _batches(n: int, batch_size: int | None, shuffle: bool, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    if batch_size is None or batch_size >= n:
        return [order]
    if shuffle:
        rng.shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _current_lr(optimizer: Any) -> float:
    try:
        return float(optimizer.param_groups[0]["lr"])
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return math.nan


def fit(
    model: Module,
    X: Any,
    y: Any,
    *,
    loss: Callable[[list[Any], list[Any]], Value],
    optimizer: Any,
    epochs: int,
    batch_size: int | None = None,
    schedule: Any = None,
    progress: bool = True,
    track_grads: bool = False,
    shuffle: bool = True,
    seed: int | random.Random | None = None,
    threshold: float | None = None,
    compiled: bool = False,
    stop_on_nonfinite: bool = True,
) -> History:
    """Train ``model`` on (X, y) and return the loss and accuracy of every epoch.

    Each step: zero the gradients, run the model on each sample of the batch,
    ``L = loss(outputs, targets)``, ``L.backward()``, ``optimizer.step()``,
    then ``schedule.step()`` if given (once per optimizer step).

    Args:
        model: a Module mapping one sample (a row of X) to a Value or a list of Values.
        X: the inputs, shape (n, nin), numbers.
        y: the targets, one per row of X: class indices (several outputs),
            labels -1/+1 or 0/1 or numbers (one output), or rows of targets.
        loss: ``loss(outputs, targets) -> Value`` over a batch: ``outputs`` is
            the list of model outputs, ``targets`` the matching list of y's
            entries (Python numbers or lists), e.g. ``nn.functional.hinge_loss``.
        optimizer: has ``step()`` and ``zero_grad()`` (an ``nn.optim`` optimiser).
        epochs: the number of passes over the data.
        batch_size: samples per step; None (or >= n) for the whole set (full batch).
        schedule: a learning-rate schedule with ``step()``, stepped after every optimizer step.
        progress: show a progress bar (``tqdm.auto``) where someone watches:
            a widget in Jupyter, a text line on stderr when it is a
            terminal; nothing in pipes and CI logs, nor for runs shorter
            than half a second. False: never.
        track_grads: record :func:`grad_stats` after each epoch's last backward.
        shuffle: reshuffle the samples into new minibatches every epoch.
        seed: an int or ``random.Random`` for the shuffling (None: fresh entropy).
        threshold: the one-output decision threshold for accuracy (see the module docstring).
        compiled: run each step with ``autograd.compile`` (one numpy call per
            group of ops over the whole batch, much faster on large batches).
            The loss of a batch must be the mean of its per-sample losses
            (checked on the first step); gradients agree with the scalar
            engine to rounding.
        stop_on_nonfinite: stop at the first step whose loss is nan or
            infinite, before that step's update (so the parameters are those
            that produced it), with a ``RuntimeWarning`` naming the epoch and
            the batch; the History records it (``stopped``, ``nonfinite``).
            False keeps going through every epoch (``nonfinite`` still lists
            the steps).

    Returns:
        A :class:`History`.

    Raises:
        TypeError, ValueError: mismatched shapes, wrong input width, class
            labels out of range, a loss that does not return a Value, bad options.
    """
    who = "fit()"
    if not callable(loss):
        raise TypeError(f"{who}: loss must be a callable loss(outputs, targets) -> Value, got {type(loss).__name__}")
    for method in ("step", "zero_grad"):
        if not callable(getattr(optimizer, method, None)):
            raise TypeError(f"{who}: optimizer must have a {method}() method, got {type(optimizer).__name__}")
    if schedule is not None and not callable(getattr(schedule, "step", None)):
        raise TypeError(f"{who}: schedule must have a step() method, got {type(schedule).__name__}")
    epochs = _positive_int(epochs, "epochs")
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
    if isinstance(seed, random.Random):
        rng = seed
    elif seed is None:
        rng = random.Random()
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        rng = random.Random(int(seed))
    else:
        raise TypeError(f"{who}: seed must be an int, a random.Random or None, got {type(seed).__name__} {seed!r}")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)):
        raise TypeError(f"{who}: threshold must be a number or None, got {threshold!r}")

    if track_grads and not isinstance(model, Module):
        raise TypeError(f"{who}: track_grads=True needs an nn.Module (for its layers), got {type(model).__name__}")
    X_arr, y_arr, width = _prepare(model, X, y, who)
    scorer = _Scorer(y_arr, width, threshold, _is_bce_with_logits(loss), who)
    rows: list[list[float]] = X_arr.tolist()
    targets: list[Any] = y_arr.tolist()
    n = len(rows)
    steps_per_epoch = len(_batches(n, batch_size, False, rng))
    zero_model_grads = getattr(model, "zero_grad", None)
    compiled_loss = _CompiledLoss(model, loss, y_arr) if compiled else None

    if not isinstance(stop_on_nonfinite, bool):
        raise TypeError(f"{who}: stop_on_nonfinite must be True or False, got {stop_on_nonfinite!r}")

    history = History()
    bar = _Progress(epochs * steps_per_epoch, epochs, progress)
    # The graphs of a step make no reference cycles: the collector can run rarely (see autograd.defer_gc).
    collector = defer_gc()
    collector.__enter__()
    try:
        for epoch in range(1, epochs + 1):
            total_loss = 0.0
            correct = 0
            seen = 0
            lr = math.nan
            batches = _batches(n, batch_size, shuffle, rng)
            for b, indices in enumerate(batches):
                if callable(zero_model_grads):
                    zero_model_grads()
                optimizer.zero_grad()
                if compiled_loss is not None:
                    batch_loss, scores = compiled_loss.step(X_arr, indices, targets, who)
                    correct += scorer.correct_array(scores, indices)
                else:
                    outputs = [model(rows[i]) for i in indices]
                    value = loss(outputs, [targets[i] for i in indices])
                    if not isinstance(value, Value):
                        raise TypeError(f"{who}: loss must return a Value, got {type(value).__name__} {value!r}")
                    value.backward()
                    batch_loss = value.data
                    correct += scorer.correct(outputs, indices)
                total_loss += batch_loss * len(indices)
                seen += len(indices)
                lr = _current_lr(optimizer)
                bar.update(epoch, total_loss / seen, correct / seen if scorer.active else math.nan)
                if not math.isfinite(batch_loss):
                    history.nonfinite.append((epoch, b + 1))
                    if stop_on_nonfinite:
                        history.stopped = _nonfinite_message(batch_loss, epoch, epochs, b + 1, len(batches), lr)
                if track_grads and (b == len(batches) - 1 or history.stopped):
                    history.grad_stats.append(grad_stats(model))
                if history.stopped:
                    break
                optimizer.step()
                if schedule is not None:
                    schedule.step()
            # Full batch: the loss itself (L * n / n can be off by an ulp).
            history.loss.append(batch_loss if len(batches) == 1 else total_loss / seen)
            history.accuracy.append(correct / seen if scorer.active else math.nan)
            history.lr.append(lr)
            if history.stopped:
                break
    finally:
        collector.__exit__(None, None, None)
        bar.close()
    if history.stopped:
        warnings.warn(history.stopped, RuntimeWarning, stacklevel=2)
    return history


def _nonfinite_message(loss: float, epoch: int, epochs: int, batch: int, batches: int, lr: float) -> str:
    at = f"epoch {epoch} of {epochs}, batch {batch} of {batches}"
    rate = f" (lr={lr:g})" if math.isfinite(lr) else ""
    return (f"fit(): the loss is {loss!r} at {at}, so training stopped before that step's update. "
            f"A loss that blows up usually means the learning rate{rate} is too large: try a smaller one "
            "(or clip the gradients). Pass stop_on_nonfinite=False to train on anyway.")
