"""Where a run reports: tensorboard scalars, a plain-text log, a JSON-lines metrics file, tqdm.

* ``<expdir>/train.log``: human-readable events (start, resume, saves,
  errors) and one line per logged step;
* ``<expdir>/metrics.jsonl``: the same scalars, one JSON object per logged
  step (``{"step": 10, "lr": ..., "grad_norm": ..., "loss": ..., ...}``),
  for scripts and tests; lines repeat after a resume (the later one wins);
* tensorboard: ``<expdir>/tensorboard`` with tags ``train/<name>``.

Only the main process (rank 0) writes; the others get a silent logger.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Dict, Optional, Union

from tqdm import tqdm

__all__ = ["TrainLogger", "read_metrics"]


class TrainLogger:
    def __init__(self, expdir: Path, enabled: bool = True, total_steps: int = 0, initial_step: int = 0):
        self.enabled = enabled
        self.expdir = Path(expdir)
        self._writer = None
        self._text = self._metrics = None
        self._bar: Optional[tqdm] = None
        if not enabled:
            return
        self.expdir.mkdir(parents=True, exist_ok=True)
        self._text = open(self.expdir / "train.log", "a", encoding="utf-8")
        self._metrics = open(self.expdir / "metrics.jsonl", "a", encoding="utf-8")
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(self.expdir / "tensorboard"), purge_step=initial_step + 1)
        self._bar = tqdm(total=total_steps, initial=initial_step, dynamic_ncols=True, desc="pretrain")

    def info(self, message: str) -> None:
        """An event: to train.log and to the terminal (above the progress bar)."""
        if not self.enabled:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._text.write(f"{stamp} {message}\n")
        self._text.flush()
        tqdm.write(f"[pretrain] {message}")

    def advance(self, step: int, loss: float) -> None:
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
            self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def scalars(self, step: int, values: Dict[str, float]) -> None:
        if not self.enabled:
            return
        for name, value in values.items():
            self._writer.add_scalar(f"train/{name}", value, step)
        self._metrics.write(json.dumps({"step": step, **{k: _jsonable(v) for k, v in values.items()}}) + "\n")
        self._metrics.flush()
        shown = " ".join(f"{k}={v:.6g}" for k, v in values.items())
        self._text.write(f"step {step} {shown}\n")
        self._text.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        self._writer.close()
        self._text.close()
        self._metrics.close()
        self.enabled = False


def _jsonable(value: float):
    return value if math.isfinite(value) else str(value)  # JSON has no NaN or inf


def read_metrics(expdir: Path) -> Dict[int, Dict[str, Union[int, float]]]:
    """A run's ``metrics.jsonl`` by step: the later line of a step wins (a resumed run logs its steps
    again), and the non-finite values written as strings are floats again."""
    rows = {}
    for line in (Path(expdir) / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        rows[row["step"]] = {key: float(value) if isinstance(value, str) else value for key, value in row.items()}
    return dict(sorted(rows.items()))
