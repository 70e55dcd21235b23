"""mpmath references of the exponential, trigonometric and Fresnel integrals and Hurwitz zeta
(graph/hypergeometric.py), on the domains docs/EXPRESSIONS.md documents."""
from __future__ import annotations

import mpmath

from . import Ref

REFERENCES = {
    "expi": Ref(mpmath.ei, ((-40.0, 40.0),)),
    "exp1": Ref(mpmath.e1, ((0.01, 40.0),)),
    "expn": Ref(lambda n, x: mpmath.expint(int(n), x), ((0.0, 0.0), (0.01, 40.0)), literal={0: (0, 1, 2, 5)}),
    "si": Ref(mpmath.si, ((-30.0, 30.0),)),
    "ci": Ref(mpmath.ci, ((0.01, 30.0),)),
    "fresnel_s": Ref(mpmath.fresnels, ((-10.0, 10.0),)),
    "fresnel_c": Ref(mpmath.fresnelc, ((-10.0, 10.0),)),
    "zeta": Ref(mpmath.zeta, ((1.1, 30.0), (0.05, 100.0)), tol32=2e-5,
                note="float32: pow(a, -x) in float loses up to ~2e-6 of the value for small q (measured)"),
}
