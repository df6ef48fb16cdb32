"""What one target (a task run or a distillation) is, from its folder and its job: finished, still
running, failed, or to submit. A pure function, so that the rules are read and tested in one place."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

from .records import JobRecord


class Status(Enum):
    DONE = "finished"
    ACTIVE = "still running"
    FAILED = "failed"
    SUBMIT = "to submit"


@dataclass(frozen=True)
class JobState:
    """A recorded job as its scheduler sees it."""

    active: bool  # queued, running, or requeued: its folder is still being written
    word: str  # the scheduler's word for it: PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, ...


def classify(done: bool, record: Optional[JobRecord], protocol: str, state: Optional[JobState]) -> Status:
    """``done``: the target left its result under ``protocol``; ``record``/``state``: its job, if any."""
    if done:
        return Status.DONE  # whatever its job: a score counts however it was made
    if record is None:
        return Status.SUBMIT
    if state is not None and state.active:
        # even a job of an older protocol: a second job would write into the folder it is writing
        return Status.ACTIVE
    if record.protocol != protocol:
        return Status.SUBMIT  # its score would not count now anyway: not a failure
    return Status.FAILED
