"""mpmath references of the gamma family (graph/gamma.py): each row on its documented domain."""
import mpmath as mp

from . import Ref


def _comb(n, k):
    """scipy.special.comb(exact=False): the binomial coefficient where 0 <= k <= N, else 0."""
    return mp.binomial(n, k) if 0 <= k <= n else mp.mpf(0)


def _multigammaln(a, d):
    d = int(d)
    return d * (d - 1) / mp.mpf(4) * mp.log(mp.pi) + mp.fsum(mp.loggamma(a - mp.mpf(j) / 2) for j in range(d))


REFERENCES = {
    # gamma's poles are the non-positive integers: the domain's ends are not integers
    "gamma": Ref(mp.gamma, ((-6.3, 25.7),), tol32=3e-5,
                 note="float32 order 3 near x = -0.5: float digamma's absolute error 1e-7 times trigamma there"),
    "rgamma": Ref(mp.rgamma, ((-10.3, 30.7),)),
    "gammasgn": Ref(lambda x: mp.sign(mp.gamma(x)), ((-6.3, 10.7),), derivatives=lambda args, index: mp.mpf(0)),
    "trigamma": Ref(lambda x: mp.psi(1, x), ((-6.3, 50.7),)),
    "factorial": Ref(lambda x: mp.gamma(x + 1), ((0.05, 30.5),)),
    "beta": Ref(mp.beta, ((0.3, 60.0), (0.3, 60.0)),
                note="below 0.3 in both arguments the mixed second derivative beta * (L_a L_b - trigamma(a + b)) "
                     "cancels (both terms near beta / (a + b)**2): 3.7e-5 in float32 and 1e-13 in float64 at "
                     "(0.065, 0.12)"),
    "betaln": Ref(lambda a, b: mp.log(abs(mp.beta(a, b))), ((0.05, 1e5), (0.05, 1e5))),
    "poch": Ref(mp.rf, ((0.05, 100.0), (0.05, 10.0))),
    "comb": Ref(_comb, ((10.5, 60.5), (0.05, 10.3))),
    "multigammaln": Ref(_multigammaln, ((2.3, 40.7), (1, 5)), literal={1: (1, 2, 3, 5)}),
}
