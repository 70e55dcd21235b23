"""jacobian_blocks: per-row Jacobian blocks of row-local functions, against independent references
(closed forms, and PyTensor's full jacobian of one row at a time), and its refusals."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.errors import InputError, NotElementwiseError

RNG = np.random.default_rng(16)
TOL = {"float64": 1e-12, "float32": 2e-5}


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def per_row_jacobian(f, rows: np.ndarray) -> np.ndarray:
    """The reference: PyTensor's full jacobian of f on one row (a vector) at a time, in float64."""
    x = pt.vector("x", dtype="float64")
    jac = pytensor.function([x], pytensor.gradient.jacobian(f(x), x))
    return np.stack([jac(r) for r in rows.reshape(-1, rows.shape[-1]).astype(np.float64)]).reshape(
        rows.shape[:-1] + (-1, rows.shape[-1]))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_blocks_are_diag_s_minus_s_sT(dtype):
    x = RNG.normal(size=(7, 5)).astype(dtype)
    blocks = eg.jacobian_blocks(lambda x: pt.special.softmax(x, axis=-1))(x)
    s = softmax(x.astype(np.float64))
    expected = np.stack([np.diag(r) - np.outer(r, r) for r in s])
    assert blocks.dtype == dtype and blocks.shape == (7, 5, 5)
    np.testing.assert_allclose(blocks, expected, atol=TOL[dtype], rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_log_softmax_blocks_and_value(dtype):
    x = RNG.normal(size=(6, 4)).astype(dtype)
    value, blocks = eg.jacobian_blocks(lambda x: pt.special.log_softmax(x, axis=-1), orders=(0, 1))(x)
    s = softmax(x.astype(np.float64))
    assert value.dtype == blocks.dtype == dtype
    np.testing.assert_allclose(value, np.log(s), rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(blocks, np.eye(4) - s[:, None, :], atol=TOL[dtype], rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_normalisations(dtype):
    x = RNG.uniform(0.5, 2.0, size=(5, 3)).astype(dtype)
    total = eg.jacobian_blocks(lambda x: x / x.sum(axis=-1, keepdims=True))(x)
    length = eg.jacobian_blocks(lambda x: x / pt.sqrt((x ** 2).sum(axis=-1, keepdims=True)))(x)
    x = x.astype(np.float64)
    S, r = x.sum(-1)[:, None, None], np.linalg.norm(x, axis=-1)[:, None, None]
    np.testing.assert_allclose(total, np.eye(3) / S - x[:, :, None] / S ** 2, rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(length, np.eye(3) / r - x[:, :, None] * x[:, None, :] / r ** 3,
                               rtol=TOL[dtype], atol=TOL[dtype])


def rotate(p, a):
    """Rotation of points p (..., 3) about z by per-row angles a (..., 1)."""
    c, s = pt.cos(a[..., 0]), pt.sin(a[..., 0])
    return pt.stack([c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1], p[..., 2]], axis=-1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rotation_by_per_row_angles_with_several_wrt(dtype):
    p, a = RNG.normal(size=(4, 3)).astype(dtype), RNG.uniform(-3, 3, size=(4, 1)).astype(dtype)
    fn = eg.jacobian_blocks(rotate, wrt=("p", "a"), orders=(0, 1))
    value, by_p, by_a = fn(p, a)
    c, s = np.cos(a[:, 0].astype(np.float64)), np.sin(a[:, 0].astype(np.float64))
    R = np.zeros((4, 3, 3))
    R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1], R[:, 2, 2] = c, -s, s, c, 1
    dR = np.zeros((4, 3, 3))
    dR[:, 0, 0], dR[:, 0, 1], dR[:, 1, 0], dR[:, 1, 1] = -s, -c, c, -s
    assert by_p.shape == (4, 3, 3) and by_a.shape == (4, 3, 1) and by_p.dtype == dtype
    np.testing.assert_allclose(value, np.einsum("nij,nj->ni", R, p), rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(by_p, R, rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(by_a[..., 0], np.einsum("nij,nj->ni", dR, p), rtol=TOL[dtype], atol=TOL[dtype])


def test_spherical_to_cartesian_forward_mode_and_batch_axes():
    """k_in = k_out = 3 over two batch axes (a grid of points)."""
    def cartesian(q):
        r, t, f = q[..., 0], q[..., 1], q[..., 2]
        return pt.stack([r * pt.sin(t) * pt.cos(f), r * pt.sin(t) * pt.sin(f), r * pt.cos(t)], axis=-1)

    q = RNG.uniform(0.2, 2.0, size=(2, 3, 3))
    blocks = eg.jacobian_blocks(cartesian)(q)
    r, t, f = q[..., 0], q[..., 1], q[..., 2]
    st, ct, sf, cf = np.sin(t), np.cos(t), np.sin(f), np.cos(f)
    expected = np.stack([np.stack([st * cf, r * ct * cf, -r * st * sf], -1),
                         np.stack([st * sf, r * ct * sf, r * st * cf], -1),
                         np.stack([ct, -r * st, 0 * r], -1)], -2)
    np.testing.assert_allclose(blocks, expected, rtol=1e-12, atol=1e-14)


def test_one_output_per_row_and_more_outputs_than_inputs():
    x = RNG.normal(size=(5, 4))
    norm = eg.jacobian_blocks(lambda x: pt.sqrt((x ** 2).sum(axis=-1)))
    np.testing.assert_allclose(norm(x), (x / np.linalg.norm(x, axis=-1, keepdims=True))[:, None, :], rtol=1e-13)
    assert norm.method == "reverse" and norm.passes == 1
    circle = eg.jacobian_blocks(lambda a: pt.concatenate([pt.cos(a), pt.sin(a), a ** 2], axis=-1))
    a = RNG.normal(size=(6, 1))
    expected = np.stack([-np.sin(a), np.cos(a), 2 * a], axis=-2)
    np.testing.assert_allclose(circle(a), expected, rtol=1e-13)
    assert circle.method == "forward" and circle.passes == 1


def mixed(x):
    """Row-local, mixing values along the row in many ways: cumsum, softmax, reversal, sums, sort."""
    return (pt.cumsum(pt.tanh(x), axis=-1) * pt.special.softmax(x, axis=-1)
            + x[..., ::-1] * x.sum(axis=-1, keepdims=True) + pt.sort(x, axis=-1) ** 2)


@pytest.mark.parametrize("k", [3, 8, 32, 64])
def test_widths_against_pytensor_jacobian_per_row(k):
    x = RNG.normal(size=(4, k))
    fn = eg.jacobian_blocks(mixed)
    np.testing.assert_allclose(fn(x), per_row_jacobian(mixed, x), rtol=1e-12, atol=1e-12)
    assert fn.passes == k


def test_one_function_serves_every_width_compiling_each_once():
    fn = eg.jacobian_blocks(lambda x: pt.special.softmax(x, axis=-1) * x)
    for k in (3, 8, 3):
        x = RNG.normal(size=(3, k))
        np.testing.assert_allclose(fn(x), per_row_jacobian(lambda v: pt.special.softmax(v, axis=-1) * v, x),
                                   rtol=1e-12, atol=1e-14)
    assert len(fn._compiled) == 2


def test_axis_other_than_last():
    x = RNG.normal(size=(4, 6))  # 4 values per row along axis 0: the rows are columns
    value, blocks = eg.jacobian_blocks(lambda x: pt.special.softmax(x, axis=-1), axis=0, orders=(0, 1))(x)
    s = softmax(x.T)
    assert value.shape == (4, 6) and blocks.shape == (6, 4, 4)
    np.testing.assert_allclose(value, s.T, rtol=1e-13)
    np.testing.assert_allclose(blocks, np.stack([np.diag(r) - np.outer(r, r) for r in s]), atol=1e-14)


def test_per_pixel_colour_map_over_an_image():
    M = np.array([[0.4, 0.3, 0.3], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    image = RNG.uniform(0.1, 1.0, size=(3, 4, 3))
    blocks = eg.jacobian_blocks(lambda rgb: (rgb ** 2) @ M)(image.reshape(12, 3))
    expected = np.einsum("ji,nj->nij", M, 2 * image.reshape(12, 3))
    np.testing.assert_allclose(blocks, expected, rtol=1e-13)
    grid = eg.jacobian_blocks(lambda rgb: (rgb ** 2) @ M)(image)
    np.testing.assert_allclose(grid, expected.reshape(3, 4, 3, 3), rtol=1e-13)


@pytest.mark.parametrize("f, operation", [
    (lambda x: x - x.mean(axis=0), "Sum{axis=0}"),
    (lambda x: pt.cumsum(x, axis=0), "Cumsum{axis=0}"),
    (lambda x: x[::-1], "Subtensor"),
    (lambda x: pt.special.softmax(x, axis=0), "Softmax"),
    (lambda x: x * x.sum(), "Sum"),
])
def test_functions_mixing_rows_are_refused_naming_the_operation(f, operation):
    with pytest.raises(NotElementwiseError, match=f"not row-local in 'x'.*{operation}"):
        eg.jacobian_blocks(f)


def test_batch_and_block_axes_swapped_is_refused():
    """The coordinax#776 trap: an output whose block axis is not last is not a set of blocks."""
    with pytest.raises(NotElementwiseError, match="batch and block axes mixed up"):
        eg.jacobian_blocks(lambda x: pt.special.softmax(x, axis=-1).T)
    with pytest.raises(NotElementwiseError, match="not row-local"):
        eg.jacobian_blocks(lambda x: x * x.T)


def test_refused_at_the_call_when_the_trace_needs_widths():
    def unpacked(x):
        a, b, c = [x[..., i] for i in range(x.type.shape[-1])]  # needs a known width
        return pt.stack([a, b, c], axis=-1) - pt.cumsum(x, axis=0)

    fn = eg.jacobian_blocks(unpacked)
    with pytest.raises(NotElementwiseError, match="Cumsum"):
        fn(RNG.normal(size=(3, 3)))


def test_bad_requests():
    with pytest.raises(InputError, match="orders"):
        eg.jacobian_blocks(lambda x: x, orders=2)
    with pytest.raises(InputError, match="'y', which is not an input"):
        eg.jacobian_blocks(lambda x: x, wrt="y")
    with pytest.raises(InputError, match="single value"):
        eg.jacobian_blocks(lambda x: x * 2)(1.0)
    with pytest.raises(InputError, match="axis=2 is out of range"):
        eg.jacobian_blocks(lambda x: x * 2, axis=2)(np.ones((2, 3)))


# The command line: --blocks, --diagonal, explain


def elemgrad(*argv: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from elemgrad_gpu.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()




def test_cli_eval_blocks_writes_per_row_blocks(tmp_path):
    x = RNG.uniform(0.1, 1.0, size=(4, 3))
    np.save(tmp_path / "x.npy", x)
    code, _, err = elemgrad("eval", "x*exp(x)", "--blocks", "--order", "0", "1", "--input", str(tmp_path / "x.npy"),
                            "--output", str(tmp_path / "out.npz"))
    assert code == 0, err
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["f"], x * np.exp(x), rtol=1e-15)
        expected = np.zeros((4, 3, 3))
        expected[:, range(3), range(3)] = (1 + x) * np.exp(x)
        np.testing.assert_allclose(out["blocks_x"], expected, rtol=1e-14)


def test_cli_derive_and_explain_report_the_structure():
    code, out, _ = elemgrad("derive", "tanh(x)**2", "--blocks", "--order", "1")
    assert code == 0 and out.splitlines()[0] == "structure: elementwise" and "df/dx = " in out
    code, out, _ = elemgrad("explain", "tanh(x)**2")
    assert code == 0 and out.splitlines() == ["structure: elementwise", "passes: 1 (fused elementwise kernel)"]


def test_cli_mistakes_are_one_line_and_exit_2(tmp_path):
    code, out, err = elemgrad("explain", "tanh(x")
    assert code == 2 and err.startswith("elemgrad explain: error: syntax error")
    code, _, err = elemgrad("explain", "x", "--shape", "3,a")
    assert code == 2 and "--shape expects integers" in err
    np.save(tmp_path / "x.npy", np.ones((2, 3)))
    code, _, err = elemgrad("eval", "x", "--blocks", "--input", str(tmp_path / "x.npy"), "--output",
                            str(tmp_path / "o.csv"))
    assert code == 2 and len(err.splitlines()) == 1 and "write .npz" in err


def test_cli_diagonal_of_an_elementwise_expression(tmp_path):
    code, out, err = elemgrad("derive", "x**3", "--diagonal", "--order", "1")
    assert code == 0, err
    assert "passes: 1" in out and "df/dx = " in out
    x = RNG.normal(size=7)
    np.save(tmp_path / "x.npy", x)
    code, _, err = elemgrad("eval", "x**3", "--diagonal", "--order", "1", "--input", str(tmp_path / "x.npy"),
                            "--output", str(tmp_path / "d.npy"))
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "d.npy"), 3 * x ** 2, rtol=1e-14)


def test_the_seed_axis_fallback_gives_the_same_blocks(monkeypatch):
    """Where PyTensor cannot vectorize an operation, rows repeated along a seed axis give the blocks."""
    from elemgrad_gpu.structured import blocks as module

    def refuse(*args, **kwargs):
        raise NotImplementedError("no vectorization")

    monkeypatch.setattr(module, "_vectorized", refuse)
    x = RNG.normal(size=(5, 4))
    reverse = eg.jacobian_blocks(mixed, orders=(0, 1))
    value, blocks = reverse(x)
    assert reverse.method == "reverse (seed axis)" and reverse.passes == 4
    np.testing.assert_allclose(blocks, per_row_jacobian(mixed, x), rtol=1e-12, atol=1e-12)
    x_var = pt.matrix("x")
    np.testing.assert_allclose(value, pytensor.function([x_var], mixed(x_var))(x), rtol=1e-14)
    p, a = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 1))
    forward = eg.jacobian_blocks(lambda a, p: rotate(p, a), wrt=("a",))
    by_a = forward(a, p)
    assert forward.method == "forward (seed axis)"
    c, s = np.cos(a[:, 0]), np.sin(a[:, 0])
    expected = np.stack([-s * p[:, 0] - c * p[:, 1], c * p[:, 0] - s * p[:, 1], 0 * c], -1)[..., None]
    np.testing.assert_allclose(by_a, expected, rtol=1e-13, atol=1e-15)


def test_reverse_and_forward_modes_are_vectorized_not_repeated():
    fn = eg.jacobian_blocks(lambda x: pt.special.softmax(x, axis=-1))
    fn(np.ones((2, 3)))
    assert fn.method == "reverse" and fn.passes == 3


def test_a_gpu_device_is_refused_with_a_clear_error():
    with pytest.raises(eg.DeviceError, match="cuda"):
        eg.jacobian_blocks(lambda x: x * 2, device="cuda")
