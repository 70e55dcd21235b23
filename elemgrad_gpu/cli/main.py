"""The ``elemgrad`` command: demo, derive, eval, kernel, devices, plot, bench.

Each subcommand lives in a ``register(subparsers)`` function that adds its parser
(with an example in its help) and sets ``run`` to a function ``run(args) -> int``.
Usage problems exit 2 with one readable line (a bad expression also shows a caret
under the problem); no traceback reaches the user for a mistake of theirs.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import Iterator, Sequence

import elemgrad_gpu as eg
from elemgrad_gpu import backends
from elemgrad_gpu.cli.common import Parser, add_derivative_options, compile_from, output_names, subcommand
from elemgrad_gpu.errors import ElemgradError


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: raised in the main thread so that cleanup runs as for Ctrl-C.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame) -> None:
    signal.signal(signum, signal.SIG_IGN)  # a second one must not cut the cleanup short
    raise Terminated(signum)


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    """While a command runs: SIGTERM and SIGHUP raise Terminated (staging files are removed on the way
    out, as for Ctrl-C), and SIGXFSZ is ignored so that a file size limit (ulimit -f) is an OSError
    (EFBIG, "File too large") instead of a silent death. The previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = {signal.SIGTERM: _terminate, signal.SIGHUP: _terminate, signal.SIGXFSZ: signal.SIG_IGN}
    previous = {number: signal.signal(number, handler) for number, handler in wanted.items()}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


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
        with _signals():
            return args.run(args)
    except KeyboardInterrupt:
        print("elemgrad: interrupted", file=sys.stderr)
        return 130
    except Terminated as stop:
        print(f"elemgrad: stopped by {signal.Signals(stop.signum).name}", file=sys.stderr)
        return 128 + stop.signum
    except (ElemgradError, OSError) as error:  # DeviceMemoryError included: its message names the sizes
        print(f"elemgrad {args.command}: error: {error}", file=sys.stderr)
        return 2
    except MemoryError as error:
        detail = f": {error}" if str(error) else ""
        print(f"elemgrad {args.command}: error: out of memory{detail}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
