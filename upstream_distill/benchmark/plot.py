"""``scores.png``: every row's five task scores and overall as grouped bars, higher is better."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from .columns import SUPERB_COLUMNS
from .leaderboard import OVERALL, SUPERB_SCORE, benchmark_name, task_value
from .markdown import STALE_MARK
from .report import atomic_write
from .rows import stale_tasks


def write_plot(rows: List[dict], path: Path, preset: str, current: Optional[Dict[str, str]] = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [f"{c.name.upper()}\n100−{c.task.metric.upper()}" if c.error_rate else f"{c.name.upper()} {c.task.metric}"
              for c in SUPERB_COLUMNS] + [OVERALL]
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(labels)), 4.2))
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(labels))
    for i, row in enumerate(rows):
        values = [task_value(row, column) for column in SUPERB_COLUMNS] + [
            float(row[OVERALL]) if row.get(OVERALL, "") != "" else None]
        values = [np.nan if value is None else value for value in values]
        stale = stale_tasks(row, current) & {c.name for c in SUPERB_COLUMNS}
        note = f" {STALE_MARK} {','.join(sorted(stale))}: earlier config" if stale else ""
        superb = f", SUPERB {row[SUPERB_SCORE]}" if row.get(SUPERB_SCORE, "") != "" else ""
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, values, width,
               label=f"{row['upstream']} ({row.get('params_m', '?')}M{superb}){note}")
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 100)
    ax.set_ylabel("score (higher is better)")
    dates = sorted({str(r.get("date", "")) for r in rows})
    machines = sorted({str(r.get("machine", "")) for r in rows})
    ax.set_title(f"{benchmark_name(preset)}, preset {preset} — {', '.join(dates)}\n{'; '.join(machines)}", fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
