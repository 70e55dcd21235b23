"""A compiled function as a PyTorch custom operator: ``fn.to_torch()``, differentiable to any order.

``f = eg.compile("tanh(x)**2", orders=0).to_torch()`` gives a function of tensors that:

* is a ``torch.library`` custom op (namespace ``elemgrad``, one per function, taking the
  inputs as a ``Tensor[]``; defined by ``Library.define``/``impl``, the cheaper per call), so
  ``torch.compile(fullgraph=True)`` keeps it as one node: its fake kernel (``register_fake``)
  gives the outputs' shapes and dtypes;
* computes through the tensors' memory: CPU tensors are seen as NumPy arrays
  (``tensor.numpy()``, no copy) and the kernel writes the new output tensors in place
  (``fn(..., out=...)``); inputs broadcast as NumPy (and PyTorch) broadcast;
* for a function compiled for a GPU (``device="cuda:N"``), the op is registered for CUDA
  tensors: they are seen as CuPy arrays through DLPack (no copy) and the kernel is launched
  on PyTorch's current stream of that GPU (``cupy.cuda.ExternalStream``), so it is ordered
  with the work PyTorch queued before and after it, with no synchronization; one-value CPU
  tensors (scalar parameters) go along, as PyTorch's own ops take them;
* has a gradient (``register_autograd``): the gradient by input ``x_j`` is
  ``sum_p g_p * d_j out_p``, computed by the op of the next order (``fn.differentiated``,
  proved elementwise first), summed to the shape of ``x_j`` where it was broadcast; that op
  is differentiable in turn, so double backward works;
* computes in the function's dtype, else the inputs' common float dtype (integers: PyTorch's
  default float); complex inputs, and tensors on another device than the function's, are
  refused (DeviceError naming the move);
* in plain eager PyTorch, where the op would only run its CPU kernel (no input needs a
  gradient, no torch.compile, tracing, dispatch or function mode, functorch transform,
  autocast, profiler or forward-mode AD; every input a plain strided CPU tensor of the dtype
  the op computes in), calls the kernel directly (``_direct``): the same computation without
  the custom op's dispatch, which costs several times the kernel at small n; fn's own new
  arrays are the outputs (``torch.from_numpy``, no copy). Any other call, including every one
  that raises, goes through the op.
"""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable

import numpy as np
import torch
from torch.autograd import forward_ad

from elemgrad_gpu import cache
from elemgrad_gpu.adapters import pages
from elemgrad_gpu.errors import DeviceError, InputError, InputTypeError

_lock = threading.RLock()  # an op's definition may define the op of the next order
_ops: dict[str, TorchFunction] = {}  # every op defined in this process, by name
_STRIDED = torch.strided


def to_torch(function: Any) -> TorchFunction:
    """The PyTorch function of ``function`` (an ElementwiseFunction): see the module docstring."""
    if function.backend not in ("c", "cuda"):
        raise DeviceError(f"to_torch runs the kernel on CPU or CUDA tensors; this function runs on {function.device}: "
                          f"compile it with device='cpu' or device='cuda'")
    return _registered(op_name(function), lambda: function, function.inputs, function.n_outputs, function.dtype,
                       function.device)


def op_name(function: Any) -> str:
    """The op's name: a hash of what defines the function (its kernel's source, its formulas, which
    name what Python computes per call too, inputs, outputs, dtype, device), the same in every
    process. torch.compile's caches outlive the process and name ops by these names, so a name
    must never stand for another function in another process."""
    parts = (function.source("c"), repr(function.expressions), ",".join(function.inputs), repr(function.derivatives),
             str(function.dtype), function.device)
    return f"elemgrad::fn_{cache.name('torch-op', *parts)}"


def _registered(name: str, make: Callable[[], Any], inputs: tuple, n_outputs: int, dtype: str | None,
                device: str) -> TorchFunction:
    """The op named ``name``, defined once per process (a second definition of a name fails)."""
    with _lock:
        if name not in _ops:
            _ops[name] = TorchFunction(name, make, inputs, n_outputs, dtype, device)
        return _ops[name]


class TorchFunction:
    """The callable ``fn.to_torch()`` returns: inputs in ``fn.inputs`` order, fn's outputs.

    Its function is made on first use (``make``): an op of the next order is defined, by name,
    as soon as a trace shows it may be needed (its fake kernel sees inputs that need gradients),
    but differentiated and proved only when its gradient is computed."""

    def __init__(self, name: str, make: Callable[[], Any], inputs: tuple, n_outputs: int, dtype: str | None,
                 device: str):
        # what a traced call reads is plain data: torch.compile guards on what it reads
        self.name, self.inputs, self.n_outputs, self.dtype = name, tuple(inputs), n_outputs, dtype
        self.device = torch.device(device if device != "cuda" else "cuda:0")  # "cpu" or "cuda:N": where it runs
        self._make, self._function = make, None
        self._dtype_wanted = getattr(torch, dtype) if dtype is not None else None
        self._on_cpu = self.device.type == "cpu"
        self._derived: dict[tuple[int, ...], TorchFunction] = {}
        self.op = _define(self.name, self._compute, self.device.type)
        torch.library.register_fake(self.name, self._fake, lib=_library())
        torch.library.register_autograd(self.name, self._backward, setup_context=self._setup, lib=_library())

    @property
    def function(self) -> Any:
        """The ElementwiseFunction the op computes (made, and proved, on first use)."""
        if self._function is None:
            self._function = self._make()
        return self._function

    def __repr__(self) -> str:
        return f"<PyTorch op {self.name} of {self.function!r}>"

    def __call__(self, *args):
        if self._on_cpu and _plain_eager():
            outputs = self._direct(args)
            if outputs is not None:
                return outputs
        if len(args) != len(self.inputs):
            raise InputError(f"this function takes {len(self.inputs)} inputs ({', '.join(self.inputs)}), "
                             f"got {len(args)}")
        tensors = [_as_tensor(name, a, self.device) for name, a in zip(self.inputs, args)]
        # Python numbers take the tensors' dtype, as in PyTorch's own ops (x + 0.3 keeps x's dtype,
        # and 0.3 is not rounded to float32 first for a float64 x)
        numbers = [type(a) in (int, float, bool) for a in args]
        dtype = self._dtype([t.dtype for t, n in zip(tensors, numbers) if not n] or [t.dtype for t in tensors])
        tensors = [torch.as_tensor(a, dtype=dtype) if n else t for a, t, n in zip(args, tensors, numbers)]
        try:
            _broadcast(tensors)
        except (RuntimeError, ValueError):
            raise InputError(f"the inputs' shapes {', '.join(str(tuple(t.shape)) for t in tensors)} do not "
                             f"broadcast") from None
        outputs = self.op([t.to(dtype) for t in tensors])
        return outputs[0] if self.n_outputs == 1 else tuple(outputs)

    def _dtype(self, dtypes: list) -> torch.dtype:
        wanted = self.dtype
        if wanted is not None:
            return getattr(torch, wanted)
        common = dtypes[0]
        for d in dtypes[1:]:
            common = torch.promote_types(common, d)
        return common if common in (torch.float32, torch.float64) else torch.get_default_dtype()

    def _direct(self, args: tuple) -> Any:
        """fn's outputs (a tensor or a tuple) computed without the op, or None where the op must
        run: unless every argument is a plain strided CPU tensor of the dtype the op would compute
        in, which needs no gradient, and the shapes broadcast, not all 0-d (any error is the op
        path's to raise)."""
        if len(args) != len(self.inputs) or type(args[0]) is not torch.Tensor:
            return None
        dtype = self._dtype_wanted or args[0].dtype
        if dtype is not torch.float64 and dtype is not torch.float32:
            return None
        grad, values = torch.is_grad_enabled(), []
        for a in args:  # checked and seen as NumPy arrays in one pass (no copy)
            if (type(a) is not torch.Tensor or a.dtype is not dtype or not a.is_cpu or a.layout is not _STRIDED
                    or a.is_nested):
                return None
            if a.requires_grad:
                if grad:
                    return None
                a = a.detach()
            values.append(a.numpy())
        if len(args) > 1:
            try:
                if not _broadcast(args):  # all 0-d: NumPy would hand back scalars, not arrays
                    return None
            except ValueError:
                return None
        elif not args[0].ndim:
            return None
        # fn's own new arrays, as tensors without a copy (NumPy advises huge pages on large ones;
        # like the op's outputs, whose memory is seen through NumPy too, they cannot be resized)
        results = (self._function or self.function)(*values)
        if self.n_outputs == 1:
            return torch.from_numpy(results)
        return tuple(torch.from_numpy(r) for r in results)

    def _compute(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The kernel on the tensors' memory: NumPy views in, new tensors' views as ``out``."""
        if self.device.type == "cuda":
            return self._compute_cuda(inputs)
        return self._compute_cpu(inputs, _broadcast(inputs))

    def _compute_cpu(self, inputs, shape: tuple) -> list[torch.Tensor]:
        """The kernel on CPU tensors of one dtype, broadcasting to ``shape``, into new (contiguous) tensors."""
        outputs = [torch.empty(shape, dtype=inputs[0].dtype) for _ in range(self.n_outputs)]
        if outputs[0].nbytes >= pages.LARGE:  # fresh pages: huge ones where Linux allows, before the first touch
            for t in outputs:
                pages.advise_huge_pages(t.data_ptr(), t.nbytes)
        values = [t.detach().numpy() if t.requires_grad else t.numpy() for t in inputs]
        if self.n_outputs == 1:
            self.function(*values, out=outputs[0].numpy())
        else:
            self.function(*values, out=tuple(t.numpy() for t in outputs))
        return outputs

    def _compute_cuda(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The kernel on CUDA tensors' memory, seen as CuPy arrays through DLPack, launched on
        PyTorch's current stream of the function's GPU; one-value CPU inputs as NumPy arrays."""
        from elemgrad_gpu.backends import array_module

        cp = array_module("cuda")
        shape = _broadcast(inputs)
        device = _gpu(self.device)
        outputs = [torch.empty(shape, dtype=inputs[0].dtype, device=device) for _ in range(self.n_outputs)]
        with cp.cuda.Device(self.device.index), cp.cuda.ExternalStream(_stream(device)):
            arrays = [cp.from_dlpack(t) for t in outputs]
            values = [t.detach().numpy() if t.device.type == "cpu" and t.numel() == 1 else cp.from_dlpack(t.detach())
                      for t in inputs]
            self.function(*values, out=arrays[0] if len(arrays) == 1 else tuple(arrays))
        return outputs

    def _fake(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The outputs' shapes and dtype. Called while torch.compile traces the program: where
        inputs need gradients, the op of the next order is defined now, so that a backward
        graph loaded from torch.compile's cache (which is not traced) finds it by its name."""
        moving = _moving(inputs, [t.requires_grad for t in inputs])
        if moving:
            self.derived(moving)
        shape = torch.broadcast_shapes(*(t.shape for t in inputs))
        device = next((t.device for t in inputs if t.device.type != "cpu"), inputs[0].device)
        return [torch.empty(shape, dtype=inputs[0].dtype, device=device) for _ in range(self.n_outputs)]

    @staticmethod
    def _setup(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs[0])
        ctx.wanted = [t.requires_grad for t in inputs[0]]  # differentiate only by these: the proof is per input

    def derived(self, positions: tuple[int, ...]) -> TorchFunction:
        """The op of the next order in the inputs at ``positions``, named after this one's name and
        the positions; its function is differentiated (NotElementwiseError where f is not) at first use."""
        if positions not in self._derived:
            names = [self.inputs[j] for j in positions]
            name = f"elemgrad::fn_{cache.name('torch-op-derived', self.name, *names)}"
            make = lambda: self.function.differentiated(names)  # noqa: E731 - made at first use
            self._derived[positions] = _registered(name, make, self.inputs, len(positions) * self.n_outputs,
                                                   self.dtype, str(self.device))
        return self._derived[positions]

    def _backward(self, ctx, gradients):
        inputs = ctx.saved_tensors
        moving = _moving(inputs, ctx.wanted)
        live = [p for p, g in enumerate(gradients) if g is not None]
        if not moving or not live:
            return [None] * len(inputs),
        slopes = self.derived(moving).op(list(inputs))
        per = len(self.function.derivatives)
        result = [None] * len(inputs)
        in_place = not torch.is_grad_enabled()  # no graph of this backward is kept: the fresh slopes may be reused
        for q, j in enumerate(moving):
            index = [(p // per) * len(moving) * per + q * per + p % per for p in live]
            total = _chained([gradients[p] for p in live], [slopes[i] for i in index], in_place)
            result[j] = total.sum_to_size(inputs[j].shape) if total.shape != inputs[j].shape else total
        return result,


def _chained(gradients: list[torch.Tensor], slopes: list[torch.Tensor], in_place: bool) -> torch.Tensor:
    """``sum_p g_p * slope_p``; in place into the first slope (a fresh output of the op of the
    next order, used nowhere else) where no graph is recorded: no new tensor of the outputs' size."""
    if not in_place or slopes[0].shape != torch.broadcast_shapes(slopes[0].shape, gradients[0].shape):
        return sum(g * s for g, s in zip(gradients, slopes))
    total = slopes[0].mul_(gradients[0])
    for g, s in zip(gradients[1:], slopes[1:]):
        total.addcmul_(g, s)
    return total


def _broadcast(tensors: list[torch.Tensor]) -> tuple:
    """The tensors' broadcast shape. torch.broadcast_shapes checks symbolic sizes in Python (about
    15 us a call); on real tensors NumPy's rule in C gives the same shape (ValueError where none)."""
    if torch.compiler.is_compiling():
        return tuple(torch.broadcast_shapes(*(t.shape for t in tensors)))
    shapes = [tuple(t.shape) for t in tensors]
    if all(s == shapes[0] for s in shapes):
        return shapes[0]
    return np.broadcast_shapes(*shapes)


@functools.lru_cache(maxsize=1)
def _library() -> torch.library.Library:
    """The ``elemgrad`` namespace's registrations of this process (kept alive: dropping the
    Library object would remove its ops)."""
    return torch.library.Library("elemgrad", "FRAGMENT")


def _define(name: str, compute: Callable, device_type: str) -> Any:
    """The op ``name`` (``elemgrad::fn_<hash>``), of one schema, ``compute`` its kernel on
    ``device_type``. Defined through ``torch.library.Library`` (``define``/``impl``) rather than
    ``torch.library.custom_op``, whose Python wrapper costs several microseconds more per call;
    the fake kernel and the autograd formula are registered by the same torch.library functions."""
    short = name.split("::")[1]
    _library().define(f"{short}(Tensor[] inputs) -> Tensor[]")
    _library().impl(short, compute, device_type.upper())
    return getattr(torch.ops.elemgrad, short).default


def _plain_eager() -> bool:
    """Whether a call now is plain eager PyTorch, where the op would only run its CPU kernel:
    not traced (torch.compile, torch.jit.trace), no dispatch or function mode (FakeTensorMode,
    make_fx, opcheck, ``with torch.device``), no functorch transform (vmap, grad), autocast,
    profiler (which records the op) or forward-mode AD (which the op refuses)."""
    return not (_compiling() or _dispatch_modes() or _function_modes() or _transforms() or _autocast()
                or _profiling() or _tracing() is not None or forward_ad._current_level >= 0)


# what _plain_eager asks, looked up once (each is a C function: a call costs well under 0.1 us)
_compiling = torch.compiler.is_compiling
_dispatch_modes = torch._C._len_torch_dispatch_stack
_function_modes = torch._C._is_torch_function_mode_enabled
_transforms = torch._C._are_functorch_transforms_active
_autocast = torch._C._is_any_autocast_enabled
_profiling = torch._C._autograd._profiler_enabled
_tracing = torch._C._get_tracing_state


def _moving(inputs: list[torch.Tensor], wanted: list[bool]) -> tuple[int, ...]:
    """The positions of the float inputs that gradients are asked for."""
    return tuple(j for j, x in enumerate(inputs) if wanted[j] and x.dtype.is_floating_point)


def _as_tensor(name: str, value: Any, device: torch.device) -> torch.Tensor:
    """``value`` as a tensor, checked: real, on ``device`` (where the function runs; on a GPU,
    one-value CPU tensors and numbers too, as PyTorch's own ops take them)."""
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    if tensor.is_complex():
        raise InputTypeError(f"input {name!r} is complex ({tensor.dtype}); only real inputs are supported")
    if not _accepted(tensor, device):
        move = ".cpu()" if device.type == "cpu" else f".to('{device}')"
        raise DeviceError(f"input {name!r} is on {tensor.device}; this function runs on {device}: {move} it first, "
                          f"or compile the function with device='{tensor.device}'")
    return tensor


def _accepted(tensor: torch.Tensor, device: torch.device) -> bool:
    """Whether the kernel on ``device`` can read ``tensor``: one on the same device (fake tensors
    anywhere), or, for a GPU, a one-value CPU tensor (copied over: a scalar parameter)."""
    where = tensor.device
    if where.type == "meta" or device.type == "cpu":
        return where.type in ("meta", "cpu")
    if where.type == "cpu":
        return tensor.numel() == 1
    return where.type == "cuda" and (where.index or 0) == (device.index or 0)


def _gpu(device: torch.device) -> torch.device:
    """PyTorch's device for the function's GPU (a function of its own, for the emulated tests)."""
    return device


def _stream(device: torch.device) -> int:
    """The pointer of PyTorch's current stream on ``device``: where the kernel is launched."""
    return torch.cuda.current_stream(device).cuda_stream
