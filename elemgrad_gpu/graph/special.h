/* Accurate special functions for elemgrad_gpu, in double (eg_NAME) and float (eg_NAMEf).
 *
 * Plain C99 math only, so the same text compiles as host C/C++ and as CUDA device code
 * (functions carry DEVICE, which is WITHIN_KERNEL inside a kernel). Expects <math.h>.
 * Each float version computes in float. Accuracy, as |got - ref| / max(1, |ref|):
 * about 1e-15 in double and 1e-6 in float.
 *
 * eg_polygamma(n, x): n-th derivative of digamma (n = 0: digamma), any integer n >= 0
 *   (NaN for n < 0). n <= NMAX (40 in double, 24 in float): x > 0: recurrence up to
 *   x >= n + 8 (double) or n + 5 (float), then the asymptotic series with B_2 .. B_20
 *   (double) or B_2 .. B_8. x < 0: reflection with the n-th derivative of pi*cot(pi*x),
 *   cot taken on the exact x - round(x). n > NMAX: (-1)^(n+1) n! sum_k (x+k)^-(n+1), with
 *   n!/x^(n+1) a rescaled product (no spurious overflow), the terms (x/(x+k))^(n+1) while
 *   they matter and the asymptotic tail past n + 8; x < 0 by the same reflection, its cot
 *   derivative a sum over the seven nearest poles. Error of the n > NMAX path: about
 *   n ulp (the product of n factors). Values beyond the type's range give +-inf or 0.
 *   Poles and infinities as scipy.special.polygamma: n = 0 gives -inf at
 *   +0, +inf at -0, NaN at negative integers and -inf; n >= 1 gives (-1)^(n+1) * inf
 *   there; +inf gives +inf (n = 0) or 0. NaN gives NaN.
 * eg_erfinv(y): Giles (2010) start (his single-precision branches; his double-precision
 *   tail branch for 1 - |y| < 1.1e-7), then Halley steps on erf (|y| <= 0.5) or on erfc
 *   (|y| > 0.5, where 1 - |y| is exact). +-1 gives +-inf; |y| > 1 and NaN give NaN.
 * eg_hypot(a, b): libm hypot.
 */
#ifndef EG_SPECIAL_H
#define EG_SPECIAL_H


/* Name and literal adapters: EG_D_* for double, EG_F_* for float (f suffix). */
#define EG_D_NAME(name) name
#define EG_D_LIT(x) x
#define EG_F_NAME(name) name##f
#define EG_F_LIT(x) x##f
#define EG_PI(L) L(3.14159265358979323846)

/* Defines the functions for floating type T. F(name) suffixes names, L(x) literals;
 * NMAX is the largest n of the reflection by cot polynomials, SHIFT and NTERMS set the
 * asymptotic series, BIG rescales products, TINY ends sums; STEPS: the Halley
 * steps of erfinv. Literals passed to L must contain a decimal point. */
#define EG_DEFINE_SPECIAL(T, F, L, NMAX, SHIFT, NTERMS, STEPS, BIG, TINY)                             \
                                                                                           \
/* x**k for integer k >= 0 by binary powering. */                                          \
static inline DEVICE T F(eg_ipow)(T x, int k) {                                            \
    T r = L(1.0);                                                                          \
    for (; k > 0; k >>= 1, x *= x)                                                         \
        if (k & 1) r *= x;                                                                 \
    return r;                                                                              \
}                                                                                          \
                                                                                           \
/* s = sum_k b_k * prod_{j=n}^{n+2k-1} max(j, 1) / y^(2k): the asymptotic series of */     \
/* polygamma(n, y) after its two leading terms, in units of its leading term. */           \
static inline DEVICE T F(eg_polygamma_asym)(int n, T y) {                                  \
    const T b[10] = { /* B_2k / (2k)! */                                                   \
        L(8.33333333333333333333e-2), L(-1.38888888888888888889e-3),                       \
        L(3.30687830687830687831e-5), L(-8.26719576719576719577e-7),                       \
        L(2.08767569878680989792e-8), L(-5.28419013868749318485e-10),                      \
        L(1.33825365306846788328e-11), L(-3.38968029632258286683e-13),                     \
        L(8.58606205627784456414e-15), L(-2.17486869855806187304e-16)};                    \
    T s = L(0.0), p = L(1.0), w = (L(1.0) / y) * (L(1.0) / y); /* y * y may overflow */    \
    int k;                                                                                 \
    for (k = 1; k <= NTERMS; ++k) {                                                        \
        T j = (T)n + (T)(2 * k - 2);                                                       \
        p *= (j > L(1.0) ? j : L(1.0)) * (j + L(1.0)) * w;                                 \
        s += b[k - 1] * p;                                                                 \
    }                                                                                      \
    return s;                                                                              \
}                                                                                          \
                                                                                           \
/* polygamma(n, x) for x > 0 or NaN. */                                                    \
static inline DEVICE T F(eg_polygamma_pos)(int n, T x) {                                   \
    T shifted = L(0.0), y = x, nfact = L(1.0), s, r;                                       \
    int k;                                                                                 \
    for (; y < (T)(n + SHIFT); y += L(1.0))                                                \
        shifted += F(eg_ipow)(L(1.0) / y, n + 1);                                          \
    s = F(eg_polygamma_asym)(n, y);                                                        \
    if (n == 0)                                                                            \
        return F(log)(y) - L(0.5) / y - s - shifted;                                       \
    for (k = 2; k < n; ++k) nfact *= (T)k; /* (n - 1)! */                                  \
    r = nfact * F(eg_ipow)(L(1.0) / y, n) * (L(1.0) + (T)n * L(0.5) / y + s)               \
        + nfact * (T)n * shifted;                                                          \
    return (n & 1) ? r : -r;                                                               \
}                                                                                          \
                                                                                           \
/* n! / x^n as p * BIG^e (p returned, e through the pointer), x > 0: a product of */       \
/* the k / x, rescaled by BIG so that no partial product overflows or underflows */        \
/* unless the result does. */                                                              \
static inline DEVICE T F(eg_factorial_over_power)(int n, T x, int *e) {                    \
    T p = L(1.0);                                                                          \
    int k;                                                                                 \
    for (*e = 0, k = 1; k <= n; ++k) {                                                     \
        p *= (T)k / x;                                                                     \
        if (p > BIG) { p /= BIG; ++*e; }                                                   \
        else if (p < L(1.0) / BIG) { p *= BIG; --*e; }                                     \
    }                                                                                      \
    return p;                                                                              \
}                                                                                          \
                                                                                           \
/* p * BIG^e, overflowing to inf or underflowing to 0 as the value does. */                \
static inline DEVICE T F(eg_unscale)(T p, int e) {                                         \
    for (; e > 0 && F(fabs)(p) < (T)INFINITY; --e) p *= BIG;                               \
    for (; e < 0 && p != L(0.0); ++e) p /= BIG;                                            \
    return p;                                                                              \
}                                                                                          \
                                                                                           \
/* polygamma(n, x) for n > NMAX and x > 0 (any order): (-1)^(n+1) n! sum_k (x+k)^-(n+1) */ \
/* = t0 * (1 + sum_k (x/(x+k))^(n+1)), t0 = n!/x^(n+1): terms while they matter (their */ \
/* tail is below r * y / n), then the asymptotic tail once x + k >= n + SHIFT. */          \
static inline DEVICE T F(eg_polygamma_big_pos)(int n, T x) {                               \
    T sum = L(1.0), y, r, p;                                                               \
    int e;                                                                                 \
    if (x != x) return x;                                                                  \
    if (x == (T)INFINITY) return L(0.0);                                                   \
    if (x >= (T)(n + SHIFT)) {                                                             \
        sum = x / (T)n * (L(1.0) + (T)n * L(0.5) / x + F(eg_polygamma_asym)(n, x));        \
    } else {                                                                               \
        for (y = x + L(1.0);; y += L(1.0)) {                                               \
            r = F(eg_ipow)(x / y, n + 1);                                                  \
            if (y >= (T)(n + SHIFT)) {                                                     \
                sum += r * (y / (T)n)                                                      \
                       * (L(1.0) + (T)n * L(0.5) / y + F(eg_polygamma_asym)(n, y));        \
                break;                                                                     \
            }                                                                              \
            sum += r;                                                                      \
            if (r * y < TINY * (T)n * sum) break;                                          \
        }                                                                                  \
    }                                                                                      \
    p = F(eg_factorial_over_power)(n, x, &e);                                              \
    p = F(eg_unscale)(p * sum, e) / x;                                                     \
    return (n & 1) ? p : -p;                                                               \
}                                                                                          \
                                                                                           \
/* polygamma(n, x) for n > NMAX and x < 0 not an integer: the reflection */               \
/* (-1)^n polygamma(n, 1 - x) - D, D the n-th derivative of pi cot(pi x) = */             \
/* -(+-1) n! sum_j [(a + j)^-(n+1) -+ (1 - a + j)^-(n+1)], a = |x - round(x)| <= 1/2, */    \
/* the sign + for odd n. For even n each pair is taken as (a + j)^-(n+1) times */          \
/* -expm1((n+1) log1p(-(1 - 2a) / (1 - a + j))): exact cancellation at a = 1/2, where */   \
/* D is 0 (the terms left out, j > 3, are below 3.5^-n of the first). */                   \
static inline DEVICE T F(eg_polygamma_big_neg)(int n, T x) {                               \
    T h = x - F(round)(x), a = F(fabs)(h), bracket = L(0.0), d, r;                         \
    int e, j;                                                                              \
    for (j = 0; j <= 3; ++j) {                                                             \
        T t = F(eg_ipow)(a / (a + (T)j), n + 1), b = L(1.0) - a + (T)j;                    \
        bracket += (n & 1) ? t + F(eg_ipow)(a / b, n + 1)                                  \
                           : -t * F(expm1)((T)(n + 1) * F(log1p)(-(L(1.0) - L(2.0) * a) / b)); \
    }                                                                                      \
    d = F(eg_factorial_over_power)(n, a, &e);                                              \
    d = F(eg_unscale)(d * bracket, e) / a;                                                 \
    d = (n & 1) ? -d : (h < L(0.0) ? -d : d); /* odd n: D < 0; even n: D odd in h */       \
    r = F(eg_polygamma_big_pos)(n, L(1.0) - x);                                            \
    r = ((n & 1) ? -r : r) - d;                                                            \
    return r != r ? -d : r; /* inf - inf: D dominates */                                   \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_polygamma)(int n, T x) {                                       \
    T a[NMAX + 3], h, c, g, r;                                                             \
    int i, j;                                                                              \
    if (n < 0) return (T)NAN;                                                              \
    if (!(x <= L(0.0)))                                                                    \
        return n > NMAX ? F(eg_polygamma_big_pos)(n, x) : F(eg_polygamma_pos)(n, x);       \
    if (x == F(floor)(x)) { /* pole, or -inf */                                            \
        if (n == 0) return x == L(0.0) ? F(copysign)((T)INFINITY, -x) : (T)NAN;            \
        return (n & 1) ? (T)INFINITY : -(T)INFINITY;                                       \
    }                                                                                      \
    if (n > NMAX) return F(eg_polygamma_big_neg)(n, x);                                    \
    /* Reflection: psi_n(x) = (-1)^n psi_n(1 - x) - pi^(n+1) g_n(cot(pi x)), where */      \
    /* g_n(cot t) = d^n/dt^n cot t, g_0(c) = c, g_(i+1)(c) = -(1 + c^2) g_i'(c). */        \
    for (j = 0; j < NMAX + 3; ++j) a[j] = L(0.0);                                          \
    a[1] = L(1.0);                                                                         \
    for (i = 0; i < n; ++i) {                                                              \
        T prev = L(0.0);                                                                   \
        for (j = 0; j <= i + 2; ++j) {                                                     \
            T cur = a[j];                                                                  \
            a[j] = -((T)(j + 1) * a[j + 1] + (T)(j - 1) * prev);                           \
            prev = cur;                                                                    \
        }                                                                                  \
    }                                                                                      \
    h = x - F(round)(x); /* exact, |h| <= 0.5; cot(pi h) to full relative accuracy: */     \
    c = F(fabs)(h) <= L(0.25) ? L(1.0) / F(tan)(EG_PI(L) * h)                              \
                              : F(copysign)(F(tan)(EG_PI(L) * (L(0.5) - F(fabs)(h))), h);  \
    for (g = a[n + 1], j = n; j >= 0; --j) g = g * c + a[j];                               \
    r = F(eg_polygamma_pos)(n, L(1.0) - x);                                                \
    return ((n & 1) ? -r : r) - F(eg_ipow)(EG_PI(L), n + 1) * g;                           \
}                                                                                          \
                                                                                           \
/* Giles (2010): erfinv(y) / y for w = -log((1 - y)(1 + y)) < 16, his single-precision polynomials. */ \
static inline DEVICE T F(eg_erfinv_central)(T w) {                                         \
    T t;                                                                                   \
    if (w < L(5.0)) {                                                                      \
        w -= L(2.5);                                                                       \
        t = L(2.81022636e-08);                                                             \
        t = L(3.43273939e-07) + t * w;                                                     \
        t = L(-3.5233877e-06) + t * w;                                                     \
        t = L(-4.39150654e-06) + t * w;                                                    \
        t = L(0.00021858087) + t * w;                                                      \
        t = L(-0.00125372503) + t * w;                                                     \
        t = L(-0.00417768164) + t * w;                                                     \
        t = L(0.246640727) + t * w;                                                        \
        t = L(1.50140941) + t * w;                                                         \
    } else { /* 5 <= w < 16 */                                                             \
        w = F(sqrt)(w) - L(3.0);                                                           \
        t = L(-0.000200214257);                                                            \
        t = L(0.000100950558) + t * w;                                                     \
        t = L(0.00134934322) + t * w;                                                      \
        t = L(-0.00367342844) + t * w;                                                     \
        t = L(0.00573950773) + t * w;                                                      \
        t = L(-0.0076224613) + t * w;                                                      \
        t = L(0.00943887047) + t * w;                                                      \
        t = L(1.00167406) + t * w;                                                         \
        t = L(2.83297682) + t * w;                                                         \
    }                                                                                      \
    return t;                                                                              \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_erfinv)(T y) {                                                 \
    T ay = F(fabs)(y), w = -F(log)((L(1.0) - ay) * (L(1.0) + ay)), t;                      \
    int i;                                                                                 \
    if (!(ay < L(1.0))) return ay == L(1.0) ? F(copysign)((T)INFINITY, y) : (T)NAN;        \
    if (w < L(16.0)) {                                                                     \
        t = F(eg_erfinv_central)(w);                                                       \
    } else { /* Giles' double-precision tail branch; only 1 - |y| < 1.1e-7 gets here */    \
        w = F(sqrt)(w) - L(5.0);                                                           \
        t = L(-2.7109920616438573243e-11);                                                 \
        t = L(-2.5556418169965252055e-10) + t * w;                                         \
        t = L(1.5076572693500548083e-09) + t * w;                                          \
        t = L(-3.7894654401267369937e-09) + t * w;                                         \
        t = L(7.6157012080783393804e-09) + t * w;                                          \
        t = L(-1.4960026627149240478e-08) + t * w;                                         \
        t = L(2.9147953450901080826e-08) + t * w;                                          \
        t = L(-6.7711997758452339498e-08) + t * w;                                         \
        t = L(2.2900482228026654717e-07) + t * w;                                          \
        t = L(-9.9298272942317002539e-07) + t * w;                                         \
        t = L(4.5260625972231537039e-06) + t * w;                                          \
        t = L(-1.9681778105531670567e-05) + t * w;                                         \
        t = L(7.5995277030017761139e-05) + t * w;                                          \
        t = L(-0.00021503011930044477347) + t * w;                                         \
        t = L(-0.00013871931833623122026) + t * w;                                         \
        t = L(1.0103004648645343977) + t * w;                                              \
        t = L(4.8499064014085844221) + t * w;                                              \
    }                                                                                      \
    t *= ay;                                                                               \
    for (i = 0; i < STEPS; ++i) { /* Halley on erf(t) = ay */                              \
        T res = ay <= L(0.5) ? F(erf)(t) - ay : (L(1.0) - ay) - F(erfc)(t);                \
        T d = res / (L(1.1283791670955126) * F(exp)(-t * t));                              \
        t -= d / (L(1.0) + t * d);                                                         \
    }                                                                                      \
    return F(copysign)(t, y);                                                              \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_hypot)(T a, T b) { return F(hypot)(a, b); }

EG_DEFINE_SPECIAL(double, EG_D_NAME, EG_D_LIT, 40, 8, 10, 1, 3.2733906078961419e150, 1e-17)
EG_DEFINE_SPECIAL(float, EG_F_NAME, EG_F_LIT, 24, 5, 4, 1, 1099511627776.0f, 1e-8f)

#endif /* EG_SPECIAL_H */
