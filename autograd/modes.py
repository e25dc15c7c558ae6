"""Grad mode, anomaly mode and module scope: per-thread, per-task engine state.

All three live in one :class:`contextvars.ContextVar`, so each thread and each
asyncio task sees its own setting and an op reads them with a single lookup.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, NamedTuple, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Mode(NamedTuple):
    """The engine's state for the current context.

    ``meta`` is the ``(label, scope)`` pair new nodes start with: ``("", path)``
    for the module path in force, one shared tuple per path.
    """

    grad_enabled: bool
    anomaly: bool
    meta: tuple[str, str | None]

    @property
    def scope(self) -> str | None:
        """The module path in force, or None."""
        return self.meta[1]


NO_SCOPE: tuple[str, str | None] = ("", None)
DEFAULT_MODE = Mode(True, False, NO_SCOPE)
MODE: contextvars.ContextVar[Mode] = contextvars.ContextVar("chainrule_mode", default=DEFAULT_MODE)
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
        mode = MODE.get()
        _SAVED.set((*_SAVED.get(), (self, mode)))
        MODE.set(self._enter_mode(mode))

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
        MODE.set(mode)
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
        return mode._replace(grad_enabled=False)


class enable_grad(_ModeSwitch):
    """Context manager and decorator: turn recording back on inside ``no_grad``."""

    def _enter_mode(self, mode: Mode) -> Mode:
        return mode._replace(grad_enabled=True)


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
        return mode._replace(anomaly=True)


def is_grad_enabled() -> bool:
    """Return True when ops record their parents in the current context."""
    return MODE.get().grad_enabled


# (outer path, name) -> ("", path): one string and one tuple per module path
_PATHS: dict[tuple[str | None, str], tuple[str, str]] = {}


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
        grad_enabled, anomaly, (_, outer) = MODE.get()
        key = (outer, self._name)
        meta = _PATHS.get(key)
        if meta is None:
            if len(_PATHS) > 100_000:  # bounded: paths are few in practice
                _PATHS.clear()
            meta = _PATHS[key] = ("", f"{outer}.{self._name}" if outer else self._name)
        self._token = MODE.set(Mode(grad_enabled, anomaly, meta))
        return meta[1]

    def __exit__(self, *exc: object) -> None:
        MODE.reset(self._token)


def current_scope() -> str | None:
    """Return the module path new nodes are tagged with, or None."""
    return MODE.get().scope
