"""A compiled function as a PyTorch custom operator: ``fn.to_torch()``, differentiable to any order.

``f = eg.compile("tanh(x)**2", orders=0).to_torch()`` gives a function of tensors that:

* is a ``torch.library`` custom op (namespace ``elemgrad``, one per function, taking the
  inputs as a ``Tensor[]``), so ``torch.compile(fullgraph=True)`` keeps it as one node: its
  fake kernel (``register_fake``) gives the outputs' shapes and dtypes;
* computes through the tensors' memory: CPU tensors are seen as NumPy arrays
  (``tensor.numpy()``, no copy) and the kernel writes the new output tensors in place
  (``fn(..., out=...)``); inputs broadcast as NumPy (and PyTorch) broadcast;
* has a gradient (``register_autograd``): the gradient by input ``x_j`` is
  ``sum_p g_p * d_j out_p``, computed by the op of the next order (``fn.differentiated``,
  proved elementwise first), summed to the shape of ``x_j`` where it was broadcast; that op
  is differentiable in turn, so double backward works;
* computes in the function's dtype, else the inputs' common float dtype (integers: PyTorch's
  default float); complex inputs and tensors not on the CPU are refused.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any

import torch

from elemgrad_gpu.errors import DeviceError, InputError, InputTypeError

_count = itertools.count()
_lock = threading.Lock()


def to_torch(function: Any) -> TorchFunction:
    """The PyTorch function of ``function`` (an ElementwiseFunction): see the module docstring."""
    if function.backend != "c":
        raise DeviceError(f"to_torch runs the kernel on CPU tensors; this function is compiled for {function.device}: "
                          f"compile it with device='cpu'")
    return TorchFunction(function)


class TorchFunction:
    """The callable ``fn.to_torch()`` returns: inputs in ``fn.inputs`` order, fn's outputs."""

    def __init__(self, function: Any):
        self.function = function
        self.inputs = function.inputs
        self._derived: dict[tuple[int, ...], TorchFunction] = {}
        with _lock:
            self.name = f"elemgrad::fn_{next(_count)}"
        self.op = torch.library.custom_op(self.name, self._compute, mutates_args=(), device_types="cpu",
                                          schema="(Tensor[] inputs) -> Tensor[]")
        self.op.register_fake(self._fake)
        self.op.register_autograd(self._backward, setup_context=self._setup)

    def __repr__(self) -> str:
        return f"<PyTorch op {self.name} of {self.function!r}>"

    def __call__(self, *args):
        if len(args) != len(self.inputs):
            raise InputError(f"this function takes {len(self.inputs)} inputs ({', '.join(self.inputs)}), "
                             f"got {len(args)}")
        tensors = [_as_tensor(name, a) for name, a in zip(self.inputs, args)]
        dtype = self._dtype([t.dtype for t in tensors])
        try:
            torch.broadcast_shapes(*(t.shape for t in tensors))
        except RuntimeError:
            raise InputError(f"the inputs' shapes {', '.join(str(tuple(t.shape)) for t in tensors)} do not "
                             f"broadcast") from None
        outputs = self.op([t.to(dtype) for t in tensors])
        return outputs[0] if self.function.n_outputs == 1 else tuple(outputs)

    def _dtype(self, dtypes: list) -> torch.dtype:
        wanted = self.function.dtype
        if wanted is not None:
            return getattr(torch, wanted)
        common = dtypes[0]
        for d in dtypes[1:]:
            common = torch.promote_types(common, d)
        return common if common in (torch.float32, torch.float64) else torch.get_default_dtype()

    def _compute(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The kernel on the tensors' memory: NumPy views in, new tensors' views as ``out``."""
        shape = torch.broadcast_shapes(*(t.shape for t in inputs))
        outputs = [torch.empty(shape, dtype=inputs[0].dtype) for _ in range(self.function.n_outputs)]
        arrays = [t.numpy() for t in outputs]
        self.function(*(t.detach().numpy() for t in inputs), out=arrays[0] if len(arrays) == 1 else tuple(arrays))
        return outputs

    def _fake(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        shape = torch.broadcast_shapes(*(t.shape for t in inputs))
        return [inputs[0].new_empty(shape) for _ in range(self.function.n_outputs)]

    @staticmethod
    def _setup(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs[0])
        ctx.wanted = [t.requires_grad for t in inputs[0]]  # differentiate only by these: the proof is per input

    def derived(self, positions: tuple[int, ...]) -> TorchFunction:
        """The op of the next order in the inputs at ``positions`` (NotElementwiseError where f is not)."""
        if positions not in self._derived:
            names = [self.inputs[j] for j in positions]
            self._derived[positions] = TorchFunction(self.function.differentiated(names))
        return self._derived[positions]

    def _backward(self, ctx, gradients):
        inputs = ctx.saved_tensors
        moving = tuple(j for j, x in enumerate(inputs) if ctx.wanted[j] and x.dtype.is_floating_point)
        live = [p for p, g in enumerate(gradients) if g is not None]
        if not moving or not live:
            return [None] * len(inputs),
        slopes = self.derived(moving).op(list(inputs))
        per = len(self.function.derivatives)
        result = [None] * len(inputs)
        for q, j in enumerate(moving):
            total = sum(gradients[p] * slopes[(p // per) * len(moving) * per + q * per + p % per] for p in live)
            result[j] = total.sum_to_size(inputs[j].shape) if total.shape != inputs[j].shape else total
        return result,


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    """``value`` as a tensor, checked: real, on the CPU."""
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    if tensor.is_complex():
        raise InputTypeError(f"input {name!r} is complex ({tensor.dtype}); only real inputs are supported")
    if tensor.device.type not in ("cpu", "meta"):
        raise DeviceError(f"input {name!r} is on {tensor.device}; this function runs on the CPU: .cpu() it first")
    return tensor
