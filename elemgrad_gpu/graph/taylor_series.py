"""Truncated Taylor arithmetic on scalar graphs: the series each operation builds.

A series is a sequence of K + 1 coefficients ``a[0] .. a[K]`` of ``a(x0 + t)`` in ``t``;
``a[0]`` is the value. A coefficient is a PyTensor scalar variable or a Python number
(a constant, folded here so that the zeros and ones of constants and of the seed
``x0 + t`` cost nothing). ``Arithmetic`` builds sums and products with that folding;
the functions below are the classic recurrences of automatic differentiation (Griewank
and Walther, *Evaluating Derivatives*, ch. 13), each O(K^2) operations:

* product: the Cauchy product ``c[k] = sum_j a[j] b[k-j]``;
* quotient ``c = a/b``: ``c[k] = (a[k] - sum_{j>=1} b[j] c[k-j]) / b[0]``;
* ``y' = g * u'`` (exp, sin/cos, tanh, sigmoid, erf, erfinv, ...): ``y[k] = 1/k sum_{j=1}^k j u[j] g[k-j]``,
  where ``g`` may depend on ``y`` itself, up to the coefficient before (``Lazy``);
* composition with known derivatives (``compose``): ``sum_j g_j (u - u[0])^j``, O(K^3), for
  functions whose every derivative at the point is a function call (polygamma).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pytensor.scalar as ps
from pytensor.graph.basic import Variable

Coefficient = Variable | float


class Lazy:
    """A series whose coefficients are computed on first use (and may refer to earlier ones)."""

    def __init__(self, coefficient: Callable[[int], Coefficient]):
        self._coefficient = coefficient
        self._done: dict[int, Coefficient] = {}

    def __getitem__(self, k: int) -> Coefficient:
        if k not in self._done:
            self._done[k] = self._coefficient(k)
        return self._done[k]


def is_number(a) -> bool:
    return not isinstance(a, Variable)


class Arithmetic:
    """Scalar operations of one dtype over coefficients, with Python numbers folded."""

    def __init__(self, dtype: str, order: int):
        self.dtype, self.order = dtype, order

    def var(self, a: Coefficient) -> Variable:
        """``a`` as a scalar variable of the dtype (numbers become constants; bools stay bools)."""
        if is_number(a):
            return ps.constant(np.asarray(a, dtype=self.dtype))
        if a.type.dtype.startswith("float") and a.type.dtype != self.dtype:
            return ps.cast(a, self.dtype)
        return a

    def add(self, *terms: Coefficient) -> Coefficient:
        number = sum(float(t) for t in terms if is_number(t))
        variables = [t for t in terms if not is_number(t)]
        if not variables:
            return number
        if number != 0:
            variables.append(number)
        return variables[0] if len(variables) == 1 else ps.add(*[self.var(v) for v in variables])

    def neg(self, a: Coefficient) -> Coefficient:
        return -float(a) if is_number(a) else ps.neg(a)

    def sub(self, a: Coefficient, b: Coefficient) -> Coefficient:
        if is_number(b):
            return self.add(a, -float(b))
        if is_number(a) and float(a) == 0:
            return ps.neg(b)
        return ps.sub(self.var(a), self.var(b))

    def mul(self, *factors: Coefficient) -> Coefficient:
        number = float(np.prod([float(f) for f in factors if is_number(f)]))
        variables = [f for f in factors if not is_number(f)]
        if number == 0 or not variables:
            return number
        product = variables[0] if len(variables) == 1 else ps.mul(*[self.var(v) for v in variables])
        if number == 1:
            return product
        return self.neg(product) if number == -1 else ps.mul(self.var(number), self.var(product))

    def div(self, a: Coefficient, b: Coefficient) -> Coefficient:
        if is_number(b):
            return self.mul(a, 1.0 / float(b))
        if is_number(a) and float(a) == 0:
            return 0.0
        return ps.true_div(self.var(a), self.var(b))

    def call(self, op: Callable, *args: Coefficient) -> Variable:
        """A scalar function of coefficients (for example ``ps.exp``)."""
        return op(*[self.var(a) for a in args])

    def select(self, condition: Variable, a: Coefficient, b: Coefficient) -> Coefficient:
        """``a`` where ``condition`` holds, else ``b``."""
        if is_number(a) and is_number(b) and float(a) == float(b):
            return a
        return ps.switch(condition, self.var(a), self.var(b))

    # Series operations: each returns a list of order + 1 coefficients.

    def constant(self, value: Coefficient) -> list[Coefficient]:
        return [value] + [0.0] * self.order

    def cauchy(self, a, b, k: int, start: int = 0) -> Coefficient:
        """``sum_{j=start}^{k-start} a[j] b[k-j]``."""
        return self.add(*[self.mul(a[j], b[k - j]) for j in range(start, k + 1 - start)])

    def add_series(self, a, b) -> list[Coefficient]:
        return [self.add(a[k], b[k]) for k in range(self.order + 1)]

    def sub_series(self, a, b) -> list[Coefficient]:
        return [self.sub(a[k], b[k]) for k in range(self.order + 1)]

    def product(self, a, b) -> list[Coefficient]:
        return [self.cauchy(a, b, k) for k in range(self.order + 1)]

    def quotient(self, a, b, value: Coefficient) -> list[Coefficient]:
        """``a / b`` whose value ``value`` is already computed."""
        reciprocal = self.div(1.0, b[0])
        c = [value]
        for k in range(1, self.order + 1):
            tail = self.add(*[self.mul(b[j], c[k - j]) for j in range(1, k + 1)])
            c.append(self.mul(self.sub(a[k], tail), reciprocal))
        return c

    def chain(self, u, g, value: Coefficient) -> list[Coefficient]:
        """``y`` with ``y' = g u'`` and ``y[0] = value``; ``g[m]`` may use ``y[0..m]``.

        Returns a list filled as it goes, so ``g`` may be a ``Lazy`` reading it.
        """
        y = [value]
        for k in range(1, self.order + 1):
            y.append(self.mul(1.0 / k, self.add(*[self.mul(j, u[j], g[k - j]) for j in range(1, k + 1)])))
        return y

    def self_chain(self, u, value: Coefficient, g_of: Callable) -> list[Coefficient]:
        """``y`` with ``y' = g(y) u'``, where ``g_of(y)`` is the series ``g`` built from ``y``."""
        y: list[Coefficient] = [value]
        g = g_of(y)
        for k in range(1, self.order + 1):
            y.append(self.mul(1.0 / k, self.add(*[self.mul(j, u[j], g[k - j]) for j in range(1, k + 1)])))
        return y

    def derivative(self, a) -> list[Coefficient]:
        """The series of ``da/dt`` (one coefficient shorter: the last is not known, set 0)."""
        return [self.mul(k + 1, a[k + 1]) for k in range(self.order)] + [0.0]

    def integral(self, d, value: Coefficient) -> list[Coefficient]:
        """``y`` with ``y' = d`` and ``y[0] = value``."""
        return [value] + [self.mul(1.0 / k, d[k - 1]) for k in range(1, self.order + 1)]

    def exp(self, u, value: Coefficient) -> list[Coefficient]:
        """``exp(u)`` with ``exp(u[0]) = value``: ``y' = y u'``."""
        return self.self_chain(u, value, lambda y: y)

    def log(self, u, value: Coefficient) -> list[Coefficient]:
        """``log(u)``: ``u y' = u'``, so ``y[k] = (u[k] - 1/k sum_{j<k} j y[j] u[k-j]) / u[0]``."""
        reciprocal = self.div(1.0, u[0])
        y = [value]
        for k in range(1, self.order + 1):
            tail = self.add(*[self.mul(j / k, y[j], u[k - j]) for j in range(1, k)])
            y.append(self.mul(self.sub(u[k], tail), reciprocal))
        return y

    def sqrt(self, u, value: Coefficient) -> list[Coefficient]:
        """``sqrt(u)``: ``y^2 = u``, so ``y[k] = (u[k] - sum_{0<j<k} y[j] y[k-j]) / (2 y[0])``."""
        half_reciprocal = self.div(0.5, value)
        y = [value]
        for k in range(1, self.order + 1):
            y.append(self.mul(self.sub(u[k], self.cauchy(y, y, k, start=1)), half_reciprocal))
        return y

    def power(self, u, c: Coefficient, value: Coefficient) -> list[Coefficient]:
        """``u ** c`` for ``c`` constant in t: ``u y' = c y u'``.

        ``y[k] = 1/(k u[0]) sum_{j=1}^k (c j - (k - j)) u[j] y[k-j]``. A small non-negative
        integer power is a repeated product instead, exact where ``u[0] = 0``.
        """
        if is_number(c) and float(c).is_integer() and 0 <= float(c) <= 16:
            return self.integer_power(u, int(c), value)
        reciprocal = self.div(1.0, u[0])
        y = [value]
        for k in range(1, self.order + 1):
            terms = [self.mul(self.add(self.mul(c, j), j - k), u[j], y[k - j]) for j in range(1, k + 1)]
            y.append(self.mul(1.0 / k, self.add(*terms), reciprocal))
        return y

    def integer_power(self, u, n: int, value: Coefficient) -> list[Coefficient]:
        if n == 0:
            return self.constant(value)
        result, base = None, list(u)
        while n:
            if n & 1:
                result = base if result is None else self.product(result, base)
            n >>= 1
            if n:
                base = self.product(base, base)
        return [value] + list(result[1:])

    def compose(self, u, derivatives: Sequence[Coefficient], value: Coefficient) -> list[Coefficient]:
        """``g(u)`` from ``derivatives[j] = g^(j)(u[0])`` (j = 1..K): ``sum_j g^(j)/j! (u - u[0])^j``."""
        delta = [0.0] + list(u[1:])
        power, y = delta, [value] + [0.0] * self.order
        factorial = 1.0
        for j in range(1, self.order + 1):
            factorial *= j
            if j > 1:
                power = [0.0] * j + [self.cauchy(power, delta, k, start=0) for k in range(j, self.order + 1)]
            weight = self.mul(derivatives[j - 1], 1.0 / factorial)
            for k in range(j, self.order + 1):
                y[k] = self.add(y[k], self.mul(weight, power[k]))
        return y
