"""Structured Jacobians on the command line: ``--blocks`` and ``--diagonal`` for derive and eval.

Expression strings are elementwise by construction (the language has no reductions), so
for them ``--blocks`` gives diagonal blocks; eval also takes a Python function of the
user's file, ``--function FILE.py:NAME`` (``userfunction.py``), whose structure is the
function's own. ``elemgrad explain`` (the proven structure and the pass count) lives in
``explain.py``.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import elemgrad_gpu as eg
from elemgrad_gpu.errors import NotElementwiseError, UsageError


def add_options(parser: argparse.ArgumentParser) -> None:
    """--blocks [--axis] and --diagonal, for derive and eval."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--blocks", dest="structure", action="store_const", const="blocks",
                       help="per-row Jacobian blocks (..., k_out, k_in) along --axis (eg.jacobian_blocks)")
    group.add_argument("--diagonal", dest="structure", action="store_const", const="diagonal",
                       help="the diagonal of the Jacobian of a non-elementwise function (eg.jacobian_diagonal)")
    parser.add_argument("--axis", type=int, default=-1, help="the block axis for --blocks (default: -1)")


def _wrt(args) -> tuple[str, ...] | None:
    return tuple(args.wrt.split(",")) if args.wrt else None


def _orders(args):
    if getattr(args, "derivatives", None):
        raise UsageError("--blocks and --diagonal take --order (0 for the value, 1), not --derivatives")
    orders = tuple(args.orders)
    return orders[0] if len(orders) == 1 else orders


def build(args, **options):
    """The structured function a command line asks for."""
    from elemgrad_gpu.cli.explain import target

    f = target(args)  # the expression, or the function of --function FILE.py:NAME (eval)
    try:
        if args.structure == "blocks":
            return eg.jacobian_blocks(f, wrt=_wrt(args), axis=args.axis, orders=_orders(args), **options)
        return eg.jacobian_diagonal(f, wrt=_wrt(args), orders=_orders(args), **options)
    except eg.InputError as error:
        raise UsageError(str(error).replace("wrt=", "--wrt ")) from None


def run_derive(args) -> None:
    """derive --blocks/--diagonal: the structure and the passes (the formulas follow, printed by derive)."""
    fn = build(args, device="cpu")
    structure, passes = explain_structure(args.expression, _wrt(args), None)
    print(f"structure: {structure}")
    if args.structure == "blocks":
        print("blocks: diagonal, diag(df/dx) per row (an expression string is elementwise)")
    else:
        plan = fn.plan_for((1,))  # an expression string is elementwise: its plan is that of any shape
        print(f"method: {plan.method}; passes: {plan.passes}")


def run_eval(args, params: dict[str, float]) -> int:
    """eval --blocks/--diagonal: whole arrays from a .npz/.npy file, results to .npz/.npy or a summary."""
    fn = build(args, device=args.device, dtype=args.dtype)
    arrays = _read(args.input, [n for n in fn.inputs if n not in params])
    results = fn(**arrays, **params)
    results = results if isinstance(results, tuple) else (results,)
    names = _names(args, fn)
    if args.output:
        _write(args.output, dict(zip(names, results)))
    else:
        for name, result in zip(names, results):
            print(f"{name}  shape {result.shape}  dtype {result.dtype}  min {np.min(result):.6g}  "
                  f"max {np.max(result):.6g}")
    return 0


def _names(args, fn) -> list[str]:
    orders = args.orders if len(args.orders) > 1 else args.orders[:1]
    wrt = (fn.wrt,) if isinstance(fn.wrt, str) else tuple(fn.wrt)
    label = "blocks" if args.structure == "blocks" else "diagonal"
    return [name for k in orders for name in (["f"] if k == 0 else [f"{label}_{w}" for w in wrt])]


def _read(path: str, free: list[str]) -> dict[str, np.ndarray]:
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix == ".npy":
            if len(free) != 1:
                raise UsageError(f"a .npy file holds one array, but the inputs {', '.join(free)} are not given by "
                                 f"--param: use .npz")
            return {free[0]: np.load(path)}
        if suffix == ".npz":
            with np.load(path) as archive:
                return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    raise UsageError(f"--input {path}: with --blocks or --diagonal the inputs are a .npy or .npz file")


def _write(path: str, results: dict[str, np.ndarray]) -> None:
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npz":
        np.savez(path, **results)
    elif suffix == ".npy" and len(results) == 1:
        np.save(path, next(iter(results.values())))
    else:
        raise UsageError(f"--output {path}: with --blocks or --diagonal write .npz (or .npy for one result: --order 1)")


def explain_structure(expression: str, wrt, shape) -> tuple[str, str]:
    """The proven structure of an expression and its pass count, in words: ``structure_of`` of the
    diagonal module where it exists, else elementwise, row-local of width k, or not elementwise."""
    try:
        from elemgrad_gpu.structured.diagonal import structure_of
    except ImportError:
        structure_of = None
    if structure_of is not None:
        found = structure_of(expression, shape)
        return str(found), str(getattr(found, "passes", "?"))
    try:
        eg.compile(expression, wrt=wrt, device="cpu")
        return "elementwise", "1 (the fused kernel)"
    except NotElementwiseError as refused:
        width = shape[-1] if shape else None
        try:
            fn = eg.jacobian_blocks(expression, wrt=wrt, device="cpu")
        except NotElementwiseError as error:
            return f"not elementwise: {error}", "-"
        if width is None:
            return f"row-local (not elementwise: {refused})", "k, the row width (give --shape N,K)"
        fn(np.ones(shape))
        return f"row-local of width {width}", f"{fn.passes} ({fn.method})"


def register(subparsers, subcommand) -> None:
    """Add the ``explain`` subcommand (``cli/explain.py``)."""
    from elemgrad_gpu.cli import explain

    explain.register(subparsers, subcommand)
