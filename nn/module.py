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
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from chainrule.autograd import PARAMETER, Value, scope

__all__ = ["FORMAT", "IncompatibleKeys", "Module", "load"]

FORMAT = "chainrule.nn/1"

# Every Module subclass, by (module, qualname): the only classes a file may name.
_REGISTRY: dict[tuple[str, str], type[Module]] = {}

_QUIET_NAN_BITS = 0x7FF8000000000000


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


def decode_float(raw: object, name: str) -> float:
    """Read one parameter written by :func:`encode_float` (or any JSON number); errors name the entry."""
    if isinstance(raw, bool) or raw is None:
        raise TypeError(f"parameter {name!r}: expected a number, got {json.dumps(raw)}")
    if isinstance(raw, (int, float)):
        try:
            return float(raw)
        except OverflowError:
            raise ValueError(f"parameter {name!r}: the integer {raw} is too large for a float") from None
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
            f"parameter {name!r}: malformed value {raw!r}; expected a JSON number, 'inf', '-inf', 'nan' "
            "or 'nan:0x' followed by the 16 hex digits of a NaN"
        )
    raise TypeError(f"parameter {name!r}: expected a number, got {type(raw).__name__} {json.dumps(raw)}")


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
        with scope(name):
            return self.forward(*args, **kwargs)

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
        are not part of the config.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not define get_config(), so its architecture cannot be recorded; "
            "define it, or save state_dict() yourself"
        )

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready document :meth:`save` writes (architecture and every parameter)."""
        config = self.get_config()
        try:
            json.dumps(config, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{type(self).__name__}.get_config() is not JSON-ready: {e}") from None
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
            raise ValueError(f"{where}: the file holds a {doc['class']} ({doc['module']}), "
                             f"not a {cls.__qualname__}: a different architecture")
        mine = self.get_config()
        if json.loads(json.dumps(mine)) != doc["config"]:
            raise ValueError(f"{where}: a different architecture: the file has config {doc['config']}, "
                             f"this model has {mine}")
        state = _decode_parameters(doc, where)
        try:
            self.load_state_dict(state)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{where}: {e}") from None
        return self

    load = _ClassOrInstanceMethod(
        lambda cls, path: load(path, cls),
        _load_into,
        """Load a model saved with :meth:`save`.

        On the class, ``MLP.load(path)`` builds a new model from the file's
        config and parameters (the file must hold that class; ``Module.load``
        accepts any). On a model, ``model.load(path)`` copies the file's
        parameters into it, after checking the file holds the same class and
        config; on error the model is unchanged. Both return the model.
        """,
    )


def _read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    where = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: not a chainrule model file: invalid JSON ({e})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{where}: not a chainrule model file: not UTF-8 text") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: not a chainrule model file: expected a JSON object, got {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise ValueError(f"{where}: not a chainrule model file: 'format' is {doc.get('format')!r}, "
                         f"expected {FORMAT!r}")
    for key, kind in (("class", str), ("module", str), ("config", dict), ("parameters", dict)):
        if key not in doc:
            raise ValueError(f"{where}: malformed model file: no {key!r} entry")
        if not isinstance(doc[key], kind):
            raise ValueError(f"{where}: malformed model file: {key!r} must be a JSON "
                             f"{'string' if kind is str else 'object'}, got {type(doc[key]).__name__}")
    extra = sorted(set(doc) - {"format", "class", "module", "config", "parameters"})
    if extra:
        raise ValueError(f"{where}: malformed model file: unexpected entries {_list_names(extra)}")
    if doc["module"].startswith("nn."):  # written before the modules moved into the chainrule package
        doc["module"] = "chainrule." + doc["module"]
    return doc


def _decode_parameters(doc: Mapping[str, Any], where: str) -> dict[str, float]:
    state = {}
    for name, raw in doc["parameters"].items():
        try:
            state[name] = decode_float(raw, name)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{where}: {e}") from None
    return state


def load(path: str | os.PathLike[str], cls: type[Module] | None = None) -> Module:
    """Build the model saved in ``path`` by :meth:`Module.save`.

    The file names its class; only Module subclasses already defined (by
    chainrule or by your code) can be built, nothing is imported.

    Args:
        path: the JSON file.
        cls: if given, the file must hold this class (or a subclass of it).

    Returns:
        A new model with the file's architecture and parameters.

    Raises:
        ValueError: the file is malformed, names an unknown class, its config
            does not build the model, or its parameters do not match.
    """
    doc = _read_document(path)
    where = os.fspath(path)
    found = _REGISTRY.get((doc["module"], doc["class"]))
    if found is None:
        raise ValueError(f"{where}: the file holds a {doc['class']} from module {doc['module']!r}, "
                         "which is not defined; import or define that class first")
    if cls is not None and cls is not Module and not issubclass(found, cls):
        raise ValueError(f"{where}: the file holds a {found.__qualname__}, not a {cls.__qualname__}")
    try:
        model = found(**doc["config"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: config {doc['config']} does not build a {found.__qualname__}: {e}") from None
    state = _decode_parameters(doc, where)
    try:
        model.load_state_dict(state)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{where}: {e}") from None
    return model
