"""`make gpu-check`'s script: the same path as on a GPU, at tiny shapes on the CPU."""
from __future__ import annotations

import pytest
import torch

from upstream_distill.benchmark import gpu_check


def test_the_noise_corpus_is_a_librispeech_layout_the_runner_reads(tmp_path):
    from upstream_distill.training.config import DataConfig
    from upstream_distill.training.data import read_utterances

    libri = gpu_check.write_noise_corpus(tmp_path, utterances=3, seconds=0.5)
    data = DataConfig(libri_root=str(libri), bucket_dir=str(libri / "len_for_bucket"), sets=["train-clean-100"],
                      batch_size=2, max_timestep=16000)
    utterances = read_utterances(data)
    assert len(utterances) == 3 and all(u.length == 8000 for u in utterances)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_asking_for_cuda_without_it_names_the_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["--device", "cuda"])
    assert exit_info.value.code == 2
    assert "--device cuda: CUDA is not available" in capsys.readouterr().err


@pytest.mark.slow
def test_every_check_passes_at_tiny_shapes_on_the_cpu(tiny_corpus, tmp_path):
    out = tmp_path / "gpu.md"
    status = gpu_check.main(["--device", "cpu", "--shapes", "tiny", "--steps", "2", "--downstream-steps", "5",
                             "--repeats", "1", "--corpus", str(tiny_corpus), "--work", str(tmp_path / "work"),
                             "--out", str(out)])
    text = out.read_text()
    assert status == 0, text
    for method in gpu_check.METHODS:
        assert f"| distil {method} | ok |" in text
        assert f"| {method} | " in text  # its throughput row
    assert "| downstream ks (distilhubert student) | ok |" in text
    assert "| teacher | " in text and "batch 16, fp32" in text
