"""Layer 2: the study: the :class:`~hposweep.study.api.Study` API, the checkpoint it is kept in, and the
views over its trials that every output shares (rows, summaries, checkpoint discovery)."""
