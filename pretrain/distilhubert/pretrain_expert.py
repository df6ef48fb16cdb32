"""DistilHuBERT (Chang et al., ICASSP 2022): a 2-layer student with one prediction head per
target teacher layer, trained by L1 + log-sigmoid cosine regression.

Nothing here but the choice of the shared expert: the student, its heads and
the loss are configuration (``config_model.yaml``), assembled by
:class:`upstream_distill.distill.DistillationExpert`.
"""
from upstream_distill.distill import DistillationExpert


class UpstreamPretrainExpert(DistillationExpert):
    pass
