"""mpmath references of the Bessel functions (graph/bessel.py)."""
import mpmath as mp

from . import Ref


def _ive(v, x):
    return mp.besseli(v, x) * mp.exp(-abs(x))


def _kve(v, x):
    return mp.besselk(v, x) * mp.exp(x)


ORDER = (0.0, 10.0)  # the order v: every v is allowed; the derivatives in v are tested on [0, 10]
NEAR_ZERO = "x from 1e-2: at x = 1e-3 and v near 10 the v-derivatives pass float32's largest number"
REFERENCES = {
    "jv": Ref(mp.besselj, (ORDER, (1e-3, 50.0))),
    "iv": Ref(mp.besseli, (ORDER, (1e-3, 50.0))),
    "ive": Ref(_ive, (ORDER, (1e-3, 50.0))),
    "yv": Ref(mp.bessely, (ORDER, (1e-2, 50.0)), note=NEAR_ZERO),
    "kv": Ref(mp.besselk, (ORDER, (1e-2, 50.0)), points=4, note=NEAR_ZERO),
    "kve": Ref(_kve, (ORDER, (1e-2, 50.0)), points=4, note=NEAR_ZERO),
    "yn": Ref(mp.bessely, ((0.0, 10.0), (1e-2, 50.0)), literal={0: (0, 1, 2, 5)}, note=NEAR_ZERO),
    **{name: Ref(lambda x, f=f, n=n: f(n, x), ((-50.0, 50.0),)) for name, f, n in (
        ("j0", mp.besselj, 0), ("j1", mp.besselj, 1), ("i0", mp.besseli, 0), ("i1", mp.besseli, 1))},
    **{name: Ref(lambda x, n=n: _ive(n, x), ((1e-3, 50.0),)) for name, n in (("i0e", 0), ("i1e", 1))},
    **{name: Ref(lambda x, f=f, n=n: f(n, x), ((1e-3, 50.0),)) for name, f, n in (
        ("y0", mp.bessely, 0), ("y1", mp.bessely, 1), ("k0", mp.besselk, 0), ("k1", mp.besselk, 1))},
    **{name: Ref(lambda x, n=n: _kve(n, x), ((1e-3, 50.0),)) for name, n in (("k0e", 0), ("k1e", 1))},
}
