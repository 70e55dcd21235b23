"""Taylor mode: derivatives of order 3 and up in one variable by truncated Taylor series.

Nested symbolic differentiation (``differentiate.py``) makes a graph that grows
quickly with the order, and PyTensor's rewriting of it takes minutes by order 8. Here
the fused scalar graph of f itself (``fuse.ScalarBody``) is walked once, in order, and
each operation's Taylor coefficients up to order K are built from its operands' by the
operation's recurrence (``taylor_series``): O(K^2) scalar operations per operation. The
coefficients are themselves a scalar graph over the same leaves, so they join the one
fused Composite and its C and CUDA code like any output; nothing of PyTensor's rewriting
runs on them. The derivative of order k is ``k! * coefficient k``. Inputs other than
the variable are held constant (their coefficients beyond the value are zero).

``uses_taylor`` is the switch rule; an operation without a rule raises ``NoTaylorRule``
and the plan falls back to the symbolic path for every derivative.
"""
from __future__ import annotations

import math
from typing import Callable

import pytensor.scalar as ps
import pytensor.scalar.math as psm
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.traversal import io_toposort

from elemgrad_gpu.errors import NoTaylorRule
from elemgrad_gpu.graph import removable, special
from elemgrad_gpu.graph.fuse import ScalarBody
from elemgrad_gpu.graph.taylor_series import Arithmetic, Lazy, is_number

MIN_ORDER = 3  # orders below this stay symbolic: already fast, and exact as before
Series = list


def uses_taylor(index: tuple[str, ...]) -> bool:
    """The switch rule: a derivative of order >= MIN_ORDER by one variable only."""
    return len(index) >= MIN_ORDER and len(set(index)) == 1


def taylor_derivatives(body: ScalarBody, output: int, variable: int, order: int) -> list[Variable]:
    """Scalars of d^k f / dx^k for k = 0..order, f = ``body.results[output]``, x = leaf ``variable``."""
    arithmetic = Arithmetic(body.dtype, order)
    y = body.results[output]
    series: dict[Variable, Series] = {}
    for leaf in body.leaves:
        series[leaf] = arithmetic.constant(leaf)
    series[body.leaves[variable]] = [body.leaves[variable], 1.0] + [0.0] * (order - 1)
    _propagate(arithmetic, io_toposort(body.leaves, [y]), series)
    result = series.get(y) or arithmetic.constant(y)
    return [arithmetic.var(arithmetic.mul(result[k], float(math.factorial(k)))) for k in range(order + 1)]


def _propagate(arithmetic: Arithmetic, nodes, series: dict[Variable, Series]) -> None:
    """Add the series of every output of ``nodes`` (in order) to ``series``."""
    for node in nodes:
        operands = [series.get(v) or arithmetic.constant(_value(v)) for v in node.inputs]
        if all(_is_constant(s) for s in operands):
            for out in node.outputs:
                series[out] = arithmetic.constant(out)
            continue
        outputs = _rule(node.op)(arithmetic, node, operands)
        if not isinstance(node.op, ps.Composite):
            outputs = [outputs]
        for out, coefficients in zip(node.outputs, outputs):
            series[out] = [out] + list(coefficients[1:])


def _composite(a: Arithmetic, node, s) -> list[Series]:
    """A Composite (PyTensor's rewrites make some: x**3 for one): its inner graph, inlined.

    The inner graph is cloned over the operands' values and propagated node by node;
    the caller replaces each output's value by the Composite's own.
    """
    inner = node.op.fgraph
    operands = [a.var(operand[0]) for operand in s]
    inlined: dict[Variable, Variable] = dict(zip(inner.inputs, operands))
    nodes = []
    for inner_node in inner.toposort():  # a frozen graph: rebuilt node by node over the operands
        new = inner_node.op.make_node(*[inlined.get(v, v) for v in inner_node.inputs])
        inlined.update(zip(inner_node.outputs, new.outputs))
        nodes.append(new)
    series: dict[Variable, Series] = dict(zip(operands, [list(operand) for operand in s]))
    _propagate(a, nodes, series)
    outputs = [inlined.get(out, out) for out in inner.outputs]
    return [series.get(out) or a.constant(_value(out)) for out in outputs]


def _value(v: Variable):
    """A leaf's value: a constant's number, else the variable."""
    if isinstance(v, Constant) and v.data.size == 1:
        return float(v.data.reshape(-1)[0])
    return v


def _is_constant(s: Series) -> bool:
    return all(is_number(c) and float(c) == 0 for c in s[1:])


def _rule(op) -> Callable:
    for kind in type(op).__mro__:
        if kind in RULES:
            return RULES[kind]
    raise NoTaylorRule(f"no Taylor rule for {type(op).__name__}")


# Rules: (arithmetic, node, operand series) -> the output's series (its value is node.outputs[0]).

def _zero(a: Arithmetic, node, s) -> Series:
    """Piecewise constant (sign, comparisons, logic): every derivative is zero."""
    return a.constant(node.outputs[0])


def _first(a, node, s):
    return s[0]


def _second(a, node, s):
    return s[1]


def _cast(a: Arithmetic, node, s) -> Series:
    return [node.outputs[0]] + [c if is_number(c) else node.op(c) for c in s[0][1:]]


def _add(a: Arithmetic, node, s) -> Series:
    return [None] + [a.add(*[x[k] for x in s]) for k in range(1, a.order + 1)]


def _sub(a: Arithmetic, node, s) -> Series:
    return [None] + [a.sub(s[0][k], s[1][k]) for k in range(1, a.order + 1)]


def _neg(a: Arithmetic, node, s) -> Series:
    return [None] + [a.neg(s[0][k]) for k in range(1, a.order + 1)]


def _mul(a: Arithmetic, node, s) -> Series:
    product = s[0]
    for factor in s[1:]:
        product = a.product(product, factor)
    return product


def _div(a: Arithmetic, node, s) -> Series:
    return a.quotient(s[0], s[1], node.outputs[0])


def _reciprocal(a: Arithmetic, node, s) -> Series:
    return a.quotient(a.constant(1.0), s[0], node.outputs[0])


def _scaled(factor: float) -> Callable:
    """A constant multiple of the operand (deg2rad, rad2deg)."""
    def rule(a: Arithmetic, node, s) -> Series:
        return [None] + [a.mul(s[0][k], factor) for k in range(1, a.order + 1)]
    return rule


def _sqr(a: Arithmetic, node, s) -> Series:
    return a.product(s[0], s[0])


def _pow(a: Arithmetic, node, s) -> Series:
    base, exponent = s
    y = node.outputs[0]
    if _is_constant(exponent) and is_number(exponent[0]):
        return a.power(base, exponent[0], y)
    if _is_constant(exponent):  # an exponent that is another input: g(u) = u**c by its derivatives at u[0]
        return a.compose(base, [_power_derivative(a, base[0], exponent[0], j) for j in range(1, a.order + 1)], y)
    log_base = a.call(ps.log, base[0])
    if _is_constant(base):  # c**v = exp(v log c)
        return a.exp([0.0] + [a.mul(log_base, c) for c in exponent[1:]], y)
    return a.exp(a.product(exponent, a.log(base, log_base)), y)  # exp(v log u)


def _power_derivative(a: Arithmetic, u, c, j: int):
    """d^j/du^j u**c = c (c-1) ... (c-j+1) u**(c-j); 0 where that product is 0 (c an integer
    from 0 to j-1), not 0 * inf at u = 0: the pow convention of kinks.py (d/dx x**0 = 0)."""
    falling = a.mul(*[a.sub(c, i) for i in range(j)])
    return a.select(a.call(ps.eq, falling, 0.0), 0.0, a.mul(falling, a.call(ps.pow, u, a.sub(c, float(j)))))


def _exp(a: Arithmetic, node, s) -> Series:
    return a.exp(s[0], node.outputs[0])


def _exp2(a: Arithmetic, node, s) -> Series:
    return a.exp([a.mul(math.log(2), c) for c in s[0]], node.outputs[0])


def _expm1(a: Arithmetic, node, s) -> Series:
    return a.exp(s[0], a.call(ps.exp, s[0][0]))


def _log_scaled(scale: float) -> Callable:
    def rule(a: Arithmetic, node, s) -> Series:
        return [None] + [a.mul(scale, c) for c in a.log(s[0], None)[1:]]
    return rule


def _log1p(a: Arithmetic, node, s) -> Series:
    return a.log([a.add(1.0, s[0][0])] + list(s[0][1:]), node.outputs[0])


def _log1mexp(a: Arithmetic, node, s) -> Series:
    """log(1 - exp(u)): the log of the series 1 - exp(u), whose value is -expm1(u)."""
    e = a.exp(s[0], a.call(ps.exp, s[0][0]))
    return a.log([a.neg(a.call(ps.expm1, s[0][0]))] + [a.neg(c) for c in e[1:]], node.outputs[0])


def _sqrt(a: Arithmetic, node, s) -> Series:
    return a.sqrt(s[0], node.outputs[0])


def _hypot(a: Arithmetic, node, s) -> Series:
    return a.sqrt([None] + a.add_series(a.product(s[0], s[0]), a.product(s[1], s[1]))[1:], node.outputs[0])


def _sin_cos(a: Arithmetic, u: Series, sin0, cos0) -> tuple[Series, Series]:
    """sin(u) and cos(u) together: sin' = cos u', cos' = -sin u'."""
    sin, cos = [sin0], [cos0]
    for k in range(1, a.order + 1):
        sin.append(a.mul(1.0 / k, a.add(*[a.mul(j, u[j], cos[k - j]) for j in range(1, k + 1)])))
        cos.append(a.mul(-1.0 / k, a.add(*[a.mul(j, u[j], sin[k - j]) for j in range(1, k + 1)])))
    return sin, cos


def _sin(a: Arithmetic, node, s) -> Series:
    return _sin_cos(a, s[0], node.outputs[0], a.call(ps.cos, s[0][0]))[0]


def _cos(a: Arithmetic, node, s) -> Series:
    return _sin_cos(a, s[0], a.call(ps.sin, s[0][0]), node.outputs[0])[1]


def _sinh_cosh(a: Arithmetic, u: Series, sinh0, cosh0) -> tuple[Series, Series]:
    """sinh(u) and cosh(u) together: sinh' = cosh u', cosh' = sinh u'."""
    sinh, cosh = [sinh0], [cosh0]
    for k in range(1, a.order + 1):
        sinh.append(a.mul(1.0 / k, a.add(*[a.mul(j, u[j], cosh[k - j]) for j in range(1, k + 1)])))
        cosh.append(a.mul(1.0 / k, a.add(*[a.mul(j, u[j], sinh[k - j]) for j in range(1, k + 1)])))
    return sinh, cosh


def _sinh(a: Arithmetic, node, s) -> Series:
    return _sinh_cosh(a, s[0], node.outputs[0], a.call(ps.cosh, s[0][0]))[0]


def _cosh(a: Arithmetic, node, s) -> Series:
    return _sinh_cosh(a, s[0], a.call(ps.sinh, s[0][0]), node.outputs[0])[1]


def _one_plus_sign_square(a: Arithmetic, sign: float) -> Callable:
    """g(y) = 1 + sign * y^2 as a lazy series of y (tan: +1, tanh: -1)."""
    def g_of(y):
        return Lazy(lambda m: a.add(1.0 if m == 0 else 0.0, a.mul(sign, a.cauchy(y, y, m))))
    return g_of


def _tan(a: Arithmetic, node, s) -> Series:
    return a.self_chain(s[0], node.outputs[0], _one_plus_sign_square(a, 1.0))


def _tanh(a: Arithmetic, node, s) -> Series:
    return a.self_chain(s[0], node.outputs[0], _one_plus_sign_square(a, -1.0))


def _sigmoid_series(a: Arithmetic, u: Series, value) -> Series:
    """sigmoid(u): y' = y (1 - y) u' (as PyTensor's gradient)."""
    def g_of(y):
        return Lazy(lambda m: a.cauchy(y, Lazy(lambda i: a.sub(1.0 if i == 0 else 0.0, y[i])), m))
    return a.self_chain(u, value, g_of)


def _sigmoid(a: Arithmetic, node, s) -> Series:
    return _sigmoid_series(a, s[0], node.outputs[0])


def _softplus(a: Arithmetic, node, s) -> Series:
    """softplus' = sigmoid."""
    return a.chain(s[0], _sigmoid_series(a, s[0], a.call(special.overflow_free_sigmoid, s[0][0])), node.outputs[0])


def _algebraic(derivative: Callable) -> Callable:
    """A rule for y with y' = d(u) u' and d's series built from u's: integrate the series of d u'."""
    def rule(a: Arithmetic, node, s) -> Series:
        u = s[0]
        return a.integral(derivative(a, u, a.derivative(u)), node.outputs[0])
    return rule


def _square_plus(a: Arithmetic, u: Series, sign_square: float, constant: float) -> Series:
    """constant + sign_square * u^2, with its value computed once."""
    square = a.product(u, u)
    return [a.add(constant, a.mul(sign_square, c)) if k == 0 else a.mul(sign_square, c) for k, c in enumerate(square)]


def _over_sqrt(sign: float, sign_square: float, constant: float) -> Callable:
    """d = sign * u' / sqrt(constant + sign_square u^2) (arcsin, arccos, arcsinh, arccosh)."""
    def derivative(a: Arithmetic, u, du):
        inner = _square_plus(a, u, sign_square, constant)
        root = a.sqrt(inner, a.call(ps.sqrt, inner[0]))
        quotient = a.quotient(du, root, a.div(du[0], root[0]))
        return [a.mul(sign, c) for c in quotient]
    return derivative


def _over_square(sign_square: float) -> Callable:
    """d = u' / (1 + sign_square u^2) (arctan, arctanh)."""
    def derivative(a: Arithmetic, u, du):
        inner = _square_plus(a, u, sign_square, 1.0)
        return a.quotient(du, inner, a.div(du[0], inner[0]))
    return derivative


def _arctan2(a: Arithmetic, node, s) -> Series:
    """d atan2(p, q) = (q p' - p q') / (p^2 + q^2)."""
    p, q = s
    numerator = a.sub_series(a.product(q, a.derivative(p)), a.product(p, a.derivative(q)))
    denominator = a.add_series(a.product(p, p), a.product(q, q))
    return a.integral(a.quotient(numerator, denominator, a.div(numerator[0], denominator[0])), node.outputs[0])


def _erf_like(scale: float) -> Callable:
    """erf (scale 2/sqrt(pi)) and erfc (-2/sqrt(pi)): y' = scale exp(-u^2) u'."""
    def rule(a: Arithmetic, node, s) -> Series:
        minus_square = [a.neg(c) for c in a.product(s[0], s[0])]
        gauss = a.exp(minus_square, a.call(ps.exp, minus_square[0]))
        return a.chain(s[0], [a.mul(scale, c) for c in gauss], node.outputs[0])
    return rule


def erfinv_like_rule(scale: float) -> Callable:
    """erfinv (scale sqrt(pi)/2) and erfcinv (-sqrt(pi)/2): y' = scale exp(y^2) u'."""
    def rule(a: Arithmetic, node, s) -> Series:
        def g_of(y):
            square = Lazy(lambda m: a.cauchy(y, y, m))
            exp_square: list = []

            def exp_coefficient(m):  # exp(y^2) built as far as y is known: (exp w)' = exp(w) w'
                while len(exp_square) <= m:
                    i = len(exp_square)
                    exp_square.append(a.call(ps.exp, square[0]) if i == 0 else a.mul(1.0 / i, a.add(
                        *[a.mul(j, square[j], exp_square[i - j]) for j in range(1, i + 1)])))
                return a.mul(scale, exp_square[m])
            return Lazy(exp_coefficient)
        return a.self_chain(s[0], node.outputs[0], g_of)
    return rule


def erfcx_rule(a: Arithmetic, node, s) -> Series:
    """erfcx(u) = exp(u^2) erfc(u): y' = (2 u y - 2/sqrt(pi)) u'."""
    u = s[0]

    def g_of(y):
        return Lazy(lambda m: a.add(a.mul(2.0, a.cauchy(u, y, m)), -2 / math.sqrt(math.pi) if m == 0 else 0.0))
    return a.self_chain(u, node.outputs[0], g_of)


def _polygamma_rule(shift: Callable) -> Callable:
    """gammaln (d^j = polygamma(j-1)) and polygamma(n) (d^j = polygamma(n+j)), by composition."""
    def rule(a: Arithmetic, node, s) -> Series:
        u0 = s[0][0]
        derivatives = [a.call(special.scalar_polygamma(shift(node.op, j)), u0) for j in range(1, a.order + 1)]
        return a.compose(s[0], derivatives, node.outputs[0])
    return rule


def _abs(a: Arithmetic, node, s) -> Series:
    sign = a.call(ps.sign, s[0][0])
    return [None] + [a.mul(sign, c) for c in s[0][1:]]


def _switch(a: Arithmetic, node, s) -> Series:
    condition = a.var(s[0][0])
    return [None] + [a.select(condition, s[1][k], s[2][k]) for k in range(1, a.order + 1)]


def _extremum(a: Arithmetic, node, s) -> Series:
    """maximum/minimum: the chosen operand's coefficients, the mean of both at a tie (the kink
    rule of kinks.py); the other operand contributes nothing, NaN and inf included."""
    first = a.call(ps.eq, node.outputs[0], s[0][0])
    tie = a.call(ps.and_, first, a.call(ps.eq, node.outputs[0], s[1][0]))
    return [None] + [a.select(tie, a.mul(0.5, a.add(s[0][k], s[1][k])), a.select(first, s[0][k], s[1][k]))
                     for k in range(1, a.order + 1)]


def _clip(a: Arithmetic, node, s) -> Series:
    """clip(u, lo, hi): u's coefficients inside, lo's below, hi's above (PyTensor's masks)."""
    u, lo, hi = (x[0] for x in s)
    inside = a.call(ps.and_, a.call(ps.ge, u, lo), a.call(ps.le, u, hi))
    below, above = a.call(ps.lt, u, lo), a.call(ps.gt, u, hi)
    return [None] + [a.add(a.select(inside, s[0][k], 0.0), a.select(below, s[1][k], 0.0),
                           a.select(above, s[2][k], 0.0)) for k in range(1, a.order + 1)]


def _polynomial(a: Arithmetic, node, s) -> Series:
    """removable.Polynomial: its j-th derivative is the polynomial of the derived coefficients."""
    coefficients, derivatives = node.op.coefficients, []
    for j in range(1, a.order + 1):
        coefficients = tuple(k * c for k, c in enumerate(coefficients) if k > 0) or (0.0,)
        derivatives.append(a.call(removable.Polynomial(coefficients, node.op.name + "'" * j), s[0][0]))
    return a.compose(s[0], derivatives, node.outputs[0])


def _guard(a: Arithmetic, node, s) -> Series:
    """removable.Guard: the argument's coefficients where it passes through, else zeros."""
    near = a.call(ps.lt, a.call(ps.abs, s[0][0]), node.op.radius)
    passes = (lambda c: a.select(near, c, 0.0)) if node.op.inside else (lambda c: a.select(near, 0.0, c))
    return [None] + [passes(c) for c in s[0][1:]]


def _xlogx(a: Arithmetic, node, s) -> Series:
    """removable.XLogX: g(u) = u log u, g' = log(u) + 1, g^(j) = (-1)**j (j-2)! u**(1-j) for j >= 2."""
    u0 = s[0][0]
    derivatives = [a.add(a.call(ps.log, u0), 1.0)]
    for j in range(2, a.order + 1):
        derivatives.append(a.mul(float((-1) ** j * math.factorial(j - 2)), a.call(ps.pow, u0, float(1 - j))))
    return a.compose(s[0], derivatives, node.outputs[0])


def _zero_where_x_is_zero(g_series: Callable) -> Callable:
    """x * g(y), 0 where x == 0 (removable's xlogy, xlog1py and x / y**k): the product of
    the series of x and of g(y), each term x_j * g_(k-j) taken as 0 where x_j == 0, so a
    pole of g at y (y == 0 for log) gives no NaN where x does not vary and is 0."""
    def rule(a: Arithmetic, node, s) -> Series:
        x, g = s[0], g_series(a, node, s[1])
        def term(j, k):
            if is_number(x[j]):
                return 0.0 if float(x[j]) == 0 else a.mul(x[j], g[k - j])
            return a.select(a.call(ps.eq, x[j], 0.0), 0.0, a.mul(x[j], g[k - j]))
        return [None] + [a.add(*[term(j, k) for j in range(k + 1)]) for k in range(1, a.order + 1)]
    return rule


_SERIES_OF_G = {
    removable.XLogY: lambda a, node, y: a.log(y, a.call(ps.log, y[0])),
    removable.XLog1PY: lambda a, node, y: a.log([a.add(1.0, y[0])] + list(y[1:]), a.call(ps.log1p, y[0])),
    removable.XOverPower: lambda a, node, y: a.power(y, -float(node.op.k), a.call(ps.pow, y[0], -float(node.op.k))),
}


_SQRT_PI = math.sqrt(math.pi)
# One rule per op class, found through the op's class hierarchy. The rules of PyTensor's ops
# and of removable/special's are below; each family module of graph/ (normal, elementary,
# gamma, incomplete, bessel, hypergeometric) adds its own with ``register`` when imported.
RULES: dict[type, Callable] = {
    ps.Add: _add, ps.Sub: _sub, ps.Neg: _neg, ps.Mul: _mul, ps.TrueDiv: _div, ps.Reciprocal: _reciprocal,
    ps.Deg2Rad: _scaled(math.pi / 180), ps.Rad2Deg: _scaled(180 / math.pi),
    ps.Sqr: _sqr, ps.Pow: _pow, ps.Sqrt: _sqrt, ps.Exp: _exp, ps.Exp2: _exp2, ps.Expm1: _expm1,
    ps.Log: _log_scaled(1.0), ps.Log2: _log_scaled(1 / math.log(2)), ps.Log10: _log_scaled(1 / math.log(10)),
    ps.Log1p: _log1p, psm.Log1mexp: _log1mexp, ps.Sin: _sin, ps.Cos: _cos, ps.Tan: _tan,
    ps.Sinh: _sinh, ps.Cosh: _cosh, ps.Tanh: _tanh, psm.Sigmoid: _sigmoid, psm.Softplus: _softplus,
    ps.ArcTan: _algebraic(_over_square(1.0)), ps.ArcTanh: _algebraic(_over_square(-1.0)),
    ps.ArcSin: _algebraic(_over_sqrt(1.0, -1.0, 1.0)), ps.ArcCos: _algebraic(_over_sqrt(-1.0, -1.0, 1.0)),
    ps.ArcSinh: _algebraic(_over_sqrt(1.0, 1.0, 1.0)), ps.ArcCosh: _algebraic(_over_sqrt(1.0, 1.0, -1.0)),
    ps.ArcTan2: _arctan2, psm.Erf: _erf_like(2 / _SQRT_PI), psm.Erfc: _erf_like(-2 / _SQRT_PI),
    psm.Erfcx: erfcx_rule, special.ErfInv: erfinv_like_rule(_SQRT_PI / 2), psm.Erfinv: erfinv_like_rule(_SQRT_PI / 2),
    psm.Erfcinv: erfinv_like_rule(-_SQRT_PI / 2), special.Hypot: _hypot,
    psm.GammaLn: _polygamma_rule(lambda op, j: j - 1), special.PolyGamma: _polygamma_rule(lambda op, j: op.n + j),
    removable.Polynomial: _polynomial, removable.Guard: _guard, removable.XLogX: _xlogx,
    **{op: _zero_where_x_is_zero(g) for op, g in _SERIES_OF_G.items()},
    ps.Abs: _abs, ps.Switch: _switch, ps.Maximum: _extremum, ps.Minimum: _extremum, ps.Clip: _clip,
    ps.Composite: _composite, ps.Identity: _first, ps.Cast: _cast, ps.Second: _second,
    ps.Sign: _zero, ps.LogicalComparison: _zero, ps.BinaryBitOp: _zero, ps.Invert: _zero,
    ps.Floor: _zero, ps.Ceil: _zero, ps.Trunc: _zero, ps.RoundHalfToEven: _zero, ps.RoundHalfAwayFromZero: _zero,
}


def register(rules: dict[type, Callable]) -> None:
    """Add a family module's rules (each module calls this once, at its import); a class that
    already has a different rule is refused, so two modules never silently overrule each other."""
    clash = sorted(kind.__name__ for kind, rule in rules.items() if RULES.get(kind, rule) is not rule)
    if clash:
        raise ValueError(f"Taylor rules registered twice for {', '.join(clash)}")
    RULES.update(rules)
