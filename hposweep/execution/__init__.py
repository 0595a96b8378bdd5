"""Layer 3: running trials: the runner loop, a trial's argv and environment, metric parsing, executors."""
