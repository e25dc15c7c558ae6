"""Render DOT text to SVG, PNG or PDF safely: the system ``dot`` or the graphviz-pure fallback, within limits.

Which renderer. The system Graphviz ``dot`` when it is on PATH and works;
otherwise graphviz-pure, installed with chainrule from PyPI, so a fresh machine
renders after ``pip install`` alone. If ``dot`` fails (a broken install, a
missing plugin, a crash), the same call falls back to graphviz-pure and says so
once (:class:`RendererWarning`). Every way of rendering goes through
:func:`render_source`: :func:`viz.render`, and the ``render()``, ``pipe()``,
``view()`` and Jupyter display of the :class:`viz.Diagram` that ``viz.draw``
returns (:class:`RenderedDigraph`). The renderer is looked up on every call
(``shutil.which``), so changing PATH takes effect at once.

Why graphviz-pure is the fallback, not pygraphviz (checked on Linux x86_64,
CPython 3.11, November 2026):

- graphviz-pure 0.2.2 (a Rust port of Graphviz 16.1.0, EPL-2.0; beta, from
  an unaffiliated publisher whose wheels carry a signed build-provenance
  attestation): one static 13 MB program with ``dot``'s command line and
  nothing else to load. Its SVG was byte-identical to upstream Graphviz 16.1.0
  on our DOT, and the tests compare it with the system Graphviz. It makes SVG,
  PNG and JPEG, not PDF.
- pygraphviz 2.0.4 (the NetworkX team, BSD): its wheel bundles Graphviz
  14.1.5 with cairo and pango (108 MB installed; it can make PDF), but it is a
  library in our process, not a program: a Graphviz crash (system ``dot``
  segfaulted on a 150k-node chain) would kill the Python kernel, and neither
  the time limit nor the memory limit below could be applied without a
  subprocess of our own. Its wheel also needs system libraries it does not
  bundle (libX11, libXext, libXrender, libxcb, glib/gobject, libexpat) and
  fonts found through fontconfig, absent from slim containers.

So graphviz-pure, pinned to its 0.2 series in pyproject (0.x: minor versions
may break). PDF needs the system ``dot``; asking the fallback for it is an
error that says how to install Graphviz.

Limits (:class:`Limits`, per call or per diagram): the renderer runs as a
subprocess with a time limit (60 s), an address-space limit (4 GiB, POSIX),
no core dumps, and diagrams with more than 20,000 nodes are refused before it
starts, with advice on drawing fewer. A renderer that crashes, is killed or
runs out of memory raises :class:`RendererError` naming the exit status or
signal. What the renderer prints on stderr is shown once per message as a
:class:`RendererWarning`, never dropped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import graphviz

from chainrule.viz.glyphs import non_ascii

try:  # POSIX only: elsewhere the renderer runs without a memory limit
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

# Suffix -> Graphviz output format; None: the DOT text itself.
SUFFIXES: dict[str, str | None] = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}
# What graphviz-pure renders (its -T list, minus the text formats we don't need).
FALLBACK_FORMATS = frozenset({"svg", "png", "jpeg", "jpg", "jpe", "dot", "gv", "canon", "plain", "xdot", "json"})
FALLBACK = "graphviz-pure"
INSTALL_GRAPHVIZ = (
    "install Graphviz, which provides `dot`: `sudo apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS), or `conda install -c conda-forge graphviz`"
)
GiB = 2**30


class RendererError(RuntimeError):
    """No renderer could make the requested output, or the renderer failed, crashed or hit a limit."""


class DiagramTooLarge(RendererError):
    """The diagram has more nodes than :attr:`Limits.nodes`; nothing was run."""


class RendererWarning(UserWarning):
    """Something the renderer said, or a fallback from a failing system ``dot`` (each shown once)."""


@dataclass(frozen=True)
class Limits:
    """Limits on one rendering.

    Attributes:
        seconds: wall-clock time the renderer may take (None: no limit).
        nodes: the most nodes a diagram may have; larger ones are refused
            before rendering (None: no limit).
        memory: the renderer's address space in bytes (None: no limit).
            Applied on POSIX systems; a renderer that needs more fails and
            the error says so.
    """

    seconds: float | None = 60.0
    nodes: int | None = 20_000
    memory: int | None = 4 * GiB

    def __post_init__(self) -> None:
        for name in ("seconds", "nodes", "memory"):
            value = getattr(self, name)
            if value is None:
                continue
            integral = name != "seconds"
            ok = isinstance(value, int) if integral else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok or not value > 0:
                kind = "a positive int" if integral else "a positive number of seconds"
                raise ValueError(f"Limits.{name} must be {kind} or None, got {value!r}")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Renderer:
    """The program that renders DOT.

    Attributes:
        name: "dot" (system Graphviz) or "graphviz-pure" (the PyPI fallback).
        path: the program's path.
    """

    name: str
    path: str

    def can_render(self, fmt: str) -> bool:
        """Tell whether this renderer can produce a format.

        Args:
            fmt: a Graphviz output format ("svg", "pdf", ...).

        Returns:
            True for anything when it is ``dot``; graphviz-pure's formats otherwise.
        """
        return self.name == "dot" or fmt in FALLBACK_FORMATS


def _fallback() -> Renderer | None:
    # The virtual environment's bin directory needn't be on PATH (a venv used without activating it).
    bindir = Path(sys.executable).parent
    for candidate in (bindir / FALLBACK, bindir / f"{FALLBACK}.exe"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return Renderer(FALLBACK, str(candidate))
    found = shutil.which(FALLBACK)
    return None if found is None else Renderer(FALLBACK, found)


def renderers() -> list[Renderer]:
    """Return the renderers to try, in order: the system ``dot`` (if on PATH), then graphviz-pure (if installed).

    Returns:
        The list (empty when neither is installed).
    """
    found = []
    dot = shutil.which("dot")
    if dot is not None:
        found.append(Renderer("dot", dot))
    fallback = _fallback()
    if fallback is not None:
        found.append(fallback)
    return found


def find_renderer() -> Renderer:
    """Return the first choice: ``dot`` on PATH, else graphviz-pure next to this Python, else on PATH.

    Returns:
        The :class:`Renderer`.

    Raises:
        RendererError: neither is installed.
    """
    found = renderers()
    if not found:
        raise RendererError(_nothing_installed())
    return found[0]


def _nothing_installed() -> str:
    return (
        f"no DOT renderer found: neither `dot` nor `{FALLBACK}` is installed; "
        f"`pip install {FALLBACK}` (a dependency of chainrule) or {INSTALL_GRAPHVIZ}"
    )


# ----------------------------------------------------------------------------
# Counting nodes, so a huge diagram is refused before anything runs
# ----------------------------------------------------------------------------

_ID = r'(?:"(?:[^"\\]|\\.)*"|[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*|-?(?:\.\d+|\d+(?:\.\d*)?))'
# A node statement starts its line: an id, then attributes or the end of the statement (not an edge).
_NODE_STATEMENT = re.compile(rf"^[ \t]*(?!(?:node|edge|graph|subgraph|strict|digraph)\b){_ID}[ \t]*(?:\[|;|$)", re.M)


def count_nodes(source: str) -> int:
    """Count the node statements of DOT text (one per line, as ``graphviz.Digraph`` writes them).

    Args:
        source: DOT text.

    Returns:
        The number of lines that declare a node (edges and attribute statements excluded).
    """
    return sum(1 for _ in _NODE_STATEMENT.finditer(source))


def check_size(nodes: int, limits: Limits) -> None:
    """Refuse a diagram with more nodes than ``limits.nodes``.

    Args:
        nodes: how many nodes it has.
        limits: the limits in force.

    Raises:
        DiagramTooLarge: too many nodes; the message says how to draw fewer.
    """
    if limits.nodes is None or nodes <= limits.nodes:
        return
    raise DiagramTooLarge(
        f"the diagram has {nodes:,} nodes, more than the renderer's limit of {limits.nodes:,} "
        "(a picture that size can't be read, and laying it out can take hours and gigabytes). "
        "Draw fewer: viz.draw(..., max_nodes=150) collapses modules and stacks repeated ops until it fits; "
        'view="network" draws an nn model as neurons and weights; collapse=["layers.0", ...] draws chosen '
        f"modules as one box each. To render it anyway, raise the limit: limits=viz.Limits(nodes={nodes})"
    )


# ----------------------------------------------------------------------------
# Running a renderer
# ----------------------------------------------------------------------------

_said: set[str] = set()  # the warnings already shown in this process
_broken: dict[tuple[str, str], str] = {}  # (dot's path, format) -> why it can't make that format


def _warn_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        warnings.warn(message, RendererWarning, stacklevel=4)


def _child_limits(memory: int | None) -> Callable[[], None] | None:
    if resource is None:
        return None
    # Worked out here, in the parent: the child only calls setrlimit. A lower hard limit already
    # in force (ulimit -v) is kept, since a process can't raise it.
    address_space = None
    if memory is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        address_space = (memory if hard == resource.RLIM_INFINITY else min(memory, hard), hard)

    def apply() -> None:  # runs in the child between fork and exec
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
            if address_space is not None:
                resource.setrlimit(resource.RLIMIT_AS, address_space)
        except (ValueError, OSError):  # pragma: no cover - a platform that refuses: render without the limit
            pass

    return apply


_OUT_OF_MEMORY = re.compile(
    r"memory allocation of|out of memory|MemoryError|bad_alloc|Cannot allocate memory|failed to map", re.I
)
# What the system's out-of-memory killer sends.
_KILLED = getattr(signal, "SIGKILL", 9)


@dataclass
class _Failure:
    message: str
    timed_out: bool = False


def _run(
    renderer: Renderer, source: bytes, fmt: str, limits: Limits, *, quiet: bool = True, deadline: float | None = None
) -> bytes | _Failure:
    """Run one renderer; return its output, or why it failed (what it printed is shown unless ``quiet``)."""
    seconds = limits.seconds
    if deadline is not None:  # what is left of the call's time limit
        seconds = max(deadline - time.monotonic(), 0.001)
    try:
        result = subprocess.run(
            [renderer.path, f"-T{fmt}"], input=source, capture_output=True, check=False,
            timeout=seconds, preexec_fn=_child_limits(limits.memory),
        )
    except subprocess.TimeoutExpired:  # run() has killed it
        return _Failure(
            f"{renderer.name} took longer than the time limit of {limits.seconds:g} s and was stopped "
            "(draw fewer nodes: max_nodes=150, collapse=[...] or view=\"network\"; "
            "or allow more time: limits=viz.Limits(seconds=...))",
            timed_out=True,
        )
    except OSError as error:
        return _Failure(f"could not run {renderer.name} ({renderer.path}): {error}")
    stderr = result.stderr.decode("utf-8", "replace").strip()
    code = result.returncode
    if code == 0 and result.stdout:
        for line in [] if quiet else _messages(stderr):
            _warn_once(_explain(renderer, line, source))
        return result.stdout
    said = f": {_shorten(stderr)}" if stderr else ""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = f"{renderer.name} crashed while rendering {fmt} (killed by {name}){said}"
    else:
        why = f"{renderer.name} failed to render {fmt} (exit status {code}){said or ': (no message)'}"
    if limits.memory is not None and (_OUT_OF_MEMORY.search(stderr) or code == -_KILLED):
        why += (
            f" (it may have run out of its memory limit of {_size(limits.memory)}: draw fewer nodes, "
            "or allow more with limits=viz.Limits(memory=...))"
        )
    elif "not recognized" in stderr:
        why += f"; {INSTALL_GRAPHVIZ}"
    return _Failure(why)


def _size(nbytes: int) -> str:
    return f"{nbytes / GiB:g} GiB" if nbytes >= GiB else f"{nbytes / 2**20:g} MiB"


def _shorten(stderr: str, lines: int = 4, chars: int = 600) -> str:
    # A Rust panic or a Graphviz error can run to pages: the first lines say what happened.
    kept = " / ".join(stderr.splitlines()[:lines])
    return kept if len(kept) <= chars else kept[: chars - 3] + "..."


def _messages(stderr: str) -> list[str]:
    # Graphviz continues a message on lines of its own ("in label of node x"): keep them with their message.
    messages: list[str] = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        if messages and not re.match(r"(Warning|Error|Fontconfig|[A-Za-z]+:)", line):
            messages[-1] += " " + line.strip()
        else:
            messages.append(line.strip())
    return messages


def _explain(renderer: Renderer, message: str, source: bytes) -> str:
    if "no value for width of non-ASCII character" in message:
        shown = "".join(non_ascii(source.decode("utf-8", "replace"))[:8])
        return (
            f"{renderer.name} can't measure characters outside ASCII (here: {shown}): it sizes each as spaces, "
            "so the boxes around them may be a little too wide or narrow. The system Graphviz measures them "
            f"with real fonts: {INSTALL_GRAPHVIZ}"
        )
    return f"{renderer.name}: {message}"


def _works(renderer: Renderer, fmt: str, limits: Limits) -> bool:
    """Tell whether a renderer makes ``fmt`` from an empty graph (so a failure was the input's, not the install's)."""
    # The default memory limit, not the caller's: a tiny limit must not mark a good dot broken for the session.
    probe = Limits(seconds=10.0, nodes=None, memory=DEFAULT_LIMITS.memory)
    return not isinstance(_run(renderer, b"digraph {}", fmt, probe), _Failure)


def render_source(
    source: str, fmt: str, *, renderer: Renderer | None = None, limits: Limits | None = None, quiet: bool = False
) -> bytes:
    """Render DOT text to bytes in ``fmt``, within limits, falling back to graphviz-pure if ``dot`` fails.

    Args:
        source: the DOT text.
        fmt: a Graphviz output format ("svg", "png", "pdf", ...).
        renderer: use only this program (no fallback); by default the system
            ``dot`` if it is on PATH and works, else graphviz-pure.
        limits: time, node and memory limits (default :data:`DEFAULT_LIMITS`).
        quiet: don't show what a renderer printed while succeeding (a fallback
            from a failing ``dot`` is still said).

    Returns:
        The rendered bytes.

    Raises:
        DiagramTooLarge: more nodes than ``limits.nodes`` (nothing is run).
        RendererError: no renderer can make ``fmt`` (the message says how to
            install Graphviz), or the renderer failed, crashed (the message
            names the exit status or signal), ran out of time or memory.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be DOT text (str), got {type(source).__name__}")
    if not isinstance(fmt, str) or not fmt.isalnum():
        raise ValueError(f"fmt must be a Graphviz format name such as 'svg', got {fmt!r}")
    limits = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a viz.Limits, got {type(limits).__name__}")
    check_size(count_nodes(source), limits)
    if renderer is not None:
        candidates = [renderer]
    else:
        candidates = renderers()
        if not candidates:
            raise RendererError(_nothing_installed())
        # A dot known not to make this format is skipped (its fallback warning was shown already).
        candidates = [r for r in candidates if (r.path, fmt) not in _broken] or candidates
    data = source.encode("utf-8")
    # The time limit is on the whole call: a fallback gets what the failed renderer left.
    deadline = None if limits.seconds is None else time.monotonic() + limits.seconds
    failures: list[str] = []
    for k, candidate in enumerate(candidates):
        last = k == len(candidates) - 1
        if not candidate.can_render(fmt):
            failures.append(
                f"{fmt.upper()} needs Graphviz's `dot`, which is not installed: the fallback renderer {FALLBACK} "
                f"makes only SVG and PNG. Write .svg or .png instead, or {INSTALL_GRAPHVIZ}"
            )
            continue
        result = _run(candidate, data, fmt, limits, quiet=quiet, deadline=deadline)
        if not isinstance(result, _Failure):
            return result
        failures.append(result.message)
        if result.timed_out or last:
            break
        following = candidates[k + 1]
        if not following.can_render(fmt):
            break
        if not _works(candidate, fmt, limits):
            _broken[(candidate.path, fmt)] = result.message
            _warn_once(
                f"the system Graphviz `dot` ({candidate.path}) can't render {fmt}: {result.message}. "
                f"Rendering with {following.name} instead, now and for the rest of this session"
            )
        else:
            _warn_once(f"{result.message}. Rendered with {following.name} instead")
    raise RendererError("; then ".join(failures))


# ----------------------------------------------------------------------------
# Files and the Digraph every diagram is
# ----------------------------------------------------------------------------


def format_for(path: Path) -> str | None:
    """Return the output format for a file's suffix.

    Args:
        path: the file to write.

    Returns:
        The Graphviz format ("svg", "png", "pdf"), or None for .dot/.gv (the DOT text itself).

    Raises:
        ValueError: an unknown suffix (the message lists the known ones).
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"can't tell the format of {str(path)!r} from its suffix {suffix or '(none)'!r}; "
            f"use one of {', '.join(SUFFIXES)}"
        )
    return SUFFIXES[suffix]


def write(source: str, path: str | os.PathLike[str], *, limits: Limits | None = None) -> Path:
    """Render DOT text into a file whose suffix names the format (rendered first: a failure writes nothing).

    Args:
        source: the DOT text.
        path: where to write: .svg, .png, .pdf, or .dot/.gv for the DOT text itself.
        limits: see :func:`render_source`.

    Returns:
        The path written.

    Raises:
        ValueError: unknown suffix. RendererError: see :func:`render_source`.
    """
    target = Path(path)
    fmt = format_for(target)
    data = source.encode("utf-8") if fmt is None else render_source(source, fmt, limits=limits)
    target.write_bytes(data)
    return target


class RenderedDigraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose every way of rendering goes through :func:`render_source`.

    ``render()``, ``pipe()``, ``view()`` and Jupyter's display use the system
    ``dot`` when it works and graphviz-pure otherwise, within :attr:`limits`;
    the default format is SVG (which both make). A failed rendering writes no
    file. (``unflatten()`` still runs Graphviz's own ``unflatten`` program.)

    Attributes:
        limits: the :class:`Limits` of every rendering of this diagram
            (None: :data:`DEFAULT_LIMITS`).
    """

    _format = "svg"
    limits: Limits | None = None

    def pipe_format(self, fmt: str, *, quiet: bool = False) -> bytes:
        """Render the DOT source to ``fmt`` ("svg", "png", ...).

        Args:
            fmt: a Graphviz output format.
            quiet: don't show what the renderer prints.

        Returns:
            The rendered bytes.
        """
        return render_source(self.source, fmt, limits=self.limits, quiet=quiet)

    def svg(self) -> str:
        """Render the diagram as SVG.

        Returns:
            The SVG text.
        """
        return self.pipe_format("svg").decode("utf-8")

    def pipe(
        self,
        format: str | None = None,  # noqa: A002 - graphviz's name
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        *,
        engine: str | None = None,
        encoding: str | None = None,
    ) -> bytes | str:
        """Return the rendered diagram (graphviz's ``pipe()``, through :func:`render_source`).

        Args:
            format: the output format (default: the diagram's, SVG).
            renderer, formatter, neato_no_op: not supported (must be None).
            quiet: don't show what the renderer prints.
            engine: the layout engine: only "dot".
            encoding: decode the output with this encoding (default: bytes).

        Returns:
            The bytes, or text when ``encoding`` is given.
        """
        fmt = self._check_options(format, renderer, formatter, neato_no_op, engine)
        data = self.pipe_format(fmt, quiet=quiet)
        return data if encoding is None else data.decode(encoding)

    def render(
        self,
        filename: str | os.PathLike[str] | None = None,
        directory: str | os.PathLike[str] | None = None,
        view: bool = False,
        cleanup: bool = False,
        format: str | None = None,  # noqa: A002 - graphviz's name
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        quiet_view: bool = False,
        *,
        outfile: str | os.PathLike[str] | None = None,
        engine: str | None = None,
        raise_if_result_exists: bool = False,
        overwrite_source: bool = False,
    ) -> str:
        """Save the DOT source and the rendered file (graphviz's ``render()``, through :func:`render_source`).

        Renders first, in memory: if that fails, no file is written.

        Args:
            filename: the DOT source file (default: ``<name>.gv``).
            directory: where both files go (default: the diagram's ``directory``).
            view: open the rendered file with the system's viewer.
            cleanup: don't keep the DOT source file.
            format: the output format (default: ``outfile``'s suffix, else SVG).
            renderer, formatter, neato_no_op: not supported (must be None).
            quiet: don't show what the renderer prints.
            quiet_view: open the viewer quietly (implies ``view``).
            outfile: the rendered file (default: the source file's path plus ``.<format>``).
            engine: the layout engine: only "dot".
            raise_if_result_exists: raise ``graphviz.FileExistsError`` if the rendered file exists.
            overwrite_source: allow ``outfile`` to be the source file.

        Returns:
            The path of the rendered file.
        """
        folder = Path(self.directory if directory is None else directory)
        source_path = folder / (self.filename if filename is None else Path(filename))
        if outfile is not None:
            out = Path(outfile)
            if directory is None and not out.is_absolute():
                out = Path(self.directory) / out
            if format is None:
                suffix = out.suffix.lstrip(".").lower()
                if not suffix:
                    raise ValueError(f"can't tell the format of outfile {str(outfile)!r}: give format=")
                format = suffix  # noqa: A001
            if filename is None:
                source_path = out.with_suffix(".gv")
        fmt = self._check_options(format, renderer, formatter, neato_no_op, engine)
        if outfile is None:
            out = source_path.with_name(f"{source_path.name}.{fmt}")
        if out.resolve() == source_path.resolve() and not cleanup and not overwrite_source:
            raise ValueError(f"outfile {str(out)!r} is the DOT source file; pass overwrite_source=True")
        if raise_if_result_exists and out.exists():
            raise graphviz.FileExistsError(f"output file exists: {str(out)!r}")
        data = self.pipe_format(fmt, quiet=quiet)  # before any file is touched
        out.parent.mkdir(parents=True, exist_ok=True)
        if not cleanup:
            source_path.parent.mkdir(parents=True, exist_ok=True)
            source_path.write_text(self.source, encoding=self.encoding)
        out.write_bytes(data)
        if view or quiet_view:
            graphviz.view(out, quiet=quiet_view)
        return str(out)

    def _check_options(
        self, format: str | None, renderer: str | None, formatter: str | None,  # noqa: A002
        neato_no_op: bool | int | None, engine: str | None,
    ) -> str:
        unsupported = {"renderer": renderer, "formatter": formatter, "neato_no_op": neato_no_op}
        given = [name for name, value in unsupported.items() if value not in (None, False)]
        if given:
            raise ValueError(f"{', '.join(given)}: not supported; chainrule renders with `dot` or {FALLBACK}")
        if engine not in (None, "dot"):
            raise ValueError(f"engine must be 'dot', got {engine!r}")
        fmt = self.format if format is None else format
        if not isinstance(fmt, str) or not fmt.isalnum():
            raise ValueError(f"format must be a Graphviz format name such as 'svg', got {fmt!r}")
        return fmt.lower()

    def _repr_image_svg_xml(self) -> str:
        return self.svg()

    def _repr_image_png(self) -> bytes:
        return self.pipe_format("png")

    def _repr_image_jpeg(self) -> bytes:
        return self.pipe_format("jpeg")

    def _repr_svg_(self) -> str:
        return self.svg()
