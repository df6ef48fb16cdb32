"""The networks: teachers (HuBERT, WavLM, wav2vec 2.0) and students, their checkpoint files
(``checkpoints.py``: both kinds, side by side; fairseq / Hugging Face conversion in
``import_fairseq.py`` / ``import_huggingface.py``), the one parameter count
(``parameters.py``), the teacher with per-layer widths that pruning trains and produces
(``pruned.py``), int8 students (``quantized.py``) and the structured output every model returns
(``outputs.ModelOutput``)."""
from .checkpoints import (
    EXPERT_CONFIG_KEY,
    EXPERT_STUDENT_KEY,
    CheckpointError,
    StudentCheckpointError,
    load_student,
    load_teacher,
    read_student_checkpoint,
    read_teacher_checkpoint,
    save_student,
    save_teacher,
    student_payload,
)
from .outputs import ModelOutput
from .parameters import TRAINING_ONLY_PREFIXES, UNIT_HEAD_PREFIXES, count_parameters
from .pruned import PrunedConfig, PrunedModel, PruningMasks
from .quantized import is_quantized, quantize_dynamic_int8
from .student import StudentModel
from .student_config import StudentConfig
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
    "EXPERT_CONFIG_KEY",
    "EXPERT_STUDENT_KEY",
    "ModelOutput",
    "PrunedConfig",
    "PrunedModel",
    "PruningMasks",
    "StudentCheckpointError",
    "StudentConfig",
    "StudentModel",
    "TRAINING_ONLY_PREFIXES",
    "TeacherConfig",
    "TeacherModel",
    "UNIT_HEAD_PREFIXES",
    "UnitHead",
    "count_parameters",
    "hubert_base_config",
    "is_quantized",
    "load_student",
    "load_teacher",
    "quantize_dynamic_int8",
    "read_student_checkpoint",
    "read_teacher_checkpoint",
    "save_student",
    "save_teacher",
    "student_payload",
    "tiny_teacher_config",
    "unit_logits_from_projection",
    "wav2vec2_base_config",
    "wavlm_base_plus_config",
]
