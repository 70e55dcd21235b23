"""The benchmark functions and the peer tools that compute them, shared by ``elemgrad bench`` and benchmarks/.

A Function holds one benchmark function in every form the tools need; a tool builder
turns (function, dtype, order) into a Tool, which binds a NumPy input to a Call: one
timed call that returns the value and the derivatives up to ``order`` (arrays of any
kind: ``as_numpy`` reads them back). Peers (PyTensor, JAX, PyTorch, CuPy) are imported
only when their builder runs.

    >>> import numpy as np
    >>> from elemgrad_gpu.bench.peers import FUNCTIONS, agreement, numpy_tool, reference
    >>> x = np.linspace(-4, 4, 1000)
    >>> call = numpy_tool(FUNCTIONS["logpdf"], "float64")(x)
    >>> agreement(call(), reference(FUNCTIONS["logpdf"], x, 1), rtol=1e-12)
    'ok'
"""
from __future__ import annotations

import math
from functools import partial
from types import MappingProxyType, SimpleNamespace
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

import elemgrad_gpu as eg

MU, SIGMA = 0.3, 1.5  # the scalar parameters of logpdf, passed at call time to every tool
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
GELU_C, GELU_K = 0.7978845608028654, 0.044715
OUTPUT_NAMES = ("value", "derivative", "second derivative")

Call = Callable[[], Sequence]  # one timed call, returning (value, derivative, ...) as arrays of any kind
Tool = Callable[[np.ndarray], Call]  # binds a tool, built for one function, to its input
NO_PARAMS: Mapping[str, float] = MappingProxyType({})


class Function(NamedTuple):
    """A benchmark function in the forms the tools need."""

    expression: str  # elemgrad_gpu's expression language: x and the names in params
    formula: Callable  # formula(ops, x, **params) for PyTensor, JAX and PyTorch; ops has tanh, softplus, log
    by_hand: Mapping[int, Callable]  # highest order -> NumPy closed form returning orders 0..k
    cuda: Mapping[int, str]  # highest order -> CUDA statements setting y, dy (, d2y) for a CuPy kernel
    params: Mapping[str, float] = NO_PARAMS  # scalar inputs besides x, with their values


def _tanh2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.tanh(x)
    return t * t, 2 * t * (1 - t * t)


def _tanh2_second(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.tanh(x)
    s = 1 - t * t
    return t * t, 2 * t * s, 2 * s * (1 - 3 * t * t)


def _softplus(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.logaddexp(0, x), 1 / (1 + np.exp(-x))


def _gelu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.tanh(GELU_C * (x + GELU_K * x ** 3))
    return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_K * x * x)


def _logpdf(x: np.ndarray, mu, sigma) -> tuple[np.ndarray, np.ndarray]:
    z = (x - mu) / sigma
    return -0.5 * z * z - np.log(sigma) - HALF_LOG_2PI, -z / sigma


_TANH2_CUDA = "T t = tanh(x); T s = 1 - t * t; y = t * t; dy = 2 * t * s;"
FUNCTIONS = {
    "tanh2": Function("tanh(x)**2", lambda ops, x: ops.tanh(x) ** 2, {1: _tanh2, 2: _tanh2_second},
                      {1: _TANH2_CUDA, 2: _TANH2_CUDA + " d2y = 2 * s * (1 - 3 * t * t);"}),
    "softplus": Function("softplus(x)", lambda ops, x: ops.softplus(x), {1: _softplus},
                         {1: "y = log1p(exp(-fabs(x))) + fmax(x, (T)0); dy = 1 / (1 + exp(-x));"}),
    "gelu": Function(f"0.5*x*(1+tanh({GELU_C}*(x+{GELU_K}*x**3)))",
                     lambda ops, x: 0.5 * x * (1 + ops.tanh(GELU_C * (x + GELU_K * x ** 3))), {1: _gelu},
                     {1: f"const T c = {GELU_C}, k = {GELU_K}; T t = tanh(c * (x + k * x * x * x)); "
                         "y = x * (1 + t) / 2; dy = (1 + t) / 2 + x * (1 - t * t) * c * (1 + 3 * k * x * x) / 2;"}),
    "logpdf": Function("-0.5*((x-mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)",
                       lambda ops, x, mu, sigma: -0.5 * ((x - mu) / sigma) ** 2 - ops.log(sigma) - HALF_LOG_2PI,
                       {1: _logpdf}, {1: f"T z = (x - mu) / sigma; y = -z * z / 2 - log(sigma) - (T){HALF_LOG_2PI}; "
                                         "dy = -z / sigma;"}, MappingProxyType({"mu": MU, "sigma": SIGMA})),
}


def scalars(function: Function, dtype: str) -> dict[str, np.generic]:
    """The function's scalar parameters as NumPy scalars of ``dtype`` (no float64 upcast in float32)."""
    return {name: np.dtype(dtype).type(value) for name, value in function.params.items()}


def reference(function: Function, x: np.ndarray, order: int) -> tuple[np.ndarray, ...]:
    """The closed-form value and derivatives up to ``order``, in float64, at ``x``."""
    return function.by_hand[order](np.asarray(x, np.float64), **function.params)


def elemgrad_tool(function: Function, dtype: str, order: int = 1, device: str = "auto",
                  preallocate: bool = False, bound: bool = False) -> Tool:
    """elemgrad_gpu: one fused kernel for f and its derivatives.

    device "auto" takes NumPy in and out (on a GPU the times include the copies);
    "cuda" moves the input to the device first. preallocate: write into outputs made
    once. bound: the call made once by ``fn.bind`` (outputs preallocated), as in a loop
    over the same buffers.
    """
    fn = eg.compile(function.expression, orders=tuple(range(order + 1)), device=device, dtype=dtype)
    params = scalars(function, dtype)

    def bind(x: np.ndarray) -> Call:
        if device.startswith("cuda"):
            import cupy as xp
        else:
            xp = np
        x = xp.asarray(x)
        args = [x if name == "x" else params[name] for name in fn.inputs]
        if not (preallocate or bound):
            return partial(fn, *args)
        out = tuple(xp.empty_like(x) for _ in range(order + 1))
        return fn.bind(*args, out=out) if bound else partial(fn, *args, out=out)

    return bind


def numpy_tool(function: Function, dtype: str, order: int = 1) -> Tool:
    """NumPy, the derivatives written by hand."""
    return lambda x: partial(function.by_hand[order], x, **scalars(function, dtype))


def pytensor_tool(function: Function, dtype: str, order: int = 1) -> Tool:
    """PyTensor's grad(sum(y)) (order times), compiled with the C VM and fast_run rewrites."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode

    with pytensor.config.change_flags(floatX=dtype):  # Python float constants in dtype, not float64
        x = pt.vector("x", dtype=dtype)
        params = [pt.scalar(name, dtype=dtype) for name in function.params]
        outputs = [function.formula(pt, x, **dict(zip(function.params, params)))]
        for _ in range(order):
            outputs.append(pytensor.grad(outputs[-1].sum(), x))
        compiled = pytensor.function([x, *params], outputs, mode=Mode(linker="cvm", optimizer="fast_run"))
    compiled.trust_input = True
    values = [np.asarray(value) for value in scalars(function, dtype).values()]
    return lambda x: partial(compiled, x, *values)


def _stack(scalar: Callable, grad: Callable, order: int) -> Callable:
    """v, *params -> (f, f', ..., f^(order)) at a scalar v, by nesting ``grad``."""
    derivatives = [scalar]
    for _ in range(order):
        derivatives.append(grad(derivatives[-1]))
    return lambda v, *params: tuple(d(v, *params) for d in derivatives)


def _positional(function: Function, ops: Any) -> Callable:
    """The formula as f(x, *params), params in ``function.params`` order."""
    return lambda x, *params: function.formula(ops, x, **dict(zip(function.params, params)))


def jax_tool(function: Function, dtype: str, order: int = 1, device: str | None = None) -> Tool:
    """JAX jit(vmap(value_and_grad)) (nested grad beyond order 1; float64 turns on jax_enable_x64).

    device: None for JAX's default device, or a platform ("cpu", "gpu") to put the input on.
    """
    import jax
    import jax.numpy as jnp

    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    scalar = _positional(function, SimpleNamespace(tanh=jnp.tanh, softplus=jax.nn.softplus, log=jnp.log))
    per_point = jax.value_and_grad(scalar) if order == 1 else _stack(scalar, jax.grad, order)
    compiled = jax.jit(jax.vmap(per_point, in_axes=(0,) + (None,) * len(function.params)))
    params = [jnp.asarray(value) for value in scalars(function, dtype).values()]

    def bind(x: np.ndarray) -> Call:
        x = jnp.asarray(x) if device is None else jax.device_put(x, jax.devices(device)[0])
        return lambda: jax.block_until_ready(compiled(x, *params))

    return bind


def _torch_ops() -> SimpleNamespace:
    import torch

    return SimpleNamespace(tanh=torch.tanh, softplus=torch.nn.functional.softplus, log=torch.log)


def _torch_params(function: Function, dtype: str, device: str) -> list:
    import torch

    return [torch.tensor(value, device=device) for value in scalars(function, dtype).values()]


def torch_tool(function: Function, dtype: str, order: int = 1, device: str = "cpu") -> Tool:
    """PyTorch eager: autograd.grad(y.sum(), x) (order times, with create_graph between)."""
    import torch

    formula, params = _positional(function, _torch_ops()), _torch_params(function, dtype, device)

    def bind(x: np.ndarray) -> Call:
        x = torch.from_numpy(x).to(device).requires_grad_()

        def call() -> list:
            outputs = [formula(x, *params)]
            for k in range(order):
                (d,) = torch.autograd.grad(outputs[-1].sum(), x, create_graph=k + 1 < order)
                outputs.append(d)
            return [output.detach() for output in outputs]

        return call

    return bind


def torch_compile_tool(function: Function, dtype: str, order: int = 1, device: str = "cpu") -> Tool:
    """torch.compile(vmap(grad ...)) of torch.func (the first call compiles: warm up before timing).

    Every such tool compiles the same code object (torch.func's vmap wrapper), one
    cache entry per function, dtype, order and shape kind; so the recompile limit is
    raised, and hitting it raises rather than falling back to eager PyTorch unseen.
    """
    import torch
    from torch.func import grad, vmap

    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 128)
    torch._dynamo.config.fail_on_recompile_limit_hit = True
    per_point = _stack(_positional(function, _torch_ops()), grad, order)
    compiled = torch.compile(vmap(per_point, in_dims=(0,) + (None,) * len(function.params)))
    params = _torch_params(function, dtype, device)

    def bind(x: np.ndarray) -> Call:
        x = torch.from_numpy(x).to(device)
        return lambda: compiled(x, *params)

    return bind


def cupy_tool(function: Function, dtype: str, order: int = 1) -> Tool:
    """A CuPy ElementwiseKernel written by hand, outputs preallocated on the device."""
    import cupy

    inputs = ", ".join(f"T {name}" for name in ("x", *function.params))
    outputs = ", ".join(f"T {name}" for name in ("y", "dy", "d2y")[: order + 1])
    kernel = cupy.ElementwiseKernel(inputs, outputs, function.cuda[order], f"by_hand_{order}")
    params = list(scalars(function, dtype).values())

    def bind(x: np.ndarray) -> Call:
        x = cupy.asarray(x)
        out = [cupy.empty_like(x) for _ in range(order + 1)]
        return lambda: kernel(x, *params, *out)

    return bind


TOOLS: dict[str, tuple[str, Callable[..., Tool]]] = {  # name: (module it needs, builder)
    "elemgrad_gpu": ("elemgrad_gpu", elemgrad_tool),
    "elemgrad_gpu bound": ("elemgrad_gpu", partial(elemgrad_tool, bound=True)),
    "numpy": ("numpy", numpy_tool),
    "pytensor": ("pytensor", pytensor_tool),
    "jax": ("jax", jax_tool),
    "pytorch": ("torch", torch_tool),
    "torch.compile": ("torch", torch_compile_tool),
    "cupy by hand": ("cupy", cupy_tool),
}


def as_numpy(array: Any) -> np.ndarray:
    """A NumPy array from a NumPy, CuPy, JAX or PyTorch array (device arrays are copied to the host)."""
    if hasattr(array, "detach"):  # PyTorch
        return array.detach().cpu().numpy()
    if hasattr(array, "get") and not isinstance(array, np.ndarray):  # CuPy
        return array.get()
    return np.asarray(array)


def agreement(result: Sequence, reference: Sequence[np.ndarray], rtol: float) -> str:
    """"ok" when each output matches the reference to ``rtol`` (atol: rtol times its largest |value|).

    Otherwise "MISMATCH: ..." naming the first output that is off. The atol keeps
    results near a zero of an output (where any rounding is a large relative error)
    from failing, while a wrong formula still misses by far more.
    """
    if len(result) != len(reference):
        return f"MISMATCH: {len(result)} outputs, not {len(reference)}"
    for what, got, want in zip(OUTPUT_NAMES, map(as_numpy, result), reference):
        if got.shape != want.shape:
            return f"MISMATCH: {what} has shape {got.shape}, not {want.shape}"
        if not np.allclose(got, want, rtol=rtol, atol=rtol * np.max(np.abs(want))):
            return f"MISMATCH: {what} off by up to {np.max(np.abs(got - want)):.1e}"
    return "ok"
