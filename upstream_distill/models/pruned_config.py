"""What a pruned teacher is made of: :class:`PrunedConfig`, a teacher's shape with per-layer widths.

DPHuBERT's student *is* its teacher with some CNN channels, attention heads and
FFN units removed, each layer keeping its own number; the hidden size, the
depth, the positional convolution and the layer norms are never pruned.  So a
pruned model is described by the teacher's numbers plus three per-layer lists:

* ``conv_layers``: ``(channels, kernel, stride)`` per CNN block (channels pruned);
* ``layer_heads``: the teacher's head numbers each layer keeps, ascending (``[]``:
  the attention sub-layer is gone).  Numbers, not counts, because WavLM's
  relative-position bias is computed once for all the teacher's heads and each
  layer must read the rows of the heads it kept;
* ``ffn_dims``: the intermediate width of each feed-forward sub-layer (0: gone).

Plain types only, so a config round-trips through YAML and ``weights_only``
checkpoints.  :meth:`PrunedConfig.from_teacher` gives the full-width config a
gated model starts from.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Tuple

from .shapes import config_from_dict, conv_downsample_rate, conv_problems, conv_receptive_field
from .teacher_config import ARCHS, TeacherConfig

__all__ = ["PrunedConfig"]


@dataclass
class PrunedConfig:
    """A teacher's architecture with per-layer CNN channels, heads and FFN widths."""

    arch: str  # "hubert" | "wavlm" | "wav2vec2"
    conv_layers: List[Tuple[int, int, int]]  # (kept channels, kernel, stride) per CNN block
    layer_heads: List[List[int]]  # per transformer layer: the teacher's head numbers it keeps
    ffn_dims: List[int]  # per transformer layer: intermediate width (0: no feed-forward)
    total_heads: int  # the teacher's heads per layer (head_dim = encoder_dim / total_heads)
    conv_norm: str = "group_norm"
    conv_bias: bool = False
    encoder_dim: int = 768
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    layer_norm_first: bool = False
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    projection_dropout: float = 0.1
    num_buckets: int = 320
    max_distance: int = 800
    gru_rel_pos: bool = True
    normalize_waveform: bool = False

    def __post_init__(self):
        self.conv_layers = [tuple(int(v) for v in layer) for layer in self.conv_layers]
        self.layer_heads = [sorted(int(h) for h in heads) for heads in self.layer_heads]
        self.ffn_dims = [int(d) for d in self.ffn_dims]
        problems = []
        if self.arch not in ARCHS:
            problems.append(f"arch must be one of {ARCHS}, got {self.arch!r}")
        problems += conv_problems(self.conv_layers, self.conv_norm)
        if self.total_heads < 1 or self.encoder_dim % self.total_heads:
            problems.append(f"encoder_dim {self.encoder_dim} is not divisible by total_heads {self.total_heads}")
        if not self.layer_heads or len(self.ffn_dims) != len(self.layer_heads):
            problems.append(f"layer_heads ({len(self.layer_heads)} layers) and ffn_dims ({len(self.ffn_dims)} "
                            f"layers) must describe the same, non-zero number of layers")
        for index, heads in enumerate(self.layer_heads):
            if len(set(heads)) != len(heads) or any(not 0 <= h < self.total_heads for h in heads):
                problems.append(f"layer_heads[{index}] = {heads}: head numbers must be distinct, "
                                f"in 0..{self.total_heads - 1}")
        if any(d < 0 for d in self.ffn_dims):
            problems.append(f"ffn_dims must be >= 0, got {self.ffn_dims}")
        if self.pos_conv_groups < 1 or self.encoder_dim % self.pos_conv_groups:
            problems.append(f"encoder_dim {self.encoder_dim} is not divisible by pos_conv_groups "
                            f"{self.pos_conv_groups}")
        if problems:
            raise ValueError("invalid PrunedConfig: " + "; ".join(problems))

    @property
    def head_dim(self) -> int:
        return self.encoder_dim // self.total_heads

    @property
    def encoder_layers(self) -> int:
        return len(self.layer_heads)

    @property
    def downsample_rate(self) -> int:
        return conv_downsample_rate(self.conv_layers)

    @property
    def receptive_field(self) -> int:
        return conv_receptive_field(self.conv_layers)

    @classmethod
    def from_teacher(cls, teacher: TeacherConfig) -> "PrunedConfig":
        """The teacher's own shape: every channel, head and unit kept (what gates start from)."""
        layers = teacher.encoder_layers
        return cls(arch=teacher.arch, conv_layers=list(teacher.conv_layers),
                   layer_heads=[list(range(teacher.encoder_heads))] * layers, ffn_dims=[teacher.ffn_dim] * layers,
                   total_heads=teacher.encoder_heads, conv_norm=teacher.conv_norm, conv_bias=teacher.conv_bias,
                   encoder_dim=teacher.encoder_dim, pos_conv_kernel=teacher.pos_conv_kernel,
                   pos_conv_groups=teacher.pos_conv_groups, layer_norm_first=teacher.layer_norm_first,
                   dropout=teacher.dropout, attention_dropout=teacher.attention_dropout,
                   activation_dropout=teacher.activation_dropout, projection_dropout=teacher.projection_dropout,
                   num_buckets=teacher.num_buckets, max_distance=teacher.max_distance,
                   gru_rel_pos=teacher.gru_rel_pos, normalize_waveform=teacher.normalize_waveform)

    def to_dict(self) -> dict:
        """Plain types only (lists, not tuples), for YAML and ``weights_only`` checkpoints."""
        data = asdict(self)
        data["conv_layers"] = [list(layer) for layer in self.conv_layers]
        data["layer_heads"] = [list(heads) for heads in self.layer_heads]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "PrunedConfig":
        return config_from_dict(cls, data)
