"""A PyMC model whose likelihood is elemgrad_gpu's fused kernel, beside the same model in plain PyMC.

The likelihood: a Student-t log-density (4 degrees of freedom) over n observations with scalar
location and scale, written once as an expression for ``eg.compile(...).as_op()`` and once as
PyMC's own ``pm.StudentT``. Run it: ``python examples/pymc_student_t.py [n]`` prints the
logp and its gradient from both models at the same point, and a short NUTS run of ours.

Needs PyMC (``pip install pymc``; on Python 3.11 that is PyMC 5 on PyTensor 2.38).
"""
from __future__ import annotations

import sys

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import gammaln

import elemgrad_gpu as eg

NU = 4.0
# log Gamma((nu+1)/2) - log Gamma(nu/2) - log(nu*pi)/2
CONSTANT = float(gammaln((NU + 1) / 2) - gammaln(NU / 2) - 0.5 * np.log(NU * np.pi))
LOG_DENSITY = f"{CONSTANT!r} - log(sigma) - {(NU + 1) / 2!r}*log1p(((x - mu)/sigma)**2/{NU!r})"


def data(n: int, seed: int = 0) -> np.ndarray:
    """n draws of a Student-t (4 degrees of freedom) with location 1 and scale 2."""
    return 1.0 + 2.0 * np.random.default_rng(seed).standard_t(NU, size=n)


def ours(y: np.ndarray) -> pm.Model:
    """The model with the likelihood as elemgrad_gpu's Op (value kernel; gradients by its next order)."""
    log_density = eg.compile(LOG_DENSITY, derivatives=[()], device="cpu").as_op()
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Potential("likelihood", log_density(x=pt.as_tensor(y), mu=mu, sigma=sigma).sum())
    return model


def plain(y: np.ndarray) -> pm.Model:
    """The same model in plain PyMC."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.StudentT("y", nu=NU, mu=mu, sigma=sigma, observed=y)
    return model


def logp_and_gradient(model: pm.Model, point: dict) -> tuple[float, np.ndarray]:
    """The model's logp and dlogp at ``point`` (values on the sampler's transformed space)."""
    return float(model.compile_logp()(point)), np.asarray(model.compile_dlogp()(point))


def main(n: int = 100_000) -> None:
    y = data(n)
    a, b = ours(y), plain(y)
    point = {"mu": 0.7, "sigma_log__": np.log(1.8)}
    print("elemgrad_gpu:", logp_and_gradient(a, point))
    print("plain PyMC:  ", logp_and_gradient(b, point))
    with a:
        trace = pm.sample(draws=200, tune=200, chains=1, cores=1, progressbar=False, random_seed=1)
    print(pm.summary(trace, kind="stats"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
