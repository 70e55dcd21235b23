"""mpmath reference of the defects block of the vocabulary: xlogx (graph/removable.py)."""
import mpmath

from mpref import Ref


def _xlogx(x):
    return mpmath.mpf(0) if x == 0 else x * mpmath.log(x)


def _xlogx_derivative(args, index):
    """d^k/dx^k x log x: log(x) + 1, then (-1)**k (k-2)! / x**(k-1)."""
    (x,), k = args, len(index)
    if k == 1:
        return mpmath.log(x) + 1
    return (-1) ** k * mpmath.factorial(k - 2) / x ** (k - 1)


REFERENCES = {
    # x > 0: the derivatives are finite there; at 0 the value is 0 and they are infinite (tests/graph/test_defects15.py)
    "xlogx": Ref(_xlogx, ((1e-3, 50.0),), derivatives=_xlogx_derivative),
}
