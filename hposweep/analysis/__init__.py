"""Layer 1: numerics over finished trials: Pareto fronts and hypervolume, parameter importance. No I/O."""
