"""Is upstream A better than upstream B on a task, beyond the noise of the test set?

Both were scored on the same test items, so the question is answered on the items themselves
(`run_benchmark.py --compare A,B`, written to results/<preset>/compare_A_vs_B.md):

* accuracy tasks (KS, SID, ER with its folds pooled): exact McNemar test. Of the items that exactly
  one of the two classified right, A has b and B has c; if both were equally good,
  b ~ Binomial(b + c, 1/2), and p is the two-sided binomial test of b.
* error-rate tasks (PR, ASR and the low-resource ASR tasks): paired bootstrap over test utterances
  (Koehn 2004; Bisani & Ney 2004). With e the edit distance and n the reference length of each
  utterance (phones for PER, words for WER, characters for CER), resampling the utterances with replacement gives the
  distribution of  Δ = Σe_B/Σn − Σe_A/Σn  (positive: A makes fewer errors); reported are its 95 %
  interval and p = 2 min(P(Δ ≤ 0), P(Δ ≥ 0)).

A task is compared only when both runs were scored under the same task config (protocol digest).
The CER is recomputed from the words s3prl's asr expert writes (`|` between words and at the end, as
its character targets have them); s3prl's own `uer` also counts the repeated or leading separators a
hypothesis may hold, so the two can differ in the second decimal.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..s3prl_bridge.tasks import ALL_TASKS
from .protocol import recorded_protocol
from .report import atomic_write, machine_description
from .runs import task_run_folders

BOOTSTRAP_SAMPLES = 2000
SIGNIFICANCE = 0.05


@dataclass
class Comparison:
    task: str
    items: int  # test items (clips, or utterances for error rates)
    score_a: float  # percent: accuracy, or error rate
    score_b: float
    detail: str  # discordant counts or the bootstrap interval
    p_value: float
    error_rate: bool

    @property
    def a_is_better(self) -> bool:
        return self.score_a < self.score_b if self.error_rate else self.score_a > self.score_b

    def verdict(self, name_a: str, name_b: str) -> str:
        if self.score_a == self.score_b or self.p_value >= SIGNIFICANCE:
            return f"no significant difference (p ≥ {SIGNIFICANCE})"
        return f"{name_a if self.a_is_better else name_b} better"


class NotComparable(ValueError):
    """A task of one of the two rows is missing, unfinished, or scored under another config."""


def _read_labels(path: Path) -> Dict[str, str]:
    """`<utterance id> <label>` lines, as s3prl's classification experts write them."""
    labels = {}
    for line in path.read_text().splitlines():
        if line.strip():
            key, _, label = line.strip().partition(" ")
            labels[key] = label.strip()
    return labels


def _read_ark(path: Path) -> Dict[str, List[str]]:
    """`<utterance id> <token> <token> ...` lines (s3prl's ctc/asr hypotheses and references)."""
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts:
            out[parts[0]] = parts[1:]
    return out


def _task_folders(runs_root: Path, row: str, task: str) -> List[Path]:
    folders = task_run_folders(runs_root, row, task)
    missing = [f for f in folders if not (f / "score.json").is_file()]
    if missing:
        raise NotComparable(f"{task}: {row} has no finished run in {missing[0]}")
    return folders


def _task_config(folder: Path) -> str:
    """The task-config digest a finished run was scored under ('' if it recorded none)."""
    protocol = recorded_protocol(folder)
    return protocol.task_config if protocol else ""


def _classification_outcomes(folder: Path, task: str) -> Dict[str, bool]:
    fold = folder.name.split("-", 1)[1] if task == "er" else None
    stem = f"test_{fold}" if fold else "test"
    truth = _read_labels(folder / f"{stem}_truth.txt")
    predicted = _read_labels(folder / f"{stem}_predict.txt")
    return {f"{folder.name}/{key}": predicted.get(key) == label for key, label in truth.items()}


def _characters(words: List[str]) -> List[str]:
    return list("|".join(words)) + ["|"] if words else []


def _edit_counts(folder: Path, characters: bool = False) -> Dict[str, Tuple[int, int]]:
    """utterance -> (edit distance, reference length) from the run's test hypotheses, in the ark's
    tokens (phones, words) or in characters."""
    import editdistance

    (hyp_file,) = sorted(folder.glob("test*-hyp.ark"))
    hyps, refs = _read_ark(hyp_file), _read_ark(hyp_file.with_name(hyp_file.name.replace("-hyp.", "-ref.")))
    unit = _characters if characters else list
    return {key: (editdistance.eval(unit(hyps.get(key, [])), unit(ref)), len(unit(ref))) for key, ref in refs.items()}


def mcnemar(right_a: np.ndarray, right_b: np.ndarray) -> Tuple[int, int, float]:
    """(b, c, two-sided exact p) for paired booleans: b = only A right, c = only B right."""
    from scipy.stats import binomtest

    b, c = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    return b, c, (float(binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0)


def paired_bootstrap(counts_a: np.ndarray, counts_b: np.ndarray, samples: int = BOOTSTRAP_SAMPLES,
                     seed: int = 0) -> Tuple[float, float, float]:
    """(2.5 %, 97.5 % quantiles of Δ in points, two-sided p); counts: (utterances, 2) of (edits, length),
    the same utterances in the same order for A and B."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(counts_a), size=(samples, len(counts_a)))
    length = counts_a[picks, 1].sum(axis=1)
    delta = 100.0 * (counts_b[picks, 0].sum(axis=1) - counts_a[picks, 0].sum(axis=1)) / length
    low, high = np.quantile(delta, [0.025, 0.975])
    p = min(1.0, 2.0 * min(np.mean(delta <= 0), np.mean(delta >= 0)))
    return float(low), float(high), float(p)


def _percent_errors(counts: np.ndarray) -> float:
    return round(100.0 * float(counts[:, 0].sum()) / float(counts[:, 1].sum()), 2)


def compare_task(runs_root: Path, row_a: str, row_b: str, task: str, characters: bool = False) -> Comparison:
    """The paired test of one task; ``characters``: an ASR task's CER instead of its WER."""
    folders_a, folders_b = _task_folders(runs_root, row_a, task), _task_folders(runs_root, row_b, task)
    digests = {_task_config(f) for f in folders_a + folders_b}
    if len(digests) != 1:
        raise NotComparable(f"{task}: {row_a} and {row_b} were scored under different task configs "
                            f"({', '.join(sorted(digests))}); re-score the older one")
    if ALL_TASKS[task].error_rate:
        counts_a = {k: v for f in folders_a for k, v in _edit_counts(f, characters).items()}
        counts_b = {k: v for f in folders_b for k, v in _edit_counts(f, characters).items()}
        keys = sorted(set(counts_a) & set(counts_b))
        if not keys or len(keys) != len(counts_a) or len(keys) != len(counts_b):
            raise NotComparable(f"{task}: the two runs' test utterances differ")
        a, b = np.array([counts_a[k] for k in keys]), np.array([counts_b[k] for k in keys])
        low, high, p = paired_bootstrap(a, b)
        name = f"{task} CER" if characters else task
        return Comparison(name, len(keys), _percent_errors(a), _percent_errors(b),
                          f"Δ 95% CI [{low:+.2f}, {high:+.2f}]", p, True)
    right_a = {k: v for f in folders_a for k, v in _classification_outcomes(f, task).items()}
    right_b = {k: v for f in folders_b for k, v in _classification_outcomes(f, task).items()}
    if set(right_a) != set(right_b) or not right_a:
        raise NotComparable(f"{task}: the two runs' test items differ")
    keys = sorted(right_a)
    a, b = np.array([right_a[k] for k in keys]), np.array([right_b[k] for k in keys])
    only_a, only_b, p = mcnemar(a, b)
    return Comparison(task, len(keys), round(100.0 * float(a.mean()), 2), round(100.0 * float(b.mean()), 2),
                      f"only {row_a} right: {only_a}, only {row_b} right: {only_b}", p, False)


def _p_text(result: Comparison) -> str:
    # a bootstrap in which no resample flips the sign only bounds p by its resolution
    if result.error_rate and result.p_value == 0.0:
        return f"< {2 / BOOTSTRAP_SAMPLES:.3g}"
    return f"{result.p_value:.3g}"


def write_comparison(runs_root: Path, row_a: str, row_b: str, tasks: List[str], path: Path, preset: str,
                     current: Optional[Dict[str, str]] = None) -> Path:
    """results/<preset>/compare_A_vs_B.md: one line per task; a task that cannot be compared says why."""
    lines = [
        f"# {row_a} vs {row_b}, preset `{preset}`: paired tests on the same test items",
        "",
        f"Written by `python run_benchmark.py --preset {preset} --compare {row_a},{row_b}` from the runs in "
        "exp/benchmark/ (see upstream_distill/benchmark/paired.py). Accuracy tasks: exact McNemar test on the "
        "items one upstream got right and the other wrong (ER: the five folds pooled). Error rates: paired "
        f"bootstrap over test utterances ({BOOTSTRAP_SAMPLES} resamples), Δ = {row_b}'s rate − {row_a}'s "
        f"(positive: {row_a} makes fewer errors). Significant: p < {SIGNIFICANCE}, one test per task, uncorrected.",
        f"Computed on {machine_description()}, {date.today().isoformat()}, from the runs in exp/benchmark/ "
        "(the machine and date each was scored on: the score tables).",
        "",
        f"| task | test items | {row_a} | {row_b} | paired detail | p | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in tasks:
        wer_task = ALL_TASKS[task].metric == "wer"
        for characters in (False, True) if wer_task else (False,):
            try:
                result = compare_task(runs_root, row_a, row_b, task, characters)
            except NotComparable as why:
                lines.append(f"| {task} | | | | not compared: {str(why).split(': ', 1)[1]} | | |")
                break
            unit = "% acc" if not result.error_rate else ("% CER" if characters else "% WER" if wer_task else "% PER")
            old = " (an earlier config of the task)" if current and task in current and \
                _task_config(_task_folders(runs_root, row_a, task)[0]) != current[task] else ""
            lines.append(f"| {result.task}{old} | {result.items} | {result.score_a} {unit} | {result.score_b} {unit} | "
                         f"{result.detail} | {_p_text(result)} | {result.verdict(row_a, row_b)} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
    return path
