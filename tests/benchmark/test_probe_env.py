"""What a probe's float path depends on: the thread count pinned and checked, device and torch recorded."""
import subprocess
import sys

import pytest

from upstream_distill.benchmark.probe_env import (
    ProbeRuntimeMismatch,
    device_flag,
    merge_facts,
    observed_facts,
    row_facts,
    thread_environment,
)
from upstream_distill.s3prl_bridge.runtime import Runtime, current_runtime, runtimes_in


def test_the_probe_threads_are_pinned_even_above_the_machines_core_count():
    import os

    from upstream_distill.core.paths import work_root

    # OMP_NUM_THREADS alone: torch takes it only up to the cores; run_downstream.py's --threads sets it as given
    code = ("import sys; from upstream_distill.s3prl_bridge.runtime import current_runtime, pin_threads; "
            "print(current_runtime().threads); pin_threads(int(sys.argv[1])); print(current_runtime().line())")
    for threads in (1, os.cpu_count() + 1):
        env = {**os.environ, **thread_environment(threads)}
        out = subprocess.run([sys.executable, "-c", code, str(threads)], env=env, capture_output=True, text=True,
                             check=True, cwd=work_root()).stdout.splitlines()
        assert int(out[0]) == min(threads, os.cpu_count())
        assert runtimes_in(out[1])[0].threads == threads


def test_the_runtime_line_round_trips_through_a_log():
    runtime = current_runtime()
    log = f"\n$ python -m ... train\n{runtime.line()}\n[Runner] - Start\n{Runtime('2.5.1', 4).line()}\n"
    assert runtimes_in(log) == [runtime, Runtime("2.5.1", 4)]
    assert runtimes_in("no such line") == []


def test_the_facts_are_what_the_probe_printed_and_another_thread_count_fails_the_run():
    train, test = Runtime("2.13.0+cpu", 2).line(), Runtime("2.13.0+cpu", 2).line()
    facts = observed_facts([train, test], 2, "cpu")
    assert facts.record() == {"probe_threads": 2, "probe_device": "cpu", "probe_torch": "2.13.0+cpu"}
    assert observed_facts([Runtime("2.12.0", 2).line(), test], 2, "cpu").torch == "2.12.0 / 2.13.0+cpu"
    with pytest.raises(ProbeRuntimeMismatch, match="--probe-threads 2: run_downstream.py ran torch with 1, 2"):
        observed_facts([Runtime("2.13.0", 1).line(), test], 2, "cpu")
    with pytest.raises(ProbeRuntimeMismatch, match="none printed"):
        observed_facts(["", ""], 2, "cpu")


def test_a_rows_facts_are_the_distinct_values_of_its_records():
    records = [{"probe_threads": 1, "probe_device": "cuda (NVIDIA H100)", "probe_torch": "2.13.0"},
               {"probe_threads": 1, "probe_device": "cpu", "probe_torch": "2.13.0"}]
    assert row_facts(records, 1) == {"probe_threads": "1", "probe_device": "cpu / cuda (NVIDIA H100)",
                                     "probe_torch": "2.13.0"}
    assert row_facts([{"percent": 50.0}], 2) == {"probe_threads": "2"}  # an old record: its protocol's threads only
    assert merge_facts("2.12.0", "2.13.0 / 2.12.0") == "2.12.0 / 2.13.0" and merge_facts(None, "") == ""
    assert device_flag("cuda (NVIDIA H100 80GB HBM3)") == "cuda" and device_flag("cpu") == "cpu"
