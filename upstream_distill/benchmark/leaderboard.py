"""The summary scores of a row, as the papers and the SUPERB leaderboard compute them.

* ``overall``: the plain mean of 100 − PER, 100 − WER, KS, SID and ER accuracy (the form STaR and
  ARMHuBERT report).
* SUPERB score (the leaderboard's, SUPERB-SG §4): each task's score, error rates turned into
  100 − error first, rescaled linearly so that a baseline row scores 0 and a reference row 1000, then
  averaged over the five tasks:  1000 / 5 · Σ_t (s_t − s_t(FBANK)) / (s_t(reference) − s_t(FBANK)).
  The leaderboard's reference is the best published score per task; on the embedded presets it is the
  preset's teacher, ``tiny_hubert``, so that the score reads as "how much of the teacher's gain over
  FBANK a row keeps"; on ``superb`` (the real corpora) it is HuBERT Base (s3prl's ``hubert``), the
  teacher of DistilHuBERT and of most students compared with it.
* retention per task: (s_t − s_t(FBANK)) / (s_t(teacher) − s_t(FBANK)), the same ratio before the
  average (in percent in the tables).

A rescaling whose reference does not beat FBANK on a task runs backwards (the mini ASR task: FBANK's
WER is lower than the teacher's), and one whose reference beats it by a few points only magnifies test
noise (mini PR: 1.75 points, so one point of PER moves a retention by 57 %); ``backward_tasks`` and
``narrow_tasks`` name such tasks so that the tables can say so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from .columns import SUPERB_COLUMNS, ScoreColumn

OVERALL = "overall"
SUPERB_SCORE = "superb_score"
SUPERB_SCALE = 1000.0
#: a reference that beats the baseline by fewer points than this makes a scale on which test noise (one
#: SID clip of the mini corpus is a point) moves a retention by 20 % or more
NARROW_POINTS = 5.0


@dataclass(frozen=True)
class References:
    """The rows that fix the SUPERB scale: ``baseline`` scores 0 on every task, ``reference`` 1000."""

    baseline: str
    reference: str
    reference_is: str = "the preset's teacher"  # what the reference row is, for the tables' notes


#: on the embedded presets: FBANK and the teacher every student is distilled from; on the real corpora:
#: FBANK and HuBERT Base, as s3prl's hub names them
PRESET_REFERENCES: Dict[str, References] = {
    "tiny": References(baseline="fbank", reference="tiny_hubert"),
    "mini": References(baseline="fbank", reference="tiny_hubert"),
    "superb": References(baseline="fbank", reference="hubert", reference_is="HuBERT Base, s3prl's hub name"),
}


def benchmark_name(preset: str) -> str:
    """What a preset's tables are called: SUPERB on the real corpora, Mini-SUPERB on the embedded one."""
    return "SUPERB" if preset == "superb" else "Mini-SUPERB"


def task_value(row: dict, column: ScoreColumn) -> Optional[float]:
    """The row's score of a task, higher is better (None: not scored)."""
    value = row.get(column.column, "")
    return None if value in (None, "") else column.higher_is_better(float(value))


def overall_score(row: dict) -> Optional[float]:
    values = [task_value(row, column) for column in SUPERB_COLUMNS]
    return None if None in values else sum(values) / len(values)


def retention(row: dict, baseline: dict, reference: dict, column: ScoreColumn) -> Optional[float]:
    """(row − baseline) / (reference − baseline) on one task, a fraction (None: a score is missing,
    or the two references score alike, which leaves no scale)."""
    score, low, high = (task_value(r, column) for r in (row, baseline, reference))
    if score is None or low is None or high is None or high == low:
        return None
    return (score - low) / (high - low)


def superb_score(row: dict, baseline: dict, reference: dict) -> Optional[float]:
    terms = [retention(row, baseline, reference, column) for column in SUPERB_COLUMNS]
    return None if None in terms else SUPERB_SCALE * sum(terms) / len(terms)


def backward_tasks(baseline: dict, reference: dict) -> List[ScoreColumn]:
    """The tasks on which the reference row does not beat the baseline: there a score worse than the
    baseline's gets a positive retention."""
    return [column for column in SUPERB_COLUMNS
            if margin(baseline, reference, column) is not None and margin(baseline, reference, column) <= 0]


def margin(baseline: dict, reference: dict, column: ScoreColumn) -> Optional[float]:
    """How many points the reference beats the baseline by on a task (None: one is not scored)."""
    low, high = task_value(baseline, column), task_value(reference, column)
    return None if low is None or high is None else high - low


def narrow_tasks(baseline: dict, reference: dict, points: float = NARROW_POINTS) -> List[ScoreColumn]:
    """The tasks on which the reference beats the baseline, but by fewer than ``points``."""
    return [column for column in SUPERB_COLUMNS if 0 < (margin(baseline, reference, column) or 0) < points]


def with_leaderboard_columns(rows: List[dict], references: References) -> List[dict]:
    """Every row with its SUPERB score and retention per task (empty where a score or a reference row is
    missing); both depend on the reference rows, so they are recomputed whenever a table is written."""
    by_name = {row["upstream"]: row for row in rows}
    baseline, reference = by_name.get(references.baseline, {}), by_name.get(references.reference, {})
    out = []
    for row in rows:
        row = dict(row)
        score = superb_score(row, baseline, reference)
        row[SUPERB_SCORE] = "" if score is None else round(score, 1)
        for column in SUPERB_COLUMNS:
            kept = retention(row, baseline, reference, column)
            row[column.retention_column] = "" if kept is None else round(100.0 * kept, 1) + 0.0  # no "-0.0"
        out.append(row)
    return out


def ranking_score(rows: List[dict]) -> str:
    """What a table ranks by: the SUPERB score, or the overall when no row has a SUPERB score (its
    reference rows are not in the table, or not scored on every task)."""
    return SUPERB_SCORE if any(row.get(SUPERB_SCORE, "") != "" for row in rows) else OVERALL


def ranks(rows: List[dict], by: str, lower_is_better: bool = False) -> Dict[str, int]:
    """Row name -> 1-based rank by the ``by`` column, best first; rows without that score get none."""
    scored = [row for row in rows if row.get(by, "") not in ("", None)]
    ordered = sorted(scored, key=lambda row: float(row[by]) if lower_is_better else -float(row[by]))
    return {row["upstream"]: place for place, row in enumerate(ordered, start=1)}
