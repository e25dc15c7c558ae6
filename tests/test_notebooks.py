"""The teaching notebooks: committed as built from their sources, and each runs top to bottom on a fresh kernel.

The kernel is this interpreter (``python3`` resolved to ``sys.executable``),
so the notebooks test the code installed here. The notebooks check their own
claims with ``assert``s; here a few headline figures are checked as well.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()
SOURCES = build.sources()
NAMES = [s.stem for s in SOURCES]


def _stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stdout"
    )


def test_the_six_notebooks_exist() -> None:
    assert [name[:2] for name in NAMES] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_matches_its_source_and_carries_outputs(name: str) -> None:
    source = build.SOURCES / f"{name}.py"
    expected = build.build(source)
    committed = nbformat.read(build.notebook_path(source), as_version=4)
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in expected.cells], (
        f"notebooks/{name}.ipynb is stale: rebuild it with .venv/bin/python notebooks/_build.py {name[:2]}"
    )
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{name}: not every cell was executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"], f"{name}: a cell failed"
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{name}: no figure in the committed outputs"


@pytest.mark.parametrize("name", NAMES)
def test_relative_links_in_the_text_point_at_committed_files(name: str) -> None:
    nb = nbformat.read(build.notebook_path(build.SOURCES / f"{name}.py"), as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    targets = [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t and not t.startswith("#")]
    missing = [t for t in targets if not (NOTEBOOKS / t).is_file()]
    assert not missing, f"{name} links to missing files: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_outputs_carry_no_memory_addresses(name: str) -> None:
    # An address (<... at 0x7f...>) changes on every run, so every rebuild would differ.
    nb = nbformat.read(build.notebook_path(build.SOURCES / f"{name}.py"), as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            texts = [out.get("text", "")] + [v for v in out.get("data", {}).values() if isinstance(v, str)]
            found = [m for t in texts for m in re.findall(r" at 0x[0-9a-fA-F]{6,}", t)]
            assert not found, f"{name}, cell {cell.id}: an output carries a memory address {found}"


@pytest.mark.parametrize("name", NAMES)
def test_no_markdown_heading_is_left_inside_a_code_cell(name: str) -> None:
    # A missing "# %% [markdown]" marker turns a heading and its paragraph into comments of a code cell.
    nb = build.build(build.SOURCES / f"{name}.py")
    for cell in nb.cells:
        if cell.cell_type == "code":
            headings = [line for line in cell.source.splitlines() if re.match(r"#\s*#+ ", line)]
            assert not headings, f"{name}, cell {cell.id}: markdown headings inside a code cell: {headings}"


def _run(name: str, tmp_path: Path) -> nbformat.NotebookNode:
    nb = build.build(build.SOURCES / f"{name}.py")
    return build.execute(nb, tmp_path)


@pytest.mark.slow
def test_kernel_runs_this_interpreter(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    build.execute(nb, tmp_path)
    assert _stdout(nb).strip() == sys.executable


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_a_fresh_kernel(name: str, tmp_path: Path) -> None:
    nb = _run(name, tmp_path)  # raises CellExecutionError (with the cell and traceback) on any error
    text = _stdout(nb)
    if name.startswith("06"):
        match = re.search(r"final training accuracy: ([0-9.]+)%", text)
        assert match, "06 prints its final training accuracy"
        assert float(match.group(1)) >= 98.0
