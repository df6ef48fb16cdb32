"""ONNX export of every student shape, run by ONNX Runtime on the CPU against the PyTorch student.

Tolerance: 1e-4 absolute on every hidden state, every real frame (float32 graphs; measured 1e-6 to
2e-5, the largest for the Fbank front-end, whose filterbank differs from torchaudio's float32 one by
float32 rounding).  The int8 graph: 10 % relative (||int8 - float|| / ||float|| per hidden state).
"""
from __future__ import annotations

import pytest
import torch

from upstream_distill.core.torchaudio_import import require_torchaudio
from upstream_distill.export.checks import check_onnx
from upstream_distill.export.fbank_graph import BatchedFbankFrontEnd
from upstream_distill.export.onnx_file import export_onnx, output_names, quantize_onnx
from upstream_distill.export.runtime import difference, onnx_session, run_onnx

from .conftest import hidden_states, speech_like

ATOL = 1e-4
INT8_RELATIVE = 0.10


@pytest.fixture(scope="module")
def onnx_files(students, tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    return {name: export_onnx(model, root / f"{name}.onnx") for name, model in students.items()}


@pytest.mark.parametrize("name", ["cnn", "fbank", "pruned", "pruned_wavlm"])
def test_onnx_runtime_gives_the_students_hidden_states(students, onnx_files, name):
    checked = check_onnx(students[name], onnx_files[name], seconds=1.3)  # 2 rows, one padded
    print(f"{name}: ONNX Runtime vs PyTorch {checked}")
    assert checked.max_abs < ATOL


@pytest.mark.parametrize("name", ["cnn", "fbank"])
def test_batch_and_length_are_free(students, onnx_files, name):
    """Traced on 2 rows of 1 s; run on 3 rows of another length and on a lone 0.4 s clip."""
    session, model = onnx_session(onnx_files[name], threads=1), students[name]
    waveforms = torch.stack([speech_like(2.1, seed) for seed in range(3)])
    lengths = torch.tensor([33600, 20000, 9000])
    for batch, lens in ((waveforms, lengths), (waveforms[:1, :6400], None)):
        reference = hidden_states(model, batch, lens)
        produced, frame_lengths = run_onnx(session, batch, lens)
        assert torch.equal(frame_lengths, reference.frame_lengths)
        assert difference(reference.hidden_states, produced, reference.frame_mask).max_abs < ATOL


def test_the_graph_names_its_inputs_and_outputs(students, onnx_files):
    import onnx

    proto = onnx.load(str(onnx_files["cnn"]))
    assert [i.name for i in proto.graph.input] == ["waveforms", "lengths"]
    assert [o.name for o in proto.graph.output] == output_names(2) == [
        "hidden_state_0", "hidden_state_1", "hidden_state_2", "frame_lengths"]
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["sample_rate"] == "16000" and props["downsample_rate"] == "320" and props["hidden_states"] == "3"


@pytest.mark.parametrize("name", ["cnn", "fbank", "pruned"])
def test_onnx_runtime_int8_stays_close(students, onnx_files, name, tmp_path):
    quantized = quantize_onnx(onnx_files[name], tmp_path / f"{name}.int8.onnx")
    checked = check_onnx(students[name], quantized, seconds=1.3)
    print(f"{name}: ONNX Runtime int8 vs PyTorch float32 {checked}")
    assert checked.relative < INT8_RELATIVE
    import onnx

    def matmuls(path):
        graph = onnx.load(str(path)).graph
        weights = {i.name for i in graph.initializer}
        return ([n for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights],
                [n for n in graph.node if n.op_type == "MatMul" and n.input[1] not in weights],
                [n for n in graph.node if n.op_type == "MatMulInteger"])

    linears, others, _ = matmuls(onnx_files[name])
    remaining_linears, remaining_others, integer = matmuls(quantized)
    # every Linear is int8; attention products (and the Fbank graph's matrices) stay float32
    assert len(integer) == len(linears) and not remaining_linears and len(remaining_others) == len(others)


def test_the_batched_filterbank_is_kaldis(students):
    """The graph's filterbank against torchaudio's Kaldi fbank in float64 (the ground truth) and in
    float32 (what the PyTorch student computes): closer to the first than the float32 path is."""
    torchaudio = require_torchaudio()
    frontend = students["fbank"].frontend
    batched = BatchedFbankFrontEnd.from_frontend(frontend).eval()
    wav = speech_like(1.0, seed=5)
    config = frontend.config
    exact = torchaudio.compliance.kaldi.fbank(wav.double()[None] * 32768, num_mel_bins=config.num_mel_bins,
                                              dither=0.0, snip_edges=True, sample_frequency=16000.0)
    exact = ((exact - frontend.mean.double()) / frontend.std.double()).float()
    ours, _ = batched.normalized_fbank(wav[None])
    float32, _ = frontend.normalized_fbank(wav[None])
    assert (ours[0] - exact).abs().max() <= (float32[0] - exact).abs().max()
    torch.testing.assert_close(ours[0], exact, atol=1e-4, rtol=0)
    assert batched.state_dict().keys() == frontend.state_dict().keys()
