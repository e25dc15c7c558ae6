"""Tests for viz.parse: the grammar, evaluation into Values, errors with positions, fuzzing."""

from __future__ import annotations

import ast
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chainrule import autograd
from chainrule.autograd import CONSTANT, Value
from chainrule.viz.parse import (
    FUNCTIONS,
    MAX_NESTING,
    Binary,
    Call,
    Name,
    Node,
    Number,
    ParseError,
    Unary,
    evaluate,
    evaluate_float,
    explain_non_finite,
    explain_non_finite_gradient,
    first_use,
    parse,
    tokenize,
    unparse,
    variables,
)

NEURON = "tanh(x1*w1 + x2*w2 + b)"
NEURON_VALUES = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}


def parenthesized(node: Node) -> str:
    """Fully parenthesised text, written independently of unparse()."""
    if isinstance(node, Number):
        return repr(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Unary):
        return f"({node.op}{parenthesized(node.operand)})"
    if isinstance(node, Binary):
        return f"({parenthesized(node.left)} {node.op} {parenthesized(node.right)})"
    return f"{node.func}({', '.join(parenthesized(a) for a in node.args)})"


def from_python(node: ast.AST) -> Node:
    """Convert Python's own AST of the same text, the oracle for the grammar."""
    if isinstance(node, ast.Expression):
        return from_python(node.body)
    if isinstance(node, ast.BinOp):
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
        return Binary(ops[type(node.op)], from_python(node.left), from_python(node.right))
    if isinstance(node, ast.UnaryOp):
        return Unary("-" if isinstance(node.op, ast.USub) else "+", from_python(node.operand))
    if isinstance(node, ast.Constant):
        return Number(float(node.value))
    if isinstance(node, ast.Name):
        return Name(node.id)
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return Call(node.func.id, tuple(from_python(a) for a in node.args))


# ----------------------------------------------------------------------------
# Grammar: precedence and associativity
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a+b*c", "(a + (b * c))"),
        ("a*b+c", "((a * b) + c)"),
        ("a-b-c", "((a - b) - c)"),
        ("a-b+c", "((a - b) + c)"),
        ("a/b/c", "((a / b) / c)"),
        ("a/b*c", "((a / b) * c)"),
        ("a**b**c", "(a ** (b ** c))"),
        ("-a**b", "(-(a ** b))"),
        ("a**-b", "(a ** (-b))"),
        ("a**-b**c", "(a ** (-(b ** c)))"),
        ("-a*b", "((-a) * b)"),
        ("a*-b", "(a * (-b))"),
        ("a - -b", "(a - (-b))"),
        ("--a", "(-(-a))"),
        ("+-a", "(+(-a))"),
        ("(a+b)*c", "((a + b) * c)"),
        ("(a**b)**c", "((a ** b) ** c)"),
        ("(-a)**b", "((-a) ** b)"),
        ("a*b**c", "(a * (b ** c))"),
        ("2*x**2", "(2.0 * (x ** 2.0))"),
        ("max(a, b+c)*d", "(max(a, (b + c)) * d)"),
        ("-sin(x)**2", "(-(sin(x) ** 2.0))"),
        ("  a\t+\nb ", "(a + b)"),
    ],
)
def test_precedence_and_associativity(source: str, expected: str) -> None:
    tree = parse(source)
    assert parenthesized(tree) == expected
    assert tree == from_python(ast.parse(" ".join(source.split()), mode="eval"))


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3.0), ("3.", 3.0), (".5", 0.5), ("3.5e-2", 0.035), ("1E+3", 1000.0), ("2e3", 2000.0), ("007", 7.0)],
)
def test_numbers(text: str, value: float) -> None:
    assert parse(text) == Number(value)


def test_positions_are_recorded() -> None:
    tree = parse("x + tanh(y)*2")
    assert isinstance(tree, Binary) and tree.col == 3
    assert isinstance(tree.left, Name) and tree.left.col == 1
    product = tree.right
    assert isinstance(product, Binary) and product.col == 12
    assert isinstance(product.left, Call) and product.left.col == 5
    assert isinstance(product.right, Number) and product.right.col == 13
    assert first_use(parse("a + b*a"), "a") == 1 and first_use(parse("a + b*a"), "b") == 5


def test_variables_in_order_of_first_appearance_without_constants() -> None:
    assert variables(parse(NEURON)) == ["x1", "w1", "x2", "w2", "b"]
    assert variables(parse("y*x + x*pi + e")) == ["y", "x"]


@pytest.mark.parametrize(
    "source",
    ["x**2 + sin(y)/z", "-x**2", "2**-x**y", "a - (b - c)", "(a - b) - c", "a/(b*c)", "(-a)**b", "(a**b)**c",
     "--x", "leaky_relu(x, 0.1)", "pi*e", "-2*x", "x - -y", "relu(x) - 0.035*abs(y)", "1e-05*x", "1e+16"],
)
def test_unparse_round_trips(source: str) -> None:
    assert parse(unparse(parse(source))) == parse(source)


def test_unparse_uses_few_parentheses() -> None:
    assert unparse(parse("((a)) + ((b*c))")) == "a + b*c"
    assert unparse(parse("(a - b) - (c - d)")) == "a - b - (c - d)"
    assert unparse(parse("-(x**2)")) == "-x**2"
    assert unparse(parse("relu(x) - 3.5e-2*abs(y)")) == "relu(x) - 0.035*abs(y)"


# ----------------------------------------------------------------------------
# Evaluation: values and gradients, worked by hand
# ----------------------------------------------------------------------------


def run(source: str, **values: float) -> tuple[Value, dict[str, Value]]:
    output, leaves = evaluate(parse(source), values)
    output.backward()
    return output, leaves


def test_classic_neuron() -> None:
    output, leaves = run(NEURON, **NEURON_VALUES)
    assert output.data == pytest.approx(math.sqrt(0.5), abs=1e-12)
    grads = {name: leaf.grad for name, leaf in leaves.items()}
    expected = {"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5}
    assert grads == pytest.approx(expected, abs=1e-12)
    assert [leaf.label for leaf in leaves.values()] == list(expected)


def test_one_leaf_per_name_shared_by_every_use() -> None:
    output, leaves = run("x*x", x=3.0)
    assert output.data == 9.0 and leaves["x"].grad == 6.0
    assert output.parents == (leaves["x"], leaves["x"])
    output, leaves = run("x + x*y + x", x=2.0, y=5.0)
    assert leaves["x"].grad == 7.0 and leaves["y"].grad == 2.0
    assert sum(1 for node in autograd.topological_order(output) if node.label == "x") == 1


@pytest.mark.parametrize(
    ("source", "values", "value", "grads"),
    [
        ("x**2 + sin(y)/z", {"x": 3.0, "y": 0.5, "z": 2.0}, 9 + math.sin(0.5) / 2,
         {"x": 6.0, "y": math.cos(0.5) / 2, "z": -math.sin(0.5) / 4}),
        ("relu(x) - 3.5e-2*abs(y)", {"x": -1.0, "y": -2.0}, -0.07, {"x": 0.0, "y": 0.035}),
        ("max(a, b)", {"a": 1.0, "b": 3.0}, 3.0, {"a": 0.0, "b": 1.0}),
        ("maximum(a, b, c)", {"a": 1.0, "b": 5.0, "c": 2.0}, 5.0, {"a": 0.0, "b": 1.0, "c": 0.0}),
        ("min(a, b)", {"a": 1.0, "b": 3.0}, 1.0, {"a": 1.0, "b": 0.0}),
        ("minimum(a, b)", {"a": 2.0, "b": 2.0}, 2.0, {"a": 0.5, "b": 0.5}),
        ("log(sum(a, b, c))", {"a": 1.0, "b": 2.0, "c": 3.0}, math.log(6), {"a": 1 / 6, "b": 1 / 6, "c": 1 / 6}),
        ("logsumexp(a, b)", {"a": 0.0, "b": 0.0}, math.log(2), {"a": 0.5, "b": 0.5}),
        ("leaky_relu(x)", {"x": -2.0}, -0.02, {"x": 0.01}),
        ("leaky_relu(x, s)", {"x": -2.0, "s": 0.1}, -0.2, {"x": 0.1, "s": -2.0}),
        ("clamp(x, -1, 1)", {"x": 2.0}, 1.0, {"x": 0.0}),
        ("clamp(x, -1, 1)", {"x": 0.5}, 0.5, {"x": 1.0}),
        ("exp(x)", {"x": 1.0}, math.e, {"x": math.e}),
        ("log(x)", {"x": 4.0}, math.log(4), {"x": 0.25}),
        ("sqrt(x)", {"x": 4.0}, 2.0, {"x": 0.25}),
        ("tanh(x)", {"x": 0.0}, 0.0, {"x": 1.0}),
        ("sigmoid(x)", {"x": 0.0}, 0.5, {"x": 0.25}),
        ("relu(x)", {"x": 3.0}, 3.0, {"x": 1.0}),
        ("abs(x)", {"x": -3.0}, 3.0, {"x": -1.0}),
        ("sin(x)", {"x": 0.0}, 0.0, {"x": 1.0}),
        ("cos(x)", {"x": 0.0}, 1.0, {"x": 0.0}),
        ("softplus(x)", {"x": 0.0}, math.log(2), {"x": 0.5}),
        ("-x**2", {"x": 3.0}, -9.0, {"x": -6.0}),
        ("2**x**2", {"x": 2.0}, 16.0, {"x": 16 * math.log(2) * 4}),
        ("x/y/z", {"x": 8.0, "y": 2.0, "z": 4.0}, 1.0, {"x": 0.125, "y": -0.5, "z": -0.25}),
        ("sin(pi/2*x) + e", {"x": 1.0}, 1.0 + math.e, {"x": 0.0}),
        ("+x - -y", {"x": 1.0, "y": 2.0}, 3.0, {"x": 1.0, "y": 1.0}),
        ("hypot(x, y)", {"x": 3.0, "y": 4.0}, 5.0, {"x": 0.6, "y": 0.8}),
        ("atan2(y, x)", {"x": 1.0, "y": 1.0}, math.pi / 4, {"x": -0.5, "y": 0.5}),
        ("log2(x) + floor(y)", {"x": 8.0, "y": 2.5}, 5.0, {"x": 1.0 / (8.0 * math.log(2.0)), "y": 0.0}),
        ("softplus(x, 2)", {"x": 0.0}, math.log(2.0) / 2.0, {"x": 0.5}),
        ("hardtanh(x, 0, 6)", {"x": 7.0}, 6.0, {"x": 0.0}),
    ],
)
def test_values_and_gradients(source: str, values: dict[str, float], value: float, grads: dict[str, float]) -> None:
    output, leaves = run(source, **values)
    assert output.data == pytest.approx(value, rel=1e-12, abs=1e-12)
    assert {name: leaf.grad for name, leaf in leaves.items()} == pytest.approx(grads, rel=1e-12, abs=1e-12)


def test_every_function_builds_its_engine_op() -> None:
    expected_op = {"max": "maximum", "min": "minimum"}
    for name, function in FUNCTIONS.items():
        args = ", ".join(["x", "0.5", "2.0"][: function.min_args])
        output, _ = evaluate(parse(f"{name}({args})"), {"x": 0.25})
        assert output.op == expected_op.get(name, name), name


def test_numbers_are_constants_and_negative_literals_fold() -> None:
    output, _ = run("-2*x + pi", x=1.0)
    nodes = autograd.topological_order(output)
    assert [node.op for node in nodes if node.op] == ["mul", "add"]
    constants = [node for node in nodes if node.role == CONSTANT]
    assert [(c.data, c.label) for c in constants] == [(-2.0, ""), (math.pi, "pi")]
    assert all(c.grad == 0.0 for c in constants)


def test_evaluate_float_and_constant_expressions() -> None:
    assert evaluate_float(parse("pi/4")) == math.pi / 4
    assert evaluate_float(parse("x*y"), {"x": 2.0, "y": 3.5}) == 7.0
    assert math.isnan(evaluate_float(parse("log(-1)")))
    assert evaluate_float(parse("1/0")) == math.inf


def test_evaluate_reports_missing_values_and_constants_given_values() -> None:
    with pytest.raises(ValueError, match="no value for y, z"):
        evaluate(parse("x + y*z"), {"x": 1.0})
    with pytest.raises(ValueError, match="pi is a constant"):
        evaluate(parse("x*pi"), {"x": 1.0, "pi": 3.0})


@pytest.mark.parametrize(
    ("source", "values", "explanation"),
    [
        ("log(x)", {"x": 0.0}, "log(x) at col 1 is -inf: op 'log' produced -inf from inputs (x=0.0)"),
        ("x + log(0)", {"x": 1.0}, "log(0) at col 5 is -inf: op 'log' produced -inf from inputs (<constant>=0.0)"),
        ("x*y/z + 1", {"x": 1.0, "y": 2.0, "z": 0.0},
         "x*y/z at col 4 is inf: op 'div' produced inf from inputs (<mul>=2.0, z=0.0)"),
        ("sqrt(x) + log(x - 1)", {"x": 0.0},  # sqrt'(0) = inf is not the culprit: only outputs are checked
         "log(x - 1) at col 11 is nan: op 'log' produced nan from inputs (<sub>=-1.0)"),
        ("max(x, 1/y, 2)", {"x": 1.0, "y": 0.0}, "1/y at col 9 is inf: op 'div' produced inf"),
        ("x*2 + sqrt(x)", {"x": 0.0}, None),
    ],
)
def test_explain_non_finite(source: str, values: dict[str, float], explanation: str | None) -> None:
    found = explain_non_finite(parse(source), values)
    if explanation is None:
        assert found is None
    else:
        assert found is not None and found.startswith(explanation)


@pytest.mark.parametrize(
    ("source", "values", "explanation"),
    [
        ("sqrt(x) + y", {"x": 0.0, "y": 1.0},
         "sqrt(x) at col 1: op 'sqrt' has local derivative inf for input 0 from inputs (x=0.0)"),
        ("max(x, y, sqrt(x))", {"x": 0.0, "y": 1.0}, "sqrt(x) at col 11: op 'sqrt' has local derivative inf"),
        ("y * x**0.5", {"x": 0.0, "y": 1.0}, "x**0.5 at col 6: op 'pow' has local derivative inf for input 0"),
        ("x*y + sqrt(4)", {"x": 1.0, "y": 2.0}, None),  # sqrt of a constant is folded: no derivative to take
    ],
)
def test_explain_non_finite_gradient(source: str, values: dict[str, float], explanation: str | None) -> None:
    found = explain_non_finite_gradient(parse(source), values)
    if explanation is None:
        assert found is None
    else:
        assert found is not None and found.startswith(explanation)


def test_long_chains_need_no_recursion() -> None:
    n = 5000
    output, leaves = run("x" + "+x" * n, x=1.0)
    assert output.data == n + 1 and leaves["x"].grad == n + 1
    output, leaves = run("-" * n + "x", x=3.0)
    assert output.data == 3.0 and leaves["x"].grad == 1.0
    # x**x**...**x at x = 1: every level is 1 with derivative 1.
    output, leaves = run("x**" * 2000 + "x", x=1.0)
    assert output.data == 1.0 and leaves["x"].grad == pytest.approx(1.0)
    assert unparse(parse("x" + "-x" * n)) == "x" + " - x" * n


# ----------------------------------------------------------------------------
# Errors: one line, a position, a clear message
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "col", "message"),
    [
        ("", 1, "empty expression"),
        ("   ", 4, "empty expression"),
        ("(", 2, "expected a number, a name or '(', got end of input"),
        ("x +", 4, "got end of input"),
        ("tanh((x", 8, "expected ')' to close '(' at col 6, got end of input"),
        ("tanh(x", 7, "expected ',' or ')' in the call tanh( at col 1"),
        ("tanh(x,", 8, "expected a number"),
        ("max(a, b,)", 10, "expected a number, a name or '(', got ')'"),
        ("foo(x)", 1, "unknown function 'foo'"),
        ("exp + 1", 1, "'exp' is a function; call it as exp(x)"),
        ("1e", 1, "exponent needs digits"),
        ("x*2x", 3, "a number can't be followed by a name ('2x')"),
        ("1.2.3", 1, "malformed number '1.2.3'"),
        ("x^2", 2, "unexpected character '^' (write ** for a power)"),
        ("x = 2", 3, "unexpected character '='"),
        ("max(a)", 1, "max() takes at least 2 arguments, got 1"),
        ("tanh(a, b)", 1, "tanh() takes 1 argument, got 2"),
        ("leaky_relu()", 1, "leaky_relu() takes 1 to 2 arguments, got 0"),
        ("y + clamp(x, 1)", 5, "clamp() takes 3 arguments, got 2"),
        ("x)", 2, "unmatched ')'"),
        ("x y", 3, "expected an operator, got name 'y' (write * for a product)"),
        ("2 (x)", 3, "expected an operator, got '('"),
        ("x,y", 2, "expected an operator or the end, got ','"),
        ("1e999", 1, "too large for a float"),
        ("x * * y", 5, "expected a number, a name or '(', got '*'"),
        ("x // 2", 4, "got '/'"),
        ("é", 1, "unexpected character 'é'"),
        ("x\n+ \x00", 5, "unexpected character '\\x00'"),
        ("a.b", 2, "unexpected character '.'"),
    ],
)
def test_errors_name_the_position(source: str, col: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(source)
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.col, error.source) == (col, source)
    assert message in error.message
    assert str(error) == f"col {col}: {error.message}"


def test_caret_points_at_the_column() -> None:
    with pytest.raises(ParseError) as info:
        parse("tanh(x1*w1 +)")
    assert info.value.caret() == "tanh(x1*w1 +)\n            ^"
    with pytest.raises(ParseError) as info:
        parse("x +\n")
    assert info.value.caret() == ""  # a multi-line source can't be pointed at


def test_nesting_limit() -> None:
    deepest = "sin(" * (MAX_NESTING // 2) + "(" * (MAX_NESTING // 2) + "x" + ")" * MAX_NESTING
    assert variables(parse(deepest)) == ["x"]
    for source in ("(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1), "(" * 100_000, "exp(" * 10_000):
        with pytest.raises(ParseError, match=f"nested too deeply \\(more than {MAX_NESTING} levels"):
            parse(source)


def test_long_names_and_numbers_are_shortened_in_messages() -> None:
    with pytest.raises(ParseError) as info:
        parse("x " + "y" * 10_000)
    assert len(str(info.value)) < 120


def test_non_str_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected the expression as a str"):
        parse(b"x")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------
# Fuzzing
# ----------------------------------------------------------------------------


def check_outcome(source: str) -> None:
    """Parsing either succeeds or raises one clear one-line ParseError, never anything else."""
    try:
        tree = parse(source)
    except ParseError as error:
        text = str(error)
        assert "\n" not in text and "\r" not in text
        assert text.startswith(f"col {error.col}: ")
        assert 1 <= error.col <= len(source) + 1
        return
    assert parse(unparse(tree)) == tree


TOKENS = ["x", "y", "w1", "pi", "e", "1", "2.5", "1e-3", ".5", "+", "-", "*", "/", "**", "(", ")", ",", " ",
          *FUNCTIONS, "^", "=", "!", "1e", "2x", "\n"]


@given(st.text())
@example("(" * 5000)
@example("-" * 5000)
@example("x**" * 1000)
@example("1" * 5000 + "e")
def test_fuzz_arbitrary_text(source: str) -> None:
    check_outcome(source)


@given(st.lists(st.sampled_from(TOKENS), max_size=30))
@example(["tanh", "(", "x", "**", "-", "(", ")"])
def test_fuzz_token_soup(tokens: list[str]) -> None:
    check_outcome("".join(tokens))


NUMBER_TEXT = st.one_of(
    st.integers(0, 10**6).map(str),
    st.floats(0, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["3.5e-2", ".5", "5.", "1E+3"]),
)


def wrap(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(text, st.booleans()).map(lambda pair: f"({pair[0]})" if pair[1] else pair[0])


def _call_text(draw: st.DrawFn, children: st.SearchStrategy[str]) -> str:
    name = draw(st.sampled_from(sorted(FUNCTIONS)))
    function = FUNCTIONS[name]
    count = draw(st.integers(function.min_args, function.max_args or function.min_args + 2))
    return f"{name}({', '.join(draw(children) for _ in range(count))})"


EXPRESSIONS = st.recursive(
    st.one_of(st.sampled_from(["x", "y", "w1", "pi", "e"]), NUMBER_TEXT),
    lambda children: st.one_of(
        st.tuples(wrap(children), st.sampled_from([" + ", "-", "*", " / ", "**"]), wrap(children)).map("".join),
        st.tuples(st.sampled_from(["-", "+"]), wrap(children)).map("".join),
        st.composite(_call_text)(children),
    ),
    max_leaves=12,
)


@given(EXPRESSIONS)
@example("-x**-y**2")
@example("2*-3**x")
def test_grammar_matches_python(source: str) -> None:
    tree = parse(source)
    assert tree == from_python(ast.parse(source, mode="eval"))
    assert parse(unparse(tree)) == tree
    values = {name: 0.5 for name in variables(tree)}
    output, leaves = evaluate(tree, values)
    assert set(leaves) == set(values)
    assert output.data == evaluate_float(tree, values) or math.isnan(output.data)


def test_tokenize_ends_with_end_token() -> None:
    tokens = tokenize("a**2")
    assert [(t.kind, t.text, t.col) for t in tokens] == [
        ("name", "a", 1), ("op", "**", 2), ("number", "2", 4), ("end", "", 5)
    ]
