"""The symbolic graph work, the only folder that needs PyTensor: trace, verify, differentiate, fuse, hoist, print.

Importing this package imports no PyTensor; its modules do, except ``plan`` and ``build``,
which import it inside the functions that trace.
"""
