"""Distillation, shared by every method: frozen teacher -> student -> weighted objectives.

    objectives.py   the loss terms a method's YAML chooses and weighs (what each reads from the teacher)
    targets.py      teacher targets per batch: on the fly, or from a float16 disk cache (--cache-teacher)
    expert.py       DistillationExpert, the PretrainExpert that pretrain/<method>/ experts build on
"""
from .expert import DistillationExpert
from .objectives import OBJECTIVES, Objective, TeacherNeeds

__all__ = ["DistillationExpert", "OBJECTIVES", "Objective", "TeacherNeeds"]
