"""Run upstreams through the SUPERB tasks of the s3prl harness and write score tables.

One idea a file: ``cli.py`` (flags, which mode) and ``modes/`` (one entry function per mode: score,
distill_only, tables_only, compare); ``plan.py`` and ``progress.py`` (what a command will do, and how long
it has left); ``runs.py`` (one run through s3prl) under ``protocol.py`` (which config and weights a score
was measured under), ``seeds.py`` (several probe trainings of a run) and ``probe_env.py`` (the threads,
device and torch a probe ran with); ``measure.py`` and ``macs.py`` (size, MACs, speed of an upstream); ``students.py``
(the recipes of students.yaml); ``columns.py`` (each task's column, read off the task registry),
``leaderboard.py`` (overall, SUPERB score, retention, ranking), ``rows.py`` (scores.csv), ``markdown.py``,
``plot.py``, ``layers.py`` and ``publish.py`` (the tables, merged under a lock); ``paired.py`` (significance
tests); ``speed.py`` (the side-by-side speed report); ``report.py`` (atomic writes, the machine stamp).
"""
