"""STaR (Jang et al., ICASSP 2024): distil the temporal relations between frames.

The student needs no projection to the teacher's width: the layer-wise and
intra-layer temporal Gram matrices (and, optionally, head-averaged attention
maps) are N x N whatever the width.  Like every method, it is configuration
(``config_model.yaml``) over the shared :class:`~upstream_distill.distill.DistillationExpert`.
"""
from upstream_distill.distill import DistillationExpert


class UpstreamPretrainExpert(DistillationExpert):
    pass
