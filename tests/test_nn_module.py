"""Tests for nn.Module, Neuron, Layer and MLP: discovery, naming, forward values and graphs, state, files."""

from __future__ import annotations

import json
import math
import random
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import import_or_need
from hypothesis import example, given
from hypothesis import strategies as st

from chainrule import autograd, nn
from chainrule.autograd import PARAMETER, Value
from chainrule.nn.module import decode_float, encode_float


def bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def from_bits(b: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", b))[0])


def set_weights(model: nn.Module, seed: int = 0) -> dict[str, float]:
    """Give every parameter (biases too) a distinct random value; return the state."""
    rng = random.Random(seed)
    state = {name: rng.uniform(-1, 1) for name, _ in model.named_parameters()}
    model.load_state_dict(state)
    return state


# ----------------------------------------------------------------------------
# Discovery and naming
# ----------------------------------------------------------------------------


def test_mlp_has_337_parameters_in_layer_neuron_weight_bias_order() -> None:
    model = nn.MLP(2, [16, 16, 1], seed=0)
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == len(model.parameters()) == model.num_parameters() == 337
    expected = [
        f"layers.{k}.neurons.{j}.{p}"
        for k, (nin, nout) in enumerate([(2, 16), (16, 16), (16, 1)])
        for j in range(nout)
        for p in [*(f"w.{i}" for i in range(nin)), "b"]
    ]
    assert names == expected
    assert model.parameters() == [w for layer in model.layers for n in layer.neurons for w in [*n.w, n.b]]


def test_parameters_are_marked_labelled_and_scoped() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    for name, p in model.named_parameters():
        assert p.role == PARAMETER
        assert p.label == name
        assert p.scope == name.rsplit(".", 2)[0] if ".w." in name else name.rsplit(".", 1)[0]
    assert model.layers[0].neurons[2].w[1].label == "layers.0.neurons.2.w.1"
    assert model.layers[0].neurons[2].w[1].scope == "layers.0.neurons.2"
    # A lone neuron is a root: its parameters have short names and no scope.
    n = nn.Neuron(2, seed=0)
    assert [p.label for p in n.parameters()] == ["w.0", "w.1", "b"]
    assert all(p.scope is None for p in n.parameters())


class Custom(nn.Module):
    """Parameters in a Value, a nested list, a tuple, a dict, a child module; private and shared ones."""

    def __init__(self) -> None:
        self.scale = Value(2.0)
        self.blocks = [[Value(1.0), Value(3.0)], [nn.Neuron(1, activation="linear", init="zeros")]]
        self.pair = (Value(5.0), "not a parameter", 7)
        self.table = {"a": Value(6.0), "b": nn.Neuron(1, init="zeros")}
        self._hidden = Value(9.0)  # private: never searched
        self.tied = self.scale  # the same Value again: listed once
        self.name = "custom"

    def forward(self, x: float) -> Value:
        return self.scale * self.blocks[1][0]([x]) + self.table["a"]


def test_discovery_follows_declaration_order_through_containers() -> None:
    model = Custom()
    assert [name for name, _ in model.named_parameters()] == [
        "scale",
        "blocks.0.0",
        "blocks.0.1",
        "blocks.1.0.w.0",
        "blocks.1.0.b",
        "pair.0",
        "table.a",
        "table.b.w.0",
        "table.b.b",
    ]
    assert model._hidden.role != PARAMETER and model._hidden.label == ""
    assert [name for name, _ in model.named_children()] == ["blocks.1.0", "table.b"]
    assert [name for name, _ in model.named_modules()] == ["", "blocks.1.0", "table.b"]
    assert model.blocks[1][0].w[0].label == "blocks.1.0.w.0"


def test_subclass_constructor_chain_names_from_the_outermost() -> None:
    class Base(nn.Module):
        def __init__(self) -> None:
            self.inner = nn.Neuron(1, seed=0)

    class Derived(Base):
        def __init__(self) -> None:
            super().__init__()
            self.extra = Value(1.0)

    class NoInit(Derived):
        pass

    for cls in (Derived, NoInit):
        model = cls()
        assert [p.label for p in model.parameters()] == ["inner.w.0", "inner.b", "extra"]
        assert model.extra.role == PARAMETER


def test_zero_grad_sets_every_grad_to_zero() -> None:
    model = nn.MLP(2, [4, 1], seed=0)
    model([1.0, -2.0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_repr_shows_sizes_and_parameter_counts() -> None:
    model = nn.MLP(2, [16, 16, 1], seed=0)
    assert repr(model) == (
        "MLP(2 -> [16, 16, 1], relu, final linear; 337 parameters)\n"
        "  (layers.0): Layer(2 -> 16, relu; 48 parameters)\n"
        "  (layers.1): Layer(16 -> 16, relu; 272 parameters)\n"
        "  (layers.2): Layer(16 -> 1, linear; 17 parameters)"
    )
    assert repr(nn.Neuron(1, activation="tanh")) == "Neuron(1 input, tanh; 2 parameters)"
    assert repr(Custom()).startswith("Custom(9 parameters)\n  (blocks.1.0): Neuron(1 input, linear; 2 parameters)")


# ----------------------------------------------------------------------------
# Forward: values, graph shape, scopes
# ----------------------------------------------------------------------------


def test_neuron_forward_is_one_dot_node_then_the_activation() -> None:
    n = nn.Neuron(3, activation="tanh", seed=0)
    n.load_state_dict({"w.0": 0.5, "w.1": -1.0, "w.2": 2.0, "b": 0.25})
    x = [Value(1.0), Value(2.0), Value(-0.5)]
    out = n(x)
    assert out.op == "tanh"
    (pre,) = out.parents
    assert pre.op == "dot"
    assert pre.parents == (*n.w, *x, n.b)
    assert pre.data == 0.5 - 2.0 - 1.0 + 0.25
    assert out.data == math.tanh(-2.25)
    # A linear neuron is the dot node alone.
    lin = nn.Neuron(3, activation="linear", seed=0)
    assert lin(x).op == "dot"


@pytest.mark.parametrize(
    ("activation", "expected"),
    [
        ("linear", lambda z: z),
        ("tanh", math.tanh),
        ("sigmoid", lambda z: 1 / (1 + math.exp(-z))),
        ("relu", lambda z: max(z, 0.0)),
        ("leaky_relu", lambda z: z if z > 0 else 0.01 * z),
        (lambda v: v * v, lambda z: z * z),
    ],
)
def test_activations(activation: Any, expected: Any) -> None:
    n = nn.Neuron(2, activation=activation, seed=0)
    n.load_state_dict({"w.0": 0.75, "w.1": -0.5, "b": 0.125})
    for x0, x1 in [(1.0, 2.0), (-1.0, 3.0), (2.0, -1.0)]:
        z = 0.75 * x0 - 0.5 * x1 + 0.125
        assert n([x0, x1]).data == pytest.approx(expected(z), rel=1e-15, abs=1e-300)


def test_mlp_matches_numpy_forward() -> None:
    model = nn.MLP(3, [5, 4, 2], activation="tanh", final_activation="sigmoid", seed=1)
    set_weights(model, seed=2)
    x = np.array([0.3, -1.2, 0.7])
    h = x
    for k, layer in enumerate(model.layers):
        W = np.array([[w.data for w in n.w] for n in layer.neurons])
        b = np.array([n.b.data for n in layer.neurons])
        z = W @ h + b
        h = 1 / (1 + np.exp(-z)) if k == len(model.layers) - 1 else np.tanh(z)
    out = model(x)
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_allclose([v.data for v in out], h, rtol=1e-14)


def test_output_is_a_value_for_one_neuron_else_a_list() -> None:
    assert isinstance(nn.MLP(2, [3, 1], seed=0)([1.0, 2.0]), Value)
    assert isinstance(nn.Layer(2, 1, seed=0)([1.0, 2.0]), Value)
    out = nn.Layer(2, 3, seed=0)(np.array([1.0, 2.0]))
    assert isinstance(out, list) and len(out) == 3 and all(isinstance(v, Value) for v in out)
    # A hidden layer of width one still feeds the next layer a list.
    assert isinstance(nn.MLP(2, [1, 2], seed=0)([1.0, 2.0]), list)


def test_inputs_may_be_values_and_receive_gradients() -> None:
    n = nn.Neuron(2, activation="linear", seed=0)
    n.load_state_dict({"w.0": 3.0, "w.1": -2.0, "b": 0.0})
    x = [Value(1.0), Value(1.0)]
    n(x).backward()
    assert [v.grad for v in x] == [3.0, -2.0]
    # Plain numbers become constants: no gradient, and the inputs of the first
    # layer are shared by all its neurons (made once per call).
    out = nn.Layer(2, 2, activation="linear", seed=0)([1.0, 2.0])
    assert isinstance(out, list)
    first, second = (o.parents[2:4] for o in out)
    assert first == second and all(v.role == autograd.CONSTANT for v in first)


@pytest.fixture
def torch() -> Any:
    """PyTorch, the oracle; the test using it skips when it is not installed."""
    return import_or_need("torch", "PyTorch")


@pytest.mark.torch
def test_gradients_match_torch_float64(torch: Any) -> None:
    model = nn.MLP(3, [4, 4, 2], activation="tanh", seed=3)
    set_weights(model, seed=4)
    x = [0.5, -0.25, 1.5]
    out = model(x)
    assert isinstance(out, list)
    (out[0] * out[1] + out[1]).backward()

    layers = []
    for layer in model.layers:
        lin = torch.nn.Linear(layer.nin, layer.nout, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64))
            lin.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64))
        layers.append(lin)
    h = torch.tensor(x, dtype=torch.float64)
    for k, lin in enumerate(layers):
        h = lin(h)
        if k < len(layers) - 1:
            h = torch.tanh(h)
    assert [v.data for v in out] == pytest.approx(h.tolist(), rel=1e-13)
    (h[0] * h[1] + h[1]).backward()
    for layer, lin in zip(model.layers, layers):
        ours_w = [[w.grad for w in n.w] for n in layer.neurons]
        ours_b = [n.b.grad for n in layer.neurons]
        np.testing.assert_allclose(ours_w, lin.weight.grad.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ours_b, lin.bias.grad.numpy(), rtol=1e-12, atol=1e-15)


def _scopes_by_op(root: Value) -> dict[str, set[str | None]]:
    found: dict[str, set[str | None]] = {}
    for node in autograd.topological_order(root):
        if node.op:
            found.setdefault(node.op, set()).add(node.scope)
    return found


def test_an_error_inside_a_neuron_restores_the_mode_from_before_the_call() -> None:
    calls: list[str | None] = []

    def act(v: Value) -> Value:  # a user's activation: records its scope, fails in the second neuron
        calls.append(autograd.current_scope())
        if len(calls) == 2:
            raise RuntimeError("boom")
        return v.tanh()

    model = nn.MLP(2, [3, 1], activation=act, seed=0)
    with autograd.scope("outer"), autograd.no_grad():
        with pytest.raises(RuntimeError, match="boom"):
            model([1.0, 2.0])
        assert autograd.current_scope() == "outer" and not autograd.is_grad_enabled()
    assert calls == ["outer.layers.0.neurons.0", "outer.layers.0.neurons.1"]
    assert autograd.current_scope() is None and autograd.is_grad_enabled()
    calls.clear()
    layer = nn.Layer(2, 3, activation=act, seed=0)  # a root layer: nothing around it restores the mode
    with pytest.raises(RuntimeError, match="boom"):
        layer([1.0, 2.0])
    assert calls == ["neurons.0", "neurons.1"]
    assert autograd.current_scope() is None
    # Each neuron's nodes carry its own path, also after a neuron whose activation makes several nodes.
    calls.clear()
    ok = nn.MLP(2, [3, 1], activation=lambda v: (v * 2.0).relu(), seed=0)
    scopes = _scopes_by_op(ok([1.0, 2.0]))
    assert scopes["relu"] == scopes["mul"] == {f"layers.0.neurons.{i}" for i in range(3)}
    assert scopes["dot"] == {"layers.0.neurons.0", "layers.0.neurons.1", "layers.0.neurons.2", "layers.1.neurons.0"}


def test_forward_nodes_carry_the_module_path() -> None:
    model = nn.MLP(2, [2, 1], activation="tanh", seed=0)
    out = model([1.0, 2.0])
    assert isinstance(out, Value)
    scopes = _scopes_by_op(out)
    assert scopes["dot"] == {"layers.0.neurons.0", "layers.0.neurons.1", "layers.1.neurons.0"}
    assert scopes["tanh"] == {"layers.0.neurons.0", "layers.0.neurons.1"}
    assert autograd.current_scope() is None
    # Inside a user's module and an outer scope, the paths nest.

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            self.body = nn.MLP(2, [1], seed=0)

        def forward(self, x: list[float]) -> Value:
            return self.body(x) * 2.0

    with autograd.scope("outer"):
        y = Wrapper()([1.0, 2.0])
    assert y.scope == "outer"
    assert y.parents[0].scope == "outer.body.layers.0.neurons.0"
    # A standalone layer names its neurons only.
    layer_out = nn.Layer(2, 2, seed=0)([1.0, 2.0])
    assert isinstance(layer_out, list)
    assert [v.scope for v in layer_out] == ["neurons.0", "neurons.1"]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: nn.MLP(2, [3, 1], seed=0)([1.0, 2.0, 3.0]), ValueError, "MLP expects 2 inputs, got 3"),
        (lambda: nn.Layer(2, 3, seed=0)([1.0]), ValueError, "Layer expects 2 inputs, got 1"),
        (lambda: nn.Neuron(1, seed=0)([1.0, 2.0]), ValueError, "Neuron expects 1 input, got 2"),
        (lambda: nn.MLP(2, [1], seed=0)(np.zeros((3, 2))), ValueError, r"shape \(3, 2\); call it once per row"),
        (lambda: nn.MLP(2, [1], seed=0)(Value(1.0)), TypeError, "sequence of 2 inputs"),
        (lambda: nn.MLP(2, [1], seed=0)("ab"), TypeError, "sequence of 2 inputs"),
        (lambda: nn.MLP(2, [1], seed=0)([1.0, "x"]), TypeError, "MLP input 1"),
        (lambda: nn.MLP(0, [1]), ValueError, "nin must be >= 1, got 0"),
        (lambda: nn.MLP(True, [1]), TypeError, "nin must be an int"),
        (lambda: nn.MLP(2, []), ValueError, "at least one layer"),
        (lambda: nn.MLP(2, 3), TypeError, "nouts must be a sequence"),  # type: ignore[arg-type]
        (lambda: nn.MLP(2, [4, 0]), ValueError, r"nouts\[1\] must be >= 1"),
        (lambda: nn.Layer(2, -1), ValueError, "nout must be >= 1"),
        (lambda: nn.Neuron(2.0), TypeError, "nin must be an int"),  # type: ignore[arg-type]
        (lambda: nn.MLP(2, [1], activation="swish"), ValueError, "unknown activation 'swish'"),
        (lambda: nn.MLP(2, [1], final_activation=3), TypeError, "activation must be a name or a callable"),
        (lambda: nn.MLP(2, [1], seed="0"), TypeError, "seed must be an int, a random.Random or None"),
        (lambda: nn.MLP(2, [1], seed=1.5), TypeError, "seed must be"),
        (lambda: nn.MLP(2, [1], init="glorot"), ValueError, "unknown init 'glorot'"),
        (lambda: nn.MLP(2, [1], init="constant"), ValueError, r"nn.init.constant\(0.5\)"),
        (lambda: nn.MLP(2, [1], init=lambda fi, fo, *, rng: "x"), TypeError, "must return a float"),
        (lambda: nn.Neuron(1, activation=lambda v: 1.0, seed=0)([1.0]), TypeError, "must return a Value"),
        (lambda: nn.Module()(1.0), NotImplementedError, "Module does not define forward"),
    ],
)
def test_clear_errors(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------
# Seeds
# ----------------------------------------------------------------------------


def test_seeds_are_explicit_and_reproducible() -> None:
    a = nn.MLP(2, [8, 1], seed=7).state_dict()
    assert nn.MLP(2, [8, 1], seed=7).state_dict() == a
    assert nn.MLP(2, [8, 1], seed=random.Random(7)).state_dict() == a
    assert nn.MLP(2, [8, 1], seed=8).state_dict() != a
    # One generator shared by successive models continues its stream.
    rng = random.Random(7)
    nn.MLP(2, [8, 1], seed=rng)
    assert nn.MLP(2, [8, 1], seed=rng).state_dict() != a
    # The global generator is never used nor reseeded.
    state = random.getstate()
    nn.MLP(2, [8, 1])
    nn.MLP(2, [8, 1], seed=3)
    assert random.getstate() == state


def test_biases_start_at_zero_and_weights_are_drawn_in_order() -> None:
    model = nn.MLP(2, [3, 1], init="uniform", seed=5)
    rng = random.Random(5)
    expected = [rng.uniform(-1.0, 1.0) for _ in range(2 * 3 + 3)]
    weights = [p.data for name, p in model.named_parameters() if not name.endswith(".b")]
    biases = [p.data for name, p in model.named_parameters() if name.endswith(".b")]
    assert weights == expected
    assert biases == [0.0] * 4


# ----------------------------------------------------------------------------
# State dicts
# ----------------------------------------------------------------------------


def test_state_dict_round_trip() -> None:
    model = nn.MLP(2, [4, 1], seed=0)
    other = nn.MLP(2, [4, 1], seed=1)
    assert other.state_dict() != model.state_dict()
    result = other.load_state_dict(model.state_dict())
    assert other.state_dict() == model.state_dict()
    assert result == nn.module.IncompatibleKeys([], [])
    assert list(model.state_dict()) == [name for name, _ in model.named_parameters()]


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (lambda s: s.pop("layers.1.neurons.0.b"), ValueError, "missing 1 entry: 'layers.1.neurons.0.b'"),
        (lambda s: s.update({"layers.2.neurons.0.b": 1.0}), ValueError, "unexpected 1 entry: 'layers.2.neurons.0.b'"),
        (lambda s: s.update({"layers.0.neurons.3.w.1": "0.5"}), TypeError, "'layers.0.neurons.3.w.1' must be a real"),
        (lambda s: s.update({"layers.0.neurons.3.w.1": True}), TypeError, "'layers.0.neurons.3.w.1' must be a real"),
        (lambda s: s.update({"layers.0.neurons.0.b": None}), TypeError, "'layers.0.neurons.0.b' must be a real"),
        (lambda s: s.update({7: 1.0}), TypeError, "names must be str"),
    ],
)
def test_load_state_dict_errors_name_the_entry_and_change_nothing(edit: Any, error: type, match: str) -> None:
    model = nn.MLP(2, [4, 1], seed=0)
    before = model.state_dict()
    state = {name: 0.5 for name in before}
    edit(state)
    with pytest.raises(error, match=match):
        model.load_state_dict(state)
    assert model.state_dict() == before


def test_load_state_dict_non_strict_reports_skipped_keys() -> None:
    model = nn.MLP(2, [2, 1], seed=0)
    state = model.state_dict()
    state.pop("layers.1.neurons.0.b")
    state["extra"] = 1.0
    state["layers.0.neurons.0.w.0"] = 42.0
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["layers.1.neurons.0.b"]
    assert result.unexpected_keys == ["extra"]
    assert model.layers[0].neurons[0].w[0].data == 42.0
    with pytest.raises(TypeError, match="expected a mapping"):
        model.load_state_dict([("a", 1.0)])  # type: ignore[arg-type]


def test_load_state_dict_of_a_different_architecture_lists_names() -> None:
    small = nn.MLP(2, [2, 1], seed=0)
    big = nn.MLP(2, [3, 1], seed=0)
    expected = r"unexpected 4 entries: 'layers.0.neurons.2.w.0', .*'layers.1.neurons.0.w.2' \(a different architecture"
    with pytest.raises(ValueError, match=expected):
        small.load_state_dict(big.state_dict())


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------

SPECIAL = [
    math.nan,
    -math.nan,
    from_bits(0x7FF8000000000001),  # a NaN with a payload
    from_bits(0xFFF0000000000ABC),  # a negative signalling-pattern NaN
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    5e-324,
    -2.2250738585072014e-308,
    1.7976931348623157e308,
    0.1,
    1 / 3,
]


def test_save_and_load_restore_every_float_bit_for_bit(tmp_path: Path) -> None:
    model = nn.MLP(2, [3, 2], activation="tanh", final_activation="sigmoid", seed=0)
    values = {name: SPECIAL[i % len(SPECIAL)] for i, (name, _) in enumerate(model.named_parameters())}
    model.load_state_dict(values)
    path = tmp_path / "model.json"
    model.save(path)
    for loaded in (nn.load(path), nn.MLP.load(path), nn.Module.load(path)):
        assert isinstance(loaded, nn.MLP)
        assert loaded.get_config() == model.get_config()
        assert [bits(v) for v in loaded.state_dict().values()] == [bits(v) for v in values.values()]
    # Into an existing model of the same architecture, in place.
    target = nn.MLP(2, [3, 2], activation="tanh", final_activation="sigmoid", seed=9)
    assert target.load(path) is target
    assert [bits(v) for v in target.state_dict().values()] == [bits(v) for v in values.values()]
    # The file is standard JSON (no NaN/Infinity tokens) recording the architecture.

    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    doc = json.loads(path.read_text(), parse_constant=reject)
    assert doc["class"] == "MLP" and doc["module"] == "chainrule.nn.layers"
    assert doc["config"] == {"nin": 2, "nouts": [3, 2], "activation": "tanh", "final_activation": "sigmoid"}
    assert list(doc["parameters"]) == list(values)
    assert doc["parameters"]["layers.0.neurons.0.w.0"] == "nan"
    assert doc["parameters"]["layers.0.neurons.0.w.1"] == "nan:0xfff8000000000000"


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(0, 2**64 - 1).map(from_bits))
@example(-0.0)
@example(from_bits(0x7FF0000000000001))
def test_encode_decode_is_bit_exact(x: float) -> None:
    text = json.dumps(encode_float(x), allow_nan=False)
    assert bits(decode_float(json.loads(text), "p")) == bits(x)


def test_layer_and_neuron_and_custom_activation_files(tmp_path: Path) -> None:
    layer = nn.Layer(3, 2, activation="leaky_relu", seed=0)
    layer.save(tmp_path / "layer.json")
    assert nn.load(tmp_path / "layer.json").state_dict() == layer.state_dict()
    with pytest.raises(ValueError, match="holds a Layer, not a MLP"):
        nn.MLP.load(tmp_path / "layer.json")
    # A custom activation is recorded by name: the file cannot rebuild it, but
    # a model built with it can load the file.

    def square(v: Value) -> Value:
        return v * v

    neuron = nn.Neuron(2, activation=square, seed=0)
    neuron.save(tmp_path / "neuron.json")
    with pytest.raises(ValueError, match="custom callable recorded by name"):
        nn.load(tmp_path / "neuron.json")
    fresh = nn.Neuron(2, activation=square, seed=1)
    fresh.load(tmp_path / "neuron.json")
    assert fresh.state_dict() == neuron.state_dict()


def test_module_without_config_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError, match="Custom does not define get_config"):
        Custom().save(tmp_path / "c.json")


def _edit_file(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


# (change to a saved MLP(2, [2, 1]) file, the entry the error names, a regex its reason matches)
BAD_FILES = [
    (lambda d: d["parameters"].pop("layers.0.neurons.1.b"), "config",
     "makes a MLP with 9 parameters, but the file holds 8"),
    (lambda d: d["parameters"].update({"layers.9.w": 1.0}), "parameters", "unexpected 1 entry: 'layers.9.w'"),
    (lambda d: d["parameters"].update({"layers.0.neurons.1.w.0": [1.0]}), "parameters['layers.0.neurons.1.w.0']",
     r"^expected a number, got array \[1.0\]$"),
    (lambda d: d["parameters"].update({"layers.0.neurons.1.w.0": True}), "parameters['layers.0.neurons.1.w.0']",
     "^expected a number, got true$"),
    (lambda d: d["parameters"].update({"layers.0.neurons.1.w.0": None}), "parameters['layers.0.neurons.1.w.0']",
     "^expected a number, got null$"),
    (lambda d: d["parameters"].update({"layers.0.neurons.1.w.0": "0.5"}), "parameters['layers.0.neurons.1.w.0']",
     "^malformed value '0.5'; expected a JSON number"),
    (lambda d: d["parameters"].update({"layers.1.neurons.0.b": "nan:0x3ff0000000000000"}),
     "parameters['layers.1.neurons.0.b']", "^malformed value 'nan:0x3ff0000000000000'"),
    (lambda d: d["parameters"].update({"layers.1.neurons.0.b": 10**309}), "parameters['layers.1.neurons.0.b']",
     "^the integer 1000.*000 is too large for a float$"),
    (lambda d: d["parameters"].update({"layers.1.neurons.0.b": 10**400}), "parameters['layers.1.neurons.0.b']",
     "^a number written with 401 characters"),
    (lambda d: d.pop("config"), "config", "^missing: a model file has 'format', 'class'"),
    (lambda d: d.update({"parameters": [1, 2]}), "parameters", "^must be a JSON object, got array$"),
    (lambda d: d.update({"format": "other/2"}), "format", "'format' is 'other/2', expected 'chainrule.nn/1'"),
    (lambda d: d.update({"extra": 1}), "extra", "^unexpected entry: a model file has only 'format'"),
    (lambda d: d.update({"class": "Nope"}), "class",
     "^the file holds a Nope from module chainrule.nn.layers, which is not defined"),
    (lambda d: d["config"].update({"nouts": [2, 0]}), "config", r"^does not build a MLP: MLP\(\): nouts\[1\]"),
    (lambda d: d["config"].update({"width": 3}), "config", "unexpected config entry 'width'"),
    (lambda d: d["config"].pop("activation"), "config", "config has no 'activation' entry"),
    (lambda d: d["config"].update({"nouts": 2}), "config", "nouts must be a list of layer widths, got int"),
    (lambda d: d["config"].update({"nin": 2.0}), "config", "nin must be an int, got float"),
    (lambda d: d["config"].update({"activation": ["relu"]}), "config", "activation must be an activation name"),
    (lambda d: d["config"].update({"activation": "custom:f"}), "config", "custom callable recorded by name"),
    (lambda d: d["config"].update({"nin": 10**399}), "config",
     r"about 10\^399 parameters are too many to build: at about \d+ bytes each they would take about 10\^\d+ "
     r"bytes, more than this machine's [\d.]+ [GT]B of memory"),
]


@pytest.mark.parametrize(("change", "entry", "match"), BAD_FILES)
def test_malformed_files_get_errors_naming_the_file_and_the_entry(
    tmp_path: Path, change: Any, entry: str, match: str
) -> None:
    path = tmp_path / "m.json"
    nn.MLP(2, [2, 1], seed=0).save(path)
    _edit_file(path, change)
    with pytest.raises(nn.ModelFileError) as info:
        nn.load(path)
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.path, error.entry) == (str(path), entry)
    assert re.search(match, error.reason), error.reason
    assert str(error) == f"{path}: {entry}: {error.reason}"


@pytest.mark.parametrize(("change", "entry", "match"), [f for f in BAD_FILES if f[1] != "config" and f[1] != "class"])
def test_failed_load_into_a_model_changes_nothing(tmp_path: Path, change: Any, entry: str, match: str) -> None:
    path = tmp_path / "m.json"
    nn.MLP(2, [2, 1], seed=0).save(path)
    _edit_file(path, change)
    model = nn.MLP(2, [2, 1], seed=1)
    before = model.state_dict()
    with pytest.raises(nn.ModelFileError) as info:
        model.load(path)
    assert re.search(match, info.value.reason)
    assert model.state_dict() == before


def test_load_into_a_different_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    nn.MLP(2, [2, 1], seed=0).save(path)
    for model in (nn.MLP(2, [3, 1], seed=1), nn.MLP(2, [2, 1], activation="tanh", seed=1)):
        before = model.state_dict()
        with pytest.raises(ValueError, match="a different architecture: the file has config"):
            model.load(path)
        assert model.state_dict() == before
    with pytest.raises(nn.ModelFileError, match=r"class: the file holds a MLP \(module chainrule.nn.layers\), "
                       "not a Layer: a different architecture"):
        nn.Layer(2, 2, seed=0).load(path)


def test_not_json_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a chainrule model file: invalid JSON"):
        nn.load(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object, got array"):
        nn.load(bad)
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="not UTF-8"):
        nn.load(bad)


# ----------------------------------------------------------------------------
# train() and eval(): PyTorch's flag
# ----------------------------------------------------------------------------


def test_train_and_eval_set_the_flag_on_every_module_below() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    modules = list(model.modules())
    assert len(modules) == 1 + 2 + 4  # the MLP, its layers, their neurons
    assert all(m.training is True for m in modules)  # as PyTorch: a new module trains
    assert model.eval() is model
    assert all(m.training is False for m in modules)
    assert model.train() is model and all(m.training is True for m in modules)
    assert model.train(False) is model and all(m.training is False for m in modules)
    # Only the module and what is below it: a layer's eval leaves the MLP and the other layer alone.
    model.train()
    model.layers[1].eval()
    assert [m.training for m in modules] == [True, True, True, True, True, False, False]  # depth first
    # The flag changes nothing else: parameters, names, config, outputs.
    assert "training" not in model.get_config() and model.num_parameters() == 13
    before = model([1.0, -2.0]).data
    model.eval()
    assert model([1.0, -2.0]).data == before
    with pytest.raises(TypeError, match=r"MLP\.train\(\): mode must be True or False, got 'no'"):
        model.train("no")  # type: ignore[arg-type]


def test_train_and_eval_on_a_module_without_constructor_call_chain() -> None:
    class Bare(nn.Module):
        def __init__(self) -> None:  # does not call super().__init__(), as micrograd's modules don't
            self.child = nn.Neuron(1, seed=0)

    bare = Bare()
    assert bare.training and bare.child.training
    assert bare.eval().training is False and bare.child.training is False
