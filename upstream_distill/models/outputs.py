"""The one structure every network of the project returns.

Losses read teacher and student alike through :class:`ModelOutput`, so no
loss reaches into a model's modules, hooks or private tensors; a new
architecture only has to fill these fields.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from torch import Tensor

__all__ = ["ModelOutput"]


@dataclass
class ModelOutput:
    """What a forward pass over a padded batch of ``B`` utterances returns.

    hidden_states:
        ``L + 1`` tensors of shape ``(B, N, D)``, counted as Hugging Face
        transformers (``output_hidden_states=True``) and s3prl's HuBERT /
        wav2vec 2.0 / WavLM experts count them: index 0 is the input of the
        first transformer layer, i.e. the projected CNN features *after* the
        convolutional positional embedding (and, for post-layer-norm models
        such as the Base ones, after the encoder's layer norm); index ``i``
        is the output of layer ``i``.  For ``layer_norm_first`` (pre-LN)
        models the last entry is the encoder's final layer norm applied to
        the last layer's output, the others are un-normalised.
    frame_mask:
        ``(B, N)`` bool, True for real frames, False for padding.  Values of
        padded frames are unspecified (not necessarily zero): mask them.
    attentions:
        Optional; one ``(B, H, N, N)`` tensor of attention probabilities per
        layer (rows: queries, columns: keys; each row sums to 1 over the real
        keys and is 0 on padded keys).  Before attention dropout.
    unit_logits:
        Optional ``(B, N, num_units)`` masked-prediction logits (HuBERT's
        cosine similarity with the label embeddings over a temperature).
    projected_features:
        Optional ``(B, N, D)`` feature-projection output *before* the
        positional convolution.  Not a hidden state in the HF/s3prl count;
        kept for front-end losses that want the raw transformer input.
    predictions:
        Optional; a student's prediction-head outputs, one ``(B, N, D_teacher)``
        tensor per target teacher layer (DistilHuBERT heads, or per-layer
        projections), in the order of the student config's ``head_targets``.
    """

    hidden_states: List[Tensor]
    frame_mask: Tensor
    attentions: Optional[List[Tensor]] = None
    unit_logits: Optional[Tensor] = None
    projected_features: Optional[Tensor] = None
    predictions: Optional[List[Tensor]] = None

    @property
    def last_hidden_state(self) -> Tensor:
        return self.hidden_states[-1]

    @property
    def frame_lengths(self) -> Tensor:
        """``(B,)`` number of real frames per utterance."""
        return self.frame_mask.sum(dim=-1)
