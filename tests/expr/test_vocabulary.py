"""Every row of the vocabulary (expr/vocabulary.py) works end to end: it parses, builds,
prints as a formula that parses back to the same numbers, and its float32 C kernel calls
no double-precision C library function (read from the compiled kernel's symbols).

log1mexp is the function added as one row (with its tests and its docs line): here, in
tests/expr/test_parse.py's REFERENCE, in tests/cases.py (orders 0 to 4 against SymPy).
"""
import re
import shutil
import subprocess
from pathlib import Path

import mpmath
import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.backends.c import compile as ccompile
from elemgrad_gpu.expr.parse import parse
from elemgrad_gpu.expr.vocabulary import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
X = np.array([0.15, 0.4, 0.75])
Y = np.array([0.6, 0.35, 0.9])
ARGUMENTS = {1: "x", 2: "x, y", 3: "x > y, x, y"}  # where's condition; clip gets the same three
SPECIAL_ARGUMENTS = {"arccosh": "x + 1", "log1mexp": "-x", "polygamma": "2, x", "clip": "x, 0.3, y",
                     "clamp": "0.3, x, y", "ndtri_exp": "-x",
                     "betainc": "x, y, 0.3", "multigammaln": "x + 2, 3", "yn": "2, x"}
SPECIAL_ARGUMENTS.update({"expn": "2, x", "zeta": "x + 1.5, y", "hyp1f1": "x, y + 0.5, x",  # graph/hypergeometric.py
                          "hyp2f1": "x, y, y + 1, x"})
ARGUMENTS[4] = "x, y, y + 1, x"  # hyp2f1, the one four-argument function
# Every double-precision function of C99's <math.h> (and glibc's exp10): an independent list,
# not the vocabulary's. A float32 kernel may call their float versions (name + "f") only.
C_DOUBLE = set("""acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 exp10 frexp
ilogb ldexp log log10 log1p log2 logb modf scalbn scalbln cbrt fabs hypot pow sqrt erf erfc lgamma tgamma ceil
floor nearbyint rint lrint llrint round lround llround trunc fmod remainder remquo copysign nan nextafter
nexttoward fdim fmax fmin fma sincos""".split())


def text_of(row) -> str:
    return f"{row.name}({SPECIAL_ARGUMENTS.get(row.name, ARGUMENTS[row.arity])})"


def test_one_row_per_name_and_every_name_public():
    names = [row.name for row in FUNCTIONS]
    assert len(names) == len(set(names))
    for name in names:
        assert callable(getattr(eg, name)) and name in eg.__all__


# sinc and exprel (graph/removable.py) are built as a guarded series near 0 and the closed form
# elsewhere; their formula prints those helper operations, which are not in the language.
@pytest.mark.parametrize("row", FUNCTIONS, ids=lambda row: row.name)
def test_a_row_parses_builds_prints_and_parses_back(row):
    text = text_of(row)
    expression = parse(text)
    names = expression.names
    fn = eg.compile(text, derivatives=[(), (names[0],)], device="cpu")
    values = {"x": X, "y": Y}
    value, slope = fn(*(values[n] for n in names))
    assert np.all(np.isfinite(value)), text
    printed = fn.expressions[0]
    # pow prints as **; clip, built as maximum and minimum (graph/kinks.py), prints as them; the
    # operators as functions print as the operators, rsqrt and trigamma as what they are built of
    printed_as = {"pow": "**", "clip": "maximum(", "clamp": "maximum(", "square": "**2", "rsqrt": "reciprocal(sqrt(x))",
                  "negative": "-x", "multiply": "x*y", "divide": "x/y", "trigamma": "polygamma(1, x)"}
    assert row.name in printed or printed_as.get(row.name, row.name) in printed, printed
    again = eg.compile(printed, derivatives=[(), (names[0],)], device="cpu")
    assert again.inputs == names
    again_value, again_slope = again(*(values[n] for n in names))
    np.testing.assert_allclose(again_value, value, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(again_slope, slope, rtol=1e-14, atol=1e-300)


def undefined_symbols(path: str) -> list[str]:
    listing = subprocess.run(["nm", "-D", "--undefined-only", path], capture_output=True, text=True, check=True)
    return [line.split()[-1].split("@")[0] for line in listing.stdout.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm (binutils) to read the kernel's symbols")
@pytest.mark.parametrize("row", FUNCTIONS, ids=lambda row: row.name)
def test_a_float32_c_kernel_calls_no_double_precision_function(row):
    fn = eg.compile(text_of(row), orders=(0, 1, 2), dtype="float32", device="cpu")
    symbols = undefined_symbols(ccompile.load(fn.source(dtype="float32")).__file__)
    # libmvec's vector functions are _ZGV<isa><mask><lanes><args>_<name>
    called = {re.sub(r"^_ZGV\w+?_", "", symbol) for symbol in symbols}
    assert not called & C_DOUBLE, f"{text_of(row)} calls {sorted(called & C_DOUBLE)} in float32"


def test_every_row_is_in_the_language_documentation():
    table = (ROOT / "docs" / "EXPRESSIONS.md").read_text().split("\n## ")[0]  # the function table
    documented = set(re.findall(r"\b([a-z][a-z0-9_]*)\b", table))  # names with underscores: kl_div
    assert {row.name for row in FUNCTIONS} <= documented


def test_log1mexp_the_row_added_as_a_demonstration():
    x = np.array([-40.0, -3.0, -0.7, -0.69, -1e-3, -1e-9])
    value, slope = eg.compile("log1mexp(x)", orders=(0, 1), device="cpu")(x)
    with mpmath.workdps(40):
        want = [float(mpmath.log(1 - mpmath.exp(mpmath.mpf(v)))) for v in x]  # accurate near 0 and far below
        want_slope = [float(-mpmath.exp(v) / (1 - mpmath.exp(mpmath.mpf(v)))) for v in x]
    np.testing.assert_allclose(value, want, rtol=1e-14)
    np.testing.assert_allclose(slope, want_slope, rtol=1e-13)
