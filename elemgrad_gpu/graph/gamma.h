/* The gamma family for elemgrad_gpu, in double (eg_NAME) and float (eg_NAMEf).
 *
 * Plain C99 math, compiled as host C and as CUDA device code like special.h, which must
 * come first (eg_polygamma, eg_ipow, DEVICE, EG_PI). Each float version computes in float.
 *
 * eg_gamma_k(k, x), eg_rgamma_k(k, x), eg_factorial_k(k, x): the k-th derivative
 *   (0 <= k <= EG_KMAX, NaN beyond) of gamma, 1/gamma and factorial (gamma(x + 1), 0 for
 *   x < 0, as scipy.special.factorial). Derivatives: gamma(x) times the complete Bell
 *   polynomial of digamma and its derivatives (d^k exp(g) = exp(g) Y_k(g', .., g^(k))).
 *   1/gamma for x < 1/2 is sin(pi x)/pi * gamma(1 - x) (Leibniz over both factors): entire,
 *   0 at the poles of gamma, its derivatives right there ((-1)^n n! at x = -n).
 * eg_gammasgn(x): the sign of gamma, as scipy.special.gammasgn (1 at +0, -1 at -0, NaN at
 *   the negative integers and -inf).
 * eg_lgdiff(x, d) = lgamma(x + d) - lgamma(x), eg_psidiff(x, d) = digamma(x + d) - digamma(x)
 *   for x, x + d > 0, without cancellation: both shifted up to >= 10 by the recurrence, then
 *   the difference of Stirling's series taken term by term (log1p(d / x), and
 *   u^2k - v^2k = (u - v)(u + v) sum_i u^2i v^2(k-1-i)).
 * eg_betaln(a, b) = lgamma(min) - eg_lgdiff(max, min); eg_beta, eg_poch, eg_comb from the
 *   gamma ratio (small arguments) or exp of the log forms. Poles, signs, negative
 *   arguments, NaN and inf as scipy.special's beta, betaln, poch and comb (exact=False).
 * eg_multigammaln_k(k, d, a): scipy.special.multigammaln(a, d) (k = 0) and its k-th
 *   derivative, sum_j polygamma(k - 1, a - j/2); NaN where a <= (d - 1)/2 (SciPy raises).
 */
#ifndef EG_GAMMA_H
#define EG_GAMMA_H

#define EG_KMAX 16 /* the largest derivative order of eg_gamma_k and its kin */

#define EG_DEFINE_GAMMA(T, F, L, GMAX)                                                        \
                                                                                           \
/* y[m] = Y_m(d[0], .., d[m-1]) for m <= k: the complete Bell polynomials, */              \
/* Y_(m+1) = sum_i C(m, i) d[i] Y_(m-i). */                                                \
static inline DEVICE void F(eg_bell)(int k, const T *d, T *y) {                            \
    int m, i;                                                                              \
    y[0] = L(1.0);                                                                         \
    for (m = 0; m < k; ++m) {                                                              \
        T s = L(0.0), c = L(1.0);                                                          \
        for (i = 0; i <= m; ++i) {                                                         \
            s += c * d[i] * y[m - i];                                                      \
            c = c * (T)(m - i) / (T)(i + 1);                                               \
        }                                                                                  \
        y[m + 1] = s;                                                                      \
    }                                                                                      \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_gamma_k)(int k, T x) {                                         \
    T d[EG_KMAX], y[EG_KMAX + 1];                                                          \
    int i;                                                                                 \
    if (k < 0 || k > EG_KMAX) return (T)NAN;                                               \
    if (k == 0) return F(tgamma)(x);                                                       \
    for (i = 0; i < k; ++i) d[i] = F(eg_polygamma)(i, x);                                  \
    F(eg_bell)(k, d, y);                                                                   \
    return F(tgamma)(x) * y[k];                                                            \
}                                                                                          \
                                                                                           \
/* sin(pi x) and cos(pi x), from the exact x - round(x). */                                \
static inline DEVICE void F(eg_sincospi)(T x, T *s, T *c) {                                \
    T r = F(round)(x), h = x - r;                                                          \
    T sign = F(fmod)(r, L(2.0)) != L(0.0) ? L(-1.0) : L(1.0);                              \
    *s = sign * F(sin)(EG_PI(L) * h);                                                      \
    *c = sign * F(cos)(EG_PI(L) * h);                                                      \
}                                                                                          \
                                                                                           \
/* d^k/dx^k of 1/gamma(x) for x < 1/2: sin(pi x)/pi * gamma(1 - x), by Leibniz. */         \
static inline DEVICE T F(eg_rgamma_reflected)(int k, T x) {                                \
    T d[EG_KMAX], y[EG_KMAX + 1], s, c, g = F(tgamma)(L(1.0) - x), r = L(0.0);             \
    T binom = L(1.0), pij = L(1.0) / EG_PI(L);                                             \
    int i, j;                                                                              \
    F(eg_sincospi)(x, &s, &c);                                                             \
    if (k == 0) return s == L(0.0) ? (x == L(0.0) ? x : L(0.0)) : s * g / EG_PI(L);        \
    for (i = 0; i < k; ++i) d[i] = F(eg_polygamma)(i, L(1.0) - x);                         \
    F(eg_bell)(k, d, y);                                                                   \
    for (j = 0; j <= k; ++j) { /* (sin(pi x)/pi)^(j) = pi^(j-1) sin(pi x + j pi/2) */      \
        T sj = (j & 1) ? c : s;                                                            \
        if (j & 2) sj = -sj;                                                               \
        if (sj != L(0.0)) /* gamma(1 - x)^(k-j) = (-1)^(k-j) gamma(1 - x) Y_(k-j) */        \
            r += binom * pij * sj * (((k - j) & 1) ? -g : g) * y[k - j];                   \
        binom = binom * (T)(k - j) / (T)(j + 1);                                           \
        pij *= EG_PI(L);                                                                   \
    }                                                                                      \
    return r;                                                                              \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_rgamma_k)(int k, T x) {                                        \
    T d[EG_KMAX], y[EG_KMAX + 1];                                                          \
    int i;                                                                                 \
    if (k < 0 || k > EG_KMAX || x != x) return (T)NAN;                                     \
    if (F(fabs)(x) == (T)INFINITY) return k == 0 ? L(0.0) : (x > L(0.0) ? L(0.0) : (T)NAN); \
    if (x < L(0.5)) return F(eg_rgamma_reflected)(k, x);                                   \
    if (x > GMAX) return L(0.0); /* gamma overflows: 1/gamma and its derivatives underflow */ \
    if (k == 0) return L(1.0) / F(tgamma)(x);                                              \
    for (i = 0; i < k; ++i) d[i] = -F(eg_polygamma)(i, x); /* (log 1/gamma)' = -digamma */ \
    F(eg_bell)(k, d, y);                                                                   \
    return y[k] / F(tgamma)(x);                                                            \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_factorial_k)(int k, T x) {                                     \
    return x < L(0.0) ? L(0.0) : F(eg_gamma_k)(k, x + L(1.0));                             \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_gammasgn)(T x) {                                               \
    if (x != x || x > L(0.0)) return x != x ? x : L(1.0);                                  \
    if (x == L(0.0)) return F(copysign)(L(1.0), x);                                        \
    if (x == F(floor)(x)) return (T)NAN; /* a pole, or -inf */                             \
    return F(fmod)(F(floor)(x), L(2.0)) == L(0.0) ? L(1.0) : L(-1.0);                      \
}                                                                                          \
                                                                                           \
/* lgamma(x) - ((x - 1/2) log x - x + log(2 pi)/2) for x >= 10 (Stirling's series). */     \
static inline DEVICE T F(eg_stirling)(T x) {                                               \
    T u = L(1.0) / x, w = u * u; /* not 1 / (x x): no overflow for huge x */               \
    return (L(8.3333333333333333333e-2) + w * (L(-2.7777777777777777778e-3)                \
            + w * (L(7.9365079365079365079e-4) + w * (L(-5.9523809523809523810e-4)         \
            + w * (L(8.4175084175084175084e-4) + w * (L(-1.9175269175269175269e-3)         \
            + w * (L(6.4102564102564102564e-3) + w * L(-2.9550653594771241830e-2)))))))) * u; \
}                                                                                          \
                                                                                           \
/* log((x + d) / x) for x, x + d > 0. */                                                   \
static inline DEVICE T F(eg_logratio)(T x, T d) {                                          \
    T q = d / x;                                                                           \
    return q > L(-0.5) ? F(log1p)(q) : F(log)((x + d) / x); /* no difference of two logs */ \
}                                                                                          \
                                                                                           \
/* lgamma(x + d) - lgamma(x) for x > 0, x + d > 0. */                                      \
static inline DEVICE T F(eg_lgdiff)(T x, T d) {                                            \
    T s = L(0.0), y = x;                                                                   \
    if (d == L(0.0)) return L(0.0);                                                        \
    for (; y < L(10.0) || y + d < L(10.0); y += L(1.0)) /* lgamma(y) = lgamma(y+1) - log y */ \
        s += F(eg_logratio)(y, d);                                                         \
    return (y - L(0.5)) * F(eg_logratio)(y, d) + d * (F(log)(y + d) - L(1.0))              \
           + (F(eg_stirling)(y + d) - F(eg_stirling)(y)) - s;                              \
}                                                                                          \
                                                                                           \
/* digamma(x + d) - digamma(x): for x, x + d > 0 without cancellation, else directly. */   \
static inline DEVICE T F(eg_psidiff)(T x, T d) {                                           \
    const T c[7] = { /* B_2k / (2k) */                                                     \
        L(8.3333333333333333333e-2), L(-8.3333333333333333333e-3),                         \
        L(3.9682539682539682540e-3), L(-4.1666666666666666667e-3),                         \
        L(7.5757575757575757576e-3), L(-2.1092796092796092796e-2),                         \
        L(8.3333333333333333333e-2)};                                                      \
    T s = L(0.0), y = x, u, v, w, z, zk, dk, delta, series = L(0.0);                       \
    int k;                                                                                 \
    if (!(x > L(0.0) && x + d > L(0.0)) || F(fabs)(x + d) == (T)INFINITY || x == (T)INFINITY) \
        return F(eg_polygamma)(0, x + d) - F(eg_polygamma)(0, x);                          \
    if (d == L(0.0)) return L(0.0);                                                        \
    for (; y < L(10.0) || y + d < L(10.0); y += L(1.0)) /* psi(y) = psi(y+1) - 1/y */      \
        s += d / y / (y + d);                                                              \
    u = L(1.0) / y;                                                                        \
    v = L(1.0) / (y + d);                                                                  \
    delta = -(d / y) / (y + d); /* v - u, without overflow of y (y + d) */                 \
    w = v * v;                                                                             \
    z = u * u;                                                                             \
    for (k = 1, zk = L(1.0), dk = L(1.0); k <= 7; ++k) { /* dk = sum_i w^i z^(k-1-i) */    \
        series += c[k - 1] * dk;                                                           \
        zk *= z;                                                                           \
        dk = w * dk + zk;                                                                  \
    }                                                                                      \
    return F(eg_logratio)(y, d) - L(0.5) * delta - delta * (u + v) * series + s;           \
}                                                                                          \
                                                                                           \
static inline DEVICE int F(eg_nonpositive_integer)(T x) { return x <= L(0.0) && x == F(floor)(x); } \
                                                                                           \
/* log|beta(a, b)| for a, b > 0. */                                                        \
static inline DEVICE T F(eg_betaln_pos)(T a, T b) {                                        \
    T lo = a < b ? a : b, hi = a < b ? b : a;                                              \
    if (hi == (T)INFINITY) return -(T)INFINITY;                                            \
    if (lo < L(10.0)) return F(lgamma)(lo) - F(eg_lgdiff)(hi, lo);                         \
    /* Stirling for all three: terms of one sign, no cancellation */                       \
    return L(0.91893853320467274178) - L(0.5) * F(log)(hi) - (lo - L(0.5)) * F(log1p)(hi / lo) \
           - hi * F(log1p)(lo / hi) + (F(eg_stirling)(lo) + F(eg_stirling)(hi) - F(eg_stirling)(lo + hi)); \
}                                                                                          \
                                                                                           \
/* beta(a, b) for a, b > 0: the gamma ratio for small arguments, else exp(betaln). */      \
static inline DEVICE T F(eg_beta_pos)(T a, T b) {                                          \
    if (a + b < L(20.0) && a > L(1e-6) && b > L(1e-6))                                     \
        return F(tgamma)(a) / F(tgamma)(a + b) * F(tgamma)(b);                             \
    return F(exp)(F(eg_betaln_pos)(a, b));                                                 \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_beta)(T a, T b) {                                              \
    T t;                                                                                   \
    if (a != a || b != b) return a + b;                                                    \
    if (a > L(0.0) && b > L(0.0)) return F(eg_beta_pos)(a, b);                             \
    if (F(eg_nonpositive_integer)(b) && !F(eg_nonpositive_integer)(a)) { t = a; a = b; b = t; } \
    if (F(eg_nonpositive_integer)(a)) { /* cephes' beta_negint */                          \
        T sign = F(fmod)(b, L(2.0)) == L(0.0) ? L(1.0) : L(-1.0);                          \
        if (b == F(floor)(b) && L(1.0) - a - b > L(0.0))                                   \
            return b > L(0.0) ? sign * F(eg_beta_pos)(L(1.0) - a - b, b) : sign * (T)INFINITY; \
        return (T)INFINITY;                                                                \
    }                                                                                      \
    if (F(eg_nonpositive_integer)(a + b)) return L(0.0);                                   \
    return F(eg_gammasgn)(a) * F(eg_gammasgn)(b) * F(eg_gammasgn)(a + b)                   \
           * F(exp)(F(lgamma)(a) + F(lgamma)(b) - F(lgamma)(a + b));                       \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_betaln)(T a, T b) {                                            \
    T t;                                                                                   \
    if (a != a || b != b) return a + b;                                                    \
    if (a > L(0.0) && b > L(0.0)) return F(eg_betaln_pos)(a, b);                           \
    if (F(eg_nonpositive_integer)(b) && !F(eg_nonpositive_integer)(a)) { t = a; a = b; b = t; } \
    if (F(eg_nonpositive_integer)(a)) /* cephes' lbeta_negint */                           \
        return b == F(floor)(b) && b > L(0.0) && L(1.0) - a - b > L(0.0)                   \
               ? F(eg_betaln_pos)(L(1.0) - a - b, b) : (T)INFINITY;                        \
    return F(lgamma)(a) + F(lgamma)(b) - F(lgamma)(a + b);                                 \
}                                                                                          \
                                                                                           \
/* gamma(z + m) / gamma(z) for z, z + m > 0. */                                            \
static inline DEVICE T F(eg_poch_pos)(T z, T m) {                                          \
    if (z < L(20.0) && z + m < L(20.0) && z > L(1e-6) && z + m > L(1e-6))                  \
        return F(tgamma)(z + m) / F(tgamma)(z);                                            \
    return F(exp)(F(eg_lgdiff)(z, m));                                                     \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_poch)(T z, T m) {                                              \
    if (m == L(0.0)) return L(1.0);                                                        \
    if (z != z || m != m) return z + m;                                                    \
    if (z == (T)INFINITY) return m > L(0.0) ? z : L(0.0); /* as z^m */                    \
    if (z > L(0.0) && z + m > L(0.0)) return F(eg_poch_pos)(z, m);                         \
    if (F(eg_nonpositive_integer)(z)) {                                                    \
        if (m != F(floor)(m) || z + m > L(0.0)) return L(0.0); /* gamma(z) is infinite */   \
        /* both poles: the limit (-1)^m gamma(1 - z) / gamma(1 - z - m) */                 \
        return (F(fmod)(m, L(2.0)) == L(0.0) ? L(1.0) : L(-1.0)) * F(eg_poch_pos)(L(1.0) - z - m, m); \
    }                                                                                      \
    if (F(eg_nonpositive_integer)(z + m)) return (T)INFINITY;                              \
    return F(eg_gammasgn)(z + m) * F(eg_gammasgn)(z) * F(exp)(F(lgamma)(z + m) - F(lgamma)(z)); \
}                                                                                          \
                                                                                           \
/* binom(n, k) for 0 <= k <= n: a product for integer k <= 30, else 1/((n+1) beta). */     \
static inline DEVICE T F(eg_comb)(T n, T k) {                                              \
    T r = L(1.0), kk = k;                                                                  \
    int i;                                                                                 \
    if (!(k <= n && n >= L(0.0) && k >= L(0.0))) return L(0.0); /* NaN too, as SciPy */    \
    if (n == F(floor)(n) && n - k < k) kk = n - k;                                         \
    if (kk == F(floor)(kk) && kk <= L(30.0) && n < L(1e15)) {                              \
        for (i = 1; i <= (int)kk; ++i) r *= (n - kk + (T)i) / (T)i;                        \
        return r;                                                                          \
    }                                                                                      \
    if (n == (T)INFINITY) return (T)INFINITY;                                              \
    if (n < L(20.0) && k > L(1e-6) && n - k > L(1e-6))                                     \
        return F(tgamma)(n + L(1.0)) / (F(tgamma)(k + L(1.0)) * F(tgamma)(n - k + L(1.0))); \
    return F(exp)(-F(log1p)(n) - F(eg_betaln_pos)(n - k + L(1.0), k + L(1.0)));             \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_multigammaln_k)(int k, T a, T dd) {                            \
    int d = (int)dd, j;                                                                    \
    T r = L(0.0);                                                                          \
    if (!(a > L(0.5) * (T)(d - 1))) return (T)NAN;                                         \
    if (k == 0) r = (T)d * (T)(d - 1) * L(0.25) * L(1.1447298858494002); /* log(pi) */      \
    for (j = 0; j < d; ++j)                                                                \
        r += k == 0 ? F(lgamma)(a - L(0.5) * (T)j) : F(eg_polygamma)(k - 1, a - L(0.5) * (T)j); \
    return r;                                                                              \
}

EG_DEFINE_GAMMA(double, EG_D_NAME, EG_D_LIT, 171.6)
EG_DEFINE_GAMMA(float, EG_F_NAME, EG_F_LIT, 35.0f)

#endif /* EG_GAMMA_H */
