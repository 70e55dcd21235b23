"""mpmath references of the error function and normal distribution family (graph/normal.py).

Domains reach the tails the functions exist for: erfcinv down to 1e-10, log_ndtr down to
-1000, ndtri_exp down to -1000. Derivatives are taken by mpmath.diff of these functions.
"""
import mpmath as mp

from mpref import Ref


def _erfcx(x):
    return mp.exp(x * x) * mp.erfc(x)


def _erfcinv(y):
    return mp.erfinv(1 - y)  # 1 - y is exact at 40 digits for the domain's y >= 1e-10


def _ndtri(p):
    return mp.sqrt(2) * mp.erfinv(2 * p - 1)


def _ndtri_exp(y):
    if y > -2:
        return _ndtri(mp.exp(y))
    return mp.findroot(lambda x: mp.log(mp.ncdf(x)) - y, -mp.sqrt(-2 * y))


def _dawsn(x):
    return mp.sqrt(mp.pi) / 2 * mp.exp(-x * x) * mp.erfi(x)


def _owens_t(h, a):
    return mp.quad(lambda t: mp.exp(-h * h * (1 + t * t) / 2) / (1 + t * t), [0, a]) / (2 * mp.pi)


REFERENCES = {
    "erfcx": Ref(_erfcx, ((-20.0, 1e3),)),
    "erfcinv": Ref(_erfcinv, ((1e-10, 1.9),)),
    "ndtr": Ref(mp.ncdf, ((-30.0, 8.0),)),
    "log_ndtr": Ref(lambda x: mp.log(mp.ncdf(x)), ((-1e3, 8.0),)),
    "ndtri": Ref(_ndtri, ((1e-12, 0.999),)),
    "ndtri_exp": Ref(_ndtri_exp, ((-1e3, -1e-3),)),
    "dawsn": Ref(_dawsn, ((-10.0, 10.0),)),
    "owens_t": Ref(_owens_t, ((-5.0, 5.0), (-3.0, 3.0)), points=4),
}
