"""The networks: teachers (HuBERT, WavLM, wav2vec 2.0), their checkpoint import, and the
structured output every model returns (see ``outputs.ModelOutput``)."""
from .checkpoint_import import CheckpointError, load_teacher, read_teacher_checkpoint, save_teacher
from .outputs import ModelOutput
from .teacher import (
    TeacherConfig,
    TeacherModel,
    hubert_base_config,
    tiny_teacher_config,
    wav2vec2_base_config,
    wavlm_base_plus_config,
)
from .unit_head import UnitHead, unit_logits_from_projection

__all__ = [
    "CheckpointError",
    "ModelOutput",
    "TeacherConfig",
    "TeacherModel",
    "UnitHead",
    "hubert_base_config",
    "load_teacher",
    "read_teacher_checkpoint",
    "save_teacher",
    "tiny_teacher_config",
    "unit_logits_from_projection",
    "wav2vec2_base_config",
    "wavlm_base_plus_config",
]
