/* Accurate special functions for elemgrad_gpu, in double (eg_NAME) and float (eg_NAMEf).
 *
 * Plain C99 math only, so the same text compiles as host C/C++ and as CUDA device code
 * (functions carry DEVICE, which is WITHIN_KERNEL inside a kernel). Expects <math.h>.
 * Each float version computes in float. Accuracy, as |got - ref| / max(1, |ref|):
 * about 1e-15 in double and 1e-6 in float.
 *
 * eg_polygamma(n, x): n-th derivative of digamma (n = 0: digamma), integer n in [0, 40]
 *   in double, [0, 24] in float, NaN outside. x > 0: recurrence up to x >= n + 8 (double)
 *   or n + 5 (float), then the asymptotic series with B_2 .. B_20 (double) or B_2 .. B_8.
 *   x < 0: reflection with the n-th derivative of pi*cot(pi*x), cot taken on the exact
 *   x - round(x). Poles and infinities as scipy.special.polygamma: n = 0 gives -inf at
 *   +0, +inf at -0, NaN at negative integers and -inf; n >= 1 gives (-1)^(n+1) * inf
 *   there; +inf gives +inf (n = 0) or 0. NaN gives NaN.
 * eg_erfinv(y): Giles (2010) start (his single-precision branches; his double-precision
 *   tail branch for 1 - |y| < 1.1e-7), then Halley steps on erf (|y| <= 0.5) or on erfc
 *   (|y| > 0.5, where 1 - |y| is exact). +-1 gives +-inf; |y| > 1 and NaN give NaN.
 * eg_hypot(a, b): libm hypot.
 */
#ifndef EG_SPECIAL_H
#define EG_SPECIAL_H

#ifndef DEVICE
#ifdef WITHIN_KERNEL
#define DEVICE WITHIN_KERNEL
#else
#define DEVICE
#endif
#endif

/* Name and literal adapters: EG_D_* for double, EG_F_* for float (f suffix). */
#define EG_D_NAME(name) name
#define EG_D_LIT(x) x
#define EG_F_NAME(name) name##f
#define EG_F_LIT(x) x##f
#define EG_PI(L) L(3.14159265358979323846)

/* Defines the functions for floating type T. F(name) suffixes names, L(x) literals;
 * NMAX caps n, SHIFT and NTERMS set the asymptotic series, STEPS the Halley
 * steps of erfinv. Literals passed to L must contain a decimal point. */
#define EG_DEFINE_SPECIAL(T, F, L, NMAX, SHIFT, NTERMS, STEPS)                             \
                                                                                           \
/* x**k for integer k >= 0 by binary powering. */                                          \
static inline DEVICE T F(eg_ipow)(T x, int k) {                                            \
    T r = L(1.0);                                                                          \
    for (; k > 0; k >>= 1, x *= x)                                                         \
        if (k & 1) r *= x;                                                                 \
    return r;                                                                              \
}                                                                                          \
                                                                                           \
/* polygamma(n, x) for x > 0 or NaN. */                                                    \
static inline DEVICE T F(eg_polygamma_pos)(int n, T x) {                                   \
    const T b[10] = { /* B_2k / (2k)! */                                                   \
        L(8.33333333333333333333e-2), L(-1.38888888888888888889e-3),                       \
        L(3.30687830687830687831e-5), L(-8.26719576719576719577e-7),                       \
        L(2.08767569878680989792e-8), L(-5.28419013868749318485e-10),                      \
        L(1.33825365306846788328e-11), L(-3.38968029632258286683e-13),                     \
        L(8.58606205627784456414e-15), L(-2.17486869855806187304e-16)};                    \
    T shifted = L(0.0), y = x, nfact = L(1.0), s = L(0.0), p = L(1.0), w, r;               \
    int k;                                                                                 \
    for (; y < (T)(n + SHIFT); y += L(1.0))                                                \
        shifted += F(eg_ipow)(L(1.0) / y, n + 1);                                          \
    w = L(1.0) / (y * y);                                                                  \
    /* s = sum_k b_k * prod_{j=n}^{n+2k-1} max(j, 1) / y^(2k) */                           \
    for (k = 1; k <= NTERMS; ++k) {                                                        \
        T j = (T)(n + 2 * k - 2);                                                          \
        p *= (j > L(1.0) ? j : L(1.0)) * (j + L(1.0)) * w;                                 \
        s += b[k - 1] * p;                                                                 \
    }                                                                                      \
    if (n == 0)                                                                            \
        return F(log)(y) - L(0.5) / y - s - shifted;                                       \
    for (k = 2; k < n; ++k) nfact *= (T)k; /* (n - 1)! */                                  \
    r = nfact * F(eg_ipow)(L(1.0) / y, n) * (L(1.0) + (T)n * L(0.5) / y + s)               \
        + nfact * (T)n * shifted;                                                          \
    return (n & 1) ? r : -r;                                                               \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_polygamma)(int n, T x) {                                       \
    T a[NMAX + 3], h, c, g, r;                                                             \
    int i, j;                                                                              \
    if (n < 0 || n > NMAX) return (T)NAN;                                                  \
    if (!(x <= L(0.0))) return F(eg_polygamma_pos)(n, x);                                  \
    if (x == F(floor)(x)) { /* pole, or -inf */                                            \
        if (n == 0) return x == L(0.0) ? F(copysign)((T)INFINITY, -x) : (T)NAN;            \
        return (n & 1) ? (T)INFINITY : -(T)INFINITY;                                       \
    }                                                                                      \
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
static inline DEVICE T F(eg_erfinv)(T y) {                                                 \
    T ay = F(fabs)(y), w = -F(log)((L(1.0) - ay) * (L(1.0) + ay)), t;                      \
    int i;                                                                                 \
    if (!(ay < L(1.0))) return ay == L(1.0) ? F(copysign)((T)INFINITY, y) : (T)NAN;        \
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
    } else if (w < L(16.0)) {                                                              \
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

EG_DEFINE_SPECIAL(double, EG_D_NAME, EG_D_LIT, 40, 8, 10, 1)
EG_DEFINE_SPECIAL(float, EG_F_NAME, EG_F_LIT, 24, 5, 4, 1)

#endif /* EG_SPECIAL_H */
