"""The worked PyMC example (examples/pymc_student_t.py): our Op as a PyMC likelihood.

Runs where PyMC installs: on Python 3.11 that is PyMC 5 on PyTensor 2.38, the second line
of .ci/run. References: plain PyMC's model (pm.StudentT) for the gradient, SciPy's
Student-t log-density for the value.
"""
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

pm = pytest.importorskip("pymc", reason="PyMC installs beside PyTensor 2.38 (the second line of .ci/run)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import pymc_student_t as example  # noqa: E402

POINTS = [{"mu": 0.7, "sigma_log__": np.log(1.8)}, {"mu": 1.3, "sigma_log__": np.log(2.5)}]


@pytest.fixture(scope="module")
def models():
    y = example.data(5_000)
    return y, example.ours(y), example.plain(y)


def scipy_logp(y, point) -> float:
    """The model's logp from SciPy: priors, the log-Jacobian of sigma's log transform, the likelihood."""
    mu, sigma = point["mu"], np.exp(point["sigma_log__"])
    return (scipy.stats.norm.logpdf(mu, 0, 10) + scipy.stats.halfnorm.logpdf(sigma, scale=5) + np.log(sigma)
            + scipy.stats.t.logpdf(y, example.NU, loc=mu, scale=sigma).sum())


def test_logp_and_dlogp_match_plain_pymc_and_scipy(models):
    y, ours, plain = models
    logp, dlogp = ours.compile_logp(), ours.compile_dlogp()
    plain_logp, plain_dlogp = plain.compile_logp(), plain.compile_dlogp()
    likelihood = ours.compile_fn(ours.potentials[0], inputs=ours.free_RVs)
    for point in POINTS:
        np.testing.assert_allclose(dlogp(point), plain_dlogp(point), rtol=1e-10)
        assert logp(point) == pytest.approx(scipy_logp(y, point), rel=1e-10)  # with PyMC's priors
        mu, sigma = point["mu"], np.exp(point["sigma_log__"])
        reference = scipy.stats.t.logpdf(y, example.NU, loc=mu, scale=sigma).sum()
        assert likelihood({"mu": mu, "sigma": sigma}) == pytest.approx(reference, rel=1e-13)  # ours alone
    # plain PyMC's Student-t log-density is off SciPy's by a constant per observation (~6e-10 in
    # PyTensor 2.38): the difference between points, where it cancels, agrees to 1e-10
    ours_step = logp(POINTS[0]) - logp(POINTS[1])
    assert ours_step == pytest.approx(plain_logp(POINTS[0]) - plain_logp(POINTS[1]), rel=1e-10)


def test_nuts_samples_the_model_with_our_gradient(models):
    _, ours, _ = models
    with ours:
        trace = pm.sample(draws=150, tune=150, chains=1, cores=1, progressbar=False, random_seed=3,
                          compute_convergence_checks=False)
    posterior = trace.posterior
    assert int(trace.sample_stats["diverging"].sum()) == 0
    assert abs(float(posterior["mu"].mean()) - 1.0) < 0.15  # the data's location and scale: 1 and 2
    assert abs(float(posterior["sigma"].mean()) - 2.0) < 0.2
