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
    # Bessel functions (graph/bessel.py), two to a case
    ("jv(2.5, x) + i1(x)", sp.besselj(sp.Rational(5, 2), x) + sp.besseli(1, x), POSITIVE),
    ("kv(1.3, x) - y0(x)", sp.besselk(sp.Rational(13, 10), x) - sp.bessely(0, x), POSITIVE),
]
