"""The one pretraining runner shared by every method (it knows nothing of any method).

    config.py       YAML -> full config (presets, -o overrides, placeholders) -> typed sections
    data.py         len_for_bucket utterances, length-bucketed batch plan with crops, audio checks
    optim.py        AdamW + linear warm-up / decay
    checkpoint.py   atomic states-<step>.ckpt, pruning, RNG capture
    logger.py       tensorboard + train.log + metrics.jsonl + tqdm
    distributed.py  torchrun environment, DDP wrapping (gloo on CPU, NCCL on CUDA)
    expert.py       the interface a pretrain/<method>/pretrain_expert.py implements
    runner.py       the loop: accumulation, AMP, clipping, saves, resume, NaN stop
    units.py        offline k-means frame targets (MFCC or a model layer), cached
    len_for_bucket.py  the utterance-length CSVs s3prl buckets by (writer; data.py reads them)

``run_pretrain.py``'s command line is ``upstream_distill.commands.pretrain``.
"""

from upstream_distill.core.errors import ConfigError, DataError, NonFiniteLossError, TrainingError

from .config import DataConfig, OptimizerConfig, RunnerConfig, TrainingConfig
from .data import Batch, Utterance
from .distributed import DistEnv
from .expert import ExpertContext, PretrainExpert
from .logger import read_metrics
from .runner import EXPORT_NAME, Runner

__all__ = [
    "Batch",
    "ConfigError",
    "DataConfig",
    "DataError",
    "DistEnv",
    "EXPORT_NAME",
    "ExpertContext",
    "NonFiniteLossError",
    "OptimizerConfig",
    "PretrainExpert",
    "Runner",
    "RunnerConfig",
    "TrainingConfig",
    "TrainingError",
    "Utterance",
    "read_metrics",
]
