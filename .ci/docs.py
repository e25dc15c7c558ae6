"""Build the API reference (HTML, with pdoc) from the docstrings into build/docs; fail on any warning.

Run it with the test venv's Python, from anywhere: ``.venv/bin/python .ci/docs.py [-o DIR]``.

It documents ``chainrule`` and every module of ``chainrule.autograd``, ``chainrule.nn`` and
``chainrule.viz``, listed here rather than walked by pdoc: pdoc only follows the submodules a
package names in ``__all__``, and in an editable install ``chainrule.__path__`` does not hold
the subpackages (setuptools maps them from autograd/, nn/ and viz/).

pdoc renders a reference it cannot resolve as plain code, silently; so this script also checks
every Sphinx-style role in the docstrings (``:func:`name```, ``:class:`...```): short names
(``nn.init``, as a user writes them after ``from chainrule import nn``) are made full, and a name
of ours that pdoc still can't link to is a warning. Any warning fails the build (exit 1).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import re
import shutil
import sys
import types
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jinja2
import jinja2.runtime
import pdoc
import pdoc.doc
import pdoc.render
import pdoc.render_helpers

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("chainrule", "chainrule.autograd", "chainrule.nn", "chainrule.viz")
# Sphinx roles that pdoc turns into code (and links when it can resolve the name).
# The names our docstrings use for the subpackages (see _canonical).
SHORT_NAMES = ("autograd", "nn", "viz")
ROLE = re.compile(r"(?::py)?:(mod|func|data|const|class|meth|attr|exc|obj):`([^`]+)`")


def module_names(packages: Sequence[str] = PACKAGES) -> list[str]:
    """Return the packages and every public module inside them, in a stable order."""
    names: list[str] = []
    for package_name in packages:
        package = importlib.import_module(package_name)
        for public in getattr(package, "__all__", ()):
            getattr(package, public)  # load chainrule's lazy attributes (PEP 562): pdoc reads __dict__
        names.append(package_name)
        for info in pkgutil.iter_modules(package.__path__, package_name + "."):
            short = info.name.rpartition(".")[2]
            if not info.ispkg and not short.startswith("_"):
                names.append(info.name)
    return names


def _rendered(module: pdoc.doc.Module) -> Iterator[pdoc.doc.Doc]:
    """Yield the module and every member whose docstring its page shows (recursively into classes).

    Skipped: private members (pdoc hides them) and methods whose docstring is inherited from
    another package (``Diagram`` overrides some of ``graphviz.Digraph``'s methods).
    """
    stack: list[pdoc.doc.Doc] = [module]
    while stack:
        doc = stack.pop()
        if isinstance(doc, pdoc.doc.Function) and not getattr(doc.obj, "__doc__", None):
            continue
        yield doc
        if isinstance(doc, pdoc.doc.Namespace):
            members = doc.own_members if isinstance(doc, pdoc.doc.Class) else list(doc.members.values())
            stack.extend(m for m in members if not m.name.startswith("_") or m.name == "__init__")


def _canonical(target: str) -> str:
    """Our docstrings' short names, as a user writes them after ``from chainrule import autograd, nn, viz``
    (``nn.init``, ``viz.trace.Trace``), made full (``chainrule.nn.init``) so pdoc can link them.
    Sphinx's ``~`` (show only the last part) is dropped: pdoc shows the name as written."""
    name = target.removeprefix("~")
    if name.split(".", 1)[0] in SHORT_NAMES:
        return "chainrule." + name
    return name


def _is_public(doc: pdoc.doc.Doc) -> str:
    return "" if doc.name.startswith("_") and doc.name != "__init__" else "public"


def _resolves(name: str, doc: pdoc.doc.Doc, all_modules: dict[str, pdoc.doc.Module]) -> bool:
    """Whether pdoc's own linker turns ``name``, written in ``doc``'s docstring, into a link."""
    # linkify reads these three keys of the template context it normally gets from jinja.
    context: Any = {"module": all_modules[doc.modulename], "all_modules": all_modules, "is_public": _is_public}
    html = pdoc.render_helpers.linkify(context, f"<code>{name}</code>", namespace=doc.qualname, shorten=False)
    return "<a " in html


def _in_defining_module(name: str, doc: pdoc.doc.Doc, all_modules: dict[str, pdoc.doc.Module]) -> str | None:
    """The full name of ``name`` as the module that defines ``doc`` sees it, or None.

    Two ways, in order: a member documented in that module (for a docstring shown on a package's page,
    re-exported), then what the name is bound to in the module's namespace (an import: ``Theme`` in
    chainrule.viz.diagram is chainrule.viz.theme.Theme), as Python itself would resolve it.
    """
    module_name, qualname = doc.taken_from
    defining = all_modules.get(module_name)
    if defining is not None and defining is not all_modules[doc.modulename]:
        for candidate in pdoc.render_helpers.qualname_candidates(name, qualname):
            if defining.get(candidate) is not None:
                return f"{module_name}.{candidate}"
    first, _, rest = name.partition(".")
    bound: Any = getattr(sys.modules.get(module_name), first, None)
    if isinstance(bound, types.ModuleType):
        full = bound.__name__
    elif isinstance(getattr(bound, "__module__", None), str) and isinstance(getattr(bound, "__qualname__", None), str):
        full = f"{bound.__module__}.{bound.__qualname__}"
    else:
        return None
    return f"{full}.{rest}" if rest else full


def _is_external(name: str, all_modules: dict[str, pdoc.doc.Module]) -> bool:
    """A name from a package these docs don't cover (``math``, ``contextvars.ContextVar``): pdoc can't link it."""
    first = name.split(".", 1)[0]
    if not first or any(module.split(".", 1)[0] == first for module in all_modules):
        return False
    try:
        return importlib.util.find_spec(first) is not None
    except (ImportError, ValueError):
        return False


def literal_blocks(text: str) -> str:
    """Turn reST literal blocks ("Example::" and the indented lines after it) into fenced code.

    pdoc would print both colons, and its Google-style pass would flow an indented block that
    follows a "Name:" line into a paragraph. Blocks introduced by a line that mentions an
    example are highlighted as Python; others (formulas, JSON, a grammar) are left plain.
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.rstrip().endswith("::"):
            out.append(line)
            continue
        intro = line.rstrip()[:-2]
        # "Example::" keeps one colon; " ::" after a space, or alone, goes.
        out.append(intro.rstrip() if not intro.strip() or intro.endswith((" ", "\t")) else intro + ":")
        indent = len(line) - len(line.lstrip())
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        while block and not block[0].strip():
            block.pop(0)
        if not block:
            continue
        depth = min(len(b) - len(b.lstrip()) for b in block if b.strip())
        pad = " " * indent
        language = "python" if "example" in intro.lower() else ""
        out += ["", pad + "```" + language, *[pad + b[depth:] if b.strip() else "" for b in block], pad + "```", ""]
    return "\n".join(out)


def link_references(all_modules: dict[str, pdoc.doc.Module]) -> list[str]:
    """Rewrite every rendered docstring's roles to names pdoc links (and "Example::" to "Example:");
    return the roles it can't link."""
    problems: dict[str, None] = {}
    for module in all_modules.values():
        for doc in _rendered(module):
            text = doc.docstring

            def fix(match: re.Match[str], doc: pdoc.doc.Doc = doc) -> str:
                role, target = match.groups()
                name = _canonical(target.removesuffix("()"))
                if not _resolves(name, doc, all_modules):
                    # Shown on a package's page (re-exported), a name local to the defining module
                    # needs its full path there.
                    name = _in_defining_module(name, doc, all_modules) or name
                if not _resolves(name, doc, all_modules) and not _is_external(name, all_modules):
                    where = f"{doc.taken_from[0]}.{doc.taken_from[1]}".rstrip(".")
                    problems[f"{where}: :{role}:`{target}` names nothing the docs hold (private, or a typo?)"] = None
                return f":{role}:`{name}`"

            fixed = literal_blocks(ROLE.sub(fix, text))
            if fixed != text:
                doc.__dict__["docstring"] = fixed  # a cached_property: this is what the page renders
    return list(problems)


@jinja2.pass_context
def _linkify_absolute(context: jinja2.runtime.Context, code: str, namespace: str = "", shorten: bool = True) -> str:
    """pdoc's linker, except for inline code that starts with a dot: in our docstrings ``.grad`` is the attribute,
    not a relative reference (pdoc would link it to the ``grad`` function of the package)."""
    return pdoc.render_helpers.linkify(context, code.replace("<code>.", "<code>&#46;"), namespace, shorten)


def build(output: Path, packages: Sequence[str] = PACKAGES) -> list[str]:
    """Render every module of ``packages`` into ``output``; return the warnings (pdoc's and unresolved references)."""
    pdoc.render.configure(
        docformat="google",
        footer_text="chainrule " + importlib.import_module("chainrule").__version__ + " · MIT licence",
        search=True,
        show_source=True,
    )
    pdoc.render.env.filters["linkify"] = _linkify_absolute
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        all_modules = {name: pdoc.doc.Module.from_name(name) for name in module_names(packages)}
        unresolved = link_references(all_modules)
        if output.exists():
            shutil.rmtree(output)
        output.mkdir(parents=True)
        for module in all_modules.values():
            page = output / (module.modulename.replace(".", "/") + ".html")
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(pdoc.render.html_module(module, all_modules), encoding="utf-8")
        (output / "index.html").write_text(pdoc.render.html_index(all_modules), encoding="utf-8")
        (output / "search.js").write_text(pdoc.render.search_index(all_modules), encoding="utf-8")
    # pdoc may warn about one object once per page that shows it: each message once.
    messages = {f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})": None for w in caught}
    return list(messages) + unresolved


def main(argv: list[str] | None = None) -> int:
    """Build the docs; print each warning and return 1 if there were any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "build" / "docs", help="output folder")
    args = parser.parse_args(argv)
    problems = build(args.output)
    for problem in problems:
        print("warning:", problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} warning(s): the docs build fails on any", file=sys.stderr)
        return 1
    print(f"API reference written to {args.output / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
