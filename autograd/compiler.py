"""Compiled batch mode: trace a per-sample function once, replay it over a batch with numpy.

``compile(fn)`` returns a :class:`Compiled` function. On its first call it
traces ``fn`` on one sample with the scalar engine, groups the graph into a
program (:mod:`autograd.program`: the neurons of a layer become one matrix
product) and runs forward and backward over the whole batch. The local
derivatives come from the same op-table rules as the scalar engine
(``NUMPY_MATH``), so kinks follow the same conventions.

Never silently wrong. Whatever fn does with numbers outside the graph while it
is traced (``.data``, ``bool()``, comparisons, ``float()``, ``detach()``,
``no_grad``, ``Value(number)``) is recorded in the program, guarded, or refused
at trace time (see :mod:`autograd.tracing`). Every guard is checked on every
row of every batch; a row that breaks one is run by another program traced on
such a row (or raises :class:`GuardError` with ``retrace=False``). Captured
Values (a model's parameters) are read at every call. As a safety net, each
new program is traced again on another sample that meets its guards, and the
two graphs must be the same.

What fn reads outside its arguments is guarded too (:func:`watch`), and
checked before every call:

- each global and closure variable fn reads must still name the same object
  (a notebook cell that makes a new model, rebinds ``w = Value(5.0)`` or
  ``scale = 3.0``);
- each attribute chain fn reads from one, or from ``self`` in a bound method
  (``cfg.scale``, ``self.model``: LOAD_ATTR after LOAD_GLOBAL, LOAD_DEREF or
  the method's LOAD_FAST self) must reach the same objects, or equal plain
  numbers of the same type (``cfg.scale = 3.0``);
- each list and dict, and the ``__dict__`` of each model (an object with a
  ``parameters()`` method, or a ``forward`` of the user's) and of each
  object of the user's own classes (or a SimpleNamespace), reachable from
  those through lists, tuples, dicts and such objects must hold the same
  items (``model.layers[0] = layer``, ``neuron.w[1] = Value(3.0)``, a
  module's ``self.gain = 0.5``, ``model.eval()``, ``cfg.scale = 3.0`` read
  by a helper that gets ``cfg`` as an argument);
- each numpy array reached the same way must hold the same shape, dtype and
  values (a copy is kept; an array changed in place, ``mean[0] = 2.0``, is
  seen);
- the same for the user's own functions fn reads by name, and for the
  ``forward`` (and ``__call__``) of the user's models found, transitively,
  up to ``MAX_NAMED_FUNCTIONS`` (256) of them; beyond that a RuntimeWarning
  says which are not followed.

A change makes the next call trace again (or raise :class:`GuardError` with
``retrace=False``), never replay the old Values or numbers. A parameter's
``.data`` is read at every call and needs no guard. Not seen, so call
:meth:`Compiled.clear` after changing them: class attributes, properties and
``__slots__`` (a chain stops at the first attribute not in the object's own
``__dict__``, and guards only that it stays absent); the state of objects of
libraries' classes (other than models, lists, dicts, tuples and numpy
arrays); a number in a list, dict or object replaced by an equal one of
another type (``1`` by ``1.0``: the same arithmetic).
Plain numbers are constants of each program: to vary something between
calls without tracing again, make it a Value.
"""

from __future__ import annotations

import dis
import functools
import gc
import inspect
import operator
import sys
import threading
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.autograd.engine import PARAMETER, Value, topological_order
from chainrule.autograd.modes import enable_grad, is_anomaly_enabled
from chainrule.autograd.program import (
    SAMPLE,
    SHARED,
    Program,
    Workspace,
    apply_update,
    build,
    describe_difference,
    signature,
    walk,
)
from chainrule.autograd.tracing import DataDependentGraphError, Guard, GuardError, TraceError, tracing

__all__ = ["SAMPLE", "SHARED", "ArrayGuard", "AttributeGuard", "Compiled", "ContentGuard", "DataDependentGraphError",
           "GuardError", "NameGuard", "TraceError", "Watched", "compile", "names_read", "watch"]

Placeholders = list[tuple[Value, int, int | None]]


_EMPTY = object()  # an empty closure cell, or a global that is not (or no longer) defined
_LIBRARIES = frozenset({"chainrule", "numpy", "torch", "jax", "hypothesis", "pytest", *sys.stdlib_module_names})
MAX_NAMED_FUNCTIONS = 256  # how many of the user's functions the name guards follow from fn (then a warning)


@dataclass(frozen=True, eq=False)
class NameGuard:
    """A name fn reads outside its arguments, and the object it named when fn was traced.

    Attributes:
        scope: the function's globals (a dict) for a global, its closure cell for a closure variable.
        name: the name.
        obj: the object it named (kept alive, so a new object never takes over its id).
        reader: the function that reads it, for error messages.
    """

    scope: dict[str, Any] | types.CellType
    name: str
    obj: object
    reader: str

    def current(self) -> object:
        """What the name stands for now."""
        if isinstance(self.scope, dict):
            return self.scope.get(self.name, _EMPTY)
        try:
            return self.scope.cell_contents
        except ValueError:
            return _EMPTY

    def holds(self) -> bool:
        """Whether the name still stands for the same object."""
        return self.current() is self.obj

    def describe(self) -> str:
        """One line for error messages."""
        kind = "global" if isinstance(self.scope, dict) else "closure variable"
        return f"{kind} '{self.name}' (read by {self.reader})"


_ROOTS = ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF")


@functools.lru_cache(maxsize=1024)
def _names_in(code: types.CodeType) -> tuple[tuple[str, ...], tuple[tuple[str, str, tuple[str, ...]], ...]]:
    """What a code object (and the lambdas and comprehensions inside it) reads by name.

    Returns:
        The global names; and the attribute chains read from a global, a
        closure variable or (in code itself, not the code inside it) an
        argument or local, as (kind "global", "deref" or "fast", name,
        attributes): ``cfg.scale`` (LOAD_GLOBAL cfg, LOAD_ATTR scale) is
        ("global", "cfg", ("scale",)).
    """
    names: dict[str, None] = {}
    chains: dict[tuple[str, str, tuple[str, ...]], None] = {}
    codes = [code]
    while codes:
        c = codes.pop()
        root: tuple[str, str] | None = None
        attrs: list[str] = []
        for ins in [*dis.get_instructions(c), None]:
            if ins is not None and root is not None and ins.opname in ("LOAD_ATTR", "LOAD_METHOD"):
                attrs.append(str(ins.argval))
                continue
            if root is not None and attrs:
                chains[(root[0], root[1], tuple(attrs))] = None
            root, attrs = None, []
            if ins is None or not isinstance(ins.argval, str):
                continue
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                names[ins.argval] = None
            if ins.opname in _ROOTS:
                root = ("deref" if ins.opname == "LOAD_DEREF" else "global", ins.argval)
            elif ins.opname == "LOAD_FAST" and c is code:
                root = ("fast", ins.argval)
        codes.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return tuple(names), tuple(chains)


def _function_of(obj: object) -> types.FunctionType | None:
    """The Python function behind obj (a function, a bound method, a functools.partial), if any."""
    for _ in range(8):
        if isinstance(obj, types.FunctionType):
            return obj
        if isinstance(obj, types.MethodType):
            obj = obj.__func__
        elif isinstance(obj, functools.partial):
            obj = obj.func
        else:
            return None
    return None


def _same(now: object, then: object) -> bool:
    """The same object, or an equal plain number of the same type (3.0 is a new float at each assignment)."""
    return now is then or (type(now) is type(then) and type(then) in (int, float, bool) and now == then)


def _own_attribute(obj: object, attr: str) -> object:
    """obj.attr if it is in obj's own ``__dict__`` (no property, no class attribute is run or read), else _EMPTY."""
    try:
        return vars(obj).get(attr, _EMPTY)
    except TypeError:  # no __dict__ (slots, builtins)
        return _EMPTY


@dataclass(frozen=True, eq=False)
class AttributeGuard:
    """An attribute chain fn reads from a global or closure variable (``cfg.scale``), and what it reached.

    Each step is read from the object's own ``__dict__``: it must still hold
    the same object, or an equal number of the same type. A step that was not
    in the object's ``__dict__`` (a class attribute, a property) must still
    not be; the chain is not followed past it.

    Attributes:
        root: the guard of the name the chain starts at.
        attrs: the attribute names, in order.
        seen: the object found at each step (_EMPTY for the last one if it was not in the ``__dict__``).
    """

    root: NameGuard
    attrs: tuple[str, ...]
    seen: tuple[object, ...]

    def holds(self) -> bool:
        """Whether every step of the chain still reaches the same object (or an equal number)."""
        obj = self.root.current()
        for attr, then in zip(self.attrs, self.seen):
            obj = _own_attribute(obj, attr)
            if not _same(obj, then):
                return False
        return True

    def describe(self) -> str:
        """One line for error messages."""
        return f"attribute '{'.'.join((self.root.name, *self.attrs[:len(self.seen)]))}' (read by {self.root.reader})"


@dataclass(frozen=True, eq=False)
class ContentGuard:
    """A container reachable from what fn reads, and a shallow copy of it when fn was traced.

    A list or dict, or the ``__dict__`` of a model (an object with a
    ``parameters()`` method, or a ``forward`` of the user's) or of an object
    of the user's own classes, found from the names fn reads, their attribute
    chains, and the objects, lists, tuples and dicts inside them. Its items
    must be the same objects (plain numbers: equal).

    Attributes:
        obj: the container (for a model: the model, whose ``__dict__`` is compared).
        copy: its items when fn was traced.
        where: its path from the name fn reads, for error messages.
    """

    obj: object
    copy: list[Any] | dict[Any, Any]
    where: str

    def live(self) -> list[Any] | dict[Any, Any]:
        """The container now (for a model, its ``__dict__``)."""
        return self.obj if isinstance(self.obj, (list, dict)) else vars(self.obj)

    def holds(self) -> bool:
        """Whether the container holds the same items (compared by identity first, as list and dict ``==`` do)."""
        try:
            return bool(self.live() == self.copy)
        except Exception:
            return False

    def describe(self) -> str:
        """One line for error messages."""
        return f"contents of '{self.where}'"


@dataclass(frozen=True, eq=False)
class ArrayGuard:
    """A numpy array reachable from what fn reads, and a copy of it when fn was traced.

    Numbers read from it became constants of the programs, so it must hold
    the same values (nan equal to nan), shape and dtype: an array changed in
    place makes the next call trace again. The copy costs the array's size in
    memory, and each call compares it (about 1 ns per element).

    Attributes:
        obj: the array.
        copy: its contents when fn was traced.
        where: its path from the name fn reads, for error messages.
    """

    obj: np.ndarray
    copy: np.ndarray
    where: str

    def holds(self) -> bool:
        """Whether the array still holds the same shape, dtype and values."""
        a, b = self.obj, self.copy
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        try:
            return bool(np.array_equal(a, b, equal_nan=True))
        except TypeError:  # a dtype without nan (object, strings): plain equality
            return bool(np.array_equal(a, b))

    def describe(self) -> str:
        """One line for error messages."""
        return f"values of the array '{self.where}'"


Watch = NameGuard | AttributeGuard | ContentGuard | ArrayGuard


class Watched:
    """The guards of :func:`watch`, checked at every call of a compiled function.

    Args:
        guards: from :func:`watch`.
    """

    def __init__(self, guards: list[Watch]) -> None:
        self.guards = guards
        self._names = [g for g in guards if not isinstance(g, ContentGuard)]
        contents = [g for g in guards if isinstance(g, ContentGuard)]
        # All containers in one comparison of two lists, in C: each live container against its copy.
        self._models = [g.obj for g in contents if not isinstance(g.obj, (list, dict))]
        self._dicts = [vars(m) for m in self._models]
        self._live = [g.live() for g in contents]
        self._copies = [g.copy for g in contents]

    def broken(self) -> Watch | None:
        """The first guard that no longer holds, or None."""
        for guard in self._names:
            if not guard.holds():
                return guard
        try:
            if all(map(operator.is_, map(vars, self._models), self._dicts)) and self._live == self._copies:
                return None
        except Exception:
            pass
        return next((g for g in self.guards if not g.holds()), None)


def _watched(obj: object) -> bool:
    """Whether the walk keeps a copy of obj's ``__dict__`` and follows what it holds.

    A model (an object with a ``parameters()`` method, or a ``forward`` of
    the user's), an instance of the user's own class, or a SimpleNamespace.
    """
    if isinstance(obj, (type, types.ModuleType, types.FunctionType, types.MethodType, Value)):
        return False
    if not hasattr(obj, "__dict__"):
        return False
    if isinstance(obj, types.SimpleNamespace):
        return True
    if str(getattr(type(obj), "__module__", None) or "").split(".")[0] not in _LIBRARIES:
        return True
    return callable(getattr(type(obj), "parameters", None)) or _user_method(obj, "forward") is not None


def _user_method(obj: object, name: str) -> types.FunctionType | None:
    """The function behind type(obj).name, if it is the user's (not a library's)."""
    f = _function_of(getattr(type(obj), name, None))
    if f is None or str(getattr(f, "__module__", None) or "").split(".")[0] in _LIBRARIES:
        return None
    return f


def _contents(roots: list[tuple[object, str]], functions: list[object], seen: set[int]
              ) -> list[ContentGuard | ArrayGuard]:
    """Shallow copies of the lists, dicts and models reachable from roots, and copies of the numpy arrays
    (less those in seen, which grows); the user's forwards (and ``__call__``) found there go to functions."""
    guards: list[ContentGuard | ArrayGuard] = []
    stack = list(reversed(roots))
    while stack:
        obj, where = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            guards.append(ArrayGuard(obj, obj.copy(), where))
            continue
        if isinstance(obj, list):
            guards.append(ContentGuard(obj, list(obj), where))
            items: Any = enumerate(obj)
            path = "{}[{!r}]"
        elif isinstance(obj, tuple):
            items, path = enumerate(obj), "{}[{!r}]"
        elif isinstance(obj, dict):
            guards.append(ContentGuard(obj, dict(obj), where))
            items, path = obj.items(), "{}[{!r}]"
        elif _watched(obj):
            guards.append(ContentGuard(obj, dict(vars(obj)), where))
            items, path = vars(obj).items(), "{}.{}"
            functions.extend(f for f in (_user_method(obj, "forward"), _user_method(obj, "__call__")) if f)
        else:
            continue
        # The path is made only for what is followed (not for each of a layer's Values).
        stack.extend((item, path.format(where, key)) for key, item in items
                     if isinstance(item, (list, tuple, dict, np.ndarray))
                     or _watched(item))
    return guards


def names_read(fn: Callable[..., Any]) -> list[NameGuard]:
    """The globals and closure variables fn reads, following the user's own functions it reads by name.

    Functions of chainrule, numpy, the standard library and a few other
    libraries are not followed (their names are not the user's to rebind).
    """
    return [w for w in watch(fn) if isinstance(w, NameGuard)]


def watch(fn: Callable[..., Any]) -> list[Watch]:
    """Everything a compiled fn's programs rely on outside its arguments, as it stands now.

    The globals and closure variables fn reads (:class:`NameGuard`), the
    attribute chains it reads from them (:class:`AttributeGuard`), and the
    lists, dicts and objects reachable from those (:class:`ContentGuard`)
    and their numpy arrays (:class:`ArrayGuard`),
    following the user's own functions fn reads by name and the ``forward``
    (and ``__call__``) of the user's models it reaches. Functions of
    chainrule, numpy, the standard library and a few other libraries are not
    followed (their names are not the user's to rebind).

    Returns:
        The guards; each has ``holds()`` and ``describe()``.
    """
    guards: list[Watch] = []
    seen: set[int] = set()
    stack: list[object] = [fn]
    contents_seen: set[int] = set()
    followed = 0
    while stack:
        obj = stack.pop()
        f = _function_of(obj)
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        if str(getattr(f, "__module__", None) or "").split(".")[0] in _LIBRARIES and f is not _function_of(fn):
            continue
        followed += 1
        if followed > MAX_NAMED_FUNCTIONS:
            warnings.warn(
                f"compile(): {getattr(fn, '__qualname__', fn)!r} reaches more than {MAX_NAMED_FUNCTIONS} of your "
                f"functions by name; names read only by the others (from {f.__qualname__} on) are not watched, so "
                "rebinding one of them will not trace fn again: call clear() after such a change",
                RuntimeWarning,
                stacklevel=2,
            )
            break
        reader = f"{f.__qualname__} in {f.__code__.co_filename.rsplit('/', 1)[-1]}"
        bound = obj.__self__ if isinstance(obj, types.MethodType) and f.__code__.co_argcount else _EMPTY
        scope = f.__globals__
        names, chains = _names_in(f.__code__)
        by_name: dict[tuple[str, str], NameGuard] = {}
        for name in names:
            obj = scope.get(name, _EMPTY)
            if obj is not _EMPTY:
                by_name["global", name] = NameGuard(scope, name, obj, reader)
        for name, cell in zip(f.__code__.co_freevars, f.__closure__ or ()):
            guard = NameGuard(cell, name, _EMPTY, reader)
            by_name["deref", name] = NameGuard(cell, name, guard.current(), reader)
        if bound is not _EMPTY:  # a bound method: its first argument (self) is the object it is bound to
            me = f.__code__.co_varnames[0]
            by_name["fast", me] = by_name["deref", me] = NameGuard(types.CellType(bound), me, bound, reader)
        roots: list[tuple[object, str]] = []
        for guard in by_name.values():
            guards.append(guard)
            stack.append(guard.obj)
            roots.append((guard.obj, guard.name))
        for kind, name, attrs in chains:
            root = by_name.get((kind, name))
            if root is None or _library_module(root.obj):
                continue
            obj, reached = root.obj, []
            for attr in attrs:
                obj = _own_attribute(obj, attr)
                reached.append(obj)
                if obj is _EMPTY:
                    break
                stack.append(obj)
                roots.append((obj, ".".join((name, *attrs[: len(reached)]))))
            guards.append(AttributeGuard(root, attrs, tuple(reached)))
        guards.extend(_contents(roots, stack, contents_seen))
    return guards


def _library_module(obj: object) -> bool:
    return isinstance(obj, types.ModuleType) and obj.__name__.split(".")[0] in _LIBRARIES


class _NoCollection:
    """Pause the cyclic garbage collector: tracing makes many objects at once, none of them garbage."""

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was_enabled:
            gc.enable()


class Compiled:
    """A per-sample function of scalar Values, compiled for batches.

    Args:
        fn: takes one argument per input array and returns a Value (or a list
            of Values). An input given as an (N,) array arrives as one Value
            per sample; an (N, k) array as a list of k Values. Values it uses
            that are not inputs (a model's parameters) are shared by all
            samples, read at every call, and receive gradients; plain numbers
            are constants of the program.
        probes: how many samples each new program is traced on (the first,
            plus others that meet its guards); the graphs must be the same. A
            safety net for numbers taken out of Values in ways the tracer
            cannot see; 1 turns it off.
        retrace: when a row breaks a guard (fn steers Python by the data, as
            ``if x.data > 0:``), trace another program for such rows (True), or
            raise :class:`GuardError` (False); likewise when something fn
            reads outside its arguments has changed since the trace (a new
            model, a layer swapped into one, ``cfg.scale = 3.0``; see the
            module docstring): trace again, or raise.
        max_programs: the most programs kept per input shape; a function that
            needs more raises :class:`DataDependentGraphError`.

    Raises:
        TypeError: fn is not callable.
        ValueError: probes or max_programs below 1.
    """

    def __init__(self, fn: Callable[..., Any], *, probes: int = 2, retrace: bool = True,
                 max_programs: int = 16) -> None:
        if not callable(fn):
            raise TypeError(f"compile() expects a function, got {type(fn).__name__}")
        for name, value in (("probes", probes), ("max_programs", max_programs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"compile() {name} must be an int >= 1, got {value!r}")
        self.fn = fn
        self.probes = probes
        self.retrace = bool(retrace)
        self.max_programs = max_programs
        self._programs: dict[tuple[Any, ...], list[Program]] = {}
        self._scalar = True  # fn returns one Value (else a list), known after the first trace
        self._lock = threading.RLock()
        self._watched = Watched([])
        try:
            self._names = [p.name for p in inspect.signature(fn).parameters.values()]
        except (TypeError, ValueError):
            self._names = []

    # -- inputs ---------------------------------------------------------------

    def _arrays(self, arrays: Sequence[Any]) -> list[np.ndarray]:
        if not arrays:
            raise TypeError("a compiled function needs at least one input array")
        result = []
        n = None
        for i, a in enumerate(arrays):
            try:
                arr = np.asarray(a, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"input {i}: expected an array of numbers ({exc})") from None
            if arr.ndim not in (1, 2):
                raise ValueError(f"input {i}: expected shape (N,) or (N, k), got {arr.shape}")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ValueError(f"input {i} has {arr.shape[0]} samples but input 0 has {n}")
            result.append(arr)
        if not n:
            raise ValueError("a compiled function needs at least one sample")
        return result

    def _name(self, i: int) -> str:
        return self._names[i] if i < len(self._names) else f"input{i}"

    def _placeholders(self, arrays: list[np.ndarray], row: int) -> tuple[list[Any], Placeholders]:
        args: list[Any] = []
        leaves: Placeholders = []
        for i, arr in enumerate(arrays):
            if arr.ndim == 1:
                v = Value(float(arr[row]), self._name(i))
                args.append(v)
                leaves.append((v, i, None))
            else:
                vs = [Value(float(arr[row, j]), f"{self._name(i)}[{j}]") for j in range(arr.shape[1])]
                args.append(vs)
                leaves.extend((v, i, j) for j, v in enumerate(vs))
        return args, leaves

    def _call(self, args: list[Any]) -> list[Value]:
        with enable_grad():
            out = self.fn(*args)
        outs = [out] if isinstance(out, Value) else list(out) if isinstance(out, (list, tuple)) else None
        if not outs or not all(isinstance(v, Value) for v in outs):
            raise TypeError(f"a compiled function must return a Value or a list of Values, got {out!r:.80}")
        self._scalar = isinstance(out, Value)
        return outs

    def trace(self, *arrays: Any, row: int = 0) -> Value | list[Value]:
        """Run fn on one sample with the scalar engine and return its graph (for viz.draw)."""
        arrs = self._arrays(arrays)
        args, _ = self._placeholders(arrs, row)
        outs = self._call(args)
        return outs[0] if self._scalar else outs

    # -- tracing -------------------------------------------------------------

    def _trace(self, arrays: list[np.ndarray], row: int) -> tuple[list[Value], list[Guard], Placeholders]:
        args, placeholders = self._placeholders(arrays, row)
        with tracing() as tracer:
            outs = self._call(args)
        return outs, tracer.guards, placeholders

    def _compile(self, arrays: list[np.ndarray], row: int) -> Program:
        with _NoCollection():
            outs, guards, placeholders = self._trace(arrays, row)
            return build(outs, guards, placeholders, row)

    def _signature_at(self, arrays: list[np.ndarray], row: int) -> tuple[Any, ...]:
        with _NoCollection():
            outs, guards, placeholders = self._trace(arrays, row)
            order, parents_of = walk([*outs, *(g.node for g in guards)])
            return signature(order, parents_of, {v: (i, j) for v, i, j in placeholders}, outs, guards)

    # -- running ----------------------------------------------------------------

    def _run(self, arrays: list[np.ndarray]) -> tuple[list[tuple[Program, np.ndarray | None, Workspace]],
                                                      list[tuple[int, list[Value]]]]:
        """Run every row through the first program whose guards it meets; trace new programs as needed.

        Returns:
            (program, its rows or None for all of them, the workspace holding
            its forward on those rows), one per program used; and the rows
            run by the scalar engine, each with the outputs of its trace.
        """
        self._check_names()
        spec = tuple(a.shape[1] if a.ndim == 2 else None for a in arrays)
        programs = self._programs.setdefault(spec, [])
        done: list[tuple[Program, np.ndarray | None, Workspace | None]] = []
        pending: np.ndarray | None = None  # rows still without a program; None means all of them
        scalar_rows: list[tuple[int, list[Value]]] = []
        for program in programs:
            entry, pending = self._try(program, arrays, pending)
            if entry is not None:
                done.append(entry)
            if pending is not None and not pending.size:
                break
        while pending is None or pending.size:
            row = 0 if pending is None else int(pending[0])
            if programs:
                self._refuse_retrace(programs[0], len(programs), arrays, row)
            program = self._compile(arrays, row)
            entry, rest = self._try(program, arrays, pending)
            if row in rest:
                # NOTE: numpy and the scalar engine agree to rounding, but a condition that sits exactly on
                # its boundary in this sample can come out differently: the scalar engine's own trace of
                # this sample gives its outputs (and, by its backward, its gradients) exactly.
                scalar_rows.append((row, program.graph))
                rest = rest[rest != row]
            if entry is not None:
                self._probe(program, entry[1], arrays)
                programs.append(program)
                done.append(entry)
            pending = rest
        result = []
        anomaly = is_anomaly_enabled()
        for program, rows, ws in done:
            if ws is None:  # it met its guards on part of the rows it ran: run again on just those
                assert rows is not None
                ws = program.workspace(len(rows))
                program.forward(ws, [a[rows] for a in arrays])
            if anomaly:  # as the scalar engine under detect_anomaly(): the first nan or inf raises
                program.check_finite(ws, rows)
            result.append((program, rows, ws))
        return result, scalar_rows

    def _check_names(self) -> None:
        """Before a call: drop every program when something fn reads outside its arguments has changed."""
        if not any(self._programs.values()):
            self._watched = Watched(watch(self.fn))  # the objects the coming trace will see
            return
        guard = self._watched.broken()
        if guard is None:
            return
        if not self.retrace:
            raise GuardError(
                f"compile(): the {guard.describe()} holds another object or number than when fn was traced: its "
                "programs hold the old Values and numbers. Pass retrace=True (the default) to trace again, or "
                "call clear() after the change."
            )
        self.clear()
        self._watched = Watched(watch(self.fn))

    def clear(self) -> None:
        """Forget every traced program: the next call traces fn again.

        Needed only after a change the guards cannot see (listed in the
        module docstring: a class attribute or property, an attribute read
        through a function argument). Rebinding a name fn
        reads, swapping a layer or parameter into a model, setting a number
        attribute fn reads, or setting a parameter's ``.data`` needs no call.
        """
        with self._lock:
            self._programs.clear()

    @staticmethod
    def _try(program: Program, arrays: list[np.ndarray], pending: np.ndarray | None
             ) -> tuple[tuple[Program, np.ndarray | None, Workspace | None] | None, np.ndarray]:
        """Run a program on the pending rows: (its entry, or None if no row meets its guards; the rows left)."""
        sub = arrays if pending is None else [a[pending] for a in arrays]
        ws = program.workspace(len(sub[0]))
        program.forward(ws, sub)
        bad = program.broken(ws)
        if bad is None:
            return (program, pending, ws), np.zeros(0, dtype=np.intp)
        good = np.flatnonzero(~bad)
        rows = good if pending is None else pending[good]
        rest = np.flatnonzero(bad) if pending is None else pending[bad]
        return ((program, rows, None) if rows.size else None), rest

    def _refuse_retrace(self, program: Program, count: int, arrays: list[np.ndarray], row: int) -> None:
        """Raise when a row meets no program's guards and no new program may be traced."""
        if self.retrace and count < self.max_programs:
            return
        ws = program.workspace(1)
        program.forward(ws, [a[row : row + 1] for a in arrays])
        guard = program.first_broken(ws, 0)
        if not self.retrace:
            raise GuardError(
                f"compile(): sample {row} breaks a condition the compiled program relies on: {guard.describe()}. "
                "Pass retrace=True (the default) to trace another program for such samples, or compute it with "
                "ops (relu, maximum, minimum, clamp, abs) instead of a Python `if`."
            )
        raise DataDependentGraphError(
            f"compile(): sample {row} needs yet another program ({self.max_programs} already traced for this input "
            f"shape): fn steers Python by the data, e.g. {guard.describe()}. Compute it with ops (relu, maximum, "
            "minimum, clamp, abs) instead of a Python `if`, keep per-sample numbers inside Values (no float(), "
            "math or numpy on .data), or raise max_programs."
        )

    def _probe(self, program: Program, rows: np.ndarray | None, arrays: list[np.ndarray]) -> None:
        """Trace up to probes - 1 more rows that meet the program's guards: their graphs must be the same."""
        if self.probes < 2:
            return
        candidates = np.arange(arrays[0].shape[0]) if rows is None else rows
        candidates = candidates[candidates != program.trace_row]
        if not candidates.size:
            return
        picks = sorted({int(candidates[int(i)]) for i in np.linspace(len(candidates) - 1, 0, self.probes - 1)})
        for row in picks:
            other = self._signature_at(arrays, row)
            if other[2] != program.signature[2]:
                continue  # its conditions came out differently at a boundary (rounding): nothing to compare
            if other != program.signature:
                detail = describe_difference(program.signature, other, program.trace_row, row)
                raise DataDependentGraphError(
                    f"compile(): the traced graph depends on the input data in a way the tracer cannot see "
                    f"({detail}), although every condition it recorded holds on both samples. Keep per-sample "
                    "numbers inside Values: use ops (relu, maximum, minimum, clamp, abs) instead of Python code on "
                    "numbers read from them."
                )

    # -- public calls ---------------------------------------------------------

    def __call__(self, *arrays: Any) -> np.ndarray:
        """Return fn's output for every sample: shape (N,) for a Value, (N, k) for a list of k Values."""
        arrs = self._arrays(arrays)
        n = arrs[0].shape[0]
        with self._lock:
            runs, scalar_rows = self._run(arrs)
            width = len(runs[0][0].outs) if runs else len(scalar_rows[0][1])
            result = np.empty((n, width))
            for row, outs in scalar_rows:
                result[row] = [v._data for v in outs]
            for program, rows, ws in runs:
                block = result if rows is None else np.empty((ws.n, width))
                for c, (kind, idx) in enumerate(program.outs):
                    block[:, c] = ws.S[idx] if kind == SAMPLE else ws.H[idx, 0]
                if rows is not None:
                    result[rows] = block
        return result[:, 0].copy() if width == 1 and self._scalar else result

    def backward(self, *arrays: Any, reduction: str = "mean", gradient: float = 1.0, accumulate: bool = True,
                 update: Callable[[np.ndarray, np.ndarray], Any] | None = None) -> float:
        """Reduce fn's outputs over the batch to one loss; add d(loss)/d(leaf) into each captured Value's ``.grad``.

        Args:
            arrays: the batch, as for calling the function.
            reduction: "mean" or "sum" of the per-sample outputs.
            gradient: the seed d(total)/d(loss), as for ``Value.backward``.
            accumulate: add into ``.grad`` (True, as ``Value.backward``); False
                sets each captured Value's ``.grad`` to this loss's gradient
                (no need to zero them first: one pass over the parameters less).
            update: an optimiser step as array operations, run after the
                gradients are written: each parameter (a captured Value with
                ``role`` PARAMETER, as nn modules mark theirs; other captured
                Values are left alone) gets ``.data = update(data, grad)[i]``,
                where data and grad are arrays over the parameters
                (``update=lambda p, g: p - lr * g`` is SGD). At 66k
                parameters it costs a fraction of a Python loop over them.

        Returns:
            The loss (a float).

        Raises:
            ValueError: an unknown reduction.
            TypeError: fn returns more than one Value.
        """
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        arrs = self._arrays(arrays)
        n = arrs[0].shape[0]
        scale = gradient / n if reduction == "mean" else float(gradient)
        total = 0.0
        with self._lock:
            runs, scalar_rows = self._run(arrs)
            width = len(runs[0][0].outs) if runs else len(scalar_rows[0][1])
            if not self._scalar or width != 1:
                raise TypeError(f"backward() needs fn to return one Value (a loss); it returns {width}")
            if not accumulate and len(runs) + len(scalar_rows) > 1:
                # Several programs add up their parts: start every captured Value of them at 0.
                for leaf in {leaf for program, _, _ in runs for leaf in program.leaves} | {
                        v for _, outs in scalar_rows for v in topological_order(outs) if v.primitive is None}:
                    leaf.grad = 0.0
                accumulate = True
            anomaly = is_anomaly_enabled()
            single = update if len(runs) == 1 and not scalar_rows else None
            for program, rows, ws in runs:
                total += program.backward(ws, scale, accumulate, single)
                if anomaly:
                    program.check_finite(ws, rows, gradients=True)
            for _, (out,) in scalar_rows:
                total += out._data
                out.backward(scale)
            if update is not None and single is None:  # several programs: every parameter of any of them
                found = {id(v): v for program, _, _ in runs for v in program.parameters_in_memory}
                found.update((id(v), v) for _, outs in scalar_rows for v in topological_order(outs)
                             if v.primitive is None and v.role is PARAMETER)
                params = [found[k] for k in sorted(found)]
                data = np.fromiter((v._data for v in params), np.float64, len(params))
                grads = np.fromiter((v.grad for v in params), np.float64, len(params))
                apply_update(params, data, grads, update)
        return total / n if reduction == "mean" else total

    @property
    def graph(self) -> Value | list[Value] | None:
        """The scalar graph of the first traced sample (None before the first call)."""
        for programs in self._programs.values():
            for program in programs:
                return program.graph[0] if self._scalar else program.graph
        return None

    @property
    def programs(self) -> int:
        """How many programs have been traced: one per input shape, plus one per other branch of fn taken."""
        return sum(len(p) for p in self._programs.values())


def compile(fn: Callable[..., Any], *, probes: int = 2, retrace: bool = True,  # noqa: A001 - mirrors torch.compile
            max_programs: int = 16) -> Compiled:
    """Compile a per-sample function of scalar Values for batches (see :class:`Compiled`)."""
    return Compiled(fn, probes=probes, retrace=retrace, max_programs=max_programs)
