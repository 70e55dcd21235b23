"""The functions of the expression language with SymPy references and sample points."""
import sympy as sp

x, y = sp.symbols("x y", real=True)
WIDE = (-2.1, -0.7, -0.05, 0.3, 1.4, 2.6)
UNIT = (-0.85, -0.4, 0.02, 0.35, 0.8)
POSITIVE = (0.2, 0.75, 1.5, 3.2, 7.9)

# (expression, SymPy reference, points)
CASES = [
    ("sin(x)", sp.sin(x), WIDE), ("cos(x)", sp.cos(x), WIDE), ("tan(x)", sp.tan(x), UNIT),
    ("arcsin(x)", sp.asin(x), UNIT), ("arccos(x)", sp.acos(x), UNIT), ("arctan(x)", sp.atan(x), WIDE),
    ("sinh(x)", sp.sinh(x), WIDE), ("cosh(x)", sp.cosh(x), WIDE), ("tanh(x)", sp.tanh(x), WIDE),
    ("arcsinh(x)", sp.asinh(x), WIDE), ("arccosh(x)", sp.acosh(x), (1.1, 1.6, 2.5, 7.0)),
    ("arctanh(x)", sp.atanh(x), UNIT), ("exp(x)", sp.exp(x), WIDE), ("exp2(x)", 2 ** x, WIDE),
    ("expm1(x)", sp.exp(x) - 1, WIDE), ("log(x)", sp.log(x), POSITIVE), ("log2(x)", sp.log(x, 2), POSITIVE),
    ("log10(x)", sp.log(x, 10), POSITIVE), ("log1p(x)", sp.log(1 + x), (-0.6, -0.1, 0.4, 3.0)),
    ("sqrt(x)", sp.sqrt(x), POSITIVE), ("abs(x)", sp.Abs(x), WIDE), ("sign(x)", sp.sign(x), WIDE),
    ("erf(x)", sp.erf(x), WIDE), ("erfc(x)", sp.erfc(x), WIDE), ("erfinv(x)", sp.erfinv(x), UNIT),
    ("gammaln(x)", sp.loggamma(x), POSITIVE), ("digamma(x)", sp.polygamma(0, x), POSITIVE + (-0.5, -2.3)),
    ("sigmoid(x)", 1 / (1 + sp.exp(-x)), WIDE), ("softplus(x)", sp.log(1 + sp.exp(x)), WIDE + (-30.0, 25.0)),
    ("log1mexp(x)", sp.log(1 - sp.exp(x)), (-12.0, -3.0, -0.9, -0.5, -0.1)),
    ("tanh(x)**2", sp.tanh(x) ** 2, WIDE), ("3*x", 3 * x, WIDE),
    ("x**3 - 2*x + pi/e", x ** 3 - 2 * x + sp.pi / sp.E, WIDE),
    ("pow(x, 2.5)", x ** sp.Rational(5, 2), POSITIVE), ("polygamma(2, x)", sp.polygamma(2, x), POSITIVE),
    ("where(x > 0, x**2, sin(x))", sp.Piecewise((x ** 2, x > 0), (sp.sin(x), True)), WIDE),
    ("maximum(x, 0.5*x + 0.25)", sp.Piecewise((x, x > x / 2 + sp.Rational(1, 4)), (x / 2 + sp.Rational(1, 4), True)), WIDE),
    ("minimum(x, 1 - x)", sp.Piecewise((x, x < 1 - x), (1 - x, True)), WIDE),
    ("clip(x, -1, 2) * x", sp.Piecewise((-x, x < -1), (2 * x, x > 2), (x * x, True)), WIDE),
    ("hypot(x, 1.5)", sp.sqrt(x ** 2 + sp.Rational(9, 4)), WIDE),
    ("arctan2(x, 0.7)", sp.atan2(x, sp.Rational(7, 10)), WIDE),
    ("exp(-x**2/2) / sqrt(2*pi)", sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi), WIDE),
    ("sinc(x)", sp.sin(sp.pi * x) / (sp.pi * x), WIDE), ("exprel(x)", (sp.exp(x) - 1) / x, WIDE + (-3.5, 9.0)),
    ("xlogy(x, 1.5)", x * sp.log(sp.Rational(3, 2)), WIDE), ("xlogy(0.5, x)", sp.log(x) / 2, POSITIVE),
    ("xlog1py(x, 0.5)", x * sp.log(sp.Rational(3, 2)), WIDE), ("xlog1py(0.7, x)", sp.Rational(7, 10) * sp.log(1 + x),
                                                               (-0.6, -0.1, 0.4, 3.0)),
    # the functions added under NumPy's names (issue 15), two to a case
    ("rsqrt(x) - reciprocal(x)", 1 / sp.sqrt(x) - 1 / x, POSITIVE),
    ("deg2rad(x)*square(x) + rad2deg(x)", sp.pi / 180 * x ** 3 + 180 / sp.pi * x, WIDE),
    # elementary compositions (graph/elementary.py), two to a case where they share a domain
    ("logit(x)", sp.log(x / (1 - x)), (0.02, 0.3, 0.5, 0.77, 0.98)),
    ("logaddexp(x, 0.7) + logaddexp2(-0.3, x)", sp.log(sp.exp(x) + sp.exp(sp.Rational(7, 10)))
     + sp.log(2 ** sp.Rational(-3, 10) + 2 ** x, 2), WIDE + (-30.0, 0.7, 25.0)),
    ("cbrt(x) + entr(x)", sp.cbrt(x) - x * sp.log(x), POSITIVE),
    ("kl_div(x, 1.3) + rel_entr(0.8, x)", x * sp.log(x / sp.Rational(13, 10)) - x + sp.Rational(13, 10)
     + sp.Rational(4, 5) * sp.log(sp.Rational(4, 5) / x), POSITIVE),
    ("boxcox(x, 0.4) + boxcox1p(x, -0.6)", (x ** sp.Rational(2, 5) - 1) / sp.Rational(2, 5)
     + ((1 + x) ** sp.Rational(-3, 5) - 1) / sp.Rational(-3, 5), POSITIVE),
    ("erfcinv(x)", sp.erfinv(1 - x), (0.05, 0.4, 1.0, 1.3, 1.95)),  # the normal family (graph/normal.py)
    # exponential, trigonometric and Fresnel integrals, Hurwitz zeta (graph/hypergeometric.py)
    ("expi(x)", sp.Ei(x), (-2.1, -0.7, 0.3, 1.4, 2.6, 7.9)), ("exp1(x)", sp.expint(1, x), POSITIVE),
    ("expn(3, x)", sp.expint(3, x), POSITIVE), ("si(x)", sp.Si(x), WIDE), ("ci(x)", sp.Ci(x), POSITIVE),
    ("fresnel_s(x)", sp.fresnels(x), WIDE), ("fresnel_c(x)", sp.fresnelc(x), WIDE),
    ("zeta(2.5, x)", sp.zeta(sp.Rational(5, 2), x), POSITIVE),
    ("hyp1f1(0.5, 1.5, x)", sp.hyper([sp.Rational(1, 2)], [sp.Rational(3, 2)], x), WIDE),
    ("hyp2f1(0.5, 1.5, 2.5, x)", sp.hyper([sp.Rational(1, 2), sp.Rational(3, 2)], [sp.Rational(5, 2)], x), UNIT),
    # incomplete gamma and beta (graph/incomplete.py), in x: the shape parameters' derivatives are
    # tested in tests/graph/test_incomplete.py
    ("gammainc(1.5, x)", sp.lowergamma(sp.Rational(3, 2), x) / sp.gamma(sp.Rational(3, 2)), POSITIVE),
    ("gammaincc(2.5, x)", sp.uppergamma(sp.Rational(5, 2), x) / sp.gamma(sp.Rational(5, 2)), POSITIVE),
    ("gammal(1.5, x) + gammau(3, x)", sp.lowergamma(sp.Rational(3, 2), x) + sp.uppergamma(3, x), POSITIVE),
    ("chi2sf(3, x)", sp.uppergamma(sp.Rational(3, 2), x / 2) / sp.gamma(sp.Rational(3, 2)), POSITIVE),
    # I_x(a, b) = x^a 2F1(a, 1 - b; a + 1; x) / (a B(a, b)) (lambdify gives betainc_regularized no mpmath form)
    ("betainc(1.5, 2.5, x)", x ** sp.Rational(3, 2) * sp.hyper([sp.Rational(3, 2), -sp.Rational(3, 2)],
                                                                [sp.Rational(5, 2)], x)
     / (sp.Rational(3, 2) * sp.beta(sp.Rational(3, 2), sp.Rational(5, 2))), (0.1, 0.3, 0.55, 0.8)),
    ("xlogx(x)", x * sp.log(x), POSITIVE),  # the defects block (issue 15)
    # the gamma family (issue 15, graph/gamma.py); at the poles (SymPy cannot): tests/graph/test_gamma.py
    ("gamma(x)", sp.gamma(x), POSITIVE + (-0.3, -2.3)),  # float32 near -0.5: docs/EXPRESSIONS.md, the gamma family
    ("rgamma(x)", 1 / sp.gamma(x), (-3.5, -2.1, -0.7, 1.4, 2.6)),  # float32 orders >= 5 in (0, 1): docs
    ("trigamma(x) + factorial(x)", sp.polygamma(1, x) + sp.gamma(x + 1), POSITIVE),
    ("beta(x, 1.5) + betaln(2.5, x)", sp.beta(x, sp.Rational(3, 2)) + sp.log(sp.beta(sp.Rational(5, 2), x)), POSITIVE),
    ("poch(x, 0.5) + poch(2.5, x)",  # as gamma ratios: SymPy leaves rf's derivatives unevaluated
     sp.gamma(x + sp.Rational(1, 2)) / sp.gamma(x) + sp.gamma(x + sp.Rational(5, 2)) / sp.gamma(sp.Rational(5, 2)),
     (0.75, 1.5, 3.2, 7.9)),  # float32 order 6 at z = 0.2: 2.8e-5 (docs/EXPRESSIONS.md)
    ("comb(x + 3, 1.5) + comb(9.5, x)", sp.binomial(x + 3, sp.Rational(3, 2)) + sp.binomial(sp.Rational(19, 2), x),
     (0.2, 0.75, 3.2, 7.9)),  # float32 order 6 at 1.5: 1.3e-5 (the Bell polynomial cancels; docs/EXPRESSIONS.md)
    ("multigammaln(x + 1, 3)",
     sp.Rational(3, 2) * sp.log(sp.pi) + sp.loggamma(x + 1) + sp.loggamma(x + sp.Rational(1, 2)) + sp.loggamma(x),
     POSITIVE),
    ("polygamma(60, x)", sp.polygamma(60, x), (7.9, 12.5, 40.0, 90.0)),  # past the order 40 of the cot reflection
    # Bessel functions (graph/bessel.py), two to a case
    ("jv(2.5, x) + i1(x)", sp.besselj(sp.Rational(5, 2), x) + sp.besseli(1, x), POSITIVE),
    ("kv(1.3, x) - y0(x)", sp.besselk(sp.Rational(13, 10), x) - sp.bessely(0, x), POSITIVE),
]
