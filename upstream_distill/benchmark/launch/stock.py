"""One command's pass over its targets: what each one is (``survey``), then submitting what is to submit
and reporting what failed (``act``). Nothing waits: what is still running is collected by a later command.

Two commands may pass at once: a target is submitted only under its submit lock (beside its folder),
after its record is read again there, so no run is submitted twice; and a task run that a command
without --launcher is training (its claim lock) is left to it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

from ...core.locks import try_lock
from .probe import failure_text, probe
from .records import FAILED_JOB_FILE, JOB_FILE, JobRecord, read_record, retire_failed, write_record
from .status import JobState, Status, classify
from .targets import Target

LOG = logging.getLogger("benchmark")


@dataclass(frozen=True)
class Entry:
    target: Target
    status: Status
    record: Optional[JobRecord] = None  # its job, when it has one
    state: Optional[JobState] = None


@dataclass
class Tally:
    submitted: List[str] = field(default_factory=list)
    running: List[str] = field(default_factory=list)
    failed: List[str] = field(default_factory=list)  # jobs that failed, and submissions that did
    left: List[str] = field(default_factory=list)  # to another command


def survey(targets: Sequence[Target]) -> List[Entry]:
    done = [target.done() for target in targets]
    records = [None if finished else read_record(target.folder) for target, finished in zip(targets, done)]
    known = [index for index, record in enumerate(records) if record is not None]
    states = dict(zip(known, probe([records[index] for index in known])))
    return [Entry(target, classify(done[i], records[i], target.protocol, states.get(i)), records[i], states.get(i))
            for i, target in enumerate(targets)]


def _report_running(entry: Entry, tally: Tally) -> None:
    record, state = entry.record, entry.state
    hint = ""
    if state.word == "UNKNOWN":
        hint = (f"; sacct does not know it: if it is no longer queued, remove {entry.target.folder / JOB_FILE} "
                "and run the command again")
    LOG.info("%s: still running as job %s (%s)%s", entry.target.name, record.job_id, state.word, hint)
    tally.running.append(entry.target.name)


def _report_failed(entry: Entry, tally: Tally) -> None:
    stderr, stdout = entry.record.log_paths()
    retired = retire_failed(entry.target.folder)
    LOG.error("%s FAILED: job %s ended without its result; %s\n    job logs: %s, %s\n    record kept as %s; "
              "resubmitted by the next run_benchmark.py with the same flags", entry.target.name,
              entry.record.job_id, failure_text(entry.record, entry.state), stderr, stdout, retired)
    tally.failed.append(entry.target.name)


def _submit(entry: Entry, submit: Callable[[Target], JobRecord], tally: Tally) -> None:
    target = entry.target
    with try_lock(target.folder.parent / f".{target.folder.name}.submit.lock") as mine:
        if not mine or read_record(target.folder) is not None or target.done():
            LOG.warning("%s: submitted or finished meanwhile by another command; not submitted here", target.name)
            tally.left.append(target.name)
            return
        if target.busy():
            LOG.warning("%s: being trained by another benchmark command; not submitted", target.name)
            tally.left.append(target.name)
            return
        target.prepare()
        before = read_record(target.folder, FAILED_JOB_FILE)
        try:
            record = submit(target)
        except Exception as err:  # sbatch's refusal (a partition, an account): say it, submit the others
            LOG.error("%s: could not be submitted: %s", target.name, err)
            tally.failed.append(target.name)
            return
        write_record(target.folder, record)
    again = f", again after job {before.job_id} failed" if before is not None else ""
    LOG.info("%s: submitted as job %s%s (logs in %s)", target.name, record.job_id, again, record.log_folder)
    tally.submitted.append(target.name)


def act(entries: Sequence[Entry], submit: Callable[[Target], JobRecord]) -> Tally:
    """Report the running and failed jobs, retire the failed ones' records, submit what is to submit."""
    tally = Tally()
    for entry in entries:
        if entry.status is Status.ACTIVE:
            _report_running(entry, tally)
        elif entry.status is Status.FAILED:
            _report_failed(entry, tally)
        elif entry.status is Status.SUBMIT:
            _submit(entry, submit, tally)
    return tally
