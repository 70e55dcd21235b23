/* Bessel functions for elemgrad_gpu, in double (eg_NAME) and float (eg_NAMEf).
 *
 * Plain C99 math only, so the same text compiles as host C and as CUDA device code
 * (functions carry DEVICE, which is WITHIN_KERNEL inside a kernel). Expects <math.h>;
 * uses the C library's (and CUDA's) j0 j1 jn y0 y1 yn for integer orders.
 * Each float version computes in float.
 *
 * eg_jv(v, x), eg_yv(v, x): integer v by the C library; real v by Steed's method
 *   (the continued fractions CF1 and CF2), Temme's series for x < 2, recurrences in
 *   the order and the Wronskian; Hankel's expansions for x >= ASYM_X + v^2 / 2; v < 0 by
 *   the reflection formulas. x < 0: J_n(-x) = (-1)^n J_n(x), NaN for non-integer v and
 *   for Y. Values at x = 0 and infinities as SciPy.
 * eg_iv, eg_ive (I_v e^-|x|), eg_kv, eg_kve (K_v e^x): the same for the modified
 *   functions (Temme's series and Steed's CF2 for K, CF1 and the Wronskian for I);
 *   I_-v = I_v + (2/pi) sin(pi v) K_v, K_-v = K_v.
 * The derivatives in the order (eg_*_dv) are documented at their definitions below.
 */
#ifndef EG_BESSEL_H
#define EG_BESSEL_H


/* The long functions are called, not inlined, in CUDA: inlined at every use they make
 * NVRTC's compile time grow with the number of Bessel calls in a kernel. */
#if defined(__CUDACC__)
#define EGB_HEAVY static DEVICE __noinline__
#else
#define EGB_HEAVY static inline DEVICE
#endif

#define EGB_D_NAME(name) name
#define EGB_D_LIT(x) x
#define EGB_F_NAME(name) name##f
#define EGB_F_LIT(x) x##f
#define EGB_PI(L) L(3.14159265358979323846)

/* Defines the functions for floating type T. F(name) suffixes names, L(x) literals
 * (which must contain a decimal point); EPS is the relative accuracy aimed at, FPMIN and
 * BIG guard the continued fractions and recurrences against underflow and overflow,
 * MAXIT caps their steps, ASYM_X starts Hankel's expansions. */
#define EG_DEFINE_BESSEL(T, F, L, EPS, FPMIN, BIG, MAXIT, ASYM_X)                                               \
                                                                                                                 \
/* sin(pi x) and cos(pi x), exact at integers and half-integers. */                                            \
static inline DEVICE T F(eg_sinpi)(T x) {                                                                      \
    T r = x - L(2.0) * F(round)(L(0.5) * x), a = F(fabs)(r), s;                                                \
    if (a > L(0.5)) a = L(1.0) - a;                                                                            \
    s = a <= L(0.25) ? F(sin)(EGB_PI(L) * a) : F(cos)(EGB_PI(L) * (L(0.5) - a));                               \
    return r < L(0.0) ? -s : s;                                                                                \
}                                                                                                              \
                                                                                                               \
static inline DEVICE T F(eg_cospi)(T x) {                                                                      \
    T a = F(fabs)(x - L(2.0) * F(round)(L(0.5) * x)), s = L(1.0), c;                                           \
    if (a > L(0.5)) { a = L(1.0) - a; s = L(-1.0); }                                                           \
    c = a <= L(0.25) ? F(cos)(EGB_PI(L) * a) : F(sin)(EGB_PI(L) * (L(0.5) - a));                               \
    return s * c;                                                                                              \
}                                                                                                              \
                                                                                                               \
/* Temme's gam1 = (1/G(1-mu) - 1/G(1+mu)) / (2 mu), gam2 = (1/G(1-mu) + 1/G(1+mu)) / 2,                        \
 * gampl = 1/G(1+mu), gammi = 1/G(1-mu) for |mu| <= 1/2, from the Taylor series of                             \
 * 1/Gamma(1+z) at 0 (its even part is gam2, its odd part -gam1 mu). */                                        \
static inline DEVICE void F(eg_temme_gammas)(T mu, T *gam1, T *gam2, T *gampl, T *gammi) {                     \
    const T c[29] = {                                                                                          \
        L(1.0), L(0.577215664901532860607), L(-0.655878071520253881077), L(-0.042002635034095235529),          \
        L(0.166538611382291489502), L(-0.0421977345555443367482), L(-0.00962197152787697356211),               \
        L(0.0072189432466630995424), L(-0.00116516759185906511211), L(-0.000215241674114950972816),            \
        L(0.000128050282388116186153), L(-0.0000201348547807882386557), L(-0.00000125049348214267065735),      \
        L(0.00000113302723198169588237), L(-2.05633841697760710345e-7), L(6.11609510448141581786e-9),          \
        L(5.00200764446922293006e-9), L(-1.18127457048702014459e-9), L(1.04342671169110051049e-10),            \
        L(7.78226343990507125405e-12), L(-3.69680561864220570819e-12), L(5.10037028745447597902e-13),          \
        L(-2.05832605356650678322e-14), L(-5.34812253942301798237e-15), L(1.22677862823826079016e-15),         \
        L(-1.18125930169745876951e-16), L(1.18669225475160033258e-18), L(1.41238065531803178156e-18),          \
        L(-2.29874568443537020659e-19)};                                                                       \
    T m2 = mu * mu, even = c[28], odd = c[27];                                                                 \
    int k;                                                                                                     \
    for (k = 26; k >= 0; k -= 2) even = even * m2 + c[k];                                                      \
    for (k = 25; k >= 1; k -= 2) odd = odd * m2 + c[k];                                                        \
    *gam1 = -odd;                                                                                              \
    *gam2 = even;                                                                                              \
    *gampl = even + mu * odd;                                                                                  \
    *gammi = even - mu * odd;                                                                                  \
}                                                                                                              \
                                                                                                               \
/* The Hankel expansions for large x: P, Q (J and Y) or the sums of I e^-x and K e^x. */                       \
EGB_HEAVY void F(eg_bessel_asymptotic)(T v, T x, T *p, T *q, T *sk, T *si) {                                   \
    T mu = L(4.0) * v * v, t = L(1.0), prev = (T)INFINITY;                                                     \
    int k;                                                                                                     \
    *p = L(1.0); *q = L(0.0); *sk = L(1.0); *si = L(1.0);                                                      \
    for (k = 1; k < 200; ++k) {                                                                                \
        T odd = (T)(2 * k - 1);                                                                                \
        t *= (mu - odd * odd) / ((T)(8 * k) * x);                                                              \
        if (F(fabs)(t) > prev) break; /* the series diverges from here */                                      \
        prev = F(fabs)(t);                                                                                     \
        *sk += t;                                                                                              \
        *si += (k & 1) ? -t : t;                                                                               \
        if (k & 1) *q += ((k & 2) ? -t : t);                                                                   \
        else *p += ((k & 2) ? -t : t);                                                                         \
        if (prev < EPS * L(0.01)) break;                                                                       \
    }                                                                                                          \
}                                                                                                              \
                                                                                                               \
/* Whether the Hankel expansions reach full accuracy at (v, x). */                                             \
static inline DEVICE int F(eg_bessel_large_x)(T v, T x) {                                                      \
    return x >= ASYM_X + L(0.5) * v * v;                                                                       \
}                                                                                                              \
                                                                                                               \
/* J_v(x) and Y_v(x) for v >= 0, 0 < x < inf: Steed's method (continued fractions CF1 for                      \
 * J'/J and CF2 for (J' + iY')/(J + iY)), Temme's series for Y_mu at x < 2, |mu| <= 1/2,                       \
 * recurrences in the order, the Wronskian for the normalisation; Hankel's expansions                          \
 * for large x. NaN where CF1 does not converge in MAXIT steps. */                                             \
EGB_HEAVY void F(eg_jy_pos)(T v, T x, T *rj, T *ry) {                                                          \
    int nl, i, l, isign = 1;                                                                                   \
    T mu, mu2, xi, xi2, w, h, b, d, c, del, rjl, rjpl, rjl1, fact, f, t, jmu, ymu, ymup, y1;                   \
    if (F(eg_bessel_large_x)(v, x)) {                                                                          \
        T p, q, sk, si, cp = F(eg_cospi)(L(0.5) * v + L(0.25)), sp = F(eg_sinpi)(L(0.5) * v + L(0.25));        \
        T cx = F(cos)(x), sx = F(sin)(x), cchi = cx * cp + sx * sp, schi = sx * cp - cx * sp;                  \
        T scale = F(sqrt)(L(2.0) / (EGB_PI(L) * x));                                                           \
        F(eg_bessel_asymptotic)(v, x, &p, &q, &sk, &si);                                                       \
        *rj = scale * (p * cchi - q * schi);                                                                   \
        *ry = scale * (p * schi + q * cchi);                                                                   \
        return;                                                                                                \
    }                                                                                                          \
    nl = x < L(2.0) ? (int)(v + L(0.5)) : (v - x + L(1.5) > L(0.0) ? (int)(v - x + L(1.5)) : 0);               \
    mu = v - (T)nl; mu2 = mu * mu; xi = L(1.0) / x; xi2 = L(2.0) * xi; w = xi2 / EGB_PI(L);                    \
    h = v * xi; if (h < FPMIN) h = FPMIN;                                                                      \
    b = xi2 * v; d = L(0.0); c = h;                                                                            \
    for (i = 1; i < MAXIT; ++i) { /* CF1: h = J'_v / J_v */                                                    \
        b += xi2; d = b - d; if (F(fabs)(d) < FPMIN) d = FPMIN;                                                \
        c = b - L(1.0) / c; if (F(fabs)(c) < FPMIN) c = FPMIN;                                                 \
        d = L(1.0) / d; del = c * d; h = del * h; if (d < L(0.0)) isign = -isign;                              \
        if (F(fabs)(del - L(1.0)) < EPS) break;                                                                \
    }                                                                                                          \
    if (i >= MAXIT) { *rj = *ry = (T)NAN; return; }                                                            \
    rjl = (T)isign * FPMIN; rjpl = h * rjl; rjl1 = rjl; fact = v * xi;                                         \
    for (l = nl; l >= 1; --l) { /* J_l and J'_l down to mu, unnormalised, rescaled against overflow */         \
        t = fact * rjl + rjpl; fact -= xi; rjpl = fact * t - rjl; rjl = t;                                     \
        if (F(fabs)(rjl) > BIG) { rjl *= L(1.0) / BIG; rjpl *= L(1.0) / BIG; rjl1 *= L(1.0) / BIG; }           \
    }                                                                                                          \
    if (rjl == L(0.0)) rjl = EPS;                                                                              \
    f = rjpl / rjl;                                                                                            \
    if (x < L(2.0)) { /* Temme's series for Y_mu, Y_mu+1 */                                                    \
        T x2 = L(0.5) * x, pimu = EGB_PI(L) * mu, e, fact2, fact3, gam1, gam2, gampl, gammi, ff, p, q, r;      \
        T sum, sum1, pimu2, del1;                                                                              \
        fact = F(fabs)(pimu) < EPS ? L(1.0) : pimu / F(sin)(pimu);                                             \
        d = -F(log)(x2); e = mu * d;                                                                           \
        fact2 = F(fabs)(e) < EPS ? L(1.0) : F(sinh)(e) / e;                                                    \
        F(eg_temme_gammas)(mu, &gam1, &gam2, &gampl, &gammi);                                                  \
        ff = L(2.0) / EGB_PI(L) * fact * (gam1 * F(cosh)(e) + gam2 * fact2 * d);                               \
        e = F(exp)(e); p = e / (gampl * EGB_PI(L)); q = L(1.0) / (e * EGB_PI(L) * gammi);                      \
        pimu2 = L(0.5) * pimu;                                                                                 \
        fact3 = F(fabs)(pimu2) < EPS ? L(1.0) : F(sin)(pimu2) / pimu2;                                         \
        r = EGB_PI(L) * pimu2 * fact3 * fact3;                                                                 \
        c = L(1.0); d = -x2 * x2; sum = ff + r * q; sum1 = p;                                                  \
        for (i = 1; i < MAXIT; ++i) {                                                                          \
            ff = ((T)i * ff + p + q) / ((T)i * (T)i - mu2);                                                    \
            c *= d / (T)i; p /= (T)i - mu; q /= (T)i + mu;                                                     \
            del = c * (ff + r * q); sum += del; del1 = c * p - (T)i * del; sum1 += del1;                       \
            if (F(fabs)(del) < (L(1.0) + F(fabs)(sum)) * EPS) break;                                           \
        }                                                                                                      \
        ymu = -sum; y1 = -sum1 * xi2; ymup = mu * xi * ymu - y1;                                               \
        jmu = w / (ymup - f * ymu);                                                                            \
    } else { /* CF2: p + iq = (J' + iY') / (J + iY) at mu, by Steed's method */                                \
        T a = L(0.25) - mu2, p = L(-0.5) * xi, q = L(1.0), br = L(2.0) * x, bi = L(2.0), cr, ci, den, dr, di;  \
        T dlr, dli, gam;                                                                                       \
        fact = a * xi / (p * p + q * q); cr = br + q * fact; ci = bi + p * fact;                               \
        den = br * br + bi * bi; dr = br / den; di = -bi / den;                                                \
        dlr = cr * dr - ci * di; dli = cr * di + ci * dr;                                                      \
        t = p * dlr - q * dli; q = p * dli + q * dlr; p = t;                                                   \
        for (i = 2; i < MAXIT; ++i) {                                                                          \
            a += (T)(2 * (i - 1)); bi += L(2.0);                                                               \
            dr = a * dr + br; di = a * di + bi;                                                                \
            if (F(fabs)(dr) + F(fabs)(di) < FPMIN) dr = FPMIN;                                                 \
            fact = a / (cr * cr + ci * ci); cr = br + cr * fact; ci = bi - ci * fact;                          \
            if (F(fabs)(cr) + F(fabs)(ci) < FPMIN) cr = FPMIN;                                                 \
            den = dr * dr + di * di; dr /= den; di /= -den;                                                    \
            dlr = cr * dr - ci * di; dli = cr * di + ci * dr;                                                  \
            t = p * dlr - q * dli; q = p * dli + q * dlr; p = t;                                               \
            if (F(fabs)(dlr - L(1.0)) + F(fabs)(dli) < EPS) break;                                             \
        }                                                                                                      \
        gam = (p - f) / q;                                                                                     \
        jmu = F(sqrt)(w / ((p - f) * gam + q));                                                                \
        jmu = F(copysign)(jmu, rjl);                                                                           \
        ymu = jmu * gam; ymup = ymu * (p + q / gam); y1 = mu * xi * ymu - ymup;                                \
    }                                                                                                          \
    *rj = rjl1 * (jmu / rjl);                                                                                  \
    for (i = 1; i <= nl; ++i) { t = (mu + (T)i) * xi2 * y1 - ymu; ymu = y1; y1 = t; }                          \
    *ry = ymu;                                                                                                 \
}                                                                                                              \
                                                                                                               \
/* I_v(x) e^-x and K_v(x) e^x for v >= 0, 0 < x < inf: CF1 for I'/I, Temme's series                            \
 * (x < 2) or Steed's CF2 (x >= 2) for K_mu, K_mu+1, |mu| <= 1/2, recurrences in the                           \
 * order, the Wronskian for I; Hankel's expansions for large x. */                                             \
EGB_HEAVY void F(eg_ik_pos)(T v, T x, int want_k, T *rie, T *rke) {                                            \
    int nl, i, l;                                                                                              \
    T mu, mu2, xi, xi2, h, b, d, c, del, ril, ripl, ril1, fact, f, t, kmu, k1, kmup;                           \
    if (F(eg_bessel_large_x)(v, x)) {                                                                          \
        T p, q, sk, si;                                                                                        \
        F(eg_bessel_asymptotic)(v, x, &p, &q, &sk, &si);                                                       \
        *rie = si / F(sqrt)(L(2.0) * EGB_PI(L) * x);                                                           \
        *rke = sk * F(sqrt)(EGB_PI(L) / (L(2.0) * x));                                                         \
        return;                                                                                                \
    }                                                                                                          \
    nl = (int)(v + L(0.5)); mu = v - (T)nl; mu2 = mu * mu; xi = L(1.0) / x; xi2 = L(2.0) * xi;                 \
    h = v * xi; if (h < FPMIN) h = FPMIN;                                                                      \
    b = xi2 * v; d = L(0.0); c = h;                                                                            \
    for (i = 1; i < MAXIT; ++i) { /* CF1: h = I'_v / I_v */                                                    \
        b += xi2; d = L(1.0) / (b + d); c = b + L(1.0) / c; del = c * d; h = del * h;                          \
        if (F(fabs)(del - L(1.0)) < EPS) break;                                                                \
    }                                                                                                          \
    if (i >= MAXIT) { *rie = *rke = (T)NAN; return; }                                                          \
    ril = FPMIN; ripl = h * ril; ril1 = ril; fact = v * xi;                                                    \
    for (l = nl; l >= 1; --l) {                                                                                \
        t = fact * ril + ripl; fact -= xi; ripl = fact * t + ril; ril = t;                                     \
        if (F(fabs)(ril) > BIG) { ril *= L(1.0) / BIG; ripl *= L(1.0) / BIG; ril1 *= L(1.0) / BIG; }           \
    }                                                                                                          \
    f = ripl / ril;                                                                                            \
    if (x < L(2.0)) { /* Temme's series, times e^x */                                                          \
        T x2 = L(0.5) * x, pimu = EGB_PI(L) * mu, e, fact2, gam1, gam2, gampl, gammi, ff, p, q, sum, sum1, ex; \
        fact = F(fabs)(pimu) < EPS ? L(1.0) : pimu / F(sin)(pimu);                                             \
        d = -F(log)(x2); e = mu * d;                                                                           \
        fact2 = F(fabs)(e) < EPS ? L(1.0) : F(sinh)(e) / e;                                                    \
        F(eg_temme_gammas)(mu, &gam1, &gam2, &gampl, &gammi);                                                  \
        ff = fact * (gam1 * F(cosh)(e) + gam2 * fact2 * d);                                                    \
        sum = ff; e = F(exp)(e); p = L(0.5) * e / gampl; q = L(0.5) / (e * gammi);                             \
        c = L(1.0); d = x2 * x2; sum1 = p;                                                                     \
        for (i = 1; i < MAXIT; ++i) {                                                                          \
            ff = ((T)i * ff + p + q) / ((T)i * (T)i - mu2);                                                    \
            c *= d / (T)i; p /= (T)i - mu; q /= (T)i + mu;                                                     \
            del = c * ff; sum += del; sum1 += c * (p - (T)i * ff);                                             \
            if (F(fabs)(del) < F(fabs)(sum) * EPS) break;                                                      \
        }                                                                                                      \
        ex = F(exp)(x);                                                                                        \
        kmu = sum * ex; k1 = sum1 * xi2 * ex;                                                                  \
    } else { /* Steed's CF2 (Thompson and Barnett's form) for K_mu e^x */                                      \
        T delh, q1 = L(0.0), q2 = L(1.0), a1 = L(0.25) - mu2, q, a, s, qnew, dels;                             \
        b = L(2.0) * (L(1.0) + x); d = L(1.0) / b; h = delh = d;                                               \
        q = c = a1; a = -a1; s = L(1.0) + q * delh;                                                            \
        for (i = 2; i < MAXIT; ++i) {                                                                          \
            a -= (T)(2 * (i - 1)); c = -a * c / (T)i;                                                          \
            qnew = (q1 - b * q2) / a; q1 = q2; q2 = qnew; q += c * qnew;                                       \
            b += L(2.0); d = L(1.0) / (b + a * d); delh = (b * d - L(1.0)) * delh; h += delh;                  \
            dels = q * delh; s += dels;                                                                        \
            if (F(fabs)(dels / s) < EPS) break;                                                                \
        }                                                                                                      \
        h = a1 * h;                                                                                            \
        kmu = F(sqrt)(EGB_PI(L) / (L(2.0) * x)) / s;                                                           \
        k1 = kmu * (mu + x + L(0.5) - h) * xi;                                                                 \
    }                                                                                                          \
    kmup = mu * xi * kmu - k1;                                                                                 \
    *rie = (xi / (f * kmu - kmup)) * (ril1 / ril);                                                             \
    for (i = 1; want_k && i <= nl; ++i) { t = (mu + (T)i) * xi2 * k1 + kmu; kmu = k1; k1 = t; }                \
    *rke = kmu; /* K_mu only, unless want_k (K_v may overflow where I_v does not) */                           \
}                                                                                                              \
                                                                                                               \
/* Whether v is an integer that fits an int (the orders of libm's jn and yn). */                               \
static inline DEVICE int F(eg_is_int_order)(T v) {                                                             \
    return v == F(floor)(v) && F(fabs)(v) < L(1.0e9);                                                          \
}                                                                                                              \
                                                                                                               \
/* J_n(x), Y_n(x) for integer n, by the C library (j0 j1 jn y0 y1 yn); J: parity for x < 0. */                 \
static inline DEVICE T F(eg_jn_int)(int n, T x) {                                                              \
    T sign = ((n < 0 && (n & 1)) ? L(-1.0) : L(1.0));                                                          \
    int m = n < 0 ? -n : n;                                                                                    \
    if (isinf(x)) return (T)NAN;                                                                               \
    return sign * (m == 0 ? F(j0)(x) : m == 1 ? F(j1)(x) : F(jn)(m, x));                                       \
}                                                                                                              \
                                                                                                               \
static inline DEVICE T F(eg_yn_int)(int n, T x) {                                                              \
    T sign = ((n < 0 && (n & 1)) ? L(-1.0) : L(1.0));                                                          \
    int m = n < 0 ? -n : n;                                                                                    \
    if (!(x >= L(0.0)) || isinf(x)) return (T)NAN;                                                             \
    if (x == L(0.0)) return -sign * (T)INFINITY;                                                               \
    return sign * (m == 0 ? F(y0)(x) : m == 1 ? F(y1)(x) : F(yn)(m, x));                                       \
}                                                                                                              \
                                                                                                               \
/* (-1)^n for the integer n = v. */                                                                            \
static inline DEVICE T F(eg_parity)(T v) {                                                                     \
    return F(fmod)(v, L(2.0)) == L(0.0) ? L(1.0) : L(-1.0);                                                    \
}                                                                                                              \
                                                                                                               \
/* J_v(x) (which = 0) or Y_v(x) (which = 1) for real v; values at x = 0, x < 0 and inf as SciPy. */            \
static inline DEVICE T F(eg_jy)(int which, T v, T x) {                                                         \
    T j, y, a = F(fabs)(v), c, s;                                                                              \
    if (isnan(v) || isnan(x) || isinf(v)) return (T)NAN;                                                       \
    if (F(eg_is_int_order)(v)) return which ? F(eg_yn_int)((int)v, x) : F(eg_jn_int)((int)v, x);               \
    if (!(x >= L(0.0)) || isinf(x)) return (T)NAN;                                                             \
    if (x == L(0.0)) {                                                                                         \
        if (which) return v < L(0.0) && ((long long)F(floor)(-v) & 1) ? (T)INFINITY : -(T)INFINITY;            \
        if (v > L(0.0)) return L(0.0);                                                                         \
        return ((long long)F(ceil)(-v - L(1.0)) & 1) ? -(T)INFINITY : (T)INFINITY; /* sign of Gamma(v + 1) */  \
    }                                                                                                          \
    F(eg_jy_pos)(a, x, &j, &y);                                                                                \
    if (v >= L(0.0)) return which ? y : j;                                                                     \
    c = F(eg_cospi)(a); s = F(eg_sinpi)(a);                                                                    \
    return which ? s * j + c * y : c * j - s * y;                                                              \
}                                                                                                              \
                                                                                                               \
/* I_v(x) (scaled = 0) or I_v(x) e^-|x| (scaled = 1) for real v, as SciPy. */                                  \
static inline DEVICE T F(eg_iv_any)(int scaled, T v, T x) {                                                    \
    T ie, ke, a = F(fabs)(v), ax = F(fabs)(x), r;                                                              \
    if (isnan(v) || isnan(x) || isinf(v) || isinf(x)) return (T)NAN;                                           \
    if (x < L(0.0) && !F(eg_is_int_order)(v)) return (T)NAN;                                                   \
    if (x == L(0.0)) {                                                                                         \
        if (v == L(0.0)) return L(1.0);                                                                        \
        if (v > L(0.0) || F(eg_is_int_order)(v)) return L(0.0);                                                \
        return scaled ? (T)NAN : (T)INFINITY;                                                                  \
    }                                                                                                          \
    F(eg_ik_pos)(a, ax, v < L(0.0) && !F(eg_is_int_order)(v), &ie, &ke);                                       \
    if (v < L(0.0) && !F(eg_is_int_order)(v)) /* I_-a = I_a + (2/pi) sin(pi a) K_a */                          \
        ie += L(2.0) / EGB_PI(L) * F(eg_sinpi)(a) * ke * F(exp)(L(-2.0) * ax);                                 \
    r = scaled ? ie : ie * F(exp)(L(0.5) * ax) * F(exp)(L(0.5) * ax); /* finite a little past exp's overflow */ \
    return (x < L(0.0) && F(eg_parity)(v) < L(0.0)) ? -r : r;                                                  \
}                                                                                                              \
                                                                                                               \
/* K_v(x) (scaled = 0) or K_v(x) e^x (scaled = 1) for real v, as SciPy. */                                     \
static inline DEVICE T F(eg_kv_any)(int scaled, T v, T x) {                                                    \
    T ie, ke;                                                                                                  \
    if (!(x >= L(0.0))) return (T)NAN;                                                                         \
    if (x == L(0.0)) return (T)INFINITY; /* whatever v, as SciPy */                                            \
    if (isnan(v) || isinf(v)) return (T)NAN;                                                                   \
    if (isinf(x)) return scaled ? (T)NAN : L(0.0);                                                             \
    F(eg_ik_pos)(F(fabs)(v), x, 1, &ie, &ke);                                                                  \
    return scaled ? ke : ke * F(exp)(L(-0.5) * x) * F(exp)(L(-0.5) * x);                                       \
}                                                                                                              \
                                                                                                               \
/* i0e, i1e, k0e, k1e: as eg_ive and eg_kve, but 0 at infinity (SciPy's scaled fixed orders). */               \
static inline DEVICE T F(eg_ive_n)(int n, T x) {                                                               \
    if (isinf(x)) return (n & 1) ? F(copysign)(L(0.0), x) : L(0.0);                                            \
    return F(eg_iv_any)(1, (T)n, x);                                                                           \
}                                                                                                              \
                                                                                                               \
static inline DEVICE T F(eg_kve_n)(int n, T x) {                                                               \
    return (isinf(x) && x > L(0.0)) ? L(0.0) : F(eg_kv_any)(1, (T)n, x);                                       \
}                                                                                                              \
                                                                                                               \
static inline DEVICE T F(eg_jv)(T v, T x) { return F(eg_jy)(0, v, x); }                                        \
static inline DEVICE T F(eg_yv)(T v, T x) { return F(eg_jy)(1, v, x); }                                        \
static inline DEVICE T F(eg_iv)(T v, T x) { return F(eg_iv_any)(0, v, x); }                                    \
static inline DEVICE T F(eg_ive)(T v, T x) { return F(eg_iv_any)(1, v, x); }                                   \
static inline DEVICE T F(eg_kv)(T v, T x) { return F(eg_kv_any)(0, v, x); }                                    \
static inline DEVICE T F(eg_kve)(T v, T x) { return F(eg_kv_any)(1, v, x); }                                   \
                                                                                                               \
/* ---- Derivatives in the order v (m = 1, 2), for x > 0 ----                                                  \
 * Large x (Hankel's region): the derivatives of Hankel's expansions, term by term.                            \
 * J and I at x <= 2, v > -1/2: the power series, term by term (eg_bessel_dv_series).                          \
 * Elsewhere Schlafli's integrals (DLMF 10.9.6, 10.9.7, 10.32.4) differentiated under the                      \
 * integral sign: their part on [0, pi] by composite 20-point Gauss-Legendre, panels no                        \
 * longer than 10 / (x + |v|), so each panel's error is below (5^40 / 40!) of the integrand's                  \
 * size; their part on [0, inf) (moments of exp(-x sinh t + s t) or exp(-x cosh t + s t)) by                   \
 * the trapezoid rule in u after t = exp(u - e^-u), step 1/(64 (1 + max(s, 0))), an exponentially convergent   \
 * rule for these integrands. K: DLMF 10.32.9, an even entire integrand on the real line, by                   \
 * the trapezoid rule with step min(0.1, 0.5 / sqrt(x)) (error about exp(-2 pi d / h) with                     \
 * d = pi/3 below x = 25, exp(-2 pi^2 / (h^2 x)) above it). */                                                 \
                                                                                                               \
/* The expansions of eg_bessel_asymptotic and their first (d1) and second (d2) v-derivatives:                  \
 * index 0: P, 1: Q, 2: the sum of K e^x, 3: the sum of I e^-x. */                                             \
EGB_HEAVY void F(eg_bessel_asymptotic_dv)(T v, T x, T *s0, T *d1, T *d2) {                                     \
    T mu = L(4.0) * v * v, t = L(1.0), t1 = L(0.0), t2 = L(0.0), prev = (T)INFINITY;                           \
    int k, i;                                                                                                  \
    for (i = 0; i < 4; ++i) { s0[i] = d1[i] = d2[i] = L(0.0); }                                                \
    s0[0] = s0[2] = s0[3] = L(1.0);                                                                            \
    for (k = 1; k < 200; ++k) {                                                                                \
        T odd = (T)(2 * k - 1), r = (mu - odd * odd) / ((T)(8 * k) * x), r1 = v / ((T)k * x);                  \
        T r2 = L(1.0) / ((T)k * x), sp = (k & 2) ? L(-1.0) : L(1.0), si = (k & 1) ? L(-1.0) : L(1.0);          \
        t2 = t2 * r + L(2.0) * t1 * r1 + t * r2; t1 = t1 * r + t * r1; t = t * r;                              \
        if (F(fabs)(t) + F(fabs)(t1) + F(fabs)(t2) > prev) break;                                              \
        prev = F(fabs)(t) + F(fabs)(t1) + F(fabs)(t2);                                                         \
        i = (k & 1) ? 1 : 0;                                                                                   \
        s0[i] += sp * t; d1[i] += sp * t1; d2[i] += sp * t2;                                                   \
        s0[2] += t; d1[2] += t1; d2[2] += t2;                                                                  \
        s0[3] += si * t; d1[3] += si * t1; d2[3] += si * t2;                                                   \
        if (prev < EPS * L(0.01)) break;                                                                       \
    }                                                                                                          \
}                                                                                                              \
                                                                                                               \
/* The m-th v-derivative (m = 1, 2) of J (kind 0) or Y (kind 1) by Hankel's expansions. */                     \
EGB_HEAVY T F(eg_jy_dv_large)(int kind, int m, T v, T x) {                                                     \
    T s0[4], d1[4], d2[4], a = EGB_PI(L) * L(0.5);                                                             \
    T cp = F(eg_cospi)(L(0.5) * v + L(0.25)), sp = F(eg_sinpi)(L(0.5) * v + L(0.25));                          \
    T cx = F(cos)(x), sx = F(sin)(x), c = cx * cp + sx * sp, s = sx * cp - cx * sp;                            \
    T scale = F(sqrt)(L(2.0) / (EGB_PI(L) * x)), P, Q, P1, Q1, P2, Q2;                                         \
    F(eg_bessel_asymptotic_dv)(v, x, s0, d1, d2);                                                              \
    P = s0[0]; Q = s0[1]; P1 = d1[0]; Q1 = d1[1]; P2 = d2[0]; Q2 = d2[1];                                      \
    if (kind == 0)                                                                                             \
        return scale * (m == 1 ? P1 * c + a * P * s - Q1 * s + a * Q * c                                       \
                               : P2 * c + L(2.0) * a * P1 * s - a * a * P * c - Q2 * s + L(2.0) * a * Q1 * c   \
                                 + a * a * Q * s);                                                             \
    return scale * (m == 1 ? P1 * s - a * P * c + Q1 * c + a * Q * s                                           \
                           : P2 * s - L(2.0) * a * P1 * c - a * a * P * s + Q2 * c + L(2.0) * a * Q1 * s       \
                             - a * a * Q * c);                                                                 \
}                                                                                                              \
                                                                                                               \
/* (1/pi) int_0^pi of the m-th v-derivative of Schlafli's integrand on [0, pi]:                                \
 * kind 0 (J) cos(x sin th - v th), 1 (Y) sin(x sin th - v th), 2 (I) exp(x (cos th - 1)) cos(v th). */        \
EGB_HEAVY T F(eg_bessel_arc_dv)(int kind, int m, T v, T x) {                                                   \
    const T nodes[10] = {L(0.0765265211334973337546), L(0.227785851141645078080), L(0.373706088715419560673),  \
        L(0.510867001950827098004), L(0.636053680726515025453), L(0.746331906460150792614),                    \
        L(0.839116971822218823395), L(0.912234428251325905868), L(0.963971927277913791268),                    \
        L(0.993128599185094924786)};                                                                           \
    const T weights[10] = {L(0.152753387130725850698), L(0.149172986472603746788), L(0.142096109318382051329), \
        L(0.131688638449176626898), L(0.118194531961518417312), L(0.101930119817240435037),                    \
        L(0.0832767415767047487248), L(0.0626720483341090635695), L(0.0406014298003869413310),                 \
        L(0.0176140071391521183119)};                                                                          \
    int panels = 1 + (int)(EGB_PI(L) * (x + F(fabs)(v)) / L(10.0)), p, i, side;                                \
    T len = EGB_PI(L) / (T)panels, sum = L(0.0);                                                               \
    for (p = 0; p < panels; ++p) {                                                                             \
        T mid = len * ((T)p + L(0.5)), part = L(0.0);                                                          \
        for (i = 0; i < 10; ++i)                                                                               \
            for (side = -1; side <= 1; side += 2) {                                                            \
                T th = mid + (T)side * L(0.5) * len * nodes[i], g;                                             \
                T pw = m == 1 ? th : th * th, ph = x * F(sin)(th) - v * th;                                    \
                if (kind == 0) g = m == 1 ? pw * F(sin)(ph) : -pw * F(cos)(ph);                                \
                else if (kind == 1) g = m == 1 ? -pw * F(cos)(ph) : -pw * F(sin)(ph);                          \
                else g = F(exp)(x * (F(cos)(th) - L(1.0))) * (m == 1 ? -pw * F(sin)(v * th) : -pw * F(cos)(v * th)); \
                part += weights[i] * g;                                                                        \
            }                                                                                                  \
        sum += part;                                                                                           \
    }                                                                                                          \
    return sum * L(0.5) * len / EGB_PI(L);                                                                     \
}                                                                                                              \
                                                                                                               \
/* e[m] = int_0^inf t^m exp(-x (cosh t if hyp_cosh else sinh t) + s t - shift) dt, m = 0, 1, 2. */             \
EGB_HEAVY void F(eg_bessel_tail)(int hyp_cosh, T s, T x, T shift, T *e) {                                      \
    /* the peak of exp(s t - x sinh t) narrows to about 1/sqrt(s) in t = e^u: a finer step */                  \
    const T h = L(0.015625) / (L(1.0) + (s > L(0.0) ? s : L(0.0)));                                            \
    T prev = (T)INFINITY, peak = L(0.0), scale;                                                                \
    int k;                                                                                                     \
    if (!hyp_cosh && s > x) { /* the integrand's largest exponent, taken out against overflow */               \
        T tp = F(acosh)(s / x);                                                                                \
        peak = s * tp - x * F(sinh)(tp);                                                                       \
    }                                                                                                          \
    shift += peak;                                                                                             \
    e[0] = e[1] = e[2] = L(0.0);                                                                               \
    for (k = 0; k < 200000; ++k) {                                                                             \
        T u = L(-5.0) + (T)k * h, eu = F(exp)(-u), t = F(exp)(u - eu), g, size;                                \
        g = F(exp)((hyp_cosh ? -x * F(cosh)(t) : -x * F(sinh)(t)) + s * t - shift) * t * (L(1.0) + eu);        \
        e[0] += g; e[1] += g * t; e[2] += g * t * t;                                                           \
        size = g * (L(1.0) + t * t);                                                                           \
        if (u > L(0.0) && size <= prev && size <= EPS * L(1.0e-4) * (e[0] + e[2])) break;                      \
        prev = size;                                                                                           \
    }                                                                                                          \
    scale = h * F(exp)(L(0.5) * peak);                                                                         \
    for (k = 0; k < 3; ++k) e[k] = e[k] * scale * F(exp)(L(0.5) * peak);                                       \
}                                                                                                              \
                                                                                                               \
/* The m-th v-derivative of K_v(x) e^x, x > 0 (DLMF 10.32.9 under the integral sign). */                       \
EGB_HEAVY T F(eg_kve_dv)(int m, T v, T x) {                                                                    \
    T h = L(0.5) / F(sqrt)(x), sum = L(0.0), prev = (T)INFINITY;                                               \
    int k;                                                                                                     \
    if (F(eg_bessel_large_x)(v, x)) {                                                                          \
        T s0[4], d1[4], d2[4];                                                                                 \
        F(eg_bessel_asymptotic_dv)(v, x, s0, d1, d2);                                                          \
        return (m == 1 ? d1[2] : d2[2]) * F(sqrt)(EGB_PI(L) / (L(2.0) * x));                                   \
    }                                                                                                          \
    T fv = F(fabs)(v), tp = F(asinh)(fv / x), peak = fv * tp - x * (F(cosh)(tp) - L(1.0)); /* largest exponent */ \
    if (h > L(0.1)) h = L(0.1);                                                                                \
    for (k = 1; k < 100000; ++k) {                                                                             \
        T t = (T)k * h, sh = F(sinh)(L(0.5) * t), w = L(-2.0) * x * sh * sh - peak, g;                         \
        g = L(0.5) * (m == 1 ? t : t * t)                                                                      \
            * (F(exp)(v * t + w) + (m == 1 ? L(-1.0) : L(1.0)) * F(exp)(-v * t + w));                          \
        sum += g;                                                                                              \
        if (F(fabs)(g) <= prev && F(fabs)(g) <= EPS * L(1.0e-4) * F(fabs)(sum)) break;                         \
        prev = F(fabs)(g);                                                                                     \
    }                                                                                                          \
    return sum * h * F(exp)(L(0.5) * peak) * F(exp)(L(0.5) * peak);                                            \
}                                                                                                              \
                                                                                                               \
/* digamma and trigamma at z > 0: recurrence up to z >= 16, then their asymptotic series. */                   \
static inline DEVICE void F(eg_psi01)(T z, T *psi, T *tri) {                                                   \
    T p = L(0.0), q = L(0.0), w;                                                                               \
    for (; z < L(16.0); z += L(1.0)) { p -= L(1.0) / z; q += L(1.0) / (z * z); }                               \
    w = L(1.0) / (z * z);                                                                                      \
    *psi = p + F(log)(z) - L(0.5) / z                                                                          \
           - w * (L(1.0) / L(12.0) - w * (L(1.0) / L(120.0) - w * (L(1.0) / L(252.0) - w * (L(1.0) / L(240.0)  \
           - w / L(132.0)))));                                                                                 \
    *tri = q + L(1.0) / z + L(0.5) * w                                                                         \
           + w / z * (L(1.0) / L(6.0) - w * (L(1.0) / L(30.0) - w * (L(1.0) / L(42.0) - w * (L(1.0) / L(30.0)  \
           - w * L(5.0) / L(66.0)))));                                                                         \
}                                                                                                              \
                                                                                                               \
/* The m-th v-derivative of J_v(x) (modified = 0) or I_v(x) (1) for 0 < x <= 2, v > -1/2, by                   \
 * the power series differentiated term by term (DLMF 10.2.2, 10.25.2): the terms                              \
 * (-+x^2/4)^k (x/2)^v / (k! Gamma(k+v+1)) times (log(x/2) - psi(k+v+1)) (m = 1) or                            \
 * (log(x/2) - psi(k+v+1))^2 - psi'(k+v+1) (m = 2); relative accuracy also where the                           \
 * value is tiny (large v), where the quadrature's error is absolute. */                                       \
EGB_HEAVY T F(eg_bessel_dv_series)(int modified, int m, T v, T x) {                                            \
    T lx = F(log)(L(0.5) * x), z = v + L(1.0), psi, tri, q = L(0.25) * x * x, t, sum = L(0.0), size;           \
    int k;                                                                                                     \
    F(eg_psi01)(z, &psi, &tri);                                                                                \
    t = F(exp)(v * lx - F(lgamma)(z));                                                                         \
    if (!modified) q = -q;                                                                                     \
    for (k = 0; k < 200 && t != L(0.0); ++k) {                                                                 \
        T p = lx - psi, term = t * (m == 1 ? p : p * p - tri);                                                 \
        sum += term;                                                                                           \
        size = F(fabs)(t) * (L(1.0) + p * p + tri);                                                            \
        if (k > 0 && size <= EPS * L(0.01) * F(fabs)(sum)) break;                                              \
        t *= q / ((T)(k + 1) * ((T)k + z));                                                                    \
        psi += L(1.0) / ((T)k + z);                                                                            \
        tri -= L(1.0) / (((T)k + z) * ((T)k + z));                                                             \
    }                                                                                                          \
    return sum;                                                                                                \
}                                                                                                              \
                                                                                                               \
/* The m-th v-derivative (m = 1, 2) of J_v(x) (kind 0), Y_v(x) (kind 1) or I_v(x) e^-x                         \
 * (kind 2) for x > 0, any real v. */                                                                          \
EGB_HEAVY T F(eg_bessel_dv_pos)(int kind, int m, T v, T x) {                                                   \
    T e[3], c = F(eg_cospi)(v), s = F(eg_sinpi)(v), pi = EGB_PI(L), arc;                                       \
    if (F(eg_bessel_large_x)(F(fabs)(v), x)) {                                                                 \
        T s0[4], d1[4], d2[4];                                                                                 \
        if (kind < 2) return F(eg_jy_dv_large)(kind, m, v, x);                                                 \
        F(eg_bessel_asymptotic_dv)(v, x, s0, d1, d2);                                                          \
        return (m == 1 ? d1[3] : d2[3]) / F(sqrt)(L(2.0) * pi * x);                                            \
    }                                                                                                          \
    if (x <= L(2.0) && v > L(-0.5) && kind != 1)                                                               \
        return F(eg_bessel_dv_series)(kind == 2, m, v, x) * (kind == 2 ? F(exp)(-x) : L(1.0));                 \
    arc = F(eg_bessel_arc_dv)(kind, m, v, x);                                                                  \
    if (kind == 2) { /* B = -(sin(pi v)/pi) int exp(-x cosh t - v t), times e^-x */                            \
        F(eg_bessel_tail)(1, -v, x, x, e);                                                                     \
        return arc + (m == 1 ? -c * e[0] + s / pi * e[1] : pi * s * e[0] + L(2.0) * c * e[1] - s / pi * e[2]); \
    }                                                                                                          \
    F(eg_bessel_tail)(0, -v, x, L(0.0), e);                                                                    \
    if (kind == 0)                                                                                             \
        return arc + (m == 1 ? -c * e[0] + s / pi * e[1] : pi * s * e[0] + L(2.0) * c * e[1] - s / pi * e[2]); \
    {                                                                                                          \
        T g[3];                                                                                                \
        F(eg_bessel_tail)(0, v, x, L(0.0), g);                                                                 \
        return arc - (m == 1 ? g[1] - pi * s * e[0] - c * e[1]                                                 \
                             : g[2] - pi * pi * c * e[0] + L(2.0) * pi * s * e[1] + c * e[2]) / pi;            \
    }                                                                                                          \
}                                                                                                              \
                                                                                                               \
/* Public: d^m/dv^m of jv, yv, iv, ive, kv, kve (m = 1, 2); NaN for x < 0 or NaN/inf input;                    \
 * J and I: 0 at x = 0 for v > 0 (their v-derivatives vanish there), NaN otherwise at 0. */                    \
static inline DEVICE T F(eg_bessel_dv)(int kind, int m, T v, T x) {                                            \
    if (isnan(v) || isnan(x) || isinf(v) || isinf(x) || x < L(0.0)) return (T)NAN;                             \
    if (x == L(0.0)) return ((kind == 0 || kind == 2 || kind == 3) && v > L(0.0)) ? L(0.0) : (T)NAN;           \
    switch (kind) {                                                                                            \
    case 0: return F(eg_bessel_dv_pos)(0, m, v, x);                                                            \
    case 1: return F(eg_bessel_dv_pos)(1, m, v, x);                                                            \
    case 2: return F(eg_bessel_dv_pos)(2, m, v, x) * F(exp)(L(0.5) * x) * F(exp)(L(0.5) * x);                  \
    case 3: return F(eg_bessel_dv_pos)(2, m, v, x);                                                            \
    case 4: return F(eg_kve_dv)(m, v, x) * F(exp)(L(-0.5) * x) * F(exp)(L(-0.5) * x);                          \
    default: return F(eg_kve_dv)(m, v, x);                                                                     \
    }                                                                                                          \
}                                                                                                              \

EG_DEFINE_BESSEL(double, EGB_D_NAME, EGB_D_LIT, 1.0e-16, 1.0e-290, 1.0e200, 100000, 25.0)
EG_DEFINE_BESSEL(float, EGB_F_NAME, EGB_F_LIT, 6.0e-8f, 1.0e-30f, 1.0e20f, 100000, 12.0f)

#endif /* EG_BESSEL_H */
