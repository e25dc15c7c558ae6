"""Model files that cannot hang or crash the process (issue 16): a fuzzer over saved files, and each reproducer.

Every mutated file either loads as exactly the model it describes (read back
by the standard library's json as a reference), or raises ``nn.ModelFileError``
naming the file, within a per-case time limit, leaving the model it was
loaded into unchanged.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import re
import signal
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from chainrule import nn
from chainrule.autograd import Value
from chainrule.nn.module import MAX_NESTING, decode_float

# A load of any of these small files takes milliseconds; the limit only has to
# catch a load that builds a huge model or parses something quadratic (those
# took more than 60 s before issue 16), with room for a busy machine.
TIME_LIMIT = 5.0


class TookTooLong(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in the loader swallows it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise TookTooLong(f"still loading after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def _with_special_values(model: nn.Module) -> nn.Module:
    """Give the parameters distinct values, among them -0.0, inf, -inf, nan and a NaN with a payload."""
    special = [-0.0, math.inf, -math.inf, math.nan, struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]]
    state = {name: (special[i] if i < len(special) else 0.125 * i - 1.0) for i, (name, _) in
             enumerate(model.named_parameters())}
    model.load_state_dict(state)
    return model


BASES: dict[str, Callable[[], nn.Module]] = {
    "mlp": lambda: nn.MLP(2, [3, 1], activation="tanh", seed=0),
    "layer": lambda: nn.Layer(2, 2, activation="sigmoid", seed=0),
    "neuron": lambda: nn.Neuron(3, activation="relu", seed=0),
}
BASE_TEXT = {name: json.dumps(_with_special_values(make()).to_json(), indent=1) for name, make in BASES.items()}


def _state_bits(model: nn.Module) -> dict[str, int]:
    return {name: bits(x) for name, x in model.state_dict().items()}


def _expected(text: bytes) -> tuple[str, dict[str, Any], dict[str, int]]:
    """What a file that loaded must hold, read by the standard library: (class, config, parameter bits)."""
    doc = json.loads(text)
    return doc["class"], doc["config"], {k: bits(decode_float(v, k)) for k, v in doc["parameters"].items()}


def check_file(base: str, text: bytes) -> str:
    """Load ``text`` both ways (nn.load and into a model) under the time limit; return "loaded" or "refused"."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        path.write_bytes(text)
        target = BASES[base]()
        before = _state_bits(target)
        start = time.perf_counter()
        with time_limit(TIME_LIMIT):
            try:
                loaded = nn.load(path)
            except nn.ModelFileError as e:
                assert e.path == str(path) and str(e).startswith(f"{path}: ")
                loaded = None
            try:
                target.load(path)
            except nn.ModelFileError as e:
                assert e.path == str(path)
                assert _state_bits(target) == before, "a failed load changed the model"
                into = False
            else:
                into = True
        assert time.perf_counter() - start < TIME_LIMIT
    if into:
        cls, config, params = _expected(text)
        assert (type(target).__qualname__, target.get_config()) == (cls, config)
        assert _state_bits(target) == params
    if loaded is None:
        return "refused"
    cls, config, params = _expected(text)
    assert type(loaded).__qualname__ == cls
    assert loaded.get_config() == config
    assert _state_bits(loaded) == params
    return "loaded"


# ----------------------------------------------------------------------------
# Mutations
# ----------------------------------------------------------------------------


class Raw:
    """A JSON number written as given (json.dumps refuses ints past 4300 digits)."""

    def __init__(self, text: str) -> None:
        self.text = text


def dumps(doc: Any) -> bytes:
    raws: list[str] = []

    def default(obj: object) -> str:
        assert isinstance(obj, Raw)
        raws.append(obj.text)
        return f"\x00RAW{len(raws) - 1}\x00"

    text = json.dumps(doc, default=default, indent=1)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00RAW{i}\x00"), raw)
    return text.encode()


big_ints = st.sampled_from([0, -1, 3000, 10**6, 10**7, 10**18, 2**63, 10**308, 10**309]) | st.builds(
    lambda digits: Raw("9" * digits), st.sampled_from([399, 400, 401, 4301, 100_000])
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | big_ints
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e400"), Raw("-1e999"), Raw("1e-400")])
    | st.text(max_size=8)
    | st.sampled_from(["nan", "inf", "-inf", "nan:0x7ff8000000000001", "nan:0x3ff0000000000000", "relu", "linear",
                      "custom:f", "MLP", "Layer", "chainrule.nn.layers", "chainrule.nn/1"])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _paths(value, (*prefix, i))


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


bases = st.sampled_from(sorted(BASES))


@st.composite
def byte_mutations(draw: st.DrawFn) -> tuple[str, bytes]:
    base = draw(bases)
    data = bytearray(BASE_TEXT[base].encode())
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete"]))
        if kind == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255) | st.sampled_from(b"0123456789 \n.-e"))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4) | st.sampled_from(
                [b"[", b"{", b"]", b"}", b'"', b"\\", b",", b":", b"-", b"0", b"7", b"e9", b" ", b"\n", b"\xff"]))
        else:
            del data[pos : pos + draw(st.integers(1, 8))]
    return base, bytes(data)


# What a parameter may hold: any float, written as save() writes it or as any JSON number.
parameter_values = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(10**20), 10**20)
    | st.sampled_from(["nan", "inf", "-inf", "nan:0x7ff0000000000001", "nan:0xfff8000000000000", Raw("-0"),
                       Raw("1E5"), Raw("2.5e-324"), Raw("1.7976931348623157e308")])
)


@st.composite
def value_mutations(draw: st.DrawFn) -> tuple[str, bytes]:
    base = draw(bases)
    doc = json.loads(BASE_TEXT[base])
    for _ in range(draw(st.integers(1, 3))):
        params = doc.get("parameters") if isinstance(doc, dict) else None
        if isinstance(params, dict) and params and draw(st.booleans()):  # a parameter's value: most of these load
            params[draw(st.sampled_from(sorted(doc["parameters"])))] = draw(parameter_values | json_values)
        else:
            doc = _set(doc, draw(st.sampled_from(list(_paths(doc)))), draw(json_values))
    return base, dumps(doc)


@st.composite
def structure_mutations(draw: st.DrawFn) -> tuple[str, bytes]:
    base = draw(bases)
    doc = json.loads(BASE_TEXT[base])
    text: bytes | None = None
    for _ in range(draw(st.integers(1, 3))):
        objects = [p for p in _paths(doc) if isinstance(_get(doc, p), dict)]
        path = draw(st.sampled_from(objects))
        obj = _get(doc, path)
        kind = draw(st.sampled_from(["delete", "add", "wrap_list", "wrap_object", "rename", "duplicate", "swap"]))
        keys = list(obj)
        if kind == "delete" and keys:
            del obj[draw(st.sampled_from(keys))]
        elif kind == "add":
            obj[draw(st.text(max_size=6) | st.sampled_from(keys or ["x"]))] = draw(json_values)
        elif kind in ("wrap_list", "wrap_object") and keys:
            key = draw(st.sampled_from(keys))
            obj[key] = [obj[key]] if kind == "wrap_list" else {"value": obj[key]}
        elif kind == "rename" and keys:
            key = draw(st.sampled_from(keys))
            obj[key + draw(st.sampled_from(["x", ".0", " "]))] = obj.pop(key)
        elif kind == "swap" and "config" in doc and "parameters" in doc:
            doc["config"], doc["parameters"] = doc["parameters"], doc["config"]
        elif kind == "duplicate" and keys:
            # A key written twice in one object (json.dumps cannot do it; edit the text).
            key = draw(st.sampled_from(keys))
            written = dumps(doc)
            needle = json.dumps(key).encode() + b":"
            at = written.find(needle)
            text = written[:at] + needle + b" 1,\n " + written[at:]
            return base, text
    return base, dumps(doc)


@st.composite
def nesting_mutations(draw: st.DrawFn) -> tuple[str, bytes]:
    base = draw(bases)
    depth = draw(st.integers(1, 12) | st.sampled_from([100, 999, 1000, 5000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ("[{\"k\":", "}]")]))
    if draw(st.booleans()):
        doc = json.loads(BASE_TEXT[base])
        path = draw(st.sampled_from(list(_paths(doc))))
        inner = json.dumps(_get(doc, path))
        text = dumps(_set(doc, path, Raw(opener * depth + inner + closer * depth)))
    else:  # anywhere in the text, balanced or not
        data = BASE_TEXT[base]
        pos = draw(st.integers(0, len(data)))
        text = (data[:pos] + opener * depth + (closer * depth if draw(st.booleans()) else "") + data[pos:]).encode()
    return base, text


@st.composite
def size_mutations(draw: st.DrawFn) -> tuple[str, bytes]:
    base = draw(bases)
    doc = json.loads(BASE_TEXT[base])
    config = doc["config"]
    sizes = st.integers(-2, 12) | big_ints
    for key in draw(st.lists(st.sampled_from([k for k in ("nin", "nout", "nouts") if k in config]), min_size=1)):
        if key == "nouts":
            config[key] = draw(st.lists(sizes, max_size=4) | st.sampled_from(
                [[1000000], [3000, 3000, 1], [10**18], [1] * 10_000, [Raw("1" + "0" * 400)]]))
        else:
            config[key] = draw(sizes)
    if draw(st.booleans()):  # the parameters as many as the new config implies, so only the config can refuse it
        model_class = type(BASES[base]())
        try:
            count = model_class.check_config(json.loads(dumps(config)))
        except (TypeError, ValueError):
            count = None
        if count is not None and count <= 5000:
            doc["parameters"] = {f"p{i}": 0.5 for i in range(count)}
    return base, dumps(doc)


def test_unmutated_and_reformatted_files_load_equal_to_the_original() -> None:
    for base, text in BASE_TEXT.items():
        doc = json.loads(text)
        original = _state_bits(_with_special_values(BASES[base]()))
        reordered = {key: doc[key] for key in reversed(list(doc))}
        for variant in (text, json.dumps(doc), json.dumps(reordered, indent=4), " \n" + text + "\n\n"):
            assert check_file(base, variant.encode()) == "loaded"
            assert _state_bits(nn.load(_write(variant))) == original


def _write(text: str) -> Path:
    path = Path(tempfile.mkdtemp()) / "m.json"
    path.write_text(text)
    return path


@given(byte_mutations())
@example(("mlp", BASE_TEXT["mlp"].replace('"nouts": [', '"nouts": [ 3,', 1).encode()))
def test_fuzz_bytes(case: tuple[str, bytes]) -> None:
    event(check_file(*case))


@given(value_mutations())
def test_fuzz_json_values(case: tuple[str, bytes]) -> None:
    event(check_file(*case))


@given(structure_mutations())
def test_fuzz_structure(case: tuple[str, bytes]) -> None:
    event(check_file(*case))


@given(nesting_mutations())
@example(("mlp", BASE_TEXT["mlp"].encode() + b"[" * 100_000))
def test_fuzz_nesting(case: tuple[str, bytes]) -> None:
    result = check_file(*case)
    event(result)
    assert result == "refused" or _nesting_of(case[1]) <= MAX_NESTING


def _nesting_of(text: bytes) -> int:
    deepest = depth = 0
    for c in json.dumps(json.loads(text)):  # small files only: the ones that loaded
        depth += c in "[{"
        depth -= c in "]}"
        deepest = max(deepest, depth)
    return deepest


@given(size_mutations())
def test_fuzz_sizes(case: tuple[str, bytes]) -> None:
    event(check_file(*case))


# ----------------------------------------------------------------------------
# The reproducers of issue 16, one by one
# ----------------------------------------------------------------------------


def _mlp_file(tmp_path: Path, **config: Any) -> Path:
    path = tmp_path / "m.json"
    nn.MLP(2, [2, 1], seed=0).save(path)
    doc = json.loads(path.read_text())
    doc["config"].update(config)
    path.write_bytes(dumps(doc))
    return path


def _refused(path: Path) -> nn.ModelFileError:
    start = time.perf_counter()
    with time_limit(TIME_LIMIT), pytest.raises(nn.ModelFileError) as info:
        nn.load(path)
    assert time.perf_counter() - start < 1.0  # nothing is built: milliseconds
    assert info.value.path == str(path)
    return info.value


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"nouts": [1000000]}, "makes a MLP with 3,000,000 parameters, but the file holds 9"),
        ({"nouts": [3000, 3000, 1]}, "makes a MLP with 9,015,001 parameters, but the file holds 9"),
        ({"nin": 10**7}, "makes a MLP with 20,000,005 parameters, but the file holds 9"),
        ({"nouts": [10**18]}, "3,000,000,000,000,000,000 parameters are too many to build"),
    ],
)
def test_huge_configurations_are_refused_before_building(tmp_path: Path, config: dict[str, Any], reason: str) -> None:
    path = _mlp_file(tmp_path, **config)
    assert path.stat().st_size < 1000
    error = _refused(path)
    assert error.entry == "config" and reason in error.reason


@pytest.mark.parametrize("where", ["end", "start", "config", "parameter"])
def test_deep_nesting_is_a_model_file_error(tmp_path: Path, where: str) -> None:
    deep = "[" * 100_000
    text = BASE_TEXT["mlp"]
    text = {
        "end": text + deep,
        "start": deep + text,
        "config": text.replace('"nouts": [', '"nouts": [' + deep, 1),
        "parameter": text.replace('"layers.0.neurons.0.w.0": ', '"layers.0.neurons.0.w.0": ' + deep, 1),
    }[where]
    path = _write(text)
    error = _refused(path)
    assert error.entry.startswith("line ") and f"nested more than {MAX_NESTING} levels deep" in error.reason
    column = int(error.entry.rsplit(" ", 1)[1])
    line = int(error.entry.split()[1])
    assert text.splitlines()[line - 1][column - 1] == "["


def test_nesting_inside_strings_does_not_count() -> None:
    # Brackets, escaped quotes and backslashes inside a string: the file is refused for its activation, not its depth.
    path = _write(BASE_TEXT["neuron"].replace('"relu"', json.dumps("[" * 50 + '"{' * 50 + "\\"), 1))
    with pytest.raises(nn.ModelFileError, match="unknown activation"):
        nn.load(path)


@pytest.mark.parametrize(("config", "entry"), [({"nin": 10**400}, "config.nin"), ({"nouts": [1, 10**400]},
                                                                                    "config.nouts[1]")])
def test_huge_integers_in_a_file(tmp_path: Path, config: dict[str, Any], entry: str) -> None:
    error = _refused(_mlp_file(tmp_path, **{k: (Raw(str(v)) if isinstance(v, int) else
                                                [Raw(str(x)) for x in v]) for k, v in config.items()}))
    assert error.entry == entry and error.reason == "a number written with 401 characters (at most 400 are allowed)"


@pytest.mark.parametrize(
    ("build", "who"),
    [
        (lambda: nn.MLP(10**400, [1]), "MLP()"),
        (lambda: nn.MLP(2, [10**400]), "MLP()"),
        (lambda: nn.Layer(10**400, 1), "Layer()"),
        (lambda: nn.Neuron(10**400), "Neuron()"),
        (lambda: nn.MLP(2, [10**7, 10**7]), "MLP()"),
        (lambda: nn.MLP(2, range(1, 10**18)), "MLP()"),
    ],
)
def test_constructors_refuse_sizes_too_large_to_build(build: Callable[[], Any], who: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"^{re.escape(who)}: .* parameters.* are too many to build: at about "
                       r"\d+ bytes each they would take (about 10\^\d+ bytes|[\d.]+ [kMGTPE]B), more than this "
                       r"machine's [\d.]+ [GT]B of memory$"):
        build()
    assert time.perf_counter() - start < 1.0


def test_initialisers_refuse_fans_too_large_for_a_float() -> None:
    import random

    for init in (nn.init.he_uniform, nn.init.xavier_normal, nn.init.pytorch_linear):
        with pytest.raises(ValueError, match=r"fan_in must be at most 1\.798e\+308, got an int of 401 digits"):
            init(10**400, 1, rng=random.Random(0))


@pytest.mark.parametrize("make", [nn.make_moons, nn.make_circles, nn.make_spirals, nn.make_blobs])
def test_data_generators_refuse_sizes_too_large_to_build(make: Callable[..., Any]) -> None:
    name = make.__name__
    with pytest.raises(ValueError, match=rf"^{name}\(\): 1,000,000,000,000 samples are too many to build: at about "
                       r"\d+ bytes each they would take 100.0 TB, more than this machine's"):
        make(10**12)
    with pytest.raises(ValueError, match="too many to build"):
        make(10**400)


def test_make_blobs_checks_the_count_before_drawing_centres() -> None:
    with pytest.raises(ValueError, match="n_samples must be >= 1000000000000, got 100"):
        nn.make_blobs(100, centers=10**12)


def test_fit_stops_at_the_first_nonfinite_loss() -> None:
    X, y = nn.make_moons(40, noise=0.1, seed=0)
    model = nn.MLP(2, [8, 1], seed=0)
    seen: list[list[float]] = []

    def loss(outputs: list[Value], targets: list[float]) -> Value:
        seen.append([p.data for p in model.parameters()])  # the parameters each step's loss is computed with
        return nn.functional.mse_loss(outputs, targets)

    opt = nn.optim.SGD(model.parameters(), lr=50.0)
    with pytest.warns(RuntimeWarning) as warned:
        history = nn.fit(model, X, y, loss=loss, optimizer=opt, epochs=50, batch_size=10, seed=0, progress=False,
                         track_grads=True)
    assert len(warned) == 1
    epoch, batch = history.nonfinite[0]
    assert history.nonfinite == [(epoch, batch)] and 1 <= epoch < 50 and len(seen) == 4 * (epoch - 1) + batch
    message = str(warned[0].message)
    assert message == history.stopped
    assert f"at epoch {epoch} of 50, batch {batch} of 4" in message
    assert "learning rate (lr=50) is too large: try a smaller one" in message
    assert "stop_on_nonfinite=False" in message
    # Every epoch so far is recorded, the last one up to the step that stopped it.
    assert len(history.loss) == len(history.accuracy) == len(history.lr) == len(history.grad_stats) == epoch
    assert all(math.isfinite(x) for x in history.loss[:-1]) and not math.isfinite(history.loss[-1])
    # Stopped before that step's update: the parameters are those that gave the non-finite loss.
    assert [p.data for p in model.parameters()] == seen[-1] != seen[-2]
    # Without stopping, the same run (same seed) meets the same step and goes on.
    twin = nn.MLP(2, [8, 1], seed=0)
    twin_history = nn.fit(twin, X, y, loss=nn.functional.mse_loss, optimizer=nn.optim.SGD(twin.parameters(), lr=50.0),
                          epochs=epoch, batch_size=10, seed=0, progress=False, stop_on_nonfinite=False)
    assert twin_history.stopped is None and twin_history.nonfinite[0] == (epoch, batch)


def test_the_progress_bar_shows_the_step_that_stopped_training(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(nn.training, "_PROGRESS_DELAY", 0.0)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    X, y = nn.make_moons(40, noise=0.1, seed=0)
    model = nn.MLP(2, [8, 1], seed=0)
    with pytest.warns(RuntimeWarning):
        history = nn.fit(model, X, y, loss=nn.functional.mse_loss, optimizer=nn.optim.SGD(model.parameters(), lr=50.0),
                         epochs=50, batch_size=10, seed=0)
    assert history.stopped
    epoch, batch = history.nonfinite[0]
    step = 4 * (epoch - 1) + batch
    last = terminal.getvalue().split("\r")[-1]
    assert re.match(rf"epoch {epoch}/50: +\d+%\|.*\| {step}/200 \[.*loss (inf|nan)", last), last


def test_fit_keeps_going_when_asked() -> None:
    X, y = nn.make_moons(40, noise=0.1, seed=0)
    model = nn.MLP(2, [8, 1], seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=50.0)
    history = nn.fit(model, X, y, loss=nn.functional.mse_loss, optimizer=opt, epochs=25, batch_size=10, seed=0,
                     progress=False, stop_on_nonfinite=False)
    assert history.stopped is None and len(history.loss) == 25
    assert history.nonfinite and history.nonfinite == sorted(history.nonfinite)
    assert not math.isfinite(history.loss[-1])


def test_fit_with_a_finite_loss_records_nothing() -> None:
    X, y = nn.make_moons(20, noise=0.1, seed=0)
    model = nn.MLP(2, [4, 1], seed=0)
    history = nn.fit(model, X, y, loss=nn.functional.mse_loss, optimizer=nn.optim.SGD(model.parameters(), lr=0.1),
                     epochs=3, progress=False)
    assert history.stopped is None and history.nonfinite == []
    with pytest.raises(TypeError, match="stop_on_nonfinite must be True or False"):
        nn.fit(model, X, y, loss=nn.functional.mse_loss, optimizer=nn.optim.SGD(model.parameters(), lr=0.1),
               epochs=1, progress=False, stop_on_nonfinite=1)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------
# The error class, and other Module subclasses
# ----------------------------------------------------------------------------


def test_model_file_error_is_a_value_error_that_pickles() -> None:
    error = nn.ModelFileError("m.json", "config.nin", "must be an int")
    assert isinstance(error, ValueError)
    assert str(error) == "m.json: config.nin: must be an int"
    again = pickle.loads(pickle.dumps(error))
    assert (again.path, again.entry, again.reason, str(again)) == ("m.json", "config.nin", "must be an int", str(error))
    assert str(nn.ModelFileError("m.json", "", "not UTF-8")) == "m.json: not UTF-8"


class Scaled(nn.Module):
    """A module with a nested config and its own check_config."""

    def __init__(self, n: int, spec: dict[str, Any]) -> None:
        self.n = n
        self._spec = spec
        self.ws = [Value(float(i)) for i in range(n)]

    def get_config(self) -> dict[str, Any]:
        return {"n": self.n, "spec": self._spec}

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> int:
        if not isinstance(config.get("n"), int) or config["n"] < 1:
            raise ValueError("n must be a positive int")
        return int(config["n"])


class Unchecked(nn.Module):
    """A module without check_config, whose constructor raises KeyError on a bad config."""

    def __init__(self, table: dict[str, int]) -> None:
        self.table = table
        self.w = Value(float(table["size"]))

    def get_config(self) -> dict[str, Any]:
        return {"table": self.table}


def _nest(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_other_module_subclasses(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    # The document and the config take 2 levels; a config value may nest MAX_NESTING - 2 more.
    deepest = Scaled(3, {"x": _nest(MAX_NESTING - 3)})
    deepest.save(path)
    assert nn.load(path).get_config() == deepest.get_config()
    with pytest.raises(TypeError, match=f"nests lists and dicts more than {MAX_NESTING - 1} levels deep"):
        Scaled(3, {"x": _nest(MAX_NESTING - 2)}).save(path)
    looped: dict[str, Any] = {}
    looped["self"] = looped
    with pytest.raises(TypeError, match="levels deep"):
        Scaled(1, looped).save(path)
    # check_config says how many parameters: more than the file holds is refused before building.
    doc = deepest.to_json()
    doc["config"]["n"] = 10**12
    path.write_text(json.dumps(doc))
    error = _refused(path)
    assert error.reason.endswith("makes a Scaled with 1,000,000,000,000 parameters, but the file holds 3")
    doc["config"]["n"] = 0
    path.write_text(json.dumps(doc))
    assert _refused(path).reason == "does not build a Scaled: n must be a positive int"
    # Without check_config the model is built first; whatever its constructor raises becomes a ModelFileError.
    Unchecked({"size": 2}).save(path)
    assert nn.load(path).state_dict() == {"w": 2.0}
    doc = json.loads(path.read_text())
    doc["config"]["table"] = {}
    path.write_text(json.dumps(doc))
    with pytest.raises(nn.ModelFileError, match="config: does not build a Unchecked: 'size'") as info:
        nn.load(path)
    assert isinstance(info.value.__cause__, KeyError)


def test_a_pipe_is_read_like_a_file(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    text = BASE_TEXT["layer"].encode()
    writer = threading.Thread(target=lambda: fifo.write_bytes(text))
    writer.start()
    with time_limit(TIME_LIMIT):
        loaded = nn.load(fifo)
    writer.join()
    assert loaded.get_config() == json.loads(text)["config"]

