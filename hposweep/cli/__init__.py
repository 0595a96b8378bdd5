"""Layer 4: the command line: one module per command family, the live view, value formatting."""
