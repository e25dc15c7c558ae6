"""``Module``: parameter discovery, naming, state dicts and JSON save/load.

A module's parameters are never listed by hand: they are the ``Value``s found
in its public attributes (names not starting with ``_``), directly or inside
child modules and lists, tuples and dicts of them, in the order the attributes
were assigned. When the outermost constructor returns, every parameter is
marked ``role = autograd.PARAMETER``, labelled with its dotted name from that
module (``layers.0.neurons.3.w.1``, the key of ``named_parameters()`` and
``state_dict()``) and given ``scope`` = the path of the module that owns it
(``layers.0.neurons.3``; None for the root's own parameters), so diagrams can
draw it inside its module. Attributes starting with ``_`` are private and
never searched (keep a fixed, non-trained Value there).

Calling a module runs ``forward`` inside ``autograd.scope(<its name in its
parent>)``, so the nodes a forward pass makes carry the module path.

Files are JSON (no pickle) written by :meth:`Module.save`::

    {"format": "chainrule.nn/1", "class": "MLP", "module": "chainrule.nn.layers",
     "config": {"nin": 2, "nouts": [16, 16, 1], ...},
     "parameters": {"layers.0.neurons.0.w.0": 0.123, ..., "x": "nan"}}

``config`` holds the constructor arguments (:meth:`Module.get_config`), so
``nn.load(path)`` or ``MLP.load(path)`` rebuild the model. Finite numbers are
JSON numbers (Python writes the shortest repr that reads back to the same
float, so the round trip is exact, -0.0 included); non-finite ones are
strings: ``"inf"``, ``"-inf"``, ``"nan"`` (the usual quiet NaN) or
``"nan:0x7ff8000000000001"`` (any other NaN, with its 64 bits), so every float
comes back bit for bit. A class is only ever looked up among the Module
subclasses already defined: a file never makes chainrule import anything.

Files are treated as untrusted: loading checks the whole file before it
builds anything (nesting at most :data:`MAX_NESTING` levels, every number,
the config by the class's :meth:`Module.check_config`, and the parameter
count that config implies against the parameters the file holds), so it
takes time and memory in proportion to the file's size, and every problem
is one :class:`ModelFileError` (a ``ValueError``) naming the file and the
entry. A failed load leaves the model unchanged.
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import re
import stat
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

from chainrule.autograd import PARAMETER, Value
from chainrule.autograd.modes import enter_scope, exit_scope

__all__ = ["FORMAT", "MAX_NESTING", "IncompatibleKeys", "ModelFileError", "Module", "load"]

FORMAT = "chainrule.nn/1"

# Every Module subclass, by (module, qualname): the only classes a file may name.
_REGISTRY: dict[tuple[str, str], type[Module]] = {}

_QUIET_NAN_BITS = 0x7FF8000000000000

_M = TypeVar("_M", bound="Module")


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` skipped (PyTorch's return value)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _members(obj: object, prefix: str) -> Iterator[tuple[str, Value | Module]]:
    """Yield (dotted name, Value or Module) for the Values and Modules inside a container."""
    if isinstance(obj, (Value, Module)):
        yield prefix, obj
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            yield from _members(item, _join(prefix, str(i)))
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from _members(item, _join(prefix, str(key)))


def _walk(obj: object, path: str | None, seen: set[int], found: list[tuple[str, Value]]) -> None:
    """Collect the parameters below obj depth first in attribute order, so a child's
    parameters come where the child was assigned; path None skips building names
    (``parameters()`` runs every step, names cost)."""
    if isinstance(obj, Value):
        if id(obj) not in seen:
            seen.add(id(obj))
            found.append((path or "", obj))
    elif isinstance(obj, Module):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        for attr, child in vars(obj).items():
            if not attr.startswith("_"):
                _walk(child, None if path is None else _join(path, attr), seen, found)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            _walk(item, None if path is None else _join(path, str(i)), seen, found)
    elif isinstance(obj, dict):
        for key, item in obj.items():
            _walk(item, None if path is None else _join(path, str(key)), seen, found)


def _list_names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _float_bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def encode_float(x: float) -> float | str:
    """Return x as a JSON-ready number, or a string for inf, -inf and NaN (with its bits)."""
    if math.isfinite(x):
        return x
    if x != x:
        bits = _float_bits(x)
        return "nan" if bits == _QUIET_NAN_BITS else f"nan:{bits:#018x}"
    return "inf" if x > 0 else "-inf"


def _read_float(raw: object) -> float:
    """Return the float a parameter entry holds; ValueError saying what is wrong otherwise."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"expected a number, got {json.dumps(raw)}")
    if isinstance(raw, (int, float)):
        try:
            return float(raw)
        except OverflowError:
            raise ValueError(f"the integer {raw} is too large for a float") from None
    if isinstance(raw, str):
        if raw in ("inf", "-inf", "nan"):
            return float(raw)
        if raw.startswith("nan:0x") and len(raw) == 22:
            try:
                bits = int(raw[6:], 16)
            except ValueError:
                pass
            else:
                x = float(struct.unpack("<d", struct.pack("<Q", bits))[0])
                if x != x:
                    return x
        raise ValueError(
            f"malformed value {_short(raw)}; expected a JSON number, 'inf', '-inf', 'nan' "
            "or 'nan:0x' followed by the 16 hex digits of a NaN"
        )
    raise ValueError(f"expected a number, got {_json_type(raw)} {_short(raw)}")


def decode_float(raw: object, name: str) -> float:
    """Read one parameter written by :func:`encode_float` (or any JSON number).

    Raises:
        ValueError: ``raw`` is no such value; the message names the entry.
    """
    try:
        return _read_float(raw)
    except ValueError as e:
        raise ValueError(f"parameter {name!r}: {e}") from None


class _ClassOrInstanceMethod:
    """A method that does one thing when called on the class and another on an instance."""

    def __init__(self, on_class: Callable[..., Any], on_instance: Callable[..., Any], doc: str) -> None:
        self.on_class = on_class
        self.on_instance = on_instance
        self.__doc__ = doc

    def __get__(self, obj: object, objtype: type | None = None) -> Callable[..., Any]:
        if obj is None:
            bound = functools.partial(self.on_class, objtype)
        else:
            bound = functools.partial(self.on_instance, obj)
        functools.update_wrapper(bound, self.on_class if obj is None else self.on_instance)
        bound.__doc__ = self.__doc__
        return bound


class Module:
    """Base class of models: parameters are discovered from attributes.

    Subclasses assign their parameters (``Value``s) and child modules to
    public attributes in ``__init__`` and define ``forward``. To be saved
    and rebuilt from a file they also define :meth:`get_config`.

    Example::

        class Affine(Module):
            def __init__(self, w: float, b: float) -> None:
                self.w = Value(w)
                self.b = Value(b)

            def forward(self, x: Value) -> Value:
                return self.w * x + self.b

            def get_config(self) -> dict:
                return {"w": self.w.data, "b": self.b.data}
    """

    # This module's path in its parent ("layers.0"); set by the parent, None for a root.
    _scope_name: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[(cls.__module__, cls.__qualname__)] = cls
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def __init__(self: Module, *args: Any, **kw: Any) -> None:
            init(self, *args, **kw)
            # Runs after each constructor in a super() chain; the outermost one
            # returns last, so the names are those seen from the finished model.
            self._name_parameters()

        cls.__init__ = __init__  # type: ignore[method-assign,assignment]

    # -- discovery ----------------------------------------------------------

    def _direct_members(self) -> Iterator[tuple[str, Value | Module]]:
        for attr, obj in vars(self).items():
            if not attr.startswith("_"):
                yield from _members(obj, attr)

    def _prefixed_members(self, prefix: str) -> Iterator[tuple[str, Value | Module]]:
        for name, obj in self._direct_members():
            yield _join(prefix, name), obj

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield (name, module) for the direct child modules (``layers.0``, ...), in declaration order."""
        seen: set[int] = set()
        for name, obj in self._direct_members():
            if isinstance(obj, Module) and id(obj) not in seen:
                seen.add(id(obj))
                yield name, obj

    def children(self) -> Iterator[Module]:
        """Yield the direct child modules."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield (dotted path, module) for this module ("" or ``prefix``) and every module below it."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            kids = [(_join(path, name), child) for name, child in module.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        """Yield this module and every module below it."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """Yield (dotted name, parameter) in declaration order, each shared parameter once.

        Args:
            prefix: prepended to every name.
        """
        found: list[tuple[str, Value]] = []
        _walk(self, prefix, set(), found)
        return iter(found)

    def parameters(self) -> list[Value]:
        """Return the parameters in declaration order (for an MLP: layer, neuron, weights then bias)."""
        found: list[tuple[str, Value]] = []
        _walk(self, None, set(), found)
        return [p for _, p in found]

    def num_parameters(self) -> int:
        """Return the number of parameters."""
        return sum(1 for _ in self.named_parameters())

    def _name_parameters(self) -> None:
        """Mark, label and scope every parameter; tell each child its name for forward scopes."""
        seen: set[int] = set()
        for path, module in self.named_modules():
            for name, obj in module._direct_members():
                if isinstance(obj, Value) and id(obj) not in seen:
                    seen.add(id(obj))
                    obj.role = PARAMETER
                    obj.label = _join(path, name)
                    obj.scope = path or None
            for name, child in module.named_children():
                child._scope_name = name

    # Training mode, PyTorch's flag: set by train() and eval() on a module and every module below it.
    # Nothing in chainrule depends on it yet; a module whose forward differs (dropout) would read it.
    training: bool = True

    def train(self: _M, mode: bool = True) -> _M:
        """Set training mode (``mode=True``) or evaluation mode on this module and every module below it.

        As PyTorch's ``Module.train``: it sets ``.training`` and changes
        nothing else (no chainrule module behaves differently yet).

        Args:
            mode: True for training, False for evaluation.

        Returns:
            The module itself, so calls chain: ``model.train().zero_grad()``.

        Raises:
            TypeError: ``mode`` is not a bool.
        """
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train(): mode must be True or False, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self: _M) -> _M:
        """Set evaluation mode: the same as ``train(False)``; returns the module."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to 0.0."""
        for p in self.parameters():
            p.grad = 0.0

    # -- calling --------------------------------------------------------------

    def _forward_unimplemented(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the module's output; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # A Callable attribute, as in PyTorch, so subclasses may narrow the signature.
    forward: Callable[..., Any] = _forward_unimplemented

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run :meth:`forward` with the nodes it makes tagged by this module's path."""
        name = self._scope_name
        if name is None:
            return self.forward(*args, **kwargs)
        token = enter_scope(name)  # `with scope(name)` costs three calls more, once per module call
        try:
            return self.forward(*args, **kwargs)
        finally:
            exit_scope(token)

    # -- display --------------------------------------------------------------

    def extra_repr(self) -> str:
        """Return the text shown between the parentheses of the repr (sizes, activation)."""
        return ""

    # Whether the repr lists the child modules (a Layer summarises its neurons instead).
    _repr_children = True

    def __repr__(self) -> str:
        n = self.num_parameters()
        extra = self.extra_repr()
        head = f"{type(self).__name__}({extra}{'; ' if extra else ''}{n} parameter{'' if n == 1 else 's'})"
        if not self._repr_children:
            return head
        lines = [head]
        for name, child in self.named_children():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines)

    # -- state ----------------------------------------------------------------

    def state_dict(self) -> dict[str, float]:
        """Return {dotted name: float} for every parameter, in declaration order."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float], *, strict: bool = True) -> IncompatibleKeys:
        """Copy parameter values from ``state``; all or nothing.

        Every entry is checked before any parameter is assigned, so on error
        the model is unchanged.

        Args:
            state: {dotted name: real number}, as from :meth:`state_dict`.
            strict: when True, a missing or unexpected name is an error; when
                False they are skipped and returned.

        Returns:
            The (missing_keys, unexpected_keys) names.

        Raises:
            TypeError: ``state`` is not a mapping, a name is not a str, or a
                value is not a real number.
            ValueError: missing or unexpected names (strict mode).
        """
        who = type(self).__name__
        if not isinstance(state, Mapping):
            raise TypeError(f"{who}.load_state_dict(): expected a mapping of names to numbers, "
                            f"got {type(state).__name__}")
        for key in state:
            if not isinstance(key, str):
                raise TypeError(f"{who}.load_state_dict(): names must be str, got {type(key).__name__} {key!r}")
        params = dict(self.named_parameters())
        missing = [name for name in params if name not in state]
        unexpected = [name for name in state if name not in params]
        if strict and (missing or unexpected):
            problems = []
            if missing:
                problems.append(f"missing {len(missing)} entr{'y' if len(missing) == 1 else 'ies'}: "
                                f"{_list_names(missing)}")
            if unexpected:
                problems.append(f"unexpected {len(unexpected)} entr{'y' if len(unexpected) == 1 else 'ies'}: "
                                f"{_list_names(unexpected)}")
            raise ValueError(f"{who}.load_state_dict(): {'; '.join(problems)} (a different architecture?)")
        values: list[tuple[Value, float]] = []
        for name, p in params.items():
            if name not in state:
                continue
            raw = state[name]
            if isinstance(raw, bool) or not isinstance(raw, numbers.Real):
                raise TypeError(f"{who}.load_state_dict(): entry {name!r} must be a real number, "
                                f"got {type(raw).__name__} {raw!r}")
            values.append((p, float(raw)))
        for p, x in values:
            p.data = x
        return IncompatibleKeys(missing, unexpected)

    # -- files ----------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (JSON-ready) that rebuild this architecture.

        Subclasses that want :meth:`save` and ``load`` define it; the
        parameters' values are saved separately, so initialisers and seeds
        are not part of the config. Define :meth:`check_config` with it.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not define get_config(), so its architecture cannot be recorded; "
            "define it, or save state_dict() yourself"
        )

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> int | None:
        """Check a config read from a file without building anything; return the parameter count it implies.

        :func:`load` calls it before it builds a model from a file, and
        refuses the file when the count differs from the number of
        parameters the file holds, so a small file cannot make it build a
        huge model. Subclasses that define :meth:`get_config` should define
        it too. The default returns None (unknown): ``load`` then has to
        build the model before it can compare, so a file can make it build
        whatever the class's constructor accepts.

        Args:
            config: the file's ``config`` entry (plain JSON values).

        Returns:
            The number of parameters of a model built from ``config``, or None if unknown.

        Raises:
            TypeError, ValueError: a wrong, missing or unexpected entry (named in the message).
        """
        return None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready document :meth:`save` writes (architecture and every parameter).

        Raises:
            TypeError: ``get_config()`` is not JSON-ready, or nests deeper than a model file allows.
        """
        config = self.get_config()
        who = f"{type(self).__name__}.get_config()"
        if _nesting(config, MAX_NESTING) >= MAX_NESTING:
            raise TypeError(f"{who} nests lists and dicts more than {MAX_NESTING - 1} levels deep, "
                            f"which a model file does not allow (it nests at most {MAX_NESTING} levels)")
        try:
            json.dumps(config, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{who} is not JSON-ready: {e}") from None
        cls = type(self)
        return {
            "format": FORMAT,
            "class": cls.__qualname__,
            "module": cls.__module__,
            "config": config,
            "parameters": {name: encode_float(p.data) for name, p in self.named_parameters()},
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the architecture and every parameter to ``path`` as JSON (see the module docstring)."""
        text = json.dumps(self.to_json(), indent=1, allow_nan=False)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")

    def _load_into(self, path: str | os.PathLike[str]) -> Module:
        doc = _read_document(path)
        where = os.fspath(path)
        cls = type(self)
        if (doc["module"], doc["class"]) != (cls.__module__, cls.__qualname__):
            raise ModelFileError(where, "class", f"the file holds a {_name(doc['class'])} (module "
                                 f"{_name(doc['module'])}), not a {cls.__qualname__}: a different architecture")
        mine = self.get_config()
        if json.loads(json.dumps(mine)) != doc["config"]:
            raise ModelFileError(where, "config", f"a different architecture: the file has config "
                                 f"{_short(doc['config'])}, this model has {_short(mine)}")
        _copy_parameters(self, _decode_parameters(doc, where), where)
        return self

    load = _ClassOrInstanceMethod(
        lambda cls, path: load(path, cls),
        _load_into,
        """Load a model saved with :meth:`save`.

        On the class, ``MLP.load(path)`` builds a new model from the file's
        config and parameters (the file must hold that class; ``Module.load``
        accepts any). On a model, ``model.load(path)`` copies the file's
        parameters into it, after checking the file holds the same class and
        config; on error the model is unchanged. Both return the model and
        raise :class:`ModelFileError` for any problem with the file's contents.
        """,
    )


# -- reading files ------------------------------------------------------------

# The deepest nesting of JSON arrays and objects a model file may have: the
# document, its config, a list in the config (MLP's nouts) is 3 levels; the
# rest is room for the configs of other Module subclasses. save() refuses to
# write deeper configs, and load() checks the whole file before parsing it, so
# a file of nested brackets can neither exhaust the stack nor take long.
MAX_NESTING = 8

# No number in a model file needs more characters than this: a float's repr
# has at most 24, a size that could be built has fewer than 20. Longer numbers
# are refused before Python converts them (converting a huge int is quadratic).
_MAX_NUMBER_CHARS = 400

# A file that is not a regular file (a pipe) is read up to this many bytes.
_MAX_STREAM_BYTES = 2**30


class ModelFileError(ValueError):
    """A model file that cannot be loaded: malformed, hostile, or not the model it is loaded into.

    Raised by :func:`load`, ``Module.load`` and ``model.load(path)`` for
    every problem with a file's contents (a file that cannot be opened raises
    the usual ``OSError``). On this error the model loaded into is unchanged.

    Attributes:
        path: the file.
        entry: where in the file the problem is: ``format``, ``class``,
            ``config``, ``config.nouts[1]``, ``parameters['layers.0.neurons.0.b']``,
            ``line 3 column 7``, ...; "" when it concerns the whole file.
        reason: what is wrong.
    """

    def __init__(self, path: str, entry: str, reason: str) -> None:
        self.path = path
        self.entry = entry
        self.reason = reason
        super().__init__(f"{path}: {entry}: {reason}" if entry else f"{path}: {reason}")

    def __reduce__(self) -> tuple[type[ModelFileError], tuple[str, str, str]]:
        return type(self), (self.path, self.entry, self.reason)


class _BadNumber:
    """A JSON number that is no float (too long, too large, or NaN/Infinity), kept so the check can name its entry."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def reason(self) -> str:
        if self.text in ("NaN", "Infinity", "-Infinity"):
            return (f"{self.text} is not JSON; model files write non-finite numbers as the strings "
                    "'nan', 'inf' and '-inf'")
        if len(self.text) > _MAX_NUMBER_CHARS:
            return f"a number written with {len(self.text):,} characters (at most {_MAX_NUMBER_CHARS} are allowed)"
        return f"the number {self.text} is too large for a float"

    def __repr__(self) -> str:
        return _cut(self.text, 40)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _parse_int(text: str) -> int | _BadNumber:
    return _BadNumber(text) if len(text) > _MAX_NUMBER_CHARS else int(text)


def _parse_float(text: str) -> float | _BadNumber:
    if len(text) > _MAX_NUMBER_CHARS:
        return _BadNumber(text)
    x = float(text)
    return x if math.isfinite(x) else _BadNumber(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _cut(text: str, limit: int = 100) -> str:
    """Return ``text`` cut to about ``limit`` characters (file contents can be huge)."""
    return text if len(text) <= limit else f"{text[: limit - 20]}...{text[-12:]} ({len(text):,} characters)"


def _short(obj: object, limit: int = 100) -> str:
    """Return repr(obj) cut to about ``limit`` characters."""
    return _cut(repr(obj), limit)


def _name(text: str) -> str:
    """Return a name from a file as is when it looks like one (``MLP``, ``chainrule.nn.layers``), else its cut repr."""
    return text if text.replace(".", "_").isidentifier() and len(text) <= 100 else _short(text)


def _json_type(obj: object) -> str:
    if isinstance(obj, bool):
        return "true" if obj else "false"
    for kind, name in ((dict, "object"), (list, "array"), (str, "string"), (type(None), "null")):
        if isinstance(obj, kind):
            return name
    return "number"


def _nesting(obj: object, limit: int) -> int:
    """Return how deep lists and dicts nest in ``obj`` (a scalar is 0), counting no further than ``limit + 1``.

    Iterative, and it stops past the limit, so it ends even on a structure that contains itself.
    """
    deepest = 0
    stack: list[tuple[object, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


_SPECIAL = re.compile(rb'["\[\]{}]')
# The rest of a JSON string after its opening quote (escapes included), matched in one step.
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def _too_deep(data: bytes, limit: int) -> int | None:
    """Return the offset of the first bracket nested deeper than ``limit`` (brackets in strings don't count), or None.

    Linear in the file: one regex match per string, one step per bracket, and
    it stops at the first bracket too deep. An unterminated string ends the
    scan: ``json.loads`` stops there with a syntax error too.
    """
    depth = 0
    pos = 0
    while True:
        m = _SPECIAL.search(data, pos)
        if m is None:
            return None
        c = data[m.start()]
        if c == 0x22:  # '"'
            rest = _STRING_REST.match(data, m.end())
            if rest is None:
                return None
            pos = rest.end()
            continue
        if c in (0x5B, 0x7B):  # '[', '{'
            depth += 1
            if depth > limit:
                return m.start()
        else:
            depth -= 1
        pos = m.end()


def _line_column(data: bytes, offset: int) -> str:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    line = data.count(b"\n", 0, offset) + 1
    return f"line {line} column {column}"


def _read_bytes(path: str | os.PathLike[str], where: str) -> bytes:
    with open(path, "rb") as f:
        if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return f.read()
        data = f.read(_MAX_STREAM_BYTES + 1)
    if len(data) > _MAX_STREAM_BYTES:
        raise ModelFileError(where, "", f"not a chainrule model file: more than {_MAX_STREAM_BYTES:,} bytes "
                             "read from a stream")
    return data


def _find_bad_number(obj: object, path: str) -> tuple[str, _BadNumber] | None:
    """Return (JSON path, number) of the first number inside ``obj`` that is no float, or None."""
    stack: list[tuple[object, str]] = [(obj, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, _BadNumber):
            return where, item
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if k.isidentifier() else f"{where}[{k!r}]") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def _read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a model file's structure; every problem is a ModelFileError naming the entry."""
    where = os.fspath(path)
    data = _read_bytes(path, where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFileError(where, f"byte {e.start}", "not a chainrule model file: not UTF-8 text") from None
    deep = _too_deep(data, MAX_NESTING)
    if deep is not None:
        raise ModelFileError(where, _line_column(data, deep), f"JSON arrays and objects nested more than "
                             f"{MAX_NESTING} levels deep; a model file nests at most {MAX_NESTING}")
    try:
        doc = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_BadNumber,
                         object_pairs_hook=_object)
    except json.JSONDecodeError as e:
        raise ModelFileError(where, f"line {e.lineno} column {e.colno}",
                             f"not a chainrule model file: invalid JSON ({e.msg})") from None
    except _DuplicateKey as e:
        raise ModelFileError(where, f"key {_short(e.key)}", "appears twice in one JSON object "
                             "(save() never repeats a key, and which one to believe is unclear)") from None
    except RecursionError:  # unreachable after _too_deep; kept so no parser can turn it into a crash
        raise ModelFileError(where, "", "JSON nested too deep") from None
    if not isinstance(doc, dict):
        raise ModelFileError(where, "", f"not a chainrule model file: expected a JSON object, got {_json_type(doc)}")
    if doc.get("format") != FORMAT:
        raise ModelFileError(where, "format", f"not a chainrule model file: 'format' is "
                             f"{_short(doc.get('format'))}, expected {FORMAT!r}")
    for key, kind in (("class", str), ("module", str), ("config", dict), ("parameters", dict)):
        if key not in doc:
            raise ModelFileError(where, key, "missing: a model file has 'format', 'class', 'module', "
                                 "'config' and 'parameters' entries")
        if not isinstance(doc[key], kind):
            raise ModelFileError(where, key, f"must be a JSON {'string' if kind is str else 'object'}, "
                                 f"got {_json_type(doc[key])}")
    extra = sorted(set(doc) - {"format", "class", "module", "config", "parameters"})
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise ModelFileError(where, _name(extra[0]), f"unexpected entry{more}: a model file has only 'format', "
                             "'class', 'module', 'config' and 'parameters'")
    bad = _find_bad_number(doc["config"], "config")
    if bad is not None:
        raise ModelFileError(where, bad[0], bad[1].reason())
    if doc["module"].startswith("nn."):  # written before the modules moved into the chainrule package
        doc["module"] = "chainrule." + doc["module"]
    return doc


def _decode_parameters(doc: Mapping[str, Any], where: str) -> dict[str, float]:
    state = {}
    for name, raw in doc["parameters"].items():
        if isinstance(raw, _BadNumber):
            raise ModelFileError(where, f"parameters[{_short(name)}]", raw.reason())
        try:
            state[name] = _read_float(raw)
        except ValueError as e:
            raise ModelFileError(where, f"parameters[{_short(name)}]", str(e)) from None
    return state


def _copy_parameters(model: Module, state: dict[str, float], where: str) -> None:
    try:
        model.load_state_dict(state)
    except (TypeError, ValueError) as e:
        raise ModelFileError(where, "parameters", str(e)) from None


def load(path: str | os.PathLike[str], cls: type[Module] | None = None) -> Module:
    """Build the model saved in ``path`` by :meth:`Module.save`.

    The file names its class; only Module subclasses already defined (by
    chainrule or by your code) can be built, nothing is imported. The whole
    file is checked before anything is built (its nesting, every number, the
    config by the class's :meth:`Module.check_config`, and the parameter
    count the config implies against the parameters the file holds), so
    loading takes time and memory in proportion to the file's size.

    Args:
        path: the JSON file.
        cls: if given, the file must hold this class (or a subclass of it).

    Returns:
        A new model with the file's architecture and parameters.

    Raises:
        ModelFileError: (a ValueError) the file is malformed, names an
            unknown class, its config does not build the model, or its
            parameters do not match; the message names the file and the entry.
        OSError: the file cannot be read.
    """
    doc = _read_document(path)
    where = os.fspath(path)
    found = _REGISTRY.get((doc["module"], doc["class"]))
    if found is None:
        raise ModelFileError(where, "class", f"the file holds a {_name(doc['class'])} from module "
                             f"{_name(doc['module'])}, which is not defined; import or define that class first")
    if cls is not None and cls is not Module and not issubclass(found, cls):
        raise ModelFileError(where, "class", f"the file holds a {found.__qualname__}, not a {cls.__qualname__}")
    config = doc["config"]
    try:
        count = found.check_config(config)
    except (TypeError, ValueError) as e:
        raise ModelFileError(where, "config", f"does not build a {found.__qualname__}: {e}") from None
    held = len(doc["parameters"])
    # More parameters than the file holds: refused before building anything. Fewer: the model is
    # smaller than the file, so building it is cheap, and load_state_dict names the entries too many.
    if count is not None and count > held:
        raise ModelFileError(where, "config", f"{_short(config)} makes a {found.__qualname__} with {count:,} "
                             f"parameter{'' if count == 1 else 's'}, but the file holds {held:,}")
    state = _decode_parameters(doc, where)
    try:
        model = found(**config)
    except Exception as e:  # a subclass's own constructor may raise anything; the cause stays chained
        raise ModelFileError(where, "config", f"does not build a {found.__qualname__}: {e}") from e
    _copy_parameters(model, state, where)
    return model
