"""Build the teaching notebooks: turn each ``src/NN_name.py`` into ``NN_name.ipynb`` and execute it in place.

The sources are plain Python in the "percent" format: a line ``# %%`` starts a
code cell and ``# %% [markdown]`` a markdown cell, whose lines are comments
(``# `` is stripped). Executing here, with nbclient on a fresh ``python3``
kernel of the running interpreter, stores the outputs in the committed
notebooks, so a reader sees the figures without running anything.

Usage (from the repository root)::

    .venv/bin/python notebooks/_build.py              # every notebook
    .venv/bin/python notebooks/_build.py 02 06        # those whose names start so
    .venv/bin/python notebooks/_build.py --no-execute # write the cells only
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbformat import NotebookNode

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
KERNEL = "python3"
CELL_TIMEOUT = 300  # seconds per cell; a whole notebook should take well under a minute


def sources() -> list[Path]:
    """Return the notebook sources, in order."""
    return sorted(SOURCES.glob("[0-9][0-9]_*.py"))


def notebook_path(source: Path) -> Path:
    """Return where the notebook built from ``source`` lives."""
    return HERE / (source.stem + ".ipynb")


def parse_cells(text: str) -> list[tuple[str, str]]:
    """Split percent-format text into (kind, source) pairs, kind "code" or "markdown".

    Args:
        text: the source file's text.

    Returns:
        The cells in order; text before the first marker is ignored (the file's header comment).
    """
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            kind = "markdown" if "[markdown]" in line else "code"
            cells.append((kind, []))
        elif cells:
            kind, lines = cells[-1]
            if kind == "markdown":
                if line and not line.startswith("#"):
                    raise ValueError(f"markdown cell {len(cells)}: line is not a comment: {line!r}")
                line = line[2:] if line.startswith("# ") else line[1:]
            lines.append(line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def build(source: Path) -> NotebookNode:
    """Return the (unexecuted) notebook for a source file."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3 (ipykernel)", "language": "python"}
    for kind, text in parse_cells(source.read_text(encoding="utf-8")):
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(text))
    # Stable cell ids keep the committed files' diffs small from one build to the next.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{source.stem[:2]}-{i:03d}"
    return nb


@contextlib.contextmanager
def _environment_kernels_first() -> Iterator[None]:
    # A "python3" kernelspec in the user's data directory (~/.local/share/jupyter)
    # would win over this environment's own and could run another Python; the
    # environment's spec says "python", which jupyter_client replaces with
    # sys.executable, so the notebooks run on the interpreter running this.
    saved = os.environ.get("JUPYTER_PREFER_ENV_PATH")
    os.environ["JUPYTER_PREFER_ENV_PATH"] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["JUPYTER_PREFER_ENV_PATH"]
        else:
            os.environ["JUPYTER_PREFER_ENV_PATH"] = saved


def execute(nb: NotebookNode, cwd: Path, *, timeout: int = CELL_TIMEOUT) -> NotebookNode:
    """Run every cell on a fresh ``python3`` kernel of this interpreter and return the notebook with its outputs.

    Args:
        nb: the notebook (changed in place).
        cwd: the kernel's working directory (files a notebook writes land there).
        timeout: seconds allowed per cell.

    Returns:
        ``nb``.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised.
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
        coalesce_streams=True,  # one stdout block per cell, however the prints were flushed
    )
    with _environment_kernels_first():
        client.execute()
    return nb


def main(argv: list[str] | None = None) -> int:
    """Build (and by default execute) the notebooks named on the command line, or all of them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="prefixes of the notebooks to build (default: all)")
    parser.add_argument("--no-execute", action="store_true", help="write the cells without running them")
    args = parser.parse_args(argv)
    chosen = [s for s in sources() if not args.names or any(s.stem.startswith(n) for n in args.names)]
    if not chosen:
        parser.error(f"no notebook source matches {args.names}")
    total = 0.0
    for source in chosen:
        nb = build(source)
        start = time.perf_counter()
        if not args.no_execute:
            execute(nb, HERE)
        elapsed = time.perf_counter() - start
        total += elapsed
        path = notebook_path(source)
        nbformat.write(nb, path)
        print(f"{path.name}: {elapsed:.1f} s, {path.stat().st_size / 1024:.0f} KiB", flush=True)
    print(f"total: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
