"""STaR's intra-layer temporal Gram matrix loss (Jang et al., ICASSP 2024).

Instead of a layer's output against itself, relate a layer's input ``F^l``
to its output ``F^{l+1}`` (both ``N x d``), which describes what the layer
does to the temporal relations::

    Ğ^{l+1} = F^l (F^{l+1})^T                               (N x N, not symmetric)
    L_intra = sum_l || Ğ^{l+1,T} - Ğ^{l+1,S} ||^2

over matched layers.  Scale (``normalization``), masking and batch reduction
are those of :mod:`upstream_distill.losses.temporal_gram`; with
``"feature"`` input and output frames are each L2-normalised.  ``Ğ`` is
unchanged when a network's input and output are rotated by the same ``Q``.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

from torch import Tensor

from upstream_distill.losses.temporal_gram import check_layer_lists, gram_pairs_loss

__all__ = ["consecutive_pairs", "intra_layer_tgm_loss"]


def consecutive_pairs(states: Sequence[Tensor], layers: Sequence[int]) -> Tuple[List[Tensor], List[Tensor]]:
    """``([states[l - 1] for l in layers], [states[l] for l in layers])``: each layer's input and output.

    states: :attr:`ModelOutput.hidden_states` (index 0 = input of layer 1,
    index ``i`` = output of layer ``i``); layers: 1-based layer numbers.
    """
    bad = [layer for layer in layers if not 1 <= layer < len(states)]
    if bad:
        raise ValueError(f"layers must be in 1..{len(states) - 1} for {len(states)} hidden states, got {bad}")
    return [states[layer - 1] for layer in layers], [states[layer] for layer in layers]


def intra_layer_tgm_loss(student_inputs: Sequence[Tensor], student_outputs: Sequence[Tensor],
                         teacher_inputs: Sequence[Tensor], teacher_outputs: Sequence[Tensor], frame_mask: Tensor,
                         normalization: str = "feature") -> Tensor:
    """``L_intra``: sum over matched layers of the distance between the input/output Grams.

    Each list holds one ``(B, N, D)`` tensor per matched layer (student width
    may differ from the teacher's; a layer's input and output share a width);
    teacher tensors are used as given, so pass them detached.
    """
    check_layer_lists(frame_mask, student_inputs=student_inputs, student_outputs=student_outputs,
                      teacher_inputs=teacher_inputs, teacher_outputs=teacher_outputs)
    return gram_pairs_loss(zip(student_inputs, student_outputs), zip(teacher_inputs, teacher_outputs),
                           frame_mask, normalization)
