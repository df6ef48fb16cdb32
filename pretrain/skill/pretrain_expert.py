"""SKILL (Zampierin et al., ICASSP-W 2024): DPHuBERT's joint distillation and pruning, with groups of
teacher layers (found by hierarchical clustering of their similarity on a calibration set) as the
targets instead of hand-picked layers; ``pipeline.yaml`` runs DPHuBERT's two stages.

Nothing here but the choice of the shared expert; the groups, gates and loss are configuration,
assembled by :class:`upstream_distill.distill.PruningDistillationExpert`.
"""
from upstream_distill.distill import PruningDistillationExpert


class UpstreamPretrainExpert(PruningDistillationExpert):
    pass
