"""A network as an ONNX file: the waveform in, every hidden state out; and its int8 twin.

The graph is traced by ``torch.onnx``'s TorchScript exporter (``dynamo=False``):
the networks' padding checks branch on tensor values, which the tracer
records along the path an example takes, where the ``torch.export`` exporter
needs them rewritten.  The example batch has two lengths, so the traced path
is the padding-aware one and any batch of any lengths runs through it.

Inputs: ``waveforms`` ``(B, T)`` float32 at 16 kHz (floats in [-1, 1],
padded at the end) and ``lengths`` ``(B,)`` int64 real samples per row.
Outputs: ``hidden_state_0`` ... ``hidden_state_L`` ``(B, N, D)`` (the project's
count: index 0 is the first layer's input) and ``frame_lengths`` ``(B,)``
int64; frames past a row's length are padding, their values unspecified.
An Fbank student's filterbank is part of the graph (``fbank_graph.py``).

:func:`quantize_onnx` is ONNX Runtime's dynamic quantisation restricted to
the MatMuls of Linear layers (weights stored int8, activations quantised
per batch), the ONNX counterpart of PyTorch's dynamic int8 student: the
attention's activation-by-activation products and an Fbank front-end's
fixed spectrum matrices stay float32.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import List, Optional

import torch
from torch import Tensor, nn

from upstream_distill.models import StudentModel, TeacherModel

from .fbank_graph import BatchedFbankFrontEnd
from .network import AnyNetwork, describe, float_copy

__all__ = ["INPUT_NAMES", "ONNX_OPSET", "HiddenStatesGraph", "export_onnx", "output_names", "quantize_onnx"]

ONNX_OPSET = 17
INPUT_NAMES = ("waveforms", "lengths")
SAMPLE_RATE = 16000


def output_names(layers: int) -> List[str]:
    return [f"hidden_state_{index}" for index in range(layers + 1)] + ["frame_lengths"]


class HiddenStatesGraph(nn.Module):
    """``(waveforms, lengths) -> (hidden_state_0, ..., hidden_state_L, frame_lengths)``, on a float copy
    of the network (an Fbank front-end replaced by its batched graph, the same weights)."""

    def __init__(self, model: AnyNetwork):
        super().__init__()
        self.model = float_copy(model)
        if isinstance(self.model, StudentModel) and self.model.config.frontend == "fbank":
            self.model.frontend = BatchedFbankFrontEnd.from_frontend(self.model.frontend).eval()
        self.layers = len(self.model.layers)

    def forward(self, waveforms: Tensor, lengths: Tensor):
        if isinstance(self.model, TeacherModel):
            output = self.model(waveforms, lengths)
        else:
            output = self.model(waveforms, lengths, output_predictions=False)
        return (*output.hidden_states, output.frame_lengths)


def _example(seconds: float):
    samples = int(seconds * SAMPLE_RATE)
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, samples, generator=generator) * 0.1, torch.tensor([samples, samples * 3 // 4])


def export_onnx(model: AnyNetwork, path, opset: int = ONNX_OPSET, example_seconds: float = 1.0,
                source: Optional[str] = None) -> Path:
    """Write ``model`` (a student, pruned student or teacher, float) to ``path``; returns the path."""
    import onnx

    graph = HiddenStatesGraph(model).eval()
    names = output_names(graph.layers)
    axes = {"waveforms": {0: "batch", 1: "samples"}, "lengths": {0: "batch"}, "frame_lengths": {0: "batch"},
            **{name: {0: "batch", 1: "frames"} for name in names[:-1]}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        # the tracer warns at every value-dependent check of the padding logic (recorded on purpose),
        # and torch.onnx that the TorchScript exporter is deprecated
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, _example(example_seconds), str(path), dynamo=False, opset_version=opset,
                          input_names=list(INPUT_NAMES), output_names=names, dynamic_axes=axes)
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {
        "producer": "upstream_distill run_export", "network": describe(model), "source": source or "",
        "sample_rate": str(SAMPLE_RATE), "downsample_rate": str(model.downsample_rate),
        "hidden_states": str(graph.layers + 1),
        "inputs": "waveforms (batch, samples) float32 in [-1, 1] at 16 kHz; lengths (batch,) int64",
    })
    onnx.save(proto, str(path))
    return path


@contextlib.contextmanager
def _without_preprocessing_advice():
    """ONNX Runtime's quantiser advises its pre-processing through ``logging.warning`` on the root
    logger (which configures the root logger if nothing has).  That pre-processing's symbolic shape
    inference fails on these graphs' dynamic lengths, and the quantisation does not need it."""
    root, handler = logging.getLogger(), logging.NullHandler()

    def advice(record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()

    root.addHandler(handler)
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)
        root.removeHandler(handler)


def quantize_onnx(source, target) -> Path:
    """ONNX Runtime's dynamic int8 quantisation of the Linear layers' MatMuls of ``source``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    weights = {initializer.name for initializer in graph.initializer}
    # a MatMul whose second input is not a stored weight is attention (activation x activation) or the
    # Fbank graph's fixed matrices (constants): PyTorch's int8 student keeps those float32 too
    excluded = [node.name for node in graph.node if node.op_type == "MatMul" and node.input[1] not in weights]
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _without_preprocessing_advice():
        quantize_dynamic(str(source), str(target), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                         per_channel=False, nodes_to_exclude=excluded, extra_options={"MatMulConstBOnly": True})
    return target
