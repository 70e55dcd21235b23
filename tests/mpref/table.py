"""The table of every function of the language in docs/EXPRESSIONS.md, from the vocabulary's rows,
their mpmath references (tests/mpref) and the errors the walk measures (tests/mpref/walk.py).

Run from the repository root to walk every row and rewrite the table's section::

    PYTHONPATH=$PWD:$PWD/tests python -m mpref.table

tests/test_docs.py checks that the section names every row with the domain, arguments,
derivatives and note of its reference (``cells``); the measured errors are what the last run wrote.
"""
from __future__ import annotations

import re
from pathlib import Path

HEADING = "## Every function: domain, derivatives, accuracy"
DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "EXPRESSIONS.md"
COLUMNS = ("function (aliases)", "arguments", "domain walked", "derivatives (orders 1, 2, mixed) in",
           "max error f64 / f32", "note")
INTRO = """\
Every row of the vocabulary is walked against mpmath at 40 digits by
`tests/expr/test_vocabulary_mpmath.py`: its value and every partial derivative of orders 1 and 2
(mixed ones included) in the arguments listed, on a product grid of each argument's interval
(log-spaced where it has one sign and spans more than 100x), in float64 and float32 (the
reference taken at the points rounded to float32). The error is |got - mpmath| / max(1, |mpmath|);
the walk holds it to 1e-12 in float64 and 1e-5 in float32, and where the reference is inf or NaN
(or overflows float32) the result must be that same value. The references and intervals are in
`tests/mpref/` (one module per family); a row without one fails the walk. The tails the intervals
leave out (log1mexp near 0 and at -1e3, softplus and sigmoid at +-1e3, exprel at 1e-300, xlog1py at
tiny y, digamma next to its poles, gammaln at 1e300 and below 0, erfinv next to +-1) are tested
point by point in the same module, relative to the value itself. The errors below are the largest
the walk measured (`PYTHONPATH=$PWD:$PWD/tests python -m mpref.table` rewrites them)."""


def _number(value: float) -> str:
    return f"{value:g}".replace("e+", "e")


def _words(ref, arity: int) -> list[str]:
    """The arguments as written in the walk: inputs x, y, z; literals n."""
    from mpref.walk import NAMES

    inputs = [p for p in range(arity) if p not in ref.literal]
    return ["n" if p in ref.literal else NAMES[inputs.index(p)] for p in range(arity)]


def cells(row, ref) -> list[str]:
    """The columns of ``row``'s line but the measured errors (the documented facts of its reference)."""
    from mpref.walk import differentiable, intervals

    name = row.name + (f" ({', '.join(row.aliases)})" if row.aliases else "")
    if ref is None:
        return [name, str(row.arity), "no reference", "-", "-"]
    words = _words(ref, row.arity)
    call = ref.form.format(*words) if ref.form else f"{row.name}({', '.join(words)})"
    domain = [f"{words[p]} in [{_number(low)}, {_number(high)}]"
              for p, (low, high) in intervals(ref, row.arity).items()]
    domain += [f"n in {{{', '.join(map(str, values))}}}" for values in ref.literal.values()]
    wrt = ", ".join(words[p] for p in differentiable(ref, row.arity))
    how = "closed forms" if ref.derivatives else "mpmath.diff"
    return [name, f"`{call}`", "; ".join(domain), f"{wrt}, by {how}", ref.note.replace("|", "\\|") or "-"]


def _error(value: float | None) -> str:
    return "-" if value is None else "0" if value == 0 else f"{value:.1e}"


def line(row, ref, measured: dict[str, float | None]) -> str:
    """One table line; ``measured``: dtype -> the walk's largest error (None: not walked)."""
    first, call, domain, wrt, note = cells(row, ref)
    errors = " / ".join(_error(measured.get(dtype)) for dtype in ("float64", "float32"))
    return f"| {first} | {call} | {domain} | {wrt} | {errors} | {note} |"


def render(measured: dict[str, dict[str, float | None]]) -> str:
    """The section: heading, what the walk does, and one line per row."""
    from elemgrad_gpu.expr.vocabulary import FUNCTIONS
    from mpref import ALL

    lines = [HEADING, "", INTRO, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += [line(row, ALL.get(row.name), measured.get(row.name, {})) for row in FUNCTIONS]
    return "\n".join(lines) + "\n"


def section(text: str) -> str:
    """The table's section of the document ``text`` (up to the next "## " heading), or ""."""
    match = re.search(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", text, flags=re.DOTALL | re.MULTILINE)
    return match.group(0) if match else ""


def measure() -> dict[str, dict[str, float | None]]:
    """Walk every row that has a reference, in both dtypes: name -> dtype -> largest error."""
    from elemgrad_gpu.expr.vocabulary import FUNCTIONS
    from mpref import ALL
    from mpref.walk import walk

    result: dict[str, dict[str, float | None]] = {}
    for row in FUNCTIONS:
        ref = ALL.get(row.name)
        if ref is not None:
            result[row.name] = {dtype: walk(row.name, ref, row.arity, dtype).error
                                for dtype in ("float64", "float32") if dtype == "float64" or ref.f32}
    return result


def main() -> None:
    """Walk, then put the section at the end of docs/EXPRESSIONS.md (replacing the old one)."""
    text = DOCUMENT.read_text()
    old = section(text)
    body = text.replace(old, "").rstrip("\n") if old else text.rstrip("\n")
    DOCUMENT.write_text(body + "\n\n" + render(measure()))


if __name__ == "__main__":
    main()
