"""The Ray executor: trials as processes started by Ray actors on a cluster's nodes."""
