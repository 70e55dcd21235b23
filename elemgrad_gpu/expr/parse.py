"""Parse expression strings such as ``"sin(x) * exp(-y ** 2)"`` safely.

Expression strings are data, never code: nothing here evaluates or compiles them.
``ast.parse`` only parses the text, then the tree is checked against a whitelist:

* numbers (int and float literals) and the constants ``pi`` and ``e``;
* input names: identifiers not starting with an underscore, not function names;
* ``+ - * / **`` and unary ``-`` / ``+``;
* calls of the functions in ``elemgrad_gpu.expr.language.ARITY`` by name (or by an alias of
  ``ALIASES``: ``asin`` is ``arcsin``), with exactly
  their number of positional arguments; ``polygamma``'s order is an integer literal
  from 0 to ``MAX_POLYGAMMA_ORDER`` (40);
* comparisons ``< <= > >= == !=``, only as the condition of ``where(cond, a, b)``;
  a chain ``a < b < c`` means ``(a < b) & (b < c)``: a chain of n operands counts as
  n - 1 levels of nesting and 2n - 3 operations toward the limits below;
* a part that reads no input must be a finite float64 number, as a literal must
  (``fold.py``): ``10**400``, ``exp(1000)``, ``1/0`` and ``0/0`` are refused.

Everything else is refused with an ``ExpressionError`` that says why and points at
the offending character; expressions are a single line, without comments (a
``#`` is refused: Python would drop the rest of the line silently). Resource limits keep parsing
fast (milliseconds even for the longest text) and bounded:

* ``MAX_LENGTH`` (100,000): characters in the text;
* ``MAX_DEPTH`` (100): nesting, both of brackets and of the syntax tree (``x+x+x`` is
  a tree of depth 3: each operator of a chain is one more level). A cheap scan
  refuses deep brackets and long operator chains before ``ast.parse`` sees them; the
  tree's depth is then checked exactly;
* ``MAX_NODES`` (20,000): numbers, names and operations in the syntax tree.

Example:
    >>> expression = parse("where(x > 0, x, -x) * y")
    >>> expression.names
    ('x', 'y')
"""
from __future__ import annotations

import ast
import functools
import keyword
import math
import re
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from elemgrad_gpu.expr import fold
from elemgrad_gpu.errors import ExpressionError, InputError, InputTypeError
from elemgrad_gpu.expr.language import ALIASES, ARITY, CONSTANTS, LITERALS

TensorVariable = Any  # what the implementations build: pytensor's, named but not imported (no PyTensor here)

MAX_LENGTH = 100_000
MAX_DEPTH = 100
MAX_NODES = 20_000
MAX_POLYGAMMA_ORDER = 2**20  # elemgrad_gpu.special.MAX_ORDER (not imported: it imports PyTensor)

# A checked tree is a nested tuple: ("const", number, position), ("name", identifier),
# ("int", n) (a raw Python int: polygamma's order, multigammaln's d) or ("apply", name, *arguments), where
# name is a function or operator of ``elemgrad_gpu.expr.language``.
Tree = tuple

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_COMPARISONS_ONLY_IN_WHERE = "comparisons are only allowed as the condition of where(condition, a, b)"
_COMBINE_CONDITIONS = "combine conditions by nesting where() calls"
_REFUSED_OPERATOR = {
    ast.FloorDiv: "floor division '//' is not allowed: use '/'",
    ast.Mod: "'%' is not allowed: the operators are + - * / **",
    ast.MatMult: "matrix product '@' is not allowed: expressions are elementwise, use '*'",
    ast.BitAnd: f"'&' is not allowed: {_COMBINE_CONDITIONS}",
    ast.BitOr: f"'|' is not allowed: {_COMBINE_CONDITIONS}",
    ast.BitXor: "'^' is not allowed: use '**' for powers",
    ast.LShift: "'<<' is not allowed: the operators are + - * / **",
    ast.RShift: "'>>' is not allowed: the operators are + - * / **",
    ast.Invert: "'~' is not allowed: the operators are + - * / **",
    ast.Not: "'not' is not allowed: swap the branches of where(condition, a, b) instead",
    ast.And: f"'and' is not allowed: {_COMBINE_CONDITIONS}",
    ast.Or: f"'or' is not allowed: {_COMBINE_CONDITIONS}",
    ast.Is: "'is' is not allowed: use '=='",
    ast.IsNot: "'is not' is not allowed: use '!='",
    ast.In: "'in' is not allowed: the comparisons are < <= > >= == !=",
    ast.NotIn: "'not in' is not allowed: the comparisons are < <= > >= == !=",
}
_REFUSED_NODE = {
    ast.IfExp: "conditional expressions 'a if c else b' are not allowed: use where(c, a, b)",
    ast.Attribute: "attribute access is not allowed: call functions by their bare name, e.g. sin(x)",
    ast.Subscript: "indexing is not allowed: expressions are elementwise",
    ast.Lambda: "lambda is not allowed: write the expression itself",
    ast.NamedExpr: "assignment expressions ':=' are not allowed",
    ast.Starred: "starred arguments are not allowed: pass each argument by position",
    ast.JoinedStr: "f-strings are not allowed: expressions are numeric",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.Slice: "slices are not allowed: expressions are elementwise",
    **dict.fromkeys(
        (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp),
        "lists, tuples, sets, dicts and comprehensions are not allowed: expressions are elementwise",
    ),
}

# The pre-parse scan reads tokens roughly as Python does; operators of one chain
# (additive, multiplicative, then ``**`` with unary signs) each add a tree level.
_NUMBER = r"(?:\d[\w.]*|\.\d[\w.]*)(?:(?<=[eE])[+-][\w.]*)?"
_TOKEN = re.compile(rf"\s*((?P<operand>{_NUMBER}|[^\W\d]\w*)|\*\*|//|\S)")
_TO_OPERATOR = re.compile(r"[\s)]*")  # from the end of an operand to the operator after it
_LEVEL = {"+": 0, "-": 0, "*": 1, "/": 1, "//": 1, "%": 1, "@": 1, "**": 2, "~": 2}


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression string.

    ``names`` are its free input names in order of first appearance (without ``pi``,
    ``e`` and function names).
    """

    text: str
    names: tuple[str, ...]
    _tree: Tree = field(repr=False, compare=False)
    # (text, position, float64 value) of each constant part that is an operation, innermost first
    _constants: tuple[tuple[str, int, float], ...] = field(default=(), repr=False, compare=False)

    def __str__(self) -> str:
        return self.text

    def build(self, env: Mapping[str, TensorVariable], dtype: str,
              implementations: Mapping[str, Callable]) -> TensorVariable:
        """The expression over the symbolic inputs ``env`` (name -> variable), each function and
        operator built by ``implementations`` (``elemgrad_gpu.graph.functions.IMPLEMENTATIONS``:
        the graph side hands them in, so the language itself never imports PyTensor).

        Every number and constant becomes a 0-d constant of ``dtype``, so a float32
        build stays float32.
        """
        self._check_constants(dtype)
        missing = [name for name in self.names if name not in env]
        if missing:
            raise InputError(f"the expression {self.text!r} needs the inputs {', '.join(missing)}: pass them in env")
        return self._build(self._tree, env, dtype, implementations)

    def _check_constants(self, dtype: str) -> None:
        """Refuse a constant part that does not fit in ``dtype`` (float32), as a literal is refused."""
        largest = float(np.finfo(dtype).max)
        for part, position, value in self._constants:
            if abs(value) > largest:
                raise ExpressionError(f"the constant part {part!r} is {value:.6g}, which does not fit in {dtype}",
                                      self.text, position)

    def _build(self, tree: Tree, env: Mapping[str, TensorVariable], dtype: str,
               implementations: Mapping[str, Callable]) -> TensorVariable:
        kind, value, *rest = tree
        if kind == "const":
            with np.errstate(over="ignore"):
                if not np.isfinite(np.asarray(value, dtype=dtype)):
                    raise ExpressionError(f"the number {value} does not fit in {dtype}", self.text, rest[0])
            return np.asarray(value, dtype=dtype)
        if kind == "name":
            return env[value]
        if kind == "int":
            return value
        return implementations[value](*(self._build(argument, env, dtype, implementations) for argument in rest))


def parse(text: str) -> Expression:
    """Parse and check an expression string; see the module docstring for the language.

    Raises ``ExpressionError`` (with the offending position) for anything outside the
    language or the limits, and ``InputTypeError`` if ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise InputTypeError(f"an expression must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.strip():
        raise ExpressionError("the expression is empty: write e.g. 'sin(x) * y'")
    _scan(text)
    indent = len(text) - len(text.lstrip())  # ast.parse refuses leading whitespace
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            body = ast.parse(text[indent:], mode="eval").body
    except SyntaxError as error:
        position = indent + min(max((error.offset or 1) - 1, 0), len(text) - indent)
        raise ExpressionError(f"syntax error: {error.msg}", text, position) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep", text, 0) from None
    checker = _Checker(text, indent)
    tree = checker.check(body, 1)
    return Expression(text, tuple(checker.names), tree, tuple(checker.parts))


def _scan(text: str) -> None:
    """Refuse, before ``ast.parse``, odd characters and nesting deeper than MAX_DEPTH.

    Counts bracket nesting and, within each bracket, the operators of each chain: a
    chain of k operators is a tree at least k + 1 deep.
    """
    if not text.replace("\t", " ").isprintable():
        position, char = next((i, c) for i, c in enumerate(text) if not (c.isprintable() or c == "\t"))
        single_line = char in "\n\r"
        problem = "an expression must be a single line" if single_line else f"the character {char!r} is not allowed"
        raise ExpressionError(problem, text, position)
    chains = [[0, 0, 0]]
    after_operand = False
    for match in _TOKEN.finditer(text):
        token, position = match.group(1), match.start(1)
        is_operand = bool(match["operand"]) and not keyword.iskeyword(token)
        chain = chains[-1]
        if token == "#":  # ast.parse would drop the rest of the line silently: 'x #+ y' would mean x
            raise ExpressionError("'#' is not allowed: expressions have no comments", text, position)
        if token in ("(", "[", "{"):
            chains.append([0, 0, 0])
            if len(chains) > MAX_DEPTH + 1:
                raise ExpressionError(f"brackets are nested more than {MAX_DEPTH} levels deep", text, position)
        elif token in (")", "]", "}"):
            if len(chains) > 1:
                chains.pop()
        elif token in _LEVEL:
            level = _LEVEL[token] if after_operand else 2  # a sign binds like '**'
            chain[level] += 1
            chain[level + 1:] = [0] * (2 - level)
            if chain[level] >= MAX_DEPTH:
                raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep", text, position)
        elif not is_operand:
            chain[:] = [0, 0, 0]  # a comparison, comma, keyword...: every chain ends here
        after_operand = is_operand or token in (")", "]", "}")


class _Checker:
    """Checks a Python syntax tree against the whitelist and converts it to a Tree."""

    def __init__(self, text: str, indent: int):
        self.text, self.indent = text, indent
        self.names: dict[str, None] = {}
        self.spellings: dict[str, str] = {}  # a name as Python reads it -> as first written
        self.count = 0
        self.constants: dict[int, tuple[Tree, float]] = {}  # id -> (tree, float64 value) of constant parts
        self.parts: list[tuple[str, int, float]] = []  # (text, position, value) of those parts, innermost first

    def error(self, message: str, node: ast.AST) -> ExpressionError:
        return ExpressionError(message, self.text, self.position(node.col_offset))

    def position(self, byte_offset: int) -> int:
        """The character offset in the text of an ast offset (in UTF-8 bytes, after the indent)."""
        return self.indent + len(self.text[self.indent:].encode()[:byte_offset].decode(errors="ignore"))

    def operator_error(self, message: str, left: ast.AST) -> ExpressionError:
        """An error at the operator that follows the operand ``left``."""
        start = self.position(left.end_col_offset)
        return ExpressionError(message, self.text, _TO_OPERATOR.match(self.text, start).end())

    def check(self, node: ast.AST, depth: int, condition: bool = False) -> Tree:
        """The Tree of ``node`` at ``depth``; ``condition``: it is where's condition."""
        self.count += 1
        if depth > MAX_DEPTH:
            raise self.error(f"the expression is nested more than {MAX_DEPTH} levels deep", node)
        if self.count > MAX_NODES:
            raise self.error(f"the expression has more than {MAX_NODES} parts (numbers, names, operations)", node)
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise self.operator_error(_REFUSED_OPERATOR[type(node.op)], node.left)
            left, right = self.check(node.left, depth + 1), self.check(node.right, depth + 1)
            return self.fold(("apply", _BINARY[type(node.op)], left, right), node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, (ast.Not, ast.Invert)):
                raise self.error(_REFUSED_OPERATOR[type(node.op)], node)
            operand = self.check(node.operand, depth + 1)
            return self.fold(("apply", "neg", operand), node) if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Compare):
            return self.compare(node, depth, condition)
        if isinstance(node, ast.BoolOp):
            raise self.operator_error(_REFUSED_OPERATOR[type(node.op)], node.values[0])
        raise self.error(_REFUSED_NODE.get(type(node), f"{type(node).__name__} is not allowed"), node)

    def number(self, node: ast.Constant) -> Tree:
        value = node.value
        if isinstance(value, bool):
            raise self.error(f"{value} is not a number: use {int(value)}", node)
        if isinstance(value, complex):
            raise self.error("complex numbers are not supported: expressions are real", node)
        if isinstance(value, (str, bytes)):
            raise self.error("strings are not allowed: expressions are numeric", node)
        if not isinstance(value, (int, float)):
            raise self.error(f"{value!r} is not allowed: expressions are numeric", node)
        if not abs(value) <= sys.float_info.max:
            raise self.error("the number is too large", node)
        return ("const", value, self.position(node.col_offset))

    def name(self, node: ast.Name) -> Tree:
        name = node.id
        if name in CONSTANTS:
            return ("const", CONSTANTS[name], self.position(node.col_offset))
        if name in ARITY or name in ALIASES:
            example = f"{name}({', '.join('xyz'[:ARITY[ALIASES.get(name, name)]])})"
            raise self.error(f"{name} is a function: call it, e.g. {example}", node)
        if name.startswith("_"):
            raise self.error(f"names starting with an underscore are not allowed ({name!r}): rename the input", node)
        # Python reads the name normalized (NFKC: the micro sign as mu); the input keeps the
        # spelling of its first appearance, and a keyword of either spelling names it (names.py).
        written = self.text[self.position(node.col_offset):self.position(node.end_col_offset)]
        name = self.spellings.setdefault(name, written if written.isidentifier() else name)
        self.names.setdefault(name)
        return ("name", name)

    def call(self, node: ast.Call, depth: int) -> Tree:
        if not isinstance(node.func, ast.Name):
            raise self.error("only the functions of the language can be called, by their bare name, e.g. sin(x)", node)
        written = node.func.id
        name = ALIASES.get(written, written)  # asin is arcsin: the tree, and so the printed formula, has arcsin
        if name in CONSTANTS:
            raise self.error(f"{name} is a constant, not a function", node)
        if name not in ARITY:
            from elemgrad_gpu.expr.suggest import suggestion  # only for this message: off every import path

            raise self.error(f"unknown function {name!r}: {suggestion(name)}", node)
        if node.keywords:
            raise self.error(f"{written}() takes no keyword arguments: pass them by position", node.keywords[0])
        arity = ARITY[name]
        if len(node.args) != arity:
            raise self.error(f"{written}() takes {arity} argument{'s' * (arity > 1)}, not {len(node.args)}", node)
        order = node.args[0]
        if name == "polygamma" and not (isinstance(order, ast.Constant) and type(order.value) is int):
            message = "polygamma's order (first argument) must be a non-negative integer literal, e.g. polygamma(1, x)"
            raise self.error(message, order)
        if name == "polygamma" and order.value > MAX_POLYGAMMA_ORDER:
            raise self.error(f"polygamma's order is at most {MAX_POLYGAMMA_ORDER} (and that of its derivatives: "
                             f"polygamma(n, x) differentiated k times is polygamma(n + k, x)), not {order.value}",
                             order)
        for position in LITERALS.get(name, ()):  # integer literals: multigammaln's d
            literal = node.args[position]
            if not (isinstance(literal, ast.Constant) and type(literal.value) is int):
                raise self.error(f"{written}'s argument {position + 1} must be a non-negative integer literal", literal)
        trees = [("int", argument.value) if i in LITERALS.get(name, ()) else
                 self.check(argument, depth + 1, i == 0 and name == "where") for i, argument in enumerate(node.args)]
        return self.fold(("apply", name, *trees), node)

    def compare(self, node: ast.Compare, depth: int, condition: bool) -> Tree:
        operands = [node.left, *node.comparators]
        for op, left in zip(node.ops, operands):
            if type(op) not in _COMPARE:
                raise self.operator_error(_REFUSED_OPERATOR[type(op)], left)
        if not condition:
            raise self.operator_error(_COMPARISONS_ONLY_IN_WHERE, node.left)
        # a chain of n operands is n - 1 comparisons joined by n - 2 'and's, a tree n - 1 deep
        self.count += 2 * (len(operands) - 2)
        if depth + len(operands) - 1 > MAX_DEPTH or self.count > MAX_NODES:
            raise self.error(f"the comparison chain of {len(operands)} operands is too long: a chain of n "
                             f"operands is n - 1 comparisons joined by 'and', and an expression may be nested at "
                             f"most {MAX_DEPTH} levels deep and have at most {MAX_NODES} parts; split the chain "
                             f"into nested where() calls", node)
        trees = [self.check(operand, depth + len(operands) - 1) for operand in operands]
        tests = [self.fold(("apply", _COMPARE[type(op)], a, b), node) for op, a, b in zip(node.ops, trees, trees[1:])]
        return functools.reduce(lambda a, b: self.fold(("apply", "and", a, b), node), tests)

    def constant(self, tree: Tree) -> float | None:
        """The float64 value of ``tree`` if it reads no input, else None."""
        if tree[0] in ("const", "int"):
            return float(tree[1])
        entry = self.constants.get(id(tree))
        return None if entry is None else entry[1]

    def fold(self, tree: Tree, node: ast.AST) -> Tree:
        """``tree`` (an apply of ``node``), checked: a constant part must be a finite float64
        number, as a literal must (``fold.py``); kept for ``Expression.build``'s check in float32."""
        arguments = [self.constant(argument) for argument in tree[2:]]
        if None in arguments:
            return tree
        result = fold.value(tree[1], arguments)
        start = self.position(node.col_offset)
        part = self.text[start:self.position(node.end_col_offset)]
        if not math.isfinite(result):
            raise self.error(f"the constant part {part!r} is {result} in float64: a constant must be a finite "
                             f"number, as a literal must; write a finite value (inf and nan cannot be written)",
                             node)
        self.constants[id(tree)] = (tree, result)  # the tree is kept, so its id stays its own
        self.parts.append((part, start, result))
        return tree
