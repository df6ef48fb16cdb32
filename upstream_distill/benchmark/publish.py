"""Writing ``results/<preset>/``: the score table merged under a lock, then every table drawn from it.

Two benchmark commands may finish at once; each reads, merges and writes ``scores.csv`` while holding
``.scores.lock`` (core/locks.py), so neither loses the rows the other wrote. The tables (``scores.md``,
``scores.png``, the low-resource and study tables) are all redrawn from the merged rows, with the
leaderboard columns recomputed: they depend on the reference rows, which any command may have re-scored.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..core.locks import exclusive_lock
from .columns import EXTRA_COLUMNS
from .layers import layer_weight_files, write_layer_weights
from .leaderboard import PRESET_REFERENCES, References, with_leaderboard_columns
from .markdown import LOW_RESOURCE_FILE, write_leaderboard, write_low_resource, write_study_table
from .plot import write_plot
from .rows import merge_rows, read_rows, write_csv

LOG = logging.getLogger("benchmark")
SCORES_CSV = "scores.csv"


def table_lock(out_dir: Path):
    """Holds ``out_dir/.scores.lock`` exclusively (waiting, and saying so, while another command holds it)."""
    def waiting(pid: Optional[int]) -> None:
        LOG.info("waiting for %s: another benchmark command (pid %s) is writing it", out_dir / SCORES_CSV, pid)

    return exclusive_lock(out_dir / ".scores.lock", on_wait=waiting)


def write_reports(rows: List[dict], out_dir: Path, preset: str, current: Optional[Dict[str, str]] = None,
                  references: Optional[References] = None) -> Dict[str, Path]:
    """The score table as CSV, Markdown and PNG (plus the low-resource ASR table when rows have its
    columns); ``current``: task -> digest of its config now, to mark the scores measured under another."""
    references = references or PRESET_REFERENCES[preset]
    rows = with_leaderboard_columns(rows, references)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / SCORES_CSV, "md": out_dir / "scores.md", "png": out_dir / "scores.png"}
    write_csv(rows, paths["csv"])
    write_leaderboard(rows, paths["md"], preset, current, references)
    write_plot(rows, paths["png"], preset, current)
    if any(row.get(column.column, "") != "" for row in rows for column in EXTRA_COLUMNS):
        paths["low_resource"] = write_low_resource(rows, out_dir / LOW_RESOURCE_FILE, preset, current, references)
    return paths


@dataclass
class TableUpdate:
    """What one command changes in ``results/<preset>/``."""

    #: the rows this command scored, collected under the lock: a run another command finished meanwhile is
    #: either read there or written after
    collect_rows: Callable[[], List[dict]] = list
    measured: Sequence[str] = ()  # the tasks it ran: their old scores are not kept (merge_rows)
    drop: Sequence[str] = ()  # rows to remove, with their layer-weight files
    #: row -> columns measured now, for the rows that lack them (params and MACs of an older row)
    fill: Dict[str, Dict[str, float]] = field(default_factory=dict)
    #: row -> task -> featurizer layer weights of its finished runs, also collected under the lock
    collect_layer_weights: Callable[[], Dict[str, Dict[str, List[float]]]] = dict
    studies: Sequence = ()  # students.Study: their tables are redrawn too


def publish(out_dir: Path, preset: str, update: TableUpdate, current: Optional[Dict[str, str]] = None) -> List[Path]:
    """Merge ``update`` into the score table and redraw every table; returns the files written."""
    csv_path = out_dir / SCORES_CSV
    with table_lock(out_dir):
        new_rows = update.collect_rows()
        rows = merge_rows(read_rows(csv_path), new_rows, measured=update.measured)
        rows = [row for row in rows if row["upstream"] not in update.drop]
        rows = [dict(row, **{k: v for k, v in update.fill.get(row["upstream"], {}).items() if row.get(k, "") == ""})
                for row in rows]
        for name in update.drop:
            for path in layer_weight_files(name, out_dir):
                path.unlink(missing_ok=True)
        written = list(write_reports(rows, out_dir, preset, current).values())
        stamp = f"{new_rows[0]['machine']}, {new_rows[0]['date']}" if new_rows else ""
        for label, weights in update.collect_layer_weights().items():
            written += write_layer_weights(label, weights, out_dir, preset, stamp)
        for study in update.studies:
            written.append(write_study_table(study, rows, out_dir / f"{study.name}.md", preset, current))
    return written
