"""The PyTensor 2.38.x / 3.x differences elemgrad_gpu meets, in one place.

PyMC 5.28 (the newest for Python 3.11) pins pytensor>=2.38.2,<2.39; PyMC 6 uses PyTensor 3.
Everything else imports these names from here, never tests a version itself.

- ``Pullback``: a mixin first among an Op's bases, so that its ``pullback`` (3.x's name for the
  vector-Jacobian product) is what PyTensor 2.38 calls too (2.38 calls ``L_op``, whose default is
  ``grad``); ``super().pullback`` reaches the base Op's ``L_op`` there. Empty on 3.x.
- ``pushforward``: 3.x's ``pytensor.gradient.pushforward``; on 2.38 its ``Rop`` (same
  arguments, ``use_op_pushforward`` is 2.38's ``use_op_rop_implementation``).
- ``Function``: the compiled-function class (3.x ``pytensor.compile.executor``, 2.38
  ``pytensor.compile.function.types``).
"""
from __future__ import annotations

from pytensor.graph.op import Op
from pytensor.graph.traversal import io_toposort  # both lines have it here (2.38 warns on graph.basic's)

PYTENSOR_3 = hasattr(Op, "pullback")

if PYTENSOR_3:
    from pytensor.compile.executor import Function
    from pytensor.gradient import pushforward

    class Pullback:
        """Nothing to do on PyTensor 3: ``pullback`` is the method it calls."""

else:
    from pytensor.compile.function.types import Function
    from pytensor.gradient import Rop

    def pushforward(f, wrt, tangents, disconnected_outputs="raise", return_disconnected="zero",
                    use_op_pushforward=False):
        """PyTensor 3's ``pushforward`` (Jacobian-vector product), on 2.38's ``Rop``."""
        return Rop(f, wrt, tangents, disconnected_outputs=disconnected_outputs,
                   return_disconnected=return_disconnected, use_op_rop_implementation=use_op_pushforward)

    class Pullback:
        """PyTensor 2.38 calls ``L_op``: send it to ``pullback``; the base ``pullback`` is the
        next class's ``L_op`` (so ``super().pullback`` in a subclass keeps its meaning)."""

        def L_op(self, inputs, outputs, output_gradients):
            return self.pullback(inputs, outputs, output_gradients)

        def pullback(self, inputs, outputs, output_gradients):
            return super().L_op(inputs, outputs, output_gradients)

__all__ = ["PYTENSOR_3", "Function", "Pullback", "io_toposort", "pushforward"]
