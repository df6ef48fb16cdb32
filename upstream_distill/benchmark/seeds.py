"""Probe seeds: how far a task's score moves when only the probe's training seed changes.

A probe (the featurizer weights and the task's downstream model) is trained from a random start on
shuffled data, so two trainings of one upstream on one task differ; how much depends on the upstream
and the task, and can be as large as the differences between the methods a study compares (a fresh
checkout re-scored FBANK's mini PR under the same protocol at PER 47.16 where the table said 45.36). The
paired tests of ``--compare`` see only the test set's noise; ``--probe-seeds N`` trains N probes per
(upstream, task, fold) so that the tables show the spread and ``--compare`` can weigh it (paired.py).

Seed 1 is s3prl's default seed (1337), the seed of every run before seeds were counted: its folder
stays ``<task>[-<fold>]/`` and its protocol text is unchanged, so every existing run is the first seed
of its row. Seed k > 1 trains with s3prl's ``--seed 1336+k`` in ``<task>[-<fold>].seed<k>/``, its protocol
ending in ``+seed<k>``. A row's score of a task is the mean over its seeds (each seed's ER score first
the mean over its folds), shown ``mean ± sd`` (the sample standard deviation over the seeds) where
there is more than one; the overall and SUPERB scores are made from the means.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

#: s3prl's run_downstream.py --seed default: the seed of every run before --probe-seeds
S3PRL_DEFAULT_SEED = 1337
FLAG = "--probe-seeds"
#: the scores.csv column of the number of seeds per task (``ks=3;pr=3``; a task absent there has one)
SEEDS_COLUMN = "probe_seeds"
_FOLDER_MARK = ".seed"


def s3prl_seed(seed: int) -> int:
    """s3prl's ``--seed`` of probe seed ``seed`` (1, 2, ...)."""
    return S3PRL_DEFAULT_SEED + seed - 1


def seed_suffix(seed: int) -> str:
    """What a seed adds to a run folder's name: nothing for seed 1, ``.seed<k>`` for the others."""
    return "" if seed == 1 else f"{_FOLDER_MARK}{seed}"


def seeds_of_folders(names: Sequence[str], stem: str) -> List[int]:
    """The seeds whose folder of ``stem`` (``ks``, ``er-fold1``) is among ``names``, in order; seed 1 is
    ``stem`` itself. A folder set aside (``ks.seed2.superseded``) is no seed."""
    pattern = re.compile(rf"^{re.escape(stem)}(?:{re.escape(_FOLDER_MARK)}([2-9]|[1-9][0-9]+))?$")
    found = {int(m.group(1) or 1) for m in map(pattern.match, names) if m}
    return sorted(found)


def unseeded(name: str) -> str:
    """A run folder's name without its seed: ``er-fold1.seed2`` -> ``er-fold1``."""
    return re.sub(rf"{re.escape(_FOLDER_MARK)}[0-9]+$", "", name)


@dataclass(frozen=True)
class SeedSummary:
    mean: float
    sd: Optional[float]  # sample standard deviation over the seeds; None with one seed
    n: int


def summarize(values: Sequence[float]) -> SeedSummary:
    """Mean and sample standard deviation of one score over its seeds."""
    values = list(values)
    if not values:
        raise ValueError("no seed scores to summarize")
    sd = statistics.stdev(values) if len(values) > 1 else None
    return SeedSummary(statistics.fmean(values), sd, len(values))


def format_seed_counts(counts: Dict[str, int]) -> str:
    """``ks=3;pr=3``: the tasks scored over more than one seed (the others have one)."""
    return ";".join(f"{task}={n}" for task, n in sorted(counts.items()) if n > 1)


def parse_seed_counts(text: Optional[str]) -> Dict[str, int]:
    return {task: int(n) for task, _, n in (item.partition("=") for item in (text or "").split(";")) if n.isdigit()}
