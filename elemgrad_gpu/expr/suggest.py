""""Did you mean": the hint of the error for an unknown function name.

Closeness of spelling alone points at the wrong function (``psi`` -> ``sin``, ``mod`` ->
``sigmoid``), so a table of meanings comes first: the names other libraries give to
functions of the language that are not its aliases (``lgamma`` is ``gammaln``), and
functions the language does not have yet, said plainly (``mod``), with a formula where
one is exact. Spelling (``difflib``) is the fallback, over the functions and their
aliases. Imported only to write that message.
"""
from __future__ import annotations

import difflib

from elemgrad_gpu.expr.language import ALIASES, ARITY

# unknown name -> the language's way to write it, by meaning
SYNONYMS: dict[str, str] = {
    "lgamma": "gammaln", "loggamma": "gammaln", "erf_inv": "erfinv", "arcerf": "erfinv",
    "trigamma": "polygamma(1, x)", "tri_gamma": "polygamma(1, x)", "arctangent": "arctan",
    "arcsine": "arcsin", "arccosine": "arccos", "ln": "log", "exp10": "10**x", "relu": "maximum(x, 0)",
    "softsign": "x/(1 + abs(x))", "log_sigmoid": "-softplus(-x)", "logsigmoid": "-softplus(-x)",
    "heaviside": "where(x > 0, 1, where(x < 0, 0, h))",
}
# unknown name -> why it is missing, or what to write instead where exact: functions not in the language yet
NOT_YET: dict[str, str] = {
    **dict.fromkeys(("mod", "remainder", "fmod", "rem"), "no remainder function yet"),
    **dict.fromkeys(("fmax", "fmin"), "no NaN-ignoring fmax/fmin yet (maximum and minimum propagate NaN)"),
    "gamma": "no gamma function yet: exp(gammaln(x)) is gamma(x) for x > 0",
    "cbrt": "no cbrt yet: x**(1/3) is the cube root for x > 0",
    **dict.fromkeys(("floor", "ceil", "round", "trunc"), "no rounding functions yet"),
    "logaddexp": "no logaddexp yet: maximum(a, b) + log1p(exp(-abs(a - b))) is it",
    "logit": "no logit yet: log(x/(1 - x)) is it",
}


def suggestion(name: str) -> str:
    """The hint for the unknown function ``name``: by meaning, else by spelling, else the list of functions."""
    if name in NOT_YET:
        return NOT_YET[name]
    if name in SYNONYMS:
        return f"did you mean {SYNONYMS[name]}?"
    close = difflib.get_close_matches(name, [*ARITY, *ALIASES], n=1, cutoff=0.7)
    if close:
        return f"did you mean {close[0]}?"
    return f"the functions are {', '.join(sorted(ARITY))}"
