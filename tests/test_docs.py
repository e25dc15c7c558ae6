"""The API reference: the README's command builds it without a warning, it covers every module, and its
checks (pdoc's warnings, references pdoc cannot link) do fail a build that has them."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS_SCRIPT = ROOT / ".ci" / "docs.py"


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chainrule_docs_builder", DOCS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _readme_docs_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## API reference", 1)[1].split("\n## ", 1)[0]
    (command,) = re.findall(r"```sh\n(.+?)\n```", section)
    return command


def test_readme_gives_one_command_that_runs_the_builder() -> None:
    assert _readme_docs_command() == ".venv/bin/python .ci/docs.py"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The README's command, with this interpreter and a scratch output folder."""
    output = tmp_path_factory.mktemp("docs")
    command = _readme_docs_command().split()
    result = subprocess.run(
        [sys.executable, *command[1:], "-o", str(output)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    return output, result


@pytest.mark.slow
def test_docs_build_without_warnings(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, result = built
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stderr


@pytest.mark.slow
def test_every_module_has_a_page(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    output, _ = built
    expected = {"index.html", "chainrule.html", "chainrule/differences_from_pytorch.html"}
    for package in ("autograd", "nn", "viz"):
        expected.add(f"chainrule/{package}.html")
        for source in (ROOT / package).glob("*.py"):
            if not source.name.startswith("_"):
                expected.add(f"chainrule/{package}/{source.stem}.html")
    pages = {str(p.relative_to(output)) for p in output.rglob("*.html")}
    assert expected <= pages, sorted(expected - pages)
    assert (output / "search.js").stat().st_size > 10_000


@pytest.mark.slow
def test_pages_read_as_written(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    output, _ = built
    differences = (output / "chainrule/differences_from_pytorch.html").read_text(encoding="utf-8")
    for heading in ("Differences from PyTorch", "Gradients", "Modes", "Weight initialisation", "Compiled batch mode"):
        assert heading in differences
    assert "<table>" in differences
    # `.grad` is the attribute: shown as code, never linked to the grad() function as a relative reference.
    assert "<code>&#46;grad</code>" in differences and not re.search(r"<a [^>]*>\.grad</a>", differences)
    # The docstrings' short names (:mod:`viz.backend`, :mod:`nn.init`) become links to the modules' pages.
    diagram = (output / "chainrule/viz/diagram.html").read_text(encoding="utf-8")
    assert '<a href="backend.html">chainrule.viz.backend</a>' in diagram
    layers = (output / "chainrule/nn/layers.html").read_text(encoding="utf-8")
    assert '<a href="init.html">chainrule.nn.init</a>' in layers
    # reST literal blocks ("Example::") become code blocks with one colon.
    for page in output.rglob("*.html"):
        # The rendered docstrings, not the "View Source" listings (which show the source as it is).
        docstrings = re.findall(r'<div class="docstring">(.*?)</div>', page.read_text(encoding="utf-8"), flags=re.S)
        assert not any("Example::" in d for d in docstrings), page
    top = (output / "chainrule.html").read_text(encoding="utf-8")
    assert "<p>Example:</p>" in top and '<span class="n">backward</span>' in top  # highlighted Python


def test_literal_blocks_become_fenced_code() -> None:
    builder = _load_builder()
    text = (
        "Top.\n\nExample::\n\n    x = 1\n\n    y = 2\nAfter.\n    Per step::\n\n        a = b\n    more\nLone ::\n\n  z"
    )
    assert builder.literal_blocks(text) == (
        "Top.\n\nExample:\n\n```python\nx = 1\n\ny = 2\n```\n\nAfter.\n    Per step:\n\n"
        "    ```\n    a = b\n    ```\n\n    more\nLone\n\n```\nz\n```\n"
    )


def test_a_broken_reference_or_a_pdoc_warning_fails_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "docs_probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent('''
            """A probe package: see :func:`helper`, :mod:`math` and :func:`missing_function`."""

            def helper(x: "Undefined | None" = None) -> None:
                """Uses :class:`~docs_probe_pkg.Thing`, which does not exist."""
            '''),
        encoding="utf-8",
    )
    (package / "shapes.py").write_text('"""Shapes."""\n\nclass Widget:\n    """A widget."""\n', encoding="utf-8")
    (package / "uses.py").write_text(
        '"""Uses an import."""\n\nfrom docs_probe_pkg.shapes import Widget\n\n'
        'def make() -> Widget:\n    """Make a :class:`Widget` (imported: found in the module\'s namespace)."""\n'
        "    return Widget()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    builder = _load_builder()
    problems = builder.build(tmp_path / "out", packages=["docs_probe_pkg"])
    text = "\n".join(problems)
    assert ":func:`missing_function`" in text
    assert ":class:`~docs_probe_pkg.Thing`" in text
    assert "Undefined" in text  # pdoc's own warning: the annotation does not resolve
    assert ":func:`helper`" not in text and "Widget" not in text  # these resolve: not reported
    uses = (tmp_path / "out/docs_probe_pkg/uses.html").read_text(encoding="utf-8")
    assert '<a href="shapes.html#Widget">docs_probe_pkg.shapes.Widget</a>' in uses
    assert ":mod:`math`" not in text  # another package's name: pdoc can't link it, and need not
    assert len(problems) == 3, problems
