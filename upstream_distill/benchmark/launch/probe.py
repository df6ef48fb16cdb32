"""The state of recorded jobs on their scheduler, asked anew by every command (none of them waits).

A job that left its result file has ended, whatever its scheduler says. Otherwise: Slurm jobs are asked
of ``sacct`` through submitit, all in one call. Jobs of submitit's local executor (the tests' launcher)
are processes of an earlier command, which submitit cannot find again once that command has exited, so
their job id, the controller's pid, is looked up in ``/proc``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence

from .records import JobRecord
from .status import JobState

#: sacct's words for a job that may still write its folder (submitit's list, and the rarer ones)
ACTIVE_WORDS = frozenset({"READY", "PENDING", "RUNNING", "UNKNOWN", "REQUEUED", "COMPLETING", "PREEMPTED",
                          "CONFIGURING", "RESIZING", "SUSPENDED", "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING",
                          "STAGE_OUT"})


def _word(state: str) -> str:
    """sacct writes e.g. ``CANCELLED by 1234``."""
    return (state.split() or ["UNKNOWN"])[0].upper()


def _local_process_alive(pid: str) -> bool:
    """Whether the local job's controller (``python -m submitit.local._local``) still runs: a zombie or a
    pid reused by another program does not count."""
    proc = Path("/proc") / pid
    if not Path("/proc/self").is_dir():  # no procfs: the pid alone
        try:
            os.kill(int(pid), 0)
        except (OSError, ValueError):
            return False
        return True
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X") and b"submitit" in cmdline


def _slurm_words(records: Sequence[JobRecord]) -> List[str]:
    import submitit

    jobs = [submitit.SlurmJob(folder=record.log_folder, job_id=record.job_id) for record in records]
    if jobs:
        submitit.SlurmJob.watcher.update()  # one sacct call for all of them
    return [_word(job.watcher.get_state(job.job_id, mode="cache")) for job in jobs]


def probe(records: Sequence[JobRecord]) -> List[JobState]:
    """The state of each recorded job, in order."""
    states: List[JobState] = [JobState(False, "ENDED")] * len(records)
    slurm = []
    for index, record in enumerate(records):
        if record.result_file().is_file():
            states[index] = JobState(False, "COMPLETED")
        elif record.cluster == "local":
            alive = _local_process_alive(record.job_id)
            states[index] = JobState(alive, "RUNNING" if alive else "ENDED")
        else:
            slurm.append(index)
    for index, word in zip(slurm, _slurm_words([records[i] for i in slurm])):
        states[index] = JobState(word in ACTIVE_WORDS, word)
    return states


def raised_message(trace: str, lines: int = 16) -> List[str]:
    """The message of the exception a traceback ends with (RunFailed's names its log and quotes its tail),
    not the frames above it."""
    text = trace.rstrip().splitlines()
    last = max((i for i, line in enumerate(text) if line.startswith("Traceback (most recent call last)")), default=-1)
    start = next((i for i in range(last + 1, len(text)) if text[i] and not text[i][0].isspace()),
                 max(0, len(text) - lines))
    return text[start:start + lines]


def failure_text(record: JobRecord, state: JobState) -> str:
    """Why a job ended without its result: the tail of the error it raised, or what its scheduler said."""
    result = record.result_file()
    if result.is_file():
        from submitit.core.utils import pickle_load

        try:
            outcome, payload = pickle_load(result)
        except Exception as err:  # a truncated pickle: say so rather than fail the whole collection
            return f"its result file {result} cannot be read ({err})"
        if outcome == "error":
            return "it raised:\n" + "\n".join("    " + line for line in raised_message(str(payload)))
        return "it returned, but left no result in its folder"
    return (f"it ended ({state.word}) before its function returned: killed by the scheduler (time or memory "
            "limit, node failure) or failed to start")
