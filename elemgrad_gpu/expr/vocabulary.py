"""The vocabulary: one row per math function of the expression language.

Everything that must agree about a function is derived from its row: the parser's
vocabulary (``language.ARITY``), the callable functions (``graph/functions.py``), the
C code generator's lists of C library functions (made float ones in float32 kernels,
declared as vector functions where glibc's libmvec has them) and the formula printer's
names (``graph/formula.py``). Adding a function is adding a row here (plus its tests and
its line in docs/EXPRESSIONS.md); ``tests/expr/test_vocabulary.py`` walks every row.

Data only: no PyTensor here. A row names how the function is built as a reference the
graph side resolves: ``pt.NAME`` (``pytensor.tensor``) or ``MODULE.NAME`` for a module of
``elemgrad_gpu/graph/`` (``special.digamma``; ``functions.where``, defined in ``graph/functions.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Function:
    """One math function of the language."""

    name: str  # as written in expressions, and as ``eg.NAME``
    arity: int
    builder: str  # how it is built: "pt.tanh", or "MODULE.NAME" of graph/: "special.digamma", "functions.where"
    libm: str | None = None  # the C library function its C code calls (double; float adds "f"); None: its own C
    vector: bool = False  # glibc's libmvec has a vector version of ``libm`` (declared SIMD in the C kernel)
    printed: tuple[str, ...] = ()  # PyTensor scalar op classes whose default printed name is not ``name``
    literal: tuple[int, ...] = ()  # argument positions that must be non-negative integer literals
    aliases: tuple[str, ...] = ()  # other spellings (NumPy 2, JAX, SciPy, PyTensor): parsed and printed as ``name``

    def c_name(self, dtype: str) -> str | None:
        """The C library function called per element for ``dtype``: ``tanh``, ``tanhf``."""
        return None if self.libm is None else self.libm + ("f" if dtype == "float32" else "")


def _unary(names: str, builder: str = "pt", vector: bool = True, **libm: str) -> list[Function]:
    """Rows of one-argument functions built as ``builder.NAME``, whose C function is ``libm.get(NAME, NAME)``."""
    return [Function(name, 1, f"{builder}.{name}", libm.get(name, name), vector) for name in names.split()]


FUNCTIONS: tuple[Function, ...] = (
    *_unary("sin cos tan sinh cosh tanh exp exp2 expm1 log log2 log10 erf erfc"),
    Function("log1p", 1, "pt.log1p", "log1p", vector=True, printed=("Log1p",)),
    # the inverse trigonometric and hyperbolic functions, also spelled as C, NumPy 2 and JAX do (asin)
    # arcsin, arccos, arccosh and arctanh from graph/gradients.py: x*x - 1 factored, accurate near +-1
    *(Function(name, 1, f"{'pt' if name in ('arctan', 'arcsinh') else 'gradients'}.{name}", short, True,
               aliases=(short,)) for name, short in (
        ("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"), ("arcsinh", "asinh"), ("arccosh", "acosh"),
        ("arctanh", "atanh"))),
    Function("sqrt", 1, "pt.sqrt", "sqrt"),  # vectorized by the compiler itself: no libmvec call
    Function("abs", 1, "pt.abs", "fabs", printed=("Abs",), aliases=("absolute", "fabs")),
    Function("sign", 1, "pt.sign"),
    Function("erfinv", 1, "special.erfinv", aliases=("erf_inv",)),
    Function("gammaln", 1, "pt.gammaln", "lgamma", aliases=("loggamma", "lgamma")),
    Function("digamma", 1, "special.digamma", aliases=("psi",)),
    Function("sigmoid", 1, "pt.sigmoid", aliases=("expit", "logistic")),
    Function("softplus", 1, "pt.softplus"),
    Function("arctan2", 2, "pt.arctan2", "atan2", vector=True, aliases=("atan2",)),
    Function("maximum", 2, "kinks.maximum", printed=("Maximum",), aliases=("max",)),  # kinks: derivatives by selection
    Function("minimum", 2, "kinks.minimum", printed=("Minimum",), aliases=("min",)),
    Function("pow", 2, "kinks.pow", "pow", vector=True, aliases=("power",)),
    Function("hypot", 2, "special.hypot", "hypot", vector=True),
    Function("polygamma", 2, "special.polygamma", literal=(0,)),
    Function("where", 3, "functions.where", printed=("Switch",)),
    Function("clip", 3, "kinks.clip", printed=("Clip",)),
    Function("sinc", 1, "removable.sinc"),  # removable: exact at and near their removable singularities
    Function("exprel", 1, "removable.exprel"),
    Function("xlogy", 2, "removable.xlogy"),
    Function("xlog1py", 2, "removable.xlog1py"),
    Function("log1mexp", 1, "gradients.log1mexp"),  # log(1 - exp(x)), x < 0: accurate near 0 and far below it
    # closed forms of operations the language has, under the names NumPy and PyTensor give them
    Function("square", 1, "pt.sqr", aliases=("sqr",)),  # prints as x**2
    Function("reciprocal", 1, "pt.reciprocal"),
    Function("rsqrt", 1, "functions.rsqrt"),  # 1/sqrt(x)
    Function("deg2rad", 1, "pt.deg2rad", aliases=("radians",)),  # x * (pi/180)
    Function("rad2deg", 1, "pt.rad2deg", aliases=("degrees",)),  # x * (180/pi)
    Function("negative", 1, "pt.neg"),  # the operators as functions, as NumPy's ufuncs: they print as operators
    Function("multiply", 2, "pt.mul"),
    Function("divide", 2, "pt.true_div", aliases=("true_divide",)),
    # ---- defects: xlogx, PyTensor's own ops (graph/removable.py, kinks.py) ----
    Function("xlogx", 1, "removable.xlogx"),  # x*log(x), 0 at 0 (PyTensor's xlogx, xlogy(x, x))
    # ---- end ----
    # ---- the error function and the normal distribution (graph/normal.py) ----
    Function("erfcx", 1, "normal.erfcx"),  # exp(x**2) erfc(x)
    Function("erfcinv", 1, "normal.erfcinv"),
    Function("ndtr", 1, "normal.ndtr"),  # the standard normal CDF
    Function("log_ndtr", 1, "normal.log_ndtr"),
    Function("ndtri", 1, "normal.ndtri"),
    Function("ndtri_exp", 1, "normal.ndtri_exp"),  # ndtri(exp(y))
    Function("dawsn", 1, "normal.dawsn"),  # Dawson's integral
    Function("owens_t", 2, "normal.owens_t"),  # Owen's T(h, a)
    # ---- end ----
    # ---- elementary compositions, rounding, remainders (graph/elementary.py) ----
    Function("logit", 1, "elementary.logit"),  # log(x/(1 - x)), accurate near 0, 1/2 and 1
    Function("logaddexp", 2, "elementary.logaddexp"),  # log(exp(a) + exp(b)) without overflow
    Function("logaddexp2", 2, "elementary.logaddexp2"),
    Function("cbrt", 1, "elementary.cbrt", "cbrt", vector=True),  # the real cube root
    Function("entr", 1, "elementary.entr"),  # SciPy's -x log(x), kl_div and rel_entr
    Function("kl_div", 2, "elementary.kl_div"),
    Function("rel_entr", 2, "elementary.rel_entr"),
    Function("boxcox", 2, "elementary.boxcox"),  # exact at and near lmbda = 0
    Function("boxcox1p", 2, "elementary.boxcox1p"),
    # rounding: derivative 0 everywhere, also at the jumps
    Function("floor", 1, "pt.floor", "floor"),
    Function("ceil", 1, "pt.ceil", "ceil"),
    Function("trunc", 1, "elementary.trunc", "trunc"),
    Function("round", 1, "elementary.round", "rint", aliases=("round_half_to_even", "rint")),  # NumPy's: half to even
    Function("round_half_away_from_zero", 1, "pt.round_half_away_from_zero", "round",
             printed=("RoundHalfAwayFromZero",)),  # C's round
    # remainders: mod has the sign of the divisor (NumPy's), fmod that of the dividend (C's, jax.lax.rem)
    Function("mod", 2, "elementary.mod", aliases=("remainder",)),
    Function("fmod", 2, "elementary.fmod", "fmod", aliases=("rem",)),
    Function("fmax", 2, "elementary.fmax"),  # NaN-ignoring, NumPy's (its sign of a zero: not C's fmax)
    Function("fmin", 2, "elementary.fmin"),
    Function("clamp", 3, "elementary.clamp"),  # JAX's clamp(low, x, high): clip(x, low, high)

    # ---- end ----
    # ---- the gamma family (graph/gamma.py) ----
    Function("gamma", 1, "gamma.gamma", aliases=("tgamma",)),  # as scipy.special.gamma: +-inf at +-0, NaN at -1, -2, ..
    Function("rgamma", 1, "gamma.rgamma"),  # 1/gamma: entire, exact at and near the poles of gamma
    Function("gammasgn", 1, "gamma.gammasgn"),
    Function("trigamma", 1, "gamma.trigamma", aliases=("tri_gamma",)),  # polygamma(1, x)
    Function("factorial", 1, "gamma.factorial"),  # gamma(n + 1), 0 for n < 0 (SciPy's exact=False)
    Function("beta", 2, "gamma.beta"),
    Function("betaln", 2, "gamma.betaln"),
    Function("poch", 2, "gamma.poch"),
    Function("comb", 2, "gamma.comb"),  # 0 unless 0 <= k <= N (SciPy's comb, exact=False)
    Function("multigammaln", 2, "gamma.multigammaln", literal=(1,)),
    # ---- end ----
    # ---- incomplete gamma and beta, with parameter derivatives (graph/incomplete.py) ----
    Function("gammainc", 2, "incomplete.gammainc"),  # regularized P(a, x), SciPy's
    Function("gammaincc", 2, "incomplete.gammaincc"),  # Q(a, x) = 1 - P(a, x)
    Function("gammal", 2, "incomplete.gammal"),  # gamma(a) * P(a, x), PyTensor's
    Function("gammau", 2, "incomplete.gammau"),  # gamma(a) * Q(a, x)
    Function("chi2sf", 2, "incomplete.chi2sf", aliases=("chdtrc",)),  # Q(k/2, x/2), SciPy's chdtrc(k, x)
    Function("betainc", 3, "incomplete.betainc"),  # regularized I_x(a, b), SciPy's
    # ---- end ----
    # ---- Bessel functions (graph/bessel.py) ----
    Function("jv", 2, "bessel.jv", aliases=("jn",)),  # real order v; SciPy's jn is jv
    *(Function(name, 2, f"bessel.{name}") for name in ("yv", "iv", "ive", "kv", "kve")),
    Function("yn", 2, "bessel.yn", literal=(0,)),  # integer order
    *_unary("j0 j1 y0 y1 i0 i1 i0e i1e k0 k1 k0e k1e", "bessel", vector=False, **{
        name: None for name in "j0 j1 y0 y1 i0 i1 i0e i1e k0 k1 k0e k1e".split()}),
    # ---- end ----
    # ---- hypergeometric, zeta, exponential and trigonometric integrals (graph/hypergeometric.py) ----
    Function("expi", 1, "hypergeometric.expi"),
    Function("exp1", 1, "hypergeometric.exp1"),
    Function("expn", 2, "hypergeometric.expn", literal=(0,)),
    Function("si", 1, "hypergeometric.si"),  # scipy.special.sici's two outputs, one per function
    Function("ci", 1, "hypergeometric.ci"),
    Function("fresnel_s", 1, "hypergeometric.fresnel_s"),  # scipy.special.fresnel's, S(x) = int_0^x sin(pi t^2/2)
    Function("fresnel_c", 1, "hypergeometric.fresnel_c"),
    Function("zeta", 2, "hypergeometric.zeta"),  # Hurwitz: scipy.special.zeta(x, q)
    Function("hyp1f1", 3, "hypergeometric.hyp1f1"),  # Kummer's M(a, b, x)
    Function("hyp2f1", 4, "hypergeometric.hyp2f1"),  # Gauss's 2F1(a, b; c; x), x < 1

    # ---- end ----
)

# C library functions that PyTensor's C code for operators, derivatives and rewrites may
# call besides those of the rows: (name, arity, whether libmvec has a vector version).
OTHER_C_FUNCTIONS: tuple[tuple[str, int, bool], ...] = (
    ("cbrt", 1, True), ("exp10", 1, True), ("tgamma", 1, False), ("ceil", 1, False), ("floor", 1, False),
    ("round", 1, False), ("trunc", 1, False), ("fmod", 2, False), ("fmax", 2, False), ("fmin", 2, False),
    ("copysign", 2, False),
)

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
# Operators of the language, by the symbol a parsed tree records ("neg": unary minus;
# "and": chained comparisons such as a < x < b).
OPERATORS = ("+", "-", "*", "/", "**", "neg", "<", "<=", ">", ">=", "==", "!=", "and")

BY_NAME: dict[str, Function] = {f.name: f for f in FUNCTIONS}
ALIASES: dict[str, str] = {alias: f.name for f in FUNCTIONS for alias in f.aliases}  # alias -> the row's name


def c_library_functions() -> dict[str, tuple[int, bool]]:
    """Every C library function generated C code may call: name -> (arity, vectorizes)."""
    called = {f.libm: (f.arity, f.vector) for f in FUNCTIONS if f.libm}
    return {**called, **{name: (arity, vector) for name, arity, vector in OTHER_C_FUNCTIONS}}
