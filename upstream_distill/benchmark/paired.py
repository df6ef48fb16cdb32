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

Rows scored over several probe seeds (``--probe-seeds``, seeds.py): the tests above see only the test
set's noise, while a probe's score also moves between trainings, by as much as the differences a study
reports on some tasks. With more than one seed on either side, every task is tested by the multi-bootstrap
(Sellam et al. 2022, "The MultiBERTs", §3): each resample draws the test items with replacement, shared by
A and B (they were scored on the same items: the pairing the tests above rest on), and draws each row's
seeds with replacement, independently for A and B; Δ is the difference of the two rows' error rates
(accuracy: of their accuracies, A − B), each the mean over its drawn seeds on the drawn items, and the
interval and p are read off Δ as above. Its spread thus holds both the test set's noise and the probes'.
Rejected alternatives: pooling the seeds' outcomes as if each (seed, item) were another test item counts
every item N times as if independent, and pairs seed k of A with seed k of B, which share nothing but a
number: its p values would be too small. Testing the seed-averaged outcome per item sees only the test
set's noise again. A t-test over the per-seed scores sees only the probes' noise (on one test set), with
1 or 2 degrees of freedom. Two limits: with N seeds the bootstrap sees (N − 1)/N of their variance, so
with 2 or 3 seeds a p near 0.05 is not evidence; and a row with one seed brings no estimate of its own
training noise (the table says so). With one seed on each side the tests above are used, unchanged.

A task is compared only when both runs were scored under the same task config (protocol digest), every
seed of each.
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

from ..s3prl_bridge.tasks import ALL_TASKS, ER_FOLDS
from .protocol import recorded_protocol
from .report import atomic_write, machine_description
from .runs import task_run_folders
from .seeds import seeds_of_folders, summarize, unseeded

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
    seeds_a: int = 1  # probe seeds of each row; scores are their means
    seeds_b: int = 1
    sd_a: Optional[float] = None  # the scores' sample sd over the seeds (None: one seed)
    sd_b: Optional[float] = None

    @property
    def over_seeds(self) -> bool:
        """Tested by the multi-bootstrap: a row has several probe seeds."""
        return self.seeds_a > 1 or self.seeds_b > 1

    def score_text(self, unit: str, a: bool) -> str:
        """``45.36 % PER``, or ``45.36 ± 0.90 % PER (3 seeds)``."""
        score, sd, seeds = (self.score_a, self.sd_a, self.seeds_a) if a else (self.score_b, self.sd_b, self.seeds_b)
        if not self.over_seeds:
            return f"{score} {unit}"
        spread = f" ± {sd:.2f}" if sd is not None else ""
        return f"{score}{spread} {unit} ({seeds} seed{'s' if seeds > 1 else ''})"

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


def _seed_folders(runs_root: Path, row: str, task: str) -> Dict[int, List[Path]]:
    """seed -> the run folders of that probe seed of a row's task, for every seed it has a folder of; every
    one must be finished (a seed left unfinished would drop out of the test unannounced)."""
    stem = f"{task}-{ER_FOLDS[0]}" if task == "er" else task
    names = [path.name for path in (runs_root / row).iterdir()] if (runs_root / row).is_dir() else []
    seeds = [seed for seed in seeds_of_folders(names, stem) if seed != 1]
    folders = {1: _task_folders(runs_root, row, task)}
    for seed in seeds:
        folders[seed] = task_run_folders(runs_root, row, task, seed)
        missing = [f for f in folders[seed] if not (f / "score.json").is_file()]
        if missing:
            raise NotComparable(f"{task}: {row}'s probe seed {seed} has no finished run in {missing[0]}; finish it "
                                f"(run_benchmark.py --probe-seeds {max(seeds)}) or move its folder aside")
    return folders


def _task_config(folder: Path) -> str:
    """The task-config digest a finished run was scored under ('' if it recorded none)."""
    protocol = recorded_protocol(folder)
    return protocol.task_config if protocol else ""


def _classification_outcomes(folder: Path, task: str) -> Dict[str, bool]:
    """``<fold folder>/<item>`` -> right; the same keys for every probe seed of a row (``er-fold1.seed2``'s
    items are ``er-fold1/...``)."""
    name = unseeded(folder.name)
    fold = name.split("-", 1)[1] if task == "er" else None
    stem = f"test_{fold}" if fold else "test"
    truth = _read_labels(folder / f"{stem}_truth.txt")
    predicted = _read_labels(folder / f"{stem}_predict.txt")
    return {f"{name}/{key}": predicted.get(key) == label for key, label in truth.items()}


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


def multi_bootstrap(errors_a: np.ndarray, errors_b: np.ndarray, lengths: np.ndarray,
                    samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> Tuple[float, float, float]:
    """(2.5 %, 97.5 % quantiles of Δ in points, two-sided p) over items and seeds (the module's docstring).
    errors_*: (seeds, items), each seed's errors on each item (edits, or 1 for a wrong class); lengths:
    (items,), each item's reference length (1 for a class); Δ = B's error rate − A's."""
    rng = np.random.default_rng(seed)
    items = rng.integers(0, lengths.shape[0], size=(samples, lengths.shape[0]))  # shared: one test set
    length = lengths[items].sum(axis=1)

    def rates(errors: np.ndarray) -> np.ndarray:
        per_seed = np.stack([seed_errors[items].sum(axis=1) for seed_errors in errors])  # (seeds, samples)
        picks = rng.integers(0, len(errors), size=(samples, len(errors)))  # this row's seeds, drawn alone
        return per_seed[picks, np.arange(samples)[:, None]].mean(axis=1) / length

    rate_a = rates(errors_a)
    delta = 100.0 * (rates(errors_b) - rate_a)
    low, high = np.quantile(delta, [0.025, 0.975])
    p = min(1.0, 2.0 * min(np.mean(delta <= 0), np.mean(delta >= 0)))
    return float(low), float(high), float(p)


def _per_seed(errors: np.ndarray, lengths: np.ndarray, error_rate: bool) -> List[float]:
    """Each seed's score in percent: its error rate, or its accuracy."""
    rates = 100.0 * errors.sum(axis=1) / lengths.sum()
    return [float(rate) if error_rate else 100.0 - float(rate) for rate in rates]


def _percent_errors(counts: np.ndarray) -> float:
    return round(100.0 * float(counts[:, 0].sum()) / float(counts[:, 1].sum()), 2)


def compare_task(runs_root: Path, row_a: str, row_b: str, task: str, characters: bool = False) -> Comparison:
    """The paired test of one task; ``characters``: an ASR task's CER instead of its WER. Over every probe
    seed of each row: by the tests for one seed when both have one, else by the multi-bootstrap."""
    seeds_a, seeds_b = _seed_folders(runs_root, row_a, task), _seed_folders(runs_root, row_b, task)
    every = [f for folders in list(seeds_a.values()) + list(seeds_b.values()) for f in folders]
    digests = {_task_config(f) for f in every}
    if len(digests) != 1:
        raise NotComparable(f"{task}: {row_a} and {row_b} were scored under different task configs "
                            f"({', '.join(sorted(digests))}); re-score the older one")
    if len(seeds_a) > 1 or len(seeds_b) > 1:
        return _compare_over_seeds(seeds_a, seeds_b, row_a, row_b, task, characters)
    folders_a, folders_b = seeds_a[1], seeds_b[1]
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


def _item_errors(folders: List[Path], task: str, characters: bool) -> Dict[str, Tuple[int, int]]:
    """item -> (errors, reference length) of one seed's runs: edits and length, or (wrong, 1) for a class."""
    if ALL_TASKS[task].error_rate:
        return {k: v for f in folders for k, v in _edit_counts(f, characters).items()}
    return {k: (int(not right), 1) for f in folders for k, right in _classification_outcomes(f, task).items()}


def _compare_over_seeds(seeds_a: Dict[int, List[Path]], seeds_b: Dict[int, List[Path]], row_a: str, row_b: str,
                        task: str, characters: bool) -> Comparison:
    """The multi-bootstrap of one task over the items and both rows' seeds."""
    error_rate = ALL_TASKS[task].error_rate
    per_seed_a = [_item_errors(folders, task, characters) for folders in seeds_a.values()]
    per_seed_b = [_item_errors(folders, task, characters) for folders in seeds_b.values()]
    keys = sorted(per_seed_a[0])
    if not keys or any(sorted(counts) != keys for counts in per_seed_a + per_seed_b):
        raise NotComparable(f"{task}: the runs' test items differ")
    lengths = np.array([per_seed_a[0][k][1] for k in keys])
    if any(counts[k][1] != length for counts in per_seed_a + per_seed_b for k, length in zip(keys, lengths)):
        raise NotComparable(f"{task}: the runs' references differ")
    errors_a = np.array([[counts[k][0] for k in keys] for counts in per_seed_a])
    errors_b = np.array([[counts[k][0] for k in keys] for counts in per_seed_b])
    low, high, p = multi_bootstrap(errors_a, errors_b, lengths)
    scores_a, scores_b = _per_seed(errors_a, lengths, error_rate), _per_seed(errors_b, lengths, error_rate)
    summary_a, summary_b = summarize(scores_a), summarize(scores_b)
    said = "; ".join(f"{row} {', '.join(f'{score:.2f}' for score in scores)}"
                     for row, scores in ((row_a, scores_a), (row_b, scores_b)))
    alone = [row for row, seeds in ((row_a, seeds_a), (row_b, seeds_b)) if len(seeds) == 1]
    unmeasured = f"; {' and '.join(alone)}: one seed, its training noise unmeasured" if alone else ""
    name = f"{task} CER" if characters else task
    return Comparison(name, len(keys), round(summary_a.mean, 2), round(summary_b.mean, 2),
                      f"Δ 95% CI [{low:+.2f}, {high:+.2f}] over items and seeds; per seed: {said}{unmeasured}", p,
                      error_rate, summary_a.n, summary_b.n, summary_a.sd, summary_b.sd)


def _p_text(result: Comparison) -> str:
    # a bootstrap in which no resample flips the sign only bounds p by its resolution
    if (result.error_rate or result.over_seeds) and result.p_value == 0.0:
        return f"< {2 / BOOTSTRAP_SAMPLES:.3g}"
    return f"{result.p_value:.3g}"


SEEDS_NOTE = ("Rows with several probe seeds (`--probe-seeds`; a score is then the mean over its seeds ± their sample "
              "sd): the task is tested by the multi-bootstrap (Sellam et al. 2022) instead, {samples} resamples each "
              "drawing the test items (shared by both rows) and each row's seeds (independently), Δ between the means "
              "over the drawn seeds (accuracy: {a}'s − {b}'s; positive: {a} better), so that the probes' training "
              "noise counts as well as the test set's. With N seeds it sees (N − 1)/N of their variance: with 2 or 3 "
              "seeds, read a p near {alpha} as no evidence.")


def write_comparison(runs_root: Path, row_a: str, row_b: str, tasks: List[str], path: Path, preset: str,
                     current: Optional[Dict[str, str]] = None) -> Path:
    """results/<preset>/compare_A_vs_B.md: one line per task; a task that cannot be compared says why."""
    rows, over_seeds = [], False
    for task in tasks:
        wer_task = ALL_TASKS[task].metric == "wer"
        for characters in (False, True) if wer_task else (False,):
            try:
                result = compare_task(runs_root, row_a, row_b, task, characters)
            except NotComparable as why:
                rows.append(f"| {task} | | | | not compared: {str(why).split(': ', 1)[1]} | | |")
                break
            over_seeds |= result.over_seeds
            unit = "% acc" if not result.error_rate else ("% CER" if characters else "% WER" if wer_task else "% PER")
            old = " (an earlier config of the task)" if current and task in current and \
                _task_config(_task_folders(runs_root, row_a, task)[0]) != current[task] else ""
            rows.append(f"| {result.task}{old} | {result.items} | {result.score_text(unit, True)} | "
                        f"{result.score_text(unit, False)} | {result.detail} | {_p_text(result)} | "
                        f"{result.verdict(row_a, row_b)} |")
    lines = [
        f"# {row_a} vs {row_b}, preset `{preset}`: paired tests on the same test items",
        "",
        f"Written by `python run_benchmark.py --preset {preset} --compare {row_a},{row_b}` from the runs in "
        "exp/benchmark/ (see upstream_distill/benchmark/paired.py). Accuracy tasks: exact McNemar test on the "
        "items one upstream got right and the other wrong (ER: the five folds pooled). Error rates: paired "
        f"bootstrap over test utterances ({BOOTSTRAP_SAMPLES} resamples), Δ = {row_b}'s rate − {row_a}'s "
        f"(positive: {row_a} makes fewer errors). Significant: p < {SIGNIFICANCE}, one test per task, uncorrected.",
        *([SEEDS_NOTE.format(samples=BOOTSTRAP_SAMPLES, a=row_a, b=row_b, alpha=SIGNIFICANCE)] if over_seeds else []),
        f"Computed on {machine_description()}, {date.today().isoformat()}, from the runs in exp/benchmark/ "
        "(the machine and date each was scored on: the score tables).",
        "",
        f"| task | test items | {row_a} | {row_b} | paired detail | p | verdict |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
    return path
