"""The ``chainrule`` command line: parse an expression, run backward, draw the graph and print the gradients.

``chainrule draw EXPR [NAME=VALUE ...] [-o FILE] [--check] [--animate] [--view V] [--no-legend]``;
``chainrule`` alone (or ``chainrule draw`` without an expression) draws the
classic neuron ``tanh(x1*w1 + x2*w2 + b)``. The expression is parsed by
:mod:`viz.parse`, never ``eval``ed. Exit status: 0 when the diagram was
written, 2 for a bad command line or expression (nothing is written), 1 when
the expression is valid but can't be drawn (a renderer failure; nothing is
written). A nan or inf output is drawn, with a warning naming the op that made it.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

from chainrule.autograd import Value, topological_order
from chainrule.viz import render
from chainrule.viz.animation import MAX_NODES, animate_backward
from chainrule.viz.backend import SUFFIXES
from chainrule.viz.parse import (
    CONSTANTS,
    FUNCTIONS,
    Node,
    ParseError,
    evaluate,
    evaluate_float,
    explain_non_finite,
    explain_non_finite_gradient,
    first_use,
    parse,
    unparse,
    variables,
)

PROG = "chainrule"

NEURON = "tanh(x1*w1 + x2*w2 + b)"
NEURON_VALUES: dict[str, float] = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}
"""The classic neuron's inputs: its output is 1/sqrt(2) and d/dx1 = -1.5, d/dw1 = 1, d/dx2 = 0.5, d/dw2 = 0."""

DEFAULT_OUTPUT = "chainrule.svg"
DIAGRAM_SUFFIXES = tuple(SUFFIXES)  # what viz.render writes: .svg .png .pdf .dot .gv
ANIMATION_SUFFIX = ".html"

# The finite-difference check uses autograd.gradcheck's defaults.
CHECK_EPS = 1e-6
CHECK_ATOL = 1e-5
CHECK_RTOL = 1e-3

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ASSIGNMENT = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=")


class UsageError(Exception):
    """A bad command line or expression (exit status 2).

    Args:
        message: one line saying what was wrong.
        detail: optional extra lines (a caret under the bad column).
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class DrawError(Exception):
    """A valid expression that can't be drawn: a renderer or file-system failure (exit status 1)."""


# ----------------------------------------------------------------------------
# The argument parser
# ----------------------------------------------------------------------------

DESCRIPTION = "Draw the computation graph of an expression with the chain rule on every edge."

DRAW_DESCRIPTION = (
    "Parse EXPR, evaluate it at the given values, run backward, write the diagram\n"
    "and print each input's value and gradient.\n\n"
    + textwrap.fill(
        f"Without EXPR it draws the classic neuron {NEURON} at "
        f"{', '.join(f'{k}={v:g}' for k, v in NEURON_VALUES.items())}; NAME=VALUE arguments alone change "
        "those values (chainrule draw w1=0.5).",
        width=78,
    )
)

def _wrap_signatures() -> str:
    # Each signature stays on one line: its spaces are held as NUL while wrapping.
    words = ", ".join(f.signature.replace(" ", "\0") for f in FUNCTIONS.values())
    return textwrap.fill(words, width=78, initial_indent="    ", subsequent_indent="    ").replace("\0", " ")


DRAW_EPILOG = f"""\
expressions:
  numbers (2, 0.5, 3.5e-2), names, + - * / ** (right-associative; -x**2 is
  -(x**2), as in Python), unary + and -, parentheses, the constants pi and e,
  and the functions:
{_wrap_signatures()}
  Each name is one input: x*x has two edges from the same node. Quote the
  expression for the shell. One that starts with '-' goes after '--':
    chainrule draw -- '-x**2' x=3
  A VALUE is a number or a constant expression (x=pi/4, y=-1e-3).

output:
  -o FILE picks the format by its suffix: {", ".join(DIAGRAM_SUFFIXES)} (.dot/.gv
  write the DOT text). --animate also writes the step-by-step backward pass as
  a self-contained HTML page next to the diagram (FILE with suffix .html); with
  -o FILE.html only the animation is written. Nothing is written on an error.
  Above --max-nodes nodes (default 150) both stack parallel nodes, and say so.

exit status:
  0 written, 2 bad command line or expression, 1 valid but not written (the
  renderer failed). A nan or inf output or gradient is drawn, with a warning
  naming the op that produced it.

examples:
  chainrule
  chainrule draw 'x**2 + sin(y)/z' x=3 y=0.5 z=2 -o graph.png
  chainrule draw 'relu(x) - 3.5e-2*abs(y)' x=-1 y=2 --check
  chainrule draw 'log(sum(a, b, c))' a=1 b=2 c=3 --animate"""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, with a hint for the one mistake its grammar invites: an expression starting with '-'."""

    def error(self, message: str) -> NoReturn:
        _, found, rest = message.partition("unrecognized arguments: ")
        if found and any(re.match(r"-[^-]", word) for word in rest.split()):
            message += " (an expression that starts with '-' goes after '--': chainrule draw -- '-x**2' x=3)"
        super().error(message)


def _add_draw_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression", nargs="?", metavar="EXPR", help=f"the expression (default: {NEURON})")
    parser.add_argument("assignments", nargs="*", metavar="NAME=VALUE", help="a value for each name in EXPR")
    parser.add_argument(
        "-o", "--output", metavar="FILE", default=DEFAULT_OUTPUT,
        help=f"where to write the diagram (default: {DEFAULT_OUTPUT} in the current directory)",
    )
    parser.add_argument(
        "--check", action="store_true",
        help="compare every input's gradient with a central finite difference, in the table and the diagram",
    )
    parser.add_argument(
        "--animate", action="store_true",
        help="also write the backward pass as an HTML animation next to the diagram (FILE with suffix .html)",
    )
    parser.add_argument(
        "--view", choices=("auto", "scalar", "network"), default="auto",
        help="scalar: every op with the chain-rule term on every edge; network: one circle per neuron of nn "
             "modules (an expression has none); auto (default): as viz.draw chooses",
    )
    parser.add_argument(
        "--detail", action="append", default=[], metavar="NEURON",
        help="draw this neuron (a module path such as layers.1.neurons.0) in detail inside the network view; "
             "may be given more than once",
    )
    parser.add_argument("--no-legend", action="store_true", help="leave the legend out of the diagram")
    parser.add_argument(
        "--max-nodes", type=_max_nodes, default=MAX_NODES, metavar="N",
        help=f"above N nodes (default {MAX_NODES}) the diagram and the animation stack parallel nodes of the same "
             "op into one box; 0: never",
    )
    parser.add_argument(
        "--forward", action="store_true",
        help="the animation first shows the forward pass, the values arriving left to right",
    )


def _max_nodes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--max-nodes wants a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--max-nodes wants a whole number >= 0, got {text!r}")
    return value


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Build the argument parsers.

    Returns:
        The top-level parser (``chainrule``) and the ``draw`` sub-command's parser.
    """
    formatter = argparse.RawDescriptionHelpFormatter
    top = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, formatter_class=formatter,
                          epilog="Run 'chainrule draw --help' for the expression syntax. "
                                 "With no command, chainrule draws the classic neuron.")
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)
    draw = commands.add_parser(
        "draw", help="draw an expression's graph and print its gradients",
        description=DRAW_DESCRIPTION, epilog=DRAW_EPILOG, formatter_class=formatter,
    )
    _add_draw_arguments(draw)
    return top, draw


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chainrule")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        return "(not installed)"


# ----------------------------------------------------------------------------
# From the command line to a graph
# ----------------------------------------------------------------------------


@dataclass
class Request:
    """What ``chainrule draw`` was asked to do, checked.

    Attributes:
        tree: the parsed expression.
        values: a value for each of its variables.
        diagram: where to write the diagram, or None (``-o FILE.html``).
        animation: where to write the HTML animation, or None.
        check: compare gradients with finite differences.
        view: "auto" or "scalar" (an expression has no nn neurons for the network view).
        legend: draw the legend.
        max_nodes: the size limit of the diagram and the animation (0: none).
        forward: the animation shows the forward pass first.
    """

    tree: Node
    values: dict[str, float]
    diagram: Path | None
    animation: Path | None
    check: bool
    view: str = "auto"
    legend: bool = True
    max_nodes: int = MAX_NODES
    forward: bool = False


def parse_expression(text: str) -> Node:
    """Parse the EXPR argument, turning a ParseError into a UsageError with a caret.

    Args:
        text: the expression.

    Returns:
        Its AST.
    """
    try:
        return parse(text)
    except ParseError as error:
        raise UsageError(f"expression: {error}", _indent(error.caret())) from None


def parse_assignments(items: Sequence[str]) -> dict[str, float]:
    """Read ``NAME=VALUE`` arguments, in order.

    Args:
        items: the arguments; each VALUE is a number or a constant expression (``pi/4``).

    Returns:
        The values by name.

    Raises:
        UsageError: a malformed item, a bad name, a name given twice, or a value
            that is not a finite number.
    """
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"expected NAME=VALUE, got {item!r}")
        if not _IDENTIFIER.match(name):
            raise UsageError(f"{item!r}: {name!r} is not a name (letters, digits and _, not starting with a digit)")
        if name in FUNCTIONS:
            raise UsageError(f"{item!r}: {name} is a function, not a name that can take a value")
        if name in CONSTANTS:
            raise UsageError(f"{item!r}: {name} is the constant {CONSTANTS[name]!r} and can't be given a value")
        if name in values:
            raise UsageError(f"{name} is given twice ({name}={values[name]:g} and {item})")
        if not text.strip():
            raise UsageError(f"{item!r}: the value of {name} is missing")
        try:
            tree = parse(text)
        except ParseError as error:
            moved = ParseError(error.message, error.col + len(item) - len(text), item)
            raise UsageError(f"value {item!r}: {moved}", _indent(moved.caret())) from None
        names = variables(tree)
        if names:
            raise UsageError(f"value {item!r}: a value is a number or a constant expression, "
                             f"but it uses {', '.join(names)}")
        value = evaluate_float(tree)
        if not math.isfinite(value):
            raise UsageError(f"value {item!r}: {name} must be a finite number, got {value!r}")
        values[name] = value
    return values


def build_request(args: argparse.Namespace) -> Request:
    """Check the parsed command line and turn it into a Request.

    Args:
        args: from the ``draw`` parser.

    Returns:
        The request; nothing has been evaluated or written yet.
    """
    assignments = list(args.assignments)
    expression = args.expression
    if expression is not None and _ASSIGNMENT.match(expression):  # only NAME=VALUE: the neuron with new values
        assignments.insert(0, expression)
        expression = None
    if expression is None:
        tree = parse(NEURON)
        given = parse_assignments(assignments)
        unknown = [name for name in given if name not in NEURON_VALUES]
        if unknown:
            raise UsageError(f"the classic neuron {NEURON} has no input named {', '.join(unknown)}; "
                             f"give an expression to use other names")
        values = {**NEURON_VALUES, **given}
    else:
        tree = parse_expression(expression)
        values = parse_assignments(assignments)
        _check_names(tree, values)
    diagram, animation = _output_paths(Path(args.output), animate=args.animate)
    view = getattr(args, "view", "auto")
    detail = getattr(args, "detail", [])
    if view == "network" or detail:
        option = "--view network" if view == "network" else "--detail"
        raise UsageError(f"{option} draws the neurons of nn modules, and an expression has none (the network view "
                         "is for models: viz.draw(loss, view='network') in Python); use --view scalar or auto")
    return Request(tree, values, diagram, animation, args.check, view, not getattr(args, "no_legend", False),
                   getattr(args, "max_nodes", MAX_NODES), getattr(args, "forward", False))


def _check_names(tree: Node, values: dict[str, float]) -> None:
    needed = variables(tree)
    missing = [name for name in needed if name not in values]
    if missing:
        where = ", ".join(f"{name} (col {first_use(tree, name)})" for name in missing)
        example = " ".join(f"{name}=1.5" for name in missing)
        raise UsageError(f"no value for {where}; give each as NAME=VALUE, for example: {example}")
    unused = [name for name in values if name not in needed]
    if unused:
        raise UsageError(f"{', '.join(unused)} given a value but not used in the expression "
                         f"(its inputs are: {', '.join(needed) or 'none'})")


def _output_paths(path: Path, *, animate: bool) -> tuple[Path | None, Path | None]:
    suffix = path.suffix.lower()
    diagram: Path | None
    animation: Path | None
    if suffix == ANIMATION_SUFFIX:
        diagram, animation = None, path
    elif suffix in DIAGRAM_SUFFIXES:
        diagram, animation = path, (path.with_suffix(ANIMATION_SUFFIX) if animate else None)
    else:
        raise UsageError(f"-o {str(path)!r}: can't tell the format from the suffix {path.suffix!r}; "
                         f"use one of {', '.join((*DIAGRAM_SUFFIXES, ANIMATION_SUFFIX))}")
    directory = path.parent
    if not directory.is_dir():
        raise UsageError(f"-o {str(path)!r}: the directory {str(directory)!r} does not exist")
    return diagram, animation


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


# ----------------------------------------------------------------------------
# Evaluation and the non-finite checks
# ----------------------------------------------------------------------------


def run_graph(tree: Node, values: dict[str, float]) -> tuple[Value, dict[str, Value], list[str]]:
    """Evaluate the expression, run backward and check the numbers.

    Args:
        tree: the expression.
        values: its inputs.

    Returns:
        The output, the leaves by name, and warnings: a nan or inf output
        (naming the op that produced it) and non-finite gradients (naming the
        op whose local derivative caused them). Both are still drawn, in the
        diagram's non-finite colour.
    """
    output, leaves = evaluate(tree, values)
    warnings = []
    if not math.isfinite(output.data):
        warnings.append(f"the output is {output.data!r} (drawn as such): {explain_non_finite(tree, values)}")
    output.backward()
    bad = [name for name, leaf in leaves.items() if not math.isfinite(leaf.grad)]
    if bad:
        why = explain_non_finite_gradient(tree, values) or "a product of local derivatives overflowed"
        warnings.append(f"the gradient of {', '.join(bad)} is not finite: {why}")
    return output, leaves, warnings


def finite_differences(tree: Node, values: dict[str, float]) -> dict[str, float]:
    """Estimate d(output)/d(input) for every input by central differences.

    Args:
        tree: the expression.
        values: the point.

    Returns:
        The estimates by name (eps = CHECK_EPS, as autograd.gradcheck).
    """
    estimates = {}
    for name, x in values.items():
        up = evaluate_float(tree, {**values, name: x + CHECK_EPS})
        down = evaluate_float(tree, {**values, name: x - CHECK_EPS})
        estimates[name] = (up - down) / (2 * CHECK_EPS)
    return estimates


# ----------------------------------------------------------------------------
# Writing the files
# ----------------------------------------------------------------------------


@contextmanager
def _staged(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Yield temporary paths beside the targets; move them into place only if the block succeeds.

    So a failure half way (a renderer error, the animation after the diagram)
    leaves no file behind, and an old file is replaced atomically.
    """
    temporaries = []
    try:
        for path in paths:
            fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
            os.close(fd)
            temporaries.append(Path(name))
        yield temporaries
        mode = 0o666 & ~_umask()  # mkstemp makes the file private; give it the mode a plain open() would
        for temporary, path in zip(temporaries, paths):
            os.chmod(temporary, mode)
            os.replace(temporary, path)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_diagram(output: Value, path: Path, *, check: bool, view: str = "auto", legend: bool = True,
                   max_nodes: int = MAX_NODES) -> None:
    # the suffix picks the format; .dot/.gv write the DOT text
    render(output, path, check=check, view=view, legend=legend, max_nodes=max_nodes or None)


def _write_animation(output: Value, path: Path, *, title: str, legend: bool = True, max_nodes: int = MAX_NODES,
                     forward: bool = False) -> None:
    animate_backward(output, path, title=title, legend=legend, max_nodes=max_nodes or None, forward=forward,
                     size_option="--max-nodes")


def size_note(output: Value, max_nodes: int) -> str | None:
    """What the command says when the graph is above the size limit (and so drawn with stacked nodes).

    Args:
        output: the graph's root.
        max_nodes: the limit (0: none).

    Returns:
        The note, naming the flag that changes it, or None.
    """
    size = len(topological_order(output))
    if not max_nodes or size <= max_nodes:
        return None
    return (f"the graph has {size} nodes, more than --max-nodes {max_nodes}: the diagram and the animation stack "
            f"parallel nodes of the same op; pass --max-nodes {size} (or 0) to draw and step through every node")


def write_outputs(output: Value, request: Request) -> list[Path]:
    """Write the diagram and/or the animation, all or nothing.

    Args:
        output: the evaluated graph's root, after backward.
        request: where to write and with which options.

    Returns:
        The paths written.

    Raises:
        DrawError: a renderer or the file system failed; nothing was written.
    """
    jobs: list[tuple[Path, Callable[[Path], None]]] = []
    if request.diagram is not None:
        jobs.append((request.diagram, lambda p: _write_diagram(output, p, check=request.check, view=request.view,
                                                               legend=request.legend, max_nodes=request.max_nodes)))
    if request.animation is not None:
        title = f"Backward pass of {unparse(request.tree)}"
        jobs.append((request.animation, lambda p: _write_animation(output, p, title=title, legend=request.legend,
                                                                   max_nodes=request.max_nodes,
                                                                   forward=request.forward)))
    targets = [path for path, _ in jobs]
    try:
        with _staged(targets) as temporaries:
            for (_, write), temporary in zip(jobs, temporaries):
                write(temporary)
    except (OSError, ValueError, RuntimeError) as error:
        raise DrawError(f"could not write {', '.join(map(str, targets))}: {type(error).__name__}: {error}") from None
    return targets


# ----------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------


def _number(x: float) -> str:
    return format(x + 0.0, ".6g")  # + 0.0 prints -0.0 as 0


def format_table(
    expression: str, output: Value, leaves: dict[str, Value], estimates: dict[str, float] | None = None
) -> str:
    """Lay out the values and gradients as an aligned table.

    Args:
        expression: the expression as text.
        output: its root, after backward.
        leaves: the inputs by name.
        estimates: finite-difference estimates by name, for ``--check``.

    Returns:
        The text, ending with a newline.
    """
    header = ["input", "value", "gradient"]
    rows = [[name, _number(leaf.data), _number(leaf.grad)] for name, leaf in leaves.items()]
    if estimates is not None:
        header += ["finite diff", "check"]
        for row, (name, leaf) in zip(rows, leaves.items()):
            estimate = estimates[name]
            # Equal infinities agree (as in draw(check=True)); anything against nan does not.
            agrees = leaf.grad == estimate or abs(leaf.grad - estimate) <= CHECK_ATOL + CHECK_RTOL * abs(estimate)
            row += [_number(estimate), "ok" if agrees else "DIFFERS"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        parts = [cells[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return "  ".join(parts).rstrip()

    lines = [f"{expression} = {_number(output.data)}", ""]
    if rows:
        lines += [line(header), *(line(row) for row in rows)]
    else:
        lines.append("(no inputs: the expression is a constant)")
    if estimates is not None and any(row[-1] == "DIFFERS" for row in rows):
        lines += ["", "DIFFERS: the gradient and the finite difference disagree "
                      "(expected at a kink such as relu(0) or abs(0), where the gradient follows a convention)"]
        if any(row[-1] == "DIFFERS" and not math.isfinite(float(row[2])) for row in rows):
            lines.append("A nan or inf gradient can't be checked by a finite difference.")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------


def draw_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Run ``chainrule draw``.

    Args:
        args: from the ``draw`` parser.
        stdout: where the table goes.
        stderr: where warnings and errors go.

    Returns:
        The exit status.
    """
    try:
        request = build_request(args)
        output, leaves, warnings = run_graph(request.tree, request.values)
        estimates = finite_differences(request.tree, request.values) if request.check else None
        written = write_outputs(output, request)
    except UsageError as error:
        _error(stderr, error.message, error.detail)
        return EXIT_USAGE
    except DrawError as error:
        _error(stderr, str(error))
        return EXIT_FAILED
    for warning in warnings:
        print(f"{PROG}: warning: {warning}", file=stderr)
    note = size_note(output, request.max_nodes)
    if note:
        print(f"{PROG}: note: {note}", file=stderr)
    stdout.write(format_table(unparse(request.tree), output, leaves, estimates))
    stdout.write("\n")
    for path in written:
        kind = "animation" if path == request.animation else "diagram"
        print(f"{kind} written to {path}", file=stdout)
    return EXIT_OK


def _error(stderr: TextIO, message: str, detail: str = "") -> None:
    print(f"{PROG}: error: {message}", file=stderr)
    if detail:
        print(detail, file=stderr)


def parse_draw_arguments(parser: argparse.ArgumentParser, arguments: Sequence[str]) -> argparse.Namespace:
    """Parse ``draw``'s arguments; options may come anywhere, and everything after ``--`` is positional.

    Args:
        parser: the ``draw`` parser.
        arguments: what follows ``draw`` on the command line.

    Returns:
        The namespace (argparse exits with status 2 on an error).
    """
    arguments = list(arguments)
    # NOTE: parse_intermixed_args mishandles '--' (Python 3.11), so the tail is split off by hand.
    tail: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, tail = arguments[:split], arguments[split + 1 :]
    args = parser.parse_intermixed_args(arguments)
    positionals = ([] if args.expression is None else [args.expression]) + args.assignments + tail
    args.expression = positionals[0] if positionals else None
    args.assignments = positionals[1:]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status (0 written, 1 not drawable, 2 usage error), also for
        ``--help`` and argparse's own errors, so tests can call it in-process.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    top, draw = build_parser()
    try:
        if not arguments:
            return draw_command(parse_draw_arguments(draw, []), sys.stdout, sys.stderr)
        if arguments[0] == "draw":
            return draw_command(parse_draw_arguments(draw, arguments[1:]), sys.stdout, sys.stderr)
        top.parse_args(arguments)  # --help, --version, or an unknown command: argparse exits
    except SystemExit as stop:  # argparse's --help, --version and errors
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    return EXIT_USAGE  # pragma: no cover - parse_args exits for anything but "draw"


if __name__ == "__main__":
    sys.exit(main())
