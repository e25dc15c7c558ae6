"""Render DOT text to SVG, PNG or PDF with the system ``dot``, or with graphviz-pure when Graphviz is missing.

graphviz-pure (a Rust port of Graphviz, installed with chainrule from PyPI) is
a program with ``dot``'s command line. It renders SVG and PNG, HTML-like labels
included, but no PDF: asking it for one gets an error saying how to install
Graphviz. The renderer is looked up on every call (``shutil.which``), so
changing PATH takes effect at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Suffix -> Graphviz output format; None: the DOT text itself.
SUFFIXES: dict[str, str | None] = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}
# What graphviz-pure renders (its -T list, minus the text formats we don't need).
FALLBACK_FORMATS = frozenset({"svg", "png", "jpeg", "jpg", "jpe", "dot", "gv", "canon", "plain", "xdot", "json"})
FALLBACK = "graphviz-pure"
INSTALL_GRAPHVIZ = (
    "install Graphviz, which provides `dot`: `sudo apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS), or `conda install -c conda-forge graphviz`"
)


class RendererError(RuntimeError):
    """No renderer could make the requested output, or the renderer failed."""


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


def find_renderer() -> Renderer:
    """Find the renderer: ``dot`` on PATH, else graphviz-pure next to this Python, else on PATH.

    Returns:
        The :class:`Renderer`.

    Raises:
        RendererError: neither is installed.
    """
    dot = shutil.which("dot")
    if dot is not None:
        return Renderer("dot", dot)
    # The virtual environment's bin directory needn't be on PATH (a venv used without activating it).
    bindir = Path(sys.executable).parent
    for candidate in (bindir / FALLBACK, bindir / f"{FALLBACK}.exe"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return Renderer(FALLBACK, str(candidate))
    found = shutil.which(FALLBACK)
    if found is not None:
        return Renderer(FALLBACK, found)
    raise RendererError(
        f"no DOT renderer found: neither `dot` nor `{FALLBACK}` is installed; "
        f"`pip install {FALLBACK}` (a dependency of chainrule) or {INSTALL_GRAPHVIZ}"
    )


def render_source(source: str, fmt: str, *, renderer: Renderer | None = None) -> bytes:
    """Render DOT text to bytes in ``fmt``.

    Args:
        source: the DOT text.
        fmt: a Graphviz output format ("svg", "png", "pdf", ...).
        renderer: which program; :func:`find_renderer` by default.

    Returns:
        The rendered bytes.

    Raises:
        RendererError: the renderer can't make ``fmt`` (the message says how to
            install Graphviz), or it failed (the message carries its stderr).
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be DOT text (str), got {type(source).__name__}")
    if not isinstance(fmt, str) or not fmt.isalnum():
        raise ValueError(f"fmt must be a Graphviz format name such as 'svg', got {fmt!r}")
    renderer = find_renderer() if renderer is None else renderer
    if not renderer.can_render(fmt):
        raise RendererError(
            f"{fmt.upper()} needs Graphviz's `dot`, which is not installed: the fallback renderer {FALLBACK} "
            f"makes only SVG and PNG. Write .svg or .png instead, or {INSTALL_GRAPHVIZ}"
        )
    try:
        result = subprocess.run(
            [renderer.path, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, check=False
        )
    except OSError as error:
        raise RendererError(f"could not run {renderer.name} ({renderer.path}): {error}") from None
    if result.returncode != 0 or not result.stdout:
        stderr = result.stderr.decode("utf-8", "replace").strip() or "(no message)"
        hint = f"; {INSTALL_GRAPHVIZ}" if "not recognized" in stderr else ""
        raise RendererError(
            f"{renderer.name} failed to render {fmt} (exit status {result.returncode}): {stderr}{hint}"
        )
    return result.stdout


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


def write(source: str, path: str | os.PathLike[str]) -> Path:
    """Render DOT text into a file whose suffix names the format.

    Args:
        source: the DOT text.
        path: where to write: .svg, .png, .pdf, or .dot/.gv for the DOT text itself.

    Returns:
        The path written.

    Raises:
        ValueError: unknown suffix. RendererError: see :func:`render_source`.
    """
    target = Path(path)
    fmt = format_for(target)
    data = source.encode("utf-8") if fmt is None else render_source(source, fmt)
    target.write_bytes(data)
    return target
