"""Parse and evaluate the expressions the ``chainrule`` command line draws.

The text is tokenised and parsed by hand (precedence climbing) into a small
AST of frozen dataclasses, then evaluated into a graph of ``autograd.Value``
nodes. Nothing is ever ``eval``ed. The grammar is Python's, restricted to
arithmetic::

    expression := product (('+' | '-') product)*
    product    := operand (('*' | '/') operand)*
    operand    := ('+' | '-')* power
    power      := atom ('**' ('+' | '-')* atom)*      right-associative
    atom       := NUMBER | NAME | NAME '(' arguments ')' | '(' expression ')'

so ``-x**2`` is ``-(x**2)``, ``2**-x`` is ``2**(-x)`` and ``a**b**c`` is
``a**(b**c)``, as in Python. Every error is a :class:`ParseError` (a
``ValueError``) whose one-line message starts with the column it points at.

Only parentheses and calls nest on the Python stack, and they are limited to
:data:`MAX_NESTING` levels; operator chains of any length (``x+x+...+x``,
``x**x**...**x``, ``----x``) are parsed and evaluated with loops.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

from chainrule import autograd
from chainrule.autograd import Value

MAX_NESTING = 100
"""Deepest nesting of parentheses and calls accepted (keeps the parser off Python's recursion limit)."""

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
"""Names that stand for numbers; they cannot be given values."""


class ParseError(ValueError):
    """An expression that cannot be parsed: ``str(error)`` is ``"col N: what was wrong"``.

    Attributes:
        message: what was wrong, without the position (one line).
        col: the 1-based column (character index + 1) the error points at.
        source: the text that was being parsed.
    """

    def __init__(self, message: str, col: int, source: str) -> None:
        super().__init__(f"col {col}: {message}")
        self.message = message
        self.col = col
        self.source = source

    def caret(self) -> str:
        """Return the source and a caret under the column, or '' when the source can't be shown on one line.

        Returns:
            Two lines (no trailing newline), e.g. ``"tanh((x\\n      ^"``.
        """
        if not self.source.isascii() or not self.source.isprintable():
            return ""
        return f"{self.source}\n{' ' * (self.col - 1)}^"


# ----------------------------------------------------------------------------
# The AST: positions are kept for messages but left out of equality.
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    """A numeric literal (never negative: ``-2`` is ``Unary('-', Number(2.0))``)."""

    value: float
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    """A variable or a constant (``pi``, ``e``)."""

    name: str
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Unary:
    """``+operand`` or ``-operand``."""

    op: str
    operand: Node
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Binary:
    """``left op right`` for op in ``+ - * / **``; col is the operator's."""

    op: str
    left: Node
    right: Node
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    """``func(args...)``; func is a key of :data:`FUNCTIONS` and the argument count fits it."""

    func: str
    args: tuple[Node, ...]
    col: int = field(default=0, compare=False)


Node: TypeAlias = Number | Name | Unary | Binary | Call


def children(node: Node) -> tuple[Node, ...]:
    """Return the sub-expressions of node, in source order."""
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    return ()


T = TypeVar("T")


def fold(root: Node, visit: Callable[[Node, list[T]], T], *, expand: Callable[[Node], bool] | None = None) -> T:
    """Combine the results of every sub-expression bottom-up, without recursion.

    Args:
        root: the expression.
        visit: ``visit(node, results of its children in source order) -> result``.
        expand: when given and it returns False for a node, that node is visited
            as a leaf (``visit(node, [])``) and its children are skipped.

    Returns:
        ``visit``'s result for root. Children are visited left to right, so
        side effects (making graph nodes) happen in source order.
    """
    results: list[T] = []
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        kids = children(node) if expand is None or expand(node) else ()
        if ready or not kids:
            start = len(results) - len(kids) if ready else len(results)
            args = results[start:]
            del results[start:]
            results.append(visit(node, args))
        else:
            stack.append((node, True))
            stack.extend((kid, False) for kid in reversed(kids))
    return results[0]


# ----------------------------------------------------------------------------
# Functions: name -> engine call, with the argument counts checked at parse time
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """A function an expression may call.

    Args:
        name: what the expression writes.
        min_args: fewest arguments.
        max_args: most arguments, or None for any number.
        build: makes the graph node from the argument Values.
        signature: how to call it, for help and error messages.
    """

    name: str
    min_args: int
    max_args: int | None
    build: Callable[[list[Value]], Value]
    signature: str


def _chain(pairwise: Callable[[Value, Value], Value]) -> Callable[[list[Value]], Value]:
    def build(args: list[Value]) -> Value:
        result = args[0]
        for arg in args[1:]:
            result = pairwise(result, arg)
        return result

    return build


def _unary_method(method: Callable[[Value], Value]) -> Callable[[list[Value]], Value]:
    return lambda args: method(args[0])


def _binary_function(function: Callable[[Value, Value], Value]) -> Callable[[list[Value]], Value]:
    return lambda args: function(args[0], args[1])


def _functions() -> dict[str, Function]:
    table = [
        Function(name, 1, 1, _unary_method(getattr(Value, name)), f"{name}(x)")
        for name in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "log2", "log10", "log1p",
                     "expm1", "exp2", "tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh",
                     "reciprocal", "rsqrt", "erf", "erfc", "sign", "floor", "ceil", "round", "trunc")
    ]
    table += [
        Function(name, 1, 1, _unary_method(getattr(autograd, name)), f"{name}(x)")
        for name in ("gelu", "silu", "mish", "softsign", "logsigmoid", "selu", "relu6", "hardsigmoid", "hardswish")
    ]
    table += [
        Function(name, 2, 2, _binary_function(getattr(autograd, name)), f"{name}(a, b)")
        for name in ("atan2", "hypot", "remainder", "fmod", "logaddexp", "copysign")
    ]
    table += [
        Function("gelu_tanh", 1, 1, lambda a: autograd.gelu(a[0], approximate="tanh"), "gelu_tanh(x)"),
        Function("softplus", 1, 3, lambda a: autograd.softplus(*a), "softplus(x[, beta=1, threshold=inf])"),
        Function("elu", 1, 2, lambda a: autograd.elu(*a), "elu(x[, alpha=1])"),
        Function("celu", 1, 2, lambda a: autograd.celu(*a), "celu(x[, alpha=1])"),
        Function("hardtanh", 1, 3, lambda a: autograd.hardtanh(*a), "hardtanh(x[, lo=-1, hi=1])"),
    ]
    table += [
        Function("abs", 1, 1, lambda a: abs(a[0]), "abs(x)"),
        Function(
            "leaky_relu", 1, 2,
            lambda a: a[0].leaky_relu(a[1]) if len(a) > 1 else a[0].leaky_relu(),
            "leaky_relu(x[, slope=0.01])",
        ),
        Function("clamp", 3, 3, lambda a: autograd.clamp(a[0], a[1], a[2]), "clamp(x, lo, hi)"),
        Function("sum", 1, None, lambda a: autograd.sum(a), "sum(x, ...)"),
        Function("logsumexp", 1, None, lambda a: autograd.logsumexp(a), "logsumexp(x, ...)"),
    ]
    for names, pairwise in ((("max", "maximum"), autograd.maximum), (("min", "minimum"), autograd.minimum)):
        table += [Function(name, 2, None, _chain(pairwise), f"{name}(a, b, ...)") for name in names]
    return {f.name: f for f in sorted(table, key=lambda f: f.name)}


FUNCTIONS: dict[str, Function] = _functions()
"""Every function an expression may call, by name. ``max(a, b, c)`` is ``max(max(a, b), c)``."""


# ----------------------------------------------------------------------------
# Tokens
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """One token: kind is "number", "name", "op" (``+ - * / ** ( ) ,``) or "end"; col is 1-based."""

    kind: str
    text: str
    col: int

    def describe(self) -> str:
        """Name the token for an error message ("end of input", "name 'x'", "'*'")."""
        if self.kind == "end":
            return "end of input"
        if self.kind == "op":
            return repr(self.text)
        return f"name {_shorten(self.text)!r}" if self.kind == "name" else f"number {_shorten(self.text)}"


def _shorten(text: str, limit: int = 40) -> str:
    """Cut text that would make an error message unreadable."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[A-Za-z0-9_.]*")  # what may wrongly run on after a number
_SPACE = frozenset(" \t\r\n\f\v")
_OPERATORS = ("**", "+", "-", "*", "/", "(", ")", ",")
_HINTS = {
    "^": " (write ** for a power)",
    "=": " (give values as separate NAME=VALUE arguments)",
    "[": " (use parentheses)",
    "{": " (use parentheses)",
}


def tokenize(source: str) -> list[Token]:
    """Split source into tokens, ending with an "end" token.

    Args:
        source: the expression text.

    Returns:
        The tokens.

    Raises:
        ParseError: a character that is not part of the grammar, or a malformed number.
    """
    if not isinstance(source, str):
        raise TypeError(f"expected the expression as a str, got {type(source).__name__}")
    tokens = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch in _SPACE:
            i += 1
            continue
        col = i + 1
        number = _NUMBER.match(source, i)
        if number:
            text = number.group()
            rest = _WORD.match(source, number.end()).group()  # type: ignore[union-attr]
            if rest:
                bad = _shorten(text + rest)
                if rest[0] in "eE" and "e" not in text.lower():
                    raise ParseError(f"malformed number {bad!r}: an exponent needs digits, as in 1e-3", col, source)
                if rest[0] == "." or rest[0].isdigit():
                    raise ParseError(f"malformed number {bad!r}", col, source)
                raise ParseError(f"a number can't be followed by a name ({bad!r}); write * for a product",
                                 col, source)
            value = float(text)
            if math.isinf(value):
                raise ParseError(f"number {_shorten(text)} is too large for a float", col, source)
            tokens.append(Token("number", text, col))
            i = number.end()
            continue
        name = _NAME.match(source, i)
        if name:
            tokens.append(Token("name", name.group(), col))
            i = name.end()
            continue
        for op in _OPERATORS:
            if source.startswith(op, i):
                tokens.append(Token("op", op, col))
                i += len(op)
                break
        else:
            raise ParseError(f"unexpected character {ch!r}{_HINTS.get(ch, '')}", col, source)
    tokens.append(Token("end", "", n + 1))
    return tokens


# ----------------------------------------------------------------------------
# The parser
# ----------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.nesting = 0

    def error(self, message: str, token: Token) -> ParseError:
        return ParseError(message, token.col, self.source)

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, *ops: str) -> bool:
        token = self.tokens[self.pos]
        return token.kind == "op" and token.text in ops

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.error("empty expression", self.peek())
        node = self.expression()
        token = self.peek()
        if token.kind != "end":
            if token.kind in ("name", "number") or token.text == "(":
                raise self.error(f"expected an operator, got {token.describe()} (write * for a product)", token)
            if token.text == ")":
                raise self.error("unmatched ')'", token)
            raise self.error(f"expected an operator or the end, got {token.describe()}", token)
        return node

    def expression(self) -> Node:
        node = self.product()
        while self.at("+", "-"):
            op = self.next()
            node = Binary(op.text, node, self.product(), op.col)
        return node

    def product(self) -> Node:
        node = self.operand()
        while self.at("*", "/"):
            op = self.next()
            node = Binary(op.text, node, self.operand(), op.col)
        return node

    def signs(self) -> list[Token]:
        signs = []
        while self.at("+", "-"):
            signs.append(self.next())
        return signs

    @staticmethod
    def apply_signs(signs: Sequence[Token], node: Node) -> Node:
        for sign in reversed(signs):
            node = Unary(sign.text, node, sign.col)
        return node

    def operand(self) -> Node:
        signs = self.signs()
        return self.apply_signs(signs, self.power())

    def power(self) -> Node:
        # a ** s1 b ** s2 c is a ** (s1 (b ** (s2 c))): collect the chain, then build it from the right.
        atoms = [self.atom()]
        operators: list[Token] = []
        signs: list[list[Token]] = [[]]
        while self.at("**"):
            operators.append(self.next())
            signs.append(self.signs())
            atoms.append(self.atom())
        node = atoms[-1]
        for i in range(len(atoms) - 1, 0, -1):
            node = Binary("**", atoms[i - 1], self.apply_signs(signs[i], node), operators[i - 1].col)
        return node

    def open(self, token: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(f"nested too deeply (more than {MAX_NESTING} levels of parentheses and calls)", token)

    def close(self, opening: Token, what: str) -> None:
        token = self.next()
        if not (token.kind == "op" and token.text == ")"):
            raise self.error(f"expected ')' to close {what} at col {opening.col}, got {token.describe()}", token)
        self.nesting -= 1

    def atom(self) -> Node:
        token = self.next()
        if token.kind == "number":
            return Number(float(token.text), token.col)
        if token.kind == "name":
            if self.at("("):
                return self.call(token)
            if token.text in FUNCTIONS:
                raise self.error(f"{token.text!r} is a function; call it as {FUNCTIONS[token.text].signature}", token)
            return Name(token.text, token.col)
        if token.kind == "op" and token.text == "(":
            self.open(token)
            node = self.expression()
            self.close(token, "'('")
            return node
        raise self.error(f"expected a number, a name or '(', got {token.describe()}", token)

    def call(self, name: Token) -> Node:
        function = FUNCTIONS.get(name.text)
        if function is None:
            known = ", ".join(FUNCTIONS)
            raise self.error(f"unknown function {_shorten(name.text)!r} (write * for a product; "
                             f"functions: {known})", name)
        opening = self.next()
        self.open(opening)
        args: list[Node] = []
        if not self.at(")"):
            args.append(self.expression())
            while self.at(","):
                self.next()
                args.append(self.expression())
        token = self.peek()
        if not (token.kind == "op" and token.text == ")"):
            raise self.error(f"expected ',' or ')' in the call {name.text}( at col {name.col}, "
                             f"got {token.describe()}", token)
        self.close(opening, f"{name.text}(")
        low, high = function.min_args, function.max_args
        if len(args) < low or (high is not None and len(args) > high):
            if high is None:
                wanted = f"at least {low} argument{'s' if low > 1 else ''}"
            elif low == high:
                wanted = f"{low} argument{'s' if low > 1 else ''}"
            else:
                wanted = f"{low} to {high} arguments"
            raise self.error(f"{name.text}() takes {wanted}, got {len(args)}: {function.signature}", name)
        return Call(name.text, tuple(args), name.col)


def parse(source: str) -> Node:
    """Parse an expression into an AST.

    Args:
        source: e.g. ``"tanh(x1*w1 + x2*w2 + b)"``.

    Returns:
        The root node.

    Raises:
        ParseError: with the column and what was expected.
        TypeError: source is not a str.
    """
    return _Parser(source).parse()


# ----------------------------------------------------------------------------
# Reading the AST
# ----------------------------------------------------------------------------


def variables(root: Node) -> list[str]:
    """Return the names that need values (constants excluded), in order of first appearance."""
    seen: dict[str, None] = {}

    def visit(node: Node, _: list[None]) -> None:
        if isinstance(node, Name) and node.name not in CONSTANTS:
            seen.setdefault(node.name)

    fold(root, visit)
    return list(seen)


def first_use(root: Node, name: str) -> int:
    """Return the column where name first appears in root (0 when it doesn't)."""
    cols: list[int] = []

    def visit(node: Node, _: list[None]) -> None:
        if isinstance(node, Name) and node.name == name:
            cols.append(node.col)

    fold(root, visit)
    return min(cols, default=0)


# Binding strength for unparse: sums < products < unary signs < powers < atoms.
_SUM, _PRODUCT, _UNARY, _POWER, _ATOM = range(5)
_LEVEL = {"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "**": _POWER}


def _format_number(value: float) -> str:
    text = repr(value)
    return text[:-2] if text.endswith(".0") and "e" not in text else text


def unparse(root: Node) -> str:
    """Write the expression back as text with the fewest parentheses; ``parse(unparse(t)) == t``.

    Args:
        root: the expression.

    Returns:
        The text, e.g. ``"-x**2 + sin(y)/z"``.
    """

    def wrap(part: tuple[str, int], needs: bool) -> str:
        return f"({part[0]})" if needs else part[0]

    def visit(node: Node, parts: list[tuple[str, int]]) -> tuple[str, int]:
        if isinstance(node, Number):
            return _format_number(node.value), _ATOM
        if isinstance(node, Name):
            return node.name, _ATOM
        if isinstance(node, Unary):
            return node.op + wrap(parts[0], parts[0][1] < _UNARY), _UNARY
        if isinstance(node, Call):
            return f"{node.func}({', '.join(text for text, _ in parts)})", _ATOM
        level = _LEVEL[node.op]
        left, right = parts
        if level == _POWER:  # right-associative; the exponent may carry a sign
            return f"{wrap(left, left[1] <= _POWER)}**{wrap(right, right[1] < _UNARY)}", _POWER
        joiner = f" {node.op} " if level == _SUM else node.op
        return f"{wrap(left, left[1] < level)}{joiner}{wrap(right, right[1] <= level)}", level

    return fold(root, visit)[0]


# ----------------------------------------------------------------------------
# Evaluation into a graph of Values
# ----------------------------------------------------------------------------


def _is_negative_literal(node: Node) -> bool:
    return isinstance(node, Unary) and node.op == "-" and isinstance(node.operand, Number)


def _binary(op: str, a: Value, b: Value) -> Value:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    return a**b


def _apply(node: Node, args: list[Value]) -> Value:
    """Make the graph node for an operator, a call or a number, from its operands' Values."""
    if isinstance(node, Number):
        return autograd.constant(node.value)
    if isinstance(node, Unary):
        if _is_negative_literal(node):
            return autograd.constant(-node.operand.value)  # type: ignore[union-attr]
        return -args[0] if node.op == "-" else args[0]
    if isinstance(node, Call):
        return FUNCTIONS[node.func].build(args)
    if isinstance(node, Binary):
        return _binary(node.op, args[0], args[1])
    raise TypeError(f"not an operator: {node!r}")  # pragma: no cover - names are handled by the caller


Watch = Callable[[Node, list[Value], Value], None]


def _evaluate(root: Node, values: Mapping[str, float], watch: Watch | None) -> tuple[Value, dict[str, Value]]:
    missing = [name for name in variables(root) if name not in values]
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}")
    clash = sorted(set(values) & set(CONSTANTS))
    if clash:
        raise ValueError(f"{', '.join(clash)} is a constant and can't be given a value")
    leaves: dict[str, Value] = {}

    def leaf(name: str) -> Value:
        if name in CONSTANTS:
            constant = autograd.constant(CONSTANTS[name])
            constant.label = name
            return constant
        if name not in leaves:
            leaves[name] = Value(values[name], label=name)
        return leaves[name]

    def visit(node: Node, args: list[Value]) -> Value:
        value = leaf(node.name) if isinstance(node, Name) else _apply(node, args)
        if watch is not None:
            watch(node, args, value)
        return value

    output = fold(root, visit, expand=lambda node: not _is_negative_literal(node))
    return output, leaves


def evaluate(root: Node, values: Mapping[str, float]) -> tuple[Value, dict[str, Value]]:
    """Build the graph of root: one labelled leaf per distinct variable, shared by all its uses.

    Numbers become constant leaves (``-2`` is one constant, not a negation
    node); ``pi`` and ``e`` become constant leaves labelled with their name.
    (The engine folds an op on constants into a constant, so ``pi/2`` is one
    constant leaf too.)

    Args:
        root: the parsed expression.
        values: a number for every name in ``variables(root)``; extra names are ignored.

    Returns:
        The output Value and the leaves by name, in order of first appearance.

    Raises:
        ValueError: a variable has no value, or a value is given for a constant.
    """
    return _evaluate(root, values, None)


def explain_non_finite(root: Node, values: Mapping[str, float]) -> str | None:
    """Say which sub-expression first became nan or inf although its operands were finite.

    The graph can't always tell (the engine folds ``log(0)`` into one constant
    leaf), so this re-evaluates the AST and, at the first such sub-expression,
    repeats its op under ``autograd.detect_anomaly()`` for the engine's own words.

    Args:
        root: the parsed expression.
        values: its inputs.

    Returns:
        One line such as ``"log(x) at col 1 is -inf: op 'log' produced -inf from
        inputs (x=0.0)"``, or None when every value is finite.
    """
    found: list[str] = []

    def watch(node: Node, args: list[Value], value: Value) -> None:
        if found or math.isfinite(value.data) or not all(math.isfinite(a.data) for a in args):
            return
        try:
            with autograd.no_grad(), autograd.detect_anomaly():
                _apply(node, args)  # no local derivatives under no_grad: only the output is checked
            why = "a non-finite number"  # pragma: no cover - only ops make non-finite values
        except autograd.AnomalyError as error:
            why = str(error).removeprefix("anomaly: ")
        found.append(f"{_shorten(unparse(node))} at col {node.col} is {value.data!r}: {why}")

    _evaluate(root, values, watch)  # recording, so the message can name intermediate operands by op
    return found[0] if found else None


def explain_non_finite_gradient(root: Node, values: Mapping[str, float]) -> str | None:
    """Say which op first has a nan or inf local derivative (what makes a gradient non-finite).

    Args:
        root: the parsed expression.
        values: its inputs.

    Returns:
        One line such as ``"sqrt(x) at col 1: op 'sqrt' has local derivative
        inf for input 0 from inputs (x=0.0)"``, or None when every local
        derivative is finite (then a non-finite gradient is an overflowing product).
    """
    made: dict[Value, Node] = {}

    def watch(node: Node, args: list[Value], value: Value) -> None:
        made.setdefault(value, node)  # the first (innermost) sub-expression that made this Value

    output, _ = _evaluate(root, values, watch)
    for value in autograd.topological_order(output):
        op = value.primitive
        if op is None or all(math.isfinite(g) for g in value.local_grads):
            continue
        try:
            with autograd.detect_anomaly():
                autograd.apply(op, *value.parents)  # the same op on the same inputs, for the engine's words
            why = f"op {op.name!r} has a non-finite local derivative"  # pragma: no cover - deterministic
        except autograd.AnomalyError as error:
            why = str(error).removeprefix("anomaly: ")
        node = made.get(value)  # None for a step inside a call such as max(a, b, c)
        return why if node is None else f"{_shorten(unparse(node))} at col {node.col}: {why}"
    return None


def evaluate_float(root: Node, values: Mapping[str, float] | None = None) -> float:
    """Return the value of root as a float, recording no graph.

    Args:
        root: the parsed expression.
        values: numbers for its variables (none needed for a constant expression).

    Returns:
        The value (IEEE-754: may be inf or nan).
    """
    with autograd.no_grad():
        output, _ = evaluate(root, values or {})
    return output.data

