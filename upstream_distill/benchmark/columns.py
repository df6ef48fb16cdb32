"""Each task's score column, read off the task registry (``s3prl_bridge/tasks.py``) and nowhere else.

The registry says a task's metric and whether lower is better; the column name (``pr_per``,
``asr_wer``, ``ks_acc``, ...), its header and its direction all follow from those two facts, so a task
added there gets its column without a second list to keep in step. SUPERB's five tasks make the
overall and SUPERB scores; the extra tasks (low-resource ASR) get columns outside them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..s3prl_bridge.tasks import EXTRA_TASKS, TASKS, Task

#: s3prl's asr expert also prints the character error rate; the tables keep it beside the WER
_CER_OF_METRIC = "wer"


@dataclass(frozen=True)
class ScoreColumn:
    task: Task

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def column(self) -> str:
        """The CSV column: ``<task>_<metric>``."""
        return f"{self.task.name}_{self.task.metric}"

    @property
    def cer_column(self) -> Optional[str]:
        """The character error rate kept beside a WER (outside every summary score)."""
        return f"{self.task.name}_cer" if self.task.metric == _CER_OF_METRIC else None

    @property
    def sd_column(self) -> str:
        """The standard deviation of the score over the probe seeds (seeds.py), where there are several."""
        return f"{self.column}_sd"

    @property
    def cer_sd_column(self) -> Optional[str]:
        return f"{self.cer_column}_sd" if self.cer_column else None

    @property
    def retention_column(self) -> str:
        return f"{self.task.name}_retention_pct"

    @property
    def error_rate(self) -> bool:
        return self.task.error_rate

    @property
    def header(self) -> str:
        """``PR PER ↓``, ``KS acc ↑``: the task, its metric and which way is better."""
        metric = self.task.metric.upper() if self.task.error_rate else self.task.metric
        return f"{self.task.name.upper()} {metric} {'↓' if self.task.error_rate else '↑'}"

    def higher_is_better(self, value: float) -> float:
        """The score as SUPERB's summaries take it: an error rate turned into 100 − error."""
        return 100.0 - value if self.task.error_rate else value


#: the five SUPERB tasks: they make the overall and the SUPERB score
SUPERB_COLUMNS: Tuple[ScoreColumn, ...] = tuple(ScoreColumn(task) for task in TASKS.values())
#: scored when asked for (--tasks), outside both summary scores: low-resource ASR, frozen and fine-tuned
EXTRA_COLUMNS: Tuple[ScoreColumn, ...] = tuple(ScoreColumn(task) for task in EXTRA_TASKS.values())
COLUMN_OF: Dict[str, ScoreColumn] = {column.name: column for column in SUPERB_COLUMNS + EXTRA_COLUMNS}
