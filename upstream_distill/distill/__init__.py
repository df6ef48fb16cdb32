"""Distillation, shared by every method: frozen teacher -> student -> weighted objectives.

    objectives.py   the loss terms a method's YAML chooses and weighs (what each reads from the teacher)
    targets.py      teacher targets per batch: on the fly, or from a float16 disk cache (--cache-teacher)
    expert.py       DistillationExpert, the PretrainExpert that pretrain/<method>/ experts build on
    pruning_expert.py  PruningDistillationExpert: DPHuBERT's student, the teacher pruned while distilled
"""
from .expert import DistillationExpert
from .objectives import OBJECTIVES, Objective, TeacherNeeds
from .pruning_expert import PruningDistillationExpert

__all__ = ["DistillationExpert", "OBJECTIVES", "Objective", "PruningDistillationExpert", "TeacherNeeds"]
