"""The five SUPERB tasks of the product and how each maps onto an s3prl task expert.

One record per task: the s3prl expert that trains it, the split and checkpoint that
give its test score, the metric it prints, and the config keys that name files or
folders (checked before a run so a missing corpus is reported by key and path rather
than by a traceback deep inside a dataloader).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

from upstream_distill.core.paths import DOWNSTREAM_CONFIG_ROOT

#: the embedded mini-SUPERB corpus and its scaled-down configs (downstream_configs/<preset>/)
EMBEDDED_PRESETS = ("tiny", "mini")
#: the paper settings on the real corpora (downstream_configs/superb/: the top-level configs, paths from flags)
REAL_CORPORA_PRESET = "superb"
PRESETS = EMBEDDED_PRESETS + (REAL_CORPORA_PRESET,)


@dataclass(frozen=True)
class Task:
    name: str  # the product's name: pr, asr, ks, sid, er
    expert: str  # s3prl.downstream.<expert>
    metric: str  # the key the expert prints as "<split> <metric>: <value>"
    test_split: str  # -t value for the test score
    best_checkpoint: str  # the expert's best-on-dev checkpoint file
    error_rate: bool  # lower is better; reported as a percentage
    metric_is_fraction: bool  # printed in [0, 1]; the tables use percentages
    path_keys: Tuple[str, ...]  # dotted config keys that must exist on disk
    config_name: Optional[str] = None  # downstream_configs/[<preset>/]<config_name>.yaml (default: name)
    finetune: bool = False  # the upstream is trained too (s3prl's -f)


TASKS: Dict[str, Task] = {
    "pr": Task(
        "pr", "ctc", "per", "test", "dev-best.ckpt", True, True,
        ("downstream_expert.corpus.path", "downstream_expert.corpus.lexicon",
         "downstream_expert.text.vocab_file"),
    ),
    "asr": Task(
        "asr", "asr", "wer", "test-clean", "dev-clean-best.ckpt", True, False,
        ("downstream_expert.datarc.libri_root", "downstream_expert.datarc.bucket_file",
         "downstream_expert.datarc.dict_path"),
    ),
    "ks": Task(
        "ks", "speech_commands", "acc", "test", "dev-best.ckpt", False, True,
        ("downstream_expert.datarc.speech_commands_root",
         "downstream_expert.datarc.speech_commands_test_root"),
    ),
    "sid": Task(
        "sid", "voxceleb1", "acc", "test", "dev-best.ckpt", False, True,
        ("downstream_expert.datarc.file_path", "downstream_expert.datarc.meta_data"),
    ),
    "er": Task(
        "er", "emotion", "acc", "test", "dev-best.ckpt", False, True,
        ("downstream_expert.datarc.root", "downstream_expert.datarc.meta_data"),
    ),
}

_ASR_PATHS = TASKS["asr"].path_keys
#: beyond SUPERB's five: low-resource ASR (Wang et al. 2022), the upstream frozen or fine-tuned
EXTRA_TASKS: Dict[str, Task] = {
    "asr_low": Task("asr_low", "asr", "wer", "test-clean", "dev-clean-best.ckpt", True, False, _ASR_PATHS),
    "asr_low_ft": Task("asr_low_ft", "asr", "wer", "test-clean", "dev-clean-best.ckpt", True, False, _ASR_PATHS,
                       finetune=True),
}
ALL_TASKS: Dict[str, Task] = {**TASKS, **EXTRA_TASKS}

# s3prl's own expert names are accepted by -d as well (`-d ctc` is PR on libriphone).
EXPERT_TO_TASK = {task.expert: name for name, task in TASKS.items()}

ER_FOLDS = tuple(f"fold{i}" for i in range(1, 6))


def resolve_task(name: str) -> Task:
    """The task for a -d value (product name or s3prl expert name)."""
    key = EXPERT_TO_TASK.get(name, name)
    if key not in ALL_TASKS:
        choices = ", ".join(list(ALL_TASKS) + list(EXPERT_TO_TASK))
        raise ValueError(f"-d/--downstream: unknown task {name!r}; choose one of: {choices}")
    return ALL_TASKS[key]


def default_config(task: Task, preset: str | None) -> Path:
    """downstream_configs/<task>.yaml (SUPERB paper settings) or <preset>/<task>.yaml (``superb/``: the same
    settings with the real corpora's paths as placeholders)."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"--preset: unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    folder = DOWNSTREAM_CONFIG_ROOT / preset if preset else DOWNSTREAM_CONFIG_ROOT
    return folder / f"{task.config_name or task.name}.yaml"
