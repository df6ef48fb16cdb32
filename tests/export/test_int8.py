"""The int8 student: written by run_export's int8 format, loaded by the distill_student upstream.

Tolerance: each hidden state within 8 % relative (||int8 - float|| / ||float||, on the real frames)
of the float student's, as the upstream returns them (measured 1.5 to 4 % on these random students;
dynamic int8 quantisation is not exact, so the absolute difference is only reported).
"""
from __future__ import annotations

import pytest
import torch

from upstream_distill.export.int8 import save_int8
from upstream_distill.export.runtime import difference
from upstream_distill.models import StudentCheckpointError, is_quantized, load_student, read_student_checkpoint
from upstream_distill.models.quantized import DYNAMIC_INT8, QUANTIZATION_KEY
from upstream_distill.upstreams.distill_student.hubconf import distill_student

from .conftest import speech_like

INT8_RELATIVE = 0.08


@pytest.mark.parametrize("name", ["cnn", "fbank", "pruned"])
def test_the_int8_file_loads_through_the_distill_student_upstream(student_files, tmp_path, name):
    path = tmp_path / f"{name}.int8.pt"
    save_int8(load_student(student_files[name]), path)
    float_upstream, int8_upstream = distill_student(ckpt=str(student_files[name])), distill_student(ckpt=str(path))
    assert is_quantized(int8_upstream.model) and not is_quantized(float_upstream.model)
    wavs = [speech_like(1.2, seed=1), speech_like(0.7, seed=2)]
    with torch.inference_mode():
        expected, produced = float_upstream(wavs), int8_upstream(wavs)
    assert torch.equal(expected["pad_mask"], produced["pad_mask"])
    checked = difference(expected["hidden_states"], produced["hidden_states"], expected["pad_mask"])
    print(f"{name}: int8 upstream vs float upstream {checked}")
    assert checked.relative < INT8_RELATIVE
    assert path.stat().st_size < 0.7 * student_files[name].stat().st_size


def test_the_file_records_its_quantisation(student_files, tmp_path):
    path = tmp_path / "cnn.int8.pt"
    save_int8(load_student(student_files["cnn"]), path)
    payload = torch.load(path, weights_only=True)
    assert payload[QUANTIZATION_KEY] == DYNAMIC_INT8
    with pytest.raises(StudentCheckpointError, match="int8 student.*load_student"):
        read_student_checkpoint(path)  # its weights cannot seed a float network


def test_an_int8_upstream_refuses_audio_off_the_cpu(student_files, tmp_path):
    path = tmp_path / "cnn.int8.pt"
    save_int8(load_student(student_files["cnn"]), path)
    upstream = distill_student(ckpt=str(path))
    with pytest.raises(RuntimeError, match="CPU only.*--device cpu"):
        upstream([torch.empty(8000, device="meta")])
