"""``python -m hposweep``: the same entry point as the ``hposweep`` console script."""

from hposweep.entry import main

main()
