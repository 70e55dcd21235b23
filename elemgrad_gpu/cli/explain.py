"""``elemgrad explain``: the proven structure of f's Jacobian and the passes its derivatives take.

For an expression string (elementwise by construction) or a Python function named by
``--function FILE.py:NAME`` (``userfunction.py``) at the wrt input's ``--shape``, it prints

* ``structure`` and ``passes``: ``jacobian_diagonal``'s plan at that shape (``plan_for``:
  "elementwise", "rule: cumsum", "stencil: 9 regions", "colouring"; its pass count and
  engine), or the refusal (the coupling operation and the passes it would take);
* ``blocks``: for an input of two axes or more, whether f is row-local along the last
  axis (``jacobian_blocks``' prover, ``structured/rowlocal.py``, at that shape) and so
  has per-row blocks of width k, with the passes ``jacobian_blocks`` takes, or why not.

Exit status: 0 when a structured derivative exists, 1 when every one is refused (the
reasons printed), 2 for a usage error.
"""
from __future__ import annotations

import elemgrad_gpu as eg
from elemgrad_gpu.cli import userfunction
from elemgrad_gpu.errors import ElemgradError, StructureError, NotElementwiseError, UsageError

FUNCTION_HELP = ("a Python function NAME of your file FILE.py, e.g. lap.py:laplacian. The file is imported "
                 "(its code runs, as under `python FILE.py`); an expression string is never run as code")


def target(args):
    """What a command line names: an expression string, or the function of --function (never both)."""
    function = getattr(args, "function", None)
    if function and args.expression is not None:
        raise UsageError(f"give an expression or --function, not both (got {args.expression!r} and "
                         f"--function {function})")
    if function:
        return userfunction.load(function)
    if args.expression is None:
        raise UsageError("give an expression such as 'tanh(x)**2', or --function FILE.py:NAME")
    return args.expression


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``"100,100"`` -> ``(100, 100)``: positive integers separated by commas."""
    if text is None:
        return None
    try:
        shape = tuple(int(s) for s in text.split(","))
        if shape and all(s >= 1 for s in shape):
            return shape
    except ValueError:
        pass
    raise UsageError(f"--shape expects integers of at least 1 separated by commas, e.g. 100,100; got {text!r}")


def run(args) -> int:
    f = target(args)
    shape = parse_shape(args.shape)
    dtype = args.dtype or "float64"
    wrt = args.wrt
    try:
        fn = eg.jacobian_diagonal(f, wrt=wrt, device="cpu", dtype=dtype)
    except eg.InputError as error:
        raise UsageError(str(error).replace("wrt=", "--wrt ")) from None
    if shape is None:
        if not isinstance(f, str):
            raise UsageError(f"--function needs --shape N[,M...], the shape of the input {fn.wrt!r}")
        shape = (1,)  # an expression string is elementwise: its plan is that of any shape
    else:
        print(f"input: {fn.wrt}, shape {','.join(map(str, shape))}, {dtype}")
    diagonal = _diagonal(fn, shape, dtype)
    blocks = _blocks(f, fn.wrt, shape, dtype) if len(shape) >= 2 else None
    return 0 if diagonal or blocks else 1


def _diagonal(fn, shape: tuple[int, ...], dtype: str) -> bool:
    """Print jacobian_diagonal's plan at this shape, or its refusal; True when there is a plan."""
    try:
        plan = _traced(lambda: fn.plan_for(shape, dtype=dtype), shape)
    except StructureError as refused:
        print("structure: refused (dense: no exact rule, and colouring would cost as much as the full Jacobian)")
        print(f"diagonal: {refused}")
        return False
    print(f"structure: {plan.method}")
    print(f"passes: {plan.passes} ({plan.engine})")
    return True


def _blocks(f, wrt: str, shape: tuple[int, ...], dtype: str) -> bool:
    """Print whether f is row-local along the last axis at this shape (blocks of width k), and the passes."""
    from elemgrad_gpu.graph.build import make_source
    from elemgrad_gpu.structured.blocks import MAX_WIDTH, _trace
    from elemgrad_gpu.structured.rowlocal import prove_row_local

    source = make_source(f)
    shapes = tuple(shape if name == wrt else () for name in source.names)
    try:
        env, y = _traced(lambda: _trace(source, dtype, shapes, len(shape) - 1), shape)
        prove_row_local([y], env[wrt], x_name=wrt, what="the function's output")
    except NotElementwiseError as error:
        print(f"blocks: not row-local along the last axis: {error}")
        return False
    k_in, k_out = shape[-1], (y.type.shape[-1] if y.ndim == len(shape) else 1)
    passes, mode = (k_out, "reverse") if k_out is not None and k_out <= k_in else (k_in, "forward")
    if k_in > MAX_WIDTH:
        print(f"blocks: row-local along the last axis, width k={k_in}, wider than jacobian_blocks takes "
              f"({MAX_WIDTH})")
        return False
    print(f"blocks: row-local along the last axis, width k={k_in} (blocks {k_out}x{k_in}); "
          f"jacobian_blocks: {passes} {mode} passes in one compiled call")
    return True


def _traced(work, shape: tuple[int, ...]):
    """``work()``; a failure of the user's own code while tracing at this shape becomes one UsageError line."""
    try:
        return work()
    except ElemgradError:
        raise
    except Exception as error:  # noqa: BLE001 - the user's function failed on a symbolic input of this shape
        raise UsageError(f"the function failed when traced at shape {','.join(map(str, shape))}: "
                         f"{userfunction._one_line(error)}") from None


def register(subparsers, subcommand) -> None:
    """Add the ``explain`` subcommand (``subcommand``: the command line's parser maker)."""
    parser = subcommand(subparsers, "explain", "print the proven structure of an expression or a Python function "
                        "(elementwise, rule, stencil, colouring, row-local of width k, refused) and how many passes "
                        "its derivatives take; exit 1 when every structured derivative is refused",
                        "elemgrad explain 'tanh(x)**2'\n  elemgrad explain --function lap.py:laplacian --shape 100,100")
    parser.add_argument("expression", nargs="?", help="an expression such as 'tanh(x)**2' (or use --function)")
    parser.add_argument("--function", metavar="FILE.py:NAME", help=FUNCTION_HELP)
    parser.add_argument("--wrt", help="the input to differentiate by (default: x, or the first input)")
    parser.add_argument("--shape", metavar="N[,M...]", help="the wrt input's shape, e.g. 100,100 (required with "
                        "--function); rows of a row-local function lie along the last axis")
    parser.add_argument("--dtype", choices=("float32", "float64"), default=None, help="(default: float64)")
    parser.set_defaults(run=run)
