"""The run protocol: its digests must not move, or every finished run and scores.csv would count as stale."""
import json

import torch

from upstream_distill.benchmark.protocol import (
    PROTOCOL_THREADS,
    RunProtocol,
    current_task_configs,
    recorded_protocol,
    task_config_digest,
    weights_fingerprint,
)
from upstream_distill.s3prl_bridge.tasks import ALL_TASKS

#: the task-config digests of the mini preset recorded in results/mini/scores.csv (task_protocols) and in
#: every run's score.json: a change of the digest rule would re-run every task of every row
MINI_DIGESTS = {"pr": "eee0fd5d0f45", "asr": "96b811b5d727", "ks": "4b8385d2d046", "sid": "a17b612b85be",
                "er": "b1e386b6769b", "asr_low": "516c38e32b0b", "asr_low_ft": "6c90bb28b760"}


def test_the_digests_of_the_shipped_mini_configs_are_unchanged():
    assert current_task_configs("mini") == MINI_DIGESTS


def test_the_weights_fingerprint_of_known_weights_is_unchanged():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    with torch.no_grad():
        for i, parameter in enumerate(model.parameters()):
            parameter.copy_(torch.arange(parameter.numel(), dtype=torch.float32).reshape(parameter.shape) / (i + 1))
    assert weights_fingerprint(model) == "7b37726e8f87"  # as the string-protocol code computed it


def test_the_protocol_reads_and_writes_the_text_existing_runs_hold(tmp_path):
    written = "4b8385d2d046+cef25a767834"  # exp/benchmark/mini/dphubert/ks/score.json
    protocol = RunProtocol.parse(written)
    assert protocol == RunProtocol(task_config="4b8385d2d046", weights="cef25a767834")
    assert str(protocol) == written
    (tmp_path / "score.json").write_text(json.dumps({"protocol": written}))
    assert recorded_protocol(tmp_path) == protocol
    assert recorded_protocol(tmp_path / "nothing") is None


def test_two_probe_threads_are_the_implicit_default_and_leave_every_digest_as_it_was():
    # every score before the thread count was recorded ran torch's default on 2 cores: 2 threads
    assert PROTOCOL_THREADS == 2
    assert current_task_configs("mini", threads=2) == MINI_DIGESTS
    assert task_config_digest(ALL_TASKS["pr"], "mini", None, 2) == MINI_DIGESTS["pr"]


def test_another_probe_thread_count_is_another_protocol():
    one = current_task_configs("mini", threads=1)
    assert all(one[task] != MINI_DIGESTS[task] for task in MINI_DIGESTS)
    assert one == current_task_configs("mini", threads=1)  # stable
    assert current_task_configs("mini", threads=4) != one


def test_a_probe_seed_above_one_is_written_after_the_digests_and_seed_one_writes_nothing():
    first = RunProtocol("4b8385d2d046", "cef25a767834")
    assert first.seed == 1 and str(first) == "4b8385d2d046+cef25a767834"
    second = RunProtocol("4b8385d2d046", "cef25a767834", seed=2)
    assert str(second) == "4b8385d2d046+cef25a767834+seed2"
    assert RunProtocol.parse(str(second)) == second and RunProtocol.parse(str(first)) == first
    assert RunProtocol.parse("4b8385d2d046").weights == ""  # as before: a text without weights


def test_an_int8_upstream_has_a_fingerprint_that_follows_its_weights():
    """An int8 Linear packs its weight into a tuple in the state dict; the fingerprint reads it too."""
    import torch

    from upstream_distill.benchmark.protocol import weights_fingerprint
    from upstream_distill.models import quantize_dynamic_int8

    def int8_model(seed):
        torch.manual_seed(seed)
        return quantize_dynamic_int8(torch.nn.Sequential(torch.nn.Linear(4, 3)))

    assert weights_fingerprint(int8_model(0)) == weights_fingerprint(int8_model(0))
    assert weights_fingerprint(int8_model(0)) != weights_fingerprint(int8_model(1))
