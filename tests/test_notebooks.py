"""The teaching notebooks: committed as built from their sources, and each runs top to bottom on a fresh kernel.

The kernel is this interpreter (``python3`` resolved to ``sys.executable``),
so the notebooks test the code installed here. The notebooks check their own
claims with ``assert``s; here a few headline figures are checked as well.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import struct
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


def _png_dpi(png: bytes) -> float:
    """The resolution a PNG records in its pHYs chunk, in dots per inch (0 when it records none)."""
    offset = 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        if png[offset + 4 : offset + 8] == b"pHYs":
            x, _, unit = struct.unpack(">IIB", png[offset + 8 : offset + 17])
            return x * 0.0254 if unit == 1 else 0.0
        offset += 12 + length
    return 0.0


def test_png_dpi_reads_the_phys_chunk() -> None:
    header = b"\x89PNG\r\n\x1a\n"
    phys = struct.pack(">I", 9) + b"pHYs" + struct.pack(">IIB", 4724, 4724, 1) + b"\0\0\0\0"
    assert round(_png_dpi(header + phys)) == 120
    assert _png_dpi(header) == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_figures_are_drawn_at_110_dpi_or_more(name: str) -> None:
    nb = nbformat.read(build.notebook_path(build.SOURCES / f"{name}.py"), as_version=4)
    pngs = [base64.b64decode(o["data"]["image/png"]) for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    low = [round(_png_dpi(png)) for png in pngs if _png_dpi(png) < 110]
    assert not low, f"{name}: figures below 110 dpi (dpi: {low}); set figure.dpi"


@pytest.mark.parametrize("name", NAMES)
def test_no_text_smaller_than_9_points_is_asked_for(name: str) -> None:
    text = (build.SOURCES / f"{name}.py").read_text(encoding="utf-8")
    sizes = re.findall(r"fontsize[\"']?\s*[=:]\s*([0-9.]+)", text) + re.findall(r"\"font\.size\":\s*([0-9.]+)", text)
    assert sizes, f"{name} sets no font size"
    assert all(float(size) >= 9 for size in sizes), f"{name} asks for text below 9 pt: {sizes}"
    assert not re.search(r"fontsize=[\"'](x-small|xx-small|small)", text), f"{name} asks for small text"


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
def test_sources_hold_no_control_characters(name: str) -> None:
    # A LaTeX command written into a Python string without a raw prefix loses its backslash: "\\text" -> tab + "ext".
    text = (build.SOURCES / f"{name}.py").read_text(encoding="utf-8")
    found = sorted({repr(ch) for ch in text if ord(ch) < 32 and ch != "\n"})
    assert not found, f"{name} holds control characters {found}"


@pytest.mark.parametrize("name", NAMES)
def test_no_markdown_heading_is_left_inside_a_code_cell(name: str) -> None:
    # A missing "# %% [markdown]" marker turns a heading and its paragraph into comments of a code cell.
    nb = build.build(build.SOURCES / f"{name}.py")
    for cell in nb.cells:
        if cell.cell_type == "code":
            headings = [line for line in cell.source.splitlines() if re.match(r"#\s*#+ ", line)]
            assert not headings, f"{name}, cell {cell.id}: markdown headings inside a code cell: {headings}"


VERDICT = re.compile(r"\*\*(Right|Partly right|Wrong)\b")
LEDGER_HEADING = "## The course notes' claims on this question"


def _ledger(name: str) -> list[str]:
    """The items of a notebook's ledger of the course notes' claims, each joined onto one line."""
    nb = build.build(build.SOURCES / f"{name}.py")
    cells = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith(LEDGER_HEADING)]
    if not cells:
        return []
    assert len(cells) == 1, f"{name} has {len(cells)} ledgers"
    items = re.split(r"\n(?=- \*\*Question)", cells[0])[1:]
    return [" ".join(line.strip() for line in item.splitlines()) for item in items]


def _headings(name: str) -> list[str]:
    nb = build.build(build.SOURCES / f"{name}.py")
    return [line.lstrip("#").strip() for c in nb.cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if line.startswith("#")]


QUESTION_NOTEBOOKS = {"01": 1, "02": 2, "03": 3, "04": 4, "05": 5}


@pytest.mark.parametrize("name", [n for n in NAMES if n[:2] in QUESTION_NOTEBOOKS])
def test_each_question_notebook_has_a_ledger_of_the_notes_claims(name: str) -> None:
    items = _ledger(name)
    assert items, f"{name} has no ledger ({LEDGER_HEADING!r} with items '- **Question N.** ...')"
    headings = _headings(name)
    for item in items:
        assert item.startswith(f"- **Question {QUESTION_NOTEBOOKS[name[:2]]}.**"), f"{name}: wrong question: {item}"
        assert VERDICT.search(item), f"{name}: no verdict (right / partly right / wrong): {item}"
        shown = re.search(r"\*Shown in: (.+?)\*$", item)
        assert shown, f"{name}: the item names no section: {item}"
        for section in shown.group(1).rstrip(".").split("; "):
            assert any(h.startswith(section.strip()) for h in headings), f"{name}: no section {section!r}"


# Every claim of the course notes on the five questions: a phrase of it, and the notebook whose ledger has it.
NOTES_CLAIMS = {
    "weighted sum of its inputs plus a bias": "01",
    "weighted average": "01",
    "stores a value": "01",
    "computes a function": "01",
    "process it through activation function": "01",
    "placed outside the neuron": "01",
    "pixels": "01",
    "step size of gradient descent": "02",
    "oscillates or diverges": "02",
    "must lie in (0, 1)": "02",
    "stays identical": "03",
    "asymmetry": "03",
    "Random normal or uniform": "03",
    "U(0, 1)": "03",
    "Xavier / Glorot": "03",
    "He / Kaiming": "03",
    "measure of the error": "04",
    "difference between predicted and actual": "04",
    "MSE is a loss": "04",
    "Categorical cross-entropy": "04",
    "NLL is a loss": "04",
    "sum, over its consumers": "05",
    "vanish": "05",
    "back propagation helps after the optimizer step": "05",
    "infinite": "05",
}


def test_every_claim_of_the_notes_is_in_exactly_one_ledger() -> None:
    ledgers = {name[:2]: " ".join(_ledger(name)).lower() for name in NAMES}
    for phrase, where in NOTES_CLAIMS.items():
        found = [n for n, text in ledgers.items() if phrase.lower() in text]
        assert found == [where], f"{phrase!r} is in the ledgers of {found}, expected only {where}"


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
