/* Exponential, trigonometric and Fresnel integrals, Hurwitz zeta and the confluent and
 * Gauss hypergeometric functions for elemgrad_gpu, in double (eg_hg_NAME) and float
 * (eg_hg_NAMEf); each float version computes in float.
 *
 * Plain C99 math only (fma, fmod, sin, cos, exp, log, pow), so the same text compiles as
 * host C/C++ and as CUDA device code (functions carry DEVICE, which is WITHIN_KERNEL inside
 * a kernel). Expects <math.h>. NaN in gives NaN out; other conventions as scipy.special.
 *
 * eg_hg_e1(x): E1, series (x <= 1) or Lentz's continued fraction (x > 1); NaN for x < 0.
 * eg_hg_exp_over_x(m, x): the m-th derivative of e^x / x (Ei's (m+1)-th), by Leibniz's rule.
 * eg_hg_ei(x): Ei, series (0 < x <= -log(eps)) or the asymptotic series; -E1(-x) for x < 0.
 * eg_hg_expn(n, x): E_n for any integer n: n <= 0 in closed form (E_{-m} = m! e^-x
 *   sum_k x^(k-m-1)/k!), n = 1 as E1, n >= 2 by the series (x <= 1) or continued fraction.
 * eg_hg_si(x), eg_hg_ci(x): series (|x| <= 2) or the continued fraction of E1(ix);
 *   Ci(x < 0) is Ci(|x|) (the real part, as SciPy).
 * eg_hg_trig_over_x(cosine, m, x): the m-th derivative of sin(x)/x (cosine = 0; its Taylor
 *   series for |x| < 2: exact at 0) or of cos(x)/x (cosine = 1), by Leibniz's rule.
 * eg_hg_fresnel_s(x), eg_hg_fresnel_c(x): S, C with SciPy's normalisation
 *   (S = int_0^x sin(pi t^2 / 2) dt): series (|x| <= 1.5) or the continued fraction of erfc.
 * eg_hg_sin_half_pi_sq(x), eg_hg_cos_half_pi_sq(x): sin(pi x^2 / 2), cos(pi x^2 / 2) with
 *   x^2 split exactly by fma and reduced modulo 4 exactly (accurate for every finite x).
 * eg_hg_zeta(m, s, q): the m-th derivative in s of Hurwitz's zeta(s, q), m in [0, EG_HG_MMAX],
 *   by Euler-Maclaurin: the direct sum up to a = q + N >= max(9, (s + 26) / pi), then
 *   EG_HG_BERNOULLI Bernoulli terms (see hypergeometric.py for the bound).
 * eg_hg_hyp1f1(i, j, a, b, x): d^i/da^i d^j/db^j of Kummer's M(a, b, x), i + j <= EG_HG_MMAX,
 *   by its series (x >= 0) or Kummer's transformation e^x M(b - a, b, -x) (x < 0).
 * eg_hg_hyp2f1(i, j, l, a, b, c, x): d^i/da^i d^j/db^j d^l/dc^l of 2F1(a, b; c; x) by its
 *   series for 0 <= x < 1, and Pfaff's transformation (1 - x)^-a 2F1(a, c - b; c; x/(x - 1))
 *   for x < 0 (values only: i = j = l = 0; parameter derivatives need |x| < 1 and use the
 *   series directly).
 */
#ifndef EG_HYPERGEOMETRIC_H
#define EG_HYPERGEOMETRIC_H


#define EG_HG_D_NAME(name) name
#define EG_HG_D_LIT(x) x
#define EG_HG_F_NAME(name) name##f
#define EG_HG_F_LIT(x) x##f
#define EG_HG_MMAX 6        /* largest derivative order in the parameters (arrays of 7) */
#define EG_HG_MAXIT 5000    /* iteration cap of every series and continued fraction: NaN past it */
#define EG_HG_BERNOULLI 14  /* Bernoulli terms of Euler-Maclaurin */

/* T: the type; F(name) suffixes names, L(x) suffixes literals (which must have a decimal
 * point); EPS: the relative tolerance that ends a series. */
#define EG_DEFINE_HYPERGEOMETRIC(T, F, L, EPS)                                             \
                                                                                           \
static inline DEVICE T F(eg_hg_euler)(void) { return L(0.57721566490153286060651209); }    \
static inline DEVICE T F(eg_hg_pi)(void) { return L(3.14159265358979323846264338); }       \
                                                                                           \
/* (a + ib) / (c + id) into *re, *im by Smith's algorithm (no overflow in |c + id|^2). */  \
static inline DEVICE void F(eg_hg_cdiv)(T a, T b, T c, T d, T *re, T *im) {                \
    if (F(fabs)(d) <= F(fabs)(c)) {                                                        \
        T r = d / c, den = c + d * r;                                                      \
        *re = (a + b * r) / den; *im = (b - a * r) / den;                                  \
    } else {                                                                               \
        T r = c / d, den = c * r + d;                                                      \
        *re = (a * r + b) / den; *im = (b * r - a) / den;                                  \
    }                                                                                      \
}                                                                                          \
                                                                                           \
/* Lentz's evaluation of 1/(b0 + a1/(b0 + 2 s + a2/(b0 + 4 s + ...))), complex b0 = br + i bi,\
 * real a_k = -k * (k + shift) * scale (shift and scale pick the function), step s. */     \
static inline DEVICE void F(eg_hg_lentz)(T br, T bi, T shift, T scale, T step,             \
                                         T *hr, T *hi) {                                   \
    T cr = L(0.0), ci = L(0.0), dr, di, k;                                                 \
    F(eg_hg_cdiv)(L(1.0), L(0.0), br, bi, &dr, &di);                                       \
    *hr = dr; *hi = di;                                                                    \
    for (k = L(1.0); k < (T)EG_HG_MAXIT; k += L(1.0)) {                                    \
        T a = -k * (k + shift) * scale, er, ei, tr;                                        \
        br += step;                                                                        \
        F(eg_hg_cdiv)(L(1.0), L(0.0), a * dr + br, a * di + bi, &dr, &di);                 \
        if (k == L(1.0)) { er = L(0.0); ei = L(0.0); } /* c starts infinite: a / c = 0 */  \
        else F(eg_hg_cdiv)(a, L(0.0), cr, ci, &er, &ei);                                   \
        cr = br + er; ci = bi + ei;                                                        \
        er = cr * dr - ci * di; ei = cr * di + ci * dr;                                    \
        tr = *hr * er - *hi * ei; *hi = *hr * ei + *hi * er; *hr = tr;                     \
        if (F(fabs)(er - L(1.0)) + F(fabs)(ei) < EPS) return;                              \
    }                                                                                      \
    *hr = (T)NAN; *hi = (T)NAN;                                                            \
}                                                                                          \
                                                                                           \
/* E_n(x) for n >= 1, x > 0: series (x <= 1) or continued fraction. */                     \
static inline DEVICE T F(eg_hg_expn_pos)(int n, T x) {                                     \
    int nm1 = n - 1, i;                                                                    \
    if (x > L(1.0)) {                                                                      \
        T hr, hi;                                                                          \
        F(eg_hg_lentz)(x + (T)n, L(0.0), (T)nm1, L(1.0), L(2.0), &hr, &hi);                \
        return hr * F(exp)(-x);                                                            \
    } else {                                                                               \
        T ans = nm1 != 0 ? L(1.0) / (T)nm1 : -F(log)(x) - F(eg_hg_euler)(), fact = L(1.0); \
        for (i = 1; i < EG_HG_MAXIT; ++i) {                                                \
            T del;                                                                         \
            fact *= -x / (T)i;                                                             \
            if (i != nm1) {                                                                \
                del = -fact / (T)(i - nm1);                                                \
            } else {                                                                       \
                T psi = -F(eg_hg_euler)();                                                 \
                int ii;                                                                    \
                for (ii = 1; ii <= nm1; ++ii) psi += L(1.0) / (T)ii;                       \
                del = fact * (-F(log)(x) + psi);                                           \
            }                                                                              \
            ans += del;                                                                    \
            if (F(fabs)(del) <= F(fabs)(ans) * EPS) return ans;                            \
        }                                                                                  \
        return (T)NAN;                                                                     \
    }                                                                                      \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_hg_expn)(int n, T x) {                                         \
    if (isnan(x) || x < L(0.0)) return x < L(0.0) ? (T)NAN : x;                            \
    if (x == (T)INFINITY) return L(0.0);                                                   \
    if (n <= 0) { /* E_{-m}(x) = e^-x sum_{k=0}^m m!/k! x^(k-m-1) */                       \
        int m = -n, k;                                                                     \
        T s = L(0.0), c = L(1.0), r = L(1.0) / x;                                          \
        if (x == L(0.0)) return (T)INFINITY;                                               \
        for (k = m; k >= 0; --k) { s += c; c *= (T)k * r; } /* c: m!/(k-1)! x^(k-1-m) */   \
        return F(exp)(-x) * s * r;                                                         \
    }                                                                                      \
    if (x == L(0.0)) return n == 1 ? (T)INFINITY : L(1.0) / (T)(n - 1);                    \
    return F(eg_hg_expn_pos)(n, x);                                                        \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_hg_e1)(T x) { return F(eg_hg_expn)(1, x); }                    \
                                                                                           \
/* d^m/dx^m e^x / x = e^x sum_i C(m,i) (-1)^i i! x^(-i-1): the derivatives of Ei. */       \
static inline DEVICE T F(eg_hg_exp_over_x)(int m, T x) {                                   \
    T s = L(0.0), binom = L(1.0), fact = L(1.0), r = L(1.0) / x, p = r;                    \
    int i;                                                                                 \
    for (i = 0; i <= m; ++i) {                                                             \
        s += (i & 1) ? -binom * fact * p : binom * fact * p;                               \
        binom = binom * (T)(m - i) / (T)(i + 1);                                           \
        fact *= (T)(i + 1);                                                                \
        p *= r;                                                                            \
    }                                                                                      \
    return F(exp)(x) * s;                                                                  \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_hg_ei)(T x) {                                                  \
    T sum = L(0.0), term = L(1.0), k, e;                                                   \
    if (isnan(x)) return x;                                                                \
    if (x == L(0.0)) return -(T)INFINITY;                                                  \
    if (x < L(0.0)) return -F(eg_hg_expn)(1, -x);                                          \
    if (x == (T)INFINITY) return x;                                                        \
    if (x <= -F(log)(EPS)) {                                                               \
        for (k = L(1.0); k < (T)EG_HG_MAXIT; k += L(1.0)) {                                \
            term *= x / k;                                                                 \
            sum += term / k;                                                               \
            if (term < EPS * sum) break;                                                   \
        }                                                                                  \
        return sum + F(log)(x) + F(eg_hg_euler)();                                         \
    }                                                                                      \
    sum = L(1.0);                                                                          \
    for (k = L(1.0); k < L(100.0); k += L(1.0)) { /* asymptotic: stop at its least term */ \
        T prev = term;                                                                     \
        term *= k / x;                                                                     \
        if (term < EPS) break;                                                             \
        if (term < prev) { sum += term; } else { sum -= prev; break; }                     \
    }                                                                                      \
    e = F(exp)(L(0.5) * x); /* e^x / x as e * (e / x): finite up to Ei's overflow */       \
    return e * (e * sum / x);                                                              \
}                                                                                          \
                                                                                           \
/* Si and Ci of |x| = t > 0 into *si, *ci. */                                              \
static inline DEVICE void F(eg_hg_sici_pos)(T t, T *si, T *ci) {                           \
    if (t <= L(2.0)) {                                                                     \
        T s = L(0.0), c = L(0.0), term = L(1.0), k;                                        \
        for (k = L(1.0); k < L(100.0); k += L(1.0)) {                                      \
            T add;                                                                         \
            term *= t / k; /* t^k / k! */                                                  \
            add = term / k;                                                                \
            if (((int)k) & 1) {                                                            \
                s += (((int)k) & 2) ? -add : add;                                          \
            } else {                                                                       \
                c += (((int)k) & 2) ? -add : add;                                          \
            }                                                                              \
            if (add < EPS * L(0.01)) break;                                                \
        }                                                                                  \
        *si = s;                                                                           \
        *ci = F(eg_hg_euler)() + F(log)(t) + c;                                            \
    } else { /* E1(i t) = -Ci(t) + i (Si(t) - pi/2) = e^(-i t) * CF */                     \
        T hr, hi, cr = F(cos)(t), sr = F(sin)(t), er, ei;                                  \
        F(eg_hg_lentz)(L(1.0), t, L(0.0), L(1.0), L(2.0), &hr, &hi);                       \
        er = cr * hr + sr * hi; ei = cr * hi - sr * hr;                                    \
        *ci = -er;                                                                         \
        *si = L(0.5) * F(eg_hg_pi)() + ei;                                                 \
    }                                                                                      \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_hg_si)(T x) {                                                  \
    T si, ci, t = F(fabs)(x);                                                              \
    if (isnan(x) || t == L(0.0)) return x;                                                 \
    if (t == (T)INFINITY) return F(copysign)(L(0.5) * F(eg_hg_pi)(), x);                   \
    F(eg_hg_sici_pos)(t, &si, &ci);                                                        \
    return F(copysign)(si, x);                                                             \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_hg_ci)(T x) {                                                  \
    T si, ci, t = F(fabs)(x);                                                              \
    if (isnan(x)) return x;                                                                \
    if (t == L(0.0)) return -(T)INFINITY;                                                  \
    if (t == (T)INFINITY) return x > L(0.0) ? L(0.0) : (T)NAN;                             \
    F(eg_hg_sici_pos)(t, &si, &ci);                                                        \
    return ci;                                                                             \
}                                                                                          \
                                                                                           \
/* The m-th derivative of sin(x)/x (cosine = 0) or cos(x)/x (cosine = 1). */               \
static inline DEVICE T F(eg_hg_trig_over_x)(int cosine, int m, T x) {                      \
    T s = L(0.0);                                                                          \
    int i;                                                                                 \
    if (!cosine && F(fabs)(x) < L(2.0)) { /* sum_j (-1)^j x^(2j) / (2j+1)!, derived m times */\
        T coef = L(1.0); /* (-1)^j / (2j+1)!; 20 terms: the tail is below 1e-25 at |x| = 2 */\
        int j;                                                                             \
        for (j = 0; j < 20; ++j) {                                                         \
            int p = 2 * j;                                                                 \
            if (p >= m) {                                                                  \
                T d = coef;                                                                \
                for (i = 0; i < m; ++i) d *= (T)(p - i);                                   \
                s += d * F(pow)(x, (T)(p - m));                                            \
            }                                                                              \
            coef /= -(T)((p + 2) * (p + 3));                                               \
        }                                                                                  \
        return s;                                                                          \
    } else { /* sum_i C(m,i) trig^(i)(x) (-1)^(m-i) (m-i)! x^(-(m-i)-1) */                 \
        T sn = F(sin)(x), cs = F(cos)(x), r = L(1.0) / x, binom = L(1.0), fact = L(1.0);   \
        T rp;                                                                              \
        for (i = 1; i <= m; ++i) fact *= (T)i; /* m! */                                    \
        rp = F(pow)(r, (T)(m + 1));                                                        \
        for (i = 0; i <= m; ++i) { /* term i: trig^(i) * (m-i)! * (-1)^(m-i) * r^(m-i+1) */\
            int phase = (i + (cosine ? 1 : 0)) & 3;                                        \
            T trig = phase == 0 ? sn : phase == 1 ? cs : phase == 2 ? -sn : -cs;           \
            T term = binom * trig * fact * rp;                                             \
            s += ((m - i) & 1) ? -term : term;                                             \
            binom = binom * (T)(m - i) / (T)(i + 1);                                       \
            if (i < m) { fact /= (T)(m - i); rp *= x; }                                    \
        }                                                                                  \
        return s;                                                                          \
    }                                                                                      \
}                                                                                          \
                                                                                           \
/* pi x^2 / 2 reduced exactly to pi * r, r in (-2, 4); *big = 1 where x^2 overflows. */    \
static inline DEVICE T F(eg_hg_half_sq_turns)(T x, int *big) {                             \
    T hi = x * x, lo = F(fma)(x, x, -hi);                                                  \
    *big = !(hi < (T)INFINITY);                                                            \
    if (*big) return L(0.0);                                                               \
    return F(fmod)(L(0.5) * hi, L(2.0)) + F(fmod)(L(0.5) * lo, L(2.0));                    \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_hg_sin_half_pi_sq)(T x) {                                      \
    int big;                                                                               \
    T r = F(eg_hg_half_sq_turns)(x, &big);                                                 \
    return big ? (T)NAN : F(sin)(F(eg_hg_pi)() * r);                                       \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_hg_cos_half_pi_sq)(T x) {                                      \
    int big;                                                                               \
    T r = F(eg_hg_half_sq_turns)(x, &big);                                                 \
    return big ? (T)NAN : F(cos)(F(eg_hg_pi)() * r);                                       \
}                                                                                          \
                                                                                           \
/* Fresnel S (sine = 1) or C (sine = 0). */                                                \
static inline DEVICE T F(eg_hg_fresnel)(int sine, T x) {                                   \
    T t = F(fabs)(x), s, c;                                                                \
    int big;                                                                               \
    if (isnan(x)) return x;                                                                \
    F(eg_hg_half_sq_turns)(t, &big);                                                       \
    if (big) return F(copysign)(L(0.5), x);                                                \
    if (t <= L(1.5)) { /* S = sum (-1)^k u^(2k+1) t^(4k+3) / ((2k+1)! (4k+3)), u = pi/2 */ \
        T u = L(0.5) * F(eg_hg_pi)() * t * t, term = t, k;                                 \
        s = L(0.0); c = t;                                                                 \
        for (k = L(1.0); k < L(100.0); k += L(1.0)) {                                      \
            T add;                                                                         \
            term *= u / k; /* u^k t / k! */                                                \
            add = term / (L(2.0) * k + L(1.0));                                            \
            if (((int)k) & 1) {                                                            \
                s += (((int)k) & 2) ? -add : add;                                          \
            } else {                                                                       \
                c += (((int)k) & 2) ? -add : add;                                          \
            }                                                                              \
            if (add < EPS * L(0.01) * t) break;                                            \
        }                                                                                  \
    } else { /* (C + iS) = (1+i)/2 (1 - e^(i pi t^2/2) (t - i t) CF), CF of erfc */        \
        T hr, hi, pix2 = F(eg_hg_pi)() * t * t, er, ei, cr, ci;                            \
        F(eg_hg_lentz)(L(1.0), -pix2, L(-0.5), L(4.0), L(4.0), &hr, &hi);                  \
        er = t * hr + t * hi; ei = t * hi - t * hr; /* (t - i t) h */                      \
        cr = F(eg_hg_cos_half_pi_sq)(t); ci = F(eg_hg_sin_half_pi_sq)(t);                  \
        hr = L(1.0) - (cr * er - ci * ei); hi = -(cr * ei + ci * er);                      \
        c = L(0.5) * (hr - hi); s = L(0.5) * (hr + hi);                                    \
    }                                                                                      \
    return F(copysign)(sine ? s : c, x);                                                   \
}                                                                                          \
                                                                                           \
static inline DEVICE T F(eg_hg_fresnel_s)(T x) { return F(eg_hg_fresnel)(1, x); }          \
                                                                                           \
/* Taylor coefficients in h, to degree n, of a rising factorial (v+h)_k: times (v + k + h). */\
static inline DEVICE void F(eg_hg_times)(T *p, int n, T v) {                               \
    int i;                                                                                 \
    for (i = n; i >= 0; --i) p[i] = v * p[i] + (i > 0 ? p[i - 1] : L(0.0));                \
}                                                                                          \
                                                                                           \
/* ... and of (v)_k / (v+h)_k: times 1 / (1 + h/v) = sum_n (-h/v)^n. */                    \
static inline DEVICE void F(eg_hg_over)(T *p, int n, T v) {                                \
    int i, m;                                                                              \
    for (i = n; i >= 0; --i) {                                                             \
        T s = L(0.0), f = L(1.0);                                                          \
        for (m = 0; m <= i; ++m) { s += p[i - m] * f; f *= -L(1.0) / v; }                  \
        p[i] = s;                                                                          \
    }                                                                                      \
}                                                                                          \
                                                                                           \
/* n! */                                                                                   \
static inline DEVICE T F(eg_hg_fact)(int n) {                                              \
    T f = L(1.0);                                                                          \
    for (; n > 1; --n) f *= (T)n;                                                          \
    return f;                                                                              \
}                                                                                          \
                                                                                           \
/* d^i/da^i d^j/db^j M(a, b, x), Kummer's confluent hypergeometric function, i + j <= MMAX. */\
static inline DEVICE T F(eg_hg_hyp1f1)(int i, int j, T a, T b, T x) {                      \
    T A[EG_HG_MMAX + 1], B[EG_HG_MMAX + 1], sum = L(0.0), c, y, k, last = L(1.0);          \
    int kummer = x < L(0.0), n = kummer ? i + j : i, p, l;                                 \
    if (isnan(a) || isnan(b) || isnan(x)) return a + b + x;                                \
    if (i < 0 || j < 0 || i + j > EG_HG_MMAX || F(fabs)(x) == (T)INFINITY) return (T)NAN;  \
    if (b <= L(0.0) && b == F(floor)(b)) return i + j == 0 ? (T)INFINITY : (T)NAN;         \
    c = kummer ? b - a : a; /* x < 0: M(a, b, x) = e^x M(b - a, b, -x) */                  \
    y = kummer ? -x : x;                                                                   \
    for (p = 0; p <= EG_HG_MMAX; ++p) { A[p] = L(0.0); B[p] = L(0.0); }                    \
    A[0] = L(1.0); B[0] = L(1.0);                                                          \
    for (k = L(0.0); k < (T)EG_HG_MAXIT; k += L(1.0)) {                                    \
        T t = L(0.0), binom = L(1.0);                                                      \
        if (!kummer) t = F(eg_hg_fact)(i) * A[i] * F(eg_hg_fact)(j) * B[j];                \
        else for (l = 0; l <= j; ++l) { /* d_a = -d_c, d_b = d_c + d_b */                  \
            t += binom * F(eg_hg_fact)(i + l) * A[i + l] * F(eg_hg_fact)(j - l) * B[j - l];\
            binom = binom * (T)(j - l) / (T)(l + 1);                                       \
        }                                                                                  \
        sum += t;                                                                          \
        if (k > y && k > (T)(n + 1) && F(fabs)(t) <= EPS * F(fabs)(sum) && last <= EPS * F(fabs)(sum)) \
            break;                                                                         \
        last = F(fabs)(t);                                                                 \
        F(eg_hg_times)(A, n, c + k);                                                       \
        for (p = 0; p <= n; ++p) A[p] *= y / ((k + L(1.0)) * (b + k));                     \
        F(eg_hg_over)(B, j, b + k);                                                        \
    }                                                                                      \
    if (!(k < (T)EG_HG_MAXIT)) return (T)NAN;                                              \
    return kummer ? ((i & 1) ? -sum : sum) * F(exp)(x) : sum;                              \
}                                                                                          \
                                                                                           \
/* d^i/da^i d^j/db^j d^l/dc^l 2F1(a, b; c; x), i + j + l <= MMAX: the series for 0 <= x < 1,\
 * Pfaff's (1 - x)^-a 2F1(a, c - b; c; x/(x - 1)) for negative x */                           \
static inline DEVICE T F(eg_hg_hyp2f1)(int i, int j, int l, T a, T b, T c, T x) {          \
    T A[EG_HG_MMAX + 1], B[EG_HG_MMAX + 1], C[EG_HG_MMAX + 1], sum = L(0.0), z, bb, lg = L(0.0);\
    T k, last = L(1.0);                                                                    \
    int pfaff = x < L(0.0), nb = pfaff ? j + l : j, p, r, s;                               \
    if (isnan(a) || isnan(b) || isnan(c) || isnan(x)) return a + b + c + x;                \
    if (i < 0 || j < 0 || l < 0 || i + j + l > EG_HG_MMAX || !(x < L(1.0)) || x == -(T)INFINITY) return (T)NAN;\
    if (c <= L(0.0) && c == F(floor)(c)) return i + j + l == 0 ? (T)INFINITY : (T)NAN;     \
    z = pfaff ? x / (x - L(1.0)) : x;                                                      \
    bb = pfaff ? c - b : b;                                                                \
    if (pfaff) lg = -F(log1p)(-x); /* (1 - x)^-a = e^(a lg) */                             \
    for (p = 0; p <= EG_HG_MMAX; ++p) { A[p] = L(0.0); B[p] = L(0.0); C[p] = L(0.0); }     \
    A[0] = L(1.0); B[0] = L(1.0); C[0] = L(1.0);                                           \
    for (k = L(0.0); k < (T)EG_HG_MAXIT; k += L(1.0)) {                                    \
        T t = L(0.0);                                                                      \
        if (!pfaff) {                                                                      \
            t = F(eg_hg_fact)(i) * A[i] * F(eg_hg_fact)(j) * B[j] * F(eg_hg_fact)(l) * C[l];\
        } else { /* d_a: on e^(a lg) and on a; d_b = -d_b'; d_c = d_b' + d_c */            \
            T bi = L(1.0);                                                                 \
            for (r = 0; r <= i; ++r) {                                                     \
                T bl = L(1.0), inner = L(0.0);                                             \
                for (s = 0; s <= l; ++s) {                                                 \
                    inner += bl * F(eg_hg_fact)(j + s) * B[j + s] * F(eg_hg_fact)(l - s) * C[l - s];\
                    bl = bl * (T)(l - s) / (T)(s + 1);                                     \
                }                                                                          \
                t += bi * F(pow)(lg, (T)(i - r)) * F(eg_hg_fact)(r) * A[r] * inner;        \
                bi = bi * (T)(i - r) / (T)(r + 1);                                         \
            }                                                                              \
        }                                                                                  \
        sum += t;                                                                          \
        if (k > (T)(i + j + l + 1) && F(fabs)(t) <= EPS * F(fabs)(sum) && last <= EPS * F(fabs)(sum)) \
            break;                                                                         \
        last = F(fabs)(t);                                                                 \
        F(eg_hg_times)(A, i, a + k); /* A: (a+h)_k z^k / (c)_k; B: (b+h)_k / k!; C: (c)_k / (c+h)_k */\
        for (p = 0; p <= i; ++p) A[p] *= z / (c + k);                                      \
        F(eg_hg_times)(B, nb, bb + k);                                                     \
        for (p = 0; p <= nb; ++p) B[p] /= k + L(1.0);                                      \
        F(eg_hg_over)(C, l, c + k);                                                        \
    }                                                                                      \
    if (!(k < (T)EG_HG_MAXIT)) return (T)NAN;                                              \
    if (!pfaff) return sum;                                                                \
    return ((j & 1) ? -sum : sum) * F(exp)(a * lg);                                        \
}                                                                                          \
                                                                                           \
/* The m-th s-derivative of the Euler-Maclaurin tail of zeta(s, q) at a = q + N > 0:       \
 * a^(1-s)/(s-1) + a^-s/2 + sum_j B_2j/(2j)! (s)_(2j-1) a^(-s-2j+1). */                    \
static inline DEVICE T F(eg_hg_zeta_tail)(int m, int nb, T s, T a) {                       \
    const T b[EG_HG_BERNOULLI + 1] = { /* B_2j / (2j)!, j = 1 .. 15 */                     \
        L(0.0833333333333333333333), L(-0.00138888888888888888889),                        \
        L(0.0000330687830687830687831), L(-8.26719576719576719577e-7),                     \
        L(2.08767569878680989792e-8), L(-5.28419013868749318485e-10),                      \
        L(1.33825365306846788328e-11), L(-3.38968029632258286683e-13),                     \
        L(8.58606205627784456414e-15), L(-2.17486869855806187304e-16),                     \
        L(5.5090028283602295152e-18), L(-1.39544646858125233407e-19),                      \
        L(3.53470703962946747169e-21), L(-8.9535174270375468504e-23),                      \
        L(2.26795245233768306031e-24)};                                                    \
    T c[EG_HG_MMAX + 1], nl = -F(log)(a), a1 = F(pow)(a, L(1.0) - s), u = s - L(1.0);      \
    T aa = a1 / a, w = L(1.0) / (a * a), tail = L(0.0), f = L(1.0), binom = L(1.0), pw;    \
    int i, j;                                                                              \
    /* d^m [e^(-uL) / u] = e^(-uL) sum_i C(m,i) (-L)^(m-i) (-1)^i i! / u^(i+1) */          \
    for (i = 0; i <= m; ++i) {                                                             \
        T term = binom * f * F(pow)(nl, (T)(m - i)) / F(pow)(u, (T)(i + 1));               \
        tail += (i & 1) ? -term : term;                                                    \
        binom = binom * (T)(m - i) / (T)(i + 1);                                           \
        f *= (T)(i + 1);                                                                   \
    }                                                                                      \
    tail = a1 * tail + L(0.5) * aa * F(pow)(nl, (T)m);                                     \
    /* c: Taylor coefficients in h of B_2j/(2j)! (s+h)_(2j-1) a^(1-2j), from j = 1 */      \
    for (i = 0; i <= m; ++i) c[i] = L(0.0);                                                \
    c[0] = b[0] * s / a;                                                                   \
    if (m >= 1) c[1] = b[0] / a;                                                           \
    for (j = 1; j <= nb; ++j) {                                                            \
        T sum = L(0.0), fact = L(1.0);                                                     \
        binom = L(1.0);                                                                    \
        for (i = 0; i <= m; ++i) { /* sum_i C(m,i) i! c[i] (-L)^(m-i) */                   \
            sum += binom * fact * c[i] * F(pow)(nl, (T)(m - i));                           \
            binom = binom * (T)(m - i) / (T)(i + 1);                                       \
            fact *= (T)(i + 1);                                                            \
        }                                                                                  \
        tail += aa * sum;                                                                  \
        for (pw = L(0.0); pw < L(1.5); pw += L(1.0)) /* times (s+h+2j-1) (s+h+2j) */       \
            for (i = m; i >= 0; --i)                                                       \
                c[i] = (s + (T)(2 * j - 1) + pw) * c[i] + (i > 0 ? c[i - 1] : L(0.0));     \
        for (i = 0; i <= m; ++i) c[i] *= w * b[j] / b[j - 1];                              \
    }                                                                                      \
    return tail;                                                                           \
}                                                                                          \
                                                                                           \
/* d^m/ds^m zeta(s, q), Hurwitz's zeta, as scipy.special.zeta (m = 0) beyond its domain. */\
static inline DEVICE T F(eg_hg_zeta)(int m, T s, T q) {                                    \
    T amin, sum = L(0.0), a = q;                                                           \
    int nb = EG_HG_BERNOULLI;                                                              \
    if (isnan(s) || isnan(q) || m < 0 || m > EG_HG_MMAX) return s + q + (T)NAN;            \
    if (s == L(1.0)) return m == 0 ? (T)INFINITY : (m & 1) ? -(T)INFINITY : (T)INFINITY;   \
    if (!(s > L(1.0))) return (T)NAN;                                                      \
    if (q == (T)INFINITY) return L(0.0);                                                   \
    if (q <= L(0.0)) {                                                                     \
        if (q == F(floor)(q)) return m == 0 ? (T)INFINITY : (T)NAN;                        \
        if (s != F(floor)(s) || m > 0) return (T)NAN;                                      \
    }                                                                                      \
    if (s == (T)INFINITY)                                                                  \
        return m > 0 ? (T)NAN : q == L(1.0) ? L(1.0) : q < L(1.0) ? (T)INFINITY : (T)NAN;  \
    amin = (s + L(26.0)) / F(eg_hg_pi)(); /* Bernoulli terms fall by 1/4 or faster */      \
    if (amin < L(9.0)) amin = L(9.0);                                                      \
    if (amin > q + L(64.0)) { amin = q + L(64.0); nb = 0; } /* tail < (q/a)^s: negligible */\
    for (; a < amin; a += L(1.0)) {                                                        \
        T t = F(pow)(a, -s);                                                               \
        sum += m == 0 ? t : t * F(pow)(-F(log)(a), (T)m);                                  \
    }                                                                                      \
    return sum + F(eg_hg_zeta_tail)(m, nb, s, a);                                          \
}                                                                                          \
static inline DEVICE T F(eg_hg_fresnel_c)(T x) { return F(eg_hg_fresnel)(0, x); }

EG_DEFINE_HYPERGEOMETRIC(double, EG_HG_D_NAME, EG_HG_D_LIT, 1.0e-16)
EG_DEFINE_HYPERGEOMETRIC(float, EG_HG_F_NAME, EG_HG_F_LIT, 6.0e-8f)

#endif /* EG_HYPERGEOMETRIC_H */
