"""One progress bar over a benchmark command's work, with an ETA built from the runs it has timed.

Steps differ by orders of magnitude (a KS probe in minutes, an ASR probe in hours, a distillation in
between), so a count-based rate would mislead. Each step has a kind (a task's name, or a distillation);
its expected time is the mean time of the steps of that kind timed so far: the finished task runs
recorded in their ``score.json`` (``train_seconds`` + ``eval_seconds``, the same preset), then this
command's own. The ETA is the sum over the steps left, less what the current one has already taken;
steps of a kind never timed are counted apart ("+ 2 untimed").
"""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from tqdm import tqdm

#: how often the ETA is redrawn while one long step runs
REFRESH_SECONDS = 30.0


@dataclass
class StepTimes:
    """Seconds each kind of step took: kind -> timings."""

    seconds: Dict[str, List[float]] = field(default_factory=dict)

    def record(self, kind: str, seconds: float) -> None:
        self.seconds.setdefault(kind, []).append(seconds)

    def expected(self, kind: str) -> Optional[float]:
        timed = self.seconds.get(kind)
        return sum(timed) / len(timed) if timed else None

    @classmethod
    def of_finished_runs(cls, runs_root: Path) -> "StepTimes":
        """The task runs under ``runs_root`` (``<row>/<task>[-<fold>]/score.json``) as the benchmark timed them."""
        times = cls()
        for score in sorted(runs_root.glob("*/*/score.json")):
            try:
                record = json.loads(score.read_text())
                times.record(record["task"], float(record["train_seconds"]) + float(record["eval_seconds"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a score being written, or an unreadable one: no timing, nothing else lost
        return times


@dataclass(frozen=True)
class Eta:
    seconds: float  # of the steps whose kind was timed
    untimed: int  # steps left of a kind never timed

    def __str__(self) -> str:
        if self.seconds == 0 and self.untimed:
            return f"ETA unknown ({self.untimed} untimed)"
        extra = f" + {self.untimed} untimed" if self.untimed else ""
        return f"ETA {format_duration(self.seconds)}{extra}"


def format_duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m" if minutes else "<1m"


def estimate(kinds_left: Sequence[str], times: StepTimes, current_elapsed: float = 0.0) -> Eta:
    """The time ``kinds_left`` will take (the first one under way for ``current_elapsed`` seconds)."""
    seconds, untimed = 0.0, 0
    for index, kind in enumerate(kinds_left):
        expected = times.expected(kind)
        if expected is None:
            untimed += 1
            continue
        seconds += max(0.0, expected - current_elapsed) if index == 0 else expected
    return Eta(seconds, untimed)


class BenchmarkProgress:
    """The overall bar: ``step(kind, name)`` around each step; ``add(kinds)`` when the plan grows (the runs
    of a student distilled just now), ``skip(kind)`` when a planned step turns out not to be needed."""

    def __init__(self, kinds: Sequence[str], times: StepTimes, enabled: bool = True):
        self.left: List[str] = list(kinds)  # kinds of the steps left, the one under way first
        self.times = times
        self._started: Optional[float] = None
        self._current = ""
        self._lock = threading.RLock()  # the refresher thread reads what the steps change
        self._stop = threading.Event()
        bar_format = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} steps [{elapsed} elapsed{postfix}]"
        self.bar = tqdm(total=len(self.left), desc="benchmark", bar_format=bar_format, dynamic_ncols=True,
                        disable=not enabled or not self.left)
        self._show()
        self._refresher = threading.Thread(target=self._refresh_until_closed, daemon=True)
        self._refresher.start()

    def eta(self) -> Eta:
        with self._lock:
            elapsed = time.monotonic() - self._started if self._started is not None else 0.0
            return estimate(self.left, self.times, elapsed)

    def _show(self) -> None:
        with self._lock:
            now = f"; now {self._current}" if self._current else ""
            self.bar.set_postfix_str(f"{self.eta()}{now}", refresh=True)

    def _refresh_until_closed(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            self._show()

    @contextmanager
    def step(self, kind: str, name: str) -> Iterator[None]:
        """Times the step; it counts as done (and, when it did not fail, its time as one of its kind's)
        when the block ends."""
        with self._lock:
            if kind in self.left:
                self.left.remove(kind)
            self.left.insert(0, kind)
            self._started, self._current = time.monotonic(), name
            self._show()
        try:
            yield
            self.times.record(kind, time.monotonic() - self._started)
        finally:
            with self._lock:
                self.left.pop(0)
                self._started, self._current = None, ""
                self.bar.update(1)
                self._show()

    def add(self, kinds: Sequence[str]) -> None:
        with self._lock:
            self.left.extend(kinds)
            self.bar.total += len(kinds)
            self._show()

    def skip(self, kind: str) -> None:
        """A planned step that is not needed after all (another command has it)."""
        with self._lock:
            if kind in self.left:
                self.left.remove(kind)
                self.bar.total -= 1
            self._show()

    def close(self) -> None:
        self._stop.set()
        self._refresher.join()
        self.bar.close()
