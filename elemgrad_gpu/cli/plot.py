"""``elemgrad plot``: f and its derivatives over a range, as a PNG, SVG or PDF.

Also the figure helpers of ``elemgrad bench``: matplotlib is imported only when a
figure is drawn, and a figure file appears whole or not at all.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from elemgrad_gpu import backends
from elemgrad_gpu.cli.common import add_derivative_options, compile_from, output_names, param, positive, subcommand
from elemgrad_gpu.errors import UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = (".png", ".svg", ".pdf")
MAX_POINTS = 100_000  # a figure 1200 pixels wide shows no more; 10^8 would take minutes and gigabytes
NO_MATPLOTLIB = "matplotlib is needed for plots: pip install 'elemgrad_gpu[plot]'"


def register(subparsers) -> None:
    """Add the ``plot`` subcommand."""
    parser = subcommand(subparsers, "plot", "plot f and its derivatives over a range, to PNG, SVG or PDF "
                        "(default: orders 0 1 2)",
                        "elemgrad plot '-(x - mu)**2/(2*s**2) - log(s)' --range -3 3 --param mu=0.3 "
                        "--param s=1.5 -o logpdf.png")
    parser.add_argument("expression", help="an expression such as 'tanh(x)**2'")
    parser.add_argument("--range", nargs=2, type=float, required=True, metavar=("A", "B"),
                        help="the interval of the x axis (the --wrt input)")
    add_derivative_options(parser, default_orders=(0, 1, 2))
    parser.add_argument("--param", type=param, action="append", default=[], metavar="NAME=VALUE",
                        help="the value of an input other than the x axis, e.g. mu=0.3 (repeatable)")
    parser.add_argument("--points", type=positive, default=1000, metavar="N",
                        help=f"points on the x axis, 2 to {MAX_POINTS:,} (default: 1000)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="the figure: .png, .svg or .pdf")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate f and its derivatives at --points points of --range and draw them."""
    path = figure_path(args.output)
    (low, high), params = args.range, dict(args.param)
    if not (low < high and np.isfinite(low) and np.isfinite(high) and np.isfinite(high - low)):
        raise UsageError(f"--range A B needs finite A < B (and B - A finite), got {low:g} {high:g}")
    if not 2 <= args.points <= MAX_POINTS:
        raise UsageError(f"--points must be from 2 to {MAX_POINTS:,}, got {args.points:,}")
    if len(params) < len(args.param):
        raise UsageError("an input is given more than once by --param")
    fn = compile_from(args, device=backends.host_device())
    axis = _axis(args.wrt, fn.inputs)
    unknown = [n for n in params if n not in fn.inputs]
    missing = [n for n in fn.inputs if n not in params and n != axis]
    if unknown:
        raise UsageError(f"--param names {', '.join(unknown)}, not an input; the inputs are {', '.join(fn.inputs)}")
    if axis in params:
        raise UsageError(f"{axis} is the x axis: leave it out of --param")
    if missing:
        raise UsageError(f"give a value for {', '.join(missing)} with --param NAME=VALUE ({axis} is the x axis)")
    x = np.linspace(low, high, args.points)
    figure = new_figure(figsize=(8, 5))
    ax = figure.subplots()
    with np.errstate(all="ignore"):  # overflow to inf is expected at the ends of a range: drawn as gaps
        results = fn(**{axis: x}, **params)
    for name, y in zip(output_names(fn), results):
        ax.plot(x, np.where(np.isfinite(y), y, np.nan), label=name)  # inf breaks the ticks; NaN is a gap
    given = ", ".join(f"{n} = {v:g}" for n, v in params.items())
    # parse_math=False: the user's text is shown as written, never read as mathtext (the text $\foo{$ would raise)
    ax.set_title(args.expression + (f"   ({given})" if given else ""), parse_math=False)
    ax.set_xlabel(axis, parse_math=False)
    ax.legend()
    ax.grid(True, alpha=0.4)
    save(figure, path)
    print(f"wrote {path}: {', '.join(output_names(fn))} over {axis} in [{low:g}, {high:g}]")
    return 0


def _axis(wrt: str | None, inputs: tuple[str, ...]) -> str:
    """The x axis: the --wrt input, else x, else the only input."""
    if wrt:
        if "," in wrt or wrt not in inputs:
            raise UsageError(f"--wrt names the x axis: one of the inputs {', '.join(inputs)}")
        return wrt
    if "x" in inputs or len(inputs) == 1:
        return "x" if "x" in inputs else inputs[0]
    raise UsageError(f"the expression has inputs {', '.join(inputs) or '(none)'}: "
                     "say which is the x axis with --wrt")


def figure_path(text: str) -> Path:
    """The path of a figure to write, checked before any work: suffix, folder, matplotlib."""
    path = Path(text)
    if path.suffix.lower() not in FORMATS:
        raise UsageError(f"cannot write a figure to {text!r}: use a .png, .svg or .pdf file name")
    if path.is_dir():
        raise UsageError(f"cannot write {text!r}: it is a folder")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {text!r}: there is no folder {str(path.parent)!r}")
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError(NO_MATPLOTLIB)
    return path


def new_figure(**options) -> Figure:
    """A matplotlib Figure without pyplot (no global state; PNG is drawn with Agg)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(NO_MATPLOTLIB) from None
    return Figure(layout="constrained", **options)


def save(figure: Figure, path: Path) -> None:
    """Write ``figure`` to ``path`` atomically: a temporary file beside it, then os.replace."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            try:
                with warnings.catch_warnings():  # matplotlib's overflow warnings precede its error
                    warnings.simplefilter("ignore", RuntimeWarning)
                    figure.savefig(file, format=path.suffix[1:].lower(), dpi=150)
            except (ValueError, OverflowError) as error:  # e.g. values near the float64 limit: no ticks
                raise UsageError(f"matplotlib cannot draw this figure ({error}): try a narrower --range") from None
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make the figure private
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
