"""What a run's metrics.jsonl holds, read back the way the figures and tests read it."""
import math

from upstream_distill.training import read_metrics
from upstream_distill.training.logger import TrainLogger


def test_a_resumed_steps_later_line_wins_and_non_finite_values_come_back_as_floats(tmp_path):
    first = TrainLogger(tmp_path, total_steps=3)
    first.scalars(1, {"loss": 2.0})
    first.scalars(2, {"loss": 1.5})
    first.close()
    resumed = TrainLogger(tmp_path, total_steps=3, initial_step=1)  # killed after step 1's checkpoint
    resumed.scalars(2, {"loss": 1.25})
    resumed.scalars(3, {"loss": float("nan"), "grad_norm": float("inf")})
    resumed.close()
    metrics = read_metrics(tmp_path)
    assert list(metrics) == [1, 2, 3]
    assert metrics[2]["loss"] == 1.25
    assert math.isnan(metrics[3]["loss"]) and metrics[3]["grad_norm"] == math.inf
