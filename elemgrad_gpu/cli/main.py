"""The ``elemgrad`` command: demo, derive, eval, kernel, devices, plot, bench.

Each subcommand lives in a ``register(subparsers)`` function that adds its parser
(with an example in its help) and sets ``run`` to a function ``run(args) -> int``.
Usage problems exit 2 with one readable line (a bad expression also shows a caret
under the problem); no traceback reaches the user for a mistake of theirs.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import elemgrad_gpu as eg
from elemgrad_gpu import backends
from elemgrad_gpu.errors import ElemgradError, UsageError


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
    """A positive integer: an argparse type."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


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


def _run_derive(args: argparse.Namespace) -> int:
    if args.structure:
        from elemgrad_gpu.cli import structured

        structured.run_derive(args)
    fn = compile_from(args, device=backends.host_device())
    for name, text in zip(output_names(fn), fn.expressions):
        print(f"{name} = {text}")
    return 0


def _run_kernel(args: argparse.Namespace) -> int:
    fn = compile_from(args, device=backends.host_device())
    print(fn.source(args.backend, dtype=args.dtype))
    return 0


def _run_devices(args: argparse.Namespace) -> int:
    from elemgrad_gpu import config
    from elemgrad_gpu.runtime.device import automatic, select_device

    for entry in eg.devices():
        state = "available" if entry["available"] else "not available"
        print(f"{entry['device']:<8} backend {entry['backend']:<5} {state}: {entry['detail']}")
    chosen = select_device("auto")
    why = automatic()[1]
    configured = config.setting("global", "device")
    if configured and configured != "auto":
        why = f"the configuration sets [global] device = {configured}"
    print(f"device='auto' picks: {chosen.name} ({chosen.backend.name} backend), because {why}")
    print("configuration: " + ("; ".join(config.sources()) or "none (no ~/.theanorc, THEANORC or THEANO_FLAGS)"))
    for key in ("device", "floatX"):
        print(f"  [global] {key} = {config.setting('global', key) or '(default)'}")
    for section, key in config.KEYS:
        if section == "elemgrad":
            print(f"  [elemgrad] {key} = {config.setting(section, key) or '(default)'}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from elemgrad_gpu.cli.demo import main as demo

    demo()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from elemgrad_gpu.cli import bench as cli_bench
    from elemgrad_gpu.cli import eval as cli_eval
    from elemgrad_gpu.cli import plot as cli_plot
    from elemgrad_gpu.cli import structured as cli_structured

    parser = Parser(prog="elemgrad", description="Exact elementwise derivatives as one fused, compiled kernel.",
                    epilog="example:\n  elemgrad derive 'tanh(x)**2' --order 1 2",
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"elemgrad_gpu {eg.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    demo = subcommand(subparsers, "demo", "the motivating problem: derivatives over 10^6 points, checked, "
                      "beside the full-Jacobian approach (what a bare `elemgrad` runs)", "elemgrad demo")
    demo.set_defaults(run=_run_demo)
    derive = subcommand(subparsers, "derive", "print each requested derivative as a formula",
                        "elemgrad derive '-(x - mu)**2/(2*s**2) - log(s)' --derivatives f x mu x,mu")
    derive.add_argument("expression", help="an expression such as 'tanh(x)**2'")
    add_derivative_options(derive)
    cli_structured.add_options(derive)
    derive.set_defaults(run=_run_derive)
    cli_eval.register(subparsers)
    kernel = subcommand(subparsers, "kernel", "print the generated kernel source",
                        "elemgrad kernel 'tanh(x)**2' --backend cuda --dtype float32")
    kernel.add_argument("expression")
    add_derivative_options(kernel)
    kernel.add_argument("--backend", choices=backends.names(), default=backends.HOST)
    kernel.add_argument("--dtype", choices=("float32", "float64"), default=None)
    kernel.set_defaults(run=_run_kernel)
    devices = subcommand(subparsers, "devices", "which devices and backends are available, which one 'auto' "
                         "picks and why, and the configuration in force", "elemgrad devices")
    devices.set_defaults(run=_run_devices)
    cli_plot.register(subparsers)
    cli_bench.register(subparsers)
    cli_structured.register(subparsers, subcommand)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"])
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("elemgrad: interrupted", file=sys.stderr)
        return 130
    except (ElemgradError, OSError) as error:
        print(f"elemgrad {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
