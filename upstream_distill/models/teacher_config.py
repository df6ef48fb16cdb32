"""What a teacher is made of: :class:`TeacherConfig` and the released models' numbers.

One small dataclass describes HuBERT, WavLM and wav2vec 2.0 alike (they
share the CNN + transformer skeleton); the factories hold the published Base
configurations, the tiny one serves tests and smoke runs.  Plain types only,
so a config round-trips through YAML and ``weights_only`` checkpoints.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple

from .shapes import config_from_dict, conv_downsample_rate, conv_problems, conv_receptive_field

__all__ = [
    "ARCHS",
    "BASE_CONV_LAYERS",
    "TeacherConfig",
    "hubert_base_config",
    "wavlm_base_plus_config",
    "wav2vec2_base_config",
    "tiny_teacher_config",
]

ARCHS = ("hubert", "wavlm", "wav2vec2")
#: fairseq's "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2": 20 ms frames, 400-sample window.
BASE_CONV_LAYERS: Tuple[Tuple[int, int, int], ...] = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2


@dataclass
class TeacherConfig:
    """Architecture of a teacher; defaults are the Base models' numbers.

    Field names follow the concept, with fairseq's name in the comment.
    The dropouts only matter if the model is put in training mode.
    """

    arch: str  # "hubert" | "wavlm" | "wav2vec2"
    conv_layers: List[Tuple[int, int, int]] = field(default_factory=lambda: list(BASE_CONV_LAYERS))
    conv_norm: str = "group_norm"  # extractor_mode: "default" = group_norm (Base), "layer_norm" (Large)
    conv_bias: bool = False  # conv_bias
    encoder_dim: int = 768  # encoder_embed_dim
    encoder_layers: int = 12  # encoder_layers
    encoder_heads: int = 12  # encoder_attention_heads
    ffn_dim: int = 3072  # encoder_ffn_embed_dim
    pos_conv_kernel: int = 128  # conv_pos
    pos_conv_groups: int = 16  # conv_pos_groups
    layer_norm_first: bool = False  # layer_norm_first (pre-LN; Large models)
    dropout: float = 0.1  # dropout
    attention_dropout: float = 0.1  # attention_dropout
    activation_dropout: float = 0.0  # activation_dropout
    projection_dropout: float = 0.1  # dropout_input
    num_buckets: int = 320  # WavLM relative-position buckets
    max_distance: int = 800  # WavLM max_distance
    gru_rel_pos: bool = True  # WavLM gated relative-position bias
    final_dim: Optional[int] = None  # HuBERT unit head: final_proj output dim
    num_units: Optional[int] = None  # HuBERT unit head: number of label embeddings
    unit_temperature: float = 0.1  # HuBERT logit_temp
    normalize_waveform: bool = False  # task.normalize: zero-mean unit-variance input

    def __post_init__(self):
        self.conv_layers = [tuple(int(v) for v in layer) for layer in self.conv_layers]
        problems = []
        if self.arch not in ARCHS:
            problems.append(f"arch must be one of {ARCHS}, got {self.arch!r}")
        problems += conv_problems(self.conv_layers, self.conv_norm)
        if self.encoder_heads < 1 or self.encoder_dim % self.encoder_heads:
            problems.append(f"encoder_dim {self.encoder_dim} is not divisible by "
                            f"encoder_heads {self.encoder_heads}")
        if self.pos_conv_groups < 1 or self.encoder_dim % self.pos_conv_groups:
            problems.append(f"encoder_dim {self.encoder_dim} is not divisible by "
                            f"pos_conv_groups {self.pos_conv_groups}")
        if self.arch == "wavlm" and self.num_buckets < 2:
            # torchaudio's WavLM attention only masks padded keys through the position bias.
            problems.append("a WavLM teacher needs relative-position buckets (num_buckets >= 2)")
        if (self.final_dim is None) != (self.num_units is None):
            problems.append("final_dim and num_units must be given together (the unit head) or not at all")
        if self.num_units is not None and self.arch != "hubert":
            problems.append(f"a unit head (final_dim/num_units) exists only for hubert, not {self.arch}")
        if problems:
            raise ValueError("invalid TeacherConfig: " + "; ".join(problems))

    @property
    def has_unit_head(self) -> bool:
        return self.num_units is not None

    @property
    def downsample_rate(self) -> int:
        """Waveform samples per output frame (320 for every Base model)."""
        return conv_downsample_rate(self.conv_layers)

    @property
    def receptive_field(self) -> int:
        """Samples one output frame sees; shorter waveforms give no frame (400 for Base)."""
        return conv_receptive_field(self.conv_layers)

    def to_dict(self) -> dict:
        """Plain types only (lists, not tuples), for YAML and ``weights_only`` checkpoints."""
        data = asdict(self)
        data["conv_layers"] = [list(layer) for layer in self.conv_layers]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TeacherConfig":
        return config_from_dict(cls, data)


def hubert_base_config() -> TeacherConfig:
    """HuBERT Base (fairseq ``hubert_base_ls960.pt``): 94.7M params, 504 units (500 k-means + 4 symbols)."""
    return TeacherConfig(arch="hubert", conv_layers=list(BASE_CONV_LAYERS), conv_norm="group_norm",
                         conv_bias=False, encoder_dim=768, encoder_layers=12, encoder_heads=12,
                         ffn_dim=3072, pos_conv_kernel=128, pos_conv_groups=16, layer_norm_first=False,
                         dropout=0.1, attention_dropout=0.1, activation_dropout=0.0,
                         projection_dropout=0.1, final_dim=256, num_units=504, unit_temperature=0.1,
                         normalize_waveform=False)


def wavlm_base_plus_config() -> TeacherConfig:
    """WavLM Base+ (``WavLM-Base+.pt``): 320 buckets, max distance 800, gated relative bias."""
    return TeacherConfig(arch="wavlm", conv_layers=list(BASE_CONV_LAYERS), conv_norm="group_norm",
                         conv_bias=False, encoder_dim=768, encoder_layers=12, encoder_heads=12,
                         ffn_dim=3072, pos_conv_kernel=128, pos_conv_groups=16, layer_norm_first=False,
                         dropout=0.1, attention_dropout=0.1, activation_dropout=0.0,
                         projection_dropout=0.1, num_buckets=320, max_distance=800, gru_rel_pos=True,
                         normalize_waveform=False)


def wav2vec2_base_config() -> TeacherConfig:
    """wav2vec 2.0 Base (``wav2vec_small.pt``); its quantizer is not part of the teacher."""
    return TeacherConfig(arch="wav2vec2", conv_layers=list(BASE_CONV_LAYERS), conv_norm="group_norm",
                         conv_bias=False, encoder_dim=768, encoder_layers=12, encoder_heads=12,
                         ffn_dim=3072, pos_conv_kernel=128, pos_conv_groups=16, layer_norm_first=False,
                         dropout=0.1, attention_dropout=0.1, activation_dropout=0.0,
                         projection_dropout=0.1, normalize_waveform=False)


def tiny_teacher_config(arch: str = "hubert") -> TeacherConfig:
    """A ~66k-parameter teacher with the Base frame geometry (320-sample hop,
    400-sample window) for tests and smoke runs; HuBERT gets a 20-unit head."""
    unit_head = dict(final_dim=16, num_units=20) if arch == "hubert" else {}
    return TeacherConfig(arch=arch, conv_layers=[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2,
                         conv_norm="group_norm", conv_bias=False, encoder_dim=48, encoder_layers=2,
                         encoder_heads=4, ffn_dim=96, pos_conv_kernel=16, pos_conv_groups=4,
                         layer_norm_first=False, dropout=0.0, attention_dropout=0.0,
                         activation_dropout=0.0, projection_dropout=0.0, num_buckets=16,
                         max_distance=64, gru_rel_pos=True, **unit_head)
