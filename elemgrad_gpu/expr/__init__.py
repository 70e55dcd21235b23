"""The expression language, with no PyTensor: its vocabulary and the parser of expression strings."""
