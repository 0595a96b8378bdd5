"""Layer 0: the vocabulary every other layer speaks.

The search-space model (:mod:`.space`), the one codec between parameter values and the unit cube
(:mod:`.codec`), trials and their states (:mod:`.trial`), objectives (:mod:`.objectives`) and the
name → class registry that samplers and pruners are built from (:mod:`.registry`). Nothing here does
I/O or knows about studies, files or processes.
"""
