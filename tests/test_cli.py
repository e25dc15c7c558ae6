"""Tests for the ``chainrule`` command line (viz.cli): tables, errors, exit codes, files written or not."""

from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import chainrule.viz.cli as cli
from chainrule.autograd import Value

Run = Callable[..., tuple[int, str, str]]


def run_main(*argv: str) -> tuple[int, str, str]:
    """Call main() in-process; return (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def written() -> list[tuple[str, Path, dict[str, object]]]:
    """What the (fake) writers were asked to write."""
    return []


def fake(monkeypatch: pytest.MonkeyPatch, written: list[tuple[str, Path, dict[str, object]]]) -> None:
    """Replace rendering by a small text file, so most tests need no renderer and run fast."""

    def diagram(output: Value, path: Path, *, check: bool, view: str = "auto", legend: bool = True,
                max_nodes: int = 150) -> None:
        path.write_text(f"diagram of {output.op} {output.data!r}")
        written.append(("diagram", path, {"check": check, "root": output, "view": view, "legend": legend,
                                          "max_nodes": max_nodes}))

    def animation(output: Value, path: Path, *, title: str, legend: bool = True, max_nodes: int = 150,
                  forward: bool = False) -> None:
        path.write_text(f"animation of {output.op}")
        written.append(("animation", path, {"root": output, "title": title, "legend": legend,
                                            "max_nodes": max_nodes, "forward": forward}))

    monkeypatch.setattr(cli, "_write_diagram", diagram)
    monkeypatch.setattr(cli, "_write_animation", animation)


@pytest.fixture
def fake_writers(
    monkeypatch: pytest.MonkeyPatch, written: list[tuple[str, Path, dict[str, object]]]
) -> list[tuple[str, Path, dict[str, object]]]:
    """Fake writers for one test; the list records what they were asked to write."""
    fake(monkeypatch, written)
    return written


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run main() in a fresh current directory."""
    monkeypatch.chdir(tmp_path)
    return run_main


def table(stdout: str) -> dict[str, tuple[float, ...]]:
    """Read the gradient table back: name -> (value, gradient[, finite difference])."""
    rows = {}
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("input "))
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = tuple(float(c) for c in cells[1:4] if c not in ("ok", "DIFFERS"))
    return rows


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ----------------------------------------------------------------------------
# The classic neuron, the README's demo
# ----------------------------------------------------------------------------


NEURON_GRADS = {"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5}


@pytest.mark.parametrize("argv", [(), ("draw",)])
def test_no_expression_draws_the_classic_neuron(run: Run, fake_writers: list, tmp_path: Path, argv: tuple) -> None:
    code, out, err = run(*argv)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "tanh(x1*w1 + x2*w2 + b) = 0.707107"
    rows = table(out)
    assert list(rows) == ["x1", "w1", "x2", "w2", "b"]
    assert {name: grad for name, (_, grad) in rows.items()} == NEURON_GRADS
    assert rows["b"][0] == pytest.approx(6.8813735870195432, rel=1e-6)
    assert out.rstrip().endswith("diagram written to chainrule.svg")
    assert files(tmp_path) == ["chainrule.svg"]
    (kind, path, options), = fake_writers
    assert (kind, path.name.endswith(".svg"), options["check"]) == ("diagram", True, False)
    root = options["root"]
    assert isinstance(root, Value) and root.data == pytest.approx(math.sqrt(0.5), abs=1e-12)


def test_values_alone_change_the_neuron(run: Run, fake_writers: list) -> None:
    code, out, _ = run("draw", "w1=0.5", "x2=1")
    assert code == 0
    rows = table(out)
    # tanh(2*0.5 + 1*1 + 6.88137) = tanh(8.88137): d/dw1 = x1 * (1 - tanh^2).
    slope = 1 - math.tanh(8.8813735870195432) ** 2
    assert rows["w1"] == (0.5, pytest.approx(2 * slope, rel=1e-5))
    assert rows["x2"][0] == 1.0 and rows["w2"][1] == pytest.approx(slope, rel=1e-5)


def test_the_table_is_aligned(run: Run, fake_writers: list) -> None:
    _, out, _ = run()
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("input")))
    block = lines[start : start + 6]
    assert len({len(line) for line in block}) == 1  # numbers right-aligned to the same width
    assert lines[start] == "input    value  gradient"


# ----------------------------------------------------------------------------
# Expressions
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "value", "grads"),
    [
        (["x**2 + sin(y)/z", "x=3", "y=0.5", "z=2"], 9 + math.sin(0.5) / 2,
         {"x": 6.0, "y": math.cos(0.5) / 2, "z": -math.sin(0.5) / 4}),
        (["relu(x) - 3.5e-2*abs(y)", "x=-1", "y=-2"], -0.07, {"x": 0.0, "y": 0.035}),
        (["max(a, b)", "a=1", "b=3"], 3.0, {"a": 0.0, "b": 1.0}),
        (["log(sum(a,b,c))", "a=1", "b=2", "c=3"], math.log(6), {"a": 1 / 6, "b": 1 / 6, "c": 1 / 6}),
        (["x*x", "x=-3"], 9.0, {"x": -6.0}),
        (["sin(x)", "x=pi/6"], 0.5, {"x": math.cos(math.pi / 6)}),
        (["x*y", "y = 2", " x=-1e-1"], -0.2, {"x": 2.0, "y": -0.1}),
        (["2*pi"], 2 * math.pi, {}),
    ],
)
def test_expressions(run: Run, fake_writers: list, argv: list[str], value: float, grads: dict[str, float]) -> None:
    code, out, err = run("draw", *argv)
    assert (code, err) == (0, "")
    assert float(out.splitlines()[0].rsplit(" = ", 1)[1]) == pytest.approx(value, rel=1e-5, abs=1e-12)
    if grads:
        assert {name: g for name, (_, g) in table(out).items()} == pytest.approx(grads, rel=1e-5, abs=1e-12)
    else:
        assert "(no inputs: the expression is a constant)" in out


def test_options_anywhere_and_a_leading_minus_after_dashes(run: Run, fake_writers: list, tmp_path: Path) -> None:
    code, out, _ = run("draw", "x*y", "-o", "a.svg", "x=2", "--check", "y=3")
    assert code == 0 and table(out)["x"][:2] == (2.0, 3.0)
    assert files(tmp_path) == ["a.svg"]
    code, out, _ = run("draw", "-o", "b.svg", "--", "-x**2", "x=3")
    assert code == 0
    assert out.splitlines()[0] == "-x**2 = -9" and table(out)["x"] == (3.0, -6.0)


def test_expression_is_shown_as_parsed(run: Run, fake_writers: list) -> None:
    _, out, _ = run("draw", "((a)) -(b - c)**2", "a=1", "b=2", "c=3")
    assert out.splitlines()[0] == "a - (b - c)**2 = 0"


# ----------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------


def test_check_adds_finite_differences(run: Run, fake_writers: list) -> None:
    code, out, _ = run("draw", "x**3 + relu(y)", "x=2", "y=1", "--check")
    assert code == 0
    rows = table(out)
    assert rows["x"][:2] == (2.0, 12.0) and rows["x"][2] == pytest.approx(12.0, rel=1e-6)
    assert "DIFFERS" not in out and out.count(" ok") == 2
    assert fake_writers[0][2]["check"] is True


def test_check_flags_a_kink(run: Run, fake_writers: list) -> None:
    code, out, _ = run("draw", "relu(x)", "x=0", "--check")
    assert code == 0
    assert table(out)["x"] == (0.0, 0.0, 0.5)  # relu'(0) = 0 by convention; the central difference is 1/2
    assert "DIFFERS" in out and "kink" in out


def test_animate_writes_html_next_to_the_diagram(run: Run, fake_writers: list, tmp_path: Path) -> None:
    code, out, _ = run("draw", "x*x", "x=2", "--animate", "-o", "sq.png")
    assert code == 0
    assert files(tmp_path) == ["sq.html", "sq.png"]
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "sq.png").stat().st_mode & 0o777 == 0o666 & ~mask  # as a plain open() would make it
    assert "diagram written to sq.png" in out and "animation written to sq.html" in out
    code, out, _ = run("draw", "--animate")
    assert code == 0 and "chainrule.html" in files(tmp_path)


def test_html_output_is_the_animation_alone(run: Run, fake_writers: list, tmp_path: Path) -> None:
    code, out, _ = run("draw", "x*x", "x=2", "-o", "anim.html")
    assert code == 0 and files(tmp_path) == ["anim.html"]
    assert [kind for kind, _, _ in fake_writers] == ["animation"]
    assert "animation written to anim.html" in out


def test_a_failed_write_leaves_nothing_and_keeps_old_files(
    run: Run, fake_writers: list, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "g.svg").write_text("old")

    def broken(output: Value, path: Path, *, title: str, **options: object) -> None:
        path.write_text("half")
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(cli, "_write_animation", broken)
    code, out, err = run("draw", "x*x", "x=2", "-o", "g.svg", "--animate")
    assert (code, out) == (1, "")
    assert "could not write g.svg, g.html: RuntimeError: renderer crashed" in err
    assert files(tmp_path) == ["g.svg"] and (tmp_path / "g.svg").read_text() == "old"


# ----------------------------------------------------------------------------
# Errors: exit status 2 (usage) or 1 (not written), and no file written
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["draw", "tanh(x1*w1 +)"], "expression: col 13: expected a number, a name or '(', got ')'"),
        (["draw", "x*y", "x=1"], "no value for y (col 3); give each as NAME=VALUE, for example: y=1.5"),
        (["draw", "a + b", "b=1"], "no value for a (col 1)"),
        (["draw", "foo(x)", "x=1"], "col 1: unknown function 'foo'"),
        (["draw", "tanh(x, y)", "x=1", "y=1"], "tanh() takes 1 argument, got 2"),
        (["draw", "x", "x=1", "y=2"], "y given a value but not used in the expression (its inputs are: x)"),
        (["draw", "x", "x=1", "x=2"], "x is given twice (x=1 and x=2)"),
        (["draw", "x", "x"], "expected NAME=VALUE, got 'x'"),
        (["draw", "x", "2x=1"], "'2x' is not a name"),
        (["draw", "x", "x=abc"], "a value is a number or a constant expression, but it uses abc"),
        (["draw", "x", "x=1,5"], "value 'x=1,5': col 4: expected an operator or the end, got ','"),
        (["draw", "x", "x="], "the value of x is missing"),
        (["draw", "x", "x=1/0"], "x must be a finite number, got inf"),
        (["draw", "x", "x=nan"], "it uses nan"),
        (["draw", "x*pi", "x=1", "pi=3"], "pi is the constant 3.14159"),
        (["draw", "x", "exp=1", "x=1"], "exp is a function"),
        (["draw", "q=1"], "the classic neuron tanh(x1*w1 + x2*w2 + b) has no input named q"),
        (["draw", "x", "x=1", "-o", "out.txt"], "can't tell the format from the suffix '.txt'"),
        (["draw", "x", "x=1", "-o", "missing/out.svg"], "the directory 'missing' does not exist"),
        (["draw", "-x", "x=1"], "an expression that starts with '-' goes after '--'"),
        (["draw", "x", "--colour"], "unrecognized arguments: --colour"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["draw", "x^2", "x=1"], "col 2: unexpected character '^' (write ** for a power)"),
        (["draw", "(" * 1000, "x=1"], "nested too deeply"),
        (["draw", "x", "x=1", "--view", "network"], "--view network draws the neurons of nn modules, and an "
                                                     "expression has none"),
        (["draw", "x", "x=1", "--detail", "layers.0.neurons.0"], "--detail draws the neurons of nn modules"),
        (["draw", "x", "x=1", "--view", "graph"], "argument --view: invalid choice: 'graph'"),
    ],
)
def test_usage_errors(run: Run, fake_writers: list, tmp_path: Path, argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert files(tmp_path) == [] and fake_writers == []
    if "--colour" in argv:
        assert "starts with '-'" not in err  # a mistyped option gets no hint about expressions


def test_parse_error_shows_a_caret(run: Run, fake_writers: list) -> None:
    code, _, err = run("draw", "tanh(x1*w1 +)")
    assert code == 2
    assert err.splitlines() == [
        "chainrule: error: expression: col 13: expected a number, a name or '(', got ')'",
        "  tanh(x1*w1 +)",
        "              ^",
    ]
    _, _, err = run("draw", "x", "x=(1+")
    assert err.splitlines()[1:] == ["  x=(1+", "       ^"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["log(x)", "x=0"], "warning: the output is -inf (drawn as such): log(x) at col 1 is -inf: op 'log' "
                            "produced -inf from inputs (x=0.0)"),
        (["x*y/z + 1", "x=1", "y=2", "z=0"], "the output is inf (drawn as such): x*y/z at col 4 is inf: op 'div' "
                                             "produced inf from inputs (<mul>=2.0, z=0.0)"),
        (["sqrt(x - 2) * y", "x=1", "y=3"], "the output is nan (drawn as such): sqrt(x - 2) at col 1 is nan: "
                                            "op 'sqrt' produced nan"),
        (["exp(x)*0", "x=1000"], "exp(x) at col 1 is inf: op 'exp' produced inf"),
        (["x + log(0)", "x=1"], "log(0) at col 5 is -inf: op 'log' produced -inf from inputs (<constant>=0.0)"),
        (["x + 1e308*10", "x=1"], "1e+308*10 at col 10 is inf: op 'mul' produced inf"),
    ],
)
def test_non_finite_output_is_drawn_with_a_warning_naming_the_op(
    run: Run, fake_writers: list, tmp_path: Path, argv: list[str], message: str
) -> None:
    code, out, err = run("draw", *argv)
    assert code == 0
    assert message in err.splitlines()[0]
    assert out.splitlines()[0].endswith(("= inf", "= -inf", "= nan"))
    assert files(tmp_path) == ["chainrule.svg"]


@pytest.mark.parametrize(
    ("argv", "value"),
    [(["log(x)", "x=0"], "-inf"), (["1/x", "x=0"], "inf"), (["sqrt(x - 2)", "x=1"], "nan")],
)
def test_non_finite_output_is_rendered_in_the_non_finite_colour(
    run: Run, tmp_path: Path, argv: list[str], value: str
) -> None:
    code, _, err = run("draw", *argv, "-o", "out.dot", "--animate")
    assert code == 0, err
    assert files(tmp_path) == ["out.dot", "out.html"]
    source = (tmp_path / "out.dot").read_text()
    output = [line for line in source.splitlines() if f"data {value}" in line]
    assert len(output) == 1 and 'fillcolor="#c51b8a"' in output[0]  # Theme().nonfinite_color


def test_overflowing_gradient_sum_is_drawn_not_a_traceback(run: Run, tmp_path: Path) -> None:
    # Two terms of 1.5e308 each: their sum overflows to inf (math.fsum used to raise OverflowError here).
    code, out, err = run("draw", "x*1.5e308 + x*1.5e308", "x=1e-300", "-o", "out.dot", "--check")
    assert code == 0, err
    assert "Traceback" not in err and "the gradient of x is not finite" in err
    assert table(out)["x"] == (1e-300, math.inf, math.inf)
    assert "grad = 1.5e+308 + 1.5e+308 = inf" in (tmp_path / "out.dot").read_text()


def test_inf_minus_inf_gradient_is_drawn_not_a_traceback(run: Run, tmp_path: Path) -> None:
    # x's two terms are inf and -inf: the gradient is nan (math.fsum used to raise ValueError).
    code, out, err = run("draw", "sqrt(x) - sqrt(x)", "x=0", "-o", "out.dot")
    assert code == 0, err
    assert math.isnan(table(out)["x"][1])
    assert "grad = inf + -inf = nan" in (tmp_path / "out.dot").read_text()


def test_non_finite_gradient_is_a_warning_naming_the_op(run: Run, fake_writers: list, tmp_path: Path) -> None:
    code, out, err = run("draw", "sqrt(x) + y", "x=0", "y=1")
    assert code == 0
    assert err == ("chainrule: warning: the gradient of x is not finite: sqrt(x) at col 1: op 'sqrt' has local "
                   "derivative inf for input 0 from inputs (x=0.0)\n")
    assert table(out)["x"] == (0.0, math.inf)
    assert files(tmp_path) == ["chainrule.svg"]


def test_help(run: Run) -> None:
    code, out, _ = run("--help")
    assert code == 0 and "draw" in out and "classic neuron" in out
    code, out, _ = run("draw", "--help")
    assert code == 0
    for text in ("NAME=VALUE", "--animate", "--check", "-o FILE", "leaky_relu(x[, slope=0.01])", "clamp(x, lo, hi)",
                 "-(x**2)", "exit status", "chainrule.svg"):
        assert text in out, text
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("chainrule ")


# ----------------------------------------------------------------------------
# Fuzzing through the command line
# ----------------------------------------------------------------------------


def check_command_outcome(expression: str, *values: str) -> None:
    """Whatever the text: exit 0 with the file written, or a non-zero exit, a short error and no file."""
    with tempfile.TemporaryDirectory() as directory, pytest.MonkeyPatch.context() as monkeypatch:
        fake(monkeypatch, [])
        target = Path(directory) / "out.svg"
        code, out, err = run_main("draw", "-o", str(target), "--", expression, *values)
        if code == 0:
            assert target.exists() and "diagram written to" in out
            return
        assert code in (1, 2)
        assert os.listdir(directory) == []
        lines = err.splitlines()
        assert lines[0].startswith("chainrule: error: ")
        assert len(lines) in (1, 3)  # one line, plus the source and a caret for a parse error
        assert out == ""


@given(st.text(max_size=60))
@example("tanh(x1*w1 + x2*w2 + b)")
@example("x1=3")
@example("--help")
@example("(" * 3000)
def test_fuzz_command_line(expression: str) -> None:
    check_command_outcome(expression)


TOKENS = ["x", "y", "1", "0", "pi", "+", "-", "*", "/", "**", "(", ")", ",", "log", "sqrt", "exp", "max", " ", "="]


@given(st.lists(st.sampled_from(TOKENS), max_size=16))
def test_fuzz_token_soup_with_values(tokens: list[str]) -> None:
    values = [text for name, text in (("x", "x=0"), ("y", "y=-1")) if name in tokens]
    check_command_outcome("".join(tokens), *values)


# ----------------------------------------------------------------------------
# The real program, in a subprocess
# ----------------------------------------------------------------------------


def program() -> list[str]:
    """The installed console script when present, else the module."""
    script = Path(sys.executable).parent / "chainrule"
    return [str(script)] if script.exists() else [sys.executable, "-m", "chainrule"]


def test_subprocess_bad_expression(tmp_path: Path) -> None:
    result = subprocess.run([*program(), "draw", "x +* y", "x=1", "y=2"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first == "chainrule: error: expression: col 4: expected a number, a name or '(', got '*'"
    assert result.stdout == "" and files(tmp_path) == []


# ----------------------------------------------------------------------------
# Real rendering, with the PyPI fallback renderer (system `dot` hidden from PATH)
# ----------------------------------------------------------------------------


@pytest.fixture
def renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide any system `dot`: only the virtual environment's programs (graphviz-pure) stay on PATH."""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))


def svg_text(path: Path) -> str:
    """Parse an SVG file as XML and return all its text."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg")
    return " ".join(root.itertext())


def test_renders_the_neuron_as_svg(run: Run, renderer: None, tmp_path: Path) -> None:
    code, out, err = run()
    assert (code, err) == (0, "") and "diagram written to chainrule.svg" in out
    text = svg_text(tmp_path / "chainrule.svg")
    for label in ("x1", "w1", "x2", "w2", "b", "tanh"):
        assert label in text
    assert files(tmp_path) == ["chainrule.svg"]


def test_renders_check_and_animation(run: Run, renderer: None, tmp_path: Path) -> None:
    code, _, _ = run("draw", "x*x + y", "x=3", "y=1", "-o", "plain.svg")
    assert code == 0
    code, _, _ = run("draw", "x*x + y", "x=3", "y=1", "-o", "checked.svg", "--check", "--animate")
    assert code == 0
    assert files(tmp_path) == ["checked.html", "checked.svg", "plain.svg"]
    assert svg_text(tmp_path / "checked.svg") != svg_text(tmp_path / "plain.svg")  # the estimates are drawn
    page = (tmp_path / "checked.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith(("<!doctype html", "<html")) and "</html>" in page.lower()


def test_writes_dot_text(run: Run, renderer: None, tmp_path: Path) -> None:
    code, _, _ = run("draw", "x*x", "x=3", "-o", "g.dot")
    assert code == 0
    source = (tmp_path / "g.dot").read_text(encoding="utf-8")
    assert source.lstrip().startswith("digraph") and "x" in source


def test_subprocess_draws_the_neuron(renderer: None, tmp_path: Path) -> None:
    result = subprocess.run(program(), cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PATH": str(Path(sys.executable).parent)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "tanh(x1*w1 + x2*w2 + b) = 0.707107"
    assert "diagram written to chainrule.svg" in result.stdout
    assert "x1" in svg_text(tmp_path / "chainrule.svg")


def test_view_and_legend_options_reach_the_writers(run: Run, fake_writers: list) -> None:
    assert run("draw", "x*x", "x=2", "--view", "scalar", "--no-legend", "--animate")[0] == 0
    (_, _, diagram), (_, _, animation) = fake_writers
    assert diagram["view"] == "scalar" and diagram["legend"] is False and animation["legend"] is False
    fake_writers.clear()
    assert run("draw", "x*x", "x=2")[0] == 0
    assert fake_writers[0][2]["view"] == "auto" and fake_writers[0][2]["legend"] is True


def test_no_legend_leaves_the_legend_out(run: Run, tmp_path: Path) -> None:
    assert run("draw", "x*x + x", "x=3", "-o", "with.dot")[0] == 0
    assert run("draw", "x*x + x", "x=3", "-o", "without.dot", "--no-legend")[0] == 0
    assert "legend [label=" in (tmp_path / "with.dot").read_text(encoding="utf-8")
    assert "legend" not in (tmp_path / "without.dot").read_text(encoding="utf-8")


def test_max_nodes_and_forward_reach_the_writers_and_a_big_graph_names_the_flag(run: Run, fake_writers: list) -> None:
    expression = " + ".join(f"sin(x*{k})" for k in range(1, 41))  # 40 * 3 + 39 + 1 = 160 nodes
    code, _, err = run("draw", expression, "x=0.5", "--animate")
    assert code == 0
    assert "note: the graph has 160 nodes, more than --max-nodes 150" in err and "--max-nodes 160" in err
    assert [w[2]["max_nodes"] for w in fake_writers] == [150, 150]
    fake_writers.clear()
    code, _, err = run("draw", expression, "x=0.5", "--animate", "--max-nodes", "0", "--forward")
    assert code == 0 and "note" not in err
    (_, _, diagram), (_, _, animation) = fake_writers
    assert diagram["max_nodes"] == 0 and animation["max_nodes"] == 0 and animation["forward"] is True
    code, _, err = run("draw", "x", "x=1", "--max-nodes", "-3")
    assert code == 2 and "--max-nodes wants a whole number >= 0" in err


def test_big_expression_animation_says_which_flag_steps_through_every_node(run: Run, tmp_path: Path) -> None:
    expression = " + ".join(f"sin(x*{k})" for k in range(1, 41))
    code, _, _ = run("draw", expression, "x=0.5", "-o", str(tmp_path / "big.html"))
    assert code == 0
    page = (tmp_path / "big.html").read_text(encoding="utf-8")
    assert "more than --max-nodes=150: the page collapses modules and stacks parallel nodes" in page
