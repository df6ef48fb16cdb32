"""The stage-1 trajectory figure, drawn from a run's logged scalars."""
import pytest

from upstream_distill.pruning.plot import SPARSITY_KEYS, plot_sparsity_trajectory


def _logged(steps):
    return {step: {"step": step, "loss": 1.0, "pruning/expected_sparsity": 0.1 + step / 2000,
                   "pruning/target_sparsity": min(0.8, step / 250), "pruning/lambda_1": -step / 50,
                   "pruning/lambda_2": step / 60}
            for step in steps}


def test_the_trajectory_is_drawn_from_the_steps_that_hold_the_pruning_scalars(tmp_path):
    metrics = _logged(range(25, 1001, 25))
    metrics[1001] = {"step": 1001, "loss": 0.5}  # e.g. a later stage's row: skipped, not a KeyError
    path = plot_sparsity_trajectory(metrics, tmp_path / "sparsity.png", title="stage 1")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically


def test_metrics_without_the_pruning_scalars_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=SPARSITY_KEYS[0]):
        plot_sparsity_trajectory({1: {"step": 1, "loss": 2.0}}, tmp_path / "sparsity.png")
    assert not (tmp_path / "sparsity.png").exists()
