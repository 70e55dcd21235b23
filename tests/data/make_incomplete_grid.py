"""Make the stored mpmath references of tests/graph/test_incomplete.py's grid tests (run once, slow).

gammainc_da_grid.npz: d/da of the regularized lower incomplete gamma P(a, x) on the grid
a, x = numpy.logspace(-3, 3, 224) (50,176 points), as float64 ``ref[i, j]`` for (a[i], x[j]).
betainc_dadb_grid.npz: d/da and d/db of the regularized incomplete beta I_x(a, b) on
a, b = numpy.logspace(-2, 2, 24), x in X_BETA (4,608 points each).

Each derivative is mpmath.diff at 40 digits of whichever of P or Q = 1 - P (I, or
1 - I = I_(1-x)(b, a)) is below 1/2: the difference quotient of a function that is nearly 1
loses its tiny derivative.
Usage: PYTHONPATH=. python tests/data/make_incomplete_grid.py
"""
from __future__ import annotations

from pathlib import Path

import mpmath as mp
import numpy as np

HERE = Path(__file__).parent
GRID = np.logspace(-3, 3, 224)
BETA_AB = np.logspace(-2, 2, 24)
X_BETA = np.array([1e-4, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999])


def gammainc_da(a: float, x: float) -> float:
    """d/da P(a, x) at 40 digits, rounded to float64 (underflow gives 0 or a subnormal)."""
    a, x = mp.mpf(a), mp.mpf(x)
    p = mp.gammainc(a, 0, x, regularized=True)
    if p < 0.5:
        return float(mp.diff(lambda s: mp.gammainc(s, 0, x, regularized=True), a))
    return float(-mp.diff(lambda s: mp.gammainc(s, x, mp.inf, regularized=True), a))


def betainc_d(a: float, b: float, x: float) -> tuple[float, float]:
    """(d/da, d/db) of I_x(a, b) at 40 digits."""
    a, b, x = mp.mpf(a), mp.mpf(b), mp.mpf(x)
    if mp.betainc(a, b, 0, x, regularized=True) < 0.5:
        f, sign = (lambda s, t: mp.betainc(s, t, 0, x, regularized=True)), 1
    else:
        f, sign = (lambda s, t: mp.betainc(t, s, 0, 1 - x, regularized=True)), -1  # 1 - I_x(a, b)
    return float(sign * mp.diff(f, (a, b), (1, 0))), float(sign * mp.diff(f, (a, b), (0, 1)))


def main() -> None:
    mp.mp.dps = 40
    ref = np.array([[gammainc_da(a, x) for x in GRID] for a in GRID])
    np.savez_compressed(HERE / "gammainc_da_grid.npz", a=GRID, x=GRID, ref=ref)
    beta = np.array([[[betainc_d(a, b, x) for x in X_BETA] for b in BETA_AB] for a in BETA_AB])
    np.savez_compressed(HERE / "betainc_dadb_grid.npz", a=BETA_AB, b=BETA_AB, x=X_BETA,
                        da=beta[..., 0], db=beta[..., 1])


if __name__ == "__main__":
    main()
