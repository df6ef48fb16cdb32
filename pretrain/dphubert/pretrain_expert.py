"""DPHuBERT (Peng et al., Interspeech 2023): the teacher itself, distilled layer to layer while
hard-concrete gates prune its CNN channels, heads and FFN units to a target size (stage 1), then
pruned for real and distilled once more (stage 2); ``pipeline.yaml`` runs both.

Nothing here but the choice of the shared expert; gates, target and loss are configuration,
assembled by :class:`upstream_distill.distill.PruningDistillationExpert`.
"""
from upstream_distill.distill import PruningDistillationExpert


class UpstreamPretrainExpert(PruningDistillationExpert):
    pass
