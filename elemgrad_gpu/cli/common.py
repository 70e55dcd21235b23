"""What the elemgrad subcommands share: the parser, argument types, derivative options, compiling."""
from __future__ import annotations

import argparse
import decimal
from typing import Sequence

import elemgrad_gpu as eg
from elemgrad_gpu.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors print one line (no usage block) and exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def subcommand(subparsers, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    """A subcommand's parser, its help ending with a runnable example."""
    return subparsers.add_parser(name, help=summary, description=summary,
                                 epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)


def param(text: str) -> tuple[str, float]:
    """``"mu=0.3"`` -> ``("mu", 0.3)``: the argparse type of --param."""
    name, _, value = text.partition("=")
    try:
        if not name.strip().isidentifier():
            raise ValueError(text)
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER such as mu=0.3, got {text!r}") from None


def positive(text: str) -> int:
    """A positive integer, written out or as a power of ten such as 1e6: an argparse type."""
    try:
        number = decimal.Decimal(text.strip().replace("_", ""))
        if number.is_finite() and number >= 1 and number == number.to_integral_value():
            return int(number)
    except decimal.InvalidOperation:
        pass
    raise argparse.ArgumentTypeError(f"expected a positive integer such as 1000 or 1e6, got {text!r}")


def multi_indices(words: Sequence[str]) -> list[tuple[str, ...]]:
    """``["f", "x", "x,mu"]`` -> ``[(), ("x",), ("x", "mu")]`` (``f`` or ``()`` is the value)."""
    return [() if word in ("f", "()") else tuple(n.strip() for n in word.split(",") if n.strip()) for word in words]


def add_derivative_options(parser: argparse.ArgumentParser, default_orders: Sequence[int] = (0, 1)) -> None:
    """--wrt, --order/--orders and --derivatives, shared by derive, eval, kernel and plot."""
    parser.add_argument("--wrt", help="input(s) to differentiate by, comma-separated (default: x, or the only input)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--order", "--orders", dest="orders", type=int, nargs="+", metavar="K",
                       help=f"derivative order(s); 0 is the value (default: {' '.join(map(str, default_orders))})")
    group.add_argument("--derivatives", nargs="+", metavar="INDEX",
                       help="multi-indices: f for the value, x for df/dx, x,mu for d2f/dx dmu")
    parser.set_defaults(orders=list(default_orders))


def compile_from(args: argparse.Namespace, **options) -> eg.ElementwiseFunction:
    """``eg.compile`` for the expression and derivative options of a command line."""
    wrt = tuple(args.wrt.split(",")) if args.wrt else None
    try:
        if args.derivatives:
            return eg.compile(args.expression, derivatives=multi_indices(args.derivatives), **options)
        return eg.compile(args.expression, wrt=wrt, orders=tuple(args.orders), **options)
    except eg.InputError as error:  # the library's advice, in the command line's words
        raise UsageError(str(error).replace("wrt=,", "--wrt,").replace("wrt=", "--wrt ")) from None


def output_names(fn: eg.ElementwiseFunction) -> list[str]:
    """A name per output: f, df/dx, d2f/dx2, d2f/dx dmu ..."""
    names = []
    for index in fn.derivatives:
        if not index:
            names.append("f")
            continue
        counts = {n: index.count(n) for n in dict.fromkeys(index)}
        denominator = " ".join(f"d{n}{k if k > 1 else ''}" for n, k in counts.items())
        names.append(f"d{len(index) if len(index) > 1 else ''}f/{denominator}")
    return names
