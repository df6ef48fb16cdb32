"""The benchmark's plan and its ETA: expected times per kind of step, from the runs timed so far."""
import json

import pytest

from upstream_distill.benchmark.progress import BenchmarkProgress, Eta, StepTimes, estimate, format_duration


def test_the_eta_sums_each_steps_expected_time_less_the_current_ones_elapsed():
    times = StepTimes({"ks": [100.0, 200.0], "asr": [3600.0]})
    eta = estimate(["ks", "asr", "ks"], times, current_elapsed=60.0)
    assert eta == Eta(seconds=(150 - 60) + 3600 + 150, untimed=0)
    assert estimate(["ks"], times, current_elapsed=500.0).seconds == 0  # overdue: not negative
    assert estimate(["ks", "distil", "distil"], times) == Eta(150.0, 2)
    assert str(Eta(3900.0, 2)) == "ETA 1h05m + 2 untimed" and str(Eta(0.0, 1)) == "ETA unknown (1 untimed)"
    assert (format_duration(20), format_duration(600)) == ("<1m", "10m")


def test_the_expected_times_come_from_the_finished_runs_score_files(tmp_path):
    for row, task, train in [("a", "ks", 90.0), ("b", "ks", 190.0), ("a", "er-fold1", 40.0)]:
        (tmp_path / row / task).mkdir(parents=True)
        record = {"task": task.split("-")[0], "train_seconds": train, "eval_seconds": 10.0}
        (tmp_path / row / task / "score.json").write_text(json.dumps(record))
    (tmp_path / "a" / "pr").mkdir()
    (tmp_path / "a" / "pr" / "score.json").write_text("{")  # being written: ignored
    times = StepTimes.of_finished_runs(tmp_path)
    assert times.expected("ks") == pytest.approx(150.0) and times.expected("er") == 50.0
    assert times.expected("pr") is None


def test_the_bar_counts_steps_added_skipped_and_timed():
    progress = BenchmarkProgress(["distil", "ks", "ks"], StepTimes({"ks": [60.0]}), enabled=False)
    try:
        with progress.step("distil", "distil x"):
            pass
        assert progress.times.expected("distil") is not None  # timed now: the next one has an ETA
        progress.add(["sid"])
        progress.skip("ks")  # another command has it
        assert progress.bar.total == 3 and progress.left == ["ks", "sid"]
        with pytest.raises(RuntimeError):
            with progress.step("ks", "a/ks"):
                raise RuntimeError("failed")
        assert progress.left == ["sid"] and progress.times.seconds["ks"] == [60.0]
    finally:
        progress.close()

