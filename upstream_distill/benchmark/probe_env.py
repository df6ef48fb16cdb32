"""What a probe's floating-point path depends on besides its config, weights and seed: torch's thread
count, the device and the torch version; pinned where they can be, recorded with every score.

* Threads (``--probe-threads``, part of the protocol: protocol.py) are pinned in both ``run_downstream.py``
  subprocesses: by its ``--threads`` (torch.set_num_threads; torch takes OMP_NUM_THREADS only up to the
  machine's core count) and by OMP_NUM_THREADS and MKL_NUM_THREADS in their environment, for OpenMP and
  MKL themselves; s3prl sets none of them. The benchmark's own environment (``OMP_NUM_THREADS=1`` for two
  commands side by side) thus no longer reaches the probes unannounced: it changes their float path,
  so it takes ``--probe-threads 1``.
* The device is given to ``run_downstream.py`` explicitly (``--device``), so that the one recorded is
  the one used: CUDA when this process sees it, as run_downstream.py would choose.
* The torch version and the thread count each record says are the ones ``run_downstream.py`` printed
  (s3prl_bridge/runtime.py), not the ones asked for: a library that changed the count behind the flag
  fails the run rather than leaving a score recorded under a count it did not run with.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from ..s3prl_bridge.runtime import runtimes_in

#: the score.json keys and the scores.csv columns of the probe facts
THREADS_KEY, DEVICE_KEY, TORCH_KEY = "probe_threads", "probe_device", "probe_torch"
FACT_KEYS = (THREADS_KEY, DEVICE_KEY, TORCH_KEY)
#: between distinct values of one fact in a row made of several runs (seeds, folds, tasks)
VALUES_SEPARATOR = " / "


class ProbeRuntimeMismatch(RuntimeError):
    """A probe ran with another thread count than the protocol pinned."""


def thread_environment(threads: int) -> Dict[str, str]:
    """The variables that pin a probe's torch (and MKL) thread count, for its subprocess's environment."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def probe_device() -> str:
    """``cuda`` where this process sees a GPU, else ``cpu``: run_downstream.py's own default."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda ({torch.cuda.get_device_name(0)})"


def device_flag(device: str) -> str:
    """run_downstream.py's --device value of a recorded device (``cuda (NVIDIA H100)`` -> ``cuda``)."""
    return device.split(" ", 1)[0]


@dataclass(frozen=True)
class ProbeFacts:
    threads: int
    device: str
    torch: str  # several versions (a run resumed after an upgrade) are joined by VALUES_SEPARATOR

    def record(self) -> Dict[str, object]:
        """The keys a run's score.json gets."""
        return {THREADS_KEY: self.threads, DEVICE_KEY: self.device, TORCH_KEY: self.torch}


def observed_facts(log_texts: Iterable[str], threads: int, device: str) -> ProbeFacts:
    """The facts of a run from its logs (train.log, test.log): the torch versions its run_downstream.py
    calls printed and their thread count, which must be ``threads`` in every call."""
    runtimes = [runtime for text in log_texts for runtime in runtimes_in(text)]
    counts = sorted({runtime.threads for runtime in runtimes})
    if counts != [threads]:
        said = ", ".join(map(str, counts)) or "none printed"
        raise ProbeRuntimeMismatch(f"--probe-threads {threads}: run_downstream.py ran torch with {said} threads")
    versions = list(dict.fromkeys(runtime.torch for runtime in runtimes))
    return ProbeFacts(threads, device, VALUES_SEPARATOR.join(versions))


def row_facts(records: Iterable[dict], threads: int) -> Dict[str, str]:
    """The probe columns of a score-table row, from the score records it is made of: each fact's distinct
    values. A record written before the facts were kept has none but its thread count, which its protocol
    fixes (``threads``); a fact no record has stays out of the row."""
    values: Dict[str, List[str]] = {key: [] for key in FACT_KEYS}
    for record in records:
        values[THREADS_KEY].append(str(record.get(THREADS_KEY, threads)))
        for key in (DEVICE_KEY, TORCH_KEY):
            if record.get(key):
                values[key] += str(record[key]).split(VALUES_SEPARATOR)
    return {key: VALUES_SEPARATOR.join(sorted(set(found))) for key, found in values.items() if found}


def merge_facts(old: Optional[str], new: Optional[str]) -> str:
    """One fact of a row whose old scores of some tasks are kept beside new ones: both sets of values."""
    found = [value for text in (old, new) for value in (text or "").split(VALUES_SEPARATOR) if value]
    return VALUES_SEPARATOR.join(sorted(set(found)))
