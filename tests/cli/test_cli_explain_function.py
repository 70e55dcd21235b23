"""``--function FILE.py:NAME`` run as a user would: ``elemgrad explain`` prints the proven structure of a
Python function's Jacobian at ``--shape`` (jacobian_diagonal's plan, the row-local block width) and
``elemgrad eval --diagonal/--blocks`` evaluates it on a file; every mistake is one line, exit 2."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

FUNCTIONS = textwrap.dedent('''
    import pytensor.tensor as pt

    def running(x):
        return pt.cumsum(pt.tanh(x))

    def laplacian(u):  # 5-point, zero padding, plus nonlinear terms: diag = 3 u**2 - 4
        p = pt.pad(u, 1)
        return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + pt.tanh(p[1:-1, 2:]) - 4 * u + u ** 3

    def row_softmax(x):
        return pt.special.softmax(x, axis=-1)

    def global_softmax(x):
        return pt.special.softmax(x, axis=None)

    def centred(x):
        return x - pt.mean(x)

    def squash(x):
        return pt.tanh(x)

    WIDTH = 3
''')


def elemgrad(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "elemgrad_gpu", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "fns.py").write_text(FUNCTIONS)
    return tmp_path


def explained(folder, name: str, shape: str, *more) -> dict[str, str]:
    result = elemgrad("explain", "--function", f"fns.py:{name}", "--shape", shape, *more, cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(line.split(": ", 1) for line in result.stdout.splitlines())


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_cumsum_is_a_rule_of_one_pass(folder):
    lines = explained(folder, "running", "1000")
    assert lines["input"] == "x, shape 1000, float64"
    assert lines["structure"] == "rule: cumsum"
    assert lines["passes"].startswith("1 (")
    assert "blocks" not in lines  # a 1-D input is one row: no block line


def test_the_dtype_is_that_of_the_plan(folder):
    assert explained(folder, "running", "50", "--dtype", "float32")["input"] == "x, shape 50, float32"


def test_a_zero_padded_laplacian_is_a_stencil_of_one_pass_and_not_row_local(folder):
    lines = explained(folder, "laplacian", "100,100")
    assert lines["input"] == "u, shape 100,100, float64"
    assert lines["structure"].startswith("stencil: ")
    assert lines["passes"] == "1 (fused stencil kernel)"
    assert lines["blocks"].startswith("not row-local along the last axis") and "Pad" in lines["blocks"]


def test_a_row_softmax_is_row_local_of_width_k(folder):
    lines = explained(folder, "row_softmax", "50,4")
    assert lines["blocks"] == ("row-local along the last axis, width k=4 (blocks 4x4); jacobian_blocks: 4 reverse "
                               "passes in one compiled call")
    assert lines["structure"] == "colouring" and lines["passes"].startswith("4 (")  # one colour per row position


def test_an_elementwise_function_is_elementwise(folder):
    lines = explained(folder, "squash", "10,10")
    assert lines["structure"] == "elementwise"
    assert lines["passes"] == "1 (fused elementwise kernel)"


@pytest.mark.parametrize("name, operation", [("global_softmax", "Max"), ("centred", "Sum")])
def test_a_dense_coupling_is_refused_with_its_operation_and_passes(folder, name, operation):
    result = elemgrad("explain", "--function", f"fns.py:{name}", "--shape", "100", cwd=folder)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr == ""
    assert "structure: refused" in result.stdout
    assert f"it applies {operation} (" in result.stdout and "at least 100 forward passes" in result.stdout


def test_wide_rows_refused_for_the_diagonal_still_have_blocks_so_exit_0(folder):
    lines = explained(folder, "row_softmax", "30,200")  # asserts exit status 0
    assert lines["structure"].startswith("refused") and "it applies Max (" in lines["diagonal"]
    assert lines["blocks"].startswith("row-local along the last axis, width k=200 (blocks 200x200)")


def test_an_expression_string_is_still_elementwise(folder):
    result = elemgrad("explain", "tanh(x)**2", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["structure: elementwise", "passes: 1 (fused elementwise kernel)"]


def test_eval_diagonal_of_the_laplacian_matches_its_closed_form(folder):
    u = np.random.default_rng(1).normal(size=(20, 30))
    np.save(folder / "u.npy", u)
    result = elemgrad("eval", "--diagonal", "--function", "fns.py:laplacian", "--input", "u.npy", "--order", "1",
                      "--output", "d.npy", "--device", "cpu", cwd=folder)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(folder / "d.npy"), 3 * u ** 2 - 4, rtol=1e-14, atol=1e-14)


def test_eval_blocks_of_a_row_softmax_match_diag_s_minus_s_s_transposed(folder):
    x = np.random.default_rng(2).normal(size=(7, 3))
    np.save(folder / "x.npy", x)
    result = elemgrad("eval", "--blocks", "--function", "fns.py:row_softmax", "--input", "x.npy", "--order", "0", "1",
                      "--output", "out.npz", "--device", "cpu", cwd=folder)
    assert result.returncode == 0, result.stderr
    s = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    with np.load(folder / "out.npz") as out:
        assert out.files == ["f", "blocks_x"]
        np.testing.assert_allclose(out["f"], s, rtol=1e-14)
        expected = np.stack([np.diag(row) - np.outer(row, row) for row in s])
        np.testing.assert_allclose(out["blocks_x"], expected, rtol=1e-12, atol=1e-15)


def test_the_file_imports_its_sibling_modules_as_under_python(folder):
    (folder / "helpers.py").write_text("import pytensor.tensor as pt\n\ndef inner(x):\n    return pt.cumsum(x)\n")
    (folder / "user.py").write_text("from helpers import inner\n\ndef f(x):\n    return inner(x ** 2)\n")
    result = elemgrad("explain", "--function", "user.py:f", "--shape", "10", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "structure: rule: cumsum" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("--function", "missing.py:f", "--shape", "3"), "no such file missing.py"),
    (("--function", "fns.py:nothing", "--shape", "3"), "fns.py has no 'nothing' (its functions: centred,"),
    (("--function", "fns.py:WIDTH", "--shape", "3"), "'WIDTH' in fns.py is of type int, not a function"),
    (("--function", "fns.py", "--shape", "3"), "--function expects FILE.py:NAME"),
    (("tanh(x)", "--function", "fns.py:squash", "--shape", "3"), "give an expression or --function, not both"),
    (("--function", "fns.py:squash"), "--function needs --shape N[,M...], the shape of the input 'x'"),
    (("--function", "fns.py:squash", "--shape", "3,x"), "--shape expects integers of at least 1 separated by commas"),
    (("--function", "fns.py:squash", "--shape", "0"), "--shape expects integers of at least 1"),
    ((), "give an expression such as 'tanh(x)**2', or --function FILE.py:NAME"),
])
def test_explain_mistakes_are_one_line(folder, args, message):
    assert message in one_line_error(elemgrad("explain", *args, cwd=folder))


@pytest.mark.parametrize("source, message", [
    ("x = 1 / 0\n", "importing broken.py failed: ZeroDivisionError: division by zero"),
    ("def f(:\n", "importing broken.py failed: SyntaxError: invalid syntax"),
    ("import sys\nsys.exit(3)\n", "importing broken.py failed: SystemExit: 3"),
])
def test_a_file_that_fails_to_import_is_named_with_its_error(folder, source, message):
    (folder / "broken.py").write_text(source)
    assert message in one_line_error(elemgrad("explain", "--function", "broken.py:f", "--shape", "3", cwd=folder))


def test_a_function_that_fails_when_traced_is_one_line(folder):
    (folder / "wrong.py").write_text("def f(x):\n    return x.no_such_method()\n")
    error = one_line_error(elemgrad("explain", "--function", "wrong.py:f", "--shape", "3", cwd=folder))
    assert "the function failed when traced at shape 3: AttributeError" in error


@pytest.mark.parametrize("args, message", [
    (("--function", "fns.py:squash"), "--function needs --diagonal or --blocks"),
    (("tanh(x)", "--diagonal", "--function", "fns.py:squash"), "give an expression or --function, not both"),
    (("--diagonal", "--function", "nowhere.py:f"), "no such file nowhere.py"),
    (("--diagonal",), "give an expression such as 'tanh(x)**2', or --function FILE.py:NAME"),
    (("--diagonal", "--function", "fns.py:laplacian", "--output", "d.npy"), "(or .npy for one result: --order 1)"),
])
def test_eval_mistakes_are_one_line(folder, args, message):
    np.save(folder / "u.npy", np.ones((4, 4)))
    assert message in one_line_error(elemgrad("eval", *args, "--input", "u.npy", "--device", "cpu", cwd=folder))
