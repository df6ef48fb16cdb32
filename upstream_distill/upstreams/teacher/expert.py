"""s3prl upstream for a teacher checkpoint (fairseq, s3prl-converted, HF folder, save_teacher).

Gives the SUPERB harness the same hidden states s3prl's own ``hubert`` /
``wav2vec2`` / ``wavlm`` experts give (input of every transformer layer plus
the encoder output), from our TeacherModel, so teacher rows in the results
come from the very network the students were distilled from.  Waveform
normalisation (``normalize=True`` checkpoints) happens inside the model, on
the real samples of each utterance, as s3prl's experts do with
``F.layer_norm(wav, wav.shape)``.  Plain ``nn.Module``: nothing here imports
s3prl.
"""
from __future__ import annotations

from typing import Dict, List, Union

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from upstream_distill.models import load_teacher

__all__ = ["UpstreamExpert"]


class UpstreamExpert(nn.Module):
    """``UpstreamExpert(ckpt)``: ``forward(wavs) -> {"hidden_states": [...], ...}``.

    ckpt: any format :func:`load_teacher` reads.  model_config: unused (every
    supported checkpoint carries its configuration); accepted because s3prl's
    runner always passes it.  Parameters are left trainable so that s3prl's
    ``-f`` (fine-tune the upstream) works; the runner wraps frozen use in
    ``torch.no_grad``.
    """

    def __init__(self, ckpt: str, model_config: str = None, **kwargs):
        super().__init__()
        if model_config:
            print(f"[teacher UpstreamExpert] - ignoring model_config {model_config!r}: "
                  f"the checkpoint carries its own configuration")
        self.model = load_teacher(ckpt, freeze=False)

    def get_downsample_rates(self, key: str) -> int:
        return self.model.downsample_rate  # 320 for every Base model

    def forward(self, wavs: List[Tensor]) -> Dict[str, Union[Tensor, List[Tensor]]]:
        lengths = torch.tensor([len(wav) for wav in wavs], device=wavs[0].device)
        padded = pad_sequence(wavs, batch_first=True)
        output = self.model(padded, lengths)
        return {
            "hidden_states": output.hidden_states,
            "last_hidden_state": output.hidden_states[-1],
            "pad_mask": output.frame_mask,  # as s3prl's distiller: True = real frame
        }
