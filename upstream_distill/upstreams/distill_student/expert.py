"""s3prl upstream for a distilled student (``save_student`` export or a runner ``states-*.ckpt``).

Hidden states: the first transformer layer's input (front-end -> projection
-> positional conv) and each layer's output, at 20 ms frames (downsample rate
320) whatever the front-end, so s3prl's featurizer and task experts need
nothing new.  The training-only prediction heads are dropped.  An int8 file
(``run_export.py --format int8``) loads as the int8 student it records,
for CPU inference (``--device cpu``; it cannot be fine-tuned).  Plain
``nn.Module``: nothing here imports s3prl.
"""
from __future__ import annotations

from typing import Dict, List, Union

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from upstream_distill.models import is_quantized, load_student

__all__ = ["UpstreamExpert"]


class UpstreamExpert(nn.Module):
    """``UpstreamExpert(ckpt)``: ``forward(wavs) -> {"hidden_states": [...], ...}``.

    Parameters stay trainable so that s3prl's ``-f`` (fine-tune the upstream)
    works; the runner wraps frozen use in ``torch.no_grad``.
    """

    def __init__(self, ckpt: str, model_config: str = None, **kwargs):
        super().__init__()
        if model_config:
            print(f"[distill_student UpstreamExpert] - ignoring model_config {model_config!r}: "
                  f"the checkpoint carries its own configuration")
        self.model = load_student(ckpt)
        self.int8 = is_quantized(self.model)
        if self.int8:
            print(f"[distill_student UpstreamExpert] - {ckpt}: int8 student (dynamic quantisation), CPU only")

    def get_downsample_rates(self, key: str) -> int:
        return self.model.downsample_rate

    def forward(self, wavs: List[Tensor]) -> Dict[str, Union[Tensor, List[Tensor]]]:
        if self.int8 and wavs[0].device.type != "cpu":
            raise RuntimeError(f"distill_student: this int8 student runs on the CPU only, got audio on "
                               f"{wavs[0].device}; pass --device cpu (or use the float student file)")
        lengths = torch.tensor([len(wav) for wav in wavs], device=wavs[0].device)
        output = self.model(pad_sequence(wavs, batch_first=True), lengths, output_predictions=False)
        return {
            "hidden_states": output.hidden_states,
            "last_hidden_state": output.hidden_states[-1],
            "pad_mask": output.frame_mask,  # True = real frame, as s3prl's distiller
        }
