"""The line ``run_downstream.py`` prints first: the torch version and the thread count it runs with.

Both change a probe's floating-point path (a reduction split over another number of threads sums in
another order), and neither is in s3prl's logs; the benchmark reads them back from this line to record
with each score what the probe really ran with (benchmark/probe_env.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional

from .errors import UsageError

_PATTERN = re.compile(r"^run_downstream\.py: torch (\S+), (\d+) threads$", re.M)


@dataclass(frozen=True)
class Runtime:
    torch: str  # torch.__version__
    threads: int  # torch.get_num_threads(): OMP_NUM_THREADS when set, else torch's default for the machine

    def line(self) -> str:
        return f"run_downstream.py: torch {self.torch}, {self.threads} threads"


def pin_threads(threads: Optional[int]) -> None:
    """``--threads N``: torch's intra-op thread count. Set explicitly: torch takes OMP_NUM_THREADS only up
    to the machine's core count (OMP_NUM_THREADS=4 on 2 cores gives 2 threads), set_num_threads as given."""
    if threads is None:
        return
    if threads < 1:
        raise UsageError(f"--threads: must be 1 or more, not {threads}")
    import torch

    torch.set_num_threads(threads)


def current_runtime() -> Runtime:
    import torch

    return Runtime(torch.__version__, torch.get_num_threads())


def runtimes_in(log_text: str) -> List[Runtime]:
    """Every runtime line of a log, in order (one per run_downstream.py call that wrote into it)."""
    return [Runtime(version, int(threads)) for version, threads in _PATTERN.findall(log_text)]
