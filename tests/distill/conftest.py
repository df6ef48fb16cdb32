"""Distillation tests: the command line of a method's tiny preset with the session's random teacher."""
from __future__ import annotations

from pathlib import Path
from typing import List


def distill_args(corpus: Path, expdir: Path, teacher: Path, overrides: str = "",
                 method: str = "distilhubert") -> List[str]:
    """``run_pretrain.py`` flags: ``method``'s tiny preset on the tiny corpus with ``teacher``."""
    teacher_override = f"config.model.teacher.checkpoint='{teacher}'"
    joined = teacher_override + (",," + overrides if overrides else "")
    return ["-u", method, "--preset", "tiny", "--corpus", str(corpus), "-p", str(expdir), "-o", joined]
