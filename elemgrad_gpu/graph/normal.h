/* The error function and the normal distribution for elemgrad_gpu, in double (eg_NAME) and float (eg_NAMEf).
 *
 * Plain C99 math only, so the same text compiles as host C and as CUDA device code (functions
 * carry DEVICE, which is WITHIN_KERNEL inside a kernel); it follows special.h, whose eg_erfinv
 * it calls. Each float version computes in float. Domains, NaN and inf as scipy.special.
 *
 * eg_erfcx(x): exp(x^2) erfc(x): exp(x^2) erfc(x) with x^2 split exactly below CFX (6 in double,
 *   3 in float), Laplace's continued fraction above (finite for every x > -26.6).
 * eg_erfcinv(y), y in (0, 2): erfinv(1 - y) for 0.5 < y < 1.5, else Newton steps on
 *   log(erfc(z)) = log(y) (relative accuracy down to the smallest subnormal y).
 * eg_ndtr(x): Phi(x); eg_log_ndtr(x): log Phi(x), finite down to x = -1.3e154;
 *   eg_ndtri(p) = -sqrt(2) erfcinv(2p); eg_ndtri_exp(y) = Phi^-1(exp(y)), y <= 0.
 * eg_dawsn(x): Dawson's integral, a series of positive terms below DX (7, 4.3 in float), the
 *   asymptotic series above.
 * eg_owens_t(h, a): Owen's T, Gauss-Legendre quadrature of its integral for |a| <= 1 and
 *   T(h, a) = (q(h) + q(ah))/2 - q(h) q(ah) - T(ah, 1/a) above.
 * Derivative helpers, stable where the textbook forms cancel: eg_erfcx_d1 (erfcx'),
 *   eg_log_ndtr_d1 (G = phi/Phi = log_ndtr'), eg_log_ndtr_r (x + G, so G' = -G (x + G)),
 *   eg_dawsn_d1 (dawsn' = 1 - 2 x dawsn); eg_erfcinv_d1, eg_ndtri_d1, eg_ndtri_exp_d1 (the inverses'
 *   derivatives through erfcx, not exp(z^2), which magnifies the rounding of z 2 z^2 times).
 */
#ifndef EG_NORMAL_H
#define EG_NORMAL_H


#ifndef EG_D_NAME
#define EG_D_NAME(name) name
#define EG_D_LIT(x) x
#define EG_F_NAME(name) name##f
#define EG_F_LIT(x) x##f
#endif

/* Defines the functions for floating type T; F(name) suffixes names, L(x) literals (with a
 * decimal point). CFX, CFN: where erfcx's continued fraction starts and its depth; MZ, MN: the
 * same for Mills' ratio; DX: where Dawson's asymptotic series starts; EPS: where series stop;
 * STEPS: Newton steps of the inverses; CUT: where Owen's T's integrand is dropped (h t > CUT). */
#define EG_DEFINE_NORMAL(T, F, L, CFX, CFN, MZ, MN, DX, EPS, STEPS, CUT)                             \
                                                                                                    \
/* exp(s x^2) for s = +-1 or +-1/2, x^2 split exactly (fma) into hi + lo: no error from rounding x^2. */ \
static inline DEVICE T F(eg_exp_sq)(T x, T s) {                                                     \
    T hi = x * x, lo = F(fma)(x, x, -hi), e = F(exp)(s * hi);                                       \
    return (e == L(0.0) || e == (T)INFINITY) ? e : e * F(exp)(s * lo);                              \
}                                                                                                   \
                                                                                                    \
/* The tail s of the continued fraction erfcx(x) = 1 / (sqrt(pi) (x + s)), for x >= CFX. */         \
static inline DEVICE T F(eg_erfcx_tail)(T x) {                                                      \
    T t = x;                                                                                        \
    int k;                                                                                          \
    for (k = CFN; k > 1; --k) t = x + (T)k * L(0.5) / t;                                            \
    return L(0.5) / t;                                                                              \
}                                                                                                   \
                                                                                                    \
static inline DEVICE T F(eg_erfcx)(T x) {                                                           \
    if (x < L(CFX)) return F(eg_exp_sq)(x, L(1.0)) * F(erfc)(x);                                    \
    return L(0.56418958354775628695) / (x + F(eg_erfcx_tail)(x));                                   \
}                                                                                                   \
                                                                                                    \
/* erfcx'(x) = 2 x erfcx(x) - 2/sqrt(pi), without the cancellation of that form for large x. */     \
static inline DEVICE T F(eg_erfcx_d1)(T x) {                                                        \
    T s;                                                                                            \
    if (x < L(CFX)) return L(2.0) * x * F(eg_erfcx)(x) - L(1.1283791670955125739);                  \
    s = F(eg_erfcx_tail)(x);                                                                        \
    return L(-1.1283791670955125739) * s / (x + s);                                                 \
}                                                                                                   \
                                                                                                    \
/* Phi(x) = erfc(-x/sqrt(2))/2; below -1 as erfcx(-x/sqrt(2)) exp(-x^2/2) / 2 (exact square). */    \
static inline DEVICE T F(eg_ndtr)(T x) {                                                            \
    T t = x * L(0.70710678118654752440);                                                            \
    if (x < L(-1.0)) return L(0.5) * F(eg_erfcx)(-t) * F(eg_exp_sq)(x, L(-0.5));                    \
    if (x > L(1.0)) return L(1.0) - L(0.5) * F(erfc)(t);                                            \
    return L(0.5) + L(0.5) * F(erf)(t);                                                             \
}                                                                                                   \
                                                                                                    \
/* log Phi(x): log1p(-Phi(-x)) above 0, log(erfcx(-x/sqrt(2))/2) - x^2/2 below -1. */               \
static inline DEVICE T F(eg_log_ndtr)(T x) {                                                        \
    T hi, lo;                                                                                       \
    if (x > L(0.0)) return F(log1p)(L(-0.5) * F(erfc)(x * L(0.70710678118654752440)));              \
    if (x > L(-1.0)) return F(log)(F(eg_ndtr)(x));                                                  \
    hi = x * x;                                                                                     \
    lo = F(fma)(x, x, -hi);                                                                         \
    if (hi == (T)INFINITY) return -hi;                                                              \
    return (F(log)(L(0.5) * F(eg_erfcx)(x * L(-0.70710678118654752440))) - L(0.5) * hi) - L(0.5) * lo; \
}                                                                                                   \
                                                                                                    \
/* The tail s of the continued fraction phi(-z)/Phi(-z) = z + s (Mills' ratio), for z >= MZ. */     \
static inline DEVICE T F(eg_mills_tail)(T z) {                                                      \
    T t = z;                                                                                        \
    int k;                                                                                          \
    for (k = MN; k > 1; --k) t = z + (T)k / t;                                                      \
    return L(1.0) / t;                                                                              \
}                                                                                                   \
                                                                                                    \
/* G(x) = phi(x)/Phi(x), the derivative of log_ndtr; below -1 as sqrt(2/pi) / erfcx(-x/sqrt(2)). */ \
static inline DEVICE T F(eg_log_ndtr_d1)(T x) {                                                     \
    if (x < L(-1.0)) return L(0.79788456080286535588) / F(eg_erfcx)(x * L(-0.70710678118654752440)); \
    return L(0.39894228040143267794) * F(eg_exp_sq)(x, L(-0.5)) / F(eg_ndtr)(x);                    \
}                                                                                                   \
                                                                                                    \
/* x + G(x) (G' = -G (x + G)), from Mills' continued fraction where x + G cancels (x <= -MZ). */    \
static inline DEVICE T F(eg_log_ndtr_r)(T x) {                                                      \
    if (x < -L(MZ)) return F(eg_mills_tail)(-x);                                                    \
    return x + F(eg_log_ndtr_d1)(x);                                                                \
}                                                                                                   \
                                                                                                    \
/* The z >= 0.47 with log(erfc(z)) = lg, for lg <= log(1/2); w = -log(y (2 - y)), y = erfc(z) = exp(lg). \
 * Start: Giles' erfinv polynomials (w < 16, eg_erfinv_central of special.h), else z^2 = -lg - log(pi (-lg)) / 2 (erfc(z) ~         \
 * exp(-z^2) / (z sqrt(pi))); then Newton on log(erfc(z)) = log(erfcx(z)) - z^2, which is concave:  \
 * the steps converge from either side. */                                                          \
static inline DEVICE T F(eg_erfc_log_inverse)(T lg, T w) {                                          \
    T z, t, hi;                                                                                     \
    int i;                                                                                          \
    if (w < L(16.0)) {                                                                              \
        z = -F(expm1)(lg) * F(eg_erfinv_central)(w);                                                \
    } else {                                                                                        \
        z = F(sqrt)(-lg - L(0.5) * F(log)(L(-3.14159265358979323846) * lg));                        \
    }                                                                                               \
    for (i = 0; i < STEPS; ++i) {                                                                   \
        T e = F(eg_erfcx)(z);                                                                       \
        hi = z * z;                                                                                 \
        t = ((F(log)(e) - lg) - hi) - F(fma)(z, z, -hi);                                            \
        z += L(0.88622692545275801365) * e * t;                                                     \
    }                                                                                               \
    return z;                                                                                       \
}                                                                                                   \
                                                                                                    \
/* erfc(z) = y for y in (0, 2): erfinv(1 - y) (exact difference) for 0.5 < y < 1.5, else in logarithms. */ \
static inline DEVICE T F(eg_erfcinv)(T y) {                                                         \
    if (!(y > L(0.0) && y < L(2.0))) return y == L(0.0) ? (T)INFINITY : y == L(2.0) ? -(T)INFINITY : (T)NAN; \
    if (y > L(0.5) && y < L(1.5)) return F(eg_erfinv)(L(1.0) - y);                                  \
    if (y <= L(0.5)) return F(eg_erfc_log_inverse)(F(log)(y), -F(log)(y * (L(2.0) - y)));           \
    return -F(eg_erfc_log_inverse)(F(log)(L(2.0) - y), -F(log)(y * (L(2.0) - y)));                  \
}                                                                                                   \
                                                                                                    \
/* Phi^-1(p) = -sqrt(2) erfcinv(2 p). */                                                            \
static inline DEVICE T F(eg_ndtri)(T p) {                                                           \
    if (!(p > L(0.0) && p < L(1.0))) return p == L(0.0) ? -(T)INFINITY : p == L(1.0) ? (T)INFINITY : (T)NAN; \
    return L(-1.4142135623730950488) * F(eg_erfcinv)(L(2.0) * p);                                   \
}                                                                                                   \
                                                                                                    \
/* Phi^-1(exp(y)) for y <= 0: sqrt(2) erfcinv(-2 expm1(y)) near 0, in logarithms below log(1/4). */ \
static inline DEVICE T F(eg_ndtri_exp)(T y) {                                                       \
    if (!(y < L(0.0))) return y == L(0.0) ? (T)INFINITY : (T)NAN;                                   \
    if (y > L(-0.69314718055994530942)) return L(1.4142135623730950488) * F(eg_erfcinv)(L(-2.0) * F(expm1)(y)); \
    if (y > L(-1.3862943611198906188)) return L(-1.4142135623730950488) * F(eg_erfcinv)(L(2.0) * F(exp)(y)); \
    if (y == -(T)INFINITY) return y;                                                                \
    return L(-1.4142135623730950488) * F(eg_erfc_log_inverse)(                                      \
        y + L(0.69314718055994530942), -((y + L(1.3862943611198906188)) + F(log1p)(-F(exp)(y))));   \
}                                                                                                   \
                                                                                                    \
/* 2 |x| dawsn(|x|) - 1 = sum_{k>=1} (2k-1)!! / (2 x^2)^k, the asymptotic series, |x| >= DX. */     \
static inline DEVICE T F(eg_dawsn_asym)(T ax) {                                                     \
    T w = L(0.5) / ax / ax, term = w, sum = L(0.0);                                                 \
    int k;                                                                                          \
    for (k = 1; k < 100; ++k) { /* to EPS, or to the smallest term (the series diverges after it) */ \
        T next = term * (T)(2 * k + 1) * w;                                                         \
        sum += term;                                                                                \
        if (!(next > L(EPS) * sum) || next >= term) break;                                          \
        term = next;                                                                                \
    }                                                                                               \
    return sum;                                                                                     \
}                                                                                                   \
                                                                                                    \
/* dawsn(|x|) = exp(-x^2) sum_k |x|^(2k+1) / (k! (2k+1)), positive terms, |x| < DX. */              \
static inline DEVICE T F(eg_dawsn_series)(T ax) {                                                   \
    T x2 = ax * ax, term = ax, sum = ax, add;                                                       \
    int k;                                                                                          \
    for (k = 1; k < 200; ++k) {                                                                     \
        term *= x2 / (T)k;                                                                          \
        add = term / (T)(2 * k + 1);                                                                \
        sum += add;                                                                                 \
        if (add <= L(EPS) * sum) break;                                                             \
    }                                                                                               \
    return F(eg_exp_sq)(ax, L(-1.0)) * sum;                                                         \
}                                                                                                   \
                                                                                                    \
static inline DEVICE T F(eg_dawsn)(T x) {                                                           \
    T ax = F(fabs)(x);                                                                              \
    if (ax < L(DX)) return F(copysign)(F(eg_dawsn_series)(ax), x);                                  \
    if (x != x) return x;                                                                           \
    return F(copysign)((L(1.0) + F(eg_dawsn_asym)(ax)) * (L(0.5) / ax), x);                         \
}                                                                                                   \
                                                                                                    \
/* dawsn'(x) = 1 - 2 x dawsn(x), as the asymptotic series where that form cancels. */               \
static inline DEVICE T F(eg_dawsn_d1)(T x) {                                                        \
    T ax = F(fabs)(x);                                                                              \
    if (ax < L(DX)) return L(1.0) - L(2.0) * ax * F(eg_dawsn_series)(ax);                           \
    if (x != x) return x;                                                                           \
    return -F(eg_dawsn_asym)(ax);                                                                   \
}                                                                                                   \
                                                                                                    \
/* T(h, a) = exp(-h^2/2) / (2 pi) int_0^a exp(-(h t)^2 / 2) / (1 + t^2) dt for h >= 0, 0 <= a <= 1: \
 * Gauss-Legendre, two panels of 16 nodes over [0, min(a, CUT/h)] (the rest is below the rounding). */ \
static inline DEVICE T F(eg_owens_t_quad)(T h, T a) {                                               \
    const T node[8] = {                                                                             \
        L(0.09501250983763744), L(0.2816035507792589), L(0.45801677765722737), L(0.6178762444026438), \
        L(0.755404408355003), L(0.8656312023878318), L(0.9445750230732326), L(0.9894009349916499)}; \
    const T weight[8] = {                                                                           \
        L(0.18945061045506864), L(0.18260341504492364), L(0.16915651939500265), L(0.1495959888165767), \
        L(0.12462897125553407), L(0.0951585116824926), L(0.062253523938647456), L(0.027152459411754176)}; \
    T e0 = F(eg_exp_sq)(h, L(-0.5)), b, half, sum = L(0.0);                                         \
    int p, i, s;                                                                                    \
    if (e0 == L(0.0)) return L(0.0);                                                                \
    b = h * a > L(CUT) ? L(CUT) / h : a;                                                            \
    half = L(0.25) * b;                                                                             \
    for (p = 1; p <= 3; p += 2)                                                                     \
        for (i = 0; i < 8; ++i)                                                                     \
            for (s = -1; s <= 1; s += 2) {                                                          \
                T t = (T)p * half + (T)s * half * node[i], u = h * t;                               \
                sum += weight[i] * F(exp)(L(-0.5) * u * u) / (L(1.0) + t * t);                      \
            }                                                                                       \
    return e0 * sum * half * L(0.15915494309189533577);                                             \
}                                                                                                   \
                                                                                                    \
/* Owen's T(h, a), even in h and odd in a; for |a| > 1 by T(h, a) = (q(h) + q(ah))/2 - q(h) q(ah)   \
 * - T(ah, 1/a), q(x) = erfc(x/sqrt(2))/2 (h >= 0). */                                              \
static inline DEVICE T F(eg_owens_t)(T h, T a) {                                                    \
    T r = F(fabs)(a), ah, qh, qah;                                                                  \
    if (h != h || a != a) return h + a;                                                             \
    h = F(fabs)(h);                                                                                 \
    if (h == (T)INFINITY) return L(0.0);                                                            \
    if (r <= L(1.0)) r = F(eg_owens_t_quad)(h, r);                                                  \
    else if (h == L(0.0)) r = F(atan)(r) * L(0.15915494309189533577);                               \
    else {                                                                                          \
        ah = r * h;                                                                                 \
        qh = L(0.5) * F(erfc)(h * L(0.70710678118654752440));                                       \
        qah = L(0.5) * F(erfc)(ah * L(0.70710678118654752440));                                     \
        r = L(0.5) * (qh + qah) - qh * qah - F(eg_owens_t_quad)(ah, L(1.0) / r);                    \
    }                                                                                               \
    return F(copysign)(r, a);                                                                       \
}                                                                                                   \
                                                                                                    \
/* erfcinv'(y) = -sqrt(pi)/2 exp(z^2) as -sqrt(pi)/2 erfcx(z) / y, z = erfcinv(y): exp(z^2) would   \
 * magnify the rounding of z 2 z^2 times, erfcx does not. -inf at y = 0 and 2, NaN outside. */      \
static inline DEVICE T F(eg_erfcinv_d1)(T y) {                                                      \
    if (y == L(0.0) || y == L(2.0)) return -(T)INFINITY;                                            \
    return L(-0.88622692545275801365) * F(eg_erfcx)(F(eg_erfcinv)(y)) / y;                          \
}                                                                                                   \
                                                                                                    \
/* ndtri'(p) = 1/phi(z) as sqrt(pi/2) erfcx(|z|/sqrt(2)) / min(p, 1 - p), z = ndtri(p) (as above). */ \
static inline DEVICE T F(eg_ndtri_d1)(T p) {                                                        \
    T z = F(eg_ndtri)(p);                                                                           \
    if (p == L(0.0) || p == L(1.0)) return (T)INFINITY;                                             \
    return L(1.2533141373155002512) * F(eg_erfcx)(F(fabs)(z) * L(0.70710678118654752440))           \
           / (z < L(0.0) ? p : L(1.0) - p);                                                         \
}                                                                                                   \
                                                                                                    \
/* ndtri_exp'(y) = 1/G(z), z = ndtri_exp(y); above 0 as exp(y) sqrt(pi/2) erfcx(z/sqrt(2)) / -expm1(y). */ \
static inline DEVICE T F(eg_ndtri_exp_d1)(T y) {                                                    \
    T z = F(eg_ndtri_exp)(y);                                                                       \
    if (y == L(0.0)) return (T)INFINITY;                                                            \
    if (z > L(0.0))                                                                                 \
        return F(exp)(y) * L(1.2533141373155002512) * F(eg_erfcx)(z * L(0.70710678118654752440)) / -F(expm1)(y); \
    return L(1.0) / F(eg_log_ndtr_d1)(z);                                                           \
}

EG_DEFINE_NORMAL(double, EG_D_NAME, EG_D_LIT, 6.0, 16, 8.5, 18, 7.0, 1e-17, 4, 9.0)
EG_DEFINE_NORMAL(float, EG_F_NAME, EG_F_LIT, 3.0, 11, 4.25, 14, 4.3, 3e-8, 3, 6.0)

#endif /* EG_NORMAL_H */
