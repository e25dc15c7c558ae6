"""Tests for nn.fit, nn.accuracy and nn.grad_stats: the loop's mechanics, accuracy rules, progress, errors, moons."""

from __future__ import annotations

import io
import math
import random
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from conftest import import_or_need

from chainrule import autograd, nn
from chainrule.autograd import Value


class TinySGD:
    """A minimal optimiser, so the loop's mechanics are tested apart from nn.optim."""

    def __init__(self, params: list[Value], lr: float) -> None:
        self.param_groups = [{"params": params, "lr": lr}]
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.param_groups[0]["params"]:
            p.grad = 0.0

    def step(self) -> None:
        self.steps += 1
        for p in self.param_groups[0]["params"]:
            p.data -= self.param_groups[0]["lr"] * p.grad


class Halving:
    """A schedule that halves the lr at every step and counts its calls."""

    def __init__(self, optimizer: TinySGD) -> None:
        self.optimizer = optimizer
        self.calls = 0

    def step(self) -> None:
        self.calls += 1
        self.optimizer.param_groups[0]["lr"] *= 0.5


def mse(outputs: list[Value], targets: list[float]) -> Value:
    return autograd.sum((o - t) ** 2 for o, t in zip(outputs, targets)) * (1 / len(outputs))


def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = nn.make_moons(12, noise=0.1, seed=0)
    return X, y


def test_fit_is_the_textbook_loop() -> None:
    X, y = data()
    model = nn.MLP(2, [4, 1], activation="tanh", seed=1)
    twin = nn.MLP(2, [4, 1], activation="tanh", seed=1)
    opt = TinySGD(model.parameters(), lr=0.8)
    schedule = Halving(opt)
    history = nn.fit(model, X, y, loss=mse, optimizer=opt, epochs=4, schedule=schedule, track_grads=True,
                     progress=False)

    # The same steps by hand: zero, forward, loss, backward, step, schedule.
    params = twin.parameters()
    lr = 0.8
    losses, accuracies, lrs, stats = [], [], [], []
    for _ in range(4):
        twin.zero_grad()
        outputs = [twin(x) for x in X]
        loss = mse(outputs, y.tolist())
        loss.backward()
        losses.append(loss.data)
        accuracies.append(float(np.mean([(o.data > 0.5) == t for o, t in zip(outputs, y)])))
        lrs.append(lr)
        stats.append(nn.grad_stats(twin))
        for p in params:
            p.data -= lr * p.grad
        lr *= 0.5
    assert history.loss == losses
    assert history.accuracy == accuracies
    assert history.lr == lrs == [0.8, 0.4, 0.2, 0.1]
    assert history.grad_stats == stats
    assert list(stats[0]) == ["layers.0", "layers.1"]
    assert model.state_dict() == twin.state_dict()
    assert opt.steps == schedule.calls == 4
    assert history.loss[-1] < history.loss[0]


def test_minibatches_steps_and_seeded_shuffling() -> None:
    X, y = data()  # 12 samples: batches of 5, 5 and 2

    def run(seed: Any) -> tuple[nn.History, TinySGD, Halving, dict[str, float]]:
        model = nn.MLP(2, [3, 1], seed=0)
        opt = TinySGD(model.parameters(), lr=0.1)
        schedule = Halving(opt)
        history = nn.fit(model, X, y, loss=mse, optimizer=opt, epochs=3, batch_size=5, schedule=schedule,
                         seed=seed, progress=False)
        return history, opt, schedule, model.state_dict()

    history, opt, schedule, state = run(7)
    assert opt.steps == schedule.calls == 9
    assert len(history.loss) == len(history.accuracy) == len(history.lr) == 3
    assert history.grad_stats == []
    assert history.lr == [0.1 * 0.5**2, 0.1 * 0.5**5, 0.1 * 0.5**8]  # the lr of each epoch's last step
    again, _, _, state_again = run(random.Random(7))
    assert again == history and state_again == state
    _, _, _, state_other = run(8)
    assert state_other != state


def _identity_neuron() -> nn.Neuron:
    n = nn.Neuron(1, activation="linear", seed=0)
    n.load_state_dict({"w.0": 1.0, "b": 0.0})
    return n


X1 = [[-2.0], [-0.5], [0.3], [0.5], [0.7], [2.0]]


@pytest.mark.parametrize(
    ("y", "threshold", "expected"),
    [
        ([-1, 1, 1, -1, 1, 1], None, 4 / 6),  # -1/+1 labels: the sign of the score
        ([0, 0, 1, 1, 1, 1], None, 4 / 6),  # 0/1 labels: threshold 0.5, and 0.5 itself counts as 0
        ([0, 0, 1, 1, 1, 1], 0.0, 1.0),
        ([0.0, 0.0, 0.0, 0.0, 0.0, 0.0], None, 4 / 6),  # one class seen: 0/1 labels
        ([3, 3, 3, 7, 7, 7], None, 3 / 6),  # two other labels: their midpoint, 5
        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], None, math.nan),  # regression targets
        ([0, 1, 2, 0, 1, 2], None, math.nan),
    ],
)
def test_accuracy_with_one_output(y: list[float], threshold: float | None, expected: float) -> None:
    result = nn.accuracy(_identity_neuron(), X1, y, threshold=threshold)
    assert result == pytest.approx(expected, nan_ok=True)


def _three_way_layer() -> nn.Layer:
    layer = nn.Layer(1, 3, activation="linear", seed=0)
    layer.load_state_dict({"neurons.0.w.0": 1.0, "neurons.0.b": 0.0, "neurons.1.w.0": -1.0, "neurons.1.b": 0.0,
                           "neurons.2.w.0": 0.0, "neurons.2.b": 0.25})
    return layer


def test_accuracy_with_several_outputs_is_argmax() -> None:
    X = [[-2.0], [0.1], [2.0], [0.0]]  # outputs (x, -x, 0.25): argmax 1, 2, 0, 2
    assert nn.accuracy(_three_way_layer(), X, [1, 2, 0, 0]) == 3 / 4
    assert nn.accuracy(_three_way_layer(), X, np.eye(3)[[1, 2, 0, 0]]) == 3 / 4
    assert math.isnan(nn.accuracy(_three_way_layer(), X, [[0.5, 0.5, 0.0]] * 4))
    tie = nn.Layer(1, 3, activation="linear", init="zeros", seed=0)
    assert nn.accuracy(tie, [[1.0]], [0]) == 1.0  # ties go to the first
    with pytest.raises(ValueError, match="class label 3 but the model has 3 outputs"):
        nn.accuracy(_three_way_layer(), X, [1, 2, 3, 0])


def test_fit_counts_accuracy_from_logits_for_bce_with_logits() -> None:
    y = [0, 0, 1, 1, 1, 1]
    opt = TinySGD([], lr=0.0)
    history = nn.fit(_identity_neuron(), X1, y, loss=nn.functional.binary_cross_entropy_with_logits,
                     optimizer=opt, epochs=1, progress=False)
    assert history.accuracy == [1.0]  # threshold 0 on logits (0.5 would give 4/6)
    expected = np.mean([math.log1p(math.exp(-x[0])) if t else math.log1p(math.exp(x[0])) for x, t in zip(X1, y)])
    assert history.loss == [pytest.approx(expected, rel=1e-14)]


def test_grad_stats_by_hand() -> None:
    model = nn.MLP(1, [2, 1], seed=0)
    grads = [1.0, -2.0, 3.0, -4.0, 0.5, 0.25, -0.125]  # layer 0: w, b, w, b; layer 1: w, w, b
    for p, g in zip(model.parameters(), grads):
        p.grad = g
    assert nn.grad_stats(model) == {"layers.0": (2.5, 4.0), "layers.1": (0.875 / 3, 0.5)}
    neuron = nn.Neuron(2, seed=0)
    for p, g in zip(neuron.parameters(), [1.0, -1.0, 4.0]):
        p.grad = g
    assert nn.grad_stats(neuron) == {"Neuron": (2.0, 4.0)}
    assert list(nn.grad_stats(nn.Layer(1, 2, seed=0))) == ["neurons.0", "neurons.1"]
    with pytest.raises(TypeError, match=r"expects an nn\.Module"):
        nn.grad_stats([1.0])  # type: ignore[arg-type]


def test_grad_stats_of_huge_and_non_finite_gradients() -> None:
    model = nn.MLP(1, [2, 1], seed=0)  # layers.0: 4 parameters, layers.1: 3
    for grads, expected in [
        # the sums 4e308 and 2e308 overflowed fsum (OverflowError)
        ([1e308, 1e308, 1e308, 1e308, -1e308, 1e308, 0.0],
         {"layers.0": (1e308, 1e308), "layers.1": (1e308 * (2 / 3), 1e308)}),
        ([math.inf, 1.0, -math.inf, 0.0, 1.0, 2.0, 3.0], {"layers.0": (math.inf, math.inf), "layers.1": (2.0, 3.0)}),
    ]:
        for p, g in zip(model.parameters(), grads, strict=True):
            p.grad = g
        assert nn.grad_stats(model) == expected
    for p, g in zip(model.parameters(), [1.0, math.nan, math.inf, 1e308, 0.5, 0.5, 0.5], strict=True):
        p.grad = g
    stats = nn.grad_stats(model)
    assert all(math.isnan(x) for x in stats["layers.0"]) and stats["layers.1"] == (0.5, 0.5)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _fit_quietly(progress: bool = True, epochs: int = 3) -> None:
    X, y = data()
    model = nn.MLP(2, [2, 1], seed=0)
    nn.fit(model, X, y, loss=mse, optimizer=TinySGD(model.parameters(), lr=0.1), epochs=epochs, batch_size=4,
           progress=progress)


def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nn.training, "_PROGRESS_DELAY", 0.0)
    monkeypatch.setattr(nn.training, "_PROGRESS_INTERVAL", 0.0)
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    _fit_quietly()
    frames = terminal.getvalue().split("\r")[1:]
    # tqdm's text bar, redrawn in place: 12 samples in batches of 4 for 3 epochs is 9 steps.
    assert frames[0].startswith("epoch 1/3:   0%|")
    assert any(f.startswith("epoch 2/3:  44%|####4     | 4/9 [") for f in frames)
    # tqdm pads a frame shorter than the one before with spaces (its rate's width varies with load).
    assert re.match(r"epoch 3/3: 100%\|##########\| 9/9 \[.*step/s, loss [\d.]+, accuracy [\d.]+%\] *\n$", frames[-1])


@pytest.mark.parametrize(
    ("stream", "progress"),
    [(FakeTerminal, False), (io.StringIO, True), (io.StringIO, False)],
    ids=["terminal, progress=False", "pipe", "pipe, progress=False"],
)
def test_no_progress_bar_when_off_or_not_watched(monkeypatch: pytest.MonkeyPatch, stream: type, progress: bool) -> None:
    monkeypatch.setattr(nn.training, "_PROGRESS_DELAY", 0.0)
    out = stream()
    monkeypatch.setattr("sys.stderr", out)
    _fit_quietly(progress=progress)
    assert out.getvalue() == ""


def test_no_progress_bar_on_short_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nn.training, "_PROGRESS_DELAY", 3600.0)
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    _fit_quietly()
    assert terminal.getvalue() == ""


def test_progress_bar_in_a_piped_subprocess_is_silent() -> None:
    code = ("from chainrule import nn; nn.training._PROGRESS_DELAY = 0.0\n"
            "X, y = nn.make_moons(12, noise=0.1, seed=0); m = nn.MLP(2, [2, 1], seed=0)\n"
            "nn.fit(m, X, y, loss=nn.functional.mse_loss, optimizer=nn.optim.SGD(m.parameters(), lr=0.1), epochs=3)\n"
            "print('done')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert (result.stdout, result.stderr) == ("done\n", "")


def _run_in_kernel(source: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """Execute one code cell on a fresh Jupyter kernel of this interpreter.

    Returns:
        The cell's outputs, and the final state of every widget model it made.
    """
    nbclient = import_or_need("nbclient")
    nbformat = import_or_need("nbformat")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3")
    client.km_kwargs = {"kernel_cmd": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]}
    client.execute()
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    models = [{"model_name": m["model_name"], **m["state"]} for m in widgets.get("state", {}).values()]
    return list(nb.cells[0].outputs), models


KERNEL_FIT = """
from chainrule import nn
nn.training._PROGRESS_DELAY = 0.0
X, y = nn.make_moons(12, noise=0.1, seed=0)
m = nn.MLP(2, [2, 1], seed=0)
nn.fit(m, X, y, loss=nn.functional.mse_loss, optimizer=nn.optim.SGD(m.parameters(), lr=0.1), epochs=3,
       progress={progress})
print("done")
"""


@pytest.mark.slow
def test_progress_bar_in_jupyter_is_a_widget() -> None:
    outputs, models = _run_in_kernel(KERNEL_FIT.format(progress=True))
    assert len([o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]) == 1
    assert [o.get("text") for o in outputs if o["output_type"] == "stream"] == ["done\n"]  # no text bar besides
    # The widget at the end: a full progress bar between the description and the figures (tqdm's HTML).
    (bar,) = [m for m in models if m["model_name"] == "FloatProgressModel"]
    assert (bar["value"], bar["max"], bar["bar_style"]) == (3.0, 3.0, "success")
    texts = [m["value"].replace("\u2007", " ") for m in models if m["model_name"] == "HTMLModel"]
    assert texts[0] == "epoch 3/3: 100%"
    assert re.fullmatch(r" 3/3 \[.*step/s, loss [\d.]+, accuracy [\d.]+%\]", texts[1])
    quiet, models = _run_in_kernel(KERNEL_FIT.format(progress=False))
    assert [(o["output_type"], o.get("text")) for o in quiet] == [("stream", "done\n")] and models == []


@pytest.mark.slow
def test_progress_bar_in_jupyter_without_ipywidgets_is_text() -> None:
    hide_ipywidgets = "import sys\nsys.modules['ipywidgets'] = None  # as if it were not installed\n"
    outputs, models = _run_in_kernel(hide_ipywidgets + KERNEL_FIT.format(progress=True))
    stderr = "".join(o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr")
    assert "IProgress not found" in stderr  # tqdm's own hint to install ipywidgets
    assert re.search(r"\repoch 3/3: 100%\|[#█]{10}\| 3/3 \[.*loss [\d.]+, accuracy [\d.]+%\]\n", stderr)
    assert not [o for o in outputs if "data" in o] and models == []


def _fit(**overrides: Any) -> nn.History:
    X, y = data()
    model = overrides.pop("model", nn.MLP(2, [3, 1], seed=0))
    params = model.parameters() if isinstance(model, nn.Module) else []
    args: dict[str, Any] = {"loss": mse, "optimizer": TinySGD(params, lr=0.1), "epochs": 1, "progress": False}
    args.update(overrides)
    return nn.fit(model, args.pop("X", X), args.pop("y", y), **args)


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"y": np.zeros(11)}, ValueError, "X has 12 rows but y has 11 entries"),
        ({"X": np.zeros((12, 3))}, ValueError, "X has 3 columns but the model takes 2 inputs"),
        ({"X": np.zeros(12)}, ValueError, r"X must be 2-D .* X.reshape\(-1, 1\)"),
        ({"X": np.zeros((0, 2)), "y": []}, ValueError, "at least one row"),
        ({"X": [[1.0, 2.0], [3.0]] * 6}, TypeError, "X must be a 2-D array of numbers"),
        ({"X": np.full((12, 2), np.nan)}, ValueError, "X row 0 holds a non-finite number"),
        ({"y": ["a"] * 12}, TypeError, "y must hold numbers"),
        ({"y": np.zeros((12, 2))}, ValueError, "y has 2 columns but the model has 1 outputs"),
        ({"y": [0.0] * 11 + [math.inf]}, ValueError, "y entry 11 is not finite"),
        ({"model": nn.MLP(2, [3, 3], seed=0), "y": [3] * 12}, ValueError, "class label 3 but the model has 3"),
        ({"model": nn.MLP(2, [3, 3], seed=0), "y": [0.5] * 12}, ValueError, "class label 0.5"),
        ({"loss": lambda o, t: 1.0}, TypeError, "loss must return a Value, got float"),
        ({"loss": "mse"}, TypeError, "loss must be a callable"),
        ({"optimizer": object()}, TypeError, "optimizer must have a step"),
        ({"schedule": 0.5}, TypeError, "schedule must have a step"),
        ({"epochs": 0}, ValueError, "epochs must be >= 1, got 0"),
        ({"epochs": 2.0}, TypeError, "epochs must be an int"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"seed": "x"}, TypeError, "seed must be an int"),
        ({"threshold": "0"}, TypeError, "threshold must be a number"),
        ({"model": lambda x: [1.0]}, TypeError, "must return a Value or a list of Values"),
        ({"model": lambda x: Value(0.0), "track_grads": True}, TypeError, "track_grads=True needs an nn.Module"),
    ],
)
def test_fit_errors(overrides: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _fit(**overrides)


def test_fit_with_nn_optim_and_cross_entropy_on_blobs() -> None:
    X, y = nn.make_blobs(60, centers=[[-2.0, 0.0], [2.0, 0.0], [0.0, 3.0]], cluster_std=0.5, seed=0)
    model = nn.MLP(2, [8, 3], seed=0)
    opt = nn.optim.Adam(model.parameters(), lr=0.05)
    history = nn.fit(model, X, y, loss=nn.functional.cross_entropy, optimizer=opt, epochs=15, batch_size=20,
                     seed=0, progress=False)
    assert history.loss[-1] < 0.3 * history.loss[0]
    assert nn.accuracy(model, X, y) >= 0.95


@pytest.mark.slow
def test_micrograd_moons_demo_reaches_98_percent_within_100_sgd_steps() -> None:
    # micrograd's demo: 100 moons points (noise 0.1), MLP(2, [16, 16, 1]), hinge loss on +-1 labels
    # plus 1e-4 * sum of squared parameters, full batch, lr = 1.0 - 0.9 k / 100.
    X, y = nn.make_moons(100, noise=0.1, seed=1)
    model = nn.MLP(2, [16, 16, 1], seed=0)
    params = model.parameters()
    opt = nn.optim.SGD(params, lr=1.0)
    schedule = nn.schedules.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=100)

    def loss(scores: list[Value], labels: list[int]) -> Value:
        return nn.functional.hinge_loss(scores, labels) + 1e-4 * autograd.sum(p * p for p in params)

    history = nn.fit(model, X, 2 * y - 1, loss=loss, optimizer=opt, schedule=schedule, epochs=100, progress=False)
    assert history.lr[0] == 1.0 and history.lr[-1] == pytest.approx(1.0 - 0.9 * 99 / 100)
    assert history.loss[-1] < 0.05 < history.loss[0]
    assert max(history.accuracy) >= 0.98
    assert nn.accuracy(model, X, 2 * y - 1) >= 0.98
