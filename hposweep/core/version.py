"""The package version, in the lowest layer: the checkpoint records it and ``--version`` prints it."""

__version__ = "0.1.0"
