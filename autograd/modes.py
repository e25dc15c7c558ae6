"""Grad mode, anomaly mode and module scope: per-thread, per-task engine state.

All three live in one :class:`contextvars.ContextVar`, so each thread and each
asyncio task sees its own setting and an op reads them with a single lookup.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, TypeAlias, TypeVar

from chainrule.autograd.ops import OP, Op

F = TypeVar("F", bound=Callable[..., Any])


# A node's role (Value.role): a leaf's is one of these three, an op node is a
# variable. One object each, compared by identity.
VARIABLE = "variable"
CONSTANT = "constant"
PARAMETER = "parameter"


# A node's meta, (label, scope, what): what is the Op that made it, or a leaf's role.
Meta: TypeAlias = tuple[str, "str | None", Any]


class _Metas(dict):
    """Op -> the meta ("", scope, op) of nodes made by that op in one scope, made on first use."""

    __slots__ = ("scope",)

    def __init__(self, scope: str | None) -> None:
        super().__init__()
        self.scope = scope

    def __missing__(self, op: Op) -> Meta:
        meta = self[op] = ("", self.scope, op)
        return meta


class Place:
    """Where new nodes are made: a module path, and the meta tuples of the nodes made there.

    A node's meta is ``(label, scope, what)``, where ``what`` is the op that
    made it or, for a leaf, its role. Nodes share these tuples (a new tuple is
    made only for a label): ``place.ops[op]`` is the meta of a node made by
    ``op`` in this place, ``place.variable`` and ``place.constant`` those of
    unlabelled leaves, and ``place.add`` ... ``place.dot`` those of the
    engine's fast paths.
    """

    # NOTE: the fast paths' metas are slots: a slot read costs a third of a dict lookup (callgrind).
    __slots__ = ("scope", "variable", "constant", "ops", "add", "sub", "mul", "tanh", "relu", "dot", "modes")

    def __init__(self, scope: str | None) -> None:
        self.scope = scope
        self.variable: Meta = ("", scope, VARIABLE)
        self.constant: Meta = ("", scope, CONSTANT)
        self.ops = _Metas(scope)
        self.add = self.ops[OP["add"]]
        self.sub = self.ops[OP["sub"]]
        self.mul = self.ops[OP["mul"]]
        self.tanh = self.ops[OP["tanh"]]
        self.relu = self.ops[OP["relu"]]
        self.dot = self.ops[OP["dot"]]
        # (grad_enabled, anomaly) -> the Mode of those settings in this place
        self.modes: dict[tuple[bool, bool], Mode] = {
            (g, a): Mode(g, a, self) for g in (True, False) for a in (False, True)
        }

    def __repr__(self) -> str:
        return f"Place({self.scope!r})"


class Mode:
    """The engine's state in one context: grad mode, anomaly mode and the Place new nodes are made in.

    One object per combination (:func:`mode_of`), read by every op in one
    lookup. Beside the three settings, a mode holds the metas the engine's
    fast paths give new nodes: ``mode.mul`` is ``place.mul`` when ops record
    plain edges (grad on, anomaly off) and None when they take the generic
    path (``no_grad``, ``detect_anomaly``), so a fast path reads its mode
    with one lookup and one test. ``mode.variable`` and ``mode.constant``
    are the place's leaf metas, in every mode.
    """

    # NOTE: slots, and fast paths that read one of them: a tuple of the three
    # settings cost an unpacking and two tests per op (~150 of ~3,800
    # instructions for a product, callgrind).
    __slots__ = (
        "grad_enabled", "anomaly", "place", "scope", "variable", "constant", "add", "sub", "mul", "tanh", "relu", "dot",
    )

    def __init__(self, grad_enabled: bool, anomaly: bool, place: Place) -> None:
        self.grad_enabled = grad_enabled
        self.anomaly = anomaly
        self.place = place
        self.scope = place.scope
        self.variable = place.variable
        self.constant = place.constant
        fast = grad_enabled and not anomaly
        self.add = place.add if fast else None
        self.sub = place.sub if fast else None
        self.mul = place.mul if fast else None
        self.tanh = place.tanh if fast else None
        self.relu = place.relu if fast else None
        self.dot = place.dot if fast else None

    def __repr__(self) -> str:
        return f"Mode(grad_enabled={self.grad_enabled}, anomaly={self.anomaly}, scope={self.scope!r})"


def mode_of(grad_enabled: bool, anomaly: bool, place: Place) -> Mode:
    """The shared Mode of these settings in ``place``."""
    return place.modes[grad_enabled, anomaly]


NO_SCOPE = Place(None)
DEFAULT_MODE: Mode = mode_of(True, False, NO_SCOPE)
MODE: contextvars.ContextVar[Mode] = contextvars.ContextVar("chainrule_mode", default=DEFAULT_MODE)
# Bound once: `get_mode()` is a specialised call of a C function, where
# `MODE.get()` looks the method up on every call.
get_mode = MODE.get
set_mode = MODE.set
reset_mode = MODE.reset
# The modes to restore on exit, with the switch that saved each, kept per context
# too, so one switch object can be shared by threads and tasks without their
# exits crossing.
_SAVED: contextvars.ContextVar[tuple[tuple[object, Mode], ...]] = contextvars.ContextVar(
    "chainrule_saved", default=()
)


class _ModeSwitch:
    """A context manager that is also a decorator; it restores the previous mode on exit.

    As a decorator it covers plain, generator, async and async generator
    functions. For generators the mode holds while the body runs, and the
    caller's mode is back in force at every ``yield`` (as PyTorch does).
    """

    def _enter_mode(self, mode: Mode) -> Mode:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> None:
        mode = get_mode()
        _SAVED.set((*_SAVED.get(), (self, mode)))
        set_mode(self._enter_mode(mode))

    def __exit__(self, *exc: object) -> None:
        saved = _SAVED.get()
        name = type(self).__name__
        if not saved:
            raise RuntimeError(f"{name}().__exit__ was called without a matching __enter__ in this thread or task")
        owner, mode = saved[-1]
        if owner is not self:
            raise RuntimeError(
                f"{name}().__exit__ does not match the innermost __enter__ (a {type(owner).__name__}()); "
                "mode switches must be exited in the reverse order they were entered"
            )
        set_mode(mode)
        _SAVED.set(saved[:-1])

    def __call__(self, fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}() decorates a function, got {type(fn).__name__} {fn!r:.60}")
        switch = type(self)
        if inspect.isasyncgenfunction(fn):
            return functools.wraps(fn)(_wrap_async_generator(switch, fn))  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):
            return functools.wraps(fn)(_wrap_generator(switch, fn))  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def coroutine(*args: Any, **kwargs: Any) -> Any:
                with switch():
                    return await fn(*args, **kwargs)

            return coroutine  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with switch():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _wrap_generator(
    switch: Callable[[], _ModeSwitch], fn: Callable[..., Any]
) -> Callable[..., Generator[Any, Any, Any]]:
    """Run each step of the generator (start, send, throw, close) inside the switch."""

    def generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        with switch():
            gen = fn(*args, **kwargs)
        try:
            with switch():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with switch():
                        gen.close()
                    raise
                except BaseException as exc:  # thrown in by the caller: pass it on inside the mode
                    with switch():
                        response = gen.throw(exc)
                else:
                    with switch():
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return generator


def _wrap_async_generator(
    switch: Callable[[], _ModeSwitch], fn: Callable[..., Any]
) -> Callable[..., AsyncGenerator[Any, Any]]:
    """As _wrap_generator, for ``async def`` functions that ``yield``."""

    async def generator(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        with switch():
            gen = fn(*args, **kwargs)
        try:
            with switch():
                response = await gen.asend(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with switch():
                        await gen.aclose()
                    raise
                except BaseException as exc:
                    with switch():
                        response = await gen.athrow(exc)
                else:
                    with switch():
                        response = await gen.asend(request)
        except StopAsyncIteration:
            return

    return generator


class no_grad(_ModeSwitch):
    """Context manager and decorator: ops record no parents (results are leaves).

    Example::

        with no_grad():
            y = x * 2          # y.parents == ()
    """

    def _enter_mode(self, mode: Mode) -> Mode:
        return mode_of(False, mode.anomaly, mode.place)


class enable_grad(_ModeSwitch):
    """Context manager and decorator: turn recording back on inside ``no_grad``."""

    def _enter_mode(self, mode: Mode) -> Mode:
        return mode_of(True, mode.anomaly, mode.place)


class detect_anomaly(_ModeSwitch):
    """Context manager and decorator: raise ``AnomalyError`` at the first nan or inf.

    Forward: at the first op whose output or local derivative is nan or inf,
    naming the op and its inputs. Backward (``backward()``, ``grad()``, with
    or without ``create_graph``): at the first gradient that becomes nan or
    inf, naming the node (label, op, module scope) and the consumer whose
    term made it, before any ``.grad`` is changed. Outside anomaly mode
    backward pays nothing for this.
    """

    def _enter_mode(self, mode: Mode) -> Mode:
        return mode_of(mode.grad_enabled, True, mode.place)


def is_grad_enabled() -> bool:
    """Return True when ops record their parents in the current context."""
    return get_mode().grad_enabled


def is_anomaly_enabled() -> bool:
    """Return True inside ``detect_anomaly()`` in the current context."""
    return get_mode().anomaly


# (outer path, name) -> the Place of that path: one string and one Place per module path
_PATHS: dict[tuple[str | None, str], Place] = {}


class scope:
    """Tag every node made inside with a module path (``"layers.0.neurons.3"``).

    Scopes nest with dots. ``nn`` uses this so ``viz`` can draw modules as
    clusters; autograd itself never reads it. ``with scope(name) as path:``
    gives the full dotted path now in force.

    Args:
        name: this level's name; it must be a non-empty str.
    """

    __slots__ = ("_name", "_token")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"scope() expects a non-empty str, got {name!r}")
        self._name = name

    def __enter__(self) -> str:
        self._token = enter_scope(self._name)
        path = get_mode().scope
        assert path is not None  # a scope is in force
        return path

    def __exit__(self, *exc: object) -> None:
        exit_scope(self._token)


def enter_scope(name: str) -> contextvars.Token[Mode]:
    """Enter the scope ``name`` (a non-empty str, not checked) without a context manager.

    For loops that switch scope per call (nn's modules): cheaper than making a
    :class:`scope` object. Pair it with ``exit_scope(token)`` in a ``finally``.

    Returns:
        The token that :func:`exit_scope` takes to restore the previous mode.
    """
    mode = get_mode()
    return set_mode(mode_of(mode.grad_enabled, mode.anomaly, _path(mode.scope, name)))


def _path(outer: str | None, name: str) -> Place:
    """The shared Place of scope ``name`` inside the scope ``outer``."""
    place = _PATHS.get((outer, name))
    if place is None:
        if len(_PATHS) > 100_000:  # bounded: paths are few in practice
            _PATHS.clear()
        place = _PATHS[(outer, name)] = Place(f"{outer}.{name}" if outer else name)
    return place


# exit_scope(token): back to the mode before the enter_scope() that gave the token.
exit_scope = reset_mode

# (mode, prefix, n) -> the modes of scopes prefix.0 ... prefix.<n-1> inside that mode
_SCOPED: dict[tuple[Mode, str, int], list[Mode]] = {}


def scoped_modes(prefix: str, n: int) -> list[Mode]:
    """Return the modes of the scopes ``prefix.0`` ... ``prefix.<n-1>`` inside the current one.

    For a module that runs n children per call (a layer's neurons): one
    lookup per call, then ``token = set_mode(modes[i])`` / ``reset_mode(token)``
    around child i, which is what ``enter_scope(f"{prefix}.{i}")`` /
    ``exit_scope`` do, without rebuilding the path and the mode per child.
    The lists are cached (bounded) and shared: do not change them.
    """
    mode = get_mode()
    key = (mode, prefix, n)
    modes = _SCOPED.get(key)
    if modes is None:
        modes = [mode_of(mode.grad_enabled, mode.anomaly, _path(mode.scope, f"{prefix}.{i}")) for i in range(n)]
        if len(_SCOPED) > 10_000:  # bounded: a few per model in practice
            _SCOPED.clear()
        _SCOPED[key] = modes
    return modes


def current_scope() -> str | None:
    """Return the module path new nodes are tagged with, or None."""
    return get_mode().scope
