"""Does an exported file compute what the network computes?  One number per file: the largest
absolute difference of any hidden state on any real frame, on a padded test batch.

Differences are taken against the float PyTorch network the file came from;
the test batch (``runtime.test_batch``) holds two lengths, so padding is
checked too, except for Hugging Face, whose GroupNorm sees the padding (as
fairseq's does): there each utterance runs alone.
"""
from __future__ import annotations

from typing import List

import torch
from torch import Tensor, nn

from upstream_distill.models import TeacherModel

from .runtime import Difference, difference, onnx_session, run_onnx, test_batch

__all__ = ["check_huggingface", "check_onnx", "check_torch", "hidden_states"]


def hidden_states(model: nn.Module, waveforms: Tensor, lengths: Tensor):
    """``(hidden states, frame mask)`` of a project network (student, pruned, teacher; float or int8)."""
    with torch.inference_mode():
        if isinstance(model, TeacherModel):
            output = model(waveforms, lengths)
        else:
            output = model(waveforms, lengths, output_predictions=False)
    return output.hidden_states, output.frame_mask


def check_onnx(model: nn.Module, path, seconds: float = 1.0) -> Difference:
    waveforms, lengths = test_batch(seconds)
    reference, mask = hidden_states(model, waveforms, lengths)
    candidate, frame_lengths = run_onnx(onnx_session(path), waveforms, lengths)
    if not torch.equal(frame_lengths, mask.sum(-1)):
        raise AssertionError(f"the ONNX graph gives {frame_lengths.tolist()} frames, PyTorch {mask.sum(-1).tolist()}")
    return difference(reference, candidate, mask)


def check_torch(reference: nn.Module, candidate: nn.Module, seconds: float = 1.0) -> Difference:
    waveforms, lengths = test_batch(seconds)
    expected, mask = hidden_states(reference, waveforms, lengths)
    return difference(expected, hidden_states(candidate, waveforms, lengths)[0], mask)


def check_huggingface(model: nn.Module, hf_model: nn.Module, seconds: float = 1.0) -> Difference:
    waveforms, lengths = test_batch(seconds)
    differences: List[Difference] = []
    for row, length in enumerate(lengths.tolist()):
        utterance = waveforms[row:row + 1, :length]
        expected, mask = hidden_states(model, utterance, None)
        with torch.inference_mode():
            produced = hf_model(utterance, output_hidden_states=True).hidden_states
        differences.append(difference(expected, produced, mask))
    return Difference(max(d.max_abs for d in differences), max(d.relative for d in differences))
