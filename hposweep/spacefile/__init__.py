"""Layer 1: reading a search-space file (YAML with positions, native syntax, W&B syntax, priors, settings)."""
