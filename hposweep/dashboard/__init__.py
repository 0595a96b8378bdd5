"""``hposweep dashboard``: a live web view of studies while workers write them (the ``[dashboard]`` extra).

* :mod:`~hposweep.dashboard.catalog` finds the studies and reloads one, read-only and lock-free, only
  when its snapshot or journal changed;
* :mod:`~hposweep.dashboard.views` turns a study into the JSON the pages draw, through the report's own
  figure builders and the one trial-row schema (:mod:`hposweep.study.rows`);
* :mod:`~hposweep.dashboard.figures` holds the figures only a live view needs (timeline, compare, a
  trial's metric curves);
* :mod:`~hposweep.dashboard.actions` the opt-in writes (``--allow-write``), made through the study's
  journal like any worker's;
* :mod:`~hposweep.dashboard.security` the token, Host and CSRF checks; :mod:`~hposweep.dashboard.server`
  the Starlette app and uvicorn.

Only ``server`` imports starlette/uvicorn, so the rest is importable (and testable) without the extra.
"""
