"""``run_benchmark.py --launcher slurm``: every (upstream, task, fold) run, and every distillation, as a job.

A command submits what is neither finished nor already submitted, records each job in its run folder
(``job.json``) and returns; the same command later collects what finished (the job wrote ``score.json``
into the run folder, as a run in the command's own loop does), reports the jobs that failed with their
logs, and redraws the tables. One file per idea: the resources (config.py), the record of a job
(records.py), its state on the scheduler (probe.py), what one target's status is (status.py), what a job
runs (jobs.py), what can be submitted (targets.py), submitting (submitter.py), the pass over every
target (stock.py), the flags (flags.py) and the mode's entry (mode.py).
"""
