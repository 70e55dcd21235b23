/* Regularized incomplete gamma and beta functions and their parameter derivatives.
 *
 * The body below is instantiated once per floating type by graph/incomplete.py, which
 * defines before each copy:
 *   EG_T        the type of arguments and results (double, float)
 *   EG_W        the work type: long double for double on the host (x86-64: 64-bit
 *               mantissa), double for double in CUDA (no long double there) or when
 *               EG_INCOMPLETE_NO_LONG_DOUBLE is defined, float for float
 *   EG_FN(n)    our function names for EG_T: n for double, n##f for float
 *   EG_WM(n)    C math functions of EG_W: n##l, n or n##f
 *   EG_WL(x)    literals of EG_W: x##L, x or x##f (every literal has a decimal point)
 *   EG_WEPS     the relative step at which a series or continued fraction stops
 *   EG_MAXIT    the most terms a series or continued fraction takes
 * and DEVICE (WITHIN_KERNEL in a kernel), EG_HEAVY (static inline; in CUDA static __noinline__:
 * every function and derivative of a kernel calls one copy of the long iterations, which keeps
 * NVRTC fast). Plain C99 math only: the text compiles as host C/C++ and as CUDA device code.
 * Expects <math.h>.
 *
 * Every function value comes with its first and second derivatives in the shape
 * parameters, as a "jet" (v, d/da, d/db, d2/da2, d2/dadb, d2/db2) carried through the
 * series or continued fraction (forward-mode differentiation of the algorithm: the
 * derivative of a convergent sum or fraction is the sum or fraction of the derivatives,
 * and both are iterated until every component has converged).
 *
 * gamma: P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a+1)...(a+n)) for x < a + 1
 *   (DLMF 8.7.1), else Q(a, x) = x^a e^-x / Gamma(a) / (x + 1 - a - 1(1-a)/(x + 3 - a - ...))
 *   (Legendre's continued fraction, DLMF 8.9.2); the other one is 1 minus it, and its
 *   derivatives are minus these. Both sums have terms of one sign in every component, so
 *   the derivative comes out to relative accuracy on either side. The log prefactor
 *   a log x - x - lgamma(a) is taken as -a (y - log1p y) + log(a / 2 pi) / 2 - stirlerr(a),
 *   y = (x - a) / a, for a >= 20 (no cancellation of terms of size a log a), y - log1p y
 *   by a series for |y| <= 1/2, and its a-derivative log x - psi(a) as
 *   log1p(y) + (log a - psi(a)).
 * beta: I_x(a, b) = x^a (1-x)^b / (a B(a, b)) / (1 + d1 / (1 + d2 / (1 + ...))) (DLMF
 *   8.17.22) for x < (a + 1) / (a + b + 2), else 1 - I_(1-x)(b, a).
 *
 * Domains and edges as scipy.special: NaN for a < 0, x < 0 (gamma), x outside [0, 1] or
 * b < 0 (beta), NaN arguments; P(a, 0) = 0, P(a, inf) = 1, P(0, x > 0) = 1, P(inf, x) = 0,
 * I_0 = 0, I_1 = 1, I_x(0, b) = 1, I_x(a, 0) = 0 (0 < x < 1). Derivatives in a shape
 * parameter are NaN where that parameter is 0 or infinite, 0 at x = 0 and x = inf (1).
 */

#define EG_J EG_FN(eg_jet)
#define EG_C(x) EG_WL(x)

typedef struct { EG_W v, a, b, aa, ab, bb; } EG_J;

static inline DEVICE EG_J EG_FN(eg_jconst)(EG_W c) {
    EG_J r = {c, EG_C(0.0), EG_C(0.0), EG_C(0.0), EG_C(0.0), EG_C(0.0)};
    return r;
}

static inline DEVICE EG_J EG_FN(eg_jadd)(EG_J x, EG_J y) {
    EG_J r = {x.v + y.v, x.a + y.a, x.b + y.b, x.aa + y.aa, x.ab + y.ab, x.bb + y.bb};
    return r;
}

static inline DEVICE EG_J EG_FN(eg_jscale)(EG_J x, EG_W c) {
    EG_J r = {x.v * c, x.a * c, x.b * c, x.aa * c, x.ab * c, x.bb * c};
    return r;
}

static inline DEVICE EG_J EG_FN(eg_jmul)(EG_J x, EG_J y) {
    EG_J r;
    r.v = x.v * y.v;
    r.a = x.a * y.v + x.v * y.a;
    r.b = x.b * y.v + x.v * y.b;
    r.aa = x.aa * y.v + EG_C(2.0) * x.a * y.a + x.v * y.aa;
    r.ab = x.ab * y.v + x.a * y.b + x.b * y.a + x.v * y.ab;
    r.bb = x.bb * y.v + EG_C(2.0) * x.b * y.b + x.v * y.bb;
    return r;
}

/* x / y: the quotient's derivatives from those of x and y. */
static inline DEVICE EG_J EG_FN(eg_jdiv)(EG_J x, EG_J y) {
    EG_J r;
    EG_W s = EG_C(1.0) / y.v;
    r.v = x.v * s;
    r.a = (x.a - r.v * y.a) * s;
    r.b = (x.b - r.v * y.b) * s;
    r.aa = (x.aa - EG_C(2.0) * r.a * y.a - r.v * y.aa) * s;
    r.ab = (x.ab - r.a * y.b - r.b * y.a - r.v * y.ab) * s;
    r.bb = (x.bb - EG_C(2.0) * r.b * y.b - r.v * y.bb) * s;
    return r;
}

/* exp of the jet l. */
static inline DEVICE EG_J EG_FN(eg_jexp)(EG_J l) {
    EG_J r;
    r.v = EG_WM(exp)(l.v);
    r.a = r.v * l.a;
    r.b = r.v * l.b;
    r.aa = r.v * (l.aa + l.a * l.a);
    r.ab = r.v * (l.ab + l.a * l.b);
    r.bb = r.v * (l.bb + l.b * l.b);
    return r;
}

/* Whether every component of the step d is within tol of the sum s: relative to the
 * component, or to 1e-4 of the value for a component that passes through 0. */
static inline DEVICE int EG_FN(eg_jwithin)(EG_J d, EG_J s, EG_W tol) {
    EG_W f = EG_C(1e-4) * EG_WM(fabs)(s.v);
    return EG_WM(fabs)(d.v) <= tol * EG_WM(fabs)(s.v)
        && EG_WM(fabs)(d.a) <= tol * (EG_WM(fabs)(s.a) + f)
        && EG_WM(fabs)(d.b) <= tol * (EG_WM(fabs)(s.b) + f)
        && EG_WM(fabs)(d.aa) <= tol * (EG_WM(fabs)(s.aa) + f)
        && EG_WM(fabs)(d.ab) <= tol * (EG_WM(fabs)(s.ab) + f)
        && EG_WM(fabs)(d.bb) <= tol * (EG_WM(fabs)(s.bb) + f);
}

/* Whether to stop after the step d of the sum s at iteration n: every component has
 * converged to EG_WEPS, or, past twice the iterations the value took (+ 10), to n EG_WEPS:
 * rounding noise that grows with n can keep a derivative's steps above EG_WEPS for ever,
 * and the value can converge early (a continued fraction that ends: integer a) while its
 * derivatives go on. *vn: the iteration at which the value converged (0: not yet). */
static inline DEVICE int EG_FN(eg_jstop)(EG_J d, EG_J s, int n, int *vn) {
    if (*vn == 0 && EG_WM(fabs)(d.v) <= EG_WEPS * EG_WM(fabs)(s.v)) *vn = n;
    return EG_FN(eg_jwithin)(d, s, EG_WEPS)
        || (*vn > 0 && n >= 2 * *vn + 10 && EG_FN(eg_jwithin)(d, s, EG_WEPS * (EG_W)n));
}

/* log a - psi(a) for a >= 20: 1/(2a) + sum_k B_2k / (2k a^2k). */
static inline DEVICE EG_W EG_FN(eg_lmpsi_big)(EG_W a) {
    EG_W w = EG_C(1.0) / (a * a);
    return EG_C(0.5) / a + w * (EG_C(1.0) / EG_C(12.0) - w * (EG_C(1.0) / EG_C(120.0) - w * (
        EG_C(1.0) / EG_C(252.0) - w * (EG_C(1.0) / EG_C(240.0) - w * (EG_C(1.0) / EG_C(132.0)
        - w * (EG_C(691.0) / EG_C(32760.0) - w / EG_C(12.0)))))));
}

/* psi(a) for a > 0: recurrence up to a >= 20, then the asymptotic series. */
static inline DEVICE EG_W EG_FN(eg_psiw)(EG_W a) {
    EG_W s = EG_C(0.0);
    for (; a < EG_C(20.0); a += EG_C(1.0)) s -= EG_C(1.0) / a;
    return s + EG_WM(log)(a) - EG_FN(eg_lmpsi_big)(a);
}

/* psi'(a) for a > 0: recurrence up to a >= 20, then 1/a + 1/(2a^2) + sum_k B_2k / a^(2k+1). */
static inline DEVICE EG_W EG_FN(eg_psi1w)(EG_W a) {
    EG_W s = EG_C(0.0), w;
    for (; a < EG_C(20.0); a += EG_C(1.0)) s += EG_C(1.0) / (a * a);
    w = EG_C(1.0) / (a * a);
    return s + EG_C(1.0) / a + EG_C(0.5) * w + w / a * (EG_C(1.0) / EG_C(6.0) - w * (
        EG_C(1.0) / EG_C(30.0) - w * (EG_C(1.0) / EG_C(42.0) - w * (EG_C(1.0) / EG_C(30.0)
        - w * (EG_C(5.0) / EG_C(66.0) - w * (EG_C(691.0) / EG_C(2730.0) - w * EG_C(7.0) / EG_C(6.0)))))));
}

/* lgamma(a) - ((a - 1/2) log a - a + log(2 pi) / 2) for a >= 20. */
static inline DEVICE EG_W EG_FN(eg_stirlerr_big)(EG_W a) {
    EG_W w = EG_C(1.0) / (a * a);
    return (EG_C(1.0) / EG_C(12.0) - w * (EG_C(1.0) / EG_C(360.0) - w * (EG_C(1.0) / EG_C(1260.0)
        - w * (EG_C(1.0) / EG_C(1680.0) - w * (EG_C(1.0) / EG_C(1188.0) - w * (EG_C(691.0) / EG_C(360360.0)
        - w / EG_C(156.0))))))) / a;
}

/* y - log1p(y) for |y| <= 1/2: with u = y / (2 + y), u y - 2 (u^3/3 + u^5/5 + ...). */
static inline DEVICE EG_W EG_FN(eg_ymlog1p)(EG_W y) {
    EG_W u = y / (EG_C(2.0) + y), u2 = u * u, p = u * u2, s = EG_C(0.0);
    int k;
    for (k = 3; k < 40; k += 2, p *= u2) {
        EG_W t = p / (EG_W)k;
        s += t;
        if (EG_WM(fabs)(t) <= EG_WEPS * EG_WM(fabs)(s)) break;
    }
    return u * y - EG_C(2.0) * s;
}

/* Jet in a of log(x^a e^-x / Gamma(a + lower)), x > 0 finite, a > 0 finite. */
static inline DEVICE EG_J EG_FN(eg_gamma_logprefix)(EG_W a, EG_W x, int lower) {
    EG_J l = EG_FN(eg_jconst)(EG_C(0.0));
    EG_W y = (x - a) / a, s = lower ? a + EG_C(1.0) : a;
    if (a >= EG_C(20.0)) { /* log(x/a) once: no large terms cancel */
        EG_W small = EG_WM(fabs)(y) <= EG_C(0.5), lxa = small ? EG_WM(log1p)(y) : EG_WM(log)(x / a);
        l.v = -a * (small ? EG_FN(eg_ymlog1p)(y) : y - lxa)
            + EG_C(0.5) * EG_WM(log)(a / EG_C(6.283185307179586476925286766559)) - EG_FN(eg_stirlerr_big)(a);
        l.a = lxa + EG_FN(eg_lmpsi_big)(a);
        l.aa = -EG_FN(eg_psi1w)(a);
        if (lower) { /* Gamma(a + 1) = a Gamma(a) */
            l.v -= EG_WM(log)(a);
            l.a -= EG_C(1.0) / a;
            l.aa += EG_C(1.0) / (a * a);
        }
    } else { /* psi(a + 1) directly: log x - psi(a) - 1/a cancels for small a */
        l.v = a * EG_WM(log)(x) - x - EG_WM(lgamma)(s);
        l.a = EG_WM(log)(x) - EG_FN(eg_psiw)(s);
        l.aa = -EG_FN(eg_psi1w)(s);
    }
    return l;
}

/* lgamma(1 + a) for 0 <= a <= 1/2 by its Taylor series -gamma a + sum_k zeta(k) (-a)^k / k
 * (lgamma(1 + a) from the rounded 1 + a has only the absolute accuracy of 1). */
static inline DEVICE EG_W EG_FN(eg_lgamma1p_small)(EG_W a) {
    const EG_W c[63] = { /* zeta(k) / k, k = 2 .. 64 */
        EG_C(0.822467033424113218236), EG_C(0.400685634386531428467), EG_C(0.270580808427784547879),
        EG_C(0.207385551028673985266), EG_C(0.169557176997408189952), EG_C(0.14404989676884611812),
        EG_C(0.125509669524743042422), EG_C(0.111334265869564690491), EG_C(0.100099457512781808534),
        EG_C(0.0909540171458290422326), EG_C(0.0833538405461090040249), EG_C(0.0769325164113521914728),
        EG_C(0.0714329462953613360592), EG_C(0.0666687058824204680329), EG_C(0.062500955141213040742),
        EG_C(0.058823978658684582339), EG_C(0.0555557676274036111022), EG_C(0.0526316793796166607336),
        EG_C(0.0500000476981016936398), EG_C(0.0476190703301422279908), EG_C(0.0454545562932046694424),
        EG_C(0.0434782660530402593614), EG_C(0.0416666691503412104691), EG_C(0.0400000011921401405861),
        EG_C(0.0384615390346751857063), EG_C(0.0370370373129893255495), EG_C(0.0357142858473333580282),
        EG_C(0.0344827586849193008108), EG_C(0.0333333333643775810807), EG_C(0.0322580645311504163388),
        EG_C(0.0312500000072759744802), EG_C(0.0303030303065580455069), EG_C(0.0294117647075943447317),
        EG_C(0.0285714285722601100127), EG_C(0.0277777777781819978303), EG_C(0.0270270270272236745901),
        EG_C(0.0263157894737799468302), EG_C(0.0256410256410722817859), EG_C(0.0250000000000227373696),
        EG_C(0.0243902439024501157897), EG_C(0.023809523809529223183), EG_C(0.023255813953491015973),
        EG_C(0.0227272727272740191686), EG_C(0.0222222222222228538158), EG_C(0.0217391304347829176273),
        EG_C(0.0212765957446810022431), EG_C(0.0208333333333334073482), EG_C(0.0204081632653061587012),
        EG_C(0.0200000000000000177636), EG_C(0.0196078431372549106684), EG_C(0.0192307692307692350393),
        EG_C(0.0188679245283018888872), EG_C(0.0185185185185185195465), EG_C(0.0181818181818181823228),
        EG_C(0.0178571428571428573907), EG_C(0.0175438596491228071393), EG_C(0.017241379310344827646),
        EG_C(0.0169491525423728813853), EG_C(0.0166666666666666666811), EG_C(0.0163934426229508196792),
        EG_C(0.0161290322580645161325), EG_C(0.0158730158730158730176), EG_C(0.0156250000000000000008)};
    EG_W r = c[62];
    int k;
    for (k = 61; k >= 0; --k) r = r * -a + c[k];
    return -EG_C(0.57721566490153286060651209008240243) * a + r * a * a;
}

/* Q(a, x) for 0 < a < 1/2, 0 < x < a + 1, to relative accuracy where 1 - P would lose it
 * (Q ~ a E1(x) is small): with u = a log x - lgamma(1 + a) and T = sum_(n>=1) (-x)^n / ((a+n) n!),
 * P = e^u (1 + a T) (DLMF 8.7.1), so Q = -expm1(u) - e^u a T. */
static inline DEVICE EG_W EG_FN(eg_gammaq_small)(EG_W a, EG_W x) {
    EG_W u = a * EG_WM(log)(x) - EG_FN(eg_lgamma1p_small)(a), p = EG_C(1.0), t = EG_C(0.0);
    int n;
    for (n = 1; n < EG_MAXIT; ++n) {
        EG_W term;
        p *= -x / (EG_W)n;
        term = p / (a + (EG_W)n);
        t += term;
        if (EG_WM(fabs)(term) <= EG_WEPS * EG_WM(fabs)(t)) break;
    }
    return -EG_WM(expm1)(u) - EG_WM(exp)(u) * a * t;
}

/* Jet in a of P(a, x) by its series (upper = 0), or of Q(a, x) by the continued
 * fraction (upper = 1), whichever converges well: x < a + 1 takes the series. */
static inline DEVICE EG_J EG_FN(eg_gamma_jet)(EG_W a, EG_W x, int *upper) {
    EG_J l, t, s, va = EG_FN(eg_jconst)(a);
    int n, vn = 0;
    va.a = EG_C(1.0);
    *upper = !(x < a + EG_C(1.0));
    l = EG_FN(eg_gamma_logprefix)(a, x, !*upper);
    if (!*upper) {
        s = t = EG_FN(eg_jconst)(EG_C(1.0));
        for (n = 1; n < EG_MAXIT; ++n) { /* t_n = t_(n-1) x / (a + n) */
            va.v = a + (EG_W)n;
            t = EG_FN(eg_jscale)(EG_FN(eg_jdiv)(t, va), x);
            s = EG_FN(eg_jadd)(s, t);
            if (EG_FN(eg_jstop)(t, s, n, &vn)) break;
        }
    } else { /* convergents A_n / B_n of b_0 + K(a_n / b_n); the fraction's value is B / A */
        EG_J a1 = EG_FN(eg_jconst)(EG_C(1.0)), b1 = EG_FN(eg_jconst)(EG_C(0.0));
        EG_J a0 = EG_FN(eg_jconst)(x + EG_C(1.0) - a), b0 = EG_FN(eg_jconst)(EG_C(1.0)), bn, an;
        a0.a = -EG_C(1.0);
        s = EG_FN(eg_jdiv)(b0, a0);
        for (n = 1; n < EG_MAXIT; ++n) {
            EG_J cn = EG_FN(eg_jconst)((EG_W)n * (a - (EG_W)n)), dn = EG_FN(eg_jconst)(x + (EG_W)(2 * n + 1) - a);
            EG_W scale;
            cn.a = (EG_W)n;
            dn.a = -EG_C(1.0);
            an = EG_FN(eg_jadd)(EG_FN(eg_jmul)(dn, a0), EG_FN(eg_jmul)(cn, a1));
            bn = EG_FN(eg_jadd)(EG_FN(eg_jmul)(dn, b0), EG_FN(eg_jmul)(cn, b1));
            scale = EG_C(1.0) / an.v; /* keep A_n = 1: the ratios are what matter */
            a1 = EG_FN(eg_jscale)(a0, scale); b1 = EG_FN(eg_jscale)(b0, scale);
            a0 = EG_FN(eg_jscale)(an, scale); b0 = EG_FN(eg_jscale)(bn, scale);
            t = s;
            s = EG_FN(eg_jdiv)(b0, a0);
            t.v = s.v - t.v; t.a = s.a - t.a; t.aa = s.aa - t.aa;
            if (EG_FN(eg_jstop)(t, s, n, &vn)) break;
        }
    }
    return EG_FN(eg_jmul)(EG_FN(eg_jexp)(l), s);
}

/* Edge values of P(a, x) (what = 0), dP/da (1) and d2P/da2 (2); returns 1 when (a, x) is one. */
static inline DEVICE int EG_FN(eg_gamma_edge)(EG_W a, EG_W x, int what, EG_W *r) {
    const EG_W nan = (EG_W)NAN;
    if (isnan(a) || isnan(x) || a < EG_C(0.0) || x < EG_C(0.0) || (isinf(a) && isinf(x))) *r = nan;
    else if (what > 0 && (a == EG_C(0.0) || isinf(a))) *r = nan;
    else if (a == EG_C(0.0)) *r = x > EG_C(0.0) ? EG_C(1.0) : nan;
    else if (x == EG_C(0.0)) *r = EG_C(0.0);
    else if (isinf(x)) *r = what ? EG_C(0.0) : EG_C(1.0);
    else if (isinf(a)) *r = EG_C(0.0);
    else return 0;
    return 1;
}

/* P(a, x) (what = 0, sign = 1), Q (0, -1), dP/da (1, 1), d2P/da2 (2, 1). */
EG_HEAVY DEVICE EG_T EG_FN(eg_gammainc_part)(EG_T a_, EG_T x_, int what, int sign) {
    EG_W a = (EG_W)a_, x = (EG_W)x_, r;
    EG_J j;
    int upper;
    if (EG_FN(eg_gamma_edge)(a, x, what, &r)) return (EG_T)(sign < 0 && what == 0 && !isnan(r) ? EG_C(1.0) - r : r);
    if (what == 0 && sign < 0 && a < EG_C(0.5) && x < a + EG_C(1.0)) return (EG_T)EG_FN(eg_gammaq_small)(a, x);
    j = EG_FN(eg_gamma_jet)(a, x, &upper);
    if (what == 1) return (EG_T)(upper ? -j.a : j.a);
    if (what == 2) return (EG_T)(upper ? -j.aa : j.aa);
    return (EG_T)((upper ? -1 : 1) * sign > 0 ? j.v : EG_C(1.0) - j.v);
}

static inline DEVICE EG_T EG_FN(eg_gammainc)(EG_T a, EG_T x) { return EG_FN(eg_gammainc_part)(a, x, 0, 1); }
static inline DEVICE EG_T EG_FN(eg_gammaincc)(EG_T a, EG_T x) { return EG_FN(eg_gammainc_part)(a, x, 0, -1); }
static inline DEVICE EG_T EG_FN(eg_gammainc_da)(EG_T a, EG_T x) { return EG_FN(eg_gammainc_part)(a, x, 1, 1); }
static inline DEVICE EG_T EG_FN(eg_gammainc_daa)(EG_T a, EG_T x) { return EG_FN(eg_gammainc_part)(a, x, 2, 1); }

/* gamma(a) P(a, x), gamma(a) Q(a, x) (PyTensor's gammal, gammau) and Q(k/2, x/2) (SciPy's chdtrc). */
static inline DEVICE EG_T EG_FN(eg_gammal)(EG_T a, EG_T x) {
    return (EG_T)(EG_WM(tgamma)((EG_W)a) * (EG_W)EG_FN(eg_gammainc)(a, x));
}
static inline DEVICE EG_T EG_FN(eg_gammau)(EG_T a, EG_T x) {
    return (EG_T)(EG_WM(tgamma)((EG_W)a) * (EG_W)EG_FN(eg_gammaincc)(a, x));
}
static inline DEVICE EG_T EG_FN(eg_chi2sf)(EG_T k, EG_T x) {
    return EG_FN(eg_gammaincc)(k * (EG_T)EG_C(0.5), x * (EG_T)EG_C(0.5));
}

/* dP/dx = x^(a-1) e^-x / Gamma(a), the gamma density; 0 at a = 0 (P = 1 there). */
static inline DEVICE EG_T EG_FN(eg_gammainc_dx)(EG_T a_, EG_T x_) {
    EG_W a = (EG_W)a_, x = (EG_W)x_;
    if (isnan(a) || isnan(x) || a < EG_C(0.0) || x < EG_C(0.0) || (isinf(a) && isinf(x))) return (EG_T)NAN;
    if (a == EG_C(0.0) || isinf(x) || isinf(a)) return (EG_T)EG_C(0.0);
    if (x == EG_C(0.0)) return (EG_T)(a < EG_C(1.0) ? (EG_W)INFINITY : a == EG_C(1.0) ? EG_C(1.0) : EG_C(0.0));
    return (EG_T)(EG_WM(exp)(EG_FN(eg_gamma_logprefix)(a, x, 0).v) / x);
}

/* Jet in (a, b) of I_x(a, b) by the continued fraction; lx = log x, ly = log(1 - x), x < 1. */
static inline DEVICE EG_J EG_FN(eg_beta_cf)(EG_W a, EG_W b, EG_W x, EG_W lx, EG_W ly) {
    EG_J l, s, t, a1, b1, a0, b0, ja = EG_FN(eg_jconst)(a), jb = EG_FN(eg_jconst)(b);
    /* psi(a + 1) = psi(a) + 1/a: the prefix's 1/a cancels it for small a */
    EG_W pa1 = EG_FN(eg_psiw)(a + EG_C(1.0)), pb = EG_FN(eg_psiw)(b), pab = EG_FN(eg_psiw)(a + b);
    EG_W qa1 = EG_FN(eg_psi1w)(a + EG_C(1.0)), qb = EG_FN(eg_psi1w)(b), qab = EG_FN(eg_psi1w)(a + b);
    int n, vn = 0;
    ja.a = EG_C(1.0);
    jb.b = EG_C(1.0);
    /* log(x^a (1-x)^b / (a B(a, b))) and its derivatives */
    l.v = a * lx + b * ly - EG_WM(log)(a) - EG_WM(lgamma)(a) - EG_WM(lgamma)(b) + EG_WM(lgamma)(a + b);
    l.a = lx - pa1 + pab;
    l.b = ly - pb + pab;
    l.aa = qab - qa1;
    l.ab = qab;
    l.bb = qab - qb;
    a1 = b0 = a0 = EG_FN(eg_jconst)(EG_C(1.0));
    b1 = EG_FN(eg_jconst)(EG_C(0.0));
    s = EG_FN(eg_jconst)(EG_C(1.0));
    for (n = 1; n < EG_MAXIT; ++n) { /* d_n, then A_n = A_(n-1) + d_n A_(n-2), B_n alike */
        EG_W m = (EG_W)(n / 2), scale;
        EG_J d, an, bn, u, w;
        if (n & 1) { /* d = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)) */
            u = EG_FN(eg_jmul)(EG_FN(eg_jadd)(ja, EG_FN(eg_jconst)(m)),
                               EG_FN(eg_jadd)(EG_FN(eg_jadd)(ja, jb), EG_FN(eg_jconst)(m)));
            w = EG_FN(eg_jmul)(EG_FN(eg_jadd)(ja, EG_FN(eg_jconst)(EG_C(2.0) * m)),
                               EG_FN(eg_jadd)(ja, EG_FN(eg_jconst)(EG_C(2.0) * m + EG_C(1.0))));
            d = EG_FN(eg_jscale)(EG_FN(eg_jdiv)(u, w), -x);
        } else { /* d = m (b - m) x / ((a + 2m - 1)(a + 2m)) */
            u = EG_FN(eg_jadd)(jb, EG_FN(eg_jconst)(-m));
            w = EG_FN(eg_jmul)(EG_FN(eg_jadd)(ja, EG_FN(eg_jconst)(EG_C(2.0) * m - EG_C(1.0))),
                               EG_FN(eg_jadd)(ja, EG_FN(eg_jconst)(EG_C(2.0) * m)));
            d = EG_FN(eg_jscale)(EG_FN(eg_jdiv)(u, w), m * x);
        }
        an = EG_FN(eg_jadd)(a0, EG_FN(eg_jmul)(d, a1));
        bn = EG_FN(eg_jadd)(b0, EG_FN(eg_jmul)(d, b1));
        scale = EG_C(1.0) / an.v;
        a1 = EG_FN(eg_jscale)(a0, scale); b1 = EG_FN(eg_jscale)(b0, scale);
        a0 = EG_FN(eg_jscale)(an, scale); b0 = EG_FN(eg_jscale)(bn, scale);
        t = s;
        s = EG_FN(eg_jdiv)(b0, a0);
        t.v = s.v - t.v; t.a = s.a - t.a; t.b = s.b - t.b;
        t.aa = s.aa - t.aa; t.ab = s.ab - t.ab; t.bb = s.bb - t.bb;
        if (n > 2 && EG_FN(eg_jstop)(t, s, n, &vn)) break;
    }
    return EG_FN(eg_jmul)(EG_FN(eg_jexp)(l), s);
}

/* Jet of I_x(a, b) for 0 < x < 1, 0 < a, b < inf; *flip: it is the jet of 1 - I. */
static inline DEVICE EG_J EG_FN(eg_beta_jet)(EG_W a, EG_W b, EG_W x, int *flip) {
    EG_W lx = EG_WM(log)(x), ly = EG_WM(log1p)(-x);
    EG_J j, r;
    *flip = !(x < (a + EG_C(1.0)) / (a + b + EG_C(2.0)));
    if (!*flip) return EG_FN(eg_beta_cf)(a, b, x, lx, ly);
    j = EG_FN(eg_beta_cf)(b, a, EG_C(1.0) - x, ly, lx);
    r = j; /* swap the roles of a and b */
    r.a = j.b; r.b = j.a; r.aa = j.bb; r.bb = j.aa;
    return r;
}

/* Edges of I_x(a, b) (what = 0) and of its derivatives (what > 0); 1 when (a, b, x) is one. */
static inline DEVICE int EG_FN(eg_beta_edge)(EG_W a, EG_W b, EG_W x, int what, EG_W *r) {
    const EG_W nan = (EG_W)NAN;
    if (isnan(a) || isnan(b) || isnan(x) || a < EG_C(0.0) || b < EG_C(0.0) || x < EG_C(0.0) || x > EG_C(1.0)
        || (a == EG_C(0.0) && b == EG_C(0.0)) || (isinf(a) && isinf(b))) *r = nan;
    else if (what > 0 && (a == EG_C(0.0) || b == EG_C(0.0) || isinf(a) || isinf(b))) *r = nan;
    else if (x == EG_C(0.0)) *r = EG_C(0.0);
    else if (x == EG_C(1.0)) *r = what ? EG_C(0.0) : EG_C(1.0);
    else if (a == EG_C(0.0) || isinf(b)) *r = EG_C(1.0);
    else if (b == EG_C(0.0) || isinf(a)) *r = EG_C(0.0);
    else return 0;
    return 1;
}

/* I_x(a, b) (what = 0) and its derivatives: 1 d/da, 2 d/db, 3 d2/da2, 4 d2/dadb, 5 d2/db2. */
EG_HEAVY DEVICE EG_T EG_FN(eg_betainc_part)(EG_T a_, EG_T b_, EG_T x_, int what) {
    EG_W a = (EG_W)a_, b = (EG_W)b_, x = (EG_W)x_, r;
    EG_J j;
    int flip;
    if (EG_FN(eg_beta_edge)(a, b, x, what, &r)) return (EG_T)r;
    j = EG_FN(eg_beta_jet)(a, b, x, &flip);
    r = what == 0 ? j.v : what == 1 ? j.a : what == 2 ? j.b : what == 3 ? j.aa : what == 4 ? j.ab : j.bb;
    return (EG_T)(!flip ? r : what == 0 ? EG_C(1.0) - r : -r);
}

static inline DEVICE EG_T EG_FN(eg_betainc)(EG_T a, EG_T b, EG_T x) { return EG_FN(eg_betainc_part)(a, b, x, 0); }
static inline DEVICE EG_T EG_FN(eg_betainc_da)(EG_T a, EG_T b, EG_T x) { return EG_FN(eg_betainc_part)(a, b, x, 1); }
static inline DEVICE EG_T EG_FN(eg_betainc_db)(EG_T a, EG_T b, EG_T x) { return EG_FN(eg_betainc_part)(a, b, x, 2); }
static inline DEVICE EG_T EG_FN(eg_betainc_daa)(EG_T a, EG_T b, EG_T x) { return EG_FN(eg_betainc_part)(a, b, x, 3); }
static inline DEVICE EG_T EG_FN(eg_betainc_dab)(EG_T a, EG_T b, EG_T x) { return EG_FN(eg_betainc_part)(a, b, x, 4); }
static inline DEVICE EG_T EG_FN(eg_betainc_dbb)(EG_T a, EG_T b, EG_T x) { return EG_FN(eg_betainc_part)(a, b, x, 5); }

/* dI/dx = x^(a-1) (1-x)^(b-1) / B(a, b), the beta density. */
static inline DEVICE EG_T EG_FN(eg_betainc_dx)(EG_T a_, EG_T b_, EG_T x_) {
    EG_W a = (EG_W)a_, b = (EG_W)b_, x = (EG_W)x_, l;
    if (isnan(a) || isnan(b) || isnan(x) || a < EG_C(0.0) || b < EG_C(0.0) || x < EG_C(0.0) || x > EG_C(1.0)
        || (a == EG_C(0.0) && b == EG_C(0.0)) || (isinf(a) && isinf(b))) return (EG_T)NAN;
    if (a == EG_C(0.0) || b == EG_C(0.0) || isinf(a) || isinf(b)) return (EG_T)EG_C(0.0);
    if (x == EG_C(0.0) || x == EG_C(1.0)) {
        EG_W p = x == EG_C(0.0) ? a : b;
        if (p != EG_C(1.0)) return (EG_T)(p < EG_C(1.0) ? (EG_W)INFINITY : EG_C(0.0));
        return (EG_T)EG_WM(exp)(EG_WM(lgamma)(a + b) - EG_WM(lgamma)(a) - EG_WM(lgamma)(b));
    }
    l = (a - EG_C(1.0)) * EG_WM(log)(x) + (b - EG_C(1.0)) * EG_WM(log1p)(-x);
    return (EG_T)EG_WM(exp)(l + EG_WM(lgamma)(a + b) - EG_WM(lgamma)(a) - EG_WM(lgamma)(b));
}

#undef EG_J
#undef EG_C
