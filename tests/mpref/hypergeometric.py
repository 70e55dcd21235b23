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
    "zeta": Ref(mpmath.zeta, ((1.1, 30.0), (0.1, 100.0))),
    "hyp1f1": Ref(mpmath.hyp1f1, ((-5.0, 10.0), (0.5, 10.0), (0.0, 10.0)), tol32=5e-5,
                  note="float32: for a < 0 < x the first terms of the series change sign (3.9e-5 measured, "
                       "d/db at a = -5, b = 0.5, x = 6)"),
    "hyp2f1": Ref(lambda a, b, c, x: mpmath.hyp2f1(a, b, c, x, zeroprec=300), ((0.0, 5.0), (0.0, 5.0), (0.5, 8.0),
                                                                                (0.0, 0.9)), points=3,
                  note="the positive-term domain; x < 0 and parameters of both signs: docs/EXPRESSIONS.md"),
}
