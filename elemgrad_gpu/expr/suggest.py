""""Did you mean": the hint of the error for an unknown function name.

Closeness of spelling alone points at the wrong function (``psi`` -> ``sin``, ``mod`` ->
``sigmoid``), so tables of meaning come first: the names other libraries give to functions
of the language that are not its aliases, or formulas in it (``lgamma`` is ``gammaln``,
``silu`` is ``x*sigmoid(x)``); functions that are not elementwise (``softmax``), said so;
and functions the language does not have yet, said plainly (``mod``), with a formula where
one is exact. A misspelling of a name known by meaning finds its meaning (``lgama`` ->
``lgamma`` -> ``gammaln``), and the message adds up to three real names close in spelling.
An entry for a name that is in the language now (a row or an alias added since) is ignored,
and so is every "not yet" entry sharing the message of one that is. Imported only to write
that message.
"""
from __future__ import annotations

import difflib

from elemgrad_gpu.expr.language import ALIASES, ARITY

# unknown name -> the language's way to write it, by meaning (a name, or a formula in x: each parses)
SYNONYMS: dict[str, str] = {
    "lgamma": "gammaln", "loggamma": "gammaln", "lngamma": "gammaln", "log_gamma": "gammaln",
    "erf_inv": "erfinv", "arcerf": "erfinv", "inverf": "erfinv", "inv_erf": "erfinv",
    "trigamma": "polygamma(1, x)", "tri_gamma": "polygamma(1, x)", "tetragamma": "polygamma(2, x)",
    "arctangent": "arctan", "arcsine": "arcsin", "arccosine": "arccos", "ln": "log", "exp10": "10**x",
    "sgn": "sign", "signum": "sign", "clamp": "clip", "switch": "where", "ifelse": "where",
    "recip": "reciprocal", "rcp": "reciprocal", "invsqrt": "rsqrt", "inv_sqrt": "rsqrt",
    "neg": "negative", "mul": "multiply", "div": "divide", "truediv": "divide",
    "add": "x + y", "subtract": "x - y", "sub": "x - y",
    "log1pexp": "softplus", "log_expit": "-softplus(-x)", "log_sigmoid": "-softplus(-x)",
    "logsigmoid": "-softplus(-x)", "entr": "-xlogy(x, x)",
    # activation functions of the deep-learning libraries, as formulas
    "relu": "maximum(x, 0)", "relu6": "clip(x, 0, 6)", "leaky_relu": "where(x > 0, x, 0.01*x)",
    "elu": "where(x > 0, x, expm1(x))",
    "selu": "1.0507009873554805*where(x > 0, x, 1.6732632423543772*expm1(x))",
    "gelu": "0.5*x*(1 + erf(x/sqrt(2)))", "silu": "x*sigmoid(x)", "swish": "x*sigmoid(x)",
    "mish": "x*tanh(softplus(x))", "hardtanh": "clip(x, -1, 1)", "hard_tanh": "clip(x, -1, 1)",
    "hard_sigmoid": "clip(x/6 + 0.5, 0, 1)", "hardswish": "x*clip(x/6 + 0.5, 0, 1)",
    "tanhshrink": "x - tanh(x)", "logcosh": "x + softplus(-2*x) - log(2)",
    "softsign": "x/(1 + abs(x))", "heaviside": "where(x > 0, 1, where(x < 0, 0, h))",
}
# unknown name -> why it cannot be a function of an elementwise language
NOT_ELEMENTWISE: dict[str, str] = {
    **dict.fromkeys(("logsumexp", "reduce_logsumexp"), "logsumexp reduces over an axis: it is not elementwise "
                    "(of two arguments, logaddexp(a, b) is maximum(a, b) + log1p(exp(-abs(a - b))))"),
    **dict.fromkeys(("softmax", "log_softmax", "logsoftmax"), "softmax normalizes over an axis: it is not "
                    "elementwise (compile its elementwise pieces, e.g. exp(x - m), and reduce outside)"),
    **{name: f"{name} reduces over an axis: it is not elementwise" for name in (
        "sum", "mean", "prod", "cumsum", "cumprod", "norm", "amax", "amin", "argmax", "argmin")},
    **dict.fromkeys(("dot", "matmul"), "a product of arrays is not elementwise (multiply is: x*y)"),
}
# unknown name -> why it is missing, or what to write instead where exact: functions of scipy.special
# not in the language yet (issue 15 added the rest of the peers' list: mod, gamma, cbrt, logit, ...)
NOT_YET: dict[str, str] = {
    "erfi": "no erfi yet: 2/sqrt(pi)*exp(x**2)*dawsn(x) is it",
    **dict.fromkeys(("ellipk", "ellipe", "ellipkinc", "ellipeinc", "ellipkm1"), "no elliptic integrals yet"),
    **dict.fromkeys(("lambertw", "wrightomega"), "no Lambert W (or Wright omega) yet"),
    **dict.fromkeys(("gammaincinv", "gammainccinv", "betaincinv"),
                    "no inverses of the incomplete gamma and beta functions yet"),
    "spence": "no dilogarithm (spence) yet",
    **dict.fromkeys(("struve", "modstruve"), "no Struve functions yet"),
    **dict.fromkeys(("sindg", "cosdg", "tandg"), "no degree-argument trigonometry: sin(deg2rad(x)) is sindg(x)"),
}


def _live(table: dict[str, str], shared: bool = True) -> dict[str, str]:
    """The entries of ``table`` for names not in the language; with ``shared``, also dropping every
    entry whose message an entry for a name in the language shares (``rem``'s "no remainder function
    yet" once ``mod`` is a row). A synonym stays meant when another synonym of its function became an
    alias (inverf -> erfinv, after erf_inv became erfinv's alias): synonyms use ``shared=False``."""
    known = set(ARITY) | set(ALIASES)
    stale = {message for name, message in table.items() if name in known} if shared else set()
    return {name: message for name, message in table.items() if name not in known and message not in stale}


def _by_meaning(name: str) -> str | None:
    """The hint for ``name`` from the tables of meaning, or None."""
    not_yet, not_elementwise, synonyms = _live(NOT_YET), _live(NOT_ELEMENTWISE), _live(SYNONYMS, shared=False)
    if name in not_yet:
        return not_yet[name]
    if name in not_elementwise:
        return not_elementwise[name]
    if name in synonyms:
        return f"did you mean {synonyms[name]}?"
    return None


def close_in_spelling(name: str, count: int = 3) -> list[str]:
    """Up to ``count`` names of the language (functions and aliases) closest to ``name`` in spelling."""
    return difflib.get_close_matches(name, [*ARITY, *ALIASES], n=count, cutoff=0.65)  # mod: not sigmoid (0.6)


def suggestion(name: str) -> str:
    """The hint for the unknown function ``name``: by meaning (also of a misspelled name known by meaning),
    then up to three real names close in spelling; else the list of functions."""
    meaning = _by_meaning(name)
    if meaning is None:  # lgama: a misspelling of lgamma, which means gammaln; sinn: of sin
        known = [*_live(SYNONYMS, shared=False), *_live(NOT_YET), *_live(NOT_ELEMENTWISE), *ARITY, *ALIASES]
        nearest = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
        if nearest:
            meaning = _by_meaning(nearest[0]) or f"did you mean {nearest[0]}?"
    if name in _live(NOT_ELEMENTWISE):  # softmax: no real name is what was meant (not fmax)
        return meaning
    spelled = close_in_spelling(name)
    if meaning and spelled:
        return f"{meaning} (close in spelling: {', '.join(spelled)})"
    if meaning or spelled:
        return meaning or f"close in spelling: {', '.join(spelled)}"
    return f"the functions are {', '.join(sorted(ARITY))}"
