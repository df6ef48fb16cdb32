"""The SUPERB score, retention and ranking, against numbers computed by hand."""
import pytest

from upstream_distill.benchmark.columns import COLUMN_OF
from upstream_distill.benchmark.leaderboard import (
    References,
    backward_tasks,
    narrow_tasks,
    ranking_score,
    ranks,
    retention,
    superb_score,
    with_leaderboard_columns,
)


def row(name, pr, asr, ks, sid, er):
    return {"upstream": name, "pr_per": pr, "asr_wer": asr, "ks_acc": ks, "sid_acc": sid, "er_acc": er}


# higher-is-better scores (100 − PER, 100 − WER, KS, SID, ER):
FBANK = row("fbank", 45, 80, 10, 5, 25)  # 55, 20, 10, 5, 25
TEACHER = row("teacher", 40, 70, 70, 65, 55)  # 60, 30, 70, 65, 55
STUDENT = row("student", 42, 75, 40, 35, 40)  # 58, 25, 40, 35, 40


def test_retention_is_the_share_of_the_teachers_gain_over_fbank():
    # PR: (58 − 55) / (60 − 55); the error rate is turned into 100 − PER first
    assert retention(STUDENT, FBANK, TEACHER, COLUMN_OF["pr"]) == pytest.approx(0.6)
    assert retention(STUDENT, FBANK, TEACHER, COLUMN_OF["ks"]) == pytest.approx((40 - 10) / (70 - 10))
    assert retention(FBANK, FBANK, TEACHER, COLUMN_OF["er"]) == 0.0
    assert retention(TEACHER, FBANK, TEACHER, COLUMN_OF["er"]) == 1.0
    assert retention(STUDENT, FBANK, FBANK, COLUMN_OF["er"]) is None  # no scale
    assert retention(dict(STUDENT, er_acc=""), FBANK, TEACHER, COLUMN_OF["er"]) is None


def test_the_superb_score_rescales_each_task_between_fbank_and_the_reference_and_averages():
    # retentions 0.6, 0.5, 0.5, 0.5, 0.5 -> 1000 × 2.6 / 5
    assert superb_score(STUDENT, FBANK, TEACHER) == pytest.approx(520.0)
    assert superb_score(FBANK, FBANK, TEACHER) == 0.0
    assert superb_score(TEACHER, FBANK, TEACHER) == pytest.approx(1000.0)
    assert superb_score(STUDENT, FBANK, {}) is None  # no reference row
    assert superb_score(dict(STUDENT, sid_acc=""), FBANK, TEACHER) is None  # a task missing


def test_the_columns_name_their_reference_rows_and_are_recomputed():
    rows = with_leaderboard_columns([FBANK, TEACHER, STUDENT], References("fbank", "teacher"))
    assert [r["superb_score"] for r in rows] == [0.0, 1000.0, 520.0]
    assert rows[2]["pr_retention_pct"] == 60.0 and rows[2]["ks_retention_pct"] == 50.0
    assert rows[0]["asr_retention_pct"] == 0.0 and str(rows[0]["asr_retention_pct"]) == "0.0"  # never "-0.0"
    alone = with_leaderboard_columns([STUDENT], References("fbank", "teacher"))[0]
    assert alone["superb_score"] == "" and alone["pr_retention_pct"] == ""


def test_a_reference_that_does_not_beat_fbank_or_barely_does_is_named():
    weak = row("teacher", 43.61, 86.3, 70, 65, 55)  # the mini corpus: PR by 1.75 points, ASR not at all
    fbank = row("fbank", 45.36, 79.39, 10, 5, 25)
    assert [c.name for c in backward_tasks(fbank, weak)] == ["asr"]
    assert [c.name for c in narrow_tasks(fbank, weak)] == ["pr"]
    assert backward_tasks(FBANK, TEACHER) == [] and narrow_tasks(FBANK, TEACHER) == []


def test_rows_rank_by_the_superb_score_or_else_by_overall():
    rows = [{"upstream": "a", "superb_score": 510.0, "overall": 50}, {"upstream": "b", "superb_score": "", "overall": 60},
            {"upstream": "c", "superb_score": 900.0, "overall": 40}]
    assert ranking_score(rows) == "superb_score" and ranks(rows, "superb_score") == {"c": 1, "a": 2}
    no_superb = [dict(r, superb_score="") for r in rows]
    assert ranking_score(no_superb) == "overall" and ranks(no_superb, "overall") == {"b": 1, "a": 2, "c": 3}
    assert ranks(rows, "overall", lower_is_better=True) == {"c": 1, "a": 2, "b": 3}
