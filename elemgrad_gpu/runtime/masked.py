"""Run: ``numpy.ma`` masked arrays, as inputs and as ``out=``.

A call with a masked array computes on the arrays' data, as NumPy's ufuncs do, and hands
back masked arrays, masked where any input is masked (broadcast). A masked array given as
``out=`` receives the data, and that mask in place of its own (as NumPy's ufuncs set
it); a plain array given as ``out=`` receives the data and comes back viewed as a masked
array. The caller's masks are read, never written, except that of a masked ``out=``.

Masked arrays are not ``np.ndarray`` exactly, so a call's signature (known_calls.py)
has None for them: a masked call never becomes a known call, and the known calls of
plain arrays check nothing more. The masked call is the plain call on the data
(``call``), which may itself be a known one.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from elemgrad_gpu.errors import InputTypeError

MaskedArray = np.ma.MaskedArray


def given(args: tuple, kwargs: dict, out: Any) -> bool:
    """Whether a call has a masked array among its inputs or ``out=``."""
    outs = out if type(out) in (tuple, list) else (out,)
    return any(isinstance(v, MaskedArray) for group in (args, kwargs.values(), outs) for v in group)


def call(run: Callable, names: Sequence[str], single: bool, args: tuple, kwargs: dict, out: Any) -> Any:
    """``run(*args, out=out, **kwargs)`` on the data of the masked arrays, its results masked."""
    inputs = {**dict(zip(names, args)), **kwargs}
    _check_host(inputs)
    masks = [np.ma.getmask(v) for v in inputs.values() if isinstance(v, MaskedArray)]
    results = run(*map(_data, args), out=_outputs_data(out), **{k: _data(v) for k, v in kwargs.items()})
    results = [results] if single else list(results)
    mask = np.zeros(results[0].shape, bool)
    for m in masks:
        if m is not np.ma.nomask:
            mask |= m  # broadcasts the input's mask to the call's shape
    given_out = [None] * len(results) if out is None else out if type(out) in (tuple, list) else [out]
    finished = [_finish(r, o, mask, bool(masks)) for r, o in zip(results, given_out)]
    return finished[0] if single else tuple(finished)


def refuse_bound(names: Sequence[str], values: Sequence, out: Sequence) -> None:
    """A bound call reads its arrays at each call but cannot keep a mask: refuse masked ones."""
    for name, value in zip(names, values):
        if isinstance(value, MaskedArray):
            raise InputTypeError(f"input {name!r} is a masked array (numpy.ma), whose mask a bound call could not "
                                 f"follow: bind its .data (and mask the results yourself), or call the function")
    for k, array in enumerate(out):
        if isinstance(array, MaskedArray):
            raise InputTypeError(f"out[{k}] is a masked array (numpy.ma), whose mask a bound call could not set: "
                                 f"bind its .data, or call the function")


def _check_host(inputs: dict) -> None:
    """Masked results are NumPy arrays: refuse a masked call whose results would be GPU arrays."""
    on_gpu = [n for n, v in inputs.items()
              if hasattr(v, "__cuda_array_interface__") or type(v).__module__.startswith("cupy")]
    if on_gpu:
        masked = next(n for n, v in inputs.items() if isinstance(v, MaskedArray))
        raise InputTypeError(f"input {masked!r} is a masked array (numpy.ma) but input {on_gpu[0]!r} is a GPU "
                             f"array, so the results would be GPU arrays, which have no mask: pass "
                             f"{masked}.data and mask the results yourself, or pass host arrays only")


def _data(value: Any) -> Any:
    """A masked array's data (a view: the caller's memory, read in place); anything else as given."""
    return value.data if isinstance(value, MaskedArray) else value


def _outputs_data(out: Any) -> Any:
    if type(out) in (tuple, list):
        return type(out)(map(_data, out))
    return _data(out)


def _finish(result: np.ndarray, given_out: Any, mask: np.ndarray, masked_inputs: bool) -> Any:
    """One result as handed back: a masked ``out=`` itself, its mask set (unshared first, so
    no other array's mask changes); else, when an input is masked, the result viewed as a
    masked array with a mask of its own; else the plain result."""
    if isinstance(given_out, MaskedArray):
        given_out.unshare_mask()
        given_out.mask = mask
        return given_out
    return np.ma.MaskedArray(result, mask=mask.copy()) if masked_inputs else result
