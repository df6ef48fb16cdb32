"""The score table ``results/<preset>/scores.csv``: one row per upstream, accumulated across commands.

A new run of an upstream replaces its row, other rows stay. Every row says the preset, machine and
date it was measured on, and which config of each task its score was measured under (``task_protocols``,
``pr=<digest>;ks=<digest>;...``: after a task's config changes, the tables mark the scores of the rows
not yet re-scored instead of ranking them beside the new ones unannounced). A task scored over several
probe seeds keeps their mean in its score column, their standard deviation in ``<column>_sd`` and their
number in ``probe_seeds`` (seeds.py); ``probe_threads``, ``probe_device`` and ``probe_torch`` say what the
row's probes ran with (probe_env.py).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from .columns import EXTRA_COLUMNS, SUPERB_COLUMNS
from .leaderboard import OVERALL, SUPERB_SCORE, overall_score
from .probe_env import FACT_KEYS, THREADS_KEY, merge_facts
from .protocol import PROTOCOL_THREADS
from .report import atomic_write, machine_description
from .seeds import SEEDS_COLUMN, format_seed_counts, parse_seed_counts

COLUMNS = ["upstream", "params_m", "macs_g", *(c.column for c in SUPERB_COLUMNS), OVERALL, SUPERB_SCORE,
           *(c.retention_column for c in SUPERB_COLUMNS), "preset", "machine", "date"]
#: the task-config digest each task's score was measured under
PROTOCOL_COLUMN = "task_protocols"


def parse_protocols(text: Optional[str]) -> Dict[str, str]:
    return dict(item.split("=", 1) for item in (text or "").split(";") if "=" in item)


def format_protocols(protocols: Dict[str, str]) -> str:
    return ";".join(f"{task}={digest}" for task, digest in sorted(protocols.items()))


def stale_tasks(row: dict, current: Optional[Dict[str, str]]) -> set:
    """Tasks of ``row`` scored under another config than ``current`` (task -> digest of the config now);
    a score whose protocol was never recorded is not called stale."""
    recorded = parse_protocols(row.get(PROTOCOL_COLUMN))
    return {task for task, digest in recorded.items() if current and task in current and current[task] != digest}


@dataclass(frozen=True)
class SeedSpread:
    """The spread of a row's scores over its probe seeds, for the tasks scored over more than one."""

    sds: Dict[str, float] = field(default_factory=dict)  # task -> sd of its score
    cer_sds: Dict[str, float] = field(default_factory=dict)  # task -> sd of its CER (ASR tasks)
    counts: Dict[str, int] = field(default_factory=dict)  # task -> number of seeds


def _rounded_overall(row: dict):
    overall = overall_score(row)
    return "" if overall is None else round(overall, 2)


def make_row(upstream: str, params_m: float, task_percents: Dict[str, float], preset: str,
             task_cers: Optional[Dict[str, float]] = None, task_protocols: Optional[Dict[str, str]] = None,
             macs_g: Optional[float] = None, spread: Optional[SeedSpread] = None,
             probe: Optional[Dict[str, str]] = None) -> dict:
    """One row; ``task_percents`` and ``task_cers`` are means over the probe seeds where ``spread`` has
    several; ``probe``: the probe facts (probe_env.row_facts)."""
    row = {"upstream": upstream, "params_m": round(params_m, 2), "macs_g": "" if macs_g is None else round(macs_g, 3),
           "preset": preset, "machine": machine_description(), "date": date.today().isoformat()}
    row.update({key: value for key, value in (probe or {}).items() if key in FACT_KEYS})
    if task_protocols:
        row[PROTOCOL_COLUMN] = format_protocols(task_protocols)
    for column in SUPERB_COLUMNS:
        value = task_percents.get(column.name)
        row[column.column] = "" if value is None else round(value, 2)
    row[OVERALL] = _rounded_overall(row)
    for column in EXTRA_COLUMNS:
        if column.name in task_percents:
            row[column.column] = round(task_percents[column.name], 2)
    for column in SUPERB_COLUMNS + EXTRA_COLUMNS:
        if column.cer_column and column.name in (task_cers or {}):
            row[column.cer_column] = round(task_cers[column.name], 2)
    spread = spread or SeedSpread()
    for column in SUPERB_COLUMNS + EXTRA_COLUMNS:
        if column.name in spread.sds and column.name in task_percents:
            row[column.sd_column] = round(spread.sds[column.name], 2)
        if column.cer_sd_column and column.name in spread.cer_sds and column.name in (task_cers or {}):
            row[column.cer_sd_column] = round(spread.cer_sds[column.name], 2)
    counts = format_seed_counts({task: n for task, n in spread.counts.items() if task in task_percents})
    if counts:
        row[SEEDS_COLUMN] = counts
    return row


def merge_task_scores(old: Optional[dict], new: dict, measured: Iterable[str] = ()) -> dict:
    """``new`` over ``old`` of the same upstream, keeping the old scores of tasks that this run did
    not measure (a run of --tasks asr_low must not erase the SUPERB columns measured before) when
    both were measured on the same machine; a row never mixes machines. A task in ``measured`` that
    did not finish stays empty: its old score may come from an older task config."""
    if not old or old.get("machine") != new.get("machine"):
        return new
    merged, measured = dict(new), set(measured)
    protocols, old_protocols = parse_protocols(new.get(PROTOCOL_COLUMN)), parse_protocols(old.get(PROTOCOL_COLUMN))
    seeds, old_seeds = parse_seed_counts(new.get(SEEDS_COLUMN)), parse_seed_counts(old.get(SEEDS_COLUMN))
    kept = False
    for column in SUPERB_COLUMNS + EXTRA_COLUMNS:
        for name, sd_name in ((column.column, column.sd_column), (column.cer_column, column.cer_sd_column)):
            if name and column.name not in measured and merged.get(name, "") == "" and old.get(name, "") != "":
                merged[name] = old[name]
                kept = True
                if old.get(sd_name, "") != "":
                    merged[sd_name] = old[sd_name]
                if column.name in old_seeds:
                    seeds.setdefault(column.name, old_seeds[column.name])
                if column.name in old_protocols:
                    protocols.setdefault(column.name, old_protocols[column.name])
    if protocols:
        merged[PROTOCOL_COLUMN] = format_protocols(protocols)
    if seeds:
        merged[SEEDS_COLUMN] = format_seed_counts(seeds)
    if kept:  # the row's probes are now those of both commands
        # a row without a thread count predates its record: it ran the protocol's implicit default
        old = {THREADS_KEY: str(PROTOCOL_THREADS), **{k: v for k, v in old.items() if v not in ("", None)}}
        for key in FACT_KEYS:
            if old.get(key) or new.get(key):
                merged[key] = merge_facts(old.get(key), new.get(key))
    merged[OVERALL] = _rounded_overall(merged)
    return merged


def read_rows(csv_path: Path) -> List[dict]:
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as fh:
        return list(csv.DictReader(fh))


def merge_rows(old: List[dict], new: List[dict], measured: Iterable[str] = ()) -> List[dict]:
    """New rows replace old rows of the same upstream (keeping the scores of tasks not in
    ``measured``, see merge_task_scores); order: old order, then new upstreams."""
    by_name = {row["upstream"]: row for row in old}
    order = [row["upstream"] for row in old]
    for row in new:
        if row["upstream"] not in by_name:
            order.append(row["upstream"])
        by_name[row["upstream"]] = merge_task_scores(by_name.get(row["upstream"]), row, measured)
    return [by_name[name] for name in order]


def write_csv(rows: List[dict], path: Path) -> None:
    extra = [c for row in rows for c in row if c not in COLUMNS]
    columns = COLUMNS + list(dict.fromkeys(extra))

    def write(tmp):
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)
