"""What a student is made of: :class:`StudentConfig` and the published students' numbers.

A student is a front-end (HuBERT's waveform CNN, or an 80-dim Fbank
front-end with a convolutional subsampler), a transformer encoder of its own
width and depth, and optional prediction heads that map it to the teacher's
hidden states:

* ``distilhubert``: one linear head per target teacher layer, all reading the
  student's last layer (DistilHuBERT, Chang et al. 2022);
* ``layerwise``: target ``k`` is predicted from student hidden state
  ``head_sources[k]`` through its own linear projection (FitHuBERT-style
  layer-to-layer mapping);
* ``none``: no heads (STaR compares N x N relations, which need no projection).

Heads only serve training; the s3prl upstream returns the encoder's hidden
states.  Plain types only, so a config round-trips through YAML and
``weights_only`` checkpoints.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple

from .shapes import config_from_dict, conv_downsample_rate
from .teacher_config import BASE_CONV_LAYERS

__all__ = ["FRONTENDS", "HEAD_KINDS", "StudentConfig", "distilhubert_config"]

FRONTENDS = ("cnn", "fbank")
HEAD_KINDS = ("none", "distilhubert", "layerwise")


@dataclass
class StudentConfig:
    """Architecture of a student; defaults are DistilHuBERT's (s3prl ``distiller`` names in comments)."""

    frontend: str = "cnn"  # "cnn" (waveform) | "fbank"
    conv_layers: List[Tuple[int, int, int]] = field(default_factory=lambda: list(BASE_CONV_LAYERS))
    conv_norm: str = "group_norm"  # extractor_mode "default"
    conv_bias: bool = False
    cnn_grad_scale: float = 0.1  # feature_grad_mult: the CNN learns 10x slower (HuBERT, DistilHuBERT)
    fbank: Optional[dict] = None  # frontend "fbank": FbankFrontEndConfig fields
    encoder_dim: int = 768
    encoder_layers: int = 2
    encoder_heads: int = 12
    ffn_dim: int = 3072
    pos_conv_kernel: int = 128  # conv_pos
    pos_conv_groups: int = 16  # conv_pos_groups
    layer_norm_first: bool = False
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.1
    projection_dropout: float = 0.0  # dropout_input
    prediction_heads: str = "none"  # "none" | "distilhubert" | "layerwise"
    head_targets: List[int] = field(default_factory=list)  # teacher hidden-state indices predicted
    head_dim: Optional[int] = None  # the teacher's width (pred_head_final_dim); None: filled in from the teacher
    head_sources: List[int] = field(default_factory=list)  # layerwise: student hidden-state per target
    # False: no LayerNorm on the front-end features before the projection, as in s3prl's distiller
    # (DistilHuBERT's release): students read from such files, or distilled to be written as one
    feature_layer_norm: bool = True

    def __post_init__(self):
        self.conv_layers = [tuple(int(v) for v in layer) for layer in self.conv_layers]
        self.head_targets = [int(i) for i in self.head_targets]
        self.head_sources = [int(i) for i in self.head_sources]
        problems = []
        if self.frontend not in FRONTENDS:
            problems.append(f"frontend must be one of {FRONTENDS}, got {self.frontend!r}")
        if self.frontend == "cnn" and (not self.conv_layers or any(len(c) != 3 or min(c) < 1
                                                                   for c in self.conv_layers)):
            problems.append(f"conv_layers must be positive (channels, kernel, stride) triples, "
                            f"got {self.conv_layers}")
        if self.frontend == "fbank" and self.fbank is None:
            problems.append("frontend 'fbank' needs an 'fbank' section (FbankFrontEndConfig fields)")
        if not 0 < self.cnn_grad_scale <= 1:
            problems.append(f"cnn_grad_scale must be in (0, 1], got {self.cnn_grad_scale}")
        if self.encoder_layers < 1:
            problems.append(f"encoder_layers must be >= 1, got {self.encoder_layers}")
        if self.encoder_heads < 1 or self.encoder_dim % self.encoder_heads:
            problems.append(f"encoder_dim {self.encoder_dim} is not divisible by encoder_heads "
                            f"{self.encoder_heads}")
        if self.pos_conv_groups < 1 or self.encoder_dim % self.pos_conv_groups:
            problems.append(f"encoder_dim {self.encoder_dim} is not divisible by pos_conv_groups "
                            f"{self.pos_conv_groups}")
        problems += self._head_problems()
        if problems:
            raise ValueError("invalid StudentConfig: " + "; ".join(problems))

    def _head_problems(self) -> List[str]:
        if self.prediction_heads not in HEAD_KINDS:
            return [f"prediction_heads must be one of {HEAD_KINDS}, got {self.prediction_heads!r}"]
        if self.prediction_heads == "none":
            return []
        problems = []
        if not self.head_targets:
            problems.append(f"prediction_heads {self.prediction_heads!r} needs head_targets "
                            f"(teacher hidden-state indices)")
        if self.head_dim is not None and self.head_dim < 1:
            problems.append(f"head_dim must be positive (the teacher's width), got {self.head_dim}")
        if self.prediction_heads == "layerwise":
            if len(self.head_sources) != len(self.head_targets):
                problems.append(f"layerwise heads need one head_sources entry per head_targets entry, "
                                f"got {self.head_sources} for {self.head_targets}")
            bad = [i for i in self.head_sources if not 0 <= i <= self.encoder_layers]
            if bad:
                problems.append(f"head_sources {bad} are not student hidden states 0..{self.encoder_layers}")
        return problems

    @property
    def downsample_rate(self) -> int:
        """Waveform samples per output frame (320: 20 ms, for both front-ends)."""
        if self.frontend == "fbank":
            return 320
        return conv_downsample_rate(self.conv_layers)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["conv_layers"] = [list(layer) for layer in self.conv_layers]
        if self.feature_layer_norm:
            # the default is left out, so that every file and run written before this field existed
            # keeps its exact config dict (a run refuses to resume when its stored dict differs)
            del data["feature_layer_norm"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "StudentConfig":
        return config_from_dict(cls, data)


def distilhubert_config(teacher_dim: int = 768, targets=(4, 8, 12)) -> StudentConfig:
    """DistilHuBERT (23.49M without its heads): HuBERT's CNN, 2 x 768 layers, heads for layers 4, 8, 12."""
    return StudentConfig(prediction_heads="distilhubert", head_targets=list(targets), head_dim=teacher_dim)
