"""ASR-oriented distillation (Wang et al., 2022): student structures, a discriminative loss beside the
regression loss, and the Fbank front-end with its own distillation stage.

All three are configuration over the shared
:class:`~upstream_distill.distill.DistillationExpert`: ``config_model.yaml``
is the deep & thin student with regression + discriminative losses; the
files in ``variants/`` change one thing each (``-g pretrain/asr_distill/variants/<name>.yaml``).
"""
from upstream_distill.distill import DistillationExpert


class UpstreamPretrainExpert(DistillationExpert):
    pass
